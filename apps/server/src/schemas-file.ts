/**
 * `SCIM_SCHEMAS_FILE`: custom extension schemas of User and Group (RFC 7643 §3.3, §6, §7) for
 * every directory, read once at start-up. The file is a JSON array of extensions:
 *
 * ```json
 * [{ "resourceType": "User", "required": false,
 *    "schema": { "id": "urn:example:params:scim:schemas:extension:acme:2.0:User", "name": "AcmeUser",
 *                "description": "Acme attributes", "attributes": [{ "name": "costCenter", "type": "string" }] } }]
 * ```
 *
 * `schema` is an RFC 7643 §7 schema representation; attribute characteristics left out take their
 * RFC 7643 §2.2 defaults (so `/Schemas` serves complete definitions). The envelope is checked
 * with zod, the definitions by scim-core's registry; any mistake is a StartupError naming the file.
 */
import { readFileSync, statSync } from "node:fs";
import { createSchemaRegistry, type AttributeDefinition, type SchemaDefinition, type SchemaRegistry } from "scim-core";
import { z } from "zod";
import { formatIssues } from "./config.js";
import { errorMessage, StartupError } from "./errors.js";

type Json = Record<string, unknown>;

const extensionSchema = z.strictObject({
  /** The resource type the schema extends. */
  resourceType: z.enum(["User", "Group"]),
  /** Whether every resource of the type must carry the extension (RFC 7643 §6). @default false */
  required: z.boolean().default(false),
  /** The RFC 7643 §7 schema representation (`schemas` and `meta` of a copied `/Schemas` entry are ignored). */
  schema: z.looseObject({
    id: z.string().regex(/^urn:\S+$/i, "must be a URN"),
    name: z.string().optional(),
    description: z.string().optional(),
    attributes: z.array(z.record(z.string(), z.unknown())).min(1),
  }),
});

const fileSchema = z.array(extensionSchema);

/** One extension of the file, as validated. */
export type SchemaExtensionEntry = z.infer<typeof extensionSchema>;

/** An attribute with the RFC 7643 §2.2 defaults of the characteristics it leaves out, recursively. */
function withDefaults(attribute: Json): Json {
  const subAttributes = attribute.subAttributes;
  return {
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: "readWrite",
    returned: "default",
    uniqueness: "none",
    ...attribute,
    ...(Array.isArray(subAttributes) ? { subAttributes: subAttributes.map((s) => (typeof s === "object" && s !== null ? withDefaults(s as Json) : s)) } : {}),
  };
}

/**
 * A registry of the core schemas plus `entries`; throws an Error naming the problem when a
 * definition is invalid or redefines a schema (scim-core's ScimConfigError, or a duplicate id).
 */
export function extensionRegistry(entries: readonly SchemaExtensionEntry[]): SchemaRegistry {
  const registry = createSchemaRegistry();
  entries.forEach(({ resourceType, required, schema }, index) => {
    if (registry.getSchema(schema.id) !== undefined) throw new Error(`${index}.schema.id: ${schema.id} is already defined`);
    const { schemas: _schemas, meta: _meta, ...definition } = schema;
    const attributes = schema.attributes.map(withDefaults) as unknown as AttributeDefinition[];
    try {
      registry.addSchema({ ...definition, attributes } as SchemaDefinition);
      registry.addExtension(resourceType, { schema: schema.id, required });
    } catch (error) {
      throw new Error(`${index}.schema: ${errorMessage(error)}`);
    }
  });
  return registry;
}

/** The largest schemas file read (a schema of thousands of attributes is some 100 KiB). */
const MAX_SCHEMAS_FILE_BYTES = 1024 * 1024;

/**
 * Reads `path` (relative to the working directory) and returns the registry of the core schemas
 * and its extensions; throws a StartupError `SCIM_SCHEMAS_FILE <path>: <problem>` when the file
 * is missing, not JSON or invalid.
 */
export function loadSchemasFile(path: string): SchemaRegistry {
  const fail = (problem: string) => new StartupError(`SCIM_SCHEMAS_FILE ${path}: ${problem}`);
  let text: string;
  try {
    // A regular file of a sane size only: /dev/zero or a FIFO would be read until memory runs out.
    const stats = statSync(path);
    if (!stats.isFile()) throw fail("not a regular file");
    if (stats.size > MAX_SCHEMAS_FILE_BYTES) throw fail(`larger than ${MAX_SCHEMAS_FILE_BYTES / 1024 / 1024} MiB`);
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof StartupError) throw error;
    const code = (error as { code?: unknown }).code;
    throw fail(code === "ENOENT" ? "file not found" : `cannot read the file (${errorMessage(error)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw fail(`not valid JSON (${errorMessage(error)})`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw fail(`invalid: ${formatIssues(parsed.error)}`);
  try {
    return extensionRegistry(parsed.data);
  } catch (error) {
    throw fail(`invalid: ${errorMessage(error)}`);
  }
}

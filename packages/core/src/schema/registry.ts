/**
 * The schema registry (RFC 7643 §6, §7): schemas, resource types and their extensions, compiled
 * into case-insensitive lookup tables that validation, filters, PATCH and projection share.
 *
 * There is no global mutable state: each server creates its own registry. The core schemas
 * (User, Group, EnterpriseUser) are in every registry unless `core: false` is given.
 */
import { ScimConfigError } from "../errors/scim-error.js";
import type { AttrPath } from "../filter/ast.js";
import { isForbiddenKey } from "./forbidden-keys.js";
import { COMMON_ATTRIBUTES, CORE_RESOURCE_TYPES, CORE_SCHEMAS } from "./core-schemas.js";
import type {
  AttributeDefinition,
  AttributeType,
  ResourceTypeDefinition,
  SchemaDefinition,
  SchemaExtension,
} from "./types.js";

/**
 * An attribute definition with every characteristic resolved to its RFC 7643 §2.2 default, plus
 * lookup tables. Produced by the registry; never constructed by hand.
 */
export interface AttributeInfo extends Readonly<AttributeDefinition> {
  /** Lower-cased name, the lookup key. */
  readonly key: string;
  /** URN of the schema that declares the attribute. */
  readonly schemaId: string;
  /** Resolved `caseExact` (RFC 7643 §2.2 default false). */
  readonly exact: boolean;
  readonly caseExact: boolean;
  readonly uniqueness: "none" | "server" | "global";
  /** Sub-attributes by lower-cased name (complex attributes only). */
  readonly subMap: ReadonlyMap<string, AttributeInfo> | undefined;
  /** Sub-attributes in declared order (complex attributes only). */
  readonly subs: readonly AttributeInfo[];
  /** The sub-attributes a client must give in each value (`required`, and not readOnly, which the server assigns). */
  readonly requiredSubs: readonly AttributeInfo[];
  /** The complex attribute this one belongs to. */
  readonly parent: AttributeInfo | undefined;
}

/** A schema compiled for lookups. */
export interface CompiledSchema {
  readonly id: string;
  readonly definition: SchemaDefinition;
  /** True for an extension schema: its attributes live under `resource[id]`. */
  readonly extension: boolean;
  /** For an extension: whether the resource type requires it (RFC 7643 §6). */
  readonly required: boolean;
  /** Attributes in declared order (for the core schema: the common attributes first). */
  readonly attributes: readonly AttributeInfo[];
  /** Attributes by lower-cased name. */
  readonly byName: ReadonlyMap<string, AttributeInfo>;
}

/** Where an attribute path points: the schema, the attribute and optionally its sub-attribute. */
export interface ResolvedAttribute {
  readonly schema: CompiledSchema;
  readonly attribute: AttributeInfo;
  readonly sub: AttributeInfo | undefined;
}

/** A resource type compiled with its core schema, common attributes and extensions. */
export interface CompiledResourceType {
  readonly name: string;
  readonly endpoint: string;
  readonly definition: ResourceTypeDefinition;
  /** The core schema, with the common attributes `id`, `externalId`, `meta` (RFC 7643 §3.1). */
  readonly core: CompiledSchema;
  readonly extensions: readonly CompiledSchema[];
  /** Finds the core or an extension schema by URN, case-insensitively. */
  schema(urn: string): CompiledSchema | undefined;
  /**
   * Resolves an attribute path case-insensitively (RFC 7644 §3.10), URN-qualified or not.
   * Returns undefined for an attribute the schemas do not define.
   */
  resolve(path: AttrPath): ResolvedAttribute | undefined;
}

const ATTRIBUTE_TYPES = new Set<AttributeType>(["string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"]);
const MUTABILITIES = new Set<string>(["readOnly", "readWrite", "immutable", "writeOnly"]);
const RETURNED = new Set<string>(["always", "never", "default", "request"]);
const UNIQUENESS = new Set<string>(["none", "server", "global"]);
const NAME = /^\$?[A-Za-z][A-Za-z0-9_-]*$/;

/** What a characteristic's value must be; returns the problem, or undefined when the value is fine. */
type CharacteristicCheck = (value: unknown, key: string) => string | undefined;

const isBoolean: CharacteristicCheck = (v, key) => (typeof v === "boolean" ? undefined : `'${key}' must be a boolean (got ${JSON.stringify(v)})`);
const isString: CharacteristicCheck = (v, key) => (typeof v === "string" ? undefined : `'${key}' must be a string (got ${JSON.stringify(v)})`);
const isStringArray: CharacteristicCheck = (v, key) =>
  Array.isArray(v) && v.every((s) => typeof s === "string") ? undefined : `'${key}' must be an array of strings (got ${JSON.stringify(v)})`;
/** The message misspelt enum values have always had (`unknown returned 'Never'`). */
const oneOf =
  (values: ReadonlySet<string>): CharacteristicCheck =>
  (v, key) =>
    typeof v === "string" && values.has(v) ? undefined : `unknown ${key} '${String(v)}'`;

/**
 * The characteristics of an attribute definition (RFC 7643 §7, "attributes"; §2.2) and what each
 * value must be. Any other key is refused: a misspelt `"retruned": "never"` silently ignored would
 * return a secret, and `"required": "yes"` would be served in `/Schemas` (where §7 requires a
 * Boolean) and not enforced. `name` and `type` are checked first, `subAttributes` with the type.
 */
const CHARACTERISTICS: Readonly<Record<string, CharacteristicCheck | undefined>> = {
  name: undefined,
  type: undefined,
  subAttributes: undefined,
  multiValued: isBoolean,
  description: isString,
  required: isBoolean,
  canonicalValues: isStringArray,
  caseExact: isBoolean,
  mutability: oneOf(MUTABILITIES),
  returned: oneOf(RETURNED),
  uniqueness: oneOf(UNIQUENESS),
  referenceTypes: isStringArray,
};
const CHARACTERISTIC_NAMES = Object.keys(CHARACTERISTICS).join(", ");

/**
 * The types whose single-valued top-level attributes get their `uniqueness` enforced: the server
 * derives a unique key (RFC 7643 §2.2) for each such value of the core schema or an extension,
 * and the store refuses a clash with 409 `uniqueness` (RFC 7644 §3.3). Nothing is derived for a
 * multi-valued, complex or boolean attribute, nor for a sub-attribute; a dateTime would be
 * compared as text rather than as an instant, and a binary "has no uniqueness" (RFC 7643 §2.3.6).
 */
const UNIQUE_TYPES = new Set<AttributeType>(["string", "reference", "integer", "decimal"]);
const UNIQUE_SHAPES = "single-valued top-level attributes of type string, reference, integer or decimal";

/**
 * Checks one attribute definition strictly against RFC 7643 §7 and compiles it with every
 * characteristic resolved to its §2.2 default. `where` is the schema id, or the path of the
 * complex attribute a sub-attribute belongs to; errors read `<where>.<name>: <problem>`.
 */
function compileAttribute(def: AttributeDefinition, schemaId: string, parent: AttributeInfo | undefined, where: string): AttributeInfo {
  const at = `${where}.${String(def?.name)}`;
  if (typeof def !== "object" || def === null || Array.isArray(def)) throw new ScimConfigError(`${where}: attribute definition must be an object`);
  if (typeof def.name !== "string" || !NAME.test(def.name) || isForbiddenKey(def.name)) {
    throw new ScimConfigError(`${at}: invalid attribute name`);
  }
  for (const key of Object.keys(def)) {
    if (!Object.hasOwn(CHARACTERISTICS, key)) {
      throw new ScimConfigError(`${at}: unknown characteristic '${key}' (RFC 7643 §7 defines ${CHARACTERISTIC_NAMES})`);
    }
  }
  if (!ATTRIBUTE_TYPES.has(def.type)) throw new ScimConfigError(`${at}: unknown type '${String(def.type)}'`);
  // A misspelt characteristic must not silently fall back to the default: `returned: "Never"`
  // read as "default" would return a secret. (An `undefined` value is an absent one.)
  for (const [key, check] of Object.entries(CHARACTERISTICS)) {
    const value = (def as unknown as Record<string, unknown>)[key];
    const problem = check !== undefined && value !== undefined ? check(value, key) : undefined;
    if (problem !== undefined) throw new ScimConfigError(`${at}: ${problem}`);
  }
  if (def.type === "complex") {
    if (parent !== undefined) throw new ScimConfigError(`${at}: sub-attributes cannot be complex (RFC 7643 §2.3.8)`);
    if (def.subAttributes !== undefined && !Array.isArray(def.subAttributes)) {
      throw new ScimConfigError(`${at}: 'subAttributes' must be an array of attribute definitions`);
    }
    if (!Array.isArray(def.subAttributes) || def.subAttributes.length === 0) {
      throw new ScimConfigError(`${at}: a complex attribute needs subAttributes`);
    }
  } else if (def.subAttributes !== undefined) {
    throw new ScimConfigError(`${at}: 'subAttributes' is only allowed on a complex attribute (this one is of type '${def.type}', RFC 7643 §2.3.8)`);
  }
  const uniqueness = def.uniqueness ?? "none";
  if (uniqueness !== "none" && (parent !== undefined || def.multiValued === true || !UNIQUE_TYPES.has(def.type))) {
    throw new ScimConfigError(`${at}: uniqueness '${uniqueness}' is not enforced on this attribute; the server enforces uniqueness only on ${UNIQUE_SHAPES}`);
  }
  const subMap = new Map<string, AttributeInfo>();
  const subs: AttributeInfo[] = [];
  const requiredSubs: AttributeInfo[] = [];
  const info: AttributeInfo = {
    ...def,
    multiValued: def.multiValued === true,
    required: def.required === true,
    caseExact: def.caseExact === true,
    exact: def.caseExact === true,
    mutability: def.mutability ?? "readWrite",
    returned: def.returned ?? "default",
    uniqueness,
    key: def.name.toLowerCase(),
    schemaId,
    subMap: def.type === "complex" ? subMap : undefined,
    subs,
    requiredSubs,
    parent,
  };
  if (def.type === "complex") {
    for (const sub of def.subAttributes!) {
      const s = compileAttribute(sub, schemaId, info, at);
      if (subMap.has(s.key)) throw new ScimConfigError(`${at}: duplicate sub-attribute '${sub.name}'`);
      subMap.set(s.key, s);
      subs.push(s);
      if (s.required && s.mutability !== "readOnly") requiredSubs.push(s);
    }
  }
  return info;
}

function compileSchema(def: SchemaDefinition, extra: readonly AttributeDefinition[], extension: boolean, required: boolean): CompiledSchema {
  const byName = new Map<string, AttributeInfo>();
  const attributes: AttributeInfo[] = [];
  for (const a of [...extra, ...def.attributes]) {
    const info = compileAttribute(a, def.id, undefined, def.id);
    if (byName.has(info.key)) throw new ScimConfigError(`${def.id}: duplicate attribute '${a.name}'`);
    // Only the common `id` (RFC 7643 §3.1) is unique by name; no key is derived for another `id`.
    if (info.key === "id" && info.uniqueness !== "none" && !extra.includes(a)) {
      throw new ScimConfigError(`${def.id}.${a.name}: uniqueness '${info.uniqueness}' is not enforced on an attribute named 'id'; the server enforces uniqueness only on ${UNIQUE_SHAPES}`);
    }
    byName.set(info.key, info);
    attributes.push(info);
  }
  return { id: def.id, definition: def, extension, required, attributes, byName };
}

/**
 * Schema ids of the protocol itself (RFC 7643 §5, §6, §7): a schema must not take them, nor
 * an id below them. The message URNs (RFC 7644 §3.4.2, §3.4.3, §3.5.2, §3.7, §3.12) are all in
 * {@link MESSAGE_NAMESPACE}, which is refused as a whole.
 */
const RESERVED_SCHEMA_IDS = [
  "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
  "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
  "urn:ietf:params:scim:schemas:core:2.0:Schema",
];
const MESSAGE_NAMESPACE = "urn:ietf:params:scim:api:";

/** True when `id` is `prefix` or below it (`prefix:...`), case-insensitively. */
function isAtOrBelow(id: string, prefix: string): boolean {
  const a = id.toLowerCase();
  const b = prefix.toLowerCase();
  return a === b || a.startsWith(`${b}:`);
}

/**
 * Checks a schema's shape and that its id cannot be confused with another URN: an attribute
 * path `urn:...:User:name` (RFC 7644 §3.10) must name one attribute of one schema, so no id may
 * be another id followed by `:` (either way round), none may end with `:`, and the protocol's
 * own schema and message URNs are reserved. `existing` are the schemas already registered (one
 * with the same id, case-insensitively, is being replaced).
 */
function checkSchema(def: SchemaDefinition, existing: Iterable<SchemaDefinition>): void {
  if (typeof def !== "object" || def === null) throw new ScimConfigError("schema must be an object");
  if (typeof def.id !== "string" || !/^urn:[^\s]+$/i.test(def.id)) throw new ScimConfigError(`schema id must be a URN (got '${String(def.id)}')`);
  const id = def.id;
  if (id.endsWith(":")) throw new ScimConfigError(`schema id '${id}' must not end with ':'`);
  if (isAtOrBelow(id, MESSAGE_NAMESPACE.slice(0, -1))) {
    throw new ScimConfigError(`schema id '${id}' is in the namespace of the SCIM protocol messages (${MESSAGE_NAMESPACE}, RFC 7644 §3.1)`);
  }
  const reserved = RESERVED_SCHEMA_IDS.find((r) => isAtOrBelow(id, r));
  if (reserved !== undefined) throw new ScimConfigError(`schema id '${id}' is reserved: '${reserved}' is defined by RFC 7643 §5-§7`);
  for (const other of existing) {
    if (other.id.toLowerCase() === id.toLowerCase()) continue;
    if (isAtOrBelow(id, other.id)) {
      throw new ScimConfigError(`schema id '${id}' clashes with schema '${other.id}': it reads as the path of an attribute of '${other.id}' (RFC 7644 §3.10)`);
    }
    if (isAtOrBelow(other.id, id)) {
      throw new ScimConfigError(`schema id '${id}' clashes with schema '${other.id}': '${other.id}' would read as the path of an attribute of '${id}' (RFC 7644 §3.10)`);
    }
  }
  if (!Array.isArray(def.attributes)) throw new ScimConfigError(`${def.id}: attributes must be an array`);
}

function compileResourceType(def: ResourceTypeDefinition, getSchema: (id: string) => SchemaDefinition | undefined): CompiledResourceType {
  const coreDef = getSchema(def.schema);
  if (!coreDef) throw new ScimConfigError(`resource type '${def.name}': unknown schema '${def.schema}'`);
  const core = compileSchema(coreDef, COMMON_ATTRIBUTES, false, true);
  const extensions = (def.schemaExtensions ?? []).map((ext) => {
    const extDef = getSchema(ext.schema);
    if (!extDef) throw new ScimConfigError(`resource type '${def.name}': unknown extension schema '${ext.schema}'`);
    return compileSchema(extDef, [], true, ext.required === true);
  });
  const bySchema = new Map<string, CompiledSchema>();
  bySchema.set(core.id.toLowerCase(), core);
  for (const ext of extensions) bySchema.set(ext.id.toLowerCase(), ext);
  for (const s of [core, ...extensions]) bySchema.set(s.id, s);
  const schema = (urn: string) => bySchema.get(urn) ?? bySchema.get(urn.toLowerCase());

  const resolve = (path: AttrPath): ResolvedAttribute | undefined => {
    let target = core;
    let attr = path.attr;
    let sub = path.sub;
    if (path.uri !== undefined) {
      const s = schema(path.uri);
      if (s !== undefined) target = s;
      else {
        // Entra writes `urn:...:enterprise:2.0:User.manager`: the split put `User` in attr.
        const joined = schema(`${path.uri}:${path.attr}`);
        if (joined === undefined || sub === undefined) return undefined;
        target = joined;
        attr = sub;
        sub = undefined;
      }
    }
    const attribute = target.byName.get(attr.toLowerCase());
    if (attribute === undefined) return undefined;
    if (sub === undefined) return { schema: target, attribute, sub: undefined };
    const subInfo = attribute.subMap?.get(sub.toLowerCase());
    if (subInfo === undefined) return undefined;
    return { schema: target, attribute, sub: subInfo };
  };

  return { name: def.name, endpoint: def.endpoint, definition: def, core, extensions, schema, resolve };
}

/** Options of {@link createSchemaRegistry}. */
export interface SchemaRegistryOptions {
  /** Include the RFC 7643 User, Group and EnterpriseUser schemas and resource types. @default true */
  core?: boolean;
  /** Custom schemas (core schemas of new resource types, or extensions). */
  schemas?: readonly SchemaDefinition[];
  /** Custom resource types. */
  resourceTypes?: readonly ResourceTypeDefinition[];
}

/** A registry of schemas and resource types (RFC 7643 §6, §7). Each server owns its own. */
export interface SchemaRegistry {
  /**
   * Adds or replaces a schema (RFC 7643 §7). Throws ScimConfigError for a malformed attribute
   * definition, a `uniqueness` the server would not enforce, or an id that clashes with another.
   */
  addSchema(schema: SchemaDefinition): SchemaRegistry;
  /** Adds or replaces a resource type; its schemas must already be registered. */
  addResourceType(resourceType: ResourceTypeDefinition): SchemaRegistry;
  /** Adds an extension schema to a resource type (e.g. a custom extension on User). */
  addExtension(resourceType: string, extension: SchemaExtension): SchemaRegistry;
  /** A schema by URN (case-insensitive). */
  getSchema(id: string): SchemaDefinition | undefined;
  /** All schemas, in registration order. */
  listSchemas(): SchemaDefinition[];
  /** A compiled resource type by name or id (case-insensitive); throws ScimConfigError when unknown. */
  getResourceType(name: string): CompiledResourceType;
  /** A compiled resource type by name or id, or undefined. */
  findResourceType(name: string): CompiledResourceType | undefined;
  /** All resource type definitions, in registration order. */
  listResourceTypes(): ResourceTypeDefinition[];
}

/**
 * Creates a schema registry holding the core schemas (unless `core: false`) and any custom
 * schemas and resource types. Definitions are checked eagerly and strictly (only the RFC 7643 §7
 * characteristics, each of its type; `uniqueness` only where enforced; no clashing schema ids):
 * mistakes throw ScimConfigError.
 *
 * @example
 * const registry = createSchemaRegistry({ schemas: [mySchema] })
 *   .addExtension("User", { schema: mySchema.id, required: false });
 */
export function createSchemaRegistry(options: SchemaRegistryOptions = {}): SchemaRegistry {
  const schemas = new Map<string, SchemaDefinition>();
  const types = new Map<string, ResourceTypeDefinition>();
  const compiled = new Map<string, CompiledResourceType>();
  const getSchema = (id: string) => schemas.get(String(id).toLowerCase());

  const registry: SchemaRegistry = {
    addSchema(schema) {
      checkSchema(schema, schemas.values());
      compileSchema(schema, [], true, false); // validates attribute definitions
      schemas.set(schema.id.toLowerCase(), schema);
      compiled.clear();
      return registry;
    },
    addResourceType(resourceType) {
      if (typeof resourceType?.name !== "string" || !resourceType.name) throw new ScimConfigError("resource type needs a name");
      if (typeof resourceType.endpoint !== "string" || !resourceType.endpoint.startsWith("/")) {
        throw new ScimConfigError(`resource type '${resourceType.name}': endpoint must start with '/'`);
      }
      compileResourceType(resourceType, getSchema);
      types.set(resourceType.name.toLowerCase(), resourceType);
      compiled.clear();
      return registry;
    },
    addExtension(name, extension) {
      const rt = types.get(name.toLowerCase());
      if (!rt) throw new ScimConfigError(`unknown resource type '${name}'`);
      const others = (rt.schemaExtensions ?? []).filter((e) => e.schema.toLowerCase() !== extension.schema.toLowerCase());
      return registry.addResourceType({ ...rt, schemaExtensions: [...others, extension] });
    },
    getSchema,
    listSchemas: () => [...schemas.values()],
    findResourceType(name) {
      let rt = compiled.get(name);
      if (rt) return rt;
      const key = String(name).toLowerCase();
      rt = compiled.get(key);
      if (rt) {
        compiled.set(name, rt);
        return rt;
      }
      const def = types.get(key) ?? [...types.values()].find((t) => (t.id ?? t.name).toLowerCase() === key);
      if (!def) return undefined;
      rt = compileResourceType(def, getSchema);
      compiled.set(key, rt);
      compiled.set(name, rt);
      return rt;
    },
    getResourceType(name) {
      const rt = registry.findResourceType(name);
      if (!rt) throw new ScimConfigError(`unknown resource type '${name}'`);
      return rt;
    },
    listResourceTypes: () => [...types.values()],
  };

  if (options.core !== false) {
    for (const s of CORE_SCHEMAS) registry.addSchema(s);
    for (const t of CORE_RESOURCE_TYPES) registry.addResourceType(t);
  }
  for (const s of options.schemas ?? []) registry.addSchema(s);
  for (const t of options.resourceTypes ?? []) registry.addResourceType(t);
  return registry;
}

let defaultRegistryInstance: SchemaRegistry | undefined;

/**
 * The read-only registry of the core schemas, used when no registry is passed. Adding to it
 * throws: create your own with {@link createSchemaRegistry}.
 */
export function defaultRegistry(): SchemaRegistry {
  if (defaultRegistryInstance === undefined) {
    const base = createSchemaRegistry();
    const readOnly = (): never => {
      throw new ScimConfigError("the default registry is read-only; use createSchemaRegistry()");
    };
    defaultRegistryInstance = Object.freeze({ ...base, addSchema: readOnly, addResourceType: readOnly, addExtension: readOnly });
  }
  return defaultRegistryInstance;
}

/**
 * The core `members` attribute of a resource type, when it has one that is complex and
 * multi-valued (Group, RFC 7643 §4.2): servers and stores keep it apart from the document, as
 * membership rows, and no value limit applies to it.
 */
export function membersAttributeOf(rt: CompiledResourceType): AttributeInfo | undefined {
  const members = rt.core.byName.get("members");
  return members?.type === "complex" && members.multiValued ? members : undefined;
}

/** A resource type given by name, by definition, or already compiled. */
export type ResourceTypeRef = string | ResourceTypeDefinition | CompiledResourceType;

const compiledByDefinition = new WeakMap<object, CompiledResourceType>();

/** @internal Resolves a {@link ResourceTypeRef} against a registry (the default one when omitted). */
export function resolveResourceType(ref: ResourceTypeRef, registry?: SchemaRegistry): CompiledResourceType {
  if (typeof ref === "string") return (registry ?? defaultRegistry()).getResourceType(ref);
  if (typeof ref !== "object" || ref === null) throw new ScimConfigError("resourceType must be a name or a definition");
  if ("resolve" in ref && typeof ref.resolve === "function") return ref as CompiledResourceType;
  const def = ref as ResourceTypeDefinition;
  if (registry === undefined) {
    const cached = compiledByDefinition.get(def);
    if (cached) return cached;
  }
  const reg = registry ?? defaultRegistry();
  const rt = compileResourceType(def, reg.getSchema);
  if (registry === undefined) compiledByDefinition.set(def, rt);
  return rt;
}

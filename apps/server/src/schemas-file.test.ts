import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StartupError } from "./errors.js";
import { loadSchemasFile } from "./schemas-file.js";

const ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User";
const ACME_GROUP = "urn:example:params:scim:schemas:extension:acme:2.0:Group";
const dir = mkdtempSync(join(tmpdir(), "dsync-schemas-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `content` (JSON unless a string) to a file and loads it. */
function load(content: unknown) {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return { file, load: () => loadSchemasFile(file) };
}

describe("SCIM_SCHEMAS_FILE", () => {
  it("adds each extension to its resource type, beside the core schemas", () => {
    const registry = load([
      { resourceType: "User", required: true, schema: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Schema"], id: ACME, name: "Acme", attributes: [{ name: "costCenter", type: "string", returned: "always" }] } },
      { resourceType: "Group", schema: { id: ACME_GROUP, attributes: [{ name: "owner", type: "reference", referenceTypes: ["User"] }] } },
    ]).load();
    const user = registry.getResourceType("User");
    expect(user.extensions.map((e) => [e.id, e.required])).toEqual([
      ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", false],
      [ACME, true],
    ]);
    expect(user.resolve({ uri: ACME, attr: "costCenter" })?.attribute).toMatchObject({ returned: "always", mutability: "readWrite" });
    expect(registry.getResourceType("Group").extensions.map((e) => e.id)).toEqual([ACME_GROUP]);
    // What /Schemas serves: the RFC 7643 §7 representation with defaults filled, without the copied `schemas`.
    expect(registry.getSchema(ACME)).toEqual({ id: ACME, name: "Acme", attributes: [{ name: "costCenter", type: "string", returned: "always", multiValued: false, required: false, caseExact: false, mutability: "readWrite", uniqueness: "none" }] });
    expect(registry.listSchemas().map((s) => s.id)).toContain("urn:ietf:params:scim:schemas:core:2.0:User");
  });

  it("accepts uniqueness on a single-valued string or integer extension attribute (the shapes the server enforces)", () => {
    const registry = load([{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "badge", type: "string", uniqueness: "server" }, { name: "seat", type: "integer", uniqueness: "global" }] } }]).load();
    expect(registry.getResourceType("User").schema(ACME)!.attributes.map((a) => [a.name, a.uniqueness])).toEqual([["badge", "server"], ["seat", "global"]]);
  });

  it("accepts an empty array", () => {
    expect(load([]).load().getResourceType("User").extensions).toHaveLength(1);
  });

  it("names the file and the problem in one StartupError line", () => {
    const missing = join(dir, "missing.json");
    expect(() => loadSchemasFile(missing)).toThrow(new StartupError(`SCIM_SCHEMAS_FILE ${missing}: file not found`));
    // Not a file, or too large: refused before reading (/dev/zero ran the start out of memory).
    expect(() => loadSchemasFile("/dev/zero")).toThrow(new StartupError("SCIM_SCHEMAS_FILE /dev/zero: not a regular file"));
    expect(() => loadSchemasFile(dir)).toThrow(new StartupError(`SCIM_SCHEMAS_FILE ${dir}: not a regular file`));
    expect(load(" ".repeat(1024 * 1024 + 1)).load).toThrow(/: larger than 1 MiB$/);
    const cases: [unknown, RegExp][] = [
      ["[{", /: not valid JSON \(.+\)$/],
      [{}, /: invalid: .*expected array/],
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "x", type: "string" }] }, extra: 1 }], /: invalid: 0: Unrecognized key: "extra"$/],
      [[{ resourceType: "User", schema: { id: ACME, attributes: [] } }], /: invalid: 0\.schema\.attributes: /],
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "badge", type: "complex" }] } }], /: invalid: 0\.schema: .*badge: a complex attribute needs subAttributes$/],
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "a", type: "string" }, { name: "A", type: "string" }] } }], /: invalid: 0\.schema: .*duplicate attribute 'A'$/],
      [
        [
          { resourceType: "User", schema: { id: ACME, attributes: [{ name: "a", type: "string" }] } },
          { resourceType: "Group", schema: { id: ACME.toUpperCase(), attributes: [{ name: "a", type: "string" }] } },
        ],
        /: invalid: 1\.schema\.id: .* is already defined$/,
      ],
      [[{ resourceType: "User", schema: { id: "urn:ietf:params:scim:schemas:core:2.0:User", attributes: [{ name: "a", type: "string" }] } }], /: invalid: 0\.schema\.id: .* is already defined$/],
      // Every characteristic is checked (RFC 7643 §7): a misspelt one, a wrong type, subAttributes on a simple attribute.
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "pin", type: "string", retruned: "never" }] } }], /: invalid: 0\.schema: .*:User\.pin: unknown characteristic 'retruned' /],
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "pin", type: "string", required: "yes" }] } }], /: invalid: 0\.schema: .*:User\.pin: 'required' must be a boolean \(got "yes"\)$/],
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "level", type: "string", canonicalValues: "x" }] } }], /: invalid: 0\.schema: .*:User\.level: 'canonicalValues' must be an array of strings/],
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "pin", type: "string", subAttributes: [{ name: "x", type: "string" }] }] } }], /: invalid: 0\.schema: .*:User\.pin: 'subAttributes' is only allowed on a complex attribute/],
      // uniqueness only where the server enforces it.
      [[{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "tags", type: "string", multiValued: true, uniqueness: "server" }] } }], /: invalid: 0\.schema: .*:User\.tags: uniqueness 'server' is not enforced on this attribute; .*single-valued top-level/],
      [
        [{ resourceType: "User", schema: { id: ACME, attributes: [{ name: "udev", type: "complex", multiValued: true, subAttributes: [{ name: "value", type: "string", uniqueness: "server" }] }] } }],
        /: invalid: 0\.schema: .*:User\.udev\.value: uniqueness 'server' is not enforced/,
      ],
      // Schema ids that clash with a core attribute path, another id, or a message URN.
      [[{ resourceType: "User", schema: { id: "urn:ietf:params:scim:schemas:core:2.0:User:name", attributes: [{ name: "a", type: "string" }] } }], /: invalid: 0\.schema: schema id '.*:User:name' clashes with schema 'urn:ietf:params:scim:schemas:core:2\.0:User'/],
      [
        [
          { resourceType: "User", schema: { id: "urn:example:acme", attributes: [{ name: "a", type: "string" }] } },
          { resourceType: "Group", schema: { id: "urn:example:acme:a", attributes: [{ name: "a", type: "string" }] } },
        ],
        /: invalid: 1\.schema: schema id 'urn:example:acme:a' clashes with schema 'urn:example:acme'/,
      ],
      [[{ resourceType: "User", schema: { id: "urn:ietf:params:scim:api:messages:2.0:PatchOp", attributes: [{ name: "a", type: "string" }] } }], /: invalid: 0\.schema: schema id '.*PatchOp' is in the namespace of the SCIM protocol messages/],
      [[{ resourceType: "User", schema: { id: "urn:ietf:params:scim:schemas:core:2.0:Schema", attributes: [{ name: "a", type: "string" }] } }], /: invalid: 0\.schema: schema id '.*:Schema' is reserved/],
      [[{ resourceType: "User", schema: { id: "urn:example:acme:", attributes: [{ name: "a", type: "string" }] } }], /: invalid: 0\.schema: schema id 'urn:example:acme:' must not end with ':'$/],
    ];
    for (const [content, problem] of cases) {
      const { file, load: run } = load(content);
      expect(run).toThrow(StartupError);
      expect(run).toThrow(`SCIM_SCHEMAS_FILE ${file}: `);
      expect(run).toThrow(problem);
    }
  });
});

import { describe, it, expect } from "vitest";
import { isScimConfigError } from "../errors/scim-error.js";
import type { AttrPath } from "../filter/ast.js";
import {
  CORE_RESOURCE_TYPES,
  CORE_SCHEMAS,
  ENTERPRISE_USER_SCHEMA_ID,
  GROUP_SCHEMA_ID,
  USER_SCHEMA_ID,
  userSchema,
} from "./core-schemas.js";
import { createSchemaRegistry, defaultRegistry, resolveResourceType, type SchemaRegistry } from "./registry.js";
import type { AttributeDefinition, SchemaDefinition } from "./types.js";

const ORG_ID = "urn:example:params:scim:schemas:extension:acme:2.0:User";
const DEVICE_ID = "urn:example:params:scim:schemas:core:2.0:Device";

function attr(name: string, extra: Partial<AttributeDefinition> = {}): AttributeDefinition {
  return { name, type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "default", ...extra };
}

const acmeExtension: SchemaDefinition = {
  id: ORG_ID,
  name: "AcmeUser",
  attributes: [attr("badgeNumber", { uniqueness: "server" }), attr("clearance", { type: "integer" })],
};

const deviceSchema: SchemaDefinition = {
  id: DEVICE_ID,
  name: "Device",
  attributes: [attr("serial", { required: true, caseExact: true }), attr("model")],
};

/** Calls `f` and returns what it threw, failing when it throws nothing. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an exception");
}

const p = (attr: string, sub?: string, uri?: string): AttrPath => {
  const path: AttrPath = { attr };
  if (sub !== undefined) path.sub = sub;
  if (uri !== undefined) path.uri = uri;
  return path;
};

describe("core schemas (RFC 7643 §8.7.1)", () => {
  const registry = createSchemaRegistry();
  const user = registry.getResourceType("User");
  const group = registry.getResourceType("Group");

  it("registers User, Group and EnterpriseUser, and the User and Group resource types", () => {
    expect(registry.listSchemas().map((s) => s.id)).toEqual([USER_SCHEMA_ID, GROUP_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID]);
    expect(registry.listResourceTypes().map((t) => [t.name, t.endpoint, t.schema])).toEqual([
      ["User", "/Users", USER_SCHEMA_ID],
      ["Group", "/Groups", GROUP_SCHEMA_ID],
    ]);
    expect(user.extensions.map((e) => [e.id, e.required])).toEqual([[ENTERPRISE_USER_SCHEMA_ID, false]]);
    expect(group.extensions).toEqual([]);
  });

  it("userName: string, required, caseExact false, readWrite, returned default, uniqueness server", () => {
    const a = user.core.byName.get("username")!;
    expect(a.name).toBe("userName");
    expect([a.type, a.multiValued, a.required, a.caseExact, a.mutability, a.returned, a.uniqueness]).toEqual([
      "string", false, true, false, "readWrite", "default", "server",
    ]);
  });

  it("password: writeOnly, returned never, not required, caseExact false", () => {
    const a = user.core.byName.get("password")!;
    expect([a.type, a.mutability, a.returned, a.required, a.caseExact, a.uniqueness]).toEqual([
      "string", "writeOnly", "never", false, false, "none",
    ]);
  });

  it("groups: readOnly multi-valued complex with readOnly value/$ref/display/type", () => {
    const a = user.core.byName.get("groups")!;
    expect([a.type, a.multiValued, a.mutability, a.returned]).toEqual(["complex", true, "readOnly", "default"]);
    expect(a.subs.map((s) => [s.name, s.type, s.mutability])).toEqual([
      ["value", "string", "readOnly"],
      ["$ref", "reference", "readOnly"],
      ["display", "string", "readOnly"],
      ["type", "string", "readOnly"],
    ]);
    expect(a.subMap!.get("$ref")!.referenceTypes).toEqual(["User", "Group"]);
    expect(a.subMap!.get("type")!.canonicalValues).toEqual(["direct", "indirect"]);
  });

  it("id, externalId, meta are the common attributes (RFC 7643 §3.1), first in the core schema", () => {
    expect(user.core.attributes.slice(0, 3).map((a) => a.name)).toEqual(["id", "externalId", "meta"]);
    const id = user.core.byName.get("id")!;
    expect([id.mutability, id.returned, id.caseExact, id.uniqueness]).toEqual(["readOnly", "always", true, "server"]);
    const externalId = user.core.byName.get("externalid")!;
    expect([externalId.mutability, externalId.caseExact]).toEqual(["readWrite", true]);
    expect(user.core.byName.get("meta")!.mutability).toBe("readOnly");
    expect(group.core.byName.get("id")!.returned).toBe("always");
    // The published User schema itself does not list them.
    expect(userSchema.attributes.some((a) => a.name === "id")).toBe(false);
  });

  it("emails: multi-valued complex; value caseExact false; type canonical work/home/other; primary boolean", () => {
    const emails = user.core.byName.get("emails")!;
    expect([emails.type, emails.multiValued]).toEqual(["complex", true]);
    expect(emails.subs.map((s) => s.name)).toEqual(["value", "display", "type", "primary"]);
    expect(emails.subMap!.get("value")!.caseExact).toBe(false);
    expect(emails.subMap!.get("type")!.canonicalValues).toEqual(["work", "home", "other"]);
    expect(emails.subMap!.get("primary")!.type).toBe("boolean");
    expect(user.core.byName.get("x509certificates")!.subMap!.get("value")!.type).toBe("binary");
    expect(user.core.byName.get("active")!.type).toBe("boolean");
  });

  it("Group.members: value, $ref and type immutable; $ref references User and Group", () => {
    const members = group.core.byName.get("members")!;
    expect([members.type, members.multiValued, members.mutability]).toEqual(["complex", true, "readWrite"]);
    const value = members.subMap!.get("value")!;
    const ref = members.subMap!.get("$ref")!;
    const type = members.subMap!.get("type")!;
    // caseExact of members.value is false in the §8.7.1 JSON; this package deliberately makes it true
    // (it holds a resource id, and `id` is caseExact), so it is not pinned here.
    expect([value.type, value.mutability, value.multiValued]).toEqual(["string", "immutable", false]);
    expect([ref.type, ref.mutability, ref.referenceTypes]).toEqual(["reference", "immutable", ["User", "Group"]]);
    expect([type.mutability, type.canonicalValues]).toEqual(["immutable", ["User", "Group"]]);
    expect(group.core.byName.get("displayname")!.type).toBe("string");
  });

  it("EnterpriseUser.manager: complex with value, $ref (User) and readOnly displayName", () => {
    const ent = user.schema(ENTERPRISE_USER_SCHEMA_ID)!;
    expect(ent.extension).toBe(true);
    expect(ent.attributes.map((a) => a.name)).toEqual(["employeeNumber", "costCenter", "organization", "division", "department", "manager"]);
    const manager = ent.byName.get("manager")!;
    expect([manager.type, manager.multiValued, manager.mutability, manager.required]).toEqual(["complex", false, "readWrite", false]);
    expect(manager.subs.map((s) => [s.name, s.type, s.mutability])).toEqual([
      ["value", "string", "readWrite"],
      ["$ref", "reference", "readWrite"],
      ["displayName", "string", "readOnly"],
    ]);
    expect(manager.subMap!.get("$ref")!.referenceTypes).toEqual(["User"]);
  });

  it("sub-attributes know their parent and schema", () => {
    const givenName = user.core.byName.get("name")!.subMap!.get("givenname")!;
    expect(givenName.parent!.name).toBe("name");
    expect(givenName.schemaId).toBe(USER_SCHEMA_ID);
  });

  it("the core definitions are frozen: no one can change them for every registry at once", () => {
    for (const s of CORE_SCHEMAS) expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(userSchema.attributes)).toBe(true);
    expect(Object.isFrozen(userSchema.attributes[0])).toBe(true);
    expect(Object.isFrozen(CORE_RESOURCE_TYPES[0])).toBe(true);
    expect(() => (userSchema.attributes as AttributeDefinition[]).push(attr("sneaky"))).toThrow(TypeError);
    expect(createSchemaRegistry().getResourceType("User").core.byName.has("sneaky")).toBe(false);
  });
});

describe("custom schemas and resource types", () => {
  it("adds a custom extension to User with addExtension", () => {
    const registry = createSchemaRegistry({ schemas: [acmeExtension] }).addExtension("User", { schema: ORG_ID, required: false });
    const user = registry.getResourceType("user"); // case-insensitive name
    expect(user.extensions.map((e) => e.id)).toEqual([ENTERPRISE_USER_SCHEMA_ID, ORG_ID]);
    const badge = user.resolve(p("badgeNumber", undefined, ORG_ID))!;
    expect(badge.attribute.uniqueness).toBe("server");
    expect(badge.schema.id).toBe(ORG_ID);
    expect(registry.listResourceTypes().find((t) => t.name === "User")!.schemaExtensions).toEqual([
      { schema: ENTERPRISE_USER_SCHEMA_ID, required: false },
      { schema: ORG_ID, required: false },
    ]);
  });

  it("addExtension replaces an extension of the same URN instead of duplicating it", () => {
    const registry = createSchemaRegistry({ schemas: [acmeExtension] })
      .addExtension("User", { schema: ORG_ID, required: false })
      .addExtension("User", { schema: ORG_ID.toUpperCase(), required: true });
    const exts = registry.getResourceType("User").extensions;
    expect(exts.map((e) => [e.id, e.required])).toEqual([
      [ENTERPRISE_USER_SCHEMA_ID, false],
      [ORG_ID, true],
    ]);
  });

  it("adds a custom resource type with its own core schema and the common attributes", () => {
    const registry = createSchemaRegistry({
      schemas: [deviceSchema],
      resourceTypes: [{ name: "Device", endpoint: "/Devices", schema: DEVICE_ID }],
    });
    const device = registry.getResourceType("Device");
    expect(device.endpoint).toBe("/Devices");
    expect(device.core.attributes.map((a) => a.name)).toEqual(["id", "externalId", "meta", "serial", "model"]);
    expect(device.core.byName.get("serial")!.required).toBe(true);
    expect(device.core.byName.get("serial")!.caseExact).toBe(true);
    // Defaults of RFC 7643 §2.2 are filled in.
    const model = device.core.byName.get("model")!;
    expect([model.caseExact, model.uniqueness]).toEqual([false, "none"]);
    // Lookup by id works too.
    const byId = createSchemaRegistry({ schemas: [deviceSchema], resourceTypes: [{ id: "dev", name: "Device", endpoint: "/Devices", schema: DEVICE_ID }] });
    expect(byId.findResourceType("DEV")?.name).toBe("Device");
  });

  it("getSchema is case-insensitive; unknown names give undefined or ScimConfigError", () => {
    const registry = createSchemaRegistry();
    expect(registry.getSchema(USER_SCHEMA_ID.toUpperCase())?.id).toBe(USER_SCHEMA_ID);
    expect(registry.getSchema("urn:nope")).toBeUndefined();
    expect(registry.findResourceType("Widgets")).toBeUndefined();
    expect(isScimConfigError(thrown(() => registry.getResourceType("Widgets")))).toBe(true);
  });

  it("core: false gives an empty registry", () => {
    const registry = createSchemaRegistry({ core: false });
    expect(registry.listSchemas()).toEqual([]);
    expect(registry.findResourceType("User")).toBeUndefined();
  });

  it("resolveResourceType accepts a name, a definition or a compiled resource type", () => {
    const registry = createSchemaRegistry({ schemas: [deviceSchema] });
    const def = { name: "Device", endpoint: "/Devices", schema: DEVICE_ID };
    const compiled = resolveResourceType(def, registry);
    expect(compiled.core.byName.has("serial")).toBe(true);
    expect(resolveResourceType(compiled)).toBe(compiled);
    expect(resolveResourceType("Group").name).toBe("Group");
    expect(isScimConfigError(thrown(() => resolveResourceType(def)))).toBe(true); // Device schema not in the default registry
    expect(isScimConfigError(thrown(() => resolveResourceType(42 as never)))).toBe(true);
  });
});

describe("bad definitions throw ScimConfigError", () => {
  const bad: Array<[string, (r: SchemaRegistry) => unknown]> = [
    ["schema id not a URN", (r) => r.addSchema({ id: "Device", attributes: [] })],
    ["attributes not an array", (r) => r.addSchema({ id: "urn:x:a", attributes: undefined as never })],
    ["unknown type", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("a", { type: "text" as never })] })],
    ["complex without subAttributes", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("a", { type: "complex" })] })],
    ["complex with empty subAttributes", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("a", { type: "complex", subAttributes: [] })] })],
    [
      "complex sub-attribute",
      (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("a", { type: "complex", subAttributes: [attr("b", { type: "complex", subAttributes: [attr("c")] })] })] }),
    ],
    ["invalid attribute name", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("has space")] })],
    ["name starting with a digit", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("1st")] })],
    ["__proto__ as a name", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("__proto__")] })],
    ["constructor as a name", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("constructor")] })],
    ["duplicate attribute (case-insensitive)", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("foo"), attr("FOO")] })],
    [
      "duplicate sub-attribute",
      (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("a", { type: "complex", subAttributes: [attr("b"), attr("B")] })] }),
    ],
    ["misspelt returned ('Never')", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("secret", { returned: "Never" as never })] })],
    ["unknown mutability", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("a", { mutability: "readwrite" as never })] })],
    ["unknown uniqueness", (r) => r.addSchema({ id: "urn:x:a", attributes: [attr("a", { uniqueness: "unique" as never })] })],
    ["attribute definition not an object", (r) => r.addSchema({ id: "urn:x:a", attributes: [null as never] })],
    ["resource type without name", (r) => r.addResourceType({ name: "", endpoint: "/X", schema: USER_SCHEMA_ID })],
    ["endpoint without leading slash", (r) => r.addResourceType({ name: "X", endpoint: "X", schema: USER_SCHEMA_ID })],
    ["resource type with an unknown schema", (r) => r.addResourceType({ name: "X", endpoint: "/X", schema: "urn:nope" })],
    [
      "resource type with an unknown extension",
      (r) => r.addResourceType({ name: "X", endpoint: "/X", schema: USER_SCHEMA_ID, schemaExtensions: [{ schema: "urn:nope", required: false }] }),
    ],
    ["addExtension on an unknown resource type", (r) => r.addExtension("Widget", { schema: ENTERPRISE_USER_SCHEMA_ID, required: false })],
    ["addExtension of an unregistered schema", (r) => r.addExtension("User", { schema: "urn:nope", required: false })],
    [
      "core schema redefining a common attribute",
      (r) => r.addSchema({ id: "urn:x:core", attributes: [attr("id")] }).addResourceType({ name: "X", endpoint: "/X", schema: "urn:x:core" }),
    ],
  ];
  it.each(bad)("%s", (_, f) => {
    const registry = createSchemaRegistry();
    const e = thrown(() => f(registry));
    expect(isScimConfigError(e)).toBe(true);
  });

  it("a failed addition leaves the registry unchanged", () => {
    const registry = createSchemaRegistry();
    thrown(() => registry.addSchema({ id: "urn:x:a", attributes: [attr("a", { type: "nope" as never })] }));
    expect(registry.getSchema("urn:x:a")).toBeUndefined();
    thrown(() => registry.addExtension("User", { schema: "urn:nope", required: false }));
    expect(registry.getResourceType("User").extensions.map((e) => e.id)).toEqual([ENTERPRISE_USER_SCHEMA_ID]);
  });
});

describe("registries are independent", () => {
  it("a schema or extension added to one registry is not in another", () => {
    const a = createSchemaRegistry({ schemas: [acmeExtension] }).addExtension("User", { schema: ORG_ID, required: false });
    const b = createSchemaRegistry();
    expect(a.getResourceType("User").extensions).toHaveLength(2);
    expect(b.getSchema(ORG_ID)).toBeUndefined();
    expect(b.getResourceType("User").extensions).toHaveLength(1);
    expect(defaultRegistry().getSchema(ORG_ID)).toBeUndefined();
    expect(defaultRegistry().getResourceType("User").extensions).toHaveLength(1);
  });

  it("changing a registry after compiling a resource type recompiles it", () => {
    const registry = createSchemaRegistry({ schemas: [acmeExtension] });
    expect(registry.getResourceType("User").schema(ORG_ID)).toBeUndefined();
    registry.addExtension("User", { schema: ORG_ID, required: false });
    expect(registry.getResourceType("User").schema(ORG_ID)?.id).toBe(ORG_ID);
  });
});

describe("defaultRegistry()", () => {
  it("holds the core schemas and is the same object each time", () => {
    expect(defaultRegistry()).toBe(defaultRegistry());
    expect(defaultRegistry().getResourceType("User").core.id).toBe(USER_SCHEMA_ID);
    expect(defaultRegistry().getResourceType("Group").core.id).toBe(GROUP_SCHEMA_ID);
  });

  it("is read-only: every mutator throws ScimConfigError and nothing changes", () => {
    const registry = defaultRegistry();
    expect(isScimConfigError(thrown(() => registry.addSchema(acmeExtension)))).toBe(true);
    expect(isScimConfigError(thrown(() => registry.addResourceType({ name: "Device", endpoint: "/Devices", schema: USER_SCHEMA_ID })))).toBe(true);
    expect(isScimConfigError(thrown(() => registry.addExtension("User", { schema: ENTERPRISE_USER_SCHEMA_ID, required: true })))).toBe(true);
    expect(Object.isFrozen(registry)).toBe(true);
    expect(() => {
      (registry as { addSchema: unknown }).addSchema = () => registry;
    }).toThrow(TypeError);
    expect(registry.getSchema(ORG_ID)).toBeUndefined();
    expect(registry.findResourceType("Device")).toBeUndefined();
    expect(registry.getResourceType("User").extensions.map((e) => e.required)).toEqual([false]);
  });

  it("its schemas cannot be changed through getSchema", () => {
    const schema = defaultRegistry().getSchema(USER_SCHEMA_ID)!;
    expect(() => (schema.attributes as AttributeDefinition[]).push(attr("injected"))).toThrow(TypeError);
    expect(() => {
      (schema.attributes[0] as { returned: string }).returned = "never";
    }).toThrow(TypeError);
    expect(defaultRegistry().getResourceType("User").core.byName.get("username")!.returned).toBe("default");
  });
});

describe("CompiledResourceType.resolve (RFC 7644 §3.10)", () => {
  const registry = createSchemaRegistry({ schemas: [acmeExtension] }).addExtension("User", { schema: ORG_ID, required: false });
  const user = registry.getResourceType("User");
  const names = (r: ReturnType<typeof user.resolve>) => r && [r.schema.id, r.attribute.name, r.sub?.name];

  it("resolves plain attribute names case-insensitively, in declared casing", () => {
    expect(names(user.resolve(p("USERNAME")))).toEqual([USER_SCHEMA_ID, "userName", undefined]);
    expect(names(user.resolve(p("id")))).toEqual([USER_SCHEMA_ID, "id", undefined]);
  });

  it("resolves sub-attributes", () => {
    expect(names(user.resolve(p("name", "GIVENNAME")))).toEqual([USER_SCHEMA_ID, "name", "givenName"]);
    expect(names(user.resolve(p("emails", "value")))).toEqual([USER_SCHEMA_ID, "emails", "value"]);
    expect(names(user.resolve(p("meta", "lastModified")))).toEqual([USER_SCHEMA_ID, "meta", "lastModified"]);
  });

  it("resolves URN-qualified core attributes", () => {
    expect(names(user.resolve(p("userName", undefined, USER_SCHEMA_ID)))).toEqual([USER_SCHEMA_ID, "userName", undefined]);
    expect(names(user.resolve(p("name", "familyName", USER_SCHEMA_ID.toLowerCase())))).toEqual([USER_SCHEMA_ID, "name", "familyName"]);
  });

  it("resolves URN-qualified extension attributes (enterprise and custom)", () => {
    expect(names(user.resolve(p("employeeNumber", undefined, ENTERPRISE_USER_SCHEMA_ID)))).toEqual([ENTERPRISE_USER_SCHEMA_ID, "employeeNumber", undefined]);
    expect(names(user.resolve(p("manager", "value", ENTERPRISE_USER_SCHEMA_ID)))).toEqual([ENTERPRISE_USER_SCHEMA_ID, "manager", "value"]);
    expect(names(user.resolve(p("clearance", undefined, ORG_ID)))).toEqual([ORG_ID, "clearance", undefined]);
  });

  it("resolves Entra's dotted form `...:2.0:User.manager`", () => {
    // splitAttrPath("urn:...:enterprise:2.0:User.manager") gives uri "urn:...:enterprise:2.0", attr "User", sub "manager".
    const uri = "urn:ietf:params:scim:schemas:extension:enterprise:2.0";
    expect(names(user.resolve(p("User", "manager", uri)))).toEqual([ENTERPRISE_USER_SCHEMA_ID, "manager", undefined]);
  });

  it("returns undefined for unknown paths", () => {
    expect(user.resolve(p("nickname2"))).toBeUndefined();
    expect(user.resolve(p("name", "nope"))).toBeUndefined();
    expect(user.resolve(p("userName", "sub"))).toBeUndefined(); // simple attributes have no sub-attributes
    expect(user.resolve(p("employeeNumber"))).toBeUndefined(); // extension attribute without its URN
    expect(user.resolve(p("userName", undefined, ENTERPRISE_USER_SCHEMA_ID))).toBeUndefined(); // wrong schema
    expect(user.resolve(p("userName", undefined, "urn:unknown:schema"))).toBeUndefined();
    expect(user.resolve(p("displayName", undefined, GROUP_SCHEMA_ID))).toBeUndefined(); // another resource type's schema
  });

  it("schema() finds the core and extension schemas by URN, case-insensitively", () => {
    expect(user.schema(USER_SCHEMA_ID.toUpperCase())?.extension).toBe(false);
    expect(user.schema(ORG_ID)?.extension).toBe(true);
    expect(user.schema(GROUP_SCHEMA_ID)).toBeUndefined();
  });
});

/** The message of the ScimConfigError `f` throws (failing when it throws anything else). */
function configError(f: () => unknown): string {
  const e = thrown(f);
  expect(isScimConfigError(e), String(e)).toBe(true);
  return (e as Error).message;
}

describe("uniqueness only where the server enforces it (RFC 7643 §2.2, §7)", () => {
  const EXT = "urn:example:params:scim:schemas:extension:unique:2.0:User";
  const withAttribute = (a: AttributeDefinition) => () => createSchemaRegistry({ schemas: [{ id: EXT, attributes: [a] }] });
  const complex = (name: string, multiValued: boolean, sub: AttributeDefinition) => attr(name, { type: "complex", multiValued, subAttributes: [sub] });

  it.each(["server", "global"] as const)("accepts uniqueness '%s' on single-valued top-level string, reference, integer and decimal attributes", (uniqueness) => {
    const registry = createSchemaRegistry({
      schemas: [
        {
          id: EXT,
          attributes: [
            attr("badge", { uniqueness }),
            attr("homepage", { type: "reference", referenceTypes: ["external"], uniqueness }),
            attr("seat", { type: "integer", uniqueness }),
            attr("score", { type: "decimal", uniqueness }),
          ],
        },
      ],
    }).addExtension("User", { schema: EXT, required: false });
    expect(registry.getResourceType("User").schema(EXT)!.attributes.map((a) => a.uniqueness)).toEqual([uniqueness, uniqueness, uniqueness, uniqueness]);
  });

  it("the core schemas keep theirs: userName and the common id", () => {
    const user = createSchemaRegistry().getResourceType("User");
    expect(user.core.byName.get("username")!.uniqueness).toBe("server");
    expect(user.core.byName.get("id")!.uniqueness).toBe("server");
  });

  const refused: Array<[string, AttributeDefinition, string]> = [
    ["a multi-valued string", attr("tags", { multiValued: true, uniqueness: "server" }), `${EXT}.tags`],
    ["a multi-valued integer", attr("seats", { type: "integer", multiValued: true, uniqueness: "global" }), `${EXT}.seats`],
    ["a boolean", attr("flag", { type: "boolean", uniqueness: "server" }), `${EXT}.flag`],
    ["a dateTime (compared as text, not as instants)", attr("since", { type: "dateTime", uniqueness: "server" }), `${EXT}.since`],
    ["a binary (RFC 7643 §2.3.6: no uniqueness)", attr("key", { type: "binary", uniqueness: "server" }), `${EXT}.key`],
    ["a complex attribute", attr("badge", { type: "complex", uniqueness: "server", subAttributes: [attr("v")] }), `${EXT}.badge`],
    ["a sub-attribute of a single-valued complex attribute", complex("usub", false, attr("v", { uniqueness: "server" })), `${EXT}.usub.v`],
    ["a sub-attribute of a multi-valued complex attribute", complex("udev", true, attr("value", { uniqueness: "global" })), `${EXT}.udev.value`],
    ["an extension attribute named id", attr("id", { uniqueness: "server" }), `${EXT}.id`],
  ];
  it.each(refused)("refuses uniqueness on %s, naming the schema, the attribute and the supported shapes", (_, a, path) => {
    const message = configError(withAttribute(a));
    expect(message).toContain(`${path}: uniqueness '${a.uniqueness ?? a.subAttributes![0]!.uniqueness}'`);
    expect(message).toContain("single-valued top-level attributes of type string, reference, integer or decimal");
  });

  it("uniqueness 'none' is accepted on every shape", () => {
    expect(() => withAttribute(attr("tags", { multiValued: true, uniqueness: "none" }))()).not.toThrow();
    expect(() => withAttribute(complex("udev", true, attr("value", { uniqueness: "none" })))()).not.toThrow();
  });

  it("applies to the core schema of a custom resource type too", () => {
    const message = configError(() => createSchemaRegistry({ schemas: [{ id: DEVICE_ID, attributes: [attr("ports", { type: "integer", multiValued: true, uniqueness: "server" })] }] }));
    expect(message).toContain(`${DEVICE_ID}.ports: uniqueness 'server'`);
  });
});

describe("attribute characteristics are checked strictly (RFC 7643 §7)", () => {
  const EXT = "urn:example:params:scim:schemas:extension:strict:2.0:User";
  const withAttribute = (a: object) => () => createSchemaRegistry().addSchema({ id: EXT, attributes: [a as AttributeDefinition] });
  const complex = (sub: object) => ({ ...attr("badge", { type: "complex" }), subAttributes: [sub as AttributeDefinition] });

  it("accepts every RFC 7643 §7 characteristic with its type", () => {
    const full = {
      name: "level",
      type: "string",
      multiValued: false,
      description: "Clearance level",
      required: true,
      canonicalValues: ["low", "high"],
      caseExact: true,
      mutability: "immutable",
      returned: "request",
      uniqueness: "none",
      referenceTypes: [],
    };
    const registry = withAttribute(full)().addExtension("User", { schema: EXT, required: false });
    expect(registry.getResourceType("User").schema(EXT)!.byName.get("level")).toMatchObject(full);
    expect(() => withAttribute({ name: "ref", type: "reference", referenceTypes: ["User", "external"] })()).not.toThrow();
    expect(() => withAttribute({ name: "min", type: "string" })()).not.toThrow(); // the rest take their §2.2 defaults
  });

  const refused: Array<[string, object, string, string]> = [
    ["a misspelt characteristic ('retruned')", { ...attr("pin"), retruned: "never" }, `${EXT}.pin`, "retruned"],
    ["an unknown characteristic", { ...attr("pin"), secret: true }, `${EXT}.pin`, "secret"],
    ["required as a string", { ...attr("pin"), required: "yes" }, `${EXT}.pin`, "required"],
    ["multiValued as a string", { ...attr("pin"), multiValued: "false" }, `${EXT}.pin`, "multiValued"],
    ["caseExact as a number", { ...attr("pin"), caseExact: 1 }, `${EXT}.pin`, "caseExact"],
    ["description not a string", { ...attr("pin"), description: 7 }, `${EXT}.pin`, "description"],
    ["canonicalValues as a string", { ...attr("level"), canonicalValues: "x" }, `${EXT}.level`, "canonicalValues"],
    ["canonicalValues with a number", { ...attr("level"), canonicalValues: ["a", 1] }, `${EXT}.level`, "canonicalValues"],
    ["referenceTypes as a string", { ...attr("owner", { type: "reference" }), referenceTypes: "User" }, `${EXT}.owner`, "referenceTypes"],
    ["subAttributes on a string attribute", { ...attr("pin"), subAttributes: [attr("x")] }, `${EXT}.pin`, "subAttributes"],
    ["subAttributes not an array", { ...attr("badge", { type: "complex" }), subAttributes: { name: "x", type: "string" } }, `${EXT}.badge`, "subAttributes"],
    ["a misspelt characteristic of a sub-attribute", complex({ ...attr("code"), requried: true }), `${EXT}.badge.code`, "requried"],
    ["required as a string in a sub-attribute", complex({ ...attr("code"), required: "yes" }), `${EXT}.badge.code`, "required"],
  ];
  it.each(refused)("refuses %s, naming the schema, the attribute path and the key", (_, a, path, key) => {
    expect(configError(withAttribute(a))).toContain(`${path}: `);
    expect(configError(withAttribute(a))).toContain(`'${key}'`);
  });

  it("a refused definition is not registered (nothing is served from it)", () => {
    const registry = createSchemaRegistry();
    thrown(() => registry.addSchema({ id: EXT, attributes: [{ ...attr("pin"), retruned: "never" } as AttributeDefinition] }));
    expect(registry.getSchema(EXT)).toBeUndefined();
  });
});

describe("schema ids must not clash (RFC 7643 §3.3, §7; RFC 7644 §3.10)", () => {
  const schema = (id: string): SchemaDefinition => ({ id, attributes: [attr("a")] });

  it("refuses an id that is the URN path of another schema's attribute, or whose path another id is", () => {
    expect(configError(() => createSchemaRegistry().addSchema(schema(`${USER_SCHEMA_ID}:name`)))).toContain(USER_SCHEMA_ID);
    expect(configError(() => createSchemaRegistry().addSchema(schema(`${ENTERPRISE_USER_SCHEMA_ID.toUpperCase()}:manager`)))).toContain(ENTERPRISE_USER_SCHEMA_ID);
    const message = configError(() => createSchemaRegistry({ schemas: [schema("urn:example:acme")] }).addSchema(schema("urn:example:acme:a")));
    expect(message).toContain("urn:example:acme:a");
    expect(message).toContain("'urn:example:acme'");
    // In either order.
    expect(configError(() => createSchemaRegistry({ schemas: [schema("urn:example:acme:a")] }).addSchema(schema("urn:example:acme")))).toContain("'urn:example:acme:a'");
    // A prefix of Entra's dotted form (`urn:...:enterprise:2.0` + `:User`).
    expect(() => createSchemaRegistry().addSchema(schema("urn:ietf:params:scim:schemas:extension:enterprise:2.0"))).toThrow(/enterprise:2\.0:User/);
  });

  it("refuses the RFC 7643 and RFC 7644 schema and message URNs", () => {
    const reserved = [
      "urn:ietf:params:scim:schemas:core:2.0:Schema",
      "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
      "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
      "urn:ietf:params:scim:api:messages:2.0:PatchOp",
      "urn:ietf:params:scim:api:messages:2.0:ListResponse",
      "urn:ietf:params:scim:api:messages:2.0:SearchRequest",
      "urn:ietf:params:scim:api:messages:2.0:BulkRequest",
      "urn:ietf:params:scim:api:messages:2.0:BulkResponse",
      "urn:ietf:params:scim:api:messages:2.0:Error",
      "URN:IETF:PARAMS:SCIM:API:MESSAGES:2.0:PATCHOP",
      "urn:ietf:params:scim:schemas:core:2.0:Schema:attributes",
    ];
    for (const id of reserved) {
      expect(configError(() => createSchemaRegistry().addSchema(schema(id)))).toContain(id);
      expect(isScimConfigError(thrown(() => createSchemaRegistry({ core: false }).addSchema(schema(id))))).toBe(true);
    }
  });

  it("refuses an id ending with ':'", () => {
    expect(configError(() => createSchemaRegistry().addSchema(schema("urn:example:acme:")))).toContain("urn:example:acme:");
  });

  it("accepts ids that only share a prefix without ':', and replacing a schema by its own id", () => {
    const registry = createSchemaRegistry({ schemas: [schema("urn:example:acme"), schema("urn:example:acmex"), schema("urn:example:acme2:User")] });
    registry.addSchema({ id: "URN:EXAMPLE:ACME", attributes: [attr("b")] });
    expect(registry.getSchema("urn:example:acme")!.attributes.map((a) => a.name)).toEqual(["b"]);
    expect(createSchemaRegistry({ schemas: [acmeExtension] }).getSchema(ORG_ID)).toBeDefined();
  });
});

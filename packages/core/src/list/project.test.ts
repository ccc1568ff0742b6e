import { describe, it, expect } from "vitest";
import { isScimError } from "../errors/scim-error.js";
import { ENTERPRISE_USER_SCHEMA_ID, GROUP_SCHEMA_ID, USER_SCHEMA_ID } from "../schema/core-schemas.js";
import { createSchemaRegistry } from "../schema/registry.js";
import type { SchemaDefinition } from "../schema/types.js";
import { compileProjection, projectResource, type ProjectionOptions } from "./project.js";

type Obj = Record<string, unknown>;
const ENT = ENTERPRISE_USER_SCHEMA_ID;

/** A stored User, in canonical form, with meta first to show that projection moves it last. */
const stored: Obj = {
  schemas: [USER_SCHEMA_ID, ENT],
  meta: { resourceType: "User", created: "2010-01-23T04:56:22Z", lastModified: "2011-05-13T04:42:34Z", location: "https://example.com/v2/Users/2819c223" },
  id: "2819c223",
  externalId: "701984",
  userName: "bjensen@example.com",
  password: "t1meMa$heen",
  name: { formatted: "Ms. Barbara J Jensen, III", familyName: "Jensen", givenName: "Barbara" },
  displayName: "Babs Jensen",
  active: true,
  emails: [
    { value: "bjensen@example.com", type: "work", primary: true },
    { value: "babs@jensen.org", type: "home" },
  ],
  groups: [{ value: "e9e30dba", display: "Tour Guides" }],
  [ENT]: { employeeNumber: "701984", department: "Tour Operations", manager: { value: "26118915", $ref: "../Users/26118915", displayName: "John Smith" } },
};

const project = (options: Omit<ProjectionOptions, "resourceType"> = {}, resource: Obj = stored) => projectResource(resource, { resourceType: "User", ...options });

describe("returned characteristic (RFC 7643 §7)", () => {
  it("by default: everything but returned never; schemas, id first; meta last", () => {
    const out = project();
    const { password: _, meta, ...rest } = stored;
    expect(out).toStrictEqual({ ...rest, meta });
    expect(Object.keys(out)).toEqual(["schemas", "id", "externalId", "userName", "name", "displayName", "active", "emails", "groups", ENT, "meta"]);
    expect(out).not.toHaveProperty("password");
  });

  it("password is never returned, even when asked for by name, URN or whole schema", () => {
    for (const attributes of ["password", "PASSWORD", `${USER_SCHEMA_ID}:password`, USER_SCHEMA_ID, "userName,password"]) {
      const out = project({ attributes });
      expect(out).not.toHaveProperty("password");
      expect(JSON.stringify(out)).not.toContain("t1meMa$heen");
    }
  });

  it("id and schemas are always returned", () => {
    expect(project({ attributes: "displayName" })).toStrictEqual({ schemas: [USER_SCHEMA_ID], id: "2819c223", displayName: "Babs Jensen" });
    expect(project({ excludedAttributes: "id,schemas,userName" })).toMatchObject({ schemas: stored.schemas, id: "2819c223" });
    expect(project({ attributes: "nothingKnown" })).toStrictEqual({ schemas: [USER_SCHEMA_ID], id: "2819c223" });
  });

  it("projects in schema order, not stored order, with sub-attributes in declared order", () => {
    const out = project({}, { userName: "u", id: "1", schemas: [USER_SCHEMA_ID], name: { givenName: "G", familyName: "F" } });
    expect(Object.keys(out)).toEqual(["schemas", "id", "userName", "name"]);
    expect(Object.keys(out.name as Obj)).toEqual(["familyName", "givenName"]);
  });

  it("never puts out attributes the schemas do not define", () => {
    const out = project({}, { ...stored, internalFlag: true, "urn:example:ext:2.0:User": { a: 1 }, name: { givenName: "G", secret: "s" } });
    expect(out).not.toHaveProperty("internalFlag");
    expect(out).not.toHaveProperty("urn:example:ext:2.0:User");
    expect(out.name).toStrictEqual({ givenName: "G" });
  });

  it("does not modify the stored resource", () => {
    const copy = structuredClone(stored);
    project({ attributes: "emails.value", excludedAttributes: "meta" });
    expect(stored).toStrictEqual(copy);
  });

  describe("a custom schema with returned request, always and never", () => {
    const ID = "urn:example:scim:schemas:extension:acme:2.0:User";
    const acme: SchemaDefinition = {
      id: ID,
      attributes: [
        { name: "badge", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
        { name: "photoBlob", type: "binary", multiValued: false, required: false, mutability: "readWrite", returned: "request" },
        { name: "tenant", type: "string", multiValued: false, required: false, mutability: "readOnly", returned: "always" },
        { name: "pin", type: "string", multiValued: false, required: false, mutability: "writeOnly", returned: "never" },
        {
          name: "device",
          type: "complex",
          multiValued: false,
          required: false,
          mutability: "readWrite",
          returned: "default",
          subAttributes: [
            { name: "model", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
            { name: "imei", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "request" },
            { name: "owner", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "always" },
            { name: "key", type: "string", multiValued: false, required: false, mutability: "writeOnly", returned: "never" },
          ],
        },
      ],
    };
    const registry = createSchemaRegistry({ schemas: [acme] }).addExtension("User", { schema: ID, required: false });
    const resource: Obj = {
      schemas: [USER_SCHEMA_ID, ID],
      id: "1",
      userName: "u",
      displayName: "D",
      [ID]: { badge: "B7", photoBlob: "AAAA", tenant: "t1", pin: "1234", device: { model: "X", imei: "35", owner: "o", key: "k" } },
    };
    const p = (options: Omit<ProjectionOptions, "resourceType" | "registry"> = {}) => projectResource(resource, { resourceType: "User", registry, ...options });

    it("request attributes are left out by default; never is never returned", () => {
      expect(p()[ID]).toStrictEqual({ badge: "B7", tenant: "t1", device: { model: "X", owner: "o" } });
    });

    it("request attributes are returned when asked for (plain, URN-qualified, case-insensitive, sub-attribute)", () => {
      expect(p({ attributes: `${ID}:photoBlob` })[ID]).toStrictEqual({ photoBlob: "AAAA", tenant: "t1" });
      expect(p({ attributes: `${ID.toUpperCase()}:PHOTOBLOB` })[ID]).toStrictEqual({ photoBlob: "AAAA", tenant: "t1" });
      expect(p({ attributes: `${ID}:device.imei` })[ID]).toStrictEqual({ tenant: "t1", device: { imei: "35", owner: "o" } });
      // Asking for the whole extension includes its request attributes but still not `never` ones.
      expect(p({ attributes: ID })[ID]).toStrictEqual({ badge: "B7", photoBlob: "AAAA", tenant: "t1", device: { model: "X", owner: "o" } });
    });

    it("always attributes survive attributes and excludedAttributes; never ones cannot be requested", () => {
      expect(p({ attributes: "userName" })[ID]).toStrictEqual({ tenant: "t1" });
      expect(p({ excludedAttributes: `${ID}:tenant,${ID}` })[ID]).toStrictEqual({ tenant: "t1" });
      // Asking for a never sub-attribute selects its parent, which then shows only its always sub-attribute.
      expect(p({ attributes: `${ID}:pin,${ID}:device.key` })[ID]).toStrictEqual({ tenant: "t1", device: { owner: "o" } });
      expect(JSON.stringify(p({ attributes: ID }))).not.toMatch(/1234|"key"/);
      // excluding a sub-attribute that is returned always has no effect
      expect(p({ excludedAttributes: `${ID}:device.owner,${ID}:device.model` })[ID]).toMatchObject({ device: { owner: "o" } });
    });
  });
});

describe("attributes (RFC 7644 §3.4.2.5)", () => {
  it("narrows to the named attributes plus id and schemas", () => {
    expect(project({ attributes: "userName,displayName" })).toStrictEqual({
      schemas: [USER_SCHEMA_ID],
      id: "2819c223",
      userName: "bjensen@example.com",
      displayName: "Babs Jensen",
    });
  });

  it("accepts an array, names in any case, spaces around commas", () => {
    expect(project({ attributes: ["USERNAME", " active "] })).toStrictEqual({ schemas: [USER_SCHEMA_ID], id: "2819c223", userName: "bjensen@example.com", active: true });
    expect(project({ attributes: " userName , Active" })).toStrictEqual({ schemas: [USER_SCHEMA_ID], id: "2819c223", userName: "bjensen@example.com", active: true });
  });

  it("sub-attributes of a complex and of a multi-valued attribute", () => {
    expect(project({ attributes: "name.givenName,emails.value" })).toStrictEqual({
      schemas: [USER_SCHEMA_ID],
      id: "2819c223",
      name: { givenName: "Barbara" },
      emails: [{ value: "bjensen@example.com" }, { value: "babs@jensen.org" }],
    });
    expect(project({ attributes: "emails.type,emails.primary" }).emails).toStrictEqual([{ type: "work", primary: true }, { type: "home" }]);
  });

  it("a multi-valued element left with nothing is dropped, and an attribute left empty too", () => {
    expect(project({ attributes: "emails.primary" }).emails).toStrictEqual([{ primary: true }]);
    expect(project({ attributes: "name.middleName" })).not.toHaveProperty("name");
  });

  it("URN-qualified core and extension names", () => {
    expect(project({ attributes: `${USER_SCHEMA_ID}:userName,${USER_SCHEMA_ID}:name.familyName` })).toStrictEqual({
      schemas: [USER_SCHEMA_ID],
      id: "2819c223",
      userName: "bjensen@example.com",
      name: { familyName: "Jensen" },
    });
    expect(project({ attributes: `${ENT}:employeeNumber,${ENT}:manager.value` })).toStrictEqual({
      schemas: stored.schemas,
      id: "2819c223",
      [ENT]: { employeeNumber: "701984", manager: { value: "26118915" } },
    });
  });

  it("a whole extension by its URN", () => {
    expect(project({ attributes: ENT })).toStrictEqual({ schemas: stored.schemas, id: "2819c223", [ENT]: stored[ENT] });
  });

  it("the whole core schema by its URN leaves the extension out", () => {
    const out = project({ attributes: USER_SCHEMA_ID });
    expect(out).not.toHaveProperty(ENT);
    expect(out).toMatchObject({ userName: "bjensen@example.com", emails: stored.emails, meta: stored.meta });
  });

  it("meta and its sub-attributes can be asked for, and meta stays last", () => {
    const out = project({ attributes: "meta.lastModified,userName" });
    expect(out).toStrictEqual({ schemas: [USER_SCHEMA_ID], id: "2819c223", userName: "bjensen@example.com", meta: { lastModified: "2011-05-13T04:42:34Z" } });
    expect(Object.keys(out).at(-1)).toBe("meta");
  });

  it("names that are not attribute paths are a 400 invalidSyntax", () => {
    for (const attributes of ["user name", "emails[type eq \"work\"]", "name..givenName"]) {
      let thrown: unknown;
      try {
        project({ attributes });
      } catch (e) {
        thrown = e;
      }
      expect(isScimError(thrown) && thrown.status === 400 && thrown.scimType === "invalidSyntax").toBe(true);
    }
  });
});

describe("excludedAttributes (RFC 7644 §3.4.2.5)", () => {
  it("removes the named default attributes", () => {
    const out = project({ excludedAttributes: "emails,name,groups,meta" });
    expect(out).toStrictEqual({
      schemas: stored.schemas,
      id: "2819c223",
      externalId: "701984",
      userName: "bjensen@example.com",
      displayName: "Babs Jensen",
      active: true,
      [ENT]: stored[ENT],
    });
  });

  it("removes single sub-attributes, also in every element of a multi-valued attribute", () => {
    const out = project({ excludedAttributes: "name.formatted,emails.type,EMAILS.PRIMARY" });
    expect(out.name).toStrictEqual({ familyName: "Jensen", givenName: "Barbara" });
    expect(out.emails).toStrictEqual([{ value: "bjensen@example.com" }, { value: "babs@jensen.org" }]);
  });

  it("URN-qualified names and a whole extension", () => {
    expect(project({ excludedAttributes: `${ENT}:manager` })[ENT]).toStrictEqual({ employeeNumber: "701984", department: "Tour Operations" });
    expect(project({ excludedAttributes: `${ENT}:manager.displayName` })[ENT]).toMatchObject({ manager: { value: "26118915", $ref: "../Users/26118915" } });
    const out = project({ excludedAttributes: ENT });
    expect(out).not.toHaveProperty(ENT);
    expect(out.userName).toBe("bjensen@example.com");
  });

  it("schemas names only the extensions whose attributes are present (RFC 7643 §3)", () => {
    expect(project({ excludedAttributes: ENT }).schemas).toStrictEqual([USER_SCHEMA_ID]);
    expect(project({ attributes: "userName" }).schemas).toStrictEqual([USER_SCHEMA_ID]);
    expect(project({ attributes: `userName,${ENT}:department` }).schemas).toStrictEqual([USER_SCHEMA_ID, ENT]);
    expect(project({ excludedAttributes: `${ENT}:manager` }).schemas).toStrictEqual([USER_SCHEMA_ID, ENT]);
    // A URN in another case is the same extension.
    expect(project({ attributes: "userName" }, { ...stored, schemas: [USER_SCHEMA_ID, ENT.toUpperCase()] }).schemas).toStrictEqual([USER_SCHEMA_ID]);
    // Without attribute lists, schemas is as stored.
    expect(project().schemas).toStrictEqual(stored.schemas);
  });

  it("cannot remove id or schemas, and unknown names have no effect", () => {
    expect(project({ excludedAttributes: "id,schemas,nonsense" })).toStrictEqual(project());
  });

  it("Entra's GET /Groups?excludedAttributes=members", () => {
    const g = { schemas: [GROUP_SCHEMA_ID], id: "g1", displayName: "Tour Guides", members: [{ value: "u1", display: "Babs" }], meta: { resourceType: "Group" } };
    expect(projectResource(g, { resourceType: "Group", excludedAttributes: "members" })).toStrictEqual({
      schemas: [GROUP_SCHEMA_ID],
      id: "g1",
      displayName: "Tour Guides",
      meta: { resourceType: "Group" },
    });
  });
});

describe("compileProjection", () => {
  it("parses once and projects many resources the same way as projectResource", () => {
    const options: ProjectionOptions = { resourceType: "User", attributes: "userName,emails.value" };
    const projector = compileProjection(options);
    const other = { schemas: [USER_SCHEMA_ID], id: "2", userName: "other", password: "x", emails: [{ value: "o@example.com", type: "work" }] };
    expect(projector(stored)).toStrictEqual(projectResource(stored, options));
    expect(projector(other)).toStrictEqual({ schemas: [USER_SCHEMA_ID], id: "2", userName: "other", emails: [{ value: "o@example.com" }] });
  });
});

describe("projectResource: the default projection's fast path", () => {
  it("gives the same result as the general path on canonical users and groups", async () => {
    const fc = (await import("fast-check")).default;
    const { compileProjection } = await import("./project.js");
    const { validateResource } = await import("../schema/validate.js");
    const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const user = fc.record(
      {
        userName: fc.string({ minLength: 1 }).filter((s) => s.trim() !== ""),
        password: fc.string(),
        displayName: fc.option(fc.string(), { nil: null }),
        active: fc.boolean(),
        name: fc.record({ givenName: fc.string(), familyName: fc.string() }, { requiredKeys: [] }),
        emails: fc.array(fc.record({ value: fc.string(), type: fc.constantFrom("work", "home"), primary: fc.constant(false) }, { requiredKeys: ["value"] }), { maxLength: 3 }),
        [ENT]: fc.record({ department: fc.string(), manager: fc.record({ value: fc.string({ minLength: 1 }) }) }, { requiredKeys: [] }),
      },
      { requiredKeys: ["userName"] },
    );
    fc.assert(
      fc.property(user, (body) => {
        const stored = { ...validateResource(body, { resourceType: "User" }), id: "u1", groups: [{ value: "g1", display: "G", type: "direct" }], meta: { resourceType: "User", version: 'W/"1"' } };
        const fast = compileProjection({ resourceType: "User" })(stored);
        const general = compileProjection({ resourceType: "User" }, false)(stored);
        expect(fast).toEqual(general);
        expect(fast).not.toHaveProperty("password");
        expect(Object.keys(fast).at(-1)).toBe("meta");
      }),
      { numRuns: 300 },
    );
    const group = { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], id: "g1", displayName: "G", members: [{ value: "u1", display: "U", type: "User", $ref: "https://x/Users/u1" }], meta: { resourceType: "Group" } };
    expect(compileProjection({ resourceType: "Group" })(group)).toEqual(compileProjection({ resourceType: "Group" }, false)(group));
  });
});

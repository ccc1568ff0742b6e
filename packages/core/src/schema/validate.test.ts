import { describe, it, expect } from "vitest";
import { scimError } from "../test-support.js";
import { isScimError, type ScimError } from "../errors/scim-error.js";
import { ENTERPRISE_USER_SCHEMA_ID, GROUP_SCHEMA_ID, USER_SCHEMA_ID } from "./core-schemas.js";
import { createSchemaRegistry } from "./registry.js";
import type { AttributeDefinition, SchemaDefinition } from "./types.js";
import { validateResource, type ValidateResourceOptions } from "./validate.js";

type Obj = Record<string, unknown>;
const ENT = ENTERPRISE_USER_SCHEMA_ID;

const user = (input: unknown, options: Partial<ValidateResourceOptions> = {}) => validateResource(input, { resourceType: "User", ...options });
const group = (input: unknown, options: Partial<ValidateResourceOptions> = {}) => validateResource(input, { resourceType: "Group", ...options });

/** Runs `f`, expecting a ScimError; fails the test when nothing or something else is thrown. */

const X509 =
  "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMxEzARBgNVBAgMCkNhbGlmb3JuaWExFDASBgNVBAoMC2V4YW1wbGUuY29tMRQwEgYDVQQDDAtleGFtcGxlLmNvbTAeFw0xMTEwMjIwNjI0MzFaFw0xMjEwMDQwNjI0MzFaMH8xCzAJBgNVBAYTAlVTMRMwEQYDVQQIDApDYWxpZm9ybmlhMRQwEgYDVQQKDAtleGFtcGxlLmNvbTEhMB8GA1UEAwwYTXMuIEJhcmJhcmEgSiBKZW5zZW4gSUlJMSIwIAYJKoZIhvcNAQkBFhNiamVuc2VuQGV4YW1wbGUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA7Kr+Dcds/JQ5GwejJFcBIP682X3xpjis56AK02bc1FLgzdLI8auoR+cC9/Vrh5t66HkQIOdA4unHh0AaZ4xL5PhVbXIPMB5vAPKpzz5iPSi8xO8SL7I7SDhcBVJhqVqr3HgllEG6UClDdHO7nkLuwXq8HcISKkbT5WFTVfFZzidPl8HZ7DhXkZIRtJwBweq4bvm3hM1Os7UQH05ZS6cVDgweKNwdLLrT51ikSQG3DYrl+ft781UQRIqxgwqCfXEuDiinPh0kkvIi5jivVu1Z9QiwlYEdRbLJ4zJQBmDrSGTMYn4lRc2HgHO4DqB/bnMVorHB0CC6AV1QoFK4GPe1LwIDAQABo3sweTAJBgNVHRMEAjAAMCwGCWCGSAGG+EIBDQQfFh1PcGVuU1NMIEdlbmVyYXRlZCBDZXJ0aWZpY2F0ZTAdBgNVHQ4EFgQU8pD0U0vsZIsaA16lL8En8bx0F/gwHwYDVR0jBBgwFoAUdGeKitcaF7gnzsNwDx708kqaVt0wDQYJKoZIhvcNAQEFBQADgYEAA81SsFnOdYJtNg5Tcq+/ByEDrBgnusx0jloUhByPMEVkoMZ3J7j1ZgI8rAbOkNngX8+pKfTiDz1RC4+dx8oU6Za+4NJXUjlL5CvV6BEYb1+QAEJwitTVvxB/A67g42/vzgAtoRUeDov1+GFiBZ+GNF/cAYKcMtGcrs2i97ZkJMo=";

// RFC 7643 §8.1, Minimal User Representation (the RFC's line-wrapped URL joined).
const RFC_8_1 = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "userName": "bjensen@example.com",
  "meta": {
    "resourceType": "User",
    "created": "2010-01-23T04:56:22Z",
    "lastModified": "2011-05-13T04:42:34Z",
    "version": "W\\/\\"3694e05e9dff590\\"",
    "location":
     "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
  }
}`;

// RFC 7643 §8.2, Full User Representation (the certificate's line breaks removed, as JSON requires).
const RFC_8_2 = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "id": "2819c223-7f76-453a-919d-413861904646",
  "externalId": "701984",
  "userName": "bjensen@example.com",
  "name": {
    "formatted": "Ms. Barbara J Jensen, III",
    "familyName": "Jensen",
    "givenName": "Barbara",
    "middleName": "Jane",
    "honorificPrefix": "Ms.",
    "honorificSuffix": "III"
  },
  "displayName": "Babs Jensen",
  "nickName": "Babs",
  "profileUrl": "https://login.example.com/bjensen",
  "emails": [
    {
      "value": "bjensen@example.com",
      "type": "work",
      "primary": true
    },
    {
      "value": "babs@jensen.org",
      "type": "home"
    }
  ],
  "addresses": [
    {
      "type": "work",
      "streetAddress": "100 Universal City Plaza",
      "locality": "Hollywood",
      "region": "CA",
      "postalCode": "91608",
      "country": "USA",
      "formatted": "100 Universal City Plaza\\nHollywood, CA 91608 USA",
      "primary": true
    },
    {
      "type": "home",
      "streetAddress": "456 Hollywood Blvd",
      "locality": "Hollywood",
      "region": "CA",
      "postalCode": "91608",
      "country": "USA",
      "formatted": "456 Hollywood Blvd\\nHollywood, CA 91608 USA"
    }
  ],
  "phoneNumbers": [
    {
      "value": "555-555-5555",
      "type": "work"
    },
    {
      "value": "555-555-4444",
      "type": "mobile"
    }
  ],
  "ims": [
    {
      "value": "someaimhandle",
      "type": "aim"
    }
  ],
  "photos": [
    {
      "value":
        "https://photos.example.com/profilephoto/72930000000Ccne/F",
      "type": "photo"
    },
    {
      "value":
        "https://photos.example.com/profilephoto/72930000000Ccne/T",
      "type": "thumbnail"
    }
  ],
  "userType": "Employee",
  "title": "Tour Guide",
  "preferredLanguage": "en-US",
  "locale": "en-US",
  "timezone": "America/Los_Angeles",
  "active":true,
  "password": "t1meMa$heen",
  "groups": [
    {
      "value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
      "$ref":
"https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
      "display": "Tour Guides"
    },
    {
      "value": "fc348aa8-3835-40eb-a20b-c726e15c55b5",
      "$ref":
"https://example.com/v2/Groups/fc348aa8-3835-40eb-a20b-c726e15c55b5",
      "display": "Employees"
    },
    {
      "value": "71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7",
      "$ref":
"https://example.com/v2/Groups/71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7",
      "display": "US Employees"
    }
  ],
  "x509Certificates": [
    {
      "value": "${X509}"
    }
  ],
  "meta": {
    "resourceType": "User",
    "created": "2010-01-23T04:56:22Z",
    "lastModified": "2011-05-13T04:42:34Z",
    "version": "W\\/\\"a330bc54f0671c9\\"",
    "location":
"https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
  }
}`;

// RFC 7643 §8.3, Enterprise User Extension Representation: its extension part.
const RFC_8_3_EXTENSION = {
  employeeNumber: "701984",
  costCenter: "4130",
  organization: "Universal Studios",
  division: "Theme Park",
  department: "Tour Operations",
  manager: {
    value: "26118915-6090-4610-87e4-49d8ca9f808d",
    $ref: "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
    displayName: "John Smith",
  },
};

// RFC 7643 §8.4, Group Representation.
const RFC_8_4 = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
  "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
  "displayName": "Tour Guides",
  "members": [
    {
      "value": "2819c223-7f76-453a-919d-413861904646",
      "$ref":
"https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
      "display": "Babs Jensen"
    },
    {
      "value": "902c246b-6245-4190-8e05-00816be7344a",
      "$ref":
"https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a",
      "display": "Mandy Pepperidge"
    }
  ],
  "meta": {
    "resourceType": "Group",
    "created": "2010-01-23T04:56:22Z",
    "lastModified": "2011-05-13T04:42:34Z",
    "version": "W\\/\\"3694e05e9dff592\\"",
    "location":
"https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"
  }
}`;

/** The input without its readOnly attributes: what validation must give back. */
function withoutReadOnly(input: Obj, ...keys: string[]): Obj {
  const copy = structuredClone(input);
  for (const k of ["id", "meta", ...keys]) delete copy[k];
  return copy;
}

describe("RFC 7643 §8 examples validate and come back canonical", () => {
  it("§8.1 minimal User: id and meta (readOnly) are ignored", () => {
    expect(user(JSON.parse(RFC_8_1))).toStrictEqual({ schemas: [USER_SCHEMA_ID], userName: "bjensen@example.com" });
  });

  it("§8.2 full User: every writable attribute kept as sent; id, meta and groups dropped; password kept for storage", () => {
    const input = JSON.parse(RFC_8_2) as Obj;
    const out = user(input);
    expect(out).toStrictEqual(withoutReadOnly(input, "groups"));
    expect(Object.keys(out)[0]).toBe("schemas");
    expect(out.password).toBe("t1meMa$heen");
    expect((out.x509Certificates as Obj[])[0].value).toBe(X509);
    // The input is not modified.
    expect(input.id).toBe("2819c223-7f76-453a-919d-413861904646");
    expect(input.groups).toHaveLength(3);
  });

  it("§8.2 validated output is a fixed point", () => {
    const once = user(JSON.parse(RFC_8_2));
    expect(user(structuredClone(once))).toStrictEqual(once);
  });

  it("§8.3 enterprise User: the extension is kept, manager.displayName (readOnly) is dropped", () => {
    const input = { ...(JSON.parse(RFC_8_2) as Obj), schemas: [USER_SCHEMA_ID, ENT], [ENT]: structuredClone(RFC_8_3_EXTENSION) };
    const out = user(input);
    const { displayName: _, ...manager } = RFC_8_3_EXTENSION.manager;
    expect(out.schemas).toEqual([USER_SCHEMA_ID, ENT]);
    expect(out[ENT]).toStrictEqual({ ...RFC_8_3_EXTENSION, manager });
  });

  it("§8.4 Group: members kept as sent, id and meta dropped", () => {
    const input = JSON.parse(RFC_8_4) as Obj;
    const out = group(input);
    expect(out).toStrictEqual(withoutReadOnly(input));
    expect(out.schemas).toEqual([GROUP_SCHEMA_ID]);
  });
});

describe("what identity providers send", () => {
  it("Okta create: password kept, groups: [] ignored, booleans and emails as sent", () => {
    const body = JSON.parse(`{
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
      "userName": "test.user@okta.local",
      "name": { "givenName": "Test", "familyName": "User" },
      "emails": [{ "primary": true, "value": "test.user@okta.local", "type": "work" }],
      "displayName": "Test User",
      "locale": "en-US",
      "externalId": "00ujl29u0le5T6Aj10h7",
      "groups": [],
      "password": "1mz050nq",
      "active": true
    }`);
    expect(user(body)).toStrictEqual({
      schemas: [USER_SCHEMA_ID],
      userName: "test.user@okta.local",
      name: { givenName: "Test", familyName: "User" },
      emails: [{ primary: true, value: "test.user@okta.local", type: "work" }],
      displayName: "Test User",
      locale: "en-US",
      externalId: "00ujl29u0le5T6Aj10h7",
      password: "1mz050nq",
      active: true,
    });
  });

  it("OneLogin's empty template fields: an element left with only type and primary is unassigned (RFC 7643 §2.4, §2.5)", () => {
    const out = user({
      schemas: ["urn:scim:schemas:core:1.0"],
      userName: "ol@example.com",
      emails: [{ value: "", type: "work", primary: true }],
      phoneNumbers: [{ value: null, type: "mobile" }, { value: "+1 555 0100", type: "work" }],
      addresses: [{ streetAddress: "", type: "work" }],
      roles: [{ primary: true }],
    });
    expect(out).toEqual({ schemas: [USER_SCHEMA_ID], userName: "ol@example.com", phoneNumbers: [{ value: "+1 555 0100", type: "work" }] });
    // Any other sub-attribute keeps the element.
    expect(user({ userName: "a@example.com", addresses: [{ locality: "Paris", type: "work" }] }).addresses).toEqual([{ locality: "Paris", type: "work" }]);
  });

  it("Okta group create with members: [] gives a group without members", () => {
    expect(group(JSON.parse(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]}`))).toStrictEqual({
      schemas: [GROUP_SCHEMA_ID],
      displayName: "Test SCIMv2",
    });
  });

  it("Entra create: enterprise extension kept; meta, roles: [], manager: null, extra schema URN and unknown attributes dropped", () => {
    const body = JSON.parse(`{
      "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
      ],
      "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
      "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
      "active": true,
      "addresses": [{ "primary": true, "type": "work", "country": "US", "postalCode": "98052", "region": "WA" }],
      "displayName": "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081",
      "emails": [{ "primary": true, "type": "work", "value": "Test_User_11bb6707-f3e5-4fd7-a3d4-e62b2a93e1ad@contoso.com" }],
      "meta": { "resourceType": "User" },
      "name": { "familyName": "familyName", "givenName": "givenName" },
      "roles": [],
      "title": "Manager",
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "123",
        "department": "Sales",
        "manager": null
      },
      "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": { "CustomAttribute": "x" },
      "msDS-cloudExtensionAttribute1": "ignored",
      "nonSchemaAttribute": { "a": 1 }
    }`);
    expect(user(body)).toStrictEqual({
      schemas: [USER_SCHEMA_ID, ENT],
      externalId: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
      userName: "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
      active: true,
      addresses: [{ primary: true, type: "work", country: "US", postalCode: "98052", region: "WA" }],
      displayName: "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081",
      emails: [{ primary: true, type: "work", value: "Test_User_11bb6707-f3e5-4fd7-a3d4-e62b2a93e1ad@contoso.com" }],
      name: { familyName: "familyName", givenName: "givenName" },
      title: "Manager",
      [ENT]: { employeeNumber: "123", department: "Sales" },
    });
  });

  it("Entra group create listing a Microsoft schema that is not a URN", () => {
    const body = {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
      externalId: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
      displayName: "Group1DisplayName",
      members: [],
    };
    expect(group(body)).toStrictEqual({ schemas: [GROUP_SCHEMA_ID], externalId: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", displayName: "Group1DisplayName" });
    expect(scimError(() => group(body, { strict: true })).status).toBe(400);
  });

  it("Entra manager shapes: bare id, {value}, one-element array with $ref null, {value: \"\"} meaning none", () => {
    const manager = (m: unknown) => (user({ userName: "u", [ENT]: { manager: m } })[ENT] as Obj | undefined)?.manager;
    expect(manager("26118915")).toStrictEqual({ value: "26118915" });
    expect(manager({ value: "26118915" })).toStrictEqual({ value: "26118915" });
    expect(manager([{ $ref: null, value: "26118915" }])).toStrictEqual({ value: "26118915" });
    expect(manager({ value: "" })).toBeUndefined();
    expect(manager([])).toBeUndefined();
    expect(manager(null)).toBeUndefined();
    // The empty extension is left out, and so is its URN.
    expect(user({ userName: "u", [ENT]: { manager: { value: "" } } }).schemas).toEqual([USER_SCHEMA_ID]);
  });

  it("Entra URN-qualified keys, also the dotted `...:User.manager` form", () => {
    const out = user({
      userName: "u",
      [`${ENT}:employeeNumber`]: "701984",
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager": "m-1",
      [`${USER_SCHEMA_ID}:displayName`]: "Babs",
    });
    expect(out).toStrictEqual({ schemas: [USER_SCHEMA_ID, ENT], userName: "u", displayName: "Babs", [ENT]: { employeeNumber: "701984", manager: { value: "m-1" } } });
  });

  it("OneLogin: empty strings mean unassigned, at every level", () => {
    const out = user({
      schemas: [USER_SCHEMA_ID, "urn:scim:schemas:core:1.0"],
      userName: "jdoe",
      title: "",
      nickName: "",
      name: { givenName: "", familyName: "Doe", middleName: "" },
      emails: [{ value: "", type: "" }, { value: "jdoe@example.com", type: "work" }],
      phoneNumbers: [{ value: "" }],
      [ENT]: { department: "", costCenter: "" },
    });
    expect(out).toStrictEqual({
      schemas: [USER_SCHEMA_ID],
      userName: "jdoe",
      name: { familyName: "Doe" },
      emails: [{ value: "jdoe@example.com", type: "work" }],
    });
  });

  it("an attribute given as a core-schema-URN object", () => {
    expect(user({ [USER_SCHEMA_ID]: { userName: "u", DisplayName: "D", id: "ignored" } })).toStrictEqual({ schemas: [USER_SCHEMA_ID], userName: "u", displayName: "D" });
  });
});

describe("attribute names are case-insensitive and come back in declared casing", () => {
  it("USERNAME, Name.GivenName, EMAILS[].VALUE, the extension URN and its attributes", () => {
    const out = user({
      SCHEMAS: [USER_SCHEMA_ID],
      USERNAME: "bjensen",
      "Name.GivenName": "Barbara",
      "NAME.familyname": "Jensen",
      EMAILS: [{ VALUE: "b@example.com", Primary: true, TYPE: "work" }],
      DisplayName: "Babs",
      [ENT.toUpperCase()]: { EMPLOYEENUMBER: "1", Manager: { VALUE: "m" } },
    });
    expect(out).toStrictEqual({
      schemas: [USER_SCHEMA_ID, ENT],
      userName: "bjensen",
      name: { givenName: "Barbara", familyName: "Jensen" },
      emails: [{ value: "b@example.com", primary: true, type: "work" }],
      displayName: "Babs",
      [ENT]: { employeeNumber: "1", manager: { value: "m" } },
    });
  });

  it("a dotted key null after the whole attribute removes that sub-attribute, and an emptied parent", () => {
    expect(user({ userName: "u", name: { givenName: "A", familyName: "B" }, "name.givenName": null }).name).toStrictEqual({ familyName: "B" });
    const out = user({ userName: "u", name: { givenName: "A" }, "name.givenName": null });
    expect(out).toStrictEqual({ schemas: [USER_SCHEMA_ID], userName: "u" });
  });

  it("a dotted key into a multi-valued attribute is a 400, not an object where an array belongs", () => {
    const e = scimError(() => user({ userName: "u", "emails.value": "a@example.com" }));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
  });
});

describe("coercions", () => {
  it('booleans from "True"/"false" strings, any case', () => {
    const out = user({ userName: "u", active: "True", emails: [{ value: "a", primary: "TRUE" }, { value: "b", primary: "false" }] });
    expect(out.active).toBe(true);
    expect(out.emails).toStrictEqual([{ value: "a", primary: true }, { value: "b", primary: false }]);
    expect(user({ userName: "u", active: "False" }).active).toBe(false);
  });

  it("characters beyond U+FFFF (surrogate pairs) are kept as sent", () => {
    expect(user({ userName: "u", displayName: "Zoë 😀 𝔘" }).displayName).toBe("Zoë 😀 𝔘");
  });

  it("a one-element array for a single-valued attribute is its value", () => {
    expect(user({ userName: ["only"] }).userName).toBe("only");
  });

  it.each([
    ["a number for a string attribute", { userName: 12345 }, "userName"],
    ["a number for a string sub-attribute", { userName: "u", name: { givenName: 5 } }, "givenName"],
    ["an object for a multi-valued attribute", { userName: "u", emails: { value: "a@example.com" } }, "emails"],
    ["bare strings as elements of a multi-valued complex attribute", { userName: "u", emails: ["a@example.com"] }, "emails"],
    ["a lone high surrogate in a string", { userName: "u", title: "x\ud800y" }, "title"],
    ["a lone low surrogate at the end of a string", { userName: "u\udc00" }, "userName"],
    ["a lone surrogate in a sub-attribute", { userName: "u", emails: [{ value: "a@example.com", type: "\ud83dwork" }] }, "type"],
    ["surrogates in the wrong order", { userName: "u", displayName: "\udc00\ud800" }, "displayName"],
    ["a NUL character in a string", { userName: "nul\u0000name" }, "userName"],
    ["a NUL character in a sub-attribute", { userName: "u", emails: [{ value: "a@example.com\u0000" }] }, "value"],
    ["a NUL character in an extension", { userName: "u", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "\u0000" } }, "department"],
  ])("%s is a 400 invalidValue (RFC 7643 §2.3.1, §2.4)", (_, body, name) => {
    const e = scimError(() => user(body));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
    expect(e.detail).toContain(name);
  });

  describe("integer, decimal, dateTime and binary attributes of a custom schema", () => {
    const ID = "urn:example:scim:schemas:core:2.0:Widget";
    const a = (name: string, type: AttributeDefinition["type"], extra: Partial<AttributeDefinition> = {}): AttributeDefinition => ({
      name, type, multiValued: false, required: false, mutability: "readWrite", returned: "default", ...extra,
    });
    const widget: SchemaDefinition = {
      id: ID,
      attributes: [
        a("name", "string", { required: true }),
        a("count", "integer"),
        a("weight", "decimal"),
        a("built", "dateTime"),
        a("blob", "binary"),
        a("tags", "string", { multiValued: true }),
        a("serial", "string", { mutability: "immutable" }),
        a("spec", "complex", { subAttributes: [a("size", "integer"), a("label", "string", { mutability: "immutable" })] }),
      ],
    };
    const registry = createSchemaRegistry({ schemas: [widget], resourceTypes: [{ name: "Widget", endpoint: "/Widgets", schema: ID }] });
    const w = (input: Obj, options: Partial<ValidateResourceOptions> = {}) => validateResource(input, { resourceType: "Widget", registry, ...options });

    it("numeric strings become numbers", () => {
      expect(w({ name: "n", count: "42", weight: "-1.5e2", spec: { size: "-3" } })).toStrictEqual({ schemas: [ID], name: "n", count: 42, weight: -150, spec: { size: -3 } });
      expect(w({ name: "n", count: 7, weight: 0.25 })).toMatchObject({ count: 7, weight: 0.25 });
    });

    it.each<[string, unknown]>([
      ["count", 1.5],
      ["count", "1.5"],
      ["count", "12abc"],
      ["count", "99999999999999999999"],
      ["count", true],
      ["weight", "abc"],
      ["weight", "1e400"],
      ["weight", {}],
      ["built", "2024-13-01T00:00:00Z"],
      ["built", "yesterday"],
      ["built", 1700000000],
      ["blob", "not base64!"],
      ["name", true],
      ["name", { first: "x" }],
      ["name", ["a", "b"]],
      ["spec", "bare"], // no `value` sub-attribute to put it in
    ])("%s = %j is a 400 invalidValue", (key, value) => {
      const e = scimError(() => w({ name: "n", [key]: value }));
      expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
      expect(e.detail).toContain(key);
    });

    it("valid dateTime and binary values pass unchanged", () => {
      expect(w({ name: "n", built: "2011-05-13T04:42:34.123+02:00", blob: "AAEC/w==" })).toMatchObject({ built: "2011-05-13T04:42:34.123+02:00", blob: "AAEC/w==" });
    });

    it("multi-valued simple attributes drop null and empty elements", () => {
      expect(w({ name: "n", tags: ["a", null, "", "b"] }).tags).toEqual(["a", "b"]);
      expect(scimError(() => w({ name: "n", tags: "solo" })).scimType).toBe("invalidValue");
      expect("tags" in w({ name: "n", tags: [null, ""] })).toBe(false);
    });

    it("immutable on replace: the stored value must not change; omitted keeps it; a new value may be set", () => {
      const existing = { schemas: [ID], id: "1", name: "n", serial: "S-1" };
      expect(w({ name: "n2", serial: "S-1" }, { existing })).toStrictEqual({ schemas: [ID], name: "n2", serial: "S-1" });
      expect(w({ name: "n2" }, { existing })).toStrictEqual({ schemas: [ID], name: "n2", serial: "S-1" });
      const e = scimError(() => w({ name: "n", serial: "S-2" }, { existing }));
      expect([e.status, e.scimType]).toEqual([400, "mutability"]);
      expect(e.detail).toContain("serial");
      // Nothing stored yet: the first value is accepted.
      expect(w({ name: "n", serial: "S-9" }, { existing: { schemas: [ID], id: "1", name: "n" } }).serial).toBe("S-9");
      // Without `existing` (a POST), immutable attributes are ordinary.
      expect(w({ name: "n", serial: "S-2" }).serial).toBe("S-2");
    });

    it("required attribute of a custom schema", () => {
      const e = scimError(() => w({ count: 1 }));
      expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
      expect(e.detail).toContain("name");
    });
  });
});

describe("errors", () => {
  it.each<[string, Obj]>([
    ["active as a number", { userName: "u", active: 1 }],
    ["active as yes", { userName: "u", active: "yes" }],
    ["userName as an object", { userName: { first: "x" } }],
    ["userName as a boolean", { userName: true }],
    ["userName as a two-element array", { userName: ["a", "b"] }],
    ["name as a string", { userName: "u", name: "Barbara Jensen" }],
    ["emails element as an array", { userName: "u", emails: [["a@example.com"]] }],
    ["emails.primary as a string", { userName: "u", emails: [{ value: "a", primary: "yes" }] }],
    ["emails.value as an object", { userName: "u", emails: [{ value: { a: 1 } }] }],
    ["x509Certificates.value not base64", { userName: "u", x509Certificates: [{ value: "%%%" }] }],
    ["an extension attribute of the wrong type", { userName: "u", [ENT]: { employeeNumber: false } }],
  ])("%s → 400 invalidValue", (_, input) => {
    const e = scimError(() => user(input));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
  });

  it.each<[string, Obj]>([
    ["missing", { displayName: "No Name" }],
    ["null", { userName: null }],
    ["empty string", { userName: "" }],
    ["only whitespace", { userName: " \t " }],
    ["only invisible characters", { userName: "\u200b\u00a0\ufeff" }],
    ["only readOnly attributes", { id: "1", meta: { resourceType: "User" } }],
  ])("userName %s → 400 invalidValue naming it", (_, input) => {
    const e = scimError(() => user(input));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
    expect(e.detail).toContain("userName");
  });

  it("Group displayName is required (RFC 7643 §4.2), and not blank", () => {
    expect(scimError(() => group({ members: [] })).status).toBe(400);
    expect(scimError(() => group({ displayName: "   " })).detail).toMatch(/displayName' is required and must not be blank/);
    // Whitespace inside a name, or around one, is the name's own.
    expect(group({ displayName: " Sales " }).displayName).toBe(" Sales ");
  });

  it("two primary: true in one multi-valued attribute → 400, also when one is the string \"true\"", () => {
    const e = scimError(() => user({ userName: "u", emails: [{ value: "a", primary: true }, { value: "b", primary: true }] }));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
    expect(e.detail).toContain("emails");
    expect(scimError(() => user({ userName: "u", phoneNumbers: [{ value: "1", primary: "true" }, { value: "2", primary: true }] })).status).toBe(400);
    // One primary per attribute is fine, in each of several attributes.
    const ok = user({ userName: "u", emails: [{ value: "a", primary: true }, { value: "b", primary: false }], phoneNumbers: [{ value: "1", primary: true }] });
    expect((ok.emails as Obj[]).filter((e) => e.primary === true)).toHaveLength(1);
  });

  it.each<[string, unknown]>([
    ["an array", [{ userName: "u" }]],
    ["a string", "userName=u"],
    ["null", null],
    ["a number", 42],
  ])("a body that is %s → 400 invalidSyntax", (_, input) => {
    const e = scimError(() => user(input));
    expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
  });

  it("schemas that is not an array of strings → 400 invalidSyntax", () => {
    expect(scimError(() => user({ schemas: USER_SCHEMA_ID, userName: "u" })).scimType).toBe("invalidSyntax");
    expect(scimError(() => user({ schemas: [USER_SCHEMA_ID, 7], userName: "u" })).scimType).toBe("invalidSyntax");
  });

  it("an extension that is not an object → 400 invalidSyntax", () => {
    expect(scimError(() => user({ userName: "u", [ENT]: "x" })).scimType).toBe("invalidSyntax");
    expect(scimError(() => user({ userName: "u", [ENT]: ["x"] })).scimType).toBe("invalidSyntax");
  });
});

describe("readOnly attributes are ignored on input (RFC 7644 §3.5.1)", () => {
  it("id, meta, groups and manager.displayName", () => {
    const out = user({
      id: "client-chosen",
      meta: { resourceType: "User", created: "2010-01-23T04:56:22Z", version: 'W/"x"' },
      userName: "u",
      groups: [{ value: "g1", display: "Group 1" }],
      [ENT]: { manager: { value: "m", displayName: "Boss" } },
    });
    expect(out).toStrictEqual({ schemas: [USER_SCHEMA_ID, ENT], userName: "u", [ENT]: { manager: { value: "m" } } });
  });

  it("even when malformed: readOnly values are not validated", () => {
    expect(user({ userName: "u", id: { weird: true }, meta: "nope", groups: 42 })).toStrictEqual({ schemas: [USER_SCHEMA_ID], userName: "u" });
  });

  it("in strict mode too", () => {
    expect(user({ userName: "u", id: "x", meta: { resourceType: "User" } }, { strict: true })).toStrictEqual({ schemas: [USER_SCHEMA_ID], userName: "u" });
  });
});

describe("immutable on replace (RFC 7644 §3.5.1) with Group members' sub-attributes", () => {
  it("members can be replaced as a whole on PUT", () => {
    const existing = { schemas: [GROUP_SCHEMA_ID], id: "g", displayName: "G", members: [{ value: "a" }] };
    expect(group({ displayName: "G", members: [{ value: "b" }] }, { existing }).members).toEqual([{ value: "b" }]);
  });
});

describe("immutable enterprise extension attribute on replace", () => {
  const EXT = "urn:example:scim:schemas:extension:hr:2.0:User";
  const registry = createSchemaRegistry({
    schemas: [{ id: EXT, attributes: [{ name: "hireId", type: "string", multiValued: false, required: false, mutability: "immutable", returned: "default" }] }],
  }).addExtension("User", { schema: EXT, required: false });
  const existing = { schemas: [USER_SCHEMA_ID, EXT], id: "1", userName: "u", [EXT]: { hireId: "H1" } };

  it("omitting the extension keeps the stored immutable value", () => {
    expect(validateResource({ userName: "u2" }, { resourceType: "User", registry, existing })).toStrictEqual({
      schemas: [USER_SCHEMA_ID, EXT],
      userName: "u2",
      [EXT]: { hireId: "H1" },
    });
  });

  it("changing it is a 400 mutability", () => {
    const e = scimError(() => validateResource({ userName: "u", [EXT]: { hireId: "H2" } }, { resourceType: "User", registry, existing }));
    expect([e.status, e.scimType]).toEqual([400, "mutability"]);
  });

  it("a required extension must be present", () => {
    const strictRegistry = createSchemaRegistry({ schemas: [registry.getSchema(EXT)!] }).addExtension("User", { schema: EXT, required: true });
    const e = scimError(() => validateResource({ userName: "u" }, { resourceType: "User", registry: strictRegistry }));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
    expect(e.detail).toContain(EXT);
    expect(validateResource({ userName: "u", [EXT]: { hireId: "x" } }, { resourceType: "User", registry: strictRegistry }).schemas).toEqual([USER_SCHEMA_ID, EXT]);
  });
});

describe("unknown attributes and schemas", () => {
  const body = {
    schemas: [USER_SCHEMA_ID, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"],
    userName: "u",
    favouriteColour: "blue",
    "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": { x: 1 },
  };

  it("are dropped by default", () => {
    expect(user(body)).toStrictEqual({ schemas: [USER_SCHEMA_ID], userName: "u" });
  });

  it.each<[string, Obj]>([
    ["an unknown attribute", { userName: "u", favouriteColour: "blue" }],
    ["an unregistered schema URN in schemas", { schemas: [USER_SCHEMA_ID, "urn:scim:schemas:core:1.0"], userName: "u" }],
    ["an unregistered extension object", { userName: "u", "urn:example:ext:2.0:User": { a: 1 } }],
    ["an unknown sub-attribute", { userName: "u", name: { givenName: "A", nickname: "B" } }],
    ["an unknown dotted sub-attribute", { userName: "u", "name.nickname": "B" }],
    ["an unknown attribute inside the enterprise extension", { userName: "u", [ENT]: { shoeSize: 42 } }],
    ["an unknown attribute inside a core-URN object", { [USER_SCHEMA_ID]: { userName: "u", shoeSize: 42 } }],
    ["the Group schema on a User", { schemas: [GROUP_SCHEMA_ID], userName: "u" }],
  ])("strict: %s → 400 invalidValue", (_, input) => {
    const e = scimError(() => user(input, { strict: true }));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
    // and the lenient default accepts it
    expect(user(input).userName).toBe("u");
  });

  it("strict accepts a body that uses only what the schemas define", () => {
    const input = JSON.parse(RFC_8_2) as Obj;
    expect(user(input, { strict: true })).toStrictEqual(withoutReadOnly(input, "groups"));
  });
});

describe("prototype pollution (keys __proto__, constructor, prototype)", () => {
  const bodies: Array<[string, string]> = [
    ["top level", `{"userName":"u","__proto__":{"polluted":true}}`],
    ["top level constructor", `{"userName":"u","constructor":{"prototype":{"polluted":true}}}`],
    ["top level prototype", `{"userName":"u","prototype":1}`],
    ["in a complex attribute", `{"userName":"u","name":{"__proto__":{"polluted":true}}}`],
    ["in a multi-valued element", `{"userName":"u","emails":[{"value":"a","__proto__":{"polluted":true}}]}`],
    ["in the enterprise extension", `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"__proto__":{"polluted":true}}}`],
    ["in the manager", `{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"constructor":{"x":1}}}}`],
    ["in a core-URN object", `{"urn:ietf:params:scim:schemas:core:2.0:User":{"userName":"u","__proto__":{"polluted":true}}}`],
    ["inside a simple attribute's value", `{"userName":{"__proto__":{"polluted":true}}}`],
    ["inside an unknown attribute that would be dropped", `{"userName":"u","unknown":{"deep":[{"__proto__":{"polluted":true}}]}}`],
    ["inside an unregistered extension", `{"userName":"u","urn:example:ext:2.0:User":{"__proto__":{"polluted":true}}}`],
    ["inside a readOnly attribute", `{"userName":"u","meta":{"__proto__":{"polluted":true}}}`],
    ["in any casing", `{"userName":"u","name":{"Constructor":{"x":1}}}`],
  ];

  it.each(bodies)("%s → 400 invalidSyntax, Object.prototype untouched", (_, text) => {
    const input = JSON.parse(text) as unknown;
    const e = scimError(() => user(input));
    expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
    expect(({} as Obj).polluted).toBeUndefined();
    expect((Object.prototype as Obj).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it("the same words as values are ordinary strings", () => {
    expect(user({ userName: "__proto__", displayName: "constructor", nickName: "prototype" })).toStrictEqual({
      schemas: [USER_SCHEMA_ID],
      userName: "__proto__",
      displayName: "constructor",
      nickName: "prototype",
    });
  });

  it("output objects are plain objects with Object.prototype", () => {
    const out = user(JSON.parse(RFC_8_2));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(out.name)).toBe(Object.prototype);
  });
});

describe("resource type given as a definition", () => {
  it("validates against the default registry's schemas", () => {
    const out = validateResource({ displayName: "G" }, { resourceType: { name: "Team", endpoint: "/Teams", schema: GROUP_SCHEMA_ID } });
    expect(out).toStrictEqual({ schemas: [GROUP_SCHEMA_ID], displayName: "G" });
  });
});

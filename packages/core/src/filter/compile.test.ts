import { describe, it, expect } from "vitest";
import { isScimConfigError, isScimError } from "../errors/scim-error.js";
import { userResourceType } from "../schema/core-schemas.js";
import { createSchemaRegistry } from "../schema/registry.js";
import type { ResourceTypeDefinition, SchemaDefinition } from "../schema/types.js";
import type { Filter } from "./ast.js";
import { compileFilter, isPresentValue, type CompileFilterOptions } from "./compile.js";
import { parseFilter } from "./parser.js";

type Resource = Record<string, unknown>;

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const bjensen: Resource = {
  schemas: [USER, ENT],
  id: "2819c223-7f76-453a-919d-413861904646",
  externalId: "bjensen-EXT",
  userName: "BJensen@Example.com",
  name: { familyName: "Jensen", givenName: "Barbara", formatted: "Ms. Barbara J Jensen III" },
  displayName: "Babs Jensen",
  title: "Tour Guide",
  userType: "Employee",
  active: true,
  emails: [
    { value: "bjensen@example.com", type: "work", primary: true },
    { value: "babs@jensen.org", type: "home" },
  ],
  ims: [{ value: "someaimhandle", type: "aim" }],
  x509Certificates: [{ value: "MIIDQzCCAqygAwIBAgICEAAwDQYJ" }],
  meta: {
    resourceType: "User",
    created: "2010-01-23T04:56:22Z",
    lastModified: "2011-05-13T04:42:34Z",
    version: 'W/"3694e05e9dff591"',
  },
  [ENT]: {
    employeeNumber: "701984",
    costCenter: "4130",
    manager: { value: "26118915-6090-4610-87e4-49d8ca9f808d", displayName: "John Smith" },
  },
};

/** Compiles for User (unless told otherwise) and applies to one resource. */
function matches(filter: string | Filter, resource: unknown, options?: Partial<CompileFilterOptions>): boolean {
  const predicate = compileFilter(filter, { resourceType: "User", ...options });
  return predicate(resource as Resource);
}

/** The ids of the resources that match. */
function select(filter: string, resources: Resource[], options?: Partial<CompileFilterOptions>): unknown[] {
  const predicate = compileFilter(filter, { resourceType: "User", ...options });
  return resources.filter((r) => predicate(r)).map((r) => r.id);
}

/** Asserts that compiling throws 400 invalidFilter (at compile time, before any resource is seen). */
function expectCompileError(filter: string | Filter, options?: Partial<CompileFilterOptions>): string {
  let thrown: unknown;
  try {
    compileFilter(filter, { resourceType: "User", ...options });
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${JSON.stringify(filter)} to be rejected`).toBeDefined();
  if (!isScimError(thrown)) throw thrown;
  expect(thrown.status).toBe(400);
  expect(thrown.scimType).toBe("invalidFilter");
  return thrown.detail;
}

describe("compileFilter: RFC 7644 §3.4.2.2 examples on a User", () => {
  it.each([
    ['userName eq "bjensen@example.com"', true],
    [`name.familyName co "O'Malley"`, false],
    ['name.familyName co "ense"', true],
    ['userName sw "J"', false],
    ['userName sw "B"', true],
    [`${USER}:userName sw "b"`, true],
    ["title pr", true],
    ["nickName pr", false],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', false],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', true],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', false],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', true],
    ['title pr and userType eq "Employee"', true],
    ['title pr and userType eq "Intern"', false],
    ['title pr or userType eq "Intern"', true],
    ['nickName pr or userType eq "Intern"', false],
    [`schemas eq "${ENT}"`, true],
    [`schemas eq "${GROUP}"`, false],
    ['userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', true],
    ['userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', false],
    ['userType eq "Employee" and (emails.type eq "work")', true],
    ['userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', true],
    ['emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]', true],
    ['emails[type eq "home" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]', false],
  ])("%s -> %s", (filter, expected) => {
    expect(matches(filter, bjensen)).toBe(expected);
  });

  it("compiles an AST as well as text", () => {
    expect(matches(parseFilter('userName eq "BJENSEN@example.com"'), bjensen)).toBe(true);
    expect(matches(parseFilter('userName eq "other"'), bjensen)).toBe(false);
  });
});

describe("compileFilter: case sensitivity follows caseExact", () => {
  it("userName folds case (caseExact false)", () => {
    expect(matches('userName eq "bjensen@example.com"', bjensen)).toBe(true);
    expect(matches('userName eq "BJENSEN@EXAMPLE.COM"', bjensen)).toBe(true);
    expect(matches('userName ne "BJENSEN@EXAMPLE.COM"', bjensen)).toBe(false);
    expect(matches('userName sw "BJENSEN"', bjensen)).toBe(true);
    expect(matches('userName ew "EXAMPLE.COM"', bjensen)).toBe(true);
    expect(matches('userName co "JENSEN@EX"', bjensen)).toBe(true);
  });

  it("emails.value folds case, with or without the sub-attribute and in brackets", () => {
    expect(matches('emails.value eq "BJENSEN@EXAMPLE.COM"', bjensen)).toBe(true);
    expect(matches('emails eq "Babs@Jensen.ORG"', bjensen)).toBe(true);
    expect(matches('emails[value eq "BABS@JENSEN.ORG"]', bjensen)).toBe(true);
    expect(matches('emails.type eq "WORK"', bjensen)).toBe(true);
  });

  it("id and externalId compare exactly (caseExact true)", () => {
    expect(matches('id eq "2819c223-7f76-453a-919d-413861904646"', bjensen)).toBe(true);
    expect(matches('id eq "2819C223-7F76-453A-919D-413861904646"', bjensen)).toBe(false);
    expect(matches('externalId eq "bjensen-EXT"', bjensen)).toBe(true);
    expect(matches('externalId eq "bjensen-ext"', bjensen)).toBe(false);
    expect(matches('externalId ne "bjensen-ext"', bjensen)).toBe(true);
    expect(matches('externalId sw "BJENSEN"', bjensen)).toBe(false);
    expect(matches('externalId co "-EXT"', bjensen)).toBe(true);
    expect(matches('externalId co "-ext"', bjensen)).toBe(false);
  });

  it("ordering of strings is lexicographic on the folded value unless caseExact", () => {
    // Folded: "tour guide" > "tour". Exact: "Tour Guide" < "tour" ('T' < 't').
    expect(matches('title gt "tour"', bjensen)).toBe(true);
    expect(matches('title lt "TOUR GUIDE Z"', bjensen)).toBe(true);
    expect(matches('title ge "TOUR GUIDE"', bjensen)).toBe(true);
    expect(matches('title le "tour guide"', bjensen)).toBe(true);
    expect(matches('externalId gt "bjensen-ext"', bjensen)).toBe(false);
    expect(matches('externalId lt "bjensen-ext"', bjensen)).toBe(true);
  });

  it("attribute names and schema URNs resolve case-insensitively; resources are read in canonical casing", () => {
    expect(matches('USERNAME eq "bjensen@example.com"', bjensen)).toBe(true);
    expect(matches('Name.GivenName eq "barbara"', bjensen)).toBe(true);
    expect(matches('EMAILS[TYPE eq "work" and VALUE co "EXAMPLE"]', bjensen)).toBe(true);
    expect(matches(`${ENT.toUpperCase()}:EMPLOYEENUMBER eq "701984"`, bjensen)).toBe(true);
    // The stored resource is canonical (declared casing): a key in another casing is not userName.
    expect(matches('userName eq "x"', { username: "x" })).toBe(false);
  });
});

describe("compileFilter: dateTime compares instants", () => {
  const at = (lastModified: unknown, id = "u"): Resource => ({ id, meta: { lastModified } });

  it("the same instant written with different offsets or precision is equal", () => {
    const r = at("2011-05-13T04:42:34Z");
    expect(matches('meta.lastModified eq "2011-05-13T06:42:34+02:00"', r)).toBe(true);
    expect(matches('meta.lastModified eq "2011-05-12T23:12:34-05:30"', r)).toBe(true);
    expect(matches('meta.lastModified eq "2011-05-13T04:42:34.000Z"', r)).toBe(true);
    expect(matches('meta.lastModified eq "2011-05-13t04:42:34z"', r)).toBe(true);
    expect(matches('meta.lastModified ne "2011-05-13T06:42:34+02:00"', r)).toBe(false);
    expect(matches('meta.lastModified ge "2011-05-13T06:42:34+02:00"', r)).toBe(true);
    expect(matches('meta.lastModified le "2011-05-13T06:42:34+02:00"', r)).toBe(true);
    expect(matches('meta.lastModified gt "2011-05-13T06:42:34+02:00"', r)).toBe(false);
    expect(matches('meta.lastModified lt "2011-05-13T06:42:34+02:00"', r)).toBe(false);
    // The stored value with an offset, the literal in UTC.
    expect(matches('meta.lastModified eq "2011-05-13T04:42:34Z"', at("2011-05-13T06:42:34+02:00"))).toBe(true);
  });

  it("a later local time at a larger offset can be an earlier instant", () => {
    // 05:00+02:00 is 03:00Z, before 04:42:34Z; string comparison would say the opposite.
    expect(matches('meta.lastModified lt "2011-05-13T04:42:34Z"', at("2011-05-13T05:00:00+02:00"))).toBe(true);
    expect(matches('meta.lastModified gt "2011-05-13T04:42:34Z"', at("2011-05-13T05:00:00+02:00"))).toBe(false);
  });

  it("fractional seconds count: .5Z is after Z", () => {
    const r = at("2011-05-13T04:42:34.5Z");
    expect(matches('meta.lastModified gt "2011-05-13T04:42:34Z"', r)).toBe(true);
    expect(matches('meta.lastModified eq "2011-05-13T04:42:34Z"', r)).toBe(false);
    expect(matches('meta.lastModified ne "2011-05-13T04:42:34Z"', r)).toBe(true);
    expect(matches('meta.lastModified eq "2011-05-13T04:42:34.500Z"', r)).toBe(true);
    expect(matches('meta.lastModified lt "2011-05-13T04:42:35Z"', r)).toBe(true);
    expect(matches('meta.lastModified lt "2011-05-13T04:42:34.5Z"', at("2011-05-13T04:42:34Z"))).toBe(true);
  });

  it("sub-millisecond digits count", () => {
    expect(matches('meta.lastModified gt "2011-05-13T04:42:34Z"', at("2011-05-13T04:42:34.000001Z"))).toBe(true);
    expect(matches('meta.lastModified eq "2011-05-13T04:42:34.000Z"', at("2011-05-13T04:42:34.000001Z"))).toBe(false);
    expect(matches('meta.lastModified gt "2011-05-13T04:42:34.123Z"', at("2011-05-13T04:42:34.1234567Z"))).toBe(true);
    expect(matches('meta.lastModified lt "2011-05-13T04:42:34.124Z"', at("2011-05-13T04:42:34.1234567Z"))).toBe(true);
    expect(matches('meta.lastModified lt "2011-05-13T04:42:34.123457Z"', at("2011-05-13T04:42:34.123456Z"))).toBe(true);
  });

  it("orders a population of resources", () => {
    const rs = [
      at("2011-05-13T04:42:33.999Z", "before"),
      at("2011-05-13T06:42:34+02:00", "same"),
      at("2011-05-13T04:42:34.001Z", "after"),
      at("not a date", "garbage"),
      { id: "none" },
    ];
    expect(select('meta.lastModified gt "2011-05-13T04:42:34Z"', rs)).toEqual(["after"]);
    expect(select('meta.lastModified ge "2011-05-13T04:42:34Z"', rs)).toEqual(["same", "after"]);
    expect(select('meta.lastModified lt "2011-05-13T04:42:34Z"', rs)).toEqual(["before"]);
    expect(select('meta.lastModified le "2011-05-13T04:42:34Z"', rs)).toEqual(["before", "same"]);
    expect(select('meta.lastModified eq "2011-05-13T04:42:34Z"', rs)).toEqual(["same"]);
    // An invalid stored value and an absent one match neither ne nor any ordering.
    expect(select('meta.lastModified ne "2011-05-13T04:42:34Z"', rs)).toEqual(["before", "after"]);
  });

  it("co, sw and ew compare the text", () => {
    expect(matches('meta.created sw "2010-01"', bjensen)).toBe(true);
    expect(matches('meta.created co "T04:56"', bjensen)).toBe(true);
    expect(matches('meta.created ew "22Z"', bjensen)).toBe(true);
    expect(matches('meta.created co "yesterday"', bjensen)).toBe(false);
  });

  it("an invalid dateTime literal is a 400 invalidFilter at compile time", () => {
    expect(expectCompileError('meta.created gt "yesterday"')).toMatch(/yesterday/);
    expectCompileError('meta.created eq "2011-02-30T00:00:00Z"');
    expectCompileError('meta.lastModified le "2011-05-13"');
    expectCompileError('meta.lastModified ne "2011-05-13T04:42:34 Z"');
  });

  it("a non-string literal on a dateTime never matches and does not throw", () => {
    expect(matches("meta.created gt 5", bjensen)).toBe(false);
    expect(matches("meta.created eq true", bjensen)).toBe(false);
  });
});

describe("compileFilter: booleans", () => {
  const on: Resource = { id: "on", active: true };
  const off: Resource = { id: "off", active: false };
  const unset: Resource = { id: "unset" };
  const all = [on, off, unset];

  it("eq and ne", () => {
    expect(select("active eq true", all)).toEqual(["on"]);
    expect(select("active eq false", all)).toEqual(["off"]);
    expect(select("active ne true", all)).toEqual(["off"]);
    expect(select("active ne false", all)).toEqual(["on"]);
    expect(select("active eq TRUE", all)).toEqual(["on"]);
  });

  it("a user without active does not match active eq false", () => {
    expect(matches("active eq false", unset)).toBe(false);
  });

  it('"true" and "false" in any case stand for the booleans, as Entra writes them (roles[primary eq "True"])', () => {
    expect(select('active eq "True"', all)).toEqual(["on"]);
    expect(select('active eq "FALSE"', all)).toEqual(["off"]);
    expect(select('active ne "true"', all)).toEqual(["off"]);
    const roles = { id: "r", roles: [{ value: "Admin", primary: false }, { value: "Writer", primary: true }] };
    expect(matches('roles[primary eq "True"].value eq "Writer"', roles)).toBe(true);
    expect(matches('roles[primary eq "True"].value eq "Admin"', roles)).toBe(false);
    expect(matches('roles[primary eq "False" and value eq "Admin"]', roles)).toBe(true);
    expect(() => select('active gt "true"', all)).toThrow(/not defined for the boolean/);
  });

  it("type mismatches never match: other strings and numbers are not booleans", () => {
    expect(select('active eq "yes"', all)).toEqual([]);
    expect(select('active eq "1"', all)).toEqual([]);
    expect(select('active ne "yes"', all)).toEqual([]);
    expect(select("active eq 1", all)).toEqual([]);
    expect(matches("active eq true", { active: "true" })).toBe(false);
    expect(matches("active eq true", { active: 1 })).toBe(false);
  });

  it("boolean sub-attributes of multi-valued attributes", () => {
    expect(matches("emails.primary eq true", bjensen)).toBe(true);
    expect(matches('emails[primary eq true and type eq "work"]', bjensen)).toBe(true);
    expect(matches('emails[primary eq true and type eq "home"]', bjensen)).toBe(false);
  });

  it.each(["active gt true", "active ge false", "active lt true", "active le false", "emails.primary gt false", "emails[primary lt true]", "ACTIVE GT TRUE"])(
    "%s is a 400 invalidFilter at compile time",
    (filter) => {
      expect(expectCompileError(filter)).toMatch(/boolean/);
    },
  );
});

describe("compileFilter: binary", () => {
  it.each(['x509Certificates.value gt "x"', 'x509Certificates.value ge "x"', 'x509Certificates.value lt "x"', 'x509Certificates.value le "x"', 'x509Certificates[value gt "x"]', 'x509Certificates gt "x"'])(
    "%s is a 400 invalidFilter at compile time",
    (filter) => {
      expect(expectCompileError(filter)).toMatch(/binary/);
    },
  );

  it("eq compares base64 exactly", () => {
    expect(matches('x509Certificates.value eq "MIIDQzCCAqygAwIBAgICEAAwDQYJ"', bjensen)).toBe(true);
    expect(matches('x509Certificates.value eq "miidqzccaqygawibagiceaawdqyj"', bjensen)).toBe(false);
    expect(matches('x509Certificates[value sw "MIID"]', bjensen)).toBe(true);
  });
});

describe("compileFilter: numbers", () => {
  const device: SchemaDefinition = {
    id: "urn:acme:schemas:Device",
    name: "Device",
    attributes: [
      { name: "serialNumber", type: "string", multiValued: false, required: false, caseExact: true, mutability: "readWrite", returned: "default" },
      { name: "label", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
      { name: "loginCount", type: "integer", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
      { name: "score", type: "decimal", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
      { name: "enabled", type: "boolean", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
      { name: "lastSeen", type: "dateTime", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
      { name: "tags", type: "string", multiValued: true, required: false, mutability: "readWrite", returned: "default" },
      {
        name: "ports",
        type: "complex",
        multiValued: true,
        required: false,
        mutability: "readWrite",
        returned: "default",
        subAttributes: [
          { name: "value", type: "integer", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
          { name: "protocol", type: "string", multiValued: false, required: false, caseExact: true, mutability: "readWrite", returned: "default" },
        ],
      },
    ],
  };
  const deviceType: ResourceTypeDefinition = { name: "Device", endpoint: "/Devices", schema: device.id };
  const registry = createSchemaRegistry({ schemas: [device], resourceTypes: [deviceType] });
  const opts = { resourceType: "Device", registry };
  const d1: Resource = {
    id: "d1",
    serialNumber: "SN-ABC",
    label: "Front Door",
    loginCount: 10,
    score: 2.5,
    enabled: false,
    lastSeen: "2024-02-29T12:00:00Z",
    tags: ["Lobby", "camera"],
    ports: [
      { value: 80, protocol: "tcp" },
      { value: 5353, protocol: "UDP" },
    ],
  };
  const d2: Resource = { id: "d2", serialNumber: "sn-abc", loginCount: 0, score: -1e-3, tags: [], ports: [] };
  const d3: Resource = { id: "d3", loginCount: "10", score: "2.5" };
  const devices = [d1, d2, d3];

  it("integers and decimals compare numerically, never as strings", () => {
    expect(select("loginCount eq 10", devices, opts)).toEqual(["d1"]);
    expect(select("loginCount ne 10", devices, opts)).toEqual(["d2"]);
    expect(select("loginCount gt 9", devices, opts)).toEqual(["d1"]);
    expect(select("loginCount ge 0", devices, opts)).toEqual(["d1", "d2"]);
    expect(select("loginCount lt 2", devices, opts)).toEqual(["d2"]);
    expect(select("loginCount le 1e1", devices, opts)).toEqual(["d1", "d2"]);
    expect(select("score gt -0.01", devices, opts)).toEqual(["d1", "d2"]);
    expect(select("score lt 0", devices, opts)).toEqual(["d2"]);
    expect(select("score eq 2.50", devices, opts)).toEqual(["d1"]);
    // "100" < "9" as strings; 100 > 9 as numbers.
    expect(matches("loginCount gt 9", { loginCount: 100 }, opts)).toBe(true);
  });

  it("a lenient parse compares numbers not in shortest form numerically on number attributes (RFC 7644 §3.4.2.2)", () => {
    const lenient = { ...opts, lenient: true };
    expect(select("score ge 2.50", devices, lenient)).toEqual(["d1"]);
    expect(select("score lt -1.0E-4", devices, lenient)).toEqual(["d2"]);
    expect(select("loginCount eq 10.0", devices, lenient)).toEqual(["d1"]);
    expect(select("loginCount eq 1e1", devices, lenient)).toEqual(["d1"]);
    expect(select("loginCount ne 1.0e1", devices, lenient)).toEqual(["d2"]);
    expect(select("ports.value eq 80.0", devices, lenient)).toEqual(["d1"]);
    // Beyond the double range: above or below every number.
    expect(select("score lt 1e400", devices, lenient)).toEqual(["d1", "d2"]);
    expect(select("score gt -1e400", devices, lenient)).toEqual(["d1", "d2"]);
    expect(select("score ne 1e400", devices, lenient)).toEqual(["d1", "d2"]);
    expect(select("score eq 1e400", devices, lenient)).toEqual([]);
    // Text written as a number, quoted, is read as that number too; other text matches nothing.
    expect(select('loginCount eq "10"', devices, opts)).toEqual(["d1"]);
    expect(select('score gt "1"', devices, opts)).toEqual(["d1"]);
    expect(select('loginCount eq "ten"', devices, opts)).toEqual([]);
    expect(select('loginCount eq "0x0A"', devices, opts)).toEqual([]);
    expect(select('loginCount ne "ten"', devices, opts)).toEqual([]);
  });

  it("a number literal on a string attribute never matches, but for eq/ne", () => {
    expect(select("label eq 5", devices, opts)).toEqual([]);
    expect(matches("userName gt 5", { userName: "6" })).toBe(false);
    expect(select("loginCount co 1", devices, opts)).toEqual([]);
  });

  it("eq/ne with a number on a string attribute compare its text (Entra's unquoted numeric ids)", () => {
    expect(matches("externalId eq 123456", { externalId: "123456" })).toBe(true);
    expect(compileFilter("externalId eq 123456", { resourceType: "User", lenient: true })({ externalId: "123456" })).toBe(true);
    expect(matches("externalId ne 123456", { externalId: "123456" })).toBe(false);
    expect(matches("externalId eq 123456", { externalId: "1234567" })).toBe(false);
    // Unquoted numbers not in canonical form compare as written (a number would round or rewrite them).
    const lenient = (filter: string, externalId: string) => compileFilter(filter, { resourceType: "User", lenient: true })({ externalId });
    expect(lenient("externalId eq 12345678901234567890", "12345678901234567890")).toBe(true);
    expect(lenient("externalId eq 9007199254740993", "9007199254740993")).toBe(true);
    expect(lenient("externalId eq 9007199254740993", "9007199254740992")).toBe(false);
    expect(lenient("externalId eq 1.50", "1.50")).toBe(true);
    expect(lenient("externalId eq 1E3", "1E3")).toBe(true);
    expect(lenient("externalId eq 1E3", "1000")).toBe(false);
  });

  it("a custom caseExact string attribute compares exactly; a default one folds case", () => {
    expect(select('serialNumber eq "SN-ABC"', devices, opts)).toEqual(["d1"]);
    expect(select('serialNumber eq "sn-abc"', devices, opts)).toEqual(["d2"]);
    expect(select('serialNumber sw "sn"', devices, opts)).toEqual(["d2"]);
    expect(select('label eq "front door"', devices, opts)).toEqual(["d1"]);
  });

  it("multi-valued simple attributes match when any value does", () => {
    expect(select('tags eq "lobby"', devices, opts)).toEqual(["d1"]);
    expect(select('tags sw "CAM"', devices, opts)).toEqual(["d1"]);
    expect(select("tags pr", devices, opts)).toEqual(["d1"]);
  });

  it("value filters on a custom complex attribute use its sub-attribute types", () => {
    expect(select('ports[value gt 1000 and protocol eq "UDP"]', devices, opts)).toEqual(["d1"]);
    expect(select('ports[value gt 1000 and protocol eq "udp"]', devices, opts)).toEqual([]);
    expect(select('ports[value lt 1000 and protocol eq "UDP"]', devices, opts)).toEqual([]);
    expect(select("ports gt 5000", devices, opts)).toEqual(["d1"]);
    expect(select("ports.value eq 80", devices, opts)).toEqual(["d1"]);
  });

  it("custom booleans and dateTimes", () => {
    expect(select("enabled eq false", devices, opts)).toEqual(["d1"]);
    expect(select('lastSeen gt "2024-02-29T13:00:00+02:00"', devices, opts)).toEqual(["d1"]);
    expectCompileError("enabled ge true", opts);
    expectCompileError('lastSeen gt "2023-02-29T00:00:00Z"', opts);
  });

  it("accepts the resource type as a definition", () => {
    expect(matches('serialNumber eq "SN-ABC"', d1, { resourceType: deviceType, registry })).toBe(true);
    expect(matches('userName eq "bjensen@example.com"', bjensen, { resourceType: userResourceType })).toBe(true);
  });

  it("an unknown resource type is a configuration error, not a 400", () => {
    let thrown: unknown;
    try {
      compileFilter("label pr", { resourceType: "Device" });
    } catch (e) {
      thrown = e;
    }
    expect(isScimConfigError(thrown)).toBe(true);
    expect(isScimError(thrown)).toBe(false);
  });

  it("a custom extension on User, with its own caseExact attribute", () => {
    const badge: SchemaDefinition = {
      id: "urn:acme:schemas:extension:Badge:1.0",
      attributes: [{ name: "badgeId", type: "string", multiValued: false, required: false, caseExact: true, mutability: "readWrite", returned: "default" }],
    };
    const reg = createSchemaRegistry({ schemas: [badge] }).addExtension("User", { schema: badge.id, required: false });
    const user: Resource = { userName: "x", [badge.id]: { badgeId: "B-7" } };
    expect(matches(`${badge.id}:badgeId eq "B-7"`, user, { registry: reg })).toBe(true);
    expect(matches(`${badge.id}:badgeId eq "b-7"`, user, { registry: reg })).toBe(false);
    // Without the registry the extension is unknown: compared dynamically (case-insensitively).
    expect(matches(`${badge.id}:badgeId eq "b-7"`, user)).toBe(true);
  });
});

describe("compileFilter: multi-valued attributes", () => {
  it("match when any element does", () => {
    expect(matches('emails.type eq "home"', bjensen)).toBe(true);
    expect(matches('emails.type eq "other"', bjensen)).toBe(false);
    expect(matches('emails.value ew ".org"', bjensen)).toBe(true);
    expect(matches('ims.type eq "aim"', bjensen)).toBe(true);
  });

  it("without a sub-attribute they mean their value", () => {
    expect(matches('emails co "example.com"', bjensen)).toBe(true);
    expect(matches('emails eq "babs@jensen.org"', bjensen)).toBe(true);
    expect(matches('emails co "work"', bjensen)).toBe(false);
    expect(matches('ims co "aim"', bjensen)).toBe(true);
    expect(matches('emails co "example.com"', { emails: [{ type: "example.com" }] })).toBe(false);
  });

  it("conditions in [...] hold for one and the same element", () => {
    const user: Resource = {
      id: "mixed",
      emails: [
        { type: "work", value: "me@x.com" },
        { type: "home", value: "me@example.com" },
      ],
    };
    expect(matches('emails[type eq "work" and value co "example.com"]', user)).toBe(false);
    expect(matches('emails[type eq "home" and value co "example.com"]', user)).toBe(true);
    expect(matches('emails[type eq "work"].value co "example.com"', user)).toBe(false);
    expect(matches('emails[type eq "home"].value co "example.com"', user)).toBe(true);
    // Without brackets, each comparison may pick its own element.
    expect(matches('emails.type eq "work" and emails.value co "example.com"', user)).toBe(true);
    expect(matches('emails[type eq "work" or value co "example.com"]', user)).toBe(true);
    expect(matches('emails[not (type eq "work")]', user)).toBe(true);
    expect(matches('emails[not (type eq "work")]', { emails: [{ type: "work", value: "a" }] })).toBe(false);
    expect(matches('emails[not (type eq "work")]', { emails: [] })).toBe(false);
  });

  it("Entra's matching filter emails[type eq \"work\"].value eq", () => {
    const filter = 'emails[type eq "work"].value eq "BJensen@Example.com"';
    expect(matches(filter, bjensen)).toBe(true);
    expect(matches(filter, { emails: [{ type: "home", value: "bjensen@example.com" }] })).toBe(false);
    expect(matches(filter, { emails: [{ type: "work", value: "other@example.com" }] })).toBe(false);
  });

  it("a value filter also applies to a single complex value", () => {
    expect(matches('name[givenName eq "barbara" and familyName eq "JENSEN"]', bjensen)).toBe(true);
    expect(matches('name[givenName eq "barbara" and familyName eq "Smith"]', bjensen)).toBe(false);
  });

  it("a value filter on a non-complex attribute is a 400 invalidFilter", () => {
    expectCompileError('userName[value eq "x"]');
    expectCompileError("active[value eq true]");
  });

  it("an unknown sub-attribute in a value filter never matches", () => {
    expect(matches('emails[color eq "blue"]', bjensen)).toBe(false);
    expect(matches('emails[color eq "blue"]', { emails: [{ color: "BLUE" }] })).toBe(true);
  });
});

describe("compileFilter: pr", () => {
  it.each<[string, unknown]>([
    ["absent", undefined],
    ["null", null],
    ['""', ""],
    ["[]", []],
    ["{}", {}],
    ["[null]", [null]],
    ['[""]', [""]],
    ["[{}]", [{}]],
    ['{ givenName: "" }', { givenName: "" }],
    ["{ givenName: null }", { givenName: null }],
  ])("is false for %s", (_, value) => {
    const r: Resource = { title: value, name: value, emails: value, nickName: value };
    expect(matches("title pr", r)).toBe(false);
    expect(matches("name pr", r)).toBe(false);
    expect(matches("emails pr", r)).toBe(false);
    expect(matches("unknownThing pr", { unknownThing: value })).toBe(false);
  });

  it("is true for any non-empty value, including false and 0", () => {
    expect(matches("active pr", { active: false })).toBe(true);
    expect(matches("title pr", { title: " " })).toBe(true);
    expect(matches("counter pr", { counter: 0 })).toBe(true);
    expect(matches("emails pr", { emails: [{ type: "work" }] })).toBe(true);
    expect(matches("name pr", { name: { givenName: "B" } })).toBe(true);
  });

  it("on sub-attributes and inside brackets", () => {
    expect(matches("name.givenName pr", bjensen)).toBe(true);
    expect(matches("name.middleName pr", bjensen)).toBe(false);
    expect(matches("emails.display pr", bjensen)).toBe(false);
    expect(matches("emails[primary pr]", bjensen)).toBe(true);
    expect(matches('emails[type eq "home" and primary pr]', bjensen)).toBe(false);
    expect(matches(`${ENT}:manager.value pr`, bjensen)).toBe(true);
    expect(matches(`${ENT}:department pr`, bjensen)).toBe(false);
  });

  it("isPresentValue mirrors RFC 7644 §3.4.2.2", () => {
    for (const v of [undefined, null, "", [], {}, [null, ""], { a: null, b: [] }]) expect(isPresentValue(v)).toBe(false);
    for (const v of ["x", 0, false, [0], { a: "x" }, [{ a: false }]]) expect(isPresentValue(v)).toBe(true);
  });
});

describe("compileFilter: eq null matches an unassigned attribute", () => {
  it("on simple attributes: absent, null and empty", () => {
    expect(matches("nickName eq null", {})).toBe(true);
    expect(matches("nickName eq null", { nickName: null })).toBe(true);
    expect(matches("nickName eq null", { nickName: "" })).toBe(true);
    expect(matches("nickName eq null", { nickName: "Babs" })).toBe(false);
    expect(matches("nickName ne null", { nickName: "Babs" })).toBe(true);
    expect(matches("nickName ne null", {})).toBe(false);
    expect(matches("active eq null", { active: false })).toBe(false);
  });

  it("on a sub-attribute whose parent is absent", () => {
    expect(matches("name.givenName eq null", {})).toBe(true);
    expect(matches("name.givenName eq null", { name: {} })).toBe(true);
    expect(matches("name.givenName eq null", { name: { givenName: "B" } })).toBe(false);
    expect(matches("name.givenName ne null", {})).toBe(false);
  });

  it("on an extension attribute whose extension object is absent", () => {
    expect(matches(`${ENT}:employeeNumber eq null`, {})).toBe(true);
    expect(matches(`${ENT}:employeeNumber eq null`, { [ENT]: {} })).toBe(true);
    expect(matches(`${ENT}:employeeNumber eq null`, bjensen)).toBe(false);
    expect(matches(`${ENT}:manager.value eq null`, {})).toBe(true);
    expect(matches(`${ENT}:manager.value eq null`, bjensen)).toBe(false);
  });

  it("on a multi-valued attribute: no element has a value", () => {
    expect(matches("emails eq null", {})).toBe(true);
    expect(matches("emails eq null", { emails: [] })).toBe(true);
    expect(matches("emails.value eq null", { emails: [{ type: "work" }] })).toBe(true);
    expect(matches("emails.value eq null", bjensen)).toBe(false);
    expect(matches("emails ne null", bjensen)).toBe(true);
  });

  it("on a multi-valued attribute without a value sub-attribute (addresses): as pr and its opposite", () => {
    const paris = { addresses: [{ type: "work", locality: "Paris" }] };
    for (const [resource, present] of [[paris, true], [{}, false], [{ addresses: [] }, false], [{ addresses: [{}] }, false]] as const) {
      expect(matches("addresses pr", resource), JSON.stringify(resource)).toBe(present);
      expect(matches("addresses ne null", resource), JSON.stringify(resource)).toBe(present);
      expect(matches("addresses eq null", resource), JSON.stringify(resource)).toBe(!present);
      expect(matches("not (addresses eq null)", resource), JSON.stringify(resource)).toBe(present);
    }
    // Any other comparison names a `value` it does not have: no match.
    expect(matches('addresses eq "Paris"', paris)).toBe(false);
  });

  it("inside brackets it applies to the element", () => {
    expect(matches("emails[value eq null]", { emails: [{ type: "work" }, { value: "a@b" }] })).toBe(true);
    expect(matches("emails[value eq null]", bjensen)).toBe(false);
  });

  it("eq null and ne null are complements, also for unknown attributes", () => {
    const resources: unknown[] = [{}, bjensen, { foo: "x" }, { foo: null }, { foo: [] }, { foo: { bar: 1 } }, { emails: "a@b" }, { name: [] }];
    for (const path of ["nickName", "name.givenName", "emails.value", "emails", "foo", "foo.bar", `${ENT}:employeeNumber`, "urn:acme:x:foo"]) {
      const eq = compileFilter(`${path} eq null`, { resourceType: "User" });
      const ne = compileFilter(`${path} ne null`, { resourceType: "User" });
      for (const r of resources) expect(eq(r as Resource), `${path} on ${JSON.stringify(r)}`).toBe(!ne(r as Resource));
    }
  });

  it("other operators with null never match", () => {
    expect(matches("nickName co null", {})).toBe(false);
    expect(matches("nickName gt null", { nickName: "x" })).toBe(false);
  });
});

describe("compileFilter: absent attributes and type mismatches are false, never a throw", () => {
  it.each([
    'nickName eq "x"',
    'nickName ne "x"',
    'nickName co ""',
    'name.middleName sw "a"',
    'phoneNumbers.value eq "1"',
    'phoneNumbers[type eq "work"]',
    `${ENT}:department eq "x"`,
    "userName eq true",
    "userName eq 5",
    "userName gt 5",
    "name.givenName eq false",
    'active co "x"',
    "emails.primary eq 1",
    "emails eq true",
    'name eq "Barbara"',
    "name gt 5",
    `${ENT}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`,
  ])("%s", (filter) => {
    expect(matches(filter, bjensen)).toBe(false);
  });

  it("ne on an absent attribute is false (like SQL <> on NULL)", () => {
    expect(matches('userType ne "Employee"', {})).toBe(false);
    expect(matches('userType ne "Employee"', { userType: "Intern" })).toBe(true);
  });
});

describe("compileFilter: enterprise extension", () => {
  it("by URN", () => {
    expect(matches(`${ENT}:employeeNumber eq "701984"`, bjensen)).toBe(true);
    expect(matches(`${ENT}:employeeNumber eq "701985"`, bjensen)).toBe(false);
    expect(matches(`${ENT}:costCenter sw "41"`, bjensen)).toBe(true);
    expect(matches(`${ENT}:manager.value eq "26118915-6090-4610-87E4-49D8CA9F808D"`, bjensen)).toBe(true);
    expect(matches(`${ENT}:manager.displayName co "smith"`, bjensen)).toBe(true);
  });

  it("Entra's dotted spelling urn:...:User.attribute", () => {
    expect(matches(`${ENT}.employeeNumber eq "701984"`, bjensen)).toBe(true);
    expect(matches(`${ENT}.employeeNumber eq "1"`, bjensen)).toBe(false);
    expect(matches(`${ENT}.manager pr`, bjensen)).toBe(true);
    expect(matches(`${ENT}.manager pr`, { [ENT]: { manager: { value: "" } } })).toBe(false);
  });

  it("is read from the extension object only", () => {
    expect(matches(`${ENT}:employeeNumber eq "701984"`, { employeeNumber: "701984" })).toBe(false);
    expect(matches(`${ENT}:employeeNumber eq "701984"`, { [ENT]: "701984" })).toBe(false);
    expect(matches(`${ENT}:employeeNumber eq "701984"`, { [ENT]: [{ employeeNumber: "701984" }] })).toBe(false);
  });

  it("URN-qualified core attributes", () => {
    expect(matches(`${USER}:userName eq "bjensen@example.com"`, bjensen)).toBe(true);
    expect(matches(`${USER}:name.givenName eq "BARBARA"`, bjensen)).toBe(true);
    expect(matches(`${USER}:emails[type eq "work"]`, bjensen)).toBe(true);
    // Another resource type's schema is not the User's.
    expect(matches(`${GROUP}:displayName eq "Babs Jensen"`, bjensen)).toBe(false);
  });
});

describe("compileFilter: not", () => {
  it("negates its filter", () => {
    expect(matches('not (userName eq "bjensen@example.com")', bjensen)).toBe(false);
    expect(matches('not (userName eq "other")', bjensen)).toBe(true);
    expect(matches("not (not (title pr))", bjensen)).toBe(true);
    expect(matches('not (emails[type eq "work"]) or title pr', bjensen)).toBe(true);
    expect(matches('not (emails[type eq "work"])', bjensen)).toBe(false);
  });

  it("of a comparison on an absent attribute is true", () => {
    expect(matches('not (nickName eq "x")', bjensen)).toBe(true);
    expect(matches("not (active eq true)", {})).toBe(true);
  });

  it("long and/or chains evaluate like their boolean formula", () => {
    const f = 'title pr and userType eq "Employee" and active eq true and emails pr or nickName pr or displayName co "babs"';
    expect(matches(f, bjensen)).toBe(true);
    expect(matches(f, { displayName: "x" })).toBe(false);
    expect(matches(f, { displayName: "BABS" })).toBe(true);
    expect(matches('title pr and (nickName pr or displayName co "xyz")', bjensen)).toBe(false);
  });
});

describe("compileFilter: unknown attributes compare dynamically", () => {
  const r: Resource = {
    id: "u",
    nickname2: "Babs",
    count: 5,
    flag: true,
    when: "2011-05-13T04:42:34Z",
    list: ["Red", "green"],
    obj: { sub: "Deep" },
    objs: [{ sub: "A", n: 1 }, { sub: "B", n: 2 }],
    "urn:acme:ext:1.0:User": { badge: "B1" },
  };

  it("strings fold case, numbers compare numerically, booleans by identity", () => {
    expect(matches('nickname2 eq "babs"', r)).toBe(true);
    expect(matches('nickname2 sw "BA"', r)).toBe(true);
    expect(matches("count gt 4", r)).toBe(true);
    expect(matches("count le 4", r)).toBe(false);
    expect(matches("count eq 5", r)).toBe(true);
    expect(matches('count eq "5"', r)).toBe(false);
    expect(matches("flag eq true", r)).toBe(true);
    expect(matches("flag ne true", r)).toBe(false);
    expect(matches('list eq "red"', r)).toBe(true);
  });

  it("ordering a boolean or comparing across types does not throw", () => {
    expect(matches("flag gt true", r)).toBe(false);
    expect(matches("flag gt false", r)).toBe(false);
    expect(matches("count gt true", r)).toBe(false);
    expect(matches('count gt "4"', r)).toBe(false);
  });

  it("unknown dateTime-looking strings compare as strings", () => {
    expect(matches('when eq "2011-05-13T04:42:34Z"', r)).toBe(true);
    expect(matches('when gt "2011"', r)).toBe(true);
    expect(matches('when gt "yesterday"', r)).toBe(false);
  });

  it("sub-attributes, value filters and unknown URNs", () => {
    expect(matches('obj.sub eq "deep"', r)).toBe(true);
    expect(matches('objs.sub eq "b"', r)).toBe(true);
    expect(matches('objs[sub eq "a" and n eq 1]', r)).toBe(true);
    expect(matches('objs[sub eq "a" and n eq 2]', r)).toBe(false);
    expect(matches('urn:acme:ext:1.0:User:badge eq "b1"', r)).toBe(true);
    expect(matches('urn:acme:ext:1.0:User:badge eq "b2"', r)).toBe(false);
    expect(matches('nope.sub eq "x"', r)).toBe(false);
    expect(matches('nope[sub eq "x"]', r)).toBe(false);
  });

  it("Object.prototype members are never attributes", () => {
    for (const f of ["toString pr", "constructor pr", "valueOf ne null", "hasOwnProperty pr", 'emails[toString pr]', "name.toString pr", 'constructor.name eq "Object"', 'constructor[name eq "Object"]']) {
      expect(matches(f, bjensen), f).toBe(false);
    }
    expect(matches("toString eq null", bjensen)).toBe(true);
    expect(matches("emails[isPrototypeOf eq null]", bjensen)).toBe(true);
  });
});

describe("compileFilter: Group", () => {
  const engineering: Resource = {
    schemas: [GROUP],
    id: "g1",
    displayName: "Engineering",
    members: [
      { value: "2819c223-7f76-453a-919d-413861904646", type: "User", display: "Babs Jensen" },
      { value: "902c246b-6245-4190-8e05-00816be7344a", type: "User" },
      { value: "g2", type: "Group" },
    ],
  };
  const empty: Resource = { schemas: [GROUP], id: "g2", displayName: "Empty", members: [] };
  const groups = [engineering, empty, { id: "g3", displayName: "No members" }];
  const opts = { resourceType: "Group" };

  it("members.value and members[value eq] find groups by member id", () => {
    expect(select('members.value eq "2819c223-7f76-453a-919d-413861904646"', groups, opts)).toEqual(["g1"]);
    expect(select('members[value eq "902c246b-6245-4190-8e05-00816be7344a"]', groups, opts)).toEqual(["g1"]);
    expect(select('members eq "g2"', groups, opts)).toEqual(["g1"]);
    expect(select('members.value eq "nobody"', groups, opts)).toEqual([]);
    expect(select('members[value eq "g2" and type eq "User"]', groups, opts)).toEqual([]);
    expect(select('members[value eq "g2" and type eq "Group"]', groups, opts)).toEqual(["g1"]);
  });

  it("displayName folds case (Entra's group lookup)", () => {
    expect(select('displayName eq "engineering"', groups, opts)).toEqual(["g1"]);
    expect(select('displayName eq "ENGINEERING "', groups, opts)).toEqual([]);
  });

  it("members pr and eq null", () => {
    expect(select("members pr", groups, opts)).toEqual(["g1"]);
    expect(select("members eq null", groups, opts)).toEqual(["g2", "g3"]);
  });

  it("User attributes are unknown on a Group", () => {
    expect(select('userName eq "Engineering"', groups, opts)).toEqual([]);
    expect(select("displayName gt true", groups, opts)).toEqual([]);
  });
});

describe("compileFilter: errors", () => {
  it("syntax errors are 400 invalidFilter", () => {
    expectCompileError("userName eq");
    expectCompileError("externalId eq jyoung");
  });

  it("lenient accepts Entra's unquoted value", () => {
    expect(matches("externalId eq jyoung", { externalId: "jyoung" }, { lenient: true })).toBe(true);
    expect(matches("externalId eq jyoung", { externalId: "JYOUNG" }, { lenient: true })).toBe(false);
  });

  it("hand-built ASTs that the parser would not produce are rejected", () => {
    const nested: Filter = {
      type: "valuePath",
      path: { attr: "emails" },
      filter: { type: "valuePath", path: { attr: "type" }, filter: { type: "present", path: { attr: "value" } } },
    };
    expectCompileError(nested);
    expectCompileError({ type: "valuePath", path: { attr: "emails" }, filter: { type: "present", path: { attr: "value", uri: USER } } });
    expectCompileError({ type: "valuePath", path: { attr: "emails" }, filter: { type: "present", path: { attr: "value", sub: "x" } } });
    expectCompileError({ type: "bogus" } as unknown as Filter);
  });
});

describe("compileFilter: the predicate never throws on weird resources", () => {
  const weird: unknown[] = [
    null,
    undefined,
    "string",
    42,
    true,
    [],
    [bjensen],
    Object.create(null),
    { userName: null, name: null, emails: null, meta: null, active: null, [ENT]: null },
    { userName: ["a"], name: ["x"], emails: "a@example.com", meta: [], active: [true], [ENT]: [] },
    { userName: { value: "a" }, name: "Barbara", emails: { value: "a@example.com", type: "work" }, meta: "2011", [ENT]: "x" },
    { emails: [null, 1, "x", [], [{ value: "a" }], { value: null }, { value: 5 }, { type: ["work"] }] },
    { emails: [{ value: { nested: "a@example.com" }, type: { x: 1 } }] },
    { meta: { created: 5, lastModified: {} } },
    { meta: { created: ["2011-05-13T04:42:34Z"], lastModified: "2011-02-30T00:00:00Z" } },
    { meta: { created: new Date(0) } },
    { x509Certificates: "MII", groups: { value: 1 }, members: 7 },
    { [ENT]: { manager: "m1", employeeNumber: 701984 } },
    { [ENT]: { manager: [{ value: "m1" }] } },
    { title: Number.NaN, active: Number.POSITIVE_INFINITY, userName: -0 },
  ];
  const filters = [
    'userName eq "a"',
    'userName gt "a"',
    "userName pr",
    "userName eq null",
    'name.givenName sw "b"',
    'emails co "example.com"',
    'emails[type eq "work" and value co "a"]',
    'emails[type eq "work"].value eq "a@example.com"',
    "emails.primary eq true",
    'meta.created gt "2011-01-01T00:00:00Z"',
    'meta.lastModified ne "2011-01-01T00:00:00Z"',
    "active eq true",
    "active ne false",
    `${ENT}:manager.value eq "m1"`,
    `${ENT}.employeeNumber eq "701984"`,
    `${ENT}:employeeNumber eq null`,
    'x509Certificates.value eq "MII"',
    'groups[value eq "1"]',
    'members.value eq "7"',
    "x.y eq 1",
    "x[y gt 1]",
    "title gt 1",
    'not (emails.value eq "a") and not (name pr)',
  ];

  it.each(filters)("%s", (filter) => {
    const predicate = compileFilter(filter, { resourceType: "User" });
    for (const r of weird) {
      const result = predicate(r as Resource);
      expect(typeof result).toBe("boolean");
    }
  });

  it("non-objects never match, not even a negation", () => {
    const predicate = compileFilter('not (userName eq "x")', { resourceType: "User" });
    expect(predicate(null as unknown as Resource)).toBe(false);
    expect(predicate("x" as unknown as Resource)).toBe(false);
    expect(predicate({})).toBe(true);
  });

  it("reads the data it was given, not look-alikes of the wrong shape", () => {
    expect(matches('emails co "example.com"', { emails: "a@example.com" })).toBe(false);
    expect(matches('emails[type eq "work"]', { emails: { type: "work", value: "a" } })).toBe(true);
    expect(matches('meta.created eq "1970-01-01T00:00:00Z"', { meta: { created: new Date(0) } })).toBe(true);
  });
});

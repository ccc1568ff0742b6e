import { describe, it, expect } from "vitest";
import { p } from "../test-support.js";
import { isScimError } from "../errors/scim-error.js";
import type { AttrPath, Filter } from "../filter/ast.js";
import { parsePatchPath, type PatchPath } from "./patch-path.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const eq = (attr: string, value: string | number | boolean | null): Filter => ({ type: "compare", op: "eq", path: p(attr), value });

function expectInvalidPath(text: string): string {
  let thrown: unknown;
  try {
    parsePatchPath(text);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${JSON.stringify(String(text).slice(0, 60))} to be rejected`).toBeDefined();
  if (!isScimError(thrown)) throw thrown;
  expect(thrown.status).toBe(400);
  expect(thrown.scimType).toBe("invalidPath");
  return thrown.detail;
}

describe("parsePatchPath: valid paths", () => {
  it.each<[string, PatchPath]>([
    ["members", { attr: p("members") }],
    ["userName", { attr: p("userName") }],
    ["name.givenName", { attr: p("name", "givenName") }],
    ["$ref", { attr: p("$ref") }],
    ["x509Certificates", { attr: p("x509Certificates") }],
    ["urn-attr_with-dash", { attr: p("urn-attr_with-dash") }],
    [`${ENTERPRISE}:employeeNumber`, { attr: p("employeeNumber", undefined, ENTERPRISE) }],
    [`${ENTERPRISE}:manager.value`, { attr: p("manager", "value", ENTERPRISE) }],
    [`${USER}:name.familyName`, { attr: p("name", "familyName", USER) }],
    // Entra's dotted spelling: split at the last ':'; the schema resolver puts it back together.
    [`${ENTERPRISE}.manager`, { attr: p("User", "manager", "urn:ietf:params:scim:schemas:extension:enterprise:2.0") }],
    // A whole extension: the resolver recognises the URN.
    [ENTERPRISE, { attr: p("User", undefined, "urn:ietf:params:scim:schemas:extension:enterprise:2.0") }],
    ['emails[type eq "work"]', { attr: p("emails"), filter: eq("type", "work") }],
    ['emails[type eq "work"].value', { attr: p("emails"), filter: eq("type", "work"), sub: "value" }],
    ['addresses[type eq "work"].streetAddress', { attr: p("addresses"), filter: eq("type", "work"), sub: "streetAddress" }],
    ['members[value eq "2819c223-7f76-...413861904646"]', { attr: p("members"), filter: eq("value", "2819c223-7f76-...413861904646") }],
    [
      'emails[type eq "work" and value ew "example.com"]',
      {
        attr: p("emails"),
        filter: { type: "logical", op: "and", left: eq("type", "work"), right: { type: "compare", op: "ew", path: p("value"), value: "example.com" } },
      },
    ],
    ['members[value eq "a" or value eq "b"]', { attr: p("members"), filter: { type: "logical", op: "or", left: eq("value", "a"), right: eq("value", "b") } }],
    ['emails[not (type eq "work")]', { attr: p("emails"), filter: { type: "not", filter: eq("type", "work") } }],
    ["emails[primary eq true]", { attr: p("emails"), filter: eq("primary", true) }],
    ["emails[type pr]", { attr: p("emails"), filter: { type: "present", path: p("type") } }],
    ['members[$ref eq "x"]', { attr: p("members"), filter: eq("$ref", "x") }],
    ['emails[ type  eq  "work" ]', { attr: p("emails"), filter: eq("type", "work") }],
    ['emails[(type eq "work")]', { attr: p("emails"), filter: eq("type", "work") }],
    [`${USER}:emails[type eq "work"].value`, { attr: p("emails", undefined, USER), filter: eq("type", "work"), sub: "value" }],
    [`${ENTERPRISE}:manager`, { attr: p("manager", undefined, ENTERPRISE) }],
    ['emails[value eq "a\\"b"]', { attr: p("emails"), filter: eq("value", 'a"b') }],
    ['emails[type eq "]"].value', { attr: p("emails"), filter: eq("type", "]"), sub: "value" }],
  ])("%s", (text, expected) => {
    expect(parsePatchPath(text)).toStrictEqual(expected);
  });

  it("keeps the client's casing (resolution is case-insensitive later)", () => {
    expect(parsePatchPath('EMAILS[TYPE EQ "Work"].VALUE')).toStrictEqual({ attr: p("EMAILS"), filter: eq("TYPE", "Work"), sub: "VALUE" });
  });

  it("accepts an unquoted value in a value filter (the lenient tolerance for Entra)", () => {
    expect(parsePatchPath("emails[type eq work]")).toStrictEqual({ attr: p("emails"), filter: eq("type", "work") });
    expect(parsePatchPath("members[value eq 01ab]").filter).toStrictEqual(eq("value", "01ab"));
  });

  it("reads numbers, booleans and null in a value filter", () => {
    expect(parsePatchPath("x[n eq 5]").filter).toStrictEqual(eq("n", 5));
    expect(parsePatchPath("x[b eq False]").filter).toStrictEqual(eq("b", false));
    expect(parsePatchPath("x[v eq null]").filter).toStrictEqual(eq("v", null));
  });

  it("accepts a path up to 4096 characters", () => {
    const name = "a" + "b".repeat(4095);
    expect(parsePatchPath(name)).toStrictEqual({ attr: p(name) });
  });
});

describe("parsePatchPath: malformed paths are 400 invalidPath", () => {
  it.each([
    "",
    " ",
    "  members",
    "members ",
    "a b",
    "1abc",
    "-abc",
    "_abc",
    ".abc",
    "abc.",
    "emails..value",
    "a.b.c",
    "name.givenName.x",
    ":foo",
    "urn:x:",
    "emails[",
    "emails]",
    "emails[]",
    "emails[type]",
    "emails[type eq]",
    "emails[type eq ]",
    'emails[type eq "work"',
    'emails[type eq "work"]]',
    'emails[type eq "work"].',
    'emails[type eq "work"]value',
    'emails[type eq "work"] ',
    'emails[type eq "work"].value.x',
    'emails[type eq "work"].value eq "x"',
    'emails[type eq "work"].urn:x:value',
    'emails[type eq "work"][primary eq true]',
    'name.givenName[type eq "x"]',
    "emails[type eq 'work']",
    'emails[type eq "unterminated]',
    'emails[type xx "work"]',
    'emails[type eq "a" or]',
    'emails[and eq "x" and]',
    'emails[value[type eq "x"]]',
    "(emails)",
    'emails[type eq "\\q"]',
    "émails",
    "emails/value",
  ])("%j", (text) => {
    expectInvalidPath(text);
  });

  it("rejects paths longer than 4096 characters without scanning them", () => {
    expect(expectInvalidPath("a".repeat(4097))).toMatch(/4096/);
    expect(expectInvalidPath(`emails[value eq "${"x".repeat(100_000)}"]`)).toMatch(/4096/);
  });

  it("rejects deep nesting without overflowing the stack", () => {
    expectInvalidPath(`emails[${"(".repeat(100)}type eq "x"${")".repeat(100)}]`);
  });

  it("rejects a non-string", () => {
    for (const v of [undefined, null, 5, {}, ["members"]]) expectInvalidPath(v as unknown as string);
  });

  it("names the position of the mistake", () => {
    expect(expectInvalidPath('emails[type eq "work"]]')).toMatch(/position 23/);
    expect(expectInvalidPath("emails[type")).toMatch(/position \d+/);
  });
});

describe("parsePatchPath: forbidden names", () => {
  it.each([
    "__proto__",
    "constructor",
    "prototype",
    "Constructor",
    "PROTOTYPE",
    "__proto__.polluted",
    "constructor.prototype",
    "name.__proto__",
    "name.constructor",
    "name.prototype",
    `${ENTERPRISE}:__proto__`,
    `${ENTERPRISE}:constructor`,
    `${ENTERPRISE}:prototype.x`,
    `${ENTERPRISE}:manager.constructor`,
    'emails[type eq "work"].__proto__',
    'emails[type eq "work"].constructor',
    'emails[type eq "work"].prototype',
    'emails[__proto__ eq "x"]',
    'emails[constructor eq "x"]',
    'emails[prototype pr]',
    'emails[type eq "x" and constructor eq "y"]',
    'emails[not (prototype eq "y")]',
    'constructor[value eq "x"]',
    'members[value eq "x" or __proto__ eq "y"]',
  ])("%s", (text) => {
    expectInvalidPath(text);
  });

  it("allows them as filter values and as parts of longer names", () => {
    expect(parsePatchPath('emails[type eq "__proto__"]').filter).toStrictEqual(eq("type", "__proto__"));
    expect(parsePatchPath('members[value eq "constructor"]').filter).toStrictEqual(eq("value", "constructor"));
    expect(parsePatchPath("constructorName")).toStrictEqual({ attr: p("constructorName") });
    expect(parsePatchPath("myPrototype.x")).toStrictEqual({ attr: p("myPrototype", "x") });
  });
});

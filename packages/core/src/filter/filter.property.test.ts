import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { isScimError } from "../errors/scim-error.js";
import type { AttrPath, CompareOperator, Filter, FilterValue } from "./ast.js";
import { COMPARE_OPERATORS } from "./ast.js";
import { compileFilter, type FilterPredicate } from "./compile.js";
import { parseFilter, type ParseFilterOptions } from "./parser.js";
import { printFilter } from "./print.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Realistic names, names that look like keywords, and generated valid ATTRNAMEs. */
const nameArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "userName", "name", "givenName", "familyName", "emails", "value", "type", "primary", "display", "displayName",
    "title", "active", "meta", "created", "lastModified", "id", "externalId", "members", "groups", "$ref",
    "x509Certificates", "employeeNumber", "manager",
    // Keywords and literals are valid attribute names too.
    "not", "and", "or", "pr", "eq", "NOT", "And", "true", "null",
  ),
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,12}$/),
);

const uriArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(USER, GROUP, ENT, "urn:acme:schemas:extension:Badge:1.0"),
  fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/), { minLength: 1, maxLength: 4 }).map((parts) => `urn:${parts.join(":")}`),
);

/** AST nodes are plain objects, as the parser makes them (fc.record may give a null prototype). */
const PLAIN = { noNullPrototype: true } as const;

function makePath(attr: string, sub: string | undefined, uri: string | undefined): AttrPath {
  const path: AttrPath = { attr };
  if (uri !== undefined) path.uri = uri;
  if (sub !== undefined) path.sub = sub;
  return path;
}

/** `[uri:]attr[.sub]` at resource scope. */
const pathArb: fc.Arbitrary<AttrPath> = fc
  .tuple(nameArb, fc.option(nameArb, { nil: undefined }), fc.option(uriArb, { nil: undefined, freq: 3 }))
  .map(([attr, sub, uri]) => makePath(attr, sub, uri));

/** A plain name: the path of a valuePath, or a path inside `[...]`. */
const plainPathArb: fc.Arbitrary<AttrPath> = nameArb.map((attr) => ({ attr }));
const valuePathPathArb: fc.Arbitrary<AttrPath> = fc
  .tuple(nameArb, fc.option(uriArb, { nil: undefined, freq: 3 }))
  .map(([attr, uri]) => makePath(attr, undefined, uri));

const valueArb: fc.Arbitrary<FilterValue> = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom("2011-05-13T04:42:34Z", "2011-05-13T06:42:34.5+02:00", "bjensen@example.com", "", 'a"b\\c', "😀中文"),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);

const opArb: fc.Arbitrary<CompareOperator> = fc.constantFrom(...COMPARE_OPERATORS);

function leafArb(path: fc.Arbitrary<AttrPath>): fc.Arbitrary<Filter> {
  return fc.oneof(
    { arbitrary: fc.record({ type: fc.constant("compare" as const), op: opArb, path, value: valueArb }, PLAIN), weight: 4 },
    { arbitrary: fc.record({ type: fc.constant("present" as const), path }, PLAIN), weight: 1 },
  );
}

/** Filters inside `[...]`: no value paths, plain sub-attribute names. */
const innerFilterArb: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
  f: fc.oneof(
    { maxDepth: 4, depthIdentifier: "inner" },
    { arbitrary: leafArb(plainPathArb), weight: 3 },
    { arbitrary: fc.record({ type: fc.constant("logical" as const), op: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }, PLAIN), weight: 2 },
    { arbitrary: fc.record({ type: fc.constant("not" as const), filter: tie("f") }, PLAIN), weight: 1 },
  ),
})).f;

/** Any filter the parser can produce. */
function filterArb(path: fc.Arbitrary<AttrPath>, vpPath: fc.Arbitrary<AttrPath>, inner: fc.Arbitrary<Filter>): fc.Arbitrary<Filter> {
  return fc.letrec<{ f: Filter }>((tie) => ({
    f: fc.oneof(
      { maxDepth: 5, depthIdentifier: "outer" },
      { arbitrary: leafArb(path), weight: 3 },
      { arbitrary: fc.record({ type: fc.constant("valuePath" as const), path: vpPath, filter: inner }, PLAIN), weight: 1 },
      { arbitrary: fc.record({ type: fc.constant("logical" as const), op: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }, PLAIN), weight: 2 },
      { arbitrary: fc.record({ type: fc.constant("not" as const), filter: tie("f") }, PLAIN), weight: 1 },
    ),
  })).f;
}

const astArb = filterArb(pathArb, valuePathPathArb, innerFilterArb);

/** Asserts the only thing parseFilter may throw: ScimError 400 invalidFilter. */
function expectOnlyInvalidFilter(text: string, options?: ParseFilterOptions): Filter | undefined {
  try {
    return parseFilter(text, options);
  } catch (e) {
    if (!isScimError(e) || e.status !== 400 || e.scimType !== "invalidFilter") {
      throw new Error(`parseFilter(${JSON.stringify(text)}) threw something other than 400 invalidFilter: ${String(e)}`);
    }
    expect(e.detail).toMatch(/position \d+/);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// (1) print/parse round trip
// ---------------------------------------------------------------------------------------------

describe("property: parseFilter(printFilter(ast)) deep-equals ast", () => {
  it("for arbitrary ASTs", () => {
    fc.assert(
      fc.property(astArb, (ast) => {
        const text = printFilter(ast);
        expect(parseFilter(text, { maxLength: Infinity })).toStrictEqual(ast);
      }),
      { numRuns: 600 },
    );
  });

  it("printing is canonical: print(parse(print(ast))) === print(ast)", () => {
    fc.assert(
      fc.property(astArb, (ast) => {
        const text = printFilter(ast);
        expect(printFilter(parseFilter(text, { maxLength: Infinity }))).toBe(text);
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// (2) arbitrary input is either parsed or a 400 invalidFilter
// ---------------------------------------------------------------------------------------------

const SEEDS = [
  'userName eq "bjensen"',
  `name.familyName co "O'Malley"`,
  `${USER}:userName sw "J"`,
  "title pr",
  'meta.lastModified gt "2011-05-13T04:42:34Z"',
  'title pr and userType eq "Employee"',
  'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
  'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
  'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
  'emails[type eq "work"].value eq "a@b"',
  "externalId eq jyoung",
  `${ENT}:employeeNumber eq "1"`,
  'a eq "\\"\\\\\\u00e9" and b eq -1.5e3 and c eq true and d eq null',
];
const TOKENS = ["(", ")", "[", "]", '"', " ", "and", "or", "not", "eq", "pr", " and ", " or ", "not (", "\\", "\\u", ".", ":", "'", "-", "1", "e", "\t", "😀"];

type Edit = { at: number; insert?: string; del: number };
const editArb: fc.Arbitrary<Edit> = fc.record({
  at: fc.nat(),
  insert: fc.option(fc.constantFrom(...TOKENS), { nil: undefined }),
  del: fc.integer({ min: 0, max: 3 }),
});

function mutate(text: string, edits: Edit[]): string {
  let s = text;
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % (s.length + 1);
    s = s.slice(0, at) + (e.insert ?? "") + s.slice(at + e.del);
  }
  return s;
}

const mutatedArb: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom(...SEEDS), fc.array(editArb, { minLength: 1, maxLength: 5 })).map(([s, edits]) => mutate(s, edits)),
  fc.tuple(astArb.map((ast) => printFilter(ast)), fc.array(editArb, { minLength: 1, maxLength: 5 })).map(([s, edits]) => mutate(s, edits)),
);

/** Strings built from filter syntax only: dense in near-valid input. */
const syntaxSoupArb: fc.Arbitrary<string> = fc
  .array(fc.constantFrom(...TOKENS, "a", "b.c", "urn:x:y", '"v"', "1", "true", "null", "co", "gt"), { maxLength: 25 })
  .map((parts) => parts.join(""));

describe("property: parseFilter throws nothing but 400 invalidFilter", () => {
  const cases: [string, fc.Arbitrary<string>][] = [
    ["fc.string()", fc.string({ maxLength: 60 })],
    ["full Unicode strings", fc.string({ unit: "binary", maxLength: 60 })],
    ["grapheme strings", fc.string({ unit: "grapheme", maxLength: 30 })],
    ["mutations of valid filters", mutatedArb],
    ["syntax soup", syntaxSoupArb],
  ];
  for (const [name, arb] of cases) {
    for (const lenient of [false, true]) {
      it(`${name}${lenient ? " (lenient)" : ""}`, () => {
        fc.assert(
          fc.property(arb, (text) => {
            const ast = expectOnlyInvalidFilter(text, { lenient });
            // Whatever is accepted prints to strict filter text that parses to the same AST.
            if (ast !== undefined) expect(parseFilter(printFilter(ast))).toStrictEqual(ast);
          }),
          { numRuns: name.startsWith("mutations") || name === "syntax soup" ? 700 : 300 },
        );
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// (3) compiled predicates never throw on any resource
// ---------------------------------------------------------------------------------------------

/** Paths the User and Group schemas define (typed compilation), plus unknown ones. */
const schemaPathArb: fc.Arbitrary<AttrPath> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<AttrPath>(
    { attr: "userName" }, { attr: "name", sub: "givenName" }, { attr: "name" }, { attr: "emails" }, { attr: "emails", sub: "value" },
    { attr: "emails", sub: "type" }, { attr: "emails", sub: "primary" }, { attr: "active" }, { attr: "meta", sub: "created" },
    { attr: "meta", sub: "lastModified" }, { attr: "meta" }, { attr: "id" }, { attr: "externalId" }, { attr: "title" },
    { attr: "x509Certificates", sub: "value" }, { attr: "groups", sub: "$ref" }, { attr: "members", sub: "value" }, { attr: "members" },
    { uri: ENT, attr: "employeeNumber" }, { uri: ENT, attr: "manager", sub: "value" }, { uri: ENT, attr: "manager" },
    { uri: "urn:ietf:params:scim:schemas:extension:enterprise:2.0", attr: "User", sub: "employeeNumber" },
    { uri: USER, attr: "userName" }, { attr: "toString" }, { attr: "constructor", sub: "name" }, { attr: "schemas" },
  ) },
  { weight: 1, arbitrary: pathArb },
);
const schemaVpPathArb: fc.Arbitrary<AttrPath> = fc.oneof(
  fc.constantFrom<AttrPath>({ attr: "emails" }, { attr: "members" }, { attr: "x509Certificates" }, { attr: "name" }, { attr: "groups" }, { uri: ENT, attr: "manager" }, { attr: "userName" }),
  valuePathPathArb,
);
const schemaInnerArb: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
  f: fc.oneof(
    { maxDepth: 3, depthIdentifier: "schemaInner" },
    { arbitrary: leafArb(fc.oneof(fc.constantFrom<AttrPath>({ attr: "value" }, { attr: "type" }, { attr: "primary" }, { attr: "display" }, { attr: "$ref" }, { attr: "givenName" }), plainPathArb)), weight: 3 },
    { arbitrary: fc.record({ type: fc.constant("logical" as const), op: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }, PLAIN), weight: 2 },
    { arbitrary: fc.record({ type: fc.constant("not" as const), filter: tie("f") }, PLAIN), weight: 1 },
  ),
})).f;
const schemaFilterArb = filterArb(schemaPathArb, schemaVpPathArb, schemaInnerArb);

/** Resources shaped like users and groups, with anything in their fields. */
const fieldArb = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom("2011-05-13T04:42:34Z", "2011-05-13T04:42:34.5+02:00", "yesterday", "", "bjensen@example.com", true, false, 0, null),
);
const elementArb = fc.dictionary(fc.constantFrom("value", "type", "primary", "display", "$ref", "givenName"), fieldArb, { maxKeys: 4 });
const userLikeArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    id: fieldArb,
    userName: fieldArb,
    active: fieldArb,
    title: fieldArb,
    name: fc.oneof(elementArb, fieldArb),
    emails: fc.oneof(fc.array(fc.oneof(elementArb, fieldArb), { maxLength: 3 }), fieldArb),
    members: fc.oneof(fc.array(elementArb, { maxLength: 3 }), fieldArb),
    x509Certificates: fc.oneof(fc.array(elementArb, { maxLength: 2 }), fieldArb),
    meta: fc.oneof(fc.dictionary(fc.constantFrom("created", "lastModified", "version"), fieldArb), fieldArb),
    [ENT]: fc.oneof(fc.record({ employeeNumber: fieldArb, manager: fc.oneof(elementArb, fieldArb) }, { requiredKeys: [] }), fieldArb),
  },
  { requiredKeys: [] },
);
const resourceArb: fc.Arbitrary<unknown> = fc.oneof(userLikeArb, userLikeArb, fc.object({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }));

/** Compiles, accepting only 400 invalidFilter (ordering on boolean/binary, bad dateTime literal, [...] on a simple attribute). */
function compileOrSkip(filter: Filter, resourceType: string): FilterPredicate | undefined {
  try {
    return compileFilter(filter, { resourceType });
  } catch (e) {
    if (!isScimError(e) || e.status !== 400 || e.scimType !== "invalidFilter") throw e;
    return undefined;
  }
}

describe("property: compiled predicates never throw", () => {
  for (const resourceType of ["User", "Group"]) {
    it(`on random resources (${resourceType})`, () => {
      fc.assert(
        fc.property(schemaFilterArb, fc.array(resourceArb, { minLength: 1, maxLength: 6 }), (filter, resources) => {
          const predicate = compileOrSkip(filter, resourceType);
          if (predicate === undefined) return;
          const negated = compileFilter({ type: "not", filter }, { resourceType });
          for (const r of resources) {
            const result = predicate(r as Record<string, unknown>);
            expect(typeof result).toBe("boolean");
            // not (F) is the complement of F on every object resource.
            if (r !== null && typeof r === "object") expect(negated(r as Record<string, unknown>)).toBe(!result);
          }
        }),
        { numRuns: 400 },
      );
    });
  }

  it("compiling the printed text gives the same predicate as compiling the AST", () => {
    fc.assert(
      fc.property(schemaFilterArb, fc.array(userLikeArb, { minLength: 1, maxLength: 4 }), (filter, resources) => {
        const fromAst = compileOrSkip(filter, "User");
        if (fromAst === undefined) return;
        const fromText = compileFilter(printFilter(filter), { resourceType: "User" });
        for (const r of resources) expect(fromText(r)).toBe(fromAst(r));
      }),
      { numRuns: 200 },
    );
  });

  it("eq null and ne null are complements", () => {
    fc.assert(
      fc.property(schemaPathArb, fc.array(resourceArb, { minLength: 1, maxLength: 6 }), (path, resources) => {
        const eq = compileFilter({ type: "compare", op: "eq", path, value: null }, { resourceType: "User" });
        const ne = compileFilter({ type: "compare", op: "ne", path, value: null }, { resourceType: "User" });
        for (const r of resources) {
          if (r !== null && typeof r === "object") expect(eq(r as Record<string, unknown>)).toBe(!ne(r as Record<string, unknown>));
        }
      }),
      { numRuns: 300 },
    );
  });
});

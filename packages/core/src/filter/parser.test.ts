import { describe, it, expect } from "vitest";
import { and, cmp, not, or, p, pr, vp } from "../test-support.js";
import { isScimError } from "../errors/scim-error.js";
import type { AttrPath, CompareOperator, Filter, FilterValue } from "./ast.js";
import { parseFilter, type ParseFilterOptions } from "./parser.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";


/** Parses and returns the error, failing the test when nothing (or something else) is thrown. */
function parseError(text: string, options?: ParseFilterOptions) {
  let thrown: unknown;
  try {
    parseFilter(text, options);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${JSON.stringify(text.length > 80 ? text.slice(0, 80) + "..." : text)} to be rejected`).toBeDefined();
  if (!isScimError(thrown)) throw thrown;
  expect(thrown.status).toBe(400);
  expect(thrown.scimType).toBe("invalidFilter");
  return thrown;
}

/** Asserts a 400 invalidFilter whose detail names a 1-based position (optionally: which one). */
function expectInvalid(text: string, position?: number, options?: ParseFilterOptions): string {
  const e = parseError(text, options);
  const m = /at position (\d+)/.exec(e.detail);
  expect(m, `detail should name a position: ${e.detail}`).not.toBeNull();
  const at = Number(m![1]);
  expect(at).toBeGreaterThanOrEqual(1);
  expect(at).toBeLessThanOrEqual(text.length + 1);
  if (position !== undefined) expect(at, e.detail).toBe(position);
  return e.detail;
}

describe("parseFilter: RFC 7644 §3.4.2.2 examples, verbatim", () => {
  const examples: [string, Filter][] = [
    ['userName eq "bjensen"', cmp(p("userName"), "eq", "bjensen")],
    [`name.familyName co "O'Malley"`, cmp(p("name", "familyName"), "co", "O'Malley")],
    ['userName sw "J"', cmp(p("userName"), "sw", "J")],
    [`${USER}:userName sw "J"`, cmp(p("userName", undefined, USER), "sw", "J")],
    ["title pr", pr(p("title"))],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp(p("meta", "lastModified"), "gt", "2011-05-13T04:42:34Z")],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', cmp(p("meta", "lastModified"), "ge", "2011-05-13T04:42:34Z")],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', cmp(p("meta", "lastModified"), "lt", "2011-05-13T04:42:34Z")],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', cmp(p("meta", "lastModified"), "le", "2011-05-13T04:42:34Z")],
    ['title pr and userType eq "Employee"', and(pr(p("title")), cmp(p("userType"), "eq", "Employee"))],
    ['title pr or userType eq "Intern"', or(pr(p("title")), cmp(p("userType"), "eq", "Intern"))],
    [`schemas eq "${ENTERPRISE}"`, cmp(p("schemas"), "eq", ENTERPRISE)],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      and(cmp(p("userType"), "eq", "Employee"), or(cmp(p("emails"), "co", "example.com"), cmp(p("emails", "value"), "co", "example.org"))),
    ],
    [
      'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
      and(cmp(p("userType"), "ne", "Employee"), not(or(cmp(p("emails"), "co", "example.com"), cmp(p("emails", "value"), "co", "example.org")))),
    ],
    ['userType eq "Employee" and (emails.type eq "work")', and(cmp(p("userType"), "eq", "Employee"), cmp(p("emails", "type"), "eq", "work"))],
    [
      'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
      and(cmp(p("userType"), "eq", "Employee"), vp(p("emails"), and(cmp(p("type"), "eq", "work"), cmp(p("value"), "co", "@example.com")))),
    ],
    [
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
      or(
        vp(p("emails"), and(cmp(p("type"), "eq", "work"), cmp(p("value"), "co", "@example.com"))),
        vp(p("ims"), and(cmp(p("type"), "eq", "xmpp"), cmp(p("value"), "co", "@foo.com"))),
      ),
    ],
  ];
  it.each(examples)("%s", (text, expected) => {
    expect(parseFilter(text)).toStrictEqual(expected);
  });

  it("treats attribute names and operators case-insensitively but keeps the client's casing (RFC 7644 §3.4.2.2)", () => {
    expect(parseFilter('userName Eq "john"')).toStrictEqual(cmp(p("userName"), "eq", "john"));
    expect(parseFilter('Username eq "john"')).toStrictEqual(cmp(p("Username"), "eq", "john"));
  });
});

describe("parseFilter: what identity providers send", () => {
  it("Okta lookup before create", () => {
    expect(parseFilter('userName eq "x@y"')).toStrictEqual(cmp(p("userName"), "eq", "x@y"));
  });

  it("Okta group lookup by displayName", () => {
    expect(parseFilter('displayName eq "Engineering — Berlin"')).toStrictEqual(cmp(p("displayName"), "eq", "Engineering — Berlin"));
  });

  it("Entra's unquoted value only with { lenient: true }", () => {
    expectInvalid("externalId eq jyoung", 15);
    expect(parseFilter("externalId eq jyoung", { lenient: true })).toStrictEqual(cmp(p("externalId"), "eq", "jyoung"));
    // A random GUID, as in Entra's connection test; the leading digit must not make it a number.
    const guid = "8d3f5a2e-0b1c-4c7e-9f10-2a3b4c5d6e7f";
    expect(parseFilter(`userName eq ${guid}`, { lenient: true })).toStrictEqual(cmp(p("userName"), "eq", guid));
    expectInvalid(`userName eq ${guid}`);
  });

  it("lenient mode still reads true/false/null and numbers as literals and keeps quoted strings", () => {
    expect(parseFilter("active eq true and externalId eq jyoung", { lenient: true })).toStrictEqual(
      and(cmp(p("active"), "eq", true), cmp(p("externalId"), "eq", "jyoung")),
    );
    expect(parseFilter("x eq 42", { lenient: true })).toStrictEqual(cmp(p("x"), "eq", 42));
    expect(parseFilter('x eq "42"', { lenient: true })).toStrictEqual(cmp(p("x"), "eq", "42"));
    expect(parseFilter("x eq 007", { lenient: true })).toStrictEqual(cmp(p("x"), "eq", "007"));
  });

  it("lenient mode still rejects single quotes and stray quotes", () => {
    expectInvalid("externalId eq 'jyoung'", 15, { lenient: true });
    expectInvalid('externalId eq jy"oung', 15, { lenient: true });
  });

  it("Entra's emails[type eq \"work\"].value eq: one element must satisfy both conditions", () => {
    expect(parseFilter('emails[type eq "work"].value eq "user@contoso.com"')).toStrictEqual(
      vp(p("emails"), and(cmp(p("type"), "eq", "work"), cmp(p("value"), "eq", "user@contoso.com"))),
    );
    expect(parseFilter('emails[type eq "work"].value eq "a@b" and userName eq "c"')).toStrictEqual(
      and(vp(p("emails"), and(cmp(p("type"), "eq", "work"), cmp(p("value"), "eq", "a@b"))), cmp(p("userName"), "eq", "c")),
    );
    // An `or` inside the brackets stays grouped under the `and` with the trailing comparison.
    expect(parseFilter('emails[type eq "work" or type eq "home"].value pr')).toStrictEqual(
      vp(p("emails"), and(or(cmp(p("type"), "eq", "work"), cmp(p("type"), "eq", "home")), pr(p("value")))),
    );
  });

  it("Entra's displayName lookup for groups", () => {
    expect(parseFilter('displayName eq "Sales Team"')).toStrictEqual(cmp(p("displayName"), "eq", "Sales Team"));
  });

  it("Entra's and-combined matching filters", () => {
    expect(parseFilter('userName eq "a" and externalId eq "b"')).toStrictEqual(
      and(cmp(p("userName"), "eq", "a"), cmp(p("externalId"), "eq", "b")),
    );
  });

  it("rejects a sub-attribute after ']' that is not a plain name", () => {
    expectInvalid('emails[type eq "work"].urn:x:value eq "a"', 24);
    expectInvalid('emails[type eq "work"].value.x eq "a"', 24);
    expectInvalid('emails[type eq "work"]. value eq "a"', 24);
    expectInvalid('emails[type eq "work"].value', 29);
  });
});

describe("parseFilter: precedence and grouping", () => {
  const a = cmp(p("a"), "eq", 1);
  const b = cmp(p("b"), "eq", 2);
  const c = cmp(p("c"), "eq", 3);
  const d = cmp(p("d"), "eq", 4);

  it("and binds tighter than or, on either side", () => {
    expect(parseFilter("a eq 1 or b eq 2 and c eq 3")).toStrictEqual(or(a, and(b, c)));
    expect(parseFilter("a eq 1 and b eq 2 or c eq 3")).toStrictEqual(or(and(a, b), c));
    expect(parseFilter("a eq 1 and b eq 2 or c eq 3 and d eq 4")).toStrictEqual(or(and(a, b), and(c, d)));
  });

  it("both operators are left-associative", () => {
    expect(parseFilter("a eq 1 and b eq 2 and c eq 3")).toStrictEqual(and(and(a, b), c));
    expect(parseFilter("a eq 1 or b eq 2 or c eq 3")).toStrictEqual(or(or(a, b), c));
    expect(parseFilter("a eq 1 or b eq 2 or c eq 3 or d eq 4")).toStrictEqual(or(or(or(a, b), c), d));
  });

  it("parentheses override precedence and leave no trace in the AST", () => {
    expect(parseFilter("(a eq 1 or b eq 2) and c eq 3")).toStrictEqual(and(or(a, b), c));
    expect(parseFilter("a eq 1 and (b eq 2 or c eq 3)")).toStrictEqual(and(a, or(b, c)));
    expect(parseFilter("a eq 1 and (b eq 2 and c eq 3)")).toStrictEqual(and(a, and(b, c)));
    expect(parseFilter("((a eq 1))")).toStrictEqual(a);
    expect(parseFilter("( a eq 1 )")).toStrictEqual(a);
  });

  it("not applies to its parenthesised filter only", () => {
    expect(parseFilter("not (a eq 1) and b eq 2")).toStrictEqual(and(not(a), b));
    expect(parseFilter("not (a eq 1 and b eq 2)")).toStrictEqual(not(and(a, b)));
    expect(parseFilter("a eq 1 or not (b eq 2)")).toStrictEqual(or(a, not(b)));
    expect(parseFilter("not (not (a eq 1))")).toStrictEqual(not(not(a)));
    expect(parseFilter("not(a eq 1)")).toStrictEqual(not(a));
  });

  it("value filters hold logical expressions, not and grouping", () => {
    expect(parseFilter('emails[not (type eq "work")]')).toStrictEqual(vp(p("emails"), not(cmp(p("type"), "eq", "work"))));
    expect(parseFilter('emails[type eq "work" or (value co "x" and primary eq true)]')).toStrictEqual(
      vp(p("emails"), or(cmp(p("type"), "eq", "work"), and(cmp(p("value"), "co", "x"), cmp(p("primary"), "eq", true)))),
    );
    expect(parseFilter("emails[value pr]")).toStrictEqual(vp(p("emails"), pr(p("value"))));
  });

  it("accepts `(` right after a logical operator and any whitespace between tokens", () => {
    expect(parseFilter("a eq 1 and(b eq 2)")).toStrictEqual(and(a, b));
    expect(parseFilter("(a eq 1)or(b eq 2)")).toStrictEqual(or(a, b));
    expect(parseFilter("  a\teq\t1\r\nand\n b  eq   2  ")).toStrictEqual(and(a, b));
  });

  it("reads keywords used as attribute names as attribute names", () => {
    expect(parseFilter('not eq "x"')).toStrictEqual(cmp(p("not"), "eq", "x"));
    expect(parseFilter("and pr")).toStrictEqual(pr(p("and")));
    expect(parseFilter('a pr and or eq "x"')).toStrictEqual(and(pr(p("a")), cmp(p("or"), "eq", "x")));
    expect(parseFilter("not[a pr]")).toStrictEqual(vp(p("not"), pr(p("a"))));
    expect(parseFilter("a pr or and[b pr]")).toStrictEqual(or(pr(p("a")), vp(p("and"), pr(p("b")))));
  });
});

describe("parseFilter: case-insensitive keywords and operators", () => {
  it.each(["eq", "EQ", "Eq", "eQ"])("operator %s", (op) => {
    expect(parseFilter(`a ${op} "x"`)).toStrictEqual(cmp(p("a"), "eq", "x"));
  });

  it("every comparison operator in upper case", () => {
    for (const op of ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"] as const) {
      expect(parseFilter(`a ${op.toUpperCase()} "x"`)).toStrictEqual(cmp(p("a"), op, "x"));
    }
  });

  it("pr, and, or, not in any case", () => {
    expect(parseFilter("a PR")).toStrictEqual(pr(p("a")));
    expect(parseFilter("a Pr AND b pR")).toStrictEqual(and(pr(p("a")), pr(p("b"))));
    expect(parseFilter("a pr Or b pr")).toStrictEqual(or(pr(p("a")), pr(p("b"))));
    expect(parseFilter("NOT (a pr)")).toStrictEqual(not(pr(p("a"))));
    expect(parseFilter("a pr AnD Not (b pr)")).toStrictEqual(and(pr(p("a")), not(pr(p("b")))));
  });

  it("true, false, null in any case", () => {
    expect(parseFilter("a eq True")).toStrictEqual(cmp(p("a"), "eq", true));
    expect(parseFilter("a eq FALSE")).toStrictEqual(cmp(p("a"), "eq", false));
    expect(parseFilter("a eq NULL")).toStrictEqual(cmp(p("a"), "eq", null));
    expect(parseFilter("a eq nUlL")).toStrictEqual(cmp(p("a"), "eq", null));
  });

  it("quoted keywords are strings", () => {
    expect(parseFilter('a eq "true"')).toStrictEqual(cmp(p("a"), "eq", "true"));
    expect(parseFilter('a eq "null"')).toStrictEqual(cmp(p("a"), "eq", "null"));
    expect(parseFilter('a eq "and"')).toStrictEqual(cmp(p("a"), "eq", "and"));
  });
});

describe("parseFilter: literals", () => {
  it.each([
    ["0", 0],
    ["42", 42],
    ["-7", -7],
    ["3.25", 3.25],
    ["-0.5", -0.5],
    ["1e3", 1000],
    ["1E3", 1000],
    ["2.5e-3", 0.0025],
    ["-1.5E+2", -150],
    ["9007199254740993", 9007199254740992],
  ])("number %s", (text, value) => {
    expect(parseFilter(`a gt ${text}`)).toStrictEqual(cmp(p("a"), "gt", value));
  });

  it("keeps the sign of -0", () => {
    const f = parseFilter("a eq -0") as { value: number };
    expect(Object.is(f.value, -0)).toBe(true);
  });

  it.each(["01", "1.", ".5", "+1", "1e", "1e+", "--1", "1.2.3", "0x10", "1e400", "-", "12abc", "NaN", "Infinity", "-Infinity"])(
    "rejects the malformed number %s in strict mode",
    (text) => {
      expectInvalid(`a eq ${text}`, 6);
    },
  );

  it("booleans and null", () => {
    expect(parseFilter("active eq true")).toStrictEqual(cmp(p("active"), "eq", true));
    expect(parseFilter("active ne false")).toStrictEqual(cmp(p("active"), "ne", false));
    expect(parseFilter("nickName eq null")).toStrictEqual(cmp(p("nickName"), "eq", null));
  });

  it("JSON string escapes", () => {
    expect(parseFilter('a eq "say \\"hi\\""')).toStrictEqual(cmp(p("a"), "eq", 'say "hi"'));
    expect(parseFilter('a eq "back\\\\slash"')).toStrictEqual(cmp(p("a"), "eq", "back\\slash"));
    expect(parseFilter('a eq "\\\\"')).toStrictEqual(cmp(p("a"), "eq", "\\"));
    expect(parseFilter('a eq "caf\\u00e9"')).toStrictEqual(cmp(p("a"), "eq", "café"));
    expect(parseFilter('a eq "\\u00C9"')).toStrictEqual(cmp(p("a"), "eq", "É"));
    expect(parseFilter('a eq "\\ud83d\\ude00"')).toStrictEqual(cmp(p("a"), "eq", "😀"));
    expect(parseFilter('a eq "\\/\\b\\f\\n\\r\\t"')).toStrictEqual(cmp(p("a"), "eq", "/\b\f\n\r\t"));
    expect(parseFilter('a eq ""')).toStrictEqual(cmp(p("a"), "eq", ""));
  });

  it("an escaped quote does not end the string, an escaped backslash before a quote does", () => {
    expect(parseFilter('a eq "x\\"" and b pr')).toStrictEqual(and(cmp(p("a"), "eq", 'x"'), pr(p("b"))));
    expect(parseFilter('a eq "x\\\\" and b pr')).toStrictEqual(and(cmp(p("a"), "eq", "x\\"), pr(p("b"))));
  });

  it("strings hold any Unicode verbatim, including filter syntax", () => {
    for (const s of ["😀", "👩‍💻 dev", "中文用户", "日本語テキスト", "Ωμέγα", "עברית", "a\u0301", "\u00a0nbsp", ") or (a pr", "]", "x and y", "'single'"]) {
      expect(parseFilter(`displayName eq ${JSON.stringify(s)}`)).toStrictEqual(cmp(p("displayName"), "eq", s));
    }
  });

  it("string literals may follow any operator, including ordering ones", () => {
    expect(parseFilter('a lt "m"')).toStrictEqual(cmp(p("a"), "lt", "m"));
    expect(parseFilter('a ew "@example.com"')).toStrictEqual(cmp(p("a"), "ew", "@example.com"));
  });
});

describe("parseFilter: attribute paths", () => {
  it("URN-qualified core attribute with sub-attribute", () => {
    expect(parseFilter(`${USER}:name.givenName eq "Barbara"`)).toStrictEqual(cmp(p("name", "givenName", USER), "eq", "Barbara"));
  });

  it("URN-qualified extension attribute", () => {
    expect(parseFilter(`${ENTERPRISE}:employeeNumber eq "1"`)).toStrictEqual(cmp(p("employeeNumber", undefined, ENTERPRISE), "eq", "1"));
    expect(parseFilter(`${ENTERPRISE}:manager.value eq "m1"`)).toStrictEqual(cmp(p("manager", "value", ENTERPRISE), "eq", "m1"));
    expect(parseFilter(`${ENTERPRISE}:employeeNumber pr`)).toStrictEqual(pr(p("employeeNumber", undefined, ENTERPRISE)));
  });

  it("URN-qualified value filter", () => {
    expect(parseFilter(`${USER}:emails[type eq "work"]`)).toStrictEqual(vp(p("emails", undefined, USER), cmp(p("type"), "eq", "work")));
  });

  it("Entra's dotted spelling splits at the last ':' (the registry resolves it)", () => {
    expect(parseFilter(`${ENTERPRISE}.employeeNumber eq "1"`)).toStrictEqual(
      cmp(p("User", "employeeNumber", "urn:ietf:params:scim:schemas:extension:enterprise:2.0"), "eq", "1"),
    );
  });

  it("$ref, digits, hyphens and underscores in names", () => {
    expect(parseFilter('members[$ref eq "x"]')).toStrictEqual(vp(p("members"), cmp(p("$ref"), "eq", "x")));
    expect(parseFilter('groups.$ref pr')).toStrictEqual(pr(p("groups", "$ref")));
    expect(parseFilter("x509Certificates pr")).toStrictEqual(pr(p("x509Certificates")));
    expect(parseFilter("my_attr-2 pr")).toStrictEqual(pr(p("my_attr-2")));
  });

  it.each([
    ["a.b.c eq 1", 1],
    [":a eq 1", 1],
    ["a: eq 1", 1],
    ["1a eq 1", 1],
    ["_a eq 1", 1],
    ["a. eq 1", 1],
    [".a eq 1", 1],
    ["a eq 1 and b..c pr", 12],
  ])("rejects the malformed path in %s", (text, at) => {
    expectInvalid(text, at);
  });

  it("rejects non-ASCII attribute names", () => {
    expectInvalid('näme eq "x"', 2);
    expectInvalid('名前 eq "x"', 1);
  });
});

describe("parseFilter: invalid filters are 400 invalidFilter with a position", () => {
  it.each([
    // missing value
    ["userName eq", 12],
    ["userName eq ", 13],
    ['userName eq  and b eq "x"', 14],
    ["userName eq )", 13],
    ["(userName eq)", 13],
    ["emails[type eq]", 15],
    // unknown operator, missing operator
    ['userName xx "bjensen"', 10],
    ['userName equals "bjensen"', 10],
    ['userName = "bjensen"', 10],
    ['userName == "bjensen"', 10],
    ['userName "bjensen"', 10],
    ["userName", 9],
    ['userName pr "x"', 13],
    // `$` must start a name such as `$ref`, not stand alone
    ["$ pr", 1],
    ["members.$ pr", 1],
    ['$1 eq "x"', 1],
    // unbalanced parentheses, both directions
    ['(userName eq "x"', 1],
    ['((userName eq "x")', 1],
    ['userName eq "x")', 16],
    ['(userName eq "x"))', 18],
    [")(", 1],
    ["()", 2],
    // unbalanced brackets, both directions
    ['emails[type eq "work"', 7],
    ['emails[type eq "work" and value pr', 7],
    ['emails type eq "work"]', 8],
    ['emails[type eq "work"]]', 23],
    ["emails[]", 8],
    ['emails[type eq "work")', 7],
    ['(emails[type eq "work")]', 8],
    // leading or trailing logical operator
    ['and userName eq "x"', 1],
    ['or userName eq "x"', 1],
    ['userName eq "x" and', 17],
    ['userName eq "x" or', 17],
    ['userName eq "x" and ', 21],
    ['userName eq "x" or or userName eq "y"', 20],
    ['userName eq "x" and and', 21],
    ['(and userName eq "x")', 2],
    // (a trailing operator before ')' is reported as the unclosed '(')
    ['(userName eq "x" or)', 1],
    // single quotes
    ["userName eq 'bjensen'", 13],
    [`name.familyName co 'O\\'Malley'`, 20],
    // unquoted string value in strict mode
    ["userName eq bjensen", 13],
    ["externalId eq jyoung", 15],
    // not without parentheses
    ['not userName eq "x"', 1],
    ['userName pr and not userName eq "x"', 17],
    ["not", 1],
    // nested value filter
    ["a[b[c eq 1]]", 4],
    ['emails[type[value eq "x"]]', 12],
    // unterminated string
    ['userName eq "bjensen', 13],
    ['userName eq "bjensen\\"', 13],
    ['userName eq "', 13],
    // bad escapes
    ['userName eq "a\\qb"', 15],
    ['userName eq "a\\u00g0"', 15],
    ['userName eq "a\\u12"', 15],
    ['userName eq "a\\x41"', 15],
    // junk after a complete expression
    ['userName eq "x" "y"', 17],
    ['userName eq "x"y', 16],
    ['userName eq "x" andb pr', 17],
    ["title pr x", 10],
    // value filter on a sub-attribute, not on an attribute
    ['emails.value[type eq "work"]', 13],
    // no space after the operator
    ['userName eq"x"', 12],
  ])("%s", (text, at) => {
    expectInvalid(text, at);
  });

  it.each(["", " ", "   ", "\t\r\n"])("empty or whitespace-only filter %j", (text) => {
    expectInvalid(text);
  });

  it("names the offending position in the detail", () => {
    expect(expectInvalid('userName eq "x" and title xx "y"')).toMatch(/unknown operator 'xx' at position 27/);
  });

  it("rejects a filter that is not a string", () => {
    for (const bad of [undefined, null, 42, {}, ["a pr"]]) {
      let thrown: unknown;
      try {
        parseFilter(bad as unknown as string);
      } catch (e) {
        thrown = e;
      }
      expect(isScimError(thrown)).toBe(true);
      expect(isScimError(thrown) && thrown.status === 400 && thrown.scimType === "invalidFilter").toBe(true);
    }
  });
});

describe("parseFilter: limits and pathological input", () => {
  it("100,000 nested parentheses: 400, no stack overflow", () => {
    const text = "(".repeat(100_000) + "a pr" + ")".repeat(100_000);
    expectInvalid(text);
  });

  it("100,000 nested parentheses with the length limit lifted: 400 from the depth limit", () => {
    const text = "(".repeat(100_000) + "a pr" + ")".repeat(100_000);
    expect(expectInvalid(text, 33, { maxLength: Infinity })).toMatch(/nested deeper than 32/);
    expectInvalid("not (".repeat(100_000) + "a pr" + ")".repeat(100_000), undefined, { maxLength: Infinity });
    expectInvalid("(".repeat(100_000), undefined, { maxLength: Infinity });
    expectInvalid(")".repeat(100_000), 1, { maxLength: Infinity });
  });

  it("a 1 MB filter: 400", () => {
    const text = 'userName eq "x" or '.repeat(55_189) + 'userName eq "y"';
    expect(text.length).toBeGreaterThan(1_048_576);
    expect(expectInvalid(text)).toMatch(/longer than 32768/);
  });

  it("a 1 MB filter within a raised maxLength parses (iteratively)", () => {
    const text = 'userName eq "x" or '.repeat(55_189) + 'userName eq "y"';
    let f = parseFilter(text, { maxLength: Infinity });
    expect(f.type === "logical" && f.right).toStrictEqual(cmp(p("userName"), "eq", "y"));
    let operands = 1;
    let shapeOk = true;
    while (f.type === "logical") {
      const r = f.right;
      if (f.op !== "or" || r.type !== "compare" || r.path.attr !== "userName" || (operands > 1 && r.value !== "x")) shapeOk = false;
      f = f.left;
      operands++;
    }
    expect(shapeOk).toBe(true);
    expect(f).toStrictEqual(cmp(p("userName"), "eq", "x"));
    expect(operands).toBe(55_190);
  });

  it("1 MB of letters, spaces or escapes is handled without blowing up", () => {
    expectInvalid("not " + "x".repeat(1 << 20), 1, { maxLength: Infinity });
    expectInvalid(" ".repeat(1 << 20), undefined, { maxLength: Infinity });
    expect(parseFilter('a eq "' + "\\n".repeat(1 << 19) + '"', { maxLength: Infinity })).toStrictEqual(cmp(p("a"), "eq", "\n".repeat(1 << 19)));
  });

  it("honours maxLength and maxDepth", () => {
    expectInvalid("a pr", 4, { maxLength: 3 });
    expect(parseFilter("a pr", { maxLength: 4 })).toStrictEqual(pr(p("a")));
    expect(parseFilter("((a pr))", { maxDepth: 2 })).toStrictEqual(pr(p("a")));
    expectInvalid("(((a pr)))", 3, { maxDepth: 2 });
    expectInvalid("not (not (not (a pr)))", undefined, { maxDepth: 2 });
    expect(parseFilter("(x[a pr])", { maxDepth: 2 })).toStrictEqual(vp(p("x"), pr(p("a"))));
    expectInvalid("((x[a pr]))", 4, { maxDepth: 2 });
  });

  it("the default depth limit accepts 32 levels and rejects 33", () => {
    expect(parseFilter("(".repeat(32) + "a pr" + ")".repeat(32))).toStrictEqual(pr(p("a")));
    expectInvalid("(".repeat(33) + "a pr" + ")".repeat(33), 33);
  });

  it("the default length limit is 32768 characters", () => {
    const ok = 'a eq "' + "x".repeat(32768 - 7) + '"';
    expect(ok.length).toBe(32768);
    expect(parseFilter(ok)).toStrictEqual(cmp(p("a"), "eq", "x".repeat(32768 - 7)));
    expectInvalid(ok + " ", 32769);
  });
});

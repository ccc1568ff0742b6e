import { describe, it, expect } from "vitest";
import { and, cmp, not, or, p, pr, vp } from "../test-support.js";
import type { AttrPath, Filter, FilterValue, CompareOperator } from "./ast.js";
import { parseFilter } from "./parser.js";
import { printAttrPath, printFilter } from "./print.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";


const a = pr(p("a"));
const b = pr(p("b"));
const c = pr(p("c"));
const d = pr(p("d"));

describe("printAttrPath", () => {
  it("renders plain, sub-attribute, URN-qualified and URN-qualified sub-attribute paths", () => {
    expect(printAttrPath(p("userName"))).toBe("userName");
    expect(printAttrPath(p("name", "givenName"))).toBe("name.givenName");
    expect(printAttrPath(p("userName", undefined, USER))).toBe(`${USER}:userName`);
    expect(printAttrPath(p("manager", "value", ENTERPRISE))).toBe(`${ENTERPRISE}:manager.value`);
  });
});

describe("printFilter", () => {
  it("comparisons with every literal kind, as JSON", () => {
    expect(printFilter(cmp(p("userName"), "eq", "bjensen"))).toBe('userName eq "bjensen"');
    expect(printFilter(cmp(p("age"), "ge", 42))).toBe("age ge 42");
    expect(printFilter(cmp(p("score"), "lt", -1.5))).toBe("score lt -1.5");
    expect(printFilter(cmp(p("big"), "gt", 1e21))).toBe("big gt 1e+21");
    expect(printFilter(cmp(p("tiny"), "gt", 5e-324))).toBe("tiny gt 5e-324");
    expect(printFilter(cmp(p("neg"), "eq", -0))).toBe("neg eq -0");
    expect(printFilter(cmp(p("active"), "eq", true))).toBe("active eq true");
    expect(printFilter(cmp(p("active"), "ne", false))).toBe("active ne false");
    expect(printFilter(cmp(p("nickName"), "eq", null))).toBe("nickName eq null");
  });

  it("escapes strings as JSON and keeps other Unicode verbatim", () => {
    expect(printFilter(cmp(p("a"), "eq", 'say "hi" \\ now'))).toBe('a eq "say \\"hi\\" \\\\ now"');
    expect(printFilter(cmp(p("a"), "eq", "line\nbreak\ttab"))).toBe('a eq "line\\nbreak\\ttab"');
    expect(printFilter(cmp(p("a"), "co", "O'Malley"))).toBe(`a co "O'Malley"`);
    expect(printFilter(cmp(p("a"), "eq", "😀 中文 é"))).toBe('a eq "😀 中文 é"');
  });

  it("every operator in lower case", () => {
    for (const op of ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"] as const) {
      expect(printFilter(cmp(p("x"), op, "v"))).toBe(`x ${op} "v"`);
    }
    expect(printFilter(pr(p("title")))).toBe("title pr");
  });

  it("not and value filters", () => {
    expect(printFilter(not(a))).toBe("not (a pr)");
    expect(printFilter(not(and(a, b)))).toBe("not (a pr and b pr)");
    expect(printFilter(vp(p("emails"), and(cmp(p("type"), "eq", "work"), cmp(p("value"), "co", "@example.com"))))).toBe(
      'emails[type eq "work" and value co "@example.com"]',
    );
    expect(printFilter(vp(p("emails", undefined, USER), not(pr(p("value")))))).toBe(`${USER}:emails[not (value pr)]`);
  });

  it("parentheses exactly where the tree needs them", () => {
    // Left-deep chains of one operator: none.
    expect(printFilter(and(and(a, b), c))).toBe("a pr and b pr and c pr");
    expect(printFilter(or(or(a, b), c))).toBe("a pr or b pr or c pr");
    // and under or: none, on either side.
    expect(printFilter(or(and(a, b), and(c, d)))).toBe("a pr and b pr or c pr and d pr");
    // or under and: always, on either side.
    expect(printFilter(and(or(a, b), c))).toBe("(a pr or b pr) and c pr");
    expect(printFilter(and(a, or(b, c)))).toBe("a pr and (b pr or c pr)");
    // A right child of the same operator: needed to keep the tree's shape.
    expect(printFilter(and(a, and(b, c)))).toBe("a pr and (b pr and c pr)");
    expect(printFilter(or(a, or(b, c)))).toBe("a pr or (b pr or c pr)");
    // Inside brackets the same rules apply.
    expect(printFilter(vp(p("x"), and(or(a, b), c)))).toBe("x[(a pr or b pr) and c pr]");
  });

  it("prints the Entra tail form as the equivalent single value filter", () => {
    expect(printFilter(parseFilter('emails[type eq "work"].value eq "a@b"'))).toBe('emails[type eq "work" and value eq "a@b"]');
  });

  it("canonicalises case and spacing of parsed input", () => {
    expect(printFilter(parseFilter('  userName  EQ "x"  AND  NOT(title PR)  '))).toBe('userName eq "x" and not (title pr)');
    expect(printFilter(parseFilter("((a pr))"))).toBe("a pr");
    expect(printFilter(parseFilter("a eq 1E3"))).toBe("a eq 1000");
    expect(printFilter(parseFilter("a eq TRUE"))).toBe("a eq true");
    expect(printFilter(parseFilter("externalId eq jyoung", { lenient: true }))).toBe('externalId eq "jyoung"');
  });
});

describe("parseFilter(printFilter(ast)) deep-equals ast", () => {
  const examples = [
    // RFC 7644 §3.4.2.2
    'userName eq "bjensen"',
    `name.familyName co "O'Malley"`,
    'userName sw "J"',
    `${USER}:userName sw "J"`,
    "title pr",
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'meta.lastModified ge "2011-05-13T04:42:34Z"',
    'meta.lastModified lt "2011-05-13T04:42:34Z"',
    'meta.lastModified le "2011-05-13T04:42:34Z"',
    'title pr and userType eq "Employee"',
    'title pr or userType eq "Intern"',
    `schemas eq "${ENTERPRISE}"`,
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    'userType eq "Employee" and (emails.type eq "work")',
    'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    // Identity providers
    'userName eq "x@y"',
    'emails[type eq "work"].value eq "user@contoso.com"',
    'emails[type eq "work" or type eq "home"].value pr',
    'displayName eq "Sales Team"',
    `${ENTERPRISE}:employeeNumber eq "1"`,
    `${ENTERPRISE}.employeeNumber eq "1"`,
    'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
    // Precedence, case, literals
    "a eq 1 or b eq 2 and c eq 3",
    "a eq 1 and b eq 2 or c eq 3",
    "(a eq 1 or b eq 2) and c eq 3",
    "a eq 1 and (b eq 2 and c eq 3)",
    "a eq 1 or (b eq 2 or c eq 3)",
    "not (not (a eq 1)) and not (b pr or c pr)",
    'emails[not (type eq "work") and (value co "x" or primary eq true)]',
    "a Pr AND b pR Or NOT (c PR)",
    "a eq True and b eq FALSE and c eq NULL",
    "a gt -1.5e3 and b lt 0 and c eq 9007199254740993 and d eq -0",
    'a eq "\\"\\\\\\u00e9\\ud83d\\ude00\\n\\t\\/"',
    'a eq "😀中文" and b eq ""',
    'members[$ref eq "x"] and groups.$ref pr',
    'not eq "x" and and pr or or[a pr] or not[b pr]',
  ];
  it.each(examples)("%s", (text) => {
    const ast = parseFilter(text);
    const printed = printFilter(ast);
    expect(parseFilter(printed)).toStrictEqual(ast);
    // Printing is canonical: a second round trip prints the same text.
    expect(printFilter(parseFilter(printed))).toBe(printed);
  });

  it("keeps -0 distinct from 0", () => {
    const printed = printFilter(cmp(p("a"), "eq", -0));
    const back = parseFilter(printed) as { value: number };
    expect(Object.is(back.value, -0)).toBe(true);
  });

  it("hand-built trees with right-nested chains keep their shape", () => {
    const trees = [and(a, and(b, and(c, d))), or(a, or(b, or(c, d))), or(and(a, or(b, c)), not(and(c, or(d, a)))), vp(p("e"), or(a, and(b, or(c, d))))];
    for (const t of trees) expect(parseFilter(printFilter(t))).toStrictEqual(t);
  });
});

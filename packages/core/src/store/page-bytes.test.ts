import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { estimateResourceBytes, jsonLength, MEMBER_JSON_BYTES, utf8Length } from "./page-bytes.js";

describe("utf8Length", () => {
  it("is the length TextEncoder gives, without encoding (ASCII, 2-, 3- and 4-byte characters)", () => {
    for (const text of ["", "ascii", "é", "€uro", "日本語", "😀 emoji", "a\u0000b", "ߟ", "\u0800", "\uffff", "\u{10ffff}"]) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(new TextEncoder().encode(text).length);
    }
    fc.assert(fc.property(fc.string({ unit: "grapheme" }), (text) => utf8Length(text) === new TextEncoder().encode(text).length));
  });
});

describe("jsonLength", () => {
  it("is JSON.stringify(value).length for any JSON value, without writing it", () => {
    const cases: unknown[] = [
      {},
      [],
      "",
      'quote " and backslash \\',
      "control \u0001 and newline \n",
      "lone \ud800 surrogate",
      "pair 😀",
      { a: undefined, b: 1 },
      [undefined, null],
      { nested: { list: [1, -2.5e-7, true, false, null, "x"] } },
      Object.create(null),
      { "key \"quoted\"": 1 },
    ];
    for (const value of cases) expect(jsonLength(value), JSON.stringify(value)).toBe(JSON.stringify(value).length);
    fc.assert(fc.property(fc.jsonValue(), (value) => jsonLength(value) === JSON.stringify(value).length));
    fc.assert(fc.property(fc.object({ withNullPrototype: true, withBoxedValues: false }), (value) => jsonLength(value) === JSON.stringify(value).length));
  });

  it("weighs a resource as its attributes' JSON and a fixed size per member", () => {
    const attributes = { displayName: "Sales", externalId: "é" };
    expect(estimateResourceBytes(attributes, 3)).toBe(JSON.stringify(attributes).length + 3 * MEMBER_JSON_BYTES);
  });
});

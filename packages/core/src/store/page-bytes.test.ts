import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8Length } from "./page-bytes.js";

describe("utf8Length", () => {
  it("is the length TextEncoder gives, without encoding (ASCII, 2-, 3- and 4-byte characters)", () => {
    for (const text of ["", "ascii", "é", "€uro", "日本語", "😀 emoji", "a\u0000b", "ߟ", "\u0800", "\uffff", "\u{10ffff}"]) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(new TextEncoder().encode(text).length);
    }
    fc.assert(fc.property(fc.string({ unit: "grapheme" }), (text) => utf8Length(text) === new TextEncoder().encode(text).length));
  });
});

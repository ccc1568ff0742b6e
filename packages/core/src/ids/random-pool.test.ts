import { describe, expect, it } from "vitest";
import { randomHex } from "./random-pool.js";

describe("randomHex", () => {
  it("gives fresh lower-case hex of the asked length, never repeated across pool refills", () => {
    const values = Array.from({ length: 2_000 }, () => randomHex(12));
    expect(values.every((v) => /^[0-9a-f]{24}$/.test(v))).toBe(true);
    expect(new Set(values).size).toBe(values.length);
    expect(randomHex(0)).toBe("");
  });

  it("refuses more bytes than its pool holds", () => {
    expect(() => randomHex(4097)).toThrow(RangeError);
  });
});

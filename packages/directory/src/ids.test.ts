import { describe, expect, it } from "vitest";
import { newId } from "./ids.js";

describe("newId", () => {
  it("is the prefix and 96 random bits in hex, never repeated across pool refills", () => {
    const ids = Array.from({ length: 2000 }, () => newId("aud"));
    expect(ids.every((id) => /^aud_[0-9a-f]{24}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

import { describe, expect, it } from "vitest";
import { timeOrderedUuid } from "./time-ordered-uuid.js";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("timeOrderedUuid (RFC 9562 version 7)", () => {
  it("is a version 7, variant 10 UUID whose first 48 bits are the time in milliseconds", () => {
    const at = Date.parse("2026-11-25T12:34:56.789Z");
    const id = timeOrderedUuid(at);
    expect(id).toMatch(V7);
    expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(at);
  });

  it("sorts by creation time across milliseconds, and is unique", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => timeOrderedUuid(1_700_000_000_000 + Math.floor(i / 10)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 10; i < ids.length; i += 10) expect(ids[i - 1]! < ids[i]!).toBe(true);
    expect(ids.every((id) => V7.test(id))).toBe(true);
  });
});

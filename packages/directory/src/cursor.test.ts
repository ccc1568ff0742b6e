import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "./cursor.js";

const base64 = (text: string) => Buffer.from(text).toString("base64url");

describe("paging cursors", () => {
  const at = "2026-11-26T04:00:00.000Z";

  it("round-trip a seq and a creation time with an id; no cursor (or an empty one) is the first page", () => {
    expect(decodeCursor(encodeCursor({ seq: 42 }), "seq")).toBe(42);
    expect(decodeCursor(encodeCursor({ seq: 0 }), "seq")).toBe(0);
    expect(decodeCursor(encodeCursor({ created: at, id: "dir_0123456789abcdef01234567" }), "created")).toEqual({ created: at, id: "dir_0123456789abcdef01234567" });
    expect(decodeCursor(undefined, "seq")).toBeUndefined();
    expect(decodeCursor("", "created")).toBeUndefined();
    // URL-safe as they are.
    expect(encodeCursor({ created: at, id: "dir_\u00ff?&=/+" })).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("users and groups cursors keep the format they had: { v: 1, seq }", () => {
    expect(encodeCursor({ seq: 7 })).toBe(base64(JSON.stringify({ v: 1, seq: 7 })));
    expect(decodeCursor(base64('{"v":1,"seq":7}'), "seq")).toBe(7);
  });

  it("anything else is a 400 invalid_cursor: garbage, not JSON, another version, a bad value, another list's cursor", () => {
    const invalid = { status: 400, code: "invalid_cursor", message: "the cursor is not valid" };
    const seqs = ["garbage", "%%%", base64("{"), base64("null"), base64("[1]"), base64('{"v":2,"seq":1}'), base64('{"v":1,"seq":-1}'), base64('{"v":1,"seq":1.5}'), base64('{"v":1,"seq":"1"}'), base64(`{"v":1,"seq":${2 ** 53}}`)];
    for (const cursor of seqs) expect(() => decodeCursor(cursor, "seq"), cursor).toThrow(expect.objectContaining(invalid));
    const directories = [
      "garbage",
      "dir_0123456789abcdef01234567",
      base64(JSON.stringify({ v: 1, id: "dir_1" })),
      base64(JSON.stringify({ v: 1, created: at, id: "" })),
      base64(JSON.stringify({ v: 1, created: at, id: 7 })),
      base64(JSON.stringify({ v: 1, created: "yesterday", id: "dir_1" })),
      base64(JSON.stringify({ v: 1, created: at, id: "x".repeat(201) })),
    ];
    for (const cursor of directories) expect(() => decodeCursor(cursor, "created"), cursor).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(encodeCursor({ created: at, id: "dir_1" }), "seq")).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(encodeCursor({ seq: 1 }), "created")).toThrow(expect.objectContaining(invalid));
  });
});

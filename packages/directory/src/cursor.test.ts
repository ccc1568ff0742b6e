import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, filtersKey } from "./cursor.js";

const base64 = (text: string) => Buffer.from(text).toString("base64url");

describe("paging cursors", () => {
  const at = "2026-11-26T04:00:00.000Z";
  const users = { list: "users", directoryId: "dir_0123456789abcdef01234567" } as const;
  const groups = { list: "groups", directoryId: "dir_0123456789abcdef01234567" } as const;
  const directories = { list: "directories" } as const;
  const invalid = { status: 400, code: "invalid_cursor", message: "the cursor is not valid" };

  it("round-trip a seq and a creation time with an id; no cursor (or an empty one) is the first page", () => {
    expect(decodeCursor(encodeCursor(users, { seq: 42 }), users)).toBe(42);
    expect(decodeCursor(encodeCursor(groups, { seq: 0 }), groups)).toBe(0);
    expect(decodeCursor(encodeCursor(directories, { created: at, id: "dir_0123456789abcdef01234567" }), directories)).toEqual({ created: at, id: "dir_0123456789abcdef01234567" });
    expect(decodeCursor(undefined, users)).toBeUndefined();
    expect(decodeCursor("", directories)).toBeUndefined();
    // URL-safe as they are, and short enough for the lists' query (200 characters at most).
    expect(encodeCursor(directories, { created: at, id: "dir_\u00ff?&=/+" })).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(encodeCursor(groups, { seq: Number.MAX_SAFE_INTEGER }).length).toBeLessThan(200);
  });

  it("a cursor names the list it pages: another list's, or the same list of another directory, is a 400 invalid_cursor", () => {
    const other = { list: "users", directoryId: "dir_ffffffffffffffffffffffff" } as const;
    expect(() => decodeCursor(encodeCursor(users, { seq: 7 }), groups)).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(encodeCursor(users, { seq: 7 }), other)).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(encodeCursor(groups, { seq: 7 }), users)).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(encodeCursor(directories, { created: at, id: "dir_1" }), users)).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(encodeCursor(users, { seq: 7 }), directories)).toThrow(expect.objectContaining(invalid));
    // The same list with other filters; the filters travel as a digest, not as their values.
    const active = { ...users, filters: filtersKey({ state: "active", email: undefined }) };
    expect(active.filters).toBe(filtersKey({ email: undefined, state: "active" }));
    expect(filtersKey({ email: undefined })).toBeUndefined();
    expect(decodeCursor(encodeCursor(active, { seq: 7 }), active)).toBe(7);
    expect(() => decodeCursor(encodeCursor(active, { seq: 7 }), users)).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(encodeCursor(users, { seq: 7 }), active)).toThrow(expect.objectContaining(invalid));
    const secret = { ...users, filters: filtersKey({ email: "ann@acme.test" }) };
    expect(Buffer.from(encodeCursor(secret, { seq: 7 }), "base64url").toString()).not.toContain("ann@");
    // A directories cursor's time is one as stored (toISOString): the list compares the text, and
    // "1" (which Date.parse takes) paged from an arbitrary place.
    for (const created of ["1", "+275760-09-13T00:00:00.000Z", "2026-11-25", "2026-11-25T10:00:00Z", "2026-02-30T10:00:00.000Z", "2026-11-25T10:00:00.000+00:00"]) {
      expect(() => decodeCursor(base64(JSON.stringify({ v: 2, list: "directories", created, id: "dir_0" })), directories), created).toThrow(expect.objectContaining(invalid));
    }
  });

  it("cursors of the previous format: a directories one still pages the directories; a users or groups one (which says neither which list nor which directory) is refused", () => {
    expect(decodeCursor(base64(JSON.stringify({ v: 1, created: at, id: "dir_1" })), directories)).toEqual({ created: at, id: "dir_1" });
    expect(() => decodeCursor(base64('{"v":1,"seq":7}'), users)).toThrow(expect.objectContaining(invalid));
    expect(() => decodeCursor(base64('{"v":1,"seq":7}'), groups)).toThrow(expect.objectContaining(invalid));
  });

  it("anything else is a 400 invalid_cursor: garbage, not JSON, another version, a bad value", () => {
    const seq = (value: unknown) => base64(JSON.stringify({ v: 2, ...users, seq: value }));
    const seqs = ["garbage", "%%%", base64("{"), base64("null"), base64("[1]"), base64(JSON.stringify({ v: 3, ...users, seq: 1 })), seq(-1), seq(1.5), seq("1"), seq(2 ** 53), seq(undefined)];
    for (const cursor of seqs) expect(() => decodeCursor(cursor, users), cursor).toThrow(expect.objectContaining(invalid));
    const created = (fields: Record<string, unknown>) => base64(JSON.stringify({ v: 2, list: "directories", ...fields }));
    const directoryCursors = [
      "garbage",
      "dir_0123456789abcdef01234567",
      created({ id: "dir_1" }),
      created({ created: at, id: "" }),
      created({ created: at, id: 7 }),
      created({ created: "yesterday", id: "dir_1" }),
      created({ created: at, id: "x".repeat(201) }),
      base64(JSON.stringify({ v: 1, id: "dir_1" })),
    ];
    for (const cursor of directoryCursors) expect(() => decodeCursor(cursor, directories), cursor).toThrow(expect.objectContaining(invalid));
  });
});

/**
 * List cursors (RFC 9865) are sealed with the database's key (migration 0006): a client sees no
 * position of `scim_resources` (numbered across tenants, it told a tenant how much the others
 * wrote), cannot make one up or alter one, and any process on the database continues another's.
 * On SQLite and PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFilter } from "scim-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScimSqlDatabase } from "./dialect.js";
import { sqlStore } from "./sql-store.js";
import { openTestPostgres, openTestSqlite } from "./test-databases.js";

const dialects = [
  {
    name: "SQLite",
    open: async () => {
      const file = join(mkdtempSync(join(tmpdir(), "cursor-")), "db.sqlite");
      return [await openTestSqlite(file), await openTestSqlite(file)] as const;
    },
  },
  {
    name: "PostgreSQL",
    open: async () => {
      const first = await openTestPostgres();
      return first === undefined ? undefined : ([first, (await openTestPostgres())!] as const);
    },
  },
];

for (const dialect of dialects) {
  describe(`list cursors (${dialect.name})`, () => {
    let handles: readonly [ScimSqlDatabase, ScimSqlDatabase] | undefined;
    beforeAll(async () => {
      handles = await dialect.open();
    });
    afterAll(async () => {
      await handles?.[0].destroy();
      await handles?.[1].destroy();
    });

    it("hide the positions, refuse an altered or made-up cursor, and continue on another process's handle", async ({ skip }) => {
      if (!handles) return skip();
      const [one, two] = [sqlStore({ database: handles[0] }), sqlStore({ database: handles[1] })];
      const mine = { tenant: `t-${randomUUID()}` };
      const theirs = { tenant: `t-${randomUUID()}` };
      const user = (store: typeof one, ctx: { tenant: string }, userName: string) =>
        store.create(ctx, "User", { attributes: { userName }, uniqueKeys: [{ attribute: "userName", value: userName }] });
      // Another tenant's writes between each of mine.
      for (let i = 0; i < 6; i++) {
        await user(one, mine, `u${i}`);
        for (let k = 0; k < 3; k++) await user(one, theirs, `t${i}-${k}`);
      }
      const first = await one.query(mine, "User", { cursor: "", count: 2 });
      const cursor = first.nextCursor!;
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      // Nothing readable in it: not JSON, no position.
      expect(() => JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))).toThrow();
      // Sealed afresh each time: two cursors to one place differ.
      expect((await one.query(mine, "User", { cursor: "", count: 2 })).nextCursor).not.toBe(cursor);
      // The other handle (another process on the database) continues it.
      const pages = [first.resources.map((r) => r.attributes.userName)];
      let next: string | undefined = cursor;
      for (const store of [two, one, two]) {
        if (next === undefined) break;
        const page = await store.query(mine, "User", { cursor: next, count: 2 });
        pages.push(page.resources.map((r) => r.attributes.userName));
        next = page.nextCursor;
      }
      expect(pages).toEqual([["u0", "u1"], ["u2", "u3"], ["u4", "u5"]]);
      // One bit changed, a cursor of the old clear form, another query's cursor: 400 invalidCursor.
      const bytes = Buffer.from(cursor, "base64url");
      bytes[bytes.length - 1]! ^= 1;
      const forged = Buffer.from(JSON.stringify({ v: 1, q: "0", seq: 1 })).toString("base64url");
      for (const bad of [bytes.toString("base64url"), forged, "A".repeat(600)]) {
        await expect(one.query(mine, "User", { cursor: bad, count: 2 })).rejects.toMatchObject({ status: 400, scimType: "invalidCursor" });
      }
      // A cursor is only good for its own query.
      const filtered = await one.query(mine, "User", { cursor: "", count: 2, filter: parseFilter('userName sw "u"') });
      expect(filtered.nextCursor).toBeDefined();
      await expect(one.query(mine, "User", { cursor: filtered.nextCursor!, count: 2 })).rejects.toMatchObject({ status: 400, scimType: "invalidCursor" });
      // Nor for another tenant's list, or another resource type's.
      await expect(one.query(theirs, "User", { cursor, count: 2 })).rejects.toMatchObject({ status: 400, scimType: "invalidCursor" });
      await expect(one.query(mine, "Group", { cursor, count: 2 })).rejects.toMatchObject({ status: 400, scimType: "invalidCursor" });
    });
  });
}

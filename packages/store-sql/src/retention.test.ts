/**
 * Retention of soft-deleted resources: `purgeDeletedBefore` removes for good the rows a soft
 * delete kept (RFC 7644 §3.6: the resource is gone for clients; the row stayed for audit), by age,
 * per tenant and type, leaving live resources alone. On SQLite and PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScimSqlDatabase } from "./dialect.js";
import { sqlStore } from "./sql-store.js";
import { openPlannedSqlite, openTestPostgres, openTestSqlite } from "./test-databases.js";

const dialects = [
  { name: "SQLite", open: () => openTestSqlite() },
  { name: "PostgreSQL", open: () => openTestPostgres() },
];

for (const dialect of dialects) {
  describe(`purgeDeletedBefore (${dialect.name})`, () => {
    let database: ScimSqlDatabase | undefined;
    beforeAll(async () => {
      database = await dialect.open();
    });
    afterAll(() => database?.destroy());

    it("removes the tenant's soft-deleted resources of a type deleted before a time, and nothing else", async ({ skip }) => {
      if (!database) return skip();
      let now = new Date("2026-01-01T00:00:00.000Z");
      const store = sqlStore({ database, now: () => now });
      const tenant = { tenant: `t-${randomUUID()}` };
      const other = { tenant: `t-${randomUUID()}` };
      const user = (ctx: { tenant: string }, userName: string) => store.create(ctx, "User", { attributes: { userName }, uniqueKeys: [{ attribute: "userName", value: userName }] });
      const old = await user(tenant, "old");
      const recent = await user(tenant, "recent");
      const live = await user(tenant, "live");
      const elsewhere = await user(other, "old");
      await store.delete(tenant, "User", old.id);
      await store.delete(other, "User", elsewhere.id);
      now = new Date("2026-03-01T00:00:00.000Z");
      await store.delete(tenant, "User", recent.id);
      expect(await store.purgeDeletedBefore(tenant, "User", new Date("2026-02-01T00:00:00.000Z"))).toEqual([old.id]);
      expect(await store.readDeleted(tenant, "User", old.id)).toBeUndefined();
      expect((await store.readDeleted(tenant, "User", recent.id))?.id).toBe(recent.id);
      expect((await store.get(tenant, "User", live.id))?.id).toBe(live.id);
      expect((await store.readDeleted(other, "User", elsewhere.id))?.id).toBe(elsewhere.id);
      expect(await store.purgeDeletedBefore(tenant, "Group", new Date("2027-01-01T00:00:00.000Z"))).toEqual([]);
    });
  });
}

describe("purgeDeletedBefore reads the deleted rows by their own index", () => {
  it("SQLite: no walk of the tenant's live rows", async () => {
    const { database, statements, state, plan } = await openPlannedSqlite();
    try {
      const store = sqlStore({ database });
      const ctx = { tenant: "t" };
      await store.importResources(ctx, "User", Array.from({ length: 3000 }, (_, i) => ({ id: `u${i}`, attributes: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `u${i}` }, uniqueKeys: [] })));
      for (const id of ["u1", "u2"]) await store.delete(ctx, "User", id);
      await sql`analyze`.execute(database.db);
      state.recording = true;
      expect((await store.purgeDeletedBefore(ctx, "User", new Date(Date.now() + 60_000))).sort()).toEqual(["u1", "u2"]);
      state.recording = false;
      const reads = statements.filter((q) => /^select/i.test(q.sql) && /scim_resources/.test(q.sql));
      expect(reads.length).toBeGreaterThan(0);
      for (const q of reads) {
        expect((await plan(q)).join(" | "), q.sql).toMatch(/USING INDEX scim_resources_deleted/);
      }
    } finally {
      await database.destroy();
    }
  });
});

import { bearerAuth, createScimServer } from "scim-core";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openPostgres } from "./dialect.js";
import { sqlStore } from "./sql-store.js";
import { TenantSlots } from "./tenant-slots.js";
import { openTestPostgres, POSTGRES_TEST_URL } from "./test-databases.js";

const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";

describe("TenantSlots", () => {
  it("runs at most perTenant units of one tenant at once, in arrival order, and others beside them", async () => {
    const slots = new TenantSlots(2);
    const running = new Map<string, number>();
    let most = 0;
    const order: string[] = [];
    const unit = (tenant: string, name: string, ms: number) =>
      slots.run(tenant, async () => {
        running.set(tenant, (running.get(tenant) ?? 0) + 1);
        most = Math.max(most, running.get("a") ?? 0);
        order.push(name);
        await new Promise((resolve) => setTimeout(resolve, ms));
        running.set(tenant, running.get(tenant)! - 1);
        return name;
      });
    const done = await Promise.all([unit("a", "a1", 30), unit("a", "a2", 30), unit("a", "a3", 5), unit("a", "a4", 5), unit("b", "b1", 1)]);
    expect(done).toEqual(["a1", "a2", "a3", "a4", "b1"]);
    expect(most).toBe(2);
    // b did not wait behind a's queue; a3 and a4 started in the order they came.
    expect(order.indexOf("b1")).toBeLessThan(order.indexOf("a3"));
    expect(order.indexOf("a3")).toBeLessThan(order.indexOf("a4"));
    // A failing unit gives its slot back.
    await expect(slots.run("a", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await Promise.all([unit("a", "again1", 1), unit("a", "again2", 1)])).toEqual(["again1", "again2"]);
  });
});

describe("PostgreSQL: one tenant's queue of writes", () => {
  it("holds at most half the pool while it waits for the tenant's lock: another tenant's write goes on", async ({ skip }) => {
    const migrated = await openTestPostgres();
    if (migrated === undefined) return skip("PostgreSQL is unreachable");
    await migrated.destroy();
    // A pool of 4: at most 2 connections per tenant.
    const database = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 4 });
    const holder = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 1 });
    const busy = `busy-${Date.now()}`;
    const other = `other-${Date.now()}`;
    const server = createScimServer({ store: sqlStore({ database }), authenticate: bearerAuth({ busy: { tenant: busy }, other: { tenant: other } }), baseUrl: "https://x.test/scim/v2" });
    const create = (token: string, userName: string) =>
      server.handle({ method: "POST", path: "/Users", headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" }, body: { schemas: [USER_SCHEMA], userName } });
    try {
      // Another process holds the busy tenant's lock for 2 s (as a long PATCH would).
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const holding = holder.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtext(${`scim-store-sql:tenant:${busy}`}))`.execute(trx);
        locked();
        await sql`select pg_sleep(2)`.execute(trx);
      });
      await isLocked;
      const queued = Array.from({ length: 6 }, (_, i) => create("busy", `queued${i}`));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      const beside = await create("other", "beside");
      const waited = Date.now() - started;
      expect(beside.status).toBe(201);
      // Not behind the busy tenant's 2 s; the margin is for a loaded machine.
      expect(waited).toBeLessThan(1200);
      await holding;
      expect((await Promise.all(queued)).map((r) => r.status)).toEqual(Array(6).fill(201));
    } finally {
      await holder.destroy();
      await database.destroy();
    }
  });
});

/**
 * How the SQL store keeps list queries to `StoreQuery.deadline` on PostgreSQL, beyond the
 * conformance suite: `statement_timeout` set for the statements that carry one, and gone from the
 * connection afterwards. (SQLite connections of one's own: dialect.test.ts.)
 */
import { type Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgres, withStatementDeadline, type ScimSqlDatabase } from "./dialect.js";
import type { ScimDatabase } from "./tables.js";
import { openTestPostgres, POSTGRES_TEST_URL } from "./test-databases.js";

const timeoutOf = async (db: Kysely<ScimDatabase>) => (await sql<{ t: string }>`select current_setting('statement_timeout') as t`.execute(db)).rows[0]!.t;

/**
 * A PostgreSQL pool of 3 (one search slot) with a store holding one user "alice" (title "t") in a
 * tenant of its own, and `hold(seconds)`: another search holding the slot that long. Undefined when
 * PostgreSQL is unreachable.
 */
async function oneSearchSlot(storeOptions: { onSearch?: (tenant: string, ms: number) => void } = {}) {
  const migrated = await openTestPostgres();
  if (migrated === undefined) return undefined;
  await migrated.destroy();
  const { sqlStore } = await import("./sql-store.js");
  const database = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 3 });
  const store = sqlStore({ database, ...storeOptions });
  const ctx = { tenant: `slot-${Date.now()}-${Math.random().toString(36).slice(2)}` };
  await store.create(ctx, "User", { attributes: { userName: "alice", title: "t" }, uniqueKeys: [{ attribute: "userName", value: "alice" }] });
  // Resolves once the other search holds the slot, with the promise of its end (not that end itself).
  const hold = async (seconds: number): Promise<{ released: Promise<unknown> }> => {
    const released = withStatementDeadline(Date.now() + 5000, () => sql`select pg_sleep(${seconds})`.execute(database.db));
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { released };
  };
  return { database, store, ctx, hold };
}

describe("PostgreSQL statements under a deadline", () => {
  // One connection, so that every statement meets what the ones before left on it.
  let database: ScimSqlDatabase | undefined;
  beforeAll(async () => {
    const migrated = await openTestPostgres();
    await migrated?.destroy();
    if (migrated !== undefined) database = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 1 });
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it("a statement the server cancels at the deadline is a 400 tooMany, and one sent past it is never run", async ({ skip }) => {
    if (database === undefined) return skip("PostgreSQL is unreachable");
    const db = database.db;
    const started = Date.now();
    await expect(withStatementDeadline(Date.now() + 300, () => sql`select pg_sleep(5)`.execute(db))).rejects.toMatchObject({ status: 400, scimType: "tooMany" });
    expect(Date.now() - started).toBeLessThan(4000);
    await expect(withStatementDeadline(Date.now() - 1, () => sql`select 1`.execute(db))).rejects.toMatchObject({ status: 400, scimType: "tooMany" });
  });

  it("the connection's statement_timeout is its own again for the statements that follow (after success, a timeout, a rollback)", async ({ skip }) => {
    if (database === undefined) return skip("PostgreSQL is unreachable");
    const db = database.db;
    expect(await timeoutOf(db)).toBe("0");
    // The time left, rounded up to 100 ms: a minute, unless the machine took over 100 ms to get there.
    expect(await withStatementDeadline(Date.now() + 60_000, () => timeoutOf(db))).toMatch(/^(1min|59\d00ms)$/);
    expect(await timeoutOf(db)).toBe("0");
    await expect(withStatementDeadline(Date.now() + 200, () => sql`select pg_sleep(5)`.execute(db))).rejects.toMatchObject({ scimType: "tooMany" });
    expect(await timeoutOf(db)).toBe("0");
    // Inside a transaction that then fails: the ROLLBACK runs, and the setting is known again after it.
    await expect(
      db.transaction().execute(async (trx) => {
        await withStatementDeadline(Date.now() + 200, () => sql`select pg_sleep(5)`.execute(trx));
      }),
    ).rejects.toMatchObject({ scimType: "tooMany" });
    expect(await timeoutOf(db)).toBe("0");
    await db.transaction().execute(async (trx) => {
      expect(await withStatementDeadline(Date.now() + 30_000, () => timeoutOf(trx))).toMatch(/^(30s|29\d00ms)$/);
      expect(await timeoutOf(trx)).toBe("0");
    });
    expect(await timeoutOf(db)).toBe("0");
  });
});

describe("PostgreSQL connections for searches under a deadline", () => {
  it("searches hold at most the pool's size less two connections: one more waits until its deadline, a write does not wait", async ({ skip }) => {
    const migrated = await openTestPostgres();
    await migrated?.destroy();
    if (migrated === undefined) return skip("PostgreSQL is unreachable");
    // A pool of 3: one connection for searches, two kept for the rest.
    const database = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 3 });
    try {
      const db = database.db;
      const holding = withStatementDeadline(Date.now() + 5000, () => sql`select pg_sleep(0.8)`.execute(db));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await expect(withStatementDeadline(Date.now() + 300, () => sql`select 1`.execute(db))).rejects.toMatchObject({ status: 400, scimType: "tooMany" });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      // Not a search: a connection of the two kept aside.
      const write = Date.now();
      await sql`select 1`.execute(db);
      // Not waiting for the search (0.8 s); the margin is for a loaded machine.
      expect(Date.now() - write).toBeLessThan(600);
      await holding;
      // The slot is free again.
      expect((await withStatementDeadline(Date.now() + 2000, () => sql<{ one: number }>`select 1 as one`.execute(db))).rows[0]!.one).toBe(1);
    } finally {
      await database.destroy();
    }
  });
});

describe("onSearch on PostgreSQL", () => {
  it("hears of the search's own statement time, not of its wait for a search slot held by another tenant", async ({ skip }) => {
    const heard: number[] = [];
    const pg = await oneSearchSlot({ onSearch: (_tenant, ms) => void heard.push(ms) });
    if (pg === undefined) return skip("PostgreSQL is unreachable");
    const { parseFilter } = await import("scim-core");
    const { database, store, ctx } = pg;
    try {
      const holding = (await pg.hold(0.6)).released;
      const started = performance.now();
      const found = await store.query(ctx, "User", { filter: parseFilter('title co "t"'), deadline: Date.now() + 3000 });
      const waited = performance.now() - started;
      expect(found.totalResults).toBe(1);
      // It waited for the slot (about half a second), and was charged only for its statements.
      expect(waited).toBeGreaterThan(350);
      expect(heard).toHaveLength(1);
      expect(heard[0]!).toBeLessThan(waited / 2);
      await holding;
    } finally {
      await database.destroy();
    }
  });
});

describe("lookups an index equality narrows go without the deadline", () => {
  it("on PostgreSQL they take no search slot: answered while slow searches hold every slot, where a scan waits and gives up", async ({ skip }) => {
    const pg = await oneSearchSlot();
    if (pg === undefined) return skip("PostgreSQL is unreachable");
    const { parseFilter } = await import("scim-core");
    const { database, store, ctx } = pg;
    try {
      const holding = (await pg.hold(0.8)).released;
      const started = Date.now();
      const found = await store.query(ctx, "User", { filter: parseFilter('userName eq "alice"'), deadline: Date.now() + 300 });
      expect(found.totalResults).toBe(1);
      // Not waiting for the slot (0.8 s); the margin is for a loaded machine.
      expect(Date.now() - started).toBeLessThan(600);
      await expect(store.query(ctx, "User", { filter: parseFilter('title co "t"'), deadline: Date.now() + 300 })).rejects.toMatchObject({ scimType: "tooMany" });
      await holding;
    } finally {
      await database.destroy();
    }
  });

  it("on SQLite too: a lookup past its deadline is answered, a scan is not; onSearch hears of both", async () => {
    const { sqlStore } = await import("./sql-store.js");
    const { openSqlite } = await import("./dialect.js");
    const { parseFilter } = await import("scim-core");
    const database = openSqlite({ filename: ":memory:" });
    const searches: Array<[string, number]> = [];
    const store = sqlStore({ database, onSearch: (tenant, ms) => void searches.push([tenant, ms]) });
    await store.migrate();
    const ctx = { tenant: "t" };
    await store.create(ctx, "User", { attributes: { userName: "alice", title: "t" }, uniqueKeys: [{ attribute: "userName", value: "alice" }] });
    expect((await store.query(ctx, "User", { filter: parseFilter('userName eq "ALICE"'), deadline: Date.now() - 1 })).totalResults).toBe(1);
    await expect(store.query(ctx, "User", { filter: parseFilter('title co "t"'), deadline: Date.now() - 1 })).rejects.toMatchObject({ scimType: "tooMany" });
    expect(searches.map(([tenant]) => tenant)).toEqual(["t", "t"]);
    expect(searches.every(([, ms]) => ms >= 0 && ms < 1000)).toBe(true);
    await store.close();
  });
});

describe("which stores hold the server's thread", () => {
  it("SQLite's does (the server lets waiting requests in before each list), PostgreSQL's does not", async () => {
    const { sqlStore } = await import("./sql-store.js");
    const { openSqlite } = await import("./dialect.js");
    const sqlite = openSqlite({ filename: ":memory:" });
    expect(sqlStore({ database: sqlite }).capabilities.blocking).toBe(true);
    await sqlite.destroy();
    const postgres = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 1 });
    expect(sqlStore({ database: postgres }).capabilities.blocking).toBe(false);
    await postgres.destroy();
  });
});

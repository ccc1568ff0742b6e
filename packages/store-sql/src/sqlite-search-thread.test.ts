import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompiledQuery } from "kysely";
import { parseFilter } from "scim-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqlite, type ScimSqlDatabase } from "./dialect.js";
import { migrateScimTables } from "./migrations.js";
import { sqlStore, type SqlScimStore } from "./sql-store.js";

const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const USERS = 30_000;

describe("SQLite searches on the search thread", () => {
  let dir: string;
  let database: ScimSqlDatabase;
  let store: SqlScimStore;
  const ctx = { tenant: "t" };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "search-thread-"));
    database = openSqlite({ filename: join(dir, "db.sqlite") });
    await migrateScimTables(database.db, "sqlite");
    store = sqlStore({ database });
    const users = Array.from({ length: USERS }, (_, i) => ({
      id: `u${i}`,
      attributes: { schemas: [USER_SCHEMA], userName: `user${i}@acme.test`, title: `Engineer ${i % 97}`, displayName: `User ${i}` },
      uniqueKeys: [{ attribute: "userName", value: `user${i}@acme.test` }],
    }));
    await store.importResources(ctx, "User", users);
  }, 60_000);

  afterEach(async () => {
    await database.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a search no index answers runs there, and the server's thread goes on meanwhile; the answer is the one the server's thread gives", async () => {
    const thread = database.searchThread!;
    expect(thread).toBeDefined();
    // A filter no index answers, sorted: it reads every user of the tenant.
    const search = { filter: parseFilter('title co "neer 1" and displayName co "9"'), sort: { path: { attr: "title" }, order: "descending" as const }, startIndex: 1, count: 50 };
    let timerRan = false;
    let answered = false;
    setTimeout(() => (timerRan = !answered), 1);
    const pending = store.query(ctx, "User", search);
    await new Promise((resolve) => setImmediate(resolve));
    expect(thread.pending).toBeGreaterThan(0);
    const offThread = await pending;
    answered = true;
    // The timer ran while the search was read on the worker.
    expect(timerRan).toBe(true);
    expect(thread.pending).toBe(0);
    expect(offThread.totalResults).toBeGreaterThan(100);
    expect(offThread.resources).toHaveLength(50);

    // The same search on the server's thread (the thread stopped: the store reads it itself).
    await thread.stop();
    const inline = await store.query(ctx, "User", search);
    expect(inline.totalResults).toBe(offThread.totalResults);
    expect(inline.resources.map((r) => r.id)).toEqual(offThread.resources.map((r) => r.id));
    expect(inline.resources[0]!.attributes).toEqual(offThread.resources[0]!.attributes);
  }, 60_000);

  it("lookups an index narrows, plain pages and reads inside transactions stay on the server's thread", async () => {
    const thread = database.searchThread!;
    const sent: string[] = [];
    const all = thread.all.bind(thread);
    thread.all = (sql, parameters, tenant) => (sent.push(sql), all(sql, parameters, tenant));
    expect((await store.query(ctx, "User", { filter: parseFilter('userName eq "user7@acme.test"') })).resources.map((r) => r.id)).toEqual(["u7"]);
    expect((await store.query(ctx, "User", { startIndex: 1, count: 10 })).resources).toHaveLength(10);
    await store.transaction!((tx) => tx.query(ctx, "User", { filter: parseFilter('title co "neer 5"'), count: 5 }));
    expect(sent).toEqual([]);
    await store.query(ctx, "User", { filter: parseFilter('title co "neer 5"'), count: 5 });
    expect(sent.length).toBeGreaterThan(0);
  }, 60_000);

  it("the worker's SQL functions are the server's thread's: case folding of every kind of value, and the deadline", async () => {
    const thread = database.searchThread!;
    // Unicode text (JavaScript's toLowerCase, not SQLite's ASCII lower()), then what lower() gives
    // for an integer, a real, NULL and a blob.
    const values: unknown[] = ["ÄÖÜ İstanbul ΣΑΣ ẞ Ǆ", 42n, 2.5, null, Buffer.from("AbC")];
    const onThread = await Promise.all(values.map((v) => thread.all<{ v: unknown }>("select scim_lower(?) as v, typeof(scim_lower(?)) as t", [v, v])!));
    const here = await Promise.all(values.map((v) => database.db.executeQuery<{ v: unknown }>(CompiledQuery.raw("select scim_lower(?) as v, typeof(scim_lower(?)) as t", [v, v]))));
    expect(onThread).toEqual(here.map((r) => r.rows));
    expect(onThread[0]).toEqual([{ v: "ÄÖÜ İstanbul ΣΑΣ ẞ Ǆ".toLowerCase(), t: "text" }]);
    expect(onThread[0]![0]!.v).not.toBe("äÖÜ İstanbul ΣΑΣ ẞ Ǆ".replace(/[A-Z]/g, (c) => c.toLowerCase()));
    expect(onThread.slice(1).map((rows) => rows[0])).toEqual([
      { v: "42", t: "text" },
      { v: "2.5", t: "text" },
      { v: null, t: "null" },
      { v: "abc", t: "text" },
    ]);
    await expect(thread.all("select scim_before(?, 1) as v", [Date.now() - 1])).rejects.toMatchObject({ status: 400, scimType: "tooMany" });
    expect(await thread.all("select scim_before(?, 1) as v", [Date.now() + 60_000])).toEqual([{ v: 1 }]);
  });

  it("the tenants' searches take turns: one tenant's queue delays another's search by one search at most", async () => {
    const thread = database.searchThread!;
    const order: string[] = [];
    const send = (tenant: string, n: number) => thread.all<{ n: number }>("select ? as n", [n], tenant)!.then((rows) => order.push(`${tenant}${rows[0]!.n}`));
    await Promise.all([send("a", 1), send("a", 2), send("a", 3), send("b", 1), send("c", 1), send("b", 2)]);
    // a1 went at once; then b and c before a's next, and so on in turn.
    expect(order).toEqual(["a1", "b1", "c1", "a2", "b2", "a3"]);
    expect(thread.pending).toBe(0);
  });

  it("a search past its deadline ends there as on the server's thread: 400 tooMany (RFC 7644 §3.12)", async () => {
    await expect(store.query(ctx, "User", { filter: parseFilter('title co "zzz"'), count: 10, deadline: Date.now() - 1 })).rejects.toMatchObject({ status: 400, scimType: "tooMany" });
    // The thread still answers afterwards.
    expect((await store.query(ctx, "User", { filter: parseFilter('title co "neer 3"'), count: 3 })).resources).toHaveLength(3);
  }, 60_000);
});

import Database from "better-sqlite3";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kysely, sql, type Generated } from "kysely";
import { describe, expect, it } from "vitest";
import { groupCommitDialect, GroupCommitSqliteDriver, type BetterSqliteDatabase, type GroupCommitOptions } from "./sqlite-driver.js";

interface Db {
  item: { id: Generated<number>; name: string; parent: number | null };
}

function open(options: GroupCommitOptions = {}, withReader = false) {
  const file = join(mkdtempSync(join(tmpdir(), "group-commit-")), "db.sqlite");
  const raw = new Database(file);
  raw.pragma("journal_mode = WAL");
  raw.pragma("foreign_keys = ON");
  raw.exec("create table item (id integer primary key, name text not null unique, parent integer references item(id) deferrable initially deferred)");
  const reader = withReader ? (new Database(file) as unknown as BetterSqliteDatabase) : undefined;
  const driver = new GroupCommitSqliteDriver(raw as unknown as BetterSqliteDatabase, options, undefined, reader);
  const db = new Kysely<Db>({ dialect: { ...groupCommitDialect(raw as unknown as BetterSqliteDatabase), createDriver: () => driver } });
  /** What another connection (another process) sees: only committed rows. */
  const committed = () => {
    const other = new Database(file, { readonly: true });
    try {
      return (other.prepare("select name from item order by id").all() as { name: string }[]).map((r) => r.name);
    } finally {
      other.close();
    }
  };
  return { db, driver, committed, file, raw };
}

/** A transaction that inserts `name` (after a turn of the event loop, as a request's work would). */
const insert = (db: Kysely<Db>, name: string, parent: number | null = null) =>
  db.transaction().execute(async (trx) => {
    await new Promise((resolve) => setImmediate(resolve));
    await trx.insertInto("item").values({ name, parent }).execute();
    return name;
  });

describe("SQLite group commit", () => {
  it("concurrent transactions share COMMITs, and each returns only once its rows are committed", async () => {
    const { db, driver, committed } = open();
    const seenAtReturn: boolean[] = [];
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        insert(db, `n${i}`).then((name) => {
          seenAtReturn.push(committed().includes(name));
        }),
      ),
    );
    expect(seenAtReturn).toHaveLength(40);
    expect(seenAtReturn.every(Boolean)).toBe(true);
    expect(driver.stats.units).toBe(40);
    expect(driver.stats.commits).toBeLessThan(40);
    expect(committed()).toHaveLength(40);
    await db.destroy();
  });

  it("a failing transaction rolls back alone; the others of its group commit", async () => {
    const { db, driver, committed } = open();
    await insert(db, "taken");
    const results = await Promise.allSettled([insert(db, "a"), insert(db, "taken"), insert(db, "b"), db.transaction().execute(async (trx) => {
      await trx.insertInto("item").values({ name: "c", parent: null }).execute();
      throw new Error("the work failed after writing");
    }), insert(db, "d")]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "rejected", "fulfilled"]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE/);
    expect(committed()).toEqual(["taken", "a", "b", "d"]);
    expect(driver.stats.commits).toBeLessThan(5);
    await db.destroy();
  });

  it("when the group's COMMIT fails, every transaction of the group fails and none of its rows stays", async () => {
    const { db, committed } = open();
    await insert(db, "root");
    // A deferred foreign key is checked at COMMIT: the bad row makes the group's COMMIT fail.
    const results = await Promise.allSettled([insert(db, "x"), insert(db, "bad", 999), insert(db, "y")]);
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(committed()).toEqual(["root"]);
    // The connection goes on working.
    await insert(db, "after");
    expect(committed()).toEqual(["root", "after"]);
    await db.destroy();
  });

  it("a write outside a transaction joins an open group and returns once it is committed; reads do not wait", async () => {
    const { db, committed } = open();
    let plainWriteCommitted: boolean | undefined;
    const plain = db
      .insertInto("item")
      .values({ name: "plain", parent: null })
      .execute()
      .then(() => {
        plainWriteCommitted = committed().includes("plain");
      });
    await Promise.all([insert(db, "t1"), plain, insert(db, "t2"), db.selectFrom("item").select("name").execute()]);
    expect(plainWriteCommitted).toBe(true);
    expect(committed().sort()).toEqual(["plain", "t1", "t2"]);
    await db.destroy();
  });

  it("with a reader, a read outside a transaction sees committed rows only, never an open group's (a crash would undo them)", async () => {
    const { db, committed } = open({}, true);
    await insert(db, "before");
    // The read waits for the connection behind the transaction; when it gets it, the
    // transaction's group is still open (others waited: no COMMIT yet).
    const transaction = insert(db, "pending");
    const read = db.selectFrom("item").select("name").orderBy("id").execute();
    const streamed = (async () => {
      const names: string[] = [];
      for await (const row of db.selectFrom("item").select("name").orderBy("id").stream()) names.push(row.name);
      return names;
    })();
    const [, rows, stream] = await Promise.all([transaction, read, streamed]);
    expect(rows.map((r) => r.name)).toEqual(["before"]);
    expect(stream).toEqual(["before"]);
    expect(committed()).toEqual(["before", "pending"]);
    // Inside a transaction, its own writes are seen (the writer).
    const seen = await db.transaction().execute(async (trx) => {
      await trx.insertInto("item").values({ name: "mine", parent: null }).execute();
      return (await trx.selectFrom("item").select("name").orderBy("id").execute()).map((r) => r.name);
    });
    expect(seen).toEqual(["before", "pending", "mine"]);
    await db.destroy();
  });

  it("a long transaction lets the event loop run: reads outside it are answered from the reader meanwhile, writes wait for it", async () => {
    const { db } = open({}, true);
    await insert(db, "before");
    const events: string[] = [];
    let inside = 0;
    const long = db.transaction().execute(async (trx) => {
      // Statements for at least 150 ms, each one synchronous (better-sqlite3).
      const started = performance.now();
      while (performance.now() - started < 150) await trx.insertInto("item").values({ name: `long${inside++}`, parent: null }).execute();
      events.push("long done");
    });
    // Sent once the transaction runs: a read, and a write outside it.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const read = db
      .selectFrom("item")
      .select("name")
      .execute()
      .then((rows) => events.push(`read ${rows.length}`));
    const write = db
      .insertInto("item")
      .values({ name: "after", parent: null })
      .execute()
      .then(() => events.push("write"));
    await Promise.all([long, read, write]);
    // The read came back while the transaction ran, and saw none of its rows (not committed); the
    // write waited for the writer.
    expect(events).toEqual(["read 1", "long done", "write"]);
    expect(inside).toBeGreaterThan(10);
    await db.destroy();
  });

  it("maxUnits 1 commits every transaction on its own", async () => {
    const { db, driver } = open({ maxUnits: 1 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => insert(db, `n${i}`)));
    expect(driver.stats).toEqual({ commits: 10, units: 10 });
    await db.destroy();
  });

  it("destroy() commits what is open and closes the database", async () => {
    const { db, committed } = open();
    await Promise.all([insert(db, "a"), insert(db, "b")]);
    await db.destroy();
    expect(committed()).toEqual(["a", "b"]);
    await expect(sql`select 1`.execute(db)).rejects.toThrow();
  });
});

describe("group commit: BEGIN while another connection writes", () => {
  it("retries SQLITE_BUSY without blocking the event loop, up to busyTimeoutMs", async () => {
    const { db, committed, file, raw } = open({ busyTimeoutMs: 2000 });
    raw.pragma("busy_timeout = 0"); // SQLite's own busy handler would block the thread
    const other = new Database(file);
    other.exec("begin immediate"); // another process holding the write lock
    setTimeout(() => other.exec("commit"), 60);
    const started = performance.now();
    expect(await insert(db, "after-the-lock")).toBe("after-the-lock");
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    expect(committed()).toEqual(["after-the-lock"]);
    other.close();
    await db.destroy();
  });

  it("writes queued behind one another all give up busyTimeoutMs after they started waiting, not one timeout after another", async () => {
    const { db, file, raw } = open({ busyTimeoutMs: 200 });
    raw.pragma("busy_timeout = 0");
    const other = new Database(file);
    other.exec("begin immediate"); // held for longer than every write's patience
    const started = performance.now();
    const settled = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        (i % 2 === 0 ? insert(db, `queued-${i}`) : db.insertInto("item").values({ name: `single-${i}`, parent: null }).execute()).then(
          () => performance.now() - started,
          (error: { code?: string }) => (error.code === "SQLITE_BUSY" ? performance.now() - started : error),
        ),
      ),
    );
    other.exec("rollback");
    other.close();
    // Each failed at about 200 ms; one after another they took 1 s.
    for (const ms of settled) expect(typeof ms === "number" && ms < 600, String(ms)).toBe(true);
    await db.destroy();
  });

  it("gives up after busyTimeoutMs with the SQLITE_BUSY error, and the connection serves the next transaction", async () => {
    const { db, committed, file, raw } = open({ busyTimeoutMs: 40 });
    raw.pragma("busy_timeout = 0");
    const other = new Database(file);
    other.exec("begin immediate");
    await expect(insert(db, "refused")).rejects.toMatchObject({ code: "SQLITE_BUSY" });
    other.exec("commit");
    other.close();
    expect(await insert(db, "next")).toBe("next");
    expect(committed()).toEqual(["next"]);
    await db.destroy();
  });
});

import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql, type Kysely } from "kysely";
import { describe, expect, it, vi } from "vitest";
import { openSqlite } from "./dialect.js";
import { startCheckpointer } from "./sqlite-checkpointer.js";

const tempFile = () => join(mkdtempSync(join(tmpdir(), "checkpointer-")), "db.sqlite");

// The tests' own table, outside the store's schema.
const asAny = (db: unknown) => db as Kysely<any>;

async function pragma(db: Kysely<any>, name: string): Promise<unknown> {
  const { rows } = await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(db);
  return Object.values(rows[0]!)[0];
}

/** Inserts rows `from` to `to` (excluded) of about 1 KiB each, `perTransaction` to a transaction. */
async function fill(db: Kysely<any>, from: number, to: number, perTransaction = 20): Promise<void> {
  for (let i = from; i < to; i += perTransaction) {
    await db.transaction().execute(async (trx) => {
      for (let k = i; k < Math.min(to, i + perTransaction); k++) await trx.insertInto("item").values({ id: k, body: `${k}:`.padEnd(1024, "x") }).execute();
    });
  }
}

describe("WAL checkpoints on a worker thread", () => {
  it("copies the WAL into the database file off the request connection, which checkpoints nothing itself", async () => {
    const file = tempFile();
    const handle = openSqlite({ filename: file, checkpoints: { intervalMs: 5 } });
    const db = asAny(handle.db);
    await sql`create table item (id integer primary key, body text not null)`.execute(db);
    expect(await pragma(db, "wal_autocheckpoint")).toBe(0);
    expect(await pragma(db, "journal_size_limit")).toBe(64 * 1024 * 1024);
    await fill(db, 0, 2_000);
    await vi.waitFor(() => expect(handle.checkpointer!.stats.frames).toBeGreaterThan(400), { timeout: 5_000, interval: 10 });
    expect(handle.checkpointer!.running).toBe(true);
    expect(handle.checkpointer!.stats.failures).toBe(0);

    // Another connection reads everything from the file; closing removes the WAL (the worker's
    // connection closed first: the last connection to close checkpoints and deletes it).
    await handle.destroy();
    expect(handle.checkpointer!.running).toBe(false);
    expect(existsSync(`${file}-wal`)).toBe(false);
    const other = new Database(file, { readonly: true });
    expect(other.prepare("select count(*) as n from item").get()).toEqual({ n: 2_000 });
    other.close();
  });

  it("makes a writer that never pauses start the WAL over once it passes restartPages", { timeout: 40_000 }, async () => {
    const file = tempFile();
    const handle = openSqlite({ filename: file, checkpoints: { intervalMs: 2, restartPages: 64 } });
    const db = asAny(handle.db);
    await sql`create table item (id integer primary key, body text not null)`.execute(db);
    // Until three restarts, for at most 20 s: on a loaded machine (CI beside other work) the
    // worker thread gets fewer turns, and 40 rounds of 5 ms once saw only two.
    const until = Date.now() + 20_000;
    for (let round = 0; handle.checkpointer!.stats.restarts < 3 && Date.now() < until; round++) {
      await fill(db, round * 100, round * 100 + 100, 4);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(handle.checkpointer!.stats.restarts).toBeGreaterThanOrEqual(3);
    const rows = (await sql<{ n: number }>`select count(*) as n from item`.execute(db)).rows[0]!.n;
    // The WAL holds only what came after the last restart, not every page written since the start.
    const other = new Database(file);
    const [wal] = other.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
    other.close();
    expect(wal!.log).toBeLessThan(rows / 2);
    await handle.destroy();
    const reopened = new Database(file, { readonly: true });
    expect(reopened.prepare("select count(*) as n from item").get()).toEqual({ n: rows });
    reopened.close();
  });

  it("hands the checkpoints back to SQLite when the worker fails", async () => {
    const calls: string[] = [];
    const database = { pragma: (text: string) => void calls.push(text) };
    // The worker cannot open a file that does not exist (it never creates one).
    const checkpointer = startCheckpointer(database, join(mkdtempSync(join(tmpdir(), "checkpointer-")), "missing.sqlite"), createRequire(import.meta.url).resolve("better-sqlite3"));
    expect(calls).toEqual(["wal_autocheckpoint = 0", "journal_size_limit = 67108864"]);
    await vi.waitFor(() => expect(checkpointer.running).toBe(false), { timeout: 5_000, interval: 10 });
    expect(calls.at(-1)).toBe("wal_autocheckpoint = 1000");
    expect(checkpointer.stats.failures).toBe(1);
    await checkpointer.stop();
  });

  it("is off for checkpoints: 'inline' and for :memory:, where SQLite keeps its own", async () => {
    const inline = openSqlite({ filename: tempFile(), checkpoints: "inline" });
    expect(inline.checkpointer).toBeUndefined();
    expect(await pragma(asAny(inline.db), "wal_autocheckpoint")).toBe(1000);
    await inline.destroy();
    const memory = openSqlite({ filename: ":memory:" });
    expect(memory.checkpointer).toBeUndefined();
    await memory.destroy();
  });

  it("stops its worker and closes the file when the database closes before any query ran", async () => {
    const file = tempFile();
    const handle = openSqlite({ filename: file });
    expect(handle.checkpointer!.running).toBe(true);
    expect(existsSync(`${file}-wal`)).toBe(true);
    await handle.destroy();
    expect(handle.checkpointer!.running).toBe(false);
    // The last connection to close removes the WAL.
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("never makes writes wait for a reader that stays open, says the WAL grows meanwhile, nor repeats RESTARTs while idle", async () => {
    const file = tempFile();
    const stalls: number[] = [];
    const handle = openSqlite({ filename: file, checkpoints: { intervalMs: 5, restartPages: 64, onWalStall: ({ walBytes }) => void stalls.push(walBytes) } });
    const db = asAny(handle.db);
    await sql`create table item (id integer primary key, body text not null)`.execute(db);
    await fill(db, 0, 200);
    // A reader (a report, the sqlite3 shell) holds a snapshot: the WAL cannot start over meanwhile.
    const reader = new Database(file, { readonly: true });
    reader.exec("begin");
    reader.prepare("select count(*) from item").get();
    let slowest = 0;
    for (let i = 0; i < 40; i++) {
      const started = performance.now();
      await fill(db, 1_000 + i * 10, 1_000 + i * 10 + 10, 10);
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(slowest).toBeLessThan(500);
    expect(handle.checkpointer!.stats.failures).toBe(0);
    // The WAL could not start over: reported once past restartPages, then at each doubling only.
    await vi.waitFor(() => expect(stalls.length).toBeGreaterThan(0), { timeout: 5_000, interval: 10 });
    expect(stalls[0]).toBeGreaterThanOrEqual(64 * 4096);
    for (let i = 1; i < stalls.length; i++) expect(stalls[i]).toBeGreaterThanOrEqual(2 * stalls[i - 1]!);
    expect(stalls.length).toBeLessThanOrEqual(3);
    reader.exec("commit");
    reader.close();
    // Once the reader is gone the WAL starts over; then, idle, nothing more happens.
    await vi.waitFor(() => expect(handle.checkpointer!.stats.restarts).toBeGreaterThan(0), { timeout: 5_000, interval: 10 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const settled = { ...handle.checkpointer!.stats };
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(handle.checkpointer!.stats).toEqual(settled);
    await handle.destroy();
  });

  it("does not keep a process alive that never closes its database", () => {
    const dir = mkdtempSync(join(tmpdir(), "checkpointer-"));
    const script = join(dir, "open.mts");
    writeFileSync(script, `import { openSqlite } from ${JSON.stringify(join(import.meta.dirname, "dialect.ts"))};\nconst h = openSqlite({ filename: ${JSON.stringify(join(dir, "db.sqlite"))} });\nawait h.db.selectNoFrom((eb) => eb.lit(1).as("x")).execute();\n`);
    const started = Date.now();
    execFileSync(process.execPath, ["--import", "tsx", script], { timeout: 20_000, stdio: "pipe" });
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

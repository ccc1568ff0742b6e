import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { openDatabase, openPostgres } from "./dialect.js";
import { migrateScimTables } from "./migrations.js";
import { openTestPostgres, POSTGRES_TEST_URL } from "./test-databases.js";
import type { ScimDatabase } from "./tables.js";

describe("openDatabase", () => {
  it("opens SQLite for sqlite:, file: and plain paths, relative ones against baseDir, and describes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "open-db-"));
    for (const url of ["sqlite:data/a.db", "file:data/a.db", "data/a.db"]) {
      const database = openDatabase(url, { baseDir: dir });
      expect(database.dialect).toBe("sqlite");
      expect(database.description).toBe(`SQLite ${join(dir, "data", "a.db")}`);
      await database.destroy();
    }
    const absolute = join(dir, "b.db");
    const other = openDatabase(`sqlite:${absolute}`, { baseDir: "/elsewhere" });
    expect(other.description).toBe(`SQLite ${absolute}`);
    await other.destroy();
    const memory = openDatabase(":memory:", { baseDir: dir });
    expect(memory.description).toBe("SQLite :memory:");
    await memory.destroy();
    // A file's WAL checkpoints run on a worker thread unless told otherwise.
    const background = openDatabase("sqlite:c.db", { baseDir: dir });
    expect(background.checkpointer?.running).toBe(true);
    await background.destroy();
    const inline = openDatabase("sqlite:c.db", { baseDir: dir, checkpoints: "inline" });
    expect(inline.checkpointer).toBeUndefined();
    await inline.destroy();
  });

  it("keeps the writer's temporary files (the savepoints' journals of a group commit) in memory, and the reader's on disk", async () => {
    const dir = mkdtempSync(join(tmpdir(), "open-db-"));
    const database = openDatabase("sqlite:t.db", { baseDir: dir });
    try {
      // A pragma runs on the writer; a read outside a transaction on the reader.
      const writer = await sql<{ temp_store: number }>`pragma temp_store`.execute(database.db);
      expect(writer.rows).toEqual([{ temp_store: 2 }]);
      const reader = await sql<{ temp_store: number }>`select temp_store from pragma_temp_store`.execute(database.db);
      expect(reader.rows).toEqual([{ temp_store: 0 }]);
    } finally {
      await database.destroy();
    }
  });

  it("refuses any other scheme instead of creating a file of that name, without echoing the URL", () => {
    const dir = mkdtempSync(join(tmpdir(), "open-db-"));
    for (const url of ["mysql://root:pw@db/x", "https://example.com/db", "redis://localhost:6379", "sqlite3:a.db"]) {
      expect(() => openDatabase(url, { baseDir: dir }), url).toThrow(/^unsupported database URL scheme '[a-z0-9]+:'/);
      expect(() => openDatabase(url, { baseDir: dir })).not.toThrow(/pw/);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses a SQLite URL that names no file (better-sqlite3 would open a temporary database, gone at close)", () => {
    for (const url of ["", "sqlite:", "sqlite://", "file:", "  "]) expect(() => openDatabase(url), JSON.stringify(url)).toThrow(/names no SQLite file/);
  });

  it("keeps the tables in the schema it is given on PostgreSQL, and refuses a schema for SQLite", async ({ skip }) => {
    expect(() => openDatabase(":memory:", { schema: "scim" })).toThrow(/PostgreSQL only/);
    const probe = await openTestPostgres();
    if (probe === undefined) return skip();
    await probe.destroy();
    const schema = `open_db_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const database = openDatabase(POSTGRES_TEST_URL, { schema });
    try {
      await migrateScimTables(database.db, "postgres", { schema });
      const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = ${schema} and table_name = 'scim_resources'`.execute(database.db);
      expect(tables.rows).toEqual([{ table_name: "scim_resources" }]);
    } finally {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(database.db);
      await database.destroy();
    }
  });

  it("describes PostgreSQL without the password (no connection is made until a query)", async () => {
    const database = openDatabase("postgres://scim:s3cret@db.example:5432/scim?sslmode=require");
    expect(database.dialect).toBe("postgres");
    expect(database.description).toBe("PostgreSQL postgres://scim@db.example:5432/scim");
    expect(database.description).not.toContain("s3cret");
    expect(database.poolSize).toBe(10);
    const sized = openDatabase("postgres://scim@db.example:5432/scim", { poolSize: 40 });
    expect(sized.poolSize).toBe(40);
    await sized.destroy();
    await database.destroy();
    const bare = openPostgres({ connectionString: "postgresql://db.example/scim" });
    expect(bare.description).toBe("PostgreSQL postgresql://db.example/scim");
    await bare.destroy();
  });
});

describe("registerSqliteFunctions", () => {
  /** A store over a better-sqlite3 connection of one's own, with the store's functions or without, holding these users. */
  const storeOver = async (register: boolean, users: ReadonlyArray<{ userName: string; title: string }>) => {
    const { createRequire } = await import("node:module");
    const { Kysely, SqliteDialect } = await import("kysely");
    const { registerSqliteFunctions } = await import("./dialect.js");
    const { sqlStore } = await import("./sql-store.js");
    const Database = createRequire(import.meta.url)("better-sqlite3") as new (f: string) => object;
    const connection = new Database(":memory:");
    if (register) registerSqliteFunctions(connection as Parameters<typeof registerSqliteFunctions>[0]);
    const db = new Kysely<ScimDatabase>({ dialect: new SqliteDialect({ database: connection as never }) });
    await migrateScimTables(db, "sqlite");
    const store = sqlStore({ database: { db, dialect: "sqlite", description: "own", destroy: () => db.destroy() } });
    for (const attributes of users) await store.create({ tenant: "t" }, "User", { attributes, uniqueKeys: [{ attribute: "userName", value: attributes.userName }] });
    return store;
  };

  it("gives a connection of one's own the functions the store's queries use (case-insensitive JSON filters)", async () => {
    const { parseFilter } = await import("scim-core");
    const users = [{ userName: "u", title: "Émile" }];
    const filter = { filter: parseFilter('title eq "émile"') };
    const own = await storeOver(true, users);
    expect((await own.query({ tenant: "t" }, "User", filter)).totalResults).toBe(1);
    await own.close();
    const bare = await storeOver(false, users);
    await expect(bare.query({ tenant: "t" }, "User", filter)).rejects.toThrow(/no such function/);
    await bare.close();
  });

  it("and the one that ends a list at its deadline: without it a list with a deadline still runs (to its end)", async () => {
    const { parseFilter } = await import("scim-core");
    const users = Array.from({ length: 100 }, (_, i) => ({ userName: `u${i}`, title: `t${i}` }));
    const query = { filter: parseFilter('userName co "7"'), deadline: Date.now() - 1 };
    const bare = await storeOver(false, users);
    expect((await bare.query({ tenant: "t" }, "User", query)).totalResults).toBe(19);
    await bare.close();
    const own = await storeOver(true, users);
    await expect(own.query({ tenant: "t" }, "User", query)).rejects.toMatchObject({ status: 400, scimType: "tooMany" });
    await own.close();
  });
});

describe("openSqlite: another process holding the write lock", () => {
  it("writes wait for it without blocking the event loop (in and outside transactions), and go through once it is released", async () => {
    const Database = (await import("better-sqlite3")).default;
    const dir = mkdtempSync(join(tmpdir(), "sqlite-locked-"));
    const database = openDatabase("sqlite:db.sqlite", { baseDir: dir });
    try {
      await sql`create table t (x integer)`.execute(database.db);
      // Another process's write transaction (Python's sqlite3, a backup tool, an admin's shell).
      const other = new Database(join(dir, "db.sqlite"));
      other.exec("begin exclusive");
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      setTimeout(() => other.exec("commit"), 300);
      const started = performance.now();
      await Promise.all([
        sql`insert into t values (1)`.execute(database.db),
        database.db.transaction().execute(async (trx) => {
          await sql`insert into t values (2)`.execute(trx);
        }),
      ]);
      clearInterval(ticker);
      const waited = performance.now() - started;
      other.close();
      expect(waited).toBeGreaterThanOrEqual(250);
      // The event loop ran meanwhile (SQLite's own busy handler slept in the thread for up to 5 s).
      expect(ticks).toBeGreaterThanOrEqual(10);
      const rows = await sql<{ x: number }>`select x from t order by x`.execute(database.db);
      expect(rows.rows.map((r) => r.x)).toEqual([1, 2]);
    } finally {
      await database.destroy();
    }
  }, 20_000);
});

describe("openPostgres: a server that accepts connections and never answers (frozen)", () => {
  it("a query fails after connectTimeoutMs with an error the store answers 503, instead of waiting forever", async () => {
    const { createServer } = await import("node:net");
    const { databaseUnavailable } = await import("./database-unavailable.js");
    const sockets = new Set<import("node:net").Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as import("node:net").AddressInfo).port;
    const frozen = openPostgres({ connectionString: `postgres://nobody@127.0.0.1:${port}/none`, max: 2, connectTimeoutMs: 300 });
    try {
      const started = performance.now();
      const error = await sql`select 1`.execute(frozen.db).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(performance.now() - started).toBeLessThan(5000);
      expect(error).toBeDefined();
      expect(databaseUnavailable(error)?.status).toBe(503);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await frozen.destroy().catch(() => {});
    }
  });
});

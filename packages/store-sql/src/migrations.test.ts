import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openPostgres, openSqlite } from "./dialect.js";
import { openTestPostgres, openTestSqlite, POSTGRES_TEST_URL } from "./test-databases.js";
import { migrateScimTables } from "./migrations.js";
import { sqlStore } from "./sql-store.js";

const execFileAsync = promisify(execFile);

describe("migrations", () => {
  it("create the tables on SQLite, and running them again changes nothing", async () => {
    const { db, destroy } = await openTestSqlite();
    try {
      const again = await migrateScimTables(db, "sqlite");
      expect(again.results).toEqual([]);
      const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name like 'scim_%' order by name`.execute(db);
      expect(tables.rows.map((r) => r.name)).toEqual(["scim_counts", "scim_emails", "scim_members", "scim_migrations", "scim_migrations_lock", "scim_outbox", "scim_outbox_pruned", "scim_resources", "scim_secrets", "scim_unique_keys"]);
    } finally {
      await destroy();
    }
  });

  it("0005 on a database pruned before it: the events below the oldest one kept count as pruned for every tenant", async () => {
    const database = await openTestSqlite();
    try {
      const store = sqlStore({ database });
      for (let i = 0; i < 5; i++) {
        await store.appendEvent({ id: `e${i}`, type: "user.created", tenant: "t1", resourceType: "User", resourceId: `u${i}`, occurredAt: new Date().toISOString() });
      }
      const seqs = (await store.readEvents()).map((e) => e.seq);
      // As an earlier version pruned: rows gone, no mark; then the migration runs.
      await database.db.deleteFrom("scim_outbox").where("seq", "<=", seqs[2]!).execute();
      await sql`drop table scim_outbox_pruned`.execute(database.db);
      await sql`delete from scim_migrations where name = '0005_outbox_pruned'`.execute(database.db);
      // (and what came after it)
      await sql`drop table scim_secrets`.execute(database.db);
      await sql`delete from scim_migrations where name = '0006_secrets'`.execute(database.db);
      await sql`drop index scim_resources_deleted`.execute(database.db);
      await sql`delete from scim_migrations where name = '0007_deleted_resources_index'`.execute(database.db);
      expect((await migrateScimTables(database.db, "sqlite")).results?.map((r) => r.status)).toEqual(["Success", "Success", "Success"]);
      expect(await store.eventsHorizon("t1")).toEqual({ latest: seqs[4], prunedThrough: seqs[2] });
      expect(await store.eventsHorizon("another")).toEqual({ latest: seqs[4], prunedThrough: seqs[2] });
    } finally {
      await database.destroy();
    }
  });

  // Two processes starting at once on a new file: Kysely takes no migration lock on SQLite, and
  // both ran the first migration (one failed to start: "table scim_resources already exists").
  it("create the tables on a SQLite file from two processes starting at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "scim-migrate-race-"));
    try {
      const file = join(dir, "db.sqlite");
      const script = join(dir, "migrate.mts");
      // Both wait for the same instant, so that their migrations overlap whatever their start-up takes.
      writeFileSync(
        script,
        `import { openSqlite } from ${JSON.stringify(join(import.meta.dirname, "dialect.ts"))};
import { migrateScimTables } from ${JSON.stringify(join(import.meta.dirname, "migrations.ts"))};
const h = openSqlite({ filename: ${JSON.stringify(file)} });
await new Promise((resolve) => setTimeout(resolve, Number(process.argv[2]) - Date.now()));
try {
  const result = await migrateScimTables(h.db, "sqlite");
  process.stdout.write(JSON.stringify((result.results ?? []).map((m) => m.migrationName)));
} finally {
  await h.destroy();
}
`,
      );
      const at = String(Date.now() + 4000);
      const run = () => execFileAsync(process.execPath, ["--import", "tsx", script, at], { timeout: 30_000 }).then(({ stdout }) => JSON.parse(stdout) as string[], (error: { stderr?: string }) => `failed: ${error.stderr ?? String(error)}`);
      const [a, b] = await Promise.all([run(), run()]);
      expect(typeof a, String(a)).toBe("object");
      expect(typeof b, String(b)).toBe("object");
      // Each migration ran once, in one of the two.
      const ran = [...(a as string[]), ...(b as string[])].sort();
      const db = openSqlite({ filename: file });
      try {
        const history = await sql<{ name: string }>`select name from scim_migrations order by name`.execute(db.db);
        expect(ran).toEqual(history.rows.map((r) => r.name));
      } finally {
        await db.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it("create the tables on PostgreSQL, also from concurrent starts", async ({ skip }) => {
    const handle = await openTestPostgres();
    if (!handle) return skip("PostgreSQL unreachable");
    try {
      const results = await Promise.all([migrateScimTables(handle.db, "postgres"), migrateScimTables(handle.db, "postgres")]);
      for (const r of results) expect(r.error).toBeUndefined();
      const tables = await sql<{ tablename: string }>`select tablename from pg_tables where tablename like 'scim_%' order by tablename`.execute(handle.db);
      expect(tables.rows.map((r) => r.tablename)).toContain("scim_resources");
    } finally {
      await handle.destroy();
    }
  });

  it("create the tables in a PostgreSQL schema of their own, beside those in public", async ({ skip }) => {
    const pub = await openTestPostgres();
    if (!pub) return skip("PostgreSQL unreachable");
    const schema = `scim_mig_${Math.random().toString(36).slice(2, 10)}`;
    const handle = await openTestPostgres({ schema });
    try {
      const tables = await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = ${schema} order by tablename`.execute(handle!.db);
      expect(tables.rows.map((r) => r.tablename)).toEqual(["scim_counts", "scim_emails", "scim_members", "scim_migrations", "scim_migrations_lock", "scim_outbox", "scim_outbox_pruned", "scim_resources", "scim_secrets", "scim_unique_keys"]);
    } finally {
      await handle?.destroy();
      await sql.raw(`drop schema if exists ${schema} cascade`).execute(pub.db);
      await pub.destroy();
    }
  });

  it("create the tables in public when another schema of the database already has them", async ({ skip }) => {
    // A database of its own, so that public starts empty: Kysely looked for its history tables in
    // every schema, found the other schema's, skipped creating its own and failed.
    const admin = await openTestPostgres();
    if (!admin) return skip("PostgreSQL unreachable");
    const database = `scim_mig_${Math.random().toString(36).slice(2, 10)}`;
    await sql.raw(`create database ${database}`).execute(admin.db);
    const url = new URL(POSTGRES_TEST_URL);
    url.pathname = `/${database}`;
    try {
      const other = openPostgres({ connectionString: url.href, schema: "other_app" });
      await migrateScimTables(other.db, "postgres", { schema: "other_app" });
      await other.destroy();
      const pub = openPostgres({ connectionString: url.href });
      try {
        const result = await migrateScimTables(pub.db, "postgres");
        expect(result.error).toBeUndefined();
        expect((await migrateScimTables(pub.db, "postgres")).results).toEqual([]);
        const tables = await sql<{ schemaname: string }>`select schemaname from pg_tables where tablename = 'scim_migrations_lock' order by schemaname`.execute(pub.db);
        expect(tables.rows.map((r) => r.schemaname)).toEqual(["other_app", "public"]);
      } finally {
        await pub.destroy();
      }
    } finally {
      await sql.raw(`drop database if exists ${database} with (force)`).execute(admin.db);
      await admin.destroy();
    }
  });
});

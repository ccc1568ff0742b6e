import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openPostgres } from "./dialect.js";
import { openTestPostgres, openTestSqlite, POSTGRES_TEST_URL } from "./test-databases.js";
import { migrateScimTables } from "./migrations.js";
import { sqlStore } from "./sql-store.js";

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

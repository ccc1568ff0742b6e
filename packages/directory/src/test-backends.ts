/**
 * Test support (not part of the package's build): the databases the directory tests run on.
 * SQLite in memory always; PostgreSQL at SCIM_TEST_DATABASE_URL in a schema of its own, dropped
 * afterwards. An unreachable PostgreSQL is skipped locally and fails the tests under CI.
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { openPostgres, openSqlite, type ScimSqlDatabase } from "scim-store-sql";
import { afterAll, beforeAll } from "vitest";
import type { DirectorySync } from "./directory-sync.js";

const PG_URL = process.env.SCIM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const ci = process.env.CI === "true" || process.env.CI === "1";

async function postgresReachable(): Promise<boolean> {
  const probe = openPostgres({ connectionString: PG_URL, max: 1 });
  try {
    await sql`select 1`.execute(probe.db);
    return true;
  } catch {
    return false;
  } finally {
    await probe.destroy();
  }
}
const pgReachable = await postgresReachable();

/** A database to run a suite on. */
export interface Backend {
  name: string;
  /** True when the suite must be skipped (PostgreSQL unreachable outside CI). */
  skip: boolean;
  open(): Promise<{ database: ScimSqlDatabase; cleanup(): Promise<void> }>;
}

export const backends: Backend[] = [
  { name: "sqlite", skip: false, open: async () => ({ database: openSqlite({ filename: ":memory:" }), cleanup: async () => {} }) },
  {
    name: "postgres",
    skip: !pgReachable && !ci,
    open: async () => {
      if (!pgReachable) throw new Error(`PostgreSQL is unreachable at ${PG_URL}; CI requires it`);
      const schema = `scim_dir_test_${randomBytes(6).toString("hex")}`;
      return {
        database: openPostgres({ connectionString: PG_URL, schema }),
        cleanup: async () => {
          const admin = openPostgres({ connectionString: PG_URL, max: 1 });
          await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
          await admin.destroy();
        },
      };
    },
  },
];

/**
 * A DirectorySync on `backend` for the tests of a `describe` block: opened (by `create`, given the
 * database) before them and handed to `ready`, closed with its database after them. Nothing when
 * the backend is skipped.
 */
export function useDirectorySync(backend: Backend, create: (database: ScimSqlDatabase) => Promise<DirectorySync>, ready: (sync: DirectorySync) => void): void {
  let sync: DirectorySync | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (backend.skip) return;
    const opened = await backend.open();
    cleanup = opened.cleanup;
    sync = await create(opened.database);
    ready(sync);
  });
  afterAll(async () => {
    await sync?.close();
    await cleanup?.();
  });
}

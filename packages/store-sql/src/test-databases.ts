/**
 * The databases the tests run on (test-only; not exported from the package). PostgreSQL is the
 * server at `SCIM_TEST_DATABASE_URL` (default: the local one at 127.0.0.1:5432, database `test`).
 * When it cannot be reached, its tests are skipped locally but fail under CI (`CI=true`), so a CI
 * run never passes without having run them.
 */
import { CompiledQuery } from "kysely";
import { openPostgres, openSqlite, type ScimSqlDatabase } from "./dialect.js";
import { migrateScimTables } from "./migrations.js";

/** The PostgreSQL database of the tests. */
export const POSTGRES_TEST_URL = process.env.SCIM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const ci = process.env.CI === "true" || process.env.CI === "1";

let reachable: Promise<boolean> | undefined;

/** Whether the PostgreSQL test server answers (checked once per process). */
export function postgresReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const handle = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 1 });
    try {
      await handle.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
      return true;
    } catch {
      return false;
    } finally {
      await handle.destroy();
    }
  })();
  return reachable;
}

/**
 * Opens a migrated PostgreSQL test database. Throws under CI when the server is unreachable;
 * returns undefined locally (the caller skips).
 */
export async function openTestPostgres(options: { schema?: string } = {}): Promise<ScimSqlDatabase | undefined> {
  if (!(await postgresReachable())) {
    if (ci) throw new Error(`PostgreSQL is unreachable at ${POSTGRES_TEST_URL}; CI requires it (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)`);
    return undefined;
  }
  const handle = openPostgres({ connectionString: POSTGRES_TEST_URL, max: 10, schema: options.schema });
  await migrateScimTables(handle.db, "postgres", options.schema !== undefined ? { schema: options.schema } : {});
  return handle;
}

/** Opens a migrated in-memory SQLite database. */
export async function openTestSqlite(filename = ":memory:"): Promise<ScimSqlDatabase> {
  const handle = openSqlite({ filename });
  await migrateScimTables(handle.db, "sqlite");
  return handle;
}

/** A statement the database ran: its SQL text and parameters. */
export interface RanStatement {
  sql: string;
  parameters: readonly unknown[];
}

/**
 * A migrated in-memory SQLite database for query-plan tests: it keeps the statements run while
 * `recording` is on, and tells the steps of a statement's plan (EXPLAIN QUERY PLAN, one line per step).
 */
export async function openPlannedSqlite() {
  const statements: RanStatement[] = [];
  const state = { recording: false };
  const database = openSqlite({ filename: ":memory:", log: (e) => void (state.recording && e.level === "query" && statements.push({ sql: e.query.sql, parameters: e.query.parameters })) });
  await migrateScimTables(database.db, "sqlite");
  const plan = async (q: RanStatement): Promise<string[]> =>
    (await database.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]))).rows.map((step) => step.detail);
  return { database, statements, state, plan };
}

/**
 * The databases the tests run on (test-only; not exported from the package). PostgreSQL is the
 * server at `SCIM_TEST_DATABASE_URL` (default: the local one at 127.0.0.1:5432, database `test`).
 * When it cannot be reached, its tests are skipped locally but fail under CI (`CI=true`), so a CI
 * run never passes without having run them.
 */
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

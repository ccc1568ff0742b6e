/**
 * The PostgreSQL of the tests (test-only): the server at `SCIM_TEST_DATABASE_URL` (default the
 * local one, database `test`), one fresh database per test run. When it cannot be reached, its
 * tests are skipped locally but fail under CI (`CI=true`), so a CI run never passes without them.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The PostgreSQL database of the tests. */
export const POSTGRES_TEST_URL = process.env.SCIM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const ci = process.env.CI === "true" || process.env.CI === "1";

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_TEST_URL, connectionTimeoutMillis: 3000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Whether to define the PostgreSQL tests: yes when the server answers, and always under CI (where
 * {@link createTestSchema} then throws, failing them); locally no when it is unreachable.
 */
export const runPostgresTests: boolean = ci || (await reachable());

/** A fresh, empty database for one test run. */
export interface TestDatabase {
  /** `scim_test_<hex>`. */
  name: string;
  /** {@link POSTGRES_TEST_URL} pointing at this database. */
  url: string;
  /** Drops the database (closing what is still connected to it). */
  drop(): Promise<void>;
}

async function run(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_TEST_URL, connectionTimeoutMillis: 3000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates a database `scim_test_<hex>` on the test server; throws (with how to start PostgreSQL)
 * when it is unreachable.
 *
 * A database rather than a schema of the shared one: scim-store-sql's migrations (Kysely's
 * Migrator) look for their `scim_migrations` tables in every schema, so in a new schema of a
 * database whose `public` schema already has them they skip creating them and fail.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `scim_test_${randomBytes(6).toString("hex")}`;
  try {
    await run(`create database ${name}`);
  } catch (error) {
    throw new Error(`PostgreSQL is unreachable at ${POSTGRES_TEST_URL} (${String(error)}); CI requires it (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)`);
  }
  const url = new URL(POSTGRES_TEST_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => run(`drop database if exists ${name} with (force)`) };
}

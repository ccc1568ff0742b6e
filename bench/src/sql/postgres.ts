/**
 * PostgreSQL: the server at SCIM_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
 * in a dedicated schema (`scim_bench`) dropped and recreated on every run. The store opens its own
 * pool (scim-store-sql's `openPostgres`, 10 connections); the raw statements run on a second pg pool
 * with the same search_path, as named prepared statements (`pool.query({ name, text, values })`).
 */
import { createRequire } from "node:module";
import pg from "pg";
import { Kysely, PostgresDialect } from "kysely";
import { createSqlStore, openPostgres, sqlStore, type ScimDatabase } from "scim-store-sql";
import { RESOURCE_SELECT, type Backend, type RawQueries, type RawQueryName, type RawRow, type Statement } from "./backend.js";
import { TENANT } from "./data.js";

export const POSTGRES_URL = process.env.SCIM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const SCHEMA = "scim_bench";

interface Row {
  seq: string;
  id: string;
  doc: Record<string, unknown>;
}

const toRaw = (r: Row): RawRow => ({ seq: Number(r.seq), id: r.id, attributes: r.doc });

const LIVE = `tenant = $1 and resource_type = $2 and deleted = false`;

/** The hand-written SELECTs and their parameters (same indexes as the store: see migrations.ts). */
const SELECTS: Record<RawQueryName, { text: string; values: (...args: any[]) => unknown[] }> = {
  byUserName: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} and user_name_lower = $3 order by seq limit $4`, values: (v: string, n: number) => [TENANT, "User", v, n] },
  byExternalId: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} and external_id = $3 order by seq limit $4`, values: (v: string, n: number) => [TENANT, "User", v, n] },
  byWorkEmail: {
    text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} and id in (select resource_id from scim_emails where tenant = $1 and value_lower = $3 and type_lower = 'work') order by seq limit $4`,
    values: (v: string, n: number) => [TENANT, "User", v, n],
  },
  pageAtOffset: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} order by seq limit $3 offset $4`, values: (offset: number, n: number) => [TENANT, "User", n, offset] },
  pageAfterSeq: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} and seq > $3 order by seq limit $4`, values: (seq: number, n: number) => [TENANT, "User", seq, n] },
};

export interface PostgresBackendOptions {
  /** Keep the schema and reuse it when it holds this data set (development). */
  keep?: { users: number; dataVersion: string };
}

export async function openPostgresBackend(options: PostgresBackendOptions = {}): Promise<Backend> {
  const marker = options.keep ? `loaded users=${options.keep.users} data=${options.keep.dataVersion}` : undefined;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  let version = "";
  let loaded = false;
  try {
    version = String((await admin.query("show server_version")).rows[0].server_version);
    if (marker) {
      const r = await admin.query(`select obj_description(oid, 'pg_namespace') as c from pg_namespace where nspname = $1`, [SCHEMA]);
      loaded = r.rows[0]?.c === marker;
    }
    if (!loaded) {
      await admin.query(`drop schema if exists ${SCHEMA} cascade`);
      await admin.query(`create schema ${SCHEMA}`);
    }
  } finally {
    await admin.end();
  }
  const store = await createSqlStore({ database: openPostgres({ connectionString: POSTGRES_URL, schema: SCHEMA }) });
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4, options: `-c search_path=${SCHEMA}` });
  pool.on("error", () => {});

  const all = async (name: RawQueryName, ...args: unknown[]): Promise<RawRow[]> =>
    (await pool.query<Row>({ name: `bench_${name}`, text: SELECTS[name].text, values: SELECTS[name].values(...args) })).rows.map(toRaw);
  const member = async (name: string, text: string, groupId: string, memberId: string): Promise<void> => {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const bumped = await client.query({
        name: "bench_bump",
        text: `update scim_resources set version = version + 1, last_modified = $1 where tenant = $2 and id = $3 and resource_type = 'Group' and deleted = false
               returning id, resource_type, version, created, last_modified, doc`,
        values: [new Date().toISOString(), TENANT, groupId],
      });
      if (bumped.rowCount !== 1) throw new Error("group not found");
      await client.query({ name, text, values: [TENANT, groupId, memberId] });
      await client.query("commit");
    } catch (e) {
      await client.query("rollback");
      throw e;
    } finally {
      client.release();
    }
  };

  const raw: RawQueries = {
    byUserName: (lower, count) => all("byUserName", lower, count),
    byExternalId: (externalId, count) => all("byExternalId", externalId, count),
    byWorkEmail: (lower, count) => all("byWorkEmail", lower, count),
    pageAtOffset: (offset, count) => all("pageAtOffset", offset, count),
    pageAfterSeq: (seq, count) => all("pageAfterSeq", seq, count),
    seqAt: async (offset) => Number((await pool.query(`select seq from scim_resources where ${LIVE} order by seq limit 1 offset $3`, [TENANT, "User", offset])).rows[0].seq),
    addMember: (groupId, memberId) =>
      member(
        "bench_insert_member",
        `insert into scim_members (tenant, group_id, member_id, member_type, display) values ($1, $2, $3, 'User', null) on conflict (tenant, group_id, member_id) do nothing`,
        groupId,
        memberId,
      ),
    removeMember: (groupId, memberId) => member("bench_delete_member", `delete from scim_members where tenant = $1 and group_id = $2 and member_id in ($3)`, groupId, memberId),
  };
  let driver = "?";
  try {
    driver = (createRequire(import.meta.url)("pg/package.json") as { version: string }).version;
  } catch {
    /* unknown */
  }

  return {
    dialect: "postgres",
    description: `PostgreSQL ${version} at ${POSTGRES_URL.replace(/\/\/[^@/]*@/, "//")} (schema ${SCHEMA}) through pg ${driver}`,
    store,
    raw,
    loaded,
    async markLoaded() {
      if (marker) await pool.query(`comment on schema ${SCHEMA} is '${marker}'`);
    },
    async beforeLoad() {},
    async capture(work) {
      const captured: Statement[] = [];
      const capturePool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2, options: `-c search_path=${SCHEMA}` });
      const kysely = new Kysely<ScimDatabase>({
        dialect: new PostgresDialect({ pool: capturePool }),
        log: (event) => {
          if (event.level === "query") captured.push({ sql: event.query.sql, parameters: event.query.parameters });
        },
      });
      try {
        await work(sqlStore({ database: { db: kysely, dialect: "postgres", description: "PostgreSQL (benchmark transaction)", destroy: () => kysely.destroy() } }));
      } finally {
        await kysely.destroy();
      }
      return captured;
    },
    rawStatement: (name, ...args) => ({ sql: SELECTS[name].text, parameters: SELECTS[name].values(...args) }),
    async explain(statement) {
      // EXPLAIN ANALYZE runs the statement: inside a transaction rolled back, writes leave nothing.
      const client = await pool.connect();
      try {
        await client.query("begin");
        const result = await client.query(`explain (analyze, buffers, costs off) ${statement.sql}`, statement.parameters as unknown[]);
        return result.rows.map((r) => r["QUERY PLAN"]).join("\n");
      } finally {
        await client.query("rollback").catch(() => {});
        client.release();
      }
    },
    async afterLoad() {
      for (const table of ["scim_resources", "scim_emails", "scim_members", "scim_unique_keys", "scim_counts"]) await pool.query(`vacuum analyze ${table}`);
      const av = (await pool.query("show autovacuum")).rows[0].autovacuum;
      return `VACUUM ANALYZE of the tables after loading (autovacuum is ${av} on this server; done up front so that it does not run during the timings)`;
    },
    async sizeBytes() {
      const r = await pool.query(`select coalesce(sum(pg_total_relation_size(c.oid)), 0) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r'`, [SCHEMA]);
      return Number(r.rows[0].n);
    },
    async close() {
      await pool.end();
      await store.close();
    },
  };
}

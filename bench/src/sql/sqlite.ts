/**
 * SQLite: a database file in a fresh temporary folder, opened by scim-store-sql's `openSqlite`
 * (better-sqlite3, WAL, synchronous NORMAL); the raw statements run on a second better-sqlite3
 * connection to the same file with the same settings, prepared once.
 */
import Database from "better-sqlite3";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";
import { Kysely, SqliteDialect, sql } from "kysely";
import { createSqlStore, openSqlite, registerSqliteFunctions, sqlStore, type ScimDatabase } from "scim-store-sql";

/** A connection of the benchmark's own with the SQL functions the store's queries use (openSqlite registers them on its own). */
function withScimFunctions<T extends object>(connection: T): T {
  registerSqliteFunctions(connection as unknown as Parameters<typeof registerSqliteFunctions>[0]);
  return connection;
}
import { RESOURCE_SELECT, type Backend, type RawQueries, type RawQueryName, type RawRow, type Statement } from "./backend.js";
import { TENANT } from "./data.js";

interface Row {
  seq: number;
  id: string;
  doc: string;
}

const toRaw = (r: Row): RawRow => ({ seq: r.seq, id: r.id, attributes: JSON.parse(r.doc) });

const LIVE = `tenant = ? and resource_type = ? and deleted = 0`;

/** The hand-written SELECTs and their parameters (same indexes as the store: see migrations.ts). */
const SELECTS: Record<RawQueryName, { text: string; values: (...args: any[]) => unknown[] }> = {
  byUserName: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} and user_name_lower = ? order by seq limit ?`, values: (v: string, n: number) => [TENANT, "User", v, n] },
  byExternalId: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} and external_id = ? order by seq limit ?`, values: (v: string, n: number) => [TENANT, "User", v, n] },
  // INDEXED BY: without ANALYZE statistics SQLite would rather walk scim_resources_seq (for the
  // ORDER BY) and test every row against the subquery, ~5000x slower at 1,000,000 users.
  byWorkEmail: {
    text: `select ${RESOURCE_SELECT} from scim_resources indexed by scim_resources_id where ${LIVE} and id in (select resource_id from scim_emails where tenant = ? and value_lower = ? and type_lower = 'work') order by seq limit ?`,
    values: (v: string, n: number) => [TENANT, "User", TENANT, v, n],
  },
  pageAtOffset: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} order by seq limit ? offset ?`, values: (offset: number, n: number) => [TENANT, "User", n, offset] },
  pageAfterSeq: { text: `select ${RESOURCE_SELECT} from scim_resources where ${LIVE} and seq > ? order by seq limit ?`, values: (seq: number, n: number) => [TENANT, "User", seq, n] },
};

export interface SqliteBackendOptions {
  /** Keep the database in a fixed place and reuse it when it holds this data set (development). */
  keep?: { users: number; dataVersion: string };
}

export async function openSqliteBackend(options: SqliteBackendOptions = {}): Promise<Backend> {
  let dir: string;
  let filename: string;
  let marker: string | undefined;
  let loaded = false;
  if (options.keep) {
    dir = join(os.tmpdir(), "scim-bench-sql-keep");
    mkdirSync(dir, { recursive: true });
    filename = join(dir, `scim-${options.keep.users}.db`);
    marker = `${filename}.loaded-${options.keep.dataVersion}`;
    loaded = existsSync(marker) && existsSync(filename);
    if (!loaded) for (const f of [filename, `${filename}-wal`, `${filename}-shm`]) rmSync(f, { force: true });
  } else {
    dir = mkdtempSync(join(os.tmpdir(), "scim-bench-sql-"));
    filename = join(dir, "scim.db");
  }
  const store = await createSqlStore({ database: openSqlite({ filename }) });

  const db = new Database(filename);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  const prepared = Object.fromEntries(Object.entries(SELECTS).map(([k, v]) => [k, db.prepare(v.text)])) as Record<RawQueryName, Database.Statement>;
  const all = (name: RawQueryName, ...args: unknown[]): RawRow[] => (prepared[name].all(...SELECTS[name].values(...args)) as Row[]).map(toRaw);
  const seqAt = db.prepare(`select seq from scim_resources where ${LIVE} order by seq limit 1 offset ?`);
  const bump = db.prepare(
    `update scim_resources set version = version + 1, last_modified = ? where tenant = ? and id = ? and resource_type = 'Group' and deleted = 0
     returning id, resource_type, version, created, last_modified, doc`,
  );
  const insertMember = db.prepare(`insert into scim_members (tenant, group_id, member_id, member_type, display) values (?, ?, ?, 'User', null) on conflict (tenant, group_id, member_id) do nothing`);
  const deleteMember = db.prepare(`delete from scim_members where tenant = ? and group_id = ? and member_id in (?)`);
  const memberTx = (change: Database.Statement) =>
    db.transaction((groupId: string, memberId: string) => {
      const row = bump.get(new Date().toISOString(), TENANT, groupId) as { doc: string } | undefined;
      if (!row) throw new Error("group not found");
      JSON.parse(row.doc);
      change.run(TENANT, groupId, memberId);
    });
  const addTx = memberTx(insertMember);
  const removeTx = memberTx(deleteMember);

  const raw: RawQueries = {
    byUserName: async (lower, count) => all("byUserName", lower, count),
    byExternalId: async (externalId, count) => all("byExternalId", externalId, count),
    byWorkEmail: async (lower, count) => all("byWorkEmail", lower, count),
    pageAtOffset: async (offset, count) => all("pageAtOffset", offset, count),
    pageAfterSeq: async (seq, count) => all("pageAfterSeq", seq, count),
    seqAt: async (offset) => (seqAt.get(TENANT, "User", offset) as { seq: number }).seq,
    addMember: async (groupId, memberId) => addTx(groupId, memberId),
    removeMember: async (groupId, memberId) => removeTx(groupId, memberId),
  };
  const version = (db.prepare("select sqlite_version() as v").get() as { v: string }).v;
  let driver = "?";
  try {
    driver = (createRequire(import.meta.url)("better-sqlite3/package.json") as { version: string }).version;
  } catch {
    /* unknown */
  }

  return {
    dialect: "sqlite",
    description: `SQLite ${version} through better-sqlite3 ${driver}, a file in ${dir} (WAL, synchronous NORMAL, default page cache)`,
    store,
    raw,
    loaded,
    markLoaded() {
      if (marker) writeFileSync(marker, new Date().toISOString());
    },
    async beforeLoad() {
      // A bigger page cache for the bulk load only (the default 2 MB makes every index insert a
      // read from the OS); set back to the default afterwards, so that the timings use what
      // openSqlite configures.
      await sql.raw("pragma cache_size = -1048576").execute(store.db);
    },
    async capture(work) {
      const captured: Statement[] = [];
      const kysely = new Kysely<ScimDatabase>({
        dialect: new SqliteDialect({ database: withScimFunctions(new Database(filename)) }),
        log: (event) => {
          if (event.level === "query") captured.push({ sql: event.query.sql, parameters: event.query.parameters });
        },
      });
      try {
        await work(sqlStore({ database: { db: kysely, dialect: "sqlite", description: "SQLite (benchmark transaction)", destroy: () => kysely.destroy() } }));
      } finally {
        await kysely.destroy();
      }
      return captured;
    },
    rawStatement: (name, ...args) => ({ sql: SELECTS[name].text, parameters: SELECTS[name].values(...args) }),
    async explain(statement) {
      const rows = db.prepare(`explain query plan ${statement.sql}`).all(...(statement.parameters as unknown[])) as { id: number; parent: number; detail: string }[];
      const depth = new Map<number, number>();
      return rows
        .map((r) => {
          const d = (depth.get(r.parent) ?? -1) + 1;
          depth.set(r.id, d);
          return `${"  ".repeat(d)}${r.detail}`;
        })
        .join("\n");
    },
    async afterLoad() {
      await sql.raw("pragma cache_size = -2000").execute(store.db);
      db.pragma("wal_checkpoint(TRUNCATE)");
      return "page cache 1 GiB during the load only, then back to the default (2 MB); WAL checkpointed; no ANALYZE by the benchmark (the planner statistics are whatever the store keeps itself)";
    },
    async sizeBytes() {
      let n = 0;
      for (const f of [filename, `${filename}-wal`]) {
        try {
          n += statSync(f).size;
        } catch {
          /* absent */
        }
      }
      return n;
    },
    async close() {
      db.close();
      await store.close();
      if (!options.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Opening a database: SQLite through better-sqlite3 (a file in WAL mode, or `:memory:`) or
 * PostgreSQL through pg. Both drivers are optional peer dependencies, loaded only when used.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { queryTimedOut } from "scim-core";
import { Kysely, PostgresDialect, type LogEvent, type PostgresPool } from "kysely";
import { Slots } from "./slots.js";
import { startCheckpointer, type Checkpointer, type CheckpointOptions } from "./sqlite-checkpointer.js";
import { installSqliteFunctions, type SqliteFunctionHost } from "./sqlite-functions.js";
import { startSearchThread, type SearchThread } from "./sqlite-search-thread.js";
import { groupCommitDialect, type BetterSqliteDatabase, type GroupCommitOptions } from "./sqlite-driver.js";
import type { ScimDatabase } from "./tables.js";

/** The two supported databases. */
export type SqlDialectName = "sqlite" | "postgres";

/** A database handle: Kysely over one of the dialects, and what to close. */
export interface ScimSqlDatabase {
  db: Kysely<ScimDatabase>;
  dialect: SqlDialectName;
  /** PostgreSQL: the schema the tables live in, when not the default. */
  schema?: string;
  /** What it is, to print: `SQLite /srv/app/data/scim.db` or `PostgreSQL postgres://scim@db:5432/scim` (never a password). */
  description: string;
  /** SQLite files: the worker thread that runs the WAL checkpoints (see `sqlite-checkpointer.ts`), when on. */
  checkpointer?: Checkpointer;
  /** SQLite files: the worker thread that runs the store's searches (see `sqlite-search-thread.ts`), when on. */
  searchThread?: SearchThread;
  /** PostgreSQL: the most connections its pool opens. */
  poolSize?: number;
  /** Closes the connection(s). */
  destroy(): Promise<void>;
}

const load = createRequire(import.meta.url);

/**
 * @internal The SQL function that folds case on SQLite as JavaScript's `toLowerCase` does (all of
 * Unicode, as scim-core's `compileFilter` and memoryStore fold), which `openSqlite` registers on
 * its connection: SQLite's own `lower()` folds ASCII letters only. The filter and sort translators
 * use it on strings read from the JSON document; the indexed columns are folded in JavaScript
 * when written and never go through it.
 */
export const SQLITE_LOWER = "scim_lower";

/**
 * @internal The SQL function that ends a SQLite query past its deadline: `scim_before(deadline,
 * r.seq)` is 1 until `Date.now()` passes `deadline`, then throws scim-core's `queryTimedOut()`
 * (400 `tooMany`), which better-sqlite3 hands back from the statement. The SQL store puts it first
 * in the WHERE clause of list searches that carry `StoreQuery.deadline` (not of the lookups an
 * index narrows, see `narrowedByIndex`), so SQLite calls it on every row it reads (the column keeps
 * it from being evaluated once as a constant). better-sqlite3 runs statements on the server's own
 * thread and cannot interrupt them otherwise.
 */
export const SQLITE_DEADLINE = "scim_before";

/** The names of the store's SQLite functions, as {@link installSqliteFunctions} takes them. */
const SQLITE_FUNCTIONS = { lower: SQLITE_LOWER, deadline: SQLITE_DEADLINE };

type SqliteConstructor = new (filename: string) => BetterSqliteDatabase & SqliteFunctionHost & { pragma(text: string): unknown };

/**
 * Registers the SQL functions the SQL store's queries use on a better-sqlite3 connection that was
 * not made by {@link openSqlite} (which registers them itself): {@link SQLITE_LOWER},
 * `toLowerCase` of text, where NULL, numbers and blobs give what `lower()` gives, and
 * {@link SQLITE_DEADLINE}, which ends a list query past `StoreQuery.deadline`. Without them,
 * case-insensitive filters and sorts on strings of the JSON document fail with "no such function",
 * and list queries run to their end whatever their deadline.
 *
 * @example
 * const connection = new Database("scim.db");
 * registerSqliteFunctions(connection);
 * sqlStore({ database: { db: new Kysely({ dialect: new SqliteDialect({ database: connection }) }), dialect: "sqlite", ... } });
 */
export function registerSqliteFunctions(database: SqliteFunctionHost): void {
  installSqliteFunctions(database, load("better-sqlite3") as SqliteConstructor, SQLITE_FUNCTIONS, queryTimedOut);
}

/** Options of {@link openSqlite}. */
export interface SqliteOptions {
  /** A file path, or `":memory:"`. */
  filename: string;
  /** How long a write waits for another process's lock, in milliseconds (without blocking the event loop). @default 5000 */
  busyTimeoutMs?: number;
  /** Receives every query Kysely runs (SQL text, parameters, duration), for logging and tests. */
  log?: (event: LogEvent) => void;
  /**
   * Group commit: the transactions of concurrent requests share one COMMIT, and each returns
   * only once that COMMIT succeeded (see `sqlite-driver.ts`). `false` commits every transaction
   * on its own. @default true
   */
  groupCommit?: boolean | GroupCommitOptions;
  /**
   * Where the store's searches of a file run (lists that are not lookups an index narrows: a
   * filter no index answers, a `sortBy`): on a worker thread with its own connection, so that
   * they do not hold the server's thread (`"thread"`), or on the server's thread (`"inline"`).
   * `:memory:` has no second connection. @default "thread"
   */
  searches?: "thread" | "inline";
  /**
   * Where the WAL checkpoints of a file run: on a worker thread with its own connection
   * (`"background"`, or its options), so that they do not stall requests, or inside the COMMIT
   * that fills the WAL, as SQLite does by default (`"inline"`). `:memory:` has no WAL.
   * @default "background"
   */
  checkpoints?: "background" | "inline" | CheckpointOptions;
}

/**
 * Opens a SQLite database (better-sqlite3 12), creating the file and its folder when missing. Files use WAL mode with `synchronous = NORMAL`
 * (durable across process crashes; a power loss may lose the last commits, never corrupt), with
 * their WAL checkpoints on a worker thread (`checkpoints`), and a busy timeout is set. The
 * connection gets the case-folding function the filters and sorts use ({@link SQLITE_LOWER}).
 */
export function openSqlite(options: SqliteOptions): ScimSqlDatabase {
  const Database = load("better-sqlite3") as SqliteConstructor;
  const onDisk = options.filename !== ":memory:" && options.filename !== "";
  if (onDisk) mkdirSync(dirname(options.filename), { recursive: true });
  const database = new Database(options.filename);
  // The store's only connection (group commit serializes on it): every query it runs sees the function.
  installSqliteFunctions(database, Database, SQLITE_FUNCTIONS, queryTimedOut);
  if (onDisk) {
    database.pragma("journal_mode = WAL");
    database.pragma("synchronous = NORMAL");
    // The writer's temporary files in memory: the savepoint of each request in a group commit
    // journals the pages it changes, and past 64 KiB SQLite spilled that journal to a temporary
    // file, made and unlinked for every transaction (half the writer's system calls, a quarter of
    // its time in the DIRECTORY benchmark's storage floor). The writer runs no large sort: reads
    // outside transactions go to the reader, which keeps temporary files on disk.
    database.pragma("temp_store = MEMORY");
  }
  database.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  // Query planning needs statistics (without them SQLite may walk a whole tenant for an indexed
  // emails lookup): approximate ones are cheap to keep, and the store refreshes them as tables grow.
  database.pragma("analysis_limit = 1000");
  database.pragma("optimize = 0x10002");
  // From here on the writer never waits in SQLite's busy handler, which sleeps in the thread: a
  // lock held by another process froze every request for up to 5 s per write. The driver retries
  // SQLITE_BUSY itself, between turns of the event loop, until busyTimeoutMs after the write began
  // to wait for the writer.
  database.pragma("busy_timeout = 0");
  // A second connection for reads while a group of transactions is open (sqlite-driver.ts): it
  // sees committed rows only. An in-memory database has no second connection (nor durability).
  const reader = onDisk ? openReader(Database, options.filename, Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))) : undefined;
  const checkpoints = options.checkpoints ?? "background";
  const checkpointer = onDisk && checkpoints !== "inline" ? backgroundCheckpoints(database, options.filename, checkpoints === "background" ? {} : checkpoints) : undefined;
  const searchThread = onDisk && (options.searches ?? "thread") === "thread" ? startSearches(options.filename, Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))) : undefined;
  const group = options.groupCommit ?? true;
  const busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
  const dialect = groupCommitDialect(database, { busyTimeoutMs, ...(group === false ? { maxUnits: 1 } : group === true ? {} : group) }, checkpointer && (() => checkpointer.stop()), reader);
  const db = new Kysely<ScimDatabase>({ dialect, ...(options.log ? { log: options.log } : {}) });
  return {
    db,
    dialect: "sqlite",
    description: `SQLite ${options.filename}`,
    ...(checkpointer ? { checkpointer } : {}),
    ...(searchThread ? { searchThread } : {}),
    destroy: async () => {
      await searchThread?.stop();
      await db.destroy();
      // Kysely skips the driver's destroy when no query ever ran: stop the worker and close the
      // connection here too.
      await checkpointer?.stop();
      if (database.open !== false) database.close();
      if (reader !== undefined && reader.open !== false) reader.close();
    },
  };
}

/** The reader connection of a SQLite file: the same SQL functions as the writer, and it never writes. */
function openReader(Database: SqliteConstructor, filename: string, busyTimeoutMs: number): BetterSqliteDatabase & { pragma(text: string): unknown } {
  const reader = new Database(filename);
  installSqliteFunctions(reader, Database, SQLITE_FUNCTIONS, queryTimedOut);
  reader.pragma("query_only = 1");
  reader.pragma(`busy_timeout = ${busyTimeoutMs}`);
  return reader;
}

/** The search thread of a file, or undefined where no worker thread can start (searches then run on the server's thread). */
function startSearches(filename: string, busyTimeoutMs: number): SearchThread | undefined {
  try {
    return startSearchThread(filename, { driver: load.resolve("better-sqlite3"), functions: SQLITE_FUNCTIONS, busyTimeoutMs });
  } catch {
    return undefined;
  }
}

/** The background checkpointer of a file, or undefined where no worker thread can start (SQLite then checkpoints inline). */
function backgroundCheckpoints(database: BetterSqliteDatabase & { pragma(text: string): unknown }, filename: string, options: CheckpointOptions): Checkpointer | undefined {
  try {
    return startCheckpointer(database, filename, load.resolve("better-sqlite3"), options);
  } catch {
    return undefined;
  }
}

/** Options of {@link openPostgres}. */
export interface PostgresOptions {
  /** `postgres://user@host:5432/database`. */
  connectionString: string;
  /** Pool size; list searches (queries under a deadline) hold at most 2 fewer when it is larger than 2. @default 10 */
  max?: number;
  /**
   * A PostgreSQL schema to keep the tables in (created when missing; set as the connections'
   * `search_path`). @default the connection's default (`public`)
   */
  schema?: string;
  /** Receives every query Kysely runs (SQL text, parameters, duration), for logging and tests. */
  log?: (event: LogEvent) => void;
  /**
   * How long opening a connection may take, in milliseconds: past it the request fails (503, as
   * for a server that refuses connections) instead of waiting for a server that accepts and never
   * answers (frozen, or a network that drops packets). pg's pool applies it to the wait for a free
   * connection too, when every one is busy. @default 10000
   */
  connectTimeoutMs?: number;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Most named statements per connection, and the longest text named (beyond: unnamed, planned each time). */
const MAX_NAMED_STATEMENTS = 500;
const MAX_NAMED_TEXT = 4000;
/**
 * Most parameters of a named statement. A statement with more is a bulk one (a chunk of 500 ids
 * in an `IN` list) and is planned at each execution with its values: a named statement's generic
 * plan checks an `IN` list of parameters element by element against each row it reads, where a
 * plan made for the values hashes the list; with statistics taken before a transaction's own
 * inserts (a first large group) the generic plan read a whole directory per chunk: 125 ms per 500
 * ids, 12.5 s for a 20,000-member PATCH with a role mapping (found by review).
 */
const MAX_NAMED_VALUES = 64;

/**
 * The deadline of the PostgreSQL statements the current async call runs (see
 * {@link withStatementDeadline}).
 */
const statementDeadlines = new AsyncLocalStorage<number>();

/** Where the PostgreSQL statements of the current async call add their time (see {@link timingStatements}). */
const statementClocks = new AsyncLocalStorage<{ ms: number }>();

/**
 * @internal Runs `work` and adds to `clock.ms` the time its PostgreSQL statements take to run,
 * from sending each to its answer: not the time spent waiting for a search slot or a pool
 * connection, which other tenants' work causes.
 */
export function timingStatements<T>(clock: { ms: number }, work: () => Promise<T>): Promise<T> {
  return statementClocks.run(clock, work);
}

/**
 * @internal Runs `work` with the PostgreSQL statements it sends limited to end by `deadline`
 * (milliseconds since the epoch; `StoreQuery.deadline`): each gets a `statement_timeout` of the
 * time left (rounded up to {@link TIMEOUT_STEP_MS}), and one the server cancels, or one sent past
 * the deadline, throws scim-core's `queryTimedOut()` (400 `tooMany`). Only for connections {@link openPostgres}
 * makes; elsewhere it changes nothing.
 */
export function withStatementDeadline<T>(deadline: number, work: () => Promise<T>): Promise<T> {
  return statementDeadlines.run(deadline, work);
}

/**
 * Connections of the pool that list searches never take: however many slow filters run at once,
 * writes and reads by id find a connection.
 */
const RESERVED_CONNECTIONS = 2;


/**
 * The step `statement_timeout` is rounded up to: the statements of one query, and the queries
 * that start together, share one setting, and none runs more than this past its deadline.
 */
const TIMEOUT_STEP_MS = 100;

/** PostgreSQL's SQLSTATE of a statement cancelled (here: by `statement_timeout`). */
const QUERY_CANCELED = "57014";

/**
 * The pool's clients: they name the data statements they see, and keep statements run under a
 * deadline within it.
 *
 * Naming: pg plans an unnamed statement on every execution; a named one is parsed and planned once
 * per connection (the raw prepared statement's cost). Kysely sends unnamed queries, so the clients
 * name them (bounded per connection, so that many distinct filter shapes cannot grow server memory
 * without limit).
 *
 * Deadlines ({@link withStatementDeadline}): the connection's `statement_timeout` is set before a
 * statement that has one, rounded up to {@link TIMEOUT_STEP_MS} so that consecutive statements
 * share one setting, and reset before the next statement without one. Each client remembers its setting; after a
 * failure or a ROLLBACK (which undoes a SET made inside the transaction) it is unknown, and set or
 * reset again. Work under a deadline holds at most the pool's size less {@link RESERVED_CONNECTIONS}
 * connections at once (it waits for one until its deadline), so that slow filters sent together
 * cannot take every connection from the writes.
 */
function preparingPool(pool: import("pg").Pool, size: number): PostgresPool {
  type Query = (...args: unknown[]) => Promise<unknown>;
  type NamingClient = import("pg").PoolClient & { scimStatementNames?: Map<string, string> };
  // The connections list searches may hold at once; a search waits for one until its deadline.
  const searches = new Slots(size > RESERVED_CONNECTIONS ? size - RESERVED_CONNECTIONS : size);
  return {
    async connect() {
      // Work under a deadline (list searches) takes a slot first, and gives it back with the connection.
      const deadline = statementDeadlines.getStore();
      if (deadline !== undefined) await searches.take(deadline);
      let client: NamingClient;
      try {
        client = (await pool.connect()) as NamingClient;
      } catch (error) {
        if (deadline !== undefined) searches.give();
        throw error;
      }
      if (deadline !== undefined) {
        const release = client.release;
        client.release = (...args: Parameters<typeof release>) => {
          client.release = release;
          searches.give();
          return release.apply(client, args);
        };
      }
      if (client.scimStatementNames === undefined) {
        const names = new Map<string, string>();
        client.scimStatementNames = names;
        const query = client.query.bind(client) as Query;
        const send = (text: unknown, values?: unknown): Promise<unknown> => {
          if (typeof text === "string" && Array.isArray(values) && values.length > 0 && values.length <= MAX_NAMED_VALUES && text.length <= MAX_NAMED_TEXT && /^\s*(select|insert|update|delete|with)\b/i.test(text)) {
            let name = names.get(text);
            if (name === undefined && names.size < MAX_NAMED_STATEMENTS) {
              name = `scim_${names.size}`;
              names.set(text, name);
            }
            if (name !== undefined) return query({ name, text, values });
          }
          return query(text, values);
        };
        // The connection's statement_timeout: 0 for its default, undefined when unknown.
        let timeout: number | undefined = 0;
        const timed = async (text: unknown, values: unknown, deadline: number | undefined): Promise<unknown> => {
          if (deadline === undefined) {
            await query("reset statement_timeout");
            timeout = 0;
          } else {
            const left = deadline - Date.now();
            if (left <= 0) throw queryTimedOut();
            const wanted = Math.ceil(left / TIMEOUT_STEP_MS) * TIMEOUT_STEP_MS;
            if (timeout !== wanted) {
              timeout = undefined;
              await query(`set statement_timeout = ${wanted}`);
              timeout = wanted;
            }
          }
          try {
            return await send(text, values);
          } catch (error) {
            timeout = undefined;
            if (deadline !== undefined && (error as { code?: unknown }).code === QUERY_CANCELED) throw queryTimedOut();
            throw error;
          }
        };
        const run = (text: unknown, values?: unknown): Promise<unknown> => {
          const deadline = statementDeadlines.getStore();
          if (typeof text === "string" && text.length < 64 && /^\s*rollback/i.test(text)) {
            // It may undo a SET or RESET made inside its transaction, and runs in an aborted
            // transaction, where nothing else may be sent first.
            timeout = undefined;
            return send(text, values);
          }
          if (deadline === undefined && timeout === 0) return send(text, values);
          return timed(text, values, deadline);
        };
        (client as unknown as { query: Query }).query = (text: unknown, values?: unknown) => {
          const clock = statementClocks.getStore();
          if (clock === undefined) return run(text, values);
          const started = performance.now();
          return run(text, values).finally(() => (clock.ms += performance.now() - started));
        };
      }
      return client as unknown as Awaited<ReturnType<PostgresPool["connect"]>>;
    },
    end: () => pool.end(),
  };
}

/** A connection string without its password, query or fragment. */
function describePostgres(connectionString: string): string {
  try {
    const u = new URL(connectionString);
    return `PostgreSQL ${u.protocol}//${u.username ? `${u.username}@` : ""}${u.host}${u.pathname}`;
  } catch {
    return "PostgreSQL";
  }
}

/** Opens a pool on PostgreSQL (15 or later) through pg. */
export function openPostgres(options: PostgresOptions): ScimSqlDatabase {
  const pg = load("pg") as typeof import("pg");
  const schema = options.schema;
  if (schema !== undefined && !IDENTIFIER.test(schema)) throw new Error(`invalid PostgreSQL schema name '${schema}' (lower-case letters, digits and _)`);
  const max = options.max ?? 10;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max,
    connectionTimeoutMillis: Math.max(1, options.connectTimeoutMs ?? 10_000),
    // TCP keep-alive finds a server that vanished under an open connection (a host down, a
    // network cut) instead of leaving the connection to wait for it forever.
    keepAlive: true,
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
  });
  if (schema !== undefined) pool.on("connect", (client) => void client.query(`create schema if not exists ${schema}`).catch(() => {}));
  // A connection's error must not crash the process. The pool listens on idle clients only, and a
  // client checked out (inside a transaction, between two statements) emits its error with nobody
  // listening: a failover, a pgbouncer restart or pg_terminate_backend then killed the server. The
  // statement in flight, or the next one, fails instead, and the pool drops the broken client.
  pool.on("error", () => {});
  pool.on("connect", (client) => void client.on("error", () => {}));
  const db = new Kysely<ScimDatabase>({ dialect: new PostgresDialect({ pool: preparingPool(pool, max) }), ...(options.log ? { log: options.log } : {}) });
  return { db, dialect: "postgres", ...(schema !== undefined ? { schema } : {}), poolSize: max, description: describePostgres(options.connectionString), destroy: () => db.destroy() };
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Resolve a relative SQLite path against this folder. @default the working directory */
  baseDir?: string;
  /** PostgreSQL: the schema to keep the tables in (see {@link PostgresOptions.schema}); refused for SQLite. */
  schema?: string;
  /** PostgreSQL: the pool's size (see {@link PostgresOptions.max}); SQLite has one connection. @default 10 */
  poolSize?: number;
  /** SQLite files: where their WAL checkpoints run (see {@link SqliteOptions.checkpoints}). @default "background" */
  checkpoints?: "background" | "inline" | CheckpointOptions;
}

/**
 * Opens the database a URL names: `postgres://` or `postgresql://` for PostgreSQL, `sqlite:<path>`,
 * `file:<path>` or a plain path for SQLite, `:memory:` for an in-memory SQLite database. Any other
 * scheme (`mysql://...`) throws, rather than create a file of that name, and so does a SQLite URL
 * without a path (`sqlite:`), which better-sqlite3 would open as a temporary database.
 */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): ScimSqlDatabase {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    return openPostgres({ connectionString: url, ...(options.schema !== undefined ? { schema: options.schema } : {}), ...(options.poolSize !== undefined ? { max: options.poolSize } : {}) });
  }
  if (options.schema !== undefined) throw new Error("a schema applies to PostgreSQL only (the URL names SQLite)");
  // Any other scheme (`mysql://`, `https:`) is a mistake, not a file name to create. A single
  // letter is a Windows drive (`C:\data\a.db`).
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(url)?.[1];
  if (scheme !== undefined && !/^(sqlite|file)$/i.test(scheme)) {
    throw new Error(`unsupported database URL scheme '${scheme}:' (use postgres://..., sqlite:<path> or a file path)`);
  }
  const path = url.replace(/^(sqlite|file):(\/\/)?/i, "");
  // better-sqlite3 opens an empty name as a temporary database, deleted when it closes: a server
  // configured with `sqlite:` lost everything at every stop.
  if (path.trim() === "") throw new Error("the database URL names no SQLite file (sqlite:<path>, or :memory: for an in-memory database)");
  const filename = path === ":memory:" || options.baseDir === undefined ? path : resolve(options.baseDir, path);
  return openSqlite({ filename, ...(options.checkpoints !== undefined ? { checkpoints: options.checkpoints } : {}) });
}

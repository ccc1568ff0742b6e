/**
 * A Kysely driver for better-sqlite3 with group commit: the transactions of concurrent requests
 * share one SQLite transaction and one COMMIT, and none of them returns before that COMMIT.
 *
 * Why: on SQLite in WAL mode a COMMIT appends every page the transaction changed to the WAL.
 * Concurrent inserts touch the same pages (the right-most leaves of the tables and indexes), so a
 * COMMIT per request writes those pages once per request; one COMMIT for a group of requests
 * writes them once for the group. Measured on the directory-sync service, the COMMIT was the
 * largest single cost of a SCIM POST.
 *
 * How: SQLite has one connection, guarded by a mutex (as in Kysely's own SqliteDriver). The first
 * transaction opens the group (`BEGIN IMMEDIATE`); every transaction of the group runs inside a
 * savepoint of it, so a failing one rolls back alone (`ROLLBACK TO`). When a transaction ends,
 * the group is committed at once if it holds `maxUnits` transactions or is `maxDelayMs` old. If
 * others wait for the connection, the next holder carries the group on. If nobody waits, the
 * COMMIT runs after the current turn of the event loop (`setImmediate`): requests that arrived
 * together (a loaded server reads several sockets per turn) reach their transactions first and
 * join the group. A transaction releases the connection and then waits for its group's COMMIT:
 * if the COMMIT fails, every transaction of the group fails with its error, and none of their
 * writes stays.
 *
 * Statements outside transactions: reads run on a second connection, the reader, while a group
 * is open (on the writer they would see the group's writes, which are not yet durable: a crash or
 * an I/O failure at COMMIT undoes them, and what a read answered would then never have been; an
 * events reader was handed positions that a crash gave to other events); without a reader (an
 * in-memory database, where nothing is durable) they run on the writer. Writes outside
 * transactions (single statements) join the open group and wait for its COMMIT too, or autocommit
 * when no group is open.
 */
import {
  CompiledQuery,
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from "kysely";

/** The parts of a better-sqlite3 statement used here. */
interface Statement {
  readonly reader: boolean;
  readonly readonly: boolean;
  all(parameters: readonly unknown[]): unknown[];
  run(parameters: readonly unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  iterate(parameters: readonly unknown[]): IterableIterator<unknown>;
}

/** The parts of a better-sqlite3 database used here. */
export interface BetterSqliteDatabase {
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  close(): unknown;
  readonly inTransaction: boolean;
  /** False once closed. */
  readonly open?: boolean;
}

/** Options of group commit (see {@link groupCommitDialect}). */
export interface GroupCommitOptions {
  /** Most transactions per COMMIT. @default 64 */
  maxUnits?: number;
  /** Longest a group stays open while others wait for the connection, in milliseconds. @default 5 */
  maxDelayMs?: number;
  /** Compiled statements kept by their SQL text. @default 500 */
  statementCacheSize?: number;
  /**
   * How long BEGIN keeps retrying, without blocking the event loop, while another connection
   * holds the write lock, in milliseconds. @default 5000
   */
  busyTimeoutMs?: number;
}

/** One group: an open SQLite transaction and the transactions that wait for its COMMIT. */
class Group {
  readonly openedAt = performance.now();
  units = 0;
  /** Settles when the group's COMMIT has succeeded or failed. */
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Nobody may be waiting on a group that fails (a read-only holder): no unhandled rejection.
    this.done.catch(() => {});
  }
}

const UNIT = "scim_group_unit";

class GroupCommitConnection implements DatabaseConnection {
  constructor(private readonly driver: GroupCommitSqliteDriver) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return Promise.resolve(this.driver.run<R>(compiledQuery));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiledQuery.query)) throw new Error("the SQLite driver streams select queries only");
    for (const row of this.driver.statementFor(compiledQuery.sql).iterate(compiledQuery.parameters)) yield { rows: [row as R] };
  }
}

/** The driver: one connection, a mutex, the open group. */
export class GroupCommitSqliteDriver implements Driver {
  private readonly connection = new GroupCommitConnection(this);
  private readonly statements = new Map<string, Statement>();
  private readonly waiting: (() => void)[] = [];
  private locked = false;
  private flushScheduled = false;
  private group: Group | undefined;
  private inUnit = false;
  /** The group the current holder of the connection must see committed before it goes on. */
  private holderWaitsFor: Group | undefined;
  private readonly maxUnits: number;
  private readonly maxDelayMs: number;
  private readonly cacheSize: number;
  private readonly busyTimeoutMs: number;
  /** COMMITs run, and the transactions they committed (for tests and monitoring). */
  readonly stats = { commits: 0, units: 0 };

  /** The reader's compiled statements, by SQL text. */
  private readonly readerStatements = new Map<string, Statement>();

  constructor(
    private readonly database: BetterSqliteDatabase,
    options: GroupCommitOptions = {},
    /** Runs before the connection closes (the background checkpointer stops first). */
    private readonly beforeClose?: () => Promise<void>,
    /** A second connection to the same file, for reads outside transactions while a group is open (closed with the driver). */
    private readonly reader?: BetterSqliteDatabase,
  ) {
    this.maxUnits = Math.max(1, options.maxUnits ?? 64);
    this.maxDelayMs = Math.max(0, options.maxDelayMs ?? 5);
    this.cacheSize = Math.max(1, options.statementCacheSize ?? 500);
    this.busyTimeoutMs = Math.max(0, options.busyTimeoutMs ?? 5000);
  }

  async init(): Promise<void> {}

  /** A compiled statement, from the cache (better-sqlite3 compiles on every `prepare`). */
  statement(sql: string): Statement {
    return cached(this.statements, this.database, sql, this.cacheSize);
  }

  /**
   * The statement to run `sql` with: on the reader when it only reads, outside a transaction,
   * while a group is open (it sees committed rows only); on the writer otherwise.
   */
  statementFor(sql: string): Statement {
    const statement = this.statement(sql);
    if (this.reader !== undefined && this.group !== undefined && !this.inUnit && statement.readonly) return cached(this.readerStatements, this.reader, sql, this.cacheSize);
    return statement;
  }

  run<R>(compiledQuery: CompiledQuery): QueryResult<R> {
    const statement = this.statementFor(compiledQuery.sql);
    // A write outside a transaction, while a group is open, becomes part of that group.
    if (!this.inUnit && this.group !== undefined && !statement.readonly) this.holderWaitsFor = this.group;
    if (statement.reader) return { rows: statement.all(compiledQuery.parameters) as R[] };
    const { changes, lastInsertRowid } = statement.run(compiledQuery.parameters);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    while (this.locked) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.locked = true;
    return this.connection;
  }

  async beginTransaction(): Promise<void> {
    if (this.group !== undefined && !this.database.inTransaction) {
      // SQLite ended the group's transaction on its own (an I/O error): it cannot be committed.
      this.fail(new Error("the SQLite transaction was rolled back by the database"));
    }
    if (this.group === undefined) {
      await this.beginImmediate();
      this.group = new Group();
    }
    this.database.exec(`savepoint ${UNIT}`);
    this.inUnit = true;
  }

  /**
   * BEGIN IMMEDIATE, retried while it answers SQLITE_BUSY, up to `busyTimeoutMs`. SQLite's own
   * busy handler does not cover every case: while the background checkpointer's RESTART holds the
   * WAL (see `sqlite-checkpointer.ts`), BEGIN was seen to fail after some 70 ms whatever the busy
   * timeout, which answered a 500. Retrying here also waits without blocking the event loop.
   */
  private async beginImmediate(): Promise<void> {
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        this.database.exec("begin immediate");
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code !== "SQLITE_BUSY" || performance.now() - started >= this.busyTimeoutMs) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 20)));
      }
    }
  }

  async commitTransaction(): Promise<void> {
    this.database.exec(`release ${UNIT}`);
    this.inUnit = false;
    const group = this.group!;
    group.units++;
    this.holderWaitsFor = group;
  }

  async rollbackTransaction(): Promise<void> {
    this.inUnit = false;
    if (this.database.inTransaction) {
      this.database.exec(`rollback to ${UNIT}`);
      this.database.exec(`release ${UNIT}`);
    } else if (this.group !== undefined) {
      // The whole group is gone (SQLite rolls back on I/O errors, disk full, out of memory).
      this.fail(new Error("the SQLite transaction was rolled back by the database"));
    }
  }

  async releaseConnection(): Promise<void> {
    const waitFor = this.holderWaitsFor;
    this.holderWaitsFor = undefined;
    const group = this.group;
    if (group !== undefined) {
      if (group.units >= this.maxUnits || performance.now() - group.openedAt >= this.maxDelayMs) this.commit();
      // Nobody waits for the connection now, but requests that arrived with this one may be on
      // their way to a transaction: commit once they have had their turn of the event loop.
      else if (this.waiting.length === 0 && !this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.scheduledFlush());
      }
    }
    this.unlock();
    if (waitFor !== undefined) await waitFor.done;
  }

  private unlock(): void {
    this.locked = false;
    this.waiting.shift()?.();
  }

  private async scheduledFlush(): Promise<void> {
    await this.acquireConnection();
    this.flushScheduled = false;
    try {
      if (this.group !== undefined) this.commit();
    } finally {
      this.unlock();
    }
  }

  /** Commits the open group (the caller holds the connection). */
  private commit(): void {
    const group = this.group!;
    this.group = undefined;
    try {
      this.database.exec("commit");
      this.stats.commits++;
      this.stats.units += group.units;
      group.resolve();
    } catch (error) {
      if (this.database.inTransaction) {
        try {
          this.database.exec("rollback");
        } catch {
          // The connection is unusable; the next statement reports it.
        }
      }
      group.reject(error);
    }
  }

  private fail(error: unknown): void {
    const group = this.group!;
    this.group = undefined;
    group.reject(error);
  }

  async destroy(): Promise<void> {
    await this.acquireConnection();
    if (this.group !== undefined) this.commit();
    await this.beforeClose?.();
    this.database.close();
    this.reader?.close();
  }
}

/** `sql` compiled on `database`, from `cache` (at most `size` statements, the oldest dropped first). */
function cached(cache: Map<string, Statement>, database: BetterSqliteDatabase, sql: string, size: number): Statement {
  let statement = cache.get(sql);
  if (statement === undefined) {
    statement = database.prepare(sql);
    if (cache.size >= size) cache.delete(cache.keys().next().value as string);
    cache.set(sql, statement);
  }
  return statement;
}

/** A Kysely dialect for better-sqlite3 with group commit. */
export function groupCommitDialect(database: BetterSqliteDatabase, options: GroupCommitOptions = {}, beforeClose?: () => Promise<void>, reader?: BetterSqliteDatabase): Dialect {
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new GroupCommitSqliteDriver(database, options, beforeClose, reader),
    createIntrospector: (db: Kysely<any>) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
}

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
 * Statements outside transactions: reads run on a second connection, the reader, at once, without
 * waiting for the writer (on the writer they would wait for whoever holds it, and see an open
 * group's writes, which are not yet durable: a crash or an I/O failure at COMMIT undoes them, and
 * what a read answered would then never have been; an events reader was handed positions that a
 * crash gave to other events); without a reader (an in-memory database, where nothing is durable)
 * they take the writer. Writes outside transactions (single statements) take the writer, join the
 * open group and wait for its COMMIT too, or autocommit when no group is open.
 *
 * A transaction that holds the writer for long (thousands of statements: a directory's deletion,
 * the roles of a large group) lets the event loop run every 20 ms: other requests are read and
 * answered from the reader meanwhile, and their writes wait for the writer.
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

/**
 * What Kysely holds for one query or one transaction. It takes the writer (the mutex) only when it
 * needs it: for a transaction, or a statement that writes (or reads where there is no reader). A
 * read outside a transaction runs on the reader at once, without waiting for whoever holds the
 * writer: a long transaction (a directory's deletion, the roles of a large group) no longer holds
 * up other requests' reads.
 */
class GroupCommitConnection implements DatabaseConnection {
  /** Whether this connection holds the writer. */
  holds = false;

  constructor(private readonly driver: GroupCommitSqliteDriver) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    let waitingSince: number | undefined;
    if (!this.holds) {
      const onReader = this.driver.readerStatement(compiledQuery.sql);
      if (onReader !== undefined) return { rows: onReader.all(compiledQuery.parameters) as R[] };
      waitingSince = performance.now();
      await this.driver.lock(this);
    } else {
      await this.driver.breathe();
    }
    try {
      return this.driver.run<R>(compiledQuery);
    } catch (error) {
      // Only a write outside any transaction, with no group open, can meet another process's
      // lock here (a transaction took it at BEGIN IMMEDIATE).
      return await this.driver.retryWhileBusy(() => this.driver.run<R>(compiledQuery), error, waitingSince ?? performance.now());
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiledQuery.query)) throw new Error("the SQLite driver streams select queries only");
    let statement = this.holds ? undefined : this.driver.readerStatement(compiledQuery.sql);
    if (statement === undefined) {
      if (!this.holds) await this.driver.lock(this);
      statement = this.driver.statement(compiledQuery.sql);
    }
    for (const row of statement.iterate(compiledQuery.parameters)) yield { rows: [row as R] };
  }
}

/**
 * How long a transaction holds the writer before it lets the event loop run (then again after as
 * long): better-sqlite3's statements are synchronous, so a transaction of many statements would
 * otherwise hold every other request, reads included, until it ends.
 */
const BREATHE_EVERY_MS = 20;

/** A PRAGMA statement (connection settings: never answered by the reader). */
const PRAGMA = /^\s*pragma\b/i;

/** The driver: one connection, a mutex, the open group. */
export class GroupCommitSqliteDriver implements Driver {
  private readonly statements = new Map<string, Statement>();
  private readonly waiting: (() => void)[] = [];
  private locked = false;
  private flushScheduled = false;
  private group: Group | undefined;
  private inUnit = false;
  /** The group the current holder of the connection must see committed before it goes on. */
  private holderWaitsFor: Group | undefined;
  /** When the writer's holder last let the event loop run (see {@link breathe}). */
  private lastBreath = 0;
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
   * The reader's statement for `sql` when it only reads and there is a reader (a file): reads
   * outside transactions run there, and see committed rows only (never an open group's, which a
   * crash or an I/O failure at COMMIT would undo). Undefined otherwise: the statement needs the writer.
   */
  readerStatement(sql: string): Statement | undefined {
    // A PRAGMA reads the settings of the connection it runs on: the writer's are the ones asked.
    if (this.reader === undefined || !this.statement(sql).readonly || PRAGMA.test(sql)) return undefined;
    return cached(this.readerStatements, this.reader, sql, this.cacheSize);
  }

  /** Runs a statement on the writer (its caller holds it). */
  run<R>(compiledQuery: CompiledQuery): QueryResult<R> {
    const statement = this.statement(compiledQuery.sql);
    // A write outside a transaction, while a group is open, becomes part of that group.
    if (!this.inUnit && this.group !== undefined && !statement.readonly) this.holderWaitsFor = this.group;
    if (statement.reader) return { rows: statement.all(compiledQuery.parameters) as R[] };
    const { changes, lastInsertRowid } = statement.run(compiledQuery.parameters);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  /**
   * After `work` failed with `error`: while it fails with SQLITE_BUSY outside a transaction
   * (another connection holds the write lock), runs it again every few milliseconds until
   * `busyTimeoutMs` after `waitingSince` (when it began to wait for the writer), without blocking
   * the event loop; any other error is thrown as it is.
   */
  async retryWhileBusy<T>(work: () => T, error: unknown, waitingSince: number): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if ((error as { code?: unknown }).code !== "SQLITE_BUSY" || this.database.inTransaction || performance.now() - waitingSince >= this.busyTimeoutMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 20)));
      try {
        return work();
      } catch (next) {
        error = next;
      }
    }
  }

  /** A connection for one query or transaction: it takes the writer when it needs it (see {@link GroupCommitConnection}). */
  async acquireConnection(): Promise<DatabaseConnection> {
    return new GroupCommitConnection(this);
  }

  /** Takes the writer for `connection`, after those already waiting for it. */
  async lock(connection: GroupCommitConnection): Promise<void> {
    await this.lockWriter();
    connection.holds = true;
    this.lastBreath = performance.now();
  }

  private async lockWriter(): Promise<void> {
    while (this.locked) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.locked = true;
  }

  /**
   * Lets the event loop run once the writer's holder has held it for {@link BREATHE_EVERY_MS}:
   * other requests are read and answered from the reader meanwhile; their writes wait for the
   * writer as before.
   */
  async breathe(): Promise<void> {
    if (performance.now() - this.lastBreath < BREATHE_EVERY_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.lastBreath = performance.now();
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const waitingSince = performance.now();
    await this.lock(connection as GroupCommitConnection);
    if (this.group !== undefined && !this.database.inTransaction) {
      // SQLite ended the group's transaction on its own (an I/O error): it cannot be committed.
      this.fail(new Error("the SQLite transaction was rolled back by the database"));
    }
    if (this.group === undefined) {
      await this.beginImmediate(waitingSince);
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
   * The patience counts from `waitingSince`, when the transaction began to wait for the writer:
   * transactions queued behind one that waits for another process's lock give up with it, not
   * one `busyTimeoutMs` after another (ten queued writes waited up to 50 s behind a 5 s timeout).
   */
  private async beginImmediate(waitingSince: number): Promise<void> {
    const begin = () => void this.database.exec("begin immediate");
    try {
      begin();
    } catch (error) {
      await this.retryWhileBusy(begin, error, waitingSince);
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

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const holder = connection as GroupCommitConnection;
    if (!holder.holds) return;
    holder.holds = false;
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
    await this.lockWriter();
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
    await this.lockWriter();
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

/**
 * SQLite's adapter, with transactional DDL (which SQLite has): Kysely's migrator then runs the
 * pending migrations, and reads which are pending, inside one transaction, which this driver
 * begins with `BEGIN IMMEDIATE`, SQLite's lock between processes. Kysely's own SQLite adapter
 * says it has none and takes no migration lock: two processes starting at once on a new file
 * both ran the first migration, and one failed ("table scim_resources already exists").
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** A Kysely dialect for better-sqlite3 with group commit. */
export function groupCommitDialect(database: BetterSqliteDatabase, options: GroupCommitOptions = {}, beforeClose?: () => Promise<void>, reader?: BetterSqliteDatabase): Dialect {
  return {
    createAdapter: () => new TransactionalDdlSqliteAdapter(),
    createDriver: () => new GroupCommitSqliteDriver(database, options, beforeClose, reader),
    createIntrospector: (db: Kysely<any>) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
}

/**
 * The SQL {@link ScimStore}: scim-core's storage contract (scim-core README, "Writing a store over your own users table")
 * on SQLite or PostgreSQL through Kysely. Filters, sorting and paging run in the database
 * (`filter-sql.ts`); uniqueness is enforced by partial unique indexes over live rows; If-Match by
 * a conditional update on the version counter; group membership changes touch only the changed
 * rows; events go to an outbox table in the same transaction as their change.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { sql, type CompiledQuery, type Insertable, type Kysely, type RawBuilder, type Selectable, type Transaction } from "kysely";
import {
  ScimError,
  defaultRegistry,
  printAttrPath,
  printFilter,
  timeOrderedUuid,
  MEMBER_JSON_BYTES,
  membersAttributeOf,
  takeWithinBudget,
  type GroupRef,
  type MemberCandidate,
  type MemberValue,
  type SchemaRegistry,
  type ScimEvent,
  type ScimEventSubscriber,
  type ScimStore,
  type StoreCapabilities,
  type StoreContext,
  type StoredResource,
  type StoreQuery,
  type StoreQueryResult,
  type StoreWrite,
  type TransactionOptions,
  type UniqueKey,
  type WriteCondition,
} from "scim-core";
import { SQLITE_DEADLINE, timingStatements, withStatementDeadline, type ScimSqlDatabase, type SqlDialectName } from "./dialect.js";
import { fillLeftOut, jsonWithinShare, jsonWithinShareText, referenceWeights } from "./page-budget.js";
import { filterRunsInSql, filterSqlText, narrowedByIndex } from "./filter-sql.js";
import { compiledStatement } from "./compiled-statement.js";
import { databaseUnavailable } from "./database-unavailable.js";
import { migrateScimTables } from "./migrations.js";
import { latestOutboxPosition, restartPositions } from "./outbox-position.js";
import { emailRows, indexedColumns, NAMED_COLUMNS, normalizeInstant, otherUniqueKeys, oversizeNamedColumns, sqlBool } from "./rows.js";
import { orderBySqlText } from "./sort-sql.js";
import { compiledSql, sql as sqlText, toKysely, type SqlText } from "./sql-text.js";
import { tenantSlotsOf } from "./tenant-slots.js";
import type { CountTable, EmailTable, OutboxTable, ResourceTable, ScimDatabase } from "./tables.js";

type Obj = Record<string, unknown>;
type Executor = Kysely<ScimDatabase> | Transaction<ScimDatabase>;
type ResourceRow = Selectable<ResourceTable>;
/** A row of a list page: its document left out (null) when over its share of the byte budget. */
type PageRow = Pick<ResourceRow, "seq" | "id" | "resource_type" | "version" | "created" | "last_modified"> & { doc: ResourceRow["doc"] | null; doc_bytes?: number | string };

/** Where a password sent by the IdP goes: it is never stored in the resource. */
export interface PasswordTarget {
  tenant: string;
  resourceType: string;
  id: string;
}

/** Options of {@link sqlStore}. */
export interface SqlStoreOptions {
  /** The database, from `openSqlite`, `openPostgres` or `openDatabase`. */
  database: ScimSqlDatabase;
  /** Resolves attribute types and case-exactness for filters and sorting. @default the core schemas */
  registry?: SchemaRegistry;
  /**
   * Receives the password of a User write (RFC 7643 §4.1.1 `password`, writeOnly, returned never)
   * so the application can hash it into its own table. It runs inside the write's transaction:
   * keep it local (no network). Without it, passwords are dropped. Either way the password is
   * never stored in the resource.
   */
  onPassword?: (target: PasswordTarget, password: string) => void | Promise<void>;
  /**
   * What DELETE does: `"soft"` keeps the row with `deleted` set (invisible to every operation,
   * its unique keys freed, readable through `readDeleted`), `"hard"` removes it.
   * @default "soft"
   */
  deleteMode?: "soft" | "hard";
  /** The clock, for tests. @default () => new Date() */
  now?: () => Date;
  /**
   * Runs once in each transaction for each tenant it touches, right after the tenant's lock (see
   * {@link SqlScimStore.lockTenant}), with the transaction's Kysely instance: throw (a
   * `ScimError`) to refuse the transaction. scim-directory uses it to refuse writes to a
   * directory deleted after the request was authenticated.
   */
  tenantGuard?: (db: Kysely<any>, tenant: string) => void | Promise<void>;
  /**
   * Receives the time each list search took (its page of rows and its count, in milliseconds,
   * also when it gave up at its deadline), by tenant: on SQLite, time in which the server did
   * nothing else; on PostgreSQL, the time its statements ran, not its wait for a search slot or a
   * connection (which other tenants cause). scim-directory keeps each directory's searches to a
   * share of the database with it.
   */
  onSearch?: (tenant: string, milliseconds: number) => void;
  /**
   * Receives the number of events each transaction wrote to the outbox, by tenant, as they are
   * written (just before it commits): the changes it made (a user created, a member added, a
   * user's roles changed...), the measure of how much a request wrote. scim-directory keeps each
   * directory's changes to a rate with it.
   */
  onEvents?: (tenant: string, count: number) => void;
}

/** A resource to import: a store write with optional id and timestamps (ISO 8601). */
export interface ImportedResource extends StoreWrite {
  id?: string;
  created?: string;
  lastModified?: string;
}

/** What {@link SqlScimStore.readEvents} reads. */
export interface ReadEventsOptions {
  /** Only this tenant's events. */
  tenant?: string;
  /** After this `seq` (0, the default: from the beginning). */
  after?: number;
  /** At most this many (1 to 10,000). @default 100 */
  limit?: number;
  /**
   * At most about this many bytes of JSON: an event is read while the events with it stay within it (at least one is
   * read), and the payloads past it are never loaded. Events carry whole resources; without it, a
   * page of 1,000 events of 1 MB users is 1 GB.
   */
  maxBytes?: number;
}

/** What {@link SqlScimStore.readEventPage} reads. */
export interface OutboxEventPage {
  events: OutboxEvent[];
  /** Whether more events follow the last one (read on from its `seq`). */
  hasMore: boolean;
  /**
   * When nothing more follows: the position the read went through (the latest handed out when it
   * read), at or past the last event's. A reader of one tenant goes on from it, past the other
   * tenants' events, rather than read them again each time.
   */
  through?: number;
}

/** An event as read back from the outbox. */
export interface OutboxEvent {
  /**
   * Position in the outbox: events are read in this order, after a cursor. On PostgreSQL it is
   * given when the event is first read after its commit, so it follows commit order.
   */
  seq: number;
  event: ScimEvent;
}

/** The SQL store: a {@link ScimStore} plus migrations, the outbox and maintenance. */
export interface SqlScimStore extends ScimStore {
  readonly dialect: SqlDialectName;
  /**
   * Whether the store's searches (lists that are not lookups an index narrows, outside
   * transactions) run on a SQLite search thread (`openSqlite`'s `searches`), off the server's thread.
   */
  readonly searchesOffThread: boolean;
  /** The Kysely instance (the transaction's, inside `transaction`). */
  readonly db: Executor;
  /** Brings the tables to the latest version (idempotent). */
  migrate(): Promise<void>;
  /**
   * Bulk-loads resources in one transaction with multi-row inserts (a migration from another
   * system, a benchmark): all or nothing, 409 `uniqueness` on a clash. Returns how many.
   */
  importResources(ctx: StoreContext, type: string, writes: readonly ImportedResource[]): Promise<number>;
  /** Appends an event to the outbox, in the current transaction when there is one. */
  appendEvent(event: ScimEvent): Promise<void>;
  /**
   * Inside a transaction (`transaction(work)`'s store): serializes the transaction with every
   * other one that touches `tenant`, until it ends, and runs the `tenantGuard`. On PostgreSQL it
   * is a transaction-scoped advisory lock; SQLite runs one write transaction at a time anyway.
   * Every store call inside a transaction takes it for its tenant before its first statement, so
   * the writes of one tenant never interleave: no deadlock between them (two groups added to each
   * other, a user deleted while a group that lists it changes), no lost update. Call it first in
   * a transaction that writes a tenant's rows with its own statements.
   *
   * `shared`: for a transaction that only inserts new rows (a create without members, as an IdP's
   * import sends them): such transactions run side by side, and only wait for (and hold off) the
   * exclusive ones. The first call in a transaction decides; later calls never upgrade.
   */
  lockTenant(tenant: string, options?: { shared?: boolean }): Promise<void>;
  /**
   * Inside a transaction: runs `work` at its end, before it commits, in it (after everything the
   * transaction's own work did; a throw rolls it back). Work registered under a `key` already
   * registered in this transaction runs once. For what is cheaper done once per transaction than
   * once per change, such as recomputing what a request's many changes affect.
   */
  beforeCommit(key: string, work: () => Promise<void>): void;
  /**
   * A server event subscriber that writes every event to the outbox in the same transaction as
   * its change: `createScimServer({ store, subscribers: [store.outbox] })`.
   */
  readonly outbox: ScimEventSubscriber;
  /** Outbox events in order, after `after` (a `seq`), optionally of one tenant. */
  readEvents(options?: ReadEventsOptions): Promise<OutboxEvent[]>;
  /**
   * A page of {@link readEvents} for an API: at most `limit` events, fewer when `maxBytes` cut it,
   * and whether more follow the last one (read on from its `seq`).
   */
  readEventPage(options?: ReadEventsOptions): Promise<OutboxEventPage>;
  /**
   * Deletes the outbox events that occurred before `before` (the outbox's retention: nothing is
   * deleted otherwise), in batches so that a large backlog never holds the database for long;
   * returns how many. Readers that had not read them yet never will: the greatest position
   * deleted is kept ({@link eventsHorizon}'s `prunedThrough`), so that they can be told.
   */
  pruneEvents(before: Date): Promise<number>;
  /**
   * Where the outbox stands: `latest`, the greatest position (`seq` on SQLite) handed out so far,
   * so that a cursor beyond it never came from this outbox and a reader may start from it to get
   * every later event; and `prunedThrough`, the greatest position of the tenant's events (of any
   * tenant's, without one) {@link pruneEvents} deleted (0 when none), so that a reader whose
   * cursor is behind it knows it may have missed events.
   */
  eventsHorizon(tenant?: string): Promise<{ latest: number; prunedThrough: number }>;
  /**
   * After the database was restored from a backup: positions handed out after the backup was
   * taken would be handed out again, to other events, and a reader whose cursor is past the
   * backup's latest event would first be refused, then silently skip the events that took its
   * positions. This moves the positions 2^40 past the latest one (`RESTORED_POSITION_GAP`) and
   * counts every earlier position as pruned ({@link eventsHorizon}'s `prunedThrough`), so that
   * every reader with an earlier cursor is told it may have missed events (the directory-sync
   * admin API's 410 `cursor_expired`) and reads the lists again, and a reader from the start
   * (no cursor, or 0) begins after them. Run it once per restore, while nothing writes: each run
   * sends every reader back to the lists. Returns the new latest position.
   */
  restartEventPositions(): Promise<number>;
  /** A soft-deleted resource (for audit), or undefined. */
  readDeleted(ctx: StoreContext, type: string, id: string): Promise<StoredResource | undefined>;
  /** Removes a soft-deleted resource's row for good (a hard delete after the fact); false if there is none. */
  purge(ctx: StoreContext, type: string, id: string): Promise<boolean>;
  /**
   * Removes for good the tenant's soft-deleted resources of a type deleted before `before` (their
   * `meta.lastModified` is the deletion), in batches; returns their ids. A soft delete otherwise
   * keeps the row forever.
   */
  purgeDeletedBefore(ctx: StoreContext, type: string, before: Date): Promise<string[]>;
  /** Reads a resource as stored, deleted or not, bypassing nothing but the `deleted` filter (tests). */
  inspect(tenant: string, type: string, id: string): Promise<StoredResource | undefined>;
  /**
   * Refreshes the query planner's statistics (SQLite `PRAGMA optimize`, PostgreSQL `ANALYZE`).
   * The store does it after `importResources` and every 2,000 creates; call it after loading data
   * by other means.
   */
  optimize(): Promise<void>;
  /** Closes the database. */
  close(): Promise<void>;
}

/** Records that `tenant`'s events through `position` are pruned ("": every tenant's), keeping a greater mark. */
async function markPruned(db: Kysely<ScimDatabase>, dialect: SqlDialectName, tenant: string, position: number): Promise<void> {
  await db
    .insertInto("scim_outbox_pruned")
    .values({ tenant, pruned_through: position })
    .onConflict((oc) => oc.column("tenant").doUpdateSet({ pruned_through: sql`${sql.raw(dialect === "sqlite" ? "max" : "greatest")}(scim_outbox_pruned.pruned_through, excluded.pruned_through)` }))
    .execute();
}

// The statements of every create, compiled once per dialect (see compiled-statement.ts).
const insertResource = compiledStatement<ScimDatabase, Exclude<keyof ResourceTable, "seq">>(
  ["tenant", "resource_type", "id", "version", "user_name", "user_name_lower", "external_id", "display_name", "display_name_lower", "active", "user_name_key", "display_name_key", "deleted", "created", "last_modified", "doc"],
  (db, row) => db.insertInto("scim_resources").values(row),
);
const insertEmail = compiledStatement<ScimDatabase, keyof EmailTable>(["tenant", "resource_id", "position", "value", "value_lower", "type_lower", "is_primary"], (db, row) =>
  db.insertInto("scim_emails").values(row),
);
const insertEvent = compiledStatement<ScimDatabase, Exclude<keyof OutboxTable, "seq" | "position">>(
  ["id", "tenant", "type", "resource_type", "resource_id", "occurred_at", "payload"],
  (db, row) => db.insertInto("scim_outbox").values(row),
);
const addToCount = compiledStatement<ScimDatabase, keyof CountTable>(["tenant", "resource_type", "live"], (db, row) =>
  db
    .insertInto("scim_counts")
    .values(row)
    .onConflict((oc) => oc.columns(["tenant", "resource_type"]).doUpdateSet({ live: sql`scim_counts.live + ${row.live}` })),
);

/** A live resource by id (`get`), and the same locking its row until the transaction ends (PostgreSQL). */
const selectLiveBuilder = (db: Executor, v: Record<"tenant" | "id" | "resource_type", never>, dialect: SqlDialectName) =>
  db
    .selectFrom("scim_resources as r")
    .select(RESOURCE_COLUMNS)
    .where("r.tenant", "=", v.tenant)
    .where("r.id", "=", v.id)
    .where("r.resource_type", "=", v.resource_type)
    .where(liveCondition(dialect));
const selectLive = compiledStatement<ScimDatabase, "tenant" | "id" | "resource_type">(["tenant", "id", "resource_type"], selectLiveBuilder);
const selectLiveForUpdate = compiledStatement<ScimDatabase, "tenant" | "id" | "resource_type">(["tenant", "id", "resource_type"], (db, v, dialect) =>
  selectLiveBuilder(db, v, dialect).forUpdate(),
);

/** Most outbox events positioned by one read (PostgreSQL). */
const POSITION_BATCH = 10_000;
/** Rows deleted per statement by the retention deletes (`pruneEvents`, `purgeDeletedBefore`). */
const PRUNE_BATCH = 5_000;

/**
 * Runs `batch` (which deletes at most PRUNE_BATCH rows and says how many) until one comes back
 * short, yielding to the event loop in between: SQLite runs on it, and a large retention delete
 * must not hold every other request for its whole length.
 */
async function inBatches(batch: () => Promise<number>): Promise<void> {
  while ((await batch()) >= PRUNE_BATCH) await new Promise((resolve) => setImmediate(resolve));
}

/** The resource type the member operations address (as in memoryStore). */
const GROUP = "Group";

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function notFound(id: string): ScimError {
  return new ScimError(404, undefined, `Resource ${id} not found`);
}

function versionMismatch(): ScimError {
  return new ScimError(412, undefined, "the resource has changed (its version does not match)");
}

/** 409 uniqueness, naming the attribute when the violated index says which (SQLite's message, PostgreSQL's constraint). */
function uniquenessClash(error: unknown): ScimError {
  const { message, constraint } = error as { message?: unknown; constraint?: unknown };
  const where = `${typeof constraint === "string" ? constraint : ""} ${typeof message === "string" ? message : ""}`;
  const attribute = /user_name_key/.test(where) ? "userName" : /display_name_key/.test(where) ? "displayName" : undefined;
  return new ScimError(409, "uniqueness", attribute ? `a resource with this ${attribute} already exists` : "a resource with this unique value already exists");
}

/** Unique-constraint violations of SQLite and PostgreSQL. */
function isUniqueViolation(error: unknown): boolean {
  if (!isObj(error)) return false;
  return error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || error.code === "23505";
}

/** PostgreSQL's deadlock and serialization failures: a concurrent change won; retrying succeeds. */
function isConcurrencyFailure(error: unknown): boolean {
  return isObj(error) && (error.code === "40P01" || error.code === "40001");
}

/**
 * The store's answer when PostgreSQL gave its transaction up for a concurrent one (a deadlock, a
 * serialization failure): 412, as a SCIM write whose version changed meanwhile (RFC 7644 §3.14);
 * the same request again succeeds. Recognised by {@link isConcurrentChange}.
 */
export class ConcurrentChangeError extends ScimError {
  readonly concurrentChange = true as const;
  constructor() {
    super(412, undefined, "a concurrent change won; retry the request");
  }
}

/**
 * Whether `error` is a transaction given up for a concurrent one: the store's
 * {@link ConcurrentChangeError}, or PostgreSQL's own deadlock or serialization failure from a
 * transaction of the host's (retrying succeeds).
 */
export function isConcurrentChange(error: unknown): boolean {
  return isConcurrencyFailure(error) || (isObj(error) && error.concurrentChange === true);
}

/** Text PostgreSQL cannot hold (a NUL character): a client error, not a server fault. */
function isUnstorableText(error: unknown): boolean {
  return isObj(error) && (error.code === "22P05" || error.code === "22021");
}

function invalidCursor(): ScimError {
  return new ScimError(400, "invalidCursor", "The cursor is not valid for this query");
}

/** A short fingerprint of a query (its tenant, resource type, filter and sort), so a cursor is only valid for its query. */
function querySignature(tenant: string, type: string, query: StoreQuery): string {
  // The tenant and the resource type too: a cursor of another tenant's list, or of its Groups on
  // its Users, is refused rather than read as a position in this one.
  const text = `${tenant}|${type}|${query.filter ? printFilter(query.filter) : ""}|${query.sort ? `${printAttrPath(query.sort.path)}:${query.sort.order}` : ""}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

/** A cursor (RFC 9865): after a `seq` for unsorted lists (keyset), or at an offset for sorted ones. */
type Cursor = { seq: number } | { offset: number };

/** Bytes of a sealed cursor before its text: the IV (12) and the GCM tag (16). */
const CURSOR_IV = 12;
const CURSOR_TAG = 16;

/**
 * A cursor's text: its position and query fingerprint sealed with AES-256-GCM under the
 * database's cursor key (migration 0006), so that a client sees no `seq` (numbered across
 * tenants) and cannot make a cursor up.
 */
function encodeCursor(key: Buffer, signature: string, at: Cursor): string {
  const iv = randomBytes(CURSOR_IV);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify({ v: 2, q: signature, ...at }), "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64url");
}

function decodeCursor(key: Buffer, cursor: string, signature: string): Cursor | undefined {
  if (cursor === "") return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(cursor) || cursor.length > 512) throw invalidCursor();
  let data: unknown;
  try {
    const bytes = Buffer.from(cursor, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, CURSOR_IV));
    decipher.setAuthTag(bytes.subarray(CURSOR_IV, CURSOR_IV + CURSOR_TAG));
    data = JSON.parse(Buffer.concat([decipher.update(bytes.subarray(CURSOR_IV + CURSOR_TAG)), decipher.final()]).toString("utf8"));
  } catch {
    throw invalidCursor();
  }
  if (!isObj(data) || data.v !== 2 || data.q !== signature) throw invalidCursor();
  if (typeof data.seq === "number" && Number.isSafeInteger(data.seq) && data.seq >= 0) return { seq: data.seq };
  if (typeof data.offset === "number" && Number.isSafeInteger(data.offset) && data.offset >= 0) return { offset: data.offset };
  throw invalidCursor();
}

const groupTypesByRegistry = new WeakMap<SchemaRegistry, string[]>();

/** The registry's resource types with a `members` attribute (computed once per registry). */
function groupTypesOf(registry: SchemaRegistry): string[] {
  let types = groupTypesByRegistry.get(registry);
  if (types === undefined) {
    types = registry.listResourceTypes().map((t) => t.name).filter((name) => { const rt = registry.findResourceType(name); return rt !== undefined && membersAttributeOf(rt) !== undefined; });
    groupTypesByRegistry.set(registry, types);
  }
  return types;
}

function parseDoc(doc: unknown): Obj {
  if (typeof doc === "string") return JSON.parse(doc) as Obj;
  return doc as Obj;
}

function toStored(row: Pick<ResourceRow, "id" | "resource_type" | "version" | "created" | "last_modified" | "doc">): StoredResource {
  return {
    id: row.id,
    resourceType: row.resource_type,
    version: Number(row.version),
    created: row.created,
    lastModified: row.last_modified,
    attributes: parseDoc(row.doc),
  };
}

function toMember(row: { member_id: string; member_type: string | null; display: string | null }): MemberValue {
  const m: MemberValue = { value: row.member_id };
  if (row.member_type !== null) m.type = row.member_type;
  if (row.display !== null) m.display = row.display;
  return m;
}

/** Members once each (the first occurrence wins), in the order given. */
function distinctMembers(members: readonly MemberValue[]): MemberValue[] {
  const seen = new Set<string>();
  const out: MemberValue[] = [];
  for (const m of members) {
    if (seen.has(m.value)) continue;
    seen.add(m.value);
    out.push(m);
  }
  return out;
}

/** Creates per database between refreshes of the planner's statistics. */
const OPTIMIZE_EVERY = 2000;
const writeCounts = new WeakMap<ScimSqlDatabase, { creates: number }>();

/** Rows per INSERT statement: under SQLite's and PostgreSQL's parameter limits. */
const INSERT_CHUNK = 500;

function chunks<T>(items: readonly T[], size = INSERT_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const RESOURCE_COLUMNS = ["id", "resource_type", "version", "created", "last_modified", "doc"] as const;

/** The `beforeCommit` key of the outbox's writes. */
const OUTBOX_FLUSH = "scim-store-sql:outbox";

/** Whether a SQLite database has {@link SQLITE_DEADLINE}, by handle (asked once). */
const deadlineProbes = new WeakMap<ScimSqlDatabase, Promise<boolean>>();
/** The cursor key of each database handle (see `cursorKey`). */
const cursorKeys = new WeakMap<ScimSqlDatabase, Promise<Buffer>>();

/** The condition "a live row" on `scim_resources as r`, as the store's own SQL fragment (see `sql-text.ts`). */
function liveConditionText(dialect: SqlDialectName): SqlText<boolean> {
  return sqlText.raw<boolean>(dialect === "sqlite" ? "r.deleted = 0" : "r.deleted = false");
}

/** {@link liveConditionText} for Kysely's builders. */
function liveCondition(dialect: SqlDialectName) {
  return toKysely(liveConditionText(dialect));
}

class SqlStore implements SqlScimStore {
  /**
   * Every filter runs in SQL, group `members` included (read from their rows), except those naming
   * the derived `User.groups` or `members.$ref`: the server evaluates those in memory.
   */
  readonly capabilities: StoreCapabilities;
  readonly dialect: SqlDialectName;
  readonly transaction: <T>(work: (store: ScimStore) => Promise<T>, options?: TransactionOptions) => Promise<T>;
  readonly outbox: ScimEventSubscriber;
  /** A failure of the database a client should retry (unreachable, restarting, locked) is a 503 with Retry-After. */
  readonly unavailable = databaseUnavailable;
  private readonly FALSE: number | boolean;
  private readonly TRUE: number | boolean;
  /** Live-count changes of this transaction, by tenant and type, not yet written. */
  private readonly pendingCounts = new Map<string, { tenant: string; resource_type: string; live: number }>();
  /** The tenants this transaction holds the lock of (see {@link lockTenant}). */
  private readonly lockedTenants = new Set<string>();
  /** What runs before this transaction commits, by key (see {@link beforeCommit}). */
  private readonly atCommit = new Map<string, () => Promise<void>>();
  /** Events appended in this transaction, not yet written (see {@link appendEvent}). */
  private pendingEvents: Array<Insertable<OutboxTable> & { payload: string }> = [];

  constructor(
    private readonly handle: ScimSqlDatabase,
    readonly db: Executor,
    private readonly options: SqlStoreOptions,
    private readonly inTransaction: boolean,
  ) {
    this.dialect = handle.dialect;
    // better-sqlite3 runs statements on the server's thread; pg does not.
    // Passwords go to `onPassword` when there is one; without it they are dropped.
    this.capabilities = { filter: filterRunsInSql, sort: true, paging: true, cursor: true, pageBytes: true, blocking: this.dialect === "sqlite", passwords: options.onPassword !== undefined };
    this.FALSE = sqlBool(this.dialect, false);
    this.TRUE = sqlBool(this.dialect, true);
    this.transaction = (work, options) => this.unit((store) => work(store), options?.tenant);
    this.outbox = async (event, ctx) => {
      const target = ctx.store as Partial<SqlScimStore>;
      // Inside the server's unit of work `ctx.store` is this store's transaction.
      await (typeof target.appendEvent === "function" ? target.appendEvent(event) : this.appendEvent(event));
    };
  }

  private get registry(): SchemaRegistry {
    return this.options.registry ?? defaultRegistry();
  }

  /** The resource types whose members make a user's derived `groups` (for `filterToSql`). */
  private get groupTypes(): string[] {
    return groupTypesOf(this.registry);
  }

  private now(): string {
    return (this.options.now?.() ?? new Date()).toISOString();
  }

  /** The literal `deleted = false` that the partial indexes are declared with (no parameter). */
  private get live() {
    return liveCondition(this.dialect);
  }

  /** {@link live} as the store's own SQL fragment (see `sql-text.ts`). */
  private get liveText() {
    return liveConditionText(this.dialect);
  }

  /** The same, unqualified (UPDATE statements name no alias: SQLite's RETURNING cannot use one). */
  private get liveRow() {
    return this.dialect === "sqlite" ? sql<boolean>`deleted = 0` : sql<boolean>`deleted = false`;
  }

  /**
   * Runs `work` in a transaction (or in the current one). The live counts it changes are written
   * at its end (see {@link adjustCount}). A deadlock or serialization failure (PostgreSQL: with
   * another tenant's transaction, since one tenant's take turns) is a 412: the server retries it
   * when the client sent no If-Match.
   */
  private async unit<T>(work: (store: SqlStore) => Promise<T>, tenant?: string): Promise<T> {
    if (this.inTransaction) return work(this);
    const slots = tenant === undefined ? undefined : tenantSlotsOf(this.handle);
    if (slots !== undefined) return slots.run(tenant!, () => this.transactionOf(work));
    return this.transactionOf(work);
  }

  private async transactionOf<T>(work: (store: SqlStore) => Promise<T>): Promise<T> {
    try {
      return await (this.db as Kysely<ScimDatabase>).transaction().execute(async (trx) => {
        const store = new SqlStore(this.handle, trx, this.options, true);
        const result = await work(store);
        // Work registered meanwhile may register more (and change counts): until none is left.
        while (store.atCommit.size > 0) {
          const [key, next] = store.atCommit.entries().next().value as [string, () => Promise<void>];
          store.atCommit.delete(key);
          await next();
        }
        await store.flushCounts();
        return result;
      });
    } catch (error) {
      if (isConcurrencyFailure(error)) throw new ConcurrentChangeError();
      throw error;
    }
  }

  /**
   * Runs a write in `tenant` (in a transaction that holds the tenant's lock), mapping constraint
   * violations to 409 and unstorable text to 400.
   */
  private async write<T>(tenant: string, work: (store: SqlStore) => Promise<T>, lock: { shared?: boolean } = {}): Promise<T> {
    try {
      return await this.unit(async (s) => {
        await s.lockTenant(tenant, lock);
        return work(s);
      }, tenant);
    } catch (error) {
      if (isUniqueViolation(error)) throw uniquenessClash(error);
      if (isUnstorableText(error)) throw new ScimError(400, "invalidValue", "a value contains a character the database cannot store (NUL)");
      // PostgreSQL's program_limit_exceeded: an index entry over its size limit (indexed values are
      // checked before the write; this catches what an index of the host's own may add).
      if (isObj(error) && error.code === "54000") throw new ScimError(400, "invalidValue", "a value is longer than the database can index");
      throw error;
    }
  }

  async lockTenant(tenant: string, options: { shared?: boolean } = {}): Promise<void> {
    if (!this.inTransaction) throw new Error("lockTenant runs inside a transaction (the store that transaction(work) gives)");
    if (this.lockedTenants.has(tenant)) return;
    this.lockedTenants.add(tenant);
    if (this.dialect === "postgres") {
      const key = `scim-store-sql:tenant:${tenant}`;
      await (options.shared ? sql`select pg_advisory_xact_lock_shared(hashtext(${key}))` : sql`select pg_advisory_xact_lock(hashtext(${key}))`).execute(this.db);
    }
    await this.options.tenantGuard?.(this.db as Kysely<any>, tenant);
  }

  beforeCommit(key: string, work: () => Promise<void>): void {
    if (!this.inTransaction) throw new Error("beforeCommit runs inside a transaction (the store that transaction(work) gives)");
    if (!this.atCommit.has(key)) this.atCommit.set(key, work);
  }

  /**
   * Whether `text` is one PostgreSQL cannot hold (it has U+0000), so no stored id equals it: a
   * lookup by it finds nothing, where the query would fail ("invalid byte sequence") as a 500.
   */
  private unstorable(text: string): boolean {
    return this.dialect === "postgres" && text.includes("\u0000");
  }

  /** Inside a transaction, a call takes its tenant's lock first (see {@link lockTenant}): what it reads stays true until the transaction ends. */
  private async enterTenant(tenant: string): Promise<void> {
    if (this.inTransaction) await this.lockTenant(tenant);
  }

  async migrate(): Promise<void> {
    await migrateScimTables(this.handle.db, this.dialect, this.handle.schema !== undefined ? { schema: this.handle.schema } : {});
  }

  close(): Promise<void> {
    return this.handle.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /**
   * Inside a transaction on PostgreSQL the row is locked (`FOR UPDATE`) until the transaction
   * ends: the server reads the latest version inside its unit of work before writing, so
   * concurrent writers to one resource queue up instead of failing their version check. (SQLite
   * runs one transaction at a time.)
   */
  async get(ctx: StoreContext, type: string, id: string, options?: { members?: boolean }): Promise<StoredResource | undefined> {
    if (this.unstorable(id)) return undefined;
    await this.enterTenant(ctx.tenant);
    const select = this.inTransaction && this.dialect === "postgres" ? selectLiveForUpdate : selectLive;
    const row = (await select<ResourceRow>(this.db, this.dialect, { tenant: ctx.tenant, id, resource_type: type })).rows[0];
    if (row === undefined) return undefined;
    const stored = toStored(row);
    if (options?.members) stored.members = await this.membersOf(ctx.tenant, id);
    return stored;
  }

  async readDeleted(ctx: StoreContext, type: string, id: string): Promise<StoredResource | undefined> {
    if (this.unstorable(id)) return undefined;
    await this.enterTenant(ctx.tenant);
    const row = await this.db
      .selectFrom("scim_resources as r")
      .select(RESOURCE_COLUMNS)
      .where("r.tenant", "=", ctx.tenant)
      .where("r.id", "=", id)
      .where("r.resource_type", "=", type)
      .where("r.deleted", "=", this.TRUE)
      .executeTakeFirst();
    return row === undefined ? undefined : toStored(row);
  }

  async purge(ctx: StoreContext, type: string, id: string): Promise<boolean> {
    if (this.unstorable(id)) return false;
    await this.enterTenant(ctx.tenant);
    const result = await this.db
      .deleteFrom("scim_resources")
      .where("tenant", "=", ctx.tenant)
      .where("id", "=", id)
      .where("resource_type", "=", type)
      .where("deleted", "=", this.TRUE)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async purgeDeletedBefore(ctx: StoreContext, type: string, before: Date): Promise<string[]> {
    await this.enterTenant(ctx.tenant);
    const cutoff = before.toISOString();
    const purged: string[] = [];
    await inBatches(async () => {
      const rows = await this.db
        .selectFrom("scim_resources")
        .select(["seq", "id"])
        .where("tenant", "=", ctx.tenant)
        .where("resource_type", "=", type)
        .where("deleted", "=", this.TRUE)
        .where("last_modified", "<", cutoff)
        .orderBy("seq")
        .limit(PRUNE_BATCH)
        .execute();
      if (rows.length > 0) await this.db.deleteFrom("scim_resources").where("seq", "in", rows.map((r) => r.seq)).where("deleted", "=", this.TRUE).execute();
      for (const r of rows) purged.push(r.id);
      return rows.length;
    });
    return purged;
  }

  async inspect(tenant: string, type: string, id: string): Promise<StoredResource | undefined> {
    return this.get({ tenant }, type, id, { members: type === GROUP });
  }

  private async membersOf(tenant: string, groupId: string): Promise<MemberValue[]> {
    const rows = await this.db
      .selectFrom("scim_members")
      .select(["member_id", "member_type", "display"])
      .where("tenant", "=", tenant)
      .where("group_id", "=", groupId)
      .orderBy("seq")
      .execute();
    return rows.map(toMember);
  }

  /**
   * Lists resources (see `ScimStore.query`). The search (the page's rows and the count of the
   * matches) gives up past `query.deadline` with scim-core's `queryTimedOut()` (400 `tooMany`):
   * SQLite checks the clock on every row it reads ({@link SQLITE_DEADLINE}), PostgreSQL runs those
   * statements under a `statement_timeout`. Reading what the page holds (documents, members) is
   * bounded by the page's byte budget instead: a lookup that finds one large group is no filter
   * "yielding many more results than the server is willing to process" (RFC 7644 §3.12).
   */
  async query(ctx: StoreContext, type: string, query: StoreQuery): Promise<StoreQueryResult> {
    await this.enterTenant(ctx.tenant);
    const rt = this.registry.findResourceType(type);
    // A lookup that an index equality narrows to a row or two (see narrowedByIndex), the IdPs'
    // most frequent read, is searched without the deadline: on SQLite the check cost it some 15%,
    // on PostgreSQL it would wait for a search slot behind slow filters.
    const lookup = query.filter !== undefined && rt !== undefined && narrowedByIndex(query.filter, rt);
    const deadline = lookup ? undefined : query.deadline;
    // A search (a filter no index narrows, a sort) runs on the SQLite search thread, if there is
    // one, outside transactions (which must see their own writes): see sqlite-search-thread.ts.
    const offThread = this.searchesOffThread && !this.inTransaction && ((query.filter !== undefined && !lookup) || query.sort !== undefined);
    const onSearch = this.options.onSearch;
    const search = async <T>(work: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      // PostgreSQL: the statements' own time, not the wait for a search slot or a connection,
      // which other tenants' searches cause. SQLite: the time the server did nothing else.
      const clock = { ms: 0 };
      const timed = onSearch !== undefined && this.dialect === "postgres" ? () => timingStatements(clock, work) : work;
      try {
        return await (deadline !== undefined && this.dialect === "postgres" ? withStatementDeadline(deadline, timed) : timed());
      } finally {
        onSearch?.(ctx.tenant, this.dialect === "postgres" ? clock.ms : performance.now() - started);
      }
    };
    const signature = query.cursor !== undefined ? querySignature(ctx.tenant, type, query) : "";
    const cursorKey = query.cursor !== undefined ? await this.cursorKey() : undefined;
    const cursor = query.cursor !== undefined ? decodeCursor(cursorKey!, query.cursor, signature) : undefined;
    // The statement is written with the store's own fragments (sql-text.ts), not Kysely's
    // builders: a lookup is the IdPs' most frequent request, and building it costs less so.
    let where = sqlText<boolean>`r.tenant = ${ctx.tenant} and r.resource_type = ${type} and ${this.liveText}`;
    // SQLite: first in the WHERE clause, so that it runs on every row read, before the filter.
    if (deadline !== undefined && this.dialect === "sqlite" && (await this.sqliteDeadlines())) {
      where = sqlText<boolean>`${sqlText.raw(SQLITE_DEADLINE)}(${deadline}, r.seq) and ${where}`;
    }
    if (query.filter !== undefined) {
      if (rt === undefined) throw new ScimError(400, "invalidFilter", `unknown resource type '${type}'`);
      where = sqlText<boolean>`${where} and (${filterSqlText(query.filter, { dialect: this.dialect, resourceType: rt, tenant: ctx.tenant, groupTypes: this.groupTypes })})`;
    }

    // totalResults: one row of scim_counts for an unfiltered list; for a filtered one a count over
    // the filter, unless the page itself tells it (an index page that is not full).
    const countTotal = () => (query.filter === undefined ? this.countAll(ctx.tenant, type) : search(() => this.countWhere(where, offThread ? ctx.tenant : undefined)));

    const count = query.count === undefined ? undefined : Math.max(0, Math.floor(query.count));
    if (count === 0) return { resources: [], totalResults: await countTotal() };

    // Missing values last ascending, first descending (memoryStore's order); ties by creation.
    const order = query.sort !== undefined && rt !== undefined ? orderBySqlText(query.sort.path, query.sort.order, { dialect: this.dialect, resourceType: rt, tenant: ctx.tenant }) : sqlText`r.seq`;

    let offset = 0;
    let pageWhere = where;
    if (query.cursor !== undefined) {
      if (cursor !== undefined && "seq" in cursor) pageWhere = sqlText<boolean>`${where} and r.seq > ${cursor.seq}`;
      else if (cursor !== undefined) offset = cursor.offset;
    } else if (query.startIndex !== undefined) {
      // Past 2^53 a number is no longer an exact integer, and SQL rejects it (SQLITE_MISMATCH):
      // any such page is past the end anyway.
      offset = Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, Math.floor(query.startIndex))) - 1;
    }
    // Cursor pages read one row more, to know whether a next page exists.
    const limit = count === undefined ? undefined : query.cursor !== undefined ? count + 1 : count;
    const keyset = query.cursor !== undefined && query.sort === undefined;

    // With a byte budget, each row tells its document's size, and brings the document only when
    // it is within its share of the budget: a page of large documents is cut before it is read.
    const maxBytes = query.maxBytes;
    const doc = jsonWithinShareText(this.dialect, "r.doc", maxBytes !== undefined && limit !== undefined ? Math.floor(maxBytes / limit) : undefined);
    const statement = sqlText`select r.seq, r.id, r.resource_type, r.version, r.created, r.last_modified,
      ${doc.value} as doc
      ${maxBytes !== undefined ? sqlText`, ${doc.bytes} as doc_bytes` : sqlText``}
      from scim_resources r where ${pageWhere} order by ${order}
      ${limit !== undefined ? sqlText`limit ${limit}` : this.dialect === "sqlite" ? sqlText`limit -1` : sqlText``}
      ${offset > 0 ? sqlText`offset ${offset}` : sqlText``}`;
    let page = await search(() => this.searchRows(compiledSql<PageRow>(statement, this.dialect), offThread ? ctx.tenant : undefined));
    // Whether a next page exists after `page` (cursor paging), and whether the budget cut it.
    let more = false;
    let cut = false;
    if (query.cursor !== undefined && count !== undefined && page.length > count) {
      page = page.slice(0, count);
      more = true;
    }
    if (maxBytes !== undefined && page.length > 0) {
      const taken = await this.withinBudget(ctx.tenant, page, query.members === true, query.groups === true, maxBytes);
      if (taken < page.length) {
        page = page.slice(0, taken);
        more = cut = true;
      }
    }
    // The rows whose document was left out are read now; one deleted meanwhile is left out of the page.
    const kept = maxBytes !== undefined && page.length > 0
      ? await fillLeftOut(page, "doc", (row) => row.seq, async (seqs) =>
          (await this.db.selectFrom("scim_resources").select(["seq", "doc"]).where("tenant", "=", ctx.tenant).where("seq", "in", seqs as number[]).execute()).map((row) => [row.seq, row.doc]),
        )
      : page;
    let nextCursor: string | undefined;
    if (query.cursor !== undefined && more) {
      const last = page[page.length - 1]!;
      nextCursor = encodeCursor(cursorKey!, signature, keyset ? { seq: Number(last.seq) } : { offset: offset + kept.length });
    }
    const resources = kept.map((row) => toStored(row as ResourceRow));
    if (query.members && resources.length > 0) await this.attachMembers(ctx.tenant, resources);
    // A lookup (`userName eq`) is a page that is not full: no second query for its total.
    const pageTellsTotal = query.cursor === undefined && !cut && (limit === undefined || page.length < limit) && (page.length > 0 || offset === 0);
    const totalResults = pageTellsTotal ? offset + kept.length : await countTotal();
    const result: StoreQueryResult = { resources, totalResults };
    if (nextCursor !== undefined) result.nextCursor = nextCursor;
    return result;
  }

  /**
   * How many rows of a page its byte budget takes (`StoreQuery.maxBytes`): the documents' sizes,
   * and their members' estimated size when members are loaded (counted, not read).
   */
  private async withinBudget(tenant: string, page: readonly PageRow[], members: boolean, groups: boolean, maxBytes: number): Promise<number> {
    // The first row always goes in: a page of one needs no count.
    if (page.length <= 1) return page.length;
    // Membership rows counted and their display names measured (not read): a group's members,
    // and a user's derived groups, whose `display` is the group's name.
    const extra = new Map<string, number>();
    const ids = page.map((row) => row.id);
    for (const side of [...(members ? ["members" as const] : []), ...(groups ? ["groups" as const] : [])]) {
      for (const [id, weight] of await referenceWeights(this.db, tenant, ids, side)) {
        extra.set(id, (extra.get(id) ?? 0) + weight.count * MEMBER_JSON_BYTES + weight.nameBytes);
      }
    }
    const sizes = page.map((row) => Number(row.doc_bytes) + (extra.get(row.id) ?? 0));
    return takeWithinBudget(sizes, maxBytes);
  }

  /**
   * Whether the SQLite connection has {@link SQLITE_DEADLINE} (those {@link openSqlite} opens do;
   * another one, only once `registerSqliteFunctions` ran on it): without it, searches run to
   * their end.
   */
  /** The database's key of list cursors (read once per database handle; see migration 0006). */
  private cursorKey(): Promise<Buffer> {
    let key = cursorKeys.get(this.handle);
    if (key === undefined) {
      key = this.db
        .selectFrom("scim_secrets")
        .select("value")
        .where("name", "=", "cursor")
        .executeTakeFirst()
        .then((row) => {
          if (row === undefined) throw new Error("scim_secrets holds no cursor key: run the store's migrations");
          return Buffer.from(row.value, "hex");
        });
      // A failed read is tried again by the next cursor.
      key.catch(() => cursorKeys.delete(this.handle));
      cursorKeys.set(this.handle, key);
    }
    return key;
  }

  private sqliteDeadlines(): Promise<boolean> {
    let probe = deadlineProbes.get(this.handle);
    if (probe === undefined) {
      probe = sql`select ${sql.raw(SQLITE_DEADLINE)}(${Number.MAX_SAFE_INTEGER}, 0) as ok`.execute(this.db).then(
        () => true,
        () => false,
      );
      deadlineProbes.set(this.handle, probe);
    }
    return probe;
  }

  private async countAll(tenant: string, type: string): Promise<number> {
    // Inside a transaction, its own changes count.
    await this.flushCounts();
    const row = await this.db.selectFrom("scim_counts").select("live").where("tenant", "=", tenant).where("resource_type", "=", type).executeTakeFirst();
    return row === undefined ? 0 : Number(row.live);
  }

  private async countWhere(where: SqlText<boolean>, offThreadFor?: string): Promise<number> {
    const rows = await this.searchRows(compiledSql<{ n: number | string }>(sqlText`select count(*) as n from scim_resources r where ${where}`, this.dialect), offThreadFor);
    return Number(rows[0]?.n ?? 0);
  }

  /** Whether searches can run on the SQLite search thread (a file opened by `openSqlite` with it on). */
  get searchesOffThread(): boolean {
    return this.handle.searchThread !== undefined;
  }

  /** The rows of a search statement: on the search thread for the tenant `offThreadFor` when given and it runs, else on the store's connection. */
  private async searchRows<R>(compiled: CompiledQuery<R>, offThreadFor: string | undefined): Promise<R[]> {
    const rows = offThreadFor !== undefined ? this.handle.searchThread?.all<R>(compiled.sql, compiled.parameters, offThreadFor) : undefined;
    return rows !== undefined ? await rows : (await this.db.executeQuery<R>(compiled)).rows;
  }

  private async attachMembers(tenant: string, resources: StoredResource[]): Promise<void> {
    const byId = new Map<string, StoredResource>();
    for (const r of resources) {
      r.members = [];
      byId.set(r.id, r);
    }
    for (const ids of chunks([...byId.keys()])) {
      const rows = await this.db
        .selectFrom("scim_members")
        .select(["group_id", "member_id", "member_type", "display"])
        .where("tenant", "=", tenant)
        .where("group_id", "in", ids)
        .orderBy("seq")
        .execute();
      for (const row of rows) byId.get(row.group_id)?.members!.push(toMember(row));
    }
  }

  async groupsOf(ctx: StoreContext, memberId: string): Promise<GroupRef[]> {
    return (await this.groupsOfMany(ctx, [memberId])).get(memberId) ?? [];
  }

  /** {@link groupsOf} of each of `memberIds`: one indexed read per 500 ids (`tenant, member_id, group_id`), where a list page asked once per user. */
  async groupsOfMany(ctx: StoreContext, memberIds: readonly string[]): Promise<Map<string, GroupRef[]>> {
    await this.enterTenant(ctx.tenant);
    const found = new Map<string, GroupRef[]>();
    for (const part of chunks([...new Set(memberIds)].filter((id) => !this.unstorable(id)))) {
      const rows = await this.db
        .selectFrom("scim_members as m")
        .innerJoin("scim_resources as r", (join) => join.onRef("r.tenant", "=", "m.tenant").onRef("r.id", "=", "m.group_id"))
        .select(["m.member_id", "r.id", "r.display_name"])
        .where("m.tenant", "=", ctx.tenant)
        .where("m.member_id", "in", part)
        .where(this.live)
        .orderBy("m.seq")
        .execute();
      for (const row of rows) {
        const ref: GroupRef = { value: row.id, type: "direct" };
        if (row.display_name !== null) ref.display = row.display_name;
        const refs = found.get(row.member_id);
        if (refs === undefined) found.set(row.member_id, [ref]);
        else refs.push(ref);
      }
    }
    return found;
  }

  async membersAmong(ctx: StoreContext, groupId: string, ids: readonly string[]): Promise<Set<string>> {
    await this.enterTenant(ctx.tenant);
    const present = new Set<string>();
    if (this.unstorable(groupId)) return present;
    for (const part of chunks(ids.filter((id) => !this.unstorable(id)))) {
      const rows = await this.db.selectFrom("scim_members").select("member_id").where("tenant", "=", ctx.tenant).where("group_id", "=", groupId).where("member_id", "in", part).execute();
      for (const row of rows) present.add(row.member_id);
    }
    return present;
  }

  /**
   * The live Users and Groups among `ids`, with their display names: one indexed read per 500 ids
   * (`tenant, id`), where `get` per member would read and parse every member's document.
   */
  async memberCandidates(ctx: StoreContext, ids: readonly string[]): Promise<MemberCandidate[]> {
    await this.enterTenant(ctx.tenant);
    const found: MemberCandidate[] = [];
    for (const part of chunks([...new Set(ids)].filter((id) => !this.unstorable(id)))) {
      // By (tenant, id) alone, the type and liveness checked here: with them in the WHERE clause,
      // SQLite walked one of the tenant's (tenant, resource_type, ...) indexes instead, every
      // user of the directory for each 500 members (30-38 ms a chunk on 100,000 users).
      const rows = await this.db
        .selectFrom("scim_resources")
        .select(["id", "resource_type", "display_name", "user_name", "deleted"])
        .where("tenant", "=", ctx.tenant)
        .where("id", "in", part)
        .execute();
      for (const row of rows) {
        if (row.deleted || (row.resource_type !== "User" && row.resource_type !== GROUP)) continue;
        const display = row.display_name ?? row.user_name ?? undefined;
        const type = row.resource_type === GROUP ? GROUP : "User";
        found.push(display === undefined ? { id: row.id, type } : { id: row.id, type, display });
      }
    }
    return found;
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  /** Takes the password out of a User's attributes and hands it to `onPassword`. */
  private async withoutPassword(tenant: string, type: string, id: string, attributes: Obj): Promise<Obj> {
    if (!Object.prototype.hasOwnProperty.call(attributes, "password")) return attributes;
    const { password, ...rest } = attributes;
    if (typeof password === "string" && this.options.onPassword) await this.options.onPassword({ tenant, resourceType: type, id }, password);
    return rest;
  }

  async create(ctx: StoreContext, type: string, write: StoreWrite & { id?: string }): Promise<StoredResource> {
    const id = write.id ?? timeOrderedUuid();
    return this.write(ctx.tenant, async (s) => {
      const attributes = await s.withoutPassword(ctx.tenant, type, id, write.attributes);
      const ts = s.now();
      await insertResource(s.db, s.dialect, {
        tenant: ctx.tenant,
        resource_type: type,
        id,
        version: 1,
        ...indexedColumns(s.dialect, attributes, write.uniqueKeys),
        deleted: s.FALSE,
        created: ts,
        last_modified: ts,
        doc: JSON.stringify(attributes),
      });
      await s.writeSideRows(ctx.tenant, type, id, attributes, write.uniqueKeys, false);
      if (write.members !== undefined) await s.insertMembers(ctx.tenant, id, distinctMembers(write.members));
      await s.adjustCount(ctx.tenant, type, 1);
      return { id, resourceType: type, version: 1, created: ts, lastModified: ts, attributes: structuredClone(attributes) };
      // Inserting new rows only, creates run side by side; members lock their rows: exclusive.
    }, { shared: !write.members?.length }).then(async (created) => {
      await this.noteCreate();
      return created;
    });
  }

  /** The emails rows and the other unique keys of a resource (replacing the old ones when `replacing`). */
  private async writeSideRows(tenant: string, type: string, id: string, attributes: Obj, uniqueKeys: readonly UniqueKey[], replacing: boolean): Promise<void> {
    if (replacing) {
      await this.db.deleteFrom("scim_emails").where("tenant", "=", tenant).where("resource_id", "=", id).execute();
      await this.db.deleteFrom("scim_unique_keys").where("tenant", "=", tenant).where("resource_id", "=", id).execute();
    }
    for (const row of emailRows(this.dialect, tenant, id, attributes)) await insertEmail(this.db, this.dialect, row);
    const others = otherUniqueKeys(uniqueKeys);
    if (others.length > 0) {
      await this.db
        .insertInto("scim_unique_keys")
        .values(others.map((k) => ({ tenant, resource_type: type, attribute: k.attribute.toLowerCase(), value: k.value, resource_id: id })))
        .execute();
    }
  }

  /**
   * Notes a change of a tenant's live count, written when the transaction ends
   * ({@link flushCounts}): the count row is the one row every write of a tenant updates, so it is
   * locked last, for the shortest time. Locked first, it would be held while hooks run; on
   * PostgreSQL a create whose hook waits for a row a concurrent delete holds, while the delete
   * waits for the count row, deadlocked (scim-directory's link by email does exactly that).
   */
  private async adjustCount(tenant: string, type: string, delta: number): Promise<void> {
    if (!this.inTransaction) {
      await addToCount(this.db, this.dialect, { tenant, resource_type: type, live: delta });
      return;
    }
    const key = `${tenant}\u0000${type}`;
    const pending = this.pendingCounts.get(key);
    if (pending !== undefined) pending.live += delta;
    else this.pendingCounts.set(key, { tenant, resource_type: type, live: delta });
  }

  /** Writes the live-count changes noted in this transaction (in a fixed order: no deadlock between two). */
  private async flushCounts(): Promise<void> {
    const pending = [...this.pendingCounts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.pendingCounts.clear();
    for (const [, row] of pending) if (row.live !== 0) await addToCount(this.db, this.dialect, row);
  }

  private async insertMembers(tenant: string, groupId: string, members: readonly MemberValue[]): Promise<void> {
    for (const part of chunks(members)) {
      await this.liveMembersOnly(tenant, part);
      await this.db
        .insertInto("scim_members")
        .values(part.map((m) => ({ tenant, group_id: groupId, member_id: m.value, member_type: m.type ?? null, display: m.display ?? null })))
        .onConflict((oc) => oc.columns(["tenant", "group_id", "member_id"]).doNothing())
        .execute();
    }
  }

  /**
   * Checks, in the write, that the members being added are live resources of the tenant (400
   * invalidValue otherwise): the server checks them before it writes (`resolveMembers`), and a
   * member deleted in between must not be left in the group.
   * - PostgreSQL locks their rows (FOR SHARE): a delete of one of them, which locks its row first,
   *   then either waits for this transaction and removes the new membership row after it, or has
   *   committed and this add fails (found by a concurrency review: under READ COMMITTED the two
   *   interleaved, on every run).
   * - SQLite serializes writes: a delete committed before this transaction is seen here, one after
   *   it removes the new membership row (a concurrency review found deleted users and groups kept
   *   as members, half the time under an IdP's concurrent add and delete, while only PostgreSQL
   *   checked).
   */
  private async liveMembersOnly(tenant: string, members: readonly MemberValue[]): Promise<void> {
    const ids = [...new Set(members.map((m) => m.value))];
    const live = this.db.selectFrom("scim_resources").select("id").where("tenant", "=", tenant).where("id", "in", ids).where(this.liveRow);
    const rows = await (this.dialect === "postgres" ? live.forShare() : live).execute();
    if (rows.length === ids.length) return;
    const found = new Set(rows.map((r) => r.id));
    throw new ScimError(400, "invalidValue", `member '${ids.find((id) => !found.has(id))}' does not exist`);
  }

  /**
   * Bumps the version of a live resource (conditionally on `expectedVersion`) and applies `set`;
   * 404 when it does not exist, 412 when the version differs (a 404 wins over a 412).
   */
  private async bump(tenant: string, type: string, id: string, condition: WriteCondition | undefined, set: Partial<Record<keyof ResourceTable, unknown>> = {}): Promise<StoredResource> {
    if (this.unstorable(id)) throw notFound(id);
    const ts = this.now();
    let update = this.db
      .updateTable("scim_resources")
      .set({ ...(set as object), version: sql`version + 1`, last_modified: ts })
      .where("tenant", "=", tenant)
      .where("id", "=", id)
      .where("resource_type", "=", type)
      .where(this.liveRow);
    if (condition?.expectedVersion !== undefined) update = update.where("version", "=", condition.expectedVersion);
    const row = await update.returning(["id", "resource_type", "version", "created", "last_modified", "doc"]).executeTakeFirst();
    if (row !== undefined) return toStored(row as ResourceRow);
    const exists = await this.db.selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", tenant).where("r.id", "=", id).where("r.resource_type", "=", type).where(this.live).executeTakeFirst();
    throw exists === undefined ? notFound(id) : versionMismatch();
  }

  async replace(ctx: StoreContext, type: string, id: string, write: StoreWrite, condition?: WriteCondition): Promise<StoredResource> {
    return this.write(ctx.tenant, async (s) => {
      const attributes = await s.withoutPassword(ctx.tenant, type, id, write.attributes);
      const stored = await s.bump(ctx.tenant, type, id, condition, {
        ...indexedColumns(s.dialect, attributes, write.uniqueKeys, await s.keptOversize(ctx.tenant, type, id, attributes)),
        doc: JSON.stringify(attributes),
      });
      await s.writeSideRows(ctx.tenant, type, id, attributes, write.uniqueKeys, true);
      if (write.members !== undefined) {
        await s.db.deleteFrom("scim_members").where("tenant", "=", ctx.tenant).where("group_id", "=", id).execute();
        await s.insertMembers(ctx.tenant, id, distinctMembers(write.members));
      }
      return stored;
    });
  }

  /**
   * The attributes with a column (`userName`, `externalId`, `displayName`) over the indexed-value
   * limit that a replacement keeps as they are stored (lower-cased names): an earlier version
   * stored such values, and its users' deactivation (a PATCH or PUT sending them again) must not be
   * a 400. Read only when there is such a value; a new one over the limit stays a 400.
   */
  private async keptOversize(tenant: string, type: string, id: string, attributes: Obj): Promise<Set<string> | undefined> {
    const over = oversizeNamedColumns(attributes);
    if (over.length === 0) return undefined;
    const row = await this.db
      .selectFrom("scim_resources")
      .select(Object.values(NAMED_COLUMNS))
      .where("tenant", "=", tenant)
      .where("id", "=", id)
      .where("resource_type", "=", type)
      .where(this.liveRow)
      .executeTakeFirst();
    return new Set(over.filter((name) => row !== undefined && row[NAMED_COLUMNS[name]] === attributes[name]).map((name) => name.toLowerCase()));
  }

  async delete(ctx: StoreContext, type: string, id: string, condition?: WriteCondition): Promise<void> {
    await this.write(ctx.tenant, async (s) => {
      await s.bump(ctx.tenant, type, id, condition, { deleted: s.TRUE });
      if ((s.options.deleteMode ?? "soft") === "hard") {
        await s.db.deleteFrom("scim_resources").where("tenant", "=", ctx.tenant).where("id", "=", id).execute();
      }
      await s.db.deleteFrom("scim_emails").where("tenant", "=", ctx.tenant).where("resource_id", "=", id).execute();
      await s.db.deleteFrom("scim_unique_keys").where("tenant", "=", ctx.tenant).where("resource_id", "=", id).execute();
      // Its own member list (a group), and its place in every group that lists it.
      await s.db.deleteFrom("scim_members").where("tenant", "=", ctx.tenant).where("group_id", "=", id).execute();
      const left = await s.db.deleteFrom("scim_members").where("tenant", "=", ctx.tenant).where("member_id", "=", id).returning("group_id").execute();
      for (const groupId of new Set(left.map((r) => r.group_id))) {
        await s.db
          .updateTable("scim_resources")
          .set({ version: sql`version + 1`, last_modified: s.now() })
          .where("tenant", "=", ctx.tenant)
          .where("id", "=", groupId)
          .where(s.liveRow)
          .execute();
      }
      await s.adjustCount(ctx.tenant, type, -1);
    });
  }

  async addMembers(ctx: StoreContext, groupId: string, members: readonly MemberValue[], condition?: WriteCondition): Promise<StoredResource> {
    return this.write(ctx.tenant, async (s) => {
      const stored = await s.bump(ctx.tenant, GROUP, groupId, condition);
      await s.insertMembers(ctx.tenant, groupId, distinctMembers(members));
      return stored;
    });
  }

  async removeMembers(ctx: StoreContext, groupId: string, ids: readonly string[], condition?: WriteCondition): Promise<StoredResource> {
    return this.write(ctx.tenant, async (s) => {
      const stored = await s.bump(ctx.tenant, GROUP, groupId, condition);
      for (const part of chunks([...new Set(ids)])) {
        await s.db.deleteFrom("scim_members").where("tenant", "=", ctx.tenant).where("group_id", "=", groupId).where("member_id", "in", part).execute();
      }
      return stored;
    });
  }

  async setMembers(ctx: StoreContext, groupId: string, members: readonly MemberValue[], condition?: WriteCondition): Promise<StoredResource> {
    return this.write(ctx.tenant, async (s) => {
      const stored = await s.bump(ctx.tenant, GROUP, groupId, condition);
      await s.db.deleteFrom("scim_members").where("tenant", "=", ctx.tenant).where("group_id", "=", groupId).execute();
      await s.insertMembers(ctx.tenant, groupId, distinctMembers(members));
      return stored;
    });
  }

  async importResources(ctx: StoreContext, type: string, writes: readonly ImportedResource[]): Promise<number> {
    if (writes.length === 0) return 0;
    return this.write(ctx.tenant, async (s) => {
      const ts = s.now();
      for (const part of chunks(writes, 200)) {
        const rows = [];
        const emails = [];
        const keys = [];
        const members = [];
        for (const w of part) {
          const id = w.id ?? timeOrderedUuid();
          const attributes = await s.withoutPassword(ctx.tenant, type, id, w.attributes);
          const created = w.created !== undefined ? normalizeInstant(w.created) : ts;
          rows.push({
            tenant: ctx.tenant,
            resource_type: type,
            id,
            version: 1,
            ...indexedColumns(s.dialect, attributes, w.uniqueKeys),
            deleted: s.FALSE,
            created,
            last_modified: w.lastModified !== undefined ? normalizeInstant(w.lastModified) : created,
            doc: JSON.stringify(attributes),
          });
          emails.push(...emailRows(s.dialect, ctx.tenant, id, attributes));
          for (const k of otherUniqueKeys(w.uniqueKeys)) keys.push({ tenant: ctx.tenant, resource_type: type, attribute: k.attribute.toLowerCase(), value: k.value, resource_id: id });
          for (const m of distinctMembers(w.members ?? [])) members.push({ tenant: ctx.tenant, group_id: id, member_id: m.value, member_type: m.type ?? null, display: m.display ?? null });
        }
        await s.db.insertInto("scim_resources").values(rows).execute();
        for (const c of chunks(emails)) await s.db.insertInto("scim_emails").values(c).execute();
        for (const c of chunks(keys)) await s.db.insertInto("scim_unique_keys").values(c).execute();
        for (const c of chunks(members)) await s.db.insertInto("scim_members").values(c).execute();
      }
      await s.adjustCount(ctx.tenant, type, writes.length);
      return writes.length;
    }).then(async (n) => {
      await this.optimize();
      return n;
    });
  }

  async optimize(): Promise<void> {
    if (this.dialect === "sqlite") await sql`pragma optimize`.execute(this.db);
    else await sql`analyze scim_resources, scim_emails, scim_members, scim_unique_keys`.execute(this.db);
  }

  /** Every so many creates, refresh the planner's statistics (a growing table changes its plans). */
  private async noteCreate(): Promise<void> {
    const state = writeCounts.get(this.handle) ?? { creates: 0 };
    writeCounts.set(this.handle, state);
    if (++state.creates % OPTIMIZE_EVERY === 0 && !this.inTransaction) await this.optimize().catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Outbox

  /**
   * Appends an event to the outbox: inside a transaction, the transaction's events are written
   * together just before it commits (in the order they came; work that runs at commit and appends
   * more, as role recomputations do, has them written after), in multi-row inserts: a PATCH adding
   * 20,000 members writes its 20,000 events in 40 statements, not 20,000.
   */
  async appendEvent(event: ScimEvent): Promise<void> {
    if (!this.inTransaction) return this.write(event.tenant, (s) => s.appendEvent(event));
    await this.lockTenant(event.tenant);
    this.pendingEvents.push({
      id: event.id,
      tenant: event.tenant,
      type: event.type,
      resource_type: event.resourceType,
      resource_id: event.resourceId,
      occurred_at: normalizeInstant(event.occurredAt),
      payload: JSON.stringify(event),
    });
    if (this.pendingEvents.length === 1) this.beforeCommit(OUTBOX_FLUSH, () => this.flushEvents());
  }

  /** Writes the events appended in this transaction (see {@link appendEvent}). */
  private async flushEvents(): Promise<void> {
    const rows = this.pendingEvents;
    this.pendingEvents = [];
    const onEvents = this.options.onEvents;
    if (onEvents !== undefined) {
      if (rows.length === 1) onEvents(rows[0]!.tenant, 1);
      else {
        const byTenant = new Map<string, number>();
        for (const row of rows) byTenant.set(row.tenant, (byTenant.get(row.tenant) ?? 0) + 1);
        for (const [tenant, count] of byTenant) onEvents(tenant, count);
      }
    }
    // One event (a create, as an IdP's import sends them): the statement compiled once.
    if (rows.length === 1) return void (await insertEvent(this.db, this.dialect, rows[0]!));
    for (const part of chunks(rows)) await this.db.insertInto("scim_outbox").values(part).execute();
  }

  async readEvents(options: ReadEventsOptions = {}): Promise<OutboxEvent[]> {
    return (await this.readOutbox(options, 0)).events;
  }

  async readEventPage(options: ReadEventsOptions = {}): Promise<OutboxEventPage> {
    const limit = Math.min(Math.max(1, options.limit ?? 100), 10_000);
    // One event more tells whether more follow.
    const { events, cut, through } = await this.readOutbox({ ...options, limit }, 1);
    const hasMore = cut || events.length > limit;
    const page: OutboxEventPage = { events: events.slice(0, limit), hasMore };
    if (!hasMore) page.through = through;
    return page;
  }

  /**
   * `readEvents` with `extra` events more than the limit, whether the byte budget cut them, and
   * the position read through: the latest handed out when the read began (events positioned
   * later are left to the next read, so that nothing between is passed over).
   */
  private async readOutbox(options: ReadEventsOptions, extra: number): Promise<{ events: OutboxEvent[]; cut: boolean; through: number }> {
    const limit = Math.min(Math.max(1, options.limit ?? 100), 10_000) + extra;
    // A reader from the start begins after the mark of every tenant (restartEventPositions'):
    // the events below it are of no use to anyone, since every cursor among them is refused.
    const after = options.after !== undefined && options.after > 0 ? options.after : await this.everyTenantMark();
    if (this.dialect === "sqlite") {
      const through = await this.latestPosition();
      return { ...(await this.readEventsBy("seq", options.tenant, after, through, limit, options.maxBytes)), through };
    }
    return this.positioning(async (s) => {
      // Positions are handed out under the lock this transaction holds: none can be given
      // meanwhile below the latest read here.
      const through = await s.latestPosition();
      return { ...(await s.readEventsBy("position", options.tenant, after, through, limit, options.maxBytes)), through };
    });
  }

  /**
   * PostgreSQL: `work` in a short READ COMMITTED transaction of its own (even when called inside
   * another: it then takes a second connection from the pool), once the committed events have
   * their positions: it sees committed events only, never a caller's uncommitted ones, and
   * releases the positioning lock at once.
   */
  private positioning<T>(work: (store: SqlStore) => Promise<T>): Promise<T> {
    return this.handle.db
      .transaction()
      .setIsolationLevel("read committed")
      .execute(async (trx) => {
        const s = new SqlStore(this.handle, trx, this.options, true);
        await s.positionCommittedEvents();
        return work(s);
      });
  }

  /** The greatest position handed out so far (see {@link latestOutboxPosition}). */
  private latestPosition(): Promise<number> {
    return latestOutboxPosition(this.db as Kysely<unknown>, this.dialect);
  }

  async pruneEvents(before: Date): Promise<number> {
    const cutoff = before.toISOString();
    const column = this.dialect === "sqlite" ? "seq" : "position";
    // PostgreSQL: committed events never read have no position yet; they get theirs first, and
    // an event committed after that keeps its row until a later prune (it has no position to
    // tell readers how far they may have lost events).
    if (this.dialect === "postgres") await this.positioning(async () => undefined);
    let deleted = 0;
    await inBatches(async () =>
      // Oldest first, each batch one short transaction: its rows and the marks of how far they went.
      this.handle.db.transaction().execute(async (trx) => {
        let batch = trx.selectFrom("scim_outbox").select("seq").where("occurred_at", "<", cutoff);
        if (column === "position") batch = batch.where("position", "is not", null);
        const gone = await trx.deleteFrom("scim_outbox").where("seq", "in", batch.orderBy("seq").limit(PRUNE_BATCH)).returning(["tenant", `${column} as cursor`]).execute();
        const through = new Map<string, number>();
        for (const row of gone) through.set(row.tenant, Math.max(through.get(row.tenant) ?? 0, Number(row.cursor ?? 0)));
        for (const [tenant, position] of through) await markPruned(trx, this.dialect, tenant, position);
        deleted += gone.length;
        return gone.length;
      }),
    );
    return deleted;
  }

  async eventsHorizon(tenant?: string): Promise<{ latest: number; prunedThrough: number }> {
    let marks = this.db.selectFrom("scim_outbox_pruned").select((eb) => eb.fn.max("pruned_through").as("through"));
    // A tenant's own mark, and the one of every tenant (from before marks were kept per tenant).
    if (tenant !== undefined) marks = marks.where("tenant", "in", [tenant, ""]);
    const pruned = await marks.executeTakeFirst();
    // PostgreSQL: the committed events get their positions first, so that `latest` is past every
    // event already written (a reader starting from it would otherwise replay the ones no read
    // had positioned yet).
    const latest = this.dialect === "postgres" ? await this.positioning((s) => s.latestPosition()) : await this.latestPosition();
    return { latest, prunedThrough: Number(pruned?.through ?? 0) };
  }

  /** The position through which every tenant's events count as pruned (tenant "": {@link restartEventPositions}); 0 when none. */
  private async everyTenantMark(): Promise<number> {
    const row = await this.db.selectFrom("scim_outbox_pruned").select("pruned_through").where("tenant", "=", "").executeTakeFirst();
    return Number(row?.pruned_through ?? 0);
  }

  async restartEventPositions(): Promise<number> {
    // PostgreSQL: events committed without a position get theirs first, below the new ones.
    if (this.dialect === "postgres") await this.positioning(async () => undefined);
    return this.handle.db.transaction().execute(async (trx) => {
      const next = await restartPositions(trx as unknown as Kysely<unknown>, this.dialect);
      // The mark every tenant's readers see (tenant ""): every position up to the new latest.
      await markPruned(trx, this.dialect, "", next);
      return next;
    });
  }

  /** Outbox events in the order of `column` (`seq` on SQLite, `position` on PostgreSQL), after a cursor. */
  private async readEventsBy(column: "seq" | "position", tenant: string | undefined, after: number, through: number, limit: number, maxBytes: number | undefined): Promise<{ events: OutboxEvent[]; cut: boolean }> {
    // With a byte budget, each row tells its size and brings its payload only when within its
    // share of the budget (see `query`): the payloads past the cut are never read.
    const payload = jsonWithinShare(this.dialect, "payload", maxBytes === undefined ? undefined : Math.floor(maxBytes / limit));
    // The sizes only with a budget: without one, a read computes nothing more than the payloads.
    let q = this.db
      .selectFrom("scim_outbox")
      .select([`${column} as cursor`, payload.value.as("payload"), (maxBytes === undefined ? sql<number | string | null>`null` : (payload.bytes as RawBuilder<number | string | null>)).as("bytes")])
      .where(column, ">", after)
      .where(column, "<=", through);
    if (tenant !== undefined) q = q.where("tenant", "=", tenant);
    let rows = await q.orderBy(column).limit(limit).execute();
    let cut = false;
    if (maxBytes !== undefined && rows.length > 0) {
      const taken = takeWithinBudget(rows.map((row) => Number(row.bytes)), maxBytes);
      cut = taken < rows.length;
      rows = rows.slice(0, taken);
      rows = await fillLeftOut(rows, "payload", (row) => row.cursor as number | string, async (cursors) =>
        (await this.db.selectFrom("scim_outbox").select([`${column} as cursor`, "payload"]).where(column, "in", cursors as number[]).execute()).map((row) => [row.cursor as number | string, row.payload]),
      );
    }
    return { events: rows.map((row) => ({ seq: Number(row.cursor), event: parseDoc(row.payload) as unknown as ScimEvent })), cut };
  }

  /**
   * PostgreSQL: gives the committed events that have none their reading position (see migration
   * 0003). One reader positions at a time (a transaction-scoped advisory lock held until its
   * commit), so every event committed later gets a greater position than any handed out: a cursor
   * never passes an event that is not yet visible. Writers never wait on it.
   */
  private async positionCommittedEvents(): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext('scim-store-sql:outbox-position'))`.execute(this.db);
    // In seq order, POSITION_BATCH at a time, until none is left: a read that positioned only part
    // of a backlog could answer a tenant's read with nothing (its events unpositioned yet) and
    // tell the reader it has caught up.
    for (;;) {
      const result = await sql`update scim_outbox as o set position = p.position
        from (select seq, nextval('scim_outbox_position_seq') as position
              from (select seq from scim_outbox where position is null order by seq limit ${POSITION_BATCH}) as pending) as p
        where o.seq = p.seq`.execute(this.db);
      if (Number(result.numAffectedRows ?? 0n) < POSITION_BATCH) return;
    }
  }
}

/**
 * Creates a SQL store over an open database. Call `migrate()` once before use (or pass
 * `migrate: true` to {@link createSqlStore}).
 *
 * @example
 * const store = sqlStore({ database: openSqlite({ filename: "data/scim.db" }) });
 * await store.migrate();
 * const server = createScimServer({ store, authenticate, subscribers: [store.outbox] });
 */
export function sqlStore(options: SqlStoreOptions): SqlScimStore {
  return new SqlStore(options.database, options.database.db, options, false);
}

/** Creates a SQL store and brings its tables to the latest version. */
export async function createSqlStore(options: SqlStoreOptions): Promise<SqlScimStore> {
  const store = sqlStore(options);
  await store.migrate();
  return store;
}

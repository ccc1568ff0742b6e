/**
 * The audit log (`dir_audit_log`): every SCIM request (directory, token id, method, path, status,
 * duration, resource id) and every admin action (method, path, status, redacted input). Secrets
 * never get in: no header is stored, no SCIM body is read, query parameters and input fields that
 * look like secrets are replaced by `[REDACTED]`, and so are any value or path segment that looks
 * like one of our tokens and any query value that mentions a secret attribute (a filter on
 * `password`). Queried in order after a cursor and pruned by age.
 */
import { performance } from "node:perf_hooks";
import { sql, type Insertable, type Kysely, type Selectable } from "kysely";
import type { AttributeDefinition, SchemaRegistry } from "scim-core";
import type { Context, MiddlewareHandler } from "hono";
import { ADMIN_KEY_PREFIX } from "./admin-keys.js";
import { DirectoryError } from "./errors.js";
import { newId } from "./ids.js";
import type { AuditTable, DirectoryDatabase } from "./tables.js";
import { storableText } from "./storable-text.js";
import { TOKEN_PREFIX } from "./tokens.js";

/** What is recorded: a SCIM request or an admin action. */
export type AuditKind = "scim" | "admin";

/** An audit entry as read back. */
export interface AuditEntry {
  /** Position in the log: entries are read in this order, after a cursor. */
  seq: number;
  id: string;
  /** ISO 8601. */
  at: string;
  kind: AuditKind;
  directoryId: string | null;
  /** The token id of a SCIM request (when the bearer token is one of the directory's); "admin" for an authenticated admin action. */
  actor: string | null;
  method: string;
  /** The request path, with secret-looking path segments and query values redacted. */
  path: string;
  status: number;
  durationMs: number;
  resourceId: string | null;
  /** Redacted details: an admin action's input, a SCIM error's `scimType`, why a request was refused. */
  detail: Record<string, unknown> | null;
}

/** What {@link AuditLog.record} takes. */
export interface AuditRecord {
  kind: AuditKind;
  directoryId?: string | null;
  actor?: string | null;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  resourceId?: string | null;
  /** Redacted again before it is stored. */
  detail?: Record<string, unknown> | null;
}

/** A page of entries: `nextCursor` is the `after` of the next page (the last `seq`, or the given cursor when empty). */
export interface AuditPage {
  data: AuditEntry[];
  nextCursor: number;
  hasMore: boolean;
}

/** The outcome of SCIM requests of one directory, for its sync status. */
export interface ScimActivity {
  /** The most recent SCIM request, if any. */
  lastRequest: { at: string; method: string; path: string; status: number } | null;
  /** SCIM requests since `since`. */
  requests: number;
  /** Of those, answered with a 4xx status. */
  clientErrors: number;
  /** Of those, answered with a 5xx status. */
  serverErrors: number;
}

export const REDACTED = "[REDACTED]";

/** Keys whose values are secrets, whatever their case: `password`, `clientSecret`, `access_token`, `apiKey`... */
const SECRET_KEY = /(pass(word|wd)?|secret|token|api[-_]?key|admin[-_]?key|authorization|credentials?|private[-_]?key|signature)$/i;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Our secrets (directory tokens {@link TOKEN_PREFIX}, admin keys {@link ADMIN_KEY_PREFIX}: a
 * prefix and base64url characters), or their random part alone (256 bits: 43 base64url
 * characters, a shape no id of ours has), wherever they stand in a text: as a run of 43 to 64
 * such characters, so that one with a character of the same alphabet touching it (`a<random>`,
 * `dsync-<random>`, a typo) is caught too. Longer runs are no pasted secret (and stay readable).
 */
const SECRET_TOKEN = `(?:${[TOKEN_PREFIX, ADMIN_KEY_PREFIX].map(escapeRegExp).join("|")})[A-Za-z0-9_-]{8,}|(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43,64}(?![A-Za-z0-9_-])`;
/** Values that are one of our secrets ({@link SECRET_TOKEN}), or a bearer credential. */
const SECRET_VALUE = new RegExp(`(${SECRET_TOKEN}|^bearer\\s)`, "i");
/** {@link SECRET_VALUE}'s tokens and keys wherever they stand in a text. */
const SECRET_IN_TEXT = new RegExp(SECRET_TOKEN, "gi");

/**
 * `text` with our tokens and keys in it replaced by `[REDACTED]`: for error messages that repeat
 * what the request sent (a token pasted where an id goes: `token dsync_... not found`).
 */
export function redactText(text: string): string {
  return text.replace(SECRET_IN_TEXT, REDACTED);
}

/**
 * Query values that mention a secret attribute anywhere, such as a SCIM filter on one
 * (`filter=password eq "..."`, RFC 7644 §3.4.2.2): the comparison value beside it is the secret.
 */
const SECRET_MENTION_SOURCE = "pass(?:word|wd)|secret|credential|api[-_]?key|private[-_]?key";
const SECRET_MENTION = new RegExp(SECRET_MENTION_SOURCE, "i");

/**
 * {@link SECRET_MENTION} and the attributes a schema registry never returns (`returned: "never"`,
 * RFC 7643 §2.4: a custom `pin`, say), each as a whole word: what a SCIM request's query is
 * redacted for in the audit log.
 */
export function secretMentionOf(registry: SchemaRegistry): RegExp {
  const names = new Set<string>();
  const visit = (attributes: readonly AttributeDefinition[] | undefined) => {
    for (const attribute of attributes ?? []) {
      if (attribute.returned === "never") names.add(attribute.name.toLowerCase());
      visit(attribute.subAttributes);
    }
  };
  for (const schema of registry.listSchemas()) visit(schema.attributes);
  const words = [...names].sort().map(escapeRegExp);
  return words.length === 0 ? SECRET_MENTION : new RegExp(`${SECRET_MENTION_SOURCE}|(?<![\\w$-])(?:${words.join("|")})(?![\\w$-])`, "i");
}

/**
 * A copy of `value` with secret-looking fields and values replaced by `[REDACTED]` (objects and
 * arrays recursively, at most 8 levels deep; deeper is dropped).
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return SECRET_VALUE.test(value) ? REDACTED : value;
  if (typeof value !== "object" || value === null) return value;
  if (depth >= 8) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? REDACTED : redact(item, depth + 1);
  return out;
}

/** Longest string an audit entry's detail keeps whole; a longer one keeps its start and its length. */
const MAX_DETAIL_STRING = 1_000;
/** Most elements of an array an audit entry's detail keeps. */
const MAX_DETAIL_ITEMS = 100;
/** Most bytes of JSON an audit entry's detail keeps; a larger one is replaced by its size. */
const MAX_DETAIL_JSON = 16_384;

/**
 * An audit entry's detail as stored: redacted, with long strings and arrays cut short, and at
 * most {@link MAX_DETAIL_JSON} bytes of JSON. A refused request's whole body (up to the 1 MiB
 * body limit) would otherwise go into the log with each refusal.
 */
export function auditDetailJson(detail: unknown): string {
  const json = JSON.stringify(shortened(redact(detail)));
  return json.length <= MAX_DETAIL_JSON ? json : JSON.stringify({ omitted: `the detail was ${json.length} characters of JSON` });
}

function shortened(value: unknown): unknown {
  if (typeof value === "string") {
    const kept = value.length <= MAX_DETAIL_STRING ? value : `${value.slice(0, MAX_DETAIL_STRING)}… (${value.length} characters)`;
    return storableText(kept);
  }
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const kept = value.slice(0, MAX_DETAIL_ITEMS).map(shortened);
    return value.length <= MAX_DETAIL_ITEMS ? kept : [...kept, `… (${value.length} items)`];
  }
  // No prototype: a `__proto__` key of the request stays a plain key.
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, item] of Object.entries(value)) out[storableText(key)] = shortened(item);
  return out;
}

/** A query name or value decoded (`+` is a space), or undefined when it is not valid percent-encoding. */
function decodeQueryComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

/**
 * `search` (with or without its `?`) with the values of secret-looking parameters redacted: those
 * whose name looks like a secret (`password`, `access_token`...), whose value looks like one of
 * our tokens, or whose value mentions a secret attribute (`filter=password eq "..."`). The other
 * parameters are kept as they came.
 */
export function redactQuery(search: string, secretMention: RegExp = SECRET_MENTION): string {
  const raw = search.startsWith("?") ? search.slice(1) : search;
  if (raw === "") return "";
  const parts = raw.split("&").map((part) => {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const decoded = decodeQueryComponent(name);
    // A name that does not decode cannot be checked; a bare parameter (no `=`) is all name.
    if (decoded === undefined) return REDACTED;
    if (eq < 0) return SECRET_VALUE.test(decoded) || secretMention.test(decoded) ? REDACTED : part;
    const value = decodeQueryComponent(part.slice(eq + 1));
    return value === undefined || SECRET_KEY.test(decoded) || SECRET_VALUE.test(value) || secretMention.test(value) ? `${name}=${REDACTED}` : part;
  });
  return `?${parts.join("&")}`;
}

/**
 * `pathname` with the segments that look like one of our secrets (decoded, as the query's values
 * are) redacted: a token pasted where an id goes (`GET /Users/dsync_...`) is as secret as one in
 * the query. The audit log and the server's request log write paths through it.
 */
export function redactPathname(pathname: string): string {
  return pathname
    .split("/")
    .map((segment) => {
      let decoded = segment;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        // Not valid percent-encoding: checked as it came.
      }
      return SECRET_VALUE.test(decoded) ? REDACTED : segment;
    })
    .join("/");
}

/**
 * The path and query of a URL as the audit log stores it: secret-looking path segments and query
 * values redacted, at most 2,000 characters.
 */
export function auditPath(url: string, secretMention?: RegExp): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const rest = start < 0 ? "/" : url.slice(start);
  const q = rest.indexOf("?");
  const path = q < 0 ? redactPathname(rest) : `${redactPathname(rest.slice(0, q))}${redactQuery(rest.slice(q), secretMention)}`;
  return path.length > 2000 ? `${path.slice(0, 2000)}…` : path;
}

function parseJson(value: unknown): Record<string, unknown> | null {
  if (value === null || value === undefined) return null;
  return (typeof value === "string" ? JSON.parse(value) : value) as Record<string, unknown>;
}

function toEntry(row: Selectable<AuditTable>): AuditEntry {
  return {
    seq: Number(row.seq),
    id: row.id,
    at: row.at,
    kind: row.kind as AuditKind,
    directoryId: row.directory_id,
    actor: row.actor,
    method: row.method,
    path: row.path,
    status: Number(row.status),
    durationMs: Number(row.duration_ms),
    resourceId: row.resource_id,
    detail: parseJson(row.detail),
  };
}

const DAY_MS = 24 * 3600 * 1000;

/** The `dir_settings` key of the greatest audit position `prune` deleted. */
const AUDIT_PRUNED_THROUGH = "audit_pruned_through";

/** Options of {@link AuditLog}. */
export interface AuditLogOptions {
  /** The clock. @default () => new Date() */
  now?: () => Date;
  /**
   * Entries are kept in memory and written together (one multi-row insert) after `maxDelayMs`
   * or once `maxEntries` wait, so a SCIM request costs no write of its own. Reads (`list`,
   * `scimActivity`, `prune`) and `flush()` write what waits first. A crash loses at most the
   * entries of the last `maxDelayMs`. `false` writes each entry when it is recorded.
   * @default { maxEntries: 200, maxDelayMs: 100 }
   */
  batch?: { maxEntries?: number; maxDelayMs?: number } | false;
  /** Receives failures to write a batch (the entries of that batch are dropped). */
  onError?: (error: unknown) => void;
  /**
   * Refusals of one kind (`recordRefusal`: one directory, one status, one reason) are written
   * once per window of this many milliseconds; the others of the window are counted into one
   * entry written when it ends (`detail.repeated`). @default 10000
   */
  refusalWindowMs?: number;
}

/** The refusals of one kind counted in an open window ({@link AuditLog.recordRefusal}). */
interface RefusalWindow {
  /** The last refusal counted (its method, path and actor go into the window's entry). */
  last: AuditRecord | undefined;
  /** When it came: the time of the window's entry, written later. */
  lastAt: Date | undefined;
  repeated: number;
}

/** The waits before each new try of a batch the database refused for a moment (see `insertRetrying`): about 15 s in all. */
const AUDIT_RETRY_DELAYS_MS = [250, 1_000, 4_000, 10_000];

/** SQLite busy or locked; PostgreSQL shutting down, unreachable or out of connections; a connection cut. */
function isTransientDatabaseError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED") || /^(57P0[123]|08\d{3}|53300)$/.test(code) || ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"].includes(code);
}

/** Rows per INSERT statement: 11 columns each, under SQLite's and PostgreSQL's parameter limits. */
const AUDIT_INSERT_CHUNK = 500;

/** The audit log over `dir_audit_log`. */
export class AuditLog {
  private readonly now: () => Date;
  private readonly maxEntries: number;
  private readonly maxDelayMs: number;
  private readonly onError: ((error: unknown) => void) | undefined;
  private pending: Insertable<AuditTable>[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly refusalWindowMs: number;
  private readonly refusals = new Map<string, RefusalWindow>();

  constructor(
    private readonly db: Kysely<DirectoryDatabase>,
    options: AuditLogOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.maxEntries = options.batch === false ? 1 : Math.max(1, options.batch?.maxEntries ?? 200);
    this.maxDelayMs = options.batch === false ? 0 : Math.max(0, options.batch?.maxDelayMs ?? 100);
    this.onError = options.onError;
    this.refusalWindowMs = Math.max(0, options.refusalWindowMs ?? 10_000);
  }

  /**
   * Records a refused request (a 429 of the rate limits, a 401 of a guard): the first refusal of its kind (its
   * directory, status and `detail.refused`) in a window of `refusalWindowMs` as `record` does,
   * the rest only counted; when the window ends, or at `flush()`, one entry says how many there
   * were (`detail.repeated`, with the last one's method, path and actor). A flood of refused
   * requests, which costs its sender nothing, costs the log two rows per window, not one per request.
   */
  async recordRefusal(entry: AuditRecord): Promise<void> {
    const reason = (entry.detail as { refused?: unknown } | null | undefined)?.refused;
    const key = `${entry.directoryId ?? ""} ${entry.status} ${String(reason)}`;
    const open = this.refusals.get(key);
    if (open !== undefined) {
      open.repeated++;
      open.last = entry;
      open.lastAt = this.now();
      return;
    }
    this.refusals.set(key, { last: undefined, lastAt: undefined, repeated: 0 });
    const timer = setTimeout(() => {
      const window = this.refusals.get(key);
      this.refusals.delete(key);
      if (window !== undefined) this.recordRepeats(window).catch((error: unknown) => this.onError?.(error));
    }, this.refusalWindowMs);
    timer.unref?.();
    await this.record(entry);
  }

  /** The entry of the refusals a window counted, if any (and the window's count starts over). */
  private recordRepeats(window: RefusalWindow): Promise<void> {
    const { last, lastAt, repeated } = window;
    window.repeated = 0;
    if (last === undefined || repeated === 0) return Promise.resolve();
    // Stamped with the last refusal's time, not the window's end: it says when they came.
    return this.append({ ...last, durationMs: 0, resourceId: null, detail: { ...(last.detail ?? {}), repeated } }, lastAt ?? this.now());
  }

  /**
   * Appends an entry (its detail redacted). With batching (the default) it resolves once the
   * entry is queued; `flush()` resolves once it is written.
   */
  async record(entry: AuditRecord): Promise<void> {
    await this.append(entry, this.now());
  }

  private async append(entry: AuditRecord, at: Date): Promise<void> {
    const detail = entry.detail === undefined || entry.detail === null ? null : auditDetailJson(entry.detail);
    // What the request sent may hold text no database column takes (NUL on PostgreSQL).
    const text = (value: string | null | undefined) => (value === undefined || value === null ? null : storableText(value));
    this.pending.push({
      id: newId("aud"),
      at: at.toISOString(),
      kind: entry.kind,
      directory_id: text(entry.directoryId),
      actor: text(entry.actor),
      method: storableText(entry.method),
      path: storableText(entry.path),
      status: entry.status,
      duration_ms: Math.round(entry.durationMs * 1000) / 1000,
      resource_id: text(entry.resourceId),
      detail,
    });
    if (this.pending.length >= this.maxEntries) await this.writePending();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.writePending().catch((error: unknown) => this.onError?.(error));
      }, this.maxDelayMs);
      // A waiting batch does not keep the process alive: close() flushes it.
      this.timer.unref?.();
    }
  }

  /**
   * Writes the entries that wait (in the order they were recorded), with the refusals counted so
   * far (for a read of the log, or `close()`: the batches written as they fill or age leave the
   * counts to their windows' ends).
   */
  flush(): Promise<void> {
    // Each queues its entry at once (its promise only awaits a batch write, which this one makes).
    for (const window of this.refusals.values()) void this.recordRepeats(window).catch(() => {});
    return this.writePending();
  }

  /** Writes the entries that wait, in the order they were recorded. */
  private writePending(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const rows = this.pending;
    this.pending = [];
    // One batch after the other, so that entries keep their order in the log.
    const write = this.writing.then(async () => {
      for (let i = 0; i < rows.length; i += AUDIT_INSERT_CHUNK) await this.insert(rows.slice(i, i + AUDIT_INSERT_CHUNK));
    });
    this.writing = write.catch(() => {});
    return write;
  }

  /**
   * Inserts a chunk of entries in one statement, tried again while the database is busy or
   * unreachable for a moment (another process holding a SQLite file's lock past its busy timeout,
   * a PostgreSQL restart): such a failure says nothing about the entries, which would otherwise be
   * lost. Entries recorded meanwhile wait behind it, in order.
   */
  private async insertRetrying(rows: readonly Insertable<AuditTable>[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.writeRows(rows);
        return;
      } catch (error) {
        if (attempt >= AUDIT_RETRY_DELAYS_MS.length || !isTransientDatabaseError(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, AUDIT_RETRY_DELAYS_MS[attempt]));
      }
    }
  }

  /** Inserts entries in one statement, and counts their SCIM requests by the hour (`dir_scim_activity`) in the same transaction. */
  private async writeRows(rows: readonly Insertable<AuditTable>[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("dir_audit_log").values([...rows]).execute();
      const hours = new Map<string, { directory_id: string; hour: string; requests: number; client_errors: number; server_errors: number }>();
      for (const row of rows) {
        const weight = activityWeight(row);
        if (weight === 0) continue;
        const hour = row.at.slice(0, 13);
        const key = `${row.directory_id} ${hour}`;
        let counts = hours.get(key);
        if (counts === undefined) hours.set(key, (counts = { directory_id: row.directory_id!, hour, requests: 0, client_errors: 0, server_errors: 0 }));
        counts.requests += weight;
        if (row.status >= 500) counts.server_errors += weight;
        else if (row.status >= 400) counts.client_errors += weight;
      }
      for (const counts of hours.values()) {
        await trx
          .insertInto("dir_scim_activity")
          .values(counts)
          .onConflict((oc) =>
            oc.columns(["directory_id", "hour"]).doUpdateSet({
              requests: sql`dir_scim_activity.requests + excluded.requests`,
              client_errors: sql`dir_scim_activity.client_errors + excluded.client_errors`,
              server_errors: sql`dir_scim_activity.server_errors + excluded.server_errors`,
            }),
          )
          .execute();
      }
    });
  }

  /**
   * Inserts a chunk of entries in one statement; if it fails, each entry on its own, so that one
   * entry the database refuses loses only itself, not its whole batch. The entries lost are
   * reported to `onError` once, with the first one's error.
   */
  private async insert(rows: readonly Insertable<AuditTable>[]): Promise<void> {
    try {
      await this.insertRetrying(rows);
    } catch (error) {
      if (rows.length === 1) throw error;
      let lost = 0;
      let first: unknown;
      for (const row of rows) {
        try {
          await this.writeRows([row]);
        } catch (rowError) {
          lost++;
          first ??= rowError;
        }
      }
      if (lost > 0) this.onError?.(new Error(`${lost} of ${rows.length} audit entries could not be written: ${String(first)}`, { cause: first }));
    }
  }

  /** Entries in order after the cursor `after` (a `seq`), optionally of one directory and kind. */
  async list(options: { directoryId?: string; kind?: AuditKind; after?: number; limit?: number } = {}): Promise<AuditPage> {
    await this.flush();
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const after = options.after ?? 0;
    let q = this.db.selectFrom("dir_audit_log").selectAll().where("seq", ">", after);
    if (options.directoryId !== undefined) q = q.where("directory_id", "=", options.directoryId);
    if (options.kind !== undefined) q = q.where("kind", "=", options.kind);
    const rows = await q.orderBy("seq").limit(limit + 1).execute();
    // A cursor behind pruned entries would go on past them unawares (as the events feed, a 410:
    // read the log again from the start).
    if (after > 0) {
      const pruned = await this.db.selectFrom("dir_settings").select("value").where("key", "=", AUDIT_PRUNED_THROUGH).executeTakeFirst();
      if (pruned !== undefined && after < Number(pruned.value)) {
        throw new DirectoryError(410, "cursor_expired", `audit entries after the cursor were pruned (through ${pruned.value}): read the log again from the start`);
      }
    }
    // A cursor past the latest entry was never handed out: a reader that kept it would skip every
    // entry up to it (as the events feed, a 400). When everything was pruned, no cursor is refused.
    if (rows.length === 0 && after > 0) {
      const latest = await this.db.selectFrom("dir_audit_log").select((eb) => eb.fn.max("seq").as("seq")).executeTakeFirst();
      if (latest?.seq != null && after > Number(latest.seq)) throw new DirectoryError(400, "invalid_cursor", `the cursor is past the latest audit entry (${Number(latest.seq)})`);
    }
    const data = rows.slice(0, limit).map(toEntry);
    return { data, nextCursor: data.length > 0 ? data[data.length - 1]!.seq : after, hasMore: rows.length > limit };
  }

  /** Deletes the entries older than `olderThanDays` days; returns how many. */
  async prune(olderThanDays: number): Promise<number> {
    await this.flush();
    const cutoff = new Date(this.now().getTime() - olderThanDays * DAY_MS).toISOString();
    const result = await this.db.transaction().execute(async (tx) => {
      // The greatest position pruned, kept (only ever raised) so that a reader whose cursor is
      // behind it is told (`list`: 410 cursor_expired), where it went on from the first entry left.
      const through = await tx.selectFrom("dir_audit_log").select((eb) => eb.fn.max("seq").as("seq")).where("at", "<", cutoff).executeTakeFirst();
      if (through?.seq != null) {
        const value = String(through.seq);
        const kept = await tx.selectFrom("dir_settings").select("value").where("key", "=", AUDIT_PRUNED_THROUGH).executeTakeFirst();
        if (kept === undefined) await tx.insertInto("dir_settings").values({ key: AUDIT_PRUNED_THROUGH, value }).execute();
        else if (Number(kept.value) < Number(value)) await tx.updateTable("dir_settings").set({ value }).where("key", "=", AUDIT_PRUNED_THROUGH).execute();
      }
      return tx.deleteFrom("dir_audit_log").where("at", "<", cutoff).executeTakeFirst();
    });
    // The hourly counts go with the entries, and are kept two days at most (the status reads one).
    const twoDaysAgo = new Date(this.now().getTime() - 2 * DAY_MS).toISOString();
    await this.db.deleteFrom("dir_scim_activity").where("hour", "<", (cutoff > twoDaysAgo ? cutoff : twoDaysAgo).slice(0, 13)).execute();
    return Number(result.numDeletedRows);
  }

  /**
   * A directory's SCIM activity: its last request, and the requests and errors since `since`
   * (default: the last 24 hours), counted by the hour as entries are written (`dir_scim_activity`:
   * the hour `since` falls in counts whole). An entry counting refusals (`detail.repeated`) counts
   * as the requests it stands for, a Bulk request as its operations (each has an entry, which is
   * never the last request: the Bulk request's own is); the entry
   * counting refusals is written after requests that came later than it says: the last request is
   * the latest by time among the newest entries.
   */
  async scimActivity(directoryId: string, since?: Date): Promise<ScimActivity> {
    await this.flush();
    const from = (since ?? new Date(this.now().getTime() - DAY_MS)).toISOString();
    const newest = await this.db
      .selectFrom("dir_audit_log")
      .select(["at", "method", "path", "status"])
      .where("directory_id", "=", directoryId)
      .where("kind", "=", "scim")
      // A Bulk request's operations are entries of their own, after the request's: the last
      // request is the Bulk request the client sent, not its last operation.
      .where(sql<boolean>`(detail ->> 'bulk') is null`)
      .orderBy("seq", "desc")
      .limit(LAST_REQUEST_CANDIDATES)
      .execute();
    let last = newest[0];
    for (const row of newest) if (row.at > last!.at) last = row;
    const rows = await this.db
      .selectFrom("dir_scim_activity")
      .select((eb) => [eb.fn.sum<number>("requests").as("requests"), eb.fn.sum<number>("client_errors").as("clientErrors"), eb.fn.sum<number>("server_errors").as("serverErrors")])
      .where("directory_id", "=", directoryId)
      .where("hour", ">=", from.slice(0, 13))
      .executeTakeFirstOrThrow();
    return {
      lastRequest: last === undefined ? null : { at: last.at, method: last.method, path: last.path, status: Number(last.status) },
      requests: Number(rows.requests ?? 0),
      clientErrors: Number(rows.clientErrors ?? 0),
      serverErrors: Number(rows.serverErrors ?? 0),
    };
  }
}

/**
 * How many SCIM requests an entry stands for in the sync status: none for an admin action or a
 * Bulk request's own entry (each of its operations has one), `detail.repeated` for one counting
 * refusals, else one.
 */
function activityWeight(row: Insertable<AuditTable>): number {
  if (row.kind !== "scim" || !row.directory_id) return 0;
  const detail = row.detail;
  if (typeof detail !== "string" || !(detail.includes('"repeated"') || detail.includes('"operations"'))) return 1;
  const parsed = JSON.parse(detail) as { repeated?: unknown; operations?: unknown };
  if (parsed.operations !== undefined) return 0;
  return typeof parsed.repeated === "number" ? parsed.repeated : 1;
}

/**
 * Entries read to find a directory's last request: those counting refusals (one per kind of
 * refusal and window) may be written after a few later requests.
 */
const LAST_REQUEST_CANDIDATES = 20;

/** Hono variables the SCIM audit middleware reads. */
export interface ScimAuditEnv {
  Variables: {
    /** Why a guard in front of the SCIM server refused the request ("ip_not_allowed", "rate_limited", "unauthenticated"). */
    auditRefusal?: string;
    /** Set for requests to directories that do not exist: they are not recorded. */
    auditSkip?: boolean;
    /** Set by the guard: whether the request's token is one of its directory's (before the SCIM server checks it). */
    tokenVerified?: boolean;
  };
}

/** What the SCIM audit middleware needs to know about a request beyond the HTTP exchange. */
export interface ScimAuditOptions {
  /** The directory the request is addressed to (undefined when the path holds no valid id). */
  directoryId: (c: Context<ScimAuditEnv>) => string | undefined;
  /**
   * The id of the directory's token the request carries, without verifying or recording its use.
   * With `known`, only a token id already at hand (no database read): for refused requests.
   */
  tokenId: (c: Context<ScimAuditEnv>, directoryId: string, options?: { known?: boolean }) => Promise<string | undefined>;
  /** Receives failures to write the audit entry (the request is answered anyway). */
  onError?: (error: unknown) => void;
  /** What a query value mentioning a secret looks like ({@link secretMentionOf}). @default password and secret-like words */
  secretMention?: RegExp;
}

const RESOURCE_PATH = /\/(Users|Groups)\/([^/?]+)/;

/**
 * The resource a SCIM request addressed or created (from its path, or the `Location` of a 201).
 * A search (`POST /Users/.search`, RFC 7644 §3.4.3) addresses no resource: null.
 */
/** A path (query included) that ends with the Bulk endpoint. */
const BULK_PATH = /\/Bulk\/?(\?|$)/i;

/** One operation of a BulkResponse, as the audit log records it. */
interface BulkOperationOutcome {
  method: string;
  status: number;
  bulkId?: string;
  location?: string;
  scimType?: string;
}

/** The operations of a BulkResponse (RFC 7644 §3.7.3) answered by the SCIM server; undefined when the body is not one. */
async function bulkOperations(response: Response): Promise<BulkOperationOutcome[] | undefined> {
  const body = (await response
    .clone()
    .json()
    .catch(() => undefined)) as { Operations?: unknown } | undefined;
  if (!Array.isArray(body?.Operations)) return undefined;
  const out: BulkOperationOutcome[] = [];
  for (const op of body.Operations as unknown[]) {
    if (typeof op !== "object" || op === null) continue;
    const { method, status, bulkId, location, response: answer } = op as Record<string, unknown>;
    const code = Number(status);
    if (typeof method !== "string" || !Number.isInteger(code)) continue;
    const outcome: BulkOperationOutcome = { method: method.toUpperCase(), status: code };
    if (typeof bulkId === "string") outcome.bulkId = bulkId;
    if (typeof location === "string") outcome.location = location;
    const scimType = (answer as { scimType?: unknown } | undefined)?.scimType;
    if (typeof scimType === "string") outcome.scimType = scimType;
    out.push(outcome);
  }
  return out;
}

function resourceIdOf(path: string, location: string | null): string | null {
  const match = RESOURCE_PATH.exec(path) ?? (location === null ? null : RESOURCE_PATH.exec(location));
  if (match === null || match[2] === ".search") return null;
  try {
    return decodeURIComponent(match[2]!);
  } catch {
    return match[2]!;
  }
}

/**
 * Hono middleware recording each SCIM request in the audit log after it is answered: method,
 * path (query secrets redacted), status, duration, directory, token id and resource id, plus the
 * error's `scimType` for failures. Never headers, never bodies. A failure to write the entry goes
 * to `onError` and does not change the response.
 */
export function scimAuditMiddleware(audit: AuditLog, options: ScimAuditOptions): MiddlewareHandler<ScimAuditEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    if (c.get("auditSkip") === true) return;
    try {
      const durationMs = performance.now() - started;
      const directoryId = options.directoryId(c);
      const refusal = c.get("auditRefusal");
      // A refused request costs no token lookup (a flood of them should cost as little as
      // possible): it names its token only when that token is known already (a rate-limited IdP).
      const tokenId = directoryId === undefined ? undefined : await options.tokenId(c, directoryId, { known: refusal !== undefined });
      const status = c.res.status;
      const detail: Record<string, unknown> = {};
      if (refusal !== undefined) detail.refused = refusal;
      if (status >= 400 && refusal === undefined) {
        const body = (await c.res
          .clone()
          .json()
          .catch(() => undefined)) as { scimType?: unknown } | undefined;
        if (typeof body?.scimType === "string") detail.scimType = body.scimType;
      }
      const path = auditPath(c.req.url, options.secretMention);
      const operations = status === 200 && c.req.method === "POST" && BULK_PATH.test(path) ? await bulkOperations(c.res) : undefined;
      if (operations !== undefined) {
        detail.operations = operations.length;
        detail.failedOperations = operations.filter((op) => op.status >= 400).length;
      }
      await audit[refusal !== undefined && (status === 429 || status === 401) ? "recordRefusal" : "record"]({
        kind: "scim",
        directoryId: directoryId ?? null,
        actor: tokenId ?? null,
        method: c.req.method,
        path,
        status,
        durationMs,
        resourceId: resourceIdOf(path.split("?")[0]!, c.res.headers.get("location")),
        detail: Object.keys(detail).length > 0 ? detail : null,
      });
      // Each operation of a Bulk request is an entry of its own, after the request's: a failed
      // one counts in the sync status as a failed request would.
      for (const op of operations ?? []) {
        const opPath = op.location !== undefined ? auditPath(op.location, options.secretMention) : path;
        const opDetail: Record<string, unknown> = { bulk: true };
        if (op.bulkId !== undefined) opDetail.bulkId = op.bulkId;
        if (op.scimType !== undefined) opDetail.scimType = op.scimType;
        await audit.record({
          kind: "scim",
          directoryId: directoryId ?? null,
          actor: tokenId ?? null,
          method: op.method,
          path: opPath,
          status: op.status,
          durationMs: 0,
          resourceId: op.location !== undefined ? resourceIdOf(opPath, null) : null,
          detail: opDetail,
        });
      }
    } catch (error) {
      options.onError?.(error);
    }
  };
}

/**
 * Reads whose answer can be megabytes, per directory, taking turns until their answer is written:
 * list pages (a page has a budget of 8 MiB), searches, and a group with its members (no budget:
 * 50,000 members are a 10 MB answer).
 *
 * Fifty 10 MB group reads at once ran a server capped at a 512 MB heap out of memory, and list
 * pages of a few MB requested by connections that never read them ran one out of memory all the
 * same. The peak is in writing the answers (the strings wait for their sockets), so a turn lasts
 * until the response is written (the Node response's `close`), not only while the handler runs;
 * a connection that stops reading its answer, or takes too long over it, is closed, since its
 * answer's memory is only freed with it; and the line of reads waiting for a turn is bounded.
 */
import type { Context, MiddlewareHandler } from "hono";
import { abortStalled, DEFAULT_STALLED_MS, parseFilter, writingProgress, type Filter, type WritingSocket } from "scim-core";
import type { ScimAuditEnv } from "./audit.js";
import type { ThreadTurns } from "./thread-turns.js";

/** How a wait for a turn ended: with the turn, or without (the client left, the line was full, it waited too long). */
type TurnOutcome = "turn" | "gone" | "full" | "timeout";

/** One scope's turns (a directory's): at most `limit` held, at most `maxWaiting` waiting in order of arrival. */
class ScopeTurns {
  held = 0;
  readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
    private readonly maxWaitMs: number,
  ) {}

  /**
   * Waits for a turn, at most `maxWaitMs`, in a line of at most `maxWaiting`. Without the turn
   * when `client` closed meanwhile (its place in the line is given up, and nothing is read for
   * it), when the line is full, or when the wait was too long.
   */
  async take(client?: Closable | null): Promise<TurnOutcome> {
    if (this.held < this.limit) {
      this.held++;
      return "turn";
    }
    if (client?.destroyed === true) return "gone";
    if (this.waiting.length >= this.maxWaiting) return "full";
    return new Promise<TurnOutcome>((resolve) => {
      const leave = (outcome: TurnOutcome) => {
        clearTimeout(timer);
        client?.off("close", gone);
        const index = this.waiting.indexOf(turn);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(outcome);
      };
      const turn = () => leave("turn");
      const gone = () => leave("gone");
      const timer = setTimeout(() => leave("timeout"), this.maxWaitMs);
      timer.unref?.();
      client?.once("close", gone);
      this.waiting.push(turn);
    });
  }

  /** Gives the turn to the next in line (it stays held) or frees it. */
  give(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.held--;
  }

  get idle(): boolean {
    return this.held === 0 && this.waiting.length === 0;
  }
}

/** A Node.js socket, response or request: what tells that it is done. */
interface Closable {
  readonly destroyed: boolean;
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
}

/** A Node.js socket: how far its writing got (scim-core's `writingProgress`), and how to close it. */
type WatchedSocket = Closable & Partial<Omit<WritingSocket, "destroyed">>;

/** The Node.js response of a request served by `@hono/node-server` (its `env.outgoing`), if any. */
interface WrittenResponse extends Closable {
  readonly writableFinished: boolean;
  readonly socket?: Closable | null;
}

/**
 * Longest an answer may take to be written after its handler: a client that reads a 10 MB answer
 * slower than this (85 KB/s) loses its connection, which frees the answer and the turn.
 */
export const MAX_HOLD_MS = 120_000;

/** Longest an answer may go without a byte of it written (a client that stopped reading): its connection is closed. */
export const STALLED_MS = DEFAULT_STALLED_MS;

/** Most reads of a directory waiting for a turn; the next ones get a 429. */
export const MAX_WAITING = 32;

/** Longest a read waits for its turn; then it gets a 429. */
export const MAX_WAIT_MS = 30_000;

/** The answer of a read refused a turn: a 429 SCIM Error with `Retry-After` (the SCIM routes render it). */
export type TurnRefusal = (c: Context<ScimAuditEnv>, retryAfterSeconds: number, reason: string, detail: string) => Response;

/** The discovery endpoints (RFC 7644 §4): small answers the server makes itself. */
const DISCOVERY = new Set(["serviceproviderconfig", "schemas", "resourcetypes"]);

/**
 * Whether a request's answer can be megabytes (the path's `segments` below the SCIM base):
 * - every search by POST (`/.search`, `/Users/.search`...): its parameters are in its body;
 * - `GET` (or `HEAD`) of a resource type's list (a page of up to 8 MiB), unless it answers at most
 *   one resource ({@link answersAtMostOne}: the IdPs' lookups and connection tests), which is
 *   no larger than a read by id;
 * - `GET` of groups with their members (`/Groups/{id}`, or a lookup of at most one group) unless
 *   `excludedAttributes` names `members`, or `attributes` is given without it: a group has no
 *   byte budget.
 */
export function readsLargeAnswer(method: string, segments: readonly string[], query: URLSearchParams): boolean {
  const first = segments[0]?.toLowerCase();
  if (first === undefined) return false;
  if (method === "POST") return segments[segments.length - 1] === ".search" && segments.length <= 2;
  if (method !== "GET" && method !== "HEAD") return false;
  if (segments.length === 1) {
    if (DISCOVERY.has(first)) return false;
    if (!answersAtMostOne(first, query)) return true;
  } else if (segments.length > 2) return false;
  return first === "groups" && includesMembers(query);
}

/** The value of a query parameter, its name matched case-insensitively (the server reads it so). */
function parameter(query: URLSearchParams, name: string): string | undefined {
  for (const [key, value] of query) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Whether a read of a group returns its members (`excludedAttributes`, `attributes`). */
function includesMembers(query: URLSearchParams): boolean {
  /** The names a parameter lists (undefined when it is not given, or empty: the server reads it so). */
  const listed = (name: string): string[] | undefined => {
    const value = parameter(query, name);
    return value === undefined || value.trim() === "" ? undefined : value.split(",").map((a) => a.trim().toLowerCase());
  };
  // `members` itself left out (one of its sub-attributes left out still returns the others).
  if (listed("excludedattributes")?.some((a) => /(^|:)members$/.test(a))) return false;
  const attributes = listed("attributes");
  return attributes === undefined || attributes.some((a) => /(^|:)members(\.|$)/.test(a));
}

/**
 * Whether a list read answers at most one resource: `count` of 0 or 1 (a connection test), or a
 * filter that is one `eq` on `id`, on `userName` for users, or on `displayName` for groups (Entra's
 * group lookup): each is unique in a directory (the service keeps scim-core's
 * `uniqueGroupDisplayName`, and compares both as their unique keys are made, case folded). Other
 * lookups (`externalId eq`, a user's `displayName eq`) can match many: they take turns.
 */
function answersAtMostOne(type: string, query: URLSearchParams): boolean {
  const count = parameter(query, "count");
  if (count !== undefined && /^\s*[01]\s*$/.test(count)) return true;
  const text = parameter(query, "filter");
  if (text === undefined) return false;
  let filter: Filter;
  try {
    filter = parseFilter(text);
  } catch {
    return false;
  }
  if (filter.type !== "compare" || filter.op !== "eq" || filter.path.sub !== undefined) return false;
  // A core attribute: an extension's attribute of the same name is unique nowhere.
  if (filter.path.uri !== undefined && !/^urn:ietf:params:scim:schemas:core:2\.0:(User|Group)$/i.test(filter.path.uri)) return false;
  const attribute = filter.path.attr.toLowerCase();
  return attribute === "id" || (attribute === "username" && type === "users") || (attribute === "displayname" && type === "groups");
}

/** An answer at least this large (its `Content-Length`) takes a turn after its handler made it. */
export const LARGE_ANSWER_BYTES = 256 * 1024;

/** Options of {@link largeReadTurns}. */
export interface LargeReadTurnOptions {
  /** Turns at once per scope. */
  limit: number;
  /** The scope a request takes its turn in (its directory; `admin` for the admin API). */
  scopeOf: (c: Context) => string;
  /** Whether a request's answer can be megabytes, known before its handler runs. */
  readsLarge: (c: Context) => boolean;
  /** The 429 of a read refused a turn. */
  refuse: TurnRefusal;
  /**
   * Turns on the server's thread, shared by every scope: a read that got its scope's turn then
   * waits for the thread before its handler runs, and gives it back once its answer is made
   * (see {@link ThreadTurns}). Undefined: none (PostgreSQL).
   */
  thread?: ThreadTurns;
  /**
   * Whether a read takes a turn on the thread (`thread`). Not the searches the store runs on its
   * search thread: one would hold the turn while it waits for the worker. @default every read
   */
  takesThread?: (c: Context) => boolean;
  stalledMs?: number;
  maxHoldMs?: number;
  maxWaiting?: number;
  maxWaitMs?: number;
}

/**
 * A middleware: reads whose answer can be megabytes (`readsLarge`) take turns before their
 * handler, `limit` at once per scope, each until its answer is written; an answer found large
 * only once made (a `Content-Length` of {@link LARGE_ANSWER_BYTES} or more: a user of a megabyte)
 * takes one after its handler, waiting with its answer in hand (the line's bound bounds that
 * memory too). At most `maxWaiting` wait, each at most `maxWaitMs`, and the others are `refuse`d.
 */
export function largeReadTurns(options: LargeReadTurnOptions): MiddlewareHandler<ScimAuditEnv> {
  const { limit, scopeOf, readsLarge, refuse } = options;
  const stalledMs = options.stalledMs ?? STALLED_MS;
  const maxHoldMs = options.maxHoldMs ?? MAX_HOLD_MS;
  const maxWaiting = options.maxWaiting ?? MAX_WAITING;
  const maxWaitMs = options.maxWaitMs ?? MAX_WAIT_MS;
  const byScope = new Map<string, ScopeTurns>();

  /** Waits for a turn in the request's scope: the function that gives it back, or the answer without one. */
  const takeTurn = async (c: Context<ScimAuditEnv>, client: WatchedSocket | null | undefined): Promise<(() => void) | Response> => {
    const scope = scopeOf(c);
    let turns = byScope.get(scope);
    if (turns === undefined) byScope.set(scope, (turns = new ScopeTurns(limit, maxWaiting, maxWaitMs)));
    const outcome = await turns.take(client);
    if (outcome !== "turn") {
      if (turns.idle) byScope.delete(scope);
      // The client left while it waited: nothing is read, and the answer goes nowhere.
      if (outcome === "gone") return new Response(null, { status: 503 });
      return outcome === "full"
        ? refuse(c, 1, "large_reads_waiting", `${maxWaiting} reads of large answers (list pages, searches, large resources) already wait`)
        : refuse(c, 5, "large_reads_wait", "reads of large answers are taking turns: this one waited too long");
    }
    let given = false;
    return () => {
      if (given) return;
      given = true;
      turns.give();
      if (turns.idle) byScope.delete(scope);
    };
  };

  return async (c, next) => {
    const env = c.env as { outgoing?: WrittenResponse; incoming?: { socket?: WatchedSocket | null } } | undefined;
    // The client's socket, when it is one (it tells when the client leaves).
    const client = typeof env?.incoming?.socket?.once === "function" ? env.incoming.socket : undefined;
    const method = c.req.method;
    // A request whose token the guard refused is answered 401 without reading anything.
    const refusedToken = c.get("tokenVerified") === false;
    let give: (() => void) | undefined;
    let release: (() => void) | undefined;
    if (!refusedToken && readsLarge(c)) {
      const taken = await takeTurn(c, client);
      if (taken instanceof Response) return taken;
      give = taken;
      if (options.thread !== undefined && (options.takesThread?.(c) ?? true)) {
        release = await options.thread.take(scopeOf(c));
        // The client left while it waited: nothing is read.
        if (client?.destroyed === true) {
          release();
          give();
          return new Response(null, { status: 503 });
        }
      }
    }
    try {
      await next();
    } catch (error) {
      release?.();
      give?.();
      throw error;
    }
    release?.();
    if (give === undefined) {
      if (refusedToken || (method !== "GET" && method !== "HEAD") || !(Number(c.res.headers.get("content-length")) >= LARGE_ANSWER_BYTES)) return;
      const taken = await takeTurn(c, client);
      if (taken instanceof Response) {
        // Replaced whole, with only its own headers: Hono builds an answer on the headers the
        // handler set (the large answer's Content-Length, ETag, Location) and copies them onto a
        // response set over another.
        const headers = new Headers();
        for (const name of ["content-type", "retry-after"]) {
          const value = taken.headers.get(name);
          if (value !== null) headers.set(name, value);
        }
        c.res = undefined;
        c.res = new Response(taken.body, { status: taken.status, headers });
        return;
      }
      give = taken;
    }
    holdUntilWritten(env, give, stalledMs, maxHoldMs);
  };
}

/**
 * Holds a turn until the answer is written, or the connection is gone (a response queued behind
 * others on a pipelined connection that closes never emits its own `close`); gives it back at
 * once where nothing writes it afterwards (`app.request` in tests, a runtime without a Node
 * response). A connection that writes nothing of it for `stalledMs`, or has not finished in
 * `maxHoldMs`, is closed: the answer's memory goes with the connection, the turn with its close.
 */
function holdUntilWritten(env: { outgoing?: WrittenResponse; incoming?: { socket?: WatchedSocket | null } } | undefined, give: () => void, stalledMs: number, maxHoldMs: number): void {
  const outgoing = env?.outgoing;
  // The request's socket: a response queued behind others has none of its own yet.
  const candidate = env?.incoming?.socket ?? outgoing?.socket ?? undefined;
  const socket: WatchedSocket | undefined = typeof candidate?.once === "function" ? candidate : undefined;
  if (outgoing === undefined || outgoing.writableFinished || outgoing.destroyed || socket?.destroyed === true) {
    give();
    return;
  }
  const started = Date.now();
  const stalledFor = writingProgress(socket, started);
  const watch = setInterval(() => {
    const now = Date.now();
    if (stalledFor(now) < stalledMs && now - started < maxHoldMs) return;
    if (socket?.destroy !== undefined) abortStalled(socket as Pick<WritingSocket, "destroy" | "resetAndDestroy">);
    else done();
  }, Math.max(1, Math.floor(stalledMs / 3)));
  watch.unref?.();
  function done(): void {
    clearInterval(watch);
    outgoing!.off("close", done);
    socket?.off("close", done);
    give();
  }
  outgoing.once("close", done);
  socket?.once("close", done);
}

/**
 * `readsLarge` of the SCIM routes ({@link readsLargeAnswer}), with the path's segments below the
 * SCIM base from `segmentsOf`. Writes and most reads pass its first tests without parsing the URL.
 */
export function scimReadsLarge(segmentsOf: (c: Context) => string[]): (c: Context) => boolean {
  return (c) => {
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD" && method !== "POST") return false;
    const segments = segmentsOf(c);
    if (segments.length === 0 || (method === "POST" && !segments[segments.length - 1]!.startsWith("."))) return false;
    return readsLargeAnswer(method, segments, method === "POST" ? new URLSearchParams() : new URL(c.req.url).searchParams);
  };
}

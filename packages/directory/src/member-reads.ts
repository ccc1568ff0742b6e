/**
 * Reads of a group with its members, per directory, taking turns until their answer is written.
 *
 * A list page has a byte budget; a single group has none: 50,000 members are a 10 MB answer, and
 * 50 such reads at once ran a server capped at a 512 MB heap out of memory. The peak is in writing
 * the answers (the strings wait for their sockets), so a turn lasts until the response is written
 * (the Node response's `close`), not only while the handler runs.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { ScimAuditEnv } from "./audit.js";

/** One directory's turns: at most `limit` held; the others wait in order of arrival. */
class DirectoryTurns {
  held = 0;
  readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async take(): Promise<void> {
    if (this.held < this.limit) {
      this.held++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
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

/** The Node.js response of a request served by `@hono/node-server` (its `env.outgoing`), if any. */
interface WrittenResponse extends Closable {
  readonly writableFinished: boolean;
  readonly socket?: Closable | null;
}

/**
 * Longest a turn is held after its handler: a client that reads a 10 MB answer slower than this
 * no longer holds back the directory's other group reads.
 */
const MAX_HOLD_MS = 60_000;

/**
 * Whether a request reads one group with its members: `GET` (or `HEAD`) of `/Groups/{id}`
 * unless `excludedAttributes` names `members`, or `attributes` is given without it.
 */
export function readsGroupMembers(method: string, segments: readonly string[], query: URLSearchParams): boolean {
  if ((method !== "GET" && method !== "HEAD") || segments.length !== 2 || segments[0]!.toLowerCase() !== "groups") return false;
  /** The names a parameter lists (undefined when it is not given, or empty: the server reads it so). */
  const listed = (name: string): string[] | undefined => {
    for (const [key, value] of query) {
      if (key.toLowerCase() === name) return value.trim() === "" ? undefined : value.split(",").map((a) => a.trim().toLowerCase());
    }
    return undefined;
  };
  // `members` itself left out (one of its sub-attributes left out still returns the others).
  if (listed("excludedattributes")?.some((a) => /(^|:)members$/.test(a))) return false;
  const attributes = listed("attributes");
  return attributes === undefined || attributes.some((a) => /(^|:)members(\.|$)/.test(a));
}

/**
 * A middleware for `/scim/v2/:directoryId/*`: reads of a group with its members take turns,
 * `limit` at once per directory, each until its answer is written.
 */
export function groupReadTurns(limit: number, directoryOf: (c: Context) => string, segmentsOf: (c: Context) => string[]): MiddlewareHandler<ScimAuditEnv> {
  const byDirectory = new Map<string, DirectoryTurns>();
  return async (c, next) => {
    // Writes and most reads pass at the first test, without parsing the URL.
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return next();
    const url = new URL(c.req.url);
    if (!readsGroupMembers(c.req.method, segmentsOf(c), url.searchParams)) return next();
    // A request whose token the guard refused is answered 401 without reading anything.
    if (c.get("tokenVerified") === false) return next();
    const directoryId = directoryOf(c);
    let turns = byDirectory.get(directoryId);
    if (turns === undefined) byDirectory.set(directoryId, (turns = new DirectoryTurns(limit)));
    await turns.take();
    let given = false;
    const give = () => {
      if (given) return;
      given = true;
      turns.give();
      if (turns.idle) byDirectory.delete(directoryId);
    };
    try {
      await next();
    } catch (error) {
      give();
      throw error;
    }
    // Until the answer is written, or the connection is gone (a response queued behind others on
    // a pipelined connection that closes never emits its own `close`), at most MAX_HOLD_MS; at
    // once where nothing writes it afterwards (`app.request` in tests, a runtime without a Node
    // response).
    const env = c.env as { outgoing?: WrittenResponse; incoming?: { socket?: Closable | null } } | undefined;
    const outgoing = env?.outgoing;
    // The request's socket: a response queued behind others has none of its own yet.
    const socket = env?.incoming?.socket ?? outgoing?.socket ?? undefined;
    if (outgoing === undefined || outgoing.writableFinished || outgoing.destroyed || socket?.destroyed === true) {
      give();
      return;
    }
    const timer = setTimeout(done, MAX_HOLD_MS);
    timer.unref?.();
    function done(): void {
      clearTimeout(timer);
      outgoing!.off("close", done);
      socket?.off("close", done);
      give();
    }
    outgoing.once("close", done);
    socket?.once("close", done);
  };
}

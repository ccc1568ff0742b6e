/**
 * Reads of a group with its members, per directory, taking turns until their answer is written.
 *
 * A list page has a byte budget; a single group has none: 50,000 members are a 10 MB answer, and
 * 50 such reads at once ran a server capped at a 512 MB heap out of memory. The peak is in writing
 * the answers (the strings wait for their sockets), so a turn lasts until the response is written
 * (the Node response's `close`), not only while the handler runs.
 */
import type { Context, MiddlewareHandler } from "hono";

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

/** The Node.js response of a request served by `@hono/node-server` (its `env.outgoing`), if any. */
interface WrittenResponse {
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  once(event: "close", listener: () => void): unknown;
}

/**
 * Whether a request reads one group with its members: `GET` (or `HEAD`) of `/Groups/{id}`
 * unless `excludedAttributes` names `members`, or `attributes` is given without it.
 */
export function readsGroupMembers(method: string, segments: readonly string[], query: URLSearchParams): boolean {
  if ((method !== "GET" && method !== "HEAD") || segments.length !== 2 || segments[0]!.toLowerCase() !== "groups") return false;
  const named = (name: string) => {
    for (const [key, value] of query) {
      if (key.toLowerCase() === name) return value.split(",").some((a) => /(^|:)members(\.|$)/i.test(a.trim()));
    }
    return undefined;
  };
  if (named("excludedattributes") === true) return false;
  return named("attributes") !== false;
}

/**
 * A middleware for `/scim/v2/:directoryId/*`: reads of a group with its members take turns,
 * `limit` at once per directory, each until its answer is written.
 */
export function groupReadTurns(limit: number, directoryOf: (c: Context) => string, segmentsOf: (c: Context) => string[]): MiddlewareHandler {
  const byDirectory = new Map<string, DirectoryTurns>();
  return async (c, next) => {
    // Writes and most reads pass at the first test, without parsing the URL.
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return next();
    const url = new URL(c.req.url);
    if (!readsGroupMembers(c.req.method, segmentsOf(c), url.searchParams)) return next();
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
    // Until the answer is written (or the connection is gone); at once where nothing writes it
    // afterwards (`app.request` in tests, a runtime without a Node response).
    const outgoing = (c.env as { outgoing?: WrittenResponse } | undefined)?.outgoing;
    if (outgoing === undefined || outgoing.writableFinished || outgoing.destroyed) give();
    else outgoing.once("close", give);
  };
}

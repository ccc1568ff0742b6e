/**
 * Turns on the server's thread for the reads whose answer can be megabytes (list pages, searches,
 * groups with their members), across every directory and the admin API: one such read is made at
 * a time, the directories with reads waiting served in turn, and between two of them the thread
 * first serves whatever arrived meanwhile (`setImmediate`: the requests read from the network,
 * other directories' lookups and writes).
 *
 * On SQLite a read runs on the server's thread from its query to its answer's JSON, with nothing
 * in between that lets another request run: a page of 1,000 users holds the thread some 15-20 ms.
 * Four such pages of one directory arrived together ran back to back, and every other directory's
 * requests waited for all four (a review measured other directories' p99 at 8 times its value
 * alone). With these turns they wait for one at most. PostgreSQL's queries run beside the thread,
 * and the service takes no turns there (`DirectorySync.threadTurns` is undefined).
 */

/** A read waiting for its turn: `grant` gives it the thread. */
interface Waiter {
  grant: () => void;
}

/**
 * One holder at a time, the scopes (directories, `admin`) with waiters served in turn (next, the
 * one served longest ago, or never) and each scope's waiters in order of arrival; `take` resolves
 * with the function that gives the turn back.
 */
export class ThreadTurns {
  private held = false;
  /** When each scope last had the thread (a count of turns given), for the scopes served lately. */
  private readonly servedAt = new Map<string, number>();
  private given = 0;
  /** The waiters of each scope; a scope is in the map while it has any. */
  private readonly waiting = new Map<string, Waiter[]>();

  /** Waits for the thread; resolves with the function that gives it back (once; later calls do nothing). */
  take(scope: string): Promise<() => void> {
    if (!this.held && this.waiting.size === 0) {
      this.held = true;
      this.served(scope);
      return Promise.resolve(this.giver());
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { grant: () => resolve(this.giver()) };
      const line = this.waiting.get(scope);
      if (line === undefined) this.waiting.set(scope, [waiter]);
      else line.push(waiter);
    });
  }

  /** How many reads wait for the thread (for tests and monitoring). */
  get waitingCount(): number {
    let n = 0;
    for (const line of this.waiting.values()) n += line.length;
    return n;
  }

  private giver(): () => void {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      if (this.waiting.size === 0) {
        this.held = false;
        return;
      }
      // What arrived while the read held the thread goes first; then the next scope's read.
      setImmediate(() => this.grantNext());
    };
  }

  /** Gives the thread to the first waiter of the scope served longest ago (or never) among those waiting. */
  private grantNext(): void {
    let chosen: [string, Waiter[]] | undefined;
    let oldest = Infinity;
    for (const entry of this.waiting) {
      const at = this.servedAt.get(entry[0]) ?? -1;
      if (at < oldest) {
        oldest = at;
        chosen = entry;
      }
    }
    if (chosen === undefined) {
      this.held = false;
      return;
    }
    const [scope, line] = chosen;
    const waiter = line.shift()!;
    if (line.length === 0) this.waiting.delete(scope);
    this.served(scope);
    waiter.grant();
  }

  /** Records that `scope` has the thread now. */
  private served(scope: string): void {
    this.servedAt.delete(scope);
    this.servedAt.set(scope, ++this.given);
    // Only the order of the scopes served lately matters: the others count as never served.
    if (this.servedAt.size > 10_000) this.servedAt.delete(this.servedAt.keys().next().value!);
  }
}

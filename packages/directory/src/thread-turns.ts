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
 * One holder at a time, the scopes (directories, `admin`) with waiters served round-robin (never
 * the scope served last while another waits) and each scope's waiters in order of arrival; `take`
 * resolves with the function that gives the turn back.
 */
export class ThreadTurns {
  private held = false;
  /** The scope of the read that had the thread last: the next turn goes to another scope when one waits. */
  private lastScope: string | undefined;
  /** The waiters of each scope; a scope is in the map while it has any, in the order it is served. */
  private readonly waiting = new Map<string, Waiter[]>();

  /** Waits for the thread; resolves with the function that gives it back (once; later calls do nothing). */
  take(scope: string): Promise<() => void> {
    if (!this.held && this.waiting.size === 0) {
      this.held = true;
      this.lastScope = scope;
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

  /**
   * Gives the thread to the first waiter of the first scope in line other than the one served
   * last (that one when it is the only one waiting); the scope then goes to the end of the line.
   */
  private grantNext(): void {
    let chosen: [string, Waiter[]] | undefined;
    for (const entry of this.waiting) {
      chosen ??= entry;
      if (entry[0] !== this.lastScope) {
        chosen = entry;
        break;
      }
    }
    if (chosen === undefined) {
      this.held = false;
      return;
    }
    const [scope, line] = chosen;
    const waiter = line.shift()!;
    this.waiting.delete(scope);
    if (line.length > 0) this.waiting.set(scope, line);
    this.lastScope = scope;
    waiter.grant();
  }
}

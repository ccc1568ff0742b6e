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

import { FairQueue } from "scim-store-sql";

/**
 * One holder at a time, the scopes (directories, `admin`) with waiters served in turn (next, the
 * one served longest ago, or never: scim-store-sql's `FairQueue`) and each scope's waiters in
 * order of arrival; `take` resolves with the function that gives the turn back.
 */
export class ThreadTurns {
  private held = false;
  /** The reads waiting, by scope: each grants the thread to its read. */
  private readonly waiting = new FairQueue<() => void>();

  /** Waits for the thread; resolves with the function that gives it back (once; later calls do nothing). */
  take(scope: string): Promise<() => void> {
    if (!this.held && this.waiting.size === 0) {
      this.held = true;
      this.waiting.markServed(scope);
      return Promise.resolve(this.giver());
    }
    return new Promise((resolve) => this.waiting.push(scope, () => resolve(this.giver())));
  }

  /** How many reads wait for the thread (for tests and monitoring). */
  get waitingCount(): number {
    return this.waiting.size;
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

  /** Gives the thread to the next read waiting (see FairQueue), or frees it. */
  private grantNext(): void {
    const grant = this.waiting.shift();
    if (grant === undefined) this.held = false;
    else grant();
  }
}

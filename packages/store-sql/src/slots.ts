/**
 * @internal A counting semaphore: at most `free` holders at once, the others served in arrival
 * order. The PostgreSQL pool's search slots and each tenant's slots are made of it.
 */
import { queryTimedOut } from "scim-core";

export class Slots {
  private readonly waiting: Array<() => void> = [];
  private taken = 0;

  constructor(private readonly capacity: number) {}

  /** Nobody holds a slot or waits for one. */
  get idle(): boolean {
    return this.taken === 0 && this.waiting.length === 0;
  }

  /** Takes a slot, waiting for one; with a `deadline` (`Date.now()` ms), past it scim-core's `queryTimedOut()` (400 `tooMany`). */
  async take(deadline?: number): Promise<void> {
    if (this.taken < this.capacity) {
      this.taken++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const turn = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer =
        deadline === undefined
          ? undefined
          : setTimeout(() => {
              this.waiting.splice(this.waiting.indexOf(turn), 1);
              reject(queryTimedOut());
            }, Math.max(0, deadline - Date.now()));
      this.waiting.push(turn);
    });
  }

  /** Gives a slot back: to the next in line, if any. */
  give(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.taken--;
  }
}

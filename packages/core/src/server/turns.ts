/**
 * At most `limit` pieces of work at once; the others wait their turn, in order of arrival.
 */
export class Turns {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Runs `work` when a turn is free, and frees it when `work` settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      // The turn passes to the next in line (it stays taken), or is freed.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }
}

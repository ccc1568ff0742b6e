/**
 * Work waiting by key (a tenant, a directory), served in turn: the next item is the first waiting
 * of the key served longest ago, or never, among the keys with items waiting; each key's items in
 * order of arrival. One key's long queue delays another key's item by one item at most. The SQLite
 * search thread serves tenants' searches so, and scim-directory's turns on the server's thread
 * serve directories' large reads so.
 */
export class FairQueue<T> {
  /** The items of each key; a key is in the map while it has any. */
  private readonly lines = new Map<string, T[]>();
  /** When each key was last served (a count of items served), for the keys served lately. */
  private readonly servedAt = new Map<string, number>();
  private served = 0;
  private count = 0;

  /** Items waiting. */
  get size(): number {
    return this.count;
  }

  /** Adds an item at the end of its key's line. */
  push(key: string, item: T): void {
    const line = this.lines.get(key);
    if (line === undefined) this.lines.set(key, [item]);
    else line.push(item);
    this.count++;
  }

  /** The next item to serve (see the class), counted as served; undefined when none waits. */
  shift(): T | undefined {
    let chosen: [string, T[]] | undefined;
    let oldest = Infinity;
    for (const entry of this.lines) {
      const at = this.servedAt.get(entry[0]) ?? -1;
      if (at < oldest) {
        oldest = at;
        chosen = entry;
      }
    }
    if (chosen === undefined) return undefined;
    const [key, line] = chosen;
    const item = line.shift()!;
    this.count--;
    if (line.length === 0) this.lines.delete(key);
    this.markServed(key);
    return item;
  }

  /** Records that `key` was served now without waiting in the queue (its item went at once). */
  markServed(key: string): void {
    this.servedAt.delete(key);
    this.servedAt.set(key, ++this.served);
    // Only the order of the keys served lately matters: the others count as never served.
    if (this.servedAt.size > 10_000) this.servedAt.delete(this.servedAt.keys().next().value!);
  }

  /** Takes every waiting item out (to reject them). */
  drain(): T[] {
    const items = [...this.lines.values()].flat();
    this.lines.clear();
    this.count = 0;
    return items;
  }
}

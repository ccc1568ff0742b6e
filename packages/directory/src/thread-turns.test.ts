import { describe, expect, it } from "vitest";
import { ThreadTurns } from "./thread-turns.js";

/** Lets the pending immediates and promise callbacks run. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe("ThreadTurns", () => {
  it("gives the thread to one read at a time, the directories in turn (the one served longest ago, or never, first)", async () => {
    const turns = new ThreadTurns();
    const order: string[] = [];
    const gives = new Map<string, () => void>();
    const take = (scope: string, name: string) =>
      void turns.take(scope).then((give) => {
        order.push(name);
        gives.set(name, give);
      });
    take("a", "a1");
    take("a", "a2");
    take("a", "a3");
    take("b", "b1");
    take("c", "c1");
    await settle();
    expect(order).toEqual(["a1"]);
    expect(turns.waitingCount).toBe(4);
    for (const name of ["a1", "b1", "c1", "a2"]) {
      gives.get(name)!();
      await settle();
    }
    // a had the thread first: b and c, which never had it, go before a's next read.
    expect(order).toEqual(["a1", "b1", "c1", "a2", "a3"]);
    expect(turns.waitingCount).toBe(0);
    // Given back twice: counted once (a3 still holds the thread).
    gives.get("a2")!();
    take("b", "b2");
    await settle();
    expect(order.at(-1)).toBe("a3");
    gives.get("a3")!();
    await settle();
    expect(order.at(-1)).toBe("b2");
    gives.get("b2")!();
    // Free again: the next read gets the thread at once.
    take("c", "c2");
    await Promise.resolve();
    await Promise.resolve();
    expect(order.at(-1)).toBe("c2");
  });

  it("between two reads, what was already waiting on the event loop runs first", async () => {
    const turns = new ThreadTurns();
    const log: string[] = [];
    const first = await turns.take("a");
    const second = turns.take("b").then((give) => {
      log.push("second read");
      return give;
    });
    // A request that arrived while the first read held the thread.
    setImmediate(() => log.push("other request"));
    first();
    expect(log).toEqual([]);
    (await second)();
    expect(log).toEqual(["other request", "second read"]);
  });
});

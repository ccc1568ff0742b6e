import { describe, expect, it } from "vitest";
import { FairQueue } from "./fair-queue.js";

describe("FairQueue", () => {
  it("serves the key served longest ago (or never) first, each key's items in order of arrival", () => {
    const queue = new FairQueue<string>();
    // a's first item went at once, without waiting.
    queue.markServed("a");
    for (const [key, item] of [["a", "a2"], ["a", "a3"], ["b", "b1"], ["c", "c1"], ["b", "b2"]] as const) queue.push(key, item);
    expect(queue.size).toBe(5);
    const served: string[] = [];
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) served.push(item);
    expect(served).toEqual(["b1", "c1", "a2", "b2", "a3"]);
    expect(queue.size).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it("drain takes every waiting item out", () => {
    const queue = new FairQueue<number>();
    queue.push("a", 1);
    queue.push("b", 2);
    queue.push("a", 3);
    expect(queue.drain().sort()).toEqual([1, 2, 3]);
    expect(queue.size).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });
});

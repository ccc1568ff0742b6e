import { describe, expect, it } from "vitest";
import { Turns } from "./turns.js";

describe("Turns", () => {
  it("runs at most `limit` pieces of work at once, the others in order of arrival, and frees a turn when work fails", async () => {
    const turns = new Turns(2);
    const started: number[] = [];
    const gates = new Map<number, () => void>();
    const work = (n: number, fail = false) =>
      turns.run(async () => {
        started.push(n);
        await new Promise<void>((resolve) => gates.set(n, resolve));
        if (fail) throw new Error(`work ${n} failed`);
        return n;
      });
    const runs = [work(1, true), work(2), work(3), work(4)];
    const settled = Promise.allSettled(runs);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(started).toEqual([1, 2]);
    gates.get(1)!();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(started).toEqual([1, 2, 3]);
    gates.get(2)!();
    gates.get(3)!();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(started).toEqual([1, 2, 3, 4]);
    gates.get(4)!();
    const results = await settled;
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual(["work 1 failed", 2, 3, 4]);
    // All turns free again: two at once start at once.
    const again: number[] = [];
    await Promise.all([turns.run(async () => again.push(1)), turns.run(async () => again.push(2))]);
    expect(again.sort()).toEqual([1, 2]);
  });
});

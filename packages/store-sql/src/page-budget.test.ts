import { describe, expect, it } from "vitest";
import { fillLeftOut } from "./page-budget.js";

describe("fillLeftOut", () => {
  it("reads the values left out by key, and leaves out a row whose value is gone meanwhile (pruned, deleted)", async () => {
    const rows = [
      { seq: 1, doc: "{}" as string | null },
      { seq: 2, doc: null },
      { seq: 3, doc: null },
      { seq: 4, doc: "{}" },
    ];
    const asked: Array<number | string>[] = [];
    const kept = await fillLeftOut(rows, "doc", (row) => row.seq, async (keys) => {
      asked.push(keys);
      // Row 3 was deleted between the two reads.
      return keys.filter((key) => key !== 3).map((key) => [key, `{"seq":${key}}`]);
    });
    expect(asked).toEqual([[2, 3]]);
    expect(kept).toEqual([
      { seq: 1, doc: "{}" },
      { seq: 2, doc: '{"seq":2}' },
      { seq: 4, doc: "{}" },
    ]);
    // Nothing left out: no read, the same rows.
    const whole = [{ seq: 5, doc: "{}" }];
    expect(await fillLeftOut(whole, "doc", (row) => row.seq, () => Promise.reject(new Error("not read")))).toBe(whole);
  });
});

import { describe, expect, it } from "vitest";
import { sharedHealthCheck, type DatabaseHealth } from "./health.js";

describe("sharedHealthCheck", () => {
  it("runs one check for callers that come together, reuses its answer for maxAgeMs, then checks again", async () => {
    let checks = 0;
    let clock = 0;
    let answer: DatabaseHealth = "ok";
    const health = sharedHealthCheck(
      async () => {
        checks++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return answer;
      },
      1000,
      () => clock,
    );
    // A flood of /healthz at once: one query.
    expect(await Promise.all(Array.from({ length: 100 }, () => health()))).toEqual(Array(100).fill("ok"));
    expect(checks).toBe(1);
    answer = "unreachable";
    clock = 999;
    expect(await health()).toBe("ok");
    expect(checks).toBe(1);
    clock = 1000;
    expect(await health()).toBe("unreachable");
    expect(checks).toBe(2);
  });
});

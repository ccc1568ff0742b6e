import { describe, expect, it } from "vitest";
import { probeDatabase, sharedHealthCheck, type DatabaseHealth } from "./health.js";

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

describe("probeDatabase", () => {
  const failing = (code: string) => () => Promise.reject(Object.assign(new Error(code), { code }));

  it("is ok when the database answers, or when PostgreSQL says it has too many connections (full, not down: failing every replica's readiness at once would turn an overload into an outage)", async () => {
    expect(await probeDatabase(() => Promise.resolve([]))).toBe("ok");
    expect(await probeDatabase(failing("53300"))).toBe("ok");
  });

  it("is unreachable on any other failure, and a timeout when nothing answers in time", async () => {
    expect(await probeDatabase(failing("ECONNREFUSED"))).toBe("unreachable");
    expect(await probeDatabase(failing("57P03"))).toBe("unreachable");
    expect(await probeDatabase(() => new Promise(() => {}), 50)).toBe("timeout");
  });
});

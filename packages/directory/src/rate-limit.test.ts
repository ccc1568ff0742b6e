import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.js";

describe("RateLimiter (token bucket per key)", () => {
  it("allows the burst, then refuses with the seconds until a token is back, then refills at the rate", () => {
    let t = 0;
    const limiter = new RateLimiter({ now: () => t });
    const config = { requestsPerSecond: 2, burst: 3 };
    expect([1, 2, 3].map(() => limiter.take("a", config).allowed)).toEqual([true, true, true]);
    expect(limiter.take("a", config)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take("b", config).allowed).toBe(true); // its own bucket
    t += 500; // one token back
    expect(limiter.take("a", config).allowed).toBe(true);
    expect(limiter.take("a", config).allowed).toBe(false);
    t += 10_000; // refilled to the burst, not beyond
    expect([1, 2, 3, 4].map(() => limiter.take("a", config).allowed)).toEqual([true, true, true, false]);
  });

  it("Retry-After is rounded up to whole seconds for slow rates", () => {
    const limiter = new RateLimiter({ now: () => 0 });
    const slow = { requestsPerSecond: 0.1, burst: 1 };
    expect(limiter.take("a", slow).allowed).toBe(true);
    expect(limiter.take("a", slow)).toEqual({ allowed: false, retryAfterSeconds: 10 });
  });

  it("a changed config resizes the bucket, keeping what was spent; reset forgets it", () => {
    let t = 0;
    const limiter = new RateLimiter({ now: () => t });
    expect(limiter.take("a", { requestsPerSecond: 1, burst: 1 }).allowed).toBe(true);
    expect(limiter.take("a", { requestsPerSecond: 1, burst: 1 }).allowed).toBe(false);
    expect(limiter.take("a", { requestsPerSecond: 100, burst: 100 }).allowed).toBe(false); // still empty
    t += 50;
    expect(limiter.take("a", { requestsPerSecond: 100, burst: 100 }).allowed).toBe(true);
    // A smaller burst caps what is left.
    t += 10_000;
    expect(limiter.take("a", { requestsPerSecond: 1, burst: 2 })).toEqual({ allowed: true, remaining: 1 });
    limiter.reset("a");
    expect(limiter.take("a", { requestsPerSecond: 1, burst: 5 })).toEqual({ allowed: true, remaining: 4 });
  });

  it("keeps at most maxBuckets, dropping the least recently used", () => {
    const limiter = new RateLimiter({ now: () => 0, maxBuckets: 2 });
    const one = { requestsPerSecond: 1, burst: 1 };
    limiter.take("a", one);
    limiter.take("b", one);
    limiter.take("a", one); // refused, and now most recently used
    limiter.take("c", one); // drops b
    expect(limiter.take("b", one).allowed).toBe(true);
    expect(limiter.take("c", one).allowed).toBe(false);
  });

  it("refund gives a token back, never above the burst", () => {
    const limiter = new RateLimiter({ now: () => 0 });
    const config = { requestsPerSecond: 1, burst: 2 };
    expect(limiter.take("a", config)).toEqual({ allowed: true, remaining: 1 });
    expect(limiter.take("a", config)).toEqual({ allowed: true, remaining: 0 });
    expect(limiter.take("a", config).allowed).toBe(false);
    limiter.refund("a", config);
    expect(limiter.take("a", config)).toEqual({ allowed: true, remaining: 0 });
    limiter.refund("a", config);
    limiter.refund("a", config);
    limiter.refund("a", config);
    expect(limiter.take("a", config)).toEqual({ allowed: true, remaining: 1 });
  });
});

describe("RateLimiter as a bucket of time (spend after the fact, check before)", () => {
  it("spends below zero, at most one burst, and tells when it holds something again", () => {
    let now = 0;
    const limiter = new RateLimiter({ now: () => now });
    const budget = { requestsPerSecond: 500, burst: 30_000 };
    expect(limiter.check("d", budget)).toEqual({ allowed: true, remaining: 30_000 });
    limiter.spend("d", budget, 29_000);
    expect(limiter.check("d", budget)).toEqual({ allowed: true, remaining: 1000 });
    limiter.spend("d", budget, 2_500);
    expect(limiter.check("d", budget)).toEqual({ allowed: false, retryAfterSeconds: 3 });
    limiter.spend("d", budget, 1_000_000);
    expect(limiter.check("d", budget)).toEqual({ allowed: false, retryAfterSeconds: 60 });
    now += 60_001;
    expect(limiter.check("d", budget).allowed).toBe(true);
    expect(limiter.check("other", budget).allowed).toBe(true);
  });
});

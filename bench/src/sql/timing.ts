/**
 * Per-request latency of asynchronous operations, in interleaved rounds.
 *
 * A case has several sides (the store, the raw statement, memoryStore, per dialect). After a
 * warm-up of every side, each round gives every side one turn of about `roundMs` (at least
 * `minIterations` calls), the order of the sides reversed every other round, so that a change of
 * machine load hits all sides alike. Every call is timed on its own (process.hrtime); a side may
 * time sub-steps itself and return them (`{ add: ns, remove: ns }`), each kept as its own series.
 * Reported per series: the median and the p95 over all timed calls, the number of calls, and the
 * median of every round (the ratio of two series is the median of their per-round ratios).
 * A side slower than 2 s per request (a plan that scans a million rows) is timed once per round in 3
 * rounds of its own after the others, so that its scans do not evict the caches the others use.
 */
import v8 from "node:v8";
import vm from "node:vm";

export interface TimingOptions {
  warmupMs: number;
  roundMs: number;
  rounds: number;
  /** At least this many calls per turn (slow operations). */
  minIterations: number;
  /** At most this many calls per turn. */
  maxIterations: number;
}

/** Sub-step timings (ns) a side measured itself, e.g. `{ add, remove }`. */
export class SubTimings {
  constructor(readonly ns: Record<string, number>) {}
}

/**
 * One side of a case: `call(i)` does request i. A call is timed as a whole, unless it returns
 * {@link SubTimings} (any other result is ignored).
 */
export interface Side {
  name: string;
  call(i: number): Promise<unknown>;
}

export interface Series {
  /** All timed calls, ns. */
  samples: number[];
  /** Median of each round, ns. */
  roundMedians: number[];
}

export interface Stat {
  median: number;
  p95: number;
  n: number;
  roundMedians: number[];
}

v8.setFlagsFromString("--expose-gc");
const gc: (options?: { type: "major" | "minor" }) => void = vm.runInNewContext("gc");

const now = (): bigint => process.hrtime.bigint();

/** Requests slower than this (ns, median of the warm-up) are timed once per round, in SLOW_ROUNDS rounds. */
export const SLOW_NS = 2e9;
export const SLOW_ROUNDS = 3;

/** A full garbage collection (outside timed sections). */
export function fullGc(): void {
  gc({ type: "major" });
}

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (xs: number[]): number => quantile(xs, 0.5);

/** Runs one turn of a side; returns the samples per series key ("" = the whole call). */
async function turn(side: Side, start: number, ms: number, o: TimingOptions): Promise<{ next: number; samples: Map<string, number[]> }> {
  const samples = new Map<string, number[]>();
  const budget = BigInt(Math.round(ms * 1e6));
  const t0 = now();
  let i = start;
  for (let k = 0; k < o.maxIterations; k++) {
    const a = now();
    const result = await side.call(i++);
    const b = now();
    if (result instanceof SubTimings) {
      for (const [key, ns] of Object.entries(result.ns)) {
        let xs = samples.get(key);
        if (!xs) samples.set(key, (xs = []));
        xs.push(ns);
      }
    } else {
      let xs = samples.get("");
      if (!xs) samples.set("", (xs = []));
      xs.push(Number(b - a));
    }
    if (k + 1 >= o.minIterations && b - t0 >= budget) break;
  }
  return { next: i, samples };
}

/**
 * Times the sides of one case in interleaved rounds. Returns the statistics per side and series
 * key: `stats.get(sideName)!.get("")` for a side that does not time sub-steps.
 */
export async function interleaveAsync(sides: Side[], o: TimingOptions): Promise<Map<string, Map<string, Stat>>> {
  const next = sides.map(() => 0);
  // Warm-up; a side whose requests take longer than SLOW_NS is then timed with one request per
  // round, in SLOW_ROUNDS rounds after the others.
  const slow = sides.map(() => false);
  for (let j = 0; j < sides.length; j++) {
    const t = await turn(sides[j], next[j], o.warmupMs, { ...o, minIterations: 1 });
    next[j] = t.next;
    const all = [...t.samples.values()].flat();
    slow[j] = all.length > 0 && median(all) > SLOW_NS;
  }
  const series = sides.map(() => new Map<string, Series>());
  const runTurn = async (j: number) => {
    // Young generation only: a full GC with memoryStore's million users live takes seconds.
    gc({ type: "minor" });
    const t = await turn(sides[j], next[j], slow[j] ? 0 : o.roundMs, slow[j] ? { ...o, minIterations: 1 } : o);
    next[j] = t.next;
    for (const [key, xs] of t.samples) {
      let s = series[j].get(key);
      if (!s) series[j].set(key, (s = { samples: [], roundMedians: [] }));
      for (const x of xs) s.samples.push(x);
      s.roundMedians.push(median(xs));
    }
  };
  const rounds = (members: number[], count: number) => async () => {
    for (let r = 0; r < count; r++) {
      const order = r % 2 === 1 ? [...members].reverse() : members;
      for (const j of order) await runTurn(j);
    }
  };
  // The slow sides run after the others: a scan of a million rows evicts the caches the others use.
  await rounds(sides.map((_, j) => j).filter((j) => !slow[j]), o.rounds)();
  await rounds(sides.map((_, j) => j).filter((j) => slow[j]), Math.min(SLOW_ROUNDS, o.rounds))();
  const out = new Map<string, Map<string, Stat>>();
  sides.forEach((side, j) => {
    const m = new Map<string, Stat>();
    for (const [key, s] of series[j]) m.set(key, { median: median(s.samples), p95: quantile(s.samples, 0.95), n: s.samples.length, roundMedians: s.roundMedians });
    out.set(side.name, m);
  });
  return out;
}

/** a / b as the median of the per-round ratios of the medians (robust to load drifting between rounds). */
export function pairedRatio(a: Stat | undefined, b: Stat | undefined): number {
  if (!a || !b) return NaN;
  const n = Math.min(a.roundMedians.length, b.roundMedians.length);
  if (n === 0) return NaN;
  return median(Array.from({ length: n }, (_, k) => a.roundMedians[k] / b.roundMedians[k]));
}

/** A duration in ns, human-readable: 12.3 µs, 4.56 ms, 1.23 s. */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return "–";
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** Times one async call, ns. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const a = now();
  await fn();
  return Number(now() - a);
}

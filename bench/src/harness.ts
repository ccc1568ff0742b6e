/**
 * A small timing harness: warm up, then run a case in time-bounded rounds and keep the median.
 *
 * A case is a function of the call index `i` (so it can cycle through pre-generated inputs);
 * each call counts as `opsPerCall` operations (e.g. the number of users in a chunk). Results are
 * consumed into a sink so that no call can be optimised away.
 */
import v8 from "node:v8";
import vm from "node:vm";

export interface MeasureOptions {
  /** Warm-up time before the timed rounds (ms). */
  warmupMs?: number;
  /** Length of one timed round (ms). */
  roundMs?: number;
  /** Number of timed rounds; the median is reported. */
  rounds?: number;
  /**
   * Garbage collection before each round: "major" (full; slow with a large live heap), "minor"
   * (young generation only) or "none".
   */
  gc?: "major" | "minor" | "none";
}

export interface Measurement {
  /** Median operations per second over the rounds. */
  opsPerSec: number;
  /** Operations per second of every round, in order. */
  perRound: number[];
}

export const DEFAULT_OPTIONS: Required<MeasureOptions> = { warmupMs: 150, roundMs: 300, rounds: 5, gc: "major" };

// A garbage collection between timed rounds (outside them), so that one library's garbage is not
// collected on another library's time.
v8.setFlagsFromString("--expose-gc");
const gc: (options?: { type: "major" | "minor" }) => void = vm.runInNewContext("gc");

let sink = 0;

/** Consumes a result cheaply (touches it without allocating). */
function consume(r: unknown): void {
  if (r === undefined || r === null) sink++;
  else if (typeof r === "number") sink += r;
  else if (r === false) sink--;
}

/** Reads the sink so the engine cannot prove it is dead. */
export function sinkValue(): number {
  return sink;
}

const now = (): bigint => process.hrtime.bigint();

/**
 * Runs `fn(i)` with i = 0, 1, 2, ... in batches until `ms` milliseconds have passed.
 * Returns [calls, elapsed ns]. The batch size adapts so the clock is read ~every 2 ms.
 */
function runFor(fn: (i: number) => unknown, ms: number, start: number): [number, number] {
  const budget = BigInt(Math.round(ms * 1e6));
  const t0 = now();
  let calls = 0;
  let batch = 1;
  let i = start;
  for (;;) {
    const b0 = now();
    for (let k = 0; k < batch; k++) consume(fn(i++));
    calls += batch;
    const t = now();
    if (t - t0 >= budget) return [calls, Number(t - t0)];
    // Aim for ~2 ms per batch.
    const took = Number(t - b0);
    if (took < 1e6) batch = Math.min(batch * 2, 1 << 20);
    else if (took > 4e6 && batch > 1) batch = Math.max(1, batch >> 1);
  }
}

/** One timed case: `round(ms)` runs it for about `ms` milliseconds and returns operations/s. */
export interface Runner {
  round(ms: number): number;
}

/** A runner calling `fn(i)` for i = 0, 1, 2, ... (each call = `opsPerCall` operations). */
export function callRunner(fn: (i: number) => unknown, opsPerCall = 1): Runner {
  let next = 0;
  return {
    round(ms) {
      const [calls, ns] = runFor(fn, ms, next);
      next += calls;
      return (calls * opsPerCall) / (ns / 1e9);
    },
  };
}

/**
 * A runner whose inputs are prepared by `setup(first, count)` in batches outside the timed
 * sections (e.g. fresh deep clones for a library that mutates its input).
 */
export function setupRunner<T>(setup: (first: number, count: number) => T[], fn: (x: T, i: number) => unknown, batch = 2000): Runner {
  let i = 0;
  return {
    round(ms) {
      const budget = ms * 1e6;
      let timed = 0;
      let calls = 0;
      while (timed < budget) {
        const xs = setup(i, batch);
        const t0 = now();
        for (let k = 0; k < batch; k++) consume(fn(xs[k], i + k));
        timed += Number(now() - t0);
        i += batch;
        calls += batch;
      }
      return calls / (timed / 1e9);
    },
  };
}

/**
 * Warms every runner up, then runs `rounds` rounds in which every runner gets one turn
 * (A B C, A B C, ...), so that a change in machine load affects all of them alike. Returns the
 * median per runner.
 */
export function interleave(runners: Runner[], options: MeasureOptions = {}): Measurement[] {
  const o = { ...DEFAULT_OPTIONS, ...options };
  for (const r of runners) r.round(o.warmupMs);
  const per: number[][] = runners.map(() => []);
  for (let k = 0; k < o.rounds; k++)
    runners.forEach((r, j) => {
      if (o.gc !== "none") gc({ type: o.gc });
      per[j].push(r.round(o.roundMs));
    });
  return per.map((perRound) => ({ opsPerSec: median(perRound), perRound }));
}

export function measure(fn: (i: number) => unknown, opsPerCall = 1, options: MeasureOptions = {}): Measurement {
  return interleave([callRunner(fn, opsPerCall)], options)[0];
}

/**
 * Ratio a/b of two measurements taken in the same interleaved rounds: the median of the per-round
 * ratios, which is robust to machine load changing between rounds.
 */
export function pairedRatio(a: Measurement, b: Measurement): number {
  const n = Math.min(a.perRound.length, b.perRound.length);
  if (n === 0) return NaN;
  return median(Array.from({ length: n }, (_, k) => a.perRound[k] / b.perRound[k]));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Human formatting of a rate: 1.23M, 456k, 789. */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return "–";
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`;
}

/** A GitHub-flavoured markdown table. */
export function mdTable(header: string[], rows: (string | number)[][]): string {
  const esc = (c: string | number) => String(c).replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    `| ${header.map(esc).join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deep equality of JSON values, ignoring object key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object).filter((k) => (a as any)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as any)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual((a as any)[k], (b as any)[k]));
}

export function errMsg(e: unknown): string {
  if (e instanceof Error) {
    const extra = (e as any).status !== undefined ? ` [${(e as any).status}${(e as any).scimType ? " " + (e as any).scimType : ""}]` : "";
    return `${e.name}: ${e.message}${extra}`;
  }
  return String(e);
}

export function truncate(s: string, n = 90): string {
  return s.length <= n ? s : s.slice(0, n - 1) + "…";
}

/** A benchmark part's report: its lines, and `emit`, which prints a line and keeps it. */
export function reportLines(): { lines: string[]; emit: (line?: string) => void } {
  const lines: string[] = [];
  return {
    lines,
    emit: (line = "") => {
      console.log(line);
      lines.push(line);
    },
  };
}

/** A target of the Summary table of `pnpm bench` (src/run.ts): a measured value against its goal. */
export interface Target {
  name: string;
  goal: number;
  value: number;
  detail: string;
  /** The goal is a maximum (e.g. memory), not a minimum. */
  max?: boolean;
}

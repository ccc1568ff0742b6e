/**
 * `pnpm bench`: scim-core against peer npm libraries, in one process, on the same inputs.
 *
 *  (A) filter parsing      parses/s over the real-world corpus (64 literal variants per filter)
 *  (B) filter matching     users/s over 100,000 generated users, vs a hand-written predicate
 *  (C) PATCH               requests/s over realistic Okta / Entra / RFC requests
 *  (HTTP) the adapters     scim-express / scim-hono / scim-nestjs over HTTP (autocannon, servers in
 *                          child processes) vs hand-written baselines and scimmy: src/http/run.ts
 *  (SQL) scim-store-sql    SQLite and PostgreSQL on 1,000,000 users vs raw prepared statements and
 *                          memoryStore (lookups, paging, member PATCH): src/sql/run.ts
 *  (DIRECTORY) the service apps/server's directory-sync service vs the Hono sample app, 10,000 users
 *                          provisioned over HTTP (POST /Users): src/directory/run.ts, results-directory.md
 *  (FAIRNESS) tenants      the same service: small directories' SCIM latency alone and beside one
 *                          busy directory (pagers, admin lister): src/directory/fairness.ts,
 *                          results-fairness.md
 *
 * Prints markdown and writes the same to bench/results.md; the HTTP part also writes
 * bench/results-http.md, the SQL part bench/results-sql.md, the DIRECTORY part
 * bench/results-directory.md and the FAIRNESS part bench/results-fairness.md, and a run of these
 * parts without A, B or C (e.g. BENCH_PARTS=HTTP, BENCH_PARTS=FAIRNESS) writes only those, so that
 * the micro-benchmark results in results.md are kept.
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { buildCorpus, VARIANTS, type FilterCase } from "./filters-corpus.js";
import { checkAgainst, makeProbes, refParse } from "./filter-reference.js";
import { callRunner, errMsg, fmtRate, fmtRatio, interleave, mdTable, pairedRatio, sinkValue, truncate, type MeasureOptions, type Runner, type Target } from "./harness.js";
import { loadOurs, type Ours } from "./ours.js";
import { patchCasesReport } from "./patch-run.js";
import { FILTER_PEERS, type MatcherAdapter, type ParserAdapter } from "./peers.js";
import { generateUsers, matchCases } from "./users.js";
import { httpReport } from "./http/run.js";
import { sqlReport } from "./sql/run.js";
import { directoryReport } from "./directory/run.js";
import { fairnessReport } from "./directory/fairness.js";

// Environment knobs (all optional): BENCH_QUICK=1 short timings; BENCH_USERS=n users for (B);
// BENCH_PARTS=A,B,C,HTTP,SQL,DIRECTORY,FAIRNESS parts to run (default all; BENCH_PARTS=HTTP: the HTTP benchmark alone; its own
// knobs are in src/http/run.ts; BENCH_PARTS=SQL: the SQL store benchmark alone, knobs in
// src/sql/run.ts); BENCH_NO_CORE=1 run the peers alone.
const QUICK = process.env.BENCH_QUICK === "1";
const PARTS = new Set((process.env.BENCH_PARTS ?? "A,B,C,HTTP,SQL,DIRECTORY,FAIRNESS").toUpperCase().split(","));
const TIMING: MeasureOptions = QUICK ? { warmupMs: 30, roundMs: 60, rounds: 1 } : { warmupMs: 150, roundMs: 300, rounds: 5 };
const PER_FILTER_TIMING: MeasureOptions = { warmupMs: 15, roundMs: QUICK ? 15 : 50, rounds: 1 };
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const CHUNK = 1000;
/** Variants whose parse result is checked against the reference (all 64 are timed). */
const CHECKED_VARIANTS = [0, 1, 31, 63];
const PROBES = 400;

const out: string[] = [];
function emit(md = ""): void {
  console.log(md);
  out.push(md);
}

const targets: Target[] = [];

// ---------------------------------------------------------------------------------------------
// (A) Filter parsing

type Verdict = { ok: true } | { ok: false; kind: "throws" | "wrong"; detail: string; variant: number };

function judgeParser(p: ParserAdapter, fc: FilterCase): Verdict {
  for (const k of CHECKED_VARIANTS) {
    const text = fc.texts[k];
    const ref = refParse(text);
    let parsed: unknown;
    try {
      parsed = p.parse(text);
    } catch (e) {
      return { ok: false, kind: "throws", detail: errMsg(e), variant: k };
    }
    let meaning: (r: unknown) => boolean;
    try {
      meaning = p.meaning(parsed);
    } catch (e) {
      return { ok: false, kind: "wrong", detail: `unreadable result: ${errMsg(e)}`, variant: k };
    }
    const res = checkAgainst(ref, meaning, makeProbes(ref, PROBES, 1000 + k));
    if (!res.ok) {
      const ce = res.counterexample!;
      return { ok: false, kind: "wrong", detail: `on ${JSON.stringify(ce.resource)} gives ${!ce.expected}, expected ${ce.expected}`, variant: k };
    }
  }
  return { ok: true };
}

function parseRunner(p: ParserAdapter, cases: FilterCase[]): Runner {
  const texts = cases.flatMap((c) => c.texts);
  const n = texts.length;
  const parse = p.parse;
  return callRunner((i) => parse(texts[i % n]));
}

function timeParse(p: ParserAdapter, cases: FilterCase[], opts = TIMING): number {
  return interleave([parseRunner(p, cases)], opts)[0].opsPerSec;
}

function partA(ours: Ours | null): void {
  emit("## (A) Filter parsing");
  emit();
  const corpus = buildCorpus();
  const parsers: ParserAdapter[] = [...(ours ? [ours.parser] : []), ...FILTER_PEERS];
  emit(
    `${corpus.length} filters × ${VARIANTS} literal variants (cycled, so no parser can cache). A parse counts as correct when, for ` +
      `variants ${CHECKED_VARIANTS.join(", ")}, its result means the same as a reference parse on ${PROBES} generated probe resources ` +
      `(see src/filter-reference.ts). scim-query-filter-parser has no parse-only API: its \`compileFilter\` (parse + compile) is timed.`,
  );
  emit();

  const verdicts = new Map<string, Verdict[]>();
  for (const p of parsers) verdicts.set(p.name, corpus.map((fc) => judgeParser(p, fc)));

  // Per-filter correctness and a quick per-filter timing (µs per parse; indicative only), after
  // warming every parser up on all the filters it accepts.
  for (const p of parsers) timeParse(p, corpus.filter((_, i) => verdicts.get(p.name)![i].ok), { warmupMs: 0, roundMs: QUICK ? 50 : 300, rounds: 1 });
  const rows = corpus.map((fc, i) => {
    const cells = parsers.map((p) => {
      const v = verdicts.get(p.name)![i];
      if (!v.ok) return v.kind === "throws" ? "throws" : "WRONG";
      const rate = timeParse(p, [fc], PER_FILTER_TIMING);
      return `${(1e6 / rate).toFixed(2)} µs`;
    });
    return [fc.filter.id, truncate(fc.texts[0], 70), ...cells];
  });
  emit("Per filter: µs per parse (short run, indicative), or why the library is excluded for that filter.");
  emit();
  emit(mdTable(["filter", "variant 0", ...parsers.map((p) => p.name)], rows));
  emit();

  const problems: string[][] = [];
  for (const p of parsers) {
    verdicts.get(p.name)!.forEach((v, i) => {
      if (!v.ok) problems.push([p.name, corpus[i].filter.id, v.kind, truncate(corpus[i].texts[v.variant], 60), truncate(v.detail, 160)]);
    });
  }
  if (problems.length) {
    emit("Filters a library throws on or gets wrong:");
    emit();
    emit(mdTable(["library", "filter", "", "input", "detail"], problems));
    emit();
  }

  // Throughput on the subset each peer accepts, ours on the same subset.
  const accepted = (name: string) => corpus.filter((_, i) => verdicts.get(name)![i].ok);
  const rows2: string[][] = [];
  let fastest: { name: string; rate: number; ourRate: number; ratio: number } | null = null;
  const ourAll = ours ? accepted(ours.parser.name) : [];
  if (ours) {
    const r = timeParse(ours.parser, ourAll);
    rows2.push([ours.parser.name, `${ourAll.length}/${corpus.length}`, fmtRate(r), "", ""]);
  }
  for (const p of FILTER_PEERS) {
    const subset = ours ? accepted(p.name).filter((fc) => ourAll.includes(fc)) : accepted(p.name);
    // Peer and scim-core rounds alternate, so a change in machine load affects both alike.
    let rate: number, ourRate = NaN, ratio = NaN;
    if (ours) {
      const [mp, mo] = interleave([parseRunner(p, subset), parseRunner(ours.parser, subset)], TIMING);
      [rate, ourRate, ratio] = [mp.opsPerSec, mo.opsPerSec, pairedRatio(mo, mp)];
    } else rate = timeParse(p, subset);
    rows2.push([p.name, `${subset.length}/${corpus.length}`, fmtRate(rate), ours ? fmtRate(ourRate) : "–", ours ? fmtRatio(ratio) : "–"]);
    if (!fastest || rate > fastest.rate) fastest = { name: p.name, rate, ourRate, ratio };
  }
  emit(
    "Throughput (parses/s, median of rounds), each peer on the filters it parses correctly (and ours too), scim-core on the same " +
      "subset in alternating rounds:",
  );
  emit();
  emit(mdTable(["library", "filters", "parses/s", "scim-core on same subset", "scim-core / peer"], rows2));
  emit();
  if (ours && fastest) {
    const ratio = fastest.ratio;
    emit(`Fastest peer: **${fastest.name}** (${fmtRate(fastest.rate)} parses/s); scim-core on its subset: ${fmtRate(fastest.ourRate)} → **${fmtRatio(ratio)}**.`);
    emit();
    targets.push({ name: "(A) parse: scim-core / fastest peer", goal: 3, value: ratio, detail: `vs ${fastest.name}` });
  }
}

// ---------------------------------------------------------------------------------------------
// (B) Matching

function partB(ours: Ours | null): void {
  emit("## (B) Filter matching");
  emit();
  const t0 = Date.now();
  const users = generateUsers(USERS);
  const chunks: object[][] = [];
  for (let i = 0; i < users.length; i += CHUNK) chunks.push(users.slice(i, i + CHUNK));
  const cases = matchCases(users);
  emit(
    `${users.length.toLocaleString("en")} generated users (seeded; generated in ${Date.now() - t0} ms), matched in chunks of ${CHUNK}; ` +
      `every matcher is compiled once outside the timed loop. "hand-written" is a plain JS predicate with the same SCIM semantics ` +
      `(toLowerCase case folding, dateTime instants, any element of multi-valued attributes): the physical limit. ` +
      `scimmy's \`Filter#match\` takes an array and is given each chunk.`,
  );
  emit();
  const hand: MatcherAdapter = { name: "hand-written", compile: () => { throw new Error("per case"); } };
  const matchers: MatcherAdapter[] = [...(ours ? [ours.matcher("User")] : []), ...FILTER_PEERS];
  const header = ["filter", "matches", hand.name, ...matchers.map((m) => m.name), ...(ours ? ["scim-core / hand-written"] : [])];
  const rows: string[][] = [];
  const countFindings: string[][] = [];
  let worst = Infinity;
  for (const mc of cases) {
    const handCount = (chunk: object[]) => {
      let n = 0;
      for (let i = 0; i < chunk.length; i++) if (mc.hand(chunk[i] as any)) n++;
      return n;
    };
    const total = (f: (c: object[]) => number) => chunks.reduce((s, c) => s + f(c), 0);
    const expected = total(handCount);
    // Compile and count first; then time every matcher that works, in alternating rounds.
    const cells = new Map<string, string>();
    const timed: { name: string; fn: (c: object[]) => number; ok: boolean }[] = [{ name: hand.name, fn: handCount, ok: true }];
    for (const m of matchers) {
      let fn: (c: object[]) => number;
      try {
        fn = m.compile(mc.text);
      } catch (e) {
        cells.set(m.name, "throws");
        countFindings.push([m.name, mc.id, "compile throws", truncate(errMsg(e), 140)]);
        continue;
      }
      let count: number;
      try {
        count = total(fn);
      } catch (e) {
        cells.set(m.name, "throws");
        countFindings.push([m.name, mc.id, "match throws", truncate(errMsg(e), 140)]);
        continue;
      }
      if (count !== expected) {
        countFindings.push([m.name, mc.id, `${count} matches, expected ${expected}`, ""]);
        cells.set(m.name, ` ✗ (${count})`);
      }
      timed.push({ name: m.name, fn, ok: count === expected });
    }
    const ms = interleave(
      timed.map((t) => callRunner((i) => t.fn(chunks[i % chunks.length]), CHUNK)),
      // A full GC with 100,000 live users takes ~250 ms: collect the young generation only.
      { ...TIMING, gc: "minor" },
    );
    const mOf = new Map(timed.map((t, j) => [t.name, ms[j]]));
    const handRate = mOf.get(hand.name)!.opsPerSec;
    const ourOk = !!ours && !!timed.find((t) => t.name === ours.parser.name)?.ok;
    const cellFor = (name: string) => (mOf.has(name) ? fmtRate(mOf.get(name)!.opsPerSec) : "") + (cells.get(name) ?? "");
    const ratio = ourOk ? pairedRatio(mOf.get(ours!.parser.name)!, mOf.get(hand.name)!) : NaN;
    if (ours) worst = Math.min(worst, Number.isFinite(ratio) ? ratio : -Infinity);
    rows.push([`\`${truncate(mc.text, 80)}\``, String(expected), fmtRate(handRate), ...matchers.map((m) => cellFor(m.name)), ...(ours ? [fmtRatio(ratio)] : [])]);
  }
  emit("users/s (median of rounds); ✗ (n) = wrong match count n:");
  emit();
  emit(mdTable(header, rows));
  emit();
  if (countFindings.length) {
    emit("Match counts that differ from the hand-written predicate (correctness findings):");
    emit();
    emit(mdTable(["library", "filter", "finding", "detail"], countFindings));
    emit();
  }
  if (ours) targets.push({ name: "(B) match: scim-core / hand-written, worst filter", goal: 0.5, value: worst, detail: "" });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const loaded = await loadOurs();
  const ours = "error" in loaded ? null : loaded;
  emit("# scim-core benchmark");
  emit();
  emit(
    `Node ${process.version}, ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}, ${new Date().toISOString()}. ` +
      `Timing: ${TIMING.warmupMs} ms warm-up, then ${TIMING.rounds} rounds of ${TIMING.roundMs} ms, median; compared cases run in ` +
      `alternating rounds with a GC before each round (young generation only in (B)), and a ratio is the median of the per-round ratios. ` +
      `Load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")} (the machine may be shared: rates move with load, ratios much less).`,
  );
  emit();
  emit(ours ? `scim-core ${ours.version} loaded.` : `**scim-core not available** (${(loaded as { error: string }).error}): peers only.`);
  emit();
  if (PARTS.has("A")) partA(ours);
  if (PARTS.has("B")) partB(ours);
  if (PARTS.has("C")) {
    const patch = patchCasesReport(ours, TIMING);
    patch.lines.forEach((l) => emit(l));
    targets.push(...patch.targets);
  }
  if (PARTS.has("HTTP")) {
    const http = await httpReport();
    http.lines.forEach((l) => out.push(l));
    targets.push(...http.targets);
  }
  if (PARTS.has("SQL")) {
    const sql = await sqlReport();
    sql.lines.forEach((l) => out.push(l));
    targets.push(...sql.targets);
  }

  if (PARTS.has("DIRECTORY")) {
    // (DIRECTORY) apps/server's service vs the Hono sample app, POST /Users over HTTP: src/directory/run.ts
    // (BENCH_PARTS=DIRECTORY alone; writes bench/results-directory.md).
    const directory = await directoryReport();
    directory.lines.forEach((l) => out.push(l));
    targets.push(...directory.targets);
  }

  if (PARTS.has("FAIRNESS")) {
    // (FAIRNESS) small directories' SCIM latency alone and beside a busy one: src/directory/fairness.ts
    // (BENCH_PARTS=FAIRNESS alone; writes bench/results-fairness.md).
    const fairness = await fairnessReport();
    fairness.lines.forEach((l) => out.push(l));
    targets.push(...fairness.targets);
  }

  emit("## Summary");
  emit();
  if (!targets.length) emit("No targets measured (scim-core not available).");
  else
    emit(
      mdTable(
        ["target", "goal", "measured", "result"],
        targets.map((t) => [
          t.name + (t.detail ? ` (${t.detail})` : ""),
          `${t.max ? "≤" : "≥"} ${t.goal}x`,
          fmtRatio(t.value),
          (t.max ? t.value <= t.goal : t.value >= t.goal) ? "PASS" : "MISS",
        ]),
      ),
    );
  emit();
  emit(`Total run time ${((Date.now() - started) / 1000).toFixed(0)} s; load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")}. (sink ${sinkValue() % 10})`);
  if (["A", "B", "C"].some((p) => PARTS.has(p))) {
    const file = fileURLToPath(new URL("../results.md", import.meta.url));
    writeFileSync(file, out.join("\n") + "\n");
    console.log(`\nwritten to ${file}`);
  }
  if (PARTS.has("HTTP") && !process.env.BENCH_HTTP_SERVERS && !process.env.BENCH_HTTP_SCENARIOS && !process.env.BENCH_HTTP_PROFILE)
    console.log(`HTTP part written to ${fileURLToPath(new URL("../results-http.md", import.meta.url))}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

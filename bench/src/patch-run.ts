/**
 * (C) PATCH: correctness of every request for ours and scim-patch, then requests/s over the
 * requests each library gets right.
 *
 * scim-patch mutates its input, so every call gets a fresh JSON deep clone of the resource (the
 * clone scim-patch itself makes with `mutateDocument: false`); scim-core never mutates its input
 * (checked), so it runs without a clone. Reported: scim-core vs scim-patch + timed clone (the
 * target as specified), vs scim-patch on clones made outside the timed sections (pure patch work),
 * and both with a timed clone.
 */
import { callRunner, errMsg, fmtRate, fmtRatio, interleave, jsonEqual, mdTable, pairedRatio, setupRunner, truncate, type MeasureOptions, type Runner } from "./harness.js";
import type { Ours } from "./ours.js";
import { expectedResult, firstDiff, normalise, PATCHES, type PatchCase } from "./patch-corpus.js";
import { jsonClone, scimPatch, type PatchAdapter } from "./peers.js";

type Outcome = { ok: true } | { ok: false; detail: string };

function judge(lib: PatchAdapter, c: PatchCase): Outcome {
  const before = JSON.stringify(c.input);
  let result: object;
  try {
    result = lib.apply(c.input, c.operations, c.resourceType);
  } catch (e) {
    return { ok: false, detail: `throws ${truncate(errMsg(e), 140)}` };
  }
  if (JSON.stringify(c.input) !== before) return { ok: false, detail: "mutated its input" };
  const want = normalise(expectedResult(c));
  const got = normalise(result);
  if (!jsonEqual(want, got)) return { ok: false, detail: `wrong result: ${firstDiff(want, got) ?? "?"}` };
  return { ok: true };
}

export interface PatchTarget {
  name: string;
  goal: number;
  value: number;
  detail: string;
}

export function patchCasesReport(ours: Ours | null, timing: MeasureOptions): { lines: string[]; targets: PatchTarget[] } {
  const lines: string[] = [];
  const emit = (s = "") => lines.push(s);
  emit("## (C) PATCH");
  emit();
  const opsTotal = PATCHES.reduce((s, c) => s + c.operations.length, 0);
  emit(
    `${PATCHES.length} requests (${opsTotal} operations): Okta, Entra default and compliant styles, RFC 7644 §3.5.2 examples, each ` +
      `with a hand-written expected result (compared ignoring meta.lastModified/version; null, [] and {} = unassigned). ` +
      `scim-patch mutates its input, so every call gets a fresh JSON deep clone. scim-core never mutates its input (checked), so it ` +
      `runs without a clone. Three comparisons: (1) scim-core vs scim-patch + a timed clone per call (the target as specified: what ` +
      `a caller who must keep the input pays); (2) stricter, pure patch work: scim-patch on clones made outside the timed sections; ` +
      `(3) like for like, both with a timed clone (the clone dominates). All rows are timed in alternating rounds.`,
  );
  emit();
  const libs: PatchAdapter[] = [...(ours ? [ours.patcher] : []), scimPatch];
  const outcomes = new Map(libs.map((l) => [l.name, PATCHES.map((c) => judge(l, c))]));
  emit(
    mdTable(
      ["request", "source", "ops", ...libs.map((l) => l.name)],
      PATCHES.map((c, i) => [c.id, c.source, String(c.operations.length), ...libs.map((l) => (outcomes.get(l.name)![i].ok ? "ok" : "✗"))]),
    ),
  );
  emit();
  const findings: string[][] = [];
  for (const l of libs)
    outcomes.get(l.name)!.forEach((o, i) => {
      if (!o.ok) findings.push([l.name, PATCHES[i].id, truncate(JSON.stringify(PATCHES[i].operations), 110), o.detail]);
    });
  if (findings.length) {
    emit("Requests a library gets wrong or throws on:");
    emit();
    emit(mdTable(["library", "request", "operations", "finding"], findings));
    emit();
  }

  const good = (name: string) => PATCHES.filter((_, i) => outcomes.get(name)![i].ok);
  const rows: string[][] = [];
  const targets: PatchTarget[] = [];
  const peerCases = good(scimPatch.name);
  const oursCases = ours ? good(ours.patcher.name) : [];
  const cases = ours ? peerCases.filter((c) => oursCases.includes(c)) : peerCases;
  const n = cases.length;
  const patchRunner = (fn: (c: PatchCase) => unknown, set: PatchCase[]): Runner =>
    set.length ? callRunner((i) => fn(set[i % set.length])) : { round: () => NaN };
  // scim-patch on fresh clones made outside the timed sections: its own work only.
  const peerBare = setupRunner(
    (first, count) => Array.from({ length: count }, (_, k) => jsonClone(cases[(first + k) % n].input)),
    (r, i) => scimPatch.applyInPlace!(r, cases[i % n].operations),
  );
  // scim-patch as a caller that must keep the original uses it: clone + patch.
  const peerCloned = patchRunner((c) => scimPatch.apply(c.input, c.operations, c.resourceType), cases);
  const cloneOnly = patchRunner((c) => jsonClone(c.input), cases);
  const runners: Runner[] = [peerBare, peerCloned, cloneOnly];
  if (ours) {
    const api = ours.api;
    const noClone = (c: PatchCase) => api.applyPatch(c.input, c.operations, { resourceType: c.resourceType });
    const withClone = (c: PatchCase) => api.applyPatch(jsonClone(c.input), c.operations, { resourceType: c.resourceType });
    runners.push(patchRunner(noClone, oursCases), patchRunner(noClone, cases), patchRunner(withClone, cases));
  }
  const none = { opsPerSec: NaN, perRound: [] };
  const ms = n ? interleave(runners, timing) : runners.map(() => none);
  const [bare, cloned, cloneRate, allRate, same, sameClone] = ms.map((m) => m.opsPerSec);
  const [mBare, mCloned, , , mSame, mSameClone] = ms;
  if (ours) {
    rows.push(
      ["scim-core", `all ${oursCases.length} it gets right`, "none (never mutates)", fmtRate(allRate), ""],
      ["scim-core", `${n} (right in both)`, "none (never mutates)", fmtRate(same), `(1) **${fmtRatio(pairedRatio(mSame, mCloned))}** vs scim-patch + clone; (2) ${fmtRatio(pairedRatio(mSame, mBare))} vs scim-patch on pre-made clones`],
      ["scim-core", `${n} (right in both)`, "JSON clone per call (like for like)", fmtRate(sameClone), `(3) ${fmtRatio(pairedRatio(mSameClone, mCloned))} vs scim-patch + clone`],
    );
    targets.push(
      {
        name: "(C) PATCH: scim-core (no clone) / scim-patch (+ JSON clone per call)",
        goal: 2,
        value: pairedRatio(mSame, mCloned),
        detail: "as specified: scim-patch must be cloned to keep the input, scim-core never mutates",
      },
      {
        name: "(C') PATCH, pure patch work: scim-core (no clone) / scim-patch on pre-made clones",
        goal: 2,
        value: pairedRatio(mSame, mBare),
        detail: "stricter: no clone timed on either side",
      },
    );
  }
  rows.push(
    ["scim-patch", `${n}${ours ? " (right in both)" : ""}`, "fresh clone made outside the timed section", fmtRate(bare), ""],
    ["scim-patch", `${n}${ours ? " (right in both)" : ""}`, "JSON clone per call (timed)", fmtRate(cloned), ""],
    ["JSON clone alone", `${n}`, "", fmtRate(cloneRate), ""],
  );
  if (ours) {
    // Per request (short alternating rounds; indicative): where scim-core spends its time.
    const api = ours.api;
    const quick: MeasureOptions = { warmupMs: 20, roundMs: 40, rounds: 3 };
    const perRow = PATCHES.map((c, i) => {
      const oursOk = outcomes.get(ours.patcher.name)![i].ok;
      const peerOk = outcomes.get(scimPatch.name)![i].ok;
      const rs: Runner[] = [callRunner(() => api.applyPatch(c.input, c.operations, { resourceType: c.resourceType }))];
      if (peerOk) rs.push(setupRunner((_, count) => Array.from({ length: count }, () => jsonClone(c.input)), (r) => scimPatch.applyInPlace!(r, c.operations), 500));
      const [o, p] = interleave(rs, quick).map((m) => m.opsPerSec);
      return [c.id, oursOk ? `${(1e6 / o).toFixed(2)} µs` : "✗", peerOk ? `${(1e6 / p).toFixed(2)} µs` : "✗", peerOk && oursOk ? fmtRatio(o / p) : ""];
    });
    emit("Per request, µs per request (short runs, indicative; scim-patch on pre-made clones):");
    emit();
    emit(mdTable(["request", "scim-core", "scim-patch", "scim-core speed-up"], perRow));
    emit();
  }
  emit("Requests/s (median of rounds) over the requests each library gets right:");
  emit();
  emit(mdTable(["library", "requests", "clone", "requests/s", "scim-core ratio"], rows));
  emit();
  return { lines, targets };
}

/**
 * Reads a V8 CPU profile (.cpuprofile, as written by `--cpu-prof` or the inspector's Profiler) and
 * prints where the time went: the top functions by self time, and self time per package
 * (node_modules package, workspace package, node internals, GC).
 *
 *   tsx src/http/profile.ts profiles/express-adapter-….cpuprofile [top=25]
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { mdTable } from "../harness.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package name, "node:internal", "(gc)", "(idle)", ... */
export function packageOf(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const pk = /\/packages\/([^/]+)\//.exec(url);
  if (pk) return `workspace ${pk[1]}`;
  const bench = /\/bench\/(src\/.*)$/.exec(url);
  if (bench) return `bench ${bench[1].split("/").slice(-1)[0]}`;
  return url.split("/").slice(-2).join("/");
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + 14);
  const pk = url.indexOf("/packages/");
  if (pk >= 0) return url.slice(pk + 1);
  const b = url.indexOf("/bench/");
  if (b >= 0) return url.slice(b + 1);
  return url.replace(/^file:\/\//, "");
}

export function summarizeProfile(p: CpuProfile, top = 25): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  let total = 0;
  let idle = 0;
  const fnTime = new Map<string, { t: number; pkg: string }>();
  const pkgTime = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    const cf = n.callFrame;
    if (cf.functionName === "(idle)" || cf.functionName === "(program)") {
      idle += cf.functionName === "(idle)" ? t : 0;
      if (cf.functionName === "(idle)") continue;
    }
    total += t;
    const pkg = packageOf(cf.url, cf.functionName);
    const key = `${cf.functionName || "(anonymous)"} ${cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ""}`.trim();
    const e = fnTime.get(key) ?? { t: 0, pkg };
    e.t += t;
    fnTime.set(key, e);
    pkgTime.set(pkg, (pkgTime.get(pkg) ?? 0) + t);
  }
  // Inclusive time: every function on a sample's stack (once per sample, whatever the recursion).
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = new Map<number, string>();
  for (const n of p.nodes) {
    const cf = n.callFrame;
    keyOf.set(n.id, `${cf.functionName || "(anonymous)"} ${cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ""}`.trim());
  }
  const incl = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const leaf = byId.get(p.samples[i]);
    if (!leaf || leaf.callFrame.functionName === "(idle)") continue;
    const seen = new Set<string>();
    for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) seen.add(keyOf.get(id)!);
    for (const k of seen) incl.set(k, (incl.get(k) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
  const fns = [...fnTime].sort((a, b) => b[1].t - a[1].t).slice(0, top);
  const pkgs = [...pkgTime].sort((a, b) => b[1] - a[1]).slice(0, 15);
  const inclTop = [...incl].filter(([k]) => k !== "(root)").sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `Busy ${(total / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s (percentages are of busy time).`,
    "",
    mdTable(["self", "function", "package"], fns.map(([k, v]) => [pct(v.t), `\`${k}\``, v.pkg])),
    "",
    "Self time by package:",
    "",
    mdTable(["self", "package"], pkgs.map(([k, v]) => [pct(v), k])),
    "",
    "Inclusive time (the function and everything it called):",
    "",
    mdTable(["total", "function"], inclTop.map(([k, v]) => [pct(v), `\`${k}\``])),
  ].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: tsx src/http/profile.ts <file.cpuprofile> [top]");
    process.exit(2);
  }
  console.log(summarizeProfile(JSON.parse(readFileSync(file, "utf8")), Number(process.argv[3] ?? 25)));
}

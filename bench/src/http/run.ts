/**
 * (HTTP) The SCIM adapters over HTTP, against a hand-written baseline on the same framework and
 * against scimmy + scimmy-routers, every server preloaded with the same 100,000 users.
 *
 * Each server (src/http/servers/*.ts) runs in its own child process
 * (`node --expose-gc --import tsx <script>`, listening on 127.0.0.1, a free port); the load
 * generator (autocannon, programmatic API) runs in this process. For every scenario, the servers
 * of one framework run back to back, in 3 rounds whose order alternates, so that a change in
 * machine load hits all of them alike; a ratio is the median of the per-round ratios. Only 2xx
 * answers count as throughput: non-2xx answers and socket errors are reported next to the rate.
 * Before timing, every server is checked for correct answers (src/http/checks.ts).
 *
 * Runs as part of `pnpm bench` (BENCH_PARTS includes HTTP, the default) or alone:
 * `BENCH_PARTS=HTTP pnpm bench`, or `tsx src/http/run.ts` (writes results-http.md only). A run
 * restricted to some servers or scenarios, or profiling, prints its report without writing it.
 *
 * Knobs (all optional): BENCH_HTTP_SECONDS (per timed run, default 1.5), BENCH_HTTP_ROUNDS (3),
 * BENCH_HTTP_WARMUP (seconds per server and scenario, 0.5), BENCH_HTTP_CONNECTIONS (10),
 * BENCH_HTTP_USERS (100000), BENCH_HTTP_SERVERS / BENCH_HTTP_SCENARIOS (comma-separated subsets),
 * BENCH_HTTP_PROFILE (comma-separated server names: CPU-profile them while serving; the profiles
 * go to bench/profiles/ and their top frames into the report), BENCH_HTTP_CORE_COST=0 (skip the
 * in-process cost of scim-core's handle(), src/http/core-cost.ts). BENCH_QUICK=1: 1 s runs, 2 rounds.
 */
import autocannon from "autocannon";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmtRate, mdTable, median, reportLines, rng, type Target } from "../harness.js";
import { BASE, loadUsers, SCIM_JSON, TOKEN, USER_SCHEMA, userCount } from "./common.js";
import { runChecks, type CheckResult, type CheckUser } from "./checks.js";
import { ENTERPRISE } from "../users.js";
import { coreCost } from "./core-cost.js";
import { summarizeProfile } from "./profile.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = join(HERE, "..", "..");

const QUICK = process.env.BENCH_QUICK === "1";
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? (QUICK ? 1 : 1.5));
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? (QUICK ? 2 : 3));
const WARMUP = Number(process.env.BENCH_HTTP_WARMUP ?? (QUICK ? 0.3 : 0.5));
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 10);
const USERS = userCount();
const START_TIMEOUT_MS = 180_000;

export type Framework = "express" | "hono" | "nestjs";

export interface ServerDef {
  name: string;
  framework: Framework;
  role: "adapter" | "baseline" | "peer";
  /** What it is, for the report. */
  what: string;
}

export const SERVERS: ServerDef[] = [
  { name: "express-adapter", framework: "express", role: "adapter", what: "scim-express + scim-core memoryStore (Express 5)" },
  { name: "express-baseline", framework: "express", role: "baseline", what: "hand-written Express 5 routes" },
  { name: "scimmy", framework: "express", role: "peer", what: "scimmy 1.3.5 + scimmy-routers 1.3.2 (Express 5), Map-backed handlers" },
  { name: "hono-adapter", framework: "hono", role: "adapter", what: "scim-hono + scim-core memoryStore (Hono 4, @hono/node-server)" },
  { name: "hono-baseline", framework: "hono", role: "baseline", what: "hand-written Hono routes" },
  { name: "nestjs-adapter", framework: "nestjs", role: "adapter", what: "scim-nestjs ScimModule.forRoot + scim-core memoryStore (Nest 12, Express platform)" },
  { name: "nestjs-baseline", framework: "nestjs", role: "baseline", what: "hand-written Nest controller + guard" },
];
const FRAMEWORKS: Framework[] = ["express", "hono", "nestjs"];

export interface Scenario {
  id: string;
  label: string;
  /** Minimum adapter/baseline ratio. */
  goal: number;
  /** autocannon request setup: fills method/path/headers/body for one request. `tag` is unique per timed run. */
  setup(tag: string): (req: any) => any;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

function scenarios(users: { id: string; userName: string }[]): Scenario[] {
  const r = rng(7);
  const n = users.length;
  const pick = () => users[Math.floor(r() * n)];
  const auth = { authorization: `Bearer ${TOKEN}`, accept: SCIM_JSON };
  const withBody = { ...auth, "content-type": SCIM_JSON };
  const pages = Math.floor((n - 100) / 100); // startIndex 101, 201, ... (see the note on scimmy's paging below)
  return [
    {
      id: "lookup",
      label: 'GET /Users?filter=userName eq "…"',
      goal: 0.8,
      setup: () => (req) => {
        req.method = "GET";
        req.path = `${BASE}/Users?filter=${encodeURIComponent(`userName eq ${JSON.stringify(pick().userName)}`)}`;
        req.headers = auth;
        return req;
      },
    },
    {
      id: "get",
      label: "GET /Users/{id}",
      goal: 0.8,
      setup: () => (req) => {
        req.method = "GET";
        req.path = `${BASE}/Users/${pick().id}`;
        req.headers = auth;
        return req;
      },
    },
    {
      id: "page",
      label: "GET /Users?startIndex=…&count=100",
      goal: 0.6,
      setup: () => (req) => {
        req.method = "GET";
        req.path = `${BASE}/Users?startIndex=${101 + 100 * Math.floor(r() * pages)}&count=100`;
        req.headers = auth;
        return req;
      },
    },
    {
      id: "patch",
      label: "PATCH /Users/{id} (replace active)",
      goal: 0.6,
      setup: () => (req) => {
        req.method = "PATCH";
        req.path = `${BASE}/Users/${pick().id}`;
        req.headers = withBody;
        req.body = JSON.stringify({
          schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
          Operations: [{ op: "replace", path: "active", value: r() < 0.5 }],
        });
        return req;
      },
    },
    {
      id: "post",
      label: "POST /Users",
      goal: 0.6,
      setup: (tag) => {
        let k = 0;
        return (req) => {
          const i = k++;
          const local = `post.${tag}.${i}`;
          req.method = "POST";
          req.path = `${BASE}/Users`;
          req.headers = withBody;
          req.body = JSON.stringify({
            schemas: [USER_SCHEMA],
            externalId: `ext-${tag}-${i}`,
            userName: `${local}@example.com`,
            name: { givenName: "Post", familyName: `User${i}` },
            displayName: `Post User${i}`,
            emails: [{ value: `${local}@example.com`, type: "work", primary: true }],
            active: true,
          });
          return req;
        };
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Server processes

export interface Running {
  def: ServerDef;
  child: ChildProcess;
  port: number;
  rss: number;
  heapUsed: number;
  startMs: number;
  profile?: string;
}

const children = new Set<ChildProcess>();
function killAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
}
process.on("exit", killAll);

function startServer(def: ServerDef, profileDir: string | undefined): Promise<Running> {
  const script = join(HERE, "servers", `${def.name}.ts`);
  const t0 = Date.now();
  const profile = profileDir ? join(profileDir, `${def.name}-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`) : undefined;
  const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", script], {
    cwd: BENCH_DIR,
    env: { ...process.env, BENCH_HTTP_PARENT: "1", PORT: "0", BENCH_HTTP_USERS: String(USERS), ...(profile ? { BENCH_HTTP_CPU_PROFILE: profile } : {}) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${def.name}: ${why}${stderr ? `\n${stderr.trim().split("\n").slice(-8).join("\n")}` : ""}`));
    };
    child.on("exit", (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
    child.stdout!.on("data", (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const msg = JSON.parse(line);
          if (msg.ready) {
            clearTimeout(timer);
            child.removeAllListeners("exit");
            resolve({ def, child, port: msg.port, rss: msg.rss, heapUsed: msg.heapUsed, startMs: Date.now() - t0, profile });
          }
        } catch {
          // not ours: ignore
        }
      }
    });
  });
}

/** Ends a server by SIGTERM (it exits through exit(), writing its profile), SIGKILL after 10 s. */
function stopServer(s: Running): Promise<void> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
    const timer = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
    s.child.once("exit", () => {
      clearTimeout(timer);
      children.delete(s.child);
      resolve();
    });
    s.child.kill("SIGTERM");
  });
}

// ---------------------------------------------------------------------------------------------
// Load

interface Run {
  ok: number;
  rate: number;
  p99: number;
  non2xx: number;
  errors: number;
  codes: Record<string, number>;
}

async function load(s: Running, scenario: Scenario, seconds: number, tag: string): Promise<Run> {
  const result = await autocannon({
    url: `http://127.0.0.1:${s.port}`,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    // autocannon ends a run at its first sample tick after \`duration\`: sample every 100 ms so that
    // a 1.5 s run lasts 1.5 s, not 2 s (rates are 2xx / the elapsed time it reports).
    sampleInt: 100,
    requests: [{ setupRequest: scenario.setup(tag) }],
  } as any);
  const codes: Record<string, number> = {};
  for (const [code, v] of Object.entries((result as any).statusCodeStats ?? {})) if (!code.startsWith("2")) codes[code] = (v as any).count;
  const ok = (result as any)["2xx"] as number;
  return {
    ok,
    rate: ok / result.duration,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    codes,
  };
}

// ---------------------------------------------------------------------------------------------

export async function httpReport(): Promise<{ lines: string[]; targets: Target[] }> {
  const { lines, emit } = reportLines();
  const targets: Target[] = [];
  const started = Date.now();
  const onlyServers = process.env.BENCH_HTTP_SERVERS?.split(",").map((s) => s.trim());
  const onlyScenarios = process.env.BENCH_HTTP_SCENARIOS?.split(",").map((s) => s.trim());
  const profiled = new Set((process.env.BENCH_HTTP_PROFILE ?? "").split(",").map((s) => s.trim()).filter(Boolean));
  const defs = SERVERS.filter((d) => !onlyServers || onlyServers.includes(d.name));

  emit("## (HTTP) Adapters over HTTP: vs a hand-written baseline on the same framework, and scimmy");
  emit();

  const t0 = Date.now();
  const users: CheckUser[] = loadUsers().map((u) => ({ id: u.id, userName: u.userName, department: u[ENTERPRISE]?.department }));
  const allScenarios = scenarios(users).filter((s) => !onlyScenarios || onlyScenarios.includes(s.id));

  // Start every server (in parallel), each in its own process.
  const profileDir = profiled.size ? join(BENCH_DIR, "profiles") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const settled = await Promise.allSettled(defs.map((d) => startServer(d, profiled.has(d.name) ? profileDir : undefined)));
  const running: Running[] = [];
  const failed: { def: ServerDef; why: string }[] = [];
  settled.forEach((r, i) => (r.status === "fulfilled" ? running.push(r.value) : failed.push({ def: defs[i], why: (r.reason as Error).message })));
  const byName = new Map(running.map((s) => [s.def.name, s]));
  const loadSeconds = ((Date.now() - t0) / 1000).toFixed(0);

  try {
    emit(
      `${USERS.toLocaleString("en")} generated users (the seeded generator of (B)) preloaded in every server; each server is a child process ` +
        `(\`node --expose-gc --import tsx\`, 127.0.0.1), the load generator is autocannon in the parent process: ${CONNECTIONS} connections, ` +
        `pipelining 1, ${SECONDS} s per timed run after a ${WARMUP} s warm-up per server and scenario, ${ROUNDS} rounds. In each round the ` +
        `servers of one framework run back to back (order alternating between rounds); rates are medians over rounds, a ratio is the median of ` +
        `the per-round ratios. Only 2xx answers count. All servers require the same bearer token and serve under \`${BASE}\`. Servers loaded in ${loadSeconds} s.`,
    );
    emit();
    emit(mdTable(["server", "what"], defs.map((d) => [d.name, d.what + (byName.has(d.name) ? "" : " — **not available**")])));
    emit();
    if (failed.length) {
      emit("Servers that did not start (left out):");
      emit();
      for (const f of failed) emit(`- **${f.def.name}**: \`${f.why.split("\n")[0]}\`` + (f.why.includes("\n") ? `\n\n\`\`\`\n${f.why.split("\n").slice(1).join("\n")}\n\`\`\`` : ""));
      emit();
    }

    // Correctness first (not timed).
    const checks = new Map<string, CheckResult[]>();
    for (const s of running) checks.set(s.def.name, await runChecks(s.port, s.def.role, users));
    const checkNames = [...new Set([...checks.values()].flatMap((cs) => cs.map((c) => c.name)))];
    emit("Answers checked before timing (✓ right; ✗ wrong, with what came back; – not required of a hand-written baseline):");
    emit();
    emit(
      mdTable(
        ["check", ...running.map((s) => s.def.name)],
        checkNames.map((name) => [
          name,
          ...running.map((s) => {
            const c = checks.get(s.def.name)!.find((x) => x.name === name);
            return !c ? "" : c.skipped ? "–" : c.ok ? "✓" : `✗ ${c.detail}`;
          }),
        ]),
      ),
    );
    emit();

    // Timed runs.
    const groups = FRAMEWORKS.map((f) => running.filter((s) => s.def.framework === f)).filter((g) => g.length);
    const runs = new Map<string, Run[]>(); // `${scenario}|${server}` -> per round
    const ratios = new Map<string, number[]>(); // `${scenario}|${framework}|${server}` -> per-round ratio vs baseline
    let tagN = 0;
    for (const sc of allScenarios) {
      for (const s of running) await load(s, sc, WARMUP, `w${tagN++}-${s.def.name}`);
      for (let round = 0; round < ROUNDS; round++) {
        for (const g of groups) {
          const order = round % 2 === 0 ? g : [...g].reverse();
          const roundRuns = new Map<string, Run>();
          for (const s of order) {
            const run = await load(s, sc, SECONDS, `r${tagN++}-${s.def.name}`);
            roundRuns.set(s.def.name, run);
            const key = `${sc.id}|${s.def.name}`;
            runs.set(key, [...(runs.get(key) ?? []), run]);
          }
          const base = g.find((s) => s.def.role === "baseline");
          if (!base) continue;
          for (const s of g) {
            if (s === base) continue;
            const key = `${sc.id}|${s.def.name}`;
            ratios.set(key, [...(ratios.get(key) ?? []), roundRuns.get(s.def.name)!.rate / roundRuns.get(base.def.name)!.rate]);
          }
        }
      }
      process.stderr.write(`  http: ${sc.id} done (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }

    const rateOf = (sc: string, name: string) => median((runs.get(`${sc}|${name}`) ?? []).map((r) => r.rate));
    const p99Of = (sc: string, name: string) => median((runs.get(`${sc}|${name}`) ?? []).map((r) => r.p99));
    const badOf = (sc: string, name: string) => {
      const rs = runs.get(`${sc}|${name}`) ?? [];
      const non2xx = rs.reduce((a, r) => a + r.non2xx, 0);
      const errors = rs.reduce((a, r) => a + r.errors, 0);
      const codes: Record<string, number> = {};
      for (const r of rs) for (const [c, k] of Object.entries(r.codes)) codes[c] = (codes[c] ?? 0) + k;
      return { non2xx, errors, codes, ok: rs.reduce((a, r) => a + r.ok, 0) };
    };

    emit(`2xx answers per second (median of ${ROUNDS} rounds) and p99 latency (ms, median); ⚠ marks runs with non-2xx answers or socket errors (listed below):`);
    emit();
    emit(
      mdTable(
        ["scenario", ...running.map((s) => s.def.name)],
        allScenarios.map((sc) => [
          sc.label,
          ...running.map((s) => {
            const b = badOf(sc.id, s.def.name);
            return `${fmtRate(rateOf(sc.id, s.def.name))} (${p99Of(sc.id, s.def.name)} ms)${b.non2xx || b.errors ? " ⚠" : ""}`;
          }),
        ]),
      ),
    );
    emit();
    const problems: string[][] = [];
    for (const sc of allScenarios)
      for (const s of running) {
        const b = badOf(sc.id, s.def.name);
        if (b.non2xx || b.errors)
          problems.push([sc.id, s.def.name, String(b.ok), String(b.non2xx), Object.entries(b.codes).map(([c, k]) => `${c}: ${k}`).join(", "), String(b.errors)]);
      }
    if (problems.length) {
      emit("Non-2xx answers and errors (over all timed rounds; these requests are not counted as throughput):");
      emit();
      emit(mdTable(["scenario", "server", "2xx", "non-2xx", "status codes", "socket errors/timeouts"], problems));
      emit();
    }

    // Ratios vs the same-framework baseline, with the targets.
    const ratioRows: string[][] = [];
    for (const sc of allScenarios) {
      const row = [sc.label, `≥ ${sc.goal}x`];
      for (const f of FRAMEWORKS) {
        const adapter = byName.get(`${f}-adapter`);
        const rs = adapter ? ratios.get(`${sc.id}|${adapter.def.name}`) : undefined;
        if (!rs?.length) {
          row.push("–");
          continue;
        }
        const v = median(rs);
        const bad = badOf(sc.id, adapter!.def.name);
        const verdict = bad.non2xx || bad.errors ? "MISS (errors)" : v >= sc.goal ? "PASS" : "MISS";
        row.push(`${v.toFixed(2)}x ${verdict} (${rs.map((x) => x.toFixed(2)).join(", ")})`);
        targets.push({ name: `(HTTP) ${f}: ${sc.id} adapter / baseline`, goal: sc.goal, value: bad.non2xx || bad.errors ? NaN : v, detail: "" });
      }
      const sm = byName.get("scimmy") && ratios.get(`${sc.id}|scimmy`);
      row.push(sm && sm.length ? `${median(sm).toFixed(2)}x` : "–");
      ratioRows.push(row);
    }
    emit("Adapter / same-framework baseline (median of per-round ratios; the rounds' ratios in parentheses), and scimmy / Express baseline:");
    emit();
    emit(mdTable(["scenario", "goal", "express", "hono", "nestjs", "scimmy / express-baseline"], ratioRows));
    emit();

    // Memory after loading.
    const memRows: string[][] = running.map((s) => {
      const base = byName.get(`${s.def.framework}-baseline`);
      const ratio = s.def.role !== "baseline" && base ? s.rss / base.rss : NaN;
      let verdict = "";
      if (s.def.role === "adapter" && base) {
        verdict = ratio <= 1.5 ? "PASS" : "MISS";
        targets.push({ name: `(HTTP) ${s.def.framework}: RSS after loading, adapter / baseline`, goal: 1.5, value: ratio, detail: "", max: true });
      }
      return [
        s.def.name,
        (s.rss / 1048576).toFixed(0),
        (s.heapUsed / 1048576).toFixed(0),
        Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "",
        verdict ? `≤ 1.5x ${verdict}` : "",
        (s.startMs / 1000).toFixed(1),
      ];
    });
    emit(`Memory once ${USERS.toLocaleString("en")} users are loaded (after a forced full GC, before any request):`);
    emit();
    emit(mdTable(["server", "RSS MB", "heap used MB", "RSS / same-framework baseline", "target", "start-up s (all started at once)"], memRows));
    emit();
    emit(
      "Notes: the baselines know only `userName eq`, `replace active` and paging, validate nothing and skip ETags, `meta.version`, " +
        "projection and uniqueness: they are a ceiling, not a competitor. Page requests use startIndex ≥ 101 because scimmy's " +
        "`ListResponse` cuts a page that its handler already sliced whenever startIndex ≤ the page length (see the checks).",
    );
    emit();
  } finally {
    await Promise.all(running.map(stopServer));
    killAll();
  }

  for (const s of running) {
    if (!s.profile) continue;
    try {
      const summary = summarizeProfile(JSON.parse(readFileSync(s.profile, "utf8")), 25);
      emit(`CPU profile of **${s.def.name}** while serving (${s.profile.slice(BENCH_DIR.length + 1)}), top frames by self time:`);
      emit();
      emit(summary);
      emit();
    } catch (e) {
      emit(`CPU profile of ${s.def.name}: not readable (${(e as Error).message})`);
      emit();
    }
  }

  if (process.env.BENCH_HTTP_CORE_COST !== "0" && !onlyServers) {
    try {
      const table = await coreCost(QUICK ? 300 : 1000);
      emit(
        "Where an adapter's time goes: scim-core's `server.handle()` alone, in this process after the servers stopped (no HTTP, no " +
          "adapter; src/http/core-cost.ts), µs per request, against the baselines' store doing the same request. An adapter's time per " +
          "request minus its baseline's (≈ 1 / rate each, the server using one core) minus this difference is what the adapter and " +
          "its framework integration add:",
      );
      emit();
      emit(table);
      emit();
    } catch (e) {
      emit(`scim-core handle() cost: not measured (${(e as Error).message.split("\n")[0]})`);
      emit();
    }
  }

  emit(`HTTP part: ${((Date.now() - started) / 1000).toFixed(0)} s; load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(", ")}.`);
  emit();
  // A run of a subset (servers, scenarios, profiling) prints only: results-http.md keeps full runs.
  if (!onlyServers && !onlyScenarios && profiled.size === 0) writeFileSync(join(BENCH_DIR, "results-http.md"), lines.join("\n") + "\n");
  return { lines, targets };
}

// Alone: `tsx src/http/run.ts`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  httpReport()
    .then(() => process.exit(0))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}

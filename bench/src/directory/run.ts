/**
 * (DIRECTORY) Provisioning throughput of the standalone directory-sync service (apps/server) over
 * HTTP, beside the Hono sample app on scim-core's memoryStore, in the same run.
 *
 * N users (default 10,000; BENCH_QUICK=1: 1,000) are created by `POST /Users` with realistic
 * Okta-shaped bodies (IDP-NOTES.md: schemas, userName, name, emails, displayName, locale,
 * externalId, groups: [], password, active) at C concurrent connections (default 10): C loops
 * in this process over keep-alive sockets (node:http), each taking the next user until the
 * batch is done. Each server runs in its own child process (src/directory/servers/*.ts):
 *
 *  - directory-service: apps/server's `startServer` on a fresh SQLite file (the default
 *    database), the whole service in front of each request (per-directory token lookup, audit
 *    log entry, rate limit and IP allowlist guards, event outbox, role subscriber, link hooks).
 *    The first directory's rate limit (100/s by default) is raised above the load through the
 *    admin API (`PATCH /api/directories/{id}`) before the run.
 *  - hono-sample: apps/hono-example's `createApp` with `memoryStore()` (no database, no events):
 *    the reference of the goal (the service at least half its throughput).
 *  - hono-sample-sqlite: the same app on its own SQL store on a SQLite file (outbox subscriber),
 *    for context: what SQLite costs alone, apart from the directory layer.
 *  - sqlite-floor (not a server; sqlite-floor.ts): the service's SQLite writes of each user by
 *    hand-written prepared statements in one process, no HTTP: the storage floor under any
 *    implementation of the service on this schema and machine.
 *
 * The users are sent in two halves in the order service, sample, sample-sqlite, sample-sqlite,
 * sample, service (mirrored), so that
 * a drift in machine load hits both alike; throughput is 201 answers / time over both halves, and
 * latencies (per request, from write to complete answer) are percentiles over every request.
 * Every server gets a short warm-up first (not counted). Afterwards the run checks that every user
 * is there (SCIM totalResults; for the service also the admin API's directory status).
 *
 * Knobs: BENCH_DIRECTORY_USERS (10000), BENCH_DIRECTORY_CONNECTIONS (10), BENCH_DIRECTORY_WARMUP
 * (users per server before timing, 300), BENCH_DIRECTORY_LOG_LEVEL (the service's log level,
 * "silent"; "info" logs every request to /dev/null), BENCH_DIRECTORY_NODE_ARGS (more node options
 * for both servers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). Writes bench/results-directory.md.
 *
 * The child-process and HTTP helpers (startServer, stopServer, request, admin, processCpuMs,
 * percentile...) are in processes.ts, shared with the FAIRNESS part (fairness.ts).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { fmtRate, fmtRatio, mdTable, reportLines, type Target } from "../harness.js";
import { oktaUser } from "./okta-user.js";
import { admin, BENCH_DIR, children, fmtMs, HERE, load, percentile, processCpuMs, request, runWhenMain, SCIM_JSON, startServer, stopServer, writeReport, type Running, type ServerDef } from "./processes.js";

const QUICK = process.env.BENCH_QUICK === "1";
const USERS = Number(process.env.BENCH_DIRECTORY_USERS ?? (QUICK ? 1_000 : 10_000));
const CONNECTIONS = Number(process.env.BENCH_DIRECTORY_CONNECTIONS ?? 10);
const WARMUP = Number(process.env.BENCH_DIRECTORY_WARMUP ?? (QUICK ? 100 : 300));
/** Pause before each timed batch, so that no server's background work lands in another's time. */
const SETTLE_MS = 1_500;

const SERVERS: ServerDef[] = [
  { name: "directory-service", script: "directory-service", what: "apps/server `startServer` (directoryApp + scim-store-sql on a SQLite file, audit log, events outbox, guards)" },
  { name: "hono-sample", script: "hono-sample", what: "apps/hono-example `createApp` + scim-core `memoryStore()` (@hono/node-server): the reference of the goal" },
  { name: "hono-sample-sqlite", script: "hono-sample", what: "the same sample app on its own SQL store (`openStore`, a SQLite file, outbox subscriber): context, what SQLite alone costs" },
];

/** Runs the hand-written storage floor (src/directory/sqlite-floor.ts) in a child process: users/s. */
function runFloor(file: string): Promise<number> {
  const child = spawn(process.execPath, ["--import", "tsx", join(HERE, "sqlite-floor.ts")], {
    cwd: BENCH_DIR,
    env: { ...process.env, BENCH_FLOOR_DB: file, BENCH_FLOOR_USERS: String(USERS), BENCH_FLOOR_WARMUP: String(WARMUP) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err = (err + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      children.delete(child);
      const line = out.split("\n").find((l) => l.startsWith('{"floor"'));
      if (code !== 0 || line === undefined) return reject(new Error(`sqlite-floor: exited ${code}\n${err.trim().split("\n").slice(-10).join("\n")}`));
      const { users, ms } = JSON.parse(line) as { users: number; ms: number };
      resolve((users / ms) * 1000);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Batch {
  ok: number;
  errors: number;
  codes: Record<string, number>;
  latencies: number[];
  ms: number;
  /** CPU time of the server process (all its threads) during the batch, in ms; NaN where /proc is missing. */
  serverCpuMs: number;
  /** CPU time of the load generator (this process) during the batch, in ms. */
  loadCpuMs: number;
  firstError?: string;
}

/** Creates users `from`..`to`-1 of batch `tag` with CONNECTIONS concurrent loops. */
async function provision(s: Running, tag: string, from: number, to: number): Promise<Batch> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const headers = { authorization: `Bearer ${s.token}`, "content-type": SCIM_JSON, accept: SCIM_JSON };
  const path = `${s.scimBase}/Users`;
  const batch: Batch = { ok: 0, errors: 0, codes: {}, latencies: [], ms: 0, serverCpuMs: 0, loadCpuMs: 0 };
  let next = from;
  const serverCpu = processCpuMs(s.child.pid);
  const loadCpu = process.cpuUsage();
  const started = performance.now();
  const loop = async () => {
    for (;;) {
      const i = next++;
      if (i >= to) return;
      const body = oktaUser(tag, i);
      const t0 = performance.now();
      let code: string;
      try {
        const answer = await request(agent, s.port, "POST", path, headers, body);
        code = String(answer.status);
        if (answer.status === 201) batch.ok++;
        else batch.firstError ??= `${answer.status} ${answer.body.slice(0, 200)}`;
      } catch (error) {
        code = (error as Error).message;
        batch.firstError ??= code;
      }
      batch.latencies.push(performance.now() - t0);
      if (code !== "201") {
        batch.errors++;
        batch.codes[code] = (batch.codes[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  batch.ms = performance.now() - started;
  batch.serverCpuMs = processCpuMs(s.child.pid) - serverCpu;
  const used = process.cpuUsage(loadCpu);
  batch.loadCpuMs = (used.user + used.system) / 1000;
  agent.destroy();
  return batch;
}

/** The number of users a server holds (SCIM totalResults). */
async function totalUsers(s: Running): Promise<number> {
  const agent = new http.Agent({ keepAlive: false });
  const answer = await request(agent, s.port, "GET", `${s.scimBase}/Users?count=0`, { authorization: `Bearer ${s.token}`, accept: SCIM_JSON });
  return JSON.parse(answer.body).totalResults as number;
}

const fmtCpu = (cpuMs: number, users: number) => (Number.isFinite(cpuMs) && users > 0 ? String(Math.round((cpuMs * 1000) / users)) : "–");

// ---------------------------------------------------------------------------------------------

export async function directoryReport(): Promise<{ lines: string[]; targets: Target[] }> {
  const { lines, emit } = reportLines();
  const targets: Target[] = [];
  const started = Date.now();
  const loadAtStart = load();
  const tmp = mkdtempSync(join(os.tmpdir(), "bench-directory-"));

  emit("## (DIRECTORY) Provisioning over HTTP: the directory-sync service vs the Hono sample app");
  emit();

  const running: Running[] = [];
  try {
    // One after the other: the service migrates its database at start.
    running.push(await startServer(SERVERS[0]!, { BENCH_DIRECTORY_DB: join(tmp, "directory-sync.db") }));
    running.push(await startServer(SERVERS[1]!, {}));
    running.push(await startServer(SERVERS[2]!, { BENCH_DIRECTORY_SAMPLE_DB: join(tmp, "sample.db") }));
    const [service, sample, sampleSql] = running as [Running, Running, Running];

    // The directory's rate limit (default 100/s, burst 200) above the load, through the admin API.
    const raised = await admin(service, "PATCH", `/directories/${service.directoryId}`, { settings: { rateLimit: { requestsPerSecond: 100_000, burst: 1_000_000 } } });
    if (raised.status !== 200) throw new Error(`raising the rate limit: ${raised.status} ${raised.body}`);

    emit(
      `${USERS.toLocaleString("en")} users created by \`POST /Users\` with Okta-shaped bodies (userName, name, emails, displayName, locale, ` +
        `externalId, groups: [], password, active) at ${CONNECTIONS} concurrent keep-alive connections (${CONNECTIONS} loops in the parent ` +
        `process, node:http). Each server is a child process (\`node --import tsx\`, 127.0.0.1). The users go in two halves, in the order ` +
        `service, sample, sample-sqlite, sample-sqlite, sample, service, after a warm-up of ${WARMUP} users per server (not counted), with a pause of ${SETTLE_MS / 1000} s before each batch so that a server's background work (WAL checkpoints, audit flushes) does not land in the next batch's time. Throughput = 201 answers / time of ` +
        `both halves; latency percentiles over every timed request. The service's directory rate limit was raised through the admin API; ` +
        `its log level: ${process.env.BENCH_DIRECTORY_LOG_LEVEL ?? "silent"}.`,
    );
    emit();
    emit(mdTable(["server", "what", "start (ms)"], running.map((r) => [r.def.name, r.def.what, String(r.startMs)])));
    emit();

    for (const s of running) {
      const warm = await provision(s, "w", 0, WARMUP);
      if (warm.errors > 0) throw new Error(`${s.def.name}: warm-up failed: ${warm.firstError}`);
    }

    const half = Math.floor(USERS / 2);
    const results = new Map<string, Batch[]>();
    const order: Array<[Running, number, number]> = [
      [service, 0, half],
      [sample, 0, half],
      [sampleSql, 0, half],
      [sampleSql, half, USERS],
      [sample, half, USERS],
      [service, half, USERS],
    ];
    let floor = NaN;
    for (const [s, from, to] of order) {
      // The storage floor runs alone, between the halves of the sample app on SQLite.
      if (s === sampleSql && from === half) {
        floor = await runFloor(join(tmp, "floor.db"));
        console.log(`  sqlite-floor: ${fmtRate(floor)} users/s (load ${load()})`);
      }
      // Background work of the previous batch (WAL checkpoints, audit flushes) ends before the next one.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const batch = await provision(s, "u", from, to);
      console.log(`  ${s.def.name}: users ${from}..${to - 1}: ${fmtRate((batch.ok / batch.ms) * 1000)} users/s, ${batch.errors} errors (load ${load()})`);
      results.set(s.def.name, [...(results.get(s.def.name) ?? []), batch]);
    }

    // Everything arrived?
    const held = new Map<string, number>();
    for (const s of running) held.set(s.def.name, await totalUsers(s));
    const status = await admin(service, "GET", `/directories/${service.directoryId}/status`);
    const statusUsers = status.status === 200 ? (JSON.parse(status.body).users as number) : NaN;

    const rows: string[][] = [];
    const rate = new Map<string, number>();
    const errors = new Map<string, number>();
    const cpuPerUser = new Map<string, number>();
    const loadPerUser = new Map<string, number>();
    for (const s of running) {
      const batches = results.get(s.def.name)!;
      const ok = batches.reduce((n, b) => n + b.ok, 0);
      const ms = batches.reduce((n, b) => n + b.ms, 0);
      const errs = batches.reduce((n, b) => n + b.errors, 0);
      const codes: Record<string, number> = {};
      for (const b of batches) for (const [c, n] of Object.entries(b.codes)) codes[c] = (codes[c] ?? 0) + n;
      const sorted = batches.flatMap((b) => b.latencies).sort((a, b) => a - b);
      const r = (ok / ms) * 1000;
      rate.set(s.def.name, r);
      errors.set(s.def.name, errs);
      rows.push([
        s.def.name,
        fmtRate(r),
        batches.map((b) => fmtRate((b.ok / b.ms) * 1000)).join(" / "),
        fmtMs(percentile(sorted, 50)),
        fmtMs(percentile(sorted, 99)),
        fmtMs(sorted[sorted.length - 1] ?? NaN),
        errs === 0 ? "0" : `${errs} (${Object.entries(codes).map(([c, n]) => `${c}: ${n}`).join(", ")})`,
        `${held.get(s.def.name)?.toLocaleString("en")}${s === service ? ` (admin API: ${statusUsers.toLocaleString("en")})` : ""}`,
        fmtCpu(batches.reduce((n, b) => n + b.serverCpuMs, 0), ok),
        (batches.reduce((n, b) => n + b.serverCpuMs, 0) / ms).toFixed(2),
        fmtCpu(batches.reduce((n, b) => n + b.loadCpuMs, 0), ok),
      ]);
      cpuPerUser.set(s.def.name, batches.reduce((n, b) => n + b.serverCpuMs, 0) / ok);
      loadPerUser.set(s.def.name, batches.reduce((n, b) => n + b.loadCpuMs, 0) / ok);
      const first = batches.find((b) => b.firstError)?.firstError;
      if (first) emit(`First error of ${s.def.name}: \`${first}\``);
    }
    for (const s of running) {
      const rss = await stopServer(s);
      const row = rows.find((r) => r[0] === s.def.name)!;
      row.push(rss === undefined ? "–" : `${Math.round(rss / 2 ** 20)} MB`);
    }
    emit(
      mdTable(
        ["server", "users/s", "per half", "p50 (ms)", "p99 (ms)", "max (ms)", "errors", "users held after the run (incl. warm-up)", "server CPU per user (µs, all threads)", "server cores busy", "load generator CPU per user (µs)", "RSS at the end"],
        rows,
      ),
    );
    emit();
    // What the goal asks of the CPU: at half the sample's rate, the machine's cores less the load
    // generator's share, per user (perfectly parallel), and what one thread alone could spend.
    const goalRate = rate.get("hono-sample")! / 2;
    const cores = os.cpus().length;
    const budget = ((cores - (goalRate * loadPerUser.get("directory-service")!) / 1000) / goalRate) * 1e6;
    emit(
      `CPU budget of the goal: at half the sample's rate (${fmtRate(goalRate)} users/s) the load generator takes ` +
        `${((goalRate * loadPerUser.get("directory-service")!) / 1000).toFixed(2)} of the ${cores} cores, which leaves the service ` +
        `${Number.isFinite(budget) ? Math.round(budget) : "–"} µs of CPU per user spread perfectly over every core, or ${Math.round(1e6 / goalRate)} µs on one thread; ` +
        `it spends ${Number.isFinite(cpuPerUser.get("directory-service")!) ? Math.round(cpuPerUser.get("directory-service")! * 1000) : "–"} µs (the sample app ` +
        `${Number.isFinite(cpuPerUser.get("hono-sample")!) ? Math.round(cpuPerUser.get("hono-sample")! * 1000) : "–"} µs, on SQLite ` +
        `${Number.isFinite(cpuPerUser.get("hono-sample-sqlite")!) ? Math.round(cpuPerUser.get("hono-sample-sqlite")! * 1000) : "–"} µs).`,
    );
    emit();
    const ratio = rate.get("directory-service")! / rate.get("hono-sample")!;
    const totalErrors = [...errors.values()].reduce((a, b) => a + b, 0);
    const expected = USERS + WARMUP;
    const complete = [...held.values()].every((n) => n === expected) && statusUsers === expected;
    const sqlRatio = rate.get("directory-service")! / rate.get("hono-sample-sqlite")!;
    emit(
      `Service / sample app (memoryStore) throughput: **${fmtRatio(ratio)}** (goal ≥ 0.5x); service / sample app on SQLite: ${fmtRatio(sqlRatio)}; errors: **${totalErrors}** (goal 0); every user stored: ` +
        `**${complete ? "yes" : "NO"}** (expected ${expected.toLocaleString("en")} per server).`,
    );
    emit();
    emit(
      `Storage floor (hand-written, \`src/directory/sqlite-floor.ts\`, run alone between the sample-sqlite halves): the SQLite writes of each user ` +
        `as the service makes them (token lookup, resource, email, event, live count, audit entry; the service's schema, WAL, checkpoints on a worker ` +
        `thread, 5 users per COMMIT) by prepared better-sqlite3 statements in one process, with no HTTP, JSON, validation or query builder: ` +
        `**${fmtRate(floor)} users/s**, ${fmtRatio(floor / rate.get("hono-sample")!)} of the sample app's HTTP throughput on memoryStore; the service reaches ` +
        `${fmtRatio(rate.get("directory-service")! / floor)} of the floor.`,
    );
    emit();
    emit(
      `Node ${process.version}, ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}; load average at start ${loadAtStart}, at end ${load()} ` +
        `(the load generator shares the machine with the server under test; the machine may be shared). Part run time ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    );
    emit();
    targets.push({ name: "(DIRECTORY) POST /Users: directory-sync service / Hono sample app", goal: 0.5, value: ratio, detail: `${USERS} users, ${CONNECTIONS} connections` });
    targets.push({ name: "(DIRECTORY) errors (non-201 answers, socket errors) + missing users", goal: 0, value: totalErrors + (complete ? 0 : 1), detail: "", max: true });
  } finally {
    for (const s of running) await stopServer(s);
    rmSync(tmp, { recursive: true, force: true });
  }

  writeReport("results-directory.md", "Directory-sync service benchmark", lines, "DIRECTORY");
  return { lines, targets };
}

runWhenMain(import.meta.url, directoryReport);

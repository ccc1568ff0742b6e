/**
 * (FAIRNESS) How much one busy directory (tenant) slows the other directories' SCIM requests on
 * the same directory-sync service (apps/server on SQLite, one process): small tenants' latency
 * alone and under a busy tenant, side by side in one run, as ratios.
 *
 * One child process: servers/directory-service.ts on a fresh SQLite file in a temp dir
 * (BENCH_DIRECTORY_DB), log level BENCH_DIRECTORY_LOG_LEVEL (default "silent").
 *
 *  - The busy directory B is the service's first directory. It is seeded with 5,000 users by SCIM
 *    `POST /Bulk` (100 operations per request; Okta-like bodies: userName, name, emails,
 *    displayName, externalId, active) and 10 groups of 500 members each (`POST /Groups` with
 *    members), with B's rate limit raised for the seeding through the admin API; then B's rate
 *    limit is set back to the default `{ requestsPerSecond: 100, burst: 200 }`, so that B is
 *    measured within its default limits (and the service's other guards: search time share,
 *    concurrent large reads).
 *  - Four small directories S1..S4, created through the admin API (`POST /api/directories`, a
 *    token each by `POST /api/directories/{id}/tokens`), 50 users each (`POST /Users`).
 *  - Small load, all the time: per small directory one closed loop (its own keep-alive agent)
 *    with 50 ms think time between requests, cycling through `GET /Users?filter=userName eq
 *    "<existing user>"`, `GET /Users/{id}`, `PATCH /Users/{id}` (replace active false, next cycle
 *    true), `POST /Users` (a new user). Every request's latency (write to complete answer) and
 *    status is recorded, and attributed to the phase in which it started; any non-2xx answer or
 *    socket error is an error (a 429 too: the small tenants stay far below their limits).
 *  - Busy loads, closed loops on B without think time: "1 pager" (one loop of
 *    `GET /Users?count=1000&startIndex=k`, k cycling over 1, 1001, 2001, 3001, 4001), "4 pagers"
 *    (four such loops), "admin lister" (one loop reading `GET /api/directories/{B}/users?limit=1000`,
 *    following nextCursor and starting over at the end), "2 searchers" (two loops of
 *    `GET /Users?sortBy=groups.display&sortOrder=descending&count=10`: a sort no index answers,
 *    each reading every user of B and their memberships). A busy loop that gets a 429 sleeps its
 *    Retry-After seconds (429s are counted apart, they are not errors). The busy loops read their
 *    answers as a stream and never build or parse the page (users are counted by a marker per
 *    user), so that the load generator's own work on megabyte pages does not delay the small
 *    loops' timings, which share its event loop; the generator's event-loop lag is reported.
 *  - Phases in mirrored order: alone, 1 pager, 4 pagers, admin lister, 2 searchers, 2 searchers,
 *    admin lister, 4 pagers, 1 pager, alone, each BENCH_FAIRNESS_PHASE_SECONDS (6; BENCH_QUICK=1: 2) with the small load
 *    running, a 1 s pause between phases (the busy loops stopped; small requests started in a
 *    pause are not counted), after a 3 s warm-up (small load + 1 pager, not counted). The two
 *    runs of each phase are merged.
 *  - Afterwards every small directory is checked: it still answers, and holds its users (SCIM
 *    totalResults and the admin API's status count = 50 + the users its loop created).
 *
 * Reported per phase: small tenants' requests, p50/p90/p99/max latency, errors, p50 and p99 ratio
 * to "alone"; busy pages answered 200 per second, users read per second, 429s; the server's CPU
 * (cores busy, /proc); each run's p99; the load generator's event-loop lag. Targets: small tenants' p99 under
 * 1 pager / alone ≤ 3, under 4 pagers / alone ≤ 4, under the admin lister / alone ≤ 3, under 2
 * searchers / alone ≤ 3; errors 0.
 *
 * Knobs: BENCH_FAIRNESS_PHASE_SECONDS, BENCH_QUICK, BENCH_DIRECTORY_LOG_LEVEL,
 * BENCH_DIRECTORY_NODE_ARGS (processes.ts). Writes bench/results-fairness.md. Run alone:
 * `npx tsx src/directory/fairness.ts`, or `BENCH_PARTS=FAIRNESS npx tsx src/run.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fmtRate, fmtRatio, mdTable, reportLines, type Target } from "../harness.js";
import { oktaUserObject, USER_SCHEMA } from "./okta-user.js";
import { admin, fmtMs, load, percentile, processCpuMs, request, runWhenMain, SCIM_JSON, startServer, stopServer, writeReport, type Answer, type Running } from "./processes.js";

const QUICK = process.env.BENCH_QUICK === "1";
const PHASE_SECONDS = Number(process.env.BENCH_FAIRNESS_PHASE_SECONDS ?? (QUICK ? 2 : 6));
const PAUSE_MS = 1_000;
const WARMUP_MS = 3_000;
const BUSY_USERS = 5_000;
const BULK_OPERATIONS = 100;
const GROUPS = 10;
const GROUP_MEMBERS = 500;
const SMALL_DIRECTORIES = 4;
const SMALL_USERS = 50;
const THINK_MS = 50;
const PAGE = 1_000;
/** Sampling interval of the load generator's event-loop lag. */
const LAG_RESOLUTION_MS = 5;
const DEFAULT_RATE_LIMIT = { requestsPerSecond: 100, burst: 200 };
const BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";

type BusyKind = "pager" | "admin" | "searcher";
interface PhaseDef {
  name: string;
  busy?: { kind: BusyKind; loops: number };
}
const ALONE: PhaseDef = { name: "alone" };
const ONE_PAGER: PhaseDef = { name: "1 pager", busy: { kind: "pager", loops: 1 } };
const FOUR_PAGERS: PhaseDef = { name: "4 pagers", busy: { kind: "pager", loops: 4 } };
const ADMIN_LISTER: PhaseDef = { name: "admin lister", busy: { kind: "admin", loops: 1 } };
const TWO_SEARCHERS: PhaseDef = { name: "2 searchers", busy: { kind: "searcher", loops: 2 } };
const ORDER: PhaseDef[] = [ALONE, ONE_PAGER, FOUR_PAGERS, ADMIN_LISTER, TWO_SEARCHERS, TWO_SEARCHERS, ADMIN_LISTER, FOUR_PAGERS, ONE_PAGER, ALONE];
/** What a searcher sends: users sorted by their groups' names, a page of 10 (each reads every user of B and their memberships). */
const SEARCH_QUERY = "sortBy=groups.display&sortOrder=descending&count=10";

const OPS = ["GET filter", "GET id", "PATCH", "POST"] as const;
type Op = (typeof OPS)[number];

interface Sample {
  op: Op;
  ms: number;
  status: number;
}

/** What one run of a phase measured. */
interface PhaseRun {
  small: Sample[];
  smallErrors: string[];
  pages: number;
  users: number;
  busy429: number;
  busyErrors: number;
  busyOther: Record<string, number>;
  refusals: Record<string, number>;
  ms: number;
  serverCpuMs: number;
  loopDelayP99: number;
}

const newRun = (): PhaseRun => ({ small: [], smallErrors: [], pages: 0, users: 0, busy429: 0, busyErrors: 0, busyOther: {}, refusals: {}, ms: 0, serverCpuMs: 0, loopDelayP99: NaN });

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });

/** A user of a directory's seed, Okta-like (the fields the IdP sends on create, without password or groups). */
function userBody(tag: string, i: number) {
  const u = oktaUserObject(tag, i);
  return { schemas: [USER_SCHEMA], userName: u.userName, name: u.name, emails: u.emails, displayName: u.displayName, externalId: u.externalId, active: true };
}

const scimHeaders = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": SCIM_JSON, accept: SCIM_JSON });

function expect(answer: Answer, status: number, what: string): Answer {
  if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${answer.body.slice(0, 300)}`);
  return answer;
}

// ---------------------------------------------------------------------------------------------
// Setup

interface SmallDirectory {
  name: string;
  id: string;
  token: string;
  scimBase: string;
  users: Array<{ id: string; userName: string }>;
  created: number;
}

/** B: 5,000 users by Bulk, 10 groups of 500 members; its rate limit raised meanwhile, then set back to the default. */
async function seedBusy(s: Running): Promise<{ ms: number; bulkRequests: number }> {
  const started = performance.now();
  const raise = await admin(s, "PATCH", `/directories/${s.directoryId}`, { settings: { rateLimit: { requestsPerSecond: 100_000, burst: 1_000_000 } } });
  expect(raise, 200, "raising B's rate limit");
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const headers = scimHeaders(s.token);
  const ids: string[] = [];
  let bulkRequests = 0;
  for (let from = 0; from < BUSY_USERS; from += BULK_OPERATIONS) {
    const Operations = [];
    for (let i = from; i < Math.min(BUSY_USERS, from + BULK_OPERATIONS); i++) Operations.push({ method: "POST", path: "/Users", bulkId: `u${i}`, data: userBody("b", i) });
    const answer = expect(await request(agent, s.port, "POST", `${s.scimBase}/Bulk`, headers, JSON.stringify({ schemas: [BULK_SCHEMA], Operations })), 200, "Bulk");
    bulkRequests++;
    for (const op of JSON.parse(answer.body).Operations as Array<{ status: string | number; location?: string; response?: unknown }>) {
      if (String(op.status) !== "201" || !op.location) throw new Error(`Bulk operation failed: ${JSON.stringify(op).slice(0, 300)}`);
      ids.push(op.location.slice(op.location.lastIndexOf("/") + 1));
    }
  }
  for (let g = 0; g < GROUPS; g++) {
    const members = ids.slice(g * GROUP_MEMBERS, (g + 1) * GROUP_MEMBERS).map((value) => ({ value }));
    const body = JSON.stringify({ schemas: [GROUP_SCHEMA], displayName: `Busy group ${g}`, externalId: `00gb${g}`, members });
    expect(await request(agent, s.port, "POST", `${s.scimBase}/Groups`, headers, body), 201, `POST /Groups ${g}`);
  }
  agent.destroy();
  expect(await admin(s, "PATCH", `/directories/${s.directoryId}`, { settings: { rateLimit: DEFAULT_RATE_LIMIT } }), 200, "restoring B's rate limit");
  return { ms: performance.now() - started, bulkRequests };
}

async function createSmall(s: Running, n: number): Promise<SmallDirectory> {
  const name = `S${n}`;
  const created = expect(await admin(s, "POST", "/directories", { name: `Small tenant ${n}`, organizationId: `org-small-${n}`, type: "generic-scim" }), 201, `creating ${name}`);
  const id = JSON.parse(created.body).id as string;
  const issued = expect(await admin(s, "POST", `/directories/${id}/tokens`), 201, `token of ${name}`);
  const dir: SmallDirectory = { name, id, token: JSON.parse(issued.body).token as string, scimBase: `/scim/v2/${id}`, users: [], created: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < SMALL_USERS; i++) {
    const body = userBody(`s${n}-`, i);
    const answer = expect(await request(agent, s.port, "POST", `${dir.scimBase}/Users`, scimHeaders(dir.token), JSON.stringify(body)), 201, `seeding ${name}`);
    dir.users.push({ id: JSON.parse(answer.body).id as string, userName: body.userName });
  }
  agent.destroy();
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Loads

/** The phase run that small requests starting now count in; undefined in warm-up and pauses. */
let current: PhaseRun | undefined;

/** One small tenant's closed loop until `signal` aborts. */
async function smallLoop(s: Running, dir: SmallDirectory, signal: AbortSignal): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers = scimHeaders(dir.token);
  let step = 0;
  let cycle = 0;
  while (!signal.aborted) {
    const op = OPS[step % OPS.length]!;
    const user = dir.users[cycle % dir.users.length]!;
    let method = "GET";
    let path: string;
    let body: string | undefined;
    switch (op) {
      case "GET filter":
        path = `${dir.scimBase}/Users?filter=${encodeURIComponent(`userName eq "${user.userName}"`)}`;
        break;
      case "GET id":
        path = `${dir.scimBase}/Users/${user.id}`;
        break;
      case "PATCH":
        method = "PATCH";
        path = `${dir.scimBase}/Users/${user.id}`;
        body = JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: [{ op: "replace", path: "active", value: cycle % 2 === 1 }] });
        break;
      case "POST":
        method = "POST";
        path = `${dir.scimBase}/Users`;
        body = JSON.stringify(userBody(`n${dir.name.toLowerCase()}-`, cycle));
        break;
    }
    const run = current;
    const t0 = performance.now();
    let status = 0;
    let error: string | undefined;
    try {
      const answer = await request(agent, s.port, method, path, headers, body);
      status = answer.status;
      if (status < 200 || status > 299) error = `${dir.name} ${op}: ${status} ${answer.body.slice(0, 200)}`;
      else if (op === "POST") dir.created++;
    } catch (e) {
      error = `${dir.name} ${op}: ${(e as Error).message}`;
    }
    const ms = performance.now() - t0;
    if (run) {
      run.small.push({ op, ms, status });
      if (error) run.smallErrors.push(error);
    }
    step++;
    if (step % OPS.length === 0) cycle++;
    await sleep(THINK_MS, signal);
  }
  agent.destroy();
}

/** A marker that occurs once per user in a page: SCIM resources' meta, the admin API's users' directoryId. */
const MARKERS: Record<BusyKind, Buffer> = { pager: Buffer.from('"resourceType":"User"'), searcher: Buffer.from('"resourceType":"User"'), admin: Buffer.from('"directoryId":') };

interface Streamed {
  status: number;
  retryAfter: number;
  /** Marker count (users in the page). */
  users: number;
  /** The first and last 2 KB of the body (error bodies whole; nextCursor at the end of an admin page). */
  head: string;
  tail: string;
}

/** A GET whose body is streamed: counts the marker, keeps head and tail, never builds the page. */
function streamGet(agent: http.Agent, port: number, path: string, headers: Record<string, string>, marker: Buffer): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "GET", path, agent, headers }, (res) => {
      let users = 0;
      let head = Buffer.alloc(0);
      let tail = Buffer.alloc(0);
      res.on("data", (chunk: Buffer) => {
        if (head.length < 2048) head = Buffer.concat([head, chunk.subarray(0, 2048 - head.length)]);
        // Search the chunk with the end of the previous one, so that a marker across the boundary counts once.
        const carry = tail.subarray(Math.max(0, tail.length - (marker.length - 1)));
        const hay = carry.length ? Buffer.concat([carry, chunk]) : chunk;
        for (let at = hay.indexOf(marker); at >= 0; at = hay.indexOf(marker, at + marker.length)) users++;
        tail = Buffer.concat([tail, chunk]);
        if (tail.length > 2048) tail = tail.subarray(tail.length - 2048);
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers["retry-after"] ?? 1) || 1, users, head: head.toString("utf8"), tail: tail.toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** One busy loop on B (a SCIM pager or the admin lister), counting into `run`, until `signal` aborts. */
async function busyLoop(s: Running, kind: BusyKind, loop: number, run: PhaseRun | undefined, signal: AbortSignal): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers: Record<string, string> =
    kind === "admin" ? { authorization: `Bearer ${s.adminKey}`, accept: "application/json" } : { authorization: `Bearer ${s.token}`, accept: SCIM_JSON };
  const starts = Array.from({ length: Math.ceil(BUSY_USERS / PAGE) }, (_, k) => 1 + k * PAGE);
  let k = loop; // the pagers start on different pages
  let cursor: string | null = null;
  while (!signal.aborted) {
    const path =
      kind === "pager"
        ? `${s.scimBase}/Users?count=${PAGE}&startIndex=${starts[k % starts.length]}`
        : kind === "searcher"
          ? `${s.scimBase}/Users?${SEARCH_QUERY}`
          : `/api/directories/${s.directoryId}/users?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    let answer: Streamed;
    try {
      answer = await streamGet(agent, s.port, path, headers, MARKERS[kind]);
    } catch (e) {
      if (run) {
        run.busyErrors++;
        const why = (e as Error).message;
        run.busyOther[why] = (run.busyOther[why] ?? 0) + 1;
      }
      await sleep(100, signal);
      continue;
    }
    if (answer.status === 200) {
      if (run) {
        run.pages++;
        run.users += answer.users;
      }
      if (kind === "pager") k++;
      else if (kind === "admin") {
        const m = /"nextCursor":(?:null|"([^"]*)")\s*}\s*$/.exec(answer.tail);
        cursor = m?.[1] ?? null;
      }
    } else if (answer.status === 429) {
      if (run) {
        run.busy429++;
        // The admin API's error code, or the SCIM error's detail without its "retry after".
        // ("too many requests" is the SCIM rate limit's: the directory's requests per second, a
        // large answer counting for one request per 64 KiB).
        let reason = (/"code":"([^"]+)"/.exec(answer.head) ?? /"detail":"([^"]+?)(?:: retry after \d+ seconds?)?"/.exec(answer.head))?.[1] ?? "?";
        if (reason === "too many requests") reason = "rate_limited";
        run.refusals[reason] = (run.refusals[reason] ?? 0) + 1;
      }
      await sleep(answer.retryAfter * 1000, signal);
    } else {
      if (run) {
        run.busyErrors++;
        run.busyOther[String(answer.status)] = (run.busyOther[String(answer.status)] ?? 0) + 1;
      }
      await sleep(100, signal);
    }
  }
  agent.destroy();
}

/** Runs `phase`'s busy loops for `ms` with the small load counting into a new run (or none, for the warm-up). */
async function runPhase(s: Running, phase: PhaseDef, ms: number, counted: boolean): Promise<PhaseRun> {
  const run = newRun();
  const delay = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  const stop = new AbortController();
  const cpu0 = processCpuMs(s.child.pid);
  const t0 = performance.now();
  if (counted) current = run;
  delay.enable();
  const loops = phase.busy ? Array.from({ length: phase.busy.loops }, (_, i) => busyLoop(s, phase.busy!.kind, i, counted ? run : undefined, stop.signal)) : [];
  await sleep(ms);
  current = undefined;
  run.ms = performance.now() - t0;
  run.serverCpuMs = processCpuMs(s.child.pid) - cpu0;
  delay.disable();
  // The histogram holds the sampling interval plus the lag.
  run.loopDelayP99 = Math.max(0, delay.percentile(99) / 1e6 - LAG_RESOLUTION_MS);
  stop.abort();
  await Promise.all(loops);
  return run;
}

// ---------------------------------------------------------------------------------------------

function merge(runs: PhaseRun[]): PhaseRun {
  const m = newRun();
  for (const r of runs) {
    m.small.push(...r.small);
    m.smallErrors.push(...r.smallErrors);
    m.pages += r.pages;
    m.users += r.users;
    m.busy429 += r.busy429;
    m.busyErrors += r.busyErrors;
    for (const [k, n] of Object.entries(r.busyOther)) m.busyOther[k] = (m.busyOther[k] ?? 0) + n;
    for (const [k, n] of Object.entries(r.refusals)) m.refusals[k] = (m.refusals[k] ?? 0) + n;
    m.ms += r.ms;
    m.serverCpuMs += r.serverCpuMs;
  }
  m.loopDelayP99 = Math.max(...runs.map((r) => r.loopDelayP99));
  return m;
}

const sortedMs = (samples: Sample[]) => samples.map((x) => x.ms).sort((a, b) => a - b);
const counts = (o: Record<string, number>) => Object.entries(o).map(([k, n]) => `${k}: ${n}`).join(", ");

export async function fairnessReport(): Promise<{ lines: string[]; targets: Target[] }> {
  const { lines, emit } = reportLines();
  const targets: Target[] = [];
  const started = Date.now();
  const loadAtStart = load();
  const tmp = mkdtempSync(join(os.tmpdir(), "bench-fairness-"));

  emit("## (FAIRNESS) One busy directory beside small ones: the small tenants' SCIM latency");
  emit();

  let service: Running | undefined;
  const stopSmall = new AbortController();
  let smallLoops: Promise<void>[] = [];
  try {
    service = await startServer(
      { name: "directory-service", script: "directory-service", what: "apps/server `startServer` on a SQLite file" },
      { BENCH_DIRECTORY_DB: join(tmp, "directory-sync.db") },
    );
    const s = service;
    const seeded = await seedBusy(s);
    console.log(`  B seeded: ${BUSY_USERS} users (${seeded.bulkRequests} Bulk requests), ${GROUPS} groups of ${GROUP_MEMBERS} in ${(seeded.ms / 1000).toFixed(1)} s (load ${load()})`);
    const smallStarted = performance.now();
    const smalls: SmallDirectory[] = [];
    for (let n = 1; n <= SMALL_DIRECTORIES; n++) smalls.push(await createSmall(s, n));
    console.log(`  ${SMALL_DIRECTORIES} small directories of ${SMALL_USERS} users in ${((performance.now() - smallStarted) / 1000).toFixed(1)} s`);

    emit(
      `One directory-sync service (apps/server \`startServer\`, SQLite file, log level ${process.env.BENCH_DIRECTORY_LOG_LEVEL ?? "silent"}) in a child process. ` +
        `Busy directory B: ${BUSY_USERS.toLocaleString("en")} users (SCIM Bulk, ${BULK_OPERATIONS} operations per request) and ${GROUPS} groups of ${GROUP_MEMBERS} members, ` +
        `seeded in ${(seeded.ms / 1000).toFixed(1)} s with its rate limit raised, then measured at the default rate limit (${DEFAULT_RATE_LIMIT.requestsPerSecond}/s, burst ${DEFAULT_RATE_LIMIT.burst}). ` +
        `${SMALL_DIRECTORIES} small directories of ${SMALL_USERS} users, each with one closed loop (${THINK_MS} ms think time) cycling GET by userName filter, ` +
        `GET by id, PATCH active, POST a new user. Busy loads on B, closed loops without think time that sleep Retry-After on a 429: ` +
        `"1 pager" (\`GET /Users?count=${PAGE}&startIndex=1, 1001, ... 4001\`), "4 pagers", "admin lister" (\`GET /api/directories/{B}/users?limit=${PAGE}\` following nextCursor). ` +
        `Phases in the order ${ORDER.map((p) => p.name).join(", ")}, ${PHASE_SECONDS} s each, ${PAUSE_MS / 1000} s pause between, after a ${WARMUP_MS / 1000} s warm-up ` +
        `(small load + 1 pager); the two runs of each phase merged. Latency from request written to answer read, in the load generator (this process).`,
    );
    emit();

    smallLoops = smalls.map((d) => smallLoop(s, d, stopSmall.signal));
    await runPhase(s, ONE_PAGER, WARMUP_MS, false);
    const runs = new Map<string, PhaseRun[]>();
    for (const phase of ORDER) {
      await sleep(PAUSE_MS);
      const run = await runPhase(s, phase, PHASE_SECONDS * 1000, true);
      runs.set(phase.name, [...(runs.get(phase.name) ?? []), run]);
      const sorted = sortedMs(run.small);
      console.log(
        `  ${phase.name}: ${run.small.length} small requests, p50 ${fmtMs(percentile(sorted, 50))} ms, p99 ${fmtMs(percentile(sorted, 99))} ms, ${run.smallErrors.length} errors; ` +
          `busy ${run.pages} pages, ${run.busy429} 429s; server ${(run.serverCpuMs / run.ms).toFixed(2)} cores (load ${load()})`,
      );
    }
    stopSmall.abort();
    await Promise.all(smallLoops);
    smallLoops = [];

    // Every small directory still answers, with its users.
    const checkAgent = new http.Agent({ keepAlive: false });
    const checks: string[][] = [];
    let missing = 0;
    for (const d of smalls) {
      const expected = SMALL_USERS + d.created;
      const scim = await request(checkAgent, s.port, "GET", `${d.scimBase}/Users?count=0`, scimHeaders(d.token));
      const scimTotal = scim.status === 200 ? (JSON.parse(scim.body).totalResults as number) : NaN;
      const status = await admin(s, "GET", `/directories/${d.id}/status`);
      const statusUsers = status.status === 200 ? (JSON.parse(status.body).users as number) : NaN;
      const ok = scimTotal === expected && statusUsers === expected;
      if (!ok) missing++;
      checks.push([d.name, String(scim.status), String(expected), String(scimTotal), String(statusUsers), ok ? "yes" : "NO"]);
    }

    const merged = new Map([...runs].map(([name, rs]) => [name, merge(rs)]));
    const alone = sortedMs(merged.get(ALONE.name)!.small);
    const aloneP50 = percentile(alone, 50);
    const aloneP99 = percentile(alone, 99);
    const rows: string[][] = [];
    const p99Ratio = new Map<string, number>();
    let smallErrors = 0;
    let busyErrors = 0;
    for (const [name, m] of merged) {
      const sorted = sortedMs(m.small);
      const p50 = percentile(sorted, 50);
      const p99 = percentile(sorted, 99);
      p99Ratio.set(name, p99 / aloneP99);
      smallErrors += m.smallErrors.length;
      busyErrors += m.busyErrors;
      const statuses: Record<string, number> = {};
      for (const x of m.small) if (x.status < 200 || x.status > 299) statuses[String(x.status || "socket")] = (statuses[String(x.status || "socket")] ?? 0) + 1;
      const busy = name !== ALONE.name;
      rows.push([
        name,
        String(m.small.length),
        fmtMs(p50),
        fmtMs(percentile(sorted, 90)),
        fmtMs(p99),
        fmtMs(sorted[sorted.length - 1] ?? NaN),
        m.smallErrors.length === 0 ? "0" : `${m.smallErrors.length} (${counts(statuses)})`,
        fmtRatio(p50 / aloneP50),
        fmtRatio(p99 / aloneP99),
        busy ? (name === ADMIN_LISTER.name ? `${fmtRate((m.pages / m.ms) * 1000)} (admin)` : name === TWO_SEARCHERS.name ? `${fmtRate((m.pages / m.ms) * 1000)} (searches)` : fmtRate((m.pages / m.ms) * 1000)) : "–",
        busy ? fmtRate((m.users / m.ms) * 1000) : "–",
        busy ? (m.busy429 === 0 ? "0" : `${m.busy429} (${counts(m.refusals)})`) + (m.busyErrors ? `; errors ${counts(m.busyOther)}` : "") : "–",
        (m.serverCpuMs / m.ms).toFixed(2),
        runs.get(name)!.map((r) => fmtMs(percentile(sortedMs(r.small), 99))).join(" / "),
        fmtMs(m.loopDelayP99),
      ]);
    }
    emit(
      mdTable(
        [
          "phase",
          "small requests",
          "p50 (ms)",
          "p90 (ms)",
          "p99 (ms)",
          "max (ms)",
          "errors",
          "p50 / alone",
          "p99 / alone",
          "busy pages 200/s",
          "users read/s",
          "busy 429s",
          "server cores busy",
          "p99 per run (ms)",
          "load gen. event-loop lag p99 (ms)",
        ],
        rows,
      ),
    );
    emit();
    emit("Small tenants' p99 latency (ms) by request:");
    emit();
    emit(
      mdTable(
        ["phase", ...OPS],
        [...merged].map(([name, m]) => [name, ...OPS.map((op) => fmtMs(percentile(sortedMs(m.small.filter((x) => x.op === op)), 99)))]),
      ),
    );
    emit();
    const firstErrors = [...merged.values()].flatMap((m) => m.smallErrors).slice(0, 3);
    if (firstErrors.length) {
      emit(`First small-tenant errors: ${firstErrors.map((e) => `\`${e}\``).join("; ")}`);
      emit();
    }
    emit("Small directories after the run (expected users = seeded + created by the loop):");
    emit();
    emit(mdTable(["directory", "SCIM answer", "expected users", "SCIM totalResults", "admin API status users", "all there"], checks));
    emit();
    emit(
      `Small tenants' p99 under 1 pager / alone: **${fmtRatio(p99Ratio.get(ONE_PAGER.name)!)}** (goal ≤ 3), under 4 pagers / alone: **${fmtRatio(p99Ratio.get(FOUR_PAGERS.name)!)}** (goal ≤ 4), ` +
        `under the admin lister / alone: **${fmtRatio(p99Ratio.get(ADMIN_LISTER.name)!)}** (goal ≤ 3), under 2 searchers / alone: **${fmtRatio(p99Ratio.get(TWO_SEARCHERS.name)!)}** (goal ≤ 3); small-tenant errors: **${smallErrors}**, busy errors (not 429): ${busyErrors}, ` +
        `small directories with missing users: ${missing} (goal 0).`,
    );
    emit();
    emit(
      `Node ${process.version}, ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}; load average at start ${loadAtStart}, at end ${load()} ` +
        `(the load generator shares the machine with the server; the machine may be shared). Part run time ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    );
    emit();
    targets.push({ name: "(FAIRNESS) small tenants' p99 under 1 pager / alone", goal: 3, value: p99Ratio.get(ONE_PAGER.name)!, detail: `${SMALL_DIRECTORIES} small tenants, B ${BUSY_USERS} users`, max: true });
    targets.push({ name: "(FAIRNESS) small tenants' p99 under 4 pagers / alone", goal: 4, value: p99Ratio.get(FOUR_PAGERS.name)!, detail: "", max: true });
    targets.push({ name: "(FAIRNESS) small tenants' p99 under the admin lister / alone", goal: 3, value: p99Ratio.get(ADMIN_LISTER.name)!, detail: "", max: true });
    targets.push({ name: "(FAIRNESS) small tenants' p99 under 2 searchers (sorted by groups.display) / alone", goal: 3, value: p99Ratio.get(TWO_SEARCHERS.name)!, detail: "", max: true });
    targets.push({ name: "(FAIRNESS) errors (small tenants' non-2xx, busy non-2xx other than 429) + small directories missing users", goal: 0, value: smallErrors + busyErrors + missing, detail: "", max: true });
  } finally {
    stopSmall.abort();
    await Promise.all(smallLoops);
    if (service) await stopServer(service);
    rmSync(tmp, { recursive: true, force: true });
  }

  writeReport("results-fairness.md", "Directory-sync service: fairness between directories", lines, "FAIRNESS");
  return { lines, targets };
}

runWhenMain(import.meta.url, fairnessReport);

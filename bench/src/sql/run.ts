/**
 * (SQL) scim-store-sql on 1,000,000 users, per dialect (SQLite file, PostgreSQL schema), side by
 * side in one process: every request through the store, the same request as a hand-written raw
 * prepared statement through the same driver on the same indexes (the physical limit), and
 * scim-core's memoryStore seeded with the same users.
 *
 *   lookups      userName eq, externalId eq, emails[type eq "work" and value eq ...] (store.query)
 *   paging       100 per page at offsets 0, N/2, 0.9N, by index (startIndex) and by cursor (RFC 9865)
 *   member PATCH add + remove of one user on a 100,000-member and on a 10-member group, through
 *                store.addMembers/removeMembers and through createScimServer's PATCH /Groups/{id}
 *
 * Each case's sides run in interleaved rounds (src/sql/timing.ts); median and p95 per request.
 * Results go to bench/results-sql.md (a run restricted to some dialects prints only).
 *
 * The work runs in a child process (`node --max-old-space-size=... --expose-gc --import tsx`) so
 * that memoryStore's million users fit in the heap: `sqlReport()` starts it and collects its report.
 *
 * Knobs (all optional): BENCH_SQL_USERS (1000000; 100000 with BENCH_QUICK=1), BENCH_SQL_DIALECTS
 * (sqlite,postgres), BENCH_SQL_MEMORY=0 (no memoryStore), BENCH_SQL_CHUNK (users per import
 * transaction, 10000), BENCH_SQL_KEEP=1 (development: keep the loaded databases in
 * $TMPDIR/scim-bench-sql-keep and schema scim_bench, and reuse them on the next run),
 * BENCH_SQL_EXPLAIN=0 (no query plans), BENCH_QUICK=1 (short timings). PostgreSQL:
 * SCIM_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { spawn } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import v8 from "node:v8";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createScimServer, parseFilter, type Filter, type MemberValue, type ScimStore, type StoreQuery } from "scim-core";
import { referencesMembership } from "scim-store-sql";
import { mdTable, type Target } from "../harness.js";
import type { Backend, RawQueries, RawQueryName, RawRow, Statement } from "./backend.js";
import { TENANT, largeGroupMembers, outsiders, randomUsers, smallGroupMembers, userKeys } from "./data.js";
import { LARGE_GROUP_ID, SMALL_GROUP_ID, loadMemory, loadSql, type MemoryLoadReport } from "./load.js";
import { openPostgresBackend } from "./postgres.js";
import { openSqliteBackend } from "./sqlite.js";
import { SubTimings, fmtNs, fullGc, interleaveAsync, median, pairedRatio, timed, type Side, type Stat, type TimingOptions } from "./timing.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = join(HERE, "..", "..");

const QUICK = process.env.BENCH_QUICK === "1";
const USERS = Number(process.env.BENCH_SQL_USERS ?? (QUICK ? 100_000 : 1_000_000));
type Dialect = "sqlite" | "postgres";
const ALL_DIALECTS: Dialect[] = ["sqlite", "postgres"];
const DIALECTS = (process.env.BENCH_SQL_DIALECTS ?? "sqlite,postgres")
  .split(",")
  .map((s) => s.trim().toLowerCase())
  .filter((s): s is Dialect => (ALL_DIALECTS as string[]).includes(s));
const MEMORY = process.env.BENCH_SQL_MEMORY !== "0";
const KEEP = process.env.BENCH_SQL_KEEP === "1";
const EXPLAIN = process.env.BENCH_SQL_EXPLAIN !== "0";
const CHUNK = Number(process.env.BENCH_SQL_CHUNK ?? 10_000);
/** Changes whenever the generated data changes (invalidates kept databases). */
const DATA_VERSION = "1";
const TIMING: TimingOptions = QUICK
  ? { warmupMs: 60, roundMs: 80, rounds: 3, minIterations: 3, maxIterations: 5_000 }
  : { warmupMs: 300, roundMs: 300, rounds: 7, minIterations: 5, maxIterations: 20_000 };
const PAGE = 100;
/** Page size of the untimed cursor walk to the far offsets (RFC 9865 lets count change between pages). */
const WALK = 10_000;
/** Distinct random users the lookups cycle through. */
const KEYS = 1000;
const OFFSETS = [0, Math.floor(USERS * 0.5), Math.floor(USERS * 0.9)];
const ctx = { tenant: TENANT };
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";


// ---------------------------------------------------------------------------------------------
// What is measured

type SubjectId = Dialect | "memory";
const SUBJECT_LABEL: Record<SubjectId, string> = { sqlite: "SQLite", postgres: "PostgreSQL", memory: "memoryStore" };

/** A store under test, with the cursors and seqs of the paging offsets. */
interface Subject {
  id: SubjectId;
  store: ScimStore;
  backend?: Backend;
  server: ReturnType<typeof createScimServer>;
  cursors: Map<number, string>;
  /** seq of the row just before each offset (raw keyset paging). */
  seqs: Map<number, number>;
}

interface QueryCase {
  id: string;
  label: string;
  block: "lookups" | "paging";
  offset?: number;
  paging?: "index" | "cursor";
  query(subject: Subject, i: number): StoreQuery;
  raw(subject: Subject, i: number): { name: RawQueryName; args: unknown[] };
  expected(i: number): string[];
}

function queryCases(): QueryCase[] {
  const picks = randomUsers(USERS, KEYS, 101).map(userKeys);
  const filters = (text: (k: (typeof picks)[number]) => string) => picks.map((k) => parseFilter(text(k)));
  const byUserName = filters((k) => `userName eq ${JSON.stringify(k.userName)}`);
  const byExternalId = filters((k) => `externalId eq ${JSON.stringify(k.externalId)}`);
  const byEmail = filters((k) => `emails[type eq "work" and value eq ${JSON.stringify(k.workEmail)}]`);
  const one = (i: number) => [picks[i % KEYS].id];
  const cases: QueryCase[] = [
    {
      id: "userName",
      label: 'userName eq "…"',
      block: "lookups",
      query: (_, i) => ({ filter: byUserName[i % KEYS], startIndex: 1, count: PAGE, deadline: serverDeadline() }),
      raw: (_, i) => ({ name: "byUserName", args: [picks[i % KEYS].userName.toLowerCase(), PAGE] }),
      expected: one,
    },
    {
      id: "externalId",
      label: 'externalId eq "…"',
      block: "lookups",
      query: (_, i) => ({ filter: byExternalId[i % KEYS], startIndex: 1, count: PAGE, deadline: serverDeadline() }),
      raw: (_, i) => ({ name: "byExternalId", args: [picks[i % KEYS].externalId, PAGE] }),
      expected: one,
    },
    {
      id: "email",
      label: 'emails[type eq "work" and value eq "…"]',
      block: "lookups",
      query: (_, i) => ({ filter: byEmail[i % KEYS], startIndex: 1, count: PAGE, deadline: serverDeadline() }),
      raw: (_, i) => ({ name: "byWorkEmail", args: [picks[i % KEYS].workEmail.toLowerCase(), PAGE] }),
      expected: one,
    },
  ];
  const pageIds = (offset: number) => () => Array.from({ length: Math.min(PAGE, USERS - offset) }, (_, k) => userKeys(offset + k).id);
  for (const offset of OFFSETS) {
    cases.push({
      id: `index@${offset}`,
      label: `page of ${PAGE} at offset ${offset.toLocaleString("en")}, by index`,
      block: "paging",
      offset,
      paging: "index",
      query: () => ({ startIndex: offset + 1, count: PAGE, deadline: serverDeadline() }),
      raw: () => ({ name: "pageAtOffset", args: [offset, PAGE] }),
      expected: pageIds(offset),
    });
    cases.push({
      id: `cursor@${offset}`,
      label: `page of ${PAGE} at offset ${offset.toLocaleString("en")}, by cursor`,
      block: "paging",
      offset,
      paging: "cursor",
      query: (s) => ({ cursor: s.cursors.get(offset)!, count: PAGE, deadline: serverDeadline() }),
      // One row more than the page, as the store reads, to know whether a next page exists.
      raw: (s) => ({ name: "pageAfterSeq", args: [s.seqs.get(offset)!, PAGE + 1] }),
      expected: pageIds(offset),
    });
  }
  return cases;
}

const idsOf = (rows: { id: string }[], n = PAGE) => rows.slice(0, n).map((r) => r.id);

/** The deadline the server gives every list query (`maxQueryMs`, 10 s by default): the store's lookups are timed as the server runs them. */
const serverDeadline = () => Date.now() + 10_000;

function runRaw(raw: RawQueries, call: { name: RawQueryName; args: unknown[] }): Promise<RawRow[]> {
  return (raw[call.name] as (...args: unknown[]) => Promise<RawRow[]>)(...call.args);
}

async function storeIds(subject: Subject, c: QueryCase, i: number): Promise<string[]> {
  const result = await subject.store.query(ctx, "User", c.query(subject, i));
  return idsOf(result.resources);
}

// ---------------------------------------------------------------------------------------------
// Report helpers

const out: string[] = [];
function emit(md = ""): void {
  console.log(md);
  out.push(md);
}
function progress(text: string): void {
  process.stderr.write(`[sql] ${text}\n`);
}
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
const fmtRatio = (x: number) => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x` : "–");
const cell = (s: Stat | undefined) => (s ? fmtNs(s.median) : "–");
const cellP95 = (s: Stat | undefined) => (s ? fmtNs(s.p95) : "–");
const loadAvg = () => os.loadavg().map((x) => x.toFixed(2)).join(", ");

// ---------------------------------------------------------------------------------------------

async function openBackend(dialect: Dialect): Promise<Backend> {
  const keep = KEEP ? { users: USERS, dataVersion: DATA_VERSION } : undefined;
  return dialect === "sqlite" ? openSqliteBackend({ keep }) : openPostgresBackend({ keep });
}

/** Walks with the cursor (pages of WALK, untimed) from `cursor` at `from` until `to` users are behind it. */
async function walkCursor(store: ScimStore, cursor: string, from: number, to: number): Promise<string> {
  let at = from;
  while (at < to) {
    const count = Math.min(WALK, to - at);
    const r = await store.query(ctx, "User", { cursor, count });
    if (r.nextCursor === undefined) throw new Error(`cursor walk ended at ${at + r.resources.length}`);
    cursor = r.nextCursor;
    at += count;
  }
  return cursor;
}

async function benchmark(): Promise<{ lines: string[]; targets: Target[] }> {
  const started = Date.now();
  const builds = `scim-store-sql ${buildOf("scim-store-sql")}, scim-core ${buildOf("scim-core")}`;
  const targets: Target[] = [];
  const loadAvgStart = loadAvg();

  // --- load ------------------------------------------------------------------------------------
  const backends: Backend[] = [];
  const loadRows: string[][] = [];
  const unavailable: string[] = [];
  for (const dialect of DIALECTS) {
    let b: Backend;
    try {
      b = await openBackend(dialect);
    } catch (e) {
      unavailable.push(`${SUBJECT_LABEL[dialect]}: not measured (${(e as Error).message.split("\n")[0]})`);
      progress(`${dialect} unavailable: ${(e as Error).message}`);
      continue;
    }
    backends.push(b);
    if (b.loaded) {
      progress(`${dialect}: reusing the kept database`);
      loadRows.push([SUBJECT_LABEL[dialect], "reused (BENCH_SQL_KEEP=1)", "", "", mb(await b.sizeBytes()), "", ""]);
      continue;
    }
    progress(`${dialect}: loading ${USERS.toLocaleString("en")} users`);
    const load0 = os.loadavg()[0];
    await b.beforeLoad();
    // One transaction at a time: concurrent ones would interleave the creation order (seq), and
    // every store must hold the same users in the same order for the pages to be the same.
    const parallel = 1;
    const r = await loadSql(b.store, USERS, CHUNK, parallel, (done, ms) => progress(`${dialect}: ${done.toLocaleString("en")} users in ${(ms / 1000).toFixed(0)} s`));
    const t = performance.now();
    const note = await b.afterLoad();
    const afterMs = performance.now() - t;
    await b.markLoaded();
    loadRows.push([
      SUBJECT_LABEL[dialect],
      `${(r.usersMs / 1000).toFixed(0)} s (${Math.round(USERS / (r.usersMs / 1000)).toLocaleString("en")} users/s)`,
      `${(r.groupsMs / 1000).toFixed(1)} s`,
      `${(afterMs / 1000).toFixed(0)} s`,
      mb(await b.sizeBytes()),
      `${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`,
      note,
    ]);
  }
  let memory: MemoryLoadReport | undefined;
  if (MEMORY) {
    progress(`memoryStore: seeding ${USERS.toLocaleString("en")} users`);
    const load0 = os.loadavg()[0];
    memory = loadMemory(USERS, fullGc);
    loadRows.push([
      "memoryStore",
      `${(memory.ms / 1000).toFixed(0)} s (seeding \`memoryStore({ resources })\`, deep-frozen attributes kept without copying)`,
      "(included)",
      "",
      `heap +${mb(memory.heapBytes)}, process RSS ${mb(memory.rssBytes)}`,
      `${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`,
      "",
    ]);
  }

  // --- subjects, cursors -------------------------------------------------------------------------
  const authenticate = () => ({ tenant: TENANT });
  let lastServerError: unknown;
  // The in-memory comparisons read a million users for minutes: no time limit here (maxQueryMs).
  const serverConfig = { authenticate, baseUrl: "https://scim.example.com/scim/v2", onError: (e: unknown) => (lastServerError = e), maxQueryMs: 3_600_000 };
  const subjects: Subject[] = [];
  for (const b of backends)
    subjects.push({ id: b.dialect, store: b.store, backend: b, server: createScimServer({ store: b.store, ...serverConfig }), cursors: new Map(), seqs: new Map() });
  if (memory) subjects.push({ id: "memory", store: memory.store, server: createScimServer({ store: memory.store, ...serverConfig }), cursors: new Map(), seqs: new Map() });
  for (const s of subjects) {
    let cursor = "";
    let at = 0;
    for (const offset of OFFSETS) {
      const t = performance.now();
      cursor = await walkCursor(s.store, cursor, at, offset);
      at = offset;
      s.cursors.set(offset, cursor);
      if (s.backend) s.seqs.set(offset, offset === 0 ? 0 : await s.backend.raw.seqAt(offset - 1));
      if (offset > 0) progress(`${s.id}: cursor walk to ${offset.toLocaleString("en")} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  }

  // --- checks: every side answers correctly before it is timed -----------------------------------
  const cases = queryCases();
  const problems: string[][] = [];
  const broken = new Set<string>();
  const sideName = (c: string, s: SubjectId, kind: string) => `${c}|${s}|${kind}`;
  for (const c of cases)
    for (const s of subjects) {
      const kinds: [string, (i: number) => Promise<string[]>][] = [["store", (i) => storeIds(s, c, i)]];
      if (s.backend) kinds.push(["raw", async (i) => idsOf(await runRaw(s.backend!.raw, c.raw(s, i)))]);
      for (const [kind, run] of kinds) {
        for (const i of [0, 1, 7]) {
          try {
            const t0 = performance.now();
            const got = await run(i);
            const slow = performance.now() - t0 > 2000;
            const want = c.expected(i);
            if (got.join(",") !== want.join(",")) {
              problems.push([c.label, SUBJECT_LABEL[s.id], kind, `wrong result: ${got.length} ids (${got.slice(0, 2).join(", ")}…), expected ${want.length} (${want.slice(0, 2).join(", ")}…)`]);
              broken.add(sideName(c.id, s.id, kind));
              break;
            }
            if (slow) break; // one check is enough for a request that takes seconds
          } catch (e) {
            problems.push([c.label, SUBJECT_LABEL[s.id], kind, `throws: ${(e as Error).message.split("\n")[0]}`]);
            broken.add(sideName(c.id, s.id, kind));
            break;
          }
        }
      }
    }

  // --- timing: lookups and paging ----------------------------------------------------------------
  // memoryStore's sides run in rounds of their own, after the SQL ones: its scans of a million
  // resources allocate tens of MB per request, and the major GCs that garbage triggers in a
  // multi-GB heap would otherwise land on the SQL sides' time.
  const stats = new Map<string, Stat>();
  // Index and cursor pages run in separate rounds: LIMIT/OFFSET at 900,000 on PostgreSQL reads
  // ~1.8 GB of heap pages, which evicts the OS page cache the cursor pages are measured on.
  // Cheap cases get more rounds (the ratios are medians of per-round ratios): the machine is shared.
  const blocks: [string, (c: QueryCase) => boolean, TimingOptions][] = [
    ["lookups", (c) => c.block === "lookups", { ...TIMING, rounds: TIMING.rounds * 2 - 1 }],
    ["cursor pages", (c) => c.paging === "cursor", { ...TIMING, rounds: TIMING.rounds * 2 + 1 }],
    ["index pages", (c) => c.paging === "index", TIMING],
  ];
  for (const [block, inBlock, timing] of blocks)
    for (const group of ["sql", "memory"] as const) {
      const sides: Side[] = [];
      for (const c of cases.filter(inBlock))
        for (const s of subjects.filter((x) => (group === "memory") === (x.id === "memory"))) {
          if (!broken.has(sideName(c.id, s.id, "store"))) sides.push({ name: sideName(c.id, s.id, "store"), call: (i) => s.store.query(ctx, "User", c.query(s, i)) });
          if (s.backend && !broken.has(sideName(c.id, s.id, "raw"))) sides.push({ name: sideName(c.id, s.id, "raw"), call: (i) => runRaw(s.backend!.raw, c.raw(s, i)) });
        }
      if (!sides.length) continue;
      progress(`timing ${block} (${group}): ${sides.length} sides, ${timing.rounds} rounds (load average ${loadAvg()})`);
      const t = performance.now();
      const result = await interleaveAsync(sides, timing);
      for (const [name, m] of result) stats.set(name, m.get("")!);
      if (group === "memory") fullGc();
      progress(`timing ${block} (${group}): ${((performance.now() - t) / 1000).toFixed(0)} s`);
    }

  // --- member PATCH ------------------------------------------------------------------------------
  const pool = outsiders(USERS, 200, 7).map((i) => userKeys(i).id);
  const groups = { large: LARGE_GROUP_ID, small: SMALL_GROUP_ID } as const;
  const patchBody = (op: object) => ({ schemas: [PATCH_OP], Operations: [op] });
  const serverPatch = async (s: Subject, groupId: string, op: object) => {
    const res = await s.server.handle({ method: "PATCH", path: `/Groups/${groupId}`, headers: { "content-type": "application/scim+json" }, body: patchBody(op) });
    if (res.status >= 300) throw new Error(`PATCH /Groups answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}${res.status >= 500 ? ` (${String(lastServerError)})` : ""}`);
  };
  type Path = "store" | "raw" | "server";
  const patchCall = (s: Subject, path: Path, groupId: string) => async (i: number) => {
    const user = pool[i % pool.length];
    const member: MemberValue = { value: user, type: "User" };
    if (path === "store") return new SubTimings({ add: await timed(() => s.store.addMembers(ctx, groupId, [member])), remove: await timed(() => s.store.removeMembers(ctx, groupId, [user])) });
    if (path === "raw") return new SubTimings({ add: await timed(() => s.backend!.raw.addMember(groupId, user)), remove: await timed(() => s.backend!.raw.removeMember(groupId, user)) });
    return new SubTimings({
      add: await timed(() => serverPatch(s, groupId, { op: "add", path: "members", value: [{ value: user }] })),
      remove: await timed(() => serverPatch(s, groupId, { op: "remove", path: `members[value eq "${user}"]` })),
    });
  };
  const isMember = async (s: Subject, groupId: string, user: string) => (await s.store.groupsOf(ctx, user)).some((g) => g.value === groupId);
  const patchSides: Record<"api" | "server", Side[]> = { api: [], server: [] };
  for (const s of subjects)
    for (const path of ["store", "raw", "server"] as Path[]) {
      if (path === "raw" && !s.backend) continue;
      for (const size of ["large", "small"] as const) {
        const name = `patch|${s.id}|${path}|${size}`;
        const call = patchCall(s, path, groups[size]);
        try {
          // Check: the member is there after an add, and gone after add + remove.
          const user = pool[0];
          await call(0);
          if (await isMember(s, groups[size], user)) throw new Error("the member is still there after add + remove");
          if (path === "store") await s.store.addMembers(ctx, groups[size], [{ value: user, type: "User" }]);
          else if (path === "raw") await s.backend!.raw.addMember(groups[size], user);
          else await serverPatch(s, groups[size], { op: "add", path: "members", value: [{ value: user }] });
          const added = await isMember(s, groups[size], user);
          await s.store.removeMembers(ctx, groups[size], [user]);
          if (!added) throw new Error("the member is missing after add");
          patchSides[path === "server" ? "server" : "api"].push({ name, call });
        } catch (e) {
          problems.push([`member PATCH (${path}, ${size} group)`, SUBJECT_LABEL[s.id], path, `fails: ${(e as Error).message.split("\n")[0]}`]);
        }
      }
    }
  for (const [block, sides] of Object.entries(patchSides)) {
    if (!sides.length) continue;
    const timing = { ...TIMING, rounds: TIMING.rounds * 2 + 1 };
    progress(`timing member PATCH (${block}): ${sides.length} sides, ${timing.rounds} rounds (load average ${loadAvg()})`);
    const result = await interleaveAsync(sides, timing);
    for (const [name, m] of result) for (const [key, st] of m) stats.set(`${name}|${key}`, st);
  }
  const groupSizes: string[] = [];
  for (const s of subjects)
    for (const size of ["large", "small"] as const) {
      const g = await s.store.get(ctx, "Group", groups[size], { members: true });
      groupSizes.push(`${SUBJECT_LABEL[s.id]} ${size}: ${g?.members?.length.toLocaleString("en") ?? "missing"}`);
    }

  // --- membership check (Entra) -------------------------------------------------------------------
  // `GET /Groups?filter=id eq "<group>" and members eq "<user>"&attributes=id`, as Entra sends it
  // before it removes a member. The SQL stores run the filter in SQL (members from their rows);
  // "in memory" is the same server over the same store declaring members filters unsupported (as
  // scim-store-sql did before), so that the server reads the groups with their members and filters.
  const memberOf = { large: userKeys(largeGroupMembers(USERS)[1]!).id, small: userKeys(smallGroupMembers(USERS)[1]!).id } as const;
  const outsider = pool[3]!;
  type CheckPath = "sql" | "memory";
  const inMemoryServer = (s: Subject) => {
    const store = Object.create(s.store, { capabilities: { value: { ...s.store.capabilities, filter: (f: Filter) => !referencesMembership(f) } } }) as ScimStore;
    return createScimServer({ store, ...serverConfig });
  };
  const checkServers = new Map(subjects.map((s) => [s.id, { sql: s.server, memory: s.backend ? inMemoryServer(s) : s.server }]));
  const membershipCheck = (s: Subject, path: CheckPath, size: "large" | "small") => async (i: number) => {
    const member = i % 2 === 0;
    const user = member ? memberOf[size] : outsider;
    const query = `filter=${encodeURIComponent(`id eq "${groups[size]}" and members eq "${user}"`)}&attributes=id`;
    const res = await checkServers.get(s.id)![path].handle({ method: "GET", path: "/Groups", query, headers: {} });
    const total = (res.body as { totalResults?: number }).totalResults;
    if (res.status !== 200 || total !== (member ? 1 : 0)) throw new Error(`membership check answered ${res.status} with ${total} results (expected ${member ? 1 : 0})`);
  };
  const checkSides: Side[] = [];
  for (const s of subjects)
    for (const path of (s.backend ? ["sql", "memory"] : ["memory"]) as CheckPath[])
      for (const size of ["large", "small"] as const) {
        const name = `check|${s.id}|${path}|${size}`;
        const call = membershipCheck(s, path, size);
        try {
          await call(0);
          await call(1);
          checkSides.push({ name, call });
        } catch (e) {
          problems.push([`membership check (${path}, ${size} group)`, SUBJECT_LABEL[s.id], path, `fails: ${(e as Error).message.split("\n")[0]}`]);
        }
      }
  if (checkSides.length) {
    progress(`timing membership checks: ${checkSides.length} sides, ${TIMING.rounds} rounds (load average ${loadAvg()})`);
    const result = await interleaveAsync(checkSides, TIMING);
    for (const [name, m] of result) stats.set(name, m.get("")!);
    fullGc();
  }

  // --- User.groups lookup --------------------------------------------------------------------------
  // `GET /Users?filter=groups.value eq "<group>"&attributes=id`: the users of a group, through the
  // derived User.groups. The SQL stores run it in SQL (from the group's membership rows); "in
  // memory" is the same server over the same store declaring `groups` filters unsupported, as
  // scim-store-sql did before, so that the server reads every user, with its groups, to filter.
  // In memory only for the small group (it reads the whole table either way).
  const groupsLookup = (s: Subject, path: CheckPath, size: "large" | "small") => async () => {
    const query = `filter=${encodeURIComponent(`groups.value eq "${groups[size]}"`)}&attributes=id`;
    const res = await checkServers.get(s.id)![path].handle({ method: "GET", path: "/Users", query, headers: {} });
    const total = (res.body as { totalResults?: number }).totalResults;
    const want = size === "small" ? 10 : Math.min(100_000, Math.ceil(USERS / 10));
    if (res.status !== 200 || total !== want) throw new Error(`groups lookup answered ${res.status} with ${total} results (expected ${want})`);
  };
  const lookupSides: Side[] = [];
  for (const s of subjects)
    for (const path of (s.backend ? ["sql", "memory"] : ["memory"]) as CheckPath[])
      for (const size of (path === "sql" ? ["large", "small"] : ["small"]) as Array<"large" | "small">) {
        const name = `groups|${s.id}|${path}|${size}`;
        const call = groupsLookup(s, path, size);
        try {
          await call();
          lookupSides.push({ name, call });
        } catch (e) {
          problems.push([`User.groups lookup (${path}, ${size} group)`, SUBJECT_LABEL[s.id], path, `fails: ${(e as Error).message.split("\n")[0]}`]);
        }
      }
  if (lookupSides.length) {
    progress(`timing User.groups lookups: ${lookupSides.length} sides, ${TIMING.rounds} rounds (load average ${loadAvg()})`);
    const result = await interleaveAsync(lookupSides, TIMING);
    for (const [name, m] of result) stats.set(name, m.get("")!);
    fullGc();
  }

  if (process.env.BENCH_SQL_DUMP) writeFileSync(process.env.BENCH_SQL_DUMP, JSON.stringify(Object.fromEntries(stats), null, 1));

  // --- query plans -------------------------------------------------------------------------------
  const plans: string[] = [];
  if (EXPLAIN) {
    for (const s of subjects.filter((x) => x.backend)) {
      const b = s.backend!;
      for (const c of cases.filter((x) => x.block === "lookups" || x.offset === OFFSETS[OFFSETS.length - 1])) {
        plans.push(`#### ${SUBJECT_LABEL[s.id]}: ${c.label}`, "");
        let statements: Statement[] = [];
        try {
          statements = await b.capture((store) => store.query(ctx, "User", c.query(s, 0)));
        } catch (e) {
          plans.push(`store: throws ${(e as Error).message.split("\n")[0]}`, "");
        }
        const show = async (title: string, st: Statement) => {
          plans.push(`${title}:`, "", "```sql", `${st.sql.replace(/\s+/g, " ").trim()}`, `-- parameters: ${JSON.stringify(st.parameters)}`, "```", "");
          try {
            plans.push("```", await b.explain(st), "```", "");
          } catch (e) {
            plans.push(`(EXPLAIN failed: ${(e as Error).message.split("\n")[0]})`, "");
          }
        };
        for (const [k, st] of statements.entries()) await show(`store statement ${k + 1} of ${statements.length}`, st);
        const r = c.raw(s, 0);
        await show("raw statement", b.rawStatement(r.name, ...r.args));
      }
      for (const size of ["large"] as const) {
        const user = pool[1];
        const add = await b.capture(async (store) => {
          await store.addMembers(ctx, groups[size], [{ value: user, type: "User" }]);
        });
        await s.store.removeMembers(ctx, groups[size], [user]);
        plans.push(`#### ${SUBJECT_LABEL[s.id]}: store.addMembers on the ${size} group`, "", "```sql", ...add.map((st) => `${st.sql.replace(/\s+/g, " ").trim()};  -- ${JSON.stringify(st.parameters)}`), "```", "");
      }
    }
  }

  // --- report ------------------------------------------------------------------------------------
  const cpus = os.cpus();
  emit("# scim-store-sql benchmark");
  emit();
  emit(
    `Node ${process.version}, ${cpus[0]?.model ?? "?"} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB RAM, ${new Date().toISOString()}. ` +
      `Load average at start ${loadAvgStart}, at end ${loadAvg()}: the machine is shared with other work, so absolute times move with load; ` +
      `ratios, measured in interleaved rounds, much less.`,
  );
  emit();
  emit(`- ${builds} (as loaded when the run started).`);
  for (const b of backends) emit(`- ${SUBJECT_LABEL[b.dialect]}: ${b.description}.`);
  if (memory) emit(`- memoryStore: scim-core's \`memoryStore()\`, in the same process (heap limit ${mb(v8.getHeapStatistics().heap_size_limit)}).`);
  for (const u of unavailable) emit(`- ${u}`);
  emit();
  emit(
    `Data: ${USERS.toLocaleString("en")} generated Users (src/sql/data.ts: userName, externalId, name, displayName, title, locale, active, ` +
      `emails work + home, phoneNumbers, addresses, enterprise extension; ~1.3 KB of JSON each), one group with ` +
      `${Math.min(100_000, Math.ceil(USERS / 10)).toLocaleString("en")} members and one with 10, all in tenant \`${TENANT}\`.`,
  );
  emit();
  emit(
    `Method: per request latency, every request timed on its own, all in one process. The sides of a group of cases (store and raw ` +
      `statement on every dialect) run in interleaved rounds (${TIMING.warmupMs} ms warm-up per side, then ${TIMING.rounds * 2 - 1} rounds for lookups, ${TIMING.rounds * 2 + 1} for cursor ` +
      `pages and member PATCHes, ${TIMING.rounds} for index pages, in which every ` +
      `side runs ~${TIMING.roundMs} ms and at least ${TIMING.minIterations} requests, the order reversed every other round, a young-generation ` +
      `GC before each turn; a side slower than 2 s per request runs once per round, in 3 rounds after the others, so that its scans do not ` +
      `evict the caches the others use). The groups: lookups; cursor pages; index pages (apart, because LIMIT/OFFSET deep into the ` +
      `table reads GBs through the OS page cache and would evict what the cursor pages read). memoryStore's lookups and pages ` +
      `run in interleaved rounds of their own right after (its full scans allocate tens of MB per request, and the major GCs of its ` +
      `multi-GB heap must not land on the SQL sides' time); the member PATCH sides of all stores run together. Median and p95 are over all ` +
      `timed requests; a ratio is the median of the per-round ratios of medians. Lookups cycle through ${KEYS} random existing users and ask for ` +
      `\`startIndex=1, count=${PAGE}\` as a server would. The raw statement is the same request written by hand as a prepared statement on the ` +
      `same driver and indexes, with the same work on the result (the document parsed: JSON.parse on SQLite, jsonb parsed by pg): the ` +
      `physical limit. It returns the rows only (no totalResults: for a lookup the count is implied by a page that is not full). Cursor pages: ` +
      `the cursor is walked to the offset first (untimed, pages of ${WALK.toLocaleString("en")}), then the page after it is fetched repeatedly with ` +
      `the same cursor; at offset 0 the cursor is "" (the first page).`,
  );
  emit();
  emit("## Load");
  emit();
  emit(
    `SQL stores: \`store.importResources\` in one transaction per ${CHUNK.toLocaleString("en")} users, one transaction at a time (concurrent ones would ` +
      `interleave the creation order, and every store must hold the same users in the same order), then the two groups in one call.`,
  );
  emit();
  emit(mdTable(["store", "users", "groups", "after load", "size", "load average (1 min) start → end", "notes"], loadRows));
  emit();
  if (problems.length) {
    emit("## Sides excluded or failing");
    emit();
    emit(mdTable(["request", "store", "side", "problem"], problems));
    emit();
  }

  // Per dialect: store vs raw.
  const get = (c: string, s: SubjectId, kind: string) => stats.get(sideName(c, s, kind));
  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  for (const s of subjects.filter((x) => x.backend)) {
    emit(`## ${SUBJECT_LABEL[s.id]}: store vs raw statement`);
    emit();
    const rows = cases.map((c) => {
      const st = get(c.id, s.id, "store");
      const rw = get(c.id, s.id, "raw");
      const ratio = pairedRatio(st, rw);
      let goal = "";
      if (c.block === "lookups") {
        goal = `≤ 2x ${st && rw ? verdict(ratio <= 2) : "MISS (not measured)"}`;
        targets.push({ name: `(SQL) ${s.id}: ${c.label} store / raw`, goal: 2, value: st && rw ? ratio : NaN, detail: "", max: true });
      }
      return [c.label, cell(st), cellP95(st), st ? String(st.n) : "", cell(rw), cellP95(rw), fmtRatio(ratio), goal];
    });
    emit(mdTable(["request", "store median", "store p95", "n", "raw median", "raw p95", "store / raw", "target"], rows));
    emit();
  }

  // Paging flatness.
  {
    const far = OFFSETS[OFFSETS.length - 1];
    const rows: string[][] = [];
    for (const s of subjects)
      for (const kind of s.backend ? ["store", "raw"] : ["store"])
        for (const paging of ["index", "cursor"] as const) {
          const st = OFFSETS.map((o) => get(`${paging}@${o}`, s.id, kind));
          const ratio = pairedRatio(st[st.length - 1], st[0]);
          let goal = "";
          if (paging === "cursor" && kind === "store") {
            goal = `≤ 1.5x ${st[0] && st[st.length - 1] ? verdict(ratio <= 1.5) : "MISS (not measured)"}`;
            if (s.backend) targets.push({ name: `(SQL) ${s.id}: cursor page at ${far.toLocaleString("en")} / at 0 (flat)`, goal: 1.5, value: ratio, detail: "", max: true });
          }
          rows.push([`${SUBJECT_LABEL[s.id]} ${kind === "raw" ? "raw statement" : s.backend ? "store" : ""}`.trim(), paging, ...st.map((x) => (x ? `${fmtNs(x.median)} (p95 ${fmtNs(x.p95)})` : "–")), fmtRatio(ratio), goal]);
        }
    emit(`## Paging: ${PAGE} per page, by offset`);
    emit();
    emit(
      `Median (p95) per page. "Flat" means the page at offset ${far.toLocaleString("en")} costs at most 1.5x the page at offset 0. Index paging ` +
        `(LIMIT/OFFSET) is expected to grow with the offset on every store; the raw rows show the same statement's own cost.`,
    );
    emit();
    emit(mdTable(["store", "paging", ...OFFSETS.map((o) => `offset ${o.toLocaleString("en")}`), `${far.toLocaleString("en")} / 0`, "target"], rows));
    emit();
  }

  // Side by side.
  {
    const cols = subjects.flatMap((s) => (s.backend ? [[s.id, "store"], [s.id, "raw"]] : [[s.id, "store"]])) as [SubjectId, string][];
    emit("## Side by side (medians)");
    emit();
    emit(mdTable(["request", ...cols.map(([s, k]) => (s === "memory" ? "memoryStore" : `${SUBJECT_LABEL[s]} ${k}`))], cases.map((c) => [c.label, ...cols.map(([s, k]) => cell(get(c.id, s, k)))])));
    emit();
  }

  // Member PATCH.
  {
    const rows: string[][] = [];
    for (const s of subjects)
      for (const path of ["store", "raw", "server"] as Path[])
        for (const op of ["add", "remove"]) {
          const large = stats.get(`patch|${s.id}|${path}|large|${op}`);
          const small = stats.get(`patch|${s.id}|${path}|small|${op}`);
          if (!large && !small) continue;
          const ratio = pairedRatio(large, small);
          let goal = "";
          if (path !== "raw" && s.backend) {
            goal = `≤ 2x ${large && small ? verdict(ratio <= 2) : "MISS (not measured)"}`;
            targets.push({ name: `(SQL) ${s.id}: member ${op} via ${path === "server" ? "server PATCH" : "store API"}, 100k group / 10 group`, goal: 2, value: ratio, detail: "", max: true });
          }
          const pathLabel = path === "store" ? "store.addMembers / removeMembers" : path === "raw" ? "raw statements (1 transaction)" : "server.handle PATCH /Groups/{id}";
          rows.push([SUBJECT_LABEL[s.id], pathLabel, op, large ? `${fmtNs(large.median)} (p95 ${fmtNs(large.p95)})` : "–", small ? `${fmtNs(small.median)} (p95 ${fmtNs(small.p95)})` : "–", fmtRatio(ratio), goal]);
        }
    emit("## Member PATCH: 100,000-member group vs 10-member group");
    emit();
    emit(
      `Each request adds one user that is in no group, then removes it again (so the groups keep their size), each timed. Server path: ` +
        `\`createScimServer({ store })\`, \`handle({ method: "PATCH", path: "/Groups/<id>", body: PatchOp add members [{ value }] })\`, then ` +
        `\`remove\` with path \`members[value eq "<id>"]\`; both answer 204. Group sizes after the run: ${groupSizes.join("; ")}.`,
    );
    emit();
    emit(mdTable(["store", "path", "op", `${Math.min(100_000, Math.ceil(USERS / 10)).toLocaleString("en")}-member group median (p95)`, "10-member group median (p95)", "large / small", "target"], rows));
    emit();
    // Store API vs raw on the same group.
    const rawRows: string[][] = [];
    for (const s of subjects.filter((x) => x.backend))
      for (const size of ["large", "small"] as const)
        for (const op of ["add", "remove"]) {
          const st = stats.get(`patch|${s.id}|store|${size}|${op}`);
          const rw = stats.get(`patch|${s.id}|raw|${size}|${op}`);
          const sv = stats.get(`patch|${s.id}|server|${size}|${op}`);
          rawRows.push([SUBJECT_LABEL[s.id], `${size} group`, op, cell(st), cell(rw), fmtRatio(pairedRatio(st, rw)), cell(sv), fmtRatio(pairedRatio(sv, st))]);
        }
    if (rawRows.length) {
      emit("Member deltas against the raw statements, and what the server path adds:");
      emit();
      emit(mdTable(["store", "group", "op", "store API", "raw", "store / raw", "server PATCH", "server / store API"], rawRows));
      emit();
    }
  }

  // Membership check.
  {
    const rows: string[][] = [];
    for (const s of subjects)
      for (const path of (s.backend ? ["sql", "memory"] : ["memory"]) as CheckPath[]) {
        const large = stats.get(`check|${s.id}|${path}|large`);
        const small = stats.get(`check|${s.id}|${path}|small`);
        if (!large && !small) continue;
        const ratio = pairedRatio(large, small);
        const inSql = path === "sql";
        if (inSql) targets.push({ name: `(SQL) ${s.id}: membership check (Entra), 100k group / 10 group`, goal: 2, value: ratio, detail: "", max: true });
        const memory = s.backend ? stats.get(`check|${s.id}|memory|large`) : undefined;
        const label = !s.backend ? "server (memoryStore filters in memory)" : inSql ? "server, filter in SQL (members rows)" : "server, filter in memory (the previous behaviour)";
        rows.push([
          SUBJECT_LABEL[s.id],
          label,
          large ? `${fmtNs(large.median)} (p95 ${fmtNs(large.p95)})` : "–",
          small ? `${fmtNs(small.median)} (p95 ${fmtNs(small.p95)})` : "–",
          fmtRatio(ratio),
          inSql ? `≤ 2x ${large && small ? verdict(ratio <= 2) : "MISS (not measured)"}` : "",
          inSql && memory ? fmtRatio(pairedRatio(memory, large)) : "",
        ]);
      }
    emit("## Membership check (Entra): `GET /Groups?filter=id eq \"<group>\" and members eq \"<user>\"&attributes=id`");
    emit();
    emit(
      "Through `createScimServer`'s `handle`, alternating a member and a user in no group (1 and 0 results, checked). The SQL stores run the " +
        "filter in SQL (`filterRunsInSql`: `members` from the group's `scim_members` rows, `members.value eq` on their index); the " +
        "\"in memory\" rows are the same server over the same store declaring `members` filters unsupported, as scim-store-sql did " +
        "before, so that the server reads the groups with all their members and filters them itself.",
    );
    emit();
    emit(mdTable(["store", "path", `${Math.min(100_000, Math.ceil(USERS / 10)).toLocaleString("en")}-member group median (p95)`, "10-member group median (p95)", "large / small", "target", "in memory / in SQL (large group)"], rows));
    emit();
  }

  // User.groups lookup.
  {
    const rows: string[][] = [];
    for (const s of subjects) {
      const large = stats.get(`groups|${s.id}|sql|large`);
      const small = stats.get(`groups|${s.id}|sql|small`);
      const memory = stats.get(`groups|${s.id}|memory|small`);
      if (!large && !small && !memory) continue;
      const cellOf = (st: typeof large) => (st ? `${fmtNs(st.median)} (p95 ${fmtNs(st.p95)})` : "–");
      rows.push([SUBJECT_LABEL[s.id], s.backend ? cellOf(large) : "–", s.backend ? cellOf(small) : "–", cellOf(memory), s.backend && memory && small ? fmtRatio(pairedRatio(memory, small)) : ""]);
    }
    if (rows.length) {
      emit("## User.groups lookup: `GET /Users?filter=groups.value eq \"<group>\"&attributes=id`");
      emit();
      emit(
        "Through `createScimServer`'s `handle` (the members of a group, through the derived `User.groups`; results counted and checked). The SQL " +
          "stores run the filter in SQL (`filterRunsInSql`: the user's groups from the `scim_members` rows that name it; `groups.value eq` from the " +
          "group's membership rows); \"in memory\" is the same server over the same store declaring `groups` filters unsupported, as scim-store-sql " +
          "did before, so that the server reads every user (in chunks of 1,000) and its groups, and filters them itself: only for the small group, " +
          "since it reads the whole table either way. memoryStore evaluates `groups` filters itself, in memory.",
      );
      emit();
      emit(mdTable(["store", `in SQL, ${Math.min(100_000, Math.ceil(USERS / 10)).toLocaleString("en")}-member group median (p95)`, "in SQL, 10-member group median (p95)", "in memory, 10-member group median (p95)", "in memory / in SQL (10-member group)"], rows));
      emit();
    }
  }

  emit("## Targets");
  emit();
  emit(mdTable(["target", "goal", "measured", "result"], targets.map((t) => [t.name, `≤ ${t.goal}x`, fmtRatio(t.value), Number.isFinite(t.value) && t.value <= t.goal ? "PASS" : "MISS"])));
  emit();
  if (plans.length) {
    emit("## Query plans");
    emit();
    emit(
      "The statements the store sent (captured with Kysely's `log` on a second store over the same database) and the raw statement, each " +
        "with its plan: `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL (run inside a rolled-back transaction).",
    );
    emit();
    emit("<details><summary>plans</summary>");
    emit();
    plans.forEach((l) => emit(l));
    emit("</details>");
    emit();
  }
  emit(`SQL part: ${((Date.now() - started) / 1000).toFixed(0)} s; peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}.`);
  emit();

  for (const b of backends) await b.close();
  return { lines: out, targets };
}

/** Version and build time of a workspace package (its dist changes while the packages are being worked on). */
function buildOf(name: string): string {
  try {
    const req = createRequire(import.meta.url);
    const version = (req(`${name}/package.json`) as { version: string }).version;
    const built = statSync(req.resolve(name)).mtime.toISOString().replace(/\.\d+Z$/, "Z");
    return `${version} (dist built ${built})`;
  } catch {
    return "?";
  }
}

// ---------------------------------------------------------------------------------------------
// The child process, and the entry point for src/run.ts

/** Heap for the child: memoryStore keeps ~3.3 GB per million of these users. */
function heapMb(): number {
  if (process.env.BENCH_SQL_HEAP_MB) return Number(process.env.BENCH_SQL_HEAP_MB);
  return MEMORY ? Math.max(4096, Math.ceil((USERS / 1e6) * 8192) + 2048) : 4096;
}

/**
 * Runs the SQL benchmark in a child process with a heap big enough for memoryStore and returns its
 * report; writes bench/results-sql.md unless the run is restricted to some dialects.
 */
export async function sqlReport(): Promise<{ lines: string[]; targets: Target[] }> {
  const heap = heapMb();
  const child = spawn(process.execPath, [`--max-old-space-size=${heap}`, "--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url)], {
    cwd: BENCH_DIR,
    env: { ...process.env, BENCH_SQL_CHILD: "1" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const kill = () => child.kill("SIGTERM");
  process.once("exit", kill);
  const report = await new Promise<{ lines: string[]; targets: Target[] }>((resolve, reject) => {
    let got: { lines: string[]; targets: Target[] } | undefined;
    child.on("message", (m) => (got = m as typeof got));
    child.on("error", reject);
    child.on("exit", (code, signal) => (got ? resolve(got) : reject(new Error(`SQL benchmark process ended (${signal ?? code}) without a report`))));
  });
  process.off("exit", kill);
  const complete = ALL_DIALECTS.every((d) => DIALECTS.includes(d)) && MEMORY;
  if (complete) {
    const file = join(BENCH_DIR, "results-sql.md");
    writeFileSync(file, report.lines.join("\n") + "\n");
    console.log(`SQL part written to ${file}`);
  } else console.log("SQL part restricted (BENCH_SQL_DIALECTS / BENCH_SQL_MEMORY): results-sql.md not written");
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.env.BENCH_SQL_CHILD === "1") {
    benchmark()
      .then((report) => {
        process.send!(report, () => process.exit(0));
      })
      .catch((e) => {
        console.error(e);
        process.exit(1);
      });
  } else {
    // Alone: `tsx src/sql/run.ts`.
    sqlReport()
      .then(() => process.exit(0))
      .catch((e) => {
        console.error(e);
        process.exit(1);
      });
  }
}

/**
 * What every HTTP benchmark server shares: the bearer token, the mount path, the preloaded users
 * (the same seeded 100,000 users in every server: bench/src/users.ts), the readiness report the
 * runner waits for, and the hand-written in-memory store of the same-framework baselines.
 *
 * A server script is started by src/http/run.ts as `node --expose-gc --import tsx <script>` with
 * PORT (0 = any free port) and BENCH_HTTP_USERS in its environment. It listens on 127.0.0.1 only
 * and, once loaded and listening, prints one JSON line `{"ready":true,"port":...,"rss":...}`
 * (memory measured after a forced full GC).
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import inspector from "node:inspector";
import { generateUsers, type User } from "../users.js";

export const TOKEN = "bench-token-7f3a9c1e";
export const BASE = "/scim/v2";
export const TENANT = "bench";
export const SEED = 20240301;
export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";
export const SCIM_JSON = "application/scim+json";

export function userCount(): number {
  return Number(process.env.BENCH_HTTP_USERS ?? 100_000);
}

/** The benchmark's users (deterministic: same seed in every server and in the runner). */
export function loadUsers(n = userCount()): User[] {
  return generateUsers(n, SEED);
}

export function port(): number {
  return Number(process.env.PORT ?? 0);
}

/**
 * Forces a full GC (the scripts run with --expose-gc), prints the readiness line, and arranges the
 * end: on SIGTERM/SIGINT, when the parent closes our stdin (it died; with BENCH_HTTP_PARENT=1), or after
 * BENCH_HTTP_MAX_SECONDS (default 900) at the latest. With BENCH_HTTP_CPU_PROFILE=<file>, CPU
 * profiling starts now (after loading) and the profile is written to that file at the end.
 */
export function ready(boundPort: number, extra: Record<string, unknown> = {}): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  let finish = (): void => process.exit(0);
  const profileFile = process.env.BENCH_HTTP_CPU_PROFILE;
  if (profileFile) {
    const session = new inspector.Session();
    session.connect();
    session.post("Profiler.enable");
    session.post("Profiler.setSamplingInterval", { interval: 200 });
    session.post("Profiler.start");
    let ending = false;
    finish = () => {
      if (ending) return;
      ending = true;
      session.post("Profiler.stop", (err, res) => {
        if (!err) writeFileSync(profileFile, JSON.stringify(res.profile));
        process.exit(0);
      });
    };
  }
  process.on("SIGTERM", () => finish());
  process.on("SIGINT", () => finish());
  if (process.env.BENCH_HTTP_PARENT === "1") process.stdin.on("end", () => finish()).on("error", () => finish()).resume();
  setTimeout(() => finish(), Number(process.env.BENCH_HTTP_MAX_SECONDS ?? 900) * 1000).unref();
  process.stdout.write(JSON.stringify({ ready: true, port: boundPort, rss: m.rss, heapUsed: m.heapUsed, gc: !!gc, ...extra }) + "\n");
}

/** `Bearer <TOKEN>` exactly (the scheme in any case). */
export function authorized(header: string | undefined | null): boolean {
  return typeof header === "string" && header.length === TOKEN.length + 7 && header.slice(0, 7).toLowerCase() === "bearer " && header.slice(7) === TOKEN;
}

export function errorBody(status: number, detail: string, scimType?: string): Record<string, unknown> {
  return { schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}), detail };
}

// ---------------------------------------------------------------------------------------------
// The baselines' store: what a developer writes by hand in an afternoon. A Map by id, a Map by
// lower-cased userName, an array in creation order for paging, a naive PATCH that only knows
// `replace active` (with or without a path), a POST that validates nothing but assigns an id.

export interface ListBody {
  schemas: string[];
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: User[];
}

export class BaselineStore {
  readonly byId = new Map<string, User>();
  readonly byUserName = new Map<string, User>();
  readonly list: User[] = [];

  constructor(users: User[]) {
    for (const u of users) this.add(u);
  }

  private add(u: User): void {
    this.byId.set(u.id, u);
    this.byUserName.set(String(u.userName).toLowerCase(), u);
    this.list.push(u);
  }

  get(id: string): User | undefined {
    return this.byId.get(id);
  }

  /**
   * GET /Users: `userName eq "..."` from the map (any other filter: 400), else a page of the array.
   * The filter is read with a regular expression, no parser.
   */
  query(filter: string | undefined, startIndexRaw: string | undefined, countRaw: string | undefined): ListBody | { error: string } {
    if (filter !== undefined) {
      const m = /^\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(filter);
      if (!m) return { error: "only userName eq is supported" };
      const u = this.byUserName.get(JSON.parse(`"${m[1]}"`).toLowerCase());
      return { schemas: [LIST_SCHEMA], totalResults: u ? 1 : 0, startIndex: 1, itemsPerPage: u ? 1 : 0, Resources: u ? [u] : [] };
    }
    const startIndex = Math.max(1, Number(startIndexRaw ?? 1) | 0);
    const count = Math.min(1000, Math.max(0, countRaw === undefined ? 100 : Number(countRaw) | 0));
    const page = this.list.slice(startIndex - 1, startIndex - 1 + count);
    return { schemas: [LIST_SCHEMA], totalResults: this.list.length, startIndex, itemsPerPage: page.length, Resources: page };
  }

  /** POST: no validation, an id and meta assigned, indexed. */
  create(body: unknown, location: (id: string) => string): User {
    const now = new Date().toISOString();
    const id = randomUUID();
    const u: User = { ...(body as object), id, meta: { resourceType: "User", created: now, lastModified: now, version: 'W/"1"', location: location(id) } };
    this.add(u);
    return u;
  }

  /** PATCH: only `replace` of `active` (path "active", or path-less `{ active }`), in place. */
  patch(id: string, body: any): User | undefined | { error: string } {
    const u = this.byId.get(id);
    if (!u) return undefined;
    const ops = body?.Operations;
    if (!Array.isArray(ops)) return { error: "Operations missing" };
    for (const op of ops) {
      if (String(op.op).toLowerCase() !== "replace") return { error: "only replace is supported" };
      if (op.path === "active") u.active = op.value;
      else if (op.path === undefined && op.value && "active" in op.value) u.active = op.value.active;
      else return { error: "only active is supported" };
    }
    u.meta.lastModified = new Date().toISOString();
    return u;
  }
}

// ---------------------------------------------------------------------------------------------
// The adapters' configuration: scim-core's server over its memoryStore, seeded with the same users.

/**
 * The scim-core server configuration every adapter serves: `memoryStore({ resources })` seeded
 * with the benchmark's users (ids kept; `meta` becomes the record's created / lastModified), and
 * `bearerAuth` with the benchmark's token. The generated users are dropped once seeded (the store
 * keeps its own copies).
 */
export async function coreConfig(): Promise<{ config: any; users: number }> {
  const core: any = await import("scim-core");
  let users = loadUsers();
  const n = users.length;
  const resources = users.map((u) => {
    const { id, meta, ...attributes } = u;
    return { tenant: TENANT, resourceType: "User", id, attributes, created: meta.created, lastModified: meta.lastModified };
  });
  users = [];
  const store = core.memoryStore({ resources });
  return { config: { store, authenticate: core.bearerAuth({ [TOKEN]: { tenant: TENANT } }) }, users: n };
}

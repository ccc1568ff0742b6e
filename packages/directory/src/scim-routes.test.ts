import { openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { RateLimiter } from "./rate-limit.js";
import { directoryScimRoutes } from "./scim-routes.js";

describe("SCIM routes: requests to directories that do not exist", () => {
  let sync: DirectorySync;
  beforeEach(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
  });
  afterEach(() => sync.close());

  it("leave no audit rows and spend the client address's failure bucket, so made-up ids cannot flood the log or the limiter", async () => {
    // A stopped clock: nothing refills during the test.
    const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => 0 }) });
    const real = await sync.directories.create({ organizationId: "o", name: "real", settings: { rateLimit: { requestsPerSecond: 1, burst: 1000 } } });
    const { token } = await sync.tokens.create(real.id);
    const statuses: number[] = [];
    for (let i = 0; i < 260; i++) {
      const id = `dir_${i.toString(16).padStart(24, "0")}`;
      statuses.push((await app.request(`http://x.test/scim/v2/${id}/Users`)).status);
    }
    expect(new Set(statuses)).toEqual(new Set([401, 429]));
    // 100 failures (the default burst), then refusals before any token work.
    expect(statuses.filter((s) => s === 401)).toHaveLength(100);
    await sync.audit.flush();
    const rows = await sync.db.selectFrom("dir_audit_log").select("id").execute();
    expect(rows).toEqual([]);
    // The real directory keeps its own bucket (from another address) and is audited, with its token id.
    const ok = await app.request(`http://x.test/scim/v2/${real.id}/Users`, { headers: { authorization: `Bearer ${token}` } }, { incoming: { socket: { remoteAddress: "10.0.0.1" } } });
    expect(ok.status).toBe(200);
    await sync.audit.flush();
    const audited = await sync.db.selectFrom("dir_audit_log").selectAll().execute();
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ directory_id: real.id, status: 200 });
    expect(audited[0]!.actor).toMatch(/^tok_/);
  });
});

describe("SCIM routes: a request without a valid token", () => {
  it("is answered 401 before its body is read, and the connection closes after it", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      const app = directoryScimRoutes(sync);
      const directory = await sync.directories.create({ organizationId: "o", name: "d" });
      // A body that sends one chunk, then nothing more, ever (a client holding the connection).
      let pulled = 0;
      const endless = () =>
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulled++;
            if (pulled === 1) controller.enqueue(new TextEncoder().encode('{"schemas":['));
            return new Promise(() => {});
          },
        });
      const cases = [
        { path: `/scim/v2/${directory.id}/Users`, authorization: "Bearer dsync_wrong" },
        { path: `/scim/v2/${directory.id}/Users`, authorization: undefined },
        { path: "/scim/v2/dir_000000000000000000000000/Users", authorization: "Bearer dsync_wrong" },
      ];
      for (const { path, authorization } of cases) {
        const request = app.request(`http://x.test${path}`, {
          method: "POST",
          body: endless(),
          duplex: "half",
          headers: { "content-type": "application/scim+json", "content-length": "100000", ...(authorization ? { authorization } : {}) },
        } as RequestInit);
        const answer = await Promise.race([request, new Promise<"waiting">((resolve) => setTimeout(() => resolve("waiting"), 2000))]);
        expect(answer, path).not.toBe("waiting");
        const response = answer as Response;
        expect(response.status).toBe(401);
        expect(response.headers.get("connection")).toBe("close");
        expect(await response.json()).toMatchObject({ status: "401" });
      }
    } finally {
      await sync.close();
    }
  });
});

describe("SCIM routes: the audit of failed authentications", () => {
  it("records the first 401 of a window whole and counts the rest in one entry, as refused 429s", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), audit: { refusalWindowMs: 60_000 } });
    try {
      const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => 0 }) });
      const directory = await sync.directories.create({ organizationId: "o", name: "d" });
      for (let i = 1; i <= 50; i++) {
        const r = await app.request(`http://x.test/scim/v2/${directory.id}/Users?n=${i}`, { headers: { authorization: `Bearer dsync_wrong${i}` } }, { incoming: { socket: { remoteAddress: `10.0.0.${i}` } } });
        expect(r.status).toBe(401);
      }
      await sync.audit.flush();
      const rows = await sync.db.selectFrom("dir_audit_log").selectAll().where("directory_id", "=", directory.id).orderBy("id").execute();
      expect(rows).toHaveLength(2);
      expect(rows.every((row) => row.status === 401)).toBe(true);
      const details = rows.map((row) => JSON.parse(String(row.detail)) as Record<string, unknown>);
      const first = rows[details.findIndex((d) => d.repeated === undefined)]!;
      const repeats = rows[details.findIndex((d) => d.repeated !== undefined)]!;
      expect(JSON.parse(String(first.detail))).toEqual({ refused: "unauthenticated" });
      expect(first.path).toContain("n=1");
      expect(JSON.parse(String(repeats.detail))).toMatchObject({ refused: "unauthenticated", repeated: 49 });
      expect(repeats.path).toContain("n=50");
    } finally {
      await sync.close();
    }
  });
});

describe("SCIM routes: failed authentications from IPv6 clients", () => {
  it("count against the client's /64 network, so a client cannot escape the limit by changing its address within it", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => 0 }) });
      const directory = await sync.directories.create({ organizationId: "o", name: "d" });
      const { token } = await sync.tokens.create(directory.id);
      const from = (remoteAddress: string, bearer: string) =>
        app.request(`http://x.test/scim/v2/${directory.id}/Users`, { headers: { authorization: `Bearer ${bearer}` } }, { incoming: { socket: { remoteAddress } } });
      // The IdP's token has worked before: a flood of wrong ones from its network does not lock it out.
      expect((await from("2001:db8:1:2::fffe", token)).status).toBe(200);
      const statuses: number[] = [];
      // A new address of 2001:db8:1:2::/64 for every wrong token.
      for (let i = 1; i <= 130; i++) statuses.push((await from(`2001:db8:1:2::${i.toString(16)}`, `dsync_wrong${i}`)).status);
      expect(statuses.filter((s) => s === 401)).toHaveLength(100);
      expect(statuses.filter((s) => s === 429)).toHaveLength(30);
      // Another /64 has its own bucket; the valid token still works from the limited network.
      expect((await from("2001:db8:1:3::1", "dsync_wrong")).status).toBe(401);
      expect((await from("2001:db8:1:2::ffff", token)).status).toBe(200);
      // IPv4 clients keep one bucket per address.
      expect((await from("192.0.2.1", "dsync_wrong")).status).toBe(401);
    } finally {
      await sync.close();
    }
  });
});

/** Two directories with a token each ("heavy" spends its budget, "other" must not notice), and a SCIM client of the routes. */
async function heavyAndOther(sync: DirectorySync) {
  const app = directoryScimRoutes(sync);
  const heavy = await sync.directories.create({ organizationId: "o", name: "heavy" });
  const other = await sync.directories.create({ organizationId: "o", name: "other" });
  const heavyToken = (await sync.tokens.create(heavy.id)).token;
  const otherToken = (await sync.tokens.create(other.id)).token;
  const call = (directoryId: string, token: string, method: string, path: string, body?: unknown) =>
    app.request(`http://x.test/scim/v2/${directoryId}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  return { heavy, other, heavyToken, otherToken, call };
}

describe("SCIM routes: a directory's rate of changes", () => {
  it("its writes' events spend it; once it is used, its writes get 429 with Retry-After while its reads and other directories go on", async () => {
    const budget = { requestsPerSecond: 10, burst: 5000 };
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), changeBudget: budget });
    try {
      const { heavy, other, heavyToken, otherToken, call } = await heavyAndOther(sync);
      const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
      const user = (await (await call(heavy.id, heavyToken, "POST", "/Users", { schemas: [USER], userName: "a@x.test" })).json()) as { id: string };
      // Its one change (user.created) was charged to its directory only.
      expect(sync.changes!.limiter.check(heavy.id, budget)).toMatchObject({ allowed: true, remaining: budget.burst - 1 });
      expect(sync.changes!.limiter.check(other.id, budget)).toMatchObject({ allowed: true, remaining: budget.burst });
      // As if its writes had made 20,000 changes.
      sync.changes!.limiter.spend(heavy.id, budget, 20_000);
      const writes: Array<[string, string, unknown]> = [
        ["POST", "/Users", { schemas: [USER], userName: "b@x.test" }],
        ["PUT", `/Users/${user.id}`, { schemas: [USER], userName: "a@x.test" }],
        ["PATCH", `/Users/${user.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: false }] }],
        ["DELETE", `/Users/${user.id}`, undefined],
        ["POST", "/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [] }],
      ];
      for (const [method, path, body] of writes) {
        const refused = await call(heavy.id, heavyToken, method, path, body);
        expect(refused.status, `${method} ${path}`).toBe(429);
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect(((await refused.json()) as { detail: string }).detail).toMatch(/as many changes as its rate allows/);
      }
      // Nothing was written; reads (a search by POST too) and the other directory go on.
      const read = (await (await call(heavy.id, heavyToken, "GET", `/Users/${user.id}`)).json()) as { active?: boolean };
      expect(read.active).not.toBe(false);
      expect((await call(heavy.id, heavyToken, "GET", `/Users?filter=${encodeURIComponent('userName eq "b@x.test"')}`)).status).toBe(200);
      expect((await call(heavy.id, heavyToken, "POST", "/Users/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"] })).status).toBe(200);
      expect((await call(other.id, otherToken, "POST", "/Users", { schemas: [USER], userName: "c@x.test" })).status).toBe(201);
      await sync.audit.flush();
      const refusals = await sync.db.selectFrom("dir_audit_log").select("detail").where("directory_id", "=", heavy.id).where("status", "=", 429).orderBy("seq").execute();
      expect(refusals.map((r) => JSON.parse(r.detail as string))).toEqual([{ refused: "changes" }, { refused: "changes", repeated: 4 }]);
    } finally {
      await sync.close();
    }
  });
});

describe("SCIM routes: a directory's share of search time", () => {
  it("its searches spend it; once it is used, its lists get 429 with Retry-After while its other requests and other directories go on", async () => {
    const budget = { requestsPerSecond: 10, burst: 5000 };
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), searchTimeBudget: budget });
    try {
      const { heavy, other, heavyToken, otherToken, call } = await heavyAndOther(sync);
      const user = (await (await call(heavy.id, heavyToken, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "a@x.test" })).json()) as { id: string };
      expect((await call(heavy.id, heavyToken, "GET", `/Users?filter=${encodeURIComponent('title co "x"')}`)).status).toBe(200);
      const left = sync.searchTime!.limiter.check(heavy.id, budget);
      expect(left.allowed && left.remaining < budget.burst).toBe(true);
      // As if its filters had read the database for 20 s.
      sync.searchTime!.limiter.spend(heavy.id, budget, 20_000);
      for (const [method, path] of [["GET", "/Users"], ["GET", `/Users?filter=${encodeURIComponent('title eq "x"')}`], ["POST", "/Users/.search"], ["POST", "/.search"], ["GET", "/Groups"]] as const) {
        const refused = await call(heavy.id, heavyToken, method, path, method === "POST" ? { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"] } : undefined);
        expect(refused.status, `${method} ${path}`).toBe(429);
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        expect(((await refused.json()) as { detail: string }).detail).toMatch(/searches have used their share/);
      }
      // The IdPs' lookups (an index equality) and reads by id still go through.
      for (const filter of ['userName eq "a@x.test"', 'externalId eq "e1"', 'emails[type eq "work" and value eq "a@x.test"]']) {
        expect((await call(heavy.id, heavyToken, "GET", `/Users?filter=${encodeURIComponent(filter)}`)).status, filter).toBe(200);
      }
      expect((await call(heavy.id, heavyToken, "GET", `/Groups?filter=${encodeURIComponent('displayName eq "Sales"')}&excludedAttributes=members`)).status).toBe(200);
      expect((await call(heavy.id, heavyToken, "GET", `/Users/${user.id}`)).status).toBe(200);
      expect((await call(heavy.id, heavyToken, "GET", "/ServiceProviderConfig")).status).toBe(200);
      expect((await call(heavy.id, heavyToken, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "b@x.test" })).status).toBe(201);
      expect((await call(other.id, otherToken, "GET", "/Users")).status).toBe(200);
      await sync.audit.flush();
      // The first refusal, then the other four counted into one entry (one kind in one window).
      const refusals = await sync.db.selectFrom("dir_audit_log").select("detail").where("directory_id", "=", heavy.id).where("status", "=", 429).orderBy("seq").execute();
      expect(refusals.map((r) => JSON.parse(r.detail as string))).toEqual([{ refused: "search_time" }, { refused: "search_time", repeated: 4 }]);
    } finally {
      await sync.close();
    }
  });

  it("at most maxConcurrentSearches searches no index answers run at once per directory (2 on SQLite); lookups and other directories go on", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      expect(sync.maxConcurrentSearches).toBe(2);
      const app = directoryScimRoutes(sync);
      const one = await sync.directories.create({ organizationId: "o", name: "one" });
      const two = await sync.directories.create({ organizationId: "o", name: "two" });
      const oneToken = (await sync.tokens.create(one.id)).token;
      const twoToken = (await sync.tokens.create(two.id)).token;
      const get = (directoryId: string, token: string, query: string) => app.request(`http://x.test/scim/v2/${directoryId}/Users${query}`, { headers: { authorization: `Bearer ${token}` } });
      // Searches held in the store until released.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const query = sync.store.query.bind(sync.store);
      let held = 0;
      sync.store.query = async (...args: Parameters<typeof query>) => {
        held++;
        await gate;
        return query(...args);
      };
      const scan = `?filter=${encodeURIComponent('title co "x"')}`;
      const running = [get(one.id, oneToken, scan), get(one.id, oneToken, "?sortBy=title")];
      // Both run: on SQLite one reads the store, the other waits for the server's thread (one read
      // of a large answer at a time).
      while (held < 1 || sync.threadTurns!.waitingCount < 1) await new Promise((resolve) => setTimeout(resolve, 5));
      const third = await get(one.id, oneToken, scan);
      expect(third.status).toBe(429);
      expect(third.headers.get("retry-after")).toBe("1");
      expect(((await third.json()) as { detail: string }).detail).toMatch(/already runs 2 searches .*: retry after 1 second$/);
      // However the parameters are spelled (the server reads them in any case), and a `.search` with a trailing slash.
      expect((await get(one.id, oneToken, `?Filter=${encodeURIComponent('title co "x"')}`)).status).toBe(429);
      expect((await get(one.id, oneToken, "?sortby=title")).status).toBe(429);
      const search = await app.request(`http://x.test/scim/v2/${one.id}/Users/.search/`, {
        method: "POST",
        headers: { authorization: `Bearer ${oneToken}`, "content-type": "application/scim+json" },
        body: JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"] }),
      });
      expect(search.status).toBe(429);
      // A lookup and a plain page of the same directory, and another directory's search, are not refused.
      const lookup = get(one.id, oneToken, `?filter=${encodeURIComponent('userName eq "a@x.test"')}`);
      const page = get(one.id, oneToken, "?startIndex=1&count=100");
      const other = get(two.id, twoToken, scan);
      // The lookup reads the store at once; the page and the other search wait for the thread.
      while (held < 2 || sync.threadTurns!.waitingCount < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(held).toBe(2);
      release();
      expect((await Promise.all([...running, lookup, page, other])).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      // Once they ended, the directory searches again.
      expect((await get(one.id, oneToken, scan)).status).toBe(200);
    } finally {
      await sync.close();
    }
  });

  it("searchTimeBudget: false keeps no account", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), searchTimeBudget: false });
    expect(sync.searchTime).toBeUndefined();
    await sync.close();
  });
});

describe("SCIM routes: a token pasted where an id goes", () => {
  it("is redacted from the error's detail; other errors and successes keep their text", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      const app = directoryScimRoutes(sync);
      const directory = await sync.directories.create({ organizationId: "o", name: "d" });
      const { token } = await sync.tokens.create(directory.id);
      const call = (method: string, path: string, body?: unknown) =>
        app.request(`http://x.test/scim/v2/${directory.id}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      const group = (await (await call("POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "G" })).json()) as { id: string };
      for (const [method, path, body] of [
        ["GET", `/Users/${token}`],
        ["DELETE", `/Users/${token}`],
        ["PATCH", `/Groups/${group.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "add", path: "members", value: [{ value: token }] }] }],
      ] as const) {
        const r = await call(method, path, body);
        const text = await r.text();
        expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(text).not.toContain(token);
        expect(text).not.toContain(token.slice(-43));
        expect(JSON.parse(text).detail).toContain("[REDACTED]");
        expect(r.headers.get("content-type")).toMatch(/json/);
      }
      const missing = await call("GET", "/Users/2819c223-7f76-453a-919d-413861904646");
      expect([missing.status, ((await missing.json()) as { detail: string }).detail]).toEqual([404, "Resource 2819c223-7f76-453a-919d-413861904646 not found"]);
    } finally {
      await sync.close();
    }
  });
});

describe("SCIM routes: large answers and the directory's rate limit", () => {
  it("a list page counts as one request plus one per 64 KiB of its answer, so that paging through large pages cannot take the server from other directories", async () => {
    // No search-time share: only the rate limit is looked at here.
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), searchTimeBudget: false });
    try {
      // A stopped clock: nothing refills during the test.
      const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => 0 }) });
      const rateLimit = { requestsPerSecond: 1, burst: 30 };
      const heavy = await sync.directories.create({ organizationId: "o", name: "heavy", settings: { rateLimit } });
      const light = await sync.directories.create({ organizationId: "o", name: "light", settings: { rateLimit } });
      const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
      // 150 users of about 1.2 KB each: a page of all of them is some 180 KB.
      const users = (tenant: string) =>
        Array.from({ length: 150 }, (_, i) => ({ id: `${tenant}-u${i}`, attributes: { schemas: [USER], userName: `u${i}@acme.test`, displayName: "x".repeat(1200) }, uniqueKeys: [{ attribute: "userName", value: `u${i}@acme.test` }] }));
      for (const d of [heavy, light]) await sync.store.importResources({ tenant: d.id }, "User", users(d.id));
      const tokens = new Map([heavy, light].map((d) => [d.id, ""]));
      for (const d of [heavy, light]) tokens.set(d.id, (await sync.tokens.create(d.id)).token);
      const get = (directoryId: string, query: string) => app.request(`http://x.test/scim/v2/${directoryId}/Users${query}`, { headers: { authorization: `Bearer ${tokens.get(directoryId)}` } });

      const first = await get(heavy.id, "?count=150");
      expect(first.status).toBe(200);
      const bytes = Number(first.headers.get("content-length"));
      expect(bytes).toBe(new TextEncoder().encode(await first.text()).length);
      const perPage = 1 + Math.floor(bytes / (64 * 1024));
      expect(perPage).toBeGreaterThanOrEqual(3);
      // The burst of 30 holds 30 / perPage pages (the last one may overdraw it), then 429s.
      const statuses = [200];
      for (let i = 0; i < 30; i++) statuses.push((await get(heavy.id, "?count=150")).status);
      const answered = statuses.filter((s) => s === 200).length;
      expect(answered).toBe(Math.ceil(rateLimit.burst / perPage));
      expect(statuses.slice(answered).every((s) => s === 429)).toBe(true);
      const refused = await get(heavy.id, "?count=1");
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

      // Small answers count as one request each: the other directory gets its 30.
      const small: number[] = [];
      for (let i = 0; i < 31; i++) small.push((await get(light.id, "?count=10")).status);
      expect(small.slice(0, 30).every((s) => s === 200)).toBe(true);
      expect(small[30]).toBe(429);
    } finally {
      await sync.close();
    }
  });
});

describe("SCIM routes: after a restart", () => {
  it("the tokens used in the week before count as known from the start: a flood of wrong tokens from their address does not lock their IdPs out", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      const used = await sync.directories.create({ organizationId: "o", name: "used" });
      const unused = await sync.directories.create({ organizationId: "o", name: "unused" });
      const revoked = await sync.directories.create({ organizationId: "o", name: "revoked" });
      const usedToken = (await sync.tokens.create(used.id)).token;
      const unusedToken = (await sync.tokens.create(unused.id)).token;
      const revokedToken = await sync.tokens.create(revoked.id);
      // The previous process authenticated two of them (which records their last use); one was revoked since.
      expect(await sync.tokens.verifyFor(usedToken, used.id)).toBeDefined();
      expect(await sync.tokens.verifyFor(revokedToken.token, revoked.id)).toBeDefined();
      await sync.tokens.revoke(revoked.id, revokedToken.id);
      // The restarted process: new routes, nothing authenticated in it yet.
      const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => 0 }) });
      const from = (directoryId: string, token: string) => app.request(`http://x.test/scim/v2/${directoryId}/Users`, { headers: { authorization: `Bearer ${token}` } }, { incoming: { socket: { remoteAddress: "10.9.9.9" } } });
      const flood: number[] = [];
      for (let i = 0; i < 120; i++) flood.push((await from(used.id, `dsync_wrong${i}`)).status);
      expect(flood.filter((s) => s === 401)).toHaveLength(100);
      expect(flood.slice(100).every((s) => s === 429)).toBe(true);
      expect((await from(used.id, usedToken)).status).toBe(200);
      // A token not used before stays behind its address's failures, and a revoked one is not trusted.
      expect((await from(unused.id, unusedToken)).status).toBe(429);
      expect((await from(revoked.id, revokedToken.token)).status).toBe(429);
    } finally {
      await sync.close();
    }
  });
});

import { createServer } from "node:net";
import { openPostgres, openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAdminKey } from "./admin-keys.js";
import { directoryApp, type DirectoryAppOptions } from "./directory-app.js";
import { checkDatabase } from "./health.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { RateLimiter } from "./rate-limit.js";
import { directoryScimRoutes } from "./scim-routes.js";
import type { DirectorySettings } from "./settings.js";

const SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
const UNKNOWN = "dir_000000000000000000000000";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

describe("directoryApp: health, SCIM guards and the OpenAPI document", () => {
  let sync: DirectorySync;
  let key: string;

  beforeEach(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    key = await createAdminKey(sync.db);
  });
  afterEach(() => sync.close());

  /** A SCIM request from a client address (as @hono/node-server exposes it). */
  const scimFrom = (app: ReturnType<typeof directoryApp>, address: string | undefined, directoryId: string, token: string, headers: Record<string, string> = {}) =>
    app.request(
      `http://sync.test/scim/v2/${directoryId}/Users`,
      { headers: { authorization: `Bearer ${token}`, ...headers } },
      address === undefined ? undefined : { incoming: { socket: { remoteAddress: address } } },
    );

  async function setup(settings: Partial<DirectorySettings> = {}, options: DirectoryAppOptions = {}) {
    const app = directoryApp(sync, options);
    const directory = await sync.directories.create({ organizationId: "org_1", name: "Acme", settings });
    const { token } = await sync.tokens.create(directory.id);
    return { app, directory, token };
  }

  it("serves /healthz; every answer, a path it does not serve too, says no-store and nosniff", async () => {
    const app = directoryApp(sync);
    const r = await app.request("http://sync.test/healthz");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ok" });
    const missing = await app.request("http://sync.test/no/such/path");
    expect(missing.status).toBe(404);
    for (const answer of [r, missing]) {
      expect([answer.headers.get("cache-control"), answer.headers.get("x-content-type-options")]).toEqual(["no-store", "nosniff"]);
    }
  });

  it("/healthz says 503 while the database does not answer, /livez 200 whatever its state", async () => {
    const app = directoryApp(sync);
    expect((await app.request("http://sync.test/livez")).status).toBe(200);
    await sync.close();
    const down = await app.request("http://sync.test/healthz");
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: "unavailable", database: "unreachable" });
    const live = await app.request("http://sync.test/livez");
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "ok" });
  });

  it("/healthz gives up on a database that never answers after its timeout (a frozen PostgreSQL)", async () => {
    // A server that accepts connections and never says a word.
    const sockets = new Set<import("node:net").Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as import("node:net").AddressInfo).port;
    const frozen = openPostgres({ connectionString: `postgres://nobody@127.0.0.1:${port}/none`, max: 2 });
    try {
      const started = performance.now();
      expect(await checkDatabase(frozen.db, 200)).toBe("timeout");
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await frozen.destroy().catch(() => {});
    }
  });

  describe("rate limit", () => {
    it("429 with Retry-After and a SCIM Error past the burst; only requests with a valid token spend the directory's bucket", async () => {
      const { app, directory, token } = await setup({ rateLimit: { requestsPerSecond: 0.5, burst: 2 } });
      expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(200);
      // A wrong token (anyone can know the directory's id) costs the directory nothing.
      for (let i = 0; i < 5; i++) expect((await scimFrom(app, "203.0.113.7", directory.id, "dsync_wrong")).status).toBe(401);
      expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(200);
      const limited = await scimFrom(app, "10.0.0.1", directory.id, token);
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toBe("2");
      expect(limited.headers.get("content-type")).toBe("application/scim+json");
      expect(await limited.json()).toEqual({ schemas: [SCIM_ERROR], status: "429", detail: expect.stringContaining("retry after 2 seconds") });
      // A wrong token never touches the directory's bucket, even an empty one: a 401.
      expect((await scimFrom(app, "10.0.0.1", directory.id, "dsync_wrong")).status).toBe(401);
      // Other directories have their own buckets.
      const other = await sync.directories.create({ organizationId: "org_2", name: "Other" });
      const otherToken = (await sync.tokens.create(other.id)).token;
      expect((await scimFrom(app, "10.0.0.1", other.id, otherToken)).status).toBe(200);
      // The refusal is audited, with its reason.
      await sync.audit.flush();
      const entries = await sync.db.selectFrom("dir_audit_log").selectAll().where("status", "=", 429).execute();
      expect(entries.map((e) => JSON.parse(e.detail as string))).toEqual([{ refused: "rate_limited" }]);
      // ...with the token that was refused (known from its earlier requests).
      const [authenticated] = await sync.db.selectFrom("dir_audit_log").select("actor").where("status", "=", 200).where("directory_id", "=", directory.id).execute();
      expect(entries.map((e) => e.actor)).toEqual([authenticated!.actor]);
      expect(authenticated!.actor).toMatch(/^tok_/);
      // A flood of refusals (from a token known or not) costs the log a row per window, with a count.
      for (let i = 0; i < 200; i++) expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(429);
      await sync.audit.flush();
      const flood = await sync.db.selectFrom("dir_audit_log").select(["detail", "actor"]).where("status", "=", 429).orderBy("seq").execute();
      expect(flood.map((e) => JSON.parse(e.detail as string))).toEqual([{ refused: "rate_limited" }, { refused: "rate_limited", repeated: 200 }]);
      expect(flood[1]!.actor).toBe(authenticated!.actor);
    });

    it("failed authentications are limited per client address, without locking out a token that works", async () => {
      const { directory, token } = await setup();
      const t = 0; // a stopped clock: nothing refills during the test
      const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => t }) });
      const proxy = "198.51.100.4"; // say, a proxy that every client comes through
      expect((await scimFrom(app, proxy, directory.id, token)).status).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < 105; i++) statuses.push((await scimFrom(app, proxy, directory.id, "dsync_guess")).status);
      // A burst of 100 failures, then 429s before any token work...
      expect(statuses.slice(0, 100).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(100)).toEqual([429, 429, 429, 429, 429]);
      // ...but the token that has worked from there keeps working,
      expect((await scimFrom(app, proxy, directory.id, token)).status).toBe(200);
      // a token never seen from there waits (429, which IdPs retry) until failures refill,
      const fresh = (await sync.tokens.create(directory.id)).token;
      const waiting = await scimFrom(app, proxy, directory.id, fresh);
      expect(waiting.status).toBe(429);
      expect(Number(waiting.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // and other addresses have their own bucket.
      expect((await scimFrom(app, "10.0.0.1", directory.id, "dsync_guess")).status).toBe(401);
      expect((await scimFrom(app, "10.0.0.1", directory.id, fresh)).status).toBe(200);
    });

    it("requests in flight at once cannot pass the limits: tokens are taken before the answer", async () => {
      const { directory, token } = await setup({ rateLimit: { requestsPerSecond: 1, burst: 2 } });
      const t = 0;
      const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => t }) });
      const count = (statuses: number[]) => statuses.reduce<Record<number, number>>((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {});
      const status = async (response: Response | Promise<Response>) => (await response).status;
      const valid = await Promise.all(Array.from({ length: 50 }, () => status(scimFrom(app, "10.0.0.1", directory.id, token))));
      expect(count(valid)).toEqual({ 200: 2, 429: 48 });
      const other = await sync.directories.create({ organizationId: "org_3", name: "Flooded" });
      const wrong = await Promise.all(Array.from({ length: 300 }, () => status(scimFrom(app, "203.0.113.9", other.id, "dsync_guess"))));
      expect(count(wrong)).toEqual({ 401: 100, 429: 200 });
    });

    it("wrong tokens in flight at once spend nothing of the directory's rate: its IdP is never locked out", async () => {
      const { directory, token } = await setup({ rateLimit: { requestsPerSecond: 0.5, burst: 2 } });
      const t = 0;
      const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => t }) });
      const status = async (response: Response | Promise<Response>) => (await response).status;
      // Thirty wrong tokens (valid-looking, of another directory, revoked) race one good request.
      const elsewhere = await sync.directories.create({ organizationId: "org_4", name: "Elsewhere" });
      const foreign = (await sync.tokens.create(elsewhere.id)).token;
      const revoked = await sync.tokens.create(directory.id);
      await sync.tokens.revoke(directory.id, revoked.id);
      const bad = ["dsync_guess", foreign, revoked.token];
      const statuses = await Promise.all([
        ...Array.from({ length: 30 }, (_, i) => status(scimFrom(app, `198.51.100.${i}`, directory.id, bad[i % 3]!))),
        status(scimFrom(app, "10.0.0.1", directory.id, token)),
      ]);
      expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
      expect(statuses[30]).toBe(200);
      // The good token still has the rest of its burst.
      expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(200);
      expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(429);
    });

    it("directoryApp passes authFailureRateLimit on to the SCIM routes", async () => {
      const { directory } = await setup();
      const app = directoryApp(sync, { authFailureRateLimit: { requestsPerSecond: 0.001, burst: 2 } });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await scimFrom(app, "192.0.2.77", directory.id, "dsync_guess")).status);
      expect(statuses).toEqual([401, 401, 429]);
      // Audited apart from the directory's own rate limit.
      await sync.audit.flush();
      const refused = await sync.db.selectFrom("dir_audit_log").select("detail").where("status", "=", 429).execute();
      expect(refused.map((r) => JSON.parse(r.detail as string))).toEqual([{ refused: "failed_authentications" }]);
    });

    it("behind a trusted proxy, the X-Forwarded-For text is a limiter key only when it is an address, in one spelling", async () => {
      const { directory } = await setup();
      const app = directoryApp(sync, { trustProxy: true, authFailureRateLimit: { requestsPerSecond: 0.001, burst: 2 } });
      const wrong = (forwardedFor: string) => scimFrom(app, "172.16.0.1", directory.id, "dsync_guess", { "x-forwarded-for": forwardedFor });
      // Text that is no address, different each time, spends one shared bucket (it used to make a
      // bucket per text: 10,000 buckets of kilobytes each from one client without credentials).
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await wrong(`${"x".repeat(4000)}${i}`)).status);
      expect(statuses).toEqual([401, 401, 429]);
      // Spellings of one address share its bucket, apart from the others'.
      expect([(await wrong("2001:db8::7")).status, (await wrong("2001:0DB8:0:0:0:0:0:7")).status, (await wrong("[2001:db8::7]:443")).status]).toEqual([401, 401, 429]);
      expect((await wrong("192.0.2.8:5000")).status).toBe(401);
    });

    it("a settings change through the admin API applies at once", async () => {
      const { app, directory, token } = await setup({ rateLimit: { requestsPerSecond: 0.001, burst: 1 } });
      expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(200);
      expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(429);
      const patched = await app.request(`http://sync.test/api/directories/${directory.id}`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ settings: { rateLimit: { requestsPerSecond: 1000, burst: 1000 } } }),
      });
      expect(patched.status).toBe(200);
      // The bucket keeps what was spent (empty) and refills at the new rate.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(200);
    });

    it("an unknown directory behaves like one with the defaults: a 401, never a 403 or a telling 429", async () => {
      const { app, token } = await setup({ ipAllowlist: ["10.0.0.0/8"] });
      const r = await scimFrom(app, "203.0.113.9", UNKNOWN, token);
      expect(r.status).toBe(401);
      expect((await scimFrom(app, "203.0.113.9", "not-an-id", token)).status).toBe(401);
    });
  });

  describe("IP allowlist", () => {
    it("403 SCIM Error outside the allowlist for the directory's token; allowed inside (IPv4, IPv4-mapped IPv6, IPv6)", async () => {
      const { app, directory, token } = await setup({ ipAllowlist: ["10.0.0.0/8", "2001:db8::/32"] });
      const refused = await scimFrom(app, "192.168.1.10", directory.id, token);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ schemas: [SCIM_ERROR], status: "403", detail: expect.any(String) });
      // Without a valid token, outside: exactly an unknown directory's answer (which ids exist is not told).
      const answer = async (r: Response) => [r.status, r.headers.get("www-authenticate"), r.headers.get("content-type"), await r.text()];
      for (const credential of ["dsync_wrong", ""]) {
        const unknown = await answer(await scimFrom(app, "192.168.1.10", UNKNOWN, credential));
        expect(unknown[0]).toBe(401);
        // RFC 6750 §3.1: a token sent and refused is invalid_token; no token, the challenge alone.
        expect(unknown[1]).toBe(credential === "" ? 'Bearer realm="SCIM"' : 'Bearer realm="SCIM", error="invalid_token"');
        expect(await answer(await scimFrom(app, "192.168.1.10", directory.id, credential))).toEqual(unknown);
      }
      expect((await scimFrom(app, undefined, directory.id, token)).status).toBe(403); // unknown address
      expect((await scimFrom(app, "10.1.2.3", directory.id, token)).status).toBe(200);
      expect((await scimFrom(app, "::ffff:10.1.2.3", directory.id, token)).status).toBe(200);
      expect((await scimFrom(app, "2001:db8:0:1::5", directory.id, token)).status).toBe(200);
      expect((await scimFrom(app, "2001:db9::5", directory.id, token)).status).toBe(403);
      await sync.audit.flush();
      const audited = await sync.db.selectFrom("dir_audit_log").select(["status", "detail"]).where("status", "in", [401, 403]).execute();
      expect(audited.map((e) => e.status).sort()).toEqual([401, 401, 403, 403, 403]);
    });

    it("X-Forwarded-For counts only with trustProxy", async () => {
      const { directory, token } = await setup({ ipAllowlist: ["10.0.0.0/8"] });
      const direct = directoryApp(sync);
      const proxied = directoryApp(sync, { trustProxy: true });
      const twoHops = directoryApp(sync, { trustProxy: 2 });
      // Without trust, the header is ignored (a client could write anything in it).
      expect((await scimFrom(direct, "203.0.113.1", directory.id, token, { "x-forwarded-for": "10.0.0.7" })).status).toBe(403);
      // One trusted proxy: the last entry is what it saw; entries further left are the client's own.
      expect((await scimFrom(proxied, "172.16.0.1", directory.id, token, { "x-forwarded-for": "10.0.0.7" })).status).toBe(200);
      expect((await scimFrom(proxied, "172.16.0.1", directory.id, token, { "x-forwarded-for": "10.0.0.7, 203.0.113.5" })).status).toBe(403);
      expect((await scimFrom(twoHops, "172.16.0.1", directory.id, token, { "x-forwarded-for": "10.0.0.7, 172.16.0.9" })).status).toBe(200);
    });
  });

  it("a failing audit write does not fail the SCIM request, and reaches onError", async () => {
    // Written at once (no batching): the failure reaches the app's onError through the middleware.
    await sync.close();
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), audit: { batch: false } });
    const errors: unknown[] = [];
    const { app, directory, token } = await setup({}, { onError: (e) => errors.push(e) });
    await sync.db.schema.dropTable("dir_audit_log").execute();
    expect((await scimFrom(app, "10.0.0.1", directory.id, token)).status).toBe(200);
    expect(errors.length).toBeGreaterThan(0);
  });

  it("a failing batch write reaches the audit log's onError after the batch delay, and the requests are answered", async () => {
    await sync.close();
    const errors: unknown[] = [];
    // A delay long enough for the three requests, sent at once, to share one batch on a loaded machine.
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), audit: { batch: { maxDelayMs: 300 }, onError: (e) => errors.push(e) } });
    const { app, directory, token } = await setup();
    await sync.db.schema.dropTable("dir_audit_log").execute();
    const answers = await Promise.all([0, 1, 2].map(() => scimFrom(app, "10.0.0.1", directory.id, token)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    // The batch is written after its delay, then entry by entry when it fails: wait for the report.
    for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/dir_audit_log/);
  });

  it("the OpenAPI document describes every route the app serves, and nothing it does not", async () => {
    const app = directoryApp(sync);
    const doc = (await (await app.request("http://sync.test/api/openapi.json")).json()) as Any;
    expect(doc.openapi).toBe("3.1.0");
    const served = new Set(
      app.routes
        .filter((r) => r.method !== "ALL" && !r.path.startsWith("/scim/"))
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
    );
    const documented = new Set(Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    expect([...served].sort()).toEqual([...documented].sort());
    // Built from the zod schemas: inputs and outputs are real JSON Schemas, and every $ref resolves.
    expect(doc.components.schemas.CreateDirectory.required).toEqual(["organizationId", "name"]);
    expect(doc.components.schemas.Directory.properties.settings.properties.rateLimit).toBeDefined();
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const ref of refs) expect(doc.components.schemas[ref.split("/").pop()!], ref).toBeDefined();
    // Every `$ref` key is a reference (OpenAPI tools read any `$ref` key as one: a property of that name broke them).
    const badRefs: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (typeof node !== "object" || node === null) return;
      for (const [k, v] of Object.entries(node)) {
        if (k === "$ref" && (typeof v !== "string" || !v.startsWith("#/components/schemas/"))) badRefs.push(at);
        walk(v, `${at}/${k}`);
      }
    };
    walk(doc, "#");
    expect(badRefs).toEqual([]);
    expect(doc.components.schemas.Event.properties.member.additionalProperties).toEqual({});
    const listEvents = doc.paths["/api/events"].get;
    expect(listEvents.parameters.map((p: Any) => [p.name, p.in, p.required])).toEqual([
      ["after", "query", false],
      ["directoryId", "query", false],
      ["limit", "query", false],
    ]);
    expect(doc.paths["/api/audit-log"].delete.parameters[0]).toMatchObject({ name: "olderThanDays", required: true, schema: { type: "integer" } });
    // The cursor-paged lists document the 400 of a malformed cursor.
    for (const path of ["/api/directories", "/api/directories/{id}/users", "/api/directories/{id}/groups"]) {
      expect(doc.paths[path].get.responses["400"].description, path).toContain("invalid_cursor");
    }
    expect(doc.paths["/api/events"].get.responses["400"].description).not.toContain("cursor");
    // Every authenticated read refuses a query parameter it does not take: a 400, documented.
    for (const path of ["/api/directories/{id}", "/api/directories/{id}/status", "/api/directories/{id}/users/{userId}"]) {
      expect(doc.paths[path].get.responses["400"].description, path).toBe("a query parameter this operation does not take");
    }
    const directory = await sync.directories.create({ organizationId: "org_doc", name: "Doc", type: "okta" });
    const refused = await app.request(`http://sync.test/api/directories/${directory.id}?x=1`, { headers: { authorization: `Bearer ${key}` } });
    expect(refused.status).toBe(400);
    expect(doc.paths["/api/openapi.json"].get.responses["400"]).toBeUndefined();
    // Every write passes the body checks, also those without a body schema.
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Any>>)) {
      for (const [method, op] of Object.entries(ops)) if (method !== "get") expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(["413", "415"]));
    }
    // A body of optional fields only may be left out; one with required fields may not.
    expect(doc.paths["/api/directories/{id}"].patch.requestBody.required).toBe(false);
    expect(doc.paths["/api/directories"].post.requestBody.required).toBe(true);
    // The attribute mapping's input is described as what the server accepts.
    expect(doc.components.schemas.UpdateDirectory.properties.settings.properties.attributeMapping).toMatchObject({ type: "object", additionalProperties: { type: "string" } });
  });
});

describe("directoryApp: a database that cannot serve", () => {
  it("a write while another process holds the SQLite write lock past the busy timeout: SCIM 503 with Retry-After, admin API 503 database_unavailable; nothing half-written", async () => {
    const Database = (await import("better-sqlite3")).default;
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "dsync-locked-"));
    const sync = await createDirectorySync({ database: openSqlite({ filename: join(dir, "db.sqlite"), busyTimeoutMs: 150 }) });
    try {
      const key = await createAdminKey(sync.db);
      const app = directoryApp(sync);
      const directory = await sync.directories.create({ organizationId: "org_1", name: "Acme" });
      const { token } = await sync.tokens.create(directory.id);
      const other = new Database(join(dir, "db.sqlite"));
      other.exec("begin exclusive");
      try {
        const scim = await app.request(`http://sync.test/scim/v2/${directory.id}/Users`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
          body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "locked@example.com" }),
        });
        expect(scim.status).toBe(503);
        expect(scim.headers.get("retry-after")).toBe("5");
        expect(await scim.json()).toEqual({ schemas: [SCIM_ERROR], status: "503", detail: "the database is unavailable for the moment; retry later" });
        const admin = await app.request("http://sync.test/api/directories", {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ organizationId: "org_1", name: "Second" }),
        });
        expect(admin.status).toBe(503);
        expect(admin.headers.get("retry-after")).toBe("5");
        expect(((await admin.json()) as Any).error.code).toBe("database_unavailable");
      } finally {
        other.exec("rollback");
        other.close();
      }
      // Once the lock is gone, the same requests go through: nothing of the refused ones stayed.
      const users = await app.request(`http://sync.test/scim/v2/${directory.id}/Users`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await users.json()) as Any).totalResults).toBe(0);
      expect((await sync.directories.list()).map((d) => d.name)).toEqual(["Acme"]);
    } finally {
      await sync.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a failure of the SCIM guards themselves is a SCIM Error, not the admin API's JSON", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    const directory = await sync.directories.create({ organizationId: "org_1", name: "Acme" });
    const { token } = await sync.tokens.create(directory.id);
    const errors: unknown[] = [];
    const app = directoryApp(sync, { onError: (error) => errors.push(error) });
    await sync.close();
    const r = await app.request(`http://sync.test/scim/v2/${directory.id}/Users`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(500);
    expect(r.headers.get("content-type")).toBe("application/scim+json");
    expect(await r.json()).toEqual({ schemas: [SCIM_ERROR], status: "500", detail: "An internal error occurred" });
    expect(errors.length).toBeGreaterThan(0);
  });
});

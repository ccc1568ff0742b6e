import { EventEmitter } from "node:events";
import { createSchemaRegistry } from "scim-core";
import { ConcurrentChangeError, openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { adminApi } from "./admin-api.js";
import { ADMIN_KEY_PREFIX, createAdminKey, generateAdminKey, hasAdminKey, hashAdminKey, readAdminKeyHash, verifyAdminKey } from "./admin-keys.js";
import { directoryApp } from "./directory-app.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

let clock = Date.parse("2026-11-25T10:00:00.000Z");
const now = () => new Date(clock);

describe("admin API", () => {
  let sync: DirectorySync;
  let app: ReturnType<typeof directoryApp>;
  let key: string;

  beforeEach(async () => {
    clock = Date.parse("2026-11-25T10:00:00.000Z");
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), now });
    key = await createAdminKey(sync.db);
    app = directoryApp(sync, { maxBodyBytes: 4096 });
  });
  afterEach(() => sync.close());

  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await app.request(`http://sync.test/api${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text === "" ? undefined : JSON.parse(text)) as Any };
  };

  const scim = (directoryId: string, token: string, method: string, path: string, body?: unknown) =>
    app.request(`http://sync.test/scim/v2/${directoryId}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  const createDirectory = async (input: Record<string, unknown> = {}) => {
    const r = await api("POST", "/directories", { organizationId: "org_1", name: "Acme Okta", type: "okta", ...input });
    expect(r.status).toBe(201);
    return r.body;
  };

  describe("authentication", () => {
    it("no key, a wrong key, another scheme or a rotated-away key is a 401 JSON error", async () => {
      const missing = await app.request("http://sync.test/api/directories");
      expect(missing.status).toBe(401);
      expect(missing.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await missing.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
      expect((await api("GET", "/directories", undefined, { authorization: `Bearer ${generateAdminKey()}` })).status).toBe(401);
      expect((await api("GET", "/directories", undefined, { authorization: `Bearer ${key}x` })).status).toBe(401);
      expect((await api("GET", "/directories", undefined, { authorization: `Basic ${key}` })).status).toBe(401);
      expect((await api("GET", "/directories", undefined, { authorization: "Bearer " })).status).toBe(401);
      expect((await api("GET", "/directories")).status).toBe(200);

      const rotated = await createAdminKey(sync.db);
      expect((await api("GET", "/directories")).status).toBe(401);
      expect((await api("GET", "/directories", undefined, { authorization: `Bearer ${rotated}` })).status).toBe(200);
    });

    it("admin keys: prefix and 256 random bits, only the hash stored, constant-time comparison of equal-length digests", async () => {
      expect(key).toMatch(new RegExp(`^${ADMIN_KEY_PREFIX}[A-Za-z0-9_-]{43}$`));
      const rows = await sync.db.selectFrom("dir_settings").selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(key);
      expect(await readAdminKeyHash(sync.db)).toBe(hashAdminKey(key));
      expect(await hasAdminKey(sync.db)).toBe(true);
      const hash = hashAdminKey(key);
      expect(verifyAdminKey(key, hash)).toBe(true);
      // Any length, any content: never throws (both sides are 32-byte digests), never matches.
      for (const wrong of ["", "x", key.slice(0, -1), `${key}${"y".repeat(1000)}`, undefined]) expect(verifyAdminKey(wrong, hash)).toBe(false);
      expect(verifyAdminKey(key, undefined)).toBe(false);
      expect(verifyAdminKey(key, "not-hex")).toBe(false);
      expect(verifyAdminKey("", hashAdminKey(""))).toBe(false);
    });

    it("with no key configured every request is refused; a fixed hash can come from the host", async () => {
      const fresh = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), now });
      try {
        expect(await hasAdminKey(fresh.db)).toBe(false);
        const bare = directoryApp(fresh);
        expect((await bare.request("http://x.test/api/directories", { headers: { authorization: "Bearer " } })).status).toBe(401);
        const envKey = generateAdminKey();
        const configured = directoryApp(fresh, { adminKeyHash: hashAdminKey(envKey) });
        expect((await configured.request("http://x.test/api/directories", { headers: { authorization: `Bearer ${envKey}` } })).status).toBe(200);
      } finally {
        await fresh.close();
      }
    });

    it("a wrong or missing key spends a failure bucket of its address, never the valid key's: failures cannot lock the admin out", async () => {
      const from = (target: { request: typeof app.request }, path: string, authorization: string | undefined, address = "203.0.113.9") =>
        target.request(`http://sync.test${path}`, { headers: authorization === undefined ? {} : { authorization } }, { incoming: { socket: { remoteAddress: address } } });
      // The reviewer's case, on the defaults: 300 wrong keys from one address, then the right one.
      const wrong: number[] = [];
      for (let i = 0; i < 300; i++) wrong.push((await from(app, "/api/directories", "Bearer wrong")).status);
      expect(wrong.slice(0, 100)).toEqual(Array(100).fill(401));
      expect(wrong.filter((s) => s === 429).length).toBeGreaterThan(150);
      expect((await from(app, "/api/directories", `Bearer ${key}`)).status).toBe(200);

      // Small buckets (no refill during the test): 3 failures, then 429 with Retry-After; the 401 as it was.
      const admin = adminApi(sync, { rateLimit: { requestsPerSecond: 0.001, burst: 5 }, authFailureRateLimit: { requestsPerSecond: 0.001, burst: 3 } });
      const refused = await from(admin, "/directories", "Bearer wrong");
      expect([refused.status, refused.headers.get("www-authenticate"), await refused.json()]).toEqual([
        401,
        'Bearer realm="directory-sync-admin"',
        { error: { code: "unauthorized", message: "a valid admin API key is required (Authorization: Bearer <key>)" } },
      ]);
      expect((await from(admin, "/directories", undefined)).status).toBe(401);
      expect((await from(admin, "/directories", `Basic ${key}`)).status).toBe(401);
      const limited = await from(admin, "/directories", "Bearer wrong");
      expect([limited.status, limited.headers.get("retry-after"), ((await limited.json()) as Any).error.code]).toEqual([429, "1000", "rate_limited"]);
      expect((await from(admin, "/directories", undefined)).status).toBe(429);
      // Another address has its own failures.
      expect((await from(admin, "/directories", "Bearer wrong", "198.51.100.7")).status).toBe(401);
      // The valid key from the same address spends its own bucket only.
      const valid: number[] = [];
      for (let i = 0; i < 6; i++) valid.push((await from(admin, "/directories", `Bearer ${key}`)).status);
      expect(valid).toEqual([200, 200, 200, 200, 200, 429]);
    });

    it("a large page counts as one request plus one per 64 KiB of its answer; small answers as one", async () => {
      const directory = await createDirectory();
      const users = Array.from({ length: 150 }, (_, i) => ({ id: `u${i}`, attributes: { schemas: [USER], userName: `u${i}@acme.test`, displayName: "x".repeat(1200) }, uniqueKeys: [{ attribute: "userName", value: `u${i}@acme.test` }] }));
      await sync.store.importResources({ tenant: directory.id }, "User", users);
      // A bucket of 30 without refill during the test.
      const admin = adminApi(sync, { rateLimit: { requestsPerSecond: 0.001, burst: 30 } });
      const get = (path: string, address = "203.0.113.9") => admin.request(`http://sync.test${path}`, { headers: { authorization: `Bearer ${key}` } }, { incoming: { socket: { remoteAddress: address } } });
      const first = await get(`/directories/${directory.id}/users?limit=150`);
      expect(first.status).toBe(200);
      const bytes = Number(first.headers.get("content-length"));
      expect(bytes).toBe(new TextEncoder().encode(await first.text()).length);
      const perPage = 1 + Math.floor(bytes / (64 * 1024));
      expect(perPage).toBeGreaterThanOrEqual(3);
      const statuses = [200];
      for (let i = 0; i < 30; i++) statuses.push((await get(`/directories/${directory.id}/users?limit=150`)).status);
      const answered = statuses.filter((s) => s === 200).length;
      expect(answered).toBe(Math.ceil(30 / perPage));
      expect(statuses.slice(answered).every((s) => s === 429)).toBe(true);
      // Small answers from another address: one request each.
      const small: number[] = [];
      for (let i = 0; i < 31; i++) small.push((await get(`/directories/${directory.id}/users?limit=1`, "198.51.100.7")).status);
      expect(small.slice(0, 30).every((s) => s === 200)).toBe(true);
      expect(small[30]).toBe(429);
    });

    it("the OpenAPI document is public; everything else is not", async () => {
      const doc = await app.request("http://sync.test/api/openapi.json");
      expect(doc.status).toBe(200);
      expect(((await doc.json()) as Any).openapi).toBe("3.1.0");
      expect((await app.request("http://sync.test/api/nowhere")).status).toBe(401);
      expect((await api("GET", "/nowhere")).status).toBe(404);
    });
  });

  describe("reads", () => {
    it("take turns, each until its answer is written (a page of 8 MiB nobody reads holds its turn)", async () => {
      const admin = adminApi(sync, { maxConcurrentReads: 1 });
      const unwritten = () => Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, socket: null });
      const get = (path: string, outgoing = unwritten()) =>
        admin.request(`http://sync.test${path}`, { headers: { authorization: `Bearer ${key}` } }, { outgoing, incoming: { socket: { remoteAddress: "10.0.0.1" } } });
      const held = unwritten();
      expect((await get("/directories", held)).status).toBe(200);
      let answered = false;
      const waiting = Promise.resolve(get("/events")).then((r) => ((answered = true), r));
      // Writes do not wait for reads.
      const created = await admin.request("http://sync.test/directories", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ organizationId: "org_1", name: "Acme" }),
      });
      expect(created.status).toBe(201);
      // Nor do reads of one thing.
      const directoryId = ((await created.json()) as { id: string }).id;
      expect((await get(`/directories/${directoryId}`)).status).toBe(200);
      expect((await get(`/directories/${directoryId}/status`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(answered).toBe(false);
      held.emit("close");
      expect((await waiting).status).toBe(200);
    });
  });

  describe("validation and error shapes", () => {
    it("a change PostgreSQL gave up for a concurrent one (a deadlock) is a 409 concurrent_change with Retry-After, not a 500: retrying succeeds", async () => {
      const directory = await createDirectory();
      const deleting = vi.spyOn(sync.directories, "delete").mockRejectedValueOnce(new ConcurrentChangeError());
      const rotating = vi.spyOn(sync.tokens, "rotate").mockRejectedValueOnce(Object.assign(new Error("deadlock detected"), { code: "40P01" }));
      try {
        const refused = await api("DELETE", `/directories/${directory.id}`);
        expect([refused.status, refused.headers.get("retry-after"), refused.body.error.code]).toEqual([409, "1", "concurrent_change"]);
        const rotation = await api("POST", `/directories/${directory.id}/tokens/rotate`, {});
        expect([rotation.status, rotation.body.error.code]).toEqual([409, "concurrent_change"]);
      } finally {
        deleting.mockRestore();
        rotating.mockRestore();
      }
      expect((await api("DELETE", `/directories/${directory.id}`)).status).toBe(204);
    });

    it("400 with the zod issues summarised; unknown fields refused", async () => {
      const r = await api("POST", "/directories", { name: "", type: "ldap" });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("validation_failed");
      expect(r.body.error.issues.map((i: Any) => i.path).sort()).toEqual(["name", "organizationId", "type"]);
      expect(r.body.error.message).toContain("organizationId");
      const unknown = await api("POST", "/directories", { organizationId: "o", name: "n", colour: "red" });
      expect(unknown.status).toBe(400);
      const settings = await api("POST", "/directories", { organizationId: "o", name: "n", settings: { rateLimit: { requestsPerSecond: -1, burst: 1 } } });
      expect(settings.body.error.issues[0].path).toBe("settings.rateLimit.requestsPerSecond");
      const cidr = await api("POST", "/directories", { organizationId: "o", name: "n", settings: { ipAllowlist: ["10.0.0.0/8", "999.1.1.1/8"] } });
      expect([cidr.status, cidr.body.error.issues[0].path]).toEqual([400, "settings.ipAllowlist.1"]);
      expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    });

    it("an allowlist entry in IPv4-mapped dotted form (::ffff:127.0.0.1) is accepted and matches its client in any form", async () => {
      const directory = await createDirectory();
      const updated = await api("PATCH", `/directories/${directory.id}`, { settings: { ipAllowlist: ["::ffff:127.0.0.1", "::ffff:10.0.0.0/104"] } });
      expect([updated.status, updated.body.settings?.ipAllowlist]).toEqual([200, ["::ffff:127.0.0.1", "::ffff:10.0.0.0/104"]]);
      const { token } = (await api("POST", `/directories/${directory.id}/tokens`)).body;
      const from = (address: string) =>
        app.request(`http://sync.test/scim/v2/${directory.id}/Users`, { headers: { authorization: `Bearer ${token}` } }, { incoming: { socket: { remoteAddress: address } } });
      for (const address of ["127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1", "10.1.2.3", "::ffff:10.1.2.3"]) expect([address, (await from(address)).status]).toEqual([address, 200]);
      expect((await from("127.0.0.2")).status).toBe(403);
    });

    it("malformed JSON 400, not JSON 415, oversized 413, bad query 400", async () => {
      expect((await api("POST", "/directories", "{nope")).body.error.code).toBe("invalid_json");
      // Nested past 64 levels: refused before anything walks it (the audit entry holds no input).
      const deep = await api("POST", "/directories", `{"organizationId":"o","name":"n","settings":${"[".repeat(1000)}${"]".repeat(1000)}}`);
      expect([deep.status, deep.body.error.code, deep.body.error.message]).toEqual([400, "invalid_json", "the body is nested more than 64 levels deep"]);
      const text = await api("POST", "/directories", "organizationId=o", { "content-type": "text/plain" });
      expect([text.status, text.body.error.code]).toEqual([415, "unsupported_media_type"]);
      const large = await api("POST", "/directories", { organizationId: "o", name: "x".repeat(5000) });
      expect([large.status, large.body.error.code]).toEqual([413, "payload_too_large"]);
      const limit = await api("GET", "/events?limit=0");
      expect([limit.status, limit.body.error.issues[0].path]).toEqual([400, "limit"]);
      // The message says what is wrong: the range, not the form.
      expect(limit.body.error.issues[0].message).toMatch(/>=1/);
      expect((await api("GET", "/events?limit=20000")).body.error.issues[0].message).toMatch(/<=1000\b/);
      expect((await api("GET", "/events?limit=ten")).body.error.issues[0].message).toBe("expected a whole number in decimal digits");
      expect((await api("GET", "/audit-log?kind=other")).status).toBe(400);
      expect((await api("DELETE", "/audit-log")).status).toBe(400);
    });

    it("an unexpected error is a generic 500 and goes to onError", async () => {
      const seen: unknown[] = [];
      const failing = directoryApp({ ...sync, directories: { ...sync.directories, list: () => Promise.reject(new Error("db password=hunter2 leaked")) } } as Any, {
        onError: (e) => seen.push(e),
      });
      const r = await failing.request("http://sync.test/api/directories", { headers: { authorization: `Bearer ${key}` } });
      expect(r.status).toBe(500);
      const text = await r.text();
      expect(text).not.toContain("hunter2");
      expect(JSON.parse(text)).toEqual({ error: { code: "internal_error", message: "an unexpected error occurred" } });
      expect(seen).toHaveLength(1);
    });
  });

  describe("directories", () => {
    it("create, get, list with a cursor, update (settings merged), delete; each with its scimUrl", async () => {
      const a = await createDirectory();
      expect(a).toMatchObject({ organizationId: "org_1", name: "Acme Okta", type: "okta", state: "active", scimUrl: `http://sync.test/scim/v2/${a.id}` });
      expect((await api("GET", `/directories/${a.id}`)).body).toEqual(a);
      clock += 1000;
      const b = await createDirectory({ organizationId: "org_2", name: "Beta Entra", type: "azure-ad" });
      clock += 1000;
      const c = await createDirectory({ name: "Acme Google", type: "google-workspace" });

      // Oldest first (the ids are random: their order is not the creation order).
      const page1 = await api("GET", "/directories?limit=2");
      expect(page1.body.data).toHaveLength(2);
      const page2 = await api("GET", `/directories?limit=2&cursor=${page1.body.nextCursor}`);
      expect(page2.body.nextCursor).toBeNull();
      // A full last page says there is no next one.
      expect((await api("GET", "/directories?limit=3")).body).toMatchObject({ data: [{}, {}, {}], nextCursor: null });
      expect([...page1.body.data, ...page2.body.data].map((d: Any) => d.id)).toEqual([a.id, b.id, c.id]);
      expect((await api("GET", "/directories?organizationId=org_1")).body.data.map((d: Any) => d.id).sort()).toEqual([a.id, c.id].sort());
      // An organization's pages continue from the cursor too.
      const org1 = await api("GET", "/directories?organizationId=org_1&limit=1");
      const org1Next = await api("GET", `/directories?organizationId=org_1&limit=1&cursor=${encodeURIComponent(org1.body.nextCursor)}`);
      expect([...org1.body.data, ...org1Next.body.data].map((d: Any) => d.id).sort()).toEqual([a.id, c.id].sort());

      const updated = await api("PATCH", `/directories/${a.id}`, { name: "Renamed", settings: { deleteMode: "hard" } });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ name: "Renamed", settings: { deleteMode: "hard", linkByEmail: false } });

      expect((await api("DELETE", `/directories/${a.id}`)).status).toBe(204);
      expect((await api("GET", `/directories/${a.id}`)).status).toBe(404);
    });

    it("a PATCH of some settings keeps every other setting as it was", async () => {
      const a = await createDirectory();
      const set = { linkByEmail: true, deleteMode: "hard", tokenGracePeriodSeconds: 60, rateLimit: { requestsPerSecond: 5, burst: 5 }, ipAllowlist: ["10.0.0.0/8"], attributeMapping: { dept: "title" } };
      expect((await api("PATCH", `/directories/${a.id}`, { settings: set })).body.settings).toEqual(set);
      const mapped = await api("PATCH", `/directories/${a.id}`, { settings: { attributeMapping: { costCenter: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter" } } });
      expect(mapped.body.settings).toEqual({ ...set, attributeMapping: { costCenter: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter" } });
      const renamed = await api("PATCH", `/directories/${a.id}`, { name: "Only the name", settings: { deleteMode: "soft" } });
      expect(renamed.body.settings).toEqual({ ...mapped.body.settings, deleteMode: "soft" });
      expect((await api("GET", `/directories/${a.id}`)).body.settings).toEqual(renamed.body.settings);
    });

    it("an attribute mapping must name attributes the registry defines; a null body is refused", async () => {
      const a = await createDirectory();
      const good = {
        title: "title",
        department: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        manager: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        given: "name.givenName",
        workEmail: 'emails[type eq "work"].value',
      };
      expect((await api("PATCH", `/directories/${a.id}`, { settings: { attributeMapping: good } })).body.settings.attributeMapping).toEqual(good);
      for (const path of ["nonexistentAttr", "name.nope", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope", "urn:unknown:schema:foo", "emails[type eq", 'emails[type eq "work"].nope', "id", "meta.created", "groups", "groups.display", "password", 'emails[bogus eq "x"].value', "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName"]) {
        const r = await api("PATCH", `/directories/${a.id}`, { settings: { attributeMapping: { x: path } } });
        expect([path, r.status, r.body.error.code]).toEqual([path, 400, "invalid_attribute_mapping"]);
        expect(r.body.error.message).toContain("settings.attributeMapping.x");
      }
      const created = await api("POST", "/directories", { organizationId: "org_1", name: "Bad", settings: { attributeMapping: { x: "nope" } } });
      expect(created.status).toBe(400);
      expect((await api("GET", `/directories/${a.id}`)).body.settings.attributeMapping).toEqual(good);
      expect((await api("PATCH", `/directories/${a.id}`, null)).status).toBe(400);
    });

    it("directories created in the same millisecond page by id: each exactly once", async () => {
      const made = [];
      for (let i = 0; i < 5; i++) made.push((await createDirectory({ name: `Same ${i}` })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Any = await api("GET", `/directories?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        seen.push(...page.body.data.map((d: Any) => d.id));
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      expect(seen).toEqual([...made].sort());
    });

    it("a malformed cursor is a 400 invalid_cursor on the directories list, as on the users and groups lists", async () => {
      const directory = await createDirectory();
      await createDirectory({ name: "Second" });
      const invalid = { error: { code: "invalid_cursor", message: "the cursor is not valid" } };
      const lists = ["/directories", `/directories/${directory.id}/users`, `/directories/${directory.id}/groups`];
      const base64 = (text: string) => Buffer.from(text).toString("base64url");
      for (const cursor of ["garbage", base64("{"), base64("[1]"), base64(JSON.stringify({ v: 2, id: directory.id, seq: 1 }))]) {
        for (const path of lists) {
          const r = await api("GET", `${path}?cursor=${encodeURIComponent(cursor)}`);
          expect([path, cursor, r.status, r.body]).toEqual([path, cursor, 400, invalid]);
        }
      }
      // Each list takes its own cursors only.
      const first = (await api("GET", "/directories?limit=1")).body;
      const directoriesCursor = first.nextCursor;
      const second = (await api("GET", `/directories?limit=1&cursor=${encodeURIComponent(directoriesCursor)}`)).body;
      expect([...first.data, ...second.data].map((d: Any) => d.name).sort()).toEqual(["Acme Okta", "Second"]);
      expect((await api("GET", `/directories/${directory.id}/users?cursor=${encodeURIComponent(directoriesCursor)}`)).body).toEqual(invalid);
      expect((await api("GET", `/directories?cursor=${base64(JSON.stringify({ v: 1, seq: 1 }))}`)).body).toEqual(invalid);
      // A directories cursor handed out before cursors named their list still pages the directories.
      const old = base64(JSON.stringify({ v: 1, created: first.data[0].createdAt, id: first.data[0].id }));
      expect((await api("GET", `/directories?limit=1&cursor=${old}`)).body.data).toEqual(second.data);
    });

    it("a users cursor pages its directory's users only: not its groups, not another directory's users", async () => {
      const directory = await createDirectory();
      const other = await createDirectory({ name: "Other" });
      const invalid = { error: { code: "invalid_cursor", message: "the cursor is not valid" } };
      for (const d of [directory, other]) {
        const { token } = (await api("POST", `/directories/${d.id}/tokens`)).body;
        for (const userName of ["a@acme.test", "b@acme.test"]) expect((await scim(d.id, token, "POST", "/Users", { schemas: [USER], userName })).status).toBe(201);
        for (const displayName of ["A", "B"]) expect((await scim(d.id, token, "POST", "/Groups", { schemas: [GROUP], displayName })).status).toBe(201);
      }
      const cursor = encodeURIComponent((await api("GET", `/directories/${directory.id}/users?limit=1`)).body.nextCursor);
      expect((await api("GET", `/directories/${directory.id}/users?cursor=${cursor}`)).body.data.map((u: Any) => u.username)).toEqual(["b@acme.test"]);
      for (const path of [`/directories/${directory.id}/groups`, `/directories/${other.id}/users`, `/directories/${other.id}/groups`, "/directories"]) {
        const r = await api("GET", `${path}?cursor=${cursor}`);
        expect([path, r.status, r.body]).toEqual([path, 400, invalid]);
      }
    });

    it("404 for an unknown directory on every directory route", async () => {
      const id = "dir_000000000000000000000000";
      for (const [method, path, body] of [
        ["GET", `/directories/${id}`],
        ["PATCH", `/directories/${id}`, { name: "x" }],
        ["DELETE", `/directories/${id}`],
        ["GET", `/directories/${id}/status`],
        ["GET", `/directories/${id}/tokens`],
        ["POST", `/directories/${id}/tokens`],
        ["POST", `/directories/${id}/tokens/rotate`],
        ["DELETE", `/directories/${id}/tokens/tok_1`],
      ] as const) {
        const r = await api(method, path, body);
        expect([method, path, r.status, r.body.error.code]).toEqual([method, path, 404, "not_found"]);
      }
    });
  });

  describe("tokens", () => {
    it("a token or key pasted where an id goes is redacted from the error's message", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token as string;
      for (const [method, path] of [
        ["DELETE", `/directories/${directory.id}/tokens/${token}`],
        ["GET", `/directories/${key}`],
        ["GET", `/directories/${token}/users`],
        ["GET", `/directories/${directory.id}/users/${token}`],
      ] as const) {
        const r = await api(method, path);
        expect(r.status, path).toBe(404);
        const text = JSON.stringify(r.body);
        expect(text).not.toContain(token.slice(-43));
        expect(text).not.toContain(key.slice(-43));
        expect(r.body.error.message).toContain("[REDACTED]");
      }
      // Ids that are no secret stay in the message.
      expect((await api("GET", "/directories/dir_000000000000000000000000")).body.error.message).toContain("dir_000000000000000000000000");
    });

    it("writes refuse query parameters they do not take, and a body where they take none: ?dryRun=true is no real rotation", async () => {
      const directory = await createDirectory();
      const first = await api("POST", `/directories/${directory.id}/tokens`);
      const tokens = async () => (await api("GET", `/directories/${directory.id}/tokens`)).body.data.length;
      const refused = await api("POST", `/directories/${directory.id}/tokens/rotate?dryRun=true`);
      expect([refused.status, refused.body.error.code]).toEqual([400, "validation_failed"]);
      expect(await tokens()).toBe(1);
      expect((await api("POST", `/directories/${directory.id}/tokens/rotate`, "{not json")).body.error.code).toBe("invalid_json");
      expect((await api("POST", `/directories/${directory.id}/tokens/rotate`, { gracePeriodSeconds: 0 })).body.error.code).toBe("validation_failed");
      expect((await api("POST", `/directories/${directory.id}/tokens`, "x", { "content-type": "text/plain" })).status).toBe(415);
      expect((await api("DELETE", `/directories/${directory.id}/tokens/${first.body.id}?force=1`)).status).toBe(400);
      expect((await api("DELETE", `/directories/${directory.id}?cascade=false`)).status).toBe(400);
      expect((await api("PATCH", `/directories/${directory.id}?merge=false`, { name: "x" })).status).toBe(400);
      expect((await api("POST", "/directories?dryRun=true", { organizationId: "org_q", name: "Q" })).status).toBe(400);
      expect(await tokens()).toBe(1);
      expect((await api("GET", `/directories/${directory.id}`)).body.name).toBe(directory.name);
      // An empty body or {} is no input.
      expect((await api("POST", `/directories/${directory.id}/tokens/rotate`, {})).status).toBe(201);
      expect((await api("DELETE", `/directories/${directory.id}/tokens/${first.body.id}`)).status).toBe(200);
    });

    it("the secret is shown once on create and rotate, never in a list or the audit log", async () => {
      const directory = await createDirectory();
      const created = await api("POST", `/directories/${directory.id}/tokens`);
      expect(created.status).toBe(201);
      expect(created.body.token).toMatch(/^dsync_/);
      expect((await scim(directory.id, created.body.token, "GET", "/Users")).status).toBe(200);

      const rotated = await api("POST", `/directories/${directory.id}/tokens/rotate`);
      expect(rotated.status).toBe(201);
      expect(rotated.body.token).not.toBe(created.body.token);
      // No cache on the way keeps a secret (nor users: SCIM answers, errors included, say the same).
      const users = await scim(directory.id, created.body.token, "GET", "/Users");
      const refused = await scim(directory.id, "dsync_wrong", "GET", "/Users");
      for (const headers of [created.headers, rotated.headers, users.headers, refused.headers, (await api("GET", "/audit-log")).headers]) {
        expect([headers.get("cache-control"), headers.get("x-content-type-options")]).toEqual(["no-store", "nosniff"]);
      }
      // The previous token stays valid for the grace period.
      expect((await scim(directory.id, created.body.token, "GET", "/Users")).status).toBe(200);

      const listed = await api("GET", `/directories/${directory.id}/tokens`);
      expect(listed.body.data.map((t: Any) => t.id)).toEqual(expect.arrayContaining([created.body.id, rotated.body.id]));
      expect(listed.body.data.every((t: Any) => !("token" in t))).toBe(true);
      await sync.audit.flush();
      const everything = JSON.stringify([listed.body, await sync.db.selectFrom("dir_audit_log").selectAll().execute(), await sync.db.selectFrom("dir_tokens").selectAll().execute()]);
      expect(everything).not.toContain(created.body.token);
      expect(everything).not.toContain(rotated.body.token);

      // Two active: creating a third is a conflict.
      expect((await api("POST", `/directories/${directory.id}/tokens`)).body.error.code).toBe("too_many_tokens");

      const revoked = await api("DELETE", `/directories/${directory.id}/tokens/${created.body.id}`);
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ id: created.body.id, active: false, revokedAt: expect.any(String) });
      expect((await scim(directory.id, created.body.token, "GET", "/Users")).status).toBe(401);
      expect((await api("DELETE", `/directories/${directory.id}/tokens/tok_unknown`)).status).toBe(404);
    });
  });

  describe("role mappings and normalized users and groups", () => {
    it("mappings CRUD gives users their roles; users and groups are listed, filtered, paged and read", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      const post = async (path: string, body: unknown) => (await (await scim(directory.id, token, "POST", path, body)).json()) as Any;
      const alice = await post("/Users", { schemas: [USER], userName: "alice@acme.test", externalId: "00u-alice", name: { givenName: "Alice", familyName: "A" }, emails: [{ value: "alice@acme.test", primary: true }] });
      const bob = await post("/Users", { schemas: [USER], userName: "bob@acme.test", active: false });
      const carol = await post("/Users", { schemas: [USER], userName: "carol@acme.test" });
      const admins = await post("/Groups", { schemas: [GROUP], displayName: "Admins", members: [{ value: alice.id }] });
      await post("/Groups", { schemas: [GROUP], displayName: "Everyone", members: [{ value: alice.id }, { value: bob.id }, { value: carol.id }] });

      const mapping = await api("POST", `/directories/${directory.id}/role-mappings`, { group: { displayName: "admins" }, role: "admin" });
      expect(mapping.status).toBe(201);
      expect(mapping.body).toMatchObject({ directoryId: directory.id, group: { displayName: "admins" }, role: "admin" });
      const byId = await api("POST", `/directories/${directory.id}/role-mappings`, { group: { id: admins.id }, role: "billing" });
      expect(byId.status).toBe(201);
      expect((await api("POST", `/directories/${directory.id}/role-mappings`, { group: { displayName: "Admins" }, role: "admin" })).status).toBe(409);
      expect((await api("POST", `/directories/${directory.id}/role-mappings`, { group: { id: "nope" }, role: "x" })).status).toBe(404);
      expect((await api("POST", `/directories/${directory.id}/role-mappings`, { group: {}, role: "x" })).status).toBe(400);
      // Lengths are checked as sent (the document's maxLength), then the role is trimmed.
      expect((await api("POST", `/directories/${directory.id}/role-mappings`, { group: { displayName: "admins" }, role: ` ${"a".repeat(200)} ` })).status).toBe(400);
      expect((await api("POST", `/directories/${directory.id}/role-mappings`, { group: { displayName: "admins" }, role: "   " })).status).toBe(400);
      expect((await api("GET", `/directories/${directory.id}/role-mappings`)).body.data.map((m: Any) => m.role).sort()).toEqual(["admin", "billing"]);

      const user = await api("GET", `/directories/${directory.id}/users/${alice.id}`);
      expect(user.body).toMatchObject({ id: alice.id, email: "alice@acme.test", username: "alice@acme.test", firstName: "Alice", state: "active", roles: ["admin", "billing"] });
      expect(user.body.groups.map((g: Any) => g.name).sort()).toEqual(["Admins", "Everyone"]);

      expect((await api("DELETE", `/directories/${directory.id}/role-mappings/${byId.body.id}`)).status).toBe(204);
      expect((await api("DELETE", `/directories/${directory.id}/role-mappings/${byId.body.id}`)).status).toBe(404);
      expect((await api("GET", `/directories/${directory.id}/users/${alice.id}`)).body.roles).toEqual(["admin"]);
      const events = (await api("GET", `/events?directoryId=${directory.id}&limit=1000`)).body.data.filter((e: Any) => e.type === "user.roles_changed");
      expect(events.map((e: Any) => e.data.roles)).toEqual([["admin"], ["admin", "billing"], ["admin"]]);

      const page1 = await api("GET", `/directories/${directory.id}/users?limit=2`);
      expect(page1.body.data.map((u: Any) => u.username)).toEqual(["alice@acme.test", "bob@acme.test"]);
      const page2 = await api("GET", `/directories/${directory.id}/users?limit=2&cursor=${encodeURIComponent(page1.body.nextCursor)}`);
      expect(page2.body).toMatchObject({ data: [{ username: "carol@acme.test" }], nextCursor: null });
      expect((await api("GET", `/directories/${directory.id}/users?state=suspended`)).body.data.map((u: Any) => u.id)).toEqual([bob.id]);
      expect((await api("GET", `/directories/${directory.id}/users?email=ALICE@acme.test`)).body.data.map((u: Any) => u.id)).toEqual([alice.id]);
      expect((await api("GET", `/directories/${directory.id}/users?username=carol@acme.test`)).body.data.map((u: Any) => u.id)).toEqual([carol.id]);
      expect((await api("GET", `/directories/${directory.id}/users?group=${admins.id}`)).body.data.map((u: Any) => u.id)).toEqual([alice.id]);
      expect((await api("GET", `/directories/${directory.id}/users?state=gone`)).status).toBe(400);
      expect((await api("GET", `/directories/${directory.id}/users?externalId=00u-alice`)).body.data.map((u: Any) => u.id)).toEqual([alice.id]);
      expect((await api("GET", `/directories/${directory.id}/users?externalId=00U-ALICE`)).body.data).toEqual([]);
      // A filter the list does not have is refused, not ignored (it would answer every user).
      const unknown = await api("GET", `/directories/${directory.id}/users?displayName=Alice`);
      expect([unknown.status, unknown.body.error.code]).toEqual([400, "validation_failed"]);
      expect((await api("GET", `/directories/${directory.id}/users?cursor=garbage`)).body.error.code).toBe("invalid_cursor");
      // Reads without parameters refuse one too: `?role=admin` must not look like a filter that worked.
      for (const path of ["", "/status", "/tokens", "/role-mappings?role=admin", `/users/${alice.id}`, `/groups/${admins.id}`]) {
        const target = `/directories/${directory.id}${path}${path.includes("?") ? "" : "?limit=1"}`;
        const r = await api("GET", target);
        expect([target, r.status, r.body.error?.code]).toEqual([target, 400, "validation_failed"]);
        expect((await api("GET", target.split("?")[0]!)).status).toBe(200);
      }

      const groups = await api("GET", `/directories/${directory.id}/groups`);
      expect(groups.body.data.map((g: Any) => g.name)).toEqual(["Admins", "Everyone"]);
      expect((await api("GET", `/directories/${directory.id}/groups?name=everyone`)).body.data).toHaveLength(1);
      expect((await api("GET", `/directories/${directory.id}/groups/${admins.id}`)).body).toMatchObject({ id: admins.id, name: "Admins" });

      for (const path of [`/users/unknown`, `/groups/unknown`]) expect((await api("GET", `/directories/${directory.id}${path}`)).status).toBe(404);
      const missing = "dir_000000000000000000000000";
      for (const path of ["/users", "/groups", "/role-mappings", `/users/${alice.id}`]) expect((await api("GET", `/directories/${missing}${path}`)).status).toBe(404);
      expect((await api("POST", `/directories/${missing}/role-mappings`, { group: { displayName: "x" }, role: "x" })).status).toBe(404);

      // Mapping changes are audited with their input.
      const audited = (await api("GET", "/audit-log?kind=admin")).body.data.filter((e: Any) => e.path.includes("role-mappings"));
      expect(audited[0]).toMatchObject({ method: "POST", status: 201, resourceId: mapping.body.id, detail: { input: { role: "admin" } } });
    });

    it("a mapping is read and changed by id: 200, 400, 404 and 409 as JSON errors, the change audited", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      const alice = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "alice@acme.test" })).json()) as Any;
      await scim(directory.id, token, "POST", "/Groups", { schemas: [GROUP], displayName: "Admins", members: [{ value: alice.id }] });
      const path = `/directories/${directory.id}/role-mappings`;
      const mapping = (await api("POST", path, { group: { displayName: "admins" }, role: "admin" })).body;
      const billing = (await api("POST", path, { group: { displayName: "admins" }, role: "billing" })).body;

      expect(await api("GET", `${path}/${mapping.id}`)).toMatchObject({ status: 200, body: mapping });
      const updated = await api("PATCH", `${path}/${mapping.id}`, { role: "owner" });
      expect(updated).toMatchObject({ status: 200, body: { ...mapping, role: "owner" } });
      expect((await api("GET", `${path}/${mapping.id}`)).body).toEqual(updated.body);
      expect((await api("GET", `/directories/${directory.id}/users/${alice.id}`)).body.roles).toEqual(["billing", "owner"]);
      const events = (await api("GET", `/events?directoryId=${directory.id}&limit=1000`)).body.data.filter((e: Any) => e.type === "user.roles_changed");
      expect(events.at(-1).data).toEqual({ roles: ["billing", "owner"], added: ["owner"], removed: ["admin"] });

      for (const input of [undefined, {}, { role: "" }, { group: {} }, { role: "x", colour: "red" }]) {
        const r = await api("PATCH", `${path}/${mapping.id}`, input);
        expect([JSON.stringify(input), r.status, r.body.error.code]).toEqual([JSON.stringify(input), 400, "validation_failed"]);
      }
      const duplicate = await api("PATCH", `${path}/${billing.id}`, { role: "owner" });
      expect([duplicate.status, duplicate.body.error.code]).toEqual([409, "duplicate_mapping"]);

      const other = await createDirectory({ name: "Other" });
      const missing = "dir_000000000000000000000000";
      for (const [method, target, body] of [
        ["GET", `${path}/map_unknown`],
        ["PATCH", `${path}/map_unknown`, { role: "x" }],
        ["GET", `/directories/${other.id}/role-mappings/${mapping.id}`],
        ["PATCH", `/directories/${other.id}/role-mappings/${mapping.id}`, { role: "x" }],
        ["GET", `/directories/${missing}/role-mappings/${mapping.id}`],
        ["PATCH", `/directories/${missing}/role-mappings/${mapping.id}`, { role: "x" }],
        ["PATCH", `${path}/${mapping.id}`, { group: { id: "no-such-group" } }],
        ["DELETE", `${path}/map_unknown`],
        ["DELETE", `/directories/${other.id}/role-mappings/${mapping.id}`],
        ["DELETE", `/directories/${missing}/role-mappings/${mapping.id}`],
      ] as const) {
        const r = await api(method, target, body);
        expect([method, target, r.status, r.body]).toEqual([method, target, 404, { error: { code: "not_found", message: expect.any(String) } }]);
      }
      expect((await api("GET", `${path}/${mapping.id}`)).body).toEqual(updated.body);

      const audited = (await api("GET", "/audit-log?kind=admin")).body.data.filter((e: Any) => e.method === "PATCH");
      expect(audited[0]).toMatchObject({ actor: "admin", directoryId: directory.id, path: `/api${path}/${mapping.id}`, status: 200, resourceId: mapping.id, detail: { input: { role: "owner" } } });
      expect(audited.map((e: Any) => e.status)).toEqual([200, 400, 400, 400, 400, 400, 409, 404, 404, 404, 404]);
    });
  });

  describe("events", () => {
    it("in order after a cursor, per directory, paged with nextCursor and hasMore", async () => {
      const a = await createDirectory();
      const b = await createDirectory({ name: "Other" });
      const ta = (await api("POST", `/directories/${a.id}/tokens`)).body.token;
      const tb = (await api("POST", `/directories/${b.id}/tokens`)).body.token;
      for (const name of ["one", "two", "three"]) expect((await scim(a.id, ta, "POST", "/Users", { schemas: [USER], userName: `${name}@acme.test` })).status).toBe(201);
      await scim(b.id, tb, "POST", "/Users", { schemas: [USER], userName: "other@beta.test" });

      const first = await api("GET", `/events?directoryId=${a.id}&limit=2`);
      expect(first.body.data.map((e: Any) => e.resource.userName)).toEqual(["one@acme.test", "two@acme.test"]);
      expect(first.body).toMatchObject({ hasMore: true, nextCursor: first.body.data[1].seq });
      expect(first.body.data[0]).toMatchObject({ type: "user.created", directoryId: a.id, resourceType: "User" });
      const second = await api("GET", `/events?directoryId=${a.id}&limit=2&after=${first.body.nextCursor}`);
      expect(second.body.data.map((e: Any) => e.resource.userName)).toEqual(["three@acme.test"]);
      expect(second.body.hasMore).toBe(false);
      // Nothing new: the cursor stays where it was.
      const empty = await api("GET", `/events?directoryId=${a.id}&after=${second.body.nextCursor}`);
      expect(empty.body).toEqual({ data: [], nextCursor: second.body.nextCursor, hasMore: false });
      const all = await api("GET", "/events");
      expect(all.body.data).toHaveLength(4);
      expect(all.body.data.map((e: Any) => e.seq)).toEqual([...all.body.data.map((e: Any) => e.seq)].sort((x: number, y: number) => x - y));
    });

    it("a directory id with a typo is a 400, one that names nothing a 404; a deleted directory's events stay readable", async () => {
      const quiet = await createDirectory({ name: "Quiet" });
      // A directory with no events yet: an empty page, not a 404.
      expect((await api("GET", `/events?directoryId=${quiet.id}`)).body).toEqual({ data: [], nextCursor: 0, hasMore: false });
      for (const typo of [quiet.id.toUpperCase(), `${quiet.id}x`, "dir_123", quiet.id.slice(4)]) {
        for (const path of ["/events", "/audit-log"]) expect((await api("GET", `${path}?directoryId=${typo}`)).body.error.code, `${path} ${typo}`).toBe("validation_failed");
      }
      const unknown = await api("GET", "/events?directoryId=dir_000000000000000000000000");
      expect([unknown.status, unknown.body.error.code]).toEqual([404, "not_found"]);

      const gone = await createDirectory({ name: "Gone" });
      const token = (await api("POST", `/directories/${gone.id}/tokens`)).body.token;
      expect((await scim(gone.id, token, "POST", "/Users", { schemas: [USER], userName: "left@gone.test" })).status).toBe(201);
      expect((await api("DELETE", `/directories/${gone.id}`)).status).toBe(204);
      const kept = await api("GET", `/events?directoryId=${gone.id}`);
      expect(kept.body.data.map((e: Any) => e.type)).toEqual(["user.created", "user.deleted", "directory.deleted"]);
      // Past its last event: still a 200 (the reader caught up), not a 404.
      expect((await api("GET", `/events?directoryId=${gone.id}&after=${kept.body.nextCursor}`)).status).toBe(200);
    });
  });

  describe("audit log", () => {
    it("SCIM requests and admin actions are recorded, with passwords and tokens nowhere in the table", async () => {
      const directory = await createDirectory();
      const issued = (await api("POST", `/directories/${directory.id}/tokens`)).body;
      const password = "t1meMa$heen-s3cret";
      const created = await scim(directory.id, issued.token, "POST", "/Users?access_token=leaky-query-secret", { schemas: [USER], userName: "bjensen@acme.test", password });
      expect(created.status).toBe(201);
      const user = (await created.json()) as Any;
      await scim(directory.id, issued.token, "GET", `/Users/${user.id}`);
      await scim(directory.id, "dsync_wrong", "GET", "/Users");
      // An admin input with a password-looking field: refused, recorded, redacted.
      await api("POST", "/directories", { organizationId: "o", name: "n", password: "admin-input-secret" });

      await sync.audit.flush();
      const rows = await sync.db.selectFrom("dir_audit_log").selectAll().execute();
      expect(rows.length).toBeGreaterThan(3);
      const dump = JSON.stringify(rows);
      for (const secret of [password, issued.token, key, "leaky-query-secret", "admin-input-secret"]) expect(dump).not.toContain(secret);

      const scimEntries = (await api("GET", `/audit-log?kind=scim&directoryId=${directory.id}`)).body.data;
      expect(scimEntries.map((e: Any) => [e.method, e.status, e.actor, e.resourceId])).toEqual([
        ["POST", 201, issued.id, user.id],
        ["GET", 200, issued.id, user.id],
        ["GET", 401, null, null],
      ]);
      expect(scimEntries[0].path).toBe(`/scim/v2/${directory.id}/Users?access_token=[REDACTED]`);
      expect(scimEntries[0].durationMs).toBeGreaterThanOrEqual(0);

      const adminEntries = (await api("GET", "/audit-log?kind=admin")).body.data;
      expect(adminEntries.map((e: Any) => [e.method, e.path, e.status])).toEqual([
        ["POST", "/api/directories", 201],
        ["POST", `/api/directories/${directory.id}/tokens`, 201],
        ["POST", "/api/directories", 400],
      ]);
      expect(adminEntries[0]).toMatchObject({ actor: "admin", directoryId: directory.id, resourceId: directory.id, detail: { input: { organizationId: "org_1" } } });
      expect(adminEntries[1]).toMatchObject({ resourceId: issued.id, detail: null });
      expect(adminEntries[2].detail.input.password).toBe("[REDACTED]");
    });

    it("a SCIM filter on a password is recorded without the password; an ordinary filter as it came", async () => {
      const directory = await createDirectory();
      const { token } = (await api("POST", `/directories/${directory.id}/tokens`)).body;
      // Whatever the answer (a password is never returned, RFC 7643 §4.1.1), the request is recorded.
      await scim(directory.id, token, "GET", `/Users?filter=${encodeURIComponent('password eq "Secret-Hunter2"')}&count=5`);
      const plain = `/Users?filter=${encodeURIComponent('userName eq "x"')}`;
      expect((await scim(directory.id, token, "GET", plain)).status).toBe(200);

      const entries = (await api("GET", `/audit-log?kind=scim&directoryId=${directory.id}`)).body.data;
      expect(entries.map((e: Any) => e.path)).toEqual([`/scim/v2/${directory.id}/Users?filter=[REDACTED]&count=5`, `/scim/v2/${directory.id}${plain}`]);
      expect(JSON.stringify(entries)).not.toMatch(/hunter2/i);
      const status = (await api("GET", `/directories/${directory.id}/status`)).body;
      expect(status.lastRequest.path).toBe(`/scim/v2/${directory.id}${plain}`);
    });

    it("a SCIM filter on a custom attribute the schemas never return is recorded without its value", async () => {
      const PIN = "urn:example:params:scim:schemas:extension:badge:2.0:User";
      const registry = createSchemaRegistry({
        schemas: [{ id: PIN, name: "Badge", attributes: [{ name: "pin", type: "string", multiValued: false, required: false, mutability: "writeOnly", returned: "never" }] }],
      }).addExtension("User", { schema: PIN, required: false });
      const own = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), registry, now });
      try {
        const ownApp = directoryApp(own);
        const directory = await own.directories.create({ organizationId: "org_1", name: "Badges" });
        const { token } = await own.tokens.create(directory.id);
        const filter = encodeURIComponent(`${PIN}:pin eq "PIN8888"`);
        const refused = await ownApp.request(`http://sync.test/scim/v2/${directory.id}/Users?filter=${filter}`, { headers: { authorization: `Bearer ${token}` } });
        expect(refused.status).toBe(400);
        await own.audit.flush();
        const entries = (await own.audit.list({ after: 0, limit: 10, directoryId: directory.id })).data;
        expect(entries.map((e) => e.path)).toEqual([`/scim/v2/${directory.id}/Users?filter=[REDACTED]`]);
      } finally {
        await own.close();
      }
    });

    it("a token pasted into a SCIM or admin path is redacted in the entry's path, directory id and resource id", async () => {
      const directory = await createDirectory();
      const issued = (await api("POST", `/directories/${directory.id}/tokens`)).body;
      expect((await scim(directory.id, issued.token, "GET", `/Users/${issued.token}`)).status).toBe(404);
      expect((await api("PATCH", `/directories/${issued.token}`, { name: "x" })).status).toBe(404);
      expect((await api("DELETE", `/directories/${directory.id}/tokens/${issued.token}`)).status).toBe(404);

      await sync.audit.flush();
      expect(JSON.stringify(await sync.db.selectFrom("dir_audit_log").selectAll().execute())).not.toContain(issued.token);
      const entries = (await api("GET", "/audit-log")).body.data.slice(-3);
      expect(entries.map((e: Any) => [e.kind, e.path, e.directoryId, e.resourceId])).toEqual([
        ["scim", `/scim/v2/${directory.id}/Users/[REDACTED]`, directory.id, "[REDACTED]"],
        ["admin", "/api/directories/[REDACTED]", "[REDACTED]", null],
        ["admin", `/api/directories/${directory.id}/tokens/[REDACTED]`, directory.id, "[REDACTED]"],
      ]);
    });

    it("a search is recorded with no resource id", async () => {
      const directory = await createDirectory();
      const { token } = (await api("POST", `/directories/${directory.id}/tokens`)).body;
      const search = await scim(directory.id, token, "POST", "/Users/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], count: 1 });
      expect(search.status).toBe(200);
      const entries = (await api("GET", `/audit-log?kind=scim&directoryId=${directory.id}`)).body.data;
      expect(entries.map((e: Any) => [e.method, e.path, e.resourceId])).toEqual([["POST", `/scim/v2/${directory.id}/Users/.search`, null]]);
    });

    it("refused admin authentications are recorded; reads are not", async () => {
      await app.request("http://sync.test/api/directories", { headers: { authorization: "Bearer dsync_admin_guess" } });
      await api("GET", "/directories");
      const entries = (await api("GET", "/audit-log")).body.data;
      expect(entries.map((e: Any) => [e.method, e.status, e.actor])).toEqual([["GET", 401, null]]);
      expect(JSON.stringify(entries)).not.toContain("dsync_admin_guess");
    });

    it("purges soft-deleted users and groups by age; live ones and other directories stay", async () => {
      const directory = await createDirectory();
      const other = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      const otherToken = (await api("POST", `/directories/${other.id}/tokens`)).body.token;
      const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
      const made = async (dirId: string, tok: string, userName: string) => ((await (await scim(dirId, tok, "POST", "/Users", { schemas: [USER_SCHEMA], userName })).json()) as Any).id as string;
      const gone = await made(directory.id, token, "gone@acme.test");
      const kept = await made(directory.id, token, "kept@acme.test");
      const elsewhere = await made(other.id, otherToken, "elsewhere@acme.test");
      expect((await scim(directory.id, token, "DELETE", `/Users/${gone}`)).status).toBe(204);
      expect((await scim(other.id, otherToken, "DELETE", `/Users/${elsewhere}`)).status).toBe(204);
      const deleted = async (dirId: string) => (await api("GET", `/directories/${dirId}/users?state=deleted`)).body.data.map((u: Any) => u.id);
      expect(await deleted(directory.id)).toEqual([gone]);
      expect((await api("DELETE", `/directories/${directory.id}/deleted-resources?olderThanDays=36500`)).body).toEqual({ deleted: 0 });
      expect((await api("DELETE", `/directories/${directory.id}/deleted-resources?olderThanDays=0`)).body).toEqual({ deleted: 1 });
      expect(await deleted(directory.id)).toEqual([]);
      expect((await api("GET", `/directories/${directory.id}/users/${gone}`)).status).toBe(404);
      expect((await api("GET", `/directories/${directory.id}/users/${kept}`)).body.state).toBe("active");
      expect(await deleted(other.id)).toEqual([elsewhere]);
      expect((await api("DELETE", `/directories/dir_000000000000000000000000/deleted-resources?olderThanDays=0`)).status).toBe(404);
      expect((await api("DELETE", `/directories/${directory.id}/deleted-resources`)).status).toBe(400);
    });

    it("a retention delete with an empty, blank or non-decimal olderThanDays is a 400 and deletes nothing", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      const id = ((await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "soft@acme.test" })).json()) as Any).id as string;
      expect((await scim(directory.id, token, "DELETE", `/Users/${id}`)).status).toBe(204);
      const counts = async () => ({
        audit: (await api("GET", "/audit-log?limit=1000")).body.data.filter((e: Any) => e.kind === "scim").length,
        events: (await api("GET", `/events?directoryId=${directory.id}`)).body.data.length,
        deleted: (await api("GET", `/directories/${directory.id}/users?state=deleted`)).body.data.length,
      });
      const before = await counts();
      expect(before.deleted).toBe(1);
      // An unset shell variable (`?olderThanDays=$DAYS`) must not read as 0: "everything".
      for (const value of ["", "%20", "1e2", "0x10", "-0", "1.0", "7d"]) {
        for (const path of ["/audit-log", "/events", `/directories/${directory.id}/deleted-resources`]) {
          const r = await api("DELETE", `${path}?olderThanDays=${value}`);
          expect([r.status, r.body.error.code], `${path} ${value}`).toEqual([400, "validation_failed"]);
        }
      }
      for (const value of ["", "1e2", "0x10"]) expect((await api("GET", `/audit-log?limit=${value}`)).status, value).toBe(400);
      expect((await api("GET", "/events?after=")).status).toBe(400);
      // They take no body: one (a misplaced parameter, say) is refused, not ignored.
      for (const path of ["/audit-log", "/events", `/directories/${directory.id}/deleted-resources`]) {
        const r = await api("DELETE", `${path}?olderThanDays=0`, { olderThanDays: 0, directoryId: "dir_other" });
        expect([r.status, r.body.error.code], path).toEqual([400, "validation_failed"]);
      }
      expect(await counts()).toEqual(before);
    });

    it("prunes events by age (the outbox's retention), through the API and the client's shape", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      await scim(directory.id, token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "pruned@acme.test" });
      const before = (await api("GET", `/events?directoryId=${directory.id}`)).body.data;
      expect(before.length).toBeGreaterThan(0);
      expect((await api("DELETE", "/events?olderThanDays=36500")).body).toEqual({ deleted: 0 });
      expect((await api("GET", `/events?directoryId=${directory.id}`)).body.data).toHaveLength(before.length);
      const pruned = await api("DELETE", "/events?olderThanDays=0");
      expect(pruned.status).toBe(200);
      expect(pruned.body.deleted).toBeGreaterThanOrEqual(before.length);
      expect((await api("GET", `/events?directoryId=${directory.id}`)).body.data).toEqual([]);
      expect((await api("DELETE", "/events")).status).toBe(400);
    });

    it("a reader learns the latest position, and is told when its cursor is past it or behind pruned events", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      const latest = (await api("GET", "/events/latest")).body.cursor as number;
      expect(Number.isSafeInteger(latest)).toBe(true);
      await scim(directory.id, token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "one@acme.test" });
      // From the latest position, exactly what came after.
      const after = await api("GET", `/events?after=${latest}`);
      expect(after.body.data.map((e: Any) => [e.type, e.directoryId])).toEqual([["user.created", directory.id]]);
      const now = (await api("GET", "/events/latest")).body;
      expect(now).toEqual({ cursor: after.body.nextCursor });
      expect((await api("GET", `/events?after=${now.cursor}`)).body).toEqual({ data: [], nextCursor: now.cursor, hasMore: false });
      // A cursor that never came from here: 400, not an endless wait.
      const past = await api("GET", `/events?after=${now.cursor + 1000}`);
      expect([past.status, past.body.error.code]).toEqual([400, "invalid_cursor"]);
      expect((await api("GET", "/events/latest?x=1")).status).toBe(400);
      // Pruned events behind a reader's cursor: 410, not a silent gap; a new reader (0) and one at or past the mark go on.
      await scim(directory.id, token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "two@acme.test" });
      await new Promise((resolve) => setTimeout(resolve, 5)); // both events occurred before the cut-off
      expect((await api("DELETE", "/events?olderThanDays=0")).body.deleted).toBeGreaterThan(0);
      const mark = (await api("GET", "/events/latest")).body.cursor as number;
      // A reader that had read up to `one@` missed `two@`'s event.
      const expired = await api("GET", `/events?after=${now.cursor}`);
      expect([expired.status, expired.body.error.code]).toEqual([410, "cursor_expired"]);
      expect((await api("GET", "/events")).status).toBe(200);
      expect((await api("GET", `/events?after=${mark}`)).status).toBe(200);
    });

    it("a quiet directory's reader moves past other directories' events, and their pruning is no loss of its own", async () => {
      const quiet = await createDirectory();
      const busy = await createDirectory();
      const token = (await api("POST", `/directories/${busy.id}/tokens`)).body.token;
      await scim(busy.id, token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "b0@acme.test" });
      const start = (await api("GET", `/events?directoryId=${quiet.id}&after=${(await api("GET", "/events/latest")).body.cursor}`)).body.nextCursor as number;
      for (const userName of ["b1@acme.test", "b2@acme.test"]) await scim(busy.id, token, "POST", "/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName });
      // Nothing for it, but its cursor goes past the other directory's events.
      const empty = (await api("GET", `/events?directoryId=${quiet.id}&after=${start}`)).body;
      expect(empty.data).toEqual([]);
      expect(empty.nextCursor).toBe((await api("GET", "/events/latest")).body.cursor);
      expect(empty.nextCursor).toBeGreaterThan(start);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await api("DELETE", "/events?olderThanDays=0")).body.deleted).toBeGreaterThan(0);
      // Even from its old cursor: none of its events went.
      expect((await api("GET", `/events?directoryId=${quiet.id}&after=${start}`)).status).toBe(200);
      // The busy directory's reader from before its events: 410; a reader of every directory too.
      expect((await api("GET", `/events?directoryId=${busy.id}&after=${start}`)).status).toBe(410);
      expect((await api("GET", `/events?after=${start}`)).status).toBe(410);
    });

    it("pages after a cursor and prunes by age", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      for (let i = 0; i < 3; i++) await scim(directory.id, token, "GET", "/Users");
      clock += 10 * 24 * 3600 * 1000;
      await scim(directory.id, token, "GET", "/Groups");

      const page = await api("GET", "/audit-log?limit=2");
      expect(page.body.data).toHaveLength(2);
      expect(page.body.hasMore).toBe(true);
      const rest = await api("GET", `/audit-log?after=${page.body.nextCursor}&limit=100`);
      expect(rest.body.data[0].seq).toBeGreaterThan(page.body.data[1].seq);
      expect(page.body.data.length + rest.body.data.length).toBe(6);

      const pruned = await api("DELETE", "/audit-log?olderThanDays=7");
      expect(pruned.body).toEqual({ deleted: 5 });
      const left = (await api("GET", "/audit-log")).body.data;
      expect(left.map((e: Any) => [e.kind, e.path.split("/").pop()])).toEqual([
        ["scim", "Groups"],
        ["admin", "audit-log?olderThanDays=7"],
      ]);
    });

    it("a cursor past the latest entry is a 400 invalid_cursor (as on the events feed); the latest entry's own is an empty page", async () => {
      const directory = await createDirectory();
      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      await scim(directory.id, token, "GET", "/Users");
      const all = (await api("GET", "/audit-log?limit=1000")).body;
      const latest = all.data.at(-1).seq as number;
      expect(all.nextCursor).toBe(latest);
      expect((await api("GET", `/audit-log?after=${latest}&kind=scim`)).body).toEqual({ data: [], nextCursor: latest, hasMore: false });
      for (const after of [latest + 2, 1_000_000_000]) {
        const r = await api("GET", `/audit-log?after=${after}`);
        expect([after, r.status, r.body.error.code]).toEqual([after, 400, "invalid_cursor"]);
      }
      // Everything pruned: no entry tells where the log ended, so no cursor is refused.
      await sync.audit.flush();
      await sync.db.deleteFrom("dir_audit_log").execute();
      expect((await api("GET", `/audit-log?after=${latest + 2}`)).body).toEqual({ data: [], nextCursor: latest + 2, hasMore: false });
    });
  });

  describe("routes", () => {
    it("a route's path asked with a method it does not take is a 405 with Allow; a path that is no route stays a 404", async () => {
      const directory = await createDirectory();
      const d = `/directories/${directory.id}`;
      for (const [method, path, allow] of [
        ["PUT", d, "GET, HEAD, PATCH, DELETE"],
        ["POST", d, "GET, HEAD, PATCH, DELETE"],
        ["PATCH", "/directories", "GET, HEAD, POST"],
        ["DELETE", "/directories", "GET, HEAD, POST"],
        ["PUT", "/events", "GET, HEAD, DELETE"],
        ["POST", "/events/latest", "GET, HEAD"],
        ["GET", `${d}/tokens/rotate`, "POST, DELETE"],
        ["OPTIONS", "/directories", "GET, HEAD, POST"],
        ["PUT", `${d}/role-mappings/map_1`, "GET, HEAD, PATCH, DELETE"],
        ["POST", "/audit-log", "GET, HEAD, DELETE"],
      ] as const) {
        const r = await api(method, path);
        expect([method, path, r.status, r.headers.get("allow"), r.body?.error.code]).toEqual([method, path, 405, allow, "method_not_allowed"]);
      }
      for (const path of ["/directory", `${d}/tokens/tok_1/extra`, "/directories/", `${d}/nothing`]) {
        const r = await api("GET", path);
        expect([path, r.status, r.headers.get("allow"), r.body.error.code]).toEqual([path, 404, null, "not_found"]);
      }
      // Without the key: a 401 whatever the method, so that no route is revealed.
      const anonymous = await app.request(`http://sync.test/api${d}`, { method: "PUT" });
      expect([anonymous.status, anonymous.headers.get("allow")]).toEqual([401, null]);
    });

    it("a query parameter given twice is a 400 validation_failed, on lists and on operations that take none", async () => {
      const directory = await createDirectory();
      for (const path of ["/directories?limit=1&limit=1000", "/directories?organizationId=a&organizationId=org_1", `/directories/${directory.id}/users?state=active&state=suspended`, "/audit-log?after=0&after=5", `/directories/${directory.id}?x=1&x=2`]) {
        const r = await api("GET", path);
        expect([path, r.status, r.body.error.code]).toEqual([path, 400, "validation_failed"]);
      }
      expect((await api("GET", "/directories?limit=1&organizationId=org_1")).status).toBe(200);
    });

    it("a creation answers with the Location of what it created", async () => {
      const directory = await createDirectory();
      const created = await api("POST", "/directories", { organizationId: "org_2", name: "Second", type: "okta" });
      expect(created.headers.get("location")).toBe(`/api/directories/${created.body.id}`);
      expect((await api("GET", `/directories/${created.body.id}`)).body.id).toBe(created.body.id);
      const mapping = await api("POST", `/directories/${directory.id}/role-mappings`, { group: { displayName: "Admins" }, role: "admin" });
      expect(mapping.status).toBe(201);
      const location = mapping.headers.get("location")!;
      expect(location).toBe(`/api/directories/${directory.id}/role-mappings/${mapping.body.id}`);
      expect((await api("GET", location.slice("/api".length))).body).toEqual(mapping.body);
    });
  });

  describe("status", () => {
    it("last SCIM request, user and group counts, 4xx and 5xx in the last 24 hours", async () => {
      const directory = await createDirectory();
      const empty = await api("GET", `/directories/${directory.id}/status`);
      expect(empty.body).toMatchObject({ lastRequest: null, lastRequestAt: null, users: 0, groups: 0, errorsLast24Hours: 0 });

      const token = (await api("POST", `/directories/${directory.id}/tokens`)).body.token;
      const u1 = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "a@acme.test" })).json()) as Any;
      await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "b@acme.test" });
      await scim(directory.id, token, "POST", "/Groups", { schemas: [GROUP], displayName: "Engineering" });
      await scim(directory.id, token, "DELETE", `/Users/${u1.id}`);
      await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "b@acme.test" }); // 409
      clock += 25 * 3600 * 1000;
      await scim(directory.id, "dsync_nope", "GET", "/Users"); // 401
      await scim(directory.id, token, "GET", "/Users/unknown"); // 404

      const status = await api("GET", `/directories/${directory.id}/status`);
      expect(status.body).toMatchObject({
        directoryId: directory.id,
        state: "active",
        users: 1,
        groups: 1,
        lastRequest: { method: "GET", status: 404, path: `/scim/v2/${directory.id}/Users/unknown` },
        lastRequestStatus: 404,
        lastRequestAt: new Date(clock).toISOString(),
        last24Hours: { requests: 2, clientErrors: 2, serverErrors: 0 },
        errorsLast24Hours: 2,
      });
    });
  });
});

describe("admin API pages within a byte budget (8 MiB of documents)", () => {
  it("users and events of 900 KB each: pages of nine, then the rest, every one once and whole", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      const key = await createAdminKey(sync.db);
      // Pages of 8 MB count for 130 requests each against the admin rate limit: none here.
      const app = directoryApp(sync, { adminRateLimit: false });
      const directory = await sync.directories.create({ organizationId: "org_big", name: "Big", type: "okta" });
      const { token } = await sync.tokens.create(directory.id);
      const made: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await app.request(`http://sync.test/scim/v2/${directory.id}/Users`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
          body: JSON.stringify({ schemas: [USER], userName: `big${i}@acme.test`, title: `${i}`.padEnd(900_000, "t") }),
        });
        expect(r.status).toBe(201);
        made.push(((await r.json()) as Any).id);
      }
      const get = async (path: string) => (await (await app.request(`http://sync.test/api${path}`, { headers: { authorization: `Bearer ${key}` } })).json()) as Any;
      // 9 users are 8.1 MB, within the budget (8,388,608 bytes); a tenth would pass it.
      const users: string[][] = [];
      for (let cursor: string | undefined; ; ) {
        const page = await get(`/directories/${directory.id}/users?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        users.push(page.data.map((u: Any) => u.id));
        for (const u of page.data) expect(u.raw.title).toHaveLength(900_000);
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      expect(users.map((p) => p.length)).toEqual([9, 3]);
      expect(users.flat()).toEqual(made);
      const events: string[][] = [];
      for (let after = 0; ; ) {
        const page = await get(`/events?directoryId=${directory.id}&after=${after}&limit=1000`);
        events.push(page.data.map((e: Any) => e.resourceId));
        if (!page.hasMore) break;
        after = page.nextCursor;
      }
      expect(events.map((p) => p.length)).toEqual([9, 3]);
      expect(events.flat()).toEqual(made);
    } finally {
      await sync.close();
    }
  });

  it("a user's groups count in the budget: 8 users in 600 groups of 1,990-character names (1.2 MB each) make pages of six, then two", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      const key = await createAdminKey(sync.db);
      const app = directoryApp(sync);
      const directory = await sync.directories.create({ organizationId: "org_groups", name: "Groups", type: "okta" });
      await sync.directories.update(directory.id, { settings: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } } });
      const { token } = await sync.tokens.create(directory.id);
      const post = async (path: string, body: unknown) => {
        const r = await app.request(`http://sync.test/scim/v2/${directory.id}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" }, body: JSON.stringify(body) });
        expect(r.status).toBe(201);
        return ((await r.json()) as Any).id as string;
      };
      const users: string[] = [];
      for (let i = 0; i < 8; i++) users.push(await post("/Users", { schemas: [USER], userName: `member${i}@acme.test` }));
      const members = users.map((value) => ({ value }));
      for (let i = 0; i < 600; i++) await post("/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: `${i}`.padEnd(1990, "g"), members });
      const pages: number[] = [];
      for (let cursor: string | undefined; ; ) {
        const r = await app.request(`http://sync.test/api/directories/${directory.id}/users?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { headers: { authorization: `Bearer ${key}` } });
        const text = await r.text();
        expect(text.length).toBeLessThan(9 * 1024 * 1024);
        const page = JSON.parse(text) as Any;
        for (const u of page.data) expect(u.groups).toHaveLength(600);
        pages.push(page.data.length);
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      expect(pages).toEqual([6, 2]);
    } finally {
      await sync.close();
    }
  }, 60_000);
});

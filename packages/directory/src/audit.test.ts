import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { createSchemaRegistry } from "scim-core";
import { sql, type KyselyPlugin } from "kysely";
import { openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateAdminKey } from "./admin-keys.js";
import { auditPath, AuditLog, redact, redactQuery, redactText, REDACTED, scimAuditMiddleware, secretMentionOf } from "./audit.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { directoryScimRoutes } from "./scim-routes.js";
import { backends, useDirectorySync } from "./test-backends.js";
import { migrateDirectoryTables } from "./migrations.js";

describe("audit log", () => {
  it("redacts secret-looking fields at any depth and values that look like our tokens", () => {
    const input = {
      name: "Acme",
      password: "p",
      nested: { clientSecret: "s", list: [{ access_token: "t", apiKey: "k", ok: 1 }], note: "dsync_abcdefghijklmnop" },
      authorization: "Bearer x",
      tokenGracePeriodSeconds: 60,
      header: "Bearer abc",
    };
    expect(redact(input)).toEqual({
      name: "Acme",
      password: REDACTED,
      nested: { clientSecret: REDACTED, list: [{ access_token: REDACTED, apiKey: REDACTED, ok: 1 }], note: REDACTED },
      authorization: REDACTED,
      tokenGracePeriodSeconds: 60,
      header: REDACTED,
    });
  });

  it("redacts query secrets in paths, keeping the rest", () => {
    expect(redactQuery("?filter=userName%20eq%20%22x%22&access_token=abc&count=2")).toBe("?filter=userName%20eq%20%22x%22&access_token=[REDACTED]&count=2");
    expect(redactQuery("?q=dsync_0123456789abcdef")).toBe("?q=[REDACTED]");
    expect(redactQuery("?bad=%E0%A4%A")).toBe("?bad=[REDACTED]");
    expect(auditPath("http://h.test/scim/v2/dir_1/Users?password=x")).toBe("/scim/v2/dir_1/Users?password=[REDACTED]");
    expect(auditPath("http://h.test/scim/v2/dir_1/Users")).toBe("/scim/v2/dir_1/Users");
  });

  it("redacts query values that mention a password or another secret attribute (a SCIM filter on one), keeping the rest readable", () => {
    const filter = (text: string) => encodeURIComponent(text);
    // As fetch sends it, as a form would (`+`), percent-encoded letters, any case, anywhere in the value.
    expect(auditPath(`http://h.test/scim/v2/dir_1/Users?filter=${filter('password eq "Secret"')}&count=2`)).toBe("/scim/v2/dir_1/Users?filter=[REDACTED]&count=2");
    expect(auditPath('http://h.test/scim/v2/dir_1/Users?filter=userName+eq+"x"+and+PassWord+eq+"Secret"')).toBe("/scim/v2/dir_1/Users?filter=[REDACTED]");
    expect(redactQuery(`?filter=%70assword%20eq%20%22Secret%22`)).toBe("?filter=[REDACTED]");
    expect(redactQuery(`?filter=${filter('urn:ietf:params:scim:schemas:core:2.0:User:password pr')}`)).toBe("?filter=[REDACTED]");
    expect(redactQuery(`?filter=${filter('x.clientSecret eq "s"')}&startIndex=1`)).toBe("?filter=[REDACTED]&startIndex=1");
    // A bare parameter (no `=`) is redacted whole; one whose name does not decode too.
    expect(redactQuery(`?${filter('password eq "Secret"')}&count=1`)).toBe(`?${REDACTED}&count=1`);
    expect(redactQuery("?%E0%A4%A=password&count=1")).toBe(`?${REDACTED}&count=1`);
    // Ordinary filters stay exactly as they came.
    const plain = `/scim/v2/dir_1/Users?filter=${filter('userName eq "x"')}&startIndex=1&count=10`;
    expect(auditPath(`http://h.test${plain}`)).toBe(plain);
    expect(auditPath('http://h.test/scim/v2/dir_1/Groups?filter=displayName+eq+"Engineering"&excludedAttributes=members')).toBe(
      '/scim/v2/dir_1/Groups?filter=displayName+eq+"Engineering"&excludedAttributes=members',
    );
  });

  it("redacts query values that mention an attribute the schemas never return (a custom `pin`), as a whole word", () => {
    const PIN = "urn:example:params:scim:schemas:extension:badge:2.0:User";
    const registry = createSchemaRegistry({
      schemas: [{ id: PIN, name: "Badge", attributes: [{ name: "pin", type: "string", multiValued: false, required: false, mutability: "writeOnly", returned: "never" }] }],
    }).addExtension("User", { schema: PIN, required: false });
    const mention = secretMentionOf(registry);
    const url = (text: string) => `http://h.test/scim/v2/dir_1/Users?filter=${encodeURIComponent(text)}&count=1`;
    for (const text of [`${PIN}:pin eq "8888"`, 'PIN eq "8888"', 'userName eq "a" or pin pr']) expect(auditPath(url(text), mention), text).toBe("/scim/v2/dir_1/Users?filter=[REDACTED]&count=1");
    // Other words that hold it, and the default secrets, as before.
    for (const text of ['pinned eq "x"', 'spin eq "x"', 'userName eq "pin-code"']) expect(auditPath(url(text), mention), text).toBe(`/scim/v2/dir_1/Users?filter=${encodeURIComponent(text)}&count=1`);
    expect(auditPath(url('password eq "x"'), mention)).toBe("/scim/v2/dir_1/Users?filter=[REDACTED]&count=1");
    // Without such attributes: the default words only.
    expect(secretMentionOf(createSchemaRegistry()).test("pin")).toBe(false);
  });

  it("redacts path segments that look like a directory token or an admin key, as in the query", () => {
    const token = `dsync_${"A".repeat(43)}`;
    const adminKey = generateAdminKey();
    expect(auditPath(`http://h.test/scim/v2/dir_1/Users/${token}`)).toBe(`/scim/v2/dir_1/Users/${REDACTED}`);
    expect(auditPath(`http://h.test/scim/v2/dir_1/Users/${token}?q=${token}`)).toBe(`/scim/v2/dir_1/Users/${REDACTED}?q=${REDACTED}`);
    expect(auditPath(`http://h.test/api/directories/${adminKey}/tokens`)).toBe(`/api/directories/${REDACTED}/tokens`);
    // Percent-encoded, or inside a longer segment: still recognised.
    expect(auditPath(`http://h.test/scim/v2/dir_1/Groups/%64sync_${"b".repeat(20)}`)).toBe(`/scim/v2/dir_1/Groups/${REDACTED}`);
    expect(auditPath(`http://h.test/scim/v2/dir_1/Users/id-${token}`)).toBe(`/scim/v2/dir_1/Users/${REDACTED}`);
    // Ids, names and a bare prefix stay as they came.
    const plain = "/scim/v2/dir_0123456789abcdef01234567/Users/0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    expect(auditPath(`http://h.test${plain}`)).toBe(plain);
    expect(auditPath("http://h.test/scim/v2/dir_1/Users/dsync_")).toBe("/scim/v2/dir_1/Users/dsync_");
    // The random part alone (the token without its prefix) is as secret, in the path and the query.
    const bare = token.slice("dsync_".length);
    expect(auditPath(`http://h.test/scim/v2/dir_1/Users/${bare}`)).toBe(`/scim/v2/dir_1/Users/${REDACTED}`);
    expect(auditPath(`http://h.test/scim/v2/dir_1/Users?filter=${encodeURIComponent(`userName eq "${bare}"`)}`)).toBe(`/scim/v2/dir_1/Users?filter=${REDACTED}`);
    expect(redact({ id: adminKey.slice("dsync_admin_".length) })).toEqual({ id: REDACTED });
    // With a character of the same alphabet touching it (a typo, a prefix mistyped): the whole run.
    const adminBare = adminKey.slice("dsync_admin_".length);
    for (const touching of [`a${bare}`, `${bare}a`, `dsync-${bare}`, `x_${adminBare}`, `n-${adminBare}-2`]) {
      expect(auditPath(`http://h.test/scim/v2/dir_1/Users/${touching}`), touching).toBe(`/scim/v2/dir_1/Users/${REDACTED}`);
      expect(auditPath(`http://h.test/scim/v2/dir_1/Users?x=${touching}`), touching).toBe(`/scim/v2/dir_1/Users?x=${REDACTED}`);
      expect(redactText(`Resource ${touching} not found`), touching).toBe(`Resource ${REDACTED} not found`);
      expect(redact({ input: { name: touching } }), touching).toEqual({ input: { name: REDACTED } });
    }
  });

  it("a search (POST /Users/.search, GET /Groups/.search) is recorded with no resource id; a resource's request with its id", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), audit: { batch: false } });
    try {
      const app = new Hono();
      app.use("/scim/v2/:directoryId/*", scimAuditMiddleware(sync.audit, { directoryId: () => "dir_1", tokenId: async () => undefined }));
      app.all("/scim/v2/:directoryId/*", (c) => c.json({}, 200));
      await app.request("http://h.test/scim/v2/dir_1/Users/.search", { method: "POST" });
      await app.request("http://h.test/scim/v2/dir_1/Groups/.search?filter=x");
      await app.request("http://h.test/scim/v2/dir_1/Users/u%201");
      expect((await sync.audit.list()).data.map((e) => [e.method, e.resourceId])).toEqual([
        ["POST", null],
        ["GET", null],
        ["GET", "u 1"],
      ]);
    } finally {
      await sync.close();
    }
  });

  describe("storage", () => {
    let sync: DirectorySync;
    let clock = Date.parse("2026-01-01T00:00:00.000Z");
    beforeEach(async () => {
      clock = Date.parse("2026-01-01T00:00:00.000Z");
      sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    });
    afterEach(() => sync.close());

    it("records, lists by directory and kind after a cursor, summarises activity, prunes by age", async () => {
      const audit = new AuditLog(sync.db, { now: () => new Date(clock) });
      const scim = (directoryId: string, status: number) => audit.record({ kind: "scim", directoryId, actor: "tok_1", method: "GET", path: "/scim/v2/x/Users", status, durationMs: 1.23456 });
      await scim("dir_a", 200);
      await audit.record({ kind: "admin", actor: "admin", method: "POST", path: "/api/directories", status: 201, durationMs: 2, detail: { input: { secret: "s" } } });
      clock += 2 * 24 * 3600 * 1000;
      await scim("dir_a", 500);
      await scim("dir_a", 404);
      await scim("dir_b", 200);

      const all = await audit.list();
      expect(all.data.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(all.data[0]!.durationMs).toBe(1.235);
      expect(all.data[1]!.detail).toEqual({ input: { secret: REDACTED } });
      const a = await audit.list({ directoryId: "dir_a", kind: "scim", after: 1, limit: 1 });
      expect(a).toMatchObject({ data: [{ seq: 3, status: 500 }], nextCursor: 3, hasMore: true });

      expect(await audit.scimActivity("dir_a")).toEqual({
        lastRequest: { at: new Date(clock).toISOString(), method: "GET", path: "/scim/v2/x/Users", status: 404 },
        requests: 2,
        clientErrors: 1,
        serverErrors: 1,
      });
      expect(await audit.scimActivity("dir_none")).toEqual({ lastRequest: null, requests: 0, clientErrors: 0, serverErrors: 0 });

      expect(await audit.prune(1)).toBe(2);
      expect((await audit.list()).data.map((e) => e.seq)).toEqual([3, 4, 5]);
      // A cursor behind the pruned entries is told it missed some (410), as the events feed does;
      // one at or after the last pruned entry, or none, reads on.
      await expect(audit.list({ after: 1 })).rejects.toMatchObject({ status: 410, code: "cursor_expired" });
      expect((await audit.list({ after: 2 })).data.map((e) => e.seq)).toEqual([3, 4, 5]);
      expect((await audit.list({ after: 0 })).data.map((e) => e.seq)).toEqual([3, 4, 5]);
      // A later prune that deletes nothing keeps the mark.
      expect(await audit.prune(1)).toBe(0);
      await expect(audit.list({ after: 1 })).rejects.toMatchObject({ status: 410 });
      clock += 2 * 24 * 3600 * 1000;
      expect(await audit.prune(1)).toBe(3);
      await expect(audit.list({ after: 4 })).rejects.toMatchObject({ status: 410 });
    });

    it("keeps a detail small: long strings and arrays cut short, a detail still too large replaced by its size", async () => {
      const audit = new AuditLog(sync.db);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      type Any = any;
      const admin = (detail: Record<string, unknown>) => audit.record({ kind: "admin", actor: "admin", method: "POST", path: "/api/directories", status: 400, durationMs: 1, detail });
      await admin({ input: { name: "x".repeat(900_000), tags: Array.from({ length: 5_000 }, (_, i) => i), ok: "short" } });
      await admin({ input: Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`key${i}`, "v".repeat(50)])) });
      await admin(JSON.parse('{"input":{"__proto__":{"polluted":true},"name":"n"}}'));
      await audit.flush();
      const rows = await sync.db.selectFrom("dir_audit_log").select("detail").orderBy("seq").execute();
      for (const row of rows) expect(row.detail!.length).toBeLessThanOrEqual(16_384);
      const [long, wide, proto] = (await audit.list()).data.map((e) => e.detail as Any);
      expect(long.input.name).toBe(`${"x".repeat(1_000)}… (900000 characters)`);
      expect(long.input.tags).toHaveLength(101);
      expect(long.input.tags.at(-1)).toBe("… (5000 items)");
      expect(long.input.ok).toBe("short");
      expect(wide).toEqual({ omitted: expect.stringMatching(/^the detail was \d+ characters of JSON$/) });
      expect(proto.input.name).toBe("n");
      expect(proto.input.polluted).toBeUndefined();
      expect(({} as Any).polluted).toBeUndefined();
    });

    it("an entry the database refuses loses only itself, not its batch; text no column takes is stored as U+FFFD", async () => {
      const errors: unknown[] = [];
      const audit = new AuditLog(sync.db, { batch: { maxEntries: 100, maxDelayMs: 60_000 }, onError: (e) => void errors.push(e) });
      await sql`create trigger refuse_bad before insert on dir_audit_log when new.path = '/bad' begin select raise(abort, 'refused'); end`.execute(sync.db);
      const record = (path: string, extra: Partial<Parameters<AuditLog["record"]>[0]> = {}) =>
        audit.record({ kind: "scim", directoryId: "dir_a", method: "GET", path, status: 200, durationMs: 1, ...extra });
      for (let i = 0; i < 5; i++) await record(`/ok${i}`);
      await record("/bad");
      await record("/nul", { resourceId: "x\u0000y", actor: "\ud800", detail: { "k\u0000": "v\udc00" } });
      await audit.flush();
      const paths = (await audit.list()).data.map((e) => e.path);
      expect(paths).toEqual(["/ok0", "/ok1", "/ok2", "/ok3", "/ok4", "/nul"]);
      expect(errors).toHaveLength(1);
      expect(String(errors[0])).toMatch(/refused/);
      const nul = (await audit.list()).data.at(-1)!;
      expect([nul.resourceId, nul.actor, nul.detail]).toEqual(["x\uFFFDy", "\uFFFD", { "k\uFFFD": "v\uFFFD" }]);
    });

    it("writes entries in batches, in the order recorded; reads see every entry recorded before them", async () => {
      const audit = new AuditLog(sync.db, { batch: { maxEntries: 3, maxDelayMs: 60_000 } });
      const record = (status: number) => audit.record({ kind: "scim", directoryId: "dir_a", method: "GET", path: "/scim/v2/x/Users", status, durationMs: 1 });
      const stored = async () => (await sync.db.selectFrom("dir_audit_log").select("status").orderBy("seq").execute()).map((r) => Number(r.status));
      await record(200);
      await record(201);
      expect(await stored()).toEqual([]);
      await record(202);
      expect(await stored()).toEqual([200, 201, 202]);
      await record(203);
      expect((await audit.list()).data.map((e) => e.status)).toEqual([200, 201, 202, 203]);
      await record(204);
      expect(await audit.scimActivity("dir_a")).toMatchObject({ requests: 5, lastRequest: { status: 204 } });
    });

    it("records refusals of one kind once per window, and the rest as one counted entry when the window ends or at flush", async () => {
      const audit = new AuditLog(sync.db, { refusalWindowMs: 50 });
      const refuse = (directoryId: string, refused: string, actor: string | null = null) =>
        audit.recordRefusal({ kind: "scim", directoryId, actor, method: "GET", path: "/scim/v2/x/Users", status: 429, durationMs: 0.2, detail: { refused } });
      for (let i = 0; i < 500; i++) await refuse("dir_a", "rate_limited", i === 499 ? "tok_last" : null);
      await refuse("dir_b", "rate_limited");
      await refuse("dir_a", "concurrent_searches");
      const rows = async () =>
        (await audit.list({ limit: 100 })).data.map((e) => [e.directoryId, e.actor, e.detail]);
      // At flush: the first of each kind, then what the open windows have counted so far.
      expect(await rows()).toEqual([
        ["dir_a", null, { refused: "rate_limited" }],
        ["dir_b", null, { refused: "rate_limited" }],
        ["dir_a", null, { refused: "concurrent_searches" }],
        ["dir_a", "tok_last", { refused: "rate_limited", repeated: 499 }],
      ]);
      // The window is still open: more refusals are counted, and written when it ends.
      for (let i = 0; i < 20; i++) await refuse("dir_a", "rate_limited");
      await new Promise((resolve) => setTimeout(resolve, 80));
      await audit.flush();
      expect((await rows()).slice(4)).toEqual([["dir_a", null, { refused: "rate_limited", repeated: 20 }]]);
      // A new window: its first refusal is written as it comes.
      await refuse("dir_a", "rate_limited");
      expect((await rows()).slice(5)).toEqual([["dir_a", null, { refused: "rate_limited" }]]);
    });

    it("a batch the database refuses for a moment (SQLITE_BUSY: another process holds the file's lock) is tried again, not lost", async () => {
      let refusals = 2;
      const busy: KyselyPlugin = {
        transformQuery: (args) => {
          if (args.node.kind === "InsertQueryNode" && refusals > 0) {
            refusals--;
            throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
          }
          return args.node;
        },
        transformResult: async (args) => args.result,
      };
      const errors: unknown[] = [];
      const audit = new AuditLog(sync.db.withPlugin(busy), { batch: { maxEntries: 100, maxDelayMs: 5 }, onError: (e) => void errors.push(e) });
      for (let i = 0; i < 3; i++) await audit.record({ kind: "scim", directoryId: "dir_busy", method: "GET", path: "/Users", status: 200 + i, durationMs: 1 });
      await audit.flush();
      expect(refusals).toBe(0);
      expect(errors).toEqual([]);
      expect((await audit.list({ directoryId: "dir_busy" })).data.map((e) => e.status)).toEqual([200, 201, 202]);
    });

    it("batches written as they fill leave the refusals' count to the end of their window", async () => {
      const audit = new AuditLog(sync.db, { refusalWindowMs: 100, batch: { maxEntries: 2, maxDelayMs: 5 } });
      for (let i = 0; i < 50; i++) {
        await audit.recordRefusal({ kind: "scim", directoryId: "dir_a", method: "GET", path: "/Users", status: 429, durationMs: 0, detail: { refused: "rate_limited" } });
        await audit.record({ kind: "scim", directoryId: "dir_a", method: "GET", path: "/Users", status: 200, durationMs: 1 });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      const refusals = () => sync.db.selectFrom("dir_audit_log").select("detail").where("status", "=", 429).orderBy("seq").execute();
      expect((await refusals()).map((r) => JSON.parse(r.detail as string))).toEqual([{ refused: "rate_limited" }]);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect((await refusals()).map((r) => JSON.parse(r.detail as string))).toEqual([{ refused: "rate_limited" }, { refused: "rate_limited", repeated: 49 }]);
      expect(await sync.db.selectFrom("dir_audit_log").select("id").where("status", "=", 200).execute()).toHaveLength(50);
    });

    it("writes a waiting batch after its delay, and close() writes what still waits", async () => {
      const file = join(mkdtempSync(join(tmpdir(), "audit-")), "db.sqlite");
      const first = await createDirectorySync({ database: openSqlite({ filename: file }), audit: { batch: { maxDelayMs: 10 } } });
      await first.audit.record({ kind: "admin", method: "POST", path: "/api/directories", status: 201, durationMs: 1 });
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(await first.db.selectFrom("dir_audit_log").select("status").execute()).toHaveLength(1);
      await first.audit.record({ kind: "admin", method: "DELETE", path: "/api/directories/x", status: 204, durationMs: 1 });
      await first.close();
      const second = await createDirectorySync({ database: openSqlite({ filename: file }) });
      expect((await second.audit.list()).data.map((e) => e.method)).toEqual(["POST", "DELETE"]);
      await second.close();
    });
  });
});

describe.each(backends)("SCIM activity on $name", (backend) => {
  let sync: DirectorySync;
  useDirectorySync(backend, (database) => createDirectorySync({ database }), (s) => void (sync = s));

  it.skipIf(backend.skip)("counts the refusals an entry stands for, and dates it by the last of them, not by when it was written", async () => {
    let clock = Date.parse("2026-11-27T10:00:00.000Z");
    const audit = new AuditLog(sync.db, { now: () => new Date(clock), refusalWindowMs: 10_000 });
    const directoryId = `dir_activity_${backend.name}`;
    const entry = (status: number, method = "GET") => ({ kind: "scim" as const, directoryId, method, path: "/scim/v2/x/Users", status, durationMs: 1 });
    // Three requests with a wrong token (the first written, two counted), then one that works.
    for (let i = 0; i < 3; i++) {
      await audit.recordRefusal({ ...entry(401), detail: { refused: "unauthenticated" } });
      clock += 100;
    }
    const refusedLast = new Date(clock - 100).toISOString();
    clock += 1_000;
    await audit.record(entry(201, "POST"));
    const created = new Date(clock).toISOString();
    // The counting entry is written after the 201 (at flush), with the last refusal's time.
    clock += 11_000;
    const activity = await audit.scimActivity(directoryId);
    expect(activity).toEqual({ lastRequest: { at: created, method: "POST", path: "/scim/v2/x/Users", status: 201 }, requests: 4, clientErrors: 3, serverErrors: 0 });
    const rows = (await audit.list({ directoryId })).data.map((e) => [e.status, e.at, e.detail]);
    expect(rows).toEqual([
      [401, "2026-11-27T10:00:00.000Z", { refused: "unauthenticated" }],
      [201, created, null],
      [401, refusedLast, { refused: "unauthenticated", repeated: 2 }],
    ]);
  });
});

describe.each(backends)("SCIM activity counted by the hour on $name", (backend) => {
  let sync: DirectorySync;
  useDirectorySync(backend, (database) => createDirectorySync({ database }), (s) => void (sync = s));

  it.skipIf(backend.skip)("the status sums the hours of the last day as entries are written (it reads no entry), and the migration counts what was logged before it", async () => {
    let clock = Date.parse("2026-11-27T12:30:00.000Z");
    const audit = new AuditLog(sync.db, { now: () => new Date(clock) });
    const directoryId = `dir_hours_${backend.name}`;
    const at = async (hoursAgo: number, status: number) => {
      clock = Date.parse("2026-11-27T12:30:00.000Z") - hoursAgo * 3_600_000;
      await audit.record({ kind: "scim", directoryId, method: "GET", path: "/scim/v2/x/Users", status, durationMs: 1 });
    };
    await at(30, 500); // more than a day ago: not counted
    await at(23, 200);
    await at(2, 404);
    await at(0, 201);
    await audit.record({ kind: "admin", directoryId, method: "POST", path: "/api/directories", status: 201, durationMs: 1 });
    clock = Date.parse("2026-11-27T12:30:00.000Z");
    expect(await audit.scimActivity(directoryId)).toMatchObject({ requests: 3, clientErrors: 1, serverErrors: 0 });
    // The entries themselves are not read for the counts.
    await sync.db.deleteFrom("dir_audit_log").where("directory_id", "=", directoryId).where("status", "=", 404).execute();
    expect(await audit.scimActivity(directoryId)).toMatchObject({ requests: 3, clientErrors: 1 });
    expect(await audit.scimActivity(directoryId, new Date(Date.parse("2026-11-27T12:30:00.000Z") - 31 * 3_600_000))).toMatchObject({ requests: 4, serverErrors: 1 });

  });

  it.skipIf(backend.skip)("a database migrated to the hourly counts fills them from the entries of the last 25 hours", async () => {
    const audit = new AuditLog(sync.db);
    const directoryId = `dir_backfill_${backend.name}`;
    for (const status of [200, 201, 404, 500]) await audit.record({ kind: "scim", directoryId, method: "GET", path: "/scim/v2/x/Users", status, durationMs: 1 });
    await audit.recordRefusal({ kind: "scim", directoryId, method: "GET", path: "/scim/v2/x/Users", status: 429, durationMs: 0, detail: { refused: "rate_limited" } });
    await audit.recordRefusal({ kind: "scim", directoryId, method: "GET", path: "/scim/v2/x/Users", status: 429, durationMs: 0, detail: { refused: "rate_limited" } });
    await audit.flush();
    const before = await audit.scimActivity(directoryId);
    expect(before).toMatchObject({ requests: 6, clientErrors: 3, serverErrors: 1 });
    // As before the migration: no table, the migration not run.
    await sql`drop table dir_scim_activity`.execute(sync.db);
    await sql`delete from dir_migrations where name = ${"0004_scim_activity"}`.execute(sync.db);
    const { database } = sync.options;
    await migrateDirectoryTables(database.db, database.dialect, database.schema !== undefined ? { schema: database.schema } : {});
    expect(await audit.scimActivity(directoryId)).toEqual(before);
  });
});

describe("Bulk requests in the audit log", () => {
  it("records each operation of a Bulk request as an entry of its own, and the sync status counts them", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    try {
      const dir = await sync.directories.create({ organizationId: "org_bulk", name: "Bulk" });
      const { token } = await sync.tokens.create(dir.id);
      const app = directoryScimRoutes(sync);
      const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
      const res = await app.request(`http://sync.test/scim/v2/${dir.id}/Bulk`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
        body: JSON.stringify({
          schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
          Operations: [
            { method: "POST", path: "/Users", bulkId: "u1", data: { schemas: [USER], userName: "bulk1@acme.test" } },
            { method: "DELETE", path: "/Users/missing-id" },
            { method: "POST", path: "/Users", bulkId: "u2", data: { schemas: [USER], userName: "bulk1@acme.test" } },
          ],
        }),
      });
      expect(res.status).toBe(200);
      const created = ((await res.json()) as { Operations: Array<{ location?: string }> }).Operations[0]!.location!;
      const userId = created.slice(created.lastIndexOf("/") + 1);
      await sync.audit.flush();
      const entries = (await sync.audit.list({ directoryId: dir.id })).data.map((e) => [e.method, e.path, e.status, e.resourceId, e.detail]);
      expect(entries).toEqual([
        ["POST", `/scim/v2/${dir.id}/Bulk`, 200, null, { operations: 3, failedOperations: 2 }],
        ["POST", `/scim/v2/${dir.id}/Users/${userId}`, 201, userId, { bulk: true, bulkId: "u1" }],
        ["DELETE", `/scim/v2/${dir.id}/Users/missing-id`, 404, "missing-id", { bulk: true }],
        ["POST", `/scim/v2/${dir.id}/Bulk`, 409, null, { bulk: true, bulkId: "u2", scimType: "uniqueness" }],
      ]);
      // The last request is the Bulk request the client sent, not its last operation.
      expect(await sync.audit.scimActivity(dir.id)).toMatchObject({ requests: 3, clientErrors: 2, serverErrors: 0, lastRequest: { method: "POST", path: `/scim/v2/${dir.id}/Bulk`, status: 200 } });
    } finally {
      await sync.close();
    }
  });
});

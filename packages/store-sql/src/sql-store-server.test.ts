/**
 * The SQL store behind scim-core's server, on both databases: concurrent writes lose nothing,
 * events reach the outbox in the same transaction as their change, passwords are never stored,
 * text PostgreSQL cannot hold is a 400, and group membership changes touch only changed rows.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { CompiledQuery, sql, type LogEvent } from "kysely";
import { bearerAuth, createScimServer, parseFilter, type ScimRequest, type ScimResponse, type ScimServerConfig } from "scim-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSqlite, type ScimSqlDatabase } from "./dialect.js";
import { migrateScimTables } from "./migrations.js";
import { createSqlStore, sqlStore, type SqlScimStore } from "./sql-store.js";
import { openPlannedSqlite, openTestPostgres } from "./test-databases.js";

const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";

type Obj = Record<string, unknown>;

interface Setup {
  store: SqlScimStore;
  tenant: string;
  handle: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ScimResponse>;
}

const dialects: Array<{ name: string; open: (log?: (e: LogEvent) => void) => Promise<ScimSqlDatabase | undefined> }> = [
  {
    name: "SQLite",
    open: async (log) => {
      const db = openSqlite({ filename: ":memory:", log });
      await migrateScimTables(db.db, "sqlite");
      return db;
    },
  },
  { name: "PostgreSQL", open: async () => openTestPostgres() },
];

for (const dialect of dialects) {
  describe(`sqlStore behind createScimServer (${dialect.name})`, () => {
    let database: ScimSqlDatabase | undefined;
    beforeAll(async () => {
      database = await dialect.open();
    });
    afterAll(() => database?.destroy());

    function setup(config: Partial<ScimServerConfig> = {}, storeOptions: { onPassword?: (t: unknown, p: string) => void } = {}): Setup {
      if (!database) throw new Error(`${dialect.name} unreachable`);
      const store = sqlStore({ database, ...storeOptions });
      const tenant = `t-${randomUUID()}`;
      const token = `token-${randomUUID()}`;
      const server = createScimServer({ store, authenticate: bearerAuth({ [token]: { tenant } }), subscribers: [store.outbox], baseUrl: "https://example.test/scim/v2", ...config });
      const handle = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
        const [p, q] = path.split("?");
        const request: ScimRequest = { method, path: p!, query: q, headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json", ...headers }, body };
        return server.handle(request);
      };
      return { store, tenant, handle };
    }

    async function createUser(s: Setup, userName: string, extra: Obj = {}): Promise<Obj> {
      const r = await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName, ...extra });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body as Obj;
    }

    it("twenty concurrent PATCHes of one user lose no update", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      const user = await createUser(s, "contended");
      // More writers than the server's conflict retries: they must queue, not fail.
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s.handle("PATCH", `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "emails", value: [{ value: `u${i}@example.com`, type: `t${i}` }] }] }),
        ),
      );
      for (const r of responses) expect(r.status, JSON.stringify(r.body)).toBe(200);
      const stored = await s.store.inspect(s.tenant, "User", user.id as string);
      expect((stored!.attributes.emails as Obj[]).map((e) => e.value).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `u${i}@example.com`).sort());
      expect(stored!.version).toBe(21);
      // Every change has its event, in the outbox.
      const events = await s.store.readEvents({ tenant: s.tenant, limit: 100 });
      expect(events.filter((e) => e.event.type === "user.updated")).toHaveLength(20);
    });

    it("concurrent member additions to one group lose none", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      const users = await Promise.all(Array.from({ length: 10 }, (_, i) => createUser(s, `member-${i}`)));
      const group = (await s.handle("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Crowd" })).body as Obj;
      const responses = await Promise.all(users.map((u) => s.handle("PATCH", `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: u.id }] }] })));
      for (const r of responses) expect(r.status, JSON.stringify(r.body)).toBe(204);
      const stored = await s.store.inspect(s.tenant, "Group", group.id as string);
      expect(stored!.members!.map((m) => m.value).sort()).toEqual(users.map((u) => u.id as string).sort());
      const added = (await s.store.readEvents({ tenant: s.tenant, limit: 100 })).filter((e) => e.event.type === "group.user_added");
      expect(added.map((e) => e.event.member!.value).sort()).toEqual(users.map((u) => u.id as string).sort());
    });

    it("If-Match with a stale version is a 412 and changes nothing", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      const user = await createUser(s, "etag");
      const ok = await s.handle("PATCH", `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "title", value: "one" }] }, { "if-match": 'W/"1"' });
      expect(ok.status).toBe(200);
      const stale = await s.handle("PATCH", `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "title", value: "two" }] }, { "if-match": 'W/"1"' });
      expect(stale.status).toBe(412);
      expect((await s.store.inspect(s.tenant, "User", user.id as string))!.attributes.title).toBe("one");
    });

    it("events are written with their change, in order, and a failing after-hook leaves neither", async ({ skip }) => {
      if (!database) return skip();
      let fail = false;
      const s = setup({
        hooks: {
          afterCreate: () => {
            if (fail) throw new Error("hook failed");
          },
        },
      });
      const bjensen = await createUser(s, "bjensen");
      await s.handle("PATCH", `/Users/${bjensen.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] });
      await s.handle("DELETE", `/Users/${bjensen.id}`);
      fail = true;
      const refused = await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "ghost" });
      expect(refused.status).toBe(500);
      const events = await s.store.readEvents({ tenant: s.tenant });
      expect(events.map((e) => e.event.type)).toEqual(["user.created", "user.deactivated", "user.deleted"]);
      expect(events.every((e) => e.event.resourceId === bjensen.id)).toBe(true);
      expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
      // Nothing of the refused user was stored.
      const ghost = await s.handle("GET", `/Users?filter=${encodeURIComponent('userName eq "ghost"')}`);
      expect((ghost.body as Obj).totalResults).toBe(0);
      // Reading after a cursor gives only what follows it.
      const after = await s.store.readEvents({ tenant: s.tenant, after: events[0]!.seq });
      expect(after.map((e) => e.event.type)).toEqual(["user.deactivated", "user.deleted"]);
    });

    it("a password is handed to onPassword and never stored", async ({ skip }) => {
      if (!database) return skip();
      const received: string[] = [];
      const s = setup({}, { onPassword: (_t, p) => void received.push(p) });
      const user = await createUser(s, "secretive", { password: "t1meMa$heen" });
      expect(received).toEqual(["t1meMa$heen"]);
      expect(JSON.stringify(user)).not.toContain("t1meMa$heen");
      const stored = await s.store.inspect(s.tenant, "User", user.id as string);
      expect(stored!.attributes).not.toHaveProperty("password");
      const raw = await sql<{ doc: unknown }>`select doc from scim_resources where id = ${user.id as string}`.execute(s.store.db);
      expect(JSON.stringify(raw.rows[0]!.doc)).not.toContain("t1meMa$heen");
      // Without a hook the password is dropped.
      const plain = setup();
      const other = await createUser(plain, "plain", { password: "dropped-secret" });
      expect((await plain.store.inspect(plain.tenant, "User", other.id as string))!.attributes).not.toHaveProperty("password");
    });

    it("changePassword says whether passwords reach onPassword; without it a change of the password alone changes nothing (RFC 7643 §5)", async ({ skip }) => {
      if (!database) return skip();
      const received: string[] = [];
      for (const withHook of [true, false]) {
        const s = setup({}, withHook ? { onPassword: (_t, p) => void received.push(p) } : {});
        const spc = (await s.handle("GET", "/ServiceProviderConfig")).body as Obj;
        expect((spc.changePassword as Obj).supported).toBe(withHook);
        const user = await createUser(s, `pw-${withHook}`, { password: "first-Secret1" });
        const version = (user.meta as Obj).version;
        const patched = await s.handle("PATCH", `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "password", value: "second-Secret2" }] });
        expect(patched.status).toBe(200);
        const put = await s.handle("PUT", `/Users/${user.id}`, { schemas: [USER_SCHEMA], userName: `pw-${withHook}`, password: "third-Secret3" });
        expect(put.status).toBe(200);
        const after = ((await s.handle("GET", `/Users/${user.id}`)).body as Obj).meta as Obj;
        if (withHook) expect(after.version).not.toBe(version);
        else expect(after.version).toBe(version);
        const events = (await s.store.readEvents({ tenant: s.tenant })).map((e) => e.event.type);
        expect(events).toEqual(withHook ? ["user.created", "user.updated", "user.updated"] : ["user.created"]);
      }
      expect(received).toEqual(["first-Secret1", "second-Secret2", "third-Secret3"]);
    });

    it("a NUL character is a 400 on both databases (PostgreSQL cannot store it), never a 500", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      const r = await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "nul\u0000name" });
      expect(r.status).toBe(400);
      expect((r.body as Obj).scimType).toBe("invalidValue");
      const created = await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "nul-free" });
      expect(created.status).toBe(201);
      const id = (created.body as Obj).id as string;
      const patched = await s.handle("PATCH", `/Users/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "add", path: "title", value: "a\u0000b" }] });
      expect(patched.status).toBe(400);
      expect((patched.body as Obj).scimType).toBe("invalidValue");
      expect(((await s.handle("GET", `/Users/${id}`)).body as Obj).title).toBeUndefined();
    });

    it("indexed values longer than an index takes are a 400 on both databases (PostgreSQL's B-tree limit was a 500), and NUL in a members filter finds nothing", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      // Not compressible: PostgreSQL compresses a repetitive index entry below its limit.
      const long = randomBytes(2100).toString("base64url").slice(0, 2800);
      const cjk = "日".repeat(1000); // 3,000 bytes of UTF-8
      const refused = [
        await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: long }),
        await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: cjk }),
        await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "mail", emails: [{ value: `${long}@example.com` }] }),
        await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "ext", externalId: long }),
        await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "disp", displayName: cjk }),
        await s.handle("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: long }),
      ];
      for (const r of refused) expect([r.status, (r.body as Obj).scimType]).toEqual([400, "invalidValue"]);
      expect((refused[0]!.body as Obj).detail).toMatch(/'userName' is 2800 bytes long; at most 2000/);
      const fits = await createUser(s, "日".repeat(600), { displayName: "x".repeat(1999) });
      const patched = await s.handle("PATCH", `/Users/${fits.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "externalId", value: long }] });
      expect(patched.status).toBe(400);
      expect(((await s.handle("GET", `/Users/${fits.id}`)).body as Obj).externalId).toBeUndefined();
      const group = (await s.handle("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Members" })).body as Obj;
      for (const filter of ['members eq "x\u0000y"', 'members.value eq "x\u0000y"', 'not (members eq "x\u0000y")', `id eq "${group.id}" and members eq "x\u0000y"`]) {
        const r = await s.handle("GET", `/Groups?filter=${encodeURIComponent(filter)}&excludedAttributes=members`);
        expect(r.status, filter).toBe(200);
        expect((r.body as Obj).totalResults, filter).toBe(filter.startsWith("not") ? 1 : 0);
      }
    });

    // An earlier version stored them (it had no limit): the IdP's deactivation of such a user, a
    // PATCH or a PUT that sends the same values again, was a 400 after the upgrade.
    it("indexed values over the limit that are stored already may stay as they are; changed, they are a 400", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      const long = randomBytes(1900).toString("base64url").slice(0, 2500);
      const ext = randomBytes(1600).toString("base64url").slice(0, 2100);
      const user = await createUser(s, "legacy", { displayName: "short", externalId: "short" });
      await database.db
        .updateTable("scim_resources")
        .set({ display_name: long, display_name_lower: long.toLowerCase(), external_id: ext, doc: JSON.stringify({ schemas: [USER_SCHEMA], userName: "legacy", displayName: long, externalId: ext, active: true }) })
        .where("tenant", "=", s.tenant)
        .where("id", "=", user.id as string)
        .execute();
      const deactivated = await s.handle("PATCH", `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] });
      expect(deactivated.status, JSON.stringify(deactivated.body)).toBe(200);
      expect((deactivated.body as Obj).displayName).toBe(long);
      const put = await s.handle("PUT", `/Users/${user.id}`, { schemas: [USER_SCHEMA], userName: "legacy", displayName: long, externalId: ext, active: true });
      expect(put.status, JSON.stringify(put.body)).toBe(200);
      const lookup = await s.handle("GET", `/Users?filter=${encodeURIComponent(`externalId eq "${ext}"`)}`);
      expect((lookup.body as Obj).totalResults).toBe(1);
      // Another value over the limit is refused, and nothing changes.
      const changed = await s.handle("PATCH", `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: `${long}x` }] });
      expect([changed.status, (changed.body as Obj).scimType]).toEqual([400, "invalidValue"]);
      expect(((await s.handle("GET", `/Users/${user.id}`)).body as Obj).displayName).toBe(long);
      // A new user with the same value too.
      const copy = await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "copy", displayName: long });
      expect([copy.status, (copy.body as Obj).scimType]).toEqual([400, "invalidValue"]);
    });

    it("ids with NUL, strings with lone surrogates: 404 and 400 on both databases, never a 500", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      const user = await createUser(s, "unicode");
      const group = (await s.handle("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Unicode" })).body as Obj;
      // A lone surrogate is no Unicode character (PostgreSQL's JSON refuses it): 400 wherever it is sent.
      const lone = "x\ud800y";
      const refused = [
        await s.handle("POST", "/Users", { schemas: [USER_SCHEMA], userName: "lone", title: lone }),
        await s.handle("PUT", `/Users/${user.id}`, { schemas: [USER_SCHEMA], userName: "unicode", title: lone }),
        await s.handle("PATCH", `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "title", value: lone }] }),
        await s.handle("PATCH", `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: lone }] }),
      ];
      for (const r of refused) expect([r.status, (r.body as Obj).scimType]).toEqual([400, "invalidValue"]);
      // No stored id holds NUL: 404, as for any unknown id.
      const nul = "x\u0000y";
      for (const [method, path, body] of [
        ["GET", `/Users/${nul}`],
        ["GET", `/Groups/${nul}`],
        ["DELETE", `/Users/${nul}`],
        ["PUT", `/Users/${nul}`, { schemas: [USER_SCHEMA], userName: "nul" }],
        ["PATCH", `/Groups/${nul}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: "N" }] }],
      ] as const) {
        expect((await s.handle(method, path, body)).status, `${method} ${path}`).toBe(404);
      }
      const member = await s.handle("PATCH", `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: nul }] }] });
      expect([member.status, (member.body as Obj).scimType]).toEqual([400, "invalidValue"]);
      const filtered = await s.handle("GET", `/Users?filter=${encodeURIComponent(`userName eq "un\u0000icode" or id eq "${nul}"`)}`);
      expect([filtered.status, (filtered.body as Obj).totalResults]).toEqual([200, 0]);
      expect(((await s.handle("GET", `/Users/${user.id}`)).body as Obj).title).toBeUndefined();
    });

    it("a deleted user frees its userName and leaves its groups; the row stays for audit (soft delete)", async ({ skip }) => {
      if (!database) return skip();
      const s = setup();
      const user = await createUser(s, "leaver");
      const group = (await s.handle("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Team", members: [{ value: user.id }] })).body as Obj;
      expect((await s.handle("DELETE", `/Users/${user.id}`)).status).toBe(204);
      expect((await s.handle("GET", `/Users/${user.id}`)).status).toBe(404);
      const team = (await s.handle("GET", `/Groups/${group.id}`)).body as Obj;
      expect(team.members ?? []).toEqual([]);
      expect((await s.store.readDeleted({ tenant: s.tenant }, "User", user.id as string))!.attributes.userName).toBe("leaver");
      const again = await createUser(s, "leaver");
      expect(again.id).not.toBe(user.id);
      // purge removes the deleted row for good, and only a deleted one.
      expect(await s.store.purge({ tenant: s.tenant }, "User", again.id as string)).toBe(false);
      expect(await s.store.purge({ tenant: s.tenant }, "User", user.id as string)).toBe(true);
      expect(await s.store.readDeleted({ tenant: s.tenant }, "User", user.id as string)).toBeUndefined();
    });
  });
}

describe("a member's groups are read through its own index, whatever the statistics say", () => {
  it("SQLite: analysed while no membership existed, the lookup by member still reads no other membership", async () => {
    const database = openSqlite({ filename: ":memory:" });
    try {
      await migrateScimTables(database.db, "sqlite");
      const store = sqlStore({ database });
      const ctx = { tenant: "t" };
      await store.importResources(ctx, "User", Array.from({ length: 500 }, (_, i) => ({ id: `u${i}`, attributes: { schemas: [USER_SCHEMA], userName: `u${i}` }, uniqueKeys: [] })));
      await store.importResources(ctx, "Group", Array.from({ length: 500 }, (_, i) => ({ id: `g${i}`, attributes: { schemas: [GROUP_SCHEMA], displayName: `G${i}` }, uniqueKeys: [] })));
      // importResources analyses the tables: scim_members is empty, so SQLite knows nothing of it.
      await store.addMembers(ctx, "g0", Array.from({ length: 500 }, (_, i) => ({ value: `u${i}` })));
      const plan = await database.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(
          "explain query plan select m.member_id, m.group_id from scim_members m inner join scim_resources g on g.tenant = m.tenant and g.id = m.group_id where m.tenant = ? and m.member_id in (?) and g.resource_type = 'Group' and g.deleted = 0",
          ["t", "u1"],
        ),
      );
      const members = plan.rows.map((r) => r.detail).filter((d) => /\bm\b/.test(d));
      expect(members).toEqual([expect.stringMatching(/USING COVERING INDEX scim_members_member_group \(tenant=\? AND member_id=\?\)/)]);
      expect((await store.groupsOf(ctx, "u1")).map((g) => g.value)).toEqual(["g0"]);
    } finally {
      await database.destroy();
    }
  });
});

describe("group membership touches only the changed rows", () => {
  it("SQLite: adding a member and reading a group without members use only keyed index lookups", async () => {
    const statements: Array<{ sql: string; parameters: readonly unknown[] }> = [];
    const database = openSqlite({ filename: ":memory:", log: (e) => void (e.level === "query" && statements.push({ sql: e.query.sql, parameters: e.query.parameters })) });
    try {
      await migrateScimTables(database.db, "sqlite");
      const store = sqlStore({ database });
      const ctx = { tenant: "t" };
      const users = await store.importResources(ctx, "User", Array.from({ length: 2000 }, (_, i) => ({ id: `u${i}`, attributes: { schemas: [USER_SCHEMA], userName: `u${i}` }, uniqueKeys: [{ attribute: "userName", value: `u${i}` }] })));
      expect(users).toBe(2000);
      await store.importResources(ctx, "Group", [{ id: "big", attributes: { schemas: [GROUP_SCHEMA], displayName: "Big" }, uniqueKeys: [], members: Array.from({ length: 1999 }, (_, i) => ({ value: `u${i}`, type: "User" })) }]);
      const server = createScimServer({ store, authenticate: bearerAuth({ tok: ctx }), baseUrl: "https://x.test/scim/v2" });

      statements.length = 0;
      const add = await server.handle({ method: "PATCH", path: "/Groups/big", headers: { authorization: "Bearer tok" }, body: { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: "u1999" }] }] } });
      expect(add.status).toBe(204);
      const touching = statements.filter((q) => /scim_members/.test(q.sql));
      expect(touching.length).toBeGreaterThan(0);
      for (const q of touching) {
        // The plan of each statement: every step on scim_members is a keyed SEARCH, never a SCAN.
        const plan = await database.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]));
        for (const step of plan.rows) expect(step.detail, q.sql).not.toMatch(/^SCAN/);
        const member = plan.rows.filter((step) => /scim_members/.test(step.detail) || /^SEARCH m\b/.test(step.detail));
        for (const step of member) expect(step.detail, q.sql).toMatch(/USING (COVERING )?INDEX scim_members_(member_group|group) \(tenant=\? AND (member_id|group_id=\? AND member_id)=\?\)/);
      }
      // No statement reads the group's member list.
      expect(touching.some((q) => /^select/i.test(q.sql) && /"group_id" = \?/.test(q.sql) && !/"member_id"/.test(q.sql))).toBe(false);

      statements.length = 0;
      const read = await server.handle({ method: "GET", path: "/Groups/big", query: "excludedAttributes=members", headers: { authorization: "Bearer tok" } });
      expect(read.status).toBe(200);
      expect(read.body).not.toHaveProperty("members");
      expect(statements.filter((q) => /scim_members/.test(q.sql))).toEqual([]);
    } finally {
      await database.destroy();
    }
  });

  it("SQLite: resolving many new members reads them by (tenant, id), not by walking the tenant through a (tenant, resource_type) index", async () => {
    const { database, statements, state, plan } = await openPlannedSqlite();
    try {
      const store = sqlStore({ database });
      const ctx = { tenant: "t" };
      await store.importResources(ctx, "User", Array.from({ length: 5000 }, (_, i) => ({ id: `u${i}`, attributes: { schemas: [USER_SCHEMA], userName: `u${i}` }, uniqueKeys: [{ attribute: "userName", value: `u${i}` }] })));
      // The statistics a directory gathers as it grows (the store runs `pragma optimize`).
      await sql`analyze`.execute(database.db);
      const server = createScimServer({ store, authenticate: bearerAuth({ tok: ctx }), baseUrl: "https://x.test/scim/v2" });
      state.recording = true;
      const created = await server.handle({
        method: "POST",
        path: "/Groups",
        headers: { authorization: "Bearer tok" },
        body: { schemas: [GROUP_SCHEMA], displayName: "Many", members: Array.from({ length: 1200 }, (_, i) => ({ value: `u${i * 4}` })) },
      });
      state.recording = false;
      expect(created.status).toBe(201);
      const lookups = statements.filter((q) => /from "scim_resources"/.test(q.sql) && /"id" in \(/.test(q.sql));
      expect(lookups.length).toBeGreaterThanOrEqual(3);
      for (const q of lookups) {
        expect((await plan(q)).join(" | "), q.sql).toMatch(/USING INDEX scim_resources_id \(tenant=\? AND id=\?\)/);
      }
    } finally {
      await database.destroy();
    }
  });

  it("PostgreSQL: adding a member inserts one row and reads no other membership row; a read without members never touches the table", async ({ skip }) => {
    const database = await openTestPostgres();
    if (!database) return skip();
    try {
      const store = sqlStore({ database });
      const ctx = { tenant: `t-${randomUUID()}` };
      const ids = Array.from({ length: 2000 }, () => randomUUID());
      await store.importResources(ctx, "User", ids.map((id, i) => ({ id, attributes: { schemas: [USER_SCHEMA], userName: `u${i}` }, uniqueKeys: [{ attribute: "userName", value: `u${i}` }] })));
      const groupId = randomUUID();
      await store.importResources(ctx, "Group", [{ id: groupId, attributes: { schemas: [GROUP_SCHEMA], displayName: "Big" }, uniqueKeys: [], members: ids.slice(0, 1999).map((value) => ({ value, type: "User" })) }]);
      await sql`analyze scim_members`.execute(database.db);
      const stats = (db: SqlScimStore["db"]) =>
        sql<{ seq_scan: string; seq_tup_read: string; idx_tup_fetch: string; n_tup_ins: string }>`select seq_scan, seq_tup_read, idx_tup_fetch, n_tup_ins from pg_stat_xact_user_tables where relname = 'scim_members' and schemaname = current_schema()`
          .execute(db)
          .then((r) => r.rows[0]);
      // pg_stat_xact_user_tables counts what the current transaction did.
      // pg_stat_xact_user_tables counts what this backend did and has not reported yet: compare
      // the counters before and after the operation, inside one transaction (one connection).
      const delta = async (work: (tx: SqlScimStore) => Promise<void>) =>
        store.transaction!(async (tx) => {
          const db = (tx as SqlScimStore).db;
          const before = await stats(db);
          await work(tx as SqlScimStore);
          const after = await stats(db);
          const n = (row: typeof before, key: keyof NonNullable<typeof before>) => Number(row?.[key] ?? 0);
          return { seqScan: n(after, "seq_scan") - n(before, "seq_scan"), fetched: n(after, "idx_tup_fetch") - n(before, "idx_tup_fetch"), inserted: n(after, "n_tup_ins") - n(before, "n_tup_ins") };
        });
      const added = await delta(async (tx) => {
        await tx.addMembers(ctx, groupId, [{ value: ids[1999]!, type: "User" }]);
      });
      expect(added).toEqual({ seqScan: 0, fetched: 0, inserted: 1 });
      const read = await delta(async (tx) => {
        const group = await tx.get(ctx, "Group", groupId, { members: false });
        expect(group!.members).toBeUndefined();
      });
      expect(read).toEqual({ seqScan: 0, fetched: 0, inserted: 0 });
    } finally {
      await database.destroy();
    }
  });
});

describe("lookups after a bulk import", () => {
  it("SQLite: an Entra value-path lookup is one statement that starts from the emails index (planner statistics kept)", async () => {
    const statements: Array<{ sql: string; parameters: readonly unknown[] }> = [];
    const database = openSqlite({ filename: ":memory:", log: (e) => void (e.level === "query" && statements.push({ sql: e.query.sql, parameters: e.query.parameters })) });
    try {
      const store = await createSqlStore({ database });
      const ctx = { tenant: "t" };
      await store.importResources(
        ctx,
        "User",
        Array.from({ length: 5000 }, (_, i) => ({
          attributes: { schemas: [USER_SCHEMA], userName: `u${i}`, emails: [{ type: "work", value: `u${i}@x.test` }, { type: "home", value: `h${i}@x.test` }] },
          uniqueKeys: [{ attribute: "userName", value: `u${i}` }],
        })),
      );
      for (const text of ['emails[type eq "work" and value eq "u7@x.test"]', 'userName eq "U7"']) {
        statements.length = 0;
        const found = await store.query(ctx, "User", { filter: parseFilter(text), startIndex: 1, count: 100 });
        expect(found.totalResults, text).toBe(1);
        // A page that is not full gives its own total: no count(*) statement.
        expect(statements, text).toHaveLength(1);
        const plan = await database.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${statements[0]!.sql}`, [...statements[0]!.parameters]));
        const details = plan.rows.map((r) => r.detail).join("\n");
        expect(details, text).toMatch(/SEARCH r USING INDEX scim_resources_(id \(tenant=\? AND id=\?\)|user_name_lower \(tenant=\? AND resource_type=\? AND user_name_lower=\?\))/);
      }
    } finally {
      await database.destroy();
    }
  });
});

describe("PostgreSQL statements", () => {
  it("are prepared once per connection (named), as a hand-written prepared statement would be", async ({ skip }) => {
    const database = await openTestPostgres();
    if (!database) return skip();
    try {
      const store = sqlStore({ database });
      const ctx = { tenant: `t-${randomUUID()}` };
      await store.create(ctx, "User", { attributes: { schemas: [USER_SCHEMA], userName: "prepared" }, uniqueKeys: [{ attribute: "userName", value: "prepared" }] });
      const names = await store.transaction!(async (tx) => {
        const db = (tx as SqlScimStore).db;
        for (let i = 0; i < 3; i++) expect((await tx.query(ctx, "User", { filter: parseFilter('userName eq "PREPARED"'), count: 10 })).totalResults).toBe(1);
        const rows = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(db);
        return rows.rows;
      });
      const lookup = names.filter((r) => /^select/i.test(r.statement) && r.statement.includes("user_name_lower"));
      expect(lookup.length).toBe(1);
      expect(lookup[0]!.name).toMatch(/^scim_\d+$/);
      // A bulk statement (500 ids in an IN list) is planned with its values each time, not named:
      // a generic plan checks such a list element by element against every row it reads.
      const bulk = await store.transaction!(async (tx) => {
        const ids = Array.from({ length: 500 }, (_, i) => `missing-${i}`);
        await tx.membersAmong!(ctx, "no-group", ids);
        const db = (tx as SqlScimStore).db;
        return (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db)).rows.filter((r) => r.statement.includes("member_id"));
      });
      expect(bulk).toEqual([]);
    } finally {
      await database.destroy();
    }
  });
});

describe("onEvents", () => {
  it("hears how many events each transaction wrote, by tenant; reads and refused writes write none", async () => {
    const heard: Array<[string, number]> = [];
    const database = openSqlite({ filename: ":memory:" });
    try {
      await migrateScimTables(database.db, "sqlite");
      const store = sqlStore({ database, onEvents: (tenant, count) => void heard.push([tenant, count]) });
      const server = createScimServer({ store, authenticate: bearerAuth({ a: { tenant: "ta" }, b: { tenant: "tb" } }), baseUrl: "https://x.test/scim/v2", subscribers: [store.outbox] });
      const call = (token: string, method: string, path: string, body?: unknown) => server.handle({ method, path, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { body } : {}) });
      const ids: string[] = [];
      for (const userName of ["one", "two", "three"]) ids.push(((await call("a", "POST", "/Users", { schemas: [USER_SCHEMA], userName })).body as { id: string }).id);
      expect((await call("b", "POST", "/Users", { schemas: [USER_SCHEMA], userName: "other" })).status).toBe(201);
      expect(heard).toEqual([["ta", 1], ["ta", 1], ["ta", 1], ["tb", 1]]);
      heard.length = 0;
      // A group with three members: its creation and three membership events, in one transaction.
      expect((await call("a", "POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "G", members: ids.map((value) => ({ value })) })).status).toBe(201);
      expect(heard).toEqual([["ta", 4]]);
      heard.length = 0;
      expect((await call("a", "POST", "/Users", { schemas: [USER_SCHEMA], userName: "one" })).status).toBe(409);
      expect((await call("a", "GET", "/Users")).status).toBe(200);
      expect(heard).toEqual([]);
    } finally {
      await database.destroy();
    }
  });
});

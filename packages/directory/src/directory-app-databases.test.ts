import { describe, expect, it } from "vitest";
import { createAdminKey } from "./admin-keys.js";
import { directoryApp } from "./directory-app.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { backends, useDirectorySync } from "./test-backends.js";
import { hashToken } from "./tokens.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe.each(backends)("the directory app on $name: authentication, audit batches and events", (backend) => {
  let sync: DirectorySync;
  useDirectorySync(backend, (database) => createDirectorySync({ database, audit: { batch: { maxEntries: 1000, maxDelayMs: 60_000 } } }), (s) => (sync = s));

  it.skipIf(backend.skip)("serves a directory with its token only, audits every request once read, and records the events", async () => {
    const app = directoryApp(sync);
    const a = await sync.directories.create({ organizationId: "org_a", name: "A", type: "okta" });
    const b = await sync.directories.create({ organizationId: "org_b", name: "B", type: "azure-ad" });
    const tokenA = await sync.tokens.create(a.id);
    const tokenB = await sync.tokens.create(b.id);
    const scim = (directoryId: string, token: string, method: string, path: string, body?: unknown) =>
      app.request(`http://sync.test/scim/v2/${directoryId}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const created = await scim(a.id, tokenA.token, "POST", "/Users", { schemas: [USER], userName: "ada@a.test", active: true });
    expect(created.status).toBe(201);
    const user = (await created.json()) as { id: string };
    expect((await scim(a.id, tokenA.token, "GET", `/Users/${user.id}`)).status).toBe(200);
    expect((await scim(a.id, tokenB.token, "GET", `/Users/${user.id}`)).status).toBe(401);
    expect((await scim(b.id, tokenB.token, "GET", `/Users/${user.id}`)).status).toBe(404);

    // The entries wait in memory (a batch of up to 1000, a minute): nothing is stored yet...
    expect(await sync.db.selectFrom("dir_audit_log").select("id").execute()).toEqual([]);
    // ...and a read of the log writes them first, in order, with the token of each request.
    const audit = await sync.audit.list({ directoryId: a.id, kind: "scim" });
    expect(audit.data.map((e) => [e.method, e.status, e.actor])).toEqual([
      ["POST", 201, tokenA.id],
      ["GET", 200, tokenA.id],
      ["GET", 401, null],
    ]);
    expect(audit.data[0]!.resourceId).toBe(user.id);

    await sync.tokens.revoke(a.id, tokenA.id);
    expect((await scim(a.id, tokenA.token, "GET", "/Users")).status).toBe(401);

    const events = await sync.store.readEvents({ tenant: a.id });
    expect(events.map((e) => e.event.type)).toEqual(["user.created"]);
    // Event ids are time-ordered UUIDs (version 7).
    expect(events[0]!.event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });

  it.skipIf(backend.skip)("the tokens used recently, the ones a restarted process trusts from the start: active ones of active directories, most recent last", async () => {
    const [a, b, c] = [
      await sync.directories.create({ organizationId: "org_r", name: "A", type: "okta" }),
      await sync.directories.create({ organizationId: "org_r", name: "B", type: "okta" }),
      await sync.directories.create({ organizationId: "org_r", name: "C", type: "okta" }),
    ];
    const [ta, tb, tc, unused] = [await sync.tokens.create(a.id), await sync.tokens.create(b.id), await sync.tokens.create(c.id), await sync.tokens.create(a.id)];
    for (const [token, directory] of [[tb, b], [ta, a], [tc, c]] as const) {
      expect(await sync.tokens.verifyFor(token.token, directory.id)).toBeDefined();
    }
    await sync.db.updateTable("dir_tokens").set({ last_used_at: "2026-01-01T00:00:00.000Z" }).where("id", "=", tb.id).execute();
    await sync.directories.update(c.id, { state: "inactive" });
    const recent = await sync.tokens.recentlyUsed(7 * 24 * 3600 * 1000, 10);
    const mine = recent.filter((r) => [a.id, b.id, c.id].includes(r.directoryId));
    // B's use is older than a week; C is inactive; the unused token never counts.
    expect(mine).toEqual([{ directoryId: a.id, hash: hashToken(ta.token) }]);
    expect(mine.some((r) => r.hash === hashToken(unused.token))).toBe(false);
    expect((await sync.tokens.recentlyUsed(100 * 365 * 24 * 3600 * 1000, 10)).filter((r) => [a.id, b.id].includes(r.directoryId)).map((r) => r.directoryId)).toEqual([b.id, a.id]);
  });

  it.skipIf(backend.skip)("text no column takes (NUL, lone surrogates) in one request loses no audit entry of its batch, and answers 404, not 500", async () => {
    const app = directoryApp(sync);
    const a = await sync.directories.create({ organizationId: "org_nul", name: "NUL", type: "okta" });
    const b = await sync.directories.create({ organizationId: "org_nul", name: "Busy", type: "okta" });
    const tokenB = (await sync.tokens.create(b.id)).token;
    const call = (directoryId: string, token: string | undefined, method: string, path: string, body?: unknown) =>
      app.request(`http://sync.test/scim/v2/${directoryId}${path}`, {
        method,
        headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/scim+json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    await sync.audit.flush();
    const before = (await sync.audit.list({ limit: 1000 })).data.length;
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => call(b.id, tokenB, "POST", "/Users", { schemas: [USER], userName: `busy${i}@b.test` })),
      call(a.id, undefined, "GET", "/Users/x%00"),
      call(b.id, tokenB, "GET", "/Users/x%00"),
      call(b.id, tokenB, "GET", "/Users/x%ED%A0%80"),
      call(b.id, "dsync_wrong", "GET", "/Users/x%00"),
    ]);
    expect(answers.map((r) => r.status).slice(19)).toEqual([201, 401, 404, 400, 401]);
    const logged = (await sync.audit.list({ limit: 1000 })).data.slice(before);
    expect(logged).toHaveLength(24);
    expect(logged.filter((e) => e.method === "POST" && e.status === 201)).toHaveLength(20);
    expect(logged.some((e) => e.resourceId === "x\uFFFD")).toBe(true);
  });

  it.skipIf(backend.skip)("the admin API answers NUL and lone surrogates in paths, queries and bodies with 404 and 400, never 500", async () => {
    const key = await createAdminKey(sync.db);
    const app = directoryApp(sync);
    const directory = await sync.directories.create({ organizationId: "org_text", name: "Text", type: "okta" });
    const api = (method: string, path: string, body?: string) =>
      app.request(`http://sync.test/api${path}`, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, ...(body !== undefined ? { body } : {}) });
    const cases: [string, string, string | undefined, number][] = [
      ["GET", "/directories/a%00", undefined, 404],
      ["GET", `/directories/${directory.id}/users/x%00`, undefined, 404],
      ["DELETE", `/directories/${directory.id}/role-mappings/m%00`, undefined, 404],
      ["GET", `/directories/${directory.id}/users?username=a%00`, undefined, 400],
      ["GET", "/events?directoryId=%00", undefined, 400],
      ["GET", `/audit-log?directoryId=x%00`, undefined, 400],
      ["POST", "/directories", JSON.stringify({ organizationId: "org\u0000", name: "n" }), 400],
      ["POST", "/directories", '{"organizationId":"org_x","name":"n\\ud800"}', 400],
      ["POST", `/directories/${directory.id}/role-mappings`, '{"group":{"displayName":"\\udc00Admins"},"role":"admin"}', 400],
      ["PATCH", `/directories/${directory.id}`, '{"settings":{"attributeMapping":{"k\\u0000":"title"}}}', 400],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await api(method, path, body);
      expect(r.status, `${method} ${path} ${body ?? ""}`).toBe(status);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe(status === 404 ? "not_found" : "validation_failed");
    }
    expect((await sync.directories.list({ organizationId: "org_x" })).length).toBe(0);
    expect(await sync.roles.listMappings(directory.id)).toEqual([]);
  });

  it.skipIf(backend.skip)("deleting a directory records its users' and groups' deletion and its own in the outbox, in its transaction", async () => {
    const app = directoryApp(sync);
    const directory = await sync.directories.create({ organizationId: "org_del", name: "Leaving", type: "okta" });
    const { token } = await sync.tokens.create(directory.id);
    const post = async (path: string, body: unknown) =>
      (await (
        await app.request(`http://sync.test/scim/v2/${directory.id}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
          body: JSON.stringify(body),
        })
      ).json()) as { id: string };
    const users = [await post("/Users", { schemas: [USER], userName: "one@del.test" }), await post("/Users", { schemas: [USER], userName: "two@del.test" })];
    const group = await post("/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "All", members: users.map((u) => ({ value: u.id })) });
    await sync.roles.createMapping(directory.id, { group: { id: group.id }, role: "member" });
    await sync.directories.delete(directory.id);
    const events = (await sync.store.readEvents({ tenant: directory.id, limit: 1000 })).map((e) => e.event);
    // Users who had roles lose them, as with a SCIM DELETE: a consumer of user.roles_changed alone revokes them.
    const byId = users.map((u) => u.id).sort();
    expect(events.slice(-6).map((e) => [e.type, e.resourceId, e.data])).toEqual([
      ["user.deleted", users[0]!.id, undefined],
      ["user.deleted", users[1]!.id, undefined],
      ["user.roles_changed", byId[0], { roles: [], added: [], removed: ["member"] }],
      ["user.roles_changed", byId[1], { roles: [], added: [], removed: ["member"] }],
      ["group.deleted", group.id, undefined],
      ["directory.deleted", directory.id, expect.objectContaining({ users: 2, groups: 1 })],
    ]);
    expect(events.at(-1)!.data).toMatchObject({ users: 2, groups: 1 });
    expect(await sync.db.selectFrom("scim_resources").select("id").where("tenant", "=", directory.id).execute()).toEqual([]);
  });

  it.skipIf(backend.skip)("a directory deleted while its IdP writes: no deadlock, nothing of it left, directory.deleted its last event", async () => {
    const app = directoryApp(sync);
    for (let round = 0; round < 3; round++) {
      const directory = await sync.directories.create({ organizationId: "org_race_del", name: `Racing ${round}`, type: "azure-ad", settings: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } } });
      const { token } = await sync.tokens.create(directory.id);
      const call = (method: string, path: string, body?: unknown) =>
        app.request(`http://sync.test/scim/v2/${directory.id}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const users = await Promise.all([0, 1, 2].map(async (i) => ((await (await call("POST", "/Users", { schemas: [USER], userName: `seed${i}@race.test` })).json()) as { id: string }).id));
      const group = ((await (await call("POST", "/Groups", { schemas: [GROUP], displayName: "Everyone" })).json()) as { id: string }).id;
      // The IdP's writes: creates and membership PATCHes, while the directory is deleted.
      const writes = Array.from({ length: 24 }, (_, i) =>
        i % 2 === 0
          ? call("POST", "/Users", { schemas: [USER], userName: `late${i}@race.test` })
          : call("PATCH", `/Groups/${group}`, { schemas: [PATCH_OP], Operations: [{ op: "Add", path: "members", value: [{ value: users[i % 3] }] }] }),
      );
      await new Promise((resolve) => setTimeout(resolve, 5 * round));
      await sync.directories.delete(directory.id);
      const statuses = await Promise.all(writes.map(async (w) => (await w).status));
      for (const status of statuses) expect([201, 204, 401, 404]).toContain(status);
      expect(await sync.db.selectFrom("scim_resources").select("id").where("tenant", "=", directory.id).execute()).toEqual([]);
      expect(await sync.db.selectFrom("scim_members").select("group_id").where("tenant", "=", directory.id).execute()).toEqual([]);
      const events = (await sync.store.readEvents({ tenant: directory.id, limit: 1000 })).map((e) => e.event);
      expect(events.at(-1)!.type).toBe("directory.deleted");
      // Every user created before the deletion was reported deleted by it.
      const created = events.filter((e) => e.type === "user.created").map((e) => e.resourceId);
      const deleted = events.filter((e) => e.type === "user.deleted").map((e) => e.resourceId);
      expect(deleted.sort()).toEqual(created.sort());
    }
  });

  it.skipIf(backend.skip)("keeps at most two active tokens when creates and rotations race", async () => {
    const directory = await sync.directories.create({ organizationId: "org_race", name: "Race", type: "okta" });
    const active = async () => (await sync.tokens.list(directory.id)).filter((t) => t.active);
    const creates = await Promise.allSettled(Array.from({ length: 8 }, () => sync.tokens.create(directory.id)));
    expect(creates.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    for (const r of creates) if (r.status === "rejected") expect(r.reason).toMatchObject({ status: 409 });
    expect(await active()).toHaveLength(2);
    // Each rotation keeps only the newest previous token (in its grace period) beside the new one.
    const rotations = await Promise.all(Array.from({ length: 6 }, () => sync.tokens.rotate(directory.id, 3600)));
    const left = await active();
    expect(left).toHaveLength(2);
    expect(left.filter((t) => rotations.some((r) => r.id === t.id)).length).toBeGreaterThanOrEqual(1);
  });
});

import { ConcurrentChangeError, openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createDirectorySync, directoryIdOf, type DirectorySync } from "./directory-sync.js";
import type { DeprovisionEvent } from "./provisioning.js";
import { directoryScimRoutes } from "./scim-routes.js";
import { backends, useDirectorySync } from "./test-backends.js";
import { hashToken } from "./tokens.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

type Obj = Record<string, unknown>;

let clock = Date.parse("2026-11-25T10:00:00.000Z");
const now = () => new Date(clock);

/** A SCIM request to a directory through `app` (directoryScimRoutes), with its token. */
function scimRequest(app: ReturnType<typeof directoryScimRoutes>, directoryId: string, token: string, method: string, path: string, body?: unknown) {
  return app.request(`http://sync.test/scim/v2/${directoryId}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

describe("directory sync: directories, tokens and their SCIM endpoints", () => {
  let sync: DirectorySync;
  let app: ReturnType<typeof directoryScimRoutes>;
  const deprovisioned: DeprovisionEvent[] = [];
  let failDeprovision = false;

  beforeEach(async () => {
    clock = Date.parse("2026-11-25T10:00:00.000Z");
    deprovisioned.length = 0;
    failDeprovision = false;
    sync = await createDirectorySync({
      database: openSqlite({ filename: ":memory:" }),
      now,
      hooks: {
        onDeprovision: (event) => {
          if (failDeprovision) throw new Error("session service down");
          deprovisioned.push(event);
        },
      },
    });
    app = directoryScimRoutes(sync);
  });
  afterEach(() => sync.close());

  const scim = (directoryId: string, token: string, method: string, path: string, body?: unknown) => scimRequest(app, directoryId, token, method, path, body);

  async function directoryWithToken(organizationId = "org_1") {
    const directory = await sync.directories.create({ organizationId, name: "Acme Okta", type: "okta" });
    const issued = await sync.tokens.create(directory.id);
    return { directory, token: issued.token, tokenId: issued.id };
  }

  it("a directory serves SCIM at /scim/v2/{id} with its token, with meta.location under its URL", async () => {
    const { directory, token } = await directoryWithToken();
    expect(directory.id).toMatch(/^dir_[0-9a-f]{24}$/);
    const created = await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "bjensen@acme.test" });
    expect(created.status).toBe(201);
    const body = (await created.json()) as Obj;
    expect((body.meta as Obj).location).toBe(`http://sync.test/scim/v2/${directory.id}/Users/${body.id}`);
    expect(directoryIdOf({ method: "GET", path: "/Users", baseUrl: `https://x.test/scim/v2/${directory.id}` })).toBe(directory.id);
    expect(directoryIdOf({ method: "GET", path: "/Users", baseUrl: "https://x.test/other/dir_0123" })).toBeUndefined();
  });

  it("a directory segment that is not valid percent-encoding is a 400 invalidSyntax, not a 500", async () => {
    const { token } = await directoryWithToken();
    for (const segment of ["%zz", "dir_%zz", "%", "%E0%A4%A", "%ED%A0%80"]) {
      const r = await app.request(`http://sync.test/scim/v2/${segment}/Users`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status, segment).toBe(400);
      expect(await r.json()).toMatchObject({ status: "400", scimType: "invalidSyntax" });
    }
    expect(() => directoryIdOf({ method: "GET", path: "/Users", baseUrl: "https://x.test/scim/v2/%zz" })).toThrow(expect.objectContaining({ status: 400 }));
  });

  it("tokens: prefix and 256 random bits, shown once, stored only as a hash", async () => {
    const { directory, token, tokenId } = await directoryWithToken();
    expect(token).toMatch(/^dsync_[A-Za-z0-9_-]{43}$/);
    const row = await sync.db.selectFrom("dir_tokens").selectAll().where("id", "=", tokenId).executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(hashToken(token));
    expect(JSON.stringify(row)).not.toContain(token);
    const listed = await sync.tokens.list(directory.id);
    expect(JSON.stringify(listed)).not.toContain(token);
    expect(listed[0]).toMatchObject({ id: tokenId, hint: token.slice(-4), active: true });
    // A SCIM request's authentication: the token with its directory, only for that directory.
    const found = await sync.tokens.verifyFor(token, directory.id);
    expect(found?.token.id).toBe(tokenId);
    expect(found?.directory).toEqual(await sync.directories.get(directory.id));
    expect(await sync.tokens.verifyFor(token, "dir_000000000000000000000000")).toBeUndefined();
    expect(await sync.tokens.verifyFor(`${token.slice(0, -1)}x`, directory.id)).toBeUndefined();
  });

  it("401 for a missing, unknown, other directory's, revoked or expired token, and for an inactive directory", async () => {
    const a = await directoryWithToken("org_1");
    const b = await directoryWithToken("org_2");
    expect((await scim(a.directory.id, a.token, "GET", "/Users")).status).toBe(200);
    expect((await scim(a.directory.id, "", "GET", "/Users")).status).toBe(401);
    expect((await scim(a.directory.id, `dsync_${"x".repeat(43)}`, "GET", "/Users")).status).toBe(401);
    expect((await scim(a.directory.id, b.token, "GET", "/Users")).status).toBe(401);
    expect((await scim("dir_000000000000000000000000", a.token, "GET", "/Users")).status).toBe(401);

    await sync.directories.update(a.directory.id, { state: "inactive" });
    expect((await scim(a.directory.id, a.token, "GET", "/Users")).status).toBe(401);
    await sync.directories.update(a.directory.id, { state: "active" });
    expect((await scim(a.directory.id, a.token, "GET", "/Users")).status).toBe(200);

    await sync.tokens.revoke(a.directory.id, a.tokenId);
    const revoked = await scim(a.directory.id, a.token, "GET", "/Users");
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as Obj).schemas).toEqual(["urn:ietf:params:scim:api:messages:2.0:Error"]);
  });

  it("rotation keeps the previous token for the grace period; at most two tokens are active", async () => {
    const { directory, token: first } = await directoryWithToken();
    await sync.directories.update(directory.id, { settings: { tokenGracePeriodSeconds: 3600 } });
    const second = await sync.tokens.rotate(directory.id, 3600);
    expect((await scim(directory.id, first, "GET", "/Users")).status).toBe(200);
    expect((await scim(directory.id, second.token, "GET", "/Users")).status).toBe(200);
    await expect(sync.tokens.create(directory.id)).rejects.toMatchObject({ status: 409, code: "too_many_tokens" });

    // A second rotation within the grace period revokes the oldest at once.
    const third = await sync.tokens.rotate(directory.id, 3600);
    expect((await scim(directory.id, first, "GET", "/Users")).status).toBe(401);
    expect((await scim(directory.id, second.token, "GET", "/Users")).status).toBe(200);
    expect((await sync.tokens.list(directory.id)).filter((t) => t.active)).toHaveLength(2);

    clock += 3601_000;
    expect((await scim(directory.id, second.token, "GET", "/Users")).status).toBe(401);
    expect((await scim(directory.id, third.token, "GET", "/Users")).status).toBe(200);
    const used = (await sync.tokens.list(directory.id)).find((t) => t.id === third.id)!;
    expect(used.lastUsedAt).toBe(new Date(clock).toISOString());
  });

  it("ended tokens do not pile up: a directory keeps its active tokens and its last 20 ended ones", async () => {
    const { directory, token: first } = await directoryWithToken();
    const other = await directoryWithToken();
    await sync.tokens.revoke(other.directory.id, other.tokenId);
    const issued = [];
    for (let i = 0; i < 30; i++) {
      clock += 1_000;
      issued.push(await sync.tokens.rotate(directory.id, i % 2 === 0 ? 0 : 1));
    }
    clock += 5_000; // every grace period over
    const spare = await sync.tokens.create(directory.id);
    const list = await sync.tokens.list(directory.id);
    expect(list.filter((t) => t.active).map((t) => t.id)).toEqual([spare.id, issued[29]!.id]);
    // The newest 20 ended ones, newest first; the first token and the oldest rotations are gone.
    expect(list.filter((t) => !t.active).map((t) => t.id)).toEqual(issued.slice(9, 29).reverse().map((t) => t.id));
    expect((await scim(directory.id, first, "GET", "/Users")).status).toBe(401);
    expect((await scim(directory.id, issued[29]!.token, "GET", "/Users")).status).toBe(200);
    // Another directory's ended token is not touched.
    expect((await sync.tokens.list(other.directory.id)).map((t) => t.id)).toEqual([other.tokenId]);
  });

  it("rotation keeps the token the IdP uses, not the newest: a second token created and never used is the one revoked", async () => {
    const { directory, token: inUse } = await directoryWithToken();
    expect((await scim(directory.id, inUse, "GET", "/Users")).status).toBe(200);
    clock += 60_000;
    const spare = await sync.tokens.create(directory.id);
    const rotated = await sync.tokens.rotate(directory.id, 3600);
    expect((await scim(directory.id, inUse, "GET", "/Users")).status).toBe(200);
    expect((await scim(directory.id, spare.token, "GET", "/Users")).status).toBe(401);
    expect((await scim(directory.id, rotated.token, "GET", "/Users")).status).toBe(200);
    // Once the IdP uses the new one, the next rotation keeps that one.
    clock += 120_000;
    expect((await scim(directory.id, rotated.token, "GET", "/Users")).status).toBe(200);
    const next = await sync.tokens.rotate(directory.id, 3600);
    expect((await scim(directory.id, inUse, "GET", "/Users")).status).toBe(401);
    expect((await scim(directory.id, rotated.token, "GET", "/Users")).status).toBe(200);
    expect((await scim(directory.id, next.token, "GET", "/Users")).status).toBe(200);
  });

  it("each directory's users are invisible to every other directory, even by id", async () => {
    const a = await directoryWithToken("org_1");
    const b = await directoryWithToken("org_1");
    const user = (await (await scim(a.directory.id, a.token, "POST", "/Users", { schemas: [USER], userName: "shared@acme.test" })).json()) as Obj;
    expect((await scim(b.directory.id, b.token, "GET", `/Users/${user.id}`)).status).toBe(404);
    expect((await scim(b.directory.id, b.token, "PATCH", `/Users/${user.id}`, { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: false }] })).status).toBe(404);
    expect((await scim(b.directory.id, b.token, "DELETE", `/Users/${user.id}`)).status).toBe(404);
    const list = (await (await scim(b.directory.id, b.token, "GET", "/Users")).json()) as Obj;
    expect(list.totalResults).toBe(0);
    // The same userName is free in the other directory.
    expect((await scim(b.directory.id, b.token, "POST", "/Users", { schemas: [USER], userName: "shared@acme.test" })).status).toBe(201);
    expect((await scim(a.directory.id, a.token, "GET", `/Users/${user.id}`)).status).toBe(200);
  });

  it("deactivation and deletion run the deprovisioning hook first; a failing hook is a 503 and writes nothing", async () => {
    const { directory, token } = await directoryWithToken();
    const user = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "leaver@acme.test", active: true })).json()) as Obj;

    failDeprovision = true;
    const refused = await scim(directory.id, token, "PATCH", `/Users/${user.id}`, { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false } }] });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(((await (await scim(directory.id, token, "GET", `/Users/${user.id}`)).json()) as Obj).active).toBe(true);
    expect((await scim(directory.id, token, "DELETE", `/Users/${user.id}`)).status).toBe(503);
    expect((await scim(directory.id, token, "GET", `/Users/${user.id}`)).status).toBe(200);

    failDeprovision = false;
    expect((await scim(directory.id, token, "PATCH", `/Users/${user.id}`, { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false } }] })).status).toBe(200);
    expect(deprovisioned.map((e) => [e.reason, e.user.id, e.directory.id])).toEqual([["deactivated", user.id, directory.id]]);
    // Already inactive: reactivating and PUTs that keep it active do not call the hook.
    expect((await scim(directory.id, token, "PATCH", `/Users/${user.id}`, { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: true }] })).status).toBe(200);
    expect((await scim(directory.id, token, "PUT", `/Users/${user.id}`, { schemas: [USER], userName: "leaver@acme.test", active: false })).status).toBe(200);
    expect(deprovisioned.map((e) => e.reason)).toEqual(["deactivated", "deactivated"]);

    expect((await scim(directory.id, token, "DELETE", `/Users/${user.id}`)).status).toBe(204);
    expect(deprovisioned.map((e) => e.reason)).toEqual(["deactivated", "deactivated", "deleted"]);
    const events = await sync.store.readEvents({ tenant: directory.id });
    expect(events.map((e) => e.event.type)).toEqual(["user.created", "user.deactivated", "user.reactivated", "user.deactivated", "user.deleted"]);
  });

  it("a deactivation racing a reactivation runs the hook: decided on the inactive user it read, it starts over once the other request made it active", async () => {
    const { directory, token } = await directoryWithToken();
    for (let round = 0; round < 5; round++) {
      const user = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: `racer${round}@acme.test`, active: false })).json()) as Obj;
      deprovisioned.length = 0;
      const [on, off, put] = await Promise.all([
        scim(directory.id, token, "PATCH", `/Users/${user.id}`, { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: true }] }),
        scim(directory.id, token, "PATCH", `/Users/${user.id}`, { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false, displayName: "Off" } }] }),
        scim(directory.id, token, "PUT", `/Users/${user.id}`, { schemas: [USER], userName: `racer${round}@acme.test`, displayName: "Put", active: false }),
      ]);
      expect([on.status, off.status, put.status]).toEqual([200, 200, 200]);
      // Every change of the user from active to inactive was preceded by the hook.
      const types = (await sync.store.readEvents({ tenant: directory.id })).filter((e) => e.event.resourceId === user.id).map((e) => e.event.type);
      const deactivations = types.filter((t) => t === "user.deactivated").length;
      expect(deactivations).toBeGreaterThan(0);
      expect(deprovisioned.filter((e) => e.user.id === user.id).length).toBeGreaterThanOrEqual(deactivations);
    }
  });

  it("a deactivation whose hook ran before the user was deactivated and reactivated by others starts over: the reactivation's sessions are revoked too", async () => {
    let gate: Promise<void> | undefined;
    const calls: string[] = [];
    const own = await createDirectorySync({
      database: openSqlite({ filename: ":memory:" }),
      hooks: {
        onDeprovision: async (event) => {
          calls.push(String(event.user.meta && (event.user.meta as Obj).version));
          const waiting = gate;
          gate = undefined;
          await waiting;
        },
      },
    });
    try {
      const ownApp = directoryScimRoutes(own);
      const directory = await own.directories.create({ organizationId: "org_aba", name: "ABA", type: "azure-ad" });
      const { token } = await own.tokens.create(directory.id);
      const call = (method: string, path: string, body: unknown) => scimRequest(ownApp, directory.id, token, method, path, body);
      const user = (await (await call("POST", "/Users", { schemas: [USER], userName: "aba@acme.test", active: true })).json()) as Obj;
      const off = { schemas: [PATCH], Operations: [{ op: "Replace", path: "active", value: "False" }] };
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      // B's hook runs on the active user and waits; A deactivates, C reactivates meanwhile.
      const b = call("PATCH", `/Users/${user.id}`, off);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await call("PATCH", `/Users/${user.id}`, off)).status).toBe(200);
      expect((await call("PATCH", `/Users/${user.id}`, { schemas: [PATCH], Operations: [{ op: "Replace", path: "active", value: "True" }] })).status).toBe(200);
      release();
      expect((await b).status).toBe(200);
      // B's hook ran again, on the reactivated user (version 3), before B deactivated it.
      expect(calls).toEqual(['W/"1"', 'W/"1"', 'W/"3"']);
      const types = (await own.store.readEvents({ tenant: directory.id })).map((e) => e.event.type);
      expect(types).toEqual(["user.created", "user.deactivated", "user.reactivated", "user.deactivated"]);
    } finally {
      await own.close();
    }
  });

  it("a user written without active is stored active, so SCIM shows it and filters find it as the normalized data says", async () => {
    const { directory, token } = await directoryWithToken();
    const created = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "onelogin@acme.test" })).json()) as Obj;
    expect(created.active).toBe(true);
    const found = (await (await scim(directory.id, token, "GET", `/Users?filter=${encodeURIComponent('active eq true and userName eq "onelogin@acme.test"')}`)).json()) as Obj;
    expect(found.totalResults).toBe(1);
    expect((await sync.data.getUser(directory.id, created.id as string)).state).toBe("active");
    // Suspended, then a PUT without active: active again, and shown so.
    await scim(directory.id, token, "PATCH", `/Users/${created.id}`, { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false } }] });
    const put = (await (await scim(directory.id, token, "PUT", `/Users/${created.id}`, { schemas: [USER], userName: "onelogin@acme.test" })).json()) as Obj;
    expect(put.active).toBe(true);
    expect((await sync.data.getUser(directory.id, created.id as string)).state).toBe("active");
    // A PATCH that removes active (by path, by its URN, or a path-less null), after a
    // suspension: active again, shown so, and found by the filter.
    const removals = [{ op: "remove", path: "active" }, { op: "remove", path: `${USER}:active` }, { op: "replace", value: { active: null } }, { op: "Replace", value: { ACTIVE: null } }];
    for (const removal of removals) {
      await scim(directory.id, token, "PATCH", `/Users/${created.id}`, { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: false }] });
      const patched = (await (await scim(directory.id, token, "PATCH", `/Users/${created.id}`, { schemas: [PATCH], Operations: [removal] })).json()) as Obj;
      expect(patched.active, JSON.stringify(removal)).toBe(true);
      const active = (await (await scim(directory.id, token, "GET", `/Users?filter=${encodeURIComponent('active eq true and userName eq "onelogin@acme.test"')}`)).json()) as Obj;
      expect(active.totalResults, JSON.stringify(removal)).toBe(1);
      expect((await sync.data.getUser(directory.id, created.id as string)).state).toBe("active");
    }
    // A patch that leaves active alone leaves it alone.
    const titled = (await (await scim(directory.id, token, "PATCH", `/Users/${created.id}`, { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: false }, { op: "add", path: "title", value: "CTO" }] })).json()) as Obj;
    expect(titled).toMatchObject({ active: false, title: "CTO" });
    // Groups are left as they are.
    const group = (await (await scim(directory.id, token, "POST", "/Groups", { schemas: [GROUP], displayName: "No active here" })).json()) as Obj;
    expect(group.active).toBeUndefined();
  });

  it("DELETE is soft by default (404 over SCIM, kept for audit, userName free) and hard when the directory says so", async () => {
    const { directory, token } = await directoryWithToken();
    const soft = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "soft@acme.test" })).json()) as Obj;
    expect((await scim(directory.id, token, "DELETE", `/Users/${soft.id}`)).status).toBe(204);
    expect((await scim(directory.id, token, "GET", `/Users/${soft.id}`)).status).toBe(404);
    expect((await scim(directory.id, token, "DELETE", `/Users/${soft.id}`)).status).toBe(404);
    expect(await sync.store.readDeleted({ tenant: directory.id }, "User", soft.id as string)).toBeDefined();
    expect((await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "soft@acme.test" })).status).toBe(201);

    await sync.directories.update(directory.id, { settings: { deleteMode: "hard" } });
    const hard = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "hard@acme.test" })).json()) as Obj;
    expect((await scim(directory.id, token, "DELETE", `/Users/${hard.id}`)).status).toBe(204);
    expect(await sync.store.readDeleted({ tenant: directory.id }, "User", hard.id as string)).toBeUndefined();
    expect((await sync.store.readEvents({ tenant: directory.id })).filter((e) => e.event.type === "user.deleted").map((e) => e.event.resourceId)).toEqual([soft.id, hard.id]);
  });

  it("deleting a directory deletes its tokens and removes its users", async () => {
    const { directory, token } = await directoryWithToken();
    await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "gone@acme.test" });
    await sync.directories.delete(directory.id);
    expect((await scim(directory.id, token, "GET", "/Users")).status).toBe(401);
    expect(await sync.directories.find(directory.id)).toBeUndefined();
    const rows = await sync.db.selectFrom("scim_resources").select("id").where("tenant", "=", directory.id).execute();
    expect(rows).toEqual([]);
    expect(await sync.db.selectFrom("dir_tokens").select("id").where("directory_id", "=", directory.id).execute()).toEqual([]);
    await expect(sync.directories.get(directory.id)).rejects.toMatchObject({ status: 404 });
  });

  it("deleting a directory of more users than one delete statement takes removes every row of it, and nothing of another", async () => {
    const { directory } = await directoryWithToken();
    const { directory: other } = await directoryWithToken();
    const users = (tenant: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({ id: `${tenant}-u${i}`, attributes: { schemas: [USER], userName: `u${i}@acme.test`, emails: [{ value: `u${i}@acme.test` }] }, uniqueKeys: [{ attribute: "userName", value: `u${i}@acme.test` }] }));
    await sync.store.importResources({ tenant: directory.id }, "User", users(directory.id, 12_000));
    await sync.store.importResources({ tenant: other.id }, "User", users(other.id, 3));
    await sync.directories.delete(directory.id);
    for (const table of ["scim_resources", "scim_emails", "scim_unique_keys", "scim_counts"] as const) {
      const left = await sync.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n")).where("tenant", "=", directory.id).executeTakeFirstOrThrow();
      expect([table, Number(left.n)]).toEqual([table, 0]);
    }
    expect((await sync.data.listUsers(other.id)).data).toHaveLength(3);
    let last: unknown;
    for (let after = 0; ; ) {
      const page = await sync.store.readEvents({ tenant: directory.id, after, limit: 10_000 });
      if (page.length === 0) break;
      last = page.at(-1)!.event;
      after = page.at(-1)!.seq;
    }
    expect(last).toMatchObject({ type: "directory.deleted", data: { users: 12_000 } });
  });

  it("deleting a directory deprovisions its live users first and records their deletion, its groups' and its own as events", async () => {
    const { directory, token } = await directoryWithToken();
    const other = await directoryWithToken("org_2");
    const post = async (id: string, tok: string, path: string, body: Obj) => (await (await scim(id, tok, "POST", path, body)).json()) as Obj;
    const active = await post(directory.id, token, "/Users", { schemas: [USER], userName: "active@acme.test", password: "s3cret-Pw!" });
    const suspended = await post(directory.id, token, "/Users", { schemas: [USER], userName: "suspended@acme.test", active: false });
    const gone = await post(directory.id, token, "/Users", { schemas: [USER], userName: "gone@acme.test" });
    expect((await scim(directory.id, token, "DELETE", `/Users/${gone.id}`)).status).toBe(204);
    const group = await post(directory.id, token, "/Groups", { schemas: [GROUP], displayName: "Engineering", members: [{ value: active.id }] });
    const outsider = await post(other.directory.id, other.token, "/Users", { schemas: [USER], userName: "outsider@acme.test" });
    deprovisioned.length = 0;
    const before = (await sync.store.readEvents()).length;

    await sync.directories.delete(directory.id);

    // The host's hook ran for each live user (suspended ones too), never for the deleted one.
    expect(deprovisioned.map((e) => [e.reason, e.user.id, e.user.userName, e.directory.id])).toEqual([
      ["deleted", active.id, "active@acme.test", directory.id],
      ["deleted", suspended.id, "suspended@acme.test", directory.id],
    ]);
    expect(deprovisioned.every((e) => !("password" in e.user))).toBe(true);
    const events = (await sync.store.readEvents({ after: 0, limit: 1000 })).slice(before).map((e) => e.event);
    expect(events.map((e) => [e.type, e.resourceType, e.resourceId])).toEqual([
      ["user.deleted", "User", active.id],
      ["user.deleted", "User", suspended.id],
      ["group.deleted", "Group", group.id],
      ["directory.deleted", "Directory", directory.id],
    ]);
    expect(events.every((e) => e.tenant === directory.id)).toBe(true);
    expect(events[0]!.resource).toMatchObject({ id: active.id, userName: "active@acme.test", schemas: [USER] });
    expect(JSON.stringify(events)).not.toContain("s3cret");
    expect(events[2]!.resource).toMatchObject({ id: group.id, displayName: "Engineering" });
    expect(events[3]!.data).toEqual({ organizationId: "org_1", name: "Acme Okta", type: "okta", users: 2, groups: 1 });
    // The other directory is untouched.
    expect((await scim(other.directory.id, other.token, "GET", `/Users/${outsider.id}`)).status).toBe(200);
  });

  it("a change of a directory is announced (directory.updated, what changed); one that changes nothing is not", async () => {
    const { directory } = await directoryWithToken();
    const read = async () => (await sync.store.readEvents({ tenant: directory.id })).map((e) => [e.event.type, e.event.data]);
    const before = (await read()).length;
    await sync.directories.update(directory.id, { settings: { attributeMapping: { department: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", title: "title" } } });
    await sync.directories.update(directory.id, { state: "inactive", name: "Acme (paused)" });
    const paused = await sync.directories.get(directory.id);
    clock += 60_000;
    // Nothing changes: the same state, the same mapping in another key order, nothing at all.
    await sync.directories.update(directory.id, { state: "inactive" });
    await sync.directories.update(directory.id, { settings: { attributeMapping: { title: "title", department: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" } } });
    await sync.directories.update(directory.id, {});
    expect((await sync.directories.get(directory.id)).updatedAt).toBe(paused.updatedAt);
    expect((await read()).slice(before)).toEqual([
      ["directory.updated", { changed: ["settings.attributeMapping"], name: directory.name, type: directory.type, state: "active" }],
      ["directory.updated", { changed: ["name", "state"], name: "Acme (paused)", type: directory.type, state: "inactive" }],
    ]);
  });

  it("a failing deprovisioning hook stops a directory's deletion: 503, nothing deleted, the directory active again", async () => {
    const { directory, token } = await directoryWithToken();
    const user = (await (await scim(directory.id, token, "POST", "/Users", { schemas: [USER], userName: "stays@acme.test" })).json()) as Obj;
    failDeprovision = true;
    const eventsBefore = await sync.store.readEvents({ tenant: directory.id });
    await expect(sync.directories.delete(directory.id)).rejects.toMatchObject({ status: 503, code: "deprovision_failed" });
    expect((await sync.directories.get(directory.id)).state).toBe("active");
    expect((await scim(directory.id, token, "GET", `/Users/${user.id}`)).status).toBe(200);
    expect(await sync.store.readEvents({ tenant: directory.id })).toEqual(eventsBefore);
    // An inactive directory stays inactive after a failed deletion.
    await sync.directories.update(directory.id, { state: "inactive" });
    await expect(sync.directories.delete(directory.id)).rejects.toMatchObject({ status: 503 });
    expect((await sync.directories.get(directory.id)).state).toBe("inactive");
    // The retry, once the host is back, deletes it.
    failDeprovision = false;
    await sync.directories.delete(directory.id);
    expect(await sync.directories.find(directory.id)).toBeUndefined();
    expect(deprovisioned.map((e) => e.user.id)).toEqual([user.id]);
  });

  it("settings are validated: unknown keys and bad values are refused", async () => {
    await expect(sync.directories.create({ organizationId: "o", name: "x", settings: { deleteMode: "shred" } as never })).rejects.toThrow();
    await expect(sync.directories.create({ organizationId: "o", name: "x", settings: { surprise: 1 } as never })).rejects.toThrow();
    const ok = await sync.directories.create({ organizationId: "o", name: "x", settings: { ipAllowlist: ["10.0.0.0/8"] } });
    expect(ok.settings).toMatchObject({ deleteMode: "soft", linkByEmail: false, ipAllowlist: ["10.0.0.0/8"], tokenGracePeriodSeconds: 86400 });
    // Read settings are shared between requests: frozen, so no reader can change another's.
    const read = await sync.directories.get(ok.id);
    expect(Object.isFrozen(read.settings) && Object.isFrozen(read.settings.ipAllowlist)).toBe(true);
    expect(() => (read.settings.ipAllowlist as string[]).push("0.0.0.0/0")).toThrow(TypeError);
    const updated = await sync.directories.update(ok.id, { settings: { ipAllowlist: ["192.168.0.0/16"] } });
    expect(updated.settings.ipAllowlist).toEqual(["192.168.0.0/16"]);
    expect((await sync.directories.get(ok.id)).settings.ipAllowlist).toEqual(["192.168.0.0/16"]);
  });
});

describe.each(backends)("directory updates on $name", (backend) => {
  let sync: DirectorySync;
  useDirectorySync(backend, (database) => createDirectorySync({ database }), (s) => (sync = s));

  it.skipIf(backend.skip)("concurrent updates of different fields all stay (none overwrites another with what it read)", async () => {
    for (let round = 0; round < 20; round++) {
      const directory = await sync.directories.create({ organizationId: "org_race", name: "Before", type: "okta" });
      await Promise.all([
        sync.directories.update(directory.id, { settings: { ipAllowlist: ["10.0.0.0/8"] } }),
        sync.directories.update(directory.id, { settings: { linkByEmail: true } }),
        sync.directories.update(directory.id, { state: "inactive" }),
        sync.directories.update(directory.id, { name: `After ${round}` }),
        sync.directories.update(directory.id, { settings: { deleteMode: "hard" } }),
      ]);
      const after = await sync.directories.get(directory.id);
      expect([round, after.name, after.state, after.settings.ipAllowlist, after.settings.linkByEmail, after.settings.deleteMode]).toEqual([
        round,
        `After ${round}`,
        "inactive",
        ["10.0.0.0/8"],
        true,
        "hard",
      ]);
    }
  });

  it.skipIf(backend.skip)("an update of an unknown directory is a 404 and writes nothing", async () => {
    await expect(sync.directories.update("dir_000000000000000000000000", { name: "x" })).rejects.toMatchObject({ status: 404 });
    expect(await sync.directories.find("dir_000000000000000000000000")).toBeUndefined();
  });
});

describe("directory sync: SCIM lists within maxQueryMs", () => {
  it("a filter that reads the whole directory past the limit is a 400 tooMany; lookups and other requests go on", async () => {
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), maxQueryMs: 1000 });
    try {
      const app = directoryScimRoutes(sync);
      const directory = await sync.directories.create({ organizationId: "org_1", name: "Acme", type: "okta" });
      const { token } = await sync.tokens.create(directory.id);
      const get = (path: string) => app.request(`http://sync.test/scim/v2/${directory.id}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const users = Array.from({ length: 500 }, (_, i) => ({ attributes: { schemas: [USER], userName: `user${i}@acme.test`, title: `title ${i}` }, uniqueKeys: [{ attribute: "userName", value: `user${i}@acme.test` }] }));
      await sync.store.importResources({ tenant: directory.id }, "User", users);
      // A clock that moves on 10 ms at every reading: SQLite reads it on every row it scans, so
      // reading the 500 users takes 5 s (within the default limit of 10 s, not within 1 s).
      const real = Date.now.bind(Date);
      let skew = 0;
      const clock = vi.spyOn(Date, "now").mockImplementation(() => real() + (skew += 10));
      try {
        const scan = await get(`/Users?filter=${encodeURIComponent('title co "no such title"')}`);
        expect(scan.status).toBe(400);
        expect(await scan.json()).toMatchObject({ scimType: "tooMany", detail: expect.stringMatching(/longer than this server allows/) });
        const lookup = await get(`/Users?filter=${encodeURIComponent('userName eq "user42@acme.test"')}`);
        expect(lookup.status).toBe(200);
        expect(((await lookup.json()) as Obj).totalResults).toBe(1);
      } finally {
        clock.mockRestore();
      }
      const all = await get(`/Users?filter=${encodeURIComponent('title co "title 4"')}&count=1`);
      expect(((await all.json()) as Obj).totalResults).toBe(111);
    } finally {
      await sync.close();
    }
  });
});

describe("directory sync: a PATCH adding many members", () => {
  it("asks whether members are present once for all of them, and whether the directory maps roles once", async () => {
    const statements: string[] = [];
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:", log: (event) => void statements.push(event.query.sql) }) });
    try {
      const app = directoryScimRoutes(sync);
      const directory = await sync.directories.create({ organizationId: "org_1", name: "Acme", type: "okta" });
      const { token } = await sync.tokens.create(directory.id);
      const call = (method: string, path: string, body: unknown) =>
        app.request(`http://sync.test/scim/v2/${directory.id}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" }, body: JSON.stringify(body) });
      // Users loaded directly (300 POSTs would pass the directory's rate limit).
      const users = Array.from({ length: 300 }, (_, i) => ({ attributes: { schemas: [USER], userName: `m${i}@acme.test` }, uniqueKeys: [{ attribute: "userName", value: `m${i}@acme.test` }] }));
      await sync.store.importResources({ tenant: directory.id }, "User", users);
      const ids = (await sync.store.query({ tenant: directory.id }, "User", {})).resources.map((u) => u.id);
      const group = (await (await call("POST", "/Groups", { schemas: [GROUP], displayName: "Everyone" })).json()) as { id: string };
      statements.length = 0;
      const added = await call("PATCH", `/Groups/${group.id}`, { schemas: [PATCH], Operations: [{ op: "add", path: "members", value: ids.map((value) => ({ value })) }] });
      expect(added.status).toBe(204);
      const asked = (pattern: RegExp) => statements.filter((s) => pattern.test(s)).length;
      // groupsOf of each member: `... from "scim_members" as "m" inner join "scim_resources" ... "m"."member_id" = ?`
      expect(asked(/"m"\."member_id" = \?/)).toBe(0);
      expect(asked(/from "scim_members" where .*"member_id" in \(/)).toBe(1);
      expect(asked(/from "dir_role_mappings"/)).toBe(1);
      // The 300 membership events go to the outbox together, in order, before the commit.
      expect(asked(/insert into "scim_outbox"/)).toBe(1);
      const events = await sync.store.readEvents({ tenant: directory.id, limit: 10_000 });
      const joined = events.filter((e) => e.event.type === "group.user_added");
      expect(joined.map((e) => e.event.member?.value)).toEqual(ids);
      const members = (await (await app.request(`http://sync.test/scim/v2/${directory.id}/Groups/${group.id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { members: unknown[] };
      expect(members.members).toHaveLength(300);
    } finally {
      await sync.close();
    }
  });
});

describe.each(backends)("a directory deactivated or deleted while its IdP and its administrator write, on $name", (backend) => {
  let sync: DirectorySync;
  let onDeprovision: () => Promise<void> = async () => {};
  useDirectorySync(backend, (database) => createDirectorySync({ database, hooks: { onDeprovision: () => onDeprovision() } }), (s) => (sync = s));
  const tokenRows = (directoryId: string) => sync.db.selectFrom("dir_tokens").select("id").where("directory_id", "=", directoryId).execute();
  /** Makes the next deprovisioning hook (it runs before its request's write) wait until `release`; `inHook` settles once it runs. */
  const holdDeprovision = () => {
    let entered!: () => void;
    let release!: () => void;
    const inHook = new Promise<void>((resolve) => (entered = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    onDeprovision = async () => {
      entered();
      await gate;
    };
    return { inHook, release };
  };

  it.skipIf(backend.skip)("a deactivation fences the IdP's writes under way: authenticated before it, writing after it, a request gets 401 and writes nothing; the administrator's roles go on", async () => {
    onDeprovision = async () => {};
    const directory = await sync.directories.create({ organizationId: "org_fence", name: "Fence", type: "okta" });
    const { token } = await sync.tokens.create(directory.id);
    const app = directoryScimRoutes(sync);
    const call = (method: string, path: string, body?: unknown) => scimRequest(app, directory.id, token, method, path, body);
    const user = (await (await call("POST", "/Users", { schemas: [USER], userName: "fence@acme.test" })).json()) as Obj;
    expect((await call("POST", "/Groups", { schemas: [GROUP], displayName: "Fence Team", members: [{ value: user.id }] })).status).toBe(201);

    // The DELETE has authenticated; its hook (before its write) waits while the directory turns inactive.
    const { inHook, release } = holdDeprovision();
    const deleting = call("DELETE", `/Users/${user.id}`);
    await inHook;
    await sync.directories.update(directory.id, { state: "inactive" });
    release();
    expect((await deleting).status).toBe(401);
    onDeprovision = async () => {};
    expect((await sync.data.getUser(directory.id, user.id as string)).state).toBe("active");
    const types = (await sync.store.readEvents({ tenant: directory.id })).map((e) => e.event.type);
    expect(types).not.toContain("user.deleted");

    // The administrator's writes go on while it is inactive: a mapping gives its group's users the role.
    await sync.roles.createMapping(directory.id, { group: { displayName: "Fence Team" }, role: "fencer" });
    expect((await sync.data.getUser(directory.id, user.id as string)).roles).toEqual(["fencer"]);
    // Active again, the IdP writes again.
    await sync.directories.update(directory.id, { state: "active" });
    expect((await call("DELETE", `/Users/${user.id}`)).status).toBe(204);
  });

  it.skipIf(backend.skip)("a revocation and a rotation fence the writes under way with the token they end: authenticated before, writing after, a request gets 401 and writes nothing", async () => {
    const directory = await sync.directories.create({ organizationId: "org_fence", name: "Revoked", type: "okta" });
    const app = directoryScimRoutes(sync);
    for (const end of ["revoke", "rotate"] as const) {
      onDeprovision = async () => {};
      const issued = await sync.tokens.create(directory.id);
      const call = (method: string, path: string, body?: unknown) => scimRequest(app, directory.id, issued.token, method, path, body);
      const user = (await (await call("POST", "/Users", { schemas: [USER], userName: `${end}@acme.test` })).json()) as Obj;
      const { inHook, release } = holdDeprovision();
      const deleting = call("DELETE", `/Users/${user.id}`);
      await inHook;
      const next = end === "revoke" ? (await sync.tokens.revoke(directory.id, issued.id), undefined) : await sync.tokens.rotate(directory.id, 0);
      release();
      expect((await deleting).status, end).toBe(401);
      onDeprovision = async () => {};
      expect((await sync.data.getUser(directory.id, user.id as string)).state, end).toBe("active");
      // Another token of the directory writes on.
      const other = next ?? (await sync.tokens.create(directory.id));
      expect((await scimRequest(app, directory.id, other.token, "DELETE", `/Users/${user.id}`)).status, end).toBe(204);
      for (const t of await sync.tokens.list(directory.id)) if (t.active) await sync.tokens.revoke(directory.id, t.id);
    }
  });

  it.skipIf(backend.skip)("no token is created or rotated for a deleted directory (404), and none of its rows stays", async () => {
    const directory = await sync.directories.create({ organizationId: "org_fence", name: "Gone", type: "okta" });
    await sync.tokens.create(directory.id);
    await sync.directories.delete(directory.id);
    await expect(sync.tokens.create(directory.id)).rejects.toMatchObject({ status: 404 });
    await expect(sync.tokens.rotate(directory.id, 0)).rejects.toMatchObject({ status: 404 });
    expect(await tokenRows(directory.id)).toEqual([]);
  });

  it.skipIf(backend.skip)("a deletion beside token creations and rotations: every call ends (204, 201 or 404), never a deadlock, and no token of the deleted directory stays", async () => {
    for (let round = 0; round < 8; round++) {
      const directory = await sync.directories.create({ organizationId: "org_fence", name: `Race ${round}`, type: "okta" });
      await sync.tokens.create(directory.id);
      const outcomes = await Promise.allSettled([
        sync.tokens.rotate(directory.id, 3600),
        sync.tokens.create(directory.id),
        sync.directories.delete(directory.id),
        sync.tokens.rotate(directory.id, 0),
        sync.tokens.create(directory.id),
      ]);
      expect(outcomes[2]!.status).toBe("fulfilled");
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") expect(outcome.reason, String(outcome.reason)).toMatchObject({ status: expect.any(Number) });
        if (outcome.status === "rejected") expect([404, 409]).toContain((outcome.reason as { status: number }).status);
      }
      expect(await tokenRows(directory.id)).toEqual([]);
    }
  });

  it.skipIf(backend.skip)("a deletion given up for a concurrent transaction runs again: it is all or nothing", async () => {
    const directory = await sync.directories.create({ organizationId: "org_fence", name: "Retried", type: "okta" });
    const transaction = sync.store.transaction!.bind(sync.store);
    let calls = 0;
    const spy = vi.spyOn(sync.store, "transaction").mockImplementation(async (work) => {
      calls++;
      if (calls === 1) throw new ConcurrentChangeError();
      return transaction(work);
    });
    try {
      await sync.directories.delete(directory.id);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(2);
    await expect(sync.directories.get(directory.id)).rejects.toMatchObject({ status: 404 });
  });

  it.skipIf(backend.skip)("a refused request of an inactive directory does not move its token's last use", async () => {
    const directory = await sync.directories.create({ organizationId: "org_fence", name: "Idle", type: "okta" });
    const { token, id } = await sync.tokens.create(directory.id);
    await sync.directories.update(directory.id, { state: "inactive" });
    expect(await sync.tokens.verifyFor(token, directory.id)).toBeUndefined();
    expect((await sync.tokens.list(directory.id)).find((t) => t.id === id)?.lastUsedAt).toBeNull();
    await sync.directories.update(directory.id, { state: "active" });
    expect((await sync.tokens.verifyFor(token, directory.id))?.token.id).toBe(id);
    expect((await sync.tokens.list(directory.id)).find((t) => t.id === id)?.lastUsedAt).not.toBeNull();
  });
});

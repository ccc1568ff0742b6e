/**
 * A member added to a group while it is being deleted: never a deleted member left in the group
 * (PostgreSQL under READ COMMITTED interleaved the two; SQLite serializes writes). Each case holds
 * one transaction open at a chosen point and runs the other against it. Then, through the server,
 * the concurrent writes IdPs send that used to deadlock on PostgreSQL (a 500, or a 412 for a
 * DELETE): one tenant's transactions now take turns (`lockTenant`).
 */
import { randomUUID } from "node:crypto";
import { bearerAuth, createScimServer, type ScimError, type ScimResponse } from "scim-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScimSqlDatabase } from "./dialect.js";
import { sqlStore, type SqlScimStore } from "./sql-store.js";
import { openTestPostgres } from "./test-databases.js";

describe("members and deletes at the same time (PostgreSQL)", () => {
  let database: ScimSqlDatabase | undefined;
  let store: SqlScimStore;
  beforeAll(async () => {
    database = await openTestPostgres();
    if (database) store = sqlStore({ database });
  });
  afterAll(() => database?.destroy());

  /** A fresh tenant with one user and one group. */
  async function setup() {
    const ctx = { tenant: `races-${randomUUID()}` };
    const user = await store.create(ctx, "User", { attributes: { userName: `u-${randomUUID()}@example.com` }, uniqueKeys: [] });
    const group = await store.create(ctx, "Group", { attributes: { displayName: `g-${randomUUID()}` }, uniqueKeys: [] });
    return { ctx, user, group };
  }

  /** Runs `work` in a transaction that stays open until the returned `release` is called. */
  function held(work: (s: SqlScimStore) => Promise<unknown>) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const done = store.transaction!(async (s) => {
      await work(s as SqlScimStore);
      entered();
      await gate;
    });
    return { inside, release, done };
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

  it("the add commits first: the delete, which waits for it, removes the new membership", async ({ skip }) => {
    if (!database) return skip();
    const { ctx, user, group } = await setup();
    const add = held((s) => s.addMembers(ctx, group.id, [{ value: user.id }]));
    await add.inside;
    const deleting = store.delete(ctx, "User", user.id);
    await settle(); // the delete is waiting on the member's row
    add.release();
    await add.done;
    await deleting;
    expect((await store.get(ctx, "Group", group.id, { members: true }))?.members).toEqual([]);
  });

  it("the delete commits first: the add, which waits for it, fails with 400 and adds nothing", async ({ skip }) => {
    if (!database) return skip();
    const { ctx, user, group } = await setup();
    const del = held((s) => s.delete(ctx, "User", user.id));
    await del.inside;
    const adding = store.addMembers(ctx, group.id, [{ value: user.id }]).catch((error: ScimError) => error);
    await settle();
    del.release();
    await del.done;
    expect(await adding).toMatchObject({ status: 400, scimType: "invalidValue" });
    expect((await store.get(ctx, "Group", group.id, { members: true }))?.members).toEqual([]);
  });

  /** The SCIM server over the store, for one fresh tenant. */
  function server() {
    const tenant = `races-${randomUUID()}`;
    const scim = createScimServer({ store, authenticate: bearerAuth({ token: { tenant } }), subscribers: [store.outbox], baseUrl: "https://scim.test" });
    const call = (method: string, path: string, body?: unknown): Promise<ScimResponse> =>
      scim.handle({ method, path, headers: { authorization: "Bearer token", "content-type": "application/scim+json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const patch = (...Operations: unknown[]) => ({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations });
    return { tenant, call, patch };
  }

  it("groups added to each other concurrently: no deadlock, every PATCH answered (204), every membership kept", async ({ skip }) => {
    if (!database) return skip();
    const { call, patch } = server();
    const groups: string[] = [];
    for (let i = 0; i < 4; i++) groups.push(((await call("POST", "/Groups", { displayName: `G${i}` })).body as { id: string }).id);
    const patches = groups.flatMap((g) => groups.filter((c) => c !== g).map((c) => call("PATCH", `/Groups/${g}`, patch({ op: "Add", path: "members", value: [{ value: c }] }))));
    const statuses = (await Promise.all(patches)).map((r) => r.status);
    expect(statuses).toEqual(statuses.map(() => 204));
    for (const g of groups) {
      const members = ((await call("GET", `/Groups/${g}`)).body as { members?: { value: string }[] }).members ?? [];
      expect(members.map((m) => m.value).sort()).toEqual(groups.filter((c) => c !== g).sort());
    }
  });

  it("a user deleted while a group PATCH removes it: the DELETE is a 204, never a 412, and the user is gone", async ({ skip }) => {
    if (!database) return skip();
    const { call, patch } = server();
    for (let round = 0; round < 10; round++) {
      const user = (await call("POST", "/Users", { userName: `leaver-${round}@example.com` })).body as { id: string };
      const group = (await call("POST", "/Groups", { displayName: `Team ${round}`, members: [{ value: user.id }] })).body as { id: string };
      const [deleted, patched] = await Promise.all([call("DELETE", `/Users/${user.id}`), call("PATCH", `/Groups/${group.id}`, patch({ op: "Remove", path: "members", value: [{ value: user.id }] }))]);
      expect(deleted.status).toBe(204);
      expect([204, 404]).toContain(patched.status);
      expect((await call("GET", `/Users/${user.id}`)).status).toBe(404);
    }
  });
});

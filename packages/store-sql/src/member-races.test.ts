/**
 * A member added to a group while it is being deleted: never a deleted member left in the group
 * (PostgreSQL under READ COMMITTED interleaved the two; SQLite serializes writes). Each case holds
 * one transaction open at a chosen point and runs the other against it.
 */
import { randomUUID } from "node:crypto";
import type { ScimError } from "scim-core";
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
});

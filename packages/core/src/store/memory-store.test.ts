import { describe, expect, it } from "vitest";
import { isScimConfigError, isScimError } from "../errors/scim-error.js";
import { parseFilter } from "../filter/parser.js";
import { GROUP_SCHEMA_ID, USER_SCHEMA_ID } from "../schema/core-schemas.js";
import { runStoreConformance } from "../testing/index.js";
import { memoryStore, memoryStoreStats, type MemoryStore } from "./memory-store.js";
import type { StoredResource, StoreWrite } from "./types.js";

runStoreConformance({
  name: "memoryStore",
  createStore: () => memoryStore(),
  inspect: (s, t, ty, id) => (s as ReturnType<typeof memoryStore>).inspect(t, ty, id),
});

const ctx = { tenant: "acme" };
const user = (userName: string, extra: Record<string, unknown> = {}): StoreWrite => ({
  attributes: { schemas: [USER_SCHEMA_ID], userName, ...extra },
  uniqueKeys: [{ attribute: "userName", value: userName.toLowerCase() }],
});
const group = (displayName: string, members?: StoreWrite["members"]): StoreWrite => ({
  attributes: { schemas: [GROUP_SCHEMA_ID], displayName },
  uniqueKeys: [{ attribute: "displayName", value: displayName.toLowerCase() }],
  members,
});
const f = parseFilter;

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("memoryStore: seeding", () => {
  const seeded = () =>
    memoryStore({
      resources: [
        { tenant: "acme", resourceType: "User", id: "u-1", attributes: { schemas: [USER_SCHEMA_ID], userName: "BJensen", externalId: "e1" }, created: "2020-01-01T00:00:00.000Z" },
        { tenant: "acme", resourceType: "User", id: "u-2", attributes: { schemas: [USER_SCHEMA_ID], userName: "jsmith" }, version: 4, created: "2020-01-02T00:00:00.000Z", lastModified: "2021-01-01T00:00:00.000Z" },
        { tenant: "acme", resourceType: "Group", id: "g-1", attributes: { schemas: [GROUP_SCHEMA_ID], displayName: "Eng" }, members: [{ value: "u-1", display: "Babs" }] },
        { tenant: "other", resourceType: "User", id: "u-1", attributes: { schemas: [USER_SCHEMA_ID], userName: "someone" } },
      ],
    });

  it("keeps ids, versions and timestamps, per tenant", async () => {
    const store = seeded();
    const u1 = await store.get(ctx, "User", "u-1");
    expect(u1).toMatchObject({ id: "u-1", version: 1, created: "2020-01-01T00:00:00.000Z", lastModified: "2020-01-01T00:00:00.000Z" });
    expect(u1!.attributes.userName).toBe("BJensen");
    expect(await store.get(ctx, "User", "u-2")).toMatchObject({ version: 4, lastModified: "2021-01-01T00:00:00.000Z" });
    expect((await store.get({ tenant: "other" }, "User", "u-1"))!.attributes.userName).toBe("someone");
  });

  it("indexes seeds: indexed lookups answer without scanning", async () => {
    const store = seeded();
    const stats = memoryStoreStats(store);
    const result = await store.query(ctx, "User", { filter: f('userName eq "bjensen"') });
    expect(result.resources.map((r) => r.id)).toEqual(["u-1"]);
    expect(stats.examined).toBe(1);
    expect(stats.compiled).toBe(0);
    expect((await store.query(ctx, "User", { filter: f('externalId eq "e1"') })).totalResults).toBe(1);
    expect((await store.query(ctx, "Group", { filter: f('displayName eq "ENG"') })).resources[0]!.id).toBe("g-1");
  });

  it("seeds hold their unique keys (derived from the registry) and their memberships", async () => {
    const store = seeded();
    const error = await errorOf(store.create(ctx, "User", user("bjensen")));
    expect(isScimError(error) && error.status === 409 && error.scimType === "uniqueness").toBe(true);
    expect(await store.groupsOf(ctx, "u-1")).toEqual([{ value: "g-1", display: "Eng", type: "direct" }]);
    await store.delete(ctx, "User", "u-1");
    expect((await store.get(ctx, "Group", "g-1", { members: true }))!.members).toEqual([]);
    await store.create(ctx, "User", user("bjensen"));
  });

  it("duplicate seed ids or keys are configuration errors", () => {
    const seed = { tenant: "acme", resourceType: "User", id: "x", attributes: { userName: "a" } };
    expect(() => memoryStore({ resources: [seed, { ...seed }] })).toThrow(/duplicate id/);
    const clash = () => memoryStore({ resources: [seed, { ...seed, id: "y", attributes: { userName: "A" } }] });
    expect(clash).toThrow(/already exists/);
    try {
      clash();
    } catch (error) {
      expect(isScimConfigError(error)).toBe(true);
    }
  });
});

describe("memoryStore: options", () => {
  it("uses generateId and now", async () => {
    let n = 0;
    let t = Date.UTC(2024, 0, 1);
    const store = memoryStore({ generateId: () => `id-${++n}`, now: () => new Date((t += 1000)) });
    const a = await store.create(ctx, "User", user("a"));
    expect(a.id).toBe("id-1");
    expect(a.created).toBe("2024-01-01T00:00:01.000Z");
    const b = await store.replace(ctx, "User", a.id, user("a", { title: "x" }));
    expect(b.lastModified).toBe("2024-01-01T00:00:02.000Z");
    expect(b.created).toBe(a.created);
  });
});

describe("memoryStore: 100,000 users", () => {
  it("creates them and answers indexed lookups without scanning", async () => {
    const store = memoryStore();
    const stats = memoryStoreStats(store);
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      await store.create(ctx, "User", user(`user${i}@example.com`, { externalId: `ext-${i}`, displayName: `User ${i}`, active: i % 2 === 0 }));
    }

    stats.examined = 0;
    stats.compiled = 0;
    const hit = await store.query(ctx, "User", { filter: f('userName eq "USER54321@example.com"') });
    expect(hit.totalResults).toBe(1);
    expect(hit.resources[0]!.attributes.externalId).toBe("ext-54321");
    expect(stats).toEqual({ examined: 1, compiled: 0 });

    const id = hit.resources[0]!.id;
    for (const text of ['externalId eq "ext-777"', 'displayName eq "user 777"', `id eq "${id}"`, 'userName eq "user1@example.com" or userName eq "user2@example.com"']) {
      stats.examined = 0;
      const result = await store.query(ctx, "User", { filter: f(text) });
      expect(result.totalResults, text).toBeGreaterThan(0);
      expect(stats.examined, text).toBeLessThanOrEqual(2);
      expect(stats.compiled, text).toBe(0);
    }

    // Inside `and`, only the other conditions are compiled, and evaluated on the candidates.
    stats.examined = 0;
    const and = await store.query(ctx, "User", { filter: f('active eq true and userName eq "user54321@example.com"') });
    expect(and.totalResults).toBe(0);
    expect(stats).toEqual({ examined: 1, compiled: 1 });

    // The counter can fail: a filter the indexes cannot answer scans everything.
    stats.examined = 0;
    stats.compiled = 0;
    const scan = await store.query(ctx, "User", { filter: f('userName co "54321@"'), count: 0 });
    expect(scan.totalResults).toBe(1);
    expect(stats).toEqual({ examined: N, compiled: 1 });

    const page = await store.query(ctx, "User", { sort: { path: { attr: "userName" }, order: "descending" }, count: 3 });
    expect(page.totalResults).toBe(N);
    // "@" sorts after the digits.
    expect(page.resources.map((r) => r.attributes.userName)).toEqual(["user9@example.com", "user99@example.com", "user999@example.com"]);

    let cursor: string | undefined = "";
    let seen = 0;
    let pages = 0;
    while (cursor !== undefined) {
      const result: Awaited<ReturnType<MemoryStore["query"]>> = await store.query(ctx, "User", { cursor, count: 30_000 });
      seen += result.resources.length;
      pages++;
      cursor = result.nextCursor;
    }
    expect(seen).toBe(N);
    expect(pages).toBe(4);
  }, 20_000);
});

describe("memoryStore: a group of 100,000 members", () => {
  it("adds them in one call and then changes one member at a time", async () => {
    const store = memoryStore();
    const g = await store.create(ctx, "Group", group("big"));
    const N = 100_000;
    // Members are live resources of the tenant (the store checks them in the write).
    for (const id of [...Array.from({ length: N }, (_, i) => `m${i}`), "extra", "in-tx"]) await store.create(ctx, "User", { id, ...user(id) });
    const members = Array.from({ length: N }, (_, i) => ({ value: `m${i}` }));
    expect((await store.addMembers(ctx, g.id, [...members, ...members.slice(0, 1000)])).version).toBe(2);
    expect((await store.addMembers(ctx, g.id, [{ value: "extra" }, { value: "m1" }])).version).toBe(3);
    expect((await store.removeMembers(ctx, g.id, ["m5", "m5"])).version).toBe(4);
    await store.transaction(async (tx) => {
      await tx.addMembers(ctx, g.id, [{ value: "in-tx" }]);
      await tx.removeMembers(ctx, g.id, ["m6"]);
    });
    const stored = store.inspect("acme", "Group", g.id)!;
    expect(stored.members).toHaveLength(N + 1 - 2 + 1);
    expect(stored.members![0]).toEqual({ value: "m0" });
    expect(stored.members![stored.members!.length - 1]).toEqual({ value: "in-tx" });
    expect(await store.groupsOf(ctx, "m7")).toEqual([{ value: g.id, display: "big", type: "direct" }]);
    expect(await store.groupsOf(ctx, "m6")).toEqual([]);
  });
});

describe("memoryStore: specifics", () => {
  it("a cursor stays valid when the last resource it saw is deleted", async () => {
    const store = memoryStore();
    const made: StoredResource[] = [];
    for (let i = 0; i < 5; i++) made.push(await store.create(ctx, "User", user(`u${i}`)));
    const first = await store.query(ctx, "User", { cursor: "", count: 2, sort: { path: { attr: "userName" }, order: "ascending" } });
    expect(first.resources.map((r) => r.id)).toEqual([made[0]!.id, made[1]!.id]);
    await store.delete(ctx, "User", made[1]!.id);
    const second = await store.query(ctx, "User", { cursor: first.nextCursor, count: 2, sort: { path: { attr: "userName" }, order: "ascending" } });
    expect(second.resources.map((r) => r.id)).toEqual([made[2]!.id, made[3]!.id]);
    expect(second.totalResults).toBe(4);
  });

  it("a cursor of another sort is invalid", async () => {
    const store = memoryStore();
    for (let i = 0; i < 3; i++) await store.create(ctx, "User", user(`u${i}`));
    const first = await store.query(ctx, "User", { cursor: "", count: 1, sort: { path: { attr: "userName" }, order: "ascending" } });
    const error = await errorOf(store.query(ctx, "User", { cursor: first.nextCursor, count: 1 }));
    expect(isScimError(error) && error.status === 400 && error.scimType === "invalidCursor").toBe(true);
  });

  it("ties sort by creation order", async () => {
    const store = memoryStore({ now: () => new Date(0) });
    const made: StoredResource[] = [];
    for (const n of ["c", "a", "b"]) made.push(await store.create(ctx, "User", user(n, { title: "same" })));
    for (const order of ["ascending", "descending"] as const) {
      const result = await store.query(ctx, "User", { sort: { path: { attr: "title" }, order } });
      expect(result.resources.map((r) => r.id)).toEqual(made.map((r) => r.id));
    }
  });

  it("member operations that change nothing keep the version", async () => {
    const store = memoryStore();
    for (const id of ["a", "b"]) await store.create(ctx, "User", { id, ...user(id) });
    const g = await store.create(ctx, "Group", group("g", [{ value: "a" }, { value: "b", display: "B" }]));
    expect((await store.addMembers(ctx, g.id, [{ value: "a" }])).version).toBe(1);
    expect((await store.removeMembers(ctx, g.id, ["zz"])).version).toBe(1);
    expect((await store.setMembers(ctx, g.id, [{ value: "b", display: "B" }, { value: "a" }])).version).toBe(1);
    expect((await store.setMembers(ctx, g.id, [{ value: "b", display: "Bee" }, { value: "a" }])).version).toBe(2);
  });

  it("deleting a member bumps the version of the groups that listed it", async () => {
    const store = memoryStore();
    const u = await store.create(ctx, "User", user("u"));
    const g = await store.create(ctx, "Group", group("g", [{ value: u.id }]));
    await store.delete(ctx, "User", u.id);
    expect(store.inspect("acme", "Group", g.id)).toMatchObject({ version: 2, members: [] });
  });

  it("filters can read group members and the derived User.groups", async () => {
    const store = memoryStore();
    const u1 = await store.create(ctx, "User", user("u1"));
    const u2 = await store.create(ctx, "User", user("u2"));
    const g = await store.create(ctx, "Group", group("g", [{ value: u1.id }]));
    const groups = await store.query(ctx, "Group", { filter: f(`members.value eq "${u1.id}"`) });
    expect(groups.resources.map((r) => r.id)).toEqual([g.id]);
    expect((await store.query(ctx, "Group", { filter: f(`members[value eq "${u2.id}"]`) })).totalResults).toBe(0);
    const users = await store.query(ctx, "User", { filter: f(`groups.value eq "${g.id}"`) });
    expect(users.resources.map((r) => r.id)).toEqual([u1.id]);
  });

  it("nested transactions are savepoints", async () => {
    const store = memoryStore();
    await store.transaction(async (tx) => {
      await tx.create(ctx, "User", user("outer"));
      await expect(
        tx.transaction!(async (inner) => {
          await inner.create(ctx, "User", user("inner"));
          throw new Error("inner fails");
        }),
      ).rejects.toThrow("inner fails");
      await tx.create(ctx, "User", user("after"));
    });
    const names = (await store.query(ctx, "User", {})).resources.map((r) => r.attributes.userName);
    expect(names).toEqual(["outer", "after"]);
  });

  it("writes outside a running transaction wait for it; a leaked transaction store is refused", async () => {
    const store = memoryStore();
    const events: string[] = [];
    let leaked: Parameters<Parameters<MemoryStore["transaction"]>[0]>[0] | undefined;
    const tx = store.transaction(async (t) => {
      leaked = t;
      await t.create(ctx, "User", user("in-tx"));
      await new Promise((r) => setTimeout(r, 20));
      events.push("tx end");
      throw new Error("rolled back");
    });
    const outside = store.create(ctx, "User", user("in-tx")).then(() => events.push("outside write"));
    await expect(tx).rejects.toThrow("rolled back");
    await outside;
    expect(events).toEqual(["tx end", "outside write"]);
    await expect(leaked!.create(ctx, "User", user("late"))).rejects.toThrow(/ended/);
    expect((await store.query(ctx, "User", {})).totalResults).toBe(1);
  });

  it("reads share the stored attributes, deep-frozen, instead of copying them", async () => {
    const store = memoryStore();
    const created = await store.create(ctx, "User", user("bjensen", { name: { givenName: "Barbara" }, emails: [{ value: "b@example.com", type: "work" }] }));
    const a = await store.get(ctx, "User", created.id);
    const b = (await store.query(ctx, "User", {})).resources[0]!;
    expect(b.attributes).toBe(a!.attributes);
    const deepFrozen = (v: unknown): boolean =>
      typeof v !== "object" || v === null || (Object.isFrozen(v) && Object.values(v).every(deepFrozen));
    expect(deepFrozen(a!.attributes)).toBe(true);
    expect(() => ((a!.attributes.name as Record<string, unknown>).givenName = "Eve")).toThrow(TypeError);
    expect(() => (a!.attributes.emails as unknown[]).push({ value: "x" })).toThrow(TypeError);
    // The wrapper is the caller's own.
    a!.version = 7;
    expect((await store.get(ctx, "User", created.id))!.version).toBe(1);
  });

  it("a write copies what the caller may still change, and keeps deep-frozen parts as they are", async () => {
    const store = memoryStore();
    const name = Object.freeze({ givenName: "Barbara", familyName: "Jensen" });
    const emails = Object.freeze([Object.freeze({ value: "b@example.com" })]);
    const phones = Object.freeze([{ value: "555" }]); // frozen, but its element is not
    const mutable = { streetAddress: "1 Main St" };
    const created = await store.create(ctx, "User", user("bjensen", { name, emails, phoneNumbers: phones, addresses: [mutable] }));
    const stored = store.inspect("acme", "User", created.id)!.attributes;
    expect(stored.name).toBe(name);
    expect(stored.emails).toBe(emails);
    expect(stored.phoneNumbers).not.toBe(phones);
    expect((stored.phoneNumbers as unknown[])[0]).not.toBe(phones[0]);
    expect((stored.addresses as unknown[])[0]).not.toBe(mutable);
    phones[0]!.value = "666";
    mutable.streetAddress = "2 Side St";
    expect(stored).toMatchObject({ phoneNumbers: [{ value: "555" }], addresses: [{ streetAddress: "1 Main St" }] });
    // A PATCH-like replace (a new root sharing the untouched, stored parts) shares them again.
    await store.replace(ctx, "User", created.id, user("bjensen", { ...stored, active: false }));
    const replaced = store.inspect("acme", "User", created.id)!.attributes;
    expect(replaced.name).toBe(name);
    expect(replaced.addresses).toBe(stored.addresses);
    expect(replaced.active).toBe(false);
  });

  it("a replace keeps index entries and unique keys it does not change, and moves those it does", async () => {
    const store = memoryStore();
    const stats = memoryStoreStats(store);
    const a = await store.create(ctx, "User", user("alice", { externalId: "ext-a", displayName: "Alice" }));
    await store.replace(ctx, "User", a.id, user("alice", { externalId: "ext-a", displayName: "Alice", active: false }));
    for (const text of ['userName eq "ALICE"', 'externalId eq "ext-a"', 'displayName eq "alice"']) {
      stats.examined = 0;
      expect((await store.query(ctx, "User", { filter: f(text) })).resources.map((r) => r.id), text).toEqual([a.id]);
      expect(stats.examined, text).toBe(1);
    }
    await expect(store.create(ctx, "User", user("Alice"))).rejects.toMatchObject({ status: 409 });
    await store.replace(ctx, "User", a.id, user("alicia", { externalId: "ext-a2" }));
    expect((await store.query(ctx, "User", { filter: f('userName eq "alice"') })).totalResults).toBe(0);
    expect((await store.query(ctx, "User", { filter: f('externalId eq "ext-a"') })).totalResults).toBe(0);
    expect((await store.query(ctx, "User", { filter: f('displayName eq "Alice"') })).totalResults).toBe(0);
    expect((await store.query(ctx, "User", { filter: f('userName eq "alicia"') })).resources.map((r) => r.id)).toEqual([a.id]);
    expect((await store.query(ctx, "User", { filter: f('externalId eq "ext-a2"') })).resources.map((r) => r.id)).toEqual([a.id]);
    // The old userName is free again; the new one is taken.
    await store.create(ctx, "User", user("alice"));
    await expect(store.create(ctx, "User", user("ALICIA"))).rejects.toMatchObject({ status: 409 });
  });

  it("values shared by several resources stay indexed as they come and go (one, several, one again, none)", async () => {
    const store = memoryStore();
    const stats = memoryStoreStats(store);
    const ids = async (text: string) => {
      stats.examined = 0;
      const found = (await store.query(ctx, "User", { filter: f(text) })).resources.map((r) => r.id);
      // Answered from the index: only the resources holding the value (in any case) are read.
      expect(stats.examined, text).toBeLessThanOrEqual(3);
      return found;
    };
    const a = await store.create(ctx, "User", user("a", { displayName: "Same", externalId: "X-1" }));
    const b = await store.create(ctx, "User", user("b", { displayName: "SAME", externalId: "x-1" }));
    const c = await store.create(ctx, "User", user("c", { displayName: "same", externalId: "X-1" }));
    expect(await ids('displayName eq "same"')).toEqual([a.id, b.id, c.id]);
    // externalId is caseExact: the index holds both cases, the lookup keeps the exact ones.
    expect(await ids('externalId eq "X-1"')).toEqual([a.id, c.id]);
    expect(await ids('externalId eq "x-1"')).toEqual([b.id]);
    await store.delete(ctx, "User", b.id);
    expect(await ids('displayName eq "Same"')).toEqual([a.id, c.id]);
    expect(await ids('externalId eq "x-1"')).toEqual([]);
    await store.replace(ctx, "User", a.id, user("a", { displayName: "Other", externalId: "X-2" }));
    expect(await ids('displayName eq "same"')).toEqual([c.id]);
    expect(await ids('externalId eq "X-1"')).toEqual([c.id]);
    expect(await ids('displayName eq "other"')).toEqual([a.id]);
    const d = await store.create(ctx, "User", user("d", { displayName: "Same" }));
    expect(await ids('displayName eq "same"')).toEqual([c.id, d.id]);
    await store.delete(ctx, "User", c.id);
    await store.delete(ctx, "User", d.id);
    expect(await ids('displayName eq "same"')).toEqual([]);
    // A rollback undoes index changes too.
    await expect(
      store.transaction!(async (tx) => {
        await tx.create(ctx, "User", user("e", { displayName: "Same" }));
        await tx.replace(ctx, "User", a.id, user("a", { displayName: "Same" }));
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await ids('displayName eq "same"')).toEqual([]);
    expect(await ids('displayName eq "other"')).toEqual([a.id]);
  });

  it("index pages follow creation order through creates, replaces, deletes and rollbacks", async () => {
    const store = memoryStore();
    const ids: string[] = [];
    const pageIds = async (startIndex: number, count: number) => (await store.query(ctx, "User", { startIndex, count })).resources.map((r) => r.id);
    const expectPages = async () => {
      for (let start = 1; start <= ids.length + 1; start++) for (const count of [1, 2, 3, 100]) expect(await pageIds(start, count)).toEqual(ids.slice(start - 1, start - 1 + count));
    };
    for (let i = 0; i < 5; i++) ids.push((await store.create(ctx, "User", user(`u${i}`))).id);
    await expectPages();
    ids.push((await store.create(ctx, "User", user("u5"))).id);
    await expectPages();
    await store.replace(ctx, "User", ids[2]!, user("u2", { active: false }));
    await expectPages();
    await store.delete(ctx, "User", ids[1]!);
    ids.splice(1, 1);
    await expectPages();
    ids.push((await store.create(ctx, "User", user("u6"))).id);
    await expectPages();
    await expect(
      store.transaction(async (tx) => {
        await tx.create(ctx, "User", user("rolled-back"));
        await tx.delete(ctx, "User", ids[0]!);
        await tx.create(ctx, "User", user("rolled-back-2"));
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    await expectPages();
    await store.transaction(async (tx) => {
      ids.push((await tx.create(ctx, "User", user("committed"))).id);
    });
    await expectPages();
  });

  it("a rollback restores creation order and member order", async () => {
    const store = memoryStore();
    const made: StoredResource[] = [];
    for (const n of ["a", "b", "c"]) made.push(await store.create(ctx, "User", user(n)));
    const g = await store.create(ctx, "Group", group("g", made.map((u) => ({ value: u.id }))));
    await expect(
      store.transaction(async (tx) => {
        await tx.removeMembers(ctx, g.id, [made[0]!.id]);
        await tx.delete(ctx, "User", made[1]!.id);
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect((await store.query(ctx, "User", {})).resources.map((r) => r.id)).toEqual(made.map((u) => u.id));
    expect(store.inspect("acme", "Group", g.id)!.members!.map((m) => m.value)).toEqual(made.map((u) => u.id));
    expect(store.inspect("acme", "Group", g.id)!.version).toBe(1);
  });
});

/**
 * The store conformance suite (scim-core README, "Writing a store over your own users table"): every {@link ScimStore}
 * must pass it. It checks the contract of `store/types.ts` through the interface and, through
 * `inspect`, what was really written. Each test uses a fresh random tenant, so the suite also
 * runs against one shared database.
 *
 * Query tests run only for what the store declares in its capabilities (filter, sort, paging,
 * cursor); the server does the rest in memory for the others.
 *
 * @example
 * import { runStoreConformance } from "scim-core/testing";
 * runStoreConformance({ name: "memoryStore", createStore: () => memoryStore(), inspect: (s, t, ty, id) => s.inspect(t, ty, id) });
 */
import { beforeEach, describe, expect, it } from "vitest";
import { isScimError } from "../errors/scim-error.js";
import type { AttrPath, Filter } from "../filter/ast.js";
import { parseFilter } from "../filter/parser.js";
import type { MemberValue } from "../patch/apply-patch.js";
import { GROUP_SCHEMA_ID, USER_SCHEMA_ID } from "../schema/core-schemas.js";
import type { ScimStore, StoreContext, StoreQuery, StoreQueryResult, StoreWrite, StoredResource } from "../store/types.js";

/** Options of {@link runStoreConformance}. */
export interface StoreSuiteOptions {
  /** A fresh, empty store for each test (or one per suite that the suite keeps separate by using a new random tenant per test). */
  createStore: () => ScimStore | Promise<ScimStore>;
  /** Reads what is really stored (bypassing the store's read path), to check what was written. */
  inspect: (store: ScimStore, tenant: string, type: string, id: string) => Promise<StoredResource | undefined> | StoredResource | undefined;
  /** Name shown in the test titles, e.g. "memoryStore". */
  name: string;
}

type Obj = Record<string, unknown>;

const USER = "User";
const GROUP = "Group";

function randomId(): string {
  return globalThis.crypto.randomUUID();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A canonical User write with its case-folded userName key. */
function userWrite(userName: string, extra: Obj = {}): StoreWrite {
  return {
    attributes: { schemas: [USER_SCHEMA_ID], userName, ...extra },
    uniqueKeys: [{ attribute: "userName", value: userName.toLowerCase() }],
  };
}

/** A canonical Group write with its case-folded displayName key. */
function groupWrite(displayName: string, members?: MemberValue[], extra: Obj = {}): StoreWrite {
  const write: StoreWrite = {
    attributes: { schemas: [GROUP_SCHEMA_ID], displayName, ...extra },
    uniqueKeys: [{ attribute: "displayName", value: displayName.toLowerCase() }],
  };
  if (members !== undefined) write.members = members;
  return write;
}

function member(user: StoredResource, display?: string): MemberValue {
  const m: MemberValue = { value: user.id, type: "User" };
  if (display !== undefined) m.display = display;
  return m;
}

/** Awaits a rejection with a ScimError of this status (and scimType, when given). */
async function expectScimError(promise: Promise<unknown>, status: number, scimType?: string): Promise<{ detail?: string }> {
  let error: unknown;
  let resolved = false;
  try {
    await promise;
    resolved = true;
  } catch (e) {
    error = e;
  }
  expect(resolved, `expected a ScimError ${status}, but the operation succeeded`).toBe(false);
  expect(isScimError(error), `expected a ScimError ${status}, got ${String(error)}`).toBe(true);
  const e = error as { status: number; scimType?: string };
  expect(e.status).toBe(status);
  if (scimType !== undefined) expect(e.scimType).toBe(scimType);
  return error as { detail?: string };
}

const ids = (result: StoreQueryResult): string[] => result.resources.map((r) => r.id);
const sorted = (values: string[]): string[] => [...values].sort();
const path = (text: string): AttrPath => {
  const f = parseFilter(`${text} pr`);
  if (f.type !== "present") throw new Error(`not a path: ${text}`);
  return f.path;
};

/**
 * Defines the conformance tests of a {@link ScimStore} (vitest `describe`/`it` blocks). Call it
 * at the top level of a test file.
 */
export function runStoreConformance(options: StoreSuiteOptions): void {
  const { name } = options;

  describe(`${name}: ScimStore conformance`, () => {
    let store: ScimStore;
    let ctx: StoreContext;
    /** A second tenant, for isolation checks. */
    let other: StoreContext;

    beforeEach(async () => {
      store = await options.createStore();
      ctx = { tenant: `tenant-${randomId()}` };
      other = { tenant: `tenant-${randomId()}` };
    });

    const inspect = (type: string, id: string, tenant: StoreContext = ctx) => Promise.resolve(options.inspect(store, tenant.tenant, type, id));
    const createUser = (userName: string, extra: Obj = {}, tenant: StoreContext = ctx) => store.create(tenant, USER, userWrite(userName, extra));
    const canFilter = (...filters: Filter[]): boolean => {
      const cap = store.capabilities.filter;
      return cap === true || (typeof cap === "function" && filters.every((f) => cap(f)));
    };

    describe("create, get, replace, delete", () => {
      it("create assigns an id and version 1 and stores exactly the attributes written", async () => {
        const write = userWrite("bjensen", { displayName: "Babs Jensen", name: { givenName: "Barbara" }, emails: [{ value: "b@example.com", primary: true }], active: true });
        const created = await store.create(ctx, USER, write);
        expect(typeof created.id).toBe("string");
        expect(created.id).not.toBe("");
        expect(created.resourceType).toBe(USER);
        expect(created.version).toBe(1);
        expect(Number.isNaN(Date.parse(created.created))).toBe(false);
        expect(created.lastModified).toBe(created.created);
        expect(created.attributes).toEqual(write.attributes);
        expect(created.members).toBeUndefined();

        const stored = await inspect(USER, created.id);
        expect(stored).toBeDefined();
        expect(stored!.id).toBe(created.id);
        expect(stored!.resourceType).toBe(USER);
        expect(stored!.version).toBe(1);
        expect(stored!.attributes).toEqual(write.attributes);
        expect(stored!.attributes).not.toHaveProperty("id");
        expect(stored!.attributes).not.toHaveProperty("meta");
        expect(stored!.attributes).not.toHaveProperty("members");
        expect(stored!.attributes).not.toHaveProperty("groups");
      });

      it("get returns what create stored, and undefined for an unknown id or another type", async () => {
        const created = await createUser("bjensen", { title: "Tour Guide" });
        const got = await store.get(ctx, USER, created.id);
        expect(got).toEqual(created);
        expect(await store.get(ctx, USER, randomId())).toBeUndefined();
        expect(await store.get(ctx, GROUP, created.id)).toBeUndefined();
      });

      it("store-assigned ids are unique", async () => {
        const made = await Promise.all(Array.from({ length: 50 }, (_, i) => createUser(`user${i}`)));
        expect(new Set(made.map((r) => r.id)).size).toBe(50);
      });

      it("a given id is kept; creating it again is a 409", async () => {
        const id = randomId();
        const created = await store.create(ctx, USER, { ...userWrite("given"), id });
        expect(created.id).toBe(id);
        expect((await store.get(ctx, USER, id))?.attributes.userName).toBe("given");
        expect((await inspect(USER, id))?.id).toBe(id);
        await expectScimError(store.create(ctx, USER, { ...userWrite("another"), id }), 409);
        expect((await inspect(USER, id))?.attributes.userName).toBe("given");
      });

      it("replace writes the new attributes (dropping the old ones), bumps the version, keeps created", async () => {
        const created = await createUser("bjensen", { title: "Tour Guide", nickName: "Babs" });
        await sleep(5);
        const write = userWrite("bjensen", { displayName: "Babs" });
        const replaced = await store.replace(ctx, USER, created.id, write);
        expect(replaced.id).toBe(created.id);
        expect(replaced.version).toBe(2);
        expect(replaced.created).toBe(created.created);
        expect(Date.parse(replaced.lastModified)).toBeGreaterThan(Date.parse(created.lastModified));
        expect(replaced.attributes).toEqual(write.attributes);
        const stored = await inspect(USER, created.id);
        expect(stored!.version).toBe(2);
        expect(stored!.attributes).toEqual(write.attributes);
        expect(stored!.attributes).not.toHaveProperty("title");
        expect(stored!.created).toBe(created.created);
      });

      it("the version counts every change", async () => {
        const created = await createUser("v");
        expect(created.version).toBe(1);
        expect((await store.replace(ctx, USER, created.id, userWrite("v", { title: "a" }))).version).toBe(2);
        expect((await store.replace(ctx, USER, created.id, userWrite("v", { title: "b" }))).version).toBe(3);
        expect((await store.get(ctx, USER, created.id))!.version).toBe(3);
        expect((await inspect(USER, created.id))!.version).toBe(3);
      });

      it("delete removes the resource for every operation", async () => {
        const created = await createUser("bjensen");
        await store.delete(ctx, USER, created.id);
        expect(await store.get(ctx, USER, created.id)).toBeUndefined();
        expect(await inspect(USER, created.id)).toBeUndefined();
        expect((await store.query(ctx, USER, {})).totalResults).toBe(0);
        await expectScimError(store.delete(ctx, USER, created.id), 404);
        await expectScimError(store.replace(ctx, USER, created.id, userWrite("bjensen")), 404);
      });

      it("unknown ids are 404 for replace, delete and member operations", async () => {
        const id = randomId();
        await expectScimError(store.replace(ctx, USER, id, userWrite("x")), 404);
        await expectScimError(store.delete(ctx, USER, id), 404);
        await expectScimError(store.addMembers(ctx, id, [{ value: randomId() }]), 404);
        await expectScimError(store.removeMembers(ctx, id, [randomId()]), 404);
        await expectScimError(store.setMembers(ctx, id, []), 404);
        // A user is not a group.
        const user = await createUser("u");
        await expectScimError(store.replace(ctx, GROUP, user.id, groupWrite("g")), 404);
        await expectScimError(store.delete(ctx, GROUP, user.id), 404);
        expect(await inspect(USER, user.id)).toBeDefined();
      });
    });

    describe("optimistic concurrency (expectedVersion)", () => {
      it("replace applies on the expected version and is a 412 on another", async () => {
        const created = await createUser("bjensen");
        const replaced = await store.replace(ctx, USER, created.id, userWrite("bjensen", { title: "a" }), { expectedVersion: 1 });
        expect(replaced.version).toBe(2);
        await expectScimError(store.replace(ctx, USER, created.id, userWrite("bjensen", { title: "stale" }), { expectedVersion: 1 }), 412);
        const stored = await inspect(USER, created.id);
        expect(stored!.version).toBe(2);
        expect(stored!.attributes.title).toBe("a");
      });

      it("delete is a 412 on another version and applies on the expected one", async () => {
        const created = await createUser("bjensen");
        await store.replace(ctx, USER, created.id, userWrite("bjensen", { title: "a" }));
        await expectScimError(store.delete(ctx, USER, created.id, { expectedVersion: 1 }), 412);
        expect(await inspect(USER, created.id)).toBeDefined();
        await store.delete(ctx, USER, created.id, { expectedVersion: 2 });
        expect(await inspect(USER, created.id)).toBeUndefined();
      });

      it("member operations are a 412 on another version and change nothing", async () => {
        const u1 = await createUser("u1");
        const u2 = await createUser("u2");
        const group = await store.create(ctx, GROUP, groupWrite("g", [member(u1)]));
        await expectScimError(store.addMembers(ctx, group.id, [member(u2)], { expectedVersion: 7 }), 412);
        await expectScimError(store.removeMembers(ctx, group.id, [u1.id], { expectedVersion: 7 }), 412);
        await expectScimError(store.setMembers(ctx, group.id, [member(u2)], { expectedVersion: 7 }), 412);
        const stored = await inspect(GROUP, group.id);
        expect(stored!.version).toBe(1);
        expect(stored!.members!.map((m) => m.value)).toEqual([u1.id]);
        const added = await store.addMembers(ctx, group.id, [member(u2)], { expectedVersion: 1 });
        expect(added.version).toBe(2);
      });

      it("a 404 wins over a 412", async () => {
        await expectScimError(store.replace(ctx, USER, randomId(), userWrite("x"), { expectedVersion: 3 }), 404);
        await expectScimError(store.delete(ctx, USER, randomId(), { expectedVersion: 3 }), 404);
      });
    });

    describe("uniqueness", () => {
      it("create with a taken key is a 409 uniqueness and writes nothing", async () => {
        await createUser("bjensen");
        const clash = await expectScimError(store.create(ctx, USER, userWrite("BJensen")), 409, "uniqueness");
        // The detail says which attribute clashed (never a stack or SQL).
        expect(clash.detail).toContain("userName");
        expect((await store.query(ctx, USER, {})).totalResults).toBe(1);
      });

      it("any taken key of several is a 409", async () => {
        await store.create(ctx, USER, { attributes: { userName: "a", externalId: "X" }, uniqueKeys: [{ attribute: "userName", value: "a" }, { attribute: "externalId", value: "X" }] });
        await expectScimError(
          store.create(ctx, USER, { attributes: { userName: "b", externalId: "X" }, uniqueKeys: [{ attribute: "userName", value: "b" }, { attribute: "externalId", value: "X" }] }),
          409,
          "uniqueness",
        );
        // Keys compare exactly (the caller folded them): another case is another key.
        await store.create(ctx, USER, { attributes: { userName: "c", externalId: "x" }, uniqueKeys: [{ attribute: "userName", value: "c" }, { attribute: "externalId", value: "x" }] });
      });

      it("replace to a taken key is a 409 and changes nothing; keeping its own key is fine", async () => {
        const a = await createUser("bjensen");
        const b = await createUser("other");
        await expectScimError(store.replace(ctx, USER, b.id, userWrite("BJENSEN")), 409, "uniqueness");
        const stored = await inspect(USER, b.id);
        expect(stored!.version).toBe(1);
        expect(stored!.attributes.userName).toBe("other");
        const again = await store.replace(ctx, USER, a.id, userWrite("BJensen", { title: "x" }));
        expect(again.version).toBe(2);
      });

      it("a deleted resource frees its keys, and so does a replace that changes them", async () => {
        const a = await createUser("bjensen");
        const b = await createUser("old-name");
        await store.delete(ctx, USER, a.id);
        const reborn = await createUser("bjensen");
        expect(reborn.id).not.toBe(a.id);
        await store.replace(ctx, USER, b.id, userWrite("new-name"));
        await createUser("old-name");
        await expectScimError(createUser("new-name"), 409, "uniqueness");
      });

      it("keys are per resource type and per tenant", async () => {
        const keyed = (type: string, tenant: StoreContext) =>
          store.create(tenant, type, { attributes: { displayName: "Engineering" }, uniqueKeys: [{ attribute: "displayName", value: "engineering" }] });
        await keyed(USER, ctx);
        await keyed(GROUP, ctx);
        await keyed(USER, other);
        await keyed(GROUP, other);
        await expectScimError(keyed(GROUP, ctx), 409, "uniqueness");
        await expectScimError(keyed(USER, other), 409, "uniqueness");
      });
    });

    describe("returned objects cannot change the store", () => {
      // A store may hand out copies (mutable, but detached) or shared read-only objects (memoryStore:
      // deep-frozen, so a write throws a TypeError): either way, the stored resource stays as written.
      const tryMutate = (change: () => void) => {
        try {
          change();
        } catch (error) {
          if (!(error instanceof TypeError)) throw error;
        }
      };

      it("mutating a result or the written input does not change the store", async () => {
        const write = userWrite("bjensen", { name: { givenName: "Barbara" }, emails: [{ value: "b@example.com" }] });
        const created = await store.create(ctx, USER, write);
        (write.attributes.name as Obj).givenName = "Mallory";
        (write.attributes.emails as Obj[]).push({ value: "evil@example.com" });
        tryMutate(() => ((created.attributes.name as Obj).givenName = "Eve"));
        tryMutate(() => (created.attributes.userName = "eve"));

        const got = await store.get(ctx, USER, created.id);
        expect(got!.attributes).toEqual({ schemas: [USER_SCHEMA_ID], userName: "bjensen", name: { givenName: "Barbara" }, emails: [{ value: "b@example.com" }] });
        tryMutate(() => ((got!.attributes.emails as Obj[])[0]!.value = "changed@example.com"));
        tryMutate(() => (got!.attributes.emails as Obj[]).push({ value: "pushed@example.com" }));
        tryMutate(() => delete got!.attributes.name);
        got!.version = 99;

        const listed = await store.query(ctx, USER, {});
        tryMutate(() => ((listed.resources[0]!.attributes.name as Obj).givenName = "Trudy"));

        const stored = await inspect(USER, created.id);
        expect(stored!.version).toBe(1);
        expect(stored!.attributes).toEqual({ schemas: [USER_SCHEMA_ID], userName: "bjensen", name: { givenName: "Barbara" }, emails: [{ value: "b@example.com" }] });
        expect((await store.get(ctx, USER, created.id))!.attributes).toEqual(stored!.attributes);
      });

      it("mutating the input of a replace afterwards does not change the store", async () => {
        const created = await createUser("bjensen");
        const write = userWrite("bjensen", { name: { givenName: "Barbara" } });
        await store.replace(ctx, USER, created.id, write);
        (write.attributes.name as Obj).givenName = "Mallory";
        const stored = await inspect(USER, created.id);
        expect(stored!.attributes.name).toEqual({ givenName: "Barbara" });
      });

      it("mutating returned members does not change the store", async () => {
        const u = await createUser("u");
        const group = await store.create(ctx, GROUP, groupWrite("g", [member(u, "U")]));
        const got = await store.get(ctx, GROUP, group.id, { members: true });
        tryMutate(() => (got!.members![0]!.display = "changed"));
        got!.members!.push({ value: randomId() });
        const again = await store.get(ctx, GROUP, group.id, { members: true });
        expect(again!.members).toEqual([member(u, "U")]);
      });
    });

    describe("query: filters", () => {
      /** Four users created in this order, a few milliseconds apart. */
      async function people() {
        const bjensen = await createUser("bjensen", {
          externalId: "ext-1",
          displayName: "Babs Jensen",
          name: { familyName: "Jensen", givenName: "Barbara" },
          title: "Tour Guide",
          active: true,
          emails: [
            { value: "babs@home.org", type: "home" },
            { value: "zz-bjensen@example.com", type: "work", primary: true },
          ],
        });
        await sleep(5);
        const jsmith = await createUser("jsmith", {
          externalId: "ext-2",
          displayName: "John Smith",
          name: { familyName: "Smith" },
          active: false,
          emails: [{ value: "john@example.com", type: "work" }],
        });
        await sleep(5);
        const alice = await createUser("Alice", { externalId: "EXT-3", displayName: "alice wonder", active: true, emails: [{ value: "alice@wonder.org", type: "home" }] });
        await sleep(5);
        const zed = await createUser("zed", { active: true });
        return { bjensen, jsmith, alice, zed };
      }

      /** Runs the filter when the store evaluates it, else skips the test. */
      async function expectMatches(skip: (condition: boolean, note?: string) => void, text: string, expected: StoredResource[], type = USER): Promise<void> {
        const filter = parseFilter(text);
        skip(!canFilter(filter), `${name} does not evaluate ${text}`);
        const result = await store.query(ctx, type, { filter });
        expect(sorted(ids(result)), text).toEqual(sorted(expected.map((r) => r.id)));
        expect(result.totalResults, text).toBe(expected.length);
      }

      it("without a filter: every resource of the type, with totalResults", async () => {
        const p = await people();
        await store.create(ctx, GROUP, groupWrite("g"));
        const result = await store.query(ctx, USER, {});
        expect(sorted(ids(result))).toEqual(sorted(Object.values(p).map((r) => r.id)));
        expect(result.totalResults).toBe(4);
        expect(result.nextCursor).toBeUndefined();
        expect(result.resources.find((r) => r.id === p.bjensen.id)).toEqual(p.bjensen);
      });

      it("indexed equality: userName (case-insensitive), externalId (case-exact), displayName, id", async ({ skip }) => {
        const { bjensen, jsmith, alice } = await people();
        await expectMatches(skip, 'userName eq "bjensen"', [bjensen]);
        await expectMatches(skip, 'userName eq "BJENSEN"', [bjensen]);
        await expectMatches(skip, 'userName eq "alice"', [alice]);
        await expectMatches(skip, 'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jsmith"', [jsmith]);
        await expectMatches(skip, 'userName eq "nobody"', []);
        await expectMatches(skip, 'externalId eq "ext-1"', [bjensen]);
        await expectMatches(skip, 'externalId eq "EXT-1"', []);
        await expectMatches(skip, 'externalId eq "EXT-3"', [alice]);
        await expectMatches(skip, 'displayName eq "babs jensen"', [bjensen]);
        await expectMatches(skip, `id eq "${jsmith.id}"`, [jsmith]);
        await expectMatches(skip, `id eq "${randomId()}"`, []);
      });

      it("indexed equality inside and/or", async ({ skip }) => {
        const { bjensen, jsmith, alice } = await people();
        await expectMatches(skip, 'userName eq "bjensen" and active eq true', [bjensen]);
        await expectMatches(skip, 'userName eq "jsmith" and active eq true', []);
        await expectMatches(skip, 'active eq true and externalId eq "EXT-3"', [alice]);
        await expectMatches(skip, 'userName eq "bjensen" or userName eq "jsmith"', [bjensen, jsmith]);
        await expectMatches(skip, 'userName eq "bjensen" or title pr', [bjensen]);
        await expectMatches(skip, '(userName eq "bjensen" or userName eq "jsmith") and active eq false', [jsmith]);
        await expectMatches(skip, 'userName eq "bjensen" and userName eq "jsmith"', []);
      });

      it("group displayName equality", async ({ skip }) => {
        const eng = await store.create(ctx, GROUP, groupWrite("Engineering"));
        await store.create(ctx, GROUP, groupWrite("Sales"));
        await createUser("Engineering", { displayName: "Engineering" });
        await expectMatches(skip, 'displayName eq "engineering"', [eng], GROUP);
      });

      it("co, sw, ew, pr and sub-attributes", async ({ skip }) => {
        const { bjensen, jsmith, alice } = await people();
        await expectMatches(skip, 'userName co "SMI"', [jsmith]);
        await expectMatches(skip, 'userName sw "b"', [bjensen]);
        await expectMatches(skip, 'displayName ew "JENSEN"', [bjensen]);
        await expectMatches(skip, "title pr", [bjensen]);
        await expectMatches(skip, 'name.familyName eq "smith"', [jsmith]);
        await expectMatches(skip, 'externalId sw "ext"', [bjensen, jsmith]);
        await expectMatches(skip, 'emails co "wonder"', [alice]);
      });

      it("multi-valued attributes and value paths (one and the same element)", async ({ skip }) => {
        const { bjensen, jsmith, alice } = await people();
        await expectMatches(skip, 'emails.value eq "babs@home.org"', [bjensen]);
        await expectMatches(skip, 'emails[type eq "work" and value co "example.com"]', [bjensen, jsmith]);
        await expectMatches(skip, 'emails[type eq "home" and value co "example.com"]', []);
        await expectMatches(skip, 'emails[type eq "home"]', [bjensen, alice]);
        await expectMatches(skip, 'emails.type eq "home" and emails.value co "example.com"', [bjensen]);
      });

      it("not, and, or, booleans", async ({ skip }) => {
        const { bjensen, jsmith, alice, zed } = await people();
        await expectMatches(skip, "active eq false", [jsmith]);
        await expectMatches(skip, "not (active eq true)", [jsmith]);
        await expectMatches(skip, 'active eq true and not (userName eq "zed")', [bjensen, alice]);
        await expectMatches(skip, 'userName sw "z" or displayName co "smith"', [zed, jsmith]);
        await expectMatches(skip, "not (emails pr)", [zed]);
      });

      it("meta.created and meta.lastModified compare as instants", async ({ skip }) => {
        const { bjensen, jsmith, alice, zed } = await people();
        await sleep(10);
        const updated = await store.replace(ctx, USER, jsmith.id, userWrite("jsmith", { active: true }));
        await expectMatches(skip, `meta.lastModified gt "${zed.lastModified}"`, [updated]);
        await expectMatches(skip, `meta.lastModified ge "${zed.lastModified}"`, [zed, updated]);
        await expectMatches(skip, `meta.created lt "${jsmith.created}"`, [bjensen]);
        await expectMatches(skip, `meta.created le "${alice.created}" and meta.created gt "${bjensen.created}"`, [jsmith, alice]);
        // The same instant written with an offset.
        const at = new Date(Date.parse(zed.lastModified));
        const offset = new Date(at.getTime() + 2 * 3600_000).toISOString().replace("Z", "+02:00");
        await expectMatches(skip, `meta.lastModified gt "${offset}"`, [updated]);
      });

      it("a query only sees its resource type", async ({ skip }) => {
        await people();
        const group = await store.create(ctx, GROUP, groupWrite("bjensen"));
        await expectMatches(skip, 'displayName eq "bjensen"', [group], GROUP);
        await expectMatches(skip, 'displayName eq "bjensen"', [], USER);
      });
    });

    describe("query: sorting", () => {
      async function people() {
        const made: Record<string, StoredResource> = {};
        const rows: Array<[string, Obj]> = [
          ["bjensen", { displayName: "Babs Jensen", name: { familyName: "Jensen" }, active: true, emails: [{ value: "babs@home.org" }, { value: "zz-bjensen@example.com", primary: true }] }],
          ["jsmith", { displayName: "John Smith", name: { familyName: "Smith" }, active: false, emails: [{ value: "john@example.com" }] }],
          ["Alice", { displayName: "alice wonder", active: true, emails: [{ value: "alice@wonder.org" }] }],
          ["zed", { active: true }],
        ];
        for (const [userName, extra] of rows) {
          made[userName] = await createUser(userName, extra);
          await sleep(5);
        }
        return made as { bjensen: StoredResource; jsmith: StoredResource; Alice: StoredResource; zed: StoredResource };
      }

      async function order(sortBy: string, direction: "ascending" | "descending", query: StoreQuery = {}): Promise<string[]> {
        return ids(await store.query(ctx, USER, { ...query, sort: { path: path(sortBy), order: direction } }));
      }

      it("strings sort case-insensitively, both directions", async ({ skip }) => {
        skip(!store.capabilities.sort, `${name} does not sort`);
        const p = await people();
        expect(await order("userName", "ascending")).toEqual([p.Alice.id, p.bjensen.id, p.jsmith.id, p.zed.id]);
        expect(await order("userName", "descending")).toEqual([p.zed.id, p.jsmith.id, p.bjensen.id, p.Alice.id]);
        expect(await order("urn:ietf:params:scim:schemas:core:2.0:User:userName", "ascending")).toEqual([p.Alice.id, p.bjensen.id, p.jsmith.id, p.zed.id]);
      });

      it("resources without the value sort last ascending and first descending", async ({ skip }) => {
        skip(!store.capabilities.sort, `${name} does not sort`);
        const p = await people();
        expect(await order("displayName", "ascending")).toEqual([p.Alice.id, p.bjensen.id, p.jsmith.id, p.zed.id]);
        expect(await order("displayName", "descending")).toEqual([p.zed.id, p.jsmith.id, p.bjensen.id, p.Alice.id]);
        // Two without a family name: ties keep the creation order.
        expect(await order("name.familyName", "ascending")).toEqual([p.bjensen.id, p.jsmith.id, p.Alice.id, p.zed.id]);
      });

      it("a multi-valued attribute sorts by its primary value, or else its first", async ({ skip }) => {
        skip(!store.capabilities.sort, `${name} does not sort`);
        const p = await people();
        expect(await order("emails.value", "ascending")).toEqual([p.Alice.id, p.jsmith.id, p.bjensen.id, p.zed.id]);
        expect(await order("emails", "ascending")).toEqual([p.Alice.id, p.jsmith.id, p.bjensen.id, p.zed.id]);
      });

      it("dateTimes sort as instants; booleans; ties by creation order", async ({ skip }) => {
        skip(!store.capabilities.sort, `${name} does not sort`);
        const p = await people();
        expect(await order("meta.created", "descending")).toEqual([p.zed.id, p.Alice.id, p.jsmith.id, p.bjensen.id]);
        await store.replace(ctx, USER, p.bjensen.id, userWrite("bjensen", { active: true }));
        expect(await order("meta.lastModified", "ascending")).toEqual([p.jsmith.id, p.Alice.id, p.zed.id, p.bjensen.id]);
        expect(await order("active", "ascending")).toEqual([p.jsmith.id, p.bjensen.id, p.Alice.id, p.zed.id]);
        expect(await order("active", "descending")).toEqual([p.bjensen.id, p.Alice.id, p.zed.id, p.jsmith.id]);
      });

      it("sorts the filtered resources; totalResults counts them", async ({ skip }) => {
        const filter = parseFilter("active eq true");
        skip(!store.capabilities.sort || !canFilter(filter), `${name} does not sort or filter`);
        const p = await people();
        const result = await store.query(ctx, USER, { filter, sort: { path: path("userName"), order: "descending" } });
        expect(ids(result)).toEqual([p.zed.id, p.bjensen.id, p.Alice.id]);
        expect(result.totalResults).toBe(3);
      });
    });

    describe("query: startIndex and count", () => {
      async function five(): Promise<{ all: string[]; query: StoreQuery }> {
        for (const n of ["e", "c", "a", "d", "b"]) await createUser(`user-${n}`);
        const query: StoreQuery = store.capabilities.sort ? { sort: { path: path("userName"), order: "ascending" } } : {};
        const all = ids(await store.query(ctx, USER, query));
        expect(all).toHaveLength(5);
        return { all, query };
      }

      it("pages are slices of the full result, startIndex 1-based", async ({ skip }) => {
        skip(!store.capabilities.paging, `${name} does not page`);
        const { all, query } = await five();
        const page = async (startIndex: number | undefined, count: number | undefined) => {
          const result = await store.query(ctx, USER, { ...query, startIndex, count });
          expect(result.totalResults).toBe(5);
          return ids(result);
        };
        expect(await page(1, 2)).toEqual(all.slice(0, 2));
        expect(await page(3, 2)).toEqual(all.slice(2, 4));
        expect(await page(5, 2)).toEqual(all.slice(4));
        expect(await page(2, undefined)).toEqual(all.slice(1));
        expect(await page(1, 100)).toEqual(all);
        expect(await page(undefined, 3)).toEqual(all.slice(0, 3));
      });

      it("startIndex beyond the end: an empty page with the right totalResults", async ({ skip }) => {
        skip(!store.capabilities.paging, `${name} does not page`);
        const { query } = await five();
        const result = await store.query(ctx, USER, { ...query, startIndex: 6, count: 10 });
        expect(result.resources).toEqual([]);
        expect(result.totalResults).toBe(5);
        expect((await store.query(ctx, USER, { ...query, startIndex: 1000 })).totalResults).toBe(5);
        // Past exact integers and SQL's 64-bit ones: still an empty page.
        for (const startIndex of [2 ** 63, 1e30]) {
          const far = await store.query(ctx, USER, { ...query, startIndex, count: 10 });
          expect([far.resources, far.totalResults]).toEqual([[], 5]);
        }
      });

      it("startIndex below 1 is 1; count 0 returns only totalResults", async ({ skip }) => {
        skip(!store.capabilities.paging, `${name} does not page`);
        const { all, query } = await five();
        expect(ids(await store.query(ctx, USER, { ...query, startIndex: 0, count: 2 }))).toEqual(all.slice(0, 2));
        expect(ids(await store.query(ctx, USER, { ...query, startIndex: -4, count: 2 }))).toEqual(all.slice(0, 2));
        const none = await store.query(ctx, USER, { ...query, count: 0 });
        expect(none.resources).toEqual([]);
        expect(none.totalResults).toBe(5);
      });

      it("count 0 with a filter counts the matches", async ({ skip }) => {
        const filter = parseFilter('userName sw "user-"');
        skip(!store.capabilities.paging || !canFilter(filter), `${name} does not page or filter`);
        await five();
        await createUser("someone-else");
        const result = await store.query(ctx, USER, { filter, count: 0 });
        expect(result.resources).toEqual([]);
        expect(result.totalResults).toBe(5);
      });
    });

    describe("query: cursor paging (RFC 9865)", () => {
      async function walk(query: StoreQuery, count: number): Promise<{ pages: string[][]; totals: number[] }> {
        const pages: string[][] = [];
        const totals: number[] = [];
        let cursor: string | undefined = "";
        while (cursor !== undefined) {
          const result: StoreQueryResult = await store.query(ctx, USER, { ...query, cursor, count });
          pages.push(ids(result));
          totals.push(result.totalResults);
          expect(result.nextCursor).not.toBe("");
          cursor = result.nextCursor;
          if (pages.length > 100) throw new Error("the cursor walk does not end");
        }
        return { pages, totals };
      }

      it("walks every resource once: no duplicates, no gaps, nextCursor only while more remain", async ({ skip }) => {
        skip(!store.capabilities.cursor, `${name} does not page by cursor`);
        for (let i = 0; i < 7; i++) await createUser(`user-${i}`);
        const all = ids(await store.query(ctx, USER, {}));
        const { pages, totals } = await walk({}, 3);
        expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
        expect(totals).toEqual([7, 7, 7]);
        const seen = pages.flat();
        expect(new Set(seen).size).toBe(7);
        expect(sorted(seen)).toEqual(sorted(all));
      });

      it("an exact multiple of the page size ends without an empty page", async ({ skip }) => {
        skip(!store.capabilities.cursor, `${name} does not page by cursor`);
        for (let i = 0; i < 4; i++) await createUser(`user-${i}`);
        const { pages } = await walk({}, 2);
        expect(pages.map((p) => p.length)).toEqual([2, 2]);
        const single = await store.query(ctx, USER, { cursor: "", count: 10 });
        expect(single.resources).toHaveLength(4);
        expect(single.nextCursor).toBeUndefined();
      });

      it("follows the sort order and the filter", async ({ skip }) => {
        const filter = parseFilter('userName sw "u"');
        skip(!store.capabilities.cursor || !store.capabilities.sort || !canFilter(filter), `${name} lacks cursor, sort or filter`);
        for (const n of ["user-d", "user-a", "other", "user-c", "user-e", "user-b"]) await createUser(n);
        const sort = { path: path("userName"), order: "descending" as const };
        const full = ids(await store.query(ctx, USER, { filter, sort }));
        expect(full).toHaveLength(5);
        const { pages, totals } = await walk({ filter, sort }, 2);
        expect(pages.flat()).toEqual(full);
        expect(totals.every((t) => t === 5)).toBe(true);
      });

      it("an invalid cursor is a 400 invalidCursor", async ({ skip }) => {
        skip(!store.capabilities.cursor, `${name} does not page by cursor`);
        await createUser("u");
        await expectScimError(store.query(ctx, USER, { cursor: "%%% not a cursor %%%", count: 2 }), 400, "invalidCursor");
        await expectScimError(store.query(ctx, USER, { cursor: "bm90LWEtY3Vyc29y", count: 2 }), 400, "invalidCursor");
      });

      it("a cursor of an empty result has no next page", async ({ skip }) => {
        skip(!store.capabilities.cursor, `${name} does not page by cursor`);
        const result = await store.query(ctx, USER, { cursor: "", count: 5 });
        expect(result.resources).toEqual([]);
        expect(result.totalResults).toBe(0);
        expect(result.nextCursor).toBeUndefined();
      });
    });

    describe("query: byte budget of a page (maxBytes)", () => {
      // Users whose titles weigh these many bytes, in creation order; a budget of 4,000 bytes.
      const padded = async (sizes: readonly number[]) => {
        for (const [i, size] of sizes.entries()) await createUser(`sized-${i}`, { title: "x".repeat(size) });
      };
      const sizes = [3000, 200, 200, 5000, 9000, 100, 100, 100, 2500, 2500];
      const budget = 4000;

      it("an index page takes resources while it stays within the budget; paging on from startIndex + length meets every resource once", async ({ skip }) => {
        skip(store.capabilities.pageBytes !== true || !store.capabilities.paging, `${name} does not keep to a byte budget`);
        await padded(sizes);
        const all = ids(await store.query(ctx, USER, {}));
        const pages: string[][] = [];
        for (let startIndex = 1; startIndex <= all.length; ) {
          const page = await store.query(ctx, USER, { startIndex, count: 100, maxBytes: budget });
          expect(page.totalResults).toBe(10);
          expect(page.resources.length).toBeGreaterThan(0);
          pages.push(ids(page));
          startIndex += page.resources.length;
        }
        // A resource goes in while the page with it stays within the budget: 3000, 200 and 200;
        // then 5000 and 9000 alone (each larger than the budget: a page of its own); the three
        // 100s and a 2500; the last 2500.
        expect(pages.map((p) => p.length)).toEqual([3, 1, 1, 4, 1]);
        expect(pages.flat()).toEqual(all);
        // count still bounds the page, and no budget means no cut.
        expect(ids(await store.query(ctx, USER, { startIndex: 1, count: 2, maxBytes: budget }))).toEqual(all.slice(0, 2));
        expect(ids(await store.query(ctx, USER, { startIndex: 1, count: 100 }))).toEqual(all);
      });

      it("a filtered, sorted cursor walk is cut the same way and still meets every resource once, in order", async ({ skip }) => {
        const filter = parseFilter('userName sw "sized"');
        skip(store.capabilities.pageBytes !== true || !store.capabilities.cursor || !store.capabilities.sort || !canFilter(filter), `${name} lacks a byte budget, cursors, sort or this filter`);
        await padded(sizes);
        await createUser("unsized");
        const sort = { path: path("userName"), order: "descending" as const };
        const full = ids(await store.query(ctx, USER, { filter, sort }));
        expect(full).toHaveLength(10);
        const pages: string[][] = [];
        let cursor: string | undefined = "";
        while (cursor !== undefined) {
          const page: StoreQueryResult = await store.query(ctx, USER, { filter, sort, cursor, count: 100, maxBytes: budget });
          expect(page.totalResults).toBe(10);
          pages.push(ids(page));
          cursor = page.nextCursor;
          if (pages.length > 20) throw new Error("the cursor walk does not end");
        }
        expect(pages.length).toBeGreaterThan(1);
        expect(pages.flat()).toEqual(full);
      });

      it("one resource larger than the budget is a page of its own, and a lookup's total stays right", async ({ skip }) => {
        skip(store.capabilities.pageBytes !== true, `${name} does not keep to a byte budget`);
        await padded([20_000, 20_000]);
        const first = await store.query(ctx, USER, { startIndex: 1, count: 10, maxBytes: 1000 });
        expect([first.resources.length, first.totalResults]).toEqual([1, 2]);
        expect((first.resources[0]!.attributes.title as string).length).toBe(20_000);
        const second = await store.query(ctx, USER, { startIndex: 2, count: 10, maxBytes: 1000 });
        expect([second.resources.length, second.totalResults]).toEqual([1, 2]);
        expect(second.resources[0]!.id).not.toBe(first.resources[0]!.id);
      });

      it("counts a group's members when they are loaded", async ({ skip }) => {
        skip(store.capabilities.pageBytes !== true || !store.capabilities.paging, `${name} does not keep to a byte budget`);
        const users = [];
        for (let i = 0; i < 30; i++) users.push(await createUser(`m-${i}`));
        await store.create(ctx, GROUP, groupWrite("Big", users.map((u) => member(u))));
        await store.create(ctx, GROUP, groupWrite("Small"));
        // 30 members weigh more than 2,000 bytes: with members the first group fills the page.
        const withMembers = await store.query(ctx, GROUP, { startIndex: 1, count: 10, members: true, maxBytes: 2000 });
        expect(withMembers.resources.map((g) => g.attributes.displayName)).toEqual(["Big"]);
        expect(withMembers.resources[0]!.members).toHaveLength(30);
        const without = await store.query(ctx, GROUP, { startIndex: 1, count: 10, maxBytes: 2000 });
        expect(without.resources.map((g) => g.attributes.displayName)).toEqual(["Big", "Small"]);
      });

      it("counts a user's derived groups when the server adds them (groups: true)", async ({ skip }) => {
        skip(store.capabilities.pageBytes !== true || !store.capabilities.paging, `${name} does not keep to a byte budget`);
        const users = [await createUser("in-many-0"), await createUser("in-many-1"), await createUser("in-many-2")];
        // 20 groups each: 20 derived groups weigh about 4,000 bytes per user.
        for (let i = 0; i < 20; i++) await store.create(ctx, GROUP, groupWrite(`Many ${i}`, users.map((u) => member(u))));
        const pageOf = async (query: StoreQuery) => (await store.query(ctx, USER, { startIndex: 1, count: 10, maxBytes: 5000, ...query })).resources.length;
        expect(await pageOf({ groups: true })).toBe(1);
        expect(await pageOf({})).toBe(3);
      });

      it("weighs members and derived groups with their display names (long group names, long member displays)", async ({ skip }) => {
        skip(store.capabilities.pageBytes !== true || !store.capabilities.paging, `${name} does not keep to a byte budget`);
        const users = [await createUser("long-0"), await createUser("long-1"), await createUser("long-2")];
        // Three groups of 1,500-character names: each user's derived groups weigh about 5,000 bytes
        // with their names, 600 without.
        for (let i = 0; i < 3; i++) await store.create(ctx, GROUP, groupWrite(`${String(i).repeat(1500)}`, users.map((u) => member(u))));
        const pageOf = async (type: string, query: StoreQuery) => (await store.query(ctx, type, { startIndex: 1, count: 10, maxBytes: 6000, ...query })).resources.length;
        expect(await pageOf(USER, { groups: true })).toBe(1);
        // Members whose display is long (in UTF-8: 500 euro signs are 1,500 bytes): three groups
        // of three such members weigh about 5,000 bytes each.
        const named = users.map((u) => member(u, "€".repeat(500)));
        for (let i = 0; i < 3; i++) await store.create(ctx, GROUP, groupWrite(`Named ${i}`, named));
        const filter = parseFilter('displayName sw "Named"');
        expect((await store.query(ctx, GROUP, { filter, startIndex: 1, count: 10, members: true, maxBytes: 6000 })).resources).toHaveLength(1);
        expect((await store.query(ctx, GROUP, { filter, startIndex: 1, count: 10, maxBytes: 6000 })).resources).toHaveLength(3);
      });
    });

    describe("query: deadline", () => {
      // A filter no index answers (it matches nothing: the store reads every user to know).
      const scanning = parseFilter('title co "no such title"');
      const seed = async () => {
        for (let i = 0; i < 600; i++) await createUser(`scan-${i}`, { title: `title ${i}` });
      };

      it("a query that reads the tenant past its deadline is a 400 tooMany (RFC 7644 §3.12)", async ({ skip }) => {
        skip(!canFilter(scanning), `${name} leaves this filter to the server`);
        await seed();
        const error = await expectScimError(store.query(ctx, USER, { filter: scanning, startIndex: 1, count: 10, deadline: Date.now() - 1 }), 400, "tooMany");
        expect(error.detail).toMatch(/longer than this server allows/);
        // Counting only reads the tenant too.
        await expectScimError(store.query(ctx, USER, { filter: scanning, count: 0, deadline: Date.now() - 1 }), 400, "tooMany");
      });

      it("a deadline ahead changes nothing, and the store answers queries without one after a timeout", async ({ skip }) => {
        skip(!canFilter(scanning), `${name} leaves this filter to the server`);
        await seed();
        const matching = parseFilter('title co "title 59"');
        const expected = ids(await store.query(ctx, USER, { filter: matching }));
        expect(expected).toHaveLength(11);
        expect(ids(await store.query(ctx, USER, { filter: matching, deadline: Date.now() + 60_000 }))).toEqual(expected);
        await expectScimError(store.query(ctx, USER, { filter: scanning, deadline: Date.now() - 1 }), 400, "tooMany");
        expect(ids(await store.query(ctx, USER, { filter: matching }))).toEqual(expected);
        expect((await store.query(ctx, USER, { count: 0 })).totalResults).toBe(600);
      });
    });

    describe("group members", () => {
      async function setup() {
        const users = [];
        for (let i = 1; i <= 4; i++) users.push(await createUser(`member-${i}`));
        const [u1, u2, u3, u4] = users as [StoredResource, StoredResource, StoredResource, StoredResource];
        const group = await store.create(ctx, GROUP, groupWrite("Engineering", [member(u1, "One"), member(u2, "Two")]));
        return { u1, u2, u3, u4, group };
      }
      const memberIds = async (groupId: string) => (await store.get(ctx, GROUP, groupId, { members: true }))!.members!.map((m) => m.value);

      it("membersAmong tells which of the ids the group lists directly", async ({ skip }) => {
        skip(store.membersAmong === undefined, `${name} has no membersAmong`);
        const [a, b, c] = [await createUser("among-a"), await createUser("among-b"), await createUser("among-c")];
        const group = await store.create(ctx, GROUP, groupWrite("Among", [member(a), member(b)]));
        const second = await store.create(ctx, GROUP, groupWrite("Other", [member(c)]));
        const among = (groupId: string, ids: string[]) => store.membersAmong!(ctx, groupId, ids).then((set) => sorted([...set]));
        expect(await among(group.id, [a.id, b.id, c.id, "no-such-id"])).toEqual(sorted([a.id, b.id]));
        expect(await among(second.id, [a.id, b.id, c.id])).toEqual([c.id]);
        expect(await among(group.id, [])).toEqual([]);
        await store.removeMembers(ctx, group.id, [a.id]);
        expect(await among(group.id, [a.id, b.id])).toEqual([b.id]);
        // Another tenant's group of that id lists nobody here.
        expect(await store.membersAmong!(other, group.id, [b.id])).toEqual(new Set());
        // Many ids at once (more than one SQL statement's worth).
        const many = Array.from({ length: 1200 }, (_, i) => `missing-${i}`);
        expect(await among(group.id, [...many, b.id])).toEqual([b.id]);
      });

      it("memberCandidates finds the tenant's live Users and Groups among the ids, with their display names", async ({ skip }) => {
        skip(store.memberCandidates === undefined, `${name} has no memberCandidates`);
        const named = await createUser("cand-named", { displayName: "Named Person" });
        const plain = await createUser("cand-plain");
        const gone = await createUser("cand-gone");
        await store.delete(ctx, USER, gone.id);
        const team = await store.create(ctx, GROUP, groupWrite("Cand Team"));
        const elsewhere = await createUser("cand-elsewhere", {}, other);
        const ids = [named.id, plain.id, gone.id, team.id, elsewhere.id, "no-such-id", named.id];
        const found = (await store.memberCandidates!(ctx, ids)).sort((a, b) => (a.id < b.id ? -1 : 1));
        expect(found).toEqual(
          [
            { id: named.id, type: "User", display: "Named Person" },
            { id: plain.id, type: "User", display: "cand-plain" },
            { id: team.id, type: "Group", display: "Cand Team" },
          ].sort((a, b) => (a.id < b.id ? -1 : 1)),
        );
        expect(await store.memberCandidates!(ctx, [])).toEqual([]);
        // Many ids at once (more than one SQL statement's worth).
        const many = Array.from({ length: 1200 }, (_, i) => `missing-${i}`);
        expect(await store.memberCandidates!(ctx, [...many, plain.id])).toEqual([{ id: plain.id, type: "User", display: "cand-plain" }]);
      });

      it("members are stored, and loaded only when asked for", async () => {
        const { u1, u2, group } = await setup();
        expect(group.members).toBeUndefined();
        expect((await store.get(ctx, GROUP, group.id))!.members).toBeUndefined();
        const loaded = await store.get(ctx, GROUP, group.id, { members: true });
        expect(loaded!.members).toEqual([member(u1, "One"), member(u2, "Two")]);
        expect(loaded!.attributes).not.toHaveProperty("members");
        const stored = await inspect(GROUP, group.id);
        expect(stored!.members).toEqual([member(u1, "One"), member(u2, "Two")]);
        expect(stored!.attributes).toEqual({ schemas: [GROUP_SCHEMA_ID], displayName: "Engineering" });
        const empty = await store.create(ctx, GROUP, groupWrite("Empty"));
        expect((await store.get(ctx, GROUP, empty.id, { members: true }))!.members).toEqual([]);
      });

      it("query loads members only when asked for", async () => {
        const { u1, u2, group } = await setup();
        const plain = await store.query(ctx, GROUP, {});
        expect(plain.resources[0]!.id).toBe(group.id);
        expect(plain.resources[0]!.members).toBeUndefined();
        const loaded = await store.query(ctx, GROUP, { members: true });
        expect(loaded.resources[0]!.members!.map((m) => m.value)).toEqual([u1.id, u2.id]);
      });

      it("addMembers adds, ignores those already present, and bumps the version", async () => {
        const { u1, u2, u3, group } = await setup();
        const after = await store.addMembers(ctx, group.id, [member(u2, "Changed"), member(u3, "Three"), member(u3, "Three again")]);
        expect(after.version).toBe(2);
        expect(await memberIds(group.id)).toEqual([u1.id, u2.id, u3.id]);
        const stored = await inspect(GROUP, group.id);
        expect(stored!.version).toBe(2);
        expect(stored!.members).toEqual([member(u1, "One"), member(u2, "Two"), member(u3, "Three")]);
        const again = await store.addMembers(ctx, group.id, [member(u1)]);
        expect(again.version).toBeGreaterThanOrEqual(2);
        expect(await memberIds(group.id)).toEqual([u1.id, u2.id, u3.id]);
      });

      it("removeMembers removes by id, ignores absent ids, and bumps the version", async () => {
        const { u1, u2, group } = await setup();
        const after = await store.removeMembers(ctx, group.id, [u1.id, randomId()]);
        expect(after.version).toBe(2);
        expect(await memberIds(group.id)).toEqual([u2.id]);
        expect((await inspect(GROUP, group.id))!.members!.map((m) => m.value)).toEqual([u2.id]);
        const again = await store.removeMembers(ctx, group.id, [randomId()]);
        expect(again.version).toBeGreaterThanOrEqual(2);
        expect(await memberIds(group.id)).toEqual([u2.id]);
      });

      it("setMembers replaces the list", async () => {
        const { u3, u4, group } = await setup();
        const after = await store.setMembers(ctx, group.id, [member(u4, "Four"), member(u3)]);
        expect(after.version).toBe(2);
        expect(sorted(await memberIds(group.id))).toEqual(sorted([u4.id, u3.id]));
        const stored = await inspect(GROUP, group.id);
        expect(sorted(stored!.members!.map((m) => m.value))).toEqual(sorted([u3.id, u4.id]));
        expect(stored!.members!.find((m) => m.value === u4.id)).toEqual(member(u4, "Four"));
        await store.setMembers(ctx, group.id, []);
        expect(await memberIds(group.id)).toEqual([]);
        expect((await inspect(GROUP, group.id))!.members ?? []).toEqual([]);
      });

      it("a member that is no live User or Group of the tenant is a 400 invalidValue, checked in the write itself, and nothing changes", async () => {
        // The server checks members before it writes; a member deleted in between (an IdP's add
        // and delete sent together) must not be left in the group.
        const { u1, u2, group } = await setup();
        const gone = await createUser("member-gone");
        await store.delete(ctx, USER, gone.id);
        const goneGroup = await store.create(ctx, GROUP, groupWrite("Gone Team"));
        await store.delete(ctx, GROUP, goneGroup.id);
        const elsewhere = await createUser("member-elsewhere", {}, other);
        const refused = { status: 400, scimType: "invalidValue" };
        for (const bad of [member(gone), member(goneGroup), member(elsewhere), { value: randomId() }]) {
          await expect(store.addMembers(ctx, group.id, [member(u1), bad])).rejects.toMatchObject(refused);
          await expect(store.setMembers(ctx, group.id, [member(u2), bad])).rejects.toMatchObject(refused);
          await expect(store.replace(ctx, GROUP, group.id, groupWrite("Engineering", [member(u1), bad]))).rejects.toMatchObject(refused);
          await expect(store.create(ctx, GROUP, groupWrite(`New ${bad.value}`, [member(u1), bad]))).rejects.toMatchObject(refused);
        }
        const stored = await inspect(GROUP, group.id);
        expect(stored!.version).toBe(1);
        expect(stored!.members).toEqual([member(u1, "One"), member(u2, "Two")]);
        expect((await store.query(ctx, GROUP, {})).resources.map((g) => g.id)).toEqual([group.id]);
        expect(await store.groupsOf(ctx, gone.id)).toEqual([]);
      });

      it("replace keeps the members when none are given and sets them when they are", async () => {
        const { u1, u2, u3, group } = await setup();
        await store.replace(ctx, GROUP, group.id, groupWrite("Engineering", undefined, { externalId: "e" }));
        expect(await memberIds(group.id)).toEqual([u1.id, u2.id]);
        await store.replace(ctx, GROUP, group.id, groupWrite("Engineering", [member(u3)]));
        expect(await memberIds(group.id)).toEqual([u3.id]);
        expect((await store.groupsOf(ctx, u1.id)).map((g) => g.value)).toEqual([]);
        expect((await store.groupsOf(ctx, u3.id)).map((g) => g.value)).toEqual([group.id]);
      });

      it("groupsOf follows add, remove and set", async () => {
        const { u1, u2, u3, group } = await setup();
        const sales = await store.create(ctx, GROUP, groupWrite("Sales"));
        await store.addMembers(ctx, sales.id, [member(u1)]);
        const refs = await store.groupsOf(ctx, u1.id);
        expect([...refs].sort((a, b) => a.value.localeCompare(b.value))).toEqual(
          [
            { value: group.id, display: "Engineering", type: "direct" },
            { value: sales.id, display: "Sales", type: "direct" },
          ].sort((a, b) => a.value.localeCompare(b.value)),
        );
        await store.removeMembers(ctx, group.id, [u1.id]);
        expect(await store.groupsOf(ctx, u1.id)).toEqual([{ value: sales.id, display: "Sales", type: "direct" }]);
        await store.setMembers(ctx, sales.id, [member(u3)]);
        expect(await store.groupsOf(ctx, u1.id)).toEqual([]);
        expect(await store.groupsOf(ctx, u3.id)).toEqual([{ value: sales.id, display: "Sales", type: "direct" }]);
        expect(await store.groupsOf(ctx, u2.id)).toEqual([{ value: group.id, display: "Engineering", type: "direct" }]);
        expect(await store.groupsOf(ctx, randomId())).toEqual([]);
      });

      it("groupsOfMany gives each member's groups as groupsOf does, in one call", async ({ skip }) => {
        skip(store.groupsOfMany === undefined, `${name} has no groupsOfMany`);
        const { u1, u2, u3, group } = await setup();
        const sales = await store.create(ctx, GROUP, groupWrite("Sales"));
        await store.addMembers(ctx, sales.id, [member(u1), member(u3)]);
        const unknown = randomId();
        const many = await store.groupsOfMany!(ctx, [u1.id, u2.id, u3.id, unknown, u1.id]);
        for (const id of [u1.id, u2.id, u3.id, unknown]) expect(many.get(id) ?? [], id).toEqual(await store.groupsOf(ctx, id));
        expect(many.get(u1.id)!.map((g) => g.value).sort()).toEqual([group.id, sales.id].sort());
        expect(many.get(u3.id)).toEqual([{ value: sales.id, display: "Sales", type: "direct" }]);
        // A deleted group is in no member's groups; another tenant sees none of them.
        await store.delete(ctx, GROUP, sales.id);
        expect((await store.groupsOfMany!(ctx, [u1.id, u3.id])).get(u1.id)).toEqual([{ value: group.id, display: "Engineering", type: "direct" }]);
        expect((await store.groupsOfMany!(ctx, [u3.id])).get(u3.id) ?? []).toEqual([]);
        expect([...(await store.groupsOfMany!(other, [u1.id, u2.id])).values()].flat()).toEqual([]);
        expect((await store.groupsOfMany!(ctx, [])).size).toBe(0);
      });

      it("groupsOf shows the group's current displayName", async () => {
        const { u1, group } = await setup();
        await store.replace(ctx, GROUP, group.id, groupWrite("Platform"));
        expect(await store.groupsOf(ctx, u1.id)).toEqual([{ value: group.id, display: "Platform", type: "direct" }]);
      });

      it("a deleted group is gone from groupsOf and takes its member list with it", async () => {
        const { u1, u2, group } = await setup();
        await store.delete(ctx, GROUP, group.id);
        expect(await store.groupsOf(ctx, u1.id)).toEqual([]);
        expect(await store.groupsOf(ctx, u2.id)).toEqual([]);
        expect(await inspect(GROUP, group.id)).toBeUndefined();
        expect(await inspect(USER, u1.id)).toBeDefined();
      });

      it("a deleted user disappears from the groups that listed it", async () => {
        const { u1, u2, group } = await setup();
        const sales = await store.create(ctx, GROUP, groupWrite("Sales", [member(u1)]));
        await store.delete(ctx, USER, u1.id);
        expect(await memberIds(group.id)).toEqual([u2.id]);
        expect(await memberIds(sales.id)).toEqual([]);
        expect((await inspect(GROUP, group.id))!.members!.map((m) => m.value)).toEqual([u2.id]);
        expect(await store.groupsOf(ctx, u1.id)).toEqual([]);
        // A new resource does not inherit anything from the deleted one.
        const reborn = await createUser("member-1");
        expect(await store.groupsOf(ctx, reborn.id)).toEqual([]);
      });

      it("member operations return the group without loading its members", async () => {
        const { u3, group } = await setup();
        const after = await store.addMembers(ctx, group.id, [member(u3)]);
        expect(after.id).toBe(group.id);
        expect(after.resourceType).toBe(GROUP);
        expect(after.attributes).toEqual({ schemas: [GROUP_SCHEMA_ID], displayName: "Engineering" });
      });
    });

    describe("tenant isolation", () => {
      it("another tenant never sees, changes or clashes with the data", async ({ skip }) => {
        const id = randomId();
        const user = await store.create(ctx, USER, { ...userWrite("bjensen", { externalId: "ext-1" }), id });
        const group = await store.create(ctx, GROUP, groupWrite("Engineering", [member(user)]));

        expect(await store.get(other, USER, id)).toBeUndefined();
        expect(await store.get(other, GROUP, group.id, { members: true })).toBeUndefined();
        const listed = await store.query(other, USER, {});
        expect(listed.resources).toEqual([]);
        expect(listed.totalResults).toBe(0);
        expect((await store.query(other, GROUP, {})).totalResults).toBe(0);
        await expectScimError(store.replace(other, USER, id, userWrite("mallory")), 404);
        await expectScimError(store.delete(other, USER, id), 404);
        await expectScimError(store.delete(other, GROUP, group.id), 404);
        await expectScimError(store.addMembers(other, group.id, [{ value: randomId() }]), 404);
        await expectScimError(store.removeMembers(other, group.id, [id]), 404);
        await expectScimError(store.setMembers(other, group.id, []), 404);
        expect(await store.groupsOf(other, id)).toEqual([]);
        expect(await inspect(USER, id, other)).toBeUndefined();

        // The same keys and the same given id are free in the other tenant.
        const twin = await store.create(other, USER, { ...userWrite("bjensen", { externalId: "ext-1" }), id });
        expect(twin.id).toBe(id);
        const twinGroup = await store.create(other, GROUP, groupWrite("Engineering"));
        expect(await store.groupsOf(other, id)).toEqual([]);
        await store.replace(other, USER, id, userWrite("bjensen", { title: "other tenant" }));
        await store.addMembers(other, twinGroup.id, [member(twin)]);
        expect(await store.groupsOf(other, id)).toEqual([{ value: twinGroup.id, display: "Engineering", type: "direct" }]);
        expect(await store.groupsOf(ctx, id)).toEqual([{ value: group.id, display: "Engineering", type: "direct" }]);
        await store.delete(other, USER, id);

        const mine = await inspect(USER, id);
        expect(mine!.version).toBe(1);
        expect(mine!.attributes).toEqual(userWrite("bjensen", { externalId: "ext-1" }).attributes);
        expect((await inspect(GROUP, group.id))!.members!.map((m) => m.value)).toEqual([id]);
        expect((await store.get(ctx, GROUP, group.id, { members: true }))!.members!.map((m) => m.value)).toEqual([id]);

        const filter = parseFilter('userName eq "bjensen"');
        skip(!canFilter(filter), `${name} does not filter`);
        expect((await store.query(other, USER, { filter })).totalResults).toBe(0);
        expect(ids(await store.query(ctx, USER, { filter }))).toEqual([id]);
        expect((await store.query(other, USER, { filter: parseFilter(`id eq "${id}"`) })).totalResults).toBe(0);
      });
    });

    describe("transactions", () => {
      it("a successful unit of work commits every write and returns its value", async ({ skip }) => {
        skip(store.transaction === undefined, `${name} has no transactions`);
        const made: string[] = [];
        const value = await store.transaction!(async (tx) => {
          const a = await tx.create(ctx, USER, userWrite("tx-a"));
          const b = await tx.create(ctx, USER, userWrite("tx-b"));
          made.push(a.id, b.id);
          const g = await tx.create(ctx, GROUP, groupWrite("tx-group", [member(a)]));
          made.push(g.id);
          await tx.addMembers(ctx, g.id, [member(b)]);
          await tx.replace(ctx, USER, a.id, userWrite("tx-a", { title: "committed" }));
          return "done";
        });
        expect(value).toBe("done");
        expect((await inspect(USER, made[0]!))!.attributes.title).toBe("committed");
        expect(await inspect(USER, made[1]!)).toBeDefined();
        expect((await inspect(GROUP, made[2]!))!.members!.map((m) => m.value)).toEqual([made[0], made[1]]);
        expect((await store.groupsOf(ctx, made[1]!)).map((g) => g.value)).toEqual([made[2]]);
      });

      it("a unit of work that throws leaves nothing behind", async ({ skip }) => {
        skip(store.transaction === undefined, `${name} has no transactions`);
        const keep = await createUser("keep");
        const changed = await createUser("bob", { title: "before" });
        const removed = await createUser("carol");
        const group = await store.create(ctx, GROUP, groupWrite("Team", [member(keep)]));
        const other2 = await store.create(ctx, GROUP, groupWrite("Other", [member(removed)]));
        let createdId: string | undefined;
        const boom = new Error("boom");
        await expect(
          store.transaction!(async (tx) => {
            createdId = (await tx.create(ctx, USER, userWrite("dave"))).id;
            await tx.replace(ctx, USER, changed.id, userWrite("bob2", { title: "after" }));
            await tx.delete(ctx, USER, removed.id);
            await tx.addMembers(ctx, group.id, [member(changed), { value: createdId }]);
            await tx.removeMembers(ctx, group.id, [keep.id]);
            await tx.create(ctx, GROUP, groupWrite("Ephemeral", [member(keep)]));
            await tx.setMembers(ctx, other2.id, [member(keep)]);
            throw boom;
          }),
        ).rejects.toBe(boom);

        expect(createdId).toBeDefined();
        expect(await inspect(USER, createdId!)).toBeUndefined();
        const bob = await inspect(USER, changed.id);
        expect(bob!.version).toBe(1);
        expect(bob!.attributes).toEqual(userWrite("bob", { title: "before" }).attributes);
        const carol = await inspect(USER, removed.id);
        expect(carol).toBeDefined();
        expect(carol!.version).toBe(1);
        expect(carol!.created).toBe(removed.created);
        expect(carol!.attributes).toEqual(removed.attributes);
        const team = await inspect(GROUP, group.id);
        expect(team!.version).toBe(1);
        expect(team!.members).toEqual([member(keep)]);
        const other2Stored = await inspect(GROUP, other2.id);
        expect(other2Stored!.version).toBe(1);
        expect(other2Stored!.members).toEqual([member(removed)]);
        expect(sorted((await store.groupsOf(ctx, keep.id)).map((g) => g.value))).toEqual([group.id]);
        expect(await store.groupsOf(ctx, changed.id)).toEqual([]);
        expect((await store.groupsOf(ctx, removed.id)).map((g) => g.value)).toEqual([other2.id]);
        expect((await store.query(ctx, USER, {})).totalResults).toBe(3);
        expect((await store.query(ctx, GROUP, {})).totalResults).toBe(2);

        // Keys: the rolled-back ones are free again, the restored ones are held again.
        await createUser("dave");
        await createUser("bob2");
        await expectScimError(createUser("carol"), 409, "uniqueness");
        await expectScimError(createUser("bob"), 409, "uniqueness");
        await store.create(ctx, GROUP, groupWrite("Ephemeral"));
      });

      it("a ScimError inside undoes the writes made before it", async ({ skip }) => {
        skip(store.transaction === undefined, `${name} has no transactions`);
        await createUser("taken");
        let firstId: string | undefined;
        await expectScimError(
          store.transaction!(async (tx) => {
            firstId = (await tx.create(ctx, USER, userWrite("first"))).id;
            await tx.create(ctx, USER, userWrite("TAKEN"));
          }),
          409,
          "uniqueness",
        );
        expect(await inspect(USER, firstId!)).toBeUndefined();
        expect((await store.query(ctx, USER, {})).totalResults).toBe(1);
      });

      it("concurrent transactions do not see each other's uncommitted writes", async ({ skip }) => {
        skip(store.transaction === undefined, `${name} has no transactions`);
        const first = store.transaction!(async (tx) => {
          await tx.create(ctx, USER, userWrite("contended"));
          await sleep(30);
          throw new Error("first fails");
        });
        const second = store.transaction!(async (tx) => (await tx.create(ctx, USER, userWrite("contended"))).id);
        const [a, b] = await Promise.allSettled([first, second]);
        expect(a.status).toBe("rejected");
        expect(b.status).toBe("fulfilled");
        const id = (b as PromiseFulfilledResult<string>).value;
        expect((await inspect(USER, id))!.attributes.userName).toBe("contended");
        expect((await store.query(ctx, USER, {})).totalResults).toBe(1);
      });
    });
  });
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileProjection, defaultView } from "../list/project.js";
import { createSchemaRegistry, resolveResourceType } from "../schema/registry.js";
import type { StoredResource } from "../store/types.js";
import { memoryStore } from "../store/memory-store.js";
import { bearerAuth, createScimServer } from "./create-scim-server.js";
import { toDefaultWire, toWire, type RequestScope } from "./resources.js";
import type { ScimServerConfig } from "./types.js";

type Obj = Record<string, unknown>;

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const scope = { baseUrl: "https://example.com/scim/v2" } as RequestScope;

/** What reads returned before the one-pass form: toWire, the derived groups set on it, the default projection. */
function twoPass(typeName: string, stored: StoredResource, groups: Obj[] | undefined): Obj {
  const rt = resolveResourceType(typeName);
  const wire = toWire(scope, rt, stored);
  if (groups !== undefined && groups.length > 0) wire.groups = groups;
  return compileProjection({ resourceType: rt })(wire);
}

const words = ["", "a", "Babs", "work", "x@example.com", "ünï"];
const empty = fc.constantFrom(undefined, null, [], {});
const valueArb = fc.oneof(fc.constantFrom(...words), fc.boolean(), empty);

const userAttributes: fc.Arbitrary<Obj> = fc.record(
  {
    schemas: fc.constantFrom([USER], [USER, ENTERPRISE], []),
    externalId: valueArb,
    userName: fc.constantFrom("bjensen", "X"),
    name: fc.oneof(empty, fc.record({ givenName: fc.constantFrom(...words), familyName: fc.constantFrom(...words) }, { requiredKeys: [] })),
    displayName: valueArb,
    active: fc.oneof(fc.boolean(), empty),
    emails: fc.oneof(empty, fc.array(fc.record({ value: fc.constantFrom(...words), type: fc.constantFrom("work", "home"), primary: fc.boolean() }, { requiredKeys: ["value"] }), { maxLength: 3 })),
    title: valueArb,
    password: fc.constantFrom("secret", "t0ps3cret"),
    [ENTERPRISE]: fc.oneof(empty, fc.record({ employeeNumber: fc.constantFrom("1", ""), department: fc.constantFrom(...words) }, { requiredKeys: [] })),
    // Not defined by any schema: never returned.
    unknownThing: valueArb,
    "urn:example:other": fc.constant({ x: 1 }),
  },
  { requiredKeys: ["userName"] },
);

const groupsArb = fc.option(
  fc.array(fc.record({ value: fc.constantFrom("g1", "g2"), display: fc.constantFrom("Eng", "Ops"), type: fc.constant("direct") }, { requiredKeys: ["value", "type"] }), { maxLength: 2 }),
  { nil: undefined },
);

const meta = { created: "2024-01-01T00:00:00.000Z", lastModified: "2024-02-01T00:00:00.000Z" };

describe("toDefaultWire", () => {
  it("returns what toWire, the derived groups and the default projection return together, key order included (User)", () => {
    const view = defaultView(resolveResourceType("User"))!;
    expect(view).toBeDefined();
    fc.assert(
      fc.property(userAttributes, groupsArb, fc.integer({ min: 1, max: 99 }), (attributes, groups, version) => {
        const stored: StoredResource = { id: "u1", resourceType: "User", version, ...meta, attributes };
        const groupValues = groups?.map((g) => ({ ...g, $ref: `${scope.baseUrl}/Groups/${g.value}` }));
        const one = toDefaultWire(scope, resolveResourceType("User"), stored, view, groupValues);
        const two = twoPass("User", stored, groupValues);
        expect(JSON.stringify(one)).toBe(JSON.stringify(two));
        expect(one).not.toHaveProperty("password");
      }),
      { numRuns: 300 },
    );
  });

  it("does the same for groups with members (Group)", () => {
    const rt = resolveResourceType("Group");
    const view = defaultView(rt)!;
    fc.assert(
      fc.property(
        fc.record({ schemas: fc.constantFrom([GROUP], []), displayName: valueArb, externalId: valueArb }, { requiredKeys: ["displayName"] }),
        fc.option(fc.array(fc.record({ value: fc.constantFrom("u1", "u2", "g9"), type: fc.constantFrom("User", "Group"), display: fc.constantFrom("Babs", "Ops") }, { requiredKeys: ["value"] }), { maxLength: 3 }), { nil: undefined }),
        (attributes, members) => {
          const stored: StoredResource = { id: "g1", resourceType: "Group", version: 3, ...meta, attributes, ...(members !== undefined ? { members } : {}) };
          expect(JSON.stringify(toDefaultWire(scope, rt, stored, view))).toBe(JSON.stringify(twoPass("Group", stored, undefined)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("shares stored values instead of copying them", () => {
    const rt = resolveResourceType("User");
    const name = Object.freeze({ givenName: "Barbara" });
    const stored: StoredResource = { id: "u1", resourceType: "User", version: 1, ...meta, attributes: Object.freeze({ schemas: [USER], userName: "bjensen", name }) };
    const out = toDefaultWire(scope, rt, stored, defaultView(rt)!);
    expect(out.name).toBe(name);
    expect(out.meta).toEqual({ resourceType: "User", ...meta, location: "https://example.com/scim/v2/Users/u1", version: 'W/"1"' });
  });
});

describe("request limits: maxPatchOperations and maxValues", () => {
  const auth = bearerAuth({ tok: { tenant: "t" } });
  const serverWith = (config: Partial<ScimServerConfig> = {}) => createScimServer({ store: memoryStore(), authenticate: auth, baseUrl: "https://example.com/scim/v2", ...config });
  const call = (server: ReturnType<typeof createScimServer>, method: string, path: string, body?: unknown) =>
    server.handle({ method, path, headers: { authorization: "Bearer tok", "content-type": "application/scim+json" }, body }) as Promise<{ status: number; body: Obj }>;
  const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
  const emails = (n: number) => Array.from({ length: n }, (_, i) => ({ value: `e${i}@x.com` }));

  it("a PATCH with more operations than maxPatchOperations (default 1000) is 413 and changes nothing", async () => {
    const server = serverWith();
    const user = await call(server, "POST", "/Users", { schemas: [USER], userName: "ops@x.com" });
    const id = user.body.id as string;
    const op = { op: "replace", path: "nickName", value: "N" };
    const tooMany = await call(server, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: Array.from({ length: 1001 }, () => op) });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.detail).toMatch(/at most 1000 operations/);
    expect((await call(server, "GET", `/Users/${id}`)).body.nickName).toBeUndefined();
    expect((await call(server, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: Array.from({ length: 1000 }, () => op) })).status).toBe(200);
    const small = serverWith({ maxPatchOperations: 2 });
    const other = await call(small, "POST", "/Users", { schemas: [USER], userName: "ops2@x.com" });
    expect((await call(small, "PATCH", `/Users/${other.body.id}`, { schemas: [PATCH_OP], Operations: [op, op, op] })).status).toBe(413);
  });

  it("a member's display over 2,000 bytes is 400 invalidValue (it is copied into each membership and event); one at the limit is kept", async () => {
    const server = serverWith();
    const user = await call(server, "POST", "/Users", { schemas: [USER], userName: "shown@x.com" });
    const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
    const long = await call(server, "POST", "/Groups", { schemas: [GROUP], displayName: "G", members: [{ value: user.body.id, display: "d".repeat(2001) }] });
    expect([long.status, long.body.scimType]).toEqual([400, "invalidValue"]);
    // 667 three-byte characters are 2,001 bytes.
    expect((await call(server, "POST", "/Groups", { schemas: [GROUP], displayName: "G", members: [{ value: user.body.id, display: "€".repeat(667) }] })).status).toBe(400);
    const group = await call(server, "POST", "/Groups", { schemas: [GROUP], displayName: "G", members: [{ value: user.body.id, display: "d".repeat(2000) }] });
    expect(group.status).toBe(201);
    const patched = await call(server, "PATCH", `/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: user.body.id, display: "x".repeat(900_000) }] }] });
    expect(patched.status).toBe(400);
  });

  it("a filter of more than maxFilterTerms comparisons (default 100) is 400 invalidFilter, on GET and .search", async () => {
    const server = serverWith();
    const terms = (n: number) => Array.from({ length: n }, (_, i) => `title co "t${i}"`).join(" or ");
    const get = (filter: string) => server.handle({ method: "GET", path: "/Users", query: `filter=${encodeURIComponent(filter)}`, headers: { authorization: "Bearer tok" } }) as Promise<{ status: number; body: Obj }>;
    expect((await get(terms(100))).status).toBe(200);
    const over = await get(terms(101));
    expect([over.status, over.body.scimType]).toEqual([400, "invalidFilter"]);
    expect(over.body.detail).toMatch(/101 comparisons; at most 100/);
    // Comparisons inside a value filter count too.
    const inside = await get(`emails[${Array.from({ length: 101 }, (_, i) => `value co "e${i}"`).join(" or ")}]`);
    expect(inside.status).toBe(400);
    const search = await call(server, "POST", "/Users/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter: terms(101) });
    expect(search.status).toBe(400);
    expect((await get.call(null, terms(3))).status).toBe(200);
    // On a group's members, at most 10 (each reads every membership).
    const groups = (filter: string) => server.handle({ method: "GET", path: "/Groups", query: `filter=${encodeURIComponent(filter)}`, headers: { authorization: "Bearer tok" } }) as Promise<{ status: number; body: Obj }>;
    const memberTerms = (n: number) => Array.from({ length: n }, (_, i) => `members.display co "m${i}"`).join(" or ");
    expect((await groups(memberTerms(10))).status).toBe(200);
    const tooMany = await groups(memberTerms(11));
    expect([tooMany.status, tooMany.body.detail]).toEqual([400, "the filter has 11 comparisons on 'members'; at most 10 are accepted"]);
    expect((await groups(`id eq "x" and members eq "y"`)).status).toBe(200);
    const small = serverWith({ maxFilterTerms: 2 });
    expect(((await small.handle({ method: "GET", path: "/Users", query: `filter=${encodeURIComponent(terms(3))}`, headers: { authorization: "Bearer tok" } })) as { status: number }).status).toBe(400);
  });

  it("more values in a multi-valued attribute than maxValues (default 1000) is 400 invalidValue on POST, PUT and PATCH; group members are not counted", async () => {
    const server = serverWith();
    const created = await call(server, "POST", "/Users", { schemas: [USER], userName: "many@x.com", emails: emails(1001) });
    expect([created.status, created.body.scimType]).toEqual([400, "invalidValue"]);
    const user = await call(server, "POST", "/Users", { schemas: [USER], userName: "many@x.com", emails: emails(1000) });
    expect(user.status).toBe(201);
    const id = user.body.id as string;
    const put = await call(server, "PUT", `/Users/${id}`, { schemas: [USER], userName: "many@x.com", emails: emails(1001) });
    expect([put.status, put.body.scimType]).toEqual([400, "invalidValue"]);
    const patch = await call(server, "PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "emails", value: [{ value: "one.more@x.com" }] }] });
    expect([patch.status, patch.body.scimType]).toEqual([400, "invalidValue"]);
    expect(((await call(server, "GET", `/Users/${id}`)).body.emails as unknown[]).length).toBe(1000);
    // A group's members are kept apart by stores: no limit here.
    const small = serverWith({ maxValues: 2 });
    const members = [];
    for (let i = 0; i < 3; i++) members.push({ value: (await call(small, "POST", "/Users", { schemas: [USER], userName: `m${i}@x.com` })).body.id });
    expect((await call(small, "POST", "/Groups", { schemas: [GROUP], displayName: "Three", members })).status).toBe(201);
    expect((await call(small, "POST", "/Users", { schemas: [USER], userName: "three@x.com", emails: emails(3) })).status).toBe(400);
  });
});

describe("never-returned attributes and exact integers", () => {
  const EXT = "urn:example:params:scim:schemas:extension:secrets:2.0:User";
  const attr = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: "string" as const, multiValued: false, required: false, caseExact: false, mutability: "readWrite" as const, returned: "default" as const, uniqueness: "none" as const, ...extra });
  const registry = createSchemaRegistry({ schemas: [{ id: EXT, name: "Secrets", attributes: [attr("secret", { returned: "never" }), attr("level", { type: "integer" })] }] }).addExtension("User", { schema: EXT, required: false });
  const server = createScimServer({ store: memoryStore({ registry }), registry, authenticate: bearerAuth({ tok: { tenant: "t" } }), baseUrl: "https://example.com/scim/v2" });
  const call = (method: string, path: string, query?: string, body?: unknown) =>
    server.handle({ method, path, query, headers: { authorization: "Bearer tok", "content-type": "application/scim+json" }, body }) as Promise<{ status: number; body: Obj }>;

  it("sortBy a never-returned attribute sorts as one without values (creation order): its order would leak the secrets", async () => {
    for (const [name, secret] of [["c", "aaa"], ["a", "zzz"], ["b", "mmm"]]) {
      expect((await call("POST", "/Users", undefined, { schemas: [USER, EXT], userName: `sec-${name}`, [EXT]: { secret } })).status).toBe(201);
    }
    const names = async (query: string) => ((await call("GET", "/Users", query)).body.Resources as Obj[]).map((r) => r.userName);
    expect(await names(`sortBy=${encodeURIComponent(`${EXT}:secret`)}`)).toEqual(["sec-c", "sec-a", "sec-b"]);
    expect(await names(`sortBy=${encodeURIComponent(`${EXT}:secret`)}&sortOrder=descending`)).toEqual(["sec-c", "sec-a", "sec-b"]);
    expect(await names("sortBy=userName")).toEqual(["sec-a", "sec-b", "sec-c"]);
  });

  it("an integer beyond 2^53 is 400 invalidValue, not stored as another number", async () => {
    const r = await call("POST", "/Users", undefined, { schemas: [USER, EXT], userName: "big", [EXT]: { level: 9007199254740993 } });
    expect([r.status, r.body.scimType]).toEqual([400, "invalidValue"]);
    expect((await call("POST", "/Users", undefined, { schemas: [USER, EXT], userName: "big", [EXT]: { level: 9007199254740991 } })).status).toBe(201);
  });
});

describe("member filters in one PATCH", () => {
  it("a filter that does not name ids sees the members as the operations before it left them, and the list is read once per request", async () => {
    const store = memoryStore();
    let memberReads = 0;
    const counting = Object.create(store, {
      get: { value: (ctx: never, type: string, id: string, options?: { members?: boolean }) => ((memberReads += options?.members ? 1 : 0), store.get(ctx, type, id, options)) },
    }) as typeof store;
    const server = createScimServer({ store: counting, authenticate: bearerAuth({ tok: { tenant: "t" } }), baseUrl: "https://example.com/scim/v2" });
    const call = (method: string, path: string, body?: unknown) =>
      server.handle({ method, path, headers: { authorization: "Bearer tok", "content-type": "application/scim+json" }, body }) as Promise<{ status: number; body: Obj }>;
    const users: string[] = [];
    for (const name of ["a", "b", "c", "d"]) users.push((await call("POST", "/Users", { schemas: [USER], userName: name })).body.id as string);
    const group = await call("POST", "/Groups", { schemas: [GROUP], displayName: "G", members: users.slice(0, 3).map((value) => ({ value })) });
    const id = group.body.id as string;
    memberReads = 0;
    const operations = [
      { op: "add", path: "members", value: [{ value: users[3] }] },
      ...Array.from({ length: 50 }, () => ({ op: "remove", path: 'members[type eq "User"]' })),
    ];
    expect((await call("PATCH", `/Groups/${id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: operations })).status).toBe(204);
    // The member added by the first operation is a User too: the filter removed it as well.
    expect((await call("GET", `/Groups/${id}`)).body.members).toBeUndefined();
    expect(memberReads).toBeLessThanOrEqual(3);
  });
});

describe("a group deleted while a request adds members to it", () => {
  // A whole tenant deleted between the request's read of the group and its check of the new
  // members (a directory deleted while its IdP writes): the group is gone, and that is the answer.
  it.each([
    ["PATCH", "memberCandidates"],
    ["PUT", "memberCandidates"],
    ["PATCH", "get"],
    ["PUT", "get"],
  ])("%s, members looked up by %s: 404 for the group, not 400 for the member deleted with it", async (method, lookup) => {
    const store = memoryStore();
    let deleteWithFirstMemberLookup = false;
    const deleteAll = async (ctx: { tenant: string }, userIds: readonly string[]) => {
      deleteWithFirstMemberLookup = false;
      for (const group of (await store.query(ctx, "Group", {})).resources) await store.delete(ctx, "Group", group.id);
      for (const id of userIds) await store.delete(ctx, "User", id);
    };
    // The members are looked up through memberCandidates (one question), or through get without it.
    const racing = Object.create(store, {
      get: {
        value: async (ctx: { tenant: string }, type: string, id: string, options?: { members?: boolean }) => {
          if (deleteWithFirstMemberLookup && type === "User") await deleteAll(ctx, [id]);
          return store.get(ctx, type, id, options);
        },
      },
      memberCandidates: {
        value:
          lookup === "get"
            ? undefined
            : async (ctx: { tenant: string }, ids: readonly string[]) => {
                if (deleteWithFirstMemberLookup) await deleteAll(ctx, ids);
                return store.memberCandidates!(ctx, ids);
              },
      },
    }) as typeof store;
    const server = createScimServer({ store: racing, authenticate: bearerAuth({ tok: { tenant: "t" } }), baseUrl: "https://example.com/scim/v2" });
    const call = (verb: string, path: string, body?: unknown) =>
      server.handle({ method: verb, path, headers: { authorization: "Bearer tok", "content-type": "application/scim+json" }, body }) as Promise<{ status: number; body: Obj }>;
    const user = (await call("POST", "/Users", { schemas: [USER], userName: "a" })).body.id as string;
    const group = (await call("POST", "/Groups", { schemas: [GROUP], displayName: "G" })).body.id as string;
    deleteWithFirstMemberLookup = true;
    const response =
      method === "PATCH"
        ? await call("PATCH", `/Groups/${group}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "add", path: "members", value: [{ value: user }] }] })
        : await call("PUT", `/Groups/${group}`, { schemas: [GROUP], displayName: "G", members: [{ value: user }] });
    expect(response.status).toBe(404);
    expect(response.body.scimType).toBeUndefined();
    // A member that never existed, in a group that does, is still a 400.
    const other = (await call("POST", "/Groups", { schemas: [GROUP], displayName: "H" })).body.id as string;
    const missing = await call("PATCH", `/Groups/${other}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "add", path: "members", value: [{ value: "nobody" }] }] });
    expect([missing.status, missing.body.scimType]).toEqual([400, "invalidValue"]);
  });
});

describe("filters and sorts the server evaluates itself read the store in chunks", () => {
  it("pages and sorts 2,500 users by a groups.$ref filter without ever asking the store for more than 1,000 at once", async () => {
    const store = memoryStore();
    const asked: Array<number | undefined> = [];
    const watched = Object.create(store, {
      query: { value: (ctx: never, type: string, query: { count?: number }) => (asked.push(query.count), store.query(ctx, type, query as never)) },
    }) as typeof store;
    const server = createScimServer({ store: watched, authenticate: bearerAuth({ tok: { tenant: "t" } }), baseUrl: "https://example.com/scim/v2" });
    const call = (method: string, path: string, body?: unknown) =>
      server.handle({ method, path: path.split("?")[0]!, query: path.split("?")[1], headers: { authorization: "Bearer tok", "content-type": "application/scim+json" }, body }) as Promise<{ status: number; body: Obj }>;
    const users: string[] = [];
    for (let i = 0; i < 2500; i++) users.push((await call("POST", "/Users", { schemas: [USER], userName: `u${String(i).padStart(4, "0")}` })).body.id as string);
    const sevens = users.filter((_, i) => i % 7 === 0);
    const group = (await call("POST", "/Groups", { schemas: [GROUP], displayName: "Sevens", members: sevens.map((value) => ({ value })) })).body.id as string;
    // `$ref` is built from the request's base URL: memoryStore leaves the filter to the server.
    const filter = encodeURIComponent(`groups.$ref ew "/Groups/${group}" or userName eq "u0001"`);
    const expected = users.filter((_, i) => i % 7 === 0 || i === 1);
    asked.length = 0;
    const byIndex: string[] = [];
    for (let startIndex = 1; ; startIndex += 100) {
      const page = await call("GET", `/Users?filter=${filter}&startIndex=${startIndex}&count=100&attributes=userName`);
      expect(page.body.totalResults).toBe(expected.length);
      const ids = ((page.body.Resources as Obj[] | undefined) ?? []).map((u) => u.id as string);
      if (ids.length === 0) break;
      byIndex.push(...ids);
    }
    expect(byIndex).toEqual(expected);
    const byCursor: string[] = [];
    for (let cursor = ""; ; ) {
      const page = await call("GET", `/Users?filter=${filter}&cursor=${encodeURIComponent(cursor)}&count=150&sortBy=userName&sortOrder=descending`);
      byCursor.push(...(page.body.Resources as Obj[]).map((u) => u.id as string));
      if (page.body.nextCursor === undefined) break;
      cursor = page.body.nextCursor as string;
    }
    expect(byCursor).toEqual([...expected].reverse());
    expect(asked.length).toBeGreaterThan(0);
    for (const count of asked) expect(count).toBeLessThanOrEqual(1000);
  });
});

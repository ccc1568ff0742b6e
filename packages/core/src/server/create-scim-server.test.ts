import { describe, expect, it, vi } from "vitest";
import { isScimConfigError, ScimConfigError, ScimError } from "../errors/scim-error.js";
import { PATCH_OP_SCHEMA, SEARCH_REQUEST_SCHEMA } from "../messages/urns.js";
import { ENTERPRISE_USER_SCHEMA_ID, GROUP_SCHEMA_ID, USER_SCHEMA_ID } from "../schema/core-schemas.js";
import { createSchemaRegistry } from "../schema/registry.js";
import { memoryStore, type MemoryStore } from "../store/memory-store.js";
import type { ScimStore } from "../store/types.js";
import { runHttpConformance } from "../testing/index.js";
import { printFilter } from "../filter/print.js";
import { queryTimedOut } from "../store/query-deadline.js";
import { bearerAuth, bearerToken, createScimServer, pathSegments, timingSafeEqual } from "./create-scim-server.js";
import type { ScimEvent, ScimHooks, ScimRequest, ScimResponse, ScimServerConfig } from "./types.js";

const token = "t1-token-0123456789abcdef";
const token2 = "t2-token-0123456789abcdef";
const auth = () => bearerAuth({ [token]: { tenant: "t1" }, [token2]: { tenant: "t2" } });

// The suite over fetch, with the store doing filters, sorting and paging itself and a per-tenant
// baseUrl (the tenant comes from the token, so both tokens work under the same base path)...
runHttpConformance({
  name: "createScimServer (fetch)",
  target: async () => {
    const server = createScimServer({
      store: memoryStore(),
      authenticate: auth(),
      baseUrl: (_request, principal) => `https://scim.example.com/scim/v2/${principal.tenant}`,
      basePath: "/scim/v2/t1",
      paging: { defaultCount: 20, maxCount: 20 },
    });
    return { fetch: (input, init) => server.fetch(new Request(input, init)), baseUrl: "https://scim.example.com/scim/v2/t1", token, otherTenantToken: token2 };
  },
});

// ...and with a store that declares it can do none of that, so the server does it in memory.
runHttpConformance({
  name: "createScimServer (store without capabilities)",
  target: async () => {
    const store = memoryStore();
    const server = createScimServer({
      store: { ...store, capabilities: { filter: false, sort: false, paging: false, cursor: false } },
      authenticate: auth(),
      baseUrl: "https://scim.example.com/scim/v2",
      basePath: "/scim/v2",
    });
    return { fetch: (input, init) => server.fetch(new Request(input, init)), baseUrl: "https://scim.example.com/scim/v2", token, otherTenantToken: token2 };
  },
});

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations });

/** A server over a fresh memoryStore, driven through `handle`. */
function setup(overrides: Partial<ScimServerConfig> = {}, store: MemoryStore = memoryStore()) {
  const events: ScimEvent[] = [];
  const config: ScimServerConfig = {
    store,
    authenticate: auth(),
    baseUrl: "https://scim.example.com/scim/v2",
    subscribers: [(event) => void events.push(event)],
    ...overrides,
  };
  const server = createScimServer(config);
  const call = (method: string, target: string, body?: unknown, options: { token?: string; headers?: Record<string, string> } = {}): Promise<ScimResponse & { body: J }> => {
    const [path, query] = target.split("?") as [string, string | undefined];
    const request: ScimRequest = { method, path, query, headers: { authorization: `Bearer ${options.token ?? token}`, ...options.headers }, body };
    return server.handle(request) as Promise<ScimResponse & { body: J }>;
  };
  const createUser = async (extra: J = {}, tokenOf = token): Promise<J> => {
    const r = await call("POST", "/Users", { schemas: [USER_SCHEMA_ID], userName: `u${Math.random().toString(36).slice(2)}@example.com`, ...extra }, { token: tokenOf });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  const createGroup = async (extra: J = {}): Promise<J> => {
    const r = await call("POST", "/Groups", { schemas: [GROUP_SCHEMA_ID], displayName: `g${Math.random().toString(36).slice(2)}`, ...extra });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  const stored = (type: string, id: string, tenant = "t1") => store.inspect(tenant, type, id);
  const count = async (type: string, tenant = "t1") => (await store.query({ tenant }, type, {})).totalResults;
  return { server, store, events, call, createUser, createGroup, stored, count };
}

const base = (): ScimServerConfig => ({ store: memoryStore(), authenticate: auth(), baseUrl: "https://scim.example.com/scim/v2" });

function configError(config: unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    createScimServer(config as ScimServerConfig);
  } catch (error) {
    thrown = error;
  }
  expect(isScimConfigError(thrown), String(thrown)).toBe(true);
  expect(thrown).toBeInstanceOf(ScimConfigError);
  expect((thrown as Error).message).toMatch(message);
}

describe("createScimServer: configuration", () => {
  it("accepts a minimal configuration and returns handle and fetch, safe to pass unbound", async () => {
    const { handle, fetch } = createScimServer(base());
    expect(typeof handle).toBe("function");
    expect(typeof fetch).toBe("function");
    const r = await handle({ method: "GET", path: "/ServiceProviderConfig", headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
  });

  it("rejects each bad option with ScimConfigError naming it", () => {
    configError(undefined, /configuration object/);
    configError(null, /configuration object/);
    configError({ ...base(), store: undefined }, /config\.store is required/);
    const { query: _q, ...noQuery } = memoryStore();
    configError({ ...base(), store: noQuery }, /config\.store\.query must be a function/);
    configError({ ...base(), store: { ...memoryStore(), capabilities: undefined } }, /config\.store\.capabilities/);
    configError({ ...base(), authenticate: "yes" }, /config\.authenticate must be a function/);
    configError({ ...base(), baseUrl: "/scim/v2" }, /config\.baseUrl must be an absolute http\(s\) URL/);
    configError({ ...base(), baseUrl: "ftp://example.com" }, /config\.baseUrl/);
    configError({ ...base(), paging: { defaultCount: 0 } }, /config\.paging\.defaultCount must be a positive integer/);
    configError({ ...base(), paging: { defaultCount: 1.5 } }, /config\.paging\.defaultCount/);
    configError({ ...base(), maxValues: 0 }, /config\.maxValues must be a positive integer/);
    configError({ ...base(), maxPatchOperations: -1 }, /config\.maxPatchOperations must be a positive integer/);
    configError({ ...base(), paging: { maxCount: "10" } }, /config\.paging\.maxCount must be a positive integer/);
    configError({ ...base(), paging: { defaultCount: 50, maxCount: 10 } }, /defaultCount must not exceed maxCount/);
    configError({ ...base(), maxBodyBytes: -1 }, /config\.maxBodyBytes/);
    configError({ ...base(), bulk: { maxOperations: 0 } }, /config\.bulk\.maxOperations/);
    configError({ ...base(), bulk: { maxPayloadSize: Infinity } }, /config\.bulk\.maxPayloadSize/);
    configError({ ...base(), patchStatus: { User: 201 } }, /config\.patchStatus\.User must be 200 or 204/);
    configError({ ...base(), hooks: { beforeCreate: "nope" } }, /config\.hooks\.beforeCreate must be a function/);
    configError({ ...base(), hooks: { beforeCreat: () => {} } }, /config\.hooks\.beforeCreat is not a hook/);
    configError({ ...base(), subscribers: () => {} }, /config\.subscribers must be an array of functions/);
    configError({ ...base(), subscribers: [null] }, /config\.subscribers must be an array of functions/);
    configError({ ...base(), onError: "log" }, /config\.onError must be a function/);
    configError({ ...base(), me: "u1" }, /config\.me must be a function/);
    configError({ ...base(), basePath: "scim" }, /config\.basePath must start with "\/"/);
    configError({ ...base(), registry: {} }, /config\.registry/);
  });

  it("bearerAuth needs tokens; bearerToken and timingSafeEqual", async () => {
    expect(() => bearerAuth({})).toThrow(ScimConfigError);
    // An unset variable (`{ [process.env.SCIM_TOKEN!]: ... }`), an empty or unusable token: refused at once,
    // never a server that lets `Bearer undefined` in.
    for (const bad of [String(undefined), String(null), "", " ", "has space", "tab\there", "new\nline", "é-token"]) {
      expect(() => bearerAuth({ [token]: { tenant: "t1" }, [bad]: { tenant: "t2" } }), JSON.stringify(bad)).toThrow(ScimConfigError);
    }
    expect(() => bearerAuth({ "abc-DEF_123.~+/==": { tenant: "t1" } })).not.toThrow();
    expect(bearerToken({ method: "GET", path: "/", headers: { Authorization: "Bearer abc" } })).toBe("abc");
    expect(bearerToken({ method: "GET", path: "/", headers: { authorization: "bearer  abc " } })).toBe("abc");
    expect(bearerToken({ method: "GET", path: "/", headers: { authorization: "Basic abc" } })).toBeUndefined();
    expect(bearerToken({ method: "GET", path: "/" })).toBeUndefined();
    expect(timingSafeEqual("secret", "secret")).toBe(true);
    expect(timingSafeEqual("secret", "secreT")).toBe(false);
    expect(timingSafeEqual("secret", "secret-longer")).toBe(false);
    expect(timingSafeEqual("", "")).toBe(true);
    const byFunction = bearerAuth(async (t) => (t === "fn-token" ? { tenant: "fn" } : null));
    expect(await byFunction({ method: "GET", path: "/", headers: { authorization: "Bearer fn-token" } })).toEqual({ tenant: "fn" });
    expect(await byFunction({ method: "GET", path: "/", headers: { authorization: "Bearer other" } })).toBeNull();
    expect(await byFunction({ method: "GET", path: "/" })).toBeNull();
    const fixed = auth();
    expect(await fixed({ method: "GET", path: "/", headers: { authorization: `Bearer ${token2}` } })).toEqual({ tenant: "t2" });
    expect(await fixed({ method: "GET", path: "/", headers: { authorization: `Bearer ${token2}x` } })).toBeNull();
  });

  it("a principal without a tenant is a 500 reported to onError", async () => {
    const onError = vi.fn();
    const { call } = setup({ authenticate: () => ({ tenant: "" }), onError });
    const r = await call("GET", "/Users");
    expect(r.status).toBe(500);
    expect(onError).toHaveBeenCalledOnce();
    expect(isScimConfigError(onError.mock.calls[0]![0])).toBe(true);
  });
});

describe("createScimServer: a store's failures", () => {
  /** A memoryStore whose reads fail as a database that cannot be reached would. */
  function failingStore(unavailable?: ScimStore["unavailable"]): MemoryStore {
    const store = memoryStore();
    const down = Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), { code: "ECONNREFUSED" });
    return Object.assign(Object.create(store) as MemoryStore, {
      query: () => Promise.reject(down),
      get: () => Promise.reject(down),
      ...(unavailable ? { unavailable } : {}),
    });
  }

  it("one the store calls unavailable is answered with its error (503, Retry-After), and still reported to onError", async () => {
    const onError = vi.fn();
    const unavailable = (error: unknown) => ((error as { code?: string }).code === "ECONNREFUSED" ? new ScimError(503, undefined, "the database is unavailable", { retryAfterSeconds: 5 }) : undefined);
    const { call } = setup({ onError }, failingStore(unavailable));
    const r = await call("GET", "/Users");
    expect(r.status).toBe(503);
    expect(r.headers["Retry-After"]).toBe("5");
    expect(r.body).toEqual({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "503", detail: "the database is unavailable" });
    expect(onError).toHaveBeenCalledOnce();
    // In a Bulk request, the operation gets that status.
    const bulk = await call("POST", "/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [{ method: "DELETE", path: "/Users/u1" }] });
    expect(bulk.body.Operations[0].status).toBe("503");
  });

  it("any other is a 500 that names nothing of it", async () => {
    const { call } = setup({}, failingStore(() => undefined));
    const r = await call("GET", "/Users");
    expect(r.status).toBe(500);
    expect(r.headers["Retry-After"]).toBeUndefined();
    expect(JSON.stringify(r.body)).not.toMatch(/ECONNREFUSED|10\.0\.0\.5/);
    expect((await setup({}, failingStore()).call("GET", "/Users")).status).toBe(500);
  });
});

describe("createScimServer: requests over handle", () => {
  it("without config.baseUrl, the adapter's request.baseUrl gives meta.location; fetch uses its origin and basePath", async () => {
    const server = createScimServer({ store: memoryStore(), authenticate: auth() });
    const created = await server.handle({
      method: "POST",
      path: "/Users",
      headers: { authorization: `Bearer ${token}` },
      body: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `mount-${Math.random()}` },
      baseUrl: "http://127.0.0.1:4000/any/mount/",
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    expect(created.headers.Location).toBe(`http://127.0.0.1:4000/any/mount/Users/${id}`);
    const missing = await server.handle({ method: "GET", path: "/Users", headers: { authorization: `Bearer ${token}` } });
    expect(missing.status).toBe(500);
    const viaFetch = createScimServer({ store: memoryStore(), authenticate: auth(), basePath: "/scim/v2" });
    const res = await viaFetch.fetch(new Request("http://localhost:8080/scim/v2/Users", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "fetch-mount" }),
    }));
    const body = (await res.json()) as { id: string; meta: { location: string } };
    expect(body.meta.location).toBe(`http://localhost:8080/scim/v2/Users/${body.id}`);
  });

  it("baseUrl as a function gives per-tenant meta.location and Location", async () => {
    const { call } = setup({ baseUrl: (_req, p) => `https://scim.example.com/scim/v2/${p.tenant}/` });
    const one = await call("POST", "/Users", { userName: "same@example.com" });
    const two = await call("POST", "/Users", { userName: "same@example.com" }, { token: token2 });
    expect(one.status).toBe(201);
    expect(two.status).toBe(201);
    expect(one.headers.Location).toBe(`https://scim.example.com/scim/v2/t1/Users/${one.body.id}`);
    expect(one.body.meta.location).toBe(one.headers.Location);
    expect(two.headers.Location).toBe(`https://scim.example.com/scim/v2/t2/Users/${two.body.id}`);
    const list = await call("GET", "/Users", undefined, { token: token2 });
    expect(list.body.Resources[0].meta.location).toBe(two.headers.Location);
    const spc = await call("GET", "/ServiceProviderConfig");
    expect(spc.body.meta.location).toBe("https://scim.example.com/scim/v2/t1/ServiceProviderConfig");
  });

  it("accepts raw string, Uint8Array and pre-parsed bodies", async () => {
    const { call, count } = setup();
    const asString = await call("POST", "/Users", JSON.stringify({ userName: "string@example.com" }));
    const asBytes = await call("POST", "/Users", new TextEncoder().encode(JSON.stringify({ userName: "bytes@example.com", displayName: "Zoë" })));
    const parsed = await call("POST", "/Users", { userName: "parsed@example.com" });
    expect([asString.status, asBytes.status, parsed.status]).toEqual([201, 201, 201]);
    expect(asBytes.body.displayName).toBe("Zoë");
    expect(await count("User")).toBe(3);
    expect((await call("POST", "/Users", "{oops")).body.scimType).toBe("invalidSyntax");
    expect((await call("POST", "/Users", new TextEncoder().encode("[1,2"))).body.scimType).toBe("invalidSyntax");
    expect((await call("POST", "/Users", [{ userName: "array@example.com" }])).status).toBe(400);
    expect((await call("POST", "/Users")).status).toBe(400);
  });

  it("reads the query with URL semantics: + is a space, a leading ? is fine", async () => {
    const { call, createUser } = setup();
    const user = await createUser({ userName: "plus sign@example.com", externalId: "jyoung" });
    for (const query of ["filter=userName+eq+%22plus+sign%40example.com%22", "?filter=externalId+eq+jyoung", "FILTER=externalId%20eq%20jyoung"]) {
      const r = await call("GET", `/Users?${query}`);
      expect(r.status, query).toBe(200);
      expect(r.body.Resources.map((u: J) => u.id), query).toEqual([user.id]);
    }
    const plus = await call("GET", "/Users?filter=userName+eq+%22plus%2Bsign%40example.com%22");
    expect(plus.body.totalResults).toBe(0);
  });

  it("headers match in any case, and repeated headers are joined", async () => {
    const { server } = setup();
    const r = await server.handle({ method: "get", path: "/Users", headers: { AUTHORIZATION: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    expect(r.headers["Content-Type"]).toBe("application/scim+json");
  });

  it("a malformed request object is 400, an undecodable path 400, an unknown path 404", async () => {
    const { server, call } = setup();
    const bad = await server.handle({ path: "/Users" } as unknown as ScimRequest);
    expect(bad.status).toBe(400);
    const undecodable = await call("GET", "/Users/%E0%A4%A");
    expect(undecodable.status).toBe(400);
    expect(undecodable.body.status).toBe("400");
    expect((await call("GET", "/")).status).toBe(501); // the server root: queries there go by POST /.search
    expect((await call("GET", "/Users/a/b")).status).toBe(404);
  });

  it("lenientFilters: false rejects unquoted values", async () => {
    const { call } = setup({ lenientFilters: false });
    const r = await call("GET", "/Users?filter=externalId+eq+jyoung");
    expect(r.status).toBe(400);
    expect(r.body.scimType).toBe("invalidFilter");
    expect((await call("GET", '/Users?filter=externalId+eq+"jyoung"')).status).toBe(200);
  });

  it("uniqueGroupDisplayName: false allows the same displayName twice", async () => {
    const { call } = setup({ uniqueGroupDisplayName: false });
    expect((await call("POST", "/Groups", { displayName: "Same" })).status).toBe(201);
    expect((await call("POST", "/Groups", { displayName: "Same" })).status).toBe(201);
  });

  it("strict: unknown attributes are 400 instead of being dropped", async () => {
    const lenient = setup();
    const dropped = await lenient.call("POST", "/Users", { userName: "a@example.com", favouriteColour: "green" });
    expect(dropped.status).toBe(201);
    expect(dropped.body.favouriteColour).toBeUndefined();
    const strict = setup({ strict: true });
    const refused = await strict.call("POST", "/Users", { userName: "a@example.com", favouriteColour: "green" });
    expect(refused.status).toBe(400);
  });

  it("PUT keeps immutable attributes: a change is 400 mutability, an omission keeps the value", async () => {
    const BADGE = "urn:example:params:scim:schemas:extension:badge:2.0:User";
    const registry = createSchemaRegistry({
      schemas: [
        {
          id: BADGE,
          name: "Badge",
          attributes: [{ name: "badgeId", type: "string", multiValued: false, required: false, mutability: "immutable", returned: "default" }],
        },
      ],
    }).addExtension("User", { schema: BADGE, required: false });
    const { call } = setup({ registry }, memoryStore({ registry }));
    const created = await call("POST", "/Users", { schemas: [USER_SCHEMA_ID, BADGE], userName: "badge@example.com", [BADGE]: { badgeId: "B-1" } });
    expect(created.status).toBe(201);
    const changed = await call("PUT", `/Users/${created.body.id}`, { schemas: [USER_SCHEMA_ID, BADGE], userName: "badge@example.com", [BADGE]: { badgeId: "B-2" } });
    expect(changed.status).toBe(400);
    expect(changed.body.scimType).toBe("mutability");
    const omitted = await call("PUT", `/Users/${created.body.id}`, { schemas: [USER_SCHEMA_ID], userName: "badge@example.com", title: "t" });
    expect(omitted.status).toBe(200);
    expect(omitted.body[BADGE].badgeId).toBe("B-1");
    const patched = await call("PATCH", `/Users/${created.body.id}`, patch({ op: "replace", path: `${BADGE}:badgeId`, value: "B-3" }));
    expect(patched.status).toBe(400);
    expect(patched.body.scimType).toBe("mutability");
  });

  it("PUT without If-Match checks immutables against the version it replaces", async () => {
    const BADGE = "urn:example:params:scim:schemas:extension:badge:2.0:User";
    const registry = createSchemaRegistry({
      schemas: [{ id: BADGE, name: "Badge", attributes: [{ name: "badgeId", type: "string", multiValued: false, required: false, mutability: "immutable", returned: "default" }] }],
    }).addExtension("User", { schema: BADGE, required: false });
    let sneak: (() => Promise<unknown>) | undefined;
    const { call, createUser } = setup(
      {
        registry,
        hooks: {
          async beforeReplace() {
            // A concurrent request sets the badge after this PUT read the user.
            const once = sneak;
            sneak = undefined;
            await once?.();
          },
        },
      },
      memoryStore({ registry }),
    );
    const user = await createUser();
    sneak = () => call("PATCH", `/Users/${user.id}`, patch({ op: "add", path: `${BADGE}:badgeId`, value: "B-1" }));
    const put = await call("PUT", `/Users/${user.id}`, { userName: user.userName, title: "after" });
    expect(put.status).toBe(200);
    expect(put.body.title).toBe("after");
    expect(put.body[BADGE]?.badgeId).toBe("B-1");
  });

  it("maxBodyBytes, paging and bulk limits apply as configured", async () => {
    const { call, createUser } = setup({ maxBodyBytes: 200, paging: { defaultCount: 2, maxCount: 3 }, bulk: { maxOperations: 2, maxPayloadSize: 300 } });
    expect((await call("POST", "/Users", JSON.stringify({ userName: "x@example.com", title: "t".repeat(200) }))).status).toBe(413);
    expect((await call("POST", "/Users", { userName: "x@example.com", title: "t".repeat(200) })).status).toBe(201);
    for (let i = 0; i < 4; i++) await createUser();
    const page = await call("GET", "/Users");
    expect(page.body).toMatchObject({ totalResults: 5, itemsPerPage: 2 });
    expect((await call("GET", "/Users?count=50")).body.itemsPerPage).toBe(3);
    const spc = (await call("GET", "/ServiceProviderConfig")).body;
    expect(spc.bulk).toMatchObject({ supported: true, maxOperations: 2, maxPayloadSize: 300 });
    expect(spc.filter.maxResults).toBe(3);
    const op = { method: "DELETE", path: "/Users/x" };
    const three = await call("POST", "/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [op, op, op] });
    expect(three.status).toBe(413);
    const big = JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [{ method: "DELETE", path: `/Users/${"x".repeat(400)}` }] });
    expect((await call("POST", "/Bulk", big)).status).toBe(413);
  });

  it("bulk: circular bulkId references are resolved (RFC 7644 §3.7.1); an unknown one fails with 409; the rest runs", async () => {
    const { call, count, store } = setup();
    const BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    const r = await call("POST", "/Bulk", {
      schemas: [BULK],
      Operations: [
        { method: "POST", path: "/Groups", bulkId: "c1", data: { displayName: "C1", members: [{ value: "bulkId:c2" }] } },
        { method: "POST", path: "/Groups", bulkId: "c2", data: { displayName: "C2", members: [{ value: "bulkId:c1" }] } },
        { method: "PATCH", path: "/Groups/bulkId:nope", data: patch({ op: "replace", path: "displayName", value: "x" }) },
        { method: "POST", path: "/Users", bulkId: "ok", data: { userName: "ok@example.com" } },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.Operations.map((o: J) => o.status)).toEqual(["201", "201", "409", "201"]);
    expect(await count("Group")).toBe(2);
    expect(await count("User")).toBe(1);
    const id = (i: number) => (r.body.Operations[i].location as string).split("/").pop()!;
    // Each group is the other's member, as the RFC's example wants.
    const members = async (groupId: string) => ((await call("GET", `/Groups/${groupId}`)).body.members as J[]).map((m) => m.value);
    expect(await members(id(0))).toEqual([id(1)]);
    expect(await members(id(1))).toEqual([id(0)]);
    // The version reported is the resource's after the references were added.
    const stored = await store.get({ tenant: "t1" }, "Group", id(1));
    expect(r.body.Operations[1].version).toBe(`W/"${stored!.version}"`);
  });

  it("members need a value, and a group cannot contain itself", async () => {
    const { call, createGroup } = setup();
    const noValue = await call("POST", "/Groups", { displayName: "N", members: [{ display: "nobody" }] });
    expect(noValue.status).toBe(400);
    expect(noValue.body.detail).not.toContain("undefined");
    const group = await createGroup();
    const self = await call("PUT", `/Groups/${group.id}`, { displayName: group.displayName, members: [{ value: group.id }] });
    expect(self.status).toBe(400);
    expect(self.body.scimType).toBe("invalidValue");
    const selfPatch = await call("PATCH", `/Groups/${group.id}`, patch({ op: "replace", path: "members", value: [{ value: group.id }] }));
    expect(selfPatch.status).toBe(400);
  });

  it("bulk disabled: /Bulk is 501 and ServiceProviderConfig says so", async () => {
    const { call } = setup({ bulk: { enabled: false } });
    expect((await call("GET", "/ServiceProviderConfig")).body.bulk.supported).toBe(false);
    const r = await call("POST", "/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [] });
    expect(r.status).toBe(501);
  });

  it("POST /.search pages across resource types beyond maxCount", async () => {
    const { call, createUser, createGroup } = setup({ paging: { defaultCount: 5, maxCount: 5 } });
    for (let i = 0; i < 6; i++) await createUser({ displayName: "Everyone" });
    for (let i = 0; i < 6; i++) await createGroup({ displayName: `Everyone ${i}` });
    const search = (startIndex: number, count: number) =>
      call("POST", "/.search", { schemas: [SEARCH_REQUEST_SCHEMA], filter: 'displayName sw "Everyone"', startIndex, count });
    const seen: string[] = [];
    for (let start = 1; start <= 12; start += 5) {
      const page = await search(start, 5);
      expect(page.status).toBe(200);
      expect(page.body.totalResults).toBe(12);
      expect(page.body.startIndex).toBe(start);
      seen.push(...page.body.Resources.map((r: J) => r.id));
    }
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
    expect((await search(1, 0)).body).toMatchObject({ totalResults: 12, itemsPerPage: 0, Resources: [] });
  });

  it("filters on members.$ref and groups.$ref see the $ref the server returns", async () => {
    const { call, createUser, createGroup } = setup();
    const user = await createUser();
    const group = await createGroup({ members: [{ value: user.id }] });
    await createGroup();
    const q = (s: string) => encodeURIComponent(s);
    expect((await call("GET", `/Groups?filter=${q('members.$ref co "/Users/"')}`)).body.Resources.map((g: J) => g.id)).toEqual([group.id]);
    expect((await call("GET", `/Groups?filter=${q("members[$ref pr]")}`)).body.totalResults).toBe(1);
    expect((await call("GET", `/Users?filter=${q("groups.$ref pr")}`)).body.Resources.map((u: J) => u.id)).toEqual([user.id]);
  });

  it("PATCH that changes nothing keeps the version and emits nothing", async () => {
    const { call, createUser, events } = setup();
    const user = await createUser({ title: "Same" });
    events.length = 0;
    const r = await call("PATCH", `/Users/${user.id}`, patch({ op: "replace", path: "title", value: "Same" }));
    expect(r.status).toBe(200);
    expect(r.body.meta.version).toBe(user.meta.version);
    expect(events).toEqual([]);
  });

  it("the ETag of a 204 PATCH is the new version", async () => {
    const { call, createGroup } = setup();
    const group = await createGroup();
    const r = await call("PATCH", `/Groups/${group.id}`, patch({ op: "replace", path: "displayName", value: "Renamed" }));
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    const got = await call("GET", `/Groups/${group.id}`);
    expect(r.headers.ETag).toBe(got.body.meta.version);
    expect(r.headers.ETag).not.toBe(group.meta.version);
  });
});

describe("createScimServer: bulk (RFC 7644 §3.7)", () => {
  const BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
  const bulkBody = (Operations: unknown[], extra: J = {}) => ({ schemas: [BULK], ...extra, Operations });
  const statuses = (r: { body: J }) => r.body.Operations.map((o: J) => o.status);

  it("order: an operation that refers to a later POST runs when its turn comes, after that POST; the rest keeps request order", async () => {
    const { call, count } = setup();
    const nick = (value: string) => patch({ op: "replace", path: "nickName", value });
    const r = await call(
      "POST",
      "/Bulk",
      bulkBody([
        { method: "PATCH", path: "/Users/bulkId:u", data: nick("A") },
        { method: "POST", path: "/Users", bulkId: "u", data: { userName: "order@example.com" } },
        { method: "PATCH", path: "/Users/bulkId:u", data: nick("B") },
      ]),
    );
    expect(r.status).toBe(200);
    expect(r.body.Operations.map((o: J) => `${o.method} ${o.status}`)).toEqual(["PATCH 200", "POST 201", "PATCH 200"]);
    const id = r.body.Operations[1].location.split("/").pop();
    // The POST ran once, before the first PATCH; the second PATCH ran last.
    expect(await count("User")).toBe(1);
    expect((await call("GET", `/Users/${id}`)).body.nickName).toBe("B");
  });

  it("order: the POSTs an operation depends on run first, depth-first, before later operations", async () => {
    const { call, events } = setup();
    const r = await call(
      "POST",
      "/Bulk",
      bulkBody([
        { method: "POST", path: "/Groups", bulkId: "outer", data: { displayName: "outer", members: [{ value: "bulkId:inner" }] } },
        { method: "POST", path: "/Groups", bulkId: "inner", data: { displayName: "inner", members: [{ value: "bulkId:u" }] } },
        { method: "POST", path: "/Users", bulkId: "u", data: { userName: "nested@example.com" } },
        { method: "DELETE", path: "/Groups/bulkId:inner" },
      ]),
    );
    expect(r.status).toBe(200);
    expect(r.body.Operations.map((o: J) => o.bulkId ?? o.method)).toEqual(["outer", "inner", "u", "DELETE"]);
    expect(statuses(r)).toEqual(["201", "201", "201", "204"]);
    const [outer, inner, user] = r.body.Operations.map((o: J) => o.location.split("/").pop());
    expect(r.body.Operations[3].location).toBe(`https://scim.example.com/scim/v2/Groups/${inner}`);
    const created = events.filter((e) => e.type === "group.created" || e.type === "user.created" || e.type === "group.deleted").map((e) => `${e.type} ${e.resourceId}`);
    expect(created).toEqual([`user.created ${user}`, `group.created ${inner}`, `group.created ${outer}`, `group.deleted ${inner}`]);
  });

  it("references: a failed POST, a non-POST bulkId and an unknown bulkId each say what happened (409); a cycle is resolved, and a self-reference fails as the PATCH that resolves it does", async () => {
    const { call, createUser, count } = setup();
    const user = await createUser();
    const r = await call(
      "POST",
      "/Bulk",
      bulkBody([
        { method: "POST", path: "/Users", bulkId: "bad", data: { displayName: "no userName" } },
        { method: "POST", path: "/Groups", bulkId: "g1", data: { displayName: "G1", members: [{ value: "bulkId:bad" }] } },
        { method: "PATCH", path: `/Users/${user.id}`, bulkId: "p", data: patch({ op: "replace", path: "title", value: "T" }) },
        { method: "POST", path: "/Groups", bulkId: "g2", data: { displayName: "G2", members: [{ value: "bulkId:p" }] } },
        { method: "PATCH", path: "/Groups/bulkId:nope", data: patch({ op: "replace", path: "displayName", value: "x" }) },
        { method: "POST", path: "/Groups", bulkId: "c1", data: { displayName: "C1", members: [{ value: "bulkId:c2" }] } },
        { method: "POST", path: "/Groups", bulkId: "c2", data: { displayName: "C2", members: [{ value: "bulkId:c1" }] } },
        { method: "POST", path: "/Groups", bulkId: "self", data: { displayName: "Self", members: [{ value: "bulkId:self" }] } },
      ]),
    );
    expect(r.status).toBe(200);
    expect(statuses(r)).toEqual(["400", "409", "200", "409", "409", "201", "201", "400"]);
    const details = r.body.Operations.map((o: J) => o.response?.detail);
    expect(details[1]).toBe("bulkId 'bad' refers to an operation that failed");
    expect(details[3]).toBe("bulkId 'p' does not refer to a POST operation");
    expect(details[4]).toBe("unknown bulkId 'nope'");
    // A group cannot contain itself: the group exists, without the member, and its location says where.
    expect(r.body.Operations[7].response).toMatchObject({ status: "400", scimType: "invalidValue" });
    expect(r.body.Operations[7].location).toMatch(/\/Groups\/[0-9a-f-]+$/);
    for (const i of [1, 3, 4]) expect(r.body.Operations[i].response).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "409" });
    expect(await count("Group")).toBe(3);
  });

  it("an operation that refers to a cycle runs after it; when the cycle cannot be resolved, the POST that waited reports why and failOnErrors counts it", async () => {
    const { call, count } = setup();
    const ops = [
      { method: "POST", path: "/Groups", bulkId: "x", data: { displayName: "X", members: [{ value: "bulkId:c1" }] } },
      { method: "POST", path: "/Groups", bulkId: "c1", data: { displayName: "C1", members: [{ value: "bulkId:c2" }] } },
      { method: "POST", path: "/Groups", bulkId: "c2", data: { displayName: "C2", members: [{ value: "bulkId:c1" }] } },
      { method: "POST", path: "/Users", bulkId: "u", data: { userName: "after-cycle@example.com" } },
    ];
    const all = await call("POST", "/Bulk", bulkBody(ops));
    expect(statuses(all)).toEqual(["201", "201", "201", "201"]);
    // c1 cannot be created (a displayName taken): c2, created without it, reports the failed reference.
    await call("PATCH", `/Groups/${(all.body.Operations[1].location as string).split("/").pop()}`, patch({ op: "replace", path: "displayName", value: "Taken" }));
    const clash = ops.map((o) => ({ ...o, bulkId: `${o.bulkId}-2`, data: JSON.parse(JSON.stringify(o.data).replace(/bulkId:(\w+)/g, "bulkId:$1-2").replace('"C1"', '"Taken"').replace('"X"', '"X2"').replace('"C2"', '"C2b"').replace("after-cycle@", "after-cycle-2@")) }));
    const failed = await call("POST", "/Bulk", bulkBody(clash));
    expect(failed.body.Operations.map((o: J) => o.response?.detail ?? o.status)).toEqual([
      "bulkId 'c1-2' refers to an operation that failed",
      expect.stringMatching(/displayName 'taken' already exists/i),
      "bulkId 'c1-2' refers to an operation that failed",
      "201",
    ]);
    expect(failed.body.Operations[2].location).toMatch(/\/Groups\//);
    expect(await count("Group")).toBe(4);
    // c2 (created) then c1 (failed) run first, on behalf of x: with failOnErrors 1 nothing else runs.
    const stopped = await call("POST", "/Bulk", bulkBody(clash.map((o) => ({ ...o, bulkId: `${o.bulkId}-3`, data: JSON.parse(JSON.stringify(o.data).replace(/bulkId:([\w-]+)/g, "bulkId:$1-3").replace('"C2b"', '"C2c"')) })), { failOnErrors: 1 }));
    // c2, created without its member c1 before the job stopped, says it did not get it.
    expect(stopped.body.Operations.map((o: J) => [o.bulkId, o.status, o.response?.detail])).toEqual([
      ["c1-2-3", "409", expect.stringMatching(/already exists/)],
      ["c2-2-3", "409", "bulkId 'c1-2-3' refers to an operation that failed"],
    ]);
    expect(stopped.body.Operations[1].location).toMatch(/\/Groups\//);
  });


  it("a failed PUT, PATCH or DELETE reports the location it targeted, bulkId references resolved; a failed POST has none", async () => {
    const { call, createUser } = setup();
    const user = await createUser();
    const missing = "00000000-0000-4000-8000-000000000000";
    const base = "https://scim.example.com/scim/v2";
    const r = await call(
      "POST",
      "/Bulk",
      bulkBody([
        { method: "PUT", path: `/Users/${user.id}`, version: 'W/"999"', data: { userName: user.userName, nickName: "n" } },
        { method: "PATCH", path: `/Users/${missing}`, data: patch({ op: "replace", path: "title", value: "T" }) },
        { method: "POST", path: "/Users", bulkId: "u", data: { userName: "located@example.com" } },
        { method: "DELETE", path: "/Users/bulkId:u", version: 'W/"999"' },
        { method: "POST", path: "/Users", bulkId: "dup", data: { userName: user.userName } },
      ]),
    );
    expect(statuses(r)).toEqual(["412", "404", "201", "412", "409"]);
    const created = r.body.Operations[2].location;
    expect(r.body.Operations.map((o: J) => o.location)).toEqual([`${base}/Users/${user.id}`, `${base}/Users/${missing}`, created, created, undefined]);
    expect(r.body.Operations[0].response).toMatchObject({ status: "412" });
  });

  it("maxPayloadSize applies to a body the host already parsed (its JSON size), and to a raw one", async () => {
    const { call, count } = setup({ bulk: { maxPayloadSize: 1000 } });
    const post = (i: number) => ({ method: "POST", path: "/Users", bulkId: `u${i}`, data: { userName: `user${i}@example.com`, title: "t".repeat(100) } });
    const big = bulkBody(Array.from({ length: 30 }, (_, i) => post(i)));
    expect(JSON.stringify(big).length).toBeGreaterThan(5000);
    for (const body of [big, JSON.stringify(big)]) {
      const r = await call("POST", "/Bulk", body);
      expect(r.status).toBe(413);
      expect(r.body.detail).toContain("maxPayloadSize (1000 bytes)");
    }
    expect(await count("User")).toBe(0);
    // The size is the UTF-8 length of the serialization: multi-byte characters count as such.
    const wide = bulkBody([{ ...post(0), data: { userName: "wide@example.com", title: "é".repeat(450) } }]);
    expect(JSON.stringify(wide).length).toBeLessThan(1000);
    expect((await call("POST", "/Bulk", wide)).status).toBe(413);
    const small = await call("POST", "/Bulk", bulkBody([post(1)]));
    expect(small.status).toBe(200);
    expect(statuses(small)).toEqual(["201"]);
  });

  it("a parsed bulk body JSON cannot represent (a cycle, a BigInt) is 400 invalidSyntax, not a 413 or a 500", async () => {
    const { call } = setup();
    const cyclic: J = bulkBody([]);
    cyclic.self = cyclic;
    for (const body of [cyclic, bulkBody([{ method: "DELETE", path: "/Users/1", n: 10n }])]) {
      const r = await call("POST", "/Bulk", body);
      expect(r.status).toBe(400);
      expect(r.body.scimType).toBe("invalidSyntax");
    }
  });

  it("a cycle through URN-qualified attributes, a bulkId in a PATCH value filter, and a deferral that fails say what happened", async () => {
    const { call } = setup();
    const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
    const r = await call(
      "POST",
      "/Bulk",
      bulkBody([
        { method: "POST", path: "/Users", bulkId: "x", data: { schemas: [USER, ENT], userName: "ux@example.com", [`${ENT}:manager`]: { value: "bulkId:y" } } },
        { method: "POST", path: "/Users", bulkId: "y", data: { schemas: [USER, ENT], userName: "uy@example.com", [`${ENT}:manager`]: { value: "bulkId:x" }, [`${ENT}:department`]: "Dy" } },
        { method: "POST", path: "/Groups", bulkId: "g", data: { displayName: "With both", members: [{ value: "bulkId:x" }, { value: "bulkId:y" }] } },
        { method: "PATCH", path: "/Groups/bulkId:g", data: patch({ op: "remove", path: 'members[value eq "bulkId:x"]' }) },
      ]),
    );
    expect(statuses(r)).toEqual(["201", "201", "201", "204"]);
    const id = (i: number) => (r.body.Operations[i].location as string).split("/").pop()!;
    expect((await call("GET", `/Users/${id(0)}`)).body[ENT].manager.value).toBe(id(1));
    expect((await call("GET", `/Users/${id(1)}`)).body[ENT]).toMatchObject({ manager: { value: id(0) }, department: "Dy" });
    // The filter's bulkId was resolved: x left the group, y stayed.
    expect(((await call("GET", `/Groups/${id(2)}`)).body.members as J[]).map((m) => m.value)).toEqual([id(1)]);

    // A POST that cannot be created without the value it deferred says why (it did send a userName).
    const failed = await call(
      "POST",
      "/Bulk",
      bulkBody([
        { method: "POST", path: "/Groups", bulkId: "b", data: { displayName: "Needs a", members: [{ value: "bulkId:a" }] } },
        { method: "POST", path: "/Users", bulkId: "a", data: { userName: "bulkId:b" } },
      ]),
    );
    expect(failed.body.Operations[1].response.detail).toMatch(/required.*created without its values that name bulkId 'b'/);
  });

  it("an operation on /Bulk, on a search, or with a query string is 400 invalidPath; nothing runs", async () => {
    const { call, createUser, count } = setup();
    const user = await createUser();
    const search = { schemas: [SEARCH_REQUEST_SCHEMA], filter: 'userName pr' };
    const r = await call(
      "POST",
      "/Bulk",
      bulkBody([
        { method: "POST", path: "/Bulk", bulkId: "b", data: bulkBody([{ method: "DELETE", path: `/Users/${user.id}` }]) },
        { method: "DELETE", path: "/Bulk/x" },
        { method: "POST", path: "/Users/.search", bulkId: "s1", data: search },
        { method: "POST", path: "/.search", bulkId: "s2", data: search },
        { method: "DELETE", path: `/Users/${user.id}?attributes=id` },
        { method: "PATCH", path: `/Users/${user.id}?x=1`, data: patch({ op: "replace", path: "title", value: "T" }) },
      ]),
    );
    expect(r.status).toBe(200);
    expect(statuses(r)).toEqual(["400", "400", "400", "400", "400", "400"]);
    for (const o of r.body.Operations) {
      expect(o.response.scimType).toBe("invalidPath");
      expect(o.location).toBeUndefined();
    }
    expect(r.body.Operations[0].response.detail).toMatch(/\/Bulk/);
    expect(r.body.Operations[2].response.detail).toMatch(/search/);
    expect(r.body.Operations[4].response.detail).toMatch(/query/);
    expect(await count("User")).toBe(1);
    expect((await call("GET", `/Users/${user.id}`)).body.title).toBeUndefined();
  });
});

describe("createScimServer: fetch", () => {
  it("strips basePath only at a segment boundary and sends 204 without a body", async () => {
    const server = createScimServer({ ...base(), basePath: "/scim/v2/" });
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/scim+json" };
    const ok = await server.fetch(new Request("https://x.example/scim/v2/Users?count=1", { headers }));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("application/scim+json");
    const other = await server.fetch(new Request("https://x.example/scim/v2x/Users", { headers }));
    expect(other.status).toBe(404);
    const created = (await (await server.fetch(new Request("https://x.example/scim/v2/Groups", { method: "POST", headers, body: JSON.stringify({ displayName: "G" }) }))).json()) as J;
    const patched = await server.fetch(
      new Request(`https://x.example/scim/v2/Groups/${created.id}`, { method: "PATCH", headers, body: JSON.stringify(patch({ op: "replace", path: "displayName", value: "H" })) }),
    );
    expect(patched.status).toBe(204);
    expect(await patched.text()).toBe("");
  });
});

describe("createScimServer: hooks", () => {
  it("beforeCreate transforms the resource", async () => {
    const seen: J[] = [];
    const hooks: ScimHooks = {
      beforeCreate(ctx, resource) {
        seen.push({ tenant: ctx.principal.tenant, type: ctx.resourceType, storeTenant: ctx.storeContext.tenant });
        return { ...resource, title: "Hooked", userName: String(resource.userName).toLowerCase() };
      },
    };
    const { call, stored } = setup({ hooks });
    const r = await call("POST", "/Users", { userName: "MiXeD@Example.com" });
    expect(r.status).toBe(201);
    expect(r.body.title).toBe("Hooked");
    expect(r.body.userName).toBe("mixed@example.com");
    expect(stored("User", r.body.id)?.attributes).toMatchObject({ title: "Hooked", userName: "mixed@example.com" });
    expect(seen).toEqual([{ tenant: "t1", type: "User", storeTenant: "t1" }]);
  });

  it("beforeCreate throwing a ScimError refuses with that error and stores nothing", async () => {
    const { call, count, events } = setup({
      hooks: {
        beforeCreate() {
          throw new ScimError(403, undefined, "provisioning is paused");
        },
      },
    });
    const r = await call("POST", "/Users", { userName: "refused@example.com" });
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ status: "403", detail: "provisioning is paused" });
    expect(await count("User")).toBe(0);
    expect(events).toEqual([]);
  });

  it("afterCreate throwing rolls the create back", async () => {
    const onError = vi.fn();
    const { call, count, events } = setup({
      onError,
      hooks: {
        afterCreate(_ctx, resource) {
          expect(resource.id).toBeTypeOf("string");
          throw new Error("audit log is down");
        },
      },
    });
    const r = await call("POST", "/Users", { userName: "rolled@example.com" });
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain("audit log");
    expect(onError).toHaveBeenCalledOnce();
    expect(await count("User")).toBe(0);
    // The userName is free again.
    const list = await call("GET", '/Users?filter=userName eq "rolled@example.com"');
    expect(list.body.totalResults).toBe(0);
    expect(events).toEqual([]); // subscribers run after the after-hook
  });

  it("afterCreate throwing a ScimError answers with it and rolls back a group with members", async () => {
    const { call, createUser, count } = setup({
      hooks: {
        afterCreate(ctx) {
          if (ctx.resourceType === "Group") throw new ScimError(409, "uniqueness", "taken elsewhere");
        },
      },
    });
    const user = await createUser();
    const r = await call("POST", "/Groups", { displayName: "G", members: [{ value: user.id }] });
    expect(r.status).toBe(409);
    expect(await count("Group")).toBe(0);
    expect((await call("GET", `/Users/${user.id}`)).body.groups).toBeUndefined();
  });

  it("beforeReplace transforms; afterReplace sees both versions; throwing rolls back", async () => {
    const after: Array<[J, J]> = [];
    let fail = false;
    const { call, createUser, stored } = setup({
      hooks: {
        beforeReplace(_ctx, next, current) {
          expect(current.id).toBeTypeOf("string");
          return { ...next, nickName: `was ${current.title}` };
        },
        afterReplace(_ctx, resource, previous) {
          after.push([resource, previous]);
          if (fail) throw new Error("downstream refused");
        },
      },
    });
    const user = await createUser({ title: "Old" });
    const r = await call("PUT", `/Users/${user.id}`, { userName: user.userName, title: "New" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ title: "New", nickName: "was Old" });
    expect(after[0]![0].title).toBe("New");
    expect(after[0]![1].title).toBe("Old");
    fail = true;
    const failed = await call("PUT", `/Users/${user.id}`, { userName: user.userName, title: "Newer" });
    expect(failed.status).toBe(500);
    expect(stored("User", user.id)?.attributes.title).toBe("New");
    expect(stored("User", user.id)?.version).toBe(2);
  });

  it("beforePatch can change the operations; afterPatch throwing rolls back attributes and members", async () => {
    let fail = false;
    const afterPatch = vi.fn((_ctx, _resource: J, _previous: J) => {
      if (fail) throw new ScimError(422, undefined, "not now");
    });
    const { call, createUser, createGroup, stored } = setup({
      hooks: {
        beforePatch(_ctx, operations) {
          return operations.filter((op) => op.path !== "nickName");
        },
        afterPatch: afterPatch as ScimHooks["afterPatch"],
      },
    });
    const user = await createUser({ title: "A" });
    const r = await call("PATCH", `/Users/${user.id}`, patch({ op: "replace", path: "title", value: "B" }, { op: "replace", path: "nickName", value: "dropped" }));
    expect(r.status).toBe(200);
    expect(r.body.title).toBe("B");
    expect(r.body.nickName).toBeUndefined();
    expect(afterPatch.mock.calls[0]![1].title).toBe("B");
    expect(afterPatch.mock.calls[0]![2].title).toBe("A");

    const member = await createUser();
    const group = await createGroup({ displayName: "Before" });
    fail = true;
    const failed = await call("PATCH", `/Groups/${group.id}`, patch({ op: "replace", path: "displayName", value: "After" }, { op: "add", path: "members", value: [{ value: member.id }] }));
    expect(failed.status).toBe(422);
    const raw = stored("Group", group.id)!;
    expect(raw.attributes.displayName).toBe("Before");
    expect(raw.members ?? []).toEqual([]);
    expect(raw.version).toBe(1);
  });

  it("revalidate starts a PATCH or PUT over when a before-hook decided on a version another request replaced meanwhile", async () => {
    let gate: Promise<void> | undefined;
    const seenByPatch: unknown[] = [];
    const seenByReplace: unknown[] = [];
    const { call, createUser } = setup({
      hooks: {
        async beforePatch(_ctx, operations, current) {
          seenByPatch.push(current.active);
          const waiting = gate;
          gate = undefined;
          await waiting;
          return operations;
        },
        async beforeReplace(_ctx, _next, current) {
          seenByReplace.push(current.active);
          const waiting = gate;
          gate = undefined;
          await waiting;
        },
        revalidate: (_ctx, seen, latest) => seen.active !== latest.active,
      },
    });
    for (const method of ["PATCH", "PUT"] as const) {
      const user = await createUser({ active: false, title: "x" });
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      // The deactivation's hook sees the inactive user and waits; a reactivation lands meanwhile.
      const deactivation = method === "PATCH"
        ? call("PATCH", `/Users/${user.id}`, patch({ op: "replace", value: { active: false, title: "off" } }))
        : call("PUT", `/Users/${user.id}`, { schemas: [USER_SCHEMA_ID], userName: user.userName, active: false, title: "off" });
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await call("PATCH", `/Users/${user.id}`, patch({ op: "replace", path: "active", value: true }))).status).toBe(200);
      release();
      const answered = await deactivation;
      expect(answered.status).toBe(200);
      expect(answered.body).toMatchObject({ active: false, title: "off" });
    }
    // Each deactivation's hook ran again, on the active user it then applied to; the reactivations'
    // once each (nothing came in between).
    expect(seenByPatch).toEqual([false, false, true, false]);
    expect(seenByReplace).toEqual([false, true]);

    // Without revalidate (or when it says no), the write applies to the latest version as before.
    const plain = setup({ hooks: { revalidate: () => false } });
    const user = await plain.createUser({ active: false });
    expect((await plain.call("PATCH", `/Users/${user.id}`, patch({ op: "replace", path: "active", value: true }))).status).toBe(200);
  });

  it("beforeDelete can refuse; afterDelete throwing rolls the delete back", async () => {
    let mode: "refuse" | "fail" | "ok" = "refuse";
    const afterDelete = vi.fn();
    const { call, createUser, stored } = setup({
      hooks: {
        beforeDelete(_ctx, current) {
          if (mode === "refuse") throw new ScimError(403, undefined, `keep ${current.userName}`);
        },
        afterDelete(ctx, previous) {
          afterDelete(previous.id);
          if (mode === "fail") throw new Error("boom");
        },
      },
    });
    const user = await createUser();
    const refused = await call("DELETE", `/Users/${user.id}`);
    expect(refused.status).toBe(403);
    expect(stored("User", user.id)).toBeDefined();
    mode = "fail";
    expect((await call("DELETE", `/Users/${user.id}`)).status).toBe(500);
    expect(stored("User", user.id)).toBeDefined();
    expect((await call("GET", `/Users/${user.id}`)).status).toBe(200);
    mode = "ok";
    expect((await call("DELETE", `/Users/${user.id}`)).status).toBe(204);
    expect(stored("User", user.id)).toBeUndefined();
    expect(afterDelete).toHaveBeenCalledTimes(2);
  });

  it("hooks inside the unit of work can use ctx.store", async () => {
    const { call } = setup({
      hooks: {
        async afterCreate(ctx, resource) {
          const again = await ctx.store.get(ctx.storeContext, ctx.resourceType, resource.id);
          expect(again?.id).toBe(resource.id);
        },
      },
    });
    expect((await call("POST", "/Users", { userName: "ctx@example.com" })).status).toBe(201);
  });
});

describe("createScimServer: events", () => {
  const types = (events: ScimEvent[]) => events.map((e) => e.type);

  it("user events: created, updated, deactivated, reactivated, deleted, without the password", async () => {
    const { call, events } = setup();
    const created = await call("POST", "/Users", { userName: "ev@example.com", password: "hunter2-secret", active: true });
    const id = created.body.id;
    await call("PATCH", `/Users/${id}`, patch({ op: "replace", path: "title", value: "T" }));
    await call("PATCH", `/Users/${id}`, patch({ op: "replace", value: { active: false } }));
    await call("PATCH", `/Users/${id}`, patch({ op: "Replace", path: "active", value: "True" }));
    await call("PUT", `/Users/${id}`, { userName: "ev@example.com", active: false });
    await call("PUT", `/Users/${id}`, { userName: "ev@example.com", active: true, password: "another-secret" });
    await call("PUT", `/Users/${id}`, { userName: "ev@example.com", title: "again" });
    await call("DELETE", `/Users/${id}`);
    expect(types(events)).toEqual([
      "user.created",
      "user.updated",
      "user.deactivated",
      "user.reactivated",
      "user.deactivated",
      "user.reactivated",
      "user.updated",
      "user.deleted",
    ]);
    for (const e of events) {
      expect(e).toMatchObject({ tenant: "t1", resourceType: "User", resourceId: id });
      expect(e.id).toBeTypeOf("string");
      expect(Number.isNaN(Date.parse(e.occurredAt))).toBe(false);
      expect(e.resource?.id).toBe(id);
      expect(e.resource?.password).toBeUndefined();
    }
    expect(JSON.stringify(events)).not.toMatch(/hunter2|another-secret/);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events[2]!.resource?.active).toBe(false);
    expect(events[7]!.resource?.userName).toBe("ev@example.com");
  });

  it("group events: created, user_added and user_removed with the member, updated, deleted", async () => {
    const { call, createUser, events } = setup();
    const [a, b, c] = [await createUser(), await createUser(), await createUser()];
    events.length = 0;
    const group = (await call("POST", "/Groups", { displayName: "Ops", members: [{ value: a.id }] })).body;
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "add", path: "members", value: [{ value: b.id }, { value: a.id }] }));
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "remove", path: `members[value eq "${a.id}"]` }));
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "replace", path: "members", value: [{ value: c.id }] }));
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "replace", path: "displayName", value: "Ops 2" }));
    await call("PUT", `/Groups/${group.id}`, { displayName: "Ops 3", members: [{ value: a.id }, { value: c.id }] });
    await call("DELETE", `/Groups/${group.id}`);
    const summary = events.map((e) => `${e.type}${e.member ? ` ${e.member.value}` : ""}`);
    expect(summary).toEqual([
      "group.created",
      `group.user_added ${a.id}`,
      `group.user_added ${b.id}`,
      `group.user_removed ${a.id}`,
      `group.user_removed ${b.id}`,
      `group.user_added ${c.id}`,
      "group.updated",
      "group.updated",
      `group.user_added ${a.id}`,
      "group.deleted",
    ]);
    for (const e of events) expect(e).toMatchObject({ tenant: "t1", resourceType: "Group", resourceId: group.id });
    const added = events.find((e) => e.type === "group.user_added")!;
    expect(added.member).toMatchObject({ value: a.id, type: "User", display: a.userName });
    // A member removed by id alone is described as an added one is: a consumer tells a user from a group.
    const removed = events.find((e) => e.type === "group.user_removed")!;
    expect(removed.member).toEqual({ value: a.id, type: "User", display: a.userName });
    expect(events[0]!.resource?.displayName).toBe("Ops");
    expect(events.at(-1)!.resource?.displayName).toBe("Ops 3");
  });

  it.each([
    ["a store with membersAmong (one question for all members)", true],
    ["a store without it (groupsOf of each member)", false],
  ])("membership events are the net change of a whole PATCH, its operations in order (RFC 7644 §3.5.2): %s", async (_name, withMembersAmong) => {
    const store = memoryStore();
    let groupsOfCalls = 0;
    // Without transactions, so that the PATCH asks this store (a transaction's store is the inner one).
    const { membersAmong, transaction: _transaction, ...rest } = store;
    const watched: ScimStore = { ...rest, groupsOf: (ctx, id) => (groupsOfCalls++, store.groupsOf(ctx, id)), ...(withMembersAmong ? { membersAmong } : {}) };
    const { call, createUser, createGroup, events } = setup({ store: watched }, store);
    const [a, b, c] = [await createUser(), await createUser(), await createUser()];
    const group = await createGroup({ members: [{ value: a.id }] });
    const members = async () => ((await call("GET", `/Groups/${group.id}`)).body.members as J[]).map((m) => m.value).sort();
    events.length = 0;
    groupsOfCalls = 0;
    // Okta: remove by filter then add again; Entra: Remove with a value array then Add.
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "remove", path: `members[value eq "${a.id}"]` }, { op: "add", path: "members", value: [{ value: a.id }] }));
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "Remove", path: "members", value: [{ value: a.id }] }, { op: "Add", path: "members", value: [{ value: a.id }] }));
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "replace", path: "members", value: [] }, { op: "add", path: "members", value: [{ value: a.id }] }));
    // Added and removed again within the request: never a member.
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "add", path: "members", value: [{ value: b.id }] }, { op: "remove", path: `members[value eq "${b.id}"]` }));
    expect(events.map((e) => e.type)).toEqual([]);
    expect(await members()).toEqual([a.id]);
    // A real change among them: only it.
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "remove", path: `members[value eq "${a.id}"]` }, { op: "add", path: "members", value: [{ value: a.id }, { value: c.id }] }));
    expect(events.map((e) => `${e.type} ${e.member?.value}`)).toEqual([`group.user_added ${c.id}`]);
    expect(events[0]!.member).toMatchObject({ value: c.id, type: "User" });
    events.length = 0;
    await call("PATCH", `/Groups/${group.id}`, patch({ op: "add", path: "members", value: [{ value: b.id }] }, { op: "replace", path: "members", value: [{ value: b.id }] }));
    expect(events.map((e) => `${e.type} ${e.member?.value}`).sort()).toEqual([`group.user_added ${b.id}`, `group.user_removed ${a.id}`, `group.user_removed ${c.id}`].sort());
    expect(await members()).toEqual([b.id]);
    if (withMembersAmong) expect(groupsOfCalls).toBe(0);
    else expect(groupsOfCalls).toBeGreaterThan(0);
  });

  it.each([
    ["a store with groupsOfMany (one question for the page)", true],
    ["a store without it (groupsOf of each user)", false],
  ])("a list page shows each user's groups (RFC 7643 §4.1.2): %s", async (_name, withGroupsOfMany) => {
    const store = memoryStore();
    const calls = { groupsOf: 0, groupsOfMany: 0 };
    const { groupsOfMany, ...rest } = store;
    const watched: ScimStore = {
      ...rest,
      groupsOf: (ctx, id) => (calls.groupsOf++, store.groupsOf(ctx, id)),
      ...(withGroupsOfMany ? { groupsOfMany: (ctx, ids) => (calls.groupsOfMany++, groupsOfMany!(ctx, ids)) } : {}),
    };
    const { call, createUser, createGroup } = setup({ store: watched }, store);
    const users = [await createUser(), await createUser(), await createUser()];
    const ops = await createGroup({ displayName: "Ops", members: [{ value: users[0].id }, { value: users[1].id }] });
    const sales = await createGroup({ displayName: "Sales", members: [{ value: users[1].id }] });
    calls.groupsOf = calls.groupsOfMany = 0;
    const page = (await call("GET", "/Users?count=10")).body;
    const groupsById = new Map((page.Resources as J[]).map((u) => [u.id, ((u.groups ?? []) as J[]).map((g) => g.display).sort()]));
    expect(groupsById).toEqual(new Map([[users[0].id, ["Ops"]], [users[1].id, ["Ops", "Sales"]], [users[2].id, []]]));
    const sample = (page.Resources as J[]).find((u) => u.id === users[0].id)!;
    expect(sample.groups).toEqual([{ value: ops.id, display: "Ops", type: "direct", $ref: expect.stringMatching(new RegExp(`/Groups/${ops.id}$`)) }]);
    expect(calls).toEqual(withGroupsOfMany ? { groupsOf: 0, groupsOfMany: 1 } : { groupsOf: 3, groupsOfMany: 0 });
    // Without groups in the answer, no question about them.
    calls.groupsOf = calls.groupsOfMany = 0;
    expect(((await call("GET", "/Users?attributes=userName")).body.Resources as J[]).every((u) => u.groups === undefined)).toBe(true);
    expect(calls).toEqual({ groupsOf: 0, groupsOfMany: 0 });
    expect(sales.id).toBeDefined();
  });

  it("a sort and a filter by the derived groups ask the store once per chunk (groupsOfMany), and a blocking store's other requests are served between its chunks", async () => {
    const store = memoryStore();
    const calls = { groupsOf: 0, groupsOfMany: 0 };
    const { groupsOfMany, ...rest } = store;
    // A store whose queries hold the server's thread (as SQLite's do).
    const watched: ScimStore = {
      ...rest,
      capabilities: { ...store.capabilities, blocking: true },
      groupsOf: (ctx, id) => (calls.groupsOf++, store.groupsOf(ctx, id)),
      groupsOfMany: (ctx, ids) => (calls.groupsOfMany++, groupsOfMany!(ctx, ids)),
    };
    const { call, createGroup } = setup({ store: watched }, store);
    // 2,500 users: ten chunks of the server's scan (250 each from a blocking store).
    const ids: string[] = [];
    for (let i = 0; i < 2500; i++) ids.push((await store.create({ tenant: "t1" }, "User", { attributes: { schemas: [USER_SCHEMA_ID], userName: `user${i}@example.com` }, uniqueKeys: [] })).id);
    await createGroup({ displayName: "Alpha", members: [{ value: ids[2400] }] });
    await createGroup({ displayName: "Beta", members: [{ value: ids[7] }, { value: ids[2400] }] });
    calls.groupsOf = calls.groupsOfMany = 0;
    let turns = 0;
    let listing = true;
    const spin = () => {
      turns++;
      if (listing) setImmediate(spin);
    };
    setImmediate(spin);
    const sorted = await call("GET", "/Users?sortBy=groups.display&sortOrder=descending&count=3&attributes=userName");
    listing = false;
    expect(sorted.status).toBe(200);
    // Descending: users in no group have no value, first (missing values first descending); then Beta's, then Alpha's.
    expect((sorted.body.Resources as J[]).length).toBe(3);
    const ascending = await call("GET", "/Users?sortBy=groups.display&count=2&attributes=userName");
    expect((ascending.body.Resources as J[]).map((u) => u.id)).toEqual([ids[2400], ids[7]]);
    const filtered = await call("GET", `/Users?filter=${encodeURIComponent('groups.display eq "Beta"')}&attributes=userName`);
    expect((filtered.body.Resources as J[]).map((u) => u.id).sort()).toEqual([ids[7], ids[2400]].sort());
    expect(calls.groupsOf).toBe(0);
    // Two sorted lists of ten chunks each (memoryStore filters by groups itself).
    expect(calls.groupsOfMany).toBe(20);
    // The event loop turned between the chunks of the first list (once before it, once after each but the last chunk).
    expect(turns).toBeGreaterThanOrEqual(10);
  });

  it("a PUT that changes nothing keeps the version and emits nothing (RFC 7644 §3.14)", async () => {
    const { call, createUser, events } = setup();
    const [a, b] = [await createUser(), await createUser()];
    const user = (await call("POST", "/Users", { userName: "same@example.com", name: { givenName: "S" }, emails: [{ value: "same@example.com", primary: true }] })).body;
    const group = (await call("POST", "/Groups", { displayName: "Same", members: [{ value: a.id }, { value: b.id }] })).body;
    events.length = 0;
    const { id: _u, meta: _um, ...userBody } = user;
    const again = await call("PUT", `/Users/${user.id}`, userBody);
    expect(again.status).toBe(200);
    expect(again.headers.ETag).toBe(user.meta.version);
    expect(again.body).toEqual(user);
    const sameGroup = await call("PUT", `/Groups/${group.id}`, { displayName: "Same", members: [{ value: b.id }, { value: a.id }] });
    expect(sameGroup.headers.ETag).toBe(group.meta.version);
    expect(events).toEqual([]);
    // A change is still a change.
    const changed = await call("PUT", `/Users/${user.id}`, { ...userBody, title: "New" });
    expect(changed.headers.ETag).not.toBe(user.meta.version);
    const fewer = await call("PUT", `/Groups/${group.id}`, { displayName: "Same", members: [{ value: a.id }] });
    expect(fewer.headers.ETag).not.toBe(group.meta.version);
    expect(events.map((e) => e.type)).toEqual(["user.updated", "group.user_removed"]);
  });

  it("deleting a member emits group.user_removed for each group that listed it", async () => {
    const { call, createUser, createGroup, events } = setup();
    const user = await createUser({ displayName: "Leaver" });
    const [g1, g2] = [await createGroup({ members: [{ value: user.id }] }), await createGroup({ members: [{ value: user.id }] })];
    const nested = await createGroup();
    const outer = await createGroup({ members: [{ value: nested.id }] });
    events.length = 0;
    expect((await call("DELETE", `/Users/${user.id}`)).status).toBe(204);
    expect(events.map((e) => `${e.type} ${e.resourceType} ${e.resourceId}`).sort()).toEqual(
      [`user.deleted User ${user.id}`, `group.user_removed Group ${g1.id}`, `group.user_removed Group ${g2.id}`].sort(),
    );
    expect(events.find((e) => e.type === "group.user_removed")!.member).toEqual({ value: user.id, type: "User", display: "Leaver" });
    events.length = 0;
    expect((await call("DELETE", `/Groups/${nested.id}`)).status).toBe(204);
    // Its membership ends first, then it goes.
    expect(events.map((e) => `${e.type} ${e.resourceId}`)).toEqual([`group.user_removed ${outer.id}`, `group.deleted ${nested.id}`]);
  });

  it("membership events follow the order of the PATCH's operations (Okta's remove-then-add)", async () => {
    const { call, createUser, createGroup, events } = setup();
    const [a, b, c] = [await createUser(), await createUser(), await createUser()];
    const group = await createGroup({ members: [{ value: a.id }, { value: c.id }] });
    events.length = 0;
    await call(
      "PATCH",
      `/Groups/${group.id}`,
      patch({ op: "remove", path: `members[value eq "${a.id}"]` }, { op: "add", path: "members", value: [{ value: b.id }] }, { op: "remove", path: `members[value eq "${c.id}"]` }),
    );
    expect(events.map((e) => `${e.type} ${e.member?.value}`)).toEqual([`group.user_removed ${a.id}`, `group.user_added ${b.id}`, `group.user_removed ${c.id}`]);
  });

  it("events of the second tenant carry its tenant; subscribers get the operation context", async () => {
    const contexts: J[] = [];
    const { call, events } = setup({ subscribers: [(e, ctx) => void contexts.push({ type: e.type, tenant: ctx.principal.tenant, rt: ctx.resourceType })] });
    await call("POST", "/Users", { userName: "x@example.com" }, { token: token2 });
    expect(events).toEqual([]); // replaced by this subscriber
    expect(contexts).toEqual([{ type: "user.created", tenant: "t2", rt: "User" }]);
  });

  it("a throwing subscriber rolls the change back", async () => {
    const onError = vi.fn();
    let failOn: string | undefined = "user.created";
    const { call, count, createUser, createGroup, stored } = setup({
      onError,
      subscribers: [
        (e) => {
          if (e.type === failOn) throw new Error("broker unavailable");
        },
      ],
    });
    expect((await call("POST", "/Users", { userName: "sub@example.com" })).status).toBe(500);
    expect(await count("User")).toBe(0);
    expect(onError).toHaveBeenCalledOnce();
    failOn = "group.user_added";
    const user = await createUser();
    const group = await createGroup();
    expect((await call("PATCH", `/Groups/${group.id}`, patch({ op: "add", path: "members", value: [{ value: user.id }] }))).status).toBe(500);
    expect(stored("Group", group.id)!.members ?? []).toEqual([]);
    failOn = "user.deactivated";
    expect((await call("PATCH", `/Users/${user.id}`, patch({ op: "replace", value: { active: false } }))).status).toBe(500);
    expect(stored("User", user.id)!.attributes.active).toBeUndefined();
  });
});

describe("createScimServer: concurrency", () => {
  it("20 parallel PATCHes adding different members to one group all succeed", async () => {
    const { call, createUser, createGroup } = setup();
    const users = await Promise.all(Array.from({ length: 20 }, () => createUser()));
    const group = await createGroup();
    const replies = await Promise.all(users.map((u) => call("PATCH", `/Groups/${group.id}`, patch({ op: "add", path: "members", value: [{ value: u.id }] }))));
    expect(replies.map((r) => r.status)).toEqual(users.map(() => 204));
    const got = await call("GET", `/Groups/${group.id}`);
    expect(got.body.members.map((m: J) => m.value).sort()).toEqual(users.map((u) => u.id).sort());
  });

  it("20 parallel PATCHes setting different attributes on one user lose nothing", async () => {
    const { call, createUser } = setup();
    const user = await createUser({ schemas: [USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID] });
    const paths = [
      "name.givenName",
      "name.familyName",
      "name.middleName",
      "name.honorificPrefix",
      "name.honorificSuffix",
      "displayName",
      "nickName",
      "title",
      "userType",
      "preferredLanguage",
      "locale",
      "timezone",
      "profileUrl",
      `${ENTERPRISE_USER_SCHEMA_ID}:employeeNumber`,
      `${ENTERPRISE_USER_SCHEMA_ID}:costCenter`,
      `${ENTERPRISE_USER_SCHEMA_ID}:organization`,
      `${ENTERPRISE_USER_SCHEMA_ID}:division`,
      `${ENTERPRISE_USER_SCHEMA_ID}:department`,
    ];
    const value = (path: string) => (path === "profileUrl" ? "https://example.com/me" : path === "locale" ? "en-US" : path === "timezone" ? "Europe/Paris" : `v-${path.split(":").pop()}`);
    const requests = [
      ...paths.map((path) => patch({ op: "replace", path, value: value(path) })),
      patch({ op: "add", path: "emails", value: [{ value: "one@example.com", type: "work" }] }),
      patch({ op: "add", path: "phoneNumbers", value: [{ value: "+1 555 0100", type: "work" }] }),
    ];
    expect(requests).toHaveLength(20);
    const replies = await Promise.all(requests.map((body) => call("PATCH", `/Users/${user.id}`, body)));
    expect(replies.map((r) => r.status)).toEqual(requests.map(() => 200));
    const got = (await call("GET", `/Users/${user.id}`)).body;
    expect(got.name).toMatchObject({ givenName: "v-name.givenName", familyName: "v-name.familyName", middleName: "v-name.middleName" });
    for (const path of paths.filter((p) => !p.includes("."))) expect(got[path], path).toBe(value(path));
    expect(got[ENTERPRISE_USER_SCHEMA_ID]).toMatchObject({ employeeNumber: "v-employeeNumber", department: "v-department", division: "v-division" });
    expect(got.emails).toHaveLength(1);
    expect(got.phoneNumbers).toHaveLength(1);
    expect(got.meta.version).toBe('W/"21"');
  });

  it("20 parallel PUTs on one user all succeed, the last one wins", async () => {
    const { call, createUser } = setup();
    const user = await createUser();
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => call("PUT", `/Users/${user.id}`, { userName: user.userName, title: `t${i}` })));
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
    const got = (await call("GET", `/Users/${user.id}`)).body;
    expect(got.meta.version).toBe('W/"21"');
    expect(replies.map((r) => r.body.title)).toContain(got.title);
  });

  it("parallel PATCHes with a stale If-Match are refused, not retried", async () => {
    const { call, createUser } = setup();
    const user = await createUser();
    const replies = await Promise.all(
      ["a", "b", "c"].map((v) => call("PATCH", `/Users/${user.id}`, patch({ op: "replace", path: "title", value: v }), { headers: { "if-match": user.meta.version } })),
    );
    expect(replies.map((r) => r.status).sort()).toEqual([200, 412, 412]);
  });
});

describe("createScimServer: errors", () => {
  it("onError receives an unexpected store error; the client gets a generic 500", async () => {
    const onError = vi.fn();
    const store = memoryStore();
    const failing: ScimStore = {
      ...store,
      get: async () => {
        throw new Error("connection to db-7.internal refused: password=hunter2");
      },
    };
    const server = createScimServer({ store: failing, authenticate: auth(), baseUrl: "https://scim.example.com/scim/v2", onError });
    const request: ScimRequest = { method: "GET", path: "/Users/abc", headers: { authorization: `Bearer ${token}` } };
    const r = await server.handle(request);
    expect(r.status).toBe(500);
    expect(r.headers["Content-Type"]).toBe("application/scim+json");
    expect(r.body).toEqual({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "500", detail: "An internal error occurred" });
    expect(JSON.stringify(r.body)).not.toMatch(/db-7|hunter2/);
    expect(onError).toHaveBeenCalledOnce();
    expect((onError.mock.calls[0]![0] as Error).message).toContain("db-7");
    expect(onError.mock.calls[0]![1]).toBe(request);
  });

  it("an authenticate that throws is a 500, not a crash", async () => {
    const onError = vi.fn();
    const server = createScimServer({ ...base(), authenticate: () => Promise.reject(new Error("jwks fetch failed")), onError });
    const r = await server.handle({ method: "GET", path: "/Users" });
    expect(r.status).toBe(500);
    expect(onError).toHaveBeenCalledOnce();
  });

  it("a failing bulk operation reports a generic 500 and onError gets the cause", async () => {
    const onError = vi.fn();
    const store = memoryStore();
    const server = createScimServer({
      // Without transaction: inside one the server would use the transaction's own store.
      store: { ...store, transaction: undefined, create: async () => Promise.reject(new Error("disk full")) },
      authenticate: auth(),
      baseUrl: "https://scim.example.com/scim/v2",
      onError,
    });
    const r = await server.handle({
      method: "POST",
      path: "/Bulk",
      headers: { authorization: `Bearer ${token}` },
      body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [{ method: "POST", path: "/Users", bulkId: "a", data: { userName: "a@example.com" } }] },
    });
    expect(r.status).toBe(200);
    const op = (r.body as J).Operations[0];
    expect(op.status).toBe("500");
    expect(JSON.stringify(op)).not.toContain("disk full");
    expect(onError).toHaveBeenCalled();
  });
});

describe("createScimServer: patchStatus and /Me", () => {
  it("patchStatus switches users to 204 and groups to 200", async () => {
    const { call, createUser, createGroup } = setup({ patchStatus: { User: 204, Group: 200 } });
    const user = await createUser();
    const group = await createGroup();
    const u = await call("PATCH", `/Users/${user.id}`, patch({ op: "replace", path: "title", value: "x" }));
    expect(u.status).toBe(204);
    expect(u.body).toBeUndefined();
    expect(u.headers.ETag).toBe('W/"2"');
    const g = await call("PATCH", `/Groups/${group.id}`, patch({ op: "add", path: "members", value: [{ value: user.id }] }));
    expect(g.status).toBe(200);
    expect(g.body.members.map((m: J) => m.value)).toEqual([user.id]);
    expect(g.headers.ETag).toBe(g.body.meta.version);
  });

  it("a PATCH with attributes or excludedAttributes answers 200 with the resource, whatever patchStatus says (RFC 7644 §3.5.2)", async () => {
    const { call, createUser, createGroup } = setup({ patchStatus: { User: 204 } });
    const user = await createUser();
    const group = await createGroup();
    const g = await call("PATCH", `/Groups/${group.id}?attributes=displayName`, patch({ op: "replace", path: "displayName", value: "Renamed" }));
    expect(g.status).toBe(200);
    expect(g.body).toMatchObject({ id: group.id, displayName: "Renamed" });
    expect(g.body.members).toBeUndefined();
    const u = await call("PATCH", `/Users/${user.id}?excludedAttributes=emails`, patch({ op: "replace", path: "title", value: "x" }));
    expect(u.status).toBe(200);
    expect(u.body.title).toBe("x");
    // Without them, patchStatus holds.
    expect((await call("PATCH", `/Groups/${group.id}`, patch({ op: "replace", path: "displayName", value: "Again" }))).status).toBe(204);
    expect((await call("PATCH", `/Users/${user.id}`, patch({ op: "replace", path: "title", value: "y" }))).status).toBe(204);
  });

  it("/Me is 501 without config.me", async () => {
    const { call } = setup();
    const r = await call("GET", "/Me");
    expect(r.status).toBe(501);
    expect(r.body.status).toBe("501");
  });

  it("/Me maps the caller to its User with config.me", async () => {
    let me: string | undefined;
    const { call, createUser } = setup({ me: (principal) => (principal.tenant === "t1" ? me : undefined) });
    expect((await call("GET", "/Me")).status).toBe(404);
    const user = await createUser({ title: "Me" });
    me = user.id;
    const got = await call("GET", "/Me?attributes=title");
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: user.id, title: "Me" });
    expect(got.body.userName).toBeUndefined();
    const patched = await call("PATCH", "/Me", patch({ op: "replace", path: "title", value: "Still me" }));
    expect(patched.status).toBe(200);
    expect(patched.body.title).toBe("Still me");
    expect((await call("GET", "/Me", undefined, { token: token2 })).status).toBe(404);
  });
});

describe("pathSegments", () => {
  it("splits like split('/').filter(Boolean) before the query, decoding each segment", () => {
    for (const path of ["", "/", "/Users", "/Users/", "//Users//x/", "/Users/a%2Fb?x=/y", "Users/x", "/Groups/.search", "?a/b", "/a?", "/%E2%82%AC/x"]) {
      const expected = path.split("?")[0]!.split("/").filter(Boolean).map((s) => decodeURIComponent(s));
      expect(pathSegments(path)).toEqual(expected);
    }
    expect(() => pathSegments("/Users/%E0%A4%A")).toThrow(/percent-encoded/);
  });
});

describe("list pages within paging.maxPageBytes (RFC 7644 §3.4.2.4: fewer than count)", () => {
  const budget = 6500;
  /** Ten users with 2 KB titles (about 2,050 bytes each): three fit in a page of 6,500 bytes. */
  async function tenUsers(createUser: (extra?: J) => Promise<J>): Promise<string[]> {
    const made: string[] = [];
    for (let i = 0; i < 10; i++) made.push((await createUser({ title: `${i}`.padEnd(2000, "x") })).id as string);
    return made;
  }
  /** Every page by startIndex += itemsPerPage, as Okta and Entra page. */
  async function walkByIndex(call: ReturnType<typeof setup>["call"], path: string): Promise<{ pages: number[]; ids: string[] }> {
    const pages: number[] = [];
    const ids: string[] = [];
    for (let startIndex = 1; ; ) {
      const r = await call("GET", `${path}${path.includes("?") ? "&" : "?"}startIndex=${startIndex}&count=100`);
      expect(r.status).toBe(200);
      expect(r.body.itemsPerPage).toBe(r.body.Resources?.length ?? 0);
      if (r.body.itemsPerPage === 0) break;
      expect(JSON.stringify(r.body).length).toBeLessThan(budget + 2500);
      pages.push(r.body.itemsPerPage);
      ids.push(...r.body.Resources.map((u: J) => u.id));
      startIndex += r.body.itemsPerPage;
      if (pages.length > 20) throw new Error("paging does not end");
    }
    return { pages, ids };
  }

  it("index and cursor paging meet every user once, three per page, with totalResults unchanged", async () => {
    const { call, createUser } = setup({ paging: { maxPageBytes: budget } });
    const made = await tenUsers(createUser);
    const byIndex = await walkByIndex(call, "/Users");
    expect(byIndex.pages).toEqual([3, 3, 3, 1]);
    expect(byIndex.ids).toEqual(made);
    const byCursor: string[] = [];
    for (let cursor = ""; ; ) {
      const r = await call("GET", `/Users?cursor=${encodeURIComponent(cursor)}&count=100`);
      expect(r.body.totalResults).toBe(10);
      byCursor.push(...r.body.Resources.map((u: J) => u.id));
      if (r.body.nextCursor === undefined) break;
      expect(r.body.Resources).toHaveLength(3);
      cursor = r.body.nextCursor;
    }
    expect(byCursor).toEqual(made);
    // The default budget (8 MiB) leaves such a page whole.
    const defaults = setup();
    await tenUsers(defaults.createUser);
    expect((await defaults.call("GET", "/Users?count=100")).body.itemsPerPage).toBe(10);
  });

  it("a store that does not keep to the budget has its index pages cut by the server; filters it cannot run are paged in memory", async () => {
    const store = memoryStore();
    // A store of its own that ignores maxBytes (and says so), filters nothing and sorts nothing.
    const unaware: typeof store = { ...store, capabilities: { filter: false, sort: false, paging: true, cursor: false }, query: (ctx, type, query) => store.query(ctx, type, { ...query, maxBytes: undefined }) };
    const { call, createUser } = setup({ paging: { maxPageBytes: budget }, store: unaware }, store);
    const made = await tenUsers(createUser);
    const unfiltered = await walkByIndex(call, "/Users");
    expect(unfiltered.pages).toEqual([3, 3, 3, 1]);
    expect(unfiltered.ids).toEqual(made);
    const filtered = await walkByIndex(call, `/Users?filter=${encodeURIComponent('title sw "1" or title sw "2" or title sw "3" or title sw "4" or title sw "5"')}`);
    expect(filtered.pages).toEqual([3, 2]);
    expect(filtered.ids).toEqual(made.slice(1, 6));
    const viaCursor: string[] = [];
    for (let cursor = ""; ; ) {
      const r = await call("GET", `/Users?cursor=${encodeURIComponent(cursor)}&count=100&sortBy=title&sortOrder=descending`);
      viaCursor.push(...r.body.Resources.map((u: J) => u.id));
      if (r.body.nextCursor === undefined) break;
      cursor = r.body.nextCursor;
    }
    expect(viaCursor).toEqual([...made].reverse());
  });

  it("a large resource is a page of its own; POST /.search across types stops where a type's part was cut", async () => {
    const { call, createUser, createGroup } = setup({ paging: { maxPageBytes: budget } });
    const made = await tenUsers(createUser);
    const big = (await createUser({ title: "b".repeat(20_000) })).id as string;
    const groups = [(await createGroup()).id as string, (await createGroup()).id as string];
    const single = await call("GET", `/Users?startIndex=11&count=100`);
    expect(single.body.Resources.map((u: J) => u.id)).toEqual([big]);
    const seen: string[] = [];
    for (let startIndex = 1; ; ) {
      const r = await call("POST", "/.search", { schemas: [SEARCH_REQUEST_SCHEMA], startIndex, count: 100 });
      expect(r.body.totalResults).toBe(13);
      if (r.body.itemsPerPage === 0) break;
      seen.push(...r.body.Resources.map((x: J) => x.id));
      startIndex += r.body.itemsPerPage;
    }
    expect(seen).toEqual([...made, big, ...groups]);
  });

  it("rejects a maxPageBytes that is not a positive integer", () => {
    configError({ ...base(), paging: { maxPageBytes: 0 } }, /config\.paging\.maxPageBytes/);
    configError({ ...base(), paging: { maxPageBytes: "8MB" } }, /config\.paging\.maxPageBytes/);
  });
});

describe("cursors of lists the server pages itself, and of the root search", () => {
  it("an offset cursor is refused under another filter or sort; count=0 gives no next cursor; POST /.search refuses cursors", async () => {
    const store = memoryStore();
    const { call, createUser } = setup({ store: { ...store, capabilities: { filter: false, sort: false, paging: true, cursor: false } } }, store);
    for (let i = 0; i < 5; i++) await createUser({ title: `t${i}` });
    const first = await call("GET", `/Users?cursor=&count=2&filter=${encodeURIComponent('title sw "t"')}`);
    expect(first.body.Resources).toHaveLength(2);
    const next = first.body.nextCursor as string;
    expect((await call("GET", `/Users?cursor=${encodeURIComponent(next)}&count=2&filter=${encodeURIComponent('title sw "t"')}`)).body.Resources).toHaveLength(2);
    for (const other of [`filter=${encodeURIComponent('title sw "t1"')}`, `filter=${encodeURIComponent('title sw "t"')}&sortBy=title`]) {
      const refused = await call("GET", `/Users?cursor=${encodeURIComponent(next)}&count=2&${other}`);
      expect([refused.status, refused.body.scimType]).toEqual([400, "invalidCursor"]);
    }
    const totalOnly = await call("GET", `/Users?cursor=&count=0&filter=${encodeURIComponent('title sw "t"')}`);
    expect(totalOnly.body).toMatchObject({ totalResults: 5, itemsPerPage: 0 });
    expect(totalOnly.body.nextCursor).toBeUndefined();
    const search = await call("POST", "/.search", { schemas: [SEARCH_REQUEST_SCHEMA], cursor: "", count: 2 });
    expect([search.status, search.body.scimType]).toEqual([400, "invalidCursor"]);
  });
});

const slowFilter = 'title co "slow"';

/**
 * Like SQLite: a store whose queries run on the server's thread (`capabilities.blocking`); the
 * query for {@link slowFilter} reads rows until its deadline, then gives up.
 */
function holdingTheThread(store: MemoryStore): ScimStore {
  return {
    ...store,
    capabilities: { ...store.capabilities, blocking: true },
    query: async (ctx, type, query) => {
      if (query.filter !== undefined && printFilter(query.filter) === slowFilter) {
        while (Date.now() <= query.deadline!) {
          // reading rows
        }
        throw queryTimedOut();
      }
      return store.query(ctx, type, query);
    },
  };
}

describe("list queries within maxQueryMs (400 tooMany, RFC 7644 §3.12)", () => {
  it("the store gets the request's deadline; a root search shares one across its types", async () => {
    const store = memoryStore();
    const deadlines: Array<number | undefined> = [];
    const watched: ScimStore = { ...store, query: (ctx, type, query) => (deadlines.push(query.deadline), store.query(ctx, type, query)) };
    const { call, createUser } = setup({ store: watched, maxQueryMs: 60_000 }, store);
    await createUser();
    const before = Date.now();
    expect((await call("GET", `/Users?filter=${encodeURIComponent('userName pr')}`)).status).toBe(200);
    expect(deadlines).toHaveLength(1);
    expect(deadlines[0]).toBeGreaterThanOrEqual(before + 60_000);
    expect(deadlines[0]).toBeLessThanOrEqual(Date.now() + 60_000);
    deadlines.length = 0;
    expect((await call("POST", "/.search", { schemas: [SEARCH_REQUEST_SCHEMA], filter: "meta.created pr" })).status).toBe(200);
    expect(deadlines.length).toBeGreaterThanOrEqual(2);
    expect(new Set(deadlines).size).toBe(1);
  });

  it("a store that gives up at the deadline: the client gets its 400 tooMany", async () => {
    const store = memoryStore();
    const { call, createUser } = setup({}, store);
    for (let i = 0; i < 3000; i++) await createUser({ title: `t${i}` });
    // memoryStore reads 3,000 users for this filter: far past 5 ms once the clock moved on.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const clock = Date.now();
      const slow: ScimStore = { ...store, query: (ctx, type, query) => (vi.setSystemTime(clock + 1000), store.query(ctx, type, query)) };
      const timed = setup({ store: slow, maxQueryMs: 5 }, store);
      const r = await timed.call("GET", `/Users?filter=${encodeURIComponent('title co "zzz"')}`);
      expect([r.status, r.body.scimType]).toEqual([400, "tooMany"]);
      expect(r.body.detail).toMatch(/longer than this server allows/);
    } finally {
      vi.useRealTimers();
    }
    // Under the limit the same list answers.
    expect((await call("GET", `/Users?filter=${encodeURIComponent('title eq "t7"')}`)).body.totalResults).toBe(1);
  });

  it("filters and sorts the server evaluates itself stop at the deadline between the resources they read", async () => {
    const store = memoryStore();
    let delayed = false;
    // A store that filters nothing, and whose reads take 30 ms once `delayed` is set.
    const slow: ScimStore = {
      ...store,
      capabilities: { filter: false, sort: false, paging: true, cursor: false },
      query: async (ctx, type, query) => {
        if (delayed) await new Promise((resolve) => setTimeout(resolve, 30));
        return store.query(ctx, type, query);
      },
    };
    const { call, createUser } = setup({ store: slow, maxQueryMs: 10 }, store);
    for (let i = 0; i < 5; i++) await createUser({ title: `t${i}` });
    expect((await call("GET", `/Users?filter=${encodeURIComponent('title sw "t"')}`)).body.totalResults).toBe(5);
    delayed = true;
    for (const target of [`/Users?filter=${encodeURIComponent('title sw "t"')}`, "/Users?sortBy=title", `/Users?cursor=&filter=${encodeURIComponent('title sw "t"')}`]) {
      const r = await call("GET", target);
      expect([r.status, r.body.scimType], target).toEqual([400, "tooMany"]);
    }
  });

  it("requests sent together to a store that holds the thread: what they waited counts, so the server is held about once the limit, and a lookup among them is answered", async () => {
    const store = memoryStore();
    const blocking = holdingTheThread(store);
    const { call, createUser } = setup({ store: blocking, maxQueryMs: 1000 }, store);
    await createUser({ userName: "lookup@example.com" });
    const started = Date.now();
    const slow = Array.from({ length: 4 }, () => call("GET", `/Users?filter=${encodeURIComponent(slowFilter)}`));
    const lookup = call("GET", `/Users?filter=${encodeURIComponent('userName eq "lookup@example.com"')}`);
    const answers = await Promise.all(slow);
    const held = Date.now() - started;
    for (const r of answers) expect([r.status, r.body.scimType]).toEqual([400, "tooMany"]);
    expect((await lookup).body.totalResults).toBe(1);
    // The first holds the thread for the limit (1 s); each after it, a quarter second (not 1 s each).
    expect(held).toBeGreaterThanOrEqual(1000);
    // About 1.75 s (4 s when each gets the limit); the margin is for a loaded machine.
    expect(held).toBeLessThan(3200);
  });

  it("under search pressure (a list gave up within maxQueryMs), a slow list gets a quarter second: requests the server read only once a search ended", async () => {
    const store = memoryStore();
    const blocking = holdingTheThread(store);
    const { call } = setup({ store: blocking, maxQueryMs: 1000 }, store);
    const timed = async () => {
      const started = Date.now();
      const r = await call("GET", `/Users?filter=${encodeURIComponent(slowFilter)}`);
      expect(r.body.scimType).toBe("tooMany");
      return Date.now() - started;
    };
    expect(await timed()).toBeGreaterThanOrEqual(1000);
    // Sent (and read) only after the first ended: the pressure gives it 250 ms (not 1 s).
    const second = await timed();
    expect(second).toBeGreaterThanOrEqual(250);
    expect(second).toBeLessThan(800);
    // Once maxQueryMs has gone by without a timeout, a list gets the full limit again.
    await new Promise((resolve) => setTimeout(resolve, 1050));
    expect(await timed()).toBeGreaterThanOrEqual(1000);
  });

  it("rejects a maxQueryMs that is not a positive integer", () => {
    configError({ ...base(), maxQueryMs: 0 }, /config\.maxQueryMs must be a positive integer/);
    configError({ ...base(), maxQueryMs: "10s" }, /config\.maxQueryMs/);
  });
});

describe("requests the RFCs leave no room for", () => {
  it("discovery endpoints answer a filter with 403 (RFC 7644 §4); the Group schema says its displayName is unique", async () => {
    const { call } = setup();
    for (const path of ["/ResourceTypes", "/Schemas", "/ServiceProviderConfig", "/ResourceTypes/User"]) {
      const r = await call("GET", `${path}?filter=${encodeURIComponent('name eq "User"')}`);
      expect([r.status, r.body.schemas], path).toEqual([403, ["urn:ietf:params:scim:api:messages:2.0:Error"]]);
    }
    const displayName = (body: J) => (body.attributes as J[]).find((a) => a.name === "displayName");
    expect(displayName((await call("GET", `/Schemas/${GROUP_SCHEMA_ID}`)).body)).toMatchObject({ uniqueness: "server" });
    expect(displayName((await setup({ uniqueGroupDisplayName: false }).call("GET", `/Schemas/${GROUP_SCHEMA_ID}`)).body)).toMatchObject({ uniqueness: "none" });
  });

  it("members' sub-attributes are immutable (RFC 7643 §4.2): the schema says so, a PUT keeps a member's display, a PATCH of it is 400 mutability", async () => {
    const { call, createUser } = setup();
    const schema = (await call("GET", `/Schemas/${GROUP_SCHEMA_ID}`)).body;
    const members = (schema.attributes as J[]).find((a) => a.name === "members")!;
    for (const sub of members.subAttributes as J[]) expect([sub.name, sub.mutability]).toEqual([sub.name, "immutable"]);
    const user = await createUser();
    const group = (await call("POST", "/Groups", { schemas: [GROUP_SCHEMA_ID], displayName: "Immutable members", members: [{ value: user.id, display: "Original" }] })).body;
    const put = await call("PUT", `/Groups/${group.id}`, { schemas: [GROUP_SCHEMA_ID], displayName: "Immutable members", members: [{ value: user.id, display: "Changed" }] });
    expect(put.status).toBe(200);
    expect(put.body.members).toEqual([expect.objectContaining({ value: user.id, display: "Original" })]);
    const patched = await call("PATCH", `/Groups/${group.id}`, { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: "replace", path: `members[value eq "${user.id}"].display`, value: "Patched" }] });
    expect([patched.status, patched.body.scimType]).toEqual([400, "mutability"]);
  });

  it("a GET at the server root is 501 (its queries go by POST /.search); other methods there are 404", async () => {
    const { call } = setup();
    for (const path of ["/", "/?filter=userName%20eq%20%22x%22", "?count=1"]) {
      const r = await call("GET", path);
      expect([r.status, r.body.status], path).toEqual([501, "501"]);
    }
    expect((await call("HEAD", "/")).status).toBe(501);
    expect((await call("DELETE", "/")).status).toBe(404);
    expect((await call("POST", "/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"] })).status).toBe(200);
  });

  it("a resource's answer names only the extensions it holds after attributes/excludedAttributes (RFC 7643 §3)", async () => {
    const { call } = setup();
    const created = await call("POST", "/Users", { schemas: [USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID], userName: "ext@example.com", [ENTERPRISE_USER_SCHEMA_ID]: { department: "R&D" } });
    expect(created.body.schemas).toEqual([USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID]);
    expect((await call("GET", `/Users/${created.body.id}?attributes=userName`)).body.schemas).toEqual([USER_SCHEMA_ID]);
    expect((await call("GET", `/Users?excludedAttributes=${ENTERPRISE_USER_SCHEMA_ID}`)).body.Resources[0].schemas).toEqual([USER_SCHEMA_ID]);
    expect((await call("GET", `/Users/${created.body.id}`)).body.schemas).toEqual([USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID]);
  });

  it("a body in a charset other than UTF-8 is 415, not stored with replacement characters (RFC 8259 §8.1)", async () => {
    const { call, count } = setup();
    const latin1 = Uint8Array.from([...'{"userName":"latin'].map((c) => c.charCodeAt(0)).concat([0xe9], [...'@example.com"}'].map((c) => c.charCodeAt(0))));
    const refused = await call("POST", "/Users", latin1, { headers: { "content-type": "application/json; charset=ISO-8859-1" } });
    expect([refused.status, refused.body.detail]).toEqual([415, "the body must be UTF-8 (RFC 8259 §8.1), not iso-8859-1"]);
    expect(await count("User")).toBe(0);
    for (const [i, type] of ['application/scim+json; charset="UTF-8"', "application/json;charset=utf8", "application/json"].entries()) {
      const r = await call("POST", "/Users", new TextEncoder().encode(`{"userName":"latiné${i}@example.com"}`), { headers: { "content-type": type } });
      expect([r.status, r.body.userName], type).toEqual([201, `latiné${i}@example.com`]);
    }
  });

  it("sortBy the derived groups sorts by each user's least group (groups have no primary; RFC 7644 §3.4.2.3), as a stored attribute with that value would", async () => {
    const { call, createUser, createGroup } = setup();
    // title: the user's least group displayName, to compare with a sort the store makes.
    const [a, b, c, d, e] = [
      await createUser({ userName: "a@example.com", title: "zeta" }),
      await createUser({ userName: "b@example.com", title: "alpha" }),
      await createUser({ userName: "c@example.com" }),
      await createUser({ userName: "d@example.com", title: "alpha" }),
      await createUser({ userName: "e@example.com", title: "mid" }),
    ];
    await createGroup({ displayName: "Zeta", members: [{ value: a.id }, { value: d.id }] });
    await createGroup({ displayName: "Alpha", members: [{ value: b.id }, { value: d.id }] });
    await createGroup({ displayName: "Mid", members: [{ value: e.id }] });
    const names = async (query: string) => ((await call("GET", `/Users?${query}`)).body.Resources as J[]).map((u) => u.userName);
    expect(await names("sortBy=groups.display")).toEqual(["b@example.com", "d@example.com", "e@example.com", "a@example.com", "c@example.com"]);
    for (const order of ["ascending", "descending"]) {
      expect(await names(`sortBy=groups.display&sortOrder=${order}`), order).toEqual(await names(`sortBy=title&sortOrder=${order}`));
    }
    // Paged, and with a filter the store applies.
    expect(await names("sortBy=groups.display&startIndex=2&count=2")).toEqual(["d@example.com", "e@example.com"]);
    expect(await names(`sortBy=groups.display&filter=${encodeURIComponent('userName sw "a" or userName sw "b"')}`)).toEqual(["b@example.com", "a@example.com"]);
    expect((await call("GET", "/Users?sortBy=groups.value")).status).toBe(200);
  });

  it("a list parameter given twice is a 400, not the last one silently", async () => {
    const { call, createUser } = setup();
    await createUser({ userName: "alice@example.com" });
    const twice = await call("GET", `/Users?filter=${encodeURIComponent('userName eq "alice@example.com"')}&filter=${encodeURIComponent('userName eq "bob@example.com"')}`);
    expect([twice.status, twice.body.scimType]).toEqual([400, "invalidFilter"]);
    expect((await call("GET", "/Users?count=1&Count=5")).body.scimType).toBe("invalidValue");
    // Other parameters are the host's business.
    expect((await call("GET", "/Users?trace=1&trace=2")).status).toBe(200);
  });

  it("percent-encoded bytes that are not UTF-8 in the query are a 400 (as in the path), not U+FFFD", async () => {
    const { call, createUser } = setup();
    await createUser({ userName: "alice@example.com", title: "100% \uFFFD" });
    const bad = await call("GET", "/Users?filter=userName%20eq%20%22al%FFice%22");
    expect([bad.status, bad.body.scimType]).toEqual([400, "invalidFilter"]);
    expect(bad.body.detail).toMatch(/'filter' is not percent-encoded UTF-8/);
    expect([(await call("GET", "/Users?count=%C3")).body.scimType, (await call("GET", "/Users?attributes=user%E2%82Name")).body.scimType]).toEqual(["invalidValue", "invalidValue"]);
    // A U+FFFD the client encoded, and a % that encodes nothing, are text.
    expect((await call("GET", `/Users?filter=${encodeURIComponent('title co "\uFFFD"')}`)).body.totalResults).toBe(1);
    expect((await call("GET", '/Users?filter=title%20co%20"100%"')).body.totalResults).toBe(1);
    expect((await call("GET", '/Users?filter=title%20co%20"100%"&x=%FF')).status).toBe(200);
  });

  it.each([
    ["a store with memberCandidates (one question for all members)", true],
    ["a store without it (get per member)", false],
  ])("new members are checked and completed with their type and display (RFC 7643 §4.2): %s", async (_name, withCandidates) => {
    const store = memoryStore();
    const memberGets: string[] = [];
    // Without transactions, so that the write asks this store (a transaction's store is the inner one).
    const { memberCandidates, transaction: _transaction, ...rest } = store;
    const watched: ScimStore = {
      ...rest,
      get: (ctx, type, id, options) => (memberGets.push(`${type} ${id}`), store.get(ctx, type, id, options)),
      ...(withCandidates ? { memberCandidates } : {}),
    };
    const { call, createUser, createGroup } = setup({ store: watched }, store);
    const named = await createUser({ displayName: "Named Person" });
    const plain = await createUser({ userName: "plain@example.com" });
    const inner = await createGroup({ displayName: "Inner" });
    memberGets.length = 0;
    const outer = await call("POST", "/Groups", {
      schemas: [GROUP_SCHEMA_ID],
      displayName: "Outer",
      members: [{ value: named.id }, { value: plain.id, type: "User" }, { value: inner.id, type: "Group" }, { value: plain.id }, { value: named.id, display: "Given" }],
    });
    expect(outer.status, JSON.stringify(outer.body)).toBe(201);
    expect((outer.body.members as J[]).map((m) => [m.value, m.type, m.display])).toEqual([
      [named.id, "User", "Named Person"],
      [plain.id, "User", "plain@example.com"],
      [inner.id, "Group", "Inner"],
    ]);
    if (withCandidates) expect(memberGets).toEqual([]);
    else expect(memberGets.length).toBeGreaterThanOrEqual(3);
    // A type that names the other kind of resource: the detail says so.
    const wrongType = await call("POST", "/Groups", { schemas: [GROUP_SCHEMA_ID], displayName: "Wrong", members: [{ value: named.id }, { value: inner.id, type: "User" }] });
    expect([wrongType.status, wrongType.body.scimType, wrongType.body.detail]).toEqual([400, "invalidValue", `member '${inner.id}' is a Group, not the User its 'type' says`]);
    const userAsGroup = await call("PATCH", `/Groups/${outer.body.id}`, patch({ op: "add", path: "members", value: [{ value: plain.id, type: "group" }] }));
    expect(userAsGroup.body.detail).toBe(`member '${plain.id}' is a User, not the group its 'type' says`);
    const missing = await call("PATCH", `/Groups/${outer.body.id}`, patch({ op: "add", path: "members", value: [{ value: plain.id }, { value: "nobody", type: "User" }] }));
    expect([missing.status, missing.body.detail]).toEqual([400, "member 'nobody' does not exist"]);
    // A deleted user is no member.
    expect((await call("DELETE", `/Users/${plain.id}`)).status).toBe(204);
    const deleted = await call("PUT", `/Groups/${outer.body.id}`, { schemas: [GROUP_SCHEMA_ID], displayName: "Outer", members: [{ value: plain.id }] });
    expect([deleted.status, deleted.body.detail]).toEqual([400, `member '${plain.id}' does not exist`]);
    // Nothing changed by the refused writes.
    const after = await call("GET", `/Groups/${outer.body.id}`);
    expect((after.body.members as J[]).map((m) => m.value)).toEqual([named.id, inner.id]);
});
});

/**
 * The HTTP conformance suite (RFC 7644 over real HTTP semantics), written once and run against
 * every way of serving scim-core: the server's own `fetch`, each framework adapter, the standalone
 * service. It drives the server the way Okta and Microsoft Entra ID do and checks
 * the wire: status codes, headers, bodies.
 *
 * Every test creates its own resources with random names, so the suite can run against a shared,
 * long-lived server and tests do not depend on each other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawConnection } from "./raw-connection.js";

/** How the suite reaches the server under test. */
export interface HttpSuiteTarget {
  /** A fetch function: the global `fetch` for a listening server, or an in-process one. */
  fetch: (input: string, init?: RequestInit) => Promise<Response>;
  /** Absolute URL of the SCIM root, e.g. `http://localhost:3000/scim/v2`. */
  baseUrl: string;
  /** A valid bearer token. */
  token: string;
  /** A token of a second tenant, for the tenant isolation checks (skipped without it). */
  otherTenantToken?: string;
  /** Called after the suite, e.g. to close a listening server the target started. */
  close?: () => void | Promise<void>;
  /**
   * Whether `baseUrl` names a server listening on a real port, which the checks that write raw
   * HTTP to a socket (dot segments, a doubled Host, bodies that are not UTF-8...) need; they are
   * skipped otherwise. Set `false` for an in-process `fetch` (`app.request`) with a `localhost`
   * baseUrl. @default whether baseUrl's host is 127.0.0.1, localhost or [::1]
   */
  listening?: boolean;
}

/** Options of {@link runHttpConformance}. */
export interface HttpSuiteOptions {
  /** Names the adapter in every test title. */
  name: string;
  /** How to reach the server: a fetch function (in-process) or a base URL. Called once. */
  target: () => Promise<HttpSuiteTarget>;
  /**
   * What `/Me` (RFC 7644 §3.11) does: `"unsupported"` expects 501; `"supported"` expects 200 or
   * 404 (the caller has no User resource). @default "unsupported"
   */
  me?: "unsupported" | "supported";
  /** The server's request body limit, to check 413. @default 1048576 */
  maxBodyBytes?: number;
  /** Successful PATCH status per resource type, as configured. @default { User: 200, Group: 204 } */
  patchStatus?: { User?: 200 | 204; Group?: 200 | 204 };
}

// Loose JSON: the suite inspects whatever the server answers.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/** A response as the tests see it. */
interface Reply {
  status: number;
  headers: Headers;
  body: J;
  text: string;
}

interface CallOptions {
  /** A JSON body (serialised), sent as application/scim+json unless `contentType` says otherwise. */
  body?: unknown;
  /** A raw body, sent as is. */
  raw?: string | Uint8Array;
  /** Content-Type; null sends none (the body then goes as bytes, which fetch leaves untyped). */
  contentType?: string | null;
  /** Bearer token; null sends no Authorization header; default the target's token. */
  token?: string | null;
  headers?: Record<string, string>;
}

let counter = 0;
/** A random, unique suffix for names. */
function uid(): string {
  counter++;
  return `${Math.random().toString(36).slice(2, 8)}${Date.now().toString(36).slice(-4)}${counter.toString(36)}`;
}

const q = (filter: string) => encodeURIComponent(filter);
const patchBody = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });

/** Defines the HTTP conformance tests (vitest `describe`/`it`) for one server or adapter. */
export function runHttpConformance(options: HttpSuiteOptions): void {
  const { name } = options;
  const title = (s: string) => `${name}: ${s}`;
  const maxBodyBytes = options.maxBodyBytes ?? 1048576;
  const userPatchStatus = options.patchStatus?.User ?? 200;
  const groupPatchStatus = options.patchStatus?.Group ?? 204;
  let t: HttpSuiteTarget;
  let spc: J;

  const call = async (method: string, path: string, o: CallOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { Accept: "application/scim+json", ...o.headers };
    const token = o.token === undefined ? t.token : o.token;
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    let body: string | Uint8Array | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) {
      if (o.contentType === null) {
        if (typeof body === "string") body = new TextEncoder().encode(body);
      } else headers["Content-Type"] = o.contentType ?? "application/scim+json";
    }
    const response = await t.fetch(`${t.baseUrl.replace(/\/+$/, "")}${path}`, { method, headers, body: body as RequestInit["body"] });
    const text = await response.text();
    let parsed: J;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };

  /** Whether the target is a server listening on this machine (raw HTTP can reach it). */
  const listening = () => t.listening ?? ["127.0.0.1", "localhost", "[::1]"].includes(new URL(t.baseUrl).hostname);

  /** Explains a reply in assertion messages. */
  const show = (r: Reply) => `${r.status} ${r.text.slice(0, 600)}`;

  const expectStatus = (r: Reply, status: number) => expect(r.status, show(r)).toBe(status);

  const expectScimJson = (r: Reply) => expect(r.headers.get("content-type") ?? "", show(r)).toMatch(/^application\/scim\+json/i);

  /** An RFC 7644 §3.12 Error response. */
  const expectError = (r: Reply, status: number, scimType?: string) => {
    expectStatus(r, status);
    expectScimJson(r);
    expect(r.body?.schemas, show(r)).toContain(ERROR);
    expect(r.body.status, show(r)).toBe(String(status));
    if (scimType !== undefined) expect(r.body.scimType, show(r)).toBe(scimType);
  };

  /** A ListResponse with JSON numbers and `Resources` always present. */
  const expectList = (r: Reply) => {
    expectStatus(r, 200);
    expectScimJson(r);
    expect(r.body.schemas, show(r)).toContain(LIST);
    expect(typeof r.body.totalResults, show(r)).toBe("number");
    expect(typeof r.body.itemsPerPage, show(r)).toBe("number");
    expect(Array.isArray(r.body.Resources), show(r)).toBe(true);
    expect(r.body.itemsPerPage).toBe(r.body.Resources.length);
    return r.body as { totalResults: number; itemsPerPage: number; startIndex?: number; nextCursor?: string; Resources: J[] };
  };

  const oktaUser = (suffix = uid()) => ({
    schemas: [USER],
    userName: `okta.${suffix}@example.com`,
    name: { givenName: "Okta", familyName: `User${suffix}` },
    emails: [{ primary: true, value: `okta.${suffix}@example.com`, type: "work" }],
    displayName: `Okta User ${suffix}`,
    locale: "en-US",
    externalId: `00u${suffix}`,
    groups: [],
    password: "1mz050nq-Secret!",
    active: true,
  });

  const createUser = async (overrides: Record<string, unknown> = {}, token?: string): Promise<J> => {
    const suffix = uid();
    const r = await call("POST", "/Users", {
      body: { schemas: [USER], userName: `user.${suffix}@example.com`, name: { givenName: "Test", familyName: `F${suffix}` }, ...overrides },
      ...(token !== undefined ? { token } : {}),
    });
    expectStatus(r, 201);
    return r.body;
  };

  const createGroup = async (overrides: Record<string, unknown> = {}): Promise<J> => {
    const r = await call("POST", "/Groups", { body: { schemas: [GROUP], displayName: `Group ${uid()}`, ...overrides } });
    expectStatus(r, 201);
    return r.body;
  };

  const getGroup = async (id: string): Promise<J> => {
    const r = await call("GET", `/Groups/${id}`);
    expectStatus(r, 200);
    return r.body;
  };

  const memberIds = (group: J): string[] => ((group.members ?? []) as J[]).map((m) => m.value).sort();

  const patchGroup = async (id: string, ...operations: unknown[]): Promise<Reply> => {
    const r = await call("PATCH", `/Groups/${id}`, { body: patchBody(...operations) });
    expect([200, 204], show(r)).toContain(r.status);
    return r;
  };

  const listUsers = async (filter: string, extra = ""): Promise<ReturnType<typeof expectList>> =>
    expectList(await call("GET", `/Users?filter=${q(filter)}${extra}`));

  describe(`${name}: HTTP conformance`, () => {
    beforeAll(async () => {
      t = await options.target();
      const r = await call("GET", "/ServiceProviderConfig");
      expectStatus(r, 200);
      spc = r.body;
    });
    afterAll(async () => {
      await t?.close?.();
    });

    describe("discovery (RFC 7644 §4)", () => {
      it(title("ServiceProviderConfig advertises patch, bulk, filter, sort, etag and pagination"), async () => {
        const r = await call("GET", "/ServiceProviderConfig");
        expectStatus(r, 200);
        expectScimJson(r);
        const b = r.body;
        expect(b.schemas).toContain(SPC);
        expect(b.patch.supported).toBe(true);
        expect(typeof b.bulk.supported).toBe("boolean");
        expect(typeof b.bulk.maxOperations).toBe("number");
        expect(typeof b.bulk.maxPayloadSize).toBe("number");
        expect(b.filter.supported).toBe(true);
        expect(typeof b.filter.maxResults).toBe("number");
        expect(b.sort.supported).toBe(true);
        expect(b.etag.supported).toBe(true);
        expect(typeof b.changePassword.supported).toBe("boolean");
        expect(Array.isArray(b.authenticationSchemes)).toBe(true);
        expect(b.authenticationSchemes.length).toBeGreaterThan(0);
        expect(b.pagination.cursor).toBe(true);
        expect(b.pagination.index).toBe(true);
      });

      it(title("Schemas lists User, Group and EnterpriseUser"), async () => {
        const list = expectList(await call("GET", "/Schemas"));
        const ids = list.Resources.map((s: J) => s.id);
        expect(ids).toEqual(expect.arrayContaining([USER, GROUP, ENTERPRISE]));
        for (const s of list.Resources) expect(Array.isArray(s.attributes)).toBe(true);
      });

      it(title("Schemas/{id} returns one schema, the enterprise extension too"), async () => {
        const user = await call("GET", `/Schemas/${USER}`);
        expectStatus(user, 200);
        expectScimJson(user);
        expect(user.body.id).toBe(USER);
        expect(user.body.attributes.map((a: J) => a.name)).toContain("userName");
        const ent = await call("GET", `/Schemas/${ENTERPRISE}`);
        expectStatus(ent, 200);
        expect(ent.body.id).toBe(ENTERPRISE);
        expect(ent.body.attributes.map((a: J) => a.name)).toEqual(expect.arrayContaining(["employeeNumber", "manager"]));
      });

      it(title("an unknown schema is 404"), async () => {
        expectError(await call("GET", "/Schemas/urn:example:unknown:2.0:Nothing"), 404);
      });

      it(title("ResourceTypes lists User and Group with endpoints and extensions"), async () => {
        const list = expectList(await call("GET", "/ResourceTypes"));
        const user = list.Resources.find((rt: J) => rt.name === "User");
        const group = list.Resources.find((rt: J) => rt.name === "Group");
        expect(user?.endpoint).toBe("/Users");
        expect(user?.schema).toBe(USER);
        expect(user?.schemaExtensions.map((e: J) => e.schema)).toContain(ENTERPRISE);
        expect(group?.endpoint).toBe("/Groups");
        const one = await call("GET", "/ResourceTypes/User");
        expectStatus(one, 200);
        expect(one.body.name).toBe("User");
        expectError(await call("GET", "/ResourceTypes/Nothing"), 404);
      });

      it(title("POST, PUT and DELETE on the discovery endpoints are 405"), async () => {
        for (const path of ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes", `/Schemas/${USER}`, "/ResourceTypes/User"]) {
          for (const method of ["POST", "PUT", "DELETE"]) {
            const r = await call(method, path, method === "DELETE" ? {} : { body: { schemas: [USER] } });
            expectError(r, 405);
          }
        }
      });
    });

    describe("users as Okta provisions them", () => {
      it(title("connector test: GET /Users?startIndex=1&count=1 has numeric fields and Resources"), async () => {
        const list = expectList(await call("GET", "/Users?startIndex=1&count=1"));
        expect(list.startIndex).toBe(1);
        expect(list.itemsPerPage).toBeLessThanOrEqual(1);
      });

      it(title("lookup of an unknown userName is an empty ListResponse"), async () => {
        const r = await call("GET", `/Users?filter=${q(`userName eq "nobody.${uid()}@example.com"`)}&startIndex=1&count=100`);
        const list = expectList(r);
        expect(r.body).toMatchObject({ totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
        expect(list.Resources).toEqual([]);
      });

      it(title("create: 201 with Location and ETag, never the password; duplicate is 409 uniqueness"), async () => {
        const body = oktaUser();
        const r = await call("POST", "/Users", { body });
        expectStatus(r, 201);
        expectScimJson(r);
        const user = r.body;
        expect(typeof user.id).toBe("string");
        expect(user.userName).toBe(body.userName);
        expect(user.active).toBe(true);
        expect(user.name).toMatchObject(body.name);
        expect(user.password).toBeUndefined();
        expect(r.text).not.toContain(body.password);
        expect(user.meta.resourceType).toBe("User");
        expect(typeof user.meta.created).toBe("string");
        expect(typeof user.meta.lastModified).toBe("string");
        expect(r.headers.get("location")).toBe(user.meta.location);
        expect(user.meta.location).toMatch(new RegExp(`/Users/${user.id}$`));
        expect(r.headers.get("etag")).toBe(user.meta.version);

        expectError(await call("POST", "/Users", { body }), 409, "uniqueness");
        const upper = { ...body, userName: body.userName.toUpperCase(), externalId: `other-${uid()}` };
        expectError(await call("POST", "/Users", { body: upper }), 409, "uniqueness");

        const found = await listUsers(`userName eq "${body.userName}"`, "&startIndex=1&count=100");
        expect(found.totalResults).toBe(1);
        expect(found.Resources[0].id).toBe(user.id);
        expect(found.Resources[0].password).toBeUndefined();
      });

      it(title("GET, PUT, deactivate and reactivate with path-less PATCH"), async () => {
        const body = oktaUser();
        const created = (await call("POST", "/Users", { body })).body;
        const got = await call("GET", `/Users/${created.id}`);
        expectStatus(got, 200);
        expectScimJson(got);
        expect(got.body.id).toBe(created.id);
        expect(got.body.userName).toBe(body.userName);
        expect(got.headers.get("etag")).toBe(got.body.meta.version);
        // RFC 7643 §3.1: meta.location "MUST be the same as the Content-Location HTTP response header".
        expect(got.headers.get("content-location")).toBe(got.body.meta.location);

        const put = await call("PUT", `/Users/${created.id}`, {
          body: { ...got.body, name: { givenName: "Renamed", familyName: body.name.familyName }, title: "Engineer" },
        });
        expectStatus(put, 200);
        expect(put.body.name.givenName).toBe("Renamed");
        expect(put.body.title).toBe("Engineer");
        expect(put.body.id).toBe(created.id);
        expect(put.body.meta.version).not.toBe(created.meta.version);
        expect(put.headers.get("etag")).toBe(put.body.meta.version);
        expect(put.headers.get("content-location")).toBe(put.body.meta.location);

        const off = await call("PATCH", `/Users/${created.id}`, { body: patchBody({ op: "replace", value: { active: false } }) });
        expectStatus(off, userPatchStatus);
        if (userPatchStatus === 200) {
          expect(off.body.id).toBe(created.id);
          expect(off.body.active).toBe(false);
          expect(off.body.title).toBe("Engineer");
          expect(off.body.password).toBeUndefined();
        }
        expect((await call("GET", `/Users/${created.id}`)).body.active).toBe(false);

        const on = await call("PATCH", `/Users/${created.id}`, { body: patchBody({ op: "replace", value: { active: true } }) });
        expectStatus(on, userPatchStatus);
        expect((await call("GET", `/Users/${created.id}`)).body.active).toBe(true);
      });

      it(title("PUT replaces: omitted attributes are cleared, read-only ones ignored"), async () => {
        const created = await createUser({ title: "Temp", nickName: "nick" });
        const put = await call("PUT", `/Users/${created.id}`, {
          body: { schemas: [USER], id: created.id, userName: created.userName, groups: [{ value: "not-a-group" }], active: false },
        });
        expectStatus(put, 200);
        expect(put.body.title).toBeUndefined();
        expect(put.body.nickName).toBeUndefined();
        expect(put.body.active).toBe(false);
        expect(put.body.groups ?? []).toEqual([]);
        const got = (await call("GET", `/Users/${created.id}`)).body;
        expect(got.title).toBeUndefined();
        expect(got.active).toBe(false);
      });
    });

    describe("users as Microsoft Entra ID provisions them", () => {
      const entraUser = (suffix = uid()) => ({
        schemas: [USER, ENTERPRISE],
        externalId: `jyoung${suffix}`,
        userName: `Test_User_${suffix}@contoso.com`,
        active: true,
        displayName: `Test User ${suffix}`,
        emails: [{ primary: true, type: "work", value: `Test_User_${suffix}@contoso.com` }],
        meta: { resourceType: "User" },
        name: { formatted: "givenName familyName", familyName: "familyName", givenName: "givenName" },
        roles: [],
        [ENTERPRISE]: { employeeNumber: `E${suffix}`, department: "Sales", manager: null },
      });

      it(title("test connection: a filter on a random GUID is 200 with an empty list"), async () => {
        const guid = globalThis.crypto.randomUUID();
        for (const filter of [`userName eq "${guid}"`, `externalId eq "${guid}"`]) {
          const list = await listUsers(filter);
          expect(list.totalResults).toBe(0);
          expect(list.Resources).toEqual([]);
        }
      });

      it(title("create with enterprise extension, meta, roles and null attributes"), async () => {
        const body = entraUser();
        const r = await call("POST", "/Users", { body });
        expectStatus(r, 201);
        expect(r.body.schemas).toEqual(expect.arrayContaining([USER, ENTERPRISE]));
        expect(r.body[ENTERPRISE].employeeNumber).toBe(body[ENTERPRISE].employeeNumber);
        expect(r.body[ENTERPRISE].manager).toBeUndefined();
        expect(r.body.meta.resourceType).toBe("User");
        expectError(await call("POST", "/Users", { body }), 409, "uniqueness");
      });

      it(title("matching filters: unquoted externalId with + for spaces, emails value path, other casing"), async () => {
        const body = entraUser();
        const created = (await call("POST", "/Users", { body })).body;
        const unquoted = expectList(await call("GET", `/Users?filter=externalId+eq+${body.externalId}`));
        expect(unquoted.Resources.map((u: J) => u.id)).toEqual([created.id]);
        const work = await listUsers(`emails[type eq "work"].value eq "${body.emails[0]!.value}"`);
        expect(work.Resources.map((u: J) => u.id)).toEqual([created.id]);
        const cased = await listUsers(`userName eq "${body.userName.toLowerCase()}"`);
        expect(cased.Resources.map((u: J) => u.id)).toEqual([created.id]);
        const upper = expectList(await call("GET", `/Users?filter=userName+eq+%22${encodeURIComponent(body.userName.toUpperCase())}%22`));
        expect(upper.Resources.map((u: J) => u.id)).toEqual([created.id]);
        const both = await listUsers(`userName eq "${body.userName}" and externalId eq "${body.externalId}"`);
        expect(both.totalResults).toBe(1);
      });

      it(title("default-style PATCH: capitalised ops, \"False\", value paths and URN paths"), async () => {
        const created = (await call("POST", "/Users", { body: entraUser() })).body;
        const email = `updated.${uid()}@contoso.com`;
        const r = await call("PATCH", `/Users/${created.id}`, {
          body: patchBody(
            { op: "Replace", path: 'emails[type eq "work"].value', value: email },
            { op: "Replace", path: "name.familyName", value: "updatedFamilyName" },
            { op: "Replace", path: "active", value: "False" },
            { op: "Add", path: `${ENTERPRISE}:employeeNumber`, value: "E-updated" },
            { op: "Add", path: `${ENTERPRISE}:department`, value: "Marketing" },
          ),
        });
        expectStatus(r, userPatchStatus);
        const got = (await call("GET", `/Users/${created.id}`)).body;
        expect(got.emails.find((e: J) => e.type === "work").value).toBe(email);
        expect(got.emails).toHaveLength(1);
        expect(got.name.familyName).toBe("updatedFamilyName");
        expect(got.active).toBe(false);
        expect(got[ENTERPRISE].employeeNumber).toBe("E-updated");
        expect(got[ENTERPRISE].department).toBe("Marketing");
      });

      it(title("Add to emails[type eq \"work\"].value creates the work email when there is none"), async () => {
        const created = await createUser();
        const email = `new.${uid()}@contoso.com`;
        const r = await call("PATCH", `/Users/${created.id}`, { body: patchBody({ op: "Add", path: 'emails[type eq "work"].value', value: email }) });
        expectStatus(r, userPatchStatus);
        const got = (await call("GET", `/Users/${created.id}`)).body;
        expect(got.emails).toEqual([expect.objectContaining({ type: "work", value: email })]);
      });

      it(title("compliant-style PATCH: path-less replace with dotted and URN keys"), async () => {
        const created = (await call("POST", "/Users", { body: entraUser() })).body;
        const r = await call("PATCH", `/Users/${created.id}`, {
          body: patchBody({
            op: "replace",
            value: { displayName: "Compliant Name", "name.givenName": "Given2", [`${ENTERPRISE}:employeeNumber`]: "E-compliant", active: false },
          }),
        });
        expectStatus(r, userPatchStatus);
        const got = (await call("GET", `/Users/${created.id}`)).body;
        expect(got.displayName).toBe("Compliant Name");
        expect(got.name.givenName).toBe("Given2");
        expect(got.name.familyName).toBe("familyName");
        expect(got[ENTERPRISE].employeeNumber).toBe("E-compliant");
        expect(got[ENTERPRISE].department).toBe("Sales");
        expect(got.active).toBe(false);
      });

      it(title("manager as a bare id, then removed with {\"value\":\"\"}"), async () => {
        const manager = await createUser();
        const created = (await call("POST", "/Users", { body: entraUser() })).body;
        const set = await call("PATCH", `/Users/${created.id}`, { body: patchBody({ op: "Replace", path: `${ENTERPRISE}:manager`, value: manager.id }) });
        expectStatus(set, userPatchStatus);
        expect((await call("GET", `/Users/${created.id}`)).body[ENTERPRISE].manager.value).toBe(manager.id);
        const unset = await call("PATCH", `/Users/${created.id}`, { body: patchBody({ op: "Replace", path: `${ENTERPRISE}:manager`, value: { value: "" } }) });
        expectStatus(unset, userPatchStatus);
        expect((await call("GET", `/Users/${created.id}`)).body[ENTERPRISE]?.manager).toBeUndefined();
      });

      it(title("DELETE is 204, then GET and DELETE are 404; the user leaves queries and frees its userName"), async () => {
        const body = entraUser();
        const created = (await call("POST", "/Users", { body })).body;
        const del = await call("DELETE", `/Users/${created.id}`);
        expectStatus(del, 204);
        expect(del.text).toBe("");
        expectError(await call("GET", `/Users/${created.id}`), 404);
        expectError(await call("DELETE", `/Users/${created.id}`), 404);
        expectError(await call("PATCH", `/Users/${created.id}`, { body: patchBody({ op: "replace", value: { active: false } }) }), 404);
        expectError(await call("PUT", `/Users/${created.id}`, { body }), 404);
        expect((await listUsers(`userName eq "${body.userName}"`)).totalResults).toBe(0);
        const again = await call("POST", "/Users", { body });
        expectStatus(again, 201);
        expect(again.body.id).not.toBe(created.id);
      });

      it(title("disabled users are still returned by GET and by filters"), async () => {
        const body = { ...entraUser(), active: false };
        const created = (await call("POST", "/Users", { body })).body;
        const got = await call("GET", `/Users/${created.id}`);
        expectStatus(got, 200);
        expect(got.body.active).toBe(false);
        expect((await listUsers(`userName eq "${body.userName}"`)).totalResults).toBe(1);
        expect((await listUsers(`externalId eq "${body.externalId}" and active eq false`)).totalResults).toBe(1);
      });
    });

    describe("groups", () => {
      it(title("create with members [] and with members; GET returns them"), async () => {
        const empty = await call("POST", "/Groups", { body: { schemas: [GROUP], displayName: `Empty ${uid()}`, members: [] } });
        expectStatus(empty, 201);
        expect(empty.headers.get("location")).toBe(empty.body.meta.location);
        expect(empty.headers.get("etag")).toBe(empty.body.meta.version);
        expect(empty.body.members ?? []).toEqual([]);
        const [a, b] = [await createUser(), await createUser()];
        const full = await call("POST", "/Groups", {
          body: { schemas: [GROUP, "urn:ietf:params:scim:schemas:extension:microsoft:2.0:Group"], displayName: `Full ${uid()}`, members: [{ value: a.id }, { value: b.id, display: "B" }] },
        });
        expectStatus(full, 201);
        expect(memberIds(full.body)).toEqual([a.id, b.id].sort());
        const got = await getGroup(full.body.id);
        expect(memberIds(got)).toEqual([a.id, b.id].sort());
        expect(got.members.find((m: J) => m.value === a.id).type).toBe("User");
      });

      it(title("Okta rename with the read-only id inside the value"), async () => {
        const group = await createGroup();
        const name2 = `Renamed ${uid()}`;
        const r = await call("PATCH", `/Groups/${group.id}`, { body: patchBody({ op: "replace", value: { id: group.id, displayName: name2 } }) });
        expectStatus(r, groupPatchStatus);
        const got = await getGroup(group.id);
        expect(got.id).toBe(group.id);
        expect(got.displayName).toBe(name2);
      });

      it(title("PATCH on a group answers 204 by default (200 when configured)"), async () => {
        const group = await createGroup();
        const r = await call("PATCH", `/Groups/${group.id}`, { body: patchBody({ op: "replace", path: "displayName", value: `P ${uid()}` }) });
        expectStatus(r, groupPatchStatus);
        if (groupPatchStatus === 204) expect(r.text).toBe("");
      });

      it(title("Okta membership change: remove members[value eq] and add in one PATCH"), async () => {
        const [a, b, c] = [await createUser(), await createUser(), await createUser()];
        const group = await createGroup({ members: [{ value: a.id }, { value: b.id }] });
        await patchGroup(
          group.id,
          { op: "remove", path: `members[value eq "${a.id}"]` },
          { op: "add", path: "members", value: [{ value: c.id, display: c.userName }] },
        );
        expect(memberIds(await getGroup(group.id))).toEqual([b.id, c.id].sort());
      });

      it(title("Entra member add with $ref null adds several and never duplicates"), async () => {
        const [a, b, c] = [await createUser(), await createUser(), await createUser()];
        const group = await createGroup({ members: [{ value: a.id }] });
        await patchGroup(group.id, {
          op: "Add",
          path: "members",
          value: [
            { $ref: null, value: a.id },
            { $ref: null, value: b.id },
            { $ref: null, value: c.id },
          ],
        });
        await patchGroup(group.id, { op: "Add", path: "members", value: [{ $ref: null, value: b.id }] });
        expect(memberIds(await getGroup(group.id))).toEqual([a.id, b.id, c.id].sort());
      });

      it(title("Entra member removal by a value array removes only those"), async () => {
        const [a, b, c] = [await createUser(), await createUser(), await createUser()];
        const group = await createGroup({ members: [{ value: a.id }, { value: b.id }, { value: c.id }] });
        await patchGroup(group.id, { op: "Remove", path: "members", value: [{ value: a.id }, { value: c.id }] });
        expect(memberIds(await getGroup(group.id))).toEqual([b.id]);
      });

      it(title("replace members with [] empties the group; replace with a list sets it"), async () => {
        const [a, b] = [await createUser(), await createUser()];
        const group = await createGroup({ members: [{ value: a.id }] });
        await patchGroup(group.id, { op: "replace", path: "members", value: [{ value: b.id }] });
        expect(memberIds(await getGroup(group.id))).toEqual([b.id]);
        await patchGroup(group.id, { op: "replace", path: "members", value: [] });
        expect(memberIds(await getGroup(group.id))).toEqual([]);
      });

      it(title("membership PATCHes that change nothing keep the version (IdPs resend them on every sync)"), async () => {
        const [a, b] = [await createUser(), await createUser()];
        const group = await createGroup({ members: [{ value: a.id }] });
        const version = (await getGroup(group.id)).meta.version;
        await patchGroup(group.id, { op: "add", path: "members", value: [{ value: a.id }] });
        await patchGroup(group.id, { op: "remove", path: `members[value eq "${b.id}"]` });
        await patchGroup(group.id, { op: "Remove", path: "members", value: [{ value: b.id }] });
        await patchGroup(group.id, { op: "replace", path: "members", value: [{ value: a.id }] });
        // Operations that undo each other within one PATCH change nothing either.
        await patchGroup(group.id, { op: "add", path: "members", value: [{ value: b.id }] }, { op: "remove", path: `members[value eq "${b.id}"]` });
        await patchGroup(group.id, { op: "remove", path: `members[value eq "${a.id}"]` }, { op: "add", path: "members", value: [{ value: a.id }] });
        await patchGroup(group.id, { op: "replace", path: "members", value: [] }, { op: "add", path: "members", value: [{ value: a.id }] });
        const after = await getGroup(group.id);
        expect(after.meta.version).toBe(version);
        expect(after.meta.lastModified).toBe(group.meta.lastModified);
        expect(memberIds(after)).toEqual([a.id]);
        // A real change still moves it.
        await patchGroup(group.id, { op: "add", path: "members", value: [{ value: a.id }, { value: b.id }] });
        const changed = await getGroup(group.id);
        expect(changed.meta.version).not.toBe(version);
        expect(memberIds(changed)).toEqual([a.id, b.id].sort());
      });

      it(title("PUT on a group replaces its members"), async () => {
        const [a, b] = [await createUser(), await createUser()];
        const group = await createGroup({ members: [{ value: a.id }] });
        const r = await call("PUT", `/Groups/${group.id}`, { body: { schemas: [GROUP], displayName: group.displayName, members: [{ value: b.id }] } });
        expectStatus(r, 200);
        expect(memberIds(r.body)).toEqual([b.id]);
        expect(memberIds(await getGroup(group.id))).toEqual([b.id]);
      });

      it(title("excludedAttributes=members on list with a displayName filter and on GET by id"), async () => {
        const a = await createUser();
        const group = await createGroup({ members: [{ value: a.id }] });
        const list = expectList(await call("GET", `/Groups?excludedAttributes=members&filter=${q(`displayName eq "${group.displayName}"`)}`));
        expect(list.totalResults).toBe(1);
        expect(list.Resources[0].id).toBe(group.id);
        expect(list.Resources[0].displayName).toBe(group.displayName);
        expect(list.Resources[0].members).toBeUndefined();
        const one = await call("GET", `/Groups/${group.id}?excludedAttributes=members`);
        expectStatus(one, 200);
        expect(one.body.members).toBeUndefined();
        expect(one.body.displayName).toBe(group.displayName);
        expect(one.body.id).toBe(group.id);
      });

      it(title("group displayName is unique: 409 uniqueness"), async () => {
        const group = await createGroup();
        expectError(await call("POST", "/Groups", { body: { schemas: [GROUP], displayName: group.displayName } }), 409, "uniqueness");
        const other = await createGroup();
        expectError(await call("PATCH", `/Groups/${other.id}`, { body: patchBody({ op: "replace", path: "displayName", value: group.displayName }) }), 409, "uniqueness");
        expect((await getGroup(other.id)).displayName).toBe(other.displayName);
        // Deleting frees the name.
        expectStatus(await call("DELETE", `/Groups/${group.id}`), 204);
        expectStatus(await call("POST", "/Groups", { body: { schemas: [GROUP], displayName: group.displayName } }), 201);
      });

      it(title("User.groups follows membership"), async () => {
        const user = await createUser();
        const group = await createGroup();
        expect((await call("GET", `/Users/${user.id}`)).body.groups ?? []).toEqual([]);
        await patchGroup(group.id, { op: "add", path: "members", value: [{ value: user.id }] });
        const withGroup = (await call("GET", `/Users/${user.id}`)).body;
        expect(withGroup.groups).toEqual([expect.objectContaining({ value: group.id, display: group.displayName })]);
        const listed = await listUsers(`userName eq "${user.userName}"`);
        expect(listed.Resources[0].groups?.map((g: J) => g.value)).toEqual([group.id]);
        await patchGroup(group.id, { op: "remove", path: `members[value eq "${user.id}"]` });
        expect((await call("GET", `/Users/${user.id}`)).body.groups ?? []).toEqual([]);
      });

      it(title("filters on User.groups and Group.members (RFC 7643 §4.1.2, RFC 7644 §3.4.2.2)"), async () => {
        const tag = `grpf${uid()}`;
        const [a, b, c] = [await createUser({ userName: `${tag}.a@example.com` }), await createUser({ userName: `${tag}.b@example.com` }), await createUser({ userName: `${tag}.c@example.com` })];
        const group = await createGroup({ members: [{ value: a.id }, { value: b.id }] });
        const names = (list: { Resources: J[] }) => list.Resources.map((u) => u.userName).sort();
        const scopedTo = (f: string) => `userName sw "${tag}." and (${f})`;
        expect(names(await listUsers(scopedTo(`groups.value eq "${group.id}"`)))).toEqual([a.userName, b.userName]);
        expect(names(await listUsers(scopedTo(`groups[value eq "${group.id}"]`)))).toEqual([a.userName, b.userName]);
        expect(names(await listUsers(scopedTo(`groups.display eq "${group.displayName}"`)))).toEqual([a.userName, b.userName]);
        expect(names(await listUsers(scopedTo("groups pr")))).toEqual([a.userName, b.userName]);
        expect(names(await listUsers(scopedTo("not (groups pr)")))).toEqual([c.userName]);
        const search = await call("POST", "/Users/.search", { body: { schemas: [SEARCH], filter: scopedTo(`groups.value eq "${group.id}"`), attributes: ["userName"] } });
        expect(names(expectList(search))).toEqual([a.userName, b.userName]);
        // Group.members, also when the members are not returned.
        const byMember = expectList(await call("GET", `/Groups?filter=${q(`members.value eq "${a.id}"`)}&excludedAttributes=members`));
        expect(byMember.Resources.map((g) => g.id)).toEqual([group.id]);
        expect(byMember.Resources[0]!.members).toBeUndefined();
      });

      it(title("a filter on the password (never returned) is 400 invalidFilter, not an oracle"), async () => {
        const user = await createUser({ password: "Filter-Oracle-9!" });
        for (const f of [`password eq "Filter-Oracle-9!"`, "password pr", `userName eq "${user.userName}" and not (password eq "x")`]) {
          expectError(await call("GET", `/Users?filter=${q(f)}`), 400, "invalidFilter");
        }
        expectError(await call("POST", "/Users/.search", { body: { schemas: [SEARCH], filter: "password pr" } }), 400, "invalidFilter");
      });

      it(title("deleting a group removes it from User.groups"), async () => {
        const user = await createUser();
        const group = await createGroup({ members: [{ value: user.id }] });
        expectStatus(await call("DELETE", `/Groups/${group.id}`), 204);
        expectError(await call("GET", `/Groups/${group.id}`), 404);
        expect((await call("GET", `/Users/${user.id}`)).body.groups ?? []).toEqual([]);
      });

      it(title("a group can be a member of a group"), async () => {
        const inner = await createGroup();
        const outer = await createGroup();
        await patchGroup(outer.id, { op: "add", path: "members", value: [{ value: inner.id }] });
        const got = await getGroup(outer.id);
        expect(got.members).toEqual([expect.objectContaining({ value: inner.id, type: "Group" })]);
        expect(memberIds(await getGroup(inner.id))).toEqual([]);
        const self = await call("PATCH", `/Groups/${outer.id}`, { body: patchBody({ op: "add", path: "members", value: [{ value: outer.id }] }) });
        expectError(self, 400);
        expect(memberIds(await getGroup(outer.id))).toEqual([inner.id]);
      });

      it(title("an unknown member id is 400 and changes nothing"), async () => {
        const missing = globalThis.crypto.randomUUID();
        const displayName = `Bad ${uid()}`;
        const r = await call("POST", "/Groups", { body: { schemas: [GROUP], displayName, members: [{ value: missing }] } });
        expectError(r, 400);
        const list = expectList(await call("GET", `/Groups?filter=${q(`displayName eq "${displayName}"`)}`));
        expect(list.totalResults).toBe(0);
        const a = await createUser();
        const group = await createGroup({ members: [{ value: a.id }] });
        const p = await call("PATCH", `/Groups/${group.id}`, { body: patchBody({ op: "add", path: "members", value: [{ value: missing }] }) });
        expectError(p, 400);
        const got = await getGroup(group.id);
        expect(memberIds(got)).toEqual([a.id]);
        expect(got.meta.version).toBe(group.meta.version);
      });

      it(title("concurrent member additions without If-Match are all kept"), async () => {
        const users = await Promise.all(Array.from({ length: 10 }, () => createUser()));
        const group = await createGroup();
        const replies = await Promise.all(users.map((u) => call("PATCH", `/Groups/${group.id}`, { body: patchBody({ op: "add", path: "members", value: [{ value: u.id }] }) })));
        for (const r of replies) expect([200, 204], show(r)).toContain(r.status);
        expect(memberIds(await getGroup(group.id))).toEqual(users.map((u) => u.id).sort());
      });
    });

    describe("filters (RFC 7644 §3.4.2.2)", () => {
      const tag = uid();
      let users: J[];
      beforeAll(async () => {
        users = [];
        const specs = [
          { given: "Alice", family: "Archer", title: "Engineer", email: "work" },
          { given: "Bob", family: "Baker", title: "Manager", email: "home" },
          { given: "Carol", family: "Carter", title: undefined, email: "work" },
        ];
        for (const [i, s] of specs.entries()) {
          users.push(
            await createUser({
              userName: `flt-${tag}-${i}-${s.given.toLowerCase()}@example.com`,
              name: { givenName: s.given, familyName: s.family },
              ...(s.title ? { title: s.title } : {}),
              emails: [{ type: s.email, value: `${s.given.toLowerCase()}.${tag}@${s.email}.example.com` }],
            }),
          );
        }
      });
      const ids = (list: { Resources: J[] }) => list.Resources.map((u: J) => u.id).sort();
      const pick = (...i: number[]) => i.map((n) => users[n].id).sort();
      const scoped = (f: string) => `userName sw "flt-${tag}-" and (${f})`;

      it(title("sw, co, ew and ne"), async () => {
        expect(ids(await listUsers(`userName sw "flt-${tag}-"`))).toEqual(pick(0, 1, 2));
        expect(ids(await listUsers(`userName co "${tag}-1"`))).toEqual(pick(1));
        expect(ids(await listUsers(scoped(`userName ew "carol@example.com"`)))).toEqual(pick(2));
        expect(ids(await listUsers(scoped(`name.familyName ne "Baker"`)))).toEqual(pick(0, 2));
      });

      it(title("gt, ge and lt on meta.lastModified"), async () => {
        expect(ids(await listUsers(scoped(`meta.lastModified gt "2000-01-01T00:00:00Z"`)))).toEqual(pick(0, 1, 2));
        const future = new Date(Date.now() + 86400000).toISOString();
        expect((await listUsers(scoped(`meta.lastModified gt "${future}"`))).totalResults).toBe(0);
        expect(ids(await listUsers(scoped(`meta.lastModified lt "${future}"`)))).toEqual(pick(0, 1, 2));
        const last = users[2].meta.lastModified;
        expect(ids(await listUsers(scoped(`meta.lastModified ge "${last}"`)))).toContain(users[2].id);
      });

      it(title("value paths, pr, not, and, or, grouping"), async () => {
        expect(ids(await listUsers(scoped(`emails[type eq "work"]`)))).toEqual(pick(0, 2));
        expect(ids(await listUsers(scoped(`emails[type eq "work" and value sw "carol"]`)))).toEqual(pick(2));
        expect(ids(await listUsers(scoped(`title pr`)))).toEqual(pick(0, 1));
        expect(ids(await listUsers(scoped(`not (title eq "Engineer")`)))).toEqual(pick(1, 2));
        expect(ids(await listUsers(scoped(`title eq "Engineer" or name.givenName eq "bob"`)))).toEqual(pick(0, 1));
        expect(ids(await listUsers(scoped(`(title eq "Engineer" or title eq "Manager") and emails.type eq "home"`)))).toEqual(pick(1));
      });

      it(title("an invalid filter is 400 invalidFilter"), async () => {
        for (const bad of ['userName eq "unterminated', "userName zz \"x\"", '(userName eq "x"', "and or", 'emails[type eq "work"']) {
          expectError(await call("GET", `/Users?filter=${q(bad)}`), 400, "invalidFilter");
        }
        const search = await call("POST", "/Users/.search", { body: { schemas: [SEARCH], filter: "userName eq" } });
        expectError(search, 400, "invalidFilter");
        // An empty filter is not "no filter": a lookup whose value went missing must not list everyone.
        for (const empty of ["", "%20%20"]) expectError(await call("GET", `/Users?filter=${empty}`), 400, "invalidFilter");
        expectError(await call("POST", "/Users/.search", { body: { schemas: [SEARCH], filter: "" } }), 400, "invalidFilter");
      });
    });

    describe("paging and sorting (RFC 7644 §3.4.2.3-4, RFC 9865)", () => {
      const tag = uid();
      const total = 7;
      let users: J[];
      const filter = `filter=${q(`userName sw "pg-${tag}-"`)}`;
      beforeAll(async () => {
        users = [];
        // Created out of alphabetical order, so that sorting is visible.
        for (const n of [3, 0, 6, 1, 5, 2, 4]) users.push(await createUser({ userName: `pg-${tag}-${String.fromCharCode(97 + n)}@example.com` }));
      });

      it(title("startIndex and count page through the results"), async () => {
        const page = expectList(await call("GET", `/Users?${filter}&startIndex=1&count=3`));
        expect(page).toMatchObject({ totalResults: total, startIndex: 1, itemsPerPage: 3 });
        const last = expectList(await call("GET", `/Users?${filter}&startIndex=7&count=3`));
        expect(last).toMatchObject({ totalResults: total, startIndex: 7, itemsPerPage: 1 });
      });

      it(title("count=0 gives totalResults only"), async () => {
        const page = expectList(await call("GET", `/Users?${filter}&count=0`));
        expect(page.totalResults).toBe(total);
        expect(page.Resources).toEqual([]);
        expect(page.itemsPerPage).toBe(0);
      });

      it(title("out-of-range values: startIndex beyond the end, below 1, negative count"), async () => {
        const beyond = expectList(await call("GET", `/Users?${filter}&startIndex=100&count=10`));
        expect(beyond.totalResults).toBe(total);
        expect(beyond.Resources).toEqual([]);
        const zero = expectList(await call("GET", `/Users?${filter}&startIndex=0&count=2`));
        expect(zero.startIndex).toBe(1);
        expect(zero.itemsPerPage).toBe(2);
        const negative = expectList(await call("GET", `/Users?${filter}&startIndex=-5&count=-1`));
        expect(negative.startIndex).toBe(1);
        expect(negative.totalResults).toBe(total);
        expect(negative.Resources).toEqual([]);
        // Past 2^53 (and past SQL's 64-bit integers): still an empty page, never a 500.
        for (const huge of ["9007199254740993", "9223372036854775807", "99999999999999999999"]) {
          const far = expectList(await call("GET", `/Users?${filter}&startIndex=${huge}&count=10`));
          expect(far.totalResults).toBe(total);
          expect(far.Resources).toEqual([]);
        }
        const farSearch = await call("POST", "/Users/.search", { body: { schemas: [SEARCH], startIndex: 1e30, count: 10 } });
        expect(farSearch.status).toBe(200);
        expect((farSearch.body as { Resources: unknown[] }).Resources).toEqual([]);
      });

      it(title("the default page holds everything up to the default size"), async () => {
        const page = expectList(await call("GET", `/Users?${filter}`));
        expect(page.totalResults).toBe(total);
        expect(page.itemsPerPage).toBe(total);
      });

      it(title("the order is stable across pages"), async () => {
        const seen: string[] = [];
        for (let start = 1; start <= total; start += 3) {
          const page = expectList(await call("GET", `/Users?${filter}&startIndex=${start}&count=3`));
          seen.push(...page.Resources.map((u: J) => u.id));
        }
        expect(seen).toHaveLength(total);
        expect([...seen].sort()).toEqual(users.map((u) => u.id).sort());
        const again: string[] = [];
        for (let start = 1; start <= total; start += 2) {
          const page = expectList(await call("GET", `/Users?${filter}&startIndex=${start}&count=2`));
          again.push(...page.Resources.map((u: J) => u.id));
        }
        expect(again).toEqual(seen);
      });

      it(title("a count above the maximum is capped"), async () => {
        const max: number = spc.pagination?.maxPageSize ?? spc.filter.maxResults;
        if (max <= 50) {
          const prefix = `cap-${uid()}-`;
          for (let i = 0; i <= max; i++) await createUser({ userName: `${prefix}${i}@example.com` });
          const page = expectList(await call("GET", `/Users?filter=${q(`userName sw "${prefix}"`)}&count=${max + 100}`));
          expect(page.totalResults).toBe(max + 1);
          expect(page.itemsPerPage).toBe(max);
        } else {
          const page = expectList(await call("GET", `/Users?count=${max + 1000}`));
          expect(page.itemsPerPage).toBeLessThanOrEqual(max);
        }
      });

      it(title("cursor paging walks every page through nextCursor"), async () => {
        const seen: string[] = [];
        let cursor = "";
        let pages = 0;
        for (;;) {
          const page = expectList(await call("GET", `/Users?${filter}&count=3&cursor=${encodeURIComponent(cursor)}`));
          expect(page.totalResults).toBe(total);
          expect(page.itemsPerPage).toBeLessThanOrEqual(3);
          seen.push(...page.Resources.map((u: J) => u.id));
          pages++;
          if (page.nextCursor === undefined) break;
          expect(typeof page.nextCursor).toBe("string");
          cursor = page.nextCursor;
          expect(pages).toBeLessThan(10);
        }
        expect(pages).toBe(3);
        expect([...seen].sort()).toEqual(users.map((u) => u.id).sort());
        expect(new Set(seen).size).toBe(total);
      });

      it(title("an invalid cursor is 400 invalidCursor"), async () => {
        expectError(await call("GET", `/Users?${filter}&count=3&cursor=${encodeURIComponent("not a cursor!")}`), 400, "invalidCursor");
      });

      it(title("sortBy userName ascending and descending"), async () => {
        const names = users.map((u) => u.userName.toLowerCase()).sort();
        const asc = expectList(await call("GET", `/Users?${filter}&sortBy=userName&sortOrder=ascending`));
        expect(asc.Resources.map((u: J) => u.userName.toLowerCase())).toEqual(names);
        const byDefault = expectList(await call("GET", `/Users?${filter}&sortBy=userName`));
        expect(byDefault.Resources.map((u: J) => u.userName.toLowerCase())).toEqual(names);
        const desc = expectList(await call("GET", `/Users?${filter}&sortBy=userName&sortOrder=descending`));
        expect(desc.Resources.map((u: J) => u.userName.toLowerCase())).toEqual([...names].reverse());
        const paged = expectList(await call("GET", `/Users?${filter}&sortBy=userName&sortOrder=descending&startIndex=2&count=2`));
        expect(paged.Resources.map((u: J) => u.userName.toLowerCase())).toEqual([...names].reverse().slice(1, 3));
      });
    });

    describe("projection (RFC 7644 §3.4.2.5)", () => {
      const full = () =>
        createUser({
          schemas: [USER, ENTERPRISE],
          title: "Engineer",
          password: "s3cret-Passw0rd",
          emails: [{ type: "work", value: `p.${uid()}@example.com` }],
          [ENTERPRISE]: { employeeNumber: "42", department: "R&D" },
        });

      it(title("attributes returns only those, plus id"), async () => {
        const user = await full();
        const r = await call("GET", `/Users/${user.id}?attributes=userName`);
        expectStatus(r, 200);
        expect(r.body.id).toBe(user.id);
        expect(r.body.userName).toBe(user.userName);
        expect(r.body.name).toBeUndefined();
        expect(r.body.emails).toBeUndefined();
        expect(r.body.title).toBeUndefined();
        expect(r.body[ENTERPRISE]).toBeUndefined();
        const sub = await call("GET", `/Users/${user.id}?attributes=name.givenName,${ENTERPRISE}:employeeNumber`);
        expect(sub.body.name).toEqual({ givenName: "Test" });
        expect(sub.body[ENTERPRISE]).toEqual({ employeeNumber: "42" });
        expect(sub.body.userName).toBeUndefined();
      });

      it(title("excludedAttributes leaves those out, never id"), async () => {
        const user = await full();
        const r = await call("GET", `/Users/${user.id}?excludedAttributes=emails,name,id`);
        expectStatus(r, 200);
        expect(r.body.id).toBe(user.id);
        expect(r.body.emails).toBeUndefined();
        expect(r.body.name).toBeUndefined();
        expect(r.body.userName).toBe(user.userName);
        expect(r.body.title).toBe("Engineer");
      });

      it(title("projection applies to lists and .search, and password is never returned"), async () => {
        const user = await full();
        expect(user.password).toBeUndefined();
        const list = await listUsers(`userName eq "${user.userName}"`, "&attributes=userName,password");
        expect(list.Resources).toHaveLength(1);
        expect(list.Resources[0].id).toBe(user.id);
        expect(list.Resources[0].userName).toBe(user.userName);
        expect(list.Resources[0].password).toBeUndefined();
        expect(list.Resources[0].title).toBeUndefined();
        const got = await call("GET", `/Users/${user.id}?attributes=password`);
        expect(got.body.password).toBeUndefined();
        expect(got.text).not.toContain("s3cret-Passw0rd");
        const search = expectList(await call("POST", "/Users/.search", { body: { schemas: [SEARCH], filter: `userName eq "${user.userName}"`, excludedAttributes: ["title"] } }));
        expect(search.Resources[0].title).toBeUndefined();
        expect(search.Resources[0].userName).toBe(user.userName);
      });
    });

    describe("ETags (RFC 7644 §3.14)", () => {
      it(title("the ETag header is meta.version, a weak tag that changes with the resource"), async () => {
        const user = await createUser();
        const got = await call("GET", `/Users/${user.id}`);
        const etag = got.headers.get("etag");
        expect(etag).toBe(got.body.meta.version);
        expect(etag).toMatch(/^W\/".+"$/);
        const patched = await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "Changed" }) });
        expect([200, 204]).toContain(patched.status);
        const after = await call("GET", `/Users/${user.id}`);
        expect(after.headers.get("etag")).not.toBe(etag);
        expect(after.headers.get("etag")).toBe(after.body.meta.version);
      });

      it(title("If-None-Match with the current version is 304; with an old one 200"), async () => {
        const user = await createUser();
        const read = await call("GET", `/Users/${user.id}`);
        const etag = read.headers.get("etag")!;
        const notModified = await call("GET", `/Users/${user.id}`, { headers: { "If-None-Match": etag } });
        expectStatus(notModified, 304);
        expect(notModified.text).toBe("");
        // RFC 9110 §15.4.5: the ETag and Content-Location the 200 carries.
        expect([notModified.headers.get("etag"), notModified.headers.get("content-location")]).toEqual([etag, read.headers.get("content-location")]);
        expect(notModified.headers.get("content-location")).toBeTruthy();
        await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "New" }) });
        const modified = await call("GET", `/Users/${user.id}`, { headers: { "If-None-Match": etag } });
        expectStatus(modified, 200);
        expect(modified.body.title).toBe("New");
      });

      it(title("If-Match on GET: the current version (or *) reads the resource, another is 412 (RFC 9110 §13.1.1)"), async () => {
        const user = await createUser();
        expectStatus(await call("GET", `/Users/${user.id}`, { headers: { "If-Match": user.meta.version } }), 200);
        expectStatus(await call("GET", `/Users/${user.id}`, { headers: { "If-Match": "*" } }), 200);
        expectError(await call("GET", `/Users/${user.id}`, { headers: { "If-Match": 'W/"no-such-version"' } }), 412);
      });

      it(title("If-Match with a stale version is 412 on PUT, PATCH and DELETE and changes nothing"), async () => {
        const user = await createUser();
        const stale = user.meta.version;
        await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "Moved on" }) });
        const current = (await call("GET", `/Users/${user.id}`)).body;
        expectError(await call("PUT", `/Users/${user.id}`, { body: { schemas: [USER], userName: user.userName, title: "PUT" }, headers: { "If-Match": stale } }), 412);
        expectError(await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "PATCH" }), headers: { "If-Match": stale } }), 412);
        expectError(await call("DELETE", `/Users/${user.id}`, { headers: { "If-Match": stale } }), 412);
        const after = (await call("GET", `/Users/${user.id}`)).body;
        expect(after.title).toBe("Moved on");
        expect(after.meta.version).toBe(current.meta.version);

        const group = await createGroup();
        await patchGroup(group.id, { op: "replace", path: "displayName", value: `G ${uid()}` });
        expectError(await call("PATCH", `/Groups/${group.id}`, { body: patchBody({ op: "replace", path: "displayName", value: `H ${uid()}` }), headers: { "If-Match": group.meta.version } }), 412);
      });

      it(title("If-None-Match naming the current version (or *) is 412 on PUT, PATCH and DELETE (RFC 9110 §13.1.2); an old one lets the write through"), async () => {
        const user = await createUser();
        const current = user.meta.version;
        for (const tag of [current, "*"]) {
          expectError(await call("PUT", `/Users/${user.id}`, { body: { schemas: [USER], userName: user.userName, title: "PUT" }, headers: { "If-None-Match": tag } }), 412);
          expectError(await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "PATCH" }), headers: { "If-None-Match": tag } }), 412);
          expectError(await call("DELETE", `/Users/${user.id}`, { headers: { "If-None-Match": tag } }), 412);
        }
        const unchanged = (await call("GET", `/Users/${user.id}`)).body;
        expect([unchanged.title, unchanged.meta.version]).toEqual([user.title, current]);
        expectStatus(await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "Moved on" }) }), userPatchStatus);
        expectStatus(await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "Again" }), headers: { "If-None-Match": current } }), userPatchStatus);
        expect((await call("GET", `/Users/${user.id}`)).body.title).toBe("Again");
      });

      it(title("If-Match with the current version succeeds"), async () => {
        const user = await createUser();
        const put = await call("PUT", `/Users/${user.id}`, { body: { schemas: [USER], userName: user.userName, title: "PUT" }, headers: { "If-Match": user.meta.version } });
        expectStatus(put, 200);
        const patch = await call("PATCH", `/Users/${user.id}`, { body: patchBody({ op: "replace", path: "title", value: "PATCH" }), headers: { "If-Match": put.headers.get("etag")! } });
        expectStatus(patch, userPatchStatus);
        const version = (await call("GET", `/Users/${user.id}`)).body.meta.version;
        expectStatus(await call("DELETE", `/Users/${user.id}`, { headers: { "If-Match": version } }), 204);
        const other = await createUser();
        expectStatus(await call("DELETE", `/Users/${other.id}`, { headers: { "If-Match": "*" } }), 204);
      });
    });

    describe("search (RFC 7644 §3.4.3)", () => {
      it(title("POST /Users/.search with filter, projection and paging"), async () => {
        const tag = uid();
        const a = await createUser({ userName: `srch-${tag}-a@example.com`, title: "T" });
        await createUser({ userName: `srch-${tag}-b@example.com` });
        const r = await call("POST", "/Users/.search", {
          body: { schemas: [SEARCH], filter: `userName sw "srch-${tag}-"`, attributes: ["userName"], sortBy: "userName", sortOrder: "ascending", startIndex: 1, count: 1 },
        });
        const list = expectList(r);
        expect(list.totalResults).toBe(2);
        expect(list.Resources).toHaveLength(1);
        expect(list.Resources[0].id).toBe(a.id);
        expect(list.Resources[0].title).toBeUndefined();
      });

      it(title("POST /.search searches every resource type"), async () => {
        const displayName = `Root ${uid()}`;
        const user = await createUser({ displayName });
        const group = await createGroup({ displayName });
        const list = expectList(await call("POST", "/.search", { body: { schemas: [SEARCH], filter: `displayName eq "${displayName}"` } }));
        expect(list.totalResults).toBe(2);
        const found = list.Resources.map((r: J) => `${r.meta?.resourceType}:${r.id}`).sort();
        expect(found).toEqual([`Group:${group.id}`, `User:${user.id}`].sort());
      });

      it(title("a malformed SearchRequest is 400"), async () => {
        expectError(await call("POST", "/Users/.search", { body: { schemas: [SEARCH], count: "many" } }), 400);
      });
    });

    describe("bulk (RFC 7644 §3.7)", () => {
      const bulk = (Operations: unknown[], extra: Record<string, unknown> = {}) => call("POST", "/Bulk", { body: { schemas: [BULK_REQUEST], ...extra, Operations } });

      it(title("creates a user and a group that references it by bulkId"), async () => {
        if (!spc.bulk.supported) return expectError(await bulk([]), 501);
        const userName = `bulk.${uid()}@example.com`;
        const displayName = `Bulk ${uid()}`;
        const other = await createUser();
        const r = await bulk([
          // Listed first: the server must resolve the forward reference.
          { method: "POST", path: "/Groups", bulkId: "g1", data: { schemas: [GROUP], displayName, members: [{ type: "User", value: "bulkId:u1" }] } },
          { method: "POST", path: "/Users", bulkId: "u1", data: { schemas: [USER], userName } },
          { method: "PATCH", path: "/Groups/bulkId:g1", data: patchBody({ op: "add", path: "members", value: [{ value: other.id }] }) },
        ]);
        expectStatus(r, 200);
        expectScimJson(r);
        expect(r.body.schemas).toContain(BULK_RESPONSE);
        expect(r.body.Operations).toHaveLength(3);
        expect(r.body.Operations.map((o: J) => o.status)).toEqual(["201", "201", String(groupPatchStatus)]);
        for (const op of r.body.Operations) expect(typeof op.location).toBe("string");
        const userOp = r.body.Operations.find((o: J) => o.bulkId === "u1");
        const groupOp = r.body.Operations.find((o: J) => o.bulkId === "g1");
        const user = (await listUsers(`userName eq "${userName}"`)).Resources[0];
        expect(userOp.location).toMatch(new RegExp(`/Users/${user.id}$`));
        const groupId = groupOp.location.split("/").pop();
        const group = await getGroup(groupId);
        expect(group.displayName).toBe(displayName);
        expect(memberIds(group)).toEqual([user.id, other.id].sort());
        expect(r.body.Operations[2].location).toBe(groupOp.location);
      });

      it(title("PATCH, PUT and DELETE operations report string statuses"), async () => {
        if (!spc.bulk.supported) return;
        const user = await createUser();
        const other = await createUser();
        const r = await bulk([
          { method: "PATCH", path: `/Users/${user.id}`, data: patchBody({ op: "replace", path: "title", value: "Bulk" }) },
          { method: "PUT", path: `/Users/${other.id}`, data: { schemas: [USER], userName: other.userName, nickName: "bulky" } },
          { method: "DELETE", path: `/Users/${other.id}` },
          { method: "DELETE", path: `/Users/${globalThis.crypto.randomUUID()}` },
        ]);
        expectStatus(r, 200);
        expect(r.body.Operations.map((o: J) => o.status)).toEqual([String(userPatchStatus), "200", "204", "404"]);
        expect(r.body.Operations[3].response.status).toBe("404");
        expect((await call("GET", `/Users/${user.id}`)).body.title).toBe("Bulk");
        expectError(await call("GET", `/Users/${other.id}`), 404);
      });

      it(title("failOnErrors stops after that many errors"), async () => {
        if (!spc.bulk.supported) return;
        const existing = await createUser();
        const userName = `bulk-after.${uid()}@example.com`;
        const r = await bulk(
          [
            { method: "POST", path: "/Users", bulkId: "dup", data: { schemas: [USER], userName: existing.userName } },
            { method: "POST", path: "/Users", bulkId: "later", data: { schemas: [USER], userName } },
          ],
          { failOnErrors: 1 },
        );
        expectStatus(r, 200);
        expect(r.body.Operations).toHaveLength(1);
        expect(r.body.Operations[0].status).toBe("409");
        expect(r.body.Operations[0].response.scimType).toBe("uniqueness");
        expect((await listUsers(`userName eq "${userName}"`)).totalResults).toBe(0);
      });

      it(title("more operations than maxOperations is 413"), async () => {
        if (!spc.bulk.supported) return;
        const max: number = spc.bulk.maxOperations;
        const ops = Array.from({ length: max + 1 }, () => ({ method: "DELETE", path: `/Users/${globalThis.crypto.randomUUID()}` }));
        expectError(await bulk(ops), 413);
      });
    });

    describe("errors and HTTP semantics", () => {
      it(title("no token and a bad token are 401 with WWW-Authenticate, error=\"invalid_token\" for the bad token only (RFC 6750 §3.1)"), async () => {
        for (const token of [null, `wrong-${uid()}`]) {
          const r = await call("GET", "/Users", { token });
          expectError(r, 401);
          expect(r.headers.get("www-authenticate") ?? "").toMatch(/^bearer /i);
          expect(r.headers.get("www-authenticate") ?? "", String(token)).toMatch(token === null ? /^[^,]*$/ : /, error="invalid_token"$/);
        }
        // Another scheme is no bearer token that was refused: the challenge alone.
        const basic = await call("GET", "/Users", { token: null, headers: { Authorization: "Basic dXNlcjpwYXNz" } });
        expectError(basic, 401);
        expect(basic.headers.get("www-authenticate")).not.toMatch(/error=/);
        const post = await call("POST", "/Users", { token: null, body: oktaUser() });
        expectError(post, 401);
      });

      it(title("Authorization sent twice, the first a valid token: 401, no credential picked from several"), async () => {
        // Joined into one field, as a web Headers object sends them.
        const joined = await call("GET", "/Users", { token: null, headers: { Authorization: `Bearer ${t.token}, Bearer wrong-${uid()}` } });
        expectError(joined, 401);
        // As two header lines, on a listening server (Node alone keeps the first one).
        if (listening()) {
          const url = new URL(t.baseUrl);
          const connection = await rawConnection(url.origin);
          try {
            connection.write(`GET ${url.pathname.replace(/\/+$/, "")}/Users HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${t.token}\r\nAuthorization: Bearer wrong\r\n\r\n`);
            const { head } = await connection.response();
            expect(head).toMatch(/^HTTP\/1\.1 401 /);
          } finally {
            connection.destroy();
          }
        }
      });

      it(title("a path with . or .. segments names no resource: 404, nothing changed (a query may hold them)"), async () => {
        // fetch resolves dot segments before sending: only a listening server sees them.
        if (!listening()) return;
        const user = await createUser();
        const url = new URL(t.baseUrl);
        const root = url.pathname.replace(/\/+$/, "");
        const connection = await rawConnection(url.origin);
        const send = async (method: string, target: string, body?: string) => {
          const length = body === undefined ? "" : `Content-Type: application/scim+json\r\nContent-Length: ${new TextEncoder().encode(body).length}\r\n`;
          connection.write(`${method} ${target} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${t.token}\r\n${length}\r\n${body ?? ""}`);
          return connection.response();
        };
        try {
          const rename = JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value: "Renamed" }] });
          for (const [method, target, body] of [
            ["PATCH", `${root}/Groups/../Users/${user.id}`, rename],
            ["GET", `${root}/Groups/%2e%2e/Users`],
            ["GET", `${root}/./Users`],
            ["GET", `${root}/Users/${user.id}/.`],
          ] as const) {
            const { head, body: answer } = await send(method, target, body);
            expect(head, `${method} ${target}`).toMatch(/^HTTP\/1\.1 404 /);
            expect(JSON.parse(answer), target).toMatchObject({ schemas: [ERROR], status: "404" });
          }
          const lookup = await send("GET", `${root}/Users?filter=${encodeURIComponent('userName eq "a/../b"')}`);
          expect(lookup.head).toMatch(/^HTTP\/1\.1 200 /);
        } finally {
          connection.destroy();
        }
        expect((await call("GET", `/Users/${user.id}`)).body.displayName).toBe(user.displayName);
      });

      it(title("an absolute-form request target (RFC 9112 §3.2.2): served, with a well-formed Location"), async () => {
        if (!listening()) return;
        const url = new URL(t.baseUrl);
        const root = url.pathname.replace(/\/+$/, "");
        const body = JSON.stringify(oktaUser());
        const connection = await rawConnection(url.origin);
        try {
          connection.write(
            `POST ${url.origin}${root}/Users HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/scim+json\r\nContent-Length: ${new TextEncoder().encode(body).length}\r\n\r\n${body}`,
          );
          const { head, body: answer } = await connection.response();
          expect(head).toMatch(/^HTTP\/1\.1 201 /);
          const location = /\r\nlocation: *([^\r]*)/i.exec(head)?.[1] ?? "";
          expect(new URL(location).pathname).toBe(`${root}/Users/${JSON.parse(answer).id}`);
          expect(JSON.parse(answer).meta.location).toBe(location);
        } finally {
          connection.destroy();
        }
      });

      it(title("a Host that is not host[:port], or Host sent twice, is a SCIM 400 (RFC 9112 §3.2); nothing is created"), async () => {
        if (!listening()) return;
        const url = new URL(t.baseUrl);
        const root = url.pathname.replace(/\/+$/, "");
        const userName = `host.${uid()}@example.com`;
        const body = JSON.stringify({ schemas: [USER], userName });
        for (const hostLines of ["Host: evil.example/x?y=", "Host: exa mple", "Host: a@evil.example", "Host: a.example:99999", `Host: ${url.host}\r\nHost: evil.example`]) {
          const connection = await rawConnection(url.origin);
          try {
            connection.write(
              `POST ${root}/Users HTTP/1.1\r\n${hostLines}\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/scim+json\r\nContent-Length: ${new TextEncoder().encode(body).length}\r\n\r\n${body}`,
            );
            const { head, body: answer } = await connection.response();
            expect(head, hostLines).toMatch(/^HTTP\/1\.1 400 /);
            expect(JSON.parse(answer), hostLines).toMatchObject({ schemas: [ERROR], status: "400" });
          } finally {
            connection.destroy();
          }
        }
        expect((await listUsers(`userName eq "${userName}"`)).totalResults).toBe(0);
      });

      it(title("a # in the request target is part of the path, not a fragment: it names no resource"), async () => {
        if (!listening()) return;
        const user = await createUser();
        const url = new URL(t.baseUrl);
        const connection = await rawConnection(url.origin);
        try {
          connection.write(`DELETE ${url.pathname.replace(/\/+$/, "")}/Users/${user.id}#x HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${t.token}\r\n\r\n`);
          expect((await connection.response()).head).toMatch(/^HTTP\/1\.1 404 /);
        } finally {
          connection.destroy();
        }
        expectStatus(await call("GET", `/Users/${user.id}`), 200);
      });

      it(title("a body that is not UTF-8 is 400 invalidSyntax, not stored with U+FFFD (RFC 8259 §8.1)"), async () => {
        if (!listening()) return;
        const userName = `utf8.${uid()}@example.com`;
        const encoder = new TextEncoder();
        const bytes = Uint8Array.from([...encoder.encode(`{"schemas":["${USER}"],"userName":"${userName}","displayName":"bad`), 0xff, 0xfe, ...encoder.encode('"}')]);
        const url = new URL(t.baseUrl);
        const connection = await rawConnection(url.origin);
        try {
          connection.write(`POST ${url.pathname.replace(/\/+$/, "")}/Users HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/scim+json\r\nContent-Length: ${bytes.length}\r\n\r\n`);
          connection.write(bytes);
          const { head, body } = await connection.response();
          expect(head).toMatch(/^HTTP\/1\.1 400 /);
          expect(JSON.parse(body)).toMatchObject({ status: "400", scimType: "invalidSyntax" });
        } finally {
          connection.destroy();
        }
        expect((await listUsers(`userName eq "${userName}"`)).totalResults).toBe(0);
      });

      it(title("an answer to a body over the limit that was not all read says Connection: close, whatever its status"), async () => {
        if (!listening()) return;
        const url = new URL(t.baseUrl);
        const root = url.pathname.replace(/\/+$/, "");
        const chunk = "x".repeat(64 * 1024);
        // Three times the limit: more than an adapter reads and drops to keep the connection.
        const chunks = Math.ceil((maxBodyBytes * 3) / chunk.length);
        for (const [label, headers] of [
          ["415, chunked", `Authorization: Bearer ${t.token}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked`],
          ["401, chunked", "Content-Type: application/scim+json\r\nTransfer-Encoding: chunked"],
          ["413, declared", `Authorization: Bearer ${t.token}\r\nContent-Type: application/scim+json\r\nContent-Length: ${chunks * chunk.length}`],
        ] as const) {
          const connection = await rawConnection(url.origin);
          try {
            connection.write(`POST ${root}/Users HTTP/1.1\r\nHost: ${url.host}\r\n${headers}\r\n\r\n`);
            const chunked = headers.includes("chunked");
            for (let i = 0; i < chunks && !connection.closed(); i++) connection.write(chunked ? `${chunk.length.toString(16)}\r\n${chunk}\r\n` : chunk);
            if (chunked && !connection.closed()) connection.write("0\r\n\r\n");
            const { head } = await connection.response();
            expect(head, label).toMatch(/^HTTP\/1\.1 4\d\d /);
            expect(head, label).toMatch(/\r\nconnection: *close/i);
          } finally {
            connection.destroy();
          }
        }
      });

      it(title("a transfer coding other than chunked is 501, and nothing is created (RFC 9112 §6.1)"), async () => {
        if (!listening()) return;
        const url = new URL(t.baseUrl);
        const suffix = `te${uid()}`;
        const userName = `okta.${suffix}@example.com`;
        const json = JSON.stringify(oktaUser(suffix));
        const connection = await rawConnection(url.origin);
        try {
          connection.write(
            `POST ${url.pathname.replace(/\/+$/, "")}/Users HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n`,
          );
          connection.write(`${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n0\r\n\r\n`);
          const { head, body } = await connection.response();
          expect(head).toMatch(/^HTTP\/1\.1 501 /);
          expect(JSON.parse(body)).toMatchObject({ status: "501" });
        } finally {
          connection.destroy();
        }
        expect((await listUsers(`userName eq "${userName}"`)).totalResults).toBe(0);
      });

      it(title("malformed JSON is 400 invalidSyntax"), async () => {
        expectError(await call("POST", "/Users", { raw: '{"schemas": [' }), 400, "invalidSyntax");
        const user = await createUser();
        expectError(await call("PATCH", `/Users/${user.id}`, { raw: "{not json" }), 400, "invalidSyntax");
      });

      it(title("a body of the wrong structure is 400"), async () => {
        expectError(await call("POST", "/Users", { body: [oktaUser()] }), 400, "invalidSyntax");
        expectError(await call("POST", "/Users", { body: "just a string" }), 400);
        const user = await createUser();
        expectError(await call("PATCH", `/Users/${user.id}`, { body: { schemas: [PATCH_OP], Operations: { op: "replace" } } }), 400);
        expectError(await call("POST", "/Users", { body: { schemas: [USER] } }), 400);
      });

      it(title("an unknown id is 404 with an Error body"), async () => {
        const id = globalThis.crypto.randomUUID();
        expectError(await call("GET", `/Users/${id}`), 404);
        expectError(await call("GET", `/Groups/${id}`), 404);
        expectError(await call("PATCH", `/Groups/${id}`, { body: patchBody({ op: "replace", path: "displayName", value: "x" }) }), 404);
        expectError(await call("GET", "/NoSuchEndpoint"), 404);
      });

      it(title("a body over the limit is 413"), async () => {
        const r = await call("POST", "/Users", { body: { schemas: [USER], userName: `big.${uid()}@example.com`, displayName: "x".repeat(maxBodyBytes + 16) } });
        expectError(r, 413);
      });

      it(title("__proto__ keys are 400 and nothing is stored"), async () => {
        const userName = `proto.${uid()}@example.com`;
        const raw = `{"schemas":["${USER}"],"userName":"${userName}","__proto__":{"admin":true}}`;
        expectError(await call("POST", "/Users", { raw }), 400);
        const nested = `{"schemas":["${USER}"],"userName":"${userName}","name":{"__proto__":{"admin":true},"givenName":"x"}}`;
        expectError(await call("POST", "/Users", { raw: nested }), 400);
        expect((await listUsers(`userName eq "${userName}"`)).totalResults).toBe(0);
        const user = await createUser();
        const patch = `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"replace","value":{"__proto__":{"admin":true},"title":"x"}}]}`;
        expectError(await call("PATCH", `/Users/${user.id}`, { raw: patch }), 400);
        const after = (await call("GET", `/Users/${user.id}`)).body;
        expect(after.title).toBeUndefined();
        expect(after.admin).toBeUndefined();
        expect(({} as J).admin).toBeUndefined();
      });

      it(title("Content-Type: text/plain is 415; application/json and none are accepted"), async () => {
        expectError(await call("POST", "/Users", { body: oktaUser(), contentType: "text/plain" }), 415);
        const json = await call("POST", "/Users", { body: oktaUser(), contentType: "application/json" });
        expectStatus(json, 201);
        expectScimJson(json);
        const none = await call("POST", "/Users", { body: oktaUser(), contentType: null });
        expectStatus(none, 201);
        const charset = await call("POST", "/Users", { body: oktaUser(), contentType: "application/scim+json; charset=utf-8" });
        expectStatus(charset, 201);
      });

      it(title("a compressed body (Content-Encoding: gzip) is 415, never read as JSON"), async () => {
        const { gzipSync } = await import("node:zlib");
        const user = oktaUser();
        const r = await call("POST", "/Users", { raw: new Uint8Array(gzipSync(JSON.stringify(user))), headers: { "Content-Encoding": "gzip" } });
        expectError(r, 415);
        expect((await listUsers(`userName eq "${user.userName}"`)).totalResults).toBe(0);
        expectStatus(await call("POST", "/Users", { body: user, headers: { "Content-Encoding": "identity" } }), 201);
      });

      it(title("unsupported methods on resource endpoints are 405"), async () => {
        expectError(await call("PUT", "/Users", { body: oktaUser() }), 405);
        expectError(await call("DELETE", "/Groups"), 405);
        expectError(await call("PATCH", "/Users", { body: patchBody({ op: "replace", value: { active: false } }) }), 405);
        expect((await call("DELETE", "/Users")).headers.get("allow")).toBe("GET, HEAD, POST");
      });

      it(title("HEAD answers as GET does, without a body (RFC 9110 §9.3.2)"), async () => {
        const user = await createUser();
        const head = await call("HEAD", `/Users/${user.id}`);
        expectStatus(head, 200);
        expect(head.text).toBe("");
        expect(head.headers.get("etag")).toBe((await call("GET", `/Users/${user.id}`)).headers.get("etag"));
        expectStatus(await call("HEAD", "/Users?count=1"), 200);
        const missing = await call("HEAD", "/Users/no-such-id");
        expectStatus(missing, 404);
        expect(missing.text).toBe("");
        expectStatus(await call("HEAD", "/Users", { token: null }), 401);
      });

      it(title(options.me === "supported" ? "/Me answers for the caller" : "/Me is 501 Not Implemented"), async () => {
        const r = await call("GET", "/Me");
        if (options.me === "supported") expect([200, 404], show(r)).toContain(r.status);
        else expectError(r, 501);
      });
    });

    describe("tenant isolation", () => {
      it(title("another tenant cannot read, change, delete, list or filter a user"), async (ctx) => {
        if (!t.otherTenantToken) return ctx.skip();
        const other = t.otherTenantToken;
        const user = await createUser({ title: "Mine" });
        expectError(await call("GET", `/Users/${user.id}`, { token: other }), 404);
        expectError(await call("PATCH", `/Users/${user.id}`, { token: other, body: patchBody({ op: "replace", path: "title", value: "Theirs" }) }), 404);
        expectError(await call("PUT", `/Users/${user.id}`, { token: other, body: { schemas: [USER], userName: user.userName } }), 404);
        expectError(await call("DELETE", `/Users/${user.id}`, { token: other }), 404);
        const filtered = expectList(await call("GET", `/Users?filter=${q(`userName eq "${user.userName}"`)}`, { token: other }));
        expect(filtered.totalResults).toBe(0);
        const listed = expectList(await call("GET", `/Users?count=1000`, { token: other }));
        expect(listed.Resources.map((u: J) => u.id)).not.toContain(user.id);
        const group = await call("POST", "/Groups", { token: other, body: { schemas: [GROUP], displayName: `Theirs ${uid()}`, members: [{ value: user.id }] } });
        expectError(group, 400);
        const after = (await call("GET", `/Users/${user.id}`)).body;
        expect(after.title).toBe("Mine");
      });

      it(title("the same userName and group displayName can exist in both tenants"), async (ctx) => {
        if (!t.otherTenantToken) return ctx.skip();
        const body = oktaUser();
        const mine = await call("POST", "/Users", { body });
        expectStatus(mine, 201);
        const theirs = await call("POST", "/Users", { body, token: t.otherTenantToken });
        expectStatus(theirs, 201);
        expect(theirs.body.id).not.toBe(mine.body.id);
        const displayName = `Shared ${uid()}`;
        expectStatus(await call("POST", "/Groups", { body: { schemas: [GROUP], displayName } }), 201);
        expectStatus(await call("POST", "/Groups", { body: { schemas: [GROUP], displayName }, token: t.otherTenantToken }), 201);
        const root = expectList(await call("POST", "/.search", { token: t.otherTenantToken, body: { schemas: [SEARCH], filter: `userName eq "${body.userName}"` } }));
        expect(root.Resources.map((r: J) => r.id)).toEqual([theirs.body.id]);
      });
    });
  });
}

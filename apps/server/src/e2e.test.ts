/**
 * End-to-end runs against the running service over real HTTP: `startServer` on a temporary
 * SQLite file (port 0, a silent logger), and once as a real child process (`node --import tsx
 * src/main.ts`, as `pnpm start` runs it). What identity providers send follows
 * /work/shared/IDP-NOTES.md (Okta and Microsoft Entra ID); every run is checked through the
 * admin API (scim-directory's typed client): normalized users and groups, roles, the events in
 * order, and the audit log, which must hold the SCIM requests and no secret.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { createDirectoryClient, createDirectorySync, type DirectoryClient, type DirectoryView, type EventView } from "scim-directory";
import { openSqlite } from "scim-store-sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIRST_RUN_SETTING } from "./bootstrap.js";
import { loadConfig } from "./config.js";
import { startServer, type RunningServer } from "./server.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");

/** One HTTP exchange with a SCIM endpoint. */
interface Exchange {
  status: number;
  headers: Headers;
  body: Any;
  text: string;
}

/**
 * A SCIM client for one base URL and one bearer token, sending what an IdP sends: JSON bodies
 * as `application/scim+json` unless told otherwise (`contentType: null` sends none, like older Okta tests).
 */
function scimClient(baseUrl: string, token: string) {
  return async (method: string, path: string, body?: unknown, options: { contentType?: string | null; headers?: Record<string, string> } = {}): Promise<Exchange> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "application/scim+json", ...options.headers };
    const contentType = options.contentType === undefined ? "application/scim+json" : options.contentType;
    if (body !== undefined && contentType !== null) headers["content-type"] = contentType;
    const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    // A string body gets `text/plain` from fetch; bytes get no Content-Type at all.
    const payload = text === undefined ? {} : { body: contentType === null ? new TextEncoder().encode(text) : text };
    const response = await fetch(`${baseUrl}${path}`, { method, headers, ...payload });
    const answer = await response.text();
    let parsed: unknown;
    try {
      parsed = answer === "" ? undefined : JSON.parse(answer);
    } catch {
      parsed = answer;
    }
    return { status: response.status, headers: response.headers, body: parsed, text: answer };
  };
}
type Scim = ReturnType<typeof scimClient>;

const q = (filter: string) => encodeURIComponent(filter);
const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });

/** Every event of a directory after `after`, in order (all pages). */
async function eventsOf(client: DirectoryClient, directoryId: string, after = 0): Promise<EventView[]> {
  const out: EventView[] = [];
  let cursor = after;
  for (;;) {
    const page = await client.events.list({ directoryId, after: cursor, limit: 1000 });
    out.push(...page.data);
    cursor = page.nextCursor;
    if (!page.hasMore) return out;
  }
}

/** The highest event seq so far (events of later requests come after it). */
async function lastSeq(client: DirectoryClient): Promise<number> {
  let cursor = 0;
  for (;;) {
    const page = await client.events.list({ after: cursor, limit: 1000 });
    cursor = page.nextCursor;
    if (!page.hasMore) return cursor;
  }
}

/** An event as `type resourceId [member]`, short enough to compare sequences. */
const brief = (e: EventView) => [e.type, e.resourceId, ...(e.member ? [e.member.value] : [])].join(" ");

/** Every audit entry (all pages), optionally of one directory. */
async function auditOf(client: DirectoryClient, directoryId?: string): Promise<Any[]> {
  const out: Any[] = [];
  let after = 0;
  for (;;) {
    const page = await client.auditLog.list({ ...(directoryId ? { directoryId } : {}), after, limit: 1000 });
    out.push(...page.data);
    after = page.nextCursor;
    if (!page.hasMore) return out;
  }
}

/** Opens a directory with a token and a rate limit well above what the tests send. */
async function openDirectory(client: DirectoryClient, organizationId: string, name: string, type: DirectoryView["type"]) {
  const directory = await client.directories.create({ organizationId, name, type, settings: { rateLimit: { requestsPerSecond: 10_000, burst: 10_000 } } });
  const issued = await client.tokens.create(directory.id);
  return { directory, token: issued.token, tokenId: issued.id, scim: scimClient(directory.scimUrl, issued.token) };
}

describe("the running service over HTTP (startServer, SQLite file, port 0)", () => {
  let dir: string;
  let server: RunningServer;
  let client: DirectoryClient;
  let adminKey: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dsync-e2e-"));
    const config = loadConfig({ DATABASE_URL: `sqlite:${join(dir, "sync.db")}`, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" });
    server = await startServer(config, pino({ level: "silent" }));
    adminKey = server.firstRun.adminKey!;
    expect(adminKey).toMatch(/^dsync_admin_/);
    client = createDirectoryClient({ baseUrl: server.origin, adminKey });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves /healthz, the OpenAPI document, and refuses the admin API without the key", async () => {
    const health = await fetch(`${server.origin}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const openapi = await client.openapi();
    expect(openapi.openapi).toMatch(/^3\.1/);
    const refused = await fetch(`${server.origin}/api/directories`, { headers: { authorization: "Bearer dsync_admin_wrong" } });
    expect(refused.status).toBe(401);
    // The first directory made by the first run is served with the first run's token.
    const first = server.firstRun.directory!;
    const r = await scimClient(server.sync.scimUrl(first.id, server.origin), server.firstRun.token!)("GET", "/Users?startIndex=1&count=1");
    expect(r.status).toBe(200);
  });

  it("requests Node's parser refuses get a SCIM Error body: 431 for an oversized head, 400 for garbage or a Host that is not a host", async () => {
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(server.origin);
        const socket = connect(Number(port), "127.0.0.1", () => socket.end(text));
        let answer = "";
        socket.on("data", (d) => (answer += d)).on("close", () => resolve(answer)).on("error", reject);
      });
    const first = server.firstRun.directory!;
    const longFilter = `userName eq "${"a".repeat(20_000)}"`;
    const tooLong = await raw(`GET /scim/v2/${first.id}/Users?filter=${encodeURIComponent(longFilter)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(tooLong).toMatch(/^HTTP\/1\.1 431 /);
    expect(tooLong).toContain("Content-Type: application/scim+json");
    expect(JSON.parse(tooLong.slice(tooLong.indexOf("\r\n\r\n") + 4))).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "431" });
    const garbage = await raw("NOT HTTP AT ALL\r\n\r\n");
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(garbage.slice(garbage.indexOf("\r\n\r\n") + 4))).toMatchObject({ status: "400" });
    // A HEAD gets the status and headers, no body (RFC 9110 §9.3.2).
    const head = await raw(`HEAD /scim/v2/${first.id}/Users/\xff HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head.slice(head.indexOf("\r\n\r\n") + 4)).toBe("");
    // A Host header that is not a host: @hono/node-server cannot make a URL of it.
    const badHost = await raw(`GET /scim/v2/${first.id}/Users HTTP/1.1\r\nHost: exa mple\r\nAuthorization: Bearer ${server.firstRun.token}\r\n\r\n`);
    expect(badHost).toMatch(/^HTTP\/1\.1 400 /);
    expect(badHost).toMatch(/\r\ncontent-type: application\/scim\+json\r\n/i);
    expect(JSON.parse(badHost.slice(badHost.indexOf("\r\n\r\n") + 4))).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "400" });
    // The server goes on.
    expect((await fetch(`${server.origin}/healthz`)).status).toBe(200);
  });

  // ───────────────────────────────────────────────────────────────────────────────────────────
  it("an Okta-style provisioning run", async () => {
    const { directory, token, tokenId, scim } = await openDirectory(client, "org_okta", "Okta", "okta");
    const since = await lastSeq(client);
    const password = `S3cret-${randomUUID()}`;

    // Connector test: numbers, Resources present even when empty.
    const test = await scim("GET", "/Users?startIndex=1&count=1");
    expect(test.status).toBe(200);
    expect(test.body).toEqual({ schemas: [LIST], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });

    // Lookup before create: an empty list means "not found".
    const lookup = await scim("GET", `/Users?filter=${q('userName eq "ann@acme.test"')}&startIndex=1&count=100`);
    expect(lookup.status).toBe(200);
    expect(lookup.body.totalResults).toBe(0);
    expect(lookup.body.Resources).toEqual([]);

    const annBody = {
      schemas: [USER],
      userName: "ann@acme.test",
      name: { givenName: "Ann", familyName: "Lee" },
      emails: [{ primary: true, value: "ann@acme.test", type: "work" }],
      displayName: "Ann Lee",
      locale: "en-US",
      externalId: "00u1okta",
      groups: [],
      password,
      active: true,
    };
    const created = await scim("POST", "/Users", annBody);
    expect(created.status).toBe(201);
    expect(created.text).not.toContain(password);
    expect(created.body).not.toHaveProperty("password");
    expect(created.body).toMatchObject({ userName: "ann@acme.test", active: true, externalId: "00u1okta" });
    const ann = created.body.id as string;
    expect(created.headers.get("location")).toBe(`${directory.scimUrl}/Users/${ann}`);
    expect((await scim("POST", "/Users", annBody)).status).toBe(409);
    expect((await scim("GET", `/Users?filter=${q('userName eq "ANN@acme.test"')}&startIndex=1&count=100`)).body.Resources.map((u: Any) => u.id)).toEqual([ann]);

    // A second user, created without Content-Type (older Okta tests).
    const bob = (await scim("POST", "/Users", { schemas: [USER], userName: "bob@acme.test", name: { givenName: "Bob", familyName: "Ray" }, emails: [{ primary: true, value: "bob@acme.test", type: "work" }], password, active: true }, { contentType: null }));
    expect(bob.status).toBe(201);
    const bobId = bob.body.id as string;
    const cat = (await scim("POST", "/Users", { schemas: [USER], userName: "cat@acme.test", name: { givenName: "Cat", familyName: "Kim" }, emails: [{ primary: true, value: "cat@acme.test", type: "work" }], active: true }, { contentType: "application/json" })).body.id as string;

    // Update: a full PUT after a GET (a new family name and email).
    const got = await scim("GET", `/Users/${ann}`);
    expect(got.status).toBe(200);
    const { meta: _meta, groups: _groups, ...current } = got.body;
    const put = await scim("PUT", `/Users/${ann}`, { ...current, name: { givenName: "Ann", familyName: "Lee-Park" }, emails: [{ primary: true, value: "ann.park@acme.test", type: "work" }], password });
    expect(put.status).toBe(200);
    expect(put.body.name.familyName).toBe("Lee-Park");
    expect(put.text).not.toContain(password);

    // Deactivate and reactivate: a path-less replace.
    const off = await scim("PATCH", `/Users/${ann}`, patch({ op: "replace", value: { active: false } }));
    expect([200, 204]).toContain(off.status);
    let annView = await client.users.get(directory.id, ann);
    expect(annView.state).toBe("suspended");
    // Disabled users are still returned by GET and filters.
    expect((await scim("GET", `/Users/${ann}`)).body.active).toBe(false);
    expect((await scim("GET", `/Users?filter=${q('userName eq "ann@acme.test"')}`)).body.totalResults).toBe(1);
    expect((await client.users.list(directory.id, { state: "suspended" })).data.map((u) => u.id)).toEqual([ann]);
    const on = await scim("PATCH", `/Users/${ann}`, patch({ op: "replace", value: { active: true } }));
    expect([200, 204]).toContain(on.status);

    // Groups: created with no members, renamed with the read-only id in the value (ignored).
    const eng = await scim("POST", "/Groups", { schemas: [GROUP], displayName: "Engineering", members: [] });
    expect(eng.status).toBe(201);
    const engId = eng.body.id as string;
    const rename = await scim("PATCH", `/Groups/${engId}`, patch({ op: "replace", value: { id: engId, displayName: "Engineering Team" } }));
    expect([200, 204]).toContain(rename.status);
    expect((await scim("GET", `/Groups/${engId}`)).body.displayName).toBe("Engineering Team");

    // A parent group the engineering group is nested in, mapped to a role of its own.
    const staff = await scim("POST", "/Groups", { schemas: [GROUP], displayName: "All Staff", members: [{ value: engId }] });
    expect(staff.status).toBe(201);
    const staffId = staff.body.id as string;
    const engRole = await client.roleMappings.create(directory.id, { group: { displayName: "engineering team" }, role: "engineer" });
    await client.roleMappings.create(directory.id, { group: { id: staffId }, role: "staff" });
    expect(engRole.group).toEqual({ displayName: "engineering team" });

    // Members: add two, then one PATCH mixing a filtered remove and an add.
    const add = await scim("PATCH", `/Groups/${engId}`, patch({ op: "add", path: "members", value: [{ value: ann, display: "Ann Lee" }, { value: bobId, display: "Bob Ray" }] }));
    expect([200, 204]).toContain(add.status);
    expect((await client.users.get(directory.id, ann)).roles).toEqual(["engineer", "staff"]);
    const mixed = await scim(
      "PATCH",
      `/Groups/${engId}`,
      patch({ op: "remove", path: `members[value eq "${ann}"]` }, { op: "add", path: "members", value: [{ value: cat, display: "Cat Kim" }] }),
    );
    expect([200, 204]).toContain(mixed.status);
    const members = (await scim("GET", `/Groups/${engId}`)).body.members.map((m: Any) => m.value).sort();
    expect(members).toEqual([bobId, cat].sort());

    annView = await client.users.get(directory.id, ann);
    expect(annView).toMatchObject({
      email: "ann.park@acme.test",
      username: "ann@acme.test",
      firstName: "Ann",
      lastName: "Lee-Park",
      displayName: "Ann Lee",
      externalId: "00u1okta",
      state: "active",
      groups: [],
      roles: [],
    });
    expect(JSON.stringify(annView)).not.toContain(password);
    const bobView = await client.users.get(directory.id, bobId);
    expect(bobView).toMatchObject({ email: "bob@acme.test", firstName: "Bob", lastName: "Ray", state: "active", groups: [{ id: engId, name: "Engineering Team" }], roles: ["engineer", "staff"] });
    expect((await client.users.list(directory.id, { group: engId })).data.map((u) => u.id).sort()).toEqual([bobId, cat].sort());
    expect(await client.groups.get(directory.id, engId)).toMatchObject({ name: "Engineering Team", memberCount: 2, externalId: null });
    expect((await client.groups.list(directory.id)).data.map((g) => [g.name, g.memberCount])).toEqual([
      ["Engineering Team", 2],
      ["All Staff", 1],
    ]);

    // Full sync: replace members, then replace with [].
    expect([200, 204]).toContain((await scim("PATCH", `/Groups/${engId}`, patch({ op: "replace", path: "members", value: [{ value: ann }] }))).status);
    expect((await client.users.get(directory.id, ann)).roles).toEqual(["engineer", "staff"]);
    expect([200, 204]).toContain((await scim("PATCH", `/Groups/${engId}`, patch({ op: "replace", path: "members", value: [] }))).status);
    expect((await scim("GET", `/Groups/${engId}`)).body.members ?? []).toEqual([]);
    expect((await client.users.get(directory.id, ann)).roles).toEqual([]);

    // Back in, then the group is deleted: the nested role goes with it.
    await scim("PATCH", `/Groups/${engId}`, patch({ op: "add", path: "members", value: [{ value: cat }] }));
    expect((await client.users.get(directory.id, cat)).roles).toEqual(["engineer", "staff"]);
    expect((await scim("DELETE", `/Groups/${engId}`)).status).toBe(204);
    expect((await scim("GET", `/Groups/${engId}`)).status).toBe(404);
    expect(await client.users.get(directory.id, cat)).toMatchObject({ groups: [], roles: [] });
    expect((await client.groups.list(directory.id)).data.map((g) => [g.name, g.memberCount])).toEqual([["All Staff", 0]]);

    // The events, in order.
    const events = await eventsOf(client, directory.id, since);
    expect(events.every((e) => e.directoryId === directory.id)).toBe(true);
    expect(events.map(brief)).toEqual([
      `user.created ${ann}`,
      `user.created ${bobId}`,
      `user.created ${cat}`,
      `user.updated ${ann}`,
      `user.deactivated ${ann}`,
      `user.reactivated ${ann}`,
      `group.created ${engId}`,
      `group.updated ${engId}`,
      `group.created ${staffId}`,
      `group.user_added ${staffId} ${engId}`,
      // createMapping computes nobody yet (the groups are empty).
      // Each request's role changes follow its membership events (recomputed once, before it commits).
      `group.user_added ${engId} ${ann}`,
      `group.user_added ${engId} ${bobId}`,
      `user.roles_changed ${ann}`,
      `user.roles_changed ${bobId}`,
      // The mixed PATCH, in the order of its operations: ann out, then cat in.
      `group.user_removed ${engId} ${ann}`,
      `group.user_added ${engId} ${cat}`,
      `user.roles_changed ${ann}`,
      `user.roles_changed ${cat}`,
      // replace members [ann]: bob and cat out, ann in; the role changes in user id order (creation order here).
      `group.user_removed ${engId} ${bobId}`,
      `group.user_removed ${engId} ${cat}`,
      `group.user_added ${engId} ${ann}`,
      `user.roles_changed ${ann}`,
      `user.roles_changed ${bobId}`,
      `user.roles_changed ${cat}`,
      `group.user_removed ${engId} ${ann}`,
      `user.roles_changed ${ann}`,
      `group.user_added ${engId} ${cat}`,
      `user.roles_changed ${cat}`,
      // The deleted group first leaves the group it was nested in, then goes.
      `group.user_removed ${staffId} ${engId}`,
      `group.deleted ${engId}`,
      `user.roles_changed ${cat}`,
    ]);
    const rolesOf = (userId: string) => events.filter((e) => e.type === "user.roles_changed" && e.resourceId === userId).map((e) => e.data);
    expect(rolesOf(cat)).toEqual([
      { roles: ["engineer", "staff"], added: ["engineer", "staff"], removed: [] },
      { roles: [], added: [], removed: ["engineer", "staff"] },
      { roles: ["engineer", "staff"], added: ["engineer", "staff"], removed: [] },
      { roles: [], added: [], removed: ["engineer", "staff"] },
    ]);
    expect(events.find((e) => e.type === "user.deactivated")!.resource).toMatchObject({ id: ann, active: false });

    // Import: pages by startIndex, in a stable order.
    const page1 = await scim("GET", "/Users?startIndex=1&count=2");
    const page2 = await scim("GET", "/Users?startIndex=3&count=2");
    expect(page1.body).toMatchObject({ totalResults: 3, startIndex: 1, itemsPerPage: 2 });
    expect(page2.body).toMatchObject({ totalResults: 3, startIndex: 3, itemsPerPage: 1 });
    expect([...page1.body.Resources, ...page2.body.Resources].map((u: Any) => u.id)).toEqual([ann, bobId, cat]);

    // The password is nowhere: not in events, not in the normalized raw resource, not in the audit log.
    const stored = await server.sync.db.selectFrom("scim_resources").select("doc").where("tenant", "=", directory.id).execute();
    expect(JSON.stringify(stored), "the cleartext password is stored").not.toContain(password);
    expect(JSON.stringify(events)).not.toContain(password);
    expect(JSON.stringify(await client.users.list(directory.id, { limit: 1000 }))).not.toContain(password);
    const audit = await auditOf(client, directory.id);
    const text = JSON.stringify(audit);
    for (const secret of [password, token, adminKey]) expect(text).not.toContain(secret);
    const scimEntries = audit.filter((e) => e.kind === "scim");
    expect(scimEntries.every((e) => e.actor === tokenId && e.directoryId === directory.id)).toBe(true);
    const seen = scimEntries.map((e) => `${e.method} ${e.path.replace(`/scim/v2/${directory.id}`, "")} ${e.status}`);
    expect(seen).toEqual(
      expect.arrayContaining([
        "GET /Users?startIndex=1&count=1 200",
        "POST /Users 201",
        "POST /Users 409",
        `PUT /Users/${ann} 200`,
        `DELETE /Groups/${engId} 204`,
        `GET /Groups/${engId} 404`,
      ]),
    );
    expect(scimEntries.find((e) => e.method === "POST" && e.status === 201 && e.resourceId === ann)).toBeDefined();
    expect(scimEntries.find((e) => e.status === 409)!.detail).toEqual({ scimType: "uniqueness" });
    const status = await client.directories.status(directory.id);
    expect(status).toMatchObject({ users: 3, groups: 1, lastRequestStatus: 200, last24Hours: { requests: scimEntries.length, clientErrors: 2, serverErrors: 0 } });
  });

  // ───────────────────────────────────────────────────────────────────────────────────────────
  it("an Entra-style provisioning run", async () => {
    const { directory, token, scim } = await openDirectory(client, "org_entra", "Entra", "azure-ad");
    const since = await lastSeq(client);

    // Test connection: a random GUID on the matching attribute, unquoted, spaces as "+".
    const guid = randomUUID();
    const probe = await scim("GET", `/Users?filter=externalId+eq+${guid}`);
    expect(probe.status).toBe(200);
    expect(probe.body).toMatchObject({ totalResults: 0, Resources: [] });
    expect((await scim("GET", `/Users?filter=${q(`userName eq "${guid}"`)}`)).body.totalResults).toBe(0);
    expect((await scim("GET", `/Users?filter=${q('emails[type eq "work"].value eq "jyoung@contoso.test"')}`)).body.totalResults).toBe(0);

    const created = await scim("POST", "/Users", {
      schemas: [USER, ENTERPRISE],
      externalId: "jyoung",
      userName: "JYoung@contoso.test",
      active: true,
      displayName: "Jane Young",
      meta: { resourceType: "User" },
      roles: [],
      name: { formatted: "Jane Young", familyName: "Young", givenName: "Jane" },
      emails: [{ primary: true, type: "work", value: "jyoung@contoso.test" }],
      title: null,
      [ENTERPRISE]: { employeeNumber: "E-1001", department: "Sales", manager: null },
    });
    expect(created.status).toBe(201);
    const jane = created.body.id as string;
    expect(created.body[ENTERPRISE]).toMatchObject({ employeeNumber: "E-1001", department: "Sales" });

    // Matching: externalId unquoted, the work email filter, a differently-cased userName.
    expect((await scim("GET", "/Users?filter=externalId eq jyoung")).body.Resources.map((u: Any) => u.id)).toEqual([jane]);
    expect((await scim("GET", `/Users?filter=${q('emails[type eq "work"].value eq "jyoung@contoso.test"')}`)).body.Resources.map((u: Any) => u.id)).toEqual([jane]);
    expect((await scim("GET", `/Users?filter=${q('userName eq "jyoung@CONTOSO.test"')}`)).body.totalResults).toBe(1);
    expect((await scim("POST", "/Users", { schemas: [USER], userName: "jyoung@contoso.test", externalId: "dup" })).status).toBe(409);

    const mark = (await scim("POST", "/Users", { schemas: [USER, ENTERPRISE], externalId: "mlee", userName: "mlee@contoso.test", active: true, name: { givenName: "Mark", familyName: "Lee" }, [ENTERPRISE]: { manager: { value: jane } } })).body.id as string;
    const ops = await scim(
      "PATCH",
      `/Users/${jane}`,
      patch(
        { op: "Replace", path: "displayName", value: "Jane Q. Young" },
        { op: "Replace", path: "name.familyName", value: "Young-Smith" },
        { op: "Replace", path: `${ENTERPRISE}:employeeNumber`, value: "E-2002" },
        { op: "Replace", path: "active", value: "False" },
      ),
    );
    expect([200, 204]).toContain(ops.status);
    let janeView = await client.users.get(directory.id, jane);
    expect(janeView).toMatchObject({ state: "suspended", displayName: "Jane Q. Young", lastName: "Young-Smith" });
    expect((janeView.raw as Any)[ENTERPRISE].employeeNumber).toBe("E-2002");
    expect((await scim("GET", `/Users/${jane}`)).body.active).toBe(false);

    // `Add` on the work email path: replaces the existing one (and creates it for a user without one).
    expect([200, 204]).toContain((await scim("PATCH", `/Users/${jane}`, patch({ op: "Add", path: 'emails[type eq "work"].value', value: "jane.young@contoso.test" }, { op: "Replace", path: "active", value: "True" }))).status);
    expect([200, 204]).toContain((await scim("PATCH", `/Users/${mark}`, patch({ op: "Add", path: 'emails[type eq "work"].value', value: "mark.lee@contoso.test" }))).status);
    const janeEmails = (await scim("GET", `/Users/${jane}`)).body.emails;
    expect(janeEmails).toHaveLength(1);
    expect(janeEmails[0]).toMatchObject({ type: "work", value: "jane.young@contoso.test" });
    expect((await client.users.get(directory.id, mark)).email).toBe("mark.lee@contoso.test");
    expect((await client.users.list(directory.id, { email: "JANE.YOUNG@contoso.test" })).data.map((u) => u.id)).toEqual([jane]);

    // Groups: the existence check with excludedAttributes, a POST with Microsoft's extra schema URN.
    const find = (name: string) => scim("GET", `/Groups?excludedAttributes=members&filter=${q(`displayName eq "${name}"`)}`);
    expect((await find("Sales EMEA")).body.totalResults).toBe(0);
    const sales = await scim("POST", "/Groups", { schemas: [GROUP, MS_GROUP], externalId: "8f1c-sales", displayName: "Sales EMEA", members: [] });
    expect(sales.status).toBe(201);
    const salesId = sales.body.id as string;
    expect((await scim("POST", "/Groups", { schemas: [GROUP], displayName: "sales emea" })).status).toBe(409);
    const region = (await scim("POST", "/Groups", { schemas: [GROUP], displayName: "Region", members: [{ value: salesId }] })).body.id as string;
    await client.roleMappings.create(directory.id, { group: { id: salesId }, role: "sales" });
    await client.roleMappings.create(directory.id, { group: { displayName: "Region" }, role: "regional" });

    // Members: several in one Add with "$ref": null, a repeated add does not duplicate, Remove with a value array.
    const addMembers = await scim("PATCH", `/Groups/${salesId}`, patch({ op: "Add", path: "members", value: [{ $ref: null, value: jane }, { $ref: null, value: mark }] }));
    expect([200, 204]).toContain(addMembers.status);
    expect([200, 204]).toContain((await scim("PATCH", `/Groups/${salesId}`, patch({ op: "Add", path: "members", value: [{ $ref: null, value: jane }] }))).status);
    expect((await scim("GET", `/Groups/${salesId}`)).body.members).toHaveLength(2);
    expect((await client.users.get(directory.id, mark)).roles).toEqual(["regional", "sales"]);
    expect([200, 204]).toContain((await scim("PATCH", `/Groups/${salesId}`, patch({ op: "Remove", path: "members", value: [{ value: mark }] }))).status);
    const found = await find("sales emea");
    expect(found.body.Resources).toHaveLength(1);
    expect(found.body.Resources[0]).toMatchObject({ id: salesId, displayName: "Sales EMEA" });
    expect(found.body.Resources[0]).not.toHaveProperty("members");
    const byId = await scim("GET", `/Groups/${salesId}?excludedAttributes=members`);
    expect(byId.status).toBe(200);
    expect(byId.body).not.toHaveProperty("members");

    // A mapping created over existing members gives them the role at once; deleting it takes it back.
    const late = await client.roleMappings.create(directory.id, { group: { displayName: "SALES emea" }, role: "seller" });
    expect((await client.users.get(directory.id, jane)).roles).toEqual(["regional", "sales", "seller"]);
    await client.roleMappings.delete(directory.id, late.id);
    expect((await client.roleMappings.list(directory.id)).map((m) => m.role)).toEqual(["sales", "regional"]);

    // The compliant PATCH style: path-less replace with dotted, URN and value-filter keys.
    const compliant = await scim(
      "PATCH",
      `/Users/${jane}`,
      patch({
        op: "replace",
        value: {
          "name.givenName": "Janet",
          'emails[type eq "work"].value': "janet.young@contoso.test",
          [`${ENTERPRISE}:employeeNumber`]: "E-3003",
          [`${ENTERPRISE}:department`]: "Sales EMEA",
        },
      }),
    );
    expect([200, 204]).toContain(compliant.status);

    janeView = await client.users.get(directory.id, jane);
    expect((janeView.raw as Any)[ENTERPRISE]).toMatchObject({ employeeNumber: "E-3003", department: "Sales EMEA" });
    expect(janeView).toMatchObject({
      externalId: "jyoung",
      username: "JYoung@contoso.test",
      email: "janet.young@contoso.test",
      firstName: "Janet",
      lastName: "Young-Smith",
      state: "active",
      groups: [{ id: salesId, name: "Sales EMEA" }],
      roles: ["regional", "sales"],
    });
    expect(await client.users.get(directory.id, mark)).toMatchObject({ groups: [], roles: [], state: "active" });
    expect(await client.groups.get(directory.id, salesId)).toMatchObject({ name: "Sales EMEA", externalId: "8f1c-sales", memberCount: 1 });
    expect((await client.groups.list(directory.id, { externalId: "8f1c-sales" })).data.map((g) => g.id)).toEqual([salesId]);
    expect((await client.groups.list(directory.id, { name: "REGION" })).data.map((g) => g.id)).toEqual([region]);

    // Delete twice: 204, then 404; the normalized user stays as deleted, without groups or roles.
    expect((await scim("DELETE", `/Users/${jane}`)).status).toBe(204);
    expect((await scim("DELETE", `/Users/${jane}`)).status).toBe(404);
    expect((await scim("GET", `/Users/${jane}`)).status).toBe(404);
    expect(await client.users.get(directory.id, jane)).toMatchObject({ state: "deleted", groups: [], roles: [] });
    expect((await client.users.list(directory.id)).data.map((u) => u.id)).toEqual([mark]);
    expect((await client.users.list(directory.id, { state: "deleted" })).data.map((u) => u.id)).toEqual([jane]);
    // The deleted user's userName is free again.
    expect((await scim("POST", "/Users", { schemas: [USER], userName: "jyoung@contoso.test" })).status).toBe(201);

    const events = await eventsOf(client, directory.id, since);
    const newcomer = events[events.length - 1]!.resourceId;
    expect(events.map(brief)).toEqual([
      `user.created ${jane}`,
      `user.created ${mark}`,
      `user.deactivated ${jane}`,
      `user.reactivated ${jane}`,
      `user.updated ${mark}`,
      `group.created ${salesId}`,
      `group.created ${region}`,
      `group.user_added ${region} ${salesId}`,
      // Entra adds both members in one PATCH: their role changes follow it.
      `group.user_added ${salesId} ${jane}`,
      `group.user_added ${salesId} ${mark}`,
      `user.roles_changed ${jane}`,
      `user.roles_changed ${mark}`,
      `group.user_removed ${salesId} ${mark}`,
      `user.roles_changed ${mark}`,
      `user.roles_changed ${jane}`,
      `user.roles_changed ${jane}`,
      `user.updated ${jane}`,
      // The deleted user leaves its groups, goes, and loses its roles as the request commits.
      `group.user_removed ${salesId} ${jane}`,
      `user.deleted ${jane}`,
      `user.roles_changed ${jane}`,
      `user.created ${newcomer}`,
    ]);
    expect(events.filter((e) => e.type === "user.roles_changed" && e.resourceId === jane).map((e) => e.data)).toEqual([
      { roles: ["regional", "sales"], added: ["regional", "sales"], removed: [] },
      { roles: ["regional", "sales", "seller"], added: ["seller"], removed: [] },
      { roles: ["regional", "sales"], added: [], removed: ["seller"] },
      { roles: [], added: [], removed: ["regional", "sales"] },
    ]);
    expect(events.find((e) => e.type === "user.deleted")!.resource).toMatchObject({ id: jane });

    const audit = await auditOf(client, directory.id);
    expect(JSON.stringify(audit)).not.toContain(token);
    const scimEntries = audit.filter((e) => e.kind === "scim").map((e) => `${e.method} ${e.status} ${e.resourceId ?? "-"}`);
    expect(scimEntries.filter((e) => e === `DELETE 204 ${jane}` || e === `DELETE 404 ${jane}`)).toEqual([`DELETE 204 ${jane}`, `DELETE 404 ${jane}`]);
    expect(audit.filter((e) => e.kind === "scim" && e.method === "PATCH")).toHaveLength(7);
  });

  // ───────────────────────────────────────────────────────────────────────────────────────────
  describe("tenant isolation", () => {
    type Tenant = Awaited<ReturnType<typeof seed>>;

    /** A directory with two users, one of them in a group. */
    async function seed(organizationId: string, name: string) {
      const opened = await openDirectory(client, organizationId, name, "generic-scim");
      const { scim } = opened;
      const tag = name.toLowerCase();
      const user = (await scim("POST", "/Users", { schemas: [USER], userName: `shared@${tag}.test`, externalId: `ext-${tag}`, emails: [{ value: `shared@${tag}.test`, type: "work", primary: true }] })).body;
      const other = (await scim("POST", "/Users", { schemas: [USER], userName: `other@${tag}.test` })).body;
      const group = (await scim("POST", "/Groups", { schemas: [GROUP], displayName: "Admins", members: [{ value: user.id }] })).body;
      return { ...opened, userId: user.id as string, otherId: other.id as string, groupId: group.id as string, userName: user.userName as string, externalId: `ext-${tag}` };
    }

    /** What the admin API shows of a directory: users (all states), groups, events. */
    async function snapshot(t: Tenant) {
      const users = [...(await client.users.list(t.directory.id, { limit: 1000 })).data, ...(await client.users.list(t.directory.id, { state: "deleted", limit: 1000 })).data];
      const groups = (await client.groups.list(t.directory.id, { limit: 1000 })).data;
      const events = await eventsOf(client, t.directory.id);
      return { users: users.map((u) => u.raw), groups: groups.map((g) => [g.raw, g.memberCount]), events: events.map((e) => e.id) };
    }

    /**
     * Every SCIM operation on `victim`'s users and groups, sent by `attacker`: with the attacker's
     * token on the victim's URL (must be 401), and on the attacker's own URL with the victim's ids
     * (must be 404, or find nothing, or refuse a member that is not in the directory).
     */
    async function attack(attacker: Tenant, victim: Tenant) {
      const cross = scimClient(victim.directory.scimUrl, attacker.token);
      const own = attacker.scim;
      const userBody = { schemas: [USER], userName: "hijacked@evil.test", active: false };
      const groupBody = { schemas: [GROUP], displayName: "Hijacked", members: [] };
      const deactivate = patch({ op: "replace", path: "active", value: false });
      const addMember = patch({ op: "add", path: "members", value: [{ value: attacker.userId }] });
      const bulk = {
        schemas: [BULK_REQUEST],
        Operations: [
          { method: "PUT", path: `/Users/${victim.userId}`, data: userBody },
          { method: "PATCH", path: `/Users/${victim.userId}`, data: deactivate },
          { method: "PATCH", path: `/Groups/${victim.groupId}`, data: addMember },
          { method: "DELETE", path: `/Users/${victim.otherId}` },
          { method: "DELETE", path: `/Groups/${victim.groupId}` },
        ],
      };
      const search = { schemas: [SEARCH_REQUEST], filter: `userName eq "${victim.userName}"` };
      const requests: Array<[string, string, unknown?]> = [
        ["GET", "/Users"],
        ["GET", "/Groups"],
        ["GET", `/Users/${victim.userId}`],
        ["GET", `/Groups/${victim.groupId}`],
        ["GET", `/Users?filter=${q(`userName eq "${victim.userName}"`)}`],
        ["GET", `/Users?filter=externalId eq ${victim.externalId}`],
        ["GET", `/Users?filter=${q(`id eq "${victim.userId}"`)}`],
        ["GET", `/Groups?filter=${q(`members[value eq "${victim.userId}"]`)}`],
        ["PUT", `/Users/${victim.userId}`, userBody],
        ["PUT", `/Groups/${victim.groupId}`, groupBody],
        ["PATCH", `/Users/${victim.userId}`, deactivate],
        ["PATCH", `/Groups/${victim.groupId}`, addMember],
        ["PATCH", `/Groups/${victim.groupId}`, patch({ op: "replace", path: "members", value: [] })],
        ["DELETE", `/Users/${victim.otherId}`],
        ["DELETE", `/Groups/${victim.groupId}`],
        ["POST", "/Bulk", bulk],
        ["POST", "/.search", search],
        ["POST", "/Users/.search", search],
        ["POST", "/Users", userBody],
        ["POST", "/Groups", groupBody],
      ];

      // The attacker's token on the victim's URL: 401 for everything, whatever the method.
      for (const [method, path, body] of requests) {
        const r = await cross(method, path, body);
        expect(r.status, `${method} ${path} with the other directory's token`).toBe(401);
        expect(r.text).not.toContain(victim.userName);
      }

      // The victim's ids on the attacker's own URL: 404, or nothing found.
      for (const [method, path] of [
        ["GET", `/Users/${victim.userId}`],
        ["GET", `/Groups/${victim.groupId}`],
        ["PUT", `/Users/${victim.userId}`],
        ["PUT", `/Groups/${victim.groupId}`],
        ["PATCH", `/Users/${victim.userId}`],
        ["PATCH", `/Groups/${victim.groupId}`],
        ["DELETE", `/Users/${victim.otherId}`],
        ["DELETE", `/Groups/${victim.groupId}`],
      ] as const) {
        const body = method === "PUT" ? (path.startsWith("/Users") ? userBody : groupBody) : method === "PATCH" ? deactivate : undefined;
        expect((await own(method, path, body)).status, `${method} ${path} on its own URL`).toBe(404);
      }
      for (const filter of [`userName eq "${victim.userName}"`, `externalId eq "${victim.externalId}"`, `id eq "${victim.userId}"`, `emails.value eq "${victim.userName}"`]) {
        const r = await own("GET", `/Users?filter=${q(filter)}`);
        expect(r.status).toBe(200);
        expect(r.body.totalResults, filter).toBe(0);
      }
      expect((await own("GET", `/Groups?filter=${q(`members[value eq "${victim.userId}"]`)}`)).body.totalResults).toBe(0);
      for (const path of ["/.search", "/Users/.search"]) {
        const r = await own("POST", path, search);
        expect(r.status).toBe(200);
        expect(r.body.totalResults).toBe(0);
      }
      const bulkOwn = await own("POST", "/Bulk", bulk);
      expect(bulkOwn.status).toBe(200);
      expect(bulkOwn.body.Operations.map((o: Any) => String(o.status))).toEqual(["404", "404", "404", "404", "404"]);
      // The victim's user as a member of the attacker's own group: refused, it is not in the directory.
      const foreignMember = await own("PATCH", `/Groups/${attacker.groupId}`, patch({ op: "add", path: "members", value: [{ value: victim.userId }] }));
      expect(foreignMember.status).toBe(400);
      const foreignGroup = await own("POST", "/Groups", { schemas: [GROUP], displayName: "Foreign", members: [{ value: victim.groupId }] });
      expect(foreignGroup.status).toBe(400);
      // And the attacker's own group is intact (its member is still only its own user).
      expect((await own("GET", `/Groups/${attacker.groupId}`)).body.members.map((m: Any) => m.value)).toEqual([attacker.userId]);
    }

    it("two directories of one organization, and of two organizations, see nothing of each other", async () => {
      const a = await seed("org_iso_1", "Alpha");
      const b = await seed("org_iso_1", "Beta");
      const c = await seed("org_iso_2", "Gamma");
      const before = { a: await snapshot(a), b: await snapshot(b), c: await snapshot(c) };

      await attack(a, b);
      await attack(b, a);
      await attack(a, c);
      await attack(c, a);

      // Nothing changed anywhere.
      expect(await snapshot(a)).toEqual(before.a);
      expect(await snapshot(b)).toEqual(before.b);
      expect(await snapshot(c)).toEqual(before.c);

      // The admin API shows each directory only its own users, groups and events.
      for (const t of [a, b, c]) {
        const users = (await client.users.list(t.directory.id)).data;
        expect(users.map((u) => u.id).sort()).toEqual([t.userId, t.otherId].sort());
        expect(users.every((u) => u.directoryId === t.directory.id && u.organizationId === t.directory.organizationId)).toBe(true);
        expect((await client.groups.list(t.directory.id)).data.map((g) => g.id)).toEqual([t.groupId]);
        const events = await eventsOf(client, t.directory.id);
        expect(events.length).toBe(4);
        expect(events.every((e) => e.directoryId === t.directory.id)).toBe(true);
        expect((await client.users.list(t.directory.id, { username: "shared@alpha.test" })).data.length).toBe(t === a ? 1 : 0);
        const audit = await auditOf(client, t.directory.id);
        expect(audit.every((e) => e.directoryId === t.directory.id)).toBe(true);
      }
      // A user or group by id through the other directory: 404.
      await expect(client.users.get(a.directory.id, b.userId)).rejects.toMatchObject({ status: 404 });
      await expect(client.groups.get(b.directory.id, a.groupId)).rejects.toMatchObject({ status: 404 });
      await expect(client.users.get(c.directory.id, a.userId)).rejects.toMatchObject({ status: 404 });
      await expect(client.users.list(a.directory.id, { group: b.groupId })).resolves.toMatchObject({ data: [] });
      // The refused cross-directory requests are in the victim's audit log as 401s, without the
      // attacker's token: the first of a window whole, the rest counted (`detail.repeated`).
      const refused = (await auditOf(client, b.directory.id)).filter((e) => e.kind === "scim" && e.status === 401);
      expect(refused.every((e) => e.detail?.refused === "unauthenticated")).toBe(true);
      expect(refused.reduce((n, e) => n + (typeof e.detail?.repeated === "number" ? e.detail.repeated : 1), 0)).toBeGreaterThanOrEqual(20);
      expect(refused.every((e) => e.actor === null)).toBe(true);
      expect(JSON.stringify(refused)).not.toContain(a.token);
    });

    it("a revoked token, a token of a deleted directory and an inactive directory get 401", async () => {
      const a = await seed("org_iso_3", "Delta");
      expect((await a.scim("GET", "/Users")).status).toBe(200);

      // A second token; the first one revoked: 401 at once, the second still works.
      const second = await client.tokens.create(a.directory.id);
      await client.tokens.revoke(a.directory.id, a.tokenId);
      expect((await a.scim("GET", "/Users")).status).toBe(401);
      expect((await a.scim("GET", `/Users/${a.userId}`)).status).toBe(401);
      const fresh = scimClient(a.directory.scimUrl, second.token);
      expect((await fresh("GET", "/Users")).status).toBe(200);

      // A garbage token, no token, a token without the prefix.
      expect((await scimClient(a.directory.scimUrl, "dsync_not-a-real-token-000000000000")("GET", "/Users")).status).toBe(401);
      expect((await scimClient(a.directory.scimUrl, second.token.replace(/^dsync_/, ""))("GET", "/Users")).status).toBe(401);
      expect((await fetch(`${a.directory.scimUrl}/Users`)).status).toBe(401);
      // Two Authorization lines, the first a valid token: refused (Node alone keeps the first; the
      // guards see both: a request taken as unauthenticated by the rate limit must not be served).
      const twice = await new Promise<string>((resolve, reject) => {
        const url = new URL(a.directory.scimUrl);
        const socket = connect(Number(url.port), "127.0.0.1", () =>
          socket.end(`DELETE ${url.pathname}/Users/${a.userId} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${second.token}\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n`),
        );
        let answer = "";
        socket.on("data", (d) => (answer += d)).on("close", () => resolve(answer)).on("error", reject);
      });
      expect(twice).toMatch(/^HTTP\/1\.1 401 /);
      expect((await fresh("GET", `/Users/${a.userId}`)).status).toBe(200);

      // Inactive directory: 401 for reads and writes; active again: back.
      await client.directories.update(a.directory.id, { state: "inactive" });
      expect((await fresh("GET", "/Users")).status).toBe(401);
      expect((await fresh("POST", "/Users", { schemas: [USER], userName: "late@delta.test" })).status).toBe(401);
      expect((await fresh("DELETE", `/Users/${a.userId}`)).status).toBe(401);
      await client.directories.update(a.directory.id, { state: "active" });
      expect((await fresh("GET", `/Users/${a.userId}`)).status).toBe(200);
      expect((await client.users.list(a.directory.id)).data.map((u) => u.id).sort()).toEqual([a.userId, a.otherId].sort());

      // Deleted directory: its tokens are refused, its data is gone from the admin API.
      await client.directories.delete(a.directory.id);
      expect((await fresh("GET", "/Users")).status).toBe(401);
      await expect(client.users.list(a.directory.id)).rejects.toMatchObject({ status: 404 });
    });
  });
});

// ─────────────────────────────────────────────────────────────────────────────────────────────
describe("`node --import tsx src/main.ts` as a child process", () => {
  let dir: string;
  const children = new Set<ChildProcess>();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "dsync-main-"));
  });
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** Resolves once `done()` holds (output of a child process arrives a little later), or fails after 10 s. */
  async function waitFor(done: () => boolean): Promise<void> {
    for (const started = Date.now(); !done(); ) {
      if (Date.now() - started > 10_000) throw new Error("timed out waiting for the child's output");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Spawns main.ts with `env` on top of a test environment (port 0, info logs), collecting its output. */
  function spawnMain(env: Record<string, string>) {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: APP_DIR,
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", NODE_ENV: "production", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, exited, output: () => stdout, errors: () => stderr };
  }

  /** Starts main.ts and waits for the line saying where the admin API is. */
  async function start(databaseUrl: string, env: Record<string, string> = {}) {
    const main = spawnMain({ DATABASE_URL: databaseUrl, ...env });
    const { child } = main;
    const origin = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`main.ts did not start:\n${main.output()}\n${main.errors()}`)), 45_000);
      const check = () => {
        const match = /Admin API: (http:\/\/\S+)\/api /.exec(main.output());
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout!.on("data", check);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`main.ts exited with ${code}:\n${main.output()}\n${main.errors()}`));
      });
    });
    return { ...main, origin };
  }

  /** Runs main.ts until it exits by itself (a failed start): its exit code, log lines and stderr. */
  async function failedStart(env: Record<string, string>) {
    const main = spawnMain(env);
    const code = await main.exited;
    return { code, log: main.output().trim().split("\n").filter(Boolean), stderr: main.errors(), all: main.output() + main.errors() };
  }

  // A start may wait up to 30 s for another process's first run; SIGTERM killed it there, without
  // its graceful stop (the SQLite side files stayed).
  it("SIGTERM while it waits for another process's first run stops the start and exits 0, printing no secret", { timeout: 60_000 }, async () => {
    const file = join(dir, "waiting.db");
    const other = await createDirectorySync({ database: openSqlite({ filename: file }) });
    await other.db.insertInto("dir_settings").values({ key: FIRST_RUN_SETTING, value: JSON.stringify({ owner: "o", host: "another-host", pid: 1 }) }).execute();
    await other.close();
    const main = spawnMain({ DATABASE_URL: `sqlite:${file}` });
    await waitFor(() => main.output().includes("another process is running the first run"));
    main.child.kill("SIGTERM");
    expect(await main.exited).toBe(0);
    expect(main.output()).toMatch(/"msg":"stopped"/);
    expect(main.output()).not.toMatch(/Admin API key|SCIM token/);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("prints the secrets once, serves them, keeps them across a restart and exits 0 on SIGTERM", { timeout: 120_000 }, async () => {
    const databaseUrl = `sqlite:${join(dir, "main.db")}`;
    const first = await start(databaseUrl);
    const out = first.output();
    const adminKey = /Admin API key:\s+(\S+)/.exec(out)?.[1];
    const scimUrl = /SCIM base URL:\s+(\S+)/.exec(out)?.[1];
    const token = /SCIM token:\s+(\S+)/.exec(out)?.[1];
    expect(adminKey).toMatch(/^dsync_admin_/);
    expect(token).toMatch(/^dsync_/);
    expect(scimUrl).toMatch(new RegExp(`^${first.origin.replace(/[.]/g, "\\.")}/scim/v2/dir_[0-9a-f]{24}$`));

    expect((await fetch(`${first.origin}/healthz`)).status).toBe(200);
    const scim = scimClient(scimUrl!, token!);
    const connector = await scim("GET", "/Users?startIndex=1&count=1");
    expect(connector.status).toBe(200);
    expect(connector.body.totalResults).toBe(0);
    const created = await scim("POST", "/Users", { schemas: [USER], userName: "first@acme.test", password: "Pa55word!x" });
    expect(created.status).toBe(201);
    const client = createDirectoryClient({ baseUrl: first.origin, adminKey: adminKey! });
    const [directory] = (await client.directories.list()).data;
    expect(directory!.scimUrl).toBe(scimUrl);
    expect((await client.users.list(directory!.id)).data.map((u) => u.username)).toEqual(["first@acme.test"]);

    // A token or the admin key pasted where an id goes is redacted in the request log, as in the audit log.
    expect((await fetch(`${first.origin}/scim/v2/${token}/Users`)).status).toBe(401);
    expect((await fetch(`${scimUrl}/Users/${token}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect((await fetch(`${first.origin}/api/directories/${adminKey}`, { headers: { authorization: `Bearer ${adminKey}` } })).status).toBe(404);
    await waitFor(() => first.output().split("\n").filter((l) => l.includes('"msg":"request"') && l.includes("[REDACTED]")).length >= 3);

    // The structured log has the requests, and no secret: each secret appears once, in the banner.
    const lines = first.output().split("\n");
    expect(lines.filter((l) => l.includes(token!))).toHaveLength(1);
    expect(lines.filter((l) => l.includes(adminKey!))).toHaveLength(1);
    expect(first.output()).not.toContain("Pa55word!x");
    expect(lines.some((l) => l.startsWith("{") && l.includes('"msg":"request"') && l.includes('"status":201'))).toBe(true);

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');

    // Second start on the same file: no secrets printed, the old ones still work.
    const second = await start(databaseUrl);
    const again = second.output();
    expect(again).not.toContain("First run");
    expect(again).not.toContain(adminKey!);
    expect(again).not.toContain(token!);
    expect(again).not.toMatch(/dsync_[A-Za-z0-9_-]{8,}/);
    expect(again).toContain(`SCIM base URL (First directory): ${scimUrl!.replace(first.origin, second.origin)}`);
    const scim2 = scimClient(scimUrl!.replace(first.origin, second.origin), token!);
    const listed = await scim2("GET", `/Users?filter=${q('userName eq "first@acme.test"')}`);
    expect(listed.status).toBe(200);
    expect(listed.body.totalResults).toBe(1);
    const client2 = createDirectoryClient({ baseUrl: second.origin, adminKey: adminKey! });
    expect((await client2.directories.list()).data).toHaveLength(1);
    // 21 directories: a start prints the oldest 20 and says there are more.
    for (let i = 0; i < 20; i++) await client2.directories.create({ organizationId: "org_banner", name: `Banner ${i}`, type: "generic-scim" });
    const audit = JSON.stringify((await client2.auditLog.list({ limit: 1000 })).data);
    expect(audit).not.toContain(token!);
    expect(audit).not.toContain(adminKey!);
    expect(audit).not.toContain("Pa55word!x");

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.errors()).toBe("");

    // A lost admin key: ROTATE_ADMIN_KEY=true prints a new one, once; the old one stops working.
    const third = await start(databaseUrl, { ROTATE_ADMIN_KEY: "true" });
    const rotated = /Admin API key:\s+(\S+)/.exec(third.output())?.[1];
    expect(rotated).toMatch(/^dsync_admin_/);
    expect(rotated).not.toBe(adminKey);
    expect(third.output()).not.toContain(token!);
    expect(third.output()).toContain(`SCIM base URL (First directory): ${scimUrl!.replace(first.origin, third.origin)}`);
    expect(third.output().split("\n").filter((l) => l.startsWith("SCIM base URL ("))).toHaveLength(20);
    expect(third.output()).toContain(`... and more directories: GET ${third.origin}/api/directories lists them all`);
    expect(third.output()).not.toContain("SCIM base URL (Banner 19)");
    expect((await fetch(`${third.origin}/api/directories`, { headers: { authorization: `Bearer ${adminKey}` } })).status).toBe(401);
    expect((await fetch(`${third.origin}/api/directories`, { headers: { authorization: `Bearer ${rotated}` } })).status).toBe(200);
    third.child.kill("SIGTERM");
    expect(await third.exited).toBe(0);
  });
  describe("SCIM_SCHEMAS_FILE: custom extensions of User and Group", () => {
    const ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    const ACME_GROUP = "urn:example:params:scim:schemas:extension:acme:2.0:Group";
    const extensions = [
      {
        resourceType: "User",
        required: false,
        schema: {
          id: ACME,
          name: "AcmeUser",
          description: "Acme's user attributes",
          attributes: [
            { name: "costCenter", type: "string", description: "Where the salary is booked" },
            { name: "badge", type: "complex", subAttributes: [{ name: "number", type: "integer" }, { name: "site", type: "string" }] },
          ],
        },
      },
      { resourceType: "Group", schema: { id: ACME_GROUP, name: "AcmeGroup", attributes: [{ name: "budgetOwner", type: "string" }] } },
    ];

    it("serves the extensions in /Schemas and /ResourceTypes, keeps them on users, and maps them to customAttributes", { timeout: 120_000 }, async () => {
      const schemasFile = join(dir, "acme-schemas.json");
      writeFileSync(schemasFile, JSON.stringify(extensions, null, 2));
      const main = await start(`sqlite:${join(dir, "schemas.db")}`, { SCIM_SCHEMAS_FILE: schemasFile });
      const out = main.output();
      const adminKey = /Admin API key:\s+(\S+)/.exec(out)![1]!;
      const scimUrl = /SCIM base URL:\s+(\S+)/.exec(out)![1]!;
      const scim = scimClient(scimUrl, /SCIM token:\s+(\S+)/.exec(out)![1]!);

      const schemas = await scim("GET", "/Schemas");
      expect(schemas.status).toBe(200);
      const acme = schemas.body.Resources.find((s: Any) => s.id === ACME);
      expect(acme).toMatchObject({ name: "AcmeUser", description: "Acme's user attributes" });
      // Characteristics left out are served with their RFC 7643 §2.2 defaults.
      expect(acme.attributes[0]).toEqual({ name: "costCenter", type: "string", description: "Where the salary is booked", multiValued: false, required: false, caseExact: false, mutability: "readWrite", returned: "default", uniqueness: "none" });
      expect(acme.attributes[1].subAttributes.map((a: Any) => [a.name, a.type, a.mutability])).toEqual([["number", "integer", "readWrite"], ["site", "string", "readWrite"]]);
      expect(schemas.body.Resources.map((s: Any) => s.id)).toEqual(expect.arrayContaining([USER, GROUP, ENTERPRISE, ACME, ACME_GROUP]));
      expect((await scim("GET", `/Schemas/${ACME}`)).status).toBe(200);
      const userType = await scim("GET", "/ResourceTypes/User");
      expect(userType.body.schemaExtensions).toEqual(expect.arrayContaining([{ schema: ENTERPRISE, required: false }, { schema: ACME, required: false }]));
      expect((await scim("GET", "/ResourceTypes/Group")).body.schemaExtensions).toEqual([{ schema: ACME_GROUP, required: false }]);

      const client = createDirectoryClient({ baseUrl: main.origin, adminKey });
      const [directory] = (await client.directories.list()).data;
      await client.directories.update(directory!.id, { settings: { attributeMapping: { costCenter: `${ACME}:costCenter`, badgeSite: `${ACME}:badge.site` } } });

      const created = await scim("POST", "/Users", { schemas: [USER, ACME], userName: "ext@acme.test", [ACME]: { costCenter: "CC-42", badge: { number: 7, site: "Berlin" } } });
      expect(created.status).toBe(201);
      expect(created.body.schemas).toContain(ACME);
      expect(created.body[ACME]).toEqual({ costCenter: "CC-42", badge: { number: 7, site: "Berlin" } });
      const read = await scim("GET", `/Users/${created.body.id}`);
      expect(read.body[ACME]).toEqual({ costCenter: "CC-42", badge: { number: 7, site: "Berlin" } });
      const filtered = await scim("GET", `/Users?filter=${q(`${ACME}:costCenter eq "CC-42"`)}`);
      expect(filtered.body.totalResults).toBe(1);

      const user = await client.users.get(directory!.id, created.body.id);
      expect(user.customAttributes).toEqual({ costCenter: "CC-42", badgeSite: "Berlin" });

      const group = await scim("POST", "/Groups", { schemas: [GROUP, ACME_GROUP], displayName: "Finance", [ACME_GROUP]: { budgetOwner: "ext@acme.test" } });
      expect(group.status).toBe(201);
      expect(group.body[ACME_GROUP]).toEqual({ budgetOwner: "ext@acme.test" });

      main.child.kill("SIGTERM");
      expect(await main.exited).toBe(0);
    });

    it("refuses to start on a missing, non-JSON or invalid file: exit 1, one line naming the file and the problem, no stack", { timeout: 120_000 }, async () => {
      const invalid = (name: string, content: unknown) => {
        const file = join(dir, name);
        writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
        return file;
      };
      const withAttribute = (attribute: object) => [{ resourceType: "User", schema: { id: ACME, attributes: [attribute] } }];
      const cases: [file: string, problem: RegExp][] = [
        [join(dir, "missing.json"), /: file not found$/],
        [invalid("not-json.json", "[{ resourceType: User }"), /: not valid JSON \(.+\)$/],
        [invalid("not-array.json", { schemas: [] }), /: invalid: .*expected array/],
        [invalid("bad-envelope.json", [{ resourceType: "Device", schema: { id: "acme", attributes: [] } }]), /: invalid: 0\.resourceType: .*; 0\.schema\.id: must be a URN; 0\.schema\.attributes: /],
        [invalid("bad-type.json", withAttribute({ name: "costCenter", type: "strin" })), /: invalid: 0\.schema: .*costCenter: unknown type 'strin'$/],
        [invalid("bad-returned.json", withAttribute({ name: "pin", type: "string", returned: "Never" })), /: invalid: 0\.schema: .*pin: unknown returned 'Never'$/],
        [invalid("redefines-core.json", [{ resourceType: "User", schema: { id: ENTERPRISE, attributes: [{ name: "x", type: "string" }] } }]), /: invalid: 0\.schema\.id: .*enterprise:2\.0:User is already defined$/],
      ];
      await Promise.all(
        cases.map(async ([file, problem]) => {
          const run = await failedStart({ DATABASE_URL: `sqlite:${join(dir, "never.db")}`, SCIM_SCHEMAS_FILE: file });
          expect(run.code, run.all).toBe(1);
          expect(run.log, run.all).toHaveLength(1);
          const line = JSON.parse(run.log[0]!);
          expect(line).toMatchObject({ level: 60 });
          expect(line.msg).toContain(`SCIM_SCHEMAS_FILE ${file}: `);
          expect(line.msg).toMatch(problem);
          expect(run.stderr.trim().split("\n")).toEqual([`directory-sync: ${line.msg}`]);
          expect(run.all).not.toContain("    at ");
        }),
      );
    });
  });

  it("exits 1 with one line, no stack and no password when PostgreSQL is unreachable", { timeout: 60_000 }, async () => {
    const run = await failedStart({ DATABASE_URL: "postgres://scim:S3cret-Pw@127.0.0.1:1/directory" });
    expect(run.code, run.all).toBe(1);
    expect(run.log, run.all).toHaveLength(1);
    const line = JSON.parse(run.log[0]!);
    expect(line).toMatchObject({ level: 60 });
    expect(line.msg).toMatch(/^could not start: cannot open or migrate the database \(PostgreSQL postgres:\/\/\*\*\*@127\.0\.0\.1:1\/directory\): connect ECONNREFUSED 127\.0\.0\.1:1$/);
    expect(run.stderr.trim().split("\n")).toEqual([`directory-sync: ${line.msg}`]);
    expect(run.all).not.toContain("S3cret-Pw");
    expect(run.all).not.toContain("    at ");
  });

  it("exits 1 with one line naming the SQLite file when it cannot be opened", { timeout: 60_000 }, async () => {
    // A folder where the file should be: SQLite cannot open it.
    const run = await failedStart({ DATABASE_URL: `sqlite:${dir}` });
    expect(run.code, run.all).toBe(1);
    expect(run.log, run.all).toHaveLength(1);
    expect(JSON.parse(run.log[0]!).msg).toBe(`could not start: cannot open the database sqlite:${dir}: unable to open database file`);
    expect(run.all).not.toContain("    at ");
  });

  it("a second SIGTERM during the shutdown changes nothing: the request in flight is answered and the stop is clean", { timeout: 60_000 }, async () => {
    const main = await start(`sqlite:${join(dir, "twice.db")}`);
    const scimUrl = new URL(/SCIM base URL:\s+(\S+)/.exec(main.output())![1]!);
    const token = /SCIM token:\s+(\S+)/.exec(main.output())![1]!;
    const body = JSON.stringify({ schemas: [USER], userName: "twice@acme.test" });
    const socket = connect(Number(scimUrl.port), scimUrl.hostname);
    await new Promise((resolve) => socket.once("connect", resolve));
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
    // A request in flight: its body half sent.
    socket.write(`POST ${scimUrl.pathname}/Users HTTP/1.1\r\nHost: ${scimUrl.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/scim+json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    main.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 300));
    main.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([main.child.exitCode, main.child.signalCode], main.output()).toEqual([null, null]);
    socket.write(body.slice(10));
    await waitFor(() => received.includes("\r\n\r\n{"));
    expect(received).toMatch(/^HTTP\/1\.1 201 /);
    socket.destroy();
    expect(await main.exited, main.output()).toBe(0);
    expect(main.output()).toContain('"msg":"stopped"');
  });

  it("exits 1 with one line when the port is taken", { timeout: 60_000 }, async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const run = await failedStart({ DATABASE_URL: `sqlite:${join(dir, "port.db")}`, PORT: String(port) });
      expect(run.code, run.all).toBe(1);
      expect(run.log, run.all).toHaveLength(1);
      expect(JSON.parse(run.log[0]!).msg).toBe(`could not start: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
      expect(run.all).not.toContain("    at ");
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    // Nothing was created: the next start, on a free port, is still the first run and shows the secrets.
    const next = await start(`sqlite:${join(dir, "port.db")}`);
    expect(next.output()).toMatch(/Admin API key:\s+dsync_admin_/);
    expect(next.output()).toMatch(/SCIM token:\s+dsync_/);
    next.child.kill("SIGTERM");
    expect(await next.exited).toBe(0);
  });
});

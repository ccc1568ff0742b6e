/**
 * The admin API against its own OpenAPI document (openapi.ts): every response of a scripted run
 * through every documented operation, successes and errors, must have a status the operation
 * documents and a body valid under its schema (JSON Schema 2020-12, by Ajv), and every operation
 * must have been answered with its success status once. A generated client relies on exactly this.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { openSqlite } from "scim-store-sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminKey } from "./admin-keys.js";
import { directoryApp } from "./directory-app.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  responses: Record<string, { content?: { "application/json": { schema: unknown } }; headers?: Record<string, unknown> }>;
}

describe("the admin API answers as its OpenAPI document says", () => {
  let sync: DirectorySync;
  let app: ReturnType<typeof directoryApp>;
  let key: string;
  let document: Any;
  let operations: Operation[];
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  /** `METHOD template` -> the statuses seen. */
  const seen = new Map<string, Set<number>>();
  const problems: string[] = [];
  let clock = Date.parse("2026-11-25T10:00:00.000Z");

  beforeAll(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), now: () => new Date(clock) });
    key = await createAdminKey(sync.db);
    app = directoryApp(sync, { maxBodyBytes: 4096, adminRateLimit: { requestsPerSecond: 0.001, burst: 1000 } });
    document = await (await app.request("http://sync.test/api/openapi.json")).json();
    // The document is one schema resource: its `#/components/schemas/...` references resolve in it.
    ajv.addSchema({ $id: "https://sync.test/openapi.json", components: document.components });
    operations = Object.entries(document.paths as Record<string, Record<string, Any>>).flatMap(([template, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        template,
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
        responses: op.responses,
      })),
    );
  });
  afterAll(() => sync.close());

  /** The operation a request goes to: a literal path wins over a template (`/tokens/rotate` over `/tokens/{tokenId}`). */
  const operationOf = (method: string, path: string) =>
    operations.filter((op) => op.method === method && op.pattern.test(path)).sort((a, b) => a.template.split("{").length - b.template.split("{").length)[0];

  const check = (method: string, path: string, status: number, headers: Headers, text: string) => {
    const op = operationOf(method, path);
    if (op === undefined) return problems.push(`${method} ${path}: no operation in the document`);
    const key = `${op.method} ${op.template}`;
    (seen.get(key) ?? seen.set(key, new Set()).get(key)!).add(status);
    const response = op.responses[String(status)];
    if (response === undefined) return problems.push(`${key}: status ${status} not documented (${text.slice(0, 120)})`);
    for (const name of Object.keys(response.headers ?? {})) if (!headers.has(name)) problems.push(`${key} ${status}: no ${name} header`);
    const schema = response.content?.["application/json"].schema as { $ref: string } | undefined;
    if (schema === undefined) {
      if (text !== "") problems.push(`${key} ${status}: a body where the document has none`);
      return;
    }
    if (!(headers.get("content-type") ?? "").startsWith("application/json")) problems.push(`${key} ${status}: content-type ${headers.get("content-type")}`);
    const validate = ajv.getSchema(`https://sync.test/openapi.json${schema.$ref}`)!;
    if (!validate(JSON.parse(text))) problems.push(`${key} ${status}: ${ajv.errorsText(validate.errors)}`);
  };

  /** An admin API request (or /healthz, /livez), checked against the document. */
  const call = async (method: string, path: string, options: { body?: unknown; raw?: string; headers?: Record<string, string>; auth?: string | null } = {}) => {
    const headers: Record<string, string> = { ...(options.auth !== null ? { authorization: options.auth ?? `Bearer ${key}` } : {}), ...options.headers };
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await app.request(`http://sync.test${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await response.text();
    check(method, path.split("?")[0]!, response.status, response.headers, text);
    return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as Any };
  };

  const scim = async (directoryId: string, token: string, method: string, path: string, body?: unknown) => {
    const response = await app.request(`http://sync.test/scim/v2/${directoryId}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    expect(response.status, `${method} ${path}`).toBeLessThan(300);
    return (response.status === 204 ? undefined : await response.json()) as Any;
  };

  it("every response of every operation, successes and errors", async () => {
    const missing = "dir_000000000000000000000000";
    expect((await call("GET", "/healthz", { auth: null })).status).toBe(200);
    expect((await call("GET", "/livez", { auth: null })).status).toBe(200);
    expect((await call("GET", "/api/openapi.json", { auth: null })).status).toBe(200);

    // Directories.
    const directory = (await call("POST", "/api/directories", { body: { organizationId: "org_1", name: "Acme", type: "okta", settings: { attributeMapping: { department: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" } } } })).body;
    const other = (await call("POST", "/api/directories", { body: { organizationId: "org_2", name: "Globex" } })).body;
    const id = directory.id as string;
    expect((await call("POST", "/api/directories", { body: { organizationId: "", name: "x" } })).status).toBe(400);
    expect((await call("POST", "/api/directories", { raw: "{", headers: { "content-type": "application/json" } })).status).toBe(400);
    expect((await call("POST", "/api/directories", { raw: "name=x", headers: { "content-type": "text/plain" } })).status).toBe(415);
    expect((await call("POST", "/api/directories", { body: { organizationId: "o", name: "x".repeat(5000) } })).status).toBe(413);
    // A read is under the body limit too (a fetch Request carries no GET body: its declared length).
    expect((await call("GET", "/api/directories", { headers: { "content-length": "5000" } })).status).toBe(413);
    expect((await call("GET", "/api/directories", { auth: "Bearer wrong" })).status).toBe(401);
    expect((await call("GET", "/api/directories?limit=1")).body.nextCursor).toEqual(expect.any(String));
    expect((await call("GET", "/api/directories?cursor=bogus")).status).toBe(400);
    expect((await call("GET", `/api/directories/${id}`)).status).toBe(200);
    expect((await call("GET", `/api/directories/${missing}`)).status).toBe(404);
    expect((await call("PATCH", `/api/directories/${id}`, { body: { settings: { rateLimit: { requestsPerSecond: 100_000, burst: 1_000_000 } } } })).status).toBe(200);
    expect((await call("PATCH", `/api/directories/${id}`, { body: { settings: { ipAllowlist: ["300.0.0.1"] } } })).status).toBe(400);
    expect((await call("PATCH", `/api/directories/${missing}`, { body: { name: "x" } })).status).toBe(404);

    // Tokens.
    const token = (await call("POST", `/api/directories/${id}/tokens`)).body.token as string;
    const second = (await call("POST", `/api/directories/${id}/tokens`)).body;
    expect((await call("POST", `/api/directories/${id}/tokens`)).status).toBe(409);
    expect((await call("DELETE", `/api/directories/${id}/tokens/${second.id}`)).status).toBe(200);
    expect((await call("DELETE", `/api/directories/${id}/tokens/tok_unknown`)).status).toBe(404);
    const rotated = (await call("POST", `/api/directories/${id}/tokens/rotate`)).body;
    expect((await call("GET", `/api/directories/${id}/tokens`)).body.data.length).toBeGreaterThanOrEqual(2);
    expect((await call("GET", `/api/directories/${id}/tokens?x=1`)).status).toBe(400);

    // SCIM data: users (one suspended, one deleted), a nested group with members.
    const alice = await scim(id, token, "POST", "/Users", {
      schemas: [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
      userName: "alice@acme.test",
      name: { givenName: "Alice", familyName: "Liddell" },
      emails: [{ value: "alice@acme.test", primary: true }],
      externalId: "00u1",
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "R&D" },
    });
    const bob = await scim(id, rotated.token, "POST", "/Users", { schemas: [USER], userName: "bob@acme.test", active: false });
    const gone = await scim(id, token, "POST", "/Users", { schemas: [USER], userName: "gone@acme.test" });
    await scim(id, token, "DELETE", `/Users/${gone.id}`);
    const engineers = await scim(id, token, "POST", "/Groups", { schemas: [GROUP], displayName: "Engineers", members: [{ value: alice.id }] });
    const staff = await scim(id, token, "POST", "/Groups", { schemas: [GROUP], displayName: "Staff", members: [{ value: engineers.id, type: "Group" }, { value: bob.id }] });
    const patch = (...Operations: unknown[]) => ({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations });
    await scim(id, token, "PATCH", `/Groups/${staff.id}`, patch({ op: "remove", path: `members[value eq "${bob.id}"]` }));
    await scim(id, token, "PATCH", `/Groups/${staff.id}`, patch({ op: "replace", path: "displayName", value: "Staff" }, { op: "replace", path: "externalId", value: "g-1" }));
    await scim(id, token, "DELETE", `/Groups/${(await scim(id, token, "POST", "/Groups", { schemas: [GROUP], displayName: "Temp" })).id}`);
    for (const value of [{ title: "CTO" }, { active: false }, { active: true }]) await scim(id, token, "PATCH", `/Users/${alice.id}`, patch({ op: "replace", value }));

    // Role mappings.
    const mapping = (await call("POST", `/api/directories/${id}/role-mappings`, { body: { group: { displayName: "Staff" }, role: "member" } })).body;
    const byId = (await call("POST", `/api/directories/${id}/role-mappings`, { body: { group: { id: engineers.id }, role: "engineer" } })).body;
    expect((await call("POST", `/api/directories/${id}/role-mappings`, { body: { group: { displayName: "staff" }, role: "member" } })).status).toBe(409);
    expect((await call("POST", `/api/directories/${id}/role-mappings`, { body: { group: { displayName: "   " }, role: "x" } })).status).toBe(400);
    expect((await call("POST", `/api/directories/${missing}/role-mappings`, { body: { group: { displayName: "x" }, role: "x" } })).status).toBe(404);
    expect((await call("GET", `/api/directories/${id}/role-mappings`)).body.data).toHaveLength(2);
    expect((await call("GET", `/api/directories/${id}/role-mappings/${mapping.id}`)).status).toBe(200);
    expect((await call("PATCH", `/api/directories/${id}/role-mappings/${mapping.id}`, { body: { role: "staff" } })).status).toBe(200);
    expect((await call("PATCH", `/api/directories/${id}/role-mappings/${mapping.id}`, { body: { role: "engineer", group: { id: engineers.id } } })).status).toBe(409);
    expect((await call("DELETE", `/api/directories/${id}/role-mappings/${byId.id}`)).status).toBe(204);
    expect((await call("DELETE", `/api/directories/${id}/role-mappings/${byId.id}`)).status).toBe(404);
    expect((await call("DELETE", `/api/directories/${missing}/role-mappings/${mapping.id}`)).status).toBe(404);

    // Normalized users and groups.
    const users = (await call("GET", `/api/directories/${id}/users?limit=1`)).body;
    expect(users.nextCursor).toEqual(expect.any(String));
    expect((await call("GET", `/api/directories/${id}/users?state=deleted`)).body.data).toHaveLength(1);
    expect((await call("GET", `/api/directories/${id}/users?cursor=${users.nextCursor}&email=alice@acme.test`)).status).toBe(400);
    expect((await call("GET", `/api/directories/${id}/users/${alice.id}`)).body.customAttributes).toEqual({ department: "R&D" });
    expect((await call("GET", `/api/directories/${id}/users/${gone.id}`)).body.state).toBe("deleted");
    expect((await call("GET", `/api/directories/${other.id}/users/${alice.id}`)).status).toBe(404);
    expect((await call("GET", `/api/directories/${id}/groups?group=${staff.id}`)).body.data).toHaveLength(1);
    expect((await call("GET", `/api/directories/${id}/groups/${staff.id}`)).status).toBe(200);
    expect((await call("GET", `/api/directories/${id}/groups/nope`)).status).toBe(404);
    expect((await call("GET", `/api/directories/${id}/status`)).body.users).toBeDefined();

    // Events, then the audit log.
    const events = (await call("GET", `/api/events?directoryId=${id}&limit=1000`)).body;
    expect(new Set(events.data.map((e: Any) => e.type))).toEqual(
      new Set(["directory.updated", "user.created", "user.updated", "user.deactivated", "user.reactivated", "user.deleted", "user.roles_changed", "group.created", "group.updated", "group.deleted", "group.user_added", "group.user_removed"]),
    );
    const latest = (await call("GET", "/api/events/latest")).body.cursor as number;
    expect((await call("GET", `/api/events?after=${latest + 1}`)).status).toBe(400);
    expect((await call("GET", `/api/events?directoryId=${missing}`)).status).toBe(404);
    expect((await call("GET", "/api/audit-log?kind=scim&limit=5")).body.data).toHaveLength(5);
    expect((await call("GET", "/api/audit-log?kind=nope")).status).toBe(400);

    // Retention: a day later, prune everything older than 0 days.
    clock += 86_400_000;
    expect((await call("DELETE", `/api/directories/${id}/deleted-resources?olderThanDays=0`)).body.deleted).toBe(2); // the user and the group
    expect((await call("DELETE", `/api/directories/${id}/deleted-resources`)).status).toBe(400);
    expect((await call("DELETE", "/api/events?olderThanDays=0")).body.deleted).toBeGreaterThan(0);
    expect((await call("GET", "/api/events?after=1")).status).toBe(410);
    expect((await call("DELETE", "/api/audit-log?olderThanDays=0")).body.deleted).toBeGreaterThan(0);

    // Deletion, and the rate limit (a small bucket of its own).
    expect((await call("DELETE", `/api/directories/${other.id}`)).status).toBe(204);
    expect((await call("DELETE", `/api/directories/${other.id}`)).status).toBe(404);
    const limited = directoryApp(sync, { adminRateLimit: { requestsPerSecond: 0.001, burst: 1 } });
    for (let i = 0; i < 2; i++) {
      const response = await limited.request("http://sync.test/api/directories", { headers: { authorization: `Bearer ${key}` } });
      check("GET", "/api/directories", response.status, response.headers, await response.text());
    }
    expect(seen.get("GET /api/directories")).toContain(429);

    expect(problems).toEqual([]);
    // Every operation was answered with its documented success status.
    const unanswered = operations
      .filter((op) => {
        const success = Object.keys(op.responses).find((status) => status.startsWith("2"))!;
        return !seen.get(`${op.method} ${op.template}`)?.has(Number(success));
      })
      .map((op) => `${op.method} ${op.template}`);
    expect(unanswered).toEqual([]);
  });
});

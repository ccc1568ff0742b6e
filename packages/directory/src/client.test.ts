import { openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAdminKey } from "./admin-keys.js";
import { createDirectoryClient, DirectoryApiError, isDirectoryApiError, type DirectoryClient } from "./client.js";
import { directoryApp } from "./directory-app.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

describe("createDirectoryClient against directoryApp", () => {
  let sync: DirectorySync;
  let app: ReturnType<typeof directoryApp>;
  let client: DirectoryClient;
  let key: string;

  beforeEach(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    key = await createAdminKey(sync.db);
    app = directoryApp(sync);
    client = createDirectoryClient({ baseUrl: "http://sync.test/", adminKey: key, fetch: (url, init) => Promise.resolve(app.request(url, init)) });
  });
  afterEach(() => sync.close());

  const scim = async (directoryId: string, token: string, method: string, path: string, body?: unknown) => {
    const r = await app.request(`http://sync.test/scim/v2/${directoryId}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return (await r.json()) as { id: string };
  };

  it("covers the whole admin API with typed results", async () => {
    const directory = await client.directories.create({ organizationId: "org_1", name: "Acme", type: "okta", settings: { deleteMode: "hard" } });
    expect(directory.scimUrl).toBe(`http://sync.test/scim/v2/${directory.id}`);
    expect(directory.settings.deleteMode).toBe("hard");
    expect((await client.directories.get(directory.id)).name).toBe("Acme");
    expect((await client.directories.update(directory.id, { name: "Acme Okta" })).name).toBe("Acme Okta");
    const page = await client.directories.list({ organizationId: "org_1", limit: 10 });
    expect(page.data.map((d) => d.id)).toEqual([directory.id]);
    expect(page.nextCursor).toBeNull();

    const issued = await client.tokens.create(directory.id);
    expect(issued.token).toMatch(/^dsync_/);
    const rotated = await client.tokens.rotate(directory.id);
    const tokens = await client.tokens.list(directory.id);
    expect(tokens.map((t) => t.id).sort()).toEqual([issued.id, rotated.id].sort());
    expect(tokens.some((t) => "token" in t)).toBe(false);
    expect((await client.tokens.revoke(directory.id, issued.id)).active).toBe(false);

    const user = await scim(directory.id, rotated.token, "POST", "/Users", { schemas: [USER], userName: "ann@acme.test" });
    const group = await scim(directory.id, rotated.token, "POST", "/Groups", { schemas: [GROUP], displayName: "Staff", members: [{ value: user.id }] });
    const mapping = await client.roleMappings.create(directory.id, { group: { displayName: "Staff" }, role: "member" });
    expect(await client.roleMappings.list(directory.id)).toEqual([mapping]);
    expect((await client.users.get(directory.id, user.id)).roles).toEqual(["member"]);
    expect(await client.roleMappings.get(directory.id, mapping.id)).toEqual(mapping);
    const updated = await client.roleMappings.update(directory.id, mapping.id, { group: { id: group.id }, role: "staff" });
    expect(updated).toEqual({ ...mapping, group: { id: group.id }, role: "staff" });
    expect(await client.roleMappings.get(directory.id, mapping.id)).toEqual(updated);
    expect((await client.users.get(directory.id, user.id)).roles).toEqual(["staff"]);
    await expect(client.roleMappings.update(directory.id, mapping.id, {})).rejects.toMatchObject({ status: 400, code: "validation_failed" });
    await expect(client.roleMappings.get(directory.id, "map_unknown")).rejects.toMatchObject({ status: 404, code: "not_found" });
    expect((await client.users.list(directory.id, { email: "ann@acme.test" })).data.map((u) => u.id)).toEqual([user.id]);
    expect((await client.groups.get(directory.id, group.id)).name).toBe("Staff");
    expect((await client.groups.list(directory.id, { limit: 5 })).data).toHaveLength(1);
    expect((await client.groups.list(directory.id, { group: group.id })).data).toEqual([]); // no nested groups
    await client.roleMappings.delete(directory.id, mapping.id);
    expect(await client.roleMappings.list(directory.id)).toEqual([]);

    const events = await client.events.list({ directoryId: directory.id, limit: 2 });
    expect(events.data.map((e) => e.type)).toEqual(["directory.updated", "user.created"]);
    const renamed = events.data[0]!;
    if (renamed.type === "directory.updated") expect(renamed.data).toEqual({ changed: ["name"], name: "Acme Okta", type: "okta", state: "active" });
    const next = await client.events.list({ directoryId: directory.id, after: events.nextCursor });
    expect(next.data[0]!.seq).toBeGreaterThan(events.nextCursor);
    expect(await client.events.latest()).toBeGreaterThanOrEqual(next.nextCursor);
    // Events are typed by type: narrowing on `type` gives the resource, the member or the data.
    const typed = (await client.events.list({ directoryId: directory.id, limit: 1000 })).data;
    const seen = new Set<string>();
    for (const e of typed) {
      if (e.type === "user.created") seen.add(`user ${e.resource.userName as string}`);
      else if (e.type === "group.user_added") seen.add(`member ${e.member.value === user.id}`);
      else if (e.type === "user.roles_changed") seen.add(`roles ${e.data.added.join()}-${e.data.removed.join()}`);
    }
    expect([...seen].sort()).toEqual(["member true", "roles -staff", "roles member-", "roles staff-member", "user ann@acme.test"]);
    await expect(client.events.list({ after: (await client.events.latest()) + 1 })).rejects.toMatchObject({ status: 400, code: "invalid_cursor" });

    const status = await client.directories.status(directory.id);
    expect(status).toMatchObject({ users: 1, groups: 1, lastRequestStatus: 201, errorsLast24Hours: 0 });

    const audit = await client.auditLog.list({ kind: "scim", directoryId: directory.id });
    expect(audit.data.map((e) => e.status)).toEqual([201, 201]);
    expect(await client.auditLog.prune(0)).toBeGreaterThan(0);

    expect((await client.openapi()).openapi).toBe("3.1.0");
    await client.directories.delete(directory.id);
    await expect(client.directories.get(directory.id)).rejects.toMatchObject({ status: 404, code: "not_found" });
  });

  it("throws DirectoryApiError with status, code, message and validation issues", async () => {
    const error = await client.directories.create({ organizationId: "", name: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DirectoryApiError);
    expect(isDirectoryApiError(error)).toBe(true);
    expect(error).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "organizationId" }] });

    const wrongKey = createDirectoryClient({ baseUrl: "http://sync.test", adminKey: "dsync_admin_wrong", fetch: (url, init) => Promise.resolve(app.request(url, init)) });
    await expect(wrongKey.directories.list()).rejects.toMatchObject({ status: 401, code: "unauthorized" });

    const notJson = createDirectoryClient({ baseUrl: "http://sync.test", adminKey: key, fetch: () => Promise.resolve(new Response("<html>bad gateway</html>", { status: 502 })) });
    await expect(notJson.directories.list()).rejects.toMatchObject({ status: 502, code: "http_error" });
  });

  it("a 429 carries the answer's Retry-After, so that callers can wait as long as the service asks", async () => {
    const limited = directoryApp(sync, { adminRateLimit: { requestsPerSecond: 0.01, burst: 2 } });
    const slow = createDirectoryClient({ baseUrl: "http://sync.test", adminKey: key, fetch: (url, init) => Promise.resolve(limited.request(url, init)) });
    await slow.directories.list();
    await slow.directories.list();
    const error = await slow.directories.list().catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, code: "rate_limited" });
    expect((error as DirectoryApiError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // An HTTP date, and no header at all.
    const dated = createDirectoryClient({
      baseUrl: "http://sync.test",
      adminKey: key,
      fetch: () => Promise.resolve(new Response("", { status: 503, headers: { "retry-after": new Date(Date.now() + 30_000).toUTCString() } })),
    });
    expect(((await dated.directories.list().catch((e: unknown) => e)) as DirectoryApiError).retryAfterSeconds).toBeGreaterThanOrEqual(28);
    const none = await client.directories.get("dir_000000000000000000000000").catch((e: unknown) => e);
    expect(none).toMatchObject({ status: 404, retryAfterSeconds: undefined });
  });

  it("types the settings it sends: an attribute mapping is names to attribute paths", () => {
    // Compile-time checks (the typecheck of the tests fails if an error below is not one); never run.
    const typed = (client: ReturnType<typeof createDirectoryClient>) => {
      void client.directories.update("dir_x", { settings: { attributeMapping: { costCenter: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter" } } });
      // @ts-expect-error a number is not a mapping
      void client.directories.update("dir_x", { settings: { attributeMapping: 42 } });
      // @ts-expect-error nor is a mapping to a number
      void client.directories.create({ organizationId: "o", name: "n", settings: { attributeMapping: { a: 1 } } });
    };
    expect(typeof typed).toBe("function");
  });
});

import { randomBytes } from "node:crypto";
import { CompiledQuery, sql } from "kysely";
import { openSqlite } from "scim-store-sql";
import { createSchemaRegistry, type SchemaDefinition } from "scim-core";
import { describe, expect, it } from "vitest";
import { backends, useDirectorySync } from "./test-backends.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { attributeReader } from "./normalized.js";
import { directoryScimRoutes } from "./scim-routes.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME = "urn:acme:params:scim:schemas:extension:acme:2.0:User";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

type Obj = Record<string, unknown>;

/** A custom extension the directories receive. */
const acmeSchema: SchemaDefinition = {
  id: ACME,
  name: "AcmeUser",
  attributes: [
    { name: "costCenter", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
    { name: "badges", type: "string", multiValued: true, required: false, mutability: "readWrite", returned: "default" },
    { name: "secret", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "never" },
    {
      name: "badge",
      type: "complex",
      multiValued: false,
      required: false,
      mutability: "readWrite",
      returned: "default",
      subAttributes: [
        { name: "num", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
        { name: "pin", type: "string", multiValued: false, required: false, mutability: "readWrite", returned: "never" },
      ],
    },
  ],
};
const registry = () => createSchemaRegistry({ schemas: [acmeSchema] }).addExtension("User", { schema: ACME, required: false });

/** Okta's create (IDP-NOTES.md, Okta "Create"). */
const oktaUser = {
  schemas: [USER],
  userName: "test.user@okta.local",
  name: { givenName: "Test", familyName: "User" },
  emails: [{ primary: true, value: "test.user@okta.local", type: "work" }],
  displayName: "Test User",
  locale: "en-US",
  externalId: "00ujl29u0le5T6Aj10h7",
  groups: [],
  password: "1mz050nq",
  active: true,
};

/** Entra's create (IDP-NOTES.md, Entra "Create": core + enterprise, meta, roles: [], nulls). */
const entraUser = {
  schemas: [USER, ENTERPRISE, ACME],
  externalId: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
  userName: "Test_User_ab6490ee@contoso.test",
  active: true,
  emails: [{ primary: true, type: "work", value: "Test.User@contoso.test" }],
  meta: { resourceType: "User" },
  name: { formatted: "Test User", familyName: "User", givenName: "Test" },
  roles: [],
  [ENTERPRISE]: { employeeNumber: "701984", department: "Tour Operations", manager: null },
  [ACME]: { costCenter: "CC-42", badges: ["red", "blue"] },
};

describe.each(backends)("normalized directory data on $name", (backend) => {
  let sync: DirectorySync;
  let app: ReturnType<typeof directoryScimRoutes>;

  useDirectorySync(backend, (database) => createDirectorySync({ database, registry: registry(), now: () => new Date("2026-11-25T10:00:00.000Z") }), (s) => {
    sync = s;
    app = directoryScimRoutes(sync);
  });

  async function directory(settings: { attributeMapping?: Record<string, string> } = {}) {
    const dir = await sync.directories.create({ organizationId: `org_${randomBytes(4).toString("hex")}`, name: "Acme", type: "generic-scim", settings });
    const { token } = await sync.tokens.create(dir.id);
    const scim = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(`http://sync.test/scim/v2/${dir.id}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.status === 204 ? undefined : ((await res.json()) as Obj);
    };
    const user = async (body: Obj) => (await scim("POST", "/Users", { schemas: [USER], ...body }))!.id as string;
    const group = async (displayName: string, members: string[] = [], externalId?: string) =>
      (await scim("POST", "/Groups", { schemas: [GROUP], displayName, members: members.map((value) => ({ value })), ...(externalId ? { externalId } : {}) }))!.id as string;
    return { dir, id: dir.id, scim, user, group };
  }

  it.skipIf(backend.skip)("never-returned attributes stay out of raw and of custom attributes, as SCIM never shows them", async () => {
    const d = await directory({ attributeMapping: { badge: `${ACME}:badge`, costCenter: `${ACME}:costCenter` } });
    const id = await d.user({ schemas: [USER, ACME], userName: "secretive@acme.test", [ACME]: { costCenter: "CC-1", secret: "TOPSECRET", badge: { num: "B-7", pin: "1234" } } });
    const user = await sync.data.getUser(d.id, id);
    expect(user.raw[ACME]).toEqual({ costCenter: "CC-1", badge: { num: "B-7" } });
    expect(user.customAttributes).toEqual({ badge: { num: "B-7" }, costCenter: "CC-1" });
    expect(JSON.stringify(user)).not.toMatch(/TOPSECRET|1234/);
    // What SCIM shows of the same user.
    expect((await d.scim("GET", `/Users/${id}`))![ACME]).toEqual({ costCenter: "CC-1", badge: { num: "B-7" } });
  });

  it.skipIf(backend.skip)("an Okta-shaped and an Entra-shaped user come out in the same shape", async () => {
    const d = await directory({
      attributeMapping: {
        department: `${ENTERPRISE}:department`,
        employeeNumber: `${ENTERPRISE}:employeeNumber`,
        manager: `${ENTERPRISE}:manager.value`,
        costCenter: `${ACME}:costCenter`,
        badges: `${ACME}:badges`,
        workEmail: 'emails[type eq "work"].value',
        givenName: "name.givenName",
        locale: "locale",
        title: "title",
      },
    });
    const okta = await d.user(oktaUser);
    const entra = await d.user(entraUser);
    const eng = await d.group("Engineering", [okta, entra]);
    const all = await d.group("All", [eng]);
    await sync.roles.createMapping(d.id, { group: { displayName: "all" }, role: "member" });

    const fromOkta = await sync.data.getUser(d.id, okta);
    expect(fromOkta).toMatchObject({
      id: okta,
      directoryId: d.id,
      organizationId: d.dir.organizationId,
      externalId: "00ujl29u0le5T6Aj10h7",
      email: "test.user@okta.local",
      username: "test.user@okta.local",
      firstName: "Test",
      lastName: "User",
      displayName: "Test User",
      state: "active",
      groups: [{ id: eng, name: "Engineering" }],
      roles: ["member"],
      customAttributes: {
        department: null,
        employeeNumber: null,
        manager: null,
        costCenter: null,
        badges: null,
        workEmail: "test.user@okta.local",
        givenName: "Test",
        locale: "en-US",
        title: null,
      },
      createdAt: "2026-11-25T10:00:00.000Z",
      updatedAt: "2026-11-25T10:00:00.000Z",
    });
    expect(fromOkta.raw).toMatchObject({ schemas: [USER], id: okta, userName: "test.user@okta.local", meta: { resourceType: "User", version: 'W/"1"' } });
    expect(JSON.stringify(fromOkta)).not.toContain("1mz050nq");
    expect(all).toBeDefined();

    const fromEntra = await sync.data.getUser(d.id, entra);
    expect(fromEntra).toMatchObject({
      externalId: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
      email: "Test.User@contoso.test",
      username: "Test_User_ab6490ee@contoso.test",
      firstName: "Test",
      lastName: "User",
      displayName: "Test User",
      state: "active",
      groups: [{ id: eng, name: "Engineering" }],
      roles: ["member"],
      customAttributes: {
        department: "Tour Operations",
        employeeNumber: "701984",
        manager: null,
        costCenter: "CC-42",
        badges: ["red", "blue"],
        workEmail: "Test.User@contoso.test",
        givenName: "Test",
        locale: null,
        title: null,
      },
    });
    expect((fromEntra.raw[ENTERPRISE] as Obj).department).toBe("Tour Operations");

    // Entra's default PATCH style: capitalised op, boolean as a string, enterprise URN path.
    await d.scim("PATCH", `/Users/${entra}`, {
      schemas: [PATCH],
      Operations: [
        { op: "Replace", path: "active", value: "False" },
        { op: "Replace", path: `${ENTERPRISE}:manager`, value: { value: "mgr-1" } },
      ],
    });
    const suspended = await sync.data.getUser(d.id, entra);
    expect(suspended.state).toBe("suspended");
    expect(suspended.customAttributes.manager).toBe("mgr-1");
  });

  it.skipIf(backend.skip)("OneLogin's empty strings and a missing name read as null", async () => {
    const d = await directory({ attributeMapping: { title: "title" } });
    const id = await d.user({ userName: "jdoe", name: { givenName: "", familyName: "Doe" }, displayName: "", title: "", emails: [] });
    expect(await sync.data.getUser(d.id, id)).toMatchObject({ email: null, firstName: null, lastName: "Doe", displayName: "Doe", customAttributes: { title: null } });
  });

  it.skipIf(backend.skip)("lists users with cursor paging and each filter; deleted users only when asked, with state deleted", async () => {
    const d = await directory();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await d.user({ userName: `user${i}@acme.test`, emails: [{ value: `user${i}@acme.test`, primary: true }, { value: `alt${i}@home.test` }] }));
    const team = await d.group("Team", [ids[1]!, ids[3]!]);
    await d.group("Parent", [team]);

    // Paging: oldest first, 2 + 2 + 1.
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await sync.data.listUsers(d.id, { limit: 2, ...(cursor !== undefined ? { cursor } : {}) });
      seen.push(...page.data.map((u) => u.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
    await expect(sync.data.listUsers(d.id, { cursor: "not-a-cursor" })).rejects.toMatchObject({ status: 400, code: "invalid_cursor" });
    await expect(sync.data.listUsers("dir_000000000000000000000000")).rejects.toMatchObject({ status: 404 });

    const only = async (options: Parameters<DirectorySync["data"]["listUsers"]>[1]) => (await sync.data.listUsers(d.id, options)).data.map((u) => u.id);
    expect(await only({ email: "USER2@acme.test" })).toEqual([ids[2]]);
    expect(await only({ email: "alt4@HOME.test" })).toEqual([ids[4]]);
    expect(await only({ username: "User3@Acme.Test" })).toEqual([ids[3]]);
    expect(await only({ group: team })).toEqual([ids[1], ids[3]]);
    expect(await only({ email: "nobody@acme.test" })).toEqual([]);

    await d.scim("PATCH", `/Users/${ids[0]}`, { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false } }] });
    await d.scim("DELETE", `/Users/${ids[1]}`);
    expect(await only({ state: "suspended" })).toEqual([ids[0]]);
    expect(await only({ state: "active" })).toEqual([ids[2], ids[3], ids[4]]);
    expect(await only({})).toEqual([ids[0], ids[2], ids[3], ids[4]]);
    expect(await only({ state: "deleted" })).toEqual([ids[1]]);
    expect(await only({ state: "deleted", username: "user1@acme.test" })).toEqual([ids[1]]);
    // By the emails it had (its emails rows went with the deletion), primary or not, in any case.
    expect(await only({ state: "deleted", email: "USER1@acme.test" })).toEqual([ids[1]]);
    expect(await only({ state: "deleted", email: "alt1@Home.test" })).toEqual([ids[1]]);
    expect(await only({ state: "deleted", email: "alt2@home.test" })).toEqual([]);
    expect(await only({ email: "alt1@home.test" })).toEqual([]);
    expect(await only({ group: team })).toEqual([ids[3]]);

    const deleted = await sync.data.getUser(d.id, ids[1]!);
    expect(deleted).toMatchObject({ id: ids[1], state: "deleted", username: "user1@acme.test", email: "user1@acme.test", groups: [], roles: [] });
    await expect(sync.data.getUser(d.id, "no-such-user")).rejects.toMatchObject({ status: 404 });
    expect(await sync.data.findUser(d.id, "no-such-user")).toBeUndefined();

    expect(await sync.data.counts(d.id)).toEqual({ users: 4, groups: 2 });
  });

  it.skipIf(backend.skip)("a cursor pages only the list it came from: another list's or another directory's is a 400 invalid_cursor", async () => {
    const d = await directory();
    const other = await directory();
    for (let i = 0; i < 3; i++) {
      await d.user({ userName: `u${i}@acme.test` });
      await d.group(`G${i}`);
      await other.user({ userName: `u${i}@acme.test` });
    }
    const users = (await sync.data.listUsers(d.id, { limit: 1 })).nextCursor!;
    const groups = (await sync.data.listGroups(d.id, { limit: 1 })).nextCursor!;
    expect((await sync.data.listUsers(d.id, { cursor: users })).data).toHaveLength(2);
    expect((await sync.data.listGroups(d.id, { cursor: groups })).data).toHaveLength(2);
    const invalid = { status: 400, code: "invalid_cursor" };
    await expect(sync.data.listGroups(d.id, { cursor: users })).rejects.toMatchObject(invalid);
    await expect(sync.data.listUsers(d.id, { cursor: groups })).rejects.toMatchObject(invalid);
    await expect(sync.data.listUsers(other.id, { cursor: users })).rejects.toMatchObject(invalid);
    await expect(sync.data.listGroups(other.id, { cursor: groups })).rejects.toMatchObject(invalid);
    // The same list with other filters would skip its rows before the position: refused too.
    await expect(sync.data.listUsers(d.id, { cursor: users, state: "deleted" })).rejects.toMatchObject(invalid);
    await expect(sync.data.listGroups(d.id, { cursor: groups, name: "G2" })).rejects.toMatchObject(invalid);
    const filtered = (await sync.data.listUsers(d.id, { limit: 1, state: "active" })).nextCursor!;
    expect((await sync.data.listUsers(d.id, { cursor: filtered, state: "active" })).data).toHaveLength(2);
    await expect(sync.data.listUsers(d.id, { cursor: filtered })).rejects.toMatchObject(invalid);
    await expect(sync.data.listUsers(d.id, { cursor: filtered, state: "suspended" })).rejects.toMatchObject(invalid);
    // A filter that matches case-insensitively takes its cursor in any case.
    for (const userName of ["s1@acme.test", "s2@acme.test"]) await d.user({ userName, emails: [{ value: "shared@acme.test" }] });
    const shared = (await sync.data.listUsers(d.id, { limit: 1, email: "Shared@acme.test" })).nextCursor!;
    expect((await sync.data.listUsers(d.id, { cursor: shared, email: "SHARED@ACME.TEST" })).data.map((u) => u.username)).toEqual(["s2@acme.test"]);
  });

  it.skipIf(backend.skip)("lists and reads groups with their member count", async () => {
    const d = await directory();
    const u = await d.user({ userName: "g@acme.test" });
    const a = await d.group("Alpha", [u], "ext-alpha");
    const b = await d.group("Beta", [a, u]);
    const c = await d.group("Gamma");
    const page1 = await sync.data.listGroups(d.id, { limit: 2 });
    expect(page1.data.map((g) => [g.name, g.memberCount])).toEqual([
      ["Alpha", 1],
      ["Beta", 2],
    ]);
    const page2 = await sync.data.listGroups(d.id, { limit: 2, cursor: page1.nextCursor! });
    expect(page2).toEqual({ data: [expect.objectContaining({ id: c, name: "Gamma", memberCount: 0 })] });
    expect((await sync.data.listGroups(d.id, { name: "beta" })).data.map((g) => g.id)).toEqual([b]);
    expect((await sync.data.listGroups(d.id, { externalId: "ext-alpha" })).data.map((g) => g.id)).toEqual([a]);
    // A group's members, both kinds: its users and its nested groups.
    expect((await sync.data.listGroups(d.id, { group: b })).data.map((g) => g.id)).toEqual([a]);
    expect((await sync.data.listUsers(d.id, { group: b })).data.map((x) => x.id)).toEqual([u]);
    expect((await sync.data.listGroups(d.id, { group: a })).data).toEqual([]);

    const alpha = await sync.data.getGroup(d.id, a);
    expect(alpha).toMatchObject({ id: a, directoryId: d.id, organizationId: d.dir.organizationId, externalId: "ext-alpha", name: "Alpha", memberCount: 1 });
    expect(alpha.raw).toMatchObject({ schemas: [GROUP], id: a, displayName: "Alpha", meta: { resourceType: "Group" } });
    expect(alpha.raw.members).toBeUndefined();
    await d.scim("DELETE", `/Groups/${c}`);
    await expect(sync.data.getGroup(d.id, c)).rejects.toMatchObject({ status: 404 });
    expect(await sync.data.counts(d.id)).toEqual({ users: 1, groups: 2 });
  });
});

describe("attributeReader", () => {
  const reg = registry();
  it("reads core, sub-attribute, filtered, enterprise and custom-extension paths, case-insensitively", () => {
    const user = {
      userName: "x",
      name: { givenName: "Ann" },
      emails: [{ type: "home", value: "h@x.test" }, { type: "WORK", value: "w@x.test" }],
      [ENTERPRISE]: { department: "Ops", manager: { value: "m1" } },
      [ACME]: { costCenter: "CC-1" },
    };
    expect(attributeReader("USERNAME", reg)(user)).toBe("x");
    expect(attributeReader("name.GivenName", reg)(user)).toBe("Ann");
    expect(attributeReader(`${USER}:name.givenName`, reg)(user)).toBe("Ann");
    expect(attributeReader('emails[type eq "work"].value', reg)(user)).toBe("w@x.test");
    expect(attributeReader("emails.value", reg)(user)).toEqual(["h@x.test", "w@x.test"]);
    expect(attributeReader(`${ENTERPRISE}:department`, reg)(user)).toBe("Ops");
    expect(attributeReader(`${ENTERPRISE.toLowerCase()}:Manager.Value`, reg)(user)).toBe("m1");
    expect(attributeReader(`${ACME}:costCenter`, reg)(user)).toBe("CC-1");
  });

  it("never throws on odd data or paths", () => {
    const odd = { name: "not an object", emails: "nope", [ENTERPRISE]: [1, 2], [ACME]: null };
    for (const path of ["name.givenName", 'emails[type eq "work"].value', `${ENTERPRISE}:department`, `${ACME}:costCenter`, "unknown.sub", "", "((", "__proto__"]) {
      expect(() => attributeReader(path, reg)(odd)).not.toThrow();
      expect(attributeReader(path, reg)(odd)).toBeUndefined();
    }
  });
});

describe("listing users by email", () => {
  it("finds them by index (the emails and userName lookups), never walking the directory's users", async () => {
    const queries: Array<{ sql: string; parameters: readonly unknown[] }> = [];
    let logging = false;
    const sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:", log: (e) => void (logging && queries.push({ sql: e.query.sql, parameters: e.query.parameters })) }) });
    try {
      const dir = await sync.directories.create({ organizationId: "org_email", name: "Emails" });
      const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
      await sync.store.importResources({ tenant: dir.id }, "User", [
        ...Array.from({ length: 3000 }, (_, i) => ({ id: `u${i}`, attributes: { schemas: [USER], userName: `user${i}`, emails: [{ value: `user${i}@acme.test`, primary: true }] }, uniqueKeys: [] })),
        { id: "named", attributes: { schemas: [USER], userName: "Boss@Acme.test" }, uniqueKeys: [] },
      ]);
      await sql`analyze`.execute(sync.db);
      logging = true;
      expect((await sync.data.listUsers(dir.id, { email: "USER1234@acme.test" })).data.map((u) => u.id)).toEqual(["u1234"]);
      expect((await sync.data.listUsers(dir.id, { email: "boss@acme.test" })).data.map((u) => u.id)).toEqual(["named"]);
      expect((await sync.data.listUsers(dir.id, { email: "nobody@acme.test" })).data).toEqual([]);
      logging = false;
      const reads = queries.filter((q) => /scim_resources/.test(q.sql));
      expect(reads.length).toBeGreaterThan(0);
      for (const q of reads) {
        const plan = await sync.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]));
        for (const step of plan.rows) expect(step.detail, q.sql).not.toMatch(/^SCAN r\b|USING INDEX scim_resources_seq|USING INDEX scim_resources_(created|last_modified)/);
      }
    } finally {
      await sync.close();
    }
  });
});

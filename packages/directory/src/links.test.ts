import { openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { primaryEmail } from "./links.js";
import { directoryScimRoutes } from "./scim-routes.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";

type Obj = Record<string, unknown>;

describe("link by email", () => {
  let sync: DirectorySync;
  let app: ReturnType<typeof directoryScimRoutes>;

  beforeEach(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }), now: () => new Date("2026-11-25T10:00:00.000Z") });
    app = directoryScimRoutes(sync);
  });
  afterEach(() => sync.close());

  async function directory(organizationId: string, linkByEmail = true) {
    const dir = await sync.directories.create({ organizationId, name: `${organizationId} directory`, settings: { linkByEmail } });
    const { token } = await sync.tokens.create(dir.id);
    const create = async (body: Obj) => {
      const res = await app.request(`http://sync.test/scim/v2/${dir.id}/Users`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
        body: JSON.stringify({ schemas: [USER], ...body }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as Obj).id as string;
    };
    const remove = (id: string) => app.request(`http://sync.test/scim/v2/${dir.id}/Users/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${token}` } });
    return { id: dir.id, create, remove };
  }

  it("links a new user to the earliest live user of the organization with its email, in any of its directories", async () => {
    const okta = await directory("org_acme");
    const entra = await directory("org_acme");
    const other = await directory("org_other");

    const alice = await okta.create({ userName: "alice", emails: [{ value: "alice@acme.test", type: "work", primary: true }] });
    // Entra: a different userName, the same address in another case.
    const aliceEntra = await entra.create({ userName: "alice@acme.onmicrosoft.test", emails: [{ value: "Alice@Acme.test", type: "work", primary: true }] });
    const user = await sync.data.getUser(entra.id, aliceEntra);
    expect(user).toMatchObject({ linkedUserId: alice, linkedDirectoryId: okta.id });
    expect(await sync.links.linkOf(entra.id, aliceEntra)).toMatchObject({ linkedUserId: alice, linkedDirectoryId: okta.id, email: "alice@acme.test" });

    // The same directory counts too; a link points at the person, never at another link.
    const again = await entra.create({ userName: "alice.2", emails: [{ value: "ALICE@acme.test" }] });
    expect(await sync.data.getUser(entra.id, again)).toMatchObject({ linkedUserId: alice, linkedDirectoryId: okta.id });
    expect((await sync.links.linkedTo(okta.id, alice)).map((l) => l.userId)).toEqual([aliceEntra, again]);

    // Another organization never links.
    const stranger = await other.create({ userName: "alice", emails: [{ value: "alice@acme.test", primary: true }] });
    const unlinked = await sync.data.getUser(other.id, stranger);
    expect(unlinked.linkedUserId).toBeUndefined();
    expect(unlinked.linkedDirectoryId).toBeUndefined();

    // The first user has no link of its own.
    expect((await sync.data.getUser(okta.id, alice)).linkedUserId).toBeUndefined();
  });

  it("uses the primary email, else the first, else an email-shaped userName; deleted users are not linked to", async () => {
    const a = await directory("org_acme");
    const b = await directory("org_acme");
    const bob = await a.create({ userName: "bob@acme.test" }); // Okta: the address only in userName
    const bobAgain = await b.create({ userName: "robert", emails: [{ value: "robert@home.test" }, { value: "bob@acme.test", primary: true }] });
    expect(await sync.links.linkOf(b.id, bobAgain)).toMatchObject({ linkedUserId: bob });

    const first = await b.create({ userName: "carol", emails: [{ value: "carol@acme.test" }, { value: "c@home.test" }] });
    const carolA = await a.create({ userName: "carol.a", emails: [{ value: "c@home.test" }, { value: "carol@acme.test" }] });
    // carol.a's first email (no primary) is c@home.test: carol has it as a second email, which counts.
    expect(await sync.links.linkOf(a.id, carolA)).toMatchObject({ linkedUserId: first });

    expect((await a.remove(bob)).status).toBe(204);
    const late = await a.create({ userName: "bob.late", emails: [{ value: "bob@acme.test" }] });
    expect(await sync.links.linkOf(a.id, late)).toMatchObject({ linkedUserId: bobAgain, linkedDirectoryId: b.id });
  });

  it("does nothing when the directory does not ask for it", async () => {
    const on = await directory("org_acme");
    const off = await directory("org_acme", false);
    await on.create({ userName: "dave@acme.test" });
    const dave = await off.create({ userName: "dave@acme.test" });
    expect(await sync.links.linkOf(off.id, dave)).toBeUndefined();
    // The setting of the directory receiving the user decides.
    const daveOn = await on.create({ userName: "dave2", emails: [{ value: "dave@acme.test" }] });
    expect(await sync.links.linkOf(on.id, daveOn)).toBeDefined();
  });

  it("primaryEmail tolerates odd data", () => {
    expect(primaryEmail({ emails: [{ value: "" }, { value: "x@y.test", primary: "True" }] })).toBe("x@y.test");
    expect(primaryEmail({ emails: "nope", userName: "not an email" })).toBeUndefined();
    expect(primaryEmail({ emails: [null, 3, { value: 5 }, { value: " z@y.test " }] })).toBe("z@y.test");
  });
});

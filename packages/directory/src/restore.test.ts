/**
 * A SQLite database restored from a backup (better-sqlite3's online backup, as `sqlite3 .backup`
 * makes): event and audit positions handed out after the backup must never be handed out again to
 * other entries, and an events reader from before the restore is told to read the lists again.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openSqlite } from "scim-store-sql";
import { afterEach, describe, expect, it } from "vitest";
import { createAdminKey } from "./admin-keys.js";
import { directoryApp } from "./directory-app.js";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { backends, useDirectorySync } from "./test-backends.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";

describe("restartPositions after a restore", () => {
  let dir: string | undefined;
  let sync: DirectorySync | undefined;
  afterEach(async () => {
    await sync?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    sync = dir = undefined;
  });

  it("an events reader past the backup gets 410 cursor_expired, not a silent skip; new audit entries come after every cursor handed out", async () => {
    dir = mkdtempSync(join(tmpdir(), "dsync-restore-"));
    const file = join(dir, "db.sqlite");
    const open = async () => {
      sync = await createDirectorySync({ database: openSqlite({ filename: file, checkpoints: "inline" }), audit: { batch: false } });
      const adminKey = await createAdminKey(sync.db);
      const app = directoryApp(sync);
      const admin = async (path: string) => {
        const response = await app.request(`http://sync.test/api${path}`, { headers: { authorization: `Bearer ${adminKey}` } });
        return { status: response.status, body: (await response.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
      };
      const scim = (directoryId: string, token: string, userName: string) =>
        app.request(`http://sync.test/scim/v2/${directoryId}/Users`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
          body: JSON.stringify({ schemas: [USER], userName }),
        });
      return { sync: sync!, admin, scim };
    };

    let { sync: first, admin, scim } = await open();
    const directory = await first.directories.create({ organizationId: "org_r", name: "R", type: "okta" });
    const { token } = await first.tokens.create(directory.id);
    expect((await scim(directory.id, token, "kept@acme.test")).status).toBe(201);
    const backup = join(dir, "backup.sqlite");
    const source = new Database(file);
    await source.backup(backup);
    source.close();
    // After the backup: events and audit entries a reader follows, then lost with the restore.
    for (const name of ["lost1", "lost2", "lost3"]) expect((await scim(directory.id, token, `${name}@acme.test`)).status).toBe(201);
    const events = await admin(`/events?directoryId=${directory.id}`);
    const eventCursor = events.body.nextCursor as number;
    const auditCursor = (await admin(`/audit-log?directoryId=${directory.id}`)).body.nextCursor as number;
    await first.close();
    sync = undefined;

    // The restore: the backup in place of the database, its side files gone.
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    copyFileSync(backup, file);
    ({ sync: first, admin, scim } = await open());
    const restarted = await first.restartPositions();
    expect(restarted.events).toBeGreaterThan(eventCursor);
    expect(restarted.audit).toBeGreaterThan(auditCursor);
    // The IdP sends the lost users again.
    for (const name of ["lost1", "lost2"]) expect((await scim(directory.id, token, `${name}@acme.test`)).status).toBe(201);

    // The reader from before the restore is told it may have missed events...
    const stale = await admin(`/events?directoryId=${directory.id}&after=${eventCursor}`);
    expect(stale.status).toBe(410);
    expect(stale.body).toMatchObject({ error: { code: "cursor_expired" } });
    // ...and one that starts from the latest position after the restore reads every new event.
    const fresh = await admin(`/events?directoryId=${directory.id}&after=${restarted.events}`);
    expect(fresh.body.data.map((e: { type: string; resource: { userName: string } }) => [e.type, e.resource.userName])).toEqual([
      ["user.created", "lost1@acme.test"],
      ["user.created", "lost2@acme.test"],
    ]);
    // The audit reader's cursor is behind every new entry: it reads them all.
    const audit = await admin(`/audit-log?directoryId=${directory.id}&after=${auditCursor}`);
    expect(audit.body.data.filter((e: { method: string }) => e.method === "POST")).toHaveLength(2);
  });
});

describe.each(backends)("restartPositions on %s", (backend) => {
  let sync: DirectorySync;
  useDirectorySync(backend, (database) => createDirectorySync({ database, audit: { batch: false } }), (s) => (sync = s));

  it.skipIf(backend.skip)("moves event and audit positions 2^40 past the latest, and counts every earlier event position as pruned", async () => {
    const directory = await sync.directories.create({ organizationId: "org_p", name: "P", type: "okta" });
    const before = await sync.audit.list({ limit: 1000 });
    const latestAudit = Math.max(0, ...before.data.map((e) => e.seq));
    const latestEvent = (await sync.store.eventsHorizon()).latest;
    const restarted = await sync.restartPositions();
    expect(restarted.events).toBe(latestEvent + 2 ** 40);
    expect(restarted.audit).toBeGreaterThanOrEqual(latestAudit + 2 ** 40);
    expect(await sync.store.eventsHorizon(directory.id)).toEqual({ latest: restarted.events, prunedThrough: restarted.events });
    // The next entries come after the new positions.
    await sync.directories.update(directory.id, { name: "P2" });
    await sync.audit.record({ kind: "admin", directoryId: directory.id, actor: "admin", method: "PATCH", path: `/api/directories/${directory.id}`, status: 200, durationMs: 1 });
    await sync.audit.flush();
    const after = await sync.audit.list({ after: restarted.audit - 1, limit: 10 });
    expect(after.data.length).toBeGreaterThan(0);
    expect(after.data.every((e) => e.seq > restarted.audit)).toBe(true);
  });
});

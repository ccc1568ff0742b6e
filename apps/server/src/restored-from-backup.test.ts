/**
 * RESTORED_FROM_BACKUP=true: the first start after a restore moves event and audit positions past
 * any handed out before, so that an events reader from before is told (410) instead of skipping.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { startServer, type RunningServer } from "./server.js";

describe("RESTORED_FROM_BACKUP", () => {
  let server: RunningServer | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await server?.close().catch(() => {});
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    server = dir = undefined;
  });

  it("makes every earlier events cursor a 410 cursor_expired, and logs what it did", async () => {
    dir = mkdtempSync(join(tmpdir(), "dsync-restored-"));
    const env = { DATABASE_URL: `sqlite:${join(dir, "sync.db")}`, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "warn" };
    server = await startServer(loadConfig(env), pino({ level: "silent" }));
    const adminKey = server.firstRun.adminKey!;
    await server.firstRun.shown();
    const headers = { authorization: `Bearer ${adminKey}` };
    const users = `${server.sync.scimUrl(server.firstRun.directory!.id, server.origin)}/Users`;
    const created = await fetch(users, { method: "POST", headers: { authorization: `Bearer ${server.firstRun.token}`, "content-type": "application/scim+json" }, body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "a@acme.test" }) });
    expect(created.status).toBe(201);
    const cursor = ((await (await fetch(`${server.origin}/api/events`, { headers })).json()) as { nextCursor: number }).nextCursor;
    expect(cursor).toBeGreaterThan(0);
    await server.close();

    const logged: { msg: string; eventPosition?: number }[] = [];
    server = await startServer(loadConfig({ ...env, RESTORED_FROM_BACKUP: "true" }), pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line)) }));
    expect(logged.find((l) => l.msg.startsWith("RESTORED_FROM_BACKUP"))?.eventPosition).toBe(cursor + 2 ** 40);
    const stale = await fetch(`${server.origin}/api/events?after=${cursor}`, { headers });
    expect(stale.status).toBe(410);
    expect(await stale.json()).toMatchObject({ error: { code: "cursor_expired" } });
  });
});

/**
 * RESTORED_FROM_BACKUP=true: the first start after a restore moves event and audit positions past
 * any handed out before, so that an events reader from before is told (410) instead of skipping.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import { useTemporaryServers } from "./test-servers.js";

describe("RESTORED_FROM_BACKUP", () => {
  const servers = useTemporaryServers("dsync-restored-");

  it("makes every earlier events cursor a 410 cursor_expired, and logs what it did", async () => {
    let server = await servers.start();
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
    server = await servers.start({ RESTORED_FROM_BACKUP: "true" }, pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line)) }));
    expect(logged.find((l) => l.msg.startsWith("RESTORED_FROM_BACKUP"))?.eventPosition).toBe(cursor + 2 ** 40);
    const stale = await fetch(`${server.origin}/api/events?after=${cursor}`, { headers });
    expect(stale.status).toBe(410);
    expect(await stale.json()).toMatchObject({ error: { code: "cursor_expired" } });
  });
});

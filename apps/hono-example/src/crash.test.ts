/**
 * Crash safety: the real server process (`src/server.ts`) takes a stream of concurrent writes and
 * is killed with SIGKILL in the middle of it. After a restart on the same database, every write
 * the server acknowledged is there with its content, every stored resource is whole (its document
 * parses, its indexed columns agree with it, it has its events in the outbox) and no event names
 * a change that was not stored (ARCHITECTURE.md, "Events and delivery").
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSqlStore, openPostgres, openSqlite, type ScimSqlDatabase } from "scim-store-sql";
import { describe, expect, it } from "vitest";
import { createTestDatabase, runPostgresTests } from "./test-postgres.js";

const appFolder = fileURLToPath(new URL("..", import.meta.url));
const token = "crash-token-0123456789abcdef";
const TENANT = "default"; // the tenant of `token` in app.ts
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/** Concurrent writers. */
const WRITERS = 4;
/** Acknowledged writes after which the server is killed. */
const KILL_AFTER = 150;
const GROUPS = 3;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

interface Server {
  child: ChildProcess;
  base: string;
  /** Resolves when the process has exited. */
  exited: Promise<unknown>;
}

/** Starts `src/server.ts` on the database and waits for it to print its base URL. */
async function startServer(databaseUrl: string): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: appFolder,
    env: { ...process.env, PORT: "0", SCIM_TOKEN: token, DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (/Bearer token: .+\n/.test(out)) resolve();
    });
    child.once("exit", (code, signal) => reject(new Error(`server exited (${code ?? signal}): ${out}`)));
  });
  const base = /SCIM base URL: (http:\/\/localhost:\d+\/scim\/v2)/.exec(out)![1]!.replace("localhost", "127.0.0.1");
  return { child, base, exited };
}

async function stopServer(server: Server, signal: NodeJS.Signals): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
  await server.exited;
}

const headers = { authorization: `Bearer ${token}`, "content-type": "application/scim+json" };

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: J; etag: string | null }> {
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text === "" ? undefined : JSON.parse(text), etag: r.headers.get("etag") };
}

/** `W/"3"` → 3. */
const versionOf = (etag: string | null | undefined): number => Number(/"(\d+)"/.exec(etag ?? "")?.[1] ?? NaN);

/** One write the client sent: acknowledged (2xx received) or still pending when the server died. */
interface TitlePatch {
  title: string;
  acked: boolean;
  /** The version the server acknowledged. */
  version?: number;
}

interface SentUser {
  userName: string;
  /** The attributes the POST sent. */
  sent: { externalId: string; displayName: string; email: string };
  id?: string;
  /** The version acknowledged by the POST (1). */
  version?: number;
  patches: TitlePatch[];
}

interface MemberAdd {
  groupId: string;
  userId: string;
  acked: boolean;
}

interface Stream {
  users: SentUser[];
  memberAdds: MemberAdd[];
  acknowledged: number;
  /** Non-2xx answers received before the kill (there must be none). */
  failures: string[];
}

/**
 * Runs {@link WRITERS} loops of: POST /Users; every 2nd iteration a PATCH of one of the loop's
 * earlier users (a new title); every 3rd a PATCH adding the new user to a shared group. The
 * server is SIGKILLed as soon as {@link KILL_AFTER} writes were acknowledged, with requests in
 * flight; the loops end on the first request that fails to connect.
 */
async function writeUntilKilled(server: Server, run: string, groupIds: string[]): Promise<Stream> {
  const stream: Stream = { users: [], memberAdds: [], acknowledged: 0, failures: [] };
  let killed = false;
  const ack = () => {
    stream.acknowledged++;
    if (stream.acknowledged === KILL_AFTER && !killed) {
      killed = true;
      server.child.kill("SIGKILL"); // mid-stream: the other writers have requests in flight
    }
  };
  const expectStatus = (what: string, r: { status: number; body: J }, status: number) => {
    if (r.status === status) return true;
    if (!killed) stream.failures.push(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return false;
  };

  const writer = async (w: number) => {
    const mine: SentUser[] = [];
    try {
      for (let i = 1; !killed; i++) {
        const userName = `crash-${run}-w${w}-${i}@Example.com`;
        const sent = { externalId: `ext-${run}-${w}-${i}`, displayName: `Writer ${w} user ${i}`, email: userName.toLowerCase() };
        const user: SentUser = { userName, sent, patches: [] };
        stream.users.push(user);
        const created = await call(server.base, "POST", "/Users", {
          schemas: [USER],
          userName,
          externalId: sent.externalId,
          displayName: sent.displayName,
          title: "t0",
          emails: [{ value: sent.email, type: "work", primary: true }],
        });
        if (!expectStatus(`POST ${userName}`, created, 201)) continue;
        user.id = created.body.id;
        user.version = versionOf(created.etag);
        mine.push(user);
        ack();

        if (i % 2 === 0 && !killed) {
          const target = mine[(i * 7) % mine.length]!;
          const patch: TitlePatch = { title: `t-${w}-${i}`, acked: false };
          target.patches.push(patch);
          const r = await call(server.base, "PATCH", `/Users/${target.id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "title", value: patch.title }] });
          if (expectStatus(`PATCH ${target.userName}`, r, 200)) {
            patch.acked = true;
            patch.version = versionOf(r.etag);
            ack();
          }
        }

        if (i % 3 === 0 && !killed) {
          const add: MemberAdd = { groupId: groupIds[(w + i) % groupIds.length]!, userId: user.id!, acked: false };
          stream.memberAdds.push(add);
          const r = await call(server.base, "PATCH", `/Groups/${add.groupId}`, { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: add.userId }] }] });
          if (expectStatus(`add member ${user.userName}`, r, 204)) {
            add.acked = true;
            ack();
          }
        }
      }
    } catch (error) {
      // The connection died with the server; anything else is a failure of the test itself.
      if (!killed) throw error;
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  return stream;
}

/** What the restarted server answers over HTTP: every acknowledged write is there. */
async function checkOverHttp(base: string, stream: Stream, groupIds: string[]): Promise<void> {
  for (const user of stream.users.filter((u) => u.id !== undefined)) {
    const r = await call(base, "GET", `/Users/${user.id}`);
    expect(r.status, user.userName).toBe(200);
    expect(r.body).toMatchObject({ userName: user.userName, externalId: user.sent.externalId, displayName: user.sent.displayName, emails: [{ value: user.sent.email, type: "work", primary: true }] });
    // The user's patches ran one after the other: those up to the last acknowledged one all
    // committed; the one pending at the kill (at most one) may or may not have.
    const lastAcked = user.patches.map((p) => p.acked).lastIndexOf(true);
    const pending = user.patches.slice(lastAcked + 1);
    expect(pending.length).toBeLessThanOrEqual(1);
    const committed = lastAcked + 1;
    const version = versionOf(r.etag);
    expect(r.body.meta.version).toBe(r.etag);
    if (version === 1 + committed) expect(r.body.title).toBe(lastAcked === -1 ? "t0" : user.patches[lastAcked]!.title);
    else {
      expect(version, `${user.userName}: version ${version}, ${committed} acknowledged patches`).toBe(2 + committed);
      expect(r.body.title).toBe(pending[0]!.title);
    }
    const acknowledgedVersions = [user.version!, ...user.patches.filter((p) => p.acked).map((p) => p.version!)];
    expect(acknowledgedVersions).toEqual(acknowledgedVersions.map((_, k) => k + 1));
    // userName is indexed: an `eq` filter finds the user (case-insensitively, RFC 7643 §4.1.1).
    const found = await call(base, "GET", `/Users?filter=${encodeURIComponent(`userName eq "${user.userName.toUpperCase()}"`)}`);
    expect(found.body.Resources?.map((u: J) => u.id), user.userName).toEqual([user.id]);
  }
  const members = new Map<string, Set<string>>();
  for (const id of groupIds) {
    const r = await call(base, "GET", `/Groups/${id}`);
    expect(r.status).toBe(200);
    members.set(id, new Set((r.body.members ?? []).map((m: J) => m.value)));
  }
  for (const add of stream.memberAdds.filter((a) => a.acked)) expect(members.get(add.groupId)!.has(add.userId), `${add.userId} in ${add.groupId}`).toBe(true);
  // Nothing is a member that the client did not try to add.
  const tried = new Set(stream.memberAdds.map((a) => `${a.groupId}/${a.userId}`));
  for (const [groupId, ids] of members) for (const userId of ids) expect(tried.has(`${groupId}/${userId}`)).toBe(true);
}

/** What is in the database: every row whole, with exactly the events of its changes. */
async function checkDatabase(database: ScimSqlDatabase, stream: Stream, groupIds: string[]): Promise<{ users: number; events: number }> {
  const store = await createSqlStore({ database });
  try {
    const rows = await store.db.selectFrom("scim_resources").selectAll().where("tenant", "=", TENANT).execute();
    const sentNames = new Set(stream.users.map((u) => u.userName));
    const stored = new Map<string, { type: string; version: number; attributes: J }>();
    for (const row of rows) {
      expect(Boolean(row.deleted)).toBe(false);
      const doc: J = typeof row.doc === "string" ? JSON.parse(row.doc) : row.doc;
      expect(typeof doc).toBe("object");
      stored.set(row.id, { type: row.resource_type, version: Number(row.version), attributes: doc });
      // The indexed columns agree with the document.
      expect(row.user_name).toBe(doc.userName ?? null);
      expect(row.user_name_lower).toBe(doc.userName?.toLowerCase() ?? null);
      expect(row.external_id).toBe(doc.externalId ?? null);
      expect(row.display_name).toBe(doc.displayName ?? null);
      expect(row.display_name_lower).toBe(doc.displayName?.toLowerCase() ?? null);
      if (row.resource_type === "User") {
        expect(sentNames.has(doc.userName), doc.userName).toBe(true);
        const emails = await store.db.selectFrom("scim_emails").select(["value", "value_lower"]).where("tenant", "=", TENANT).where("resource_id", "=", row.id).orderBy("position").execute();
        expect(emails.map((e) => e.value)).toEqual(doc.emails.map((e: J) => e.value));
        // The lookup a pushed-down `userName eq` filter makes finds exactly this row.
        const byName = await store.db.selectFrom("scim_resources").select("id").where("tenant", "=", TENANT).where("resource_type", "=", "User").where("user_name_lower", "=", doc.userName.toLowerCase()).execute();
        expect(byName.map((r) => r.id)).toEqual([row.id]);
      }
    }
    const users = [...stored.values()].filter((r) => r.type === "User");
    expect(users.length).toBeGreaterThanOrEqual(stream.users.filter((u) => u.id !== undefined).length);
    expect([...stored.entries()].filter(([, r]) => r.type === "Group").map(([id]) => id).sort()).toEqual([...groupIds].sort());
    // The live counters moved in the same transactions as the rows.
    const counts = await store.db.selectFrom("scim_counts").select(["resource_type", "live"]).where("tenant", "=", TENANT).execute();
    expect(Object.fromEntries(counts.map((c) => [c.resource_type, Number(c.live)]))).toEqual({ User: users.length, Group: GROUPS });

    const events = await store.readEvents({ tenant: TENANT, limit: 10_000 });
    const ofResource = new Map<string, J[]>();
    for (const { event } of events) {
      // No event names a resource that is not stored.
      expect(stored.has(event.resourceId), `${event.type} ${event.resourceId}`).toBe(true);
      ofResource.set(event.resourceId, [...(ofResource.get(event.resourceId) ?? []), event]);
    }
    for (const [id, resource] of stored) {
      const own = ofResource.get(id) ?? [];
      const prefix = resource.type === "User" ? "user" : "group";
      expect(own.filter((e) => e.type === `${prefix}.created`), `${prefix}.created of ${id}`).toHaveLength(1);
      if (resource.type === "User") {
        // One user.updated per committed PATCH (version 1 + patches), carrying the new title.
        const updates = own.filter((e) => e.type === "user.updated");
        expect(updates, `user.updated of ${id}`).toHaveLength(resource.version - 1);
        expect(own).toHaveLength(resource.version);
        if (updates.length > 0) expect(updates.at(-1).resource.title).toBe(resource.attributes.title);
      } else {
        // One group.user_added per stored member, and nothing else changed the group.
        const memberRows = await store.db.selectFrom("scim_members").select("member_id").where("tenant", "=", TENANT).where("group_id", "=", id).execute();
        const added = own.filter((e) => e.type === "group.user_added").map((e) => e.member.value);
        expect(added.sort()).toEqual(memberRows.map((m) => m.member_id).sort());
        expect(own).toHaveLength(1 + added.length);
        expect(resource.version).toBe(1 + added.length);
      }
    }
    // Every acknowledged write has its event.
    for (const user of stream.users.filter((u) => u.id !== undefined)) {
      const titles = (ofResource.get(user.id!) ?? []).filter((e) => e.type === "user.updated").map((e) => e.resource.title);
      for (const patch of user.patches.filter((p) => p.acked)) expect(titles, user.userName).toContain(patch.title);
    }
    for (const add of stream.memberAdds.filter((a) => a.acked)) {
      expect((ofResource.get(add.groupId) ?? []).some((e) => e.type === "group.user_added" && e.member.value === add.userId), `${add.userId} added to ${add.groupId}`).toBe(true);
    }
    return { users: users.length, events: events.length };
  } finally {
    await store.close();
  }
}

/** The whole scenario on one database: write, kill, restart, check. */
async function crashAndRecover(databaseUrl: string, openForChecks: () => ScimSqlDatabase): Promise<void> {
  const started = Date.now();
  const run = Math.random().toString(36).slice(2, 8);
  let server = await startServer(databaseUrl);
  try {
    const groupIds: string[] = [];
    for (let g = 0; g < GROUPS; g++) {
      const r = await call(server.base, "POST", "/Groups", { schemas: [GROUP], displayName: `crash-${run}-group-${g}` });
      expect(r.status).toBe(201);
      groupIds.push(r.body.id);
    }
    const streamStarted = Date.now();
    const stream = await writeUntilKilled(server, run, groupIds);
    await server.exited;
    const streamMs = Date.now() - streamStarted;
    expect(server.child.signalCode).toBe("SIGKILL");
    expect(stream.failures).toEqual([]);
    expect(stream.acknowledged).toBeGreaterThanOrEqual(KILL_AFTER);

    const restarted = Date.now();
    server = await startServer(databaseUrl);
    const restartMs = Date.now() - restarted;
    await checkOverHttp(server.base, stream, groupIds);
    await stopServer(server, "SIGTERM");
    const db = await checkDatabase(openForChecks(), stream, groupIds);

    const acked = (p: { acked: boolean }[]) => p.filter((x) => x.acked).length;
    const patches = stream.users.flatMap((u) => u.patches);
    const inFlight = stream.users.filter((u) => !u.id).length + patches.length - acked(patches) + stream.memberAdds.length - acked(stream.memberAdds);
    console.log(
      `crash test (${databaseUrl.startsWith("postgres") ? "PostgreSQL" : "SQLite"}): ${stream.acknowledged} writes acknowledged before SIGKILL ` +
        `(${stream.users.filter((u) => u.id).length} users, ${acked(patches)}/${patches.length} patches, ${acked(stream.memberAdds)}/${stream.memberAdds.length} member adds acknowledged; ${inFlight} requests unanswered); ` +
        `after restart ${db.users} users stored, ${db.events} events; stream ${streamMs} ms, restart ${restartMs} ms, total ${Date.now() - started} ms`,
    );
  } finally {
    await stopServer(server, "SIGKILL");
  }
}

describe("hono-example crash safety", () => {
  it("hono-example on SQLite: after SIGKILL mid-stream, every acknowledged write is stored whole with its events", async () => {
    const folder = mkdtempSync(join(tmpdir(), "hono-example-crash-"));
    const file = join(folder, "scim.db");
    try {
      await crashAndRecover(`sqlite:${file}`, () => openSqlite({ filename: file }));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);

  it.runIf(runPostgresTests)("hono-example on PostgreSQL: after SIGKILL mid-stream, every acknowledged write is stored whole with its events", async () => {
    const database = await createTestDatabase();
    try {
      await crashAndRecover(database.url, () => openPostgres({ connectionString: database.url }));
    } finally {
      await database.drop();
    }
  }, 60_000);
});

/**
 * Graceful shutdown over real HTTP (`startServer` on a temporary SQLite file, port 0): what
 * SIGINT and SIGTERM run (`RunningServer.close()`, called here directly) while identity providers
 * keep POSTing users on keep-alive connections. Every request must get an answer or a refusal of
 * a new connection (never a reset of a request already sent), every acknowledged user and its
 * audit entry must be in the database afterwards, and the SQLite side files must be gone.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { createDirectorySync, type DirectorySync } from "scim-directory";
import { openSqlite } from "scim-store-sql";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { startServer, type RunningServer } from "./server.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One POST /Users as a client saw it. */
interface Outcome {
  userName: string;
  /** Whether it went over a connection that had already served a request (`request.reusedSocket`). */
  reused: boolean;
  status?: number;
  /** The `Connection` header of the answer. */
  connection?: string;
  id?: string;
  /** The error code when there was no complete answer (ECONNREFUSED, ECONNRESET...). */
  error?: string;
}

/** POSTs one user over `agent`; resolves with what happened, never rejects. */
function postUser(agent: Agent, url: string, token: string, userName: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ schemas: [USER], userName, name: { givenName: "Load", familyName: userName }, active: true });
    let done = false;
    const finish = (outcome: Omit<Outcome, "userName" | "reused">) => {
      if (done) return;
      done = true;
      resolve({ userName, reused: req.reusedSocket, ...outcome });
    };
    const failed = (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message });
    const req = request(
      `${url}/Users`,
      { method: "POST", agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("error", failed);
        res.on("aborted", () => finish({ error: "aborted" }));
        res.on("end", () => finish({ status: res.statusCode!, connection: res.headers.connection, id: (JSON.parse(text) as { id?: string }).id }));
      },
    );
    req.on("error", failed);
    req.end(body);
  });
}

/**
 * An identity provider pushing users over one keep-alive connection (`Agent`, one socket), one
 * request after the other, until a request fails (the service is gone) or `deadline`.
 */
async function pushUsers(url: string, token: string, client: number, deadline: number, acknowledged: (client: number) => void): Promise<Outcome[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const outcomes: Outcome[] = [];
  try {
    for (let i = 0; performance.now() < deadline; i++) {
      const outcome = await postUser(agent, url, token, `idp${client}-${i}@acme.test`);
      outcomes.push(outcome);
      if (outcome.error !== undefined) break;
      acknowledged(client);
    }
  } finally {
    agent.destroy();
  }
  return outcomes;
}

describe("graceful shutdown (what SIGINT and SIGTERM run)", () => {
  let dir: string | undefined;
  let server: RunningServer | undefined;
  let reopened: DirectorySync | undefined;

  afterEach(async () => {
    await server?.close().catch(() => {});
    await reopened?.close().catch(() => {});
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = server = reopened = undefined;
  });

  /** Starts the service on a new SQLite file with a directory whose rate limit is far above the load. */
  async function start(logger = pino({ level: "silent" })) {
    dir = mkdtempSync(join(tmpdir(), "dsync-shutdown-"));
    const file = join(dir, "sync.db");
    server = await startServer(loadConfig({ DATABASE_URL: `sqlite:${file}`, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" }), logger);
    const directory = await server.sync.directories.create({ organizationId: "org_load", name: "Load", type: "okta", settings: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000 } } });
    const { token } = await server.sync.tokens.create(directory.id);
    return { server, file, directoryId: directory.id, url: server.sync.scimUrl(directory.id, server.origin), token };
  }

  it("while 16 IdPs POST users over keep-alive connections: answers or refuses every request, keeps every acknowledged user and audit entry, removes the WAL", async () => {
    const { server, file, directoryId, url, token } = await start();
    const deadline = performance.now() + 20_000;
    const answered = new Set<number>();
    const clients = Array.from({ length: 16 }, (_, client) => pushUsers(url, token, client, deadline, (c) => answered.add(c)));
    // Every client on its own persistent connection (answered at least once), in full swing.
    while (answered.size < 16) await pause(10);
    await pause(200);

    const started = performance.now();
    const { cut } = await server.close();
    const took = performance.now() - started;
    const perClient = await Promise.all(clients);
    const outcomes = perClient.flat();

    // Well before the 10 s grace (main.ts's force timer): nothing was left to cut.
    expect(took).toBeLessThan(3_000);
    expect(cut).toBe(0);

    // Each request was answered 2xx, or refused as it opened a NEW connection once the service
    // stopped listening. Never a reset or a hang-up of a request already sent.
    const acknowledged = outcomes.filter((o) => o.status !== undefined && o.status >= 200 && o.status < 300);
    const refused = outcomes.filter((o) => o.error === "ECONNREFUSED" && !o.reused);
    expect(outcomes.filter((o) => !acknowledged.includes(o) && !refused.includes(o))).toEqual([]);
    // Every client was answered on its connection until the shutdown, the request it had going
    // then (or sent right after) was answered with `Connection: close` (and only that one), and its
    // next request, on a new connection, was refused.
    for (const mine of perClient) {
      expect(mine.length).toBeGreaterThan(2);
      expect(mine.slice(0, -1).map((o) => o.connection)).toEqual([...Array(mine.length - 2).fill("keep-alive"), "close"]);
      expect(mine.at(-1)).toMatchObject({ error: "ECONNREFUSED", reused: false });
    }
    // A clean stop checkpointed the WAL and removed both side files.
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(existsSync(`${file}-shm`)).toBe(false);

    // Reopened: exactly the acknowledged users, each with its audit entry (nothing left in a buffer).
    reopened = await createDirectorySync({ database: openSqlite({ filename: file, checkpoints: "inline" }) });
    const stored = new Map<string, string>();
    let cursor: string | undefined;
    do {
      const page = await reopened.data.listUsers(directoryId, { limit: 1000, ...(cursor !== undefined ? { cursor } : {}) });
      for (const user of page.data) stored.set(user.id, user.username);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(stored).toEqual(new Map(acknowledged.map((o) => [o.id!, o.userName])));
    const audited: string[] = [];
    let page = await reopened.audit.list({ directoryId, kind: "scim", limit: 1000 });
    for (;;) {
      audited.push(...page.data.filter((e) => e.method === "POST" && e.status === 201).map((e) => e.resourceId!));
      if (!page.hasMore) break;
      page = await reopened.audit.list({ directoryId, kind: "scim", after: page.nextCursor, limit: 1000 });
    }
    expect(audited.sort()).toEqual(acknowledged.map((o) => o.id!).sort());
  });

  it("answers a request on an open connection with Connection: close, closes long-idle connections at once, and after the grace cuts what still runs and closes the database all the same", { timeout: 20_000 }, async () => {
    const logged: { level: number; msg: string }[] = [];
    const { server, file, url, token, directoryId } = await start(pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line)) }));
    const { hostname, port } = new URL(server.origin);
    /** A raw connection, with everything received on it so far. */
    const open = async () => {
      const socket = connect(Number(port), hostname);
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      const conn = { socket, received: "", closed: new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now()))) };
      socket.on("error", () => {});
      socket.on("data", (chunk: Buffer) => (conn.received += chunk.toString()));
      return conn;
    };
    const healthz = `GET /healthz HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`;
    const answered = async (conn: { received: string }, count: number) => {
      while (conn.received.split("HTTP/1.1 ").length - 1 < count || !conn.received.endsWith("}")) await pause(5);
    };

    // A connection that served a request and has waited since, longer than an IdP between two requests.
    const idle = await open();
    idle.socket.write(healthz);
    await answered(idle, 1);
    expect(idle.received.toLowerCase()).toContain("connection: keep-alive");
    await pause(1_200);
    // A connection that has just served a request: its client may be sending the next one.
    const busy = await open();
    busy.socket.write(healthz);
    await answered(busy, 1);
    // A request whose body never comes (100 bytes announced, 10 sent).
    const stuck = await open();
    stuck.socket.write(`POST ${new URL(url).pathname}/Users HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{"schemas"`);
    await pause(50);

    const started = performance.now();
    const closing = server.close({ graceMs: 2_000 });
    // No new connection...
    await expect(open()).rejects.toMatchObject({ code: "ECONNREFUSED" });
    // ...the next request on an open one is answered, and the answer ends the connection...
    busy.socket.write(healthz);
    await answered(busy, 2);
    const second = busy.received.slice(busy.received.lastIndexOf("HTTP/1.1 "));
    expect(second).toMatch(/^HTTP\/1\.1 200/);
    expect(second.toLowerCase()).toContain("connection: close");
    expect(await busy.closed).toBeLessThan(started + 500);
    // ...the long-idle connection is closed at once...
    expect(await idle.closed).toBeLessThan(started + 300);
    // ...and the stuck request is cut after the grace, then the database is closed as usual.
    const { cut } = await closing;
    expect(cut).toBe(1);
    expect(await stuck.closed).toBeGreaterThanOrEqual(started + 1_950);
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(stuck.received).toBe("");
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(existsSync(`${file}-shm`)).toBe(false);
    // The cut request's handler ended before the database closed: no "driver has already been
    // destroyed" error, and its audit entry (its body never came: a 400) was written.
    expect(logged.map((l) => l.msg)).toEqual([expect.stringContaining("cutting them")]);
    reopened = await createDirectorySync({ database: openSqlite({ filename: file, checkpoints: "inline" }) });
    const audited = await reopened.audit.list({ directoryId, kind: "scim" });
    expect(audited.data.filter((e) => e.method === "POST").map((e) => e.status)).toEqual([400]);
  });
});

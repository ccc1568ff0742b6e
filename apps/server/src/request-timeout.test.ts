/**
 * A client that trickles its request body (a slow-body attack, or a broken client) over real
 * HTTP: the service closes the connection after the request timeout, instead of holding it for
 * Node's default of five minutes, and goes on serving everyone else.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { REQUEST_TIMEOUT_MS, startServer, type RunningServer } from "./server.js";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("startServer: the request timeout", () => {
  let server: RunningServer | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await server?.close().catch(() => {});
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    server = dir = undefined;
  });

  it("is a minute by default, not Node's five", () => {
    expect(REQUEST_TIMEOUT_MS).toBe(60_000);
  });

  it("closes a connection whose body trickles past it, writes nothing of it, and serves others meanwhile", { timeout: 15_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), "dsync-request-timeout-"));
    server = await startServer(loadConfig({ DATABASE_URL: `sqlite:${join(dir, "sync.db")}`, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent" }), pino({ level: "silent" }), { requestTimeoutMs: 600 });
    const directory = await server.sync.directories.create({ organizationId: "org_slow", name: "Slow", type: "okta" });
    const { token } = await server.sync.tokens.create(directory.id);
    const url = new URL(server.sync.scimUrl(directory.id, server.origin));

    const socket = connect(Number(url.port), url.hostname);
    socket.on("error", () => {});
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now())));
    await new Promise((resolve) => socket.once("connect", resolve));
    const started = performance.now();
    const body = JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "slow@example.com" });
    socket.write(`POST ${url.pathname}/Users HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/scim+json\r\nContent-Length: ${body.length}\r\n\r\n`);
    // One byte every 100 ms: the whole body would take seconds.
    const trickle = setInterval(() => {
      if (!socket.destroyed && body.length > 0) socket.write(body.slice(0, 1));
    }, 100);
    try {
      // Meanwhile the service answers others.
      const health = await fetch(`${server.origin}/healthz`);
      expect(health.status).toBe(200);
      const at = await closed;
      // No answer: the request's response belongs to the application, which was reading the body.
      expect(received).toBe("");
      expect(at - started).toBeGreaterThanOrEqual(550);
      expect(at - started).toBeLessThan(3_000);
    } finally {
      clearInterval(trickle);
    }
    await pause(100);
    const users = await fetch(`${url.href}/Users`, { headers: { authorization: `Bearer ${token}` } });
    expect(await users.json()).toMatchObject({ totalResults: 0 });
  });
});

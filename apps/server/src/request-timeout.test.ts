/**
 * A client that trickles its request body (a slow-body attack, or a broken client) over real
 * HTTP: the service closes the connection after the request timeout, instead of holding it for
 * Node's default of five minutes, and goes on serving everyone else.
 */
import { connect } from "node:net";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { REQUEST_TIMEOUT_MS } from "./server.js";
import { useTemporaryServers } from "./test-servers.js";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("startServer: the request timeout", () => {
  const servers = useTemporaryServers("dsync-request-timeout-");

  it("is a minute by default, not Node's five", () => {
    expect(REQUEST_TIMEOUT_MS).toBe(60_000);
  });

  it("closes a connection whose body trickles past it, writes nothing of it, and serves others meanwhile", { timeout: 15_000 }, async () => {
    const server = await servers.start({}, pino({ level: "silent" }), { requestTimeoutMs: 600 });
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

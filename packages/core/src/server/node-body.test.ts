import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { endlessChunkedPost } from "../testing/raw-connection.js";
import { readNodeBody } from "./node-body.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A server answering with what `readNodeBody` gave: the byte count, 413 past `limit`, or the error. */
async function serve(limit: number, seen: string[] = []): Promise<string> {
  const server = createServer((req, res) => {
    readNodeBody(req, res, limit).then(
      (body) => {
        seen.push(body === undefined ? "empty" : `${body.length} bytes`);
        res.statusCode = body !== undefined && body.length > limit ? 413 : 200;
        res.end(String(body?.length ?? 0));
      },
      (error: Error) => {
        seen.push(`error: ${error.message}`);
        res.destroy();
      },
    );
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("readNodeBody", () => {
  it("gives the whole body under the limit, undefined for an empty one", async () => {
    const origin = await serve(1000);
    const r = await fetch(origin, { method: "POST", body: "x".repeat(1000) });
    expect([r.status, await r.text()]).toEqual([200, "1000"]);
    const empty = await fetch(origin, { method: "POST" });
    expect([empty.status, await empty.text()]).toEqual([200, "0"]);
  });

  it("stops past the limit (the caller answers 413) and drops the rest, keeping the connection", async () => {
    const seen: string[] = [];
    const origin = await serve(1000, seen);
    const chunks = Array.from({ length: 4 }, () => new Uint8Array(600).fill(0x20));
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => (chunks.length ? c.enqueue(chunks.shift()!) : c.close()) });
    const r = await fetch(origin, { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(r.status).toBe(413);
    expect(Number(await r.text())).toBe(1200); // stopped after the chunk that crossed the limit
    expect((await fetch(origin, { method: "POST", body: "ok" })).status).toBe(200);
    expect(seen).toEqual(["1200 bytes", "2 bytes"]);
  });

  it("closes the connection after the answer when the rest goes on past as many bytes again", async () => {
    const origin = await serve(65536);
    const { response, closed, sentBytes } = await endlessChunkedPost(origin, "", "Bearer x");
    expect(response?.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(closed).toBe(true);
    expect(sentBytes).toBeLessThan(16 * 1048576);
  });

  it("rejects when the client goes away before the body ends", async () => {
    const seen: string[] = [];
    const origin = await serve(1 << 20, seen);
    const { port } = new URL(origin);
    const req = request({ host: "127.0.0.1", port, method: "POST", headers: { "content-length": "1000" } });
    req.on("error", () => {});
    req.write("x".repeat(10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    req.destroy();
    // Node reports the abort as a stream error ("aborted"), or as a close before the end.
    await expect.poll(() => seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^error: (aborted|the client closed the connection before the request body ended)$/);
  });
});

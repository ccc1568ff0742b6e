import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { endlessChunkedPost } from "../testing/raw-connection.js";
import { readNodeBody, writeNodeResponse } from "./node-body.js";

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

describe("writeNodeResponse", () => {
  /** A server answering every request with `answer`, and the raw response a client reads. */
  async function roundTrip(answer: Parameters<typeof writeNodeResponse>[1], complete = true): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const server = createServer((_req, res) => writeNodeResponse(res, answer, complete));
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      request({ port, host: "127.0.0.1", path: "/" }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      })
        .on("error", reject)
        .end();
    });
  }

  it("sends the status, the headers and the body as JSON with its length in bytes (not characters)", async () => {
    const body = { displayName: "Zoë 日本 😀", n: 1 };
    const r = await roundTrip({ status: 201, headers: { "Content-Type": "application/scim+json", Location: "http://x/Users/1" }, body });
    expect(r.status).toBe(201);
    expect(r.headers["content-type"]).toBe("application/scim+json");
    expect(r.headers.location).toBe("http://x/Users/1");
    expect(Number(r.headers["content-length"])).toBe(Buffer.byteLength(JSON.stringify(body)));
    expect(Number(r.headers["content-length"])).toBeGreaterThan(JSON.stringify(body).length);
    expect(JSON.parse(r.body.toString("utf8"))).toEqual(body);
    expect(r.headers.connection).toBe("keep-alive");
  });

  it("sends no body for an answer without one, and closes the connection after a request whose body was not all read", async () => {
    const empty = await roundTrip({ status: 204, headers: {} });
    expect(empty.status).toBe(204);
    expect(empty.body.length).toBe(0);
    const cut = await roundTrip({ status: 413, headers: { "Content-Type": "application/scim+json" }, body: { status: "413" } }, false);
    expect(cut.status).toBe(413);
    expect(cut.headers.connection).toBe("close");
  });
});

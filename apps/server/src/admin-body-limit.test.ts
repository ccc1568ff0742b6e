/**
 * The admin API's 413 over real HTTP (@hono/node-server on port 0, fetch with keep-alive): a
 * refused body must not break the client's next request on the same connection.
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { createAdminKey, createDirectorySync, directoryApp, type DirectorySync } from "scim-directory";
import { openSqlite } from "scim-store-sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A chunked body (no Content-Length) of `total` bytes. */
function chunkedBody(total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      sent += chunk;
      controller.enqueue(new Uint8Array(chunk).fill(0x20));
    },
  });
}

describe("admin API: an oversized body over HTTP keeps the next request working", () => {
  let sync: DirectorySync;
  let server: ServerType;
  let origin: string;
  let headers: Record<string, string>;
  let connections = 0;

  beforeAll(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
    headers = { authorization: `Bearer ${await createAdminKey(sync.db)}`, "content-type": "application/json" };
    const app = directoryApp(sync);
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => {
        origin = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
    server.on("connection", () => connections++);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    });
    await sync.close();
  });

  /**
   * A valid admin request (its answer read to the end, so the connection goes back to the pool),
   * after a pause long enough for the client to have put the previous connection back there.
   */
  const createDirectory = async (name: string): Promise<{ status: number; name: unknown }> => {
    await pause(20);
    const response = await fetch(`${origin}/api/directories`, { method: "POST", headers, body: JSON.stringify({ organizationId: "org_1", name }) });
    return { status: response.status, name: ((await response.json()) as { name?: unknown }).name };
  };

  it("with Content-Length: 413 on a keep-alive connection that serves the next request (the body is drained)", async () => {
    // Warm up: one connection in the pool.
    expect((await createDirectory("first")).status).toBe(201);
    const before = connections;
    await pause(20);
    const big = JSON.stringify({ organizationId: "org_1", name: "x".repeat(3 * 1024 * 1024) });
    const refused = await fetch(`${origin}/api/directories`, { method: "POST", headers, body: big });
    expect(refused.status).toBe(413);
    expect(refused.headers.get("connection")).toBe("keep-alive");
    expect(await refused.json()).toEqual({ error: { code: "payload_too_large", message: "the body is larger than 1048576 bytes" } });
    // Right after the 413, on the same connection (an undrained one failed here: UND_ERR_SOCKET)...
    expect(await createDirectory("after the 413")).toEqual({ status: 201, name: "after the 413" });
    // ...and past @hono/node-server's drain timeout (500 ms), when an undrained connection is cut.
    await pause(600);
    expect((await createDirectory("later")).status).toBe(201);
    // All of it over the one connection: the 413 did not cost it.
    expect(connections).toBe(before);
  });

  it("chunked (no Content-Length): 413 with Connection: close, and the next request works on a new connection", async () => {
    const refused = await fetch(`${origin}/api/directories`, { method: "POST", headers, body: chunkedBody(3 * 1024 * 1024), duplex: "half" } as RequestInit);
    expect(refused.status).toBe(413);
    expect(refused.headers.get("connection")).toBe("close");
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    expect(await createDirectory("after the chunked 413")).toEqual({ status: 201, name: "after the chunked 413" });
    await pause(600);
    expect((await createDirectory("later again")).status).toBe(201);
  });

  it("the refusals are audited as 413s", async () => {
    const page = await sync.audit.list({ kind: "admin" });
    expect(page.data.filter((e) => e.status === 413).map((e) => [e.method, e.path])).toEqual([
      ["POST", "/api/directories"],
      ["POST", "/api/directories"],
    ]);
  });
});

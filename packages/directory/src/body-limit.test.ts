import { Hono } from "hono";
import { countedStream } from "scim-core/testing";
import { describe, expect, it } from "vitest";
import { limitBody } from "./body-limit.js";

describe("limitBody", () => {
  const app = new Hono();
  app.use("*", limitBody(4096, (c) => c.json({ error: { code: "payload_too_large" } }, 413)));
  app.post("/echo", async (c) => c.json({ bytes: (await c.req.text()).length }));

  const post = (body: RequestInit["body"], headers: Record<string, string> = {}) => app.request("http://h.test/echo", { method: "POST", body, headers, duplex: "half" } as RequestInit);

  it("too large by Content-Length: 413 from the header, the body untouched and the connection kept", async () => {
    const { stream, state } = countedStream(10_000, 1024);
    const r = await post(stream, { "content-length": "10000" });
    expect(r.status).toBe(413);
    expect(await r.json()).toEqual({ error: { code: "payload_too_large" } });
    expect(r.headers.get("connection")).toBeNull();
    // Not read at all: the server (e.g. @hono/node-server) drains it after the answer.
    expect(state.pulled).toBeLessThanOrEqual(1024);
  });

  it("too large without Content-Length (chunked): 413 with Connection: close, read no further than the limit", async () => {
    const { stream, state } = countedStream(1_000_000, 1024);
    const r = await post(stream);
    expect(r.status).toBe(413);
    expect(r.headers.get("connection")).toBe("close");
    expect(state.pulled).toBeLessThan(4096 + 4 * 1024);
  });

  it("within the limit, with or without Content-Length: the body reaches the handler whole", async () => {
    expect(await (await post("x".repeat(4096), { "content-length": "4096" })).json()).toEqual({ bytes: 4096 });
    expect(await (await post(countedStream(4096, 1024).stream)).json()).toEqual({ bytes: 4096 });
    expect(await (await app.request("http://h.test/echo", { method: "POST" })).json()).toEqual({ bytes: 0 });
  });
});

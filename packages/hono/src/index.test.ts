import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { createServer } from "node:http";
import { getRequestListener, serve } from "@hono/node-server";
import { Hono } from "hono";
import { bearerAuth, createScimServer, memoryStore, type ScimRequest, type ScimServer, type ScimServerConfig } from "scim-core";
import { countedStream, rawConnection, runHttpConformance } from "scim-core/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { nodeServerErrorHandler, scimHono } from "./index.js";

const token = "hono-t1-token-0123456789abcdef";
const token2 = "hono-t2-token-0123456789abcdef";
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const auth = { authorization: `Bearer ${token}` };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (r: Response): Promise<any> => r.json();

const scimServer = (config: Partial<ScimServerConfig> = {}) =>
  createScimServer({ store: memoryStore(), authenticate: bearerAuth({ [token]: { tenant: "t1" }, [token2]: { tenant: "t2" } }), ...config });

/** An app with the SCIM server mounted at several prefixes, as a user would. */
function createApp(scim: ScimServer = scimServer(), options?: Parameters<typeof scimHono>[1]) {
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok"));
  app.route("/scim/v2", scimHono(scim, options));
  app.route("/tenants/a/scim", scimHono(scim, options));
  app.route("/orgs/:org/scim", scimHono(scim, options));
  return app;
}

/** Serves an app with @hono/node-server on a free port. */
async function listen(app: Pick<Hono, "fetch">): Promise<{ origin: string; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => {
      resolve({ origin: `http://127.0.0.1:${info.port}`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

/** Serves an app with @hono/node-server's request listener and {@link nodeServerErrorHandler}, on a free port. */
async function listenWithErrorHandler(app: Pick<Hono, "fetch">): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = createServer(getRequestListener(app.fetch, { errorHandler: nodeServerErrorHandler }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}

/** A server double that records the ScimRequest it was handed. */
function recorder() {
  const seen: ScimRequest[] = [];
  const server: ScimServer = {
    maxBodyBytes: 1048576,
    handle: async (request) => {
      seen.push(request);
      return { status: 200, headers: { "Content-Type": "application/scim+json", "X-Test": "yes" }, body: { ok: true } };
    },
    fetch: async () => new Response(null, { status: 500 }),
  };
  return { server, seen };
}

const newUser = () => JSON.stringify({ schemas: [USER], userName: `u.${Math.random().toString(36).slice(2)}@example.com` });
const post = (body: RequestInit["body"], headers: Record<string, string> = {}): RequestInit & { duplex?: "half" } => ({
  method: "POST",
  body,
  headers: { ...auth, "content-type": "application/scim+json", ...headers },
  duplex: "half",
});

describe("scimHono: translation", () => {
  it("hands the server method, path relative to the mount, raw query, headers, bytes, baseUrl and signal", async () => {
    const { server, seen } = recorder();
    const app = createApp(server);
    const r = await app.request("http://sp.example.com/scim/v2/Users/a%2Fb%20c?filter=userName+eq+%22x%22&count=2", {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/scim+json", "if-match": 'W/"1"' },
      body: '{"a":1}',
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-test")).toBe("yes");
    expect(r.headers.get("content-type")).toBe("application/scim+json");
    expect(await json(r)).toEqual({ ok: true });
    const request = seen[0]!;
    expect(request.method).toBe("PATCH");
    expect(request.path).toBe("/Users/a%2Fb%20c");
    expect(request.query).toBe('?filter=userName+eq+%22x%22&count=2');
    expect(request.headers).toMatchObject({ authorization: auth.authorization, "if-match": 'W/"1"' });
    expect(new TextDecoder().decode(request.body as Uint8Array)).toBe('{"a":1}');
    expect(request.baseUrl).toBe("http://sp.example.com/scim/v2");
    expect(request.signal).toBeInstanceOf(AbortSignal);
  });

  it("any mount prefix, with parameters resolved as requested; GET has no body", async () => {
    const { server, seen } = recorder();
    const app = createApp(server);
    await app.request("http://sp.example.com/tenants/a/scim/Groups");
    await app.request("http://sp.example.com/orgs/acme%20inc/scim/Users/1");
    await app.request("http://sp.example.com/scim/v2");
    const root = new Hono();
    root.route("/", scimHono(server));
    await root.request("http://sp.example.com/ServiceProviderConfig");
    await scimHono(server).request("http://sp.example.com/Schemas");
    const nested = new Hono().basePath("/api");
    nested.route("/v1", new Hono().route("/t/:id/scim", scimHono(server)));
    await nested.request("http://sp.example.com/api/v1/t/x%2Fy/scim/Users?count=1");
    expect(seen.map((s) => [s.baseUrl, s.path, s.body])).toEqual([
      ["http://sp.example.com/tenants/a/scim", "/Groups", undefined],
      ["http://sp.example.com/orgs/acme%20inc/scim", "/Users/1", undefined],
      ["http://sp.example.com/scim/v2", "/", undefined],
      ["http://sp.example.com", "/ServiceProviderConfig", undefined],
      ["http://sp.example.com", "/Schemas", undefined],
      ["http://sp.example.com/api/v1/t/x%2Fy/scim", "/Users", undefined],
    ]);
  });

  it("leaves the rest of the app alone", async () => {
    const app = createApp();
    expect(await (await app.request("/healthz")).text()).toBe("ok");
    expect((await app.request("/elsewhere/Users", { headers: auth })).status).toBe(404);
  });

  it("headers that middleware sets before or after the handler stay on the response", async () => {
    const app = new Hono();
    app.use("/scim/v2/*", async (c, next) => {
      c.header("X-Request-Id", "r-1");
      await next();
      c.header("X-After", "yes");
    });
    app.route("/scim/v2", scimHono(scimServer()));
    app.route("/bare", scimHono(scimServer()));
    const created = await app.request("http://sp.example.com/scim/v2/Users", post(newUser()));
    expect(created.status).toBe(201);
    expect(created.headers.get("x-request-id")).toBe("r-1");
    expect(created.headers.get("x-after")).toBe("yes");
    expect(created.headers.get("content-type")).toBe("application/scim+json");
    expect(created.headers.get("etag")).toBe('W/"1"');
    expect(created.headers.get("location")).toBe(`http://sp.example.com/scim/v2/Users/${(await json(created)).id}`);
    // Without middleware: the same status, headers and body.
    const bare = await app.request("http://sp.example.com/bare/Users", post(newUser()));
    expect(bare.status).toBe(201);
    expect(bare.headers.get("x-request-id")).toBeNull();
    expect(bare.headers.get("content-type")).toBe("application/scim+json");
    expect(bare.headers.get("etag")).toBe('W/"1"');
    expect(bare.headers.get("location")).toBe(`http://sp.example.com/bare/Users/${(await json(bare)).id}`);
    const missing = await app.request("http://sp.example.com/scim/v2/Users/nope", { headers: auth });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBe("r-1");
    expect((await json(missing)).status).toBe("404");
  });

  it("a body already read by a middleware still reaches the server", async () => {
    const app = new Hono();
    app.use("/scim/v2/*", async (c, next) => {
      if (c.req.method === "POST") await c.req.json();
      await next();
    });
    app.route("/scim/v2", scimHono(scimServer()));
    const r = await app.request("http://sp.example.com/scim/v2/Users", post(newUser()));
    expect(r.status).toBe(201);
  });
});

describe("scimHono: an app on another copy of hono", () => {
  it("works as on its own copy (a file: or linked dependency gives the app a copy of its own)", async () => {
    // A second copy of hono: the same files under another path are other modules, with their own symbols.
    let original = createRequire(import.meta.url).resolve("hono");
    while (basename(original) !== "hono" || !existsSync(join(original, "package.json"))) original = dirname(original);
    const copy = join(mkdtempSync(join(tmpdir(), "scim-hono-copy-")), "hono");
    cpSync(original, copy, { recursive: true, dereference: true });
    try {
      const { Hono: OtherHono } = (await import(pathToFileURL(join(copy, "dist", "index.js")).href)) as { Hono: typeof Hono };
      expect(OtherHono).not.toBe(Hono);
      const app = new OtherHono();
      const scim = scimServer();
      app.route("/scim/v2", scimHono(scim) as never);
      app.route("/orgs/:org/scim", scimHono(scim) as never);
      app.use("/logged/*", async (c, next) => {
        await next();
        c.header("X-Seen", "yes");
      });
      app.route("/logged/scim", scimHono(scim) as never);
      const created = await app.request("http://sync.test/scim/v2/Users", { method: "POST", headers: { ...auth, "content-type": "application/scim+json" }, body: JSON.stringify({ schemas: [USER], userName: "copy@example.com" }) });
      expect(created.status).toBe(201);
      const user = await json(created);
      expect(created.headers.get("location")).toBe(`http://sync.test/scim/v2/Users/${user.id}`);
      for (const prefix of ["/scim/v2", "/orgs/acme/scim", "/logged/scim"]) {
        const read = await app.request(`http://sync.test${prefix}/Users/${user.id}`, { headers: auth });
        expect([prefix, read.status]).toEqual([prefix, 200]);
        expect((await json(read)).meta.location).toBe(`http://sync.test${prefix}/Users/${user.id}`);
      }
      expect((await app.request("http://sync.test/logged/scim/Users", { headers: auth })).headers.get("x-seen")).toBe("yes");
    } finally {
      rmSync(dirname(copy), { recursive: true, force: true });
    }
  });
});

describe("scimHono: in process (app.request)", () => {
  const app = createApp();

  for (const [mount, base] of [
    ["/scim/v2", "http://localhost/scim/v2"],
    ["/tenants/a/scim", "http://localhost/tenants/a/scim"],
    ["/orgs/o-1/scim", "http://localhost/orgs/o-1/scim"],
  ] as const) {
    it(`create, read, delete under ${mount} with Location and meta.location`, async () => {
      const created = await app.request(`${mount}/Users`, post(newUser()));
      expect(created.status).toBe(201);
      const user = await json(created);
      expect(created.headers.get("location")).toBe(`${base}/Users/${user.id}`);
      expect(user.meta.location).toBe(`${base}/Users/${user.id}`);
      expect(created.headers.get("etag")).toBe(user.meta.version);
      const got = await app.request(`${mount}/Users?filter=${encodeURIComponent(`id eq "${user.id}"`)}`, { headers: auth });
      expect((await json(got)).Resources[0].meta.location).toBe(user.meta.location);
      const deleted = await app.request(`${mount}/Users/${user.id}`, { method: "DELETE", headers: auth });
      expect(deleted.status).toBe(204);
      expect(await deleted.text()).toBe("");
    });
  }

  it("401 with WWW-Authenticate", async () => {
    const r = await app.request("/scim/v2/Users");
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("a body over the limit is 413, with Content-Length or chunked; reading stops at the limit", async () => {
    const big = JSON.stringify({ schemas: [USER], userName: "big@example.com", displayName: "x".repeat(1048576) });
    const withLength = await app.request("/scim/v2/Users", post(big, { "content-length": String(big.length) }));
    expect(withLength.status).toBe(413);
    const { stream, state } = countedStream();
    const chunked = await app.request("/scim/v2/Users", post(stream));
    expect(chunked.status).toBe(413);
    expect((await json(chunked)).status).toBe("413");
    expect(state.pulled).toBeLessThan(1048576 + 64 * 1024);
    // The rest of the body is left unread (the one too large by Content-Length not read at all), so
    // the connection is to close, and the answer says so (RFC 9112 §9.6).
    expect(chunked.headers.get("connection")).toBe("close");
    expect(withLength.headers.get("connection")).toBe("close");
  });

  it("maxBodyBytes as configured on both sides", async () => {
    const small = createApp(scimServer({ maxBodyBytes: 2048, bulk: { maxPayloadSize: 2048 } }), { maxBodyBytes: 2048 });
    const { stream, state } = countedStream(Infinity, 1024);
    expect((await small.request("/scim/v2/Users", post(stream))).status).toBe(413);
    expect(state.pulled).toBeLessThanOrEqual(4096);
    expect((await small.request("/scim/v2/Bulk", post(countedStream(Infinity, 1024).stream))).status).toBe(413);
    expect((await small.request("/scim/v2/Users", post(newUser()))).status).toBe(201);
  });
});

describe("scimHono: over HTTP (@hono/node-server)", () => {
  let origin: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ origin, close } = await listen(createApp()));
  });
  afterAll(() => close());

  for (const mount of ["/scim/v2", "/tenants/a/scim", "/orgs/o-2/scim"]) {
    it(`Location and meta.location under ${mount}`, async () => {
      const created = await fetch(`${origin}${mount}/Users`, post(newUser()));
      expect(created.status).toBe(201);
      const user = await json(created);
      expect(created.headers.get("location")).toBe(`${origin}${mount}/Users/${user.id}`);
      expect(user.meta.location).toBe(`${origin}${mount}/Users/${user.id}`);
      const got = await fetch(user.meta.location, { headers: auth });
      expect(got.status).toBe(200);
      expect((await json(got)).id).toBe(user.id);
    });
  }

  it("a large answer (over 64 KiB) says its length in bytes up front, and the bytes are the JSON", async () => {
    const app = createApp(scimServer());
    const served = await listen(app);
    try {
      for (let i = 0; i < 30; i++) {
        const created = await fetch(`${served.origin}/scim/v2/Users`, post(JSON.stringify({ ...JSON.parse(newUser()), title: `Zoë 日本 😀 ${i} `.repeat(200) })));
        expect(created.status).toBe(201);
      }
      for (const page of [await fetch(`${served.origin}/scim/v2/Users?count=100`, { headers: auth }), await app.request("/scim/v2/Users?count=100", { headers: auth })]) {
        expect(page.status).toBe(200);
        const bytes = new Uint8Array(await page.arrayBuffer());
        expect(bytes.length).toBeGreaterThan(64 * 1024);
        expect(page.headers.get("content-length")).toBe(String(bytes.length));
        const body = JSON.parse(new TextDecoder().decode(bytes));
        expect(body.Resources).toHaveLength(30);
        expect(body.Resources[0].title).toContain("Zoë 日本 😀 0");
      }
    } finally {
      await served.close();
    }
  });

  it("an adapter limit below the server's: a body over it is 413 however it arrives; a limit that is no positive integer is refused", async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => scimHono(scimServer(), { maxBodyBytes: bad }), String(bad)).toThrow(/maxBodyBytes must be a positive integer/);
    const small = await listen(createApp(scimServer(), { maxBodyBytes: 100 }));
    try {
      const fits = JSON.stringify({ schemas: [USER], userName: "a@x.io" });
      const over = JSON.stringify({ schemas: [USER], userName: "b@x.io", displayName: "x".repeat(200) });
      expect(fits.length).toBeLessThan(100);
      expect((await fetch(`${small.origin}/scim/v2/Users`, post(fits))).status).toBe(201);
      // Declared length, and one chunk without a length: the whole body arrives before the limit is checked.
      const declared = await fetch(`${small.origin}/scim/v2/Users`, post(over));
      expect([declared.status, (await json(declared)).status]).toEqual([413, "413"]);
      const chunk = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(over)), c.close()) });
      expect((await fetch(`${small.origin}/scim/v2/Users`, post(chunk))).status).toBe(413);
      expect((await fetch(`${small.origin}/scim/v2/Users`, post(countedStream(Infinity, 64).stream))).status).toBe(413);
    } finally {
      await small.close();
    }
  });

  it("a body over the limit is 413, with Content-Length or chunked", async () => {
    const big = JSON.stringify({ schemas: [USER], userName: "big@example.com", displayName: "x".repeat(1048576) });
    const withLength = await fetch(`${origin}/scim/v2/Users`, post(big));
    expect(withLength.status).toBe(413);
    const chunked = await fetch(`${origin}/scim/v2/Users`, post(countedStream(4 * 1048576, 64 * 1024).stream));
    expect(chunked.status).toBe(413);
    expect((await json(chunked)).status).toBe("413");
    // The connection stays usable for the next request.
    expect((await fetch(`${origin}/scim/v2/Users`, post(newUser()))).status).toBe(201);
  });

  it("a host middleware that touched the body (hono/body-limit, an auth check) does not leave large bodies hanging", async () => {
    const app = new Hono();
    // Touching `c.req.raw.body` makes @hono/node-server wrap the Node stream in a web stream.
    app.use(async (c, next) => {
      if (c.req.raw.body === null) throw new Error("expected a body");
      await new Promise((resolve) => setTimeout(resolve, 5));
      await next();
    });
    app.route("/scim/v2", scimHono(scimServer()));
    const served = await listen(app);
    try {
      for (const size of [1_000, 100_000, 300_000, 900_000]) {
        const body = JSON.stringify({ schemas: [USER], userName: `large-${size}@example.com`, displayName: "x".repeat(size) });
        const r = await fetch(`${served.origin}/scim/v2/Users`, { ...post(body), signal: AbortSignal.timeout(10_000) });
        expect(r.status, String(size)).toBe(201);
      }
    } finally {
      await served.close();
    }
  });

  it("a chunked body over the limit is 413 with Connection: close, and the client's next request succeeds", async () => {
    // 2 MiB against the default 1 MiB: small enough that the client has sent it all when the 413
    // comes, so a connection left open looks reusable to the client. A server of its own, so that
    // a broken connection in fetch's pool fails no other test.
    const { origin, close } = await listen(createApp());
    for (const headers of [{}, { authorization: "Bearer nope" }] as Record<string, string>[]) {
      const { stream, state } = countedStream(2 * 1048576, 64 * 1024);
      const r = await fetch(`${origin}/scim/v2/Users`, post(stream, headers));
      expect(r.status).toBe(headers.authorization ? 401 : 413); // not all read: the connection closes whatever the answer
      expect(r.headers.get("connection")).toBe("close");
      expect((await json(r)).status).toBe(String(r.status));
      expect(state.pulled).toBeGreaterThan(1048576);
      expect((await fetch(`${origin}/scim/v2/Users`, post(newUser()))).status).toBe(201);
    }
    await close();
  });

  it("a body over the limit by Content-Length is 413 with Connection: close, even when it comes slowly; the server goes on", async () => {
    const { origin, close } = await listen(createApp());
    const big = JSON.stringify({ schemas: [USER], userName: "big@example.com", displayName: "x".repeat(1048576) });
    const r = await fetch(`${origin}/scim/v2/Users`, post(big));
    expect(r.status).toBe(413);
    expect((await json(r)).status).toBe("413");
    expect(r.headers.get("connection")).toBe("close");
    expect((await fetch(`${origin}/scim/v2/Users`, post(newUser()))).status).toBe(201);
    // A slow upload (@hono/node-server drains an unread body for 500 ms only, then closes): the
    // 413 said keep-alive, and the connection closed under the client's feet.
    const connection = await rawConnection(origin);
    connection.write(`POST /scim/v2/Users HTTP/1.1\r\nHost: sp.example.com\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/scim+json\r\nContent-Length: ${big.length}\r\n\r\n`);
    connection.write(big.slice(0, 100_000));
    const tooLarge = await connection.response();
    expect(tooLarge.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(tooLarge.head).toMatch(/\r\nconnection: *close/i);
    connection.destroy();
    await close();
  });

  it("nodeServerErrorHandler: a Host that is not a host gets a SCIM 400, an error thrown out of the app a SCIM 500 that names nothing of it", async () => {
    const { origin, close } = await listenWithErrorHandler(createApp());
    for (const host of ["exa mple", "[::1", "a/b"]) {
      const connection = await rawConnection(origin);
      connection.write(`GET /scim/v2/Users HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth.authorization}\r\n\r\n`);
      const { head, body } = await connection.response();
      expect(head, host).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toMatch(/\r\ncontent-type: application\/scim\+json/i);
      expect(JSON.parse(body)).toEqual({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "400", detail: "the request's URL or Host header is not valid" });
      connection.destroy();
    }
    // A good request on the same server is unaffected.
    expect((await fetch(`${origin}/scim/v2/Users`, { headers: auth })).status).toBe(200);
    await close();

    const failing = await listenWithErrorHandler({ fetch: () => Promise.reject(new Error("db password is hunter2")) });
    const r = await fetch(`${failing.origin}/scim/v2/Users`);
    expect(r.status).toBe(500);
    expect(r.headers.get("content-type")).toBe("application/scim+json");
    const text = await r.text();
    expect(JSON.parse(text)).toEqual({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "500", detail: "internal server error" });
    expect(text).not.toContain("hunter2");
    await failing.close();
  });

  it("a client that drops its connection in the middle of its body: nothing logged, the server goes on", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const app = new Hono();
      app.route("/scim/v2", scimHono(scimServer()));
      const { origin, close } = await listen(app);
      for (const framing of ["Content-Length: 5000", "Transfer-Encoding: chunked"]) {
        const connection = await rawConnection(origin);
        connection.write(`POST /scim/v2/Users HTTP/1.1\r\nHost: sp.example.com\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/scim+json\r\n${framing}\r\n\r\n`);
        connection.write(framing.startsWith("Content") ? '{"userName":' : '5\r\n{"use\r\n');
        await new Promise((resolve) => setTimeout(resolve, 50));
        connection.destroy();
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(errors).not.toHaveBeenCalled();
      expect((await fetch(`${origin}/scim/v2/ServiceProviderConfig`, { headers: auth })).status).toBe(200);
      await close();
    } finally {
      errors.mockRestore();
    }
  });

  it("on one connection, a chunked body over the limit is answered and the server closes the connection", async () => {
    // Behind a middleware too: the response is then built through the context (c.body).
    const app = new Hono();
    app.use("*", async (c, next) => {
      await next();
      c.header("X-Seen", "1");
    });
    app.route("/scim/v2", scimHono(scimServer()));
    const plain = await listen(createApp());
    const withMiddleware = await listen(app);
    for (const target of [plain.origin, withMiddleware.origin]) {
      const connection = await rawConnection(target);
      connection.write(`POST /scim/v2/Users HTTP/1.1\r\nHost: sp.example.com\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const chunk = new Uint8Array(64 * 1024).fill(0x20);
      for (let i = 0; i < 32; i++) connection.write(`10000\r\n`), connection.write(chunk), connection.write("\r\n");
      connection.write("0\r\n\r\n");
      const tooLarge = await connection.response();
      expect(tooLarge.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(tooLarge.head).toMatch(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(tooLarge.body).status).toBe("413");
      if (target === withMiddleware.origin) expect(tooLarge.head).toMatch(/\r\nx-seen: 1\r\n/i);
      await expect.poll(() => connection.closed()).toBe(true);
    }
    await plain.close();
    await withMiddleware.close();
  });
});

runHttpConformance({
  name: "scim-hono (@hono/node-server)",
  target: async () => {
    // Served as the README says: @hono/node-server's listener with nodeServerErrorHandler.
    const { origin, close } = await listenWithErrorHandler(createApp());
    return { fetch: (input, init) => fetch(input, init), baseUrl: `${origin}/scim/v2`, token, otherTenantToken: token2, close };
  },
});

runHttpConformance({
  // As the README's testing section runs it: in process, on a localhost baseUrl.
  name: "scim-hono (app.request, localhost)",
  target: async () => {
    const app = createApp();
    return { fetch: async (input, init) => app.request(input, init), baseUrl: "http://localhost/scim/v2", token, otherTenantToken: token2, listening: false };
  },
});

runHttpConformance({
  name: "scim-hono (app.request, mount with a parameter)",
  target: async () => {
    const app = createApp();
    return { fetch: async (input, init) => app.request(input, init), baseUrl: "http://sp.example.com/orgs/acme/scim", token, otherTenantToken: token2 };
  },
});

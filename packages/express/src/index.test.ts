import { once } from "node:events";
import { request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import express4 from "express4";
import { bearerAuth, createScimServer, memoryStore, ScimConfigError, type ScimRequest, type ScimServer, type ScimServerConfig } from "scim-core";
import { chunkedPostThenGet, declaredOversizePost, endlessChunkedPost, runHttpConformance } from "scim-core/testing";
import { afterAll, describe, expect, it } from "vitest";
import { scimExpress } from "./index.js";

const token = "express-t1-0123456789abcdef";
const token2 = "express-t2-0123456789abcdef";
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const scimTypes = ["application/json", "application/scim+json"];

// Loose JSON: the tests inspect whatever the server answers.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
const readJson = async (r: Response): Promise<J> => r.json();

/** A scim-core server over a fresh memory store, without config.baseUrl: locations come from the adapter. */
const scim = (overrides: Partial<ScimServerConfig> = {}) =>
  createScimServer({ store: memoryStore(), authenticate: bearerAuth({ [token]: { tenant: "t1" }, [token2]: { tenant: "t2" } }), ...overrides });

/** Wraps a server to record the requests the adapter hands it. */
function recording(server: ScimServer) {
  const seen: ScimRequest[] = [];
  const wrapped: ScimServer = { ...server, handle: (request) => (seen.push(request), server.handle(request)) };
  return { server: wrapped, seen };
}

type Listener = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void;
const open: Server[] = [];
afterAll(async () => {
  await Promise.all(open.map((s) => new Promise((resolve) => s.close(resolve))));
});

/** Starts an app on a free port of 127.0.0.1; returns its origin. */
async function listen(app: Listener): Promise<{ origin: string; server: Server }> {
  const { createServer } = await import("node:http");
  const server = createServer(app);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  open.push(server);
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const closeServer = (server: Server) => () => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
};

// The HTTP conformance suite over a real port: Express 5 at /scim/v2...
runHttpConformance({
  name: "scim-express (Express 5)",
  target: async () => {
    const app = express();
    app.use("/scim/v2", scimExpress(scim()));
    const { origin, server } = await listen(app);
    return { fetch, baseUrl: `${origin}/scim/v2`, token, otherTenantToken: token2, close: closeServer(server) };
  },
});

// ...and Express 4 under a parameterised nested mount.
runHttpConformance({
  name: "scim-express (Express 4)",
  target: async () => {
    const app = express4();
    const tenants = express4.Router({ mergeParams: true });
    tenants.use("/scim", scimExpress(scim()));
    app.use("/tenants/:tenant", tenants);
    const { origin, server } = await listen(app);
    return { fetch, baseUrl: `${origin}/tenants/a/scim`, token, otherTenantToken: token2, close: closeServer(server) };
  },
});



const headers = (extra: Record<string, string> = {}) => ({ Authorization: `Bearer ${token}`, "Content-Type": "application/scim+json", ...extra });
const newUser = () => ({ schemas: [USER], userName: `u.${Math.random().toString(36).slice(2)}@example.com` });

describe("scim-express", () => {
  it("rejects a bad maxBodyBytes at start-up", () => {
    expect(() => scimExpress(scim(), { maxBodyBytes: 0 })).toThrow(ScimConfigError);
    expect(() => scimExpress(scim(), { maxBodyBytes: 1.5 })).toThrow(ScimConfigError);
  });

  it("an adapter limit below the server's: a body over it is 413 however it arrives", async () => {
    const app = express();
    app.use("/scim/v2", scimExpress(scim(), { maxBodyBytes: 100 }));
    const { origin } = await listen(app);
    const fits = JSON.stringify(newUser());
    const over = JSON.stringify({ ...newUser(), displayName: "x".repeat(200) });
    expect(fits.length).toBeLessThan(100);
    expect((await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: fits })).status).toBe(201);
    const declared = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: over });
    expect(declared.status).toBe(413);
    const chunk = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(over)), c.close()) });
    const chunked = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: chunk, duplex: "half" } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it("behind a trusted proxy, X-Forwarded-Proto names the scheme only when it is http or https", async () => {
    const { server, seen } = recording(scim());
    const app = express();
    app.set("trust proxy", "loopback");
    app.use("/scim/v2", scimExpress(server));
    const { origin } = await listen(app);
    for (const [forwarded, scheme] of [["https", "https"], ["http", "http"], ["javascript", "http"], ["data", "http"]] as const) {
      const r = await fetch(`${origin}/scim/v2/ServiceProviderConfig`, { headers: { ...headers(), "x-forwarded-proto": forwarded } });
      expect(r.status).toBe(200);
      expect(seen.at(-1)!.baseUrl, forwarded).toBe(`${scheme}://${new URL(origin).host}/scim/v2`);
    }
  });

  it("translates method, relative path, raw query, headers and baseUrl", async () => {
    const { server, seen } = recording(scim());
    const app = express();
    app.use("/scim/v2", scimExpress(server));
    const { origin } = await listen(app);
    const r = await fetch(`${origin}/scim/v2/Users?filter=${encodeURIComponent('userName eq "a+b@x.com"')}&count=5`, { headers: headers({ "X-Extra": "1" }) });
    expect(r.status).toBe(200);
    const request = seen[0]!;
    expect(request.method).toBe("GET");
    expect(request.path).toBe("/Users");
    expect(request.query).toBe(`?filter=${encodeURIComponent('userName eq "a+b@x.com"')}&count=5`);
    expect(request.headers?.["x-extra"]).toBe("1");
    expect(request.baseUrl).toBe(`${origin}/scim/v2`);
    expect(request.body).toBeUndefined();
    expect(request.signal).toBeInstanceOf(AbortSignal);
    const root = await fetch(`${origin}/scim/v2`, { headers: headers() });
    expect(root.status).toBe(501); // the server root reached the server (a GET there is 501: its queries go by POST /.search)
    expect(seen[1]!.path).toBe("/");
  });

  for (const [prefix, mount] of [
    ["/scim/v2", (app: express.Express, handler: express.RequestHandler) => app.use("/scim/v2", handler)],
    [
      "/tenants/a/scim",
      (app: express.Express, handler: express.RequestHandler) => {
        const router = express.Router();
        router.use("/scim", handler);
        app.use("/tenants/:tenant", router);
      },
    ],
  ] as const) {
    it(`Location and meta.location carry the mount prefix ${prefix}`, async () => {
      const app = express();
      mount(app, scimExpress(scim()));
      const { origin } = await listen(app);
      const created = await fetch(`${origin}${prefix}/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
      expect(created.status).toBe(201);
      const body = await readJson(created);
      expect(created.headers.get("location")).toBe(`${origin}${prefix}/Users/${body.id}`);
      expect(body.meta.location).toBe(created.headers.get("location"));
      expect(created.headers.get("content-type")).toMatch(/^application\/scim\+json/);
      expect(created.headers.get("content-length")).toBe(String(Buffer.byteLength(JSON.stringify(body))));
      const got = await fetch(body.meta.location, { headers: headers() });
      expect(got.status).toBe(200);
      expect((await readJson(got)).id).toBe(body.id);
    });
  }

  it("config.baseUrl still wins over the URL the adapter saw", async () => {
    const app = express();
    app.use("/scim/v2", scimExpress(scim({ baseUrl: "https://public.example.com/scim/v2" })));
    const { origin } = await listen(app);
    const created = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
    expect(created.headers.get("location")).toMatch(/^https:\/\/public\.example\.com\/scim\/v2\/Users\//);
  });

  describe("with a body parser before it", () => {
    for (const [name, make] of [
      ["Express 5", () => ({ app: express(), json: express.json, text: express.text })],
      ["Express 4", () => ({ app: express4(), json: express4.json, text: express4.text })],
    ] as const) {
      it(`${name}: uses the parsed body when express.json parsed it`, async () => {
        const { app, json } = make();
        const { server, seen } = recording(scim());
        app.use(json({ type: scimTypes }));
        app.use("/scim/v2", scimExpress(server));
        const { origin } = await listen(app as unknown as Listener);
        const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
        expect(r.status).toBe(201);
        expect(seen[0]!.body).toMatchObject({ schemas: [USER] });
        expect(Buffer.isBuffer(seen[0]!.body)).toBe(false);
        const get = await fetch(`${origin}/scim/v2/Users`, { headers: headers() });
        expect(get.status).toBe(200);
      });

      it(`${name}: reads the raw body when express.json skipped the content type`, async () => {
        const { app, json } = make();
        const { server, seen } = recording(scim());
        app.use(json()); // application/json only: leaves application/scim+json unread (Express 4 sets req.body = {})
        app.use("/scim/v2", scimExpress(server));
        const { origin } = await listen(app as unknown as Listener);
        const user = newUser();
        const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(user) });
        expect(r.status).toBe(201);
        expect(Buffer.isBuffer(seen[0]!.body)).toBe(true);
        expect((await readJson(r)).userName).toBe(user.userName);
        const viaJson = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(newUser()) });
        expect(viaJson.status).toBe(201);
        expect(seen[1]!.body).toMatchObject({ schemas: [USER] });
      });

      it(`${name}: passes a string from express.text through`, async () => {
        const { app, text } = make();
        const { server, seen } = recording(scim());
        app.use(text({ type: scimTypes }));
        app.use("/scim/v2", scimExpress(server));
        const { origin } = await listen(app as unknown as Listener);
        const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
        expect(r.status).toBe(201);
        expect(typeof seen[0]!.body).toBe("string");
        const bad = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: '{"schemas": [' });
        expect(bad.status).toBe(400);
        expect((await readJson(bad)).scimType).toBe("invalidSyntax");
      });
    }
  });

  describe("body limit", () => {
    const big = (bytes: number) => JSON.stringify({ ...newUser(), displayName: "x".repeat(bytes) });

    /** A chunked request body (no Content-Length), so the adapter must count while reading. */
    const chunked = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      return new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 16384) controller.enqueue(bytes.subarray(i, i + 16384));
          controller.close();
        },
      });
    };

    it("a declared length over the limit: 413 before the body arrives, and the connection closes instead of reading the rest", async () => {
      const app = express();
      app.use("/scim/v2", scimExpress(scim({ maxBodyBytes: 4096 })));
      const { origin } = await listen(app);
      const answer = await declaredOversizePost(origin, "/scim/v2", `Bearer ${token}`);
      expect(answer.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer.head).toMatch(/\r\nconnection: close/i);
      expect(answer.closed).toBe(true);
    });

    it("answers 413 for a body over the limit, with and without Content-Length, and keeps serving", async () => {
      const { server, seen } = recording(scim({ maxBodyBytes: 4096 }));
      const app = express();
      app.use("/scim/v2", scimExpress(server, { maxBodyBytes: 4096 }));
      const { origin } = await listen(app);
      const sized = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: big(5000) });
      expect(sized.status).toBe(413);
      expect((await readJson(sized)).status).toBe("413");
      expect(seen[0]!.body).toBeUndefined(); // not read at all: the server answers from Content-Length

      const init = { method: "POST", headers: headers(), body: chunked(big(200_000)), duplex: "half" } as RequestInit;
      const streamed = await fetch(`${origin}/scim/v2/Users`, init);
      expect(streamed.status).toBe(413);
      expect(seen[1]!.headers?.["content-length"]).toBeUndefined();
      const partial = seen[1]!.body as Buffer;
      expect(partial.length).toBeGreaterThan(4096);
      expect(partial.length).toBeLessThanOrEqual(4096 + 65536); // stopped after the chunk that crossed the limit

      const fits = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: chunked(big(1000)), duplex: "half" } as RequestInit);
      expect(fits.status).toBe(201);
    });

    it("a chunked body over the limit: 413, the rest is read and dropped, and the same connection serves the next request", async () => {
      const app = express();
      app.use("/scim/v2", scimExpress(scim()));
      const { origin } = await listen(app);
      // 2 MiB against the default 1 MiB, all sent before the 413 is read: nothing of it may be left unread.
      const { post: tooLarge, get } = await chunkedPostThenGet(origin, "/scim/v2", `Bearer ${token}`, 32);
      expect(tooLarge.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(tooLarge.head).toMatch(/\r\nconnection: keep-alive\r\n/i);
      expect(JSON.parse(tooLarge.body).status).toBe("413");
      expect(get.head).toMatch(/^HTTP\/1\.1 200 /);
      // The same with fetch's keep-alive client.
      const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: chunked(big(2 * 1048576)), duplex: "half" } as RequestInit);
      expect(r.status).toBe(413);
      expect((await readJson(r)).status).toBe("413");
      expect((await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) })).status).toBe(201);
    });

    it("an endless chunked body: 413, then the connection closes instead of reading forever", async () => {
      const app = express();
      app.use("/scim/v2", scimExpress(scim()));
      const { origin } = await listen(app);
      const { response, closed, sentBytes } = await endlessChunkedPost(origin, "/scim/v2", `Bearer ${token}`);
      expect(response?.head).toMatch(/^HTTP\/1\.1 413 /);
      // It says so: a client that reused the connection would fail its next request.
      expect(response?.head).toMatch(/\r\nconnection: close\r\n/i);
      expect(closed).toBe(true);
      // The limit, the bytes dropped after it (as many again), and what the sockets buffer on the way.
      expect(sentBytes).toBeLessThan(16 * 1048576);
      expect((await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) })).status).toBe(201);
    });

    it("defaults to 1 MiB, the server's default", async () => {
      const app = express();
      app.use("/scim/v2", scimExpress(scim()));
      const { origin } = await listen(app);
      const over = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: chunked(big(1048576)), duplex: "half" } as RequestInit);
      expect(over.status).toBe(413);
      const under = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: chunked(big(1000000)), duplex: "half" } as RequestInit);
      expect(under.status).toBe(201);
    });
  });

  describe("client abort", () => {
    /** A server whose handle waits for the abort signal (or 2 s) before answering. */
    function slow() {
      const state = { started: 0, aborted: 0, finished: 0, errors: [] as unknown[] };
      const real = scim();
      const server: ScimServer = {
        ...real,
        handle: async (request) => {
          if (request.path !== "/slow") return real.handle(request);
          state.started++;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 2000);
            request.signal?.addEventListener("abort", () => (state.aborted++, clearTimeout(timer), resolve()), { once: true });
          });
          state.finished++;
          return { status: 200, headers: { "Content-Type": "application/scim+json" }, body: { late: true } };
        },
      };
      const app = express();
      app.use("/scim/v2", scimExpress(server));
      app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        state.errors.push(error);
        res.status(500).end();
      });
      return { app, state };
    }

    /** Sends a request and destroys the connection once `when` says so. */
    function abortedRequest(origin: string, path: string, options: { body?: string; after: (sent: () => void) => void }) {
      return new Promise<void>((resolve) => {
        const req = httpRequest(`${origin}${path}`, { method: options.body ? "POST" : "GET", headers: headers(options.body ? { "Content-Length": String(options.body.length * 2) } : {}) });
        req.on("error", () => resolve());
        req.on("close", () => resolve());
        req.on("response", () => resolve());
        if (options.body) req.write(options.body);
        else req.end();
        options.after(() => req.destroy());
      });
    }

    it("fires the signal when the client goes away while the server works, and writes nothing", async () => {
      const { app, state } = slow();
      const { origin } = await listen(app);
      await abortedRequest(origin, "/scim/v2/slow", {
        after: (destroy) => {
          const wait = setInterval(() => {
            if (state.started > 0) (clearInterval(wait), destroy());
          }, 5);
        },
      });
      await expect.poll(() => state.finished, { timeout: 1000 }).toBe(1);
      expect(state.aborted).toBe(1);
      expect(state.errors).toEqual([]);
      const after = await fetch(`${origin}/scim/v2/ServiceProviderConfig`, { headers: headers() });
      expect(after.status).toBe(200);
    });

    it("a signal first read after the client went away is already aborted", async () => {
      const state = { started: 0, aborted: undefined as boolean | undefined };
      const server: ScimServer = {
        ...scim(),
        handle: async (request) => {
          state.started++;
          await new Promise((resolve) => setTimeout(resolve, 300));
          state.aborted = request.signal?.aborted;
          return { status: 200, headers: {}, body: { late: true } };
        },
      };
      const app = express();
      app.use("/scim/v2", scimExpress(server));
      const { origin } = await listen(app);
      await abortedRequest(origin, "/scim/v2/late", {
        after: (destroy) => {
          const wait = setInterval(() => {
            if (state.started > 0) (clearInterval(wait), destroy());
          }, 5);
        },
      });
      await expect.poll(() => state.aborted, { timeout: 1000 }).toBe(true);
    });

    it("does not call the server when the client goes away during the upload", async () => {
      const { server, seen } = recording(scim());
      const errors: unknown[] = [];
      const app = express();
      app.use("/scim/v2", scimExpress(server));
      app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        errors.push(error);
        res.status(500).end();
      });
      const { origin } = await listen(app);
      await abortedRequest(origin, "/scim/v2/Users", { body: JSON.stringify(newUser()), after: (destroy) => setTimeout(destroy, 50) });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).toEqual([]);
      expect(errors).toEqual([]);
      const after = await fetch(`${origin}/scim/v2/ServiceProviderConfig`, { headers: headers() });
      expect(after.status).toBe(200);
    });
  });
});

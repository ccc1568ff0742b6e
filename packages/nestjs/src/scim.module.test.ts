import type { AddressInfo } from "node:net";
import { Controller, Get, Inject, Module, type CanActivate, type ModuleMetadata, type NestApplicationOptions } from "@nestjs/common";
import { APP_GUARD, NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import { Test } from "@nestjs/testing";
import { bearerAuth, memoryStore, type ScimRequest, type ScimServer } from "scim-core";
import { chunkedPostThenGet, declaredOversizePost, endlessChunkedPost, rawConnection, runHttpConformance } from "scim-core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { ScimModule, SCIM_OPTIONS, SCIM_SERVER, type ScimModuleOptions } from "./index.js";

const token = "nest-t1-0123456789abcdef";
const token2 = "nest-t2-0123456789abcdef";
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const auth = () => bearerAuth({ [token]: { tenant: "t1" }, [token2]: { tenant: "t2" } });

interface Started {
  app: NestExpressApplication;
  origin: string;
}

/** Starts a Nest app over `imports` on a random port. */
async function start(imports: ModuleMetadata["imports"], setup?: (app: NestExpressApplication) => void, options: NestApplicationOptions = {}): Promise<Started> {
  @Module({ imports })
  class AppModule {}
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { logger: false, ...options });
  setup?.(app);
  await app.listen(0, "127.0.0.1");
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, origin: `http://127.0.0.1:${port}` };
}

const started: Started[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.app.close();
});
async function track(s: Promise<Started>): Promise<Started> {
  const value = await s;
  started.push(value);
  return value;
}



const headers = (extra: Record<string, string> = {}) => ({ Authorization: `Bearer ${token}`, "Content-Type": "application/scim+json", ...extra });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (r: Response): Promise<any> => r.json();
const newUser = () => ({ schemas: [USER], userName: `u.${Math.random().toString(36).slice(2)}@example.com` });

// The conformance suite over real HTTP: forRoot at the default path...
runHttpConformance({
  name: "scim-nestjs (forRoot)",
  target: async () => {
    const { app, origin } = await start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })]);
    return { fetch, baseUrl: `${origin}/scim/v2`, token, otherTenantToken: token2, close: () => app.close() };
  },
});

// ...and forRootAsync with an injected configuration, a global prefix and another path.
const CONFIG = Symbol("CONFIG");
@Module({ providers: [{ provide: CONFIG, useValue: { tokens: { [token]: { tenant: "t1" }, [token2]: { tenant: "t2" } }, path: "/directory/scim/" } }], exports: [CONFIG] })
class ConfigModule {}
const asyncScim = (store = memoryStore()) =>
  ScimModule.forRootAsync({
    imports: [ConfigModule],
    inject: [CONFIG],
    useFactory: async (config: { tokens: Record<string, { tenant: string }>; path: string }): Promise<ScimModuleOptions> => ({ store, authenticate: bearerAuth(config.tokens), path: config.path }),
  });

runHttpConformance({
  name: "scim-nestjs (forRootAsync, global prefix)",
  target: async () => {
    const { app, origin } = await start([asyncScim()], (a) => a.setGlobalPrefix("api"));
    return { fetch, baseUrl: `${origin}/api/directory/scim`, token, otherTenantToken: token2, close: () => app.close() };
  },
});

describe("ScimModule", () => {
  it("forRoot serves scim/v2 with Location from the request, and exports SCIM_SERVER and SCIM_OPTIONS", async () => {
    const { app, origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })]));
    const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
    expect(r.status).toBe(201);
    const body = await json(r);
    expect(r.headers.get("location")).toBe(`${origin}/scim/v2/Users/${body.id}`);
    expect(body.meta.location).toBe(`${origin}/scim/v2/Users/${body.id}`);
    expect(r.headers.get("content-type")).toMatch(/^application\/scim\+json/);
    expect(r.headers.get("etag")).toBe(body.meta.version);
    const server = app.get<ScimServer>(SCIM_SERVER);
    const viaHandle = await server.handle({ method: "GET", path: `/Users/${body.id}`, headers: { authorization: `Bearer ${token}` }, baseUrl: "https://x.example/scim" });
    expect(viaHandle.status).toBe(200);
    expect(app.get<ScimModuleOptions>(SCIM_OPTIONS).path).toBeUndefined();
    // Outside the SCIM root, Nest answers as usual.
    expect((await fetch(`${origin}/scim/v3/Users`, { headers: headers() })).status).toBe(404);
  });

  it("a declared length over the limit: 413 before the body arrives, and the connection closes instead of reading the rest", async () => {
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth(), maxBodyBytes: 4096 })], undefined, { bodyParser: false }));
    const answer = await declaredOversizePost(origin, "/scim/v2", `Bearer ${token}`);
    expect(answer.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.head).toMatch(/\r\nconnection: close/i);
    expect(answer.closed).toBe(true);
  });

  it("a malformed percent-escape in the path is a SCIM 400 invalidSyntax, as on the other adapters (not Nest's error)", async () => {
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })]));
    for (const path of ["/Users/%ZZ", "/Users/ab%E9", "/Groups/%"]) {
      const r = await fetch(`${origin}/scim/v2${path}`, { headers: headers() });
      expect(r.status, path).toBe(400);
      expect(r.headers.get("content-type"), path).toMatch(/application\/scim\+json/);
      expect(await json(r), path).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "400", scimType: "invalidSyntax" });
    }
    // Other routes of the application keep Nest's own handling.
    expect((await fetch(`${origin}/elsewhere/%ZZ`)).status).toBe(404);
  });

  it("forRootAsync uses the injected configuration (token, path)", async () => {
    const { app, origin } = await track(start([asyncScim()]));
    expect(app.get<ScimModuleOptions>(SCIM_OPTIONS).path).toBe("/directory/scim/");
    expect((await fetch(`${origin}/directory/scim/Users`, { headers: headers() })).status).toBe(200);
    const denied = await fetch(`${origin}/directory/scim/Users`, { headers: headers({ Authorization: "Bearer nope" }) });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toMatch(/bearer/i);
  });

  it("a global prefix is part of Location and meta.location; the unprefixed path is not served", async () => {
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })], (app) => app.setGlobalPrefix("api")));
    const r = await fetch(`${origin}/api/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
    expect(r.status).toBe(201);
    const body = await json(r);
    expect(r.headers.get("location")).toBe(`${origin}/api/scim/v2/Users/${body.id}`);
    expect(body.meta.location).toBe(`${origin}/api/scim/v2/Users/${body.id}`);
    const spc = await json((await fetch(`${origin}/api/scim/v2/ServiceProviderConfig`, { headers: headers() })));
    expect(spc.meta.location).toBe(`${origin}/api/scim/v2/ServiceProviderConfig`);
    expect((await fetch(`${origin}/scim/v2/Users`, { headers: headers() })).status).toBe(404);
  });

  it("behind a trusted proxy, Location uses X-Forwarded-Proto and X-Forwarded-Host", async () => {
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })], (app) => app.set("trust proxy", "loopback")));
    const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers({ "X-Forwarded-Proto": "https", "X-Forwarded-Host": "idp.example.com" }), body: JSON.stringify(newUser()) });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toMatch(/^https:\/\/idp\.example\.com\/scim\/v2\/Users\//);
  });

  it("a path with an Express parameter is part of the SCIM root", async () => {
    const seen: ScimRequest[] = [];
    const authenticate = (request: ScimRequest) => (seen.push(request), auth()(request));
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate, path: "scim/:tenant/v2" })]));
    const r = await fetch(`${origin}/scim/acme/v2/Users?count=1`, { headers: headers() });
    expect(r.status).toBe(200);
    expect(seen[0]).toMatchObject({ method: "GET", path: "/Users", query: "count=1", baseUrl: `${origin}/scim/acme/v2` });
  });

  it("reads application/scim+json itself and takes application/json as Nest parsed it, also with bodyParser off or rawBody on", async () => {
    for (const options of [{}, { bodyParser: false }, { rawBody: true }] satisfies NestApplicationOptions[]) {
      const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })], undefined, options));
      for (const type of ["application/scim+json", "application/json", "application/scim+json; charset=utf-8"]) {
        const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers({ "Content-Type": type }), body: JSON.stringify(newUser()) });
        expect(r.status, `${JSON.stringify(options)} ${type}: ${await r.clone().text()}`).toBe(201);
      }
      const proto = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: `{"schemas":["${USER}"],"userName":"p@example.com","__proto__":{"admin":true}}` });
      expect(proto.status, JSON.stringify(options)).toBe(400);
    }
  });

  it("a host middleware that set req.body = {} without reading the stream does not hide the SCIM body", async () => {
    const setup = (app: NestExpressApplication) => {
      app.use((req: { body?: unknown }, _res: unknown, next: () => void) => {
        req.body ??= {};
        next();
      });
    };
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })], setup));
    const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
    expect(r.status, await r.clone().text()).toBe(201);
    const patched = await fetch(`${origin}/scim/v2/Users/${(await json(r)).id}`, {
      method: "PATCH",
      headers: headers(),
      body: JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "title", value: "T" }] }),
    });
    expect((await json(patched)).title).toBe("T");
  });

  it("a chunked body over the limit is 413 from the core, and the connection stays usable", async () => {
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth(), maxBodyBytes: 2048, bulk: { maxPayloadSize: 2048 } })]));
    const chunk = new TextEncoder().encode(" ".repeat(1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 64) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: stream, duplex: "half" } as RequestInit);
    expect(r.status).toBe(413);
    expect((await json(r)).status).toBe("413");
    // The connection is still usable afterwards.
    const ok = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
    expect(ok.status).toBe(201);
  });

  it("a chunked body over the limit: 413, the rest is read and dropped, and the same connection serves the next request", async () => {
    for (const options of [{}, { bodyParser: false }] satisfies NestApplicationOptions[]) {
      const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })], undefined, options));
      // 2 MiB against the default 1 MiB, all sent before the 413 is read: nothing of it may be left unread.
      const { post: tooLarge, get } = await chunkedPostThenGet(origin, "/scim/v2", `Bearer ${token}`, 32);
      expect(tooLarge.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(tooLarge.head).toMatch(/\r\nconnection: keep-alive\r\n/i);
      expect(JSON.parse(tooLarge.body).status).toBe("413");
      expect(get.head).toMatch(/^HTTP\/1\.1 200 /);
      // The same with fetch's keep-alive client.
      const chunk = new Uint8Array(64 * 1024).fill(0x20);
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({ pull: (controller) => (sent++ < 32 ? controller.enqueue(chunk) : controller.close()) });
      const r = await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: stream, duplex: "half" } as RequestInit);
      expect(r.status).toBe(413);
      expect((await json(r)).status).toBe("413");
      expect((await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) })).status).toBe(201);
    }
  });

  it("an endless chunked body: 413, then the connection closes instead of reading forever", async () => {
    for (const options of [{}, { bodyParser: false }] satisfies NestApplicationOptions[]) {
      const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })], undefined, options));
      const { response, closed, sentBytes } = await endlessChunkedPost(origin, "/scim/v2", `Bearer ${token}`);
      expect(response?.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(response?.head).toMatch(/\r\nconnection: close\r\n/i);
      expect(closed).toBe(true);
      expect(sentBytes).toBeLessThan(16 * 1048576);
      expect((await fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) })).status).toBe(201);
    }
  });

  it("the request signal aborts when the client goes away", async () => {
    let signal: AbortSignal | undefined;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const authenticate = async (request: ScimRequest) => {
      signal = request.signal;
      await gate;
      return auth()(request);
    };
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate })]));
    const client = new AbortController();
    const pending = fetch(`${origin}/scim/v2/Users`, { headers: headers(), signal: client.signal }).catch((error: unknown) => error);
    await expect.poll(() => signal).toBeDefined();
    expect(signal!.aborted).toBe(false);
    client.abort();
    await expect.poll(() => signal!.aborted).toBe(true);
    release();
    await pending;
  });

  it("a client that drops its connection in the middle of its body: nothing logged, the app goes on", async () => {
    const logged: string[] = [];
    const logger = { log() {}, warn() {}, debug() {}, verbose() {}, fatal: (m: unknown) => void logged.push(String(m)), error: (m: unknown) => void logged.push(String(m)) };
    const { origin } = await track(start([ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })], undefined, { logger, bodyParser: false }));
    for (const framing of ["Content-Length: 5000", "Transfer-Encoding: chunked"]) {
      const connection = await rawConnection(origin);
      connection.write(`POST /scim/v2/Users HTTP/1.1\r\nHost: sp.example.com\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/scim+json\r\n${framing}\r\n\r\n`);
      connection.write(framing.startsWith("Content") ? '{"userName":' : '5\r\n{"use\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      connection.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(logged).toEqual([]);
    expect((await fetch(`${origin}/scim/v2/ServiceProviderConfig`, { headers: headers() })).status).toBe(200);
  });

  it("Test.createTestingModule: global guards and other controllers do not touch SCIM traffic", async () => {
    class DenyAll implements CanActivate {
      canActivate(): boolean {
        return false;
      }
    }
    @Controller("hello")
    class HelloController {
      constructor(@Inject(SCIM_OPTIONS) private readonly options: ScimModuleOptions) {}
      @Get()
      hello(): { bulk: boolean } {
        return { bulk: this.options.bulk?.enabled !== false };
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [ScimModule.forRoot({ store: memoryStore(), authenticate: auth() })],
      controllers: [HelloController],
      providers: [{ provide: APP_GUARD, useClass: DenyAll }],
    }).compile();
    const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
    await app.listen(0, "127.0.0.1");
    const { port } = app.getHttpServer().address() as AddressInfo;
    started.push({ app, origin: `http://127.0.0.1:${port}` });
    expect((await fetch(`http://127.0.0.1:${port}/hello`)).status).toBe(403);
    const r = await fetch(`http://127.0.0.1:${port}/scim/v2/Users`, { method: "POST", headers: headers(), body: JSON.stringify(newUser()) });
    expect(r.status).toBe(201);
  });

  it("a configuration mistake fails at start-up", async () => {
    await expect(start([ScimModule.forRoot({ store: memoryStore(), authenticate: "nope" as never })], undefined, { abortOnError: false })).rejects.toThrow(/authenticate/);
  });
});

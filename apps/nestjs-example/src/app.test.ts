import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { oversizedHeadRequest, runHttpConformance } from "scim-core/testing";
import type { SqlScimStore } from "scim-store-sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_STORE } from "./app.module.js";
import { createApp } from "./app.js";
import { openStore } from "./database.js";

const token = "example-acme-0123456789abcdef";
const otherTenantToken = "example-globex-0123456789abcdef";

/** A temporary folder for one SQLite file, removed by `remove()`. */
function tempFolder(): { file: string; remove: () => void } {
  const folder = mkdtempSync(join(tmpdir(), "nestjs-example-"));
  return { file: join(folder, "scim.db"), remove: () => rmSync(folder, { recursive: true, force: true }) };
}

runHttpConformance({
  name: "nestjs-example on SQLite",
  target: async () => {
    const temp = tempFolder();
    const { store } = await openStore(`sqlite:${temp.file}`);
    const app = await createApp({ token, otherTenantToken, store, subscribers: [store.outbox] });
    await app.listen(0, "127.0.0.1");
    const { port } = app.getHttpServer().address() as AddressInfo;
    const close = async () => {
      await app.close(); // closes the store too
      temp.remove();
    };
    return { fetch, baseUrl: `http://127.0.0.1:${port}/scim/v2`, token, otherTenantToken, close };
  },
});

describe("nestjs-example", () => {
  let app: Awaited<ReturnType<typeof createApp>>;
  let store: SqlScimStore;
  let origin: string;
  beforeAll(async () => {
    ({ store } = await openStore(":memory:"));
    app = await createApp({ token, store, subscribers: [store.outbox] });
    await app.listen(0, "127.0.0.1");
    origin = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  it("answers /healthz without a token", async () => {
    const r = await fetch(`${origin}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ok" });
  });

  it("serves SCIM at /scim/v2 behind the bearer token", async () => {
    expect((await fetch(`${origin}/scim/v2/Users`)).status).toBe(401);
    const r = await fetch(`${origin}/scim/v2/ServiceProviderConfig`, { headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/scim\+json/);
  });

  it("stores users in the SQL store with their events in the outbox; APP_STORE injects the store", async () => {
    const r = await fetch(`${origin}/scim/v2/Users`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/scim+json" },
      body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "ada@example.com" }),
    });
    expect(r.status).toBe(201);
    const { id } = (await r.json()) as { id: string };
    expect((await store.inspect("acme", "User", id))?.attributes.userName).toBe("ada@example.com");
    expect((await store.readEvents({ tenant: "acme" })).map((e) => [e.event.type, e.event.resourceId])).toEqual([["user.created", id]]);
    expect(app.get(APP_STORE)).toBe(store);
  });

  it("application/json bodies get SCIM answers too (Nest's body parsers are off): malformed, empty, large, wrong token", async () => {
    const post = (body: string, auth = token) =>
      fetch(`${origin}/scim/v2/Users`, { method: "POST", headers: { Authorization: `Bearer ${auth}`, "Content-Type": "application/json" }, body });
    const malformed = await post("{");
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "400", scimType: "invalidSyntax" });
    expect(((await (await post("")).json()) as { scimType?: string }).scimType).toBe("invalidSyntax");
    // An Okta-size body past Nest's 100 kB parser limit, within the server's 1 MB.
    const large = await post(JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "large@example.com", nickName: "x".repeat(200_000) }));
    expect(large.status).toBe(201);
    // The token is checked before the body is judged.
    expect((await post("{", "wrong")).status).toBe(401);
  });

  it("baseUrl (PUBLIC_URL) gives Location and meta.location behind a proxy or tunnel", async () => {
    const { store: other } = await openStore(":memory:");
    const proxied = await createApp({ token, store: other, baseUrl: "https://scim.example.com/scim/v2" });
    try {
      await proxied.listen(0, "127.0.0.1");
      const at = `http://127.0.0.1:${(proxied.getHttpServer().address() as AddressInfo).port}`;
      const r = await fetch(`${at}/scim/v2/Users`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/scim+json" }, body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "proxied@example.com" }) });
      expect(r.status).toBe(201);
      const user = (await r.json()) as { id: string; meta: { location: string } };
      expect([r.headers.get("location"), user.meta.location]).toEqual([`https://scim.example.com/scim/v2/Users/${user.id}`, `https://scim.example.com/scim/v2/Users/${user.id}`]);
    } finally {
      await proxied.close();
    }
  });

  it("needs a token", async () => {
    const saved = process.env.SCIM_TOKEN;
    delete process.env.SCIM_TOKEN;
    try {
      await expect(createApp({ store })).rejects.toThrow(/SCIM_TOKEN/);
    } finally {
      if (saved !== undefined) process.env.SCIM_TOKEN = saved;
    }
  });

  it("src/server.ts on SQLite prints the base URL, the database and a token that works, and closes on SIGTERM", async () => {
    const cwd = fileURLToPath(new URL("..", import.meta.url));
    const temp = tempFolder();
    const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
      cwd,
      env: { ...process.env, PORT: "0", SCIM_TOKEN: "", DATABASE_URL: `sqlite:${temp.file}` },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = once(child, "exit");
    try {
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (/Bearer token: \S+\n/.test(out)) resolve();
        });
        child.once("exit", (code) => reject(new Error(`server exited (${code}): ${out}`)));
      });
      expect(out).toContain(`Database: SQLite ${temp.file}`);
      const base = /SCIM base URL: (http:\/\/localhost:\d+\/scim\/v2)/.exec(out)![1]!.replace("localhost", "127.0.0.1");
      const printed = /Bearer token: (scim_[A-Za-z0-9_-]{43})\n/.exec(out)![1]!;
      expect((await fetch(`${base}/Users`, { headers: { Authorization: `Bearer ${printed}` } })).status).toBe(200);
      expect((await fetch(`${base}/Users`)).status).toBe(401);
      // A URL Node's parser refuses (over 16 KB) gets a SCIM Error, not Node's empty 431.
      const refused = await oversizedHeadRequest(base);
      expect(refused).toMatchObject({ status: 431, contentType: "application/scim+json", body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "431" } });
      expect(existsSync(temp.file)).toBe(true);
      child.kill("SIGTERM");
      const [code, signal] = await exited;
      // The app (and the store) closed, then a clean exit: code 0, not the re-raised signal.
      expect([code, signal]).toEqual([0, null]);
      expect(existsSync(`${temp.file}-wal`)).toBe(false); // the store was closed (SQLite folds the WAL back in)
    } finally {
      child.kill("SIGKILL");
      temp.remove();
    }
  }, 30_000);
});

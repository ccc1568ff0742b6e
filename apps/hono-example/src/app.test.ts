import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { nodeServerErrorHandler } from "scim-hono";
import { oversizedHeadRequest, runHttpConformance } from "scim-core/testing";
import { describe, expect, it } from "vitest";
import { createApp } from "./app.js";
import { openStore } from "./database.js";
import { createTestDatabase, POSTGRES_TEST_URL, runPostgresTests } from "./test-postgres.js";

const token = "example-token-0123456789abcdef";
const otherTenantToken = "example-other-0123456789abcdef";

/** Serves the app over the database at `url` on a free port, as src/server.ts does. */
async function listen(url: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const { store } = await openStore(url);
  const app = createApp({ token, otherTenantToken, store, subscribers: [store.outbox] });
  const server = createServer(getRequestListener(app.fetch, { errorHandler: nodeServerErrorHandler }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()));
      await store.close();
    },
  };
}

runHttpConformance({
  name: "hono-example on SQLite",
  target: async () => {
    const folder = mkdtempSync(join(tmpdir(), "hono-example-"));
    const { origin, close } = await listen(`sqlite:${join(folder, "scim.db")}`);
    const done = async () => {
      await close();
      rmSync(folder, { recursive: true, force: true });
    };
    return { fetch: (input, init) => fetch(input, init), baseUrl: `${origin}/scim/v2`, token, otherTenantToken, close: done };
  },
});

if (runPostgresTests) {
  runHttpConformance({
    name: "hono-example on PostgreSQL",
    target: async () => {
      const database = await createTestDatabase();
      const { origin, close } = await listen(database.url);
      const done = async () => {
        await close();
        await database.drop();
      };
      return { fetch: (input, init) => fetch(input, init), baseUrl: `${origin}/scim/v2`, token, otherTenantToken, close: done };
    },
  });
} else {
  describe.skip(`hono-example on PostgreSQL (unreachable at ${POSTGRES_TEST_URL})`, () => {
    it("runs the HTTP conformance suite", () => {});
  });
}

describe("hono-example", () => {
  it("baseUrl (PUBLIC_URL) gives Location and meta.location behind a proxy or tunnel", async () => {
    const { store } = await openStore(":memory:");
    try {
      const app = createApp({ token, store, baseUrl: "https://scim.example.com/scim/v2" });
      const r = await app.request("/scim/v2/Users", { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/scim+json" }, body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "proxied@example.com" }) });
      expect(r.status).toBe(201);
      const user = (await r.json()) as { id: string; meta: { location: string } };
      expect([r.headers.get("location"), user.meta.location]).toEqual([`https://scim.example.com/scim/v2/Users/${user.id}`, `https://scim.example.com/scim/v2/Users/${user.id}`]);
    } finally {
      await store.close();
    }
  });

  it("answers /healthz and needs a token", async () => {
    const { store } = await openStore(":memory:");
    try {
      const r = await createApp({ token, store }).request("/healthz");
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ status: "ok" });
      const saved = process.env.SCIM_TOKEN;
      delete process.env.SCIM_TOKEN;
      try {
        expect(() => createApp({ store })).toThrow(/SCIM_TOKEN/);
      } finally {
        if (saved !== undefined) process.env.SCIM_TOKEN = saved;
      }
    } finally {
      await store.close();
    }
  });

  it("src/server.ts on SQLite prints the base URL, the database and a random token that works, and keeps the data", async () => {
    const cwd = fileURLToPath(new URL("..", import.meta.url));
    const folder = mkdtempSync(join(tmpdir(), "hono-example-server-"));
    const file = join(folder, "scim.db");
    const start = async () => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
        cwd,
        env: { ...process.env, PORT: "0", SCIM_TOKEN: "", DATABASE_URL: `sqlite:${file}` },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (/Bearer token: \S+\n/.test(out)) resolve();
        });
        child.once("exit", (code) => reject(new Error(`server exited (${code}): ${out}`)));
      });
      return { child, out };
    };
    const stop = async (child: ReturnType<typeof spawn>) => {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = await exited;
      expect(code).toBe(0);
      expect(existsSync(`${file}-wal`)).toBe(false); // the store was closed (SQLite folds the WAL back in)
    };
    try {
      const first = await start();
      try {
        expect(first.out).toContain(`Database: SQLite ${file}`);
        const base = /SCIM base URL: (http:\/\/localhost:\d+\/scim\/v2)/.exec(first.out)![1]!;
        const printed = /Bearer token: (scim_[A-Za-z0-9_-]{43})\n/.exec(first.out)![1]!;
        const users = await fetch(`${base}/Users`, { headers: { authorization: `Bearer ${printed}` } });
        expect(users.status).toBe(200);
        expect((await fetch(`${base}/Users`)).status).toBe(401);
        // A URL Node's parser refuses (over 16 KB) gets a SCIM Error, not Node's empty 431.
        const refused = await oversizedHeadRequest(base.replace("localhost", "127.0.0.1"));
        expect(refused).toMatchObject({ status: 431, contentType: "application/scim+json", body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "431" } });
        const created = await fetch(`${base}/Users`, {
          method: "POST",
          headers: { authorization: `Bearer ${printed}`, "content-type": "application/scim+json" },
          body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "kept@example.com" }),
        });
        expect(created.status).toBe(201);
      } finally {
        await stop(first.child);
      }
      expect(existsSync(file)).toBe(true);
      // A new process (and a new random token) on the same file sees the user.
      const second = await start();
      try {
        const base = /SCIM base URL: (http:\/\/localhost:\d+\/scim\/v2)/.exec(second.out)![1]!;
        const printed = /Bearer token: (scim_[A-Za-z0-9_-]{43})\n/.exec(second.out)![1]!;
        const list = await fetch(`${base}/Users?filter=${encodeURIComponent('userName eq "kept@example.com"')}`, { headers: { authorization: `Bearer ${printed}` } });
        expect(((await list.json()) as { totalResults: number }).totalResults).toBe(1);
      } finally {
        await stop(second.child);
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 30_000);
});

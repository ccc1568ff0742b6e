import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { oversizedHeadRequest, runHttpConformance } from "scim-core/testing";
import { describe, expect, it } from "vitest";
import { createApp, generateToken } from "./app.js";
import { openStore } from "./database.js";

/** A temporary folder for one SQLite file, removed by `remove()`. */
function tempFolder(): { file: string; remove: () => void } {
  const folder = mkdtempSync(join(tmpdir(), "express-example-"));
  return { file: join(folder, "scim.db"), remove: () => rmSync(folder, { recursive: true, force: true }) };
}

/** Starts the app on a free port; returns its origin and a close function. */
async function start(app: ReturnType<typeof createApp>): Promise<{ origin: string; close: () => Promise<void> }> {
  const server: Server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// The whole HTTP conformance suite against the app as a user runs it, over real HTTP, on a SQLite file.
runHttpConformance({
  name: "express-example on SQLite",
  target: async () => {
    const token = generateToken();
    const otherTenantToken = generateToken();
    const temp = tempFolder();
    const { store } = await openStore(`sqlite:${temp.file}`);
    const { origin, close } = await start(createApp({ token, tokens: { [otherTenantToken]: { tenant: "other" } }, store, subscribers: [store.outbox] }));
    const done = async () => {
      await close();
      await store.close();
      temp.remove();
    };
    return { fetch, baseUrl: `${origin}/scim/v2`, token, otherTenantToken, close: done };
  },
});

describe("express-example", () => {
  it("serves /healthz without a token and SCIM only with one, and stores users and their events in SQLite", async () => {
    const { store } = await openStore(":memory:");
    const app = createApp({ token: "example-token-0123456789", store, subscribers: [store.outbox] });
    expect(app.locals.scimToken).toBe("example-token-0123456789");
    const { origin, close } = await start(app);
    try {
      const health = await fetch(`${origin}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });
      expect((await fetch(`${origin}/scim/v2/Users`)).status).toBe(401);
      const created = await fetch(`${origin}/scim/v2/Users`, {
        method: "POST",
        headers: { Authorization: "Bearer example-token-0123456789", "Content-Type": "application/scim+json" },
        body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "ada@example.com" }),
      });
      expect(created.status).toBe(201);
      expect(created.headers.get("location")).toMatch(new RegExp(`^${origin}/scim/v2/Users/`));
      const stored = await store.query({ tenant: "default" }, "User", {});
      expect(JSON.stringify(stored)).toContain("ada@example.com");
      const events = await store.readEvents({ tenant: "default" });
      expect(events.map((e) => e.event.type)).toEqual(["user.created"]);
    } finally {
      await close();
      await store.close();
    }
  });

  it("generates scim_ tokens of 32 random bytes", () => {
    const token = generateToken();
    expect(token).toMatch(/^scim_[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(token);
  });

  it("pnpm start on SQLite prints the base URL, the database and the token, serves them, and closes on SIGTERM", async () => {
    const cwd = fileURLToPath(new URL("..", import.meta.url));
    const temp = tempFolder();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", SCIM_TOKEN: "printed-token-0123456789", DATABASE_URL: `sqlite:${temp.file}` };
    delete env.PUBLIC_URL;
    const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      let out = "";
      child.stdout.setEncoding("utf8");
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: string) => {
          out += chunk;
          if (out.includes("Bearer token:")) resolve();
        });
        child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
      });
      const baseUrl = /SCIM base URL: (http:\/\/localhost:\d+\/scim\/v2)/.exec(out)?.[1];
      expect(baseUrl, out).toBeDefined();
      // A token given in SCIM_TOKEN is never printed.
      expect(out).toContain("Bearer token: the one in SCIM_TOKEN");
      expect(out).not.toContain("printed-token-0123456789");
      expect(out).toContain(`Database: SQLite ${temp.file}`);
      const r = await fetch(`${baseUrl!.replace("localhost", "127.0.0.1")}/ServiceProviderConfig`, { headers: { Authorization: "Bearer printed-token-0123456789" } });
      expect(r.status).toBe(200);
      const users = await fetch(`${baseUrl!.replace("localhost", "127.0.0.1")}/Users`, { headers: { Authorization: "Bearer printed-token-0123456789" } });
      expect(users.status).toBe(200);
      // A URL Node's parser refuses (over 16 KB) gets a SCIM Error, not Node's empty 431.
      const refused = await oversizedHeadRequest(baseUrl!.replace("localhost", "127.0.0.1"));
      expect(refused).toMatchObject({ status: 431, contentType: "application/scim+json", body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "431" } });
      expect(existsSync(temp.file)).toBe(true);
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      expect((await exited)[0]).toBe(0);
      expect(existsSync(`${temp.file}-wal`)).toBe(false); // the store was closed (SQLite folds the WAL back in)
    } finally {
      child.kill("SIGKILL");
      temp.remove();
    }
  }, 20000);
});

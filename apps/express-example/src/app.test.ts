import { spawn } from "node:child_process";
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { memoryStore } from "scim-core";
import { runHttpConformance } from "scim-core/testing";
import { describe, expect, it } from "vitest";
import { createApp, generateToken } from "./app.js";

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

// The whole HTTP conformance suite against the app as a user runs it, over real HTTP.
runHttpConformance({
  name: "express-example",
  target: async () => {
    const token = generateToken();
    const otherTenantToken = generateToken();
    const { origin, close } = await start(createApp({ token, tokens: { [otherTenantToken]: { tenant: "other" } } }));
    return { fetch, baseUrl: `${origin}/scim/v2`, token, otherTenantToken, close };
  },
});

describe("express-example", () => {
  it("serves /healthz without a token and SCIM only with one", async () => {
    const store = memoryStore();
    const app = createApp({ token: "example-token-0123456789", store });
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
    } finally {
      await close();
    }
  });

  it("generates scim_ tokens of 32 random bytes", () => {
    const token = generateToken();
    expect(token).toMatch(/^scim_[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(token);
  });

  it("pnpm start prints the base URL and the token, and serves them", async () => {
    const cwd = fileURLToPath(new URL("..", import.meta.url));
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", SCIM_TOKEN: "printed-token-0123456789" };
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
      expect(out).toContain("Bearer token: printed-token-0123456789");
      const r = await fetch(`${baseUrl!.replace("localhost", "127.0.0.1")}/ServiceProviderConfig`, { headers: { Authorization: "Bearer printed-token-0123456789" } });
      expect(r.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
  }, 20000);
});

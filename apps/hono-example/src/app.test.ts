import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { runHttpConformance } from "scim-core/testing";
import { describe, expect, it } from "vitest";
import { createApp } from "./app.js";

const token = "example-token-0123456789abcdef";
const otherTenantToken = "example-other-0123456789abcdef";

/** Serves the app on a free port, as src/server.ts does. */
function listen(): Promise<{ origin: string; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: createApp({ token, otherTenantToken }).fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => {
      resolve({ origin: `http://127.0.0.1:${info.port}`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

runHttpConformance({
  name: "hono-example",
  target: async () => {
    const { origin, close } = await listen();
    return { fetch: (input, init) => fetch(input, init), baseUrl: `${origin}/scim/v2`, token, otherTenantToken, close };
  },
});

describe("hono-example", () => {
  it("answers /healthz and needs a token", async () => {
    const r = await createApp({ token }).request("/healthz");
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ok" });
    const saved = process.env.SCIM_TOKEN;
    delete process.env.SCIM_TOKEN;
    try {
      expect(() => createApp()).toThrow(/SCIM_TOKEN/);
    } finally {
      if (saved !== undefined) process.env.SCIM_TOKEN = saved;
    }
  });

  it("src/server.ts prints the base URL and a random token that works", async () => {
    const cwd = fileURLToPath(new URL("..", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], { cwd, env: { ...process.env, PORT: "0", SCIM_TOKEN: "" } });
    try {
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (/Bearer token: \S+\n/.test(out)) resolve();
        });
        child.once("exit", (code) => reject(new Error(`server exited (${code}): ${out}`)));
      });
      const base = /SCIM base URL: (http:\/\/localhost:\d+\/scim\/v2)/.exec(out)![1]!;
      const printed = /Bearer token: (scim_[A-Za-z0-9_-]{43})\n/.exec(out)![1]!;
      const users = await fetch(`${base}/Users`, { headers: { authorization: `Bearer ${printed}` } });
      expect(users.status).toBe(200);
      expect((await fetch(`${base}/Users`)).status).toBe(401);
    } finally {
      child.kill("SIGTERM");
    }
  }, 20_000);
});

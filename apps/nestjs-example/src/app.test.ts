import type { AddressInfo } from "node:net";
import { runHttpConformance } from "scim-core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.js";

const token = "example-acme-0123456789abcdef";
const otherTenantToken = "example-globex-0123456789abcdef";

runHttpConformance({
  name: "nestjs-example",
  target: async () => {
    const app = await createApp({ token, otherTenantToken });
    await app.listen(0, "127.0.0.1");
    const { port } = app.getHttpServer().address() as AddressInfo;
    return { fetch, baseUrl: `http://127.0.0.1:${port}/scim/v2`, token, otherTenantToken, close: () => app.close() };
  },
});

describe("nestjs-example", () => {
  let app: Awaited<ReturnType<typeof createApp>>;
  let origin: string;
  beforeAll(async () => {
    app = await createApp({ token });
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

  it("needs a token", async () => {
    const saved = process.env.SCIM_TOKEN;
    delete process.env.SCIM_TOKEN;
    try {
      await expect(createApp()).rejects.toThrow(/SCIM_TOKEN/);
    } finally {
      if (saved !== undefined) process.env.SCIM_TOKEN = saved;
    }
  });
});

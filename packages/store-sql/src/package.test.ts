/**
 * The published package: its exports map resolves for both module systems, passes publint, and
 * the CommonJS build opens a database (the drivers are loaded lazily with createRequire).
 * Runs against the built `dist/` (the test command builds first).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { publint } from "publint";
import { describe, expect, it } from "vitest";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));

describe("scim-store-sql package", () => {
  it("passes publint in strict mode", async () => {
    const { messages } = await publint({ pkgDir, strict: true, pack: false });
    expect(messages.map((m) => `${m.type}: ${m.code} ${JSON.stringify(m.args)}`)).toEqual([]);
  });

  it("loads through require (CJS) and import (ESM) with the same API, and both open SQLite", async () => {
    const require = createRequire(import.meta.url);
    const cjs = require("scim-store-sql");
    const esm = await import("scim-store-sql");
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).filter((k) => k !== "default").sort());
    for (const mod of [cjs, esm]) {
      const store = await mod.createSqlStore({ database: mod.openSqlite({ filename: ":memory:" }) });
      const created = await store.create({ tenant: "t" }, "User", { attributes: { userName: "a" }, uniqueKeys: [{ attribute: "userName", value: "a" }] });
      expect((await store.get({ tenant: "t" }, "User", created.id))?.attributes).toEqual({ userName: "a" });
      await store.close();
    }
  });
});

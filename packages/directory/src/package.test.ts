/**
 * The published package: its exports map resolves for both module systems, passes publint, and
 * both builds start a directory sync on SQLite.
 * Runs against the built `dist/` (the test command builds first).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { publint } from "publint";
import { describe, expect, it } from "vitest";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));

describe("scim-directory package", () => {
  it("passes publint in strict mode", async () => {
    const { messages } = await publint({ pkgDir, strict: true, pack: false });
    expect(messages.map((m) => `${m.type}: ${m.code} ${JSON.stringify(m.args)}`)).toEqual([]);
  });

  it("loads through require (CJS) and import (ESM) with the same API, and both start on SQLite", async () => {
    const require = createRequire(import.meta.url);
    const cjs = require("scim-directory");
    const esm = await import("scim-directory");
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).filter((k) => k !== "default").sort());
    for (const mod of [cjs, esm]) {
      const { openSqlite } = await import("scim-store-sql");
      const sync = await mod.createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
      const directory = await sync.directories.create({ organizationId: "o", name: "d" });
      expect((await sync.tokens.create(directory.id)).token).toMatch(/^dsync_/);
      await sync.close();
    }
  });
});

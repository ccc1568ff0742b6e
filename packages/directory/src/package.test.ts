/**
 * The published package: its exports map resolves for both module systems, passes publint, and
 * both builds start a directory sync on SQLite.
 * Runs against the built `dist/` (the test command builds first).
 */
import { readFileSync } from "node:fs";
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

  it("exports the admin client alone as scim-directory/client: no import at run time, for browsers and edge runtimes", async () => {
    const require = createRequire(import.meta.url);
    const esm = await import("scim-directory/client");
    const cjs = require("scim-directory/client");
    expect(typeof esm.createDirectoryClient).toBe("function");
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).filter((k) => k !== "default").sort());
    // What the entry loads, followed through its relative chunks: no package and no node: module.
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(new URL(`../dist/${file}`, import.meta.url), "utf8");
      for (const [, spec] of text.matchAll(/(?:from|import)\s*["']([^"']+)["']/g)) {
        expect(spec, `${file} imports ${spec}`).toMatch(/^\.\//);
        visit(spec!.slice(2));
      }
    };
    visit("client.js");
    expect(seen.size).toBeGreaterThan(0);
  });
});

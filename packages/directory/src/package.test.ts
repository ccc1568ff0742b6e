/**
 * The published package: its exports map resolves for both module systems, passes publint, and
 * both builds start a directory sync on SQLite.
 * Runs against the built `dist/` (the test command builds first).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
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

  it("the client's types, every event's data type included, compile in a project without @types/node and without skipLibCheck (a browser app)", () => {
    const dir = mkdtempSync(join(tmpdir(), "client-types-"));
    try {
      const entry = join(dir, "app.ts");
      const client = fileURLToPath(new URL("../dist/client.js", import.meta.url));
      writeFileSync(entry, `import { createDirectoryClient, isDirectoryApiError, type DirectoryUserView, type DirectoryDeletedData, type DirectoryUpdatedData, type RolesChangedData, type UserLinkedData, type UserUnlinkedData } from ${JSON.stringify(client)};\nexport type EventData = DirectoryDeletedData | DirectoryUpdatedData | RolesChangedData | UserLinkedData | UserUnlinkedData;\nconst c = createDirectoryClient({ baseUrl: "https://sync.example.com", adminKey: "k" });\nexport const users: Promise<DirectoryUserView[]> = c.users.list("dir_1").then((p) => p.data);\nexport const check = isDirectoryApiError;\n`);
      const program = ts.createProgram([entry], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, types: [], lib: ["lib.es2022.d.ts", "lib.dom.d.ts"] });
      const problems = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

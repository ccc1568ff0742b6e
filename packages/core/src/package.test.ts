/**
 * The published package: its exports map resolves for both module systems and passes publint.
 * Runs against the built `dist/` (the test command builds first).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { publint } from "publint";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));

describe("scim-core package", () => {
  it("passes publint in strict mode", async () => {
    const { messages } = await publint({ pkgDir, strict: true, pack: false });
    expect(messages.map((m) => `${m.type}: ${m.code} ${JSON.stringify(m.args)}`)).toEqual([]);
  });

  it("loads through require (CJS) and import (ESM) with the same API", async () => {
    const require = createRequire(import.meta.url);
    const cjs = require("scim-core");
    const esm = await import("scim-core");
    expect(typeof cjs.parseFilter).toBe("function");
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).filter((k) => k !== "default").sort());
    // A ScimError from one module system is recognised by the other (brand, not instanceof).
    let caught: unknown;
    try {
      cjs.parseFilter("userName eq");
    } catch (e) {
      caught = e;
    }
    expect(esm.isScimError(caught)).toBe(true);
    expect(caught).not.toBeInstanceOf(esm.ScimError);
  });
});

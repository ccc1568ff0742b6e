import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: "node20",
  external: ["better-sqlite3", "pg", "kysely", "scim-core", "scim-store-sql", "scim-hono", "hono", "zod"],
});

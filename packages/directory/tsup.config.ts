import { defineConfig } from "tsup";

export default defineConfig({
  // `client`: the admin API client alone (no Node.js imports), for browsers and edge runtimes.
  entry: { index: "src/index.ts", client: "src/client.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: "node20",
  external: ["better-sqlite3", "pg", "kysely", "scim-core", "scim-store-sql", "scim-hono", "hono", "zod"],
});

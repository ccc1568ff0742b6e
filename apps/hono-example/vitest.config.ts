import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "hono-example",
    include: ["src/**/*.test.ts"],
    // The suites start real server processes and use SQLite files and a PostgreSQL schema.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "server",
    include: ["src/**/*.test.ts"],
    // The suites start real server processes on SQLite files and PostgreSQL.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

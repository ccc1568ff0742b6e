import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "scim-directory",
    include: ["src/**/*.test.ts"],
    // The SQL suites share one PostgreSQL database (each test uses its own tenant) and SQLite files.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "scim-hono", include: ["src/**/*.test.ts"] },
});

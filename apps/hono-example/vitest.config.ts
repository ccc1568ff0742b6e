import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "hono-example", include: ["src/**/*.test.ts"] },
});

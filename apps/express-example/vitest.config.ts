import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "express-example", include: ["src/**/*.test.ts"] },
});

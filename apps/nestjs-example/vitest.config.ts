import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "nestjs-example", include: ["src/**/*.test.ts"] },
});

import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "scim-nestjs", include: ["src/**/*.test.ts"] },
});

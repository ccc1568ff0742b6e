import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "scim-express", include: ["src/**/*.test.ts"] },
});

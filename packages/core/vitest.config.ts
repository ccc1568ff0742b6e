import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "scim-core", include: ["src/**/*.test.ts"], setupFiles: ["./vitest.setup.ts"] },
});

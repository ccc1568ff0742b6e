import { defineConfig } from "vitest/config";

// Under CI the JSON reporter also writes the totals that .ci/run prints as its last line.
const ci = process.env.CI === "true" || process.env.CI === "1";

export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*"],
    reporters: ci ? ["default", ["json", { outputFile: ".ci/vitest-results.json" }]] : ["default"],
  },
});

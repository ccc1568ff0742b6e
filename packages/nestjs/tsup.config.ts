import { defineConfig } from "tsup";

// ESM only: NestJS 12 ships as ES modules only, so a CommonJS build could not require it.
export default defineConfig({
  entry: { index: "src/index.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  external: ["@nestjs/common", "@nestjs/core", "@nestjs/platform-express", "reflect-metadata", "rxjs", "scim-core"],
});

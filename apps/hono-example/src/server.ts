/**
 * Serves the app on Node.js: `pnpm start` (PORT, default 3002; SCIM_TOKEN, default a new random
 * token printed at start).
 */
import { randomBytes } from "node:crypto";
import { serve } from "@hono/node-server";
import { createApp } from "./app.js";

const port = Number(process.env.PORT ?? 3002);
const token = process.env.SCIM_TOKEN || `scim_${randomBytes(32).toString("base64url")}`;

const server = serve({ fetch: createApp({ token }).fetch, port }, (info) => {
  console.log(`SCIM base URL: http://localhost:${info.port}/scim/v2`);
  console.log(`Bearer token: ${token}`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => server.close(() => process.exit(0)));
}

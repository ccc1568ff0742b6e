import { randomBytes } from "node:crypto";
import { createApp } from "./app.js";

const port = Number(process.env.PORT ?? 3003);
const token = process.env.SCIM_TOKEN ?? `scim_${randomBytes(32).toString("base64url")}`;

const app = await createApp({ token });
app.enableShutdownHooks();
await app.listen(port);

console.log(`SCIM base URL: http://localhost:${port}/scim/v2`);
console.log(`Bearer token: ${token}`);

/**
 * Starts the app: `pnpm start` (PORT, default 3003; SCIM_TOKEN, default a new random token printed
 * at start). Users, groups and their events are kept in `DATABASE_URL` (`postgres://…` for
 * PostgreSQL), by default the SQLite file `data/scim.db` in this app's folder.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createApp } from "./app.js";
import { openStore } from "./database.js";

const port = Number(process.env.PORT ?? 3003);
const token = process.env.SCIM_TOKEN || `scim_${randomBytes(32).toString("base64url")}`;
const { store, description } = await openStore(process.env.DATABASE_URL || undefined);

// store.outbox writes each event in the same transaction as its change.
const app = await createApp({ token, store, subscribers: [store.outbox] });
// On SIGINT/SIGTERM Nest closes the app, and AppModule's StoreLifecycle then closes the store.
app.enableShutdownHooks();
await app.listen(port);

console.log(`SCIM base URL: http://localhost:${(app.getHttpServer().address() as AddressInfo).port}/scim/v2`);
console.log(`Database: ${description}`);
console.log(`Bearer token: ${token}`);

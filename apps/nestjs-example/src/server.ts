/**
 * Starts the app: `pnpm start` (PORT, default 3003; SCIM_TOKEN, default a new random token printed
 * at start; PUBLIC_URL, the SCIM base URL behind a proxy or tunnel). Users, groups and their events are kept in `DATABASE_URL` (`postgres://…` for
 * PostgreSQL), by default the SQLite file `data/scim.db` in this app's folder.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { answerClientErrors, closeStalledResponses } from "scim-core";
import { createApp } from "./app.js";
import { openStore } from "./database.js";

const port = Number(process.env.PORT ?? 3003);
const given = process.env.SCIM_TOKEN;
const token = given || `scim_${randomBytes(32).toString("base64url")}`;
const { store, description } = await openStore(process.env.DATABASE_URL || undefined);

// store.outbox writes each event in the same transaction as its change.
const app = await createApp({ token, store, subscribers: [store.outbox] });
await app.listen(port);
// Requests Node's HTTP parser refuses (a URL over 16 KB, bytes that are not HTTP) get a SCIM Error.
answerClientErrors(app.getHttpServer());
closeStalledResponses(app.getHttpServer());

// On SIGINT/SIGTERM: stop taking connections, let requests finish (cut after 10 s, a stalled
// upload must not hold the process), close the app (AppModule's StoreLifecycle closes the store)
// and exit 0. Nest's enableShutdownHooks would re-raise the signal (exit code 143).
const http = app.getHttpServer() as import("node:http").Server;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    setTimeout(() => http.closeAllConnections(), 10_000).unref();
    http.closeIdleConnections();
    void app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

console.log(`SCIM base URL: ${process.env.PUBLIC_URL || `http://localhost:${(app.getHttpServer().address() as AddressInfo).port}/scim/v2`}`);
console.log(`Database: ${description}`);
// A token given in SCIM_TOKEN is never printed; a generated one is, once (the only way to learn it).
console.log(given ? "Bearer token: the one in SCIM_TOKEN" : `Bearer token: ${token}`);

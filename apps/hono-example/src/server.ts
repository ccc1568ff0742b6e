/**
 * Serves the app on Node.js: `pnpm start`. Users, groups and their events are kept in
 * `DATABASE_URL` (`postgres://…` for PostgreSQL), by default the SQLite file `data/scim.db` in
 * this app's folder. PORT (default 3002), SCIM_TOKEN (default a new random token, printed at
 * start) and PUBLIC_URL (the SCIM base URL behind a proxy or tunnel) change the rest.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { answerClientErrors, closeStalledResponses } from "scim-core";
import { nodeServerErrorHandler } from "scim-hono";
import { createApp } from "./app.js";
import { openStore } from "./database.js";

const port = Number(process.env.PORT ?? 3002);
const given = process.env.SCIM_TOKEN;
const token = given || `scim_${randomBytes(32).toString("base64url")}`;
const { store, description } = await openStore(process.env.DATABASE_URL || undefined);

// store.outbox writes each event in the same transaction as its change.
const app = createApp({ token, store, subscribers: [store.outbox] });

// @hono/node-server's listener with an error handler (its `serve` takes none): a request it
// cannot make a URL of (a Host header that is not a host) gets a SCIM Error, not an empty 400.
const http = createServer(getRequestListener(app.fetch, { errorHandler: nodeServerErrorHandler }));
http.listen(port, () => {
  const listening = (http.address() as import("node:net").AddressInfo).port;
  console.log(`SCIM base URL: ${process.env.PUBLIC_URL || `http://localhost:${listening}/scim/v2`}`);
  console.log(`Database: ${description}`);
  // A token given in SCIM_TOKEN is never printed; a generated one is, once (the only way to learn it).
  console.log(given ? "Bearer token: the one in SCIM_TOKEN" : `Bearer token: ${token}`);
});

// Requests Node's HTTP parser refuses (a URL over 16 KB, bytes that are not HTTP) get a SCIM Error.
answerClientErrors(http);
closeStalledResponses(http);

// Stop taking connections, let requests finish (cut after 10 s: a stalled upload must not hold
// the process), close the store, exit.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    setTimeout(() => http.closeAllConnections(), 10_000).unref();
    http.close(() => void store.close().finally(() => process.exit(0)));
    http.closeIdleConnections();
  });
}

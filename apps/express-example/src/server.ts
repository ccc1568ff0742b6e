/**
 * Starts the example: `pnpm start` (PORT, SCIM_TOKEN and PUBLIC_URL change it). Prints the SCIM
 * base URL and the bearer token to paste into Okta or Entra (through a tunnel), or to try with
 * curl. Users, groups and their events are kept in `DATABASE_URL` (`postgres://…` for
 * PostgreSQL), by default the SQLite file `data/scim.db` in this app's folder.
 */
import type { AddressInfo } from "node:net";
import { answerClientErrors, closeStalledResponses } from "scim-core";
import { createApp, generateToken } from "./app.js";
import { openStore } from "./database.js";

const given = process.env.SCIM_TOKEN;
const token = given || generateToken();
const { store, description } = await openStore(process.env.DATABASE_URL || undefined);
const app = createApp({
  token,
  store,
  ...(process.env.PUBLIC_URL ? { baseUrl: process.env.PUBLIC_URL } : {}),
  subscribers: [
    // Writes each event to the outbox table in the same transaction as its change.
    store.outbox,
    (event) => console.log(`${event.occurredAt} ${event.type} ${event.resourceId}${event.member ? ` member ${event.member.value}` : ""}`),
  ],
});

const server = app.listen(Number(process.env.PORT ?? 3001), () => {
  const port = (server.address() as AddressInfo).port;
  const baseUrl = process.env.PUBLIC_URL || `http://localhost:${port}/scim/v2`;
  console.log(`SCIM base URL: ${baseUrl}`);
  console.log(`Database: ${description}`);
  // A token given in SCIM_TOKEN is never printed; a generated one is, once (the only way to learn it).
  console.log(given ? "Bearer token: the one in SCIM_TOKEN" : `Bearer token: ${token}`);
  console.log(`Try: curl -H "Authorization: Bearer <token>" ${baseUrl}/Users`);
});
// Requests Node's HTTP parser refuses (a URL over 16 KB, bytes that are not HTTP) get a SCIM Error.
answerClientErrors(server);
closeStalledResponses(server);

// Stop taking connections, let requests finish (cut after 10 s: a stalled upload must not hold
// the process), close the store, exit.
const stop = () => {
  setTimeout(() => server.closeAllConnections(), 10_000).unref();
  server.close(() => void store.close().finally(() => process.exit(0)));
  server.closeIdleConnections();
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);

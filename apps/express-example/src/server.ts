/**
 * Starts the example: `pnpm start` (PORT, SCIM_TOKEN and PUBLIC_URL change it). Prints the SCIM
 * base URL and the bearer token to paste into Okta or Entra (through a tunnel), or to try with
 * curl. Data lives in memory and is gone on exit.
 */
import type { AddressInfo } from "node:net";
import { createApp, generateToken } from "./app.js";

const token = process.env.SCIM_TOKEN || generateToken();
const app = createApp({
  token,
  ...(process.env.PUBLIC_URL ? { baseUrl: process.env.PUBLIC_URL } : {}),
  subscribers: [(event) => console.log(`${event.occurredAt} ${event.type} ${event.resourceId}${event.member ? ` member ${event.member.value}` : ""}`)],
});

const server = app.listen(Number(process.env.PORT ?? 3001), () => {
  const port = (server.address() as AddressInfo).port;
  const baseUrl = process.env.PUBLIC_URL || `http://localhost:${port}/scim/v2`;
  console.log(`SCIM base URL: ${baseUrl}`);
  console.log(`Bearer token: ${token}`);
  console.log(`Try: curl -H "Authorization: Bearer ${token}" ${baseUrl}/Users`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

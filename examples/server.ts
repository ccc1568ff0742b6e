/**
 * A SCIM 2.0 server in one file: scim-core over Node's http module and scim-store-sql. `pnpm
 * scim-server` (at the repository root) prints the SCIM base URL and a bearer token to paste into Okta or Entra (through a
 * tunnel), or to try with curl. Users and groups live in SQLite at ./data/scim.db (PostgreSQL
 * when DATABASE_URL=postgres://... is set); every change is logged and kept in the outbox table.
 *
 *   PORT=3000 SCIM_TOKEN=... DATABASE_URL=... pnpm scim-server
 *
 * The token is new on every start unless SCIM_TOKEN is set: set it to keep an IdP connected.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { bearerAuth, createScimServer, type ScimEventSubscriber } from "scim-core";
import { createSqlStore, openDatabase } from "scim-store-sql";

const port = Number(process.env.PORT ?? 3000);
const token = process.env.SCIM_TOKEN ?? `scim_${randomBytes(32).toString("base64url")}`;
const basePath = "/scim/v2";
const baseUrl = process.env.PUBLIC_URL ?? `http://localhost:${port}${basePath}`;

const databaseUrl = process.env.DATABASE_URL || "sqlite:data/scim.db";
const store = await createSqlStore({ database: openDatabase(databaseUrl) });
const log: ScimEventSubscriber = (event) => console.log(`${event.occurredAt} ${event.type} ${event.resourceId}${event.member ? ` member ${event.member.value}` : ""}`);

const scim = createScimServer({
  store,
  authenticate: bearerAuth({ [token]: { tenant: "default" } }),
  baseUrl,
  subscribers: [store.outbox, log],
  onError: (error) => console.error("unexpected error:", error),
});

const MAX_BODY = 1024 * 1024;

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (!url.pathname.startsWith(basePath)) {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY + 1) chunks.push(chunk);
  });
  req.on("end", async () => {
    const response = await scim.handle({
      method: req.method ?? "GET",
      path: url.pathname.slice(basePath.length) || "/",
      query: url.search,
      headers: req.headers,
      body: size > 0 ? Buffer.concat(chunks) : undefined,
    });
    res.writeHead(response.status, response.headers);
    res.end(response.body === undefined ? undefined : JSON.stringify(response.body));
  });
});

server.listen(port, () => {
  console.log(`Database:      ${databaseUrl.startsWith("sqlite:") ? databaseUrl : databaseUrl.replace(/\/\/[^@/]*@/, "//***@")}`);
  console.log(`SCIM base URL: ${baseUrl}`);
  console.log(`Bearer token:  ${token}`);
  console.log(`Try: curl -H "Authorization: Bearer ${token}" ${baseUrl}/Users`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => server.close(() => void store.close().then(() => process.exit(0))));
}

/**
 * A SCIM 2.0 server in one file: scim-core over Node's http module and the in-memory store.
 * `pnpm start` prints the SCIM base URL and a bearer token to paste into Okta or Entra
 * (through a tunnel), or to try with curl. Data lives in memory and is gone on exit.
 *
 *   PORT=3000 SCIM_TOKEN=... pnpm start
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { bearerAuth, createScimServer, memoryStore } from "scim-core";

const port = Number(process.env.PORT ?? 3000);
const token = process.env.SCIM_TOKEN ?? `scim_${randomBytes(32).toString("base64url")}`;
const basePath = "/scim/v2";
const baseUrl = process.env.PUBLIC_URL ?? `http://localhost:${port}${basePath}`;

const scim = createScimServer({
  store: memoryStore(),
  authenticate: bearerAuth({ [token]: { tenant: "default" } }),
  baseUrl,
  subscribers: [(event) => console.log(`${event.occurredAt} ${event.type} ${event.resourceId}${event.member ? ` member ${event.member.value}` : ""}`)],
  onError: (error) => console.error("unexpected error:", error),
});

const MAX_BODY = 1024 * 1024;

createServer((req, res) => {
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
}).listen(port, () => {
  console.log(`SCIM base URL: ${baseUrl}`);
  console.log(`Bearer token:  ${token}`);
  console.log(`Try: curl -H "Authorization: Bearer ${token}" ${baseUrl}/Users`);
});

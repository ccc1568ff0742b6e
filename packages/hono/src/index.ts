/**
 * scim-hono: serves a scim-core server (RFC 7644) from a Hono app. Translation only: a Hono
 * request becomes a plain `ScimRequest`, the `ScimResponse` becomes a Hono response.
 * @packageDocumentation
 */
import { Hono, type Context } from "hono";
import { basePath } from "hono/route";
import type { ContentfulStatusCode, StatusCode } from "hono/utils/http-status";
import type { ScimServer } from "scim-core";

/** Options of {@link scimHono}. */
export interface ScimHonoOptions {
  /**
   * Most request body bytes read: a larger body is not read further, and the server answers
   * 413. Keep it at least the server's limit.
   * @default server.maxBodyBytes (the larger of its `maxBodyBytes` and `bulk.maxPayloadSize`)
   */
  maxBodyBytes?: number;
}

/** The body as bytes (undefined if empty); stops reading once past `limit`, leaving the 413 to the server. */
async function readBody(c: Context, limit: number): Promise<Uint8Array | undefined> {
  const request = c.req.raw;
  // Too large by Content-Length: the server answers 413 from the header. Not even `request.body` is
  // touched, so that @hono/node-server can drain the connection and keep it alive.
  if (Number(request.headers.get("content-length")) > limit) return undefined;
  if (request.bodyUsed) return new Uint8Array(await c.req.arrayBuffer()); // read by a middleware: cached by Hono
  if (!request.body) return undefined;
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    chunks.push(r.value);
    size += r.value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      break;
    }
  }
  if (size === 0) return undefined;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The IncomingMessage headers that @hono/node-server puts in `c.env.incoming`, if any. */
function nodeHeaders(c: Context): Record<string, string | string[] | undefined> | undefined {
  const incoming = (c.env as { incoming?: { headers?: unknown } } | undefined)?.incoming;
  const headers = incoming?.headers;
  return typeof headers === "object" && headers !== null ? (headers as Record<string, string | string[] | undefined>) : undefined;
}

/**
 * A Hono sub-app serving every SCIM endpoint of `server` (RFC 7644 §3) under any mount path:
 * `app.route("/scim/v2", scimHono(scim))`. The mount path (parameters resolved) and the request's
 * origin give `ScimRequest.baseUrl`, so `Location` and `meta.location` are right unless
 * `config.baseUrl` overrides them (set it behind proxies that rewrite the host).
 */
export function scimHono(server: ScimServer, options: ScimHonoOptions = {}): Hono {
  const limit = options.maxBodyBytes ?? server.maxBodyBytes ?? 1048576;
  const app = new Hono();
  app.all("/*", async (c) => {
    const url = new URL(c.req.url);
    // The mount prefix has as many segments in the raw path as in Hono's decoded one (%2F stays encoded).
    const depth = basePath(c).split("/").filter(Boolean).length;
    const segments = url.pathname.split("/");
    const prefix = segments.slice(0, depth + 1).join("/");
    const method = c.req.method;
    const raw = c.req.raw;
    const response = await server.handle({
      method,
      path: `/${segments.slice(depth + 1).join("/")}`,
      query: url.search,
      // On @hono/node-server the Node request is at hand: its headers cost nothing to pass on.
      headers: nodeHeaders(c) ?? Object.fromEntries(raw.headers),
      body: method === "GET" || method === "HEAD" ? undefined : await readBody(c, limit),
      baseUrl: `${url.origin}${prefix}`,
      // Lazy: on @hono/node-server, reading `signal` builds the full web Request, which GETs never need.
      get signal() {
        return raw.signal;
      },
    });
    if (response.body === undefined) return c.body(null, response.status as StatusCode, response.headers);
    return c.body(JSON.stringify(response.body), response.status as ContentfulStatusCode, response.headers);
  });
  return app;
}

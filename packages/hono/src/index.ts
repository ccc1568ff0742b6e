/**
 * scim-hono: serves a scim-core server (RFC 7644) from a Hono app. Translation only: a Hono
 * request becomes a plain `ScimRequest`, the `ScimResponse` becomes a Hono response.
 * @packageDocumentation
 */
import { Hono, type Context } from "hono";
import { basePath, matchedRoutes } from "hono/route";
import type { ContentfulStatusCode, StatusCode } from "hono/utils/http-status";
import { adapterRequest, hasDuplicateHost, invalidHost, nodeRequestHeaders, SCIM_CONTENT_TYPE, ScimConfigError, ScimError, utf8Length, type ScimServer } from "scim-core";

/** Answers longer than this (in UTF-16 units) carry their `Content-Length` from the adapter. */
const LARGE_TEXT = 64 * 1024;
const utf8 = new TextEncoder();

/** Options of {@link scimHono}. */
export interface ScimHonoOptions {
  /**
   * Most request body bytes read: a larger body is not read further, and the server answers
   * 413 (a chunked one, whose rest is left unread, with `Connection: close`: RFC 9112 §9.6).
   * Keep it at least the server's limit.
   * @default server.maxBodyBytes (the larger of its `maxBodyBytes` and `bulk.maxPayloadSize`)
   */
  maxBodyBytes?: number;
}

/**
 * The body as bytes (undefined if empty), read from the web stream: stops reading once past
 * `limit`, leaving the 413 to the server. `unread` says reading stopped before the body's end.
 */
async function readBody(c: Context, limit: number): Promise<{ body: Uint8Array | undefined; unread: boolean }> {
  const request = c.req.raw;
  // Too large by Content-Length: the server answers 413 from the header, and the body is not read:
  // the connection closes after the answer, and says so. (Left to @hono/node-server, which drains
  // an unread body for 500 ms only, a slow upload was cut off after a 413 that said keep-alive.)
  if (Number(request.headers.get("content-length")) > limit) return { body: undefined, unread: true };
  if (request.bodyUsed) return { body: new Uint8Array(await c.req.arrayBuffer()), unread: false }; // read by a middleware: cached by Hono
  if (!request.body) return { body: undefined, unread: false };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    chunks.push(r.value);
    size += r.value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return { body: concat(chunks), unread: true };
    }
  }
  return { body: size === 0 ? undefined : concat(chunks), unread: false };
}

/** Origin, raw path and query of an absolute URL, without a URL object (a hot path). */
function splitUrl(href: string): { origin: string; pathname: string; search: string } {
  const scheme = href.indexOf("://");
  let start = href.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  if (start < 0) start = href.length;
  const q = href.indexOf("?", start);
  const end = q < 0 ? href.length : q;
  return { origin: href.slice(0, start), pathname: href.slice(start, end) || "/", search: q < 0 ? "" : href.slice(q) };
}

/** A `.` or `..` path segment, percent-encoded or not (RFC 3986 §3.3, §5.2.4). */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/** Whether a request target's path (not its query) has a dot segment. */
function hasDotSegment(target: string): boolean {
  const q = target.indexOf("?");
  return DOT_SEGMENT.test(q < 0 ? target : target.slice(0, q));
}

/** The parts of Node's IncomingMessage used here. */
interface NodeIncoming {
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders?: readonly string[];
  destroyed?: boolean;
  httpVersionMajor?: number;
  readableEnded: boolean;
  on(event: string, listener: (...args: never[]) => void): unknown;
  listenerCount(event: string): number;
}

/** The Node request that @hono/node-server puts in `c.env.incoming`, if any. */
function nodeIncoming(c: Context): NodeIncoming | undefined {
  const incoming = (c.env as { incoming?: NodeIncoming } | undefined)?.incoming;
  return typeof incoming?.headers === "object" && typeof incoming.on === "function" ? incoming : undefined;
}

/**
 * Reads the body straight from Node's stream (no web Request built): keeps at most `limit + 1`
 * bytes, then drains the rest so the connection stays usable, and the server answers 413.
 */
function readNodeBody(incoming: NodeIncoming, limit: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    incoming.on("data", (chunk: Uint8Array) => {
      if (size <= limit) chunks.push(chunk);
      size += chunk.byteLength;
    });
    incoming.on("end", () => resolve(size === 0 ? undefined : concat(chunks)));
    incoming.on("error", reject);
  });
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!; // a small body arrives in one chunk: no copy
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * The index of the slash that starts segment `n` of a path (`/a/b/c`: segment 1 starts at 0,
 * segment 2 at 2), or -1 when the path has fewer segments. Empty segments count, as in
 * `path.split("/")`.
 */
function slashBefore(path: string, n: number): number {
  let at = -1;
  for (let k = 0; k < n; k++) {
    at = path.indexOf("/", at + 1);
    if (at < 0) return -1;
  }
  return at;
}

/** Segments of a mount path without parameters, by path (a handful of mount points per app). */
const staticDepths = new Map<string, number>();

/**
 * How many segments the mount path of the matched route has in the request's path. A mount path
 * without parameters is counted once; one with parameters is resolved per request by Hono.
 */
function mountDepth(c: Context, route: MatchedRoute | undefined, ownHono: boolean): number {
  const mount = route?.basePath;
  if (mount !== undefined) {
    let depth = staticDepths.get(mount);
    if (depth === undefined && !/[:*]/.test(mount)) {
      depth = mount.split("/").filter(Boolean).length;
      if (staticDepths.size < 1000) staticDepths.set(mount, depth);
    }
    if (depth !== undefined) return depth;
  }
  // The mount prefix has as many segments in the raw path as in Hono's decoded one (%2F stays encoded).
  if (ownHono) return basePath(c).split("/").filter(Boolean).length;
  // Routed by another copy of hono (see matchedRoute): a parameter stands for one segment (`/orgs/:org/scim`).
  return (mount ?? "").split("/").filter(Boolean).length;
}

/** The part of a route Hono matched that is read here. */
interface MatchedRoute {
  basePath: string;
}

/**
 * The route Hono matched for this handler, whether it is the only one the request matched, and
 * whether this package's copy of hono routed the request. `hono/route`'s helpers read a symbol that each copy of hono has its own of: an app on
 * another copy (a `file:` or linked dependency, two versions side by side) routes requests they
 * cannot read (every request was a 500). Such a request's own `matchedRoutes` getter (deprecated,
 * but in every hono 4) answers instead.
 */
function matchedRoute(c: Context): { route: MatchedRoute | undefined; ownHono: boolean; only: boolean } {
  let routes: readonly MatchedRoute[];
  let ownHono = true;
  try {
    routes = matchedRoutes(c);
  } catch {
    routes = (c.req as unknown as { matchedRoutes: readonly MatchedRoute[] }).matchedRoutes;
    ownHono = false;
  }
  return { route: routes[c.req.routeIndex], ownHono, only: routes.length === 1 };
}

/** A SCIM error (RFC 7644 §3.12) as a web Response, with `headers` besides its Content-Type and Content-Length. */
function errorAnswer(error: ScimError, headers: Record<string, string> = {}): Response {
  const text = JSON.stringify(error.toJSON());
  return new Response(text, { status: error.status, headers: { "Content-Type": SCIM_CONTENT_TYPE, "Content-Length": String(utf8Length(text)), ...headers } });
}

/**
 * The `errorHandler` option of `@hono/node-server`'s `getRequestListener` (`serve` takes none): a request
 * it cannot turn into a `Request` (a `Host` header that is not a host, a path that is not a URL)
 * gets a SCIM error, 400 (RFC 7644 §3.12), where it would otherwise get an empty 400; an error
 * thrown out of the app itself gets a 500 SCIM error that names nothing of it (no message, no
 * stack). `http.createServer(getRequestListener(app.fetch, { errorHandler: nodeServerErrorHandler }))`.
 */
export function nodeServerErrorHandler(error: unknown): Response {
  const refused = error instanceof Error && error.name === "RequestError" ? invalidHost() : new ScimError(500, undefined, "internal server error");
  return errorAnswer(refused, { Connection: "close" });
}

/**
 * A Hono sub-app serving every SCIM endpoint of `server` (RFC 7644 §3) under any mount path:
 * `app.route("/scim/v2", scimHono(scim))`. The mount path (parameters resolved) and the request's
 * origin give `ScimRequest.baseUrl`, so `Location` and `meta.location` are right unless
 * `config.baseUrl` overrides them (set it behind proxies that rewrite the host).
 */
export function scimHono(server: ScimServer, options: ScimHonoOptions = {}): Hono {
  const limit = options.maxBodyBytes ?? server.maxBodyBytes ?? 1048576;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new ScimConfigError("scimHono: maxBodyBytes must be a positive integer");
  const app = new Hono();
  app.all("/*", async (c) => {
    // On @hono/node-server the URL was resolved (`/Groups/../Users/x` became `/Users/x`) before
    // the routes were matched: a request whose own path has dot segments is not one for a SCIM
    // resource, and is answered 404, as the other adapters and the core answer it.
    const incoming = nodeIncoming(c);
    if (incoming?.url !== undefined && hasDotSegment(incoming.url)) {
      const notFound = new ScimError(404, undefined, "Not found: a path with . or .. segments names no SCIM resource");
      return errorAnswer(notFound);
    }
    // Host sent twice (@hono/node-server took the first): a 400 (RFC 9112 §3.2), as a Host that is
    // not a host is (see nodeServerErrorHandler).
    if (incoming !== undefined && hasDuplicateHost(incoming.rawHeaders)) {
      return errorAnswer(invalidHost());
    }
    const url = splitUrl(c.req.url);
    const { route, ownHono, only } = matchedRoute(c);
    const depth = mountDepth(c, route, ownHono);
    // The mount prefix is the path up to the slash that starts segment `depth + 1`; the rest is the SCIM path.
    const cut = slashBefore(url.pathname, depth + 1);
    const prefix = cut < 0 ? url.pathname : url.pathname.slice(0, cut);
    const method = c.req.method;
    const raw = c.req.raw;
    // On @hono/node-server the Node request is at hand: its headers and body cost no web Request.
    let body: Uint8Array | undefined;
    let unread = false;
    if (method !== "GET" && method !== "HEAD") {
      try {
        // Straight from Node's stream only while nothing else reads it: once a host middleware has
        // touched `c.req.raw.body`, @hono/node-server reads the stream into a web stream (a 'data'
        // listener), which pauses it when full; the body is then read through that web stream.
        if (incoming && !incoming.readableEnded && incoming.listenerCount("data") === 0 && Number(incoming.headers["content-length"]) <= limit) body = await readNodeBody(incoming, limit);
        else ({ body, unread } = await readBody(c, limit));
      } catch (error) {
        // The client went away in the middle of its body: no one to answer, nothing to log.
        if (incoming?.destroyed === true || raw.signal.aborted) return new Response(null, { status: 400, headers: { Connection: "close" } });
        throw error;
      }
    }
    const response = await server.handle(
      adapterRequest(
        {
          method,
          path: cut < 0 ? "/" : url.pathname.slice(cut),
          query: url.search,
          headers: incoming !== undefined ? nodeRequestHeaders(incoming) : Object.fromEntries(raw.headers),
          body,
          baseUrl: `${url.origin}${prefix}`,
          maxBodyBytes: limit,
        },
        // Lazy: on @hono/node-server, reading `signal` builds the full web Request, which GETs never need.
        () => raw.signal,
      ),
    );
    const json = response.body === undefined ? null : JSON.stringify(response.body);
    // Reading stopped before the body's end (its length undeclared, or declared wrongly): the rest is
    // still on the wire, so HTTP/1.1 must close the connection, and says so (RFC 9112 §9.6), else the
    // client's next request on it fails. HTTP/2 ends only the stream and forbids the header (RFC 9113 §8.2.2).
    let headers = unread && (incoming?.httpVersionMajor ?? 1) < 2 ? { ...response.headers, Connection: "close" } : response.headers;
    // A large answer says its length up front, so that middleware can tell it is large before it
    // is written (the directory-sync service makes answers of a megabyte and more take turns). It
    // goes as the bytes measured: encoded once, where a string would be measured, then encoded.
    let text: string | Uint8Array<ArrayBuffer> | null = json;
    if (json !== null && json.length > LARGE_TEXT) {
      text = utf8.encode(json);
      headers = { ...headers, "Content-Length": String(text.length) };
    }
    // When this handler is the only one the request matched, no middleware set headers with
    // c.header() nor reads the response: a plain Response with a string body and a plain header
    // object is what @hono/node-server writes fastest (no Headers object built and read back).
    if (only) return new Response(text, { status: response.status, headers });
    if (text === null) return c.body(null, response.status as StatusCode, headers);
    return c.body(text, response.status as ContentfulStatusCode, headers);
  });
  return app;
}

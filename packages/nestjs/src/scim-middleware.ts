/**
 * The translation between Express (under NestJS) and scim-core: an Express request becomes a
 * `ScimRequest`, the `ScimResponse` is written back as is (RFC 7644 §3.1). No SCIM logic here.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  adapterRequest,
  connectionSignal,
  errorResponse,
  hostParsedBody,
  invalidHost,
  nodeRequestHeaders,
  originForm,
  readNodeBody,
  refusesHost,
  requestScheme,
  type ScimServer,
  writeNodeResponse,
} from "scim-core";

/** The parts of Express's request the adapter reads (Express 5, as NestJS 12 runs it). */
interface ExpressRequest extends IncomingMessage {
  /** Full path and query as received. */
  originalUrl: string;
  /** Route parameters: the wildcard holds the (decoded) segments below the SCIM root. */
  params?: Record<string, unknown>;
  /** `http` or `https`, honouring Express's `trust proxy` setting. */
  protocol: string;
  /** The Host (or trusted X-Forwarded-Host) header. */
  host?: string;
  /** Set by a body parser that already read the stream (Nest's JSON parser for application/json). */
  body?: unknown;
  /** The raw bytes, when the app was created with `{ rawBody: true }`. */
  rawBody?: Uint8Array;
}

/**
 * Reads the body the host's parsers left unread (application/scim+json, or anything when the app
 * runs with `bodyParser: false`), keeping at most `limit + 1` bytes: a longer body reaches the core
 * truncated but still too long, so the core answers 413 (scim-core's `readNodeBody`: the rest is
 * dropped up to `limit` more bytes, then the connection closes after the answer). A declared length
 * over the limit is not read at all (the core answers 413 from Content-Length).
 */
function readBody(req: ExpressRequest, res: ServerResponse, limit: number): Promise<unknown> {
  if (req.rawBody instanceof Uint8Array) return Promise.resolve(req.rawBody);
  if (hostParsedBody(req)) return Promise.resolve(req.body);
  // The core reads no body on GET and HEAD: Node discards an unread one after the response.
  if (req.method === "GET" || req.method === "HEAD") return Promise.resolve(undefined);
  if (Number(req.headers["content-length"]) > limit) return Promise.resolve(undefined);
  return readNodeBody(req, res, limit);
}

/** What the body read gives when the client aborted its upload. */
const ABORTED = Symbol("aborted");

/** Name of the route wildcard after the SCIM root: ScimModule mounts on `${path}{/*scimPath}`. */
export const WILDCARD = "scimPath";

/**
 * An Express middleware serving `server` on a route ending in the `WILDCARD` parameter. What the
 * wildcard matched is the SCIM path; what precedes it in the request is the SCIM root as the
 * client sees it (global prefix, version, the module's path), so `meta.location` and `Location`
 * are right however the application is mounted. `limit` caps how much of an unparsed body is read.
 */
export function scimMiddleware(server: ScimServer, limit: number) {
  return (req: ExpressRequest, res: ServerResponse, next: (error?: unknown) => void): void => {
    const signal = connectionSignal(req, res);
    const target = originForm(req.originalUrl);
    const queryStart = target.indexOf("?");
    // The raw segments, not the decoded wildcard: "/Users/a%2Fb" stays two segments for the core.
    const segments = (queryStart === -1 ? target : target.slice(0, queryStart)).split("/");
    const tail = req.params?.[WILDCARD];
    const cut = segments.length - (Array.isArray(tail) ? tail.length : 0);
    const root = segments.slice(0, cut).join("/").replace(/\/+$/, "");
    readBody(req, res, limit)
      .catch((error: unknown) => {
        // The client went away in the middle of its body: no one to answer, nothing to log.
        if (req.destroyed || req.socket?.destroyed === true) return ABORTED;
        throw error;
      })
      .then((body) => {
        if (body === ABORTED) return undefined;
        const host = req.host ?? req.headers.host;
        if (refusesHost(host, req.rawHeaders)) return errorResponse(invalidHost());
        const request = adapterRequest(
          {
            method: req.method ?? "GET",
            path: `/${segments.slice(cut).join("/")}`,
            query: queryStart === -1 ? "" : target.slice(queryStart + 1),
            headers: nodeRequestHeaders(req),
            body,
            baseUrl: `${requestScheme(req.protocol, req.socket as { encrypted?: boolean })}://${host ?? "localhost"}${root}`,
            maxBodyBytes: limit,
          },
          signal,
        );
        return server.handle(request);
      })
      .then((response) => {
        if (response === undefined) return;
        // Written on the Node response, not `send`: no Nest serializer, and no Express ETag on
        // responses the core left without one.
        writeNodeResponse(res, response, req.complete);
      })
      .catch(next);
  };
}

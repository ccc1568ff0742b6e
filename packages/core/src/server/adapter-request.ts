/**
 * The request object adapters hand to `server.handle()` (RFC 7644 §3 over any framework), with an
 * abort signal made only when something reads it.
 */
import { ScimError } from "../errors/scim-error.js";
import type { ScimHeaders, ScimRequest } from "./types.js";

/** The fields of a {@link ScimRequest} an adapter fills, without `signal`. */
export type AdapterRequestInit = Omit<ScimRequest, "signal">;

/**
 * A request whose `signal` is a getter on the class, not on the object: every request has the
 * same shape, so the server's property reads stay fast. (An object literal with a `get signal()`
 * is created as a slow object; on Hono it cost a quarter of the throughput of a GET.)
 */
class LazySignalRequest implements ScimRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string | undefined;
  readonly headers: ScimHeaders | undefined;
  readonly body: unknown;
  readonly baseUrl: string | undefined;
  readonly maxBodyBytes: number | undefined;
  readonly #signal: () => AbortSignal | undefined;

  constructor(init: AdapterRequestInit, signal: () => AbortSignal | undefined) {
    this.method = init.method;
    this.path = init.path;
    this.query = init.query;
    this.headers = init.headers;
    this.body = init.body;
    this.baseUrl = init.baseUrl;
    this.maxBodyBytes = init.maxBodyBytes;
    this.#signal = signal;
  }

  get signal(): AbortSignal | undefined {
    return this.#signal();
  }
}

/**
 * For adapters: a {@link ScimRequest} from its fields and a function that makes the client
 * connection's abort signal, called only when `signal` is read (making one costs more than
 * serving a GET on some frameworks).
 */
export function adapterRequest(init: AdapterRequestInit, signal: () => AbortSignal | undefined): ScimRequest {
  return new LazySignalRequest(init, signal);
}

/** The parts of a Node.js `IncomingMessage` that {@link connectionSignal} reads. */
export interface ConnectionRequest {
  socket?: { destroyed: boolean } | null;
}

/** The parts of a Node.js `ServerResponse` that {@link connectionSignal} reads. */
export interface ConnectionResponse {
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  on(event: "close", listener: () => void): unknown;
}

/**
 * For adapters on Node.js HTTP (Express, NestJS): the client connection's abort signal, made when
 * first read (an AbortController costs more than the rest of the translation, and most requests
 * never look at it). It aborts when the connection closes before the response is finished, or at
 * once if it already has. Pass the result as {@link adapterRequest}'s `signal`.
 */
export function connectionSignal(req: ConnectionRequest, res: ConnectionResponse): () => AbortSignal {
  let controller: AbortController | undefined;
  return () => {
    if (controller === undefined) {
      const made = new AbortController();
      controller = made;
      if (!res.writableFinished && (res.destroyed || req.socket?.destroyed)) made.abort();
      else
        res.on("close", () => {
          if (!res.writableFinished) made.abort(); // the client went away before the answer
        });
    }
    return controller.signal;
  };
}

/**
 * `host [":" port]` (RFC 3986 §3.2.2, §3.2.3): an IP literal in brackets, or a reg-name of
 * unreserved characters, percent-encodings and sub-delims (an IPv4 address is one), then an
 * optional port.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::(\d{0,5}))?$/;

/**
 * For adapters: whether a Host header value (or the host a trusted proxy forwarded) may go into
 * `baseUrl`, and so into `Location` and `meta.location`: `host [":" port]`, the port at most
 * 65535. Anything else (`evil.example/x?y=`, `a@b`, a space, an empty value) is refused with
 * {@link invalidHost} (RFC 9112 §3.2: a server "MUST respond with a 400").
 */
export function isValidHost(host: string): boolean {
  const match = HOST.exec(host);
  return match !== null && (match[1] === undefined || Number(match[1]) <= 65535);
}

/**
 * For adapters on Node.js: whether the request carries the Host header more than once (Node
 * keeps the first); RFC 9112 §3.2 makes that a 400 too.
 */
export function hasDuplicateHost(rawHeaders: readonly string[] | undefined): boolean {
  if (rawHeaders === undefined) return false;
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== "host") continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

/**
 * For adapters on Node.js: whether a request is refused for its Host (RFC 9112 §3.2, answered with
 * {@link invalidHost}): the host it names (undefined when it sent none: HTTP/1.0) is not
 * `host[:port]` ({@link isValidHost}), or Host was sent twice ({@link hasDuplicateHost}).
 */
export function refusesHost(host: string | undefined, rawHeaders: readonly string[] | undefined): boolean {
  return (host !== undefined && !isValidHost(host)) || hasDuplicateHost(rawHeaders);
}

/** The scheme and authority of an absolute-form request target (`http://host`). */
const ABSOLUTE_PREFIX = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i;

/**
 * For adapters on Node.js: a request target in origin form. An absolute-form target
 * (`POST http://host/scim/v2/Users`, RFC 9112 §3.2.2) loses its scheme and authority (the Host
 * header names the server); a target that starts with `/` is returned as it is.
 */
export function originForm(target: string): string {
  return target.charCodeAt(0) === 47 ? target : target.replace(ABSOLUTE_PREFIX, "");
}

/**
 * For adapters on Node.js: the scheme of `baseUrl`. The framework's protocol (Express's
 * `req.protocol` follows a trusted proxy's `X-Forwarded-Proto`) when it is `http` or `https`,
 * else the connection's own: a forwarded `javascript` must not become the scheme of
 * `meta.location`.
 */
export function requestScheme(protocol: string | undefined, socket: { encrypted?: boolean } | null | undefined): "http" | "https" {
  if (protocol === "http" || protocol === "https") return protocol;
  return socket?.encrypted === true ? "https" : "http";
}

/** The 400 of a request whose Host header is not a host, or is sent twice (RFC 9112 §3.2). */
export function invalidHost(): ScimError {
  return new ScimError(400, undefined, "the request's URL or Host header is not valid");
}

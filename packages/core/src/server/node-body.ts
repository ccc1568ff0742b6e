/**
 * For adapters on Node.js HTTP (Express, NestJS): reading a request body with a size limit, so
 * that the server answers 413 (RFC 7644 §3.12, RFC 9110 §15.5.14) without buffering a large body
 * and without draining an endless one.
 */
import type { ScimResponse } from "./types.js";

/**
 * The parts of a Node.js `IncomingMessage` that {@link readNodeBody} uses (typed without Node's
 * own types, so that the package's types compile without `@types/node`: a `Buffer` is a
 * `Uint8Array`).
 */
export interface NodeBodyRequest {
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  off(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  off(event: "end" | "close", listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  readonly readableEnded: boolean;
  socket?: { end(): unknown; destroy(): unknown; destroySoon?: () => void } | null;
}

/**
 * How long a connection closed after its answer (a 413, a refused request head) still reads and
 * drops what the client sends before it goes (ms).
 */
export const LINGER_MS = 1000;

/** The parts of a Node.js `ServerResponse` that {@link readNodeBody} uses. */
export interface NodeBodyResponse {
  readonly writableFinished: boolean;
  once(event: "finish" | "close", listener: () => void): unknown;
}

/** Options of {@link readNodeBody}. */
export interface ReadNodeBodyOptions {
  /**
   * Bytes past the limit read and dropped so that the connection can serve the next request
   * (the client may send its whole body before it reads the 413). A body longer still gets its
   * 413, then the connection is closed: an endless chunked body holds nothing for long.
   * @default limit
   */
  drainBytes?: number;
}

/**
 * Whether a body parser of the host app already consumed the request's body, so that what it left
 * in `req.body` is the body (possibly empty): body-parser 1.x (Express 4, NestJS) marks `req._body`,
 * 2.x (Express 5) ends the stream. A `req.body` set by anything else (a middleware's `req.body ??=
 * {}`) is not a body: the stream is still unread.
 */
export function hostParsedBody(req: { _body?: unknown; readableEnded: boolean }): boolean {
  return req._body === true || req.readableEnded;
}

/**
 * The body's bytes (undefined when empty), keeping at most `limit + 1` of them: a longer body
 * resolves truncated but still over the limit, so that the server answers 413. The rest is read
 * and dropped up to `drainBytes`, then the promise resolves, with the request complete and the
 * connection usable; past that, it resolves with the request incomplete (`req.complete` false:
 * answer with `Connection: close`), reading stops and the connection is closed once the response
 * is sent. Rejects when the stream fails or the client closes the connection before the body ends.
 */
export function readNodeBody(req: NodeBodyRequest, res: NodeBodyResponse, limit: number, options: ReadNodeBodyOptions = {}): Promise<Uint8Array | undefined> {
  const drainBytes = options.drainBytes ?? limit;
  if (req.readableEnded) return Promise.resolve(undefined); // read before (by a body parser)
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let settled = false;
    let dropped = 0;
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      // The error listener stays: an upload that fails while it is drained is not an uncaught error.
    };
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) {
        stop();
        reject(error);
      } else resolve(size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const closeAfterResponse = () => {
      stop();
      req.pause();
      const socket = req.socket;
      if (socket == null) return;
      // After the answer, which says `Connection: close`: a FIN, and what the client still sends
      // read and dropped for a moment before the socket goes. Node's own close after such an answer
      // (`destroySoon`) destroys the socket with bytes unread, which sends a reset, and a reset can
      // reach the client before it reads the answer, which it then never sees.
      let closing = false;
      const close = () => {
        if (closing) return;
        closing = true;
        socket.end();
        req.resume();
        setTimeout(() => socket.destroy(), LINGER_MS).unref?.();
      };
      socket.destroySoon = close;
      if (res.writableFinished) close();
      else res.once("close", close);
    };
    const onData = (chunk: Uint8Array) => {
      if (size > limit) {
        // Over the limit: the rest is dropped up to `drainBytes`, and the answer waits for the body's
        // end, so that the request is complete (the connection reusable) when it is answered, or
        // not (the caller's cue to say `Connection: close`, RFC 9112 §9.6) when the rest goes on.
        dropped += chunk.length;
        if (dropped > drainBytes) {
          closeAfterResponse();
          settle();
        }
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    };
    const onEnd = () => {
      stop();
      settle();
    };
    const onClose = () => settle(new Error("the client closed the connection before the request body ended"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("close", onClose);
    req.on("error", (error: Error) => settle(error));
  });
}

/** The parts of a Node.js `ServerResponse` that {@link writeNodeResponse} uses. */
export interface NodeAnswerResponse {
  statusCode: number;
  setHeader(name: string, value: string | number): unknown;
  end(body?: Uint8Array): unknown;
}

const utf8 = new TextEncoder();

/**
 * Sends the server's answer on a Node.js response: status, headers, and the body as JSON bytes
 * with their `Content-Length`. Encoding the text once, here, spares Node a second pass over it to
 * count its bytes (`res.end(text)` measures, then encodes): a list page of 100 resources is about
 * 100 KB. When the request body was not all read (`requestComplete` false: its declared length was
 * over the limit, or more of it than the adapter drains), the connection closes after the answer,
 * whatever its status, and says so (RFC 9112 §9.6), rather than let Node read the rest to reuse it.
 */
export function writeNodeResponse(res: NodeAnswerResponse, response: ScimResponse, requestComplete: boolean): void {
  res.statusCode = response.status;
  for (const name in response.headers) res.setHeader(name, response.headers[name]!);
  if (!requestComplete) res.setHeader("Connection", "close");
  if (response.body === undefined) {
    res.end();
    return;
  }
  const bytes = utf8.encode(JSON.stringify(response.body));
  res.setHeader("Content-Length", bytes.length);
  res.end(bytes);
}

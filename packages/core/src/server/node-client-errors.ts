/**
 * For servers on Node.js HTTP (`node:http`, Express, NestJS, `@hono/node-server`): the requests
 * Node's own parser refuses never reach the application, and Node answers them with an empty body.
 * {@link answerClientErrors} gives them an RFC 7644 §3.12 Error body instead.
 */
import { ScimError } from "../errors/scim-error.js";
import { SCIM_CONTENT_TYPE } from "./http.js";
import { utf8Length } from "../store/page-bytes.js";
import { LINGER_MS } from "./node-body.js";

/** The parts of the socket of Node's `clientError` event that {@link answerClientErrors} uses. */
export interface ClientErrorSocket {
  readonly writable: boolean;
  end(data: string): unknown;
  destroy(): unknown;
}

/** The error of Node's `clientError` event: its `code`, and the bytes Node could not parse. */
export interface ClientError {
  code?: string;
  rawPacket?: Uint8Array;
}

/** A Node.js HTTP server (typed without Node's own types, as the package's other helpers are). */
export interface ClientErrorServer {
  on(event: "clientError", listener: (error: ClientError, socket: ClientErrorSocket) => void): unknown;
}

const REASONS: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };

/**
 * The Error a request Node's parser refused is answered with: a head (request line and headers)
 * over Node's limit, a very long filter in the URL for example, is a 431 (RFC 6585 §5); a request
 * that took too long to arrive a 408; anything else that cannot be parsed a 400 `invalidSyntax` (RFC 7644 §3.12).
 */
export function clientErrorFor(error: ClientError): ScimError {
  if (error.code === "HPE_HEADER_OVERFLOW") return new ScimError(431, undefined, "the request's URL and headers are larger than the server accepts");
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") return new ScimError(408, undefined, "the request did not arrive in time");
  return new ScimError(400, "invalidSyntax", "the request is not valid HTTP");
}

/**
 * Listens to `server`'s `clientError` event and answers each request Node's parser refuses with
 * {@link clientErrorFor}'s RFC 7644 §3.12 Error (`application/scim+json`), then closes the
 * connection: a FIN after the answer, and the socket destroyed a moment later ({@link LINGER_MS})
 * whether or not the client closed its side (Node's parser has let go of the connection, so none
 * of the server's timeouts would end it, and a client that never closes would hold its file
 * descriptor for good). A HEAD request gets the status and headers without the body (RFC 9110 §9.3.2). A
 * connection that is gone, or whose response has already started, is closed without an answer.
 *
 * ```ts
 * const server = app.listen(3000);
 * answerClientErrors(server);
 * ```
 */
export function answerClientErrors(server: ClientErrorServer): void {
  server.on("clientError", (error, socket) => {
    if (error.code === "ECONNRESET" || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const refused = clientErrorFor(error);
    const body = JSON.stringify(refused.toJSON());
    const head = error.rawPacket !== undefined && String.fromCharCode(...error.rawPacket.subarray(0, 5)) === "HEAD ";
    socket.end(
      `HTTP/1.1 ${refused.status} ${REASONS[refused.status]}\r\nContent-Type: ${SCIM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${utf8Length(body)}\r\nConnection: close\r\n\r\n${head ? "" : body}`,
    );
    const timer = setTimeout(() => socket.destroy(), LINGER_MS) as { unref?: () => unknown };
    timer.unref?.();
  });
}

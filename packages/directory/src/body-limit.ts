/**
 * The request body limit of the admin API: a body larger than the limit is refused (413) without
 * costing the client its keep-alive connection.
 */
import type { Context, Env, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/**
 * Middleware refusing request bodies larger than `maxBytes` with the answer `tooLarge` gives
 * (a 413, RFC 9110 §15.5.14), in the two ways a body can arrive:
 *
 * - With a `Content-Length` (what fetch, undici and curl send for a buffered body): the answer
 *   comes from the header and the body is not touched, not even `request.body`, as scim-hono does
 *   for the SCIM routes. @hono/node-server then reads and discards the body once the answer is
 *   sent, and the connection serves the client's next request.
 * - Without one (chunked transfer coding): the body is read up to the limit; past it, the rest is
 *   left unread, so the answer says `Connection: close` (RFC 9112 §9.6) and the client opens a new
 *   connection for its next request instead of reusing one that the server closes.
 *
 * A body within the limit reaches the next handlers as it came (buffered when it was chunked).
 */
export function limitBody<E extends Env>(maxBytes: number, tooLarge: (c: Context<E>) => Response | Promise<Response>): MiddlewareHandler<E> {
  const chunked = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      c.header("Connection", "close");
      return tooLarge(c as Context<E>);
    },
  });
  return async (c, next) => {
    const length = c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined) {
      return Number(length) > maxBytes ? tooLarge(c) : next();
    }
    return chunked(c as unknown as Context, next);
  };
}

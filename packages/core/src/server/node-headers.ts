/**
 * For adapters on Node.js HTTP (Express, NestJS, `@hono/node-server`): the request headers as the
 * core reads them.
 */

/** The parts of a Node.js `IncomingMessage` that {@link nodeRequestHeaders} uses. */
export interface NodeHeadersRequest {
  headers: Record<string, string | string[] | undefined>;
  /** Names and values in the order received, as Node keeps them. */
  rawHeaders?: readonly string[];
}

/**
 * The request's headers (Node's `req.headers`), except that an `Authorization` sent more than once
 * carries all its values joined by ", ", as a web `Headers` object gives them (RFC 9110 §5.3).
 * Node keeps only the first value of a repeated Authorization; code that reads the headers another
 * way (a Hono middleware reading `c.req.header()`) sees them joined. Both then agree: the joined
 * value is no bearer credential (RFC 6750 §2.1), so the request is not authenticated, rather than
 * authenticated with the first token while a guard looked at something else.
 */
export function nodeRequestHeaders(req: NodeHeadersRequest): Record<string, string | string[] | undefined> {
  const raw = req.rawHeaders;
  if (raw === undefined) return req.headers;
  let count = 0;
  let joined = "";
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === "authorization") {
      joined = count === 0 ? raw[i + 1]! : `${joined}, ${raw[i + 1]!}`;
      count++;
    }
  }
  return count > 1 ? { ...req.headers, authorization: joined } : req.headers;
}

/**
 * HTTP details of the SCIM server (RFC 7644 §3.1, §3.12, §3.14): headers, ETags, bodies, errors.
 */
import { badRequest, bearerChallenge, ScimError } from "../errors/scim-error.js";
import { parseJsonBody } from "../messages/json-body.js";
import type { ScimHeaders, ScimRequest, ScimResponse } from "./types.js";
import { utf8Length } from "../store/page-bytes.js";

/** The SCIM media type (RFC 7644 §3.1). */
export const SCIM_CONTENT_TYPE = "application/scim+json";

/** Reads a header case-insensitively; repeated headers are joined with ", ". */
export function header(headers: ScimHeaders | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name];
  let value = direct;
  if (value === undefined) {
    const lower = name.toLowerCase();
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === lower) {
        value = headers[key];
        break;
      }
    }
  }
  if (Array.isArray(value)) return value.join(", ");
  return value;
}

/** A weak ETag from a version counter (RFC 7644 §3.14). */
export function etagOf(version: number): string {
  return `W/"${version}"`;
}

/**
 * Whether an If-Match / If-None-Match header matches the current version. `*` matches any;
 * weak and strong forms compare alike (RFC 7232 weak comparison).
 */
export function etagMatches(headerValue: string, version: number): boolean {
  const want = String(version);
  for (const raw of headerValue.split(",")) {
    const tag = raw.trim();
    if (tag === "*") return true;
    const opaque = tag.replace(/^W\//i, "").replace(/^"|"$/g, "");
    if (opaque === want) return true;
  }
  return false;
}

/** A JSON response with the SCIM content type. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): ScimResponse {
  return { status, headers: { "Content-Type": SCIM_CONTENT_TYPE, ...headers }, body };
}

/** An empty response (204, 304). */
export function empty(status: number, headers: Record<string, string> = {}): ScimResponse {
  return { status, headers };
}

/** Renders a ScimError as its RFC 7644 §3.12 Error response (401 also gets WWW-Authenticate). */
export function errorResponse(error: ScimError): ScimResponse {
  const headers: Record<string, string> = {};
  if (error.status === 401) headers["WWW-Authenticate"] = bearerChallenge(error);
  if (error.retryAfterSeconds !== undefined) headers["Retry-After"] = String(Math.max(0, Math.ceil(error.retryAfterSeconds)));
  return json(error.status, error.toJSON(), headers);
}

/** 405 with the methods the path allows (RFC 7231 §6.5.5). */
export function methodNotAllowed(method: string, allow: readonly string[]): ScimResponse {
  const response = errorResponse(new ScimError(405, undefined, `${method.toUpperCase()} is not supported here`));
  // HEAD is served wherever GET is (RFC 9110 §9.3.2).
  response.headers.Allow = allow.flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m])).join(", ");
  return response;
}

const ACCEPTED_TYPES = new Set(["application/scim+json", "application/json"]);
/** Charsets whose bytes read as UTF-8 (US-ASCII is a subset of it). */
const UTF8_CHARSETS = new Set(["utf-8", "utf8", "us-ascii"]);

/** The list parameters of RFC 7644 §3.4.2 and RFC 9865: one value each. */
const SINGLE_PARAMETERS = new Set(["filter", "sortby", "sortorder", "startindex", "count", "attributes", "excludedattributes", "cursor"]);

/**
 * Reads and parses a request body (RFC 7644 §3.1): `application/scim+json`, `application/json`
 * or no Content-Type; larger than `maxBytes` is 413; malformed JSON is 400 `invalidSyntax`.
 */
export function readBody(request: ScimRequest, serverMaxBytes: number): unknown {
  const maxBytes = request.maxBodyBytes !== undefined && request.maxBodyBytes < serverMaxBytes ? request.maxBodyBytes : serverMaxBytes;
  const type = header(request.headers, "content-type");
  if (type !== undefined && type.trim() !== "") {
    const mediaType = type.split(";")[0]!.trim().toLowerCase();
    if (!ACCEPTED_TYPES.has(mediaType)) {
      throw new ScimError(415, undefined, `Content-Type must be ${SCIM_CONTENT_TYPE} or application/json`);
    }
  }
  const length = Number(header(request.headers, "content-length"));
  if (Number.isFinite(length) && length > maxBytes) throw tooLarge(maxBytes);
  const body = request.body;
  // JSON between systems is UTF-8 (RFC 8259 §8.1): bytes declared in another charset would be
  // read wrongly (é stored as U+FFFD), so they are refused. A body a host parser already decoded
  // (an object) was read in its charset.
  const charset = type !== undefined ? /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(type)?.[1]?.toLowerCase() : undefined;
  if (charset !== undefined && !UTF8_CHARSETS.has(charset) && (body instanceof Uint8Array || typeof body === "string")) {
    throw new ScimError(415, undefined, `the body must be UTF-8 (RFC 8259 §8.1), not ${charset.slice(0, 40)}`);
  }
  // Raw bytes or text with a content coding (gzip...) cannot be read as JSON: 415 (RFC 9110
  // §15.5.16), rather than a misleading 400. A body a host parser already decoded is an object.
  const coding = header(request.headers, "content-encoding")?.trim().toLowerCase();
  if (coding !== undefined && coding !== "" && coding !== "identity" && (body instanceof Uint8Array || typeof body === "string")) {
    throw new ScimError(415, undefined, `Content-Encoding '${coding}' is not supported: send the body uncompressed`);
  }
  // A transfer coding other than chunked (`gzip, chunked`): the adapter has the bytes still coded,
  // which are no JSON. RFC 9112 §6.1: 501, rather than a misleading 400. Only a body without a
  // Content-Length can have one (HTTP/1.1 forbids both): the IdPs' requests skip the lookup.
  const transfer = Number.isNaN(length) ? header(request.headers, "transfer-encoding") : undefined;
  if (transfer !== undefined && (body instanceof Uint8Array || typeof body === "string")) {
    const unknown = transfer.split(",").map((c) => c.trim().toLowerCase()).find((c) => c !== "" && c !== "chunked" && c !== "identity");
    if (unknown !== undefined) throw new ScimError(501, undefined, `Transfer-Encoding '${unknown.slice(0, 40)}' is not supported: send the body uncoded (chunked is fine)`);
  }
  if (body === undefined || body === null) throw badRequest("invalidSyntax", "the request needs a JSON body");
  if (typeof body === "string" && body.length > maxBytes && utf8Length(body) > maxBytes) throw tooLarge(maxBytes);
  if (body instanceof Uint8Array && body.byteLength > maxBytes) throw tooLarge(maxBytes);
  return parseJsonBody(body);
}

function tooLarge(maxBytes: number): ScimError {
  return new ScimError(413, undefined, `the request body is larger than ${maxBytes} bytes`);
}

/**
 * Whether a raw query holds parameter `name` (lower-cased) with percent-encoded bytes that are not
 * UTF-8 (a `%` not followed by two hex digits is a plain `%`, as URLSearchParams reads it).
 */
function notUtf8(query: string, name: string): boolean {
  for (const part of query.split("&")) {
    try {
      decodeURIComponent(part.replace(/%(?![0-9a-fA-F]{2})/g, "%25"));
    } catch {
      const [key] = new URLSearchParams(part).keys();
      if (key?.toLowerCase() === name) return true;
    }
  }
  return false;
}

/**
 * Query parameters with URL semantics (`+` is a space); names matched case-insensitively. A SCIM
 * list parameter given twice (`filter=a&filter=b`, as a proxy appending its own may send) is
 * ambiguous: 400 (`invalidFilter` for `filter`, else `invalidValue`) rather than the last one.
 * Percent-encoded bytes that are not UTF-8 (`%FF`) are a 400 too, as in the path, rather than
 * U+FFFD in the value.
 */
export function queryParams(query: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!query) return out;
  const raw = query.startsWith("?") ? query.slice(1) : query;
  const params = new URLSearchParams(raw);
  for (const [key, value] of params) {
    const name = key.toLowerCase();
    // URLSearchParams turns percent-encoded bytes that are not UTF-8 into U+FFFD: only then is the
    // raw text looked at (a U+FFFD the client encoded, %EF%BF%BD, is one). Other parameters are
    // the host's business.
    if (SINGLE_PARAMETERS.has(name) && value.includes("\uFFFD") && notUtf8(raw, name)) {
      throw badRequest(name === "filter" ? "invalidFilter" : "invalidValue", `the query parameter '${key}' is not percent-encoded UTF-8 (RFC 3986 §2.5)`);
    }
    if (out.has(name) && SINGLE_PARAMETERS.has(name)) throw badRequest(name === "filter" ? "invalidFilter" : "invalidValue", `the query parameter '${key}' is given more than once`);
    out.set(name, value);
  }
  return out;
}

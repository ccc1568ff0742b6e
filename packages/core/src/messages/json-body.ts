/**
 * Parsing a request body as JSON (RFC 7644 §3.1, §3.12): malformed JSON is a 400 `invalidSyntax`,
 * never an exception of another kind.
 */
import { badRequest } from "../errors/scim-error.js";

/**
 * Default nesting limit of a request body. The deepest SCIM message (a PATCH inside a BulkRequest)
 * nests about ten levels; the limit keeps every recursive step after parsing far from the stack limit.
 */
export const MAX_JSON_DEPTH = 64;

/** Options of {@link parseJsonBody}. */
export interface ParseJsonBodyOptions {
  /** Reject bodies whose arrays and objects nest deeper than this. @default 64 */
  maxDepth?: number;
}

/**
 * Stateless (no `stream` option), so one decoder serves every request; fatal: bytes that are not
 * UTF-8 are a 400, not stored as U+FFFD (RFC 8259 §8.1: JSON is UTF-8).
 */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Throws 400 `invalidSyntax` when `value` nests deeper than `maxDepth`. Iterative: no stack overflow. */
function checkDepth(value: unknown, maxDepth: number): void {
  if (typeof value !== "object" || value === null) return;
  const stack: Array<[object, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > maxDepth) throw badRequest("invalidSyntax", `the request body is nested more than ${maxDepth} levels deep`);
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
}

/**
 * Parses a JSON request body given as text or bytes, or passes through an already-parsed body
 * (from a host's body parser). Throws `ScimError` 400 `invalidSyntax` for bytes that are not
 * UTF-8, malformed JSON, or a body nested deeper than `maxDepth` (checked for already-parsed
 * bodies too).
 */
export function parseJsonBody(body: unknown, options: ParseJsonBodyOptions = {}): unknown {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  if (body instanceof Uint8Array) {
    try {
      body = utf8.decode(body);
    } catch {
      throw badRequest("invalidSyntax", "the request body is not valid UTF-8 (RFC 8259 §8.1)");
    }
  }
  if (typeof body !== "string") {
    checkDepth(body, maxDepth);
    return body;
  }
  if (body.trim() === "") throw badRequest("invalidSyntax", "the request body is empty");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message.replace(/\s+in JSON at position \d+.*$/, "") : "too deeply nested";
    throw badRequest("invalidSyntax", `the request body is not valid JSON (${reason})`);
  }
  checkDepth(parsed, maxDepth);
  return parsed;
}

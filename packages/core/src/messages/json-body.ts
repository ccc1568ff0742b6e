/**
 * Parsing a request body as JSON (RFC 7644 §3.1, §3.12): malformed JSON is a 400 `invalidSyntax`,
 * never an exception of another kind.
 */
import { badRequest } from "../errors/scim-error.js";

/**
 * Parses a JSON request body given as text or bytes, or passes through an already-parsed body
 * (from a host's body parser). Throws `ScimError` 400 `invalidSyntax` for malformed JSON or a
 * body nested too deeply for the parser.
 */
export function parseJsonBody(body: unknown): unknown {
  if (body instanceof Uint8Array) body = new TextDecoder("utf-8", { fatal: false }).decode(body);
  if (typeof body !== "string") return body;
  if (body.trim() === "") throw badRequest("invalidSyntax", "the request body is empty");
  try {
    return JSON.parse(body);
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message.replace(/\s+in JSON at position \d+.*$/, "") : "too deeply nested";
    throw badRequest("invalidSyntax", `the request body is not valid JSON (${reason})`);
  }
}

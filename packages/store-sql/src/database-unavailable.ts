/**
 * Which database failures mean "try again later" rather than "the server is broken": the
 * database cannot be reached, is restarting, has no connection to spare, or is locked by another
 * process past the busy timeout. SCIM answers them 503 with `Retry-After` (RFC 9110 §15.6.4),
 * which identity providers retry, instead of 500 (RFC 7644 §3.12 leaves the status to the server).
 */
import { ScimError } from "scim-core";

/** Seconds an IdP is asked to wait before retrying a request the database could not serve. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** Node's socket errors of a server that cannot be reached or went away. */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);

/** PostgreSQL SQLSTATEs of a server shutting down, starting up or out of connections. */
const POSTGRES_CODES = new Set(["57P01", "57P02", "57P03", "53300"]);

/** SQLite's codes of a database locked by another connection. */
const SQLITE_CODES = new Set(["SQLITE_BUSY", "SQLITE_BUSY_RECOVERY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_TIMEOUT", "SQLITE_LOCKED", "SQLITE_LOCKED_SHAREDCACHE"]);

/** pg's own messages for a connection it lost or could not open (they carry no code). */
const POSTGRES_CLIENT_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Connection terminated unexpectedly)/;

/**
 * Whether `error` (or its `cause`) says the database is unreachable or locked for now: a failure a
 * retry may not meet. Unique-key violations, syntax errors and the like are not.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === "object" && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (NETWORK_CODES.has(code) || POSTGRES_CODES.has(code) || SQLITE_CODES.has(code)) return true;
      // Class 08: connection exception.
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && POSTGRES_CLIENT_MESSAGES.test(message)) return true;
  }
  return false;
}

/**
 * The SCIM answer to a database failure a client should retry (see {@link isDatabaseUnavailable}):
 * 503 with `Retry-After`, its detail naming no host, file or statement. Undefined otherwise.
 */
export function databaseUnavailable(error: unknown): ScimError | undefined {
  if (!isDatabaseUnavailable(error)) return undefined;
  return new ScimError(503, undefined, "the database is unavailable for the moment; retry later", { retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS });
}

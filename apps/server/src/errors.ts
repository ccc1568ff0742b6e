/**
 * How the server reports errors: logs and messages never contain secrets or stack traces. An
 * error is logged as its name, message and code only (credentials in URLs masked), and a failure
 * at start-up becomes one {@link StartupError} line saying what could not be done and why.
 */
import type { Logger } from "pino";
import { redactText } from "scim-directory";
import { isDatabaseUnavailable } from "scim-store-sql";

/** What a log line holds of an error: no stack, no cause chain, no properties that could carry secrets. */
export interface SafeError {
  name: string;
  message: string;
  code?: string;
}

/** Replaces the credentials of URLs (`postgres://user:pw@host` → `postgres://***@host`) and tokens and keys (`[REDACTED]`). */
export function maskCredentials(text: string): string {
  return redactText(text.replace(/\/\/[^@/\s]*@/g, "//***@"));
}

/** The message of `error` on one line, credentials masked; an AggregateError without one lists its errors'. */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return maskCredentials(String(error)).replace(/\s+/g, " ").trim();
  let message = error.message;
  if (message === "" && error instanceof AggregateError) message = [...new Set(error.errors.map(errorMessage))].join("; ");
  return maskCredentials(message).replace(/\s+/g, " ").trim() || error.name;
}

/** `error` reduced to name, message and code, for logs (the pino `err` serializer of the server). */
export function safeError(error: unknown): SafeError {
  if (!(error instanceof Error)) return { name: "Error", message: errorMessage(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: errorMessage(error), ...(typeof code === "string" || typeof code === "number" ? { code: String(code) } : {}) };
}

/**
 * pino serializers that keep stacks and secrets out of the log: pass to `pino()` or
 * `logger.child()`. A request's `path` may hold a token pasted where an id goes (redacted as the
 * audit log does).
 */
export const logSerializers = { err: safeError, path: (path: unknown) => (typeof path === "string" ? redactText(path) : path) };

/** A failure to start (configuration, schemas file, database, listening): its message is the one line to show. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/** Runs one start-up step; a failure becomes a StartupError `${what}: ${why}`. */
export async function startupStep<T>(what: string, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(`${what}: ${errorMessage(error)}`);
  }
}

/** How often a database outage is logged while it lasts. */
export const OUTAGE_LOG_WINDOW_MS = 10_000;

/**
 * Logs the errors requests meet at run time: each at `error`, except those that say the database
 * cannot serve for the moment (their requests are answered 503 with Retry-After): those at `warn`,
 * one line per {@link OUTAGE_LOG_WINDOW_MS} while the outage lasts, with how many were left out
 * since the last one. A PostgreSQL stop of 12 s under load wrote 11,000 error lines.
 */
export function runtimeErrorLog(logger: Logger, windowMs = OUTAGE_LOG_WINDOW_MS, now: () => number = Date.now): (error: unknown, fields: Record<string, unknown>, message: string) => void {
  let loggedAt = -Infinity;
  let leftOut = 0;
  return (error, fields, message) => {
    if (!isDatabaseUnavailable(error)) return void logger.error({ err: error, ...fields }, message);
    const at = now();
    if (at - loggedAt < windowMs) {
      leftOut++;
      return;
    }
    logger.warn({ err: error, ...(leftOut > 0 ? { leftOut } : {}) }, `the database is unavailable: requests are answered 503 with Retry-After (logged once per ${windowMs / 1000} s while it lasts)`);
    loggedAt = at;
    leftOut = 0;
  };
}

import { ScimError } from "scim-core";

/**
 * The error of the directory layer and its admin API: an HTTP status, a stable machine-readable
 * code and a message safe to show (never a secret, never a stack trace).
 */
export class DirectoryError extends Error {
  /** Recognise it by this brand, not `instanceof` (duplicate package copies happen). */
  readonly isDirectoryError = true as const;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "DirectoryError";
  }
}

/** Whether `value` is a {@link DirectoryError}. */
export function isDirectoryError(value: unknown): value is DirectoryError {
  return typeof value === "object" && value !== null && (value as { isDirectoryError?: unknown }).isDirectoryError === true;
}

export const notFound = (what: string, id: string): DirectoryError => new DirectoryError(404, "not_found", `${what} ${id} not found`);

/**
 * The store's answer when a directory is deleted, or made inactive, while a request that passed
 * its checks is still running (the tenant guard, under the directory's lock). To a SCIM client it
 * is a 401, as its token no longer opens anything (RFC 7644 §3.12); the admin API answers 404, as
 * for any unknown directory (its own writes go on while a directory is inactive). Recognised by
 * its `directoryGone` brand.
 */
export class DirectoryGoneError extends ScimError {
  readonly directoryGone = true as const;
  constructor(detail = "the directory no longer exists") {
    super(401, undefined, detail);
  }
}

/** Whether `value` is a {@link DirectoryGoneError}. */
export function isDirectoryGone(value: unknown): value is DirectoryGoneError {
  return typeof value === "object" && value !== null && (value as { directoryGone?: unknown }).directoryGone === true;
}

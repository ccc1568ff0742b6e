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

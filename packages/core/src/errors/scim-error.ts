/**
 * The one error type of the SCIM wire protocol (RFC 7644 §3.12).
 *
 * Recognise it with {@link isScimError} rather than `instanceof`: two copies of this package in one
 * process (a common accident with duplicated dependencies) would make `instanceof` lie.
 */

/** URN of the SCIM Error message (RFC 7644 §3.12). */
export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

/** The `scimType` values defined by RFC 7644 §3.12 Table 9, plus RFC 9865's `invalidCursor`/`expiredCursor`. */
export type ScimErrorType =
  | "invalidFilter"
  | "tooMany"
  | "uniqueness"
  | "mutability"
  | "invalidSyntax"
  | "invalidPath"
  | "noTarget"
  | "invalidValue"
  | "invalidVers"
  | "sensitive"
  | "invalidCursor"
  | "expiredCursor";

/** The JSON body of an RFC 7644 §3.12 Error response. `status` is a string, as the RFC's examples show. */
export interface ScimErrorBody {
  schemas: [typeof ERROR_SCHEMA];
  status: string;
  scimType?: ScimErrorType;
  detail?: string;
}

const BRAND = Symbol.for("scim-core.ScimError");
const CONFIG_BRAND = Symbol.for("scim-core.ScimConfigError");

/**
 * An error that becomes an RFC 7644 §3.12 Error response: HTTP `status`, optional `scimType`,
 * and a human-readable `detail` that never contains secrets or stack traces.
 */
export class ScimError extends Error {
  /** HTTP status code, e.g. 400, 404, 409. */
  readonly status: number;
  /** RFC 7644 §3.12 detail error keyword, for 400 (and 409 `uniqueness`). */
  readonly scimType: ScimErrorType | undefined;
  /** Human-readable detail, safe to send to the client. */
  readonly detail: string;
  /** Seconds the client should wait before retrying: the answer's `Retry-After` (RFC 9110 §10.2.3), for 503 and 429. */
  readonly retryAfterSeconds: number | undefined;
  /** @internal brand used by {@link isScimError}. */
  readonly [BRAND] = true;

  constructor(status: number, scimType: ScimErrorType | undefined, detail: string, options: { retryAfterSeconds?: number } = {}) {
    super(detail);
    this.name = "ScimError";
    this.status = status;
    this.scimType = scimType;
    this.detail = detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Renders the RFC 7644 §3.12 Error message. */
  toJSON(): ScimErrorBody {
    const body: ScimErrorBody = { schemas: [ERROR_SCHEMA], status: String(this.status) };
    if (this.scimType !== undefined) body.scimType = this.scimType;
    if (this.detail) body.detail = this.detail;
    return body;
  }
}

/** True when `value` is a {@link ScimError} from any copy of this package. */
export function isScimError(value: unknown): value is ScimError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * A mistake in configuration (a malformed schema, an unknown resource type name). Thrown at
 * start-up or at compile time by the developer's own code, never turned into an HTTP response.
 */
export class ScimConfigError extends Error {
  /** @internal */
  readonly [CONFIG_BRAND] = true;
  constructor(message: string) {
    super(message);
    this.name = "ScimConfigError";
  }
}

/** True when `value` is a {@link ScimConfigError} from any copy of this package. */
export function isScimConfigError(value: unknown): value is ScimConfigError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[CONFIG_BRAND] === true;
}

/** Shorthand for a 400 error with a `scimType` (RFC 7644 §3.12). */
export function badRequest(scimType: ScimErrorType, detail: string): ScimError {
  return new ScimError(400, scimType, detail);
}

/**
 * The 401 of a request `authenticate` found no principal for (RFC 7644 §2, §3.12); its response
 * ({@link errorResponse}) carries RFC 6750 §3's `WWW-Authenticate`, with `error="invalid_token"`
 * when `authorization` (the request's Authorization header) holds a bearer token. For guards in
 * front of the server that must answer exactly as it does.
 */
export function authenticationRequired(authorization?: string): ScimError {
  const error = new ScimError(401, undefined, "Authentication required: send a valid bearer token");
  // RFC 6750 §3.1: a bearer token that was sent and refused is `invalid_token`; a request without
  // one (or with another scheme) gets the challenge alone.
  if (authorization !== undefined && /^bearer[ \t]+\S/i.test(authorization.trim())) (error as unknown as Record<symbol, unknown>)[INVALID_TOKEN] = true;
  return error;
}

const INVALID_TOKEN = Symbol.for("scim-core.invalid-token");

/** @internal The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3). */
export function bearerChallenge(error: ScimError): string {
  return (error as unknown as Record<symbol, unknown>)[INVALID_TOKEN] === true ? 'Bearer realm="SCIM", error="invalid_token"' : 'Bearer realm="SCIM"';
}

/** Renders any ScimError as its RFC 7644 §3.12 Error message body. */
export function errorBody(error: ScimError): ScimErrorBody {
  return error.toJSON();
}

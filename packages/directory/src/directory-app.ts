/**
 * The whole directory-sync HTTP surface as one Hono app: `/healthz`, every directory's SCIM
 * endpoints at `/scim/v2/{directoryId}` (behind the audit log, the IP allowlist and the rate
 * limit) and the admin REST API at `/api` (with its OpenAPI document at `/api/openapi.json`).
 * Serve it with @hono/node-server (`serve({ fetch: app.fetch })`), or mount it in a bigger app.
 */
import { Hono } from "hono";
import { adminApi, errorBody, privateResponse, type AdminKeyHashSource } from "./admin-api.js";
import { SCIM_MOUNT, type DirectorySync } from "./directory-sync.js";
import { checkDatabase, DEFAULT_HEALTH_TIMEOUT_MS, sharedHealthCheck } from "./health.js";
import type { TrustProxy } from "./ip-allowlist.js";
import { RateLimiter, type RateLimitConfig } from "./rate-limit.js";
import { directoryScimRoutes, GuardSettingsCache } from "./scim-routes.js";

/** Options of {@link directoryApp}. */
export interface DirectoryAppOptions {
  /**
   * Which proxies to believe about the client address (IP allowlists, admin rate limit):
   * `false` uses the socket's peer address, `true` (or a number of proxies) reads
   * `X-Forwarded-For`. Only set it behind a proxy that writes that header. @default false
   */
  trustProxy?: TrustProxy;
  /**
   * The admin key's SHA-256 hash, or where to read it from on each request.
   * @default the hash stored in the database by `createAdminKey`
   */
  adminKeyHash?: AdminKeyHashSource;
  /** Most bytes of an admin API request body (413 above). @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
  /** Record SCIM requests and admin actions in the audit log. @default true */
  audit?: boolean;
  /** Also record admin reads (GET) in the audit log. @default false */
  auditReads?: boolean;
  /** Per-directory SCIM rate limiting (from each directory's settings). @default true */
  scimRateLimit?: boolean;
  /**
   * The rate of failed SCIM authentications (401) per client address, past which its requests
   * get a 429 (see `directoryScimRoutes`). @default 10 per second, bursts of 100
   */
  authFailureRateLimit?: RateLimitConfig;
  /** Requests per client address to the admin API; `false` for no limit. @default { requestsPerSecond: 50, burst: 200 } */
  adminRateLimit?: RateLimitConfig | false;
  /** Admin list reads (`GET` of directories, users, groups, events, the audit log) answered at once, each until its answer is written; `false` for no limit. @default 8 */
  adminConcurrentReads?: number | false;
  /** How long a directory's rate limit and allowlist are cached (other processes see changes after it). @default 5000 */
  settingsTtlMs?: number;
  /** Receives unexpected errors of the admin API and failures to write audit entries. */
  onError?: (error: unknown) => void;
  /** How long `/healthz` waits for the database's answer before it answers 503. @default 3000 */
  healthTimeoutMs?: number;
}

/**
 * One Hono app serving `/healthz` (200 while the database answers, else 503; one check at a time,
 * reused for a second), `/livez` (200 while
 * the process serves), `/scim/v2/:directoryId/*` and `/api/*` for a
 * {@link DirectorySync}.
 */
export function directoryApp(sync: DirectorySync, options: DirectoryAppOptions = {}): Hono {
  const audit = options.audit === false ? false : sync.audit;
  const settings = new GuardSettingsCache(sync.directories, { ttlMs: options.settingsTtlMs ?? 5000 });
  const scimRateLimiter = options.scimRateLimit === false ? false : new RateLimiter();
  const onError = options.onError;
  const trustProxy = options.trustProxy ?? false;

  const app = new Hono();
  // SCIM answers carry users and groups, the admin API secrets: every answer is private and
  // not to be sniffed (the admin API sets the same headers on its own when mounted elsewhere).
  app.use("*", privateResponse);
  const healthTimeoutMs = options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  // One check at a time, its answer reused for a second: the route needs no authentication.
  const health = sharedHealthCheck(() => checkDatabase(sync.db, healthTimeoutMs));
  app.get("/healthz", async (c) => {
    const database = await health();
    return database === "ok" ? c.json({ status: "ok" }) : c.json({ status: "unavailable", database }, 503);
  });
  app.get("/livez", (c) => c.json({ status: "ok" }));
  app.route(
    "/",
    directoryScimRoutes(sync, {
      trustProxy,
      audit,
      rateLimiter: scimRateLimiter,
      settings,
      ...(options.authFailureRateLimit !== undefined ? { authFailureRateLimit: options.authFailureRateLimit } : {}),
      ...(onError ? { onError } : {}),
    }),
  );
  app.route(
    "/api",
    adminApi(sync, {
      trustProxy,
      audit,
      settings,
      scimRateLimiter,
      ...(options.adminKeyHash !== undefined ? { adminKeyHash: options.adminKeyHash } : {}),
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
      ...(options.auditReads !== undefined ? { auditReads: options.auditReads } : {}),
      ...(options.adminRateLimit !== undefined ? { rateLimit: options.adminRateLimit } : {}),
      ...(options.adminConcurrentReads !== undefined ? { maxConcurrentReads: options.adminConcurrentReads } : {}),
      ...(onError ? { onError } : {}),
    }),
  );
  app.notFound((c) => c.json(errorBody("not_found", "not found"), 404));
  app.onError((error, c) => {
    onError?.(error);
    return c.json(errorBody("internal_error", "an unexpected error occurred"), 500);
  });
  return app;
}

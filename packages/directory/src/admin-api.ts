/**
 * The admin REST API (mounted at `/api` by `directoryApp`): directories, their tokens,
 * group-to-role mappings, normalized users and groups, events, the audit log and sync status.
 * Authenticated by the admin API key (`Authorization: Bearer dsync_admin_...`), inputs validated
 * with zod, errors as `{ "error": { "code", "message" } }` with the right status and never a
 * stack trace or a secret. Every change (and every refused authentication) is audited.
 */
import { performance } from "node:perf_hooks";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isScimError, MAX_JSON_DEPTH, parseJsonBody, utf8Length } from "scim-core";
import { databaseUnavailable, isConcurrentChange } from "scim-store-sql";
import { z } from "zod";
import { readAdminKeyHash, verifyAdminKey } from "./admin-keys.js";
import { auditPath, redact, redactText, type AuditLog } from "./audit.js";
import { hasUnstorableText } from "./storable-text.js";
import { limitBody } from "./body-limit.js";
import { decodeCursor, encodeCursor, type DirectoriesList } from "./cursor.js";
import { createDirectorySchema, updateDirectorySchema, type Directory } from "./directories.js";
import type { DirectorySync } from "./directory-sync.js";
import { DirectoryError, isDirectoryError, isDirectoryGone, notFound } from "./errors.js";
import { clientAddress, limiterKey, parseCidr, type TrustProxy } from "./ip-allowlist.js";
import {
  adminOpenApiDocument,
  adminOperations,
  listAuditQuery,
  listDirectoriesQuery,
  listEventsQuery,
  listGroupsQuery,
  listUsersQuery,
  olderThanDaysQuery,
  type DirectoryGroupView,
  type DirectoryPage,
  type DirectoryStatus,
  type DirectoryUserView,
  type DirectoryView,
  type ErrorResponse,
  type EventCursor,
  type EventView,
  type GroupPage,
  type IssuedTokenView,
  type RoleMappingView,
  type TokenView,
  type UserPage,
  type ApiOperation,
} from "./openapi.js";
import { answerSurcharge, DEFAULT_AUTH_FAILURE_LIMIT, RateLimiter, retryAfterText, type RateLimitConfig } from "./rate-limit.js";
import type { GuardSettingsCache } from "./scim-routes.js";
import { largeReadTurns } from "./large-reads.js";
import { PAGE_BYTES } from "./normalized.js";
import { createRoleMappingSchema, updateRoleMappingSchema } from "./roles.js";

/**
 * Where the admin key's SHA-256 hash (hex) comes from: a fixed hash (from the environment, say
 * `hashAdminKey(process.env.ADMIN_API_KEY)`), or a function asked on every request.
 */
export type AdminKeyHashSource = string | (() => string | undefined | Promise<string | undefined>);

/** The admin API's lists, by the end of their path: the reads that take turns. */
const ADMIN_LISTS = /\/(directories|users|groups|events|audit-log|role-mappings)\/?$/;

/** The default of {@link AdminApiOptions.maxConcurrentReads}. */
export const DEFAULT_ADMIN_CONCURRENT_READS = 8;

/** Options of {@link adminApi}. */
export interface AdminApiOptions {
  /**
   * Most list reads (`GET` of directories, users, groups, events, the audit log, role mappings)
   * answered at once, each until its answer is written (a page is up to 8 MiB);
   * at most 256 wait, each at most 30 s, the others get 429 `too_many_reads`. `false`: no limit.
   * @default 8
   */
  maxConcurrentReads?: number | false;
  /** The admin key's hash. @default the hash stored by `createAdminKey` in `dir_settings` */
  adminKeyHash?: AdminKeyHashSource;
  /** Most bytes of a request body; more is a 413. @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
  /**
   * Where admin actions are recorded (and SCIM activity is read from for the status route);
   * `false` records nothing. @default false (directoryApp passes its AuditLog)
   */
  audit?: AuditLog | false;
  /** Also record reads (GET) in the audit log. @default false */
  auditReads?: boolean;
  /**
   * Requests with the valid admin key per client address; `false` for no limit.
   * @default { requestsPerSecond: 50, burst: 200 }
   */
  rateLimit?: RateLimitConfig | false;
  /**
   * Requests with a wrong or missing admin key per client address (a bucket apart from
   * `rateLimit`'s, so that failures never lock out the valid key); past it they get a 429
   * instead of a 401. `false` for no limit. @default { requestsPerSecond: 10, burst: 100 }
   */
  authFailureRateLimit?: RateLimitConfig | false;
  /** Which proxies to believe about the client address (for the rate limit). @default false */
  trustProxy?: TrustProxy;
  /** The SCIM guards' settings cache, told when a directory's settings change. */
  settings?: GuardSettingsCache;
  /** The SCIM rate limiter, told when a directory is deleted. */
  scimRateLimiter?: RateLimiter | false;
  /** Receives unexpected errors (the client gets a generic 500) and audit write failures. */
  onError?: (error: unknown) => void;
}

/** Hono variables of the admin API. */
export interface AdminEnv {
  Variables: {
    /** Whether the admin key was verified. */
    admin?: boolean;
    /** The request's JSON input, for the audit log (redacted there). */
    auditInput?: unknown;
    auditDirectoryId?: string;
    auditResourceId?: string;
  };
}

type AdminContext = Context<AdminEnv>;

/**
 * Headers of every answer that may carry a secret or personal data (tokens when issued, users,
 * the audit log): never stored by a cache on the way (RFC 9111 §5.2.2.5; RFC 6749 §5.1 asks it of
 * token responses), never read as anything but its declared type by a browser.
 */
export const privateResponse: MiddlewareHandler = async (c, next) => {
  await next();
  c.res.headers.set("Cache-Control", "no-store");
  c.res.headers.set("X-Content-Type-Options", "nosniff");
};

/** The body of an admin API error. */
export function errorBody(code: string, message: string, issues?: { path: string; message: string }[]): ErrorResponse {
  // Messages repeat ids and values from the request, where a token or key may have been pasted.
  const safe = issues?.map((issue) => ({ path: redactText(issue.path), message: redactText(issue.message) }));
  return { error: { code, message: redactText(message), ...(safe !== undefined ? { issues: safe } : {}) } };
}

/** A zod error as a 400 body: every issue with its path, and a one-line summary. */
function validationError(error: z.ZodError): ErrorResponse {
  const issues = error.issues.slice(0, 20).map((issue) => ({ path: issue.path.map(String).join(".") || "(root)", message: issue.message }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  return errorBody("validation_failed", `invalid input: ${summary}`, issues);
}

const isZodError = (error: unknown): error is z.ZodError =>
  error instanceof z.ZodError || (typeof error === "object" && error !== null && (error as { name?: unknown }).name === "ZodError" && Array.isArray((error as { issues?: unknown }).issues));

/** A unique-constraint violation of SQLite or PostgreSQL (a duplicate the service did not catch first). */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "23505";
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** The JSON body of a request, recorded for the audit log; 415 when it is not JSON, 400 when malformed. */
async function readJson(c: AdminContext): Promise<unknown> {
  const type = c.req.header("content-type");
  const text = await c.req.text();
  if (text.trim() === "") return undefined;
  if (type === undefined || !JSON_TYPE.test(type)) throw new DirectoryError(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)");
  let value: unknown;
  try {
    // scim-core's parser: JSON nested more than MAX_JSON_DEPTH (64) levels deep is refused before
    // anything walks it (no admin input nests more than a few levels).
    value = parseJsonBody(text);
  } catch (error) {
    const tooDeep = isScimError(error) && /nested more than/.test(error.detail);
    throw new DirectoryError(400, "invalid_json", tooDeep ? `the body is nested more than ${MAX_JSON_DEPTH} levels deep` : "the body is not valid JSON");
  }
  c.set("auditInput", value);
  refuseUnstorable(value, "");
  return value;
}

/**
 * Refuses (400 validation_failed) input text no database column takes: NUL (PostgreSQL cannot
 * store it, and no name or id needs it) and lone surrogates (no Unicode). Walks without recursion:
 * a body may nest deeply.
 */
function refuseUnstorable(value: unknown, root: string): void {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [item, path] = stack.pop()!;
    if (typeof item === "string") {
      if (hasUnstorableText(item)) throw new DirectoryError(400, "validation_failed", `invalid input: ${path === "" ? "(root)" : path}: holds a NUL character or invalid Unicode (a lone surrogate)`);
    } else if (typeof item === "object" && item !== null) {
      for (const [key, child] of Object.entries(item)) stack.push([key, path], [child, path === "" ? key : `${path}.${key}`]);
    }
  }
}

/** Parses the body with `schema` (a missing body is an empty object; `null` is not). */
async function body<T extends z.ZodType>(c: AdminContext, schema: T): Promise<z.output<T>> {
  const value = await readJson(c);
  return schema.parse(value === undefined ? {} : value);
}

/**
 * Parses the query string with `schema`. A parameter given more than once is a 400
 * `validation_failed`: which of its values counts would be a guess (`?limit=1&limit=1000`).
 */
function query<T extends z.ZodType>(c: AdminContext, schema: T): z.output<T> {
  for (const [name, given] of Object.entries(c.req.queries())) {
    if (given.length > 1) throw new DirectoryError(400, "validation_failed", `invalid input: ${name}: given more than once`);
  }
  const values = c.req.query();
  refuseUnstorable(values, "");
  return schema.parse(values);
}

/** The instant `days` days before now (the retention deletes). */
function daysAgo(days: number): Date {
  return new Date(Date.now() - days * 86_400_000);
}

/**
 * Operations that take no query parameter refuse one (400 validation_failed), as lists refuse
 * unknown ones: nothing is filtered silently, and `POST .../tokens/rotate?dryRun=true` is not a
 * real rotation.
 */
const withoutQuery: MiddlewareHandler<AdminEnv> = async (c, next) => {
  query(c, z.object({}).strict());
  await next();
};

/** Writes that take no body: none but an empty one or `{}` (malformed JSON is a 400). */
const withoutBody: MiddlewareHandler<AdminEnv> = async (c, next) => {
  await body(c, z.object({}).strict());
  await next();
};

/** Writes that take no input: no query parameter, and no body ({@link withoutBody}). */
const withoutInput: MiddlewareHandler<AdminEnv> = async (c, next) => {
  query(c, z.object({}).strict());
  await withoutBody(c, next);
};

/** The `:id` path parameter, noted for the audit log. */
function directoryParam(c: AdminContext): string {
  const id = c.req.param("id") ?? "";
  c.set("auditDirectoryId", id);
  return id;
}

/** The `:mappingId` path parameter, noted for the audit log. */
function mappingParam(c: AdminContext): string {
  const id = c.req.param("mappingId") ?? "";
  c.set("auditResourceId", id);
  return id;
}

/** The path of what a POST to a collection created (RFC 9110 §10.2.2 `Location`): the collection's path and its id. */
function createdAt(c: Context, id: string): string {
  return `${new URL(c.req.url).pathname.replace(/\/+$/, "")}/${encodeURIComponent(id)}`;
}

/** The origin of the request, for SCIM URLs when the service has no `publicUrl`. */
function originOf(c: Context): string {
  return new URL(c.req.url).origin;
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** What the directories list's cursors page (no other list takes them). */
const DIRECTORIES_LIST: DirectoriesList = { list: "directories" };

/**
 * An id from the request's path as the audit log stores it: redacted when it looks like a secret
 * (a token pasted where an id goes), as the path itself is.
 */
function auditId(id: string | undefined): string | null {
  return id === undefined ? null : (redact(id) as string);
}

/** Every allowlist entry must be one the SCIM guard can match (the settings schema only checks its shape). */
function allowlistParses(input: { settings?: { ipAllowlist?: string[] | undefined } | undefined }, ctx: z.RefinementCtx): void {
  input.settings?.ipAllowlist?.forEach((entry, index) => {
    if (parseCidr(entry) === undefined) ctx.addIssue({ code: "custom", path: ["settings", "ipAllowlist", index], message: `not an IPv4 or IPv6 address or CIDR block: ${entry}` });
  });
}

const createDirectoryInput = createDirectorySchema.superRefine(allowlistParses);
const updateDirectoryInput = updateDirectorySchema.superRefine(allowlistParses);

/** A path of the admin API's routes (relative to its mount) and the methods it takes. */
interface RouteMethods {
  pattern: RegExp;
  methods: string[];
}

/** The routes of `operations` under `/api` (the OpenAPI document's own list), with their methods. */
function routeMethods(operations: readonly ApiOperation[]): RouteMethods[] {
  const byPath = new Map<string, string[]>();
  for (const op of operations) {
    if (!op.path.startsWith("/api/")) continue;
    const methods = byPath.get(op.path) ?? [];
    byPath.set(op.path, [...methods, op.method.toUpperCase()]);
  }
  return [...byPath].map(([path, methods]) => ({
    pattern: new RegExp(`^${path.slice("/api".length).split("/").map((segment) => (/^\{\w+\}$/.test(segment) ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/")}$`),
    methods,
  }));
}

const ADMIN_ROUTES = routeMethods(adminOperations);

/**
 * The methods the admin API takes on `path` (relative to its mount; HEAD wherever GET), in the
 * order of the document, or none when no route has that path.
 */
function allowedAdminMethods(path: string): string[] {
  const allowed = new Set<string>();
  for (const route of ADMIN_ROUTES) {
    if (!route.pattern.test(path)) continue;
    for (const method of route.methods) {
      allowed.add(method);
      if (method === "GET") allowed.add("HEAD");
    }
  }
  return [...allowed];
}

/** The default rate of requests with the valid admin key, per client address. */
const DEFAULT_RATE_LIMIT: RateLimitConfig = { requestsPerSecond: 50, burst: 200 };

/** A JSON page that declares its length, so that the rate limit weighs it by its size (see ANSWER_BYTES_PER_REQUEST). */
function sizedJson(c: Context, value: unknown): Response {
  const text = JSON.stringify(value);
  return c.body(text, 200, { "Content-Type": "application/json", "Content-Length": String(utf8Length(text)) });
}

/**
 * The admin API as a Hono app with routes relative to its mount point: mount it at `/api`
 * (`app.route("/api", adminApi(sync))`), as `directoryApp` does.
 */
export function adminApi(sync: DirectorySync, options: AdminApiOptions = {}): Hono {
  const app = new Hono<AdminEnv>();
  const audit = options.audit ?? false;
  const source = options.adminKeyHash ?? (() => readAdminKeyHash(sync.db));
  const keyHash = typeof source === "string" ? () => source : source;
  const rate = options.rateLimit === false ? undefined : (options.rateLimit ?? DEFAULT_RATE_LIMIT);
  const failureRate = options.authFailureRateLimit === false ? undefined : (options.authFailureRateLimit ?? DEFAULT_AUTH_FAILURE_LIMIT);
  // One limiter for the valid key's requests and one for failures, both by client address.
  const requests = new RateLimiter();
  const failures = new RateLimiter();
  const document = adminOpenApiDocument();

  const view = (c: Context, directory: Directory): DirectoryView => ({ ...directory, scimUrl: sync.scimUrl(directory.id, originOf(c)) });

  app.onError((error, c) => {
    if (isDirectoryError(error)) return c.json(errorBody(error.code, error.message), error.status as ContentfulStatusCode);
    if (isZodError(error)) return c.json(validationError(error), 400);
    // The directory was deleted while this request ran (after its own checks passed).
    if (isDirectoryGone(error)) return c.json(errorBody("not_found", "the directory no longer exists"), 404);
    if (isUniqueViolation(error)) return c.json(errorBody("conflict", "it already exists"), 409);
    // PostgreSQL gave the change up for a concurrent one (a deadlock): nothing of it was written,
    // and the same request again succeeds (it was a 500).
    if (isConcurrentChange(error)) {
      c.header("Retry-After", "1");
      return c.json(errorBody("concurrent_change", "a concurrent change won; nothing was changed: retry the request"), 409);
    }
    options.onError?.(error);
    // The database cannot be reached or is locked for now: retry, as for a SCIM request.
    const unavailable = databaseUnavailable(error);
    if (unavailable !== undefined) {
      c.header("Retry-After", String(unavailable.retryAfterSeconds));
      return c.json(errorBody("database_unavailable", "the database is unavailable for the moment: retry later"), 503);
    }
    return c.json(errorBody("internal_error", "an unexpected error occurred"), 500);
  });

  // ─── Middleware: audit, authentication and rate limit, body limit ───────────────────────────

  app.use("*", privateResponse);

  // Public: the document describes the API, it holds nothing secret.
  app.get("/openapi.json", (c) => c.json(document));

  if (audit !== false) {
    const auditing: MiddlewareHandler<AdminEnv> = async (c, next) => {
      const started = performance.now();
      await next();
      const status = c.res.status;
      if (!MUTATING.has(c.req.method) && !options.auditReads && status !== 401) return;
      try {
        const input = c.get("auditInput");
        await audit.record({
          kind: "admin",
          directoryId: auditId(c.get("auditDirectoryId")),
          actor: c.get("admin") === true ? "admin" : null,
          method: c.req.method,
          path: auditPath(c.req.url),
          status,
          durationMs: performance.now() - started,
          resourceId: auditId(c.get("auditResourceId")),
          detail: input === undefined ? null : { input },
        });
      } catch (error) {
        options.onError?.(error);
      }
    };
    app.use("*", auditing);
  }

  /** A 429 with `Retry-After`. */
  const tooManyRequests = (c: AdminContext, retryAfterSeconds: number) => {
    c.header("Retry-After", String(retryAfterSeconds));
    return c.json(errorBody("rate_limited", `too many requests: ${retryAfterText(retryAfterSeconds)}`), 429);
  };

  // Authentication first (a hash and a constant-time comparison), then the rate limit of the
  // outcome: a wrong or missing key spends its address's bucket of failures, the valid key its
  // address's bucket of requests. One bucket for both let a flood of wrong keys from an address
  // (a shared proxy, an attacker) lock the valid key out of the admin API.
  app.use("*", async (c, next) => {
    const address = clientAddress(c, options.trustProxy);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    const expected = await keyHash();
    if (!verifyAdminKey(match?.[1], expected)) {
      // IPv6 clients by their /64: one client may hold every address of it.
      const decision = failureRate === undefined ? undefined : failures.take(limiterKey(address), failureRate);
      if (decision !== undefined && !decision.allowed) return tooManyRequests(c, decision.retryAfterSeconds);
      c.header("WWW-Authenticate", 'Bearer realm="directory-sync-admin"');
      return c.json(errorBody("unauthorized", "a valid admin API key is required (Authorization: Bearer <key>)"), 401);
    }
    c.set("admin", true);
    const key = limiterKey(address);
    const decision = rate === undefined ? undefined : requests.take(key, rate);
    if (decision !== undefined && !decision.allowed) return tooManyRequests(c, decision.retryAfterSeconds);
    await next();
    // A large answer (a page of 1,000 users) counts for more than one request (see ANSWER_BYTES_PER_REQUEST).
    const surcharge = rate !== undefined ? answerSurcharge(c.res) : 0;
    if (surcharge > 0) requests.spend(key, rate!, surcharge);
  });

  // List reads take turns, each until its answer is written (see large-reads.ts): a page of
  // users, groups or events is up to 8 MiB, and fifteen a second asked for and never read ran
  // the server out of memory in half a minute. Reads of one thing (a directory, its status, a
  // user) are small and never wait behind them.
  if (options.maxConcurrentReads !== false) {
    app.use(
      "*",
      largeReadTurns({
        limit: options.maxConcurrentReads ?? DEFAULT_ADMIN_CONCURRENT_READS,
        maxWaiting: 256,
        scopeOf: () => "admin",
        readsLarge: (c) => (c.req.method === "GET" || c.req.method === "HEAD") && ADMIN_LISTS.test(c.req.path),
        ...(sync.threadTurns !== undefined ? { thread: sync.threadTurns } : {}),
        refuse: (c, retryAfterSeconds, _reason, detail) => {
          c.header("Retry-After", String(retryAfterSeconds));
          return c.json(errorBody("too_many_reads", `${detail}: ${retryAfterText(retryAfterSeconds)}`), 429);
        },
      }) as unknown as MiddlewareHandler<AdminEnv>,
    );
  }

  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  app.use(
    "*",
    limitBody<AdminEnv>(maxBodyBytes, (c) => c.json(errorBody("payload_too_large", `the body is larger than ${maxBodyBytes} bytes`), 413)),
  );

  app.use("*", async (c, next) => {
    const type = c.req.header("content-type");
    const length = c.req.header("content-length");
    if (MUTATING.has(c.req.method) && type !== undefined && !JSON_TYPE.test(type) && length !== "0") {
      return c.json(errorBody("unsupported_media_type", "the body must be JSON (Content-Type: application/json)"), 415);
    }
    await next();
  });

  // No id holds NUL: a path with one names nothing (where PostgreSQL would fail the lookup).
  app.use("*", async (c, next) => {
    if (/%00/.test(new URL(c.req.url).pathname)) return c.json(errorBody("not_found", "no such resource (the path holds a NUL character)"), 404);
    await next();
  });

  // ─── Directories ────────────────────────────────────────────────────────────────────────────

  app.get("/directories", async (c) => {
    const q = query(c, listDirectoriesQuery);
    const after = decodeCursor(q.cursor, DIRECTORIES_LIST);
    // One more than the page: a full last page then says there is no next one.
    const found = await sync.directories.list({
      ...(q.organizationId !== undefined ? { organizationId: q.organizationId } : {}),
      ...(after !== undefined ? { after } : {}),
      limit: q.limit + 1,
    });
    const directories = found.slice(0, q.limit);
    const last = directories.at(-1);
    const data = directories.map((d) => view(c, d));
    return sizedJson(c, { data, nextCursor: found.length > q.limit && last !== undefined ? encodeCursor(DIRECTORIES_LIST, { created: last.createdAt, id: last.id }) : null } satisfies DirectoryPage);
  });

  app.post("/directories", withoutQuery, async (c) => {
    const input = await body(c, createDirectoryInput);
    const directory = await sync.directories.create(input);
    c.set("auditDirectoryId", directory.id);
    c.set("auditResourceId", directory.id);
    c.header("Location", createdAt(c, directory.id));
    return c.json(view(c, directory), 201);
  });

  app.get("/directories/:id", withoutQuery, async (c) => c.json(view(c, await sync.directories.get(directoryParam(c)))));

  app.patch("/directories/:id", withoutQuery, async (c) => {
    const id = directoryParam(c);
    const input = await body(c, updateDirectoryInput);
    const directory = await sync.directories.update(id, input);
    options.settings?.invalidate(id);
    return c.json(view(c, directory));
  });

  app.delete("/directories/:id", withoutInput, async (c) => {
    const id = directoryParam(c);
    await sync.directories.delete(id);
    options.settings?.invalidate(id);
    if (options.scimRateLimiter) options.scimRateLimiter.reset(id);
    return c.body(null, 204);
  });

  app.delete("/directories/:id/deleted-resources", withoutBody, async (c) => {
    const id = directoryParam(c);
    const q = query(c, olderThanDaysQuery);
    await sync.directories.get(id);
    const before = daysAgo(q.olderThanDays);
    let deleted = 0;
    for (const type of ["User", "Group"]) deleted += (await sync.store.purgeDeletedBefore({ tenant: id }, type, before)).length;
    return c.json({ deleted });
  });

  app.get("/directories/:id/status", withoutQuery, async (c) => {
    const directory = await sync.directories.get(directoryParam(c));
    const counts = await sync.data.counts(directory.id);
    const activity =
      audit !== false ? await audit.scimActivity(directory.id) : { lastRequest: null, requests: 0, clientErrors: 0, serverErrors: 0 };
    const status: DirectoryStatus = {
      directoryId: directory.id,
      state: directory.state,
      lastRequest: activity.lastRequest,
      lastRequestAt: activity.lastRequest?.at ?? null,
      lastRequestStatus: activity.lastRequest?.status ?? null,
      users: counts.users,
      groups: counts.groups,
      last24Hours: { requests: activity.requests, clientErrors: activity.clientErrors, serverErrors: activity.serverErrors },
      errorsLast24Hours: activity.clientErrors + activity.serverErrors,
    };
    return c.json(status);
  });

  // ─── Tokens ─────────────────────────────────────────────────────────────────────────────────

  app.get("/directories/:id/tokens", withoutQuery, async (c) => {
    const directory = await sync.directories.get(directoryParam(c));
    return c.json({ data: (await sync.tokens.list(directory.id)) satisfies TokenView[] });
  });

  app.post("/directories/:id/tokens", withoutInput, async (c) => {
    const directory = await sync.directories.get(directoryParam(c));
    const issued = await sync.tokens.create(directory.id);
    c.set("auditResourceId", issued.id);
    return c.json(issued satisfies IssuedTokenView, 201);
  });

  app.post("/directories/:id/tokens/rotate", withoutInput, async (c) => {
    const directory = await sync.directories.get(directoryParam(c));
    const issued = await sync.tokens.rotate(directory.id, directory.settings.tokenGracePeriodSeconds);
    c.set("auditResourceId", issued.id);
    return c.json(issued satisfies IssuedTokenView, 201);
  });

  app.delete("/directories/:id/tokens/:tokenId", withoutInput, async (c) => {
    const directory = await sync.directories.get(directoryParam(c));
    const tokenId = c.req.param("tokenId");
    c.set("auditResourceId", tokenId);
    return c.json(await sync.tokens.revoke(directory.id, tokenId));
  });

  // ─── Group-to-role mappings ─────────────────────────────────────────────────────────────────

  app.get("/directories/:id/role-mappings", withoutQuery, async (c) => c.json({ data: (await sync.roles.listMappings(directoryParam(c))) satisfies RoleMappingView[] }));

  app.post("/directories/:id/role-mappings", withoutQuery, async (c) => {
    const id = directoryParam(c);
    const mapping = await sync.roles.createMapping(id, await body(c, createRoleMappingSchema));
    c.set("auditResourceId", mapping.id);
    c.header("Location", createdAt(c, mapping.id));
    return c.json(mapping satisfies RoleMappingView, 201);
  });

  app.get("/directories/:id/role-mappings/:mappingId", withoutQuery, async (c) => c.json((await sync.roles.getMapping(directoryParam(c), mappingParam(c))) satisfies RoleMappingView));

  app.patch("/directories/:id/role-mappings/:mappingId", withoutQuery, async (c) => {
    const id = directoryParam(c);
    const mappingId = mappingParam(c);
    return c.json((await sync.roles.updateMapping(id, mappingId, await body(c, updateRoleMappingSchema))) satisfies RoleMappingView);
  });

  app.delete("/directories/:id/role-mappings/:mappingId", withoutInput, async (c) => {
    const id = directoryParam(c);
    await sync.roles.deleteMapping(id, mappingParam(c));
    return c.body(null, 204);
  });

  // ─── Normalized users and groups ────────────────────────────────────────────────────────────

  app.get("/directories/:id/users", async (c) => {
    const id = directoryParam(c);
    const { cursor, limit, email, username, state, group, externalId } = query(c, listUsersQuery);
    const page = await sync.data.listUsers(id, {
      limit,
      ...(cursor !== undefined ? { cursor } : {}),
      ...(email !== undefined ? { email } : {}),
      ...(username !== undefined ? { username } : {}),
      ...(state !== undefined ? { state } : {}),
      ...(group !== undefined ? { group } : {}),
      ...(externalId !== undefined ? { externalId } : {}),
    });
    return sizedJson(c, { data: page.data, nextCursor: page.nextCursor ?? null } satisfies UserPage);
  });

  app.get("/directories/:id/users/:userId", withoutQuery, async (c) => c.json((await sync.data.getUser(directoryParam(c), c.req.param("userId"))) satisfies DirectoryUserView));

  app.get("/directories/:id/groups", async (c) => {
    const id = directoryParam(c);
    const { cursor, limit, name, externalId, group } = query(c, listGroupsQuery);
    const page = await sync.data.listGroups(id, {
      limit,
      ...(cursor !== undefined ? { cursor } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(externalId !== undefined ? { externalId } : {}),
      ...(group !== undefined ? { group } : {}),
    });
    return sizedJson(c, { data: page.data, nextCursor: page.nextCursor ?? null } satisfies GroupPage);
  });

  app.get("/directories/:id/groups/:groupId", withoutQuery, async (c) => c.json((await sync.data.getGroup(directoryParam(c), c.req.param("groupId"))) satisfies DirectoryGroupView));

  // ─── Events ─────────────────────────────────────────────────────────────────────────────────

  /** Whether `directoryId` names a directory, or a deleted one whose events are still kept. */
  const directoryOrEvents = async (directoryId: string): Promise<boolean> =>
    (await sync.directories.find(directoryId)) !== undefined ||
    (await sync.db.selectFrom("scim_outbox").select("seq").where("tenant", "=", directoryId).limit(1).executeTakeFirst()) !== undefined;

  app.get("/events", async (c) => {
    const q = query(c, listEventsQuery);
    // Within the byte budget of a page (events carry whole resources): fewer than `limit` then.
    const page = await sync.store.readEventPage({ after: q.after, limit: q.limit, maxBytes: PAGE_BYTES, ...(q.directoryId !== undefined ? { tenant: q.directoryId } : {}) });
    const data: EventView[] = page.events.map(({ seq, event }) => ({
      seq,
      id: event.id,
      type: event.type,
      directoryId: event.tenant,
      resourceType: event.resourceType,
      resourceId: event.resourceId,
      occurredAt: event.occurredAt,
      ...(event.resource !== undefined ? { resource: event.resource as Record<string, unknown> } : {}),
      ...(event.member !== undefined ? { member: { ...event.member } } : {}),
      ...(event.data !== undefined ? { data: event.data } : {}),
    }));
    // Read after the page: positions only grow, and a prune that ran meanwhile is seen. A
    // directory's reader is told of its directory's pruned events only.
    const horizon = await sync.store.eventsHorizon(q.directoryId);
    if (q.after > horizon.latest) throw new DirectoryError(400, "invalid_cursor", `the cursor is past the latest event position (${horizon.latest})`);
    // A cursor of 0 starts from the oldest event kept: a new reader (who walks the lists first).
    if (q.after > 0 && q.after < horizon.prunedThrough) {
      throw new DirectoryError(410, "cursor_expired", `events after this cursor were pruned (through position ${horizon.prunedThrough}): read the lists again, then follow the events from GET /api/events/latest`);
    }
    // An id that names no directory and has no events kept (a deleted directory's stay readable):
    // a 404, or a reader with a wrong id would follow an empty stream forever.
    if (data.length === 0 && q.directoryId !== undefined && !(await directoryOrEvents(q.directoryId))) throw notFound("directory", q.directoryId);
    // A complete page goes on from where the read went, past other directories' events.
    const last = data.length > 0 ? data[data.length - 1]!.seq : q.after;
    return sizedJson(c, { data, nextCursor: page.through !== undefined ? Math.max(last, page.through) : last, hasMore: page.hasMore });
  });

  app.get("/events/latest", withoutQuery, async (c) => c.json({ cursor: (await sync.store.eventsHorizon()).latest } satisfies EventCursor));

  app.delete("/events", withoutBody, async (c) => {
    const q = query(c, olderThanDaysQuery);
    return c.json({ deleted: await sync.store.pruneEvents(daysAgo(q.olderThanDays)) });
  });

  // ─── Audit log ──────────────────────────────────────────────────────────────────────────────

  app.get("/audit-log", async (c) => {
    const q = query(c, listAuditQuery);
    if (audit === false) return c.json({ data: [], nextCursor: q.after, hasMore: false });
    return sizedJson(
      c,
      await audit.list({
        after: q.after,
        limit: q.limit,
        ...(q.directoryId !== undefined ? { directoryId: q.directoryId } : {}),
        ...(q.kind !== undefined ? { kind: q.kind } : {}),
      }),
    );
  });

  app.delete("/audit-log", withoutBody, async (c) => {
    const q = query(c, olderThanDaysQuery);
    c.set("auditInput", { olderThanDays: q.olderThanDays });
    return c.json({ deleted: audit === false ? 0 : await audit.prune(q.olderThanDays) });
  });

  // Anything else under the mount point (after authentication, so it reveals nothing): a 405
  // with `Allow` for a route's path asked with another method (RFC 9110 §15.5.6), else a 404.
  app.all("*", (c) => {
    const pathname = new URL(c.req.url).pathname;
    // The request's own getter (not hono/route's helper): it reads a request routed by any copy of hono.
    const mount = c.req.routePath.replace(/\/?\*$/, "");
    const allowed = pathname.startsWith(mount) ? allowedAdminMethods(pathname.slice(mount.length)) : [];
    if (allowed.length > 0) {
      c.header("Allow", allowed.join(", "));
      return c.json(errorBody("method_not_allowed", `${c.req.method} is not supported on ${pathname} (allowed: ${allowed.join(", ")})`), 405);
    }
    return c.json(errorBody("not_found", `no route ${c.req.method} ${pathname}`), 404);
  });

  return app as unknown as Hono;
}

/**
 * The SCIM endpoints of every directory as a Hono app: `/scim/v2/{directoryId}/...`, served by
 * scim-hono over the service's SCIM server. Mount it on the root of the host app.
 *
 * In front of the SCIM server, per directory and in this order: the audit log (records every
 * request once it is answered), the IP allowlist (403), the rate limit (429 with `Retry-After`; a
 * large answer counts as one request more per 64 KiB, see `ANSWER_BYTES_PER_REQUEST`),
 * and for lists, the directory's share of search time (`sync.searchTime`, 429 with `Retry-After`),
 * and for writes the rate of changes they make (`sync.changes`, 429 with `Retry-After`).
 * The allowlist and the rate limit are answered before any authentication work, from the
 * directory's settings (cached briefly). An unknown directory is treated as one with the default
 * settings (no allowlist, the default rate), so neither check tells whether a directory exists.
 */
import type { Context, MiddlewareHandler } from "hono";
import { Hono } from "hono";
import { authenticationRequired, badRequest, errorResponse, parseFilter, ScimError, type SchemaRegistry, type ScimResponse } from "scim-core";
import { scimHono } from "scim-hono";
import { databaseUnavailable, narrowedByIndex } from "scim-store-sql";
import { redactText, scimAuditMiddleware, secretMentionOf, type AuditLog, type ScimAuditEnv, type ScimAuditOptions } from "./audit.js";
import type { DirectoryService } from "./directories.js";
import { DEFAULT_MAX_CONCURRENT_LARGE_READS, SCIM_MOUNT, type DirectorySync } from "./directory-sync.js";
import { clientAddress, isIpAllowed, limiterKey, type TrustProxy } from "./ip-allowlist.js";
import { largeReadTurns, scimReadsLarge } from "./large-reads.js";
import { answerSurcharge, DEFAULT_AUTH_FAILURE_LIMIT, RateLimiter, retryAfterText, type RateLimitConfig } from "./rate-limit.js";
import { directorySettingsSchema, type DirectorySettings } from "./settings.js";
import { isDirectoryId } from "./ids.js";
import { hashToken, TOKEN_PREFIX } from "./tokens.js";
import { asTokenHolder } from "./write-origin.js";

/** The settings the SCIM guards need. */
export type GuardSettings = Pick<DirectorySettings, "rateLimit" | "ipAllowlist">;

const DEFAULT_SETTINGS: GuardSettings = (({ rateLimit, ipAllowlist }) => ({ rateLimit, ipAllowlist }))(directorySettingsSchema.parse({}));


/**
 * A short-lived cache of each directory's rate limit and allowlist, so a SCIM request costs no
 * settings read in the common case. The admin API invalidates a directory when it changes it;
 * other processes see a change within `ttlMs`.
 */
export class GuardSettingsCache {
  private readonly entries = new Map<string, { settings: GuardSettings; exists: boolean; until: number }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly directories: DirectoryService,
    options: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** The directory's guard settings; the defaults for an unknown directory. */
  async get(directoryId: string): Promise<GuardSettings> {
    return (await this.lookup(directoryId)).settings;
  }

  /** The directory's guard settings, and whether the directory exists. */
  async lookup(directoryId: string): Promise<{ settings: GuardSettings; exists: boolean }> {
    if (!isDirectoryId(directoryId)) return { settings: DEFAULT_SETTINGS, exists: false };
    const now = this.now();
    const cached = this.entries.get(directoryId);
    if (cached !== undefined && cached.until > now) return { settings: cached.settings, exists: cached.exists };
    const directory = await this.directories.find(directoryId);
    const settings = directory === undefined ? DEFAULT_SETTINGS : { rateLimit: directory.settings.rateLimit, ipAllowlist: directory.settings.ipAllowlist };
    if (this.entries.size >= 10_000) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(directoryId, { settings, exists: directory !== undefined, until: now + this.ttlMs });
    return { settings, exists: directory !== undefined };
  }

  /** Forgets a directory's settings (after they changed). */
  invalidate(directoryId: string): void {
    this.entries.delete(directoryId);
  }
}

/** Options of {@link directoryScimRoutes}. */
export interface ScimRoutesOptions {
  /** Which proxies to believe about the client address (see {@link TrustProxy}). @default false */
  trustProxy?: TrustProxy;
  /** Where SCIM requests are recorded; `false` records nothing. @default the service's audit log (`sync.audit`) */
  audit?: AuditLog | false;
  /** The rate limiter; `false` disables rate limiting. @default a new in-memory RateLimiter */
  rateLimiter?: RateLimiter | false;
  /**
   * The rate of failed authentications (401) per client address, past which its requests get a
   * 429 before any token work, except those whose token has already authenticated in this
   * process or was used in the week before it started. @default 10 per second, bursts of 100
   */
  authFailureRateLimit?: RateLimitConfig;
  /** Whether to enforce the directories' IP allowlists. @default true */
  ipAllowlist?: boolean;
  /** The settings cache (share it with the admin API so changes apply at once). @default a new one */
  settings?: GuardSettingsCache;
  /** Receives failures of the audit middleware (the request is answered anyway). */
  onError?: (error: unknown) => void;
}

/** The hash of the directory token a request's `Authorization` header carries, if it looks like one. */
function bearerTokenHash(authorization: string | undefined): string | undefined {
  const secret = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
  if (secret === undefined || !secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return undefined;
  return hashToken(secret);
}

/** Most tokens {@link KnownTokens} keeps. */
const MAX_KNOWN_TOKENS = 10_000;

/** How recent a token's last use before the start must be for it to count as known (a week). */
const RECENT_TOKENS_MS = 7 * 24 * 3600 * 1000;

/**
 * Bearer tokens that have authenticated for a directory in this process, or were used in the
 * week before it started (by hash, at most 10,000, least recently used first out): the rate
 * limiter's notion of a working IdP.
 */
class KnownTokens {
  private readonly keys = new Map<string, true>();

  /** Adds a key unless it is known already or the set is full (the tokens used before the start). */
  learn(key: string): void {
    if (this.keys.has(key) || this.keys.size >= MAX_KNOWN_TOKENS) return;
    this.keys.set(key, true);
  }

  has(key: string): boolean {
    if (!this.keys.delete(key)) return false;
    this.keys.set(key, true);
    return true;
  }

  remember(key: string): void {
    this.keys.delete(key);
    if (this.keys.size >= MAX_KNOWN_TOKENS) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(key, true);
  }

  forget(key: string): void {
    this.keys.delete(key);
  }
}

/** Discovery endpoints: lists that search nothing. */
const DISCOVERY = new Set(["serviceproviderconfig", "schemas", "resourcetypes"]);

/** The non-empty path segments after the SCIM mount: `[directoryId, collection, ...]`. */
function scimSegments(path: string): string[] {
  return path.slice(path.indexOf(SCIM_MOUNT) + SCIM_MOUNT.length).split("/").filter((s) => s !== "");
}

/**
 * Whether a request searches the store, and so draws on the directory's share of search time: a
 * list (`GET /{directory}/Users`, `POST .../.search`), except a lookup that an index equality
 * narrows to a row or two (`userName eq "..."`, `externalId eq`, `emails.value eq`, a group's
 * `displayName eq`: scim-store-sql's `narrowedByIndex`), which the IdPs send before every create
 * and which costs the database a millisecond or less.
 */
function searchesTheStore(registry: SchemaRegistry, method: string, path: string, filter: string | undefined): boolean {
  const segments = scimSegments(path);
  // [directoryId, collection] or [directoryId, collection?, ".search"]
  const last = segments.at(-1)?.toLowerCase();
  if (method === "POST") return last === ".search";
  if ((method !== "GET" && method !== "HEAD") || segments.length !== 2 || last === undefined || DISCOVERY.has(last)) return false;
  if (filter === undefined) return true;
  const type = registry.listResourceTypes().find((t) => t.endpoint.slice(1).toLowerCase() === last);
  if (type === undefined) return true;
  try {
    return !narrowedByIndex(parseFilter(filter, { lenient: true }), registry.getResourceType(type.name));
  } catch {
    return true;
  }
}

/** Whether a SCIM request writes: POST (Bulk included) other than a `.search`, PUT, PATCH, DELETE. */
function writes(method: string, path: string): boolean {
  if (method === "POST") return scimSegments(path).at(-1)?.toLowerCase() !== ".search";
  return method === "PUT" || method === "PATCH" || method === "DELETE";
}

/**
 * Whether a request is a search that reads the directory through: a `.search`, or a list with a
 * filter no index answers or with `sortBy`. A list without either pages in creation order from
 * its position and counts from the live counts (what Okta's import pages are): not one.
 */
function scansTheStore(registry: SchemaRegistry, c: Context): boolean {
  const { method, path } = c.req;
  if (method === "POST") return searchesTheStore(registry, method, path, undefined);
  if (method !== "GET" && method !== "HEAD") return false;
  const filter = queryParam(c, "filter");
  const sortBy = queryParam(c, "sortBy");
  if (filter === undefined && sortBy === undefined) return false;
  return searchesTheStore(registry, method, path, filter) || (sortBy !== undefined && searchesTheStore(registry, method, path, undefined));
}

/**
 * A query parameter as the SCIM server reads it: by its name in any case (`Filter`, `sortby`),
 * the first one given (the server refuses a `filter` given twice).
 */
function queryParam(c: Context, name: string): string | undefined {
  const url = c.req.url;
  const start = url.indexOf("?");
  if (start < 0) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of new URLSearchParams(url.slice(start + 1))) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** A SCIM Error message (RFC 7644 §3.12). */
/**
 * What an unauthenticated SCIM request is answered (scim-core's answer when `authenticate` finds
 * no principal, RFC 7644 §3.12 with RFC 6750 §3's WWW-Authenticate).
 */
function unauthenticated(c: Context<ScimAuditEnv>): Response {
  return rendered(c, errorResponse(authenticationRequired(c.req.header("authorization"))));
}

function scimError(c: Context<ScimAuditEnv>, status: 403 | 429, detail: string, headers: Record<string, string> = {}): Response {
  const response = errorResponse(new ScimError(status, undefined, detail));
  return rendered(c, { ...response, headers: { ...response.headers, ...headers } });
}

/** A 429 SCIM Error with `Retry-After`, its reason recorded in the audit entry (`detail.refused`). */
function tooManyRequests(c: Context<ScimAuditEnv>, retryAfterSeconds: number, reason: string, detail: string): Response {
  c.set("auditRefusal", reason);
  return scimError(c, 429, `${detail}: ${retryAfterText(retryAfterSeconds)}`, { "Retry-After": String(retryAfterSeconds) });
}

/** Whether the directory segment of the request's path is valid percent-encoding. */
function directorySegmentDecodes(c: Context): boolean {
  const segment = c.req.path.slice(SCIM_MOUNT.length + 1).split("/", 1)[0] ?? "";
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}

/** The 400 of a path that is not valid percent-encoding (as scim-core answers it). */
function malformedPath(c: Context<ScimAuditEnv>): Response {
  return rendered(c, errorResponse(badRequest("invalidSyntax", "the request path is not correctly percent-encoded")));
}

/**
 * The answer to a request without a valid token, given before its body is read (a client could
 * otherwise hold a connection and a megabyte of memory per request until its body ends): 401, or
 * 400 when the directory segment is not valid percent-encoding, with `Connection: close` when a
 * body is pending. Audited as a refusal: a flood of wrong tokens costs the log two rows per window.
 */
function refuseUnauthenticated(c: Context<ScimAuditEnv>): Response {
  c.set("auditRefusal", "unauthenticated");
  return closingIfBodyPending(c, directorySegmentDecodes(c) ? unauthenticated(c) : malformedPath(c));
}

/**
 * The response with `Connection: close` when the request has a body that nobody read (RFC 9112
 * §9.6): the rest is not worth reading from a client that is refused.
 */
function closingIfBodyPending(c: Context, response: Response): Response {
  const length = c.req.header("content-length");
  const pending = c.req.header("transfer-encoding") !== undefined || (length !== undefined && length.trim() !== "0");
  if (pending) response.headers.set("Connection", "close");
  return response;
}

/** scim-core's rendered Error response as Hono's. */
function rendered(c: Context<ScimAuditEnv>, response: ScimResponse): Response {
  return c.body(JSON.stringify(response.body), response.status as 400 | 401 | 403 | 429, response.headers);
}

/**
 * The id of the directory's token a request carries (by its hash; no verification, no last-use
 * update). A token's hash always names the same token, so known pairs are kept in memory: the
 * audit costs no extra query per request.
 */
function tokenIdReader(sync: DirectorySync): ScimAuditOptions["tokenId"] {
  const known = new Map<string, string>();
  return async (c, directoryId, options = {}) => {
    const hash = bearerTokenHash(c.req.header("authorization"));
    if (hash === undefined) return undefined;
    const key = `${directoryId} ${hash}`;
    const cached = known.get(key);
    if (cached !== undefined || options.known === true) return cached;
    const row = await sync.db
      .selectFrom("dir_tokens")
      .select("id")
      .where("token_hash", "=", hash)
      .where("directory_id", "=", directoryId)
      .executeTakeFirst();
    if (row !== undefined) {
      if (known.size >= 10_000) known.delete(known.keys().next().value!);
      known.set(key, row.id);
    }
    return row?.id;
  };
}

/**
 * SCIM error answers repeat ids and values from the request (`Resource <id> not found`, RFC 7644
 * §3.12): a token pasted where an id goes comes back redacted. Successful answers are left alone.
 */
const redactErrorDetails: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.status < 400) return;
  const text = await c.res.clone().text();
  const redacted = redactText(text);
  if (redacted === text) return;
  c.res = new Response(redacted, { status: c.res.status, headers: c.res.headers });
  c.res.headers.delete("content-length");
};

/** A Hono app serving `/scim/v2/:directoryId/*`, behind the audit log, the IP allowlist and the rate limit. */
export function directoryScimRoutes(sync: DirectorySync, options: ScimRoutesOptions = {}): Hono {
  const app = new Hono<ScimAuditEnv>();
  const settings = options.settings ?? new GuardSettingsCache(sync.directories);
  const audit = options.audit === undefined ? sync.audit : options.audit;
  const limiter = options.rateLimiter === undefined ? new RateLimiter() : options.rateLimiter;
  const enforceAllowlist = options.ipAllowlist ?? true;
  const scoped = `${SCIM_MOUNT}/:directoryId/*`;
  const directoryParam = (c: Context): string => c.req.param("directoryId") ?? "";

  if (audit !== false) {
    app.use(
      scoped,
      scimAuditMiddleware(audit, {
        directoryId: (c) => {
          const id = directoryParam(c);
          return isDirectoryId(id) ? id : undefined;
        },
        tokenId: tokenIdReader(sync),
        secretMention: secretMentionOf(sync.registry),
        ...(options.onError ? { onError: options.onError } : {}),
      }),
    );
  }

  if (enforceAllowlist || limiter !== false) {
    const failureLimit = options.authFailureRateLimit ?? DEFAULT_AUTH_FAILURE_LIMIT;
    // Buckets of client addresses apart from the directories': many addresses cannot push a
    // directory's bucket out of the limiter (which would refill it).
    // They keep the directories' limiter's clock (tests stop it).
    const failures = new RateLimiter(limiter !== false ? { now: limiter.now } : {});
    const trusted = new KnownTokens();
    // The tokens used in the last week count as known from the start: after a restart, a flood
    // of wrong tokens from an address an IdP shares (a proxy) would otherwise lock out every IdP
    // whose token had not authenticated again yet. Asked for before a refusal, not awaited at start.
    const recentTokens = sync.tokens.recentlyUsed(RECENT_TOKENS_MS, MAX_KNOWN_TOKENS).then(
      (rows) => {
        for (const { directoryId, hash } of rows) trusted.learn(`${directoryId} ${hash}`);
      },
      (error: unknown) => options.onError?.(error),
    );
    /** Searches no index answers, running now, by directory (`maxConcurrentSearches`). */
    const searching = new Map<string, number>();
    const guard: MiddlewareHandler<ScimAuditEnv> = async (c, next) => {
      const directoryId = directoryParam(c);
      const { settings: current, exists } = await settings.lookup(directoryId);
      // Made-up directory ids leave no audit rows; authentication answers them 401.
      if (!exists) c.set("auditSkip", true);
      // The token's hash, once (no directory that does not exist has a token).
      const hash = exists ? bearerTokenHash(c.req.header("authorization")) : undefined;
      const address = clientAddress(c, options.trustProxy);
      // IPv6 clients by their /64: one client may hold every address of it.
      const failureKey = limiterKey(address);
      const refuse = (retryAfterSeconds: number, reason = "rate_limited", detail = "too many requests") => tooManyRequests(c, retryAfterSeconds, reason, detail);
      if (enforceAllowlist && !isIpAllowed(current.ipAllowlist, address)) {
        // Nothing is served outside the allowlist. Only a valid token learns why (403): without
        // one, the answer is an unknown directory's (401), so that the allowlist does not tell an
        // outside address which directory ids exist. The token check takes from the address's
        // failures first, as any unknown token does; a valid token gives it back.
        c.set("auditRefusal", "ip_not_allowed");
        if (limiter !== false) {
          const decision = failures.take(failureKey, failureLimit);
          if (!decision.allowed) return refuse(decision.retryAfterSeconds, "failed_authentications");
        }
        if (hash === undefined || !(await sync.tokens.isActiveFor(hash, directoryId))) return unauthenticated(c);
        if (limiter !== false) failures.refund(failureKey, failureLimit);
        return scimError(c, 403, "requests to this directory are not allowed from this address");
      }
      if (limiter === false) {
        // Without a limiter there is no bucket to spend, but the token is still checked before
        // the body is read (see below).
        if (hash === undefined || !(await sync.tokens.isActiveFor(hash, directoryId))) return refuseUnauthenticated(c);
        return next();
      }
      // Before any token work, a request whose token has not authenticated here before takes a
      // token from its client address's bucket of failures. Only a request whose token is valid
      // for the directory takes one from the directory's bucket (its id is in its URL: anyone
      // could otherwise drain its rate and lock its IdP out); a token not known yet is checked
      // first. After the answer, a failed authentication (a token revoked meanwhile) gives the
      // directory's token back and keeps its failure; a success gives the failure token back and
      // makes its token known, so that failures from a shared address (a proxy) never lock out a
      // working IdP.
      const tokenKey = hash === undefined ? undefined : `${directoryId} ${hash}`;
      let known = tokenKey !== undefined && trusted.has(tokenKey);
      // Failures first, before the token is checked: a flood of wrong tokens from one address
      // costs at most its burst of lookups.
      if (!known) {
        const decision = failures.take(failureKey, failureLimit);
        if (!decision.allowed) {
          // Unless the token was in use before the process started.
          await recentTokens;
          known = tokenKey !== undefined && trusted.has(tokenKey);
          if (!known) return refuse(decision.retryAfterSeconds, "failed_authentications");
        }
      }
      const spends = exists && hash !== undefined && (known || (await sync.tokens.isActiveFor(hash, directoryId)));
      c.set("tokenVerified", spends);
      if (!spends) return refuseUnauthenticated(c);
      const decision = limiter.take(directoryId, current.rateLimit);
      if (!decision.allowed) {
        if (!known) failures.refund(failureKey, failureLimit);
        return refuse(decision.retryAfterSeconds);
      }
      // A list, once the directory's searches have used their share of the database (the
      // request is looked at only then: the common case costs one bucket check).
      const share = sync.searchTime?.limiter.check(directoryId, sync.searchTime.budget);
      if (share !== undefined && !share.allowed && searchesTheStore(sync.registry, c.req.method, c.req.path, queryParam(c, "filter"))) {
        return refuse(share.retryAfterSeconds, "search_time", "this directory's searches have used their share of the database");
      }
      // A write, once the directory's writes have made as many changes as its rate allows.
      const changed = sync.changes?.limiter.check(directoryId, sync.changes.budget);
      if (changed !== undefined && !changed.allowed && writes(c.req.method, c.req.path)) {
        limiter.refund(directoryId, current.rateLimit);
        return refuse(changed.retryAfterSeconds, "changes", "this directory's writes have made as many changes as its rate allows");
      }
      // A search no index answers, while the directory already runs as many as it may.
      const maxSearches = sync.maxConcurrentSearches;
      const counted = maxSearches !== undefined && scansTheStore(sync.registry, c);
      if (counted) {
        const running = searching.get(directoryId) ?? 0;
        if (running >= maxSearches) {
          limiter.refund(directoryId, current.rateLimit);
          return refuse(1, "concurrent_searches", `this directory already runs ${running} searches that no index answers`);
        }
        searching.set(directoryId, running + 1);
      }
      try {
        await next();
      } finally {
        if (counted) {
          const left = (searching.get(directoryId) ?? 1) - 1;
          if (left > 0) searching.set(directoryId, left);
          else searching.delete(directoryId);
        }
      }
      // A large answer counts for more than one request (see ANSWER_BYTES_PER_REQUEST).
      const surcharge = answerSurcharge(c.res);
      if (surcharge > 0) limiter.spend(directoryId, current.rateLimit, surcharge);
      if (c.res.status === 401) {
        limiter.refund(directoryId, current.rateLimit);
        if (known) {
          trusted.forget(tokenKey!);
          failures.take(failureKey, failureLimit);
        }
      } else if (!known) {
        failures.refund(failureKey, failureLimit);
        // Only a success proves the token (a 404 or a 500 may come before authentication).
        if (tokenKey !== undefined && c.res.status < 300) trusted.remember(tokenKey);
      }
    };
    app.use(scoped, guard);
  }

  // Reads whose answer can be megabytes, each until its answer is written (see large-reads.ts).
  const largeReads = sync.options.maxConcurrentLargeReads ?? sync.options.maxConcurrentGroupReads ?? DEFAULT_MAX_CONCURRENT_LARGE_READS;
  if (largeReads !== false) {
    app.use(
      scoped,
      largeReadTurns({
        limit: largeReads,
        scopeOf: directoryParam,
        readsLarge: scimReadsLarge((c) => scimSegments(c.req.path).slice(1)),
        refuse: tooManyRequests,
        ...(sync.threadTurns !== undefined ? { thread: sync.threadTurns } : {}),
        // Searches (a filter no index answers, a sortBy) run on the store's search thread, when it has one.
        takesThread: (c) => !(sync.store.searchesOffThread && scansTheStore(sync.registry, c)),
      }),
    );
  }

  app.use(scoped, redactErrorDetails);
  // The request's writes are its token holder's: the store's tenant guard refuses them once the
  // token is revoked, also when the request authenticated before (see write-origin.ts).
  app.use(scoped, (c, next) => {
    const hash = bearerTokenHash(c.req.header("authorization"));
    return hash === undefined ? next() : asTokenHolder(directoryParam(c), hash, next);
  });
  app.route(`${SCIM_MOUNT}/:directoryId`, scimHono(sync.scim));
  // A failure of the guards themselves (the token lookup): a SCIM Error, 503 with Retry-After when
  // the database cannot be reached or is locked (the IdP retries), else 500.
  app.onError((error, c) => {
    options.onError?.(error);
    return rendered(c, errorResponse(databaseUnavailable(error) ?? new ScimError(500, undefined, "An internal error occurred")));
  });
  return app as unknown as Hono;
}

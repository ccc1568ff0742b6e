/**
 * The directory-sync service: directories, tokens and the SCIM server that serves every
 * directory at `/scim/v2/{directoryId}`, on one database shared with scim-store-sql (each
 * directory's id is the SCIM tenant of its users and groups).
 */
import { sql, type Kysely } from "kysely";
import {
  badRequest,
  bearerToken,
  createScimServer,
  defaultRegistry,
  type Principal,
  type ScimEventSubscriber,
  type ScimHooks,
  type ScimRequest,
  type ScimResourceBody,
  type ScimServer,
  type SchemaRegistry,
} from "scim-core";
import { compiledStatement, migrateScimTables, restartPositions, sqlStore, type ScimSqlDatabase, type SqlDialectName, type SqlScimStore } from "scim-store-sql";
import { AuditLog, type AuditLogOptions } from "./audit.js";
import { DirectoryService, fencedChange, type Directory } from "./directories.js";
import { DirectoryGoneError } from "./errors.js";
import { writeOrigin } from "./write-origin.js";
import { isDirectoryId } from "./ids.js";
import { LinkService } from "./links.js";
import { migrateDirectoryTables } from "./migrations.js";
import { DirectoryDataService, liveResourcesInWireForm } from "./normalized.js";
import { provisioningHooks, type DirectoryHooks, type DirectoryPrincipal } from "./provisioning.js";
import { RoleService } from "./roles.js";
import { DEFAULT_SEARCH_TIME_BUDGET, DEFAULT_CHANGE_BUDGET, RateLimiter, type RateLimitConfig } from "./rate-limit.js";
import type { DirectoryDatabase } from "./tables.js";
import { isActiveToken, TokenService } from "./tokens.js";
import { ThreadTurns } from "./thread-turns.js";

/** Options of {@link createDirectorySync}. */
export interface DirectorySyncOptions {
  /** The database (from scim-store-sql's `openSqlite`, `openPostgres` or `openDatabase`). */
  database: ScimSqlDatabase;
  /**
   * The public origin of the service (`https://sync.example.com`), for SCIM URLs and
   * `meta.location`. @default the origin each request arrived at
   */
  publicUrl?: string;
  /** The host application's hooks (deprovisioning). */
  hooks?: DirectoryHooks;
  /** Schemas: the core ones and any custom extensions the directories receive. @default the core schemas */
  registry?: SchemaRegistry;
  /** More event subscribers (run inside the change's transaction, after the outbox write). */
  subscribers?: readonly ScimEventSubscriber[];
  /** The clock, for tests. @default () => new Date() */
  now?: () => Date;
  /** Receives unexpected errors of SCIM requests (the client gets a generic 500). */
  onError?: (error: unknown, request: ScimRequest) => void;
  /** How the audit log writes (batching) and where its write failures go. */
  audit?: Omit<AuditLogOptions, "now">;
  /**
   * Longest a SCIM list request may read the store, in milliseconds; past it, 400 `tooMany`
   * (scim-core's `maxQueryMs`, RFC 7644 §3.12). On SQLite a long query holds up every directory's
   * requests meanwhile. @default 10000
   */
  maxQueryMs?: number;
  /**
   * The share of the database each directory's list searches may take, as a bucket of
   * milliseconds (`requestsPerSecond` ms of search per second, `burst` ms at once): past it, the
   * directory's list requests get 429 with `Retry-After` until it has refilled. `false`: no limit.
   * @default DEFAULT_SEARCH_TIME_BUDGET (500 ms per second, 30 s at once)
   */
  searchTimeBudget?: RateLimitConfig | false;
  /**
   * The rate of changes each directory's SCIM writes may make, counted as the events they write
   * (scim-store-sql's `onEvents`: a user created, a member added, a user's roles changed...), as a
   * bucket (`requestsPerSecond` changes per second, `burst` at once): past it, the directory's
   * SCIM writes (POST, PUT, PATCH, DELETE, Bulk) get 429 with `Retry-After` until it has refilled;
   * its reads go on. A request is refused only before it starts: the one that overdraws the
   * bucket completes, and the next ones wait the debt out. `false`: no limit.
   * @default DEFAULT_CHANGE_BUDGET (5,000 changes per second, 100,000 at once)
   */
  changeBudget?: RateLimitConfig | false;
  /**
   * Most searches that one directory may have running at once: lists with a filter no index
   * answers (`co`, most attributes) or with `sortBy`, and `.search` requests (plain pages, without
   * a filter, are not counted); more get 429 with `Retry-After: 1`. The search time share
   * is charged once a search ends, so many sent together all ran: on SQLite, whose searches hold
   * the server's thread, ten filters of 2 s each sent together held every directory for 20 s.
   * Index lookups (`userName eq`, `externalId eq`), what IdPs send, are never counted. `false`: no
   * limit. @default 2 on SQLite, no limit on PostgreSQL (its searches run beside the server's
   * thread, and the pool keeps connections for writes)
   */
  maxConcurrentSearches?: number | false;
  /**
   * Most reads whose answer can be megabytes (list pages of any resource type but lookups of at
   * most one resource, searches by POST, groups read with their members) one directory has answered at once,
   * each counted until its answer is written; the others wait their turn. A list page has a
   * budget of 8 MiB, a group none (50,000 members are a 10 MB answer): fifty such reads at once
   * ran a server capped at a 512 MB heap out of memory. A connection that stops reading such an
   * answer for 30 s, or takes more than 120 s over it, is closed; at most 32 reads wait, each at
   * most 30 s, the others get a 429. `false`: no limit. @default 4
   */
  maxConcurrentLargeReads?: number | false;
  /** @deprecated The earlier name of {@link maxConcurrentLargeReads} (used when that one is not given). */
  maxConcurrentGroupReads?: number | false;
}

/** The default of {@link DirectorySyncOptions.maxConcurrentLargeReads}. */
export const DEFAULT_MAX_CONCURRENT_LARGE_READS = 4;

/** The running service. */
export interface DirectorySync {
  readonly db: Kysely<DirectoryDatabase>;
  readonly store: SqlScimStore;
  readonly directories: DirectoryService;
  readonly tokens: TokenService;
  /** Group-to-role mappings and each user's roles. */
  readonly roles: RoleService;
  /** Links between users of one organization (link by email). */
  readonly links: LinkService;
  /** Normalized users and groups, their paging and filters, and counts. */
  readonly data: DirectoryDataService;
  /** The audit log of SCIM requests and admin actions (written in batches; `close()` writes what waits). */
  readonly audit: AuditLog;
  /** The SCIM server of every directory; mount it at `/scim/v2/:directoryId` (see `directoryScimRoutes`). */
  readonly scim: ScimServer;
  /** The time each directory's list searches have taken, against its budget (`searchTimeBudget`); undefined without one. */
  readonly searchTime: { limiter: RateLimiter; budget: RateLimitConfig } | undefined;
  /** The changes each directory's writes have made, against its budget (`changeBudget`); undefined without one. */
  readonly changes: { limiter: RateLimiter; budget: RateLimitConfig } | undefined;
  /** Most searches no index answers one directory may run at once (`maxConcurrentSearches`); undefined: no limit. */
  readonly maxConcurrentSearches: number | undefined;
  /**
   * On SQLite, the turns on the server's thread that reads of large answers take, one at a time
   * across every directory and the admin API (see {@link ThreadTurns}); undefined on PostgreSQL.
   */
  readonly threadTurns: ThreadTurns | undefined;
  readonly registry: SchemaRegistry;
  readonly options: DirectorySyncOptions;
  /** The SCIM base URL of a directory, given the origin to use when `publicUrl` is not set. */
  scimUrl(directoryId: string, origin?: string): string;
  /**
   * After the database was restored from a backup, before serving: moves the positions of events
   * and audit entries 2^40 past the latest ones, so that none handed out between the backup and
   * the restore is handed out again to another entry (a reader past the backup's latest would
   * otherwise skip, without a word, what took its positions), and every events cursor from before
   * counts as pruned: its reader gets 410 `cursor_expired` and reads the lists again (the events
   * it applied after the backup were rolled back). Once per restore, while nothing writes.
   */
  restartPositions(): Promise<{ events: number; audit: number }>;
  /** Writes the audit entries that wait, then closes the database. */
  close(): Promise<void>;
}

/** Moves the audit log's positions 2^40 past the latest one (scim-store-sql's `restartPositions`; see {@link DirectorySync.restartPositions}). */
async function restartAuditPositions(db: Kysely<DirectoryDatabase>, dialect: SqlDialectName): Promise<number> {
  const sequence = dialect === "sqlite" ? "" : (await sql<{ name: string }>`select pg_get_serial_sequence('dir_audit_log', 'seq') as name`.execute(db)).rows[0]!.name;
  return restartPositions(db as unknown as Kysely<unknown>, dialect, { table: "dir_audit_log", sequence });
}

/** A directory's state and, when the request's token is one of its, that token's end (see {@link selectDirectoryAndToken}). */
type TokenOfDirectory = { state: string; token_id: string | null; revoked_at: string | null; expires_at: string | null };

/**
 * A directory's state, with the token whose hash is `tokenHash` when it is one of the directory's
 * (the store's tenant guard, on every write transaction: compiled once).
 */
const selectDirectoryAndToken = compiledStatement<DirectoryDatabase, "directoryId" | "tokenHash">(["directoryId", "tokenHash"], (db, v) =>
  db
    .selectFrom("dir_directories as d")
    .leftJoin("dir_tokens as t", (join) => join.onRef("t.directory_id", "=", "d.id").on("t.token_hash", "=", v.tokenHash))
    .select(["d.state", "t.id as token_id", "t.revoked_at", "t.expires_at"])
    .where("d.id", "=", v.directoryId),
);

/** The mount path of the SCIM endpoints; the directory id follows it. */
export const SCIM_MOUNT = "/scim/v2";

/**
 * The directory id a SCIM request is addressed to: the last segment of its base URL. A segment
 * that is not valid percent-encoding (`/scim/v2/%zz/Users`) is a 400 `invalidSyntax`, as it is
 * in the rest of the path.
 */
export function directoryIdOf(request: ScimRequest): string | undefined {
  const base = request.baseUrl;
  if (base === undefined) return undefined;
  const path = base.replace(/^[a-z]+:\/\/[^/]+/i, "").replace(/\/+$/, "");
  const segments = path.split("/");
  if (segments.length < 2 || `/${segments.slice(1, -1).join("/")}`.endsWith(SCIM_MOUNT) === false) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(segments[segments.length - 1]!);
  } catch {
    throw badRequest("invalidSyntax", "the request path is not correctly percent-encoded");
  }
  return isDirectoryId(id) ? id : undefined;
}

/**
 * Composes lifecycle hooks (scim-core README, "Hooks and events"): `before*` hooks run in order,
 * each given what the previous one returned (the last value returned wins); `after*` hooks run
 * in order, inside the write's transaction; a request starts over when any `revalidate` says so.
 */
export function composeHooks(...all: readonly ScimHooks[]): ScimHooks {
  const each = <K extends keyof ScimHooks>(name: K) => all.map((h) => h[name]).filter((h): h is NonNullable<ScimHooks[K]> => h !== undefined);
  const [beforeCreate, beforeReplace, beforePatch, beforeDelete] = [each("beforeCreate"), each("beforeReplace"), each("beforePatch"), each("beforeDelete")];
  const [afterCreate, afterReplace, afterPatch, afterDelete] = [each("afterCreate"), each("afterReplace"), each("afterPatch"), each("afterDelete")];
  const composed: ScimHooks = {};
  if (beforeCreate.length > 0) {
    composed.beforeCreate = async (ctx, resource) => {
      let changed: Record<string, unknown> | undefined;
      for (const hook of beforeCreate) changed = (await hook(ctx, changed ?? resource)) ?? changed;
      return changed;
    };
  }
  if (beforeReplace.length > 0) {
    composed.beforeReplace = async (ctx, next, current) => {
      let changed: Record<string, unknown> | undefined;
      for (const hook of beforeReplace) changed = (await hook(ctx, changed ?? next, current)) ?? changed;
      return changed;
    };
  }
  if (beforePatch.length > 0) {
    composed.beforePatch = async (ctx, operations, current) => {
      let changed: typeof operations | undefined;
      for (const hook of beforePatch) changed = (await hook(ctx, changed ?? operations, current)) ?? changed;
      return changed;
    };
  }
  if (beforeDelete.length > 0) {
    composed.beforeDelete = async (ctx, current) => {
      for (const hook of beforeDelete) await hook(ctx, current);
    };
  }
  if (afterCreate.length > 0) {
    composed.afterCreate = async (ctx, resource) => {
      for (const hook of afterCreate) await hook(ctx, resource);
    };
  }
  if (afterReplace.length > 0) {
    composed.afterReplace = async (ctx, resource, previous) => {
      for (const hook of afterReplace) await hook(ctx, resource, previous);
    };
  }
  if (afterPatch.length > 0) {
    composed.afterPatch = async (ctx, resource, previous) => {
      for (const hook of afterPatch) await hook(ctx, resource, previous);
    };
  }
  if (afterDelete.length > 0) {
    composed.afterDelete = async (ctx, previous) => {
      for (const hook of afterDelete) await hook(ctx, previous);
    };
  }
  const revalidate = each("revalidate");
  if (revalidate.length > 0) composed.revalidate = (ctx, seen, latest) => revalidate.some((hook) => hook(ctx, seen, latest));
  return composed;
}

/**
 * Creates the service: migrates both sets of tables, then wires the SCIM server with the
 * directory token authentication, the provisioning, link and role hooks, the event outbox and
 * the role subscriber (after the outbox, inside each change's transaction).
 */
export async function createDirectorySync(options: DirectorySyncOptions): Promise<DirectorySync> {
  const now = options.now ?? (() => new Date());
  const registry = options.registry ?? defaultRegistry();
  const { database } = options;
  const schema = database.schema !== undefined ? { schema: database.schema } : {};
  await migrateScimTables(database.db, database.dialect, schema);
  await migrateDirectoryTables(database.db, database.dialect, schema);
  const db = database.db as unknown as Kysely<DirectoryDatabase>;
  const searchBudget = options.searchTimeBudget === undefined ? DEFAULT_SEARCH_TIME_BUDGET : options.searchTimeBudget;
  const searchTime = searchBudget === false ? undefined : { limiter: new RateLimiter(), budget: searchBudget };
  const changeBudget = options.changeBudget === undefined ? DEFAULT_CHANGE_BUDGET : options.changeBudget;
  const changes = changeBudget === false ? undefined : { limiter: new RateLimiter(), budget: changeBudget };
  const store = sqlStore({
    database,
    registry,
    now,
    ...(searchTime !== undefined ? { onSearch: (directoryId: string, ms: number) => searchTime.limiter.spend(directoryId, searchTime.budget, ms) } : {}),
    ...(changes !== undefined ? { onEvents: (directoryId: string, count: number) => changes.limiter.spend(directoryId, changes.budget, count) } : {}),
    // A request authenticated just before its directory was deleted or made inactive must not
    // write into it: checked under the directory's lock, which the deletion and the deactivation
    // hold until they commit (they wait for the writes under way). The administrator's own
    // writes (a deletion, a mapping's roles) go on while the directory is inactive.
    // The same for a request whose token was revoked (or ended) meanwhile: the revocation and the
    // rotation hold the lock too.
    tenantGuard: async (tx, directoryId) => {
      const origin = writeOrigin();
      // Only a SCIM request's writes to its own directory are its token's (a deleted user's links
      // in other directories are not).
      const holder = origin !== undefined && "tokenHash" in origin && origin.directoryId === directoryId ? origin : undefined;
      const [found] = (await selectDirectoryAndToken<TokenOfDirectory>(tx as Kysely<DirectoryDatabase>, database.dialect, { directoryId, tokenHash: holder?.tokenHash ?? "" })).rows;
      if (found === undefined) throw new DirectoryGoneError();
      if (holder === undefined) return;
      if (found.state !== "active") throw new DirectoryGoneError("the directory is inactive");
      if (found.token_id === null || !isActiveToken(found, now().toISOString())) throw new DirectoryGoneError("the token was revoked");
    },
  });
  const onDeprovision = options.hooks?.onDeprovision;
  const directories = new DirectoryService(db, now, registry, {
    store,
    registry,
    // A deleted directory's users are deleted too: the host deprovisions each of them first.
    ...(onDeprovision !== undefined
      ? {
          beforeDelete: async (directory: Directory) => {
            for await (const { resource } of liveResourcesInWireForm(db, database.dialect, registry, directory.id, "User")) {
              await onDeprovision({ directory, user: resource as ScimResourceBody, reason: "deleted" });
            }
          },
        }
      : {}),
  });
  // Revocations and rotations wait for the directory's writes under way (the tenant lock), after
  // its row, as every change of a directory takes them.
  const tokens = new TokenService(db, now, database.dialect, (directoryId, work) => fencedChange(store, directoryId, (_, txDb) => work(txDb)));
  const roles = new RoleService(db, store, directories, now);
  const links = new LinkService(db, now);
  const data = new DirectoryDataService(db, store, directories, roles, links, registry);
  const audit = new AuditLog(db, { ...options.audit, now });
  const publicUrl = options.publicUrl?.replace(/\/+$/, "");

  /**
   * A token authenticates only for its own directory, only while it is active (not revoked or
   * expired), and only while the directory is active; anything else is a 401.
   */
  const authenticate = async (request: ScimRequest): Promise<Principal | null> => {
    const secret = bearerToken(request);
    const directoryId = directoryIdOf(request);
    if (secret === undefined || directoryId === undefined) return null;
    const found = await tokens.verifyFor(secret, directoryId);
    if (found === undefined || found.directory.state !== "active") return null;
    const { token, directory } = found;
    const principal: DirectoryPrincipal = { tenant: directory.id, tokenId: token.id, directory };
    return principal;
  };

  const hooks: ScimHooks = composeHooks(provisioningHooks(options.hooks ?? {}, registry), roles.hooks);
  const scim = createScimServer({
    store,
    registry,
    authenticate,
    ...(publicUrl !== undefined ? { baseUrl: (_request: ScimRequest, principal: Principal) => `${publicUrl}${SCIM_MOUNT}/${principal.tenant}` } : {}),
    hooks,
    subscribers: [store.outbox, roles.subscriber, links.subscriber, ...(options.subscribers ?? [])],
    ...(options.onError ? { onError: options.onError } : {}),
    ...(options.maxQueryMs !== undefined ? { maxQueryMs: options.maxQueryMs } : {}),
  });

  return {
    db,
    store,
    directories,
    tokens,
    roles,
    links,
    data,
    audit,
    scim,
    searchTime,
    changes,
    maxConcurrentSearches: options.maxConcurrentSearches === false ? undefined : (options.maxConcurrentSearches ?? (database.dialect === "sqlite" ? 2 : undefined)),
    threadTurns: database.dialect === "sqlite" ? new ThreadTurns() : undefined,
    registry,
    options,
    scimUrl: (directoryId, origin) => `${publicUrl ?? origin?.replace(/\/+$/, "") ?? ""}${SCIM_MOUNT}/${directoryId}`,
    restartPositions: async () => {
      await audit.flush();
      const events = await store.restartEventPositions();
      const auditLatest = await restartAuditPositions(db, database.dialect);
      return { events, audit: auditLatest };
    },
    close: async () => {
      try {
        await audit.flush();
      } finally {
        await database.destroy();
      }
    },
  };
}

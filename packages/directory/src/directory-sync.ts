/**
 * The directory-sync service: directories, tokens and the SCIM server that serves every
 * directory at `/scim/v2/{directoryId}`, on one database shared with scim-store-sql (each
 * directory's id is the SCIM tenant of its users and groups).
 */
import type { Kysely } from "kysely";
import {
  bearerToken,
  createScimServer,
  defaultRegistry,
  type Principal,
  type ScimEventSubscriber,
  type ScimHooks,
  type ScimRequest,
  type ScimServer,
  type SchemaRegistry,
} from "scim-core";
import { migrateScimTables, sqlStore, type ScimSqlDatabase, type SqlScimStore } from "scim-store-sql";
import { DirectoryService } from "./directories.js";
import { migrateDirectoryTables } from "./migrations.js";
import { provisioningHooks, type DirectoryHooks, type DirectoryPrincipal } from "./provisioning.js";
import type { DirectoryDatabase } from "./tables.js";
import { TokenService } from "./tokens.js";

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
}

/** The running service. */
export interface DirectorySync {
  readonly db: Kysely<DirectoryDatabase>;
  readonly store: SqlScimStore;
  readonly directories: DirectoryService;
  readonly tokens: TokenService;
  /** The SCIM server of every directory; mount it at `/scim/v2/:directoryId` (see `directoryScimRoutes`). */
  readonly scim: ScimServer;
  readonly registry: SchemaRegistry;
  readonly options: DirectorySyncOptions;
  /** The SCIM base URL of a directory, given the origin to use when `publicUrl` is not set. */
  scimUrl(directoryId: string, origin?: string): string;
  /** Closes the database. */
  close(): Promise<void>;
}

/** The mount path of the SCIM endpoints; the directory id follows it. */
export const SCIM_MOUNT = "/scim/v2";

/** The directory id a SCIM request is addressed to: the last segment of its base URL. */
export function directoryIdOf(request: ScimRequest): string | undefined {
  const base = request.baseUrl;
  if (base === undefined) return undefined;
  const path = base.replace(/^[a-z]+:\/\/[^/]+/i, "").replace(/\/+$/, "");
  const segments = path.split("/");
  if (segments.length < 2 || `/${segments.slice(1, -1).join("/")}`.endsWith(SCIM_MOUNT) === false) return undefined;
  const id = decodeURIComponent(segments[segments.length - 1]!);
  return /^dir_[0-9a-f]{24}$/.test(id) ? id : undefined;
}

/**
 * Creates the service: migrates both sets of tables, then wires the SCIM server with the
 * directory token authentication, the provisioning hooks and the event outbox.
 */
export async function createDirectorySync(options: DirectorySyncOptions): Promise<DirectorySync> {
  const now = options.now ?? (() => new Date());
  const registry = options.registry ?? defaultRegistry();
  const { database } = options;
  const schema = database.schema !== undefined ? { schema: database.schema } : {};
  await migrateScimTables(database.db, database.dialect, schema);
  await migrateDirectoryTables(database.db, database.dialect, schema);
  const db = database.db as unknown as Kysely<DirectoryDatabase>;
  const store = sqlStore({ database, registry, now });
  const directories = new DirectoryService(db, now);
  const tokens = new TokenService(db, now);
  const publicUrl = options.publicUrl?.replace(/\/+$/, "");

  /**
   * A token authenticates only for its own directory, only while it is active (not revoked or
   * expired), and only while the directory is active; anything else is a 401.
   */
  const authenticate = async (request: ScimRequest): Promise<Principal | null> => {
    const secret = bearerToken(request);
    const directoryId = directoryIdOf(request);
    if (secret === undefined || directoryId === undefined) return null;
    const token = await tokens.verify(secret);
    if (token === undefined || token.directoryId !== directoryId) return null;
    const directory = await directories.find(directoryId);
    if (directory === undefined || directory.state !== "active") return null;
    const principal: DirectoryPrincipal = { tenant: directory.id, tokenId: token.id, directory };
    return principal;
  };

  const hooks: ScimHooks = provisioningHooks(options.hooks ?? {}, registry);
  const scim = createScimServer({
    store,
    registry,
    authenticate,
    ...(publicUrl !== undefined ? { baseUrl: (_request: ScimRequest, principal: Principal) => `${publicUrl}${SCIM_MOUNT}/${principal.tenant}` } : {}),
    hooks,
    subscribers: [store.outbox, ...(options.subscribers ?? [])],
    ...(options.onError ? { onError: options.onError } : {}),
  });

  return {
    db,
    store,
    directories,
    tokens,
    scim,
    registry,
    options,
    scimUrl: (directoryId, origin) => `${publicUrl ?? origin?.replace(/\/+$/, "") ?? ""}${SCIM_MOUNT}/${directoryId}`,
    close: () => database.destroy(),
  };
}

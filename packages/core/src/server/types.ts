/**
 * Types of the framework-free SCIM server (RFC 7644 §3): the plain request and response that
 * adapters translate to and from, the configuration, hooks and events.
 */
import type { ScimError } from "../errors/scim-error.js";
import type { MemberValue, PatchOperation } from "../patch/apply-patch.js";
import type { SchemaRegistry } from "../schema/registry.js";
import type { ScimStore, StoreContext } from "../store/types.js";

/** Header values as Node.js and most frameworks give them. */
export type ScimHeaders = Record<string, string | string[] | undefined>;

/** A request as an adapter hands it to the server. */
export interface ScimRequest {
  /** HTTP method, any case. */
  method: string;
  /** Path relative to the SCIM root, e.g. `/Users/2819c223`. */
  path: string;
  /** The raw query string, with or without the leading `?` (URL query semantics: `+` is a space). */
  query?: string;
  /** Request headers (names in any case). */
  headers?: ScimHeaders;
  /** The body: raw (string or bytes) or already parsed by the host's body parser. */
  body?: unknown;
  /**
   * The absolute URL of the SCIM root as the adapter sees the request (origin and mount path,
   * e.g. `https://app.example.com/scim/v2`). Used for `meta.location` when `config.baseUrl` is
   * not set, so that any mount prefix gives correct locations.
   */
  baseUrl?: string;
  /**
   * For adapters: the adapter's own body limit, when it has one. A body over it, or over the
   * server's, is a 413 (an adapter that stops reading at its limit hands on a cut body, which must
   * not read as malformed JSON).
   */
  maxBodyBytes?: number;
  /** For adapters: an abort signal of the client connection. */
  signal?: AbortSignal;
}

/** The response the server produces; adapters serialise `body` as JSON. */
export interface ScimResponse {
  status: number;
  headers: Record<string, string>;
  /** A JSON value, or undefined for 204/304. */
  body?: unknown;
}

/** Who is calling, as resolved by `authenticate`. Every store call is scoped to `tenant`. */
export interface Principal {
  tenant: string;
  /** Anything else the application wants to carry (token id, subject...). */
  [key: string]: unknown;
}

/** Passed to hooks and event subscribers. */
export interface OperationContext {
  principal: Principal;
  request: ScimRequest;
  resourceType: string;
  /** The store to use inside hooks: the transaction's store where there is one. */
  store: ScimStore;
  storeContext: StoreContext;
}

/** A SCIM resource in its wire form (with `id` and `meta`). */
export type ScimResourceBody = Record<string, unknown> & { id: string };

/**
 * Lifecycle hooks (scim-core README, "Hooks and events"). `before*` hooks run before the write,
 * outside any transaction: they validate, transform (return a new value) or refuse (throw a
 * ScimError); hooks that call other systems belong here and must be idempotent. `after*` hooks
 * react; where the store has transactions they run inside it, and a throwing after-hook rolls
 * the write back.
 */
export interface ScimHooks {
  beforeCreate?(ctx: OperationContext, resource: Record<string, unknown>): void | Record<string, unknown> | Promise<void | Record<string, unknown>>;
  afterCreate?(ctx: OperationContext, resource: ScimResourceBody): void | Promise<void>;
  beforeReplace?(ctx: OperationContext, next: Record<string, unknown>, current: ScimResourceBody): void | Record<string, unknown> | Promise<void | Record<string, unknown>>;
  afterReplace?(ctx: OperationContext, resource: ScimResourceBody, previous: ScimResourceBody): void | Promise<void>;
  beforePatch?(ctx: OperationContext, operations: PatchOperation[], current: ScimResourceBody): void | PatchOperation[] | Promise<void | PatchOperation[]>;
  afterPatch?(ctx: OperationContext, resource: ScimResourceBody, previous: ScimResourceBody): void | Promise<void>;
  beforeDelete?(ctx: OperationContext, current: ScimResourceBody): void | Promise<void>;
  afterDelete?(ctx: OperationContext, previous: ScimResourceBody): void | Promise<void>;
  /**
   * Whether `beforeReplace`'s or `beforePatch`'s decision, made on `seen` (the very object the
   * before-hook was given as `current`, so a hook may remember what it did for it), may not hold
   * for `latest`: the version other requests wrote meanwhile, to which the write would now apply
   * (a request without If-Match applies to the latest version). True starts the request over, so
   * that the before-hook runs again on `latest` (up to the server's conflict retries). For
   * example, a hook that acts when `active` turns false answers whether `active` differs: a user
   * reactivated by a concurrent request would otherwise be deactivated without the hook.
   */
  revalidate?(ctx: OperationContext, seen: ScimResourceBody, latest: ScimResourceBody): boolean;
}

/** Event types (scim-core README, "Hooks and events"). */
export type ScimEventType =
  | "user.created"
  | "user.updated"
  | "user.deactivated"
  | "user.reactivated"
  | "user.deleted"
  | "group.created"
  | "group.updated"
  | "group.deleted"
  | "group.user_added"
  | "group.user_removed"
  /** Emitted by layers above the server (scim-directory's group-to-role mapping), never by it. */
  | "user.roles_changed"
  /** Emitted by layers above the server (scim-directory's link by email: a user linked to an earlier user with its email), never by it. */
  | "user.linked"
  /** Emitted by layers above the server (scim-directory's link by email: a user whose link target was deleted, with no other to link to), never by it. */
  | "user.unlinked"
  /** Emitted by layers above the server (scim-directory, when a directory is deleted), never by it. */
  | "directory.deleted"
  /** Emitted by layers above the server (scim-directory, when a directory's name, state or settings change), never by it. */
  | "directory.updated";

/** One change, as delivered to subscribers. */
export interface ScimEvent {
  /** Unique and stable, for de-duplication. */
  id: string;
  type: ScimEventType;
  tenant: string;
  resourceType: string;
  resourceId: string;
  /** ISO 8601. */
  occurredAt: string;
  /** The resource after the change (before it, for deletions), without `returned: never` attributes. */
  resource?: ScimResourceBody;
  /** For `group.user_added` / `group.user_removed`: the member. */
  member?: MemberValue;
  /** Data of events emitted above the server (for `user.roles_changed`: the roles before and after). */
  data?: Record<string, unknown>;
}

/** An event subscriber; runs inside the store's unit of work where there is one. */
export type ScimEventSubscriber = (event: ScimEvent, ctx: OperationContext) => void | Promise<void>;

/** Configuration of {@link createScimServer}. */
export interface ScimServerConfig {
  /** Where resources live. */
  store: ScimStore;
  /** Resolves the caller from the request (usually its bearer token); null means 401. */
  authenticate: (request: ScimRequest) => Principal | null | undefined | Promise<Principal | null | undefined>;
  /**
   * The absolute URL of the SCIM root, for `meta.location` and `Location`; a function for
   * multi-tenant servers (`https://app.example.com/scim/v2/${principal.tenant}`). When omitted,
   * the URL the adapter saw (`ScimRequest.baseUrl`; for `fetch`, the request's origin and
   * `basePath`) is used: set it explicitly behind proxies that rewrite hosts.
   */
  baseUrl?: string | ((request: ScimRequest, principal: Principal) => string);
  /** Schemas and resource types. @default the core schemas (User, Group, EnterpriseUser) */
  registry?: SchemaRegistry;
  hooks?: ScimHooks;
  /** Event subscribers. */
  subscribers?: readonly ScimEventSubscriber[];
  /** Receives unexpected errors (the client gets a generic 500). Never given to the client. */
  onError?: (error: unknown, request: ScimRequest) => void;
  /** Paging of list responses (RFC 7644 §3.4.2.4). */
  paging?: {
    /** @default 100 */
    defaultCount?: number;
    /** Larger counts are reduced to this. @default 1000 */
    maxCount?: number;
    /**
     * The most a list page holds, in bytes of JSON (estimated from the stored resources, their
     * members included): a resource goes in while the page with it stays within it, so a page may hold fewer than
     * `count` (RFC 7644 §3.4.2.4 allows it; `itemsPerPage` says how many, and clients page on
     * from `startIndex + itemsPerPage` or `nextCursor`). A page always holds one resource when one
     * is left. It bounds what one list request holds in memory: without it, 1,000 resources of
     * 1 MB each make a 1 GB response. @default 8388608 (8 MiB)
     */
    maxPageBytes?: number;
  };
  /**
   * Largest request body in bytes; larger is 413. A body the host's own parser already read (an
   * object in `request.body`) was held to that parser's limit instead. @default 1048576
   */
  maxBodyBytes?: number;
  /**
   * Most values of one multi-valued attribute of a resource (`emails`, an extension's list...;
   * a group's `members` excepted, which stores keep apart): a POST, PUT or PATCH that would store
   * more is 400 `invalidValue`. It bounds what a resource grows to and the work of PATCH value
   * filters, which read every element. @default 1000
   */
  maxValues?: number;
  /** Most operations in one PATCH request (RFC 7644 §3.5.2); more is 413. @default 1000 */
  maxPatchOperations?: number;
  /**
   * Most comparisons in one filter (`a eq "x" or b co "y"` has two; those inside `[...]` count
   * too): more is 400 `invalidFilter`. Every comparison a store cannot answer from an index reads
   * every resource of the tenant, so this bounds what one list request costs. @default 100
   */
  maxFilterTerms?: number;
  /**
   * Longest a list request may spend reading the store, in milliseconds (its filter, sort and
   * count; a root `/.search` all its types together): past it the request is 400 `tooMany`
   * (RFC 7644 §3.12). A filter the store cannot answer from an index (`co`, `sw`, most attributes)
   * reads every resource of the tenant; on a large tenant that takes seconds, and an embedded
   * database (SQLite) holds up every other request meanwhile. Stores honor it through
   * `StoreQuery.deadline`. @default 10000
   */
  maxQueryMs?: number;
  /** Bulk limits advertised in ServiceProviderConfig (RFC 7644 §3.7). */
  bulk?: {
    /** @default true */
    enabled?: boolean;
    /** @default 1000 */
    maxOperations?: number;
    /** @default 1048576 */
    maxPayloadSize?: number;
  };
  /** Status of a successful PATCH per resource type: 200 with the resource, or 204. @default { User: 200, Group: 204 } */
  patchStatus?: Record<string, 200 | 204>;
  /** Group displayName unique per tenant (Entra requires it). @default true */
  uniqueGroupDisplayName?: boolean;
  /** Accept unquoted filter values as Entra sends them. @default true */
  lenientFilters?: boolean;
  /** Reject unknown attributes and schema URNs instead of dropping them. @default false */
  strict?: boolean;
  /** Maps the caller to its own User id for `/Me` (RFC 7644 §3.11); without it `/Me` is 501. */
  me?: (principal: Principal, request: ScimRequest) => string | undefined | Promise<string | undefined>;
  /**
   * For `fetch`: the path prefix of the SCIM root in request URLs (e.g. `/scim/v2`), removed
   * before routing. @default ""
   */
  basePath?: string;
}

/** The server: `handle` works on plain objects, `fetch` on web Request/Response. */
export interface ScimServer {
  handle: (request: ScimRequest) => Promise<ScimResponse>;
  fetch: (request: Request) => Promise<Response>;
  /**
   * The largest body any endpoint accepts (the larger of `maxBodyBytes` and the Bulk
   * `maxPayloadSize`): adapters read at most one byte more and let the server answer 413.
   */
  readonly maxBodyBytes: number;
}

/** @internal An error the server renders. */
export type RenderableError = ScimError;

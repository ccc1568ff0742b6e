/**
 * The storage boundary (scim-core README, "Writing a store over your own users table"). A store receives typed operations,
 * never SCIM text: filters arrive as the AST of `parseFilter`, uniqueness as precomputed keys,
 * group membership as deltas. Every operation is scoped to a tenant.
 */
import type { AttrPath, Filter } from "../filter/ast.js";
import type { MemberValue } from "../patch/apply-patch.js";
import type { ScimError } from "../errors/scim-error.js";

/** The tenant (for example a directory) that authentication resolved; every store call is scoped to it. */
export interface StoreContext {
  tenant: string;
}

/**
 * A resource as a store keeps it. What a store returns is the caller's to read, not to change: a
 * store may share `attributes` and `members` between reads (memoryStore returns them deep-frozen,
 * without copying), so code that needs a changed resource builds a new one (as `applyPatch` does).
 * A store never keeps a reference to what it is given: changing a written object afterwards does
 * not change the store.
 */
export interface StoredResource {
  id: string;
  /** Resource type name, e.g. "User" or "Group". */
  resourceType: string;
  /** Per-resource counter: 1 on create, +1 on every change. `meta.version` and the ETag are `W/"<version>"`. */
  version: number;
  /** ISO 8601 instants. */
  created: string;
  lastModified: string;
  /**
   * The canonical attributes (`schemas`, `externalId`, `userName`, extension objects...), without
   * `id`, `meta`, group `members` (kept as membership) and `User.groups` (derived).
   */
  attributes: Record<string, unknown>;
  /** Group members, present only when asked for with `members: true`. */
  members?: MemberValue[];
}

/**
 * A value that must be unique among the live resources of one type in one tenant (RFC 7643 §2.2
 * `uniqueness`; RFC 7644 §3.3 409 `uniqueness`). `value` is already case-folded where the
 * attribute is not caseExact, so the store compares exactly.
 */
export interface UniqueKey {
  /** Attribute path, e.g. "userName" or "displayName" (compare names case-insensitively, values exactly). */
  attribute: string;
  value: string;
}

/** What to write on create or replace. */
export interface StoreWrite {
  attributes: Record<string, unknown>;
  /** Unique keys of the new state; the store rejects a clash with 409 `uniqueness`, atomically. */
  uniqueKeys: readonly UniqueKey[];
  /** Group members to store (create) or to set (replace); undefined on replace keeps them. */
  members?: readonly MemberValue[];
}

/** Optimistic concurrency: the write applies only if the stored version is this one, else 412. */
export interface WriteCondition {
  expectedVersion?: number;
}

/** Sorting (RFC 7644 §3.4.2.3). */
export interface StoreSort {
  path: AttrPath;
  order: "ascending" | "descending";
}

/** A query over one resource type. The store applies what its capabilities declare. */
export interface StoreQuery {
  filter?: Filter;
  sort?: StoreSort;
  /** 1-based index paging (RFC 7644 §3.4.2.4). */
  startIndex?: number;
  /** Page size; 0 asks only for totalResults. */
  count?: number;
  /** Cursor paging (RFC 9865): "" for the first page. */
  cursor?: string;
  /** Load group members. */
  members?: boolean;
  /**
   * A budget for the page, in bytes of JSON (the resources' attributes, and their members when
   * loaded; see `estimateResourceBytes`): a store whose capabilities declare `pageBytes` stops
   * adding resources once the next would pass it, so a page may hold fewer than `count` (RFC 7644
   * §3.4.2.4), and always holds one when one is left. Index paging goes on from `startIndex` plus
   * the page's length, cursor paging from its `nextCursor`. It bounds what one list request
   * holds in memory whatever the resources weigh.
   */
  maxBytes?: number;
  /**
   * The server adds each resource's derived `groups` (RFC 7643 §4.1.2) to the response: a store
   * that keeps to `maxBytes` counts them too (`MEMBER_JSON_BYTES` each).
   */
  groups?: boolean;
  /**
   * When the query must be answered by (milliseconds since the epoch, as `Date.now()`): a store
   * gives up past it with `queryTimedOut()`, 400 `tooMany` (RFC 7644 §3.12), rather than scan on.
   * A store that cannot stop a query midway checks it between the steps it can (the server checks
   * between the chunks it reads). See `ScimServerConfig.maxQueryMs`.
   */
  deadline?: number;
}

export interface StoreQueryResult {
  resources: StoredResource[];
  totalResults: number;
  /** RFC 9865: cursor of the next page when there is one. */
  nextCursor?: string;
}

/** What a store does itself; the server does the rest in memory. */
export interface StoreCapabilities {
  /** Evaluates filters (all of them, or those for which the function says true). */
  filter: boolean | ((filter: Filter) => boolean);
  /** Sorts by any attribute path. */
  sort: boolean;
  /** Pages by startIndex/count. */
  paging: boolean;
  /** Pages by cursor (RFC 9865). */
  cursor: boolean;
  /**
   * Honors `StoreQuery.maxBytes` (never loading much more than it). Without it the server cuts
   * index pages to the budget after the store loaded them, and cursor pages not at all.
   */
  pageBytes?: boolean;
  /**
   * Queries run on the server's own thread and hold it until they end (an embedded database such
   * as SQLite): before each list, the server lets the requests that arrived meanwhile be read, so
   * that their time limit counts from their arrival (see `ScimServerConfig.maxQueryMs`).
   */
  blocking?: boolean;
  /**
   * Whether the store keeps (or hands on) a User's `password` (RFC 7643 §4.1.1). false: it drops
   * them; the server then leaves `password` out of what it writes, so that a change of the
   * password alone changes nothing, and advertises `changePassword.supported: false`
   * (RFC 7643 §5). @default true: the store is given passwords
   */
  passwords?: boolean;
}

/** A group a member belongs to, for the derived `User.groups` (RFC 7643 §4.1.2). */
export interface GroupRef {
  value: string;
  display?: string;
  type: "direct";
}

/** A live User or Group that a group's member reference may name, with the `display` it shows (RFC 7643 §4.2). */
export interface MemberCandidate {
  id: string;
  type: "User" | "Group";
  /** The resource's `displayName`, else a User's `userName`. */
  display?: string;
}

/** Options of {@link ScimStore.transaction}. */
export interface TransactionOptions {
  /**
   * The tenant the unit of work is for, when it is known before it starts (the server passes the
   * request's). A store may queue a busy tenant's units before they take a connection
   * (scim-store-sql on PostgreSQL does), so that one tenant's queue of writes, waiting for its
   * lock, cannot hold every connection while other tenants wait.
   */
  tenant?: string;
}

/**
 * A SCIM store. Errors are `ScimError`s: 404 for an unknown id, 409 `uniqueness` for a clash of
 * unique keys among live resources, 412 when `expectedVersion` does not match. A deleted resource
 * is gone for every operation and frees its unique keys (RFC 7644 §3.6).
 */
export interface ScimStore {
  readonly capabilities: StoreCapabilities;
  get(ctx: StoreContext, type: string, id: string, options?: { members?: boolean }): Promise<StoredResource | undefined>;
  query(ctx: StoreContext, type: string, query: StoreQuery): Promise<StoreQueryResult>;
  /** Creates a resource; the store assigns the id unless `id` is given (seeding, migration). */
  create(ctx: StoreContext, type: string, write: StoreWrite & { id?: string }): Promise<StoredResource>;
  replace(ctx: StoreContext, type: string, id: string, write: StoreWrite, condition?: WriteCondition): Promise<StoredResource>;
  delete(ctx: StoreContext, type: string, id: string, condition?: WriteCondition): Promise<void>;
  /**
   * Adds members (ignoring those already present); bumps the group's version. The member
   * operations act on resources of type "Group". Deleting a resource also removes it from every
   * group that lists it (and bumps those groups' versions). A new member that is not a live User or
   * Group of the tenant is a 400 `invalidValue`, checked in the write itself (here, in `setMembers`,
   * and in `create` and `replace` with members): the server checks members before it writes, and
   * one deleted in between must never be left in a group.
   */
  addMembers(ctx: StoreContext, groupId: string, members: readonly MemberValue[], condition?: WriteCondition): Promise<StoredResource>;
  /** Removes members by id (ignoring absent ones); bumps the group's version. */
  removeMembers(ctx: StoreContext, groupId: string, ids: readonly string[], condition?: WriteCondition): Promise<StoredResource>;
  /** Replaces the member list; bumps the group's version. */
  setMembers(ctx: StoreContext, groupId: string, members: readonly MemberValue[], condition?: WriteCondition): Promise<StoredResource>;
  /** The groups that list `memberId` directly. */
  groupsOf(ctx: StoreContext, memberId: string): Promise<GroupRef[]>;
  /**
   * The groups that list each of `memberIds` directly, as `groupsOf` gives them, by member id (an
   * id in no group may be left out) (optional). A list page whose users show their derived
   * `groups` (RFC 7643 §4.1.2) asks it once for the whole page; without it the server asks
   * `groupsOf` of each user, a query per user (1,000 for a page of 1,000 users).
   */
  groupsOfMany?(ctx: StoreContext, memberIds: readonly string[]): Promise<Map<string, GroupRef[]>>;
  /**
   * Which of `ids` group `groupId` lists directly (optional). A PATCH that adds or removes
   * members asks it once for all of them, to write and report only the net change; without it
   * the server asks `groupsOf` of each member, which costs a query per member (20,000 for an IdP's
   * push of a large group).
   */
  membersAmong?(ctx: StoreContext, groupId: string, ids: readonly string[]): Promise<Set<string>>;
  /**
   * The live Users and Groups of the tenant among `ids` (optional), in any order. A write that
   * gives a group new members asks it once for all of them, to check that they exist and fill in
   * their `type` and `display`; without it the server reads each member with `get`, one or two
   * queries per member.
   */
  memberCandidates?(ctx: StoreContext, ids: readonly string[]): Promise<MemberCandidate[]>;
  /**
   * Runs `work` as one unit: every write inside commits together or not at all. Inside `work`,
   * use the store it receives (writing through the outer store may wait for the unit itself).
   * Stores without transactions omit it.
   */
  transaction?<T>(work: (store: ScimStore) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * The SCIM error a failure of the store's database is answered with, when it is one the client
   * should retry (optional): typically a 503 with `retryAfterSeconds` for a database that cannot
   * be reached or is locked (RFC 7644 §3.12 lets a server answer any HTTP status; RFC 9110
   * §15.6.4). Undefined for any other failure, which stays a 500. The server still reports the
   * failure to `onError`.
   */
  unavailable?(error: unknown): ScimError | undefined;
}

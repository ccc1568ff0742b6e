/**
 * The admin API's contract: the zod schemas of its queries, inputs and outputs (the API validates
 * with them, the client is typed by them) and the OpenAPI 3.1 document built from them with zod
 * 4's `z.toJSONSchema` plus hand-written paths, served at `GET /api/openapi.json`.
 */
import { z } from "zod";
import { createDirectorySchema, updateDirectorySchema } from "./directories.js";
import type { UserLinkedData, UserUnlinkedData } from "./links.js";
import { DIRECTORY_ID_PATTERN } from "./ids.js";
import { createRoleMappingSchema, updateRoleMappingSchema } from "./roles.js";
import { DIRECTORY_TYPES, directorySettingsSchema } from "./settings.js";

// ─── Queries ──────────────────────────────────────────────────────────────────────────────────

/**
 * A whole number given in a query parameter: decimal digits only. An empty or blank value, `1e2`
 * or `0x10` is a 400, not the 0 or 100 that `Number()` makes of them (an empty `olderThanDays`
 * read as 0 deleted a whole audit log).
 */
const queryInteger = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === "string" && /^[0-9]{1,16}$/.test(v) ? Number(v) : v), z.number({ error: (issue) => (issue.code === "invalid_type" ? "expected a whole number in decimal digits" : undefined) }).int().min(min).max(max));
const limit = (max: number, fallback: number) => queryInteger(1, max).default(fallback);
const seqCursor = queryInteger(0, Number.MAX_SAFE_INTEGER).default(0);

/** `GET /api/directories`. */
export const listDirectoriesQuery = z.object({
  organizationId: z.string().min(1).max(200).optional(),
  /** The `nextCursor` of the previous page (opaque; a malformed one is a 400 `invalid_cursor`). */
  cursor: z.string().min(1).max(200).optional(),
  limit: limit(1000, 100),
}).strict();

/** `GET /api/directories/{id}/users`. */
export const listUsersQuery = z.object({
  /** The `nextCursor` of the previous page (opaque; a malformed one is a 400 `invalid_cursor`). */
  cursor: z.string().min(1).max(200).optional(),
  limit: limit(1000, 100),
  /** Users with this email (any of theirs, or their userName), case-insensitively. */
  email: z.string().min(1).max(320).optional(),
  /** Users with this userName, case-insensitively. */
  username: z.string().min(1).max(320).optional(),
  /** Users in this state (default: active and suspended). */
  state: z.enum(["active", "suspended", "deleted"]).optional(),
  /** Direct members of this group (by id). */
  group: z.string().min(1).max(200).optional(),
  /** The user with this externalId (the IdP's id for it; exact). */
  externalId: z.string().min(1).max(256).optional(),
}).strict();

/** `GET /api/directories/{id}/groups`. */
export const listGroupsQuery = z.object({
  /** The `nextCursor` of the previous page (opaque; a malformed one is a 400 `invalid_cursor`). */
  cursor: z.string().min(1).max(200).optional(),
  limit: limit(1000, 100),
  /** Groups with this displayName, case-insensitively. */
  name: z.string().min(1).max(256).optional(),
  externalId: z.string().min(1).max(256).optional(),
  /** Groups that are direct members of this group (by id): nested groups. */
  group: z.string().min(1).max(200).optional(),
}).strict();

/** A directory id as the service makes them (`dir_` and 24 hex digits): a typo is a 400, not an empty list. */
const directoryIdQuery = z.string().regex(DIRECTORY_ID_PATTERN, "not a directory id (dir_ and 24 hex digits)");

/** `GET /api/events`. */
export const listEventsQuery = z.object({
  /** Events after this `seq` (the `nextCursor` of the previous page); 0 for the beginning. */
  after: seqCursor,
  /** One directory's events (a deleted directory's too, while they are kept; 404 for an id that has none and names no directory). */
  directoryId: directoryIdQuery.optional(),
  limit: limit(1000, 100),
}).strict();

/** `GET /api/audit-log`. */
export const listAuditQuery = z.object({
  directoryId: directoryIdQuery.optional(),
  kind: z.enum(["scim", "admin"]).optional(),
  /** Entries after this `seq` (the `nextCursor` of the previous page); 0 for the beginning. */
  after: seqCursor,
  limit: limit(1000, 100),
}).strict();

/**
 * The retention deletes (`DELETE /api/audit-log`, `/api/events`,
 * `/api/directories/{id}/deleted-resources`): what is older than this many days goes (0: all
 * of it until now).
 */
export const olderThanDaysQuery = z.object({
  olderThanDays: queryInteger(0, 36_500),
}).strict();

// ─── Outputs ──────────────────────────────────────────────────────────────────────────────────

const isoDate = z.string().describe("ISO 8601 instant (UTC)");

/** A directory as the API shows it, with its SCIM base URL. */
export const directoryViewSchema = z.object({
  id: z.string(),
  organizationId: z.string(),
  name: z.string(),
  type: z.enum(DIRECTORY_TYPES),
  state: z.enum(["active", "inactive"]),
  settings: directorySettingsSchema,
  createdAt: isoDate,
  updatedAt: isoDate,
  /** Where the identity provider sends SCIM requests (RFC 7644 §3). */
  scimUrl: z.string(),
});
export type DirectoryView = z.output<typeof directoryViewSchema>;

/** A page of directories. */
export const directoryPageSchema = z.object({ data: z.array(directoryViewSchema), nextCursor: z.string().nullable() });
export type DirectoryPage = z.output<typeof directoryPageSchema>;

/** A token as listed: never the secret. */
export const tokenInfoSchema = z.object({
  id: z.string(),
  directoryId: z.string(),
  hint: z.string().describe("the last four characters of the token"),
  createdAt: isoDate,
  expiresAt: isoDate.nullable(),
  revokedAt: isoDate.nullable(),
  lastUsedAt: isoDate.nullable(),
  active: z.boolean(),
});
export type TokenView = z.output<typeof tokenInfoSchema>;

/** A token just created or rotated: `token` is the secret, shown this once. */
export const issuedTokenSchema = tokenInfoSchema.extend({ token: z.string() });
export type IssuedTokenView = z.output<typeof issuedTokenSchema>;

/** The directory's tokens. */
export const tokenListSchema = z.object({ data: z.array(tokenInfoSchema) });

/** A group-to-role mapping. */
export const roleMappingSchema = z.object({
  id: z.string(),
  directoryId: z.string(),
  group: z.union([z.object({ displayName: z.string() }), z.object({ id: z.string() })]).describe("by displayName (case-insensitively) or by id"),
  role: z.string(),
  createdAt: isoDate,
});
export type RoleMappingView = z.output<typeof roleMappingSchema>;

/** The directory's mappings. */
export const roleMappingListSchema = z.object({ data: z.array(roleMappingSchema) });

/** A user, the same whatever the identity provider sent. */
export const directoryUserSchema = z.object({
  id: z.string(),
  directoryId: z.string(),
  organizationId: z.string(),
  externalId: z.string().nullable(),
  email: z.string().nullable(),
  username: z.string(),
  firstName: z.string().nullable(),
  lastName: z.string().nullable(),
  displayName: z.string().nullable(),
  state: z.enum(["active", "suspended", "deleted"]),
  groups: z.array(z.object({ id: z.string(), name: z.string() })).describe("direct groups"),
  roles: z.array(z.string()).describe("the roles of the user's groups, kept while the user is suspended: grant none to a user whose state is not active"),
  customAttributes: z.record(z.string(), z.unknown()),
  raw: z.record(z.string(), z.unknown()).describe("the SCIM resource as stored"),
  linkedUserId: z.string().optional(),
  linkedDirectoryId: z.string().optional(),
  createdAt: isoDate,
  updatedAt: isoDate,
});
export type DirectoryUserView = z.output<typeof directoryUserSchema>;

/** A group, the same whatever the identity provider sent. */
export const directoryGroupSchema = z.object({
  id: z.string(),
  directoryId: z.string(),
  organizationId: z.string(),
  externalId: z.string().nullable(),
  name: z.string(),
  memberCount: z.number().int().describe("direct members, users and groups (list them with `users?group=` and `groups?group=`)"),
  raw: z.record(z.string(), z.unknown()),
  createdAt: isoDate,
  updatedAt: isoDate,
});
export type DirectoryGroupView = z.output<typeof directoryGroupSchema>;

/**
 * A page of a cursor-paged list: pass `nextCursor` as `cursor` (null on the last page). A page of
 * users or groups holds at most 8 MiB of `raw` documents, so it may hold fewer than `limit`.
 */
const cursorPage = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.string().nullable() });
export const userPageSchema = cursorPage(directoryUserSchema);
export type UserPage = z.output<typeof userPageSchema>;
export const groupPageSchema = cursorPage(directoryGroupSchema);
export type GroupPage = z.output<typeof groupPageSchema>;

const EVENT_TYPES = [
  "user.created",
  "user.updated",
  "user.deactivated",
  "user.reactivated",
  "user.deleted",
  "group.created",
  "group.updated",
  "group.deleted",
  "group.user_added",
  "group.user_removed",
  "user.roles_changed",
  "user.linked",
  "user.unlinked",
  "directory.deleted",
  "directory.updated",
] as const;

/** An event of the outbox. */
export const eventViewSchema = z.object({
  seq: z.number().int().describe("position in the outbox: pass the last one as `after`"),
  id: z.string().describe("unique and stable, for de-duplication"),
  type: z.enum(EVENT_TYPES),
  directoryId: z.string(),
  resourceType: z.string(),
  resourceId: z.string(),
  occurredAt: isoDate,
  resource: z.record(z.string(), z.unknown()).optional(),
  // Loose rather than a property named `$ref`, which OpenAPI tools read as a reference and fail on.
  member: z
    .looseObject({ value: z.string(), display: z.string().optional(), type: z.string().optional() })
    .describe(
      "the member added or removed (RFC 7643 §4.2): its `value`, and its `type` and `display` when known (for a member removed by a PATCH or by its own deletion, the member's current name; otherwise the display the membership holds). No `$ref`: it is built when a response is written",
    )
    .optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type EventView = z.output<typeof eventViewSchema>;

/** The fields every event has, with its type and resource type narrowed. */
type EventBase<T extends EventView["type"], R extends string> = Omit<EventView, "type" | "resourceType" | "resource" | "member" | "data"> & { type: T; resourceType: R };

/** The member of a `group.user_added` or `group.user_removed` event (RFC 7643 §4.2). */
export interface EventMember {
  /** The member's id (a user or a group of the directory). */
  value: string;
  display?: string;
  /** `User` or `Group` (absent only for a removed member that no longer existed). */
  type?: string;
  [key: string]: unknown;
}

/** The `data` of a `directory.deleted` event: the directory and how many live users and groups it had. */
export interface DirectoryDeletedData {
  organizationId: string;
  name: string;
  type: string;
  users: number;
  groups: number;
  [key: string]: unknown;
}

/**
 * The `data` of a `directory.updated` event: what changed (`name`, `type`, `state`, or a setting
 * as `settings.attributeMapping`...), and the directory's name, type and state after the change.
 * A change of `settings.attributeMapping` changes the users' `customAttributes` without an event
 * per user: read them again.
 */
export interface DirectoryUpdatedData {
  changed: string[];
  name: string;
  type: string;
  state: string;
  [key: string]: unknown;
}

/**
 * An event as `GET /api/events` sends it, by type (narrow on `type`): user and group changes carry
 * the resource (its SCIM wire form after the change, before it for a deletion), membership events
 * the member, `user.roles_changed` the roles, `user.linked`/`user.unlinked` the link (link by
 * email), `directory.deleted` the directory.
 */
export type DirectoryEvent =
  | (EventBase<"user.created" | "user.updated" | "user.deactivated" | "user.reactivated" | "user.deleted", "User"> & { resource: Record<string, unknown> })
  | (EventBase<"group.created" | "group.updated" | "group.deleted", "Group"> & { resource: Record<string, unknown> })
  | (EventBase<"group.user_added" | "group.user_removed", "Group"> & { member: EventMember })
  | (EventBase<"user.roles_changed", "User"> & { data: { roles: string[]; added: string[]; removed: string[]; [key: string]: unknown } })
  | (EventBase<"user.linked", "User"> & { data: UserLinkedData })
  | (EventBase<"user.unlinked", "User"> & { data: UserUnlinkedData })
  | (EventBase<"directory.deleted", "Directory"> & { data: DirectoryDeletedData })
  | (EventBase<"directory.updated", "Directory"> & { data: DirectoryUpdatedData });

/**
 * A page of a log read in order: `nextCursor` is the `after` of the next call (the given one when
 * nothing new; for events of one directory, past the other directories' events read through). A
 * page of events holds at most 8 MiB of JSON (they carry whole resources), so it may hold fewer
 * than `limit` while `hasMore` is true.
 */
const seqPage = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.number().int(), hasMore: z.boolean() });

export const eventPageSchema = seqPage(eventViewSchema);
export type EventPage = z.output<typeof eventPageSchema>;
/** {@link EventPage} with its events typed by type. */
export type DirectoryEventPage = Omit<EventPage, "data"> & { data: DirectoryEvent[] };

/** `GET /api/events/latest`: where the events stand now. */
export const eventCursorSchema = z.object({ cursor: z.number().int().describe("the latest event position: pass it as `after`") });
export type EventCursor = z.output<typeof eventCursorSchema>;

/** An audit entry. */
export const auditEntrySchema = z.object({
  seq: z.number().int(),
  id: z.string(),
  at: isoDate,
  kind: z.enum(["scim", "admin"]),
  directoryId: z.string().nullable(),
  actor: z.string().nullable().describe("the token id of a SCIM request; `admin` for an authenticated admin action"),
  method: z.string(),
  path: z.string(),
  status: z.number().int(),
  durationMs: z.number(),
  resourceId: z.string().nullable(),
  detail: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      "`scimType` of a refused SCIM request; `refused` (`rate_limited`: the directory's rate; `failed_authentications`: the client address's failures; `changes`: the directory's rate of changes; `search_time`, `concurrent_searches`, `large_reads_waiting`, `large_reads_wait`, `ip_not_allowed`, `unauthenticated`) of one a guard refused; `repeated`: the number of refusals of that kind since the entry that opened their ten-second window (the entry is dated by the last of them); a Bulk request's `operations` and `failedOperations`, and on each of its operations' own entries `bulk: true`, `bulkId` and `scimType`",
    ),
});
export type AuditEntryView = z.output<typeof auditEntrySchema>;

export const auditPageSchema = seqPage(auditEntrySchema);
export type AuditPageView = z.output<typeof auditPageSchema>;

/** The outcome of pruning the audit log. */
export const pruneResultSchema = z.object({ deleted: z.number().int() });

/** The sync status of a directory. */
export const directoryStatusSchema = z.object({
  directoryId: z.string(),
  state: z.enum(["active", "inactive"]),
  lastRequest: z
    .object({ at: isoDate, method: z.string(), path: z.string(), status: z.number().int() })
    .nullable()
    .describe("the most recent SCIM request"),
  lastRequestAt: isoDate.nullable(),
  lastRequestStatus: z.number().int().nullable(),
  users: z.number().int().describe("live users (not deleted)"),
  groups: z.number().int(),
  last24Hours: z.object({
    requests: z.number().int().describe("SCIM requests, each operation of a Bulk request counted as one (not the Bulk request itself)"),
    clientErrors: z.number().int().describe("SCIM requests (or Bulk operations) answered 400-499 (including 401 and 429)"),
    serverErrors: z.number().int().describe("SCIM requests (or Bulk operations) answered 500 or above"),
  }),
  errorsLast24Hours: z.number().int().describe("SCIM requests answered with a status >= 400 in the last 24 hours"),
});
export type DirectoryStatus = z.output<typeof directoryStatusSchema>;

/** Every error of the admin API. */
export const errorResponseSchema = z.object({
  error: z.object({
    code: z.string().describe("stable and machine-readable: not_found, validation_failed, unauthorized..."),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe("what failed validation"),
  }),
});
export type ErrorResponse = z.output<typeof errorResponseSchema>;

// ─── The document ─────────────────────────────────────────────────────────────────────────────

/** One operation of the document. */
export interface ApiOperation {
  method: "get" | "post" | "patch" | "put" | "delete";
  /** OpenAPI path (`/api/directories/{id}`). */
  path: string;
  summary: string;
  tag: string;
  /** Path parameters, in order. */
  params?: readonly string[];
  query?: z.ZodObject;
  body?: z.ZodType;
  /**
   * The success status and its schema (component name), or null for no content; `location`: the
   * description of the `Location` header a creation answers with.
   */
  success: { status: number; schema: string | null; description: string; location?: string };
  /** More error statuses than the common ones. */
  errors?: readonly number[];
  /** @default true */
  authenticated?: boolean;
}

/** Named schemas of the components section: outputs as they are sent, inputs as they are accepted. */
const outputSchemas: Record<string, z.ZodType> = {
  Directory: directoryViewSchema,
  DirectoryPage: directoryPageSchema,
  Token: tokenInfoSchema,
  IssuedToken: issuedTokenSchema,
  TokenList: tokenListSchema,
  RoleMapping: roleMappingSchema,
  RoleMappingList: roleMappingListSchema,
  User: directoryUserSchema,
  UserPage: userPageSchema,
  Group: directoryGroupSchema,
  GroupPage: groupPageSchema,
  Event: eventViewSchema,
  EventPage: eventPageSchema,
  EventCursor: eventCursorSchema,
  AuditEntry: auditEntrySchema,
  AuditPage: auditPageSchema,
  PruneResult: pruneResultSchema,
  DirectoryStatus: directoryStatusSchema,
  Error: errorResponseSchema,
  Health: z.object({ status: z.literal("ok") }),
  Unhealthy: z.object({ status: z.literal("unavailable"), database: z.enum(["unreachable", "timeout"]) }),
  OpenApiDocument: z.object({ openapi: z.string() }).loose(),
};
const inputSchemas: Record<string, z.ZodType> = {
  CreateDirectory: createDirectorySchema,
  UpdateDirectory: updateDirectorySchema,
  CreateRoleMapping: createRoleMappingSchema,
  UpdateRoleMapping: updateRoleMappingSchema,
};

const dir = ["id"] as const;

/** The operations of the admin API (and the health check), hand-written. */
export const adminOperations: ApiOperation[] = [
  { method: "get", path: "/healthz", summary: "Health check for load balancers and readiness probes: 200 while the database answers `select 1` (within 3 s), else 503 `Unhealthy`", tag: "service", success: { status: 200, schema: "Health", description: "ok" }, authenticated: false, errors: [503] },
  { method: "get", path: "/livez", summary: "Liveness check: 200 while the process serves HTTP, whatever the database's state (a liveness probe should not restart the process over a database outage)", tag: "service", success: { status: 200, schema: "Health", description: "ok" }, authenticated: false },
  { method: "get", path: "/api/openapi.json", summary: "This document", tag: "service", success: { status: 200, schema: "OpenApiDocument", description: "the OpenAPI 3.1 document" }, authenticated: false },
  { method: "get", path: "/api/directories", summary: "List directories (oldest first)", tag: "directories", query: listDirectoriesQuery, success: { status: 200, schema: "DirectoryPage", description: "a page of directories" } },
  { method: "post", path: "/api/directories", summary: "Create a directory", tag: "directories", body: createDirectorySchema, success: { status: 201, schema: "Directory", description: "the new directory", location: "the new directory's path (`/api/directories/{id}`)" } },
  { method: "get", path: "/api/directories/{id}", summary: "Get a directory", tag: "directories", params: dir, success: { status: 200, schema: "Directory", description: "the directory" } },
  { method: "patch", path: "/api/directories/{id}", summary: "Update a directory (each settings field given replaces that field whole: `rateLimit`, `attributeMapping`...; the fields left out stay); records a directory.updated event naming what changed", tag: "directories", params: dir, body: updateDirectorySchema, success: { status: 200, schema: "Directory", description: "the directory" } },
  { method: "delete", path: "/api/directories/{id}", summary: "Delete a directory with its tokens, users, groups and role mappings: deprovisions its users first (the directory turns inactive), then records user.deleted, user.roles_changed (to no roles, for users that had roles), group.deleted and directory.deleted events", tag: "directories", params: dir, success: { status: 204, schema: null, description: "deleted" }, errors: [503] },
  { method: "get", path: "/api/directories/{id}/status", summary: "Sync status: last SCIM request, counts, errors in the last 24 hours", tag: "directories", params: dir, success: { status: 200, schema: "DirectoryStatus", description: "the status" } },
  { method: "get", path: "/api/directories/{id}/tokens", summary: "List the directory's tokens (never their secrets)", tag: "tokens", params: dir, success: { status: 200, schema: "TokenList", description: "the tokens, newest first" } },
  { method: "post", path: "/api/directories/{id}/tokens", summary: "Create a token (the secret is shown this once)", tag: "tokens", params: dir, success: { status: 201, schema: "IssuedToken", description: "the token with its secret" }, errors: [409] },
  { method: "post", path: "/api/directories/{id}/tokens/rotate", summary: "Rotate: a new token; the token in use (the one used last, else the newest) stays valid for the grace period, another active one is revoked", tag: "tokens", params: dir, success: { status: 201, schema: "IssuedToken", description: "the new token with its secret" } },
  { method: "delete", path: "/api/directories/{id}/tokens/{tokenId}", summary: "Revoke a token now", tag: "tokens", params: ["id", "tokenId"], success: { status: 200, schema: "Token", description: "the revoked token" } },
  { method: "get", path: "/api/directories/{id}/role-mappings", summary: "List the group-to-role mappings", tag: "roles", params: dir, success: { status: 200, schema: "RoleMappingList", description: "the mappings, oldest first" } },
  { method: "post", path: "/api/directories/{id}/role-mappings", summary: "Map a group (by displayName or id) to a role; its users get the role", tag: "roles", params: dir, body: createRoleMappingSchema, success: { status: 201, schema: "RoleMapping", description: "the new mapping", location: "the new mapping's path (`/api/directories/{id}/role-mappings/{mappingId}`)" }, errors: [409] },
  { method: "get", path: "/api/directories/{id}/role-mappings/{mappingId}", summary: "Get a group-to-role mapping", tag: "roles", params: ["id", "mappingId"], success: { status: 200, schema: "RoleMapping", description: "the mapping" } },
  { method: "patch", path: "/api/directories/{id}/role-mappings/{mappingId}", summary: "Change a mapping's group and/or role; its users' roles follow (one event per user)", tag: "roles", params: ["id", "mappingId"], body: updateRoleMappingSchema, success: { status: 200, schema: "RoleMapping", description: "the mapping" }, errors: [409] },
  { method: "delete", path: "/api/directories/{id}/role-mappings/{mappingId}", summary: "Remove a mapping; its users lose the role (unless another mapping gives it)", tag: "roles", params: ["id", "mappingId"], success: { status: 204, schema: null, description: "deleted" } },
  { method: "get", path: "/api/directories/{id}/users", summary: "Normalized users, oldest first", tag: "data", params: dir, query: listUsersQuery, success: { status: 200, schema: "UserPage", description: "a page of users (at most 8 MiB of `raw` documents: fewer than `limit` then, with a `nextCursor`)" } },
  { method: "get", path: "/api/directories/{id}/users/{userId}", summary: "A normalized user (deleted ones too, with state `deleted`)", tag: "data", params: ["id", "userId"], success: { status: 200, schema: "User", description: "the user" } },
  { method: "get", path: "/api/directories/{id}/groups", summary: "Normalized groups, oldest first", tag: "data", params: dir, query: listGroupsQuery, success: { status: 200, schema: "GroupPage", description: "a page of groups (at most 8 MiB of `raw` documents: fewer than `limit` then, with a `nextCursor`)" } },
  { method: "get", path: "/api/directories/{id}/groups/{groupId}", summary: "A normalized group", tag: "data", params: ["id", "groupId"], success: { status: 200, schema: "Group", description: "the group" } },
  { method: "get", path: "/api/events", summary: "Events in order after a cursor (400 invalid_cursor past the latest position; 410 cursor_expired when events after it were pruned)", tag: "events", query: listEventsQuery, success: { status: 200, schema: "EventPage", description: "a page of events (at most 8 MiB of JSON: fewer than `limit` then, with `hasMore`)" }, errors: [404, 410] },
  { method: "get", path: "/api/events/latest", summary: "The latest event position: follow the events from it (`after`) to get every later one", tag: "events", success: { status: 200, schema: "EventCursor", description: "the position of the latest event" } },
  { method: "get", path: "/api/audit-log", summary: "Audit entries in order after a cursor (400 invalid_cursor past the latest entry; 410 cursor_expired when entries after it were pruned)", tag: "audit", query: listAuditQuery, success: { status: 200, schema: "AuditPage", description: "a page of entries" }, errors: [410] },
  { method: "delete", path: "/api/directories/{id}/deleted-resources", summary: "Remove for good the users and groups soft-deleted more than some days ago (the directory's retention; audit entries and events stay)", tag: "directories", params: dir, query: olderThanDaysQuery, success: { status: 200, schema: "PruneResult", description: "how many were removed" } },
  { method: "delete", path: "/api/events", summary: "Delete the events older than some days (the outbox's retention; readers that had not read them never will)", tag: "events", query: olderThanDaysQuery, success: { status: 200, schema: "PruneResult", description: "how many were deleted" } },
  { method: "delete", path: "/api/audit-log", summary: "Delete the audit entries older than some days", tag: "audit", query: olderThanDaysQuery, success: { status: 200, schema: "PruneResult", description: "how many were deleted" } },
];

const ERROR_TEXT: Record<number, string> = {
  400: "invalid input (the issues say what)",
  401: "missing or wrong admin API key",
  404: "not found",
  409: "conflict",
  413: "request body too large",
  415: "the body is not JSON",
  429: "too many requests (see Retry-After)",
  410: "entries after the cursor were pruned (`cursor_expired`): for events, read the lists again, then follow the events from `GET /api/events/latest`; for the audit log, read it again from the start",
  503: "the database is unavailable for the moment (`database_unavailable`, with Retry-After): retry later",
  500: "unexpected error",
};

/** The headers an error response carries (RFC 9110 §11.6.1 WWW-Authenticate, RFC 6585 §4 Retry-After). */
const ERROR_HEADERS: Record<number, Record<string, unknown>> = {
  401: { "WWW-Authenticate": { description: "the scheme to use: `Bearer realm=\"directory-sync-admin\"`", schema: { type: "string" } } },
  429: { "Retry-After": { description: "seconds to wait before the next request", schema: { type: "integer", minimum: 1 } } },
  503: { "Retry-After": { description: "seconds to wait before trying again", schema: { type: "integer", minimum: 1 } } },
};

/** The description of an error response of `op`: a paged list's 400 also covers a malformed cursor. */
function errorText(op: ApiOperation, status: number): string {
  if (status === 503 && op.path === "/healthz") return "the database did not answer (`database`: `unreachable`, or `timeout` after 3 s)";
  if (status === 503 && op.path === "/api/directories/{id}" && op.method === "delete") {
    return "the application's deprovisioning hook failed (`deprovision_failed`), or the database is unavailable for the moment (`database_unavailable`); nothing was deleted: retry later";
  }
  if (status === 400 && op.query !== undefined && "cursor" in op.query.shape) return "invalid input (the issues say what), or a malformed cursor (`invalid_cursor`)";
  if (status === 400 && op.query === undefined && op.body === undefined) {
    return op.method === "get" ? "a query parameter this operation does not take" : "a query parameter or a body this operation does not take (an empty body or `{}` is fine)";
  }
  return ERROR_TEXT[status] ?? "error";
}

/** A JSON Schema for the document: no `$schema` key (OpenAPI 3.1 uses JSON Schema 2020-12 already). */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function operationObject(op: ApiOperation, extraInputs: Map<z.ZodType, string>): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = [];
  for (const name of op.params ?? []) parameters.push({ name, in: "path", required: true, schema: { type: "string" } });
  if (op.query !== undefined) {
    for (const [name, field] of Object.entries(op.query.shape)) {
      const schema = jsonSchema(field as z.ZodType, "output");
      const optional = (field as z.ZodType).safeParse(undefined).success;
      parameters.push({ name, in: "query", required: !optional, schema });
    }
  }
  const responses: Record<string, unknown> = {};
  const { success } = op;
  responses[String(success.status)] = {
    description: success.description,
    ...(success.schema !== null ? { content: { "application/json": { schema: ref(success.schema) } } } : {}),
    ...(success.location !== undefined ? { headers: { Location: { description: success.location, schema: { type: "string" } } } } : {}),
  };
  const errors = new Set<number>(op.errors ?? []);
  // Every authenticated operation reads the database (the key's hash): 503 when it cannot.
  if (op.authenticated !== false) errors.add(401).add(429).add(503);
  // An authenticated operation refuses query parameters and bodies it does not take (admin-api.ts, withoutQuery, withoutInput).
  if (op.query !== undefined || op.body !== undefined || op.authenticated !== false) errors.add(400);
  if (op.params !== undefined && op.params.length > 0) errors.add(404);
  // The body limit applies to every authenticated request, reads included; every write passes the
  // body checks, with a body schema or not.
  if (op.authenticated !== false) errors.add(413);
  if (op.method !== "get") errors.add(413).add(415);
  for (const status of [...errors].sort()) {
    if (op.path === "/healthz") {
      responses[String(status)] = { description: errorText(op, status), content: { "application/json": { schema: ref("Unhealthy") } } };
      continue;
    }
    responses[String(status)] = { description: errorText(op, status), content: { "application/json": { schema: ref("Error") } }, ...(ERROR_HEADERS[status] !== undefined ? { headers: ERROR_HEADERS[status] } : {}) };
  }
  const operation: Record<string, unknown> = {
    operationId: `${op.method}${op.path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
    summary: op.summary,
    tags: [op.tag],
    responses,
  };
  if (parameters.length > 0) operation.parameters = parameters;
  if (op.body !== undefined) {
    const name = extraInputs.get(op.body);
    // A body whose every field is optional may be left out (the server reads it as `{}`).
    operation.requestBody = { required: !op.body.safeParse({}).success, content: { "application/json": { schema: name !== undefined ? ref(name) : jsonSchema(op.body, "input") } } };
  }
  if (op.authenticated === false) operation.security = [];
  return operation;
}

/** Options of {@link adminOpenApiDocument}. */
export interface OpenApiDocumentOptions {
  /** `servers[0].url`. @default none (relative to where the document was fetched) */
  serverUrl?: string;
  /** More operations (added by the host application). */
  operations?: readonly ApiOperation[];
  /** More named schemas referenced by those operations (outputs). */
  schemas?: Record<string, z.ZodType>;
  /** `info.version`. @default "0.1.0" */
  version?: string;
}

/** The OpenAPI 3.1 document of the admin API. */
export function adminOpenApiDocument(options: OpenApiDocumentOptions = {}): Record<string, unknown> {
  const operations = [...adminOperations, ...(options.operations ?? [])];
  const inputNames = new Map<z.ZodType, string>(Object.entries(inputSchemas).map(([name, schema]) => [schema, name]));
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries({ ...outputSchemas, ...(options.schemas ?? {}) })) schemas[name] = jsonSchema(schema, "output");
  for (const [name, schema] of Object.entries(inputSchemas)) schemas[name] = jsonSchema(schema, "input");
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) (paths[op.path] ??= {})[op.method] = operationObject(op, inputNames);
  return {
    openapi: "3.1.0",
    info: {
      title: "Directory Sync admin API",
      version: options.version ?? "0.1.0",
      description:
        "Directories, their SCIM tokens, group-to-role mappings, normalized users and groups, events and the audit log. " +
        "Authenticate with `Authorization: Bearer <admin key>`. Errors are `{ \"error\": { \"code\", \"message\" } }`. " +
        "Text in bodies and query parameters must be storable: a NUL character or a lone UTF-16 surrogate is a 400 `validation_failed`.",
    },
    ...(options.serverUrl !== undefined ? { servers: [{ url: options.serverUrl }] } : {}),
    security: [{ adminKey: [] }],
    tags: [...new Set(operations.map((op) => op.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: { adminKey: { type: "http", scheme: "bearer", description: "the admin API key (`dsync_admin_...`)" } },
    },
  };
}

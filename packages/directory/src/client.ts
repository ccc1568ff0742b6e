/**
 * A typed client of the admin REST API, for scripts, back offices and tests. It runs anywhere
 * `fetch` does: import it from `scim-directory/client`, which loads nothing else (the package's
 * main entry loads the server side too): `createDirectoryClient({ baseUrl, adminKey })`. Errors of
 * the API are thrown as {@link DirectoryApiError} with its status, code and message.
 */
import type { CreateDirectoryInput, UpdateDirectoryInput } from "./directories.js";
import type {
  AuditEntryView,
  AuditPageView,
  DirectoryGroupView,
  DirectoryPage,
  DirectoryStatus,
  DirectoryUserView,
  DirectoryView,
  DirectoryDeletedData,
  DirectoryUpdatedData,
  DirectoryEvent,
  DirectoryEventPage,
  ErrorResponse,
  EventMember,
  EventPage,
  EventView,
  GroupPage,
  IssuedTokenView,
  RoleMappingView,
  TokenView,
  UserPage,
} from "./openapi.js";
import type { UserLinkedData, UserUnlinkedData } from "./links.js";
import type { CreateRoleMappingInput, RolesChangedData, UpdateRoleMappingInput } from "./roles.js";

export type {
  CreateDirectoryInput,
  CreateRoleMappingInput,
  RolesChangedData,
  UpdateDirectoryInput,
  UpdateRoleMappingInput,
  UserLinkedData,
  UserUnlinkedData,
  AuditEntryView,
  AuditPageView,
  DirectoryGroupView,
  DirectoryPage,
  DirectoryStatus,
  DirectoryUserView,
  DirectoryView,
  DirectoryDeletedData,
  DirectoryUpdatedData,
  DirectoryEvent,
  DirectoryEventPage,
  EventMember,
  EventPage,
  EventView,
  GroupPage,
  IssuedTokenView,
  RoleMappingView,
  TokenView,
  UserPage,
};

/** An error answered by the admin API (or a response that was not one of its answers). */
export class DirectoryApiError extends Error {
  /** Recognise it by this brand, not `instanceof` (duplicate package copies happen). */
  readonly isDirectoryApiError = true as const;
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The API's error code (`not_found`, `validation_failed`...), or `http_error` when the body was not an API error. */
    readonly code: string,
    message: string,
    /** What failed validation (400 `validation_failed`). */
    readonly issues?: ReadonlyArray<{ path: string; message: string }>,
    /** How long to wait before trying again, from the answer's `Retry-After` (429, 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "DirectoryApiError";
  }
}

/** Whether `value` is a {@link DirectoryApiError}. */
export function isDirectoryApiError(value: unknown): value is DirectoryApiError {
  return typeof value === "object" && value !== null && (value as { isDirectoryApiError?: unknown }).isDirectoryApiError === true;
}

/** A `Retry-After` header in seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^[0-9]+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** Options of {@link createDirectoryClient}. */
export interface DirectoryClientOptions {
  /** The service's origin (`https://sync.example.com`); the API is at `${baseUrl}/api`. */
  baseUrl: string;
  /** The admin API key (`dsync_admin_...`). */
  adminKey: string;
  /** The fetch to use (a test's `app.request`, a proxy-aware fetch...). @default globalThis.fetch */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

/** Query of {@link DirectoryClient.directories}.list. */
export interface ListDirectoriesQuery {
  organizationId?: string;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  /** @default 100 (at most 1000) */
  limit?: number;
}

/** Query of {@link DirectoryClient.users}.list. */
export interface ListUsersQuery {
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  /** @default 100 (at most 1000) */
  limit?: number;
  /** Users with this email (any of theirs, or their userName), case-insensitively. */
  email?: string;
  /** Users with this userName, case-insensitively. */
  username?: string;
  /** @default active and suspended users */
  state?: "active" | "suspended" | "deleted";
  /** Direct members of this group (by id). */
  group?: string;
  /** The user with this externalId (the IdP's id for it; exact). */
  externalId?: string;
}

/** Query of {@link DirectoryClient.groups}.list. */
export interface ListGroupsQuery {
  cursor?: string;
  /** @default 100 (at most 1000) */
  limit?: number;
  /** Groups with this displayName, case-insensitively. */
  name?: string;
  externalId?: string;
  /** Groups that are direct members of this group (by id): nested groups. */
  group?: string;
}

/** Query of {@link DirectoryClient.events}.list. */
export interface ListEventsQuery {
  /** Events after this `seq` (the previous page's `nextCursor`). @default 0 */
  after?: number;
  directoryId?: string;
  /** @default 100 (at most 1000) */
  limit?: number;
}

/** Query of {@link DirectoryClient.auditLog}.list. */
export interface ListAuditQuery {
  directoryId?: string;
  kind?: "scim" | "admin";
  /** Entries after this `seq` (the previous page's `nextCursor`). @default 0 */
  after?: number;
  /** @default 100 (at most 1000) */
  limit?: number;
}

/** The admin API, typed. */
export interface DirectoryClient {
  directories: {
    list(query?: ListDirectoriesQuery): Promise<DirectoryPage>;
    get(id: string): Promise<DirectoryView>;
    create(input: CreateDirectoryInput): Promise<DirectoryView>;
    /** Changes the fields given; each `settings` field given replaces that field whole (send the whole `attributeMapping`). */
    update(id: string, input: UpdateDirectoryInput): Promise<DirectoryView>;
    /** Deletes the directory with its tokens, users, groups and role mappings. */
    delete(id: string): Promise<void>;
    /** Sync status: last SCIM request, counts, errors in the last 24 hours. */
    status(id: string): Promise<DirectoryStatus>;
    /** Removes for good the users and groups soft-deleted more than `olderThanDays` days ago; returns how many. */
    purgeDeleted(id: string, olderThanDays: number): Promise<number>;
  };
  tokens: {
    list(directoryId: string): Promise<TokenView[]>;
    /** A new token; its secret (`token`) is shown this once. */
    create(directoryId: string): Promise<IssuedTokenView>;
    /** A new token; the token in use (used last, else the newest) stays valid for the directory's grace period, another active one is revoked. */
    rotate(directoryId: string): Promise<IssuedTokenView>;
    revoke(directoryId: string, tokenId: string): Promise<TokenView>;
  };
  roleMappings: {
    list(directoryId: string): Promise<RoleMappingView[]>;
    /** Maps a group (by displayName or id) to a role; its users get the role. */
    create(directoryId: string, input: CreateRoleMappingInput): Promise<RoleMappingView>;
    get(directoryId: string, mappingId: string): Promise<RoleMappingView>;
    /** Changes the mapping's group and/or role; its users' roles follow. */
    update(directoryId: string, mappingId: string, input: UpdateRoleMappingInput): Promise<RoleMappingView>;
    delete(directoryId: string, mappingId: string): Promise<void>;
  };
  users: {
    list(directoryId: string, query?: ListUsersQuery): Promise<UserPage>;
    get(directoryId: string, userId: string): Promise<DirectoryUserView>;
  };
  groups: {
    list(directoryId: string, query?: ListGroupsQuery): Promise<GroupPage>;
    get(directoryId: string, groupId: string): Promise<DirectoryGroupView>;
  };
  events: {
    /**
     * Events in order after a cursor. Throws `invalid_cursor` (400) for a cursor past the latest
     * position and `cursor_expired` (410) when events after it were pruned.
     */
    list(query?: ListEventsQuery): Promise<DirectoryEventPage>;
    /** The latest event position: read it before walking the lists, then follow the events from it. */
    latest(): Promise<number>;
    /** Deletes the events that occurred more than `olderThanDays` days ago; returns how many. */
    prune(olderThanDays: number): Promise<number>;
  };
  auditLog: {
    list(query?: ListAuditQuery): Promise<AuditPageView>;
    /** Deletes the entries older than `olderThanDays` days; returns how many. */
    prune(olderThanDays: number): Promise<number>;
  };
  /** The OpenAPI 3.1 document of the API. */
  openapi(): Promise<Record<string, unknown>>;
}

type Query = Record<string, string | number | undefined>;

function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

const segment = (value: string) => encodeURIComponent(value);

/** A typed client of the admin API. */
export function createDirectoryClient(options: DirectoryClientOptions): DirectoryClient {
  const base = `${options.baseUrl.replace(/\/+$/, "")}/api`;
  const doFetch = options.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.adminKey}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await doFetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as Partial<ErrorResponse> | undefined)?.error;
      const retryAfter = retryAfterSeconds(response.headers.get("retry-after"));
      if (error !== undefined && typeof error.code === "string") throw new DirectoryApiError(response.status, error.code, error.message, error.issues, retryAfter);
      throw new DirectoryApiError(response.status, "http_error", `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`, undefined, retryAfter);
    }
    return parsed as T;
  }

  const dir = (id: string) => `/directories/${segment(id)}`;
  const mapping = (directoryId: string, mappingId: string) => `${dir(directoryId)}/role-mappings/${segment(mappingId)}`;

  return {
    directories: {
      list: (query = {}) => call("GET", `/directories${queryString({ ...query })}`),
      get: (id) => call("GET", dir(id)),
      create: (input) => call("POST", "/directories", input),
      update: (id, input) => call("PATCH", dir(id), input),
      delete: async (id) => {
        await call("DELETE", dir(id));
      },
      status: (id) => call("GET", `${dir(id)}/status`),
      purgeDeleted: async (id, olderThanDays) => (await call<{ deleted: number }>("DELETE", `${dir(id)}/deleted-resources${queryString({ olderThanDays })}`)).deleted,
    },
    tokens: {
      list: async (directoryId) => (await call<{ data: TokenView[] }>("GET", `${dir(directoryId)}/tokens`)).data,
      create: (directoryId) => call("POST", `${dir(directoryId)}/tokens`),
      rotate: (directoryId) => call("POST", `${dir(directoryId)}/tokens/rotate`),
      revoke: (directoryId, tokenId) => call("DELETE", `${dir(directoryId)}/tokens/${segment(tokenId)}`),
    },
    roleMappings: {
      list: async (directoryId) => (await call<{ data: RoleMappingView[] }>("GET", `${dir(directoryId)}/role-mappings`)).data,
      create: (directoryId, input) => call("POST", `${dir(directoryId)}/role-mappings`, input),
      get: (directoryId, mappingId) => call("GET", mapping(directoryId, mappingId)),
      update: (directoryId, mappingId, input) => call("PATCH", mapping(directoryId, mappingId), input),
      delete: async (directoryId, mappingId) => {
        await call("DELETE", mapping(directoryId, mappingId));
      },
    },
    users: {
      list: (directoryId, query = {}) => call("GET", `${dir(directoryId)}/users${queryString({ ...query })}`),
      get: (directoryId, userId) => call("GET", `${dir(directoryId)}/users/${segment(userId)}`),
    },
    groups: {
      list: (directoryId, query = {}) => call("GET", `${dir(directoryId)}/groups${queryString({ ...query })}`),
      get: (directoryId, groupId) => call("GET", `${dir(directoryId)}/groups/${segment(groupId)}`),
    },
    events: {
      list: (query = {}) => call("GET", `/events${queryString({ ...query })}`),
      latest: async () => (await call<{ cursor: number }>("GET", "/events/latest")).cursor,
      prune: async (olderThanDays) => (await call<{ deleted: number }>("DELETE", `/events${queryString({ olderThanDays })}`)).deleted,
    },
    auditLog: {
      list: (query = {}) => call("GET", `/audit-log${queryString({ ...query })}`),
      prune: async (olderThanDays) => (await call<{ deleted: number }>("DELETE", `/audit-log${queryString({ olderThanDays })}`)).deleted,
    },
    openapi: () => call("GET", "/openapi.json"),
  };
}

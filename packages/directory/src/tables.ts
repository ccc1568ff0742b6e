/**
 * The directory tables, beside scim-store-sql's (one database; the SCIM tenant of a directory's
 * users and groups is the directory id). Instants are ISO 8601 text in UTC, JSON is text (SQLite)
 * or jsonb (PostgreSQL), as in scim-store-sql.
 */
import type { ColumnType, Generated } from "kysely";
import type { ScimDatabase } from "scim-store-sql";

type Json = ColumnType<string | Record<string, unknown> | unknown[], string, string>;

/** `dir_directories`: one row per directory. */
export interface DirectoryTable {
  id: string;
  organization_id: string;
  name: string;
  type: string;
  state: string;
  /** DirectorySettings as JSON. */
  settings: Json;
  created_at: string;
  updated_at: string;
}

/** `dir_tokens`: bearer tokens, stored only as SHA-256 hashes. */
export interface TokenTable {
  id: string;
  directory_id: string;
  /** Hex SHA-256 of the token. */
  token_hash: string;
  /** The token's last four characters, to tell tokens apart in a list. */
  hint: string;
  created_at: string;
  /** Set when a rotation replaced it: valid until then (the grace period). */
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** `dir_role_mappings`: a group (by displayName or id) gives a role. */
export interface RoleMappingTable {
  id: string;
  directory_id: string;
  /** "displayName" or "id". */
  group_match: string;
  /** The group id, or its displayName lower-cased. */
  group_value: string;
  role: string;
  created_at: string;
  /** The displayName as entered, for display (migration 0002; null for id mappings and older rows). */
  group_display_name: ColumnType<string | null, string | null | undefined, string | null>;
}

/** `dir_user_roles`: the roles last computed for each user, to report changes. */
export interface UserRolesTable {
  directory_id: string;
  user_id: string;
  /** Sorted role names, as JSON. */
  roles: Json;
  updated_at: string;
}

/** `dir_user_links`: a user linked by email to an earlier user of the same organization. */
export interface UserLinkTable {
  directory_id: string;
  user_id: string;
  linked_directory_id: string;
  linked_user_id: string;
  /** The email (lower-cased) the link was made on. */
  email: string;
  created_at: string;
}

/** `dir_audit_log`: every SCIM request and admin action. */
export interface AuditTable {
  seq: Generated<number>;
  id: string;
  at: string;
  /** "scim" or "admin". */
  kind: string;
  directory_id: string | null;
  /** Token id for SCIM requests, "admin" for admin actions. */
  actor: string | null;
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  resource_id: string | null;
  /** Redacted details (admin action input, error detail), as JSON. */
  detail: Json | null;
}

/** `dir_settings`: key/value settings of the installation (the admin key's hash...). */
export interface SettingsTable {
  key: string;
  value: string;
}

/** The database as scim-directory sees it: its tables and scim-store-sql's. */
export interface DirectoryDatabase extends ScimDatabase {
  dir_directories: DirectoryTable;
  dir_tokens: TokenTable;
  dir_role_mappings: RoleMappingTable;
  dir_user_roles: UserRolesTable;
  dir_user_links: UserLinkTable;
  dir_audit_log: AuditTable;
  dir_scim_activity: ScimActivityTable;
  dir_settings: SettingsTable;
}

/** A directory's SCIM requests of one hour (`hour`: the first 13 characters of an ISO time, `2026-11-27T10`). */
export interface ScimActivityTable {
  directory_id: string;
  hour: string;
  requests: number;
  client_errors: number;
  server_errors: number;
}

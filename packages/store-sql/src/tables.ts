/**
 * The tables of scim-store-sql, as Kysely sees them. One layout for SQLite and PostgreSQL; the
 * migrations (`migrations.ts`) create them.
 *
 * Booleans are integers 0/1 in SQLite and `boolean` in PostgreSQL; instants are ISO 8601 text
 * normalised to milliseconds in UTC (`2026-11-25T10:00:00.000Z`), so text order is time order on
 * both databases; documents are JSON text in SQLite and `jsonb` in PostgreSQL.
 */
import type { ColumnType, Generated } from "kysely";

/** `scim_resources`: one row per resource, deleted rows kept with `deleted` set. */
export interface ResourceTable {
  /** Insertion order: the default list order, ties in sorting and the cursor of unsorted lists. */
  seq: Generated<number>;
  tenant: string;
  resource_type: string;
  id: string;
  version: number;
  user_name: string | null;
  /** `userName` lower-cased in JavaScript (Unicode case folding of `String.prototype.toLowerCase`). */
  user_name_lower: string | null;
  external_id: string | null;
  display_name: string | null;
  display_name_lower: string | null;
  active: ColumnType<number | boolean | null, number | boolean | null, number | boolean | null>;
  deleted: ColumnType<number | boolean, number | boolean, number | boolean>;
  /** The uniqueness keys on the two indexed attributes: set only when the write declares them unique. */
  user_name_key: string | null;
  display_name_key: string | null;
  created: string;
  last_modified: string;
  /** The canonical attributes (without id, meta, members and the derived User.groups), as JSON. */
  doc: ColumnType<string | Record<string, unknown>, string, string>;
}

/** `scim_emails`: one row per element of `emails`, for B-tree lookups on `emails.value`. */
export interface EmailTable {
  tenant: string;
  resource_id: string;
  position: number;
  value: string | null;
  value_lower: string | null;
  type_lower: string | null;
  is_primary: ColumnType<number | boolean, number | boolean, number | boolean>;
}

/** `scim_unique_keys`: unique keys other than userName and displayName, live resources only. */
export interface UniqueKeyTable {
  tenant: string;
  resource_type: string;
  attribute: string;
  value: string;
  resource_id: string;
}

/** `scim_members`: group membership, indexed both ways. */
export interface MemberTable {
  tenant: string;
  group_id: string;
  member_id: string;
  /** "User" or "Group". */
  member_type: string | null;
  display: string | null;
  /** Order of addition, so a group lists its members as they were added. */
  seq: Generated<number>;
}

/** `scim_counts`: live resources per tenant and type, so an unfiltered totalResults is one row read. */
export interface CountTable {
  tenant: string;
  resource_type: string;
  live: number;
}

/** `scim_outbox`: events written in the same transaction as their change. */
export interface OutboxTable {
  seq: Generated<number>;
  id: string;
  tenant: string;
  type: string;
  resource_type: string;
  resource_id: string;
  occurred_at: string;
  /** The event as JSON. */
  payload: ColumnType<string | Record<string, unknown>, string, string>;
  /** PostgreSQL only: the reading position, given once the event is committed (migration 0003). */
  position?: ColumnType<number | string | null, never, number>;
}

/**
 * `scim_outbox_pruned`: per tenant (`''`: every tenant, for what was pruned before migration
 * 0005), the greatest position (`seq` on SQLite) `pruneEvents` has deleted: a reader behind it
 * may have missed events.
 */
export interface OutboxPrunedTable {
  tenant: string;
  pruned_through: ColumnType<number | string, number, number>;
}

/** The database as Kysely sees it. */
export interface ScimDatabase {
  scim_resources: ResourceTable;
  scim_emails: EmailTable;
  scim_unique_keys: UniqueKeyTable;
  scim_members: MemberTable;
  scim_counts: CountTable;
  scim_outbox: OutboxTable;
  scim_outbox_pruned: OutboxPrunedTable;
  scim_secrets: SecretTable;
}

/** `scim_secrets`: secrets of the database made by its migrations (`cursor`: the key of list cursors). */
export interface SecretTable {
  name: string;
  /** Hex. */
  value: string;
}

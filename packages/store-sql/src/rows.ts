/**
 * How a resource becomes rows: the indexed columns derived from its attributes, and one
 * `scim_emails` row per element of `emails`. Case folding happens here, in JavaScript
 * (`toLowerCase`, the same folding as scim-core's `compileFilter`), never in SQL.
 */
import { ScimError, type UniqueKey } from "scim-core";
import type { SqlDialectName } from "./dialect.js";
import type { Insertable } from "kysely";
import type { EmailTable } from "./tables.js";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** A boolean as the dialect stores it (0/1 in SQLite). */
export function sqlBool(dialect: SqlDialectName, value: boolean): number | boolean {
  return dialect === "sqlite" ? (value ? 1 : 0) : value;
}

/**
 * An instant as stored: ISO 8601 in UTC with exactly three fraction digits, so that text order is
 * time order. Sub-millisecond digits are cut (instants compare at millisecond precision).
 */
export function normalizeInstant(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString();
}

/** The indexed columns of `scim_resources` derived from a resource's attributes and unique keys. */
export interface IndexedColumns {
  user_name: string | null;
  user_name_lower: string | null;
  external_id: string | null;
  display_name: string | null;
  display_name_lower: string | null;
  active: number | boolean | null;
  user_name_key: string | null;
  display_name_key: string | null;
}

/** The attributes that have a column of their own in `scim_resources`, and its name. */
export const NAMED_COLUMNS = { userName: "user_name", externalId: "external_id", displayName: "display_name" } as const;

/**
 * The indexed columns of a resource (the common attributes at the top level of its core schema).
 * `kept`: attributes of {@link NAMED_COLUMNS} (lower-cased) whose value is the one stored already,
 * exempt from {@link MAX_INDEXED_BYTES} (see {@link oversizeNamedColumns}).
 */
export function indexedColumns(dialect: SqlDialectName, attributes: Obj, uniqueKeys: readonly UniqueKey[], kept?: ReadonlySet<string>): IndexedColumns {
  const indexable = (attribute: string, value: string | null) => (kept?.has(attribute.toLowerCase()) ? value : checkedIndexable(attribute, value));
  const userName = indexable("userName", str(attributes.userName));
  const displayName = indexable("displayName", str(attributes.displayName));
  for (const key of uniqueKeys) indexable(key.attribute, key.value);
  let userNameKey: string | null = null;
  let displayNameKey: string | null = null;
  for (const key of uniqueKeys) {
    const name = key.attribute.toLowerCase();
    if (name === "username") userNameKey = key.value;
    else if (name === "displayname") displayNameKey = key.value;
  }
  return {
    user_name: userName,
    user_name_lower: userName === null ? null : userName.toLowerCase(),
    external_id: indexable("externalId", str(attributes.externalId)),
    display_name: displayName,
    display_name_lower: displayName === null ? null : displayName.toLowerCase(),
    active: typeof attributes.active === "boolean" ? sqlBool(dialect, attributes.active) : null,
    user_name_key: userNameKey,
    display_name_key: displayNameKey,
  };
}

/** Unique keys that have no column of their own (go to `scim_unique_keys`). */
export function otherUniqueKeys(uniqueKeys: readonly UniqueKey[]): UniqueKey[] {
  return uniqueKeys.filter((k) => {
    const name = k.attribute.toLowerCase();
    return name !== "username" && name !== "displayname";
  });
}

/**
 * Most UTF-8 bytes of a value that goes into an index (userName, externalId, displayName,
 * emails, unique keys), folded or not. PostgreSQL refuses a B-tree entry over 2,704 bytes (a
 * 3,000-byte userName, 1,000 CJK characters, was a 500 there and stored on SQLite): both
 * databases refuse a longer value alike, with a 400.
 */
export const MAX_INDEXED_BYTES = 2000;

/** `value`, or a 400 invalidValue when it is longer than an index takes. */
function checkedIndexable(attribute: string, value: string | null): string | null {
  const bytes = indexedBytesOver(value);
  if (bytes !== undefined) throw new ScimError(400, "invalidValue", `attribute '${attribute}' is ${bytes} bytes long; at most ${MAX_INDEXED_BYTES} bytes (UTF-8) are accepted`);
  return value;
}

/** The UTF-8 bytes of `value` as indexed (folded or not) when over {@link MAX_INDEXED_BYTES}; else undefined. */
function indexedBytesOver(value: string | null): number | undefined {
  if (value === null || value.length * 3 <= MAX_INDEXED_BYTES) return undefined;
  const bytes = Math.max(Buffer.byteLength(value, "utf8"), Buffer.byteLength(value.toLowerCase(), "utf8"));
  return bytes > MAX_INDEXED_BYTES ? bytes : undefined;
}

/**
 * The attributes of {@link NAMED_COLUMNS} whose value is over {@link MAX_INDEXED_BYTES}: a write
 * may keep such a value only where it is the one stored already (an earlier version took it).
 */
export function oversizeNamedColumns(attributes: Obj): (keyof typeof NAMED_COLUMNS)[] {
  return (Object.keys(NAMED_COLUMNS) as (keyof typeof NAMED_COLUMNS)[]).filter((name) => indexedBytesOver(str(attributes[name])) !== undefined);
}

/** One `scim_emails` row per object element of `emails`, in order. */
export function emailRows(dialect: SqlDialectName, tenant: string, resourceId: string, attributes: Obj): Required<Insertable<EmailTable>>[] {
  const emails = attributes.emails;
  if (!Array.isArray(emails)) return [];
  const rows: Required<Insertable<EmailTable>>[] = [];
  emails.forEach((element, position) => {
    if (!isObj(element)) return;
    const value = checkedIndexable("emails.value", str(element.value));
    const type = checkedIndexable("emails.type", str(element.type));
    rows.push({
      tenant,
      resource_id: resourceId,
      position,
      value,
      value_lower: value === null ? null : value.toLowerCase(),
      type_lower: type === null ? null : type.toLowerCase(),
      is_primary: sqlBool(dialect, element.primary === true),
    });
  });
  return rows;
}

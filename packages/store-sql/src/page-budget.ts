/**
 * Pages read within a byte budget (`StoreQuery.maxBytes`, the admin API's pages): each row tells
 * the size of its JSON column and brings the value only when it is within its share of the
 * budget, so that a page of large documents is cut before it is read; the values of the rows
 * kept that the query left out are read afterwards, by key.
 */
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { SqlDialectName } from "./dialect.js";
import { sql as sqlText, toKysely, type SqlText } from "./sql-text.js";
import type { ScimDatabase } from "./tables.js";

/** Keys per statement when the left-out values are read. */
const READ_CHUNK = 500;

/**
 * `bytes`: the size of the JSON column `column` (a reference such as `r.doc`) as text; `value`:
 * the column when `share` is undefined or its size is within it, else NULL.
 */
export function jsonWithinShare(dialect: SqlDialectName, column: string, share: number | undefined): { value: RawBuilder<unknown>; bytes: RawBuilder<number | string> } {
  const text = jsonWithinShareText(dialect, column, share);
  return { value: toKysely(text.value), bytes: toKysely(text.bytes) };
}

/** @internal {@link jsonWithinShare} as the store's own SQL fragments (see `sql-text.ts`). */
export function jsonWithinShareText(dialect: SqlDialectName, column: string, share: number | undefined): { value: SqlText<unknown>; bytes: SqlText<number | string> } {
  // A reference of the store's own (`r.doc`, `payload`), quoted as an identifier.
  const ref = sqlText.raw(column.split(".").map((part) => `"${part.replaceAll('"', '""')}"`).join("."));
  const bytes = dialect === "postgres" ? sqlText<number | string>`octet_length(${ref}::text)` : sqlText<number | string>`octet_length(${ref})`;
  return { bytes, value: share === undefined ? ref : sqlText<unknown>`case when ${bytes} <= ${share} then ${ref} end` };
}

/**
 * Fills in `field` of the rows where {@link jsonWithinShare} left it NULL, reading the values
 * by each row's key (`read` gives [key, value] pairs), {@link READ_CHUNK} keys at a time. Returns
 * the rows that have their value: a row deleted between the two reads (a prune, a hard delete)
 * is left out, not handed on without its document.
 */
export async function fillLeftOut<R>(rows: R[], field: keyof R, keyOf: (row: R) => number | string, read: (keys: Array<number | string>) => Promise<Array<[number | string, unknown]>>): Promise<R[]> {
  const missing = rows.filter((row) => row[field] === null);
  if (missing.length === 0) return rows;
  for (let i = 0; i < missing.length; i += READ_CHUNK) {
    const part = missing.slice(i, i + READ_CHUNK);
    const values = new Map((await read(part.map(keyOf))).map(([key, value]) => [String(key), value]));
    for (const row of part) {
      const key = String(keyOf(row));
      if (values.has(key)) row[field] = values.get(key) as R[keyof R];
    }
  }
  return rows.filter((row) => row[field] !== null);
}

/** What the references of one row weigh: how many, and the UTF-8 bytes of their names. */
export interface ReferenceWeight {
  count: number;
  nameBytes: number;
}

/**
 * What the references a page's rows carry beside their documents weigh, by row id: for
 * `members`, a group's members with their `display`; for `groups`, a member's groups with the
 * group's name (up to 2,000 bytes each: counted without their names, 13 users in 3,000
 * long-named groups made an 85 MB page). Counted and measured in SQL, never read; rows without
 * any are absent. {@link READ_CHUNK} ids per statement.
 */
export async function referenceWeights(db: Kysely<ScimDatabase>, tenant: string, ids: readonly string[], side: "members" | "groups"): Promise<Map<string, ReferenceWeight>> {
  const out = new Map<string, ReferenceWeight>();
  for (let i = 0; i < ids.length; i += READ_CHUNK) {
    const part = ids.slice(i, i + READ_CHUNK);
    const rows =
      side === "members"
        ? await db
            .selectFrom("scim_members")
            .select(["group_id as id", (eb) => eb.fn.countAll<number | string>().as("n"), sql<number | string | null>`sum(octet_length(display))`.as("bytes")])
            .where("tenant", "=", tenant)
            .where("group_id", "in", part)
            .groupBy("group_id")
            .execute()
        : await db
            .selectFrom("scim_members as m")
            .innerJoin("scim_resources as g", (join) => join.onRef("g.tenant", "=", "m.tenant").onRef("g.id", "=", "m.group_id"))
            .select(["m.member_id as id", (eb) => eb.fn.countAll<number | string>().as("n"), sql<number | string | null>`sum(octet_length(g.display_name))`.as("bytes")])
            .where("m.tenant", "=", tenant)
            .where("m.member_id", "in", part)
            .groupBy("m.member_id")
            .execute();
    for (const row of rows) out.set(row.id, { count: Number(row.n), nameBytes: Number(row.bytes ?? 0) });
  }
  return out;
}

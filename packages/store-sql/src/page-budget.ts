/**
 * Pages read within a byte budget (`StoreQuery.maxBytes`, the admin API's pages): each row tells
 * the size of its JSON column and brings the value only when it is within its share of the
 * budget, so that a page of large documents is cut before it is read; the values of the rows
 * kept that the query left out are read afterwards, by key.
 */
import { sql, type RawBuilder } from "kysely";
import type { SqlDialectName } from "./dialect.js";

/** Keys per statement when the left-out values are read. */
const READ_CHUNK = 500;

/**
 * `bytes`: the size of the JSON column `column` (a reference such as `r.doc`) as text; `value`:
 * the column when `share` is undefined or its size is within it, else NULL.
 */
export function jsonWithinShare(dialect: SqlDialectName, column: string, share: number | undefined): { value: RawBuilder<unknown>; bytes: RawBuilder<number | string> } {
  const ref = sql.ref(column);
  const bytes = dialect === "postgres" ? sql<number | string>`octet_length(${ref}::text)` : sql<number | string>`octet_length(${ref})`;
  return { bytes, value: share === undefined ? sql<unknown>`${ref}` : sql<unknown>`case when ${bytes} <= ${share} then ${ref} end` };
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

/**
 * Paging cursors of the lists that page by position (normalized users and groups, directories):
 * opaque to clients, base64url JSON naming the list they page and the position of the last row
 * of the previous page: `{ "v": 2, "list": "users", "directoryId": "dir_...", "seq": 42 }` or
 * `{ "v": 2, "list": "directories", "created": "2026-...Z", "id": "dir_..." }`.
 *
 * A cursor is only valid for the list that issued it: the users list of another directory (or
 * its groups list, or the same list with other filters) would take its position as one of its
 * own and page from the wrong place without a word, so it refuses the cursor instead (400
 * `invalid_cursor`).
 */
import { createHash } from "node:crypto";
import { DirectoryError } from "./errors.js";

/** A list paged by `seq`: the users or the groups of one directory, with its filters. */
export interface SeqList {
  list: "users" | "groups";
  directoryId: string;
  /**
   * The list's filters ({@link filtersKey}): a cursor of the same list with other filters would
   * skip, without a word, the rows of the new filters before its position.
   */
  filters?: string;
}

/**
 * A short digest of a list's filters (absent ones as such) for {@link SeqList.filters}: the
 * values themselves (emails) need not travel in the cursor.
 */
export function filtersKey(filters: Record<string, string | undefined>): string | undefined {
  const given = Object.entries(filters).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
  if (given.length === 0) return undefined;
  return createHash("sha256").update(JSON.stringify(given)).digest("base64url").slice(0, 16);
}

/** The directories list, paged by creation time, then id (oldest first). */
export interface DirectoriesList {
  list: "directories";
}

/** The list a cursor pages. */
export type PagedList = SeqList | DirectoriesList;

/** Where a page of the directories ended: the last directory's creation time and id. */
export interface CreatedPosition {
  created: string;
  id: string;
}

/** Where a page ended: the last row's `seq` (users, groups), or its creation time and id (directories). */
export type CursorPosition = { seq: number } | CreatedPosition;

/** The cursor of the page of `list` after `position`. */
export function encodeCursor(list: SeqList, position: { seq: number }): string;
export function encodeCursor(list: DirectoriesList, position: CreatedPosition): string;
export function encodeCursor(list: PagedList, position: CursorPosition): string {
  const { filters, ...named } = list as SeqList;
  return Buffer.from(JSON.stringify({ v: 2, ...named, ...(filters === undefined ? {} : { f: filters }), ...position }), "utf8").toString("base64url");
}

/** The `seq` a cursor holds, if it is a valid one. */
function seqOf(data: Record<string, unknown>): number | undefined {
  const { seq } = data;
  return typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
}

/** An instant as `Date.prototype.toISOString` writes it in years 0000–9999. */
const CANONICAL_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The creation time and id a cursor holds, if they are valid ones. */
function createdOf(data: Record<string, unknown>): CreatedPosition | undefined {
  const { created, id } = data;
  // As stored (`toISOString()`): the list compares the text, so "1", which Date.parse takes, would
  // page from an arbitrary place (a paging review).
  const valid = typeof created === "string" && CANONICAL_INSTANT.test(created) && !Number.isNaN(Date.parse(created)) && new Date(created).toISOString() === created && typeof id === "string" && id !== "" && id.length <= 200;
  return valid ? { created, id } : undefined;
}

/** Whether a decoded cursor was issued by `list` (the same kind of list, of the same directory). */
function issuedBy(data: Record<string, unknown>, list: PagedList): boolean {
  if (data.v === 2) return data.list === list.list && (list.list === "directories" || (data.directoryId === list.directoryId && data.f === list.filters));
  // Version 1 named no list. Only its directories cursors say unambiguously what they page
  // (nothing else pages by creation time), so they keep working; its users and groups cursors
  // (`{ v: 1, seq }`) could come from either list of any directory, and are refused.
  return data.v === 1 && list.list === "directories";
}

/**
 * The position a cursor of `list` holds: its `seq` (users, groups), or its creation time and id
 * (directories); undefined for no cursor (or an empty one), the first page. A cursor that does
 * not decode, or that another list issued (another kind of list, or the same kind of another
 * directory), is a 400 `invalid_cursor`.
 */
export function decodeCursor(cursor: string | undefined, list: SeqList): number | undefined;
export function decodeCursor(cursor: string | undefined, list: DirectoriesList): CreatedPosition | undefined;
export function decodeCursor(cursor: string | undefined, list: PagedList): number | CreatedPosition | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  let position: number | CreatedPosition | undefined;
  try {
    const data = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (typeof data === "object" && data !== null && !Array.isArray(data) && issuedBy(data as Record<string, unknown>, list)) {
      position = list.list === "directories" ? createdOf(data as Record<string, unknown>) : seqOf(data as Record<string, unknown>);
    }
  } catch {
    // Answered below.
  }
  if (position === undefined) throw new DirectoryError(400, "invalid_cursor", "the cursor is not valid");
  return position;
}

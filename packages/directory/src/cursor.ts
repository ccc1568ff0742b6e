/**
 * Paging cursors of the lists that page by position (normalized users and groups, directories):
 * opaque to clients, the position of the last row of the previous page as base64url JSON,
 * `{ "v": 1, "seq": 42 }` or `{ "v": 1, "created": "2026-...Z", "id": "dir_..." }`.
 */
import { DirectoryError } from "./errors.js";

/** Where a page ended: the last row's `seq` (users, groups), or its creation time and id (directories, oldest first). */
export type CursorPosition = { seq: number } | { created: string; id: string };

/** The cursor of the page after `position`. */
export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify({ v: 1, ...position }), "utf8").toString("base64url");
}

/**
 * The position a cursor holds: its `seq`, or its creation time and id, whichever `kind` the list
 * pages by; undefined for no cursor (or an empty one), the first page. A cursor that does not
 * decode, or holds a position of another kind (another list's cursor), is a 400 `invalid_cursor`.
 */
export function decodeCursor(cursor: string | undefined, kind: "seq"): number | undefined;
export function decodeCursor(cursor: string | undefined, kind: "created"): { created: string; id: string } | undefined;
export function decodeCursor(cursor: string | undefined, kind: "seq" | "created"): number | { created: string; id: string } | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  try {
    const data = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (typeof data === "object" && data !== null && (data as { v?: unknown }).v === 1) {
      const { seq, created, id } = data as Record<string, unknown>;
      if (kind === "seq" && typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0) return seq;
      if (kind === "created" && typeof created === "string" && !Number.isNaN(Date.parse(created)) && created.length <= 40 && typeof id === "string" && id !== "" && id.length <= 200) {
        return { created, id };
      }
    }
  } catch {
    // Answered below.
  }
  throw new DirectoryError(400, "invalid_cursor", "the cursor is not valid");
}

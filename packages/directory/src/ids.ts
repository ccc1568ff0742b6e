import { randomHex } from "scim-core";

/** A new random id with a type prefix: `dir_`, `tok_`, `map_`... (96 random bits, hex, from scim-core's pooled CSPRNG). */
export function newId(prefix: string): string {
  return `${prefix}_${randomHex(12)}`;
}

/** The form of a directory id (`newId("dir")`): `dir_` and 24 lower-case hex digits. */
export const DIRECTORY_ID_PATTERN = /^dir_[0-9a-f]{24}$/;

/** Whether `text` has the form of a directory id (whether or not such a directory exists). */
export function isDirectoryId(text: string): boolean {
  return DIRECTORY_ID_PATTERN.test(text);
}

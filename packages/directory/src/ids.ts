import { randomHex } from "scim-core";

/** A new random id with a type prefix: `dir_`, `tok_`, `map_`... (96 random bits, hex, from scim-core's pooled CSPRNG). */
export function newId(prefix: string): string {
  return `${prefix}_${randomHex(12)}`;
}

import { randomBytes } from "node:crypto";

/** A new random id with a type prefix: `dir_`, `tok_`, `map_`... (96 random bits, hex). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString("hex")}`;
}

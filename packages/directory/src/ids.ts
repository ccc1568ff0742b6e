import { randomFillSync } from "node:crypto";

/** Random bytes drawn from the CSPRNG in blocks (one call per 341 ids instead of one per id), each used once. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

/** A new random id with a type prefix: `dir_`, `tok_`, `map_`... (96 random bits, hex). */
export function newId(prefix: string): string {
  if (poolAt + 12 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const id = `${prefix}_${pool.toString("hex", poolAt, poolAt + 12)}`;
  poolAt += 12;
  return id;
}

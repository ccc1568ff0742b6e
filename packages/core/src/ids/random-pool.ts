/**
 * Random bytes drawn from the CSPRNG (Web Crypto `getRandomValues`) in blocks of 4 KiB, each byte
 * handed out once: one call into the CSPRNG per few hundred ids instead of one per id. For ids
 * (`timeOrderedUuid`, prefixed ids of other packages), not for secrets.
 */

/** The hex digits of every byte value, for encoders of random ids. */
export const HEX_BYTES: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

const pool = new Uint8Array(4096);
let poolAt = pool.length;

/** Fills `bytes` from index `from` to its end with fresh random bytes. */
export function randomInto(bytes: Uint8Array, from = 0): void {
  const n = bytes.length - from;
  if (n > pool.length) throw new RangeError(`randomInto: at most ${pool.length} bytes at a time`);
  if (poolAt + n > pool.length) {
    globalThis.crypto.getRandomValues(pool);
    poolAt = 0;
  }
  bytes.set(pool.subarray(poolAt, poolAt + n), from);
  poolAt += n;
}

/** `byteCount` fresh random bytes as lower-case hex (at most 4096 bytes). */
export function randomHex(byteCount: number): string {
  const bytes = new Uint8Array(byteCount);
  randomInto(bytes);
  let out = "";
  for (const byte of bytes) out += HEX_BYTES[byte];
  return out;
}

/**
 * Time-ordered UUIDs (version 7, RFC 9562 §5.7): 48 bits of Unix time in milliseconds, then 74
 * random bits. Ids created one after the other sort after each other (within a millisecond, in
 * random order), so a B-tree index on them grows at its right edge: concurrent inserts share the
 * index pages they write, instead of each writing a random page. RFC 7643 §3.1 asks only that
 * an `id` be unique and never reassigned; the time it carries is the resource's `meta.created`.
 */

import { HEX_BYTES, randomInto } from "./random-pool.js";

/** A new version 7 UUID, lower-case hex: `0190b2d4-5c3e-7a1b-9f00-…`. */
export function timeOrderedUuid(now: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  randomInto(bytes, 6);
  // 48-bit big-endian millisecond timestamp (safe: Date.now() < 2^48 until the year 10889).
  let ms = Math.max(0, Math.floor(now));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  let out = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += "-";
    out += HEX_BYTES[bytes[i]!];
  }
  return out;
}

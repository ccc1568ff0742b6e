/**
 * The admin API key: one per installation, `dsync_admin_` followed by 256 random bits
 * (base64url), shown once when created or rotated, stored only as its SHA-256 hash (hex) in
 * `dir_settings`, and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Kysely } from "kysely";
import type { DirectoryDatabase } from "./tables.js";

/** Every admin key starts with this, so secret scanners and people recognise it. */
export const ADMIN_KEY_PREFIX = "dsync_admin_";

/** The `dir_settings` key under which the admin key's hash is stored. */
export const ADMIN_KEY_SETTING = "admin_key_sha256";

/** SHA-256 of an admin key, hex (what is stored, and what `directoryApp({ adminKeyHash })` takes). */
export function hashAdminKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** A new admin key (not stored): the prefix and 256 random bits. */
export function generateAdminKey(): string {
  return `${ADMIN_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
}

const HASH_BYTES = 32;
const ZERO = Buffer.alloc(HASH_BYTES);

/**
 * Whether `presented` is the key whose SHA-256 hash is `expectedHash` (hex). Both sides are
 * hashed to 32 bytes and compared with `timingSafeEqual`, so the time taken says nothing about
 * how much of the key matched, nor about its length.
 */
export function verifyAdminKey(presented: string | undefined, expectedHash: string | undefined): boolean {
  const expected = /^[0-9a-f]{64}$/i.test(expectedHash ?? "") ? Buffer.from(expectedHash!, "hex") : undefined;
  const actual = createHash("sha256").update(presented ?? "", "utf8").digest();
  // Compare even when there is nothing to compare with: the same work either way.
  const equal = timingSafeEqual(actual, expected ?? ZERO);
  return equal && expected !== undefined && presented !== undefined && presented.length > 0;
}

/** The stored hash of the admin key, or undefined when none was created. */
export async function readAdminKeyHash(db: Kysely<DirectoryDatabase>): Promise<string | undefined> {
  const row = await db.selectFrom("dir_settings").select("value").where("key", "=", ADMIN_KEY_SETTING).executeTakeFirst();
  return row?.value;
}

/** Whether an admin key exists (so a setup step knows whether to create one). */
export async function hasAdminKey(db: Kysely<DirectoryDatabase>): Promise<boolean> {
  return (await readAdminKeyHash(db)) !== undefined;
}

/**
 * Creates the admin key, or rotates it when one exists (the previous key stops working at once).
 * Returns the key: it is shown this once, only its hash is stored.
 */
export async function createAdminKey(db: Kysely<DirectoryDatabase>): Promise<string> {
  const key = generateAdminKey();
  const value = hashAdminKey(key);
  await db
    .insertInto("dir_settings")
    .values({ key: ADMIN_KEY_SETTING, value })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value }))
    .execute();
  return key;
}

/**
 * Directory bearer tokens: a recognisable prefix and 256 random bits, shown once (when created or
 * rotated), stored only as a SHA-256 hash, compared in constant time. Rotation keeps the previous
 * token valid for the directory's grace period; revocation is immediate; at most two tokens of a
 * directory are active at once; the last use is recorded (at most once a minute per token).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import { compiledStatement, type SqlDialectName } from "scim-store-sql";
import { lockDirectoryRow, toDirectory, type Directory } from "./directories.js";
import { DirectoryError, notFound } from "./errors.js";
import { newId } from "./ids.js";
import type { DirectoryDatabase, TokenTable } from "./tables.js";

/** Every directory token starts with this, so secret scanners and people recognise it. */
export const TOKEN_PREFIX = "dsync_";

/** A token as listed: never the secret. */
export interface TokenInfo {
  id: string;
  directoryId: string;
  /** The last four characters of the token. */
  hint: string;
  createdAt: string;
  /** Valid until then (set by a rotation). */
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  /** Neither revoked nor expired. */
  active: boolean;
}

/** A token just created or rotated: the secret is in `token`, shown this once. */
export interface IssuedToken extends TokenInfo {
  token: string;
}

/** SHA-256 of a token, hex. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

const LAST_USED_RESOLUTION_MS = 60_000;

/** Whether a token is active at `now`: not revoked, and not expired (a rotation's grace ended). */
export function isActiveToken(row: Pick<TokenTable, "revoked_at" | "expires_at">, now: string): boolean {
  return row.revoked_at === null && (row.expires_at === null || row.expires_at > now);
}

/** Whether a row found by `hash` is that token (the hashes compared in constant time) and active at `now`. */
function matches(row: Pick<TokenTable, "token_hash" | "revoked_at" | "expires_at">, hash: string, now: string): boolean {
  return timingSafeEqual(Buffer.from(row.token_hash, "hex"), Buffer.from(hash, "hex")) && isActiveToken(row, now);
}

function info(row: Selectable<TokenTable>, now: string): TokenInfo {
  return {
    id: row.id,
    directoryId: row.directory_id,
    hint: row.hint,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    active: isActiveToken(row, now),
  };
}

/**
 * Ended tokens (revoked, or expired after a rotation's grace period) each directory keeps for its
 * token list; older ones are deleted when a token is issued, so that rotations never pile up.
 */
export const ENDED_TOKENS_KEPT = 20;

/** Token operations over the directory tables. */
export class TokenService {
  constructor(
    private readonly db: Kysely<DirectoryDatabase>,
    private readonly now: () => Date,
    /** The database's dialect (the SQL of its compiled statements differs). */
    private readonly dialect: SqlDialectName,
    /**
     * Runs a change that ends tokens (a revocation, a rotation) in a transaction that holds the
     * directory's row and waits for the directory's writes under way (`createDirectorySync` gives
     * one on the store's tenant lock): once it has answered, no request with an ended token
     * writes, also one that authenticated before. @default a transaction that holds the row
     */
    private readonly fence?: TokenFence,
  ) {}

  /** Runs `work` as {@link fence} (or in a transaction holding the directory's row). */
  private ending<T>(directoryId: string, work: (tx: Kysely<DirectoryDatabase>) => Promise<T>): Promise<T> {
    if (this.fence !== undefined) return this.fence(directoryId, work);
    return this.db.transaction().execute(async (tx) => {
      await lockDirectoryRow(tx, directoryId);
      return work(tx);
    });
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  /** The directory's tokens, newest first: the active ones and the last {@link ENDED_TOKENS_KEPT} ended. */
  async list(directoryId: string): Promise<TokenInfo[]> {
    const now = this.stamp();
    const rows = await this.db.selectFrom("dir_tokens").selectAll().where("directory_id", "=", directoryId).orderBy("created_at", "desc").orderBy("id").execute();
    return rows.map((r) => info(r, now));
  }

  /** The directory's active tokens, oldest first. */
  private async active(db: Kysely<DirectoryDatabase>, directoryId: string, now: string): Promise<TokenTable[]> {
    const rows = await db.selectFrom("dir_tokens").selectAll().where("directory_id", "=", directoryId).where("revoked_at", "is", null).orderBy("created_at").execute();
    return rows.filter((r) => isActiveToken(r, now));
  }

  private async insert(db: Kysely<DirectoryDatabase>, directoryId: string, now: string): Promise<IssuedToken> {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
    const row: TokenTable = {
      id: newId("tok"),
      directory_id: directoryId,
      token_hash: hashToken(token),
      hint: token.slice(-4),
      created_at: now,
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
    };
    await db.insertInto("dir_tokens").values(row).execute();
    await this.forgetEnded(db, directoryId, now);
    return { ...info(row, now), token };
  }

  /** Deletes the directory's ended tokens but the newest {@link ENDED_TOKENS_KEPT}. */
  private async forgetEnded(db: Kysely<DirectoryDatabase>, directoryId: string, now: string): Promise<void> {
    const ended = db
      .selectFrom("dir_tokens")
      .select("id")
      .where("directory_id", "=", directoryId)
      .where((eb) => eb.or([eb("revoked_at", "is not", null), eb("expires_at", "<=", now)]));
    const keep = ended.orderBy("created_at", "desc").orderBy("id", "desc").limit(ENDED_TOKENS_KEPT);
    await db
      .deleteFrom("dir_tokens")
      .where("id", "in", ended)
      .where("id", "not in", db.selectFrom(keep.as("kept")).select("kept.id"))
      .execute();
  }

  /**
   * Creates a token; 409 when the directory already has two active tokens (rotate or revoke one).
   * `transaction`: the caller's, to create it in (else it runs in one of its own).
   */
  async create(directoryId: string, transaction?: Kysely<DirectoryDatabase>): Promise<IssuedToken> {
    const create = async (tx: Kysely<DirectoryDatabase>) => {
      // Serialises the directory's token changes (two concurrent creates cannot both count the
      // same active tokens and leave three: PostgreSQL, READ COMMITTED) and waits for a deletion
      // under way: 404 once it is gone (a 201 gave a secret for a deleted directory and left the
      // token's row behind).
      await lockDirectoryRow(tx, directoryId);
      const now = this.stamp();
      if ((await this.active(tx, directoryId, now)).length >= 2) {
        throw new DirectoryError(409, "too_many_tokens", "the directory already has two active tokens: rotate or revoke one");
      }
      return this.insert(tx, directoryId, now);
    };
    return transaction !== undefined ? create(transaction) : this.db.transaction().execute(create);
  }

  /**
   * Issues a new token; the active token the IdP uses stays valid for `graceSeconds` more (so the
   * IdP can be switched over), the other one, if any, is revoked now, keeping at most two active.
   * The token kept is the one used last (`lastUsedAt`, to the minute); when none was used or
   * two were used in the same minute, the newest.
   */
  async rotate(directoryId: string, graceSeconds: number): Promise<IssuedToken> {
    // As in create, one token change of the directory at a time, and 404 once it is deleted; and
    // the writes under way with the token it revokes end first.
    return this.ending(directoryId, async (tx) => {
      const now = this.stamp();
      const active = await this.active(tx, directoryId, now);
      const previous = inUse(active);
      for (const old of active) {
        if (old === previous && graceSeconds > 0) {
          const until = new Date(Date.parse(now) + graceSeconds * 1000).toISOString();
          const expires = old.expires_at !== null && old.expires_at < until ? old.expires_at : until;
          await tx.updateTable("dir_tokens").set({ expires_at: expires }).where("id", "=", old.id).execute();
        } else {
          await tx.updateTable("dir_tokens").set({ revoked_at: now }).where("id", "=", old.id).execute();
        }
      }
      return this.insert(tx, directoryId, now);
    });
  }

  /** Revokes a token now. */
  async revoke(directoryId: string, tokenId: string): Promise<TokenInfo> {
    // The writes under way with the token end first; those after it find it revoked (see `fence`).
    return this.ending(directoryId, async (tx) => {
      const now = this.stamp();
      const row = await tx.selectFrom("dir_tokens").selectAll().where("id", "=", tokenId).where("directory_id", "=", directoryId).executeTakeFirst();
      if (row === undefined) throw notFound("token", tokenId);
      if (row.revoked_at === null) await tx.updateTable("dir_tokens").set({ revoked_at: now }).where("id", "=", tokenId).execute();
      return info({ ...row, revoked_at: row.revoked_at ?? now }, now);
    });
  }

  /** Revokes every token of a directory (when it is deleted); `db`: the caller's transaction to do it in. */
  async revokeAll(directoryId: string, db: Kysely<DirectoryDatabase> = this.db): Promise<void> {
    await db.updateTable("dir_tokens").set({ revoked_at: this.stamp() }).where("directory_id", "=", directoryId).where("revoked_at", "is", null).execute();
  }

  /**
   * The active token a bearer secret is, or undefined. Looked up by its hash (a unique index),
   * then the hashes compared in constant time; records the last use.
   */
  async verify(token: string): Promise<TokenInfo | undefined> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const hash = hashToken(token);
    const row = await this.db.selectFrom("dir_tokens").selectAll().where("token_hash", "=", hash).executeTakeFirst();
    return row === undefined ? undefined : this.accept(row, hash);
  }

  /**
   * The active token a bearer secret is, with its directory, when the token belongs to
   * `directoryId` and the directory is active (a SCIM request's authentication, in one statement:
   * the token by its hash, joined with its directory); undefined otherwise. Records the last use.
   */
  async verifyFor(token: string, directoryId: string): Promise<{ token: TokenInfo; directory: Directory } | undefined> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const hash = hashToken(token);
    const [row] = (await selectTokenWithDirectory<TokenWithDirectory>(this.db, this.dialect, { hash, directoryId })).rows;
    // An inactive directory's token opens nothing, and its use is not recorded (a refused request
    // moved `lastUsedAt`, which decides the token a rotation keeps).
    if (row === undefined || row.d_state !== "active") return undefined;
    const accepted = await this.accept(row, hash);
    if (accepted === undefined) return undefined;
    const directory = toDirectory({
      id: row.directory_id,
      organization_id: row.d_organization_id,
      name: row.d_name,
      type: row.d_type,
      state: row.d_state,
      settings: row.d_settings,
      created_at: row.d_created_at,
      updated_at: row.d_updated_at,
    });
    return { token: accepted, directory };
  }

  /**
   * The active tokens of active directories used within `withinMs` (by `lastUsedAt`, recorded to
   * the minute), the most recently used last, at most `limit`: the IdPs that were working before
   * the process started (the SCIM routes trust them as they trust tokens that authenticated in
   * the process, see `directoryScimRoutes`).
   */
  async recentlyUsed(withinMs: number, limit: number): Promise<Array<{ directoryId: string; hash: string }>> {
    const now = this.stamp();
    const since = new Date(Date.parse(now) - withinMs).toISOString();
    const rows = await this.db
      .selectFrom("dir_tokens as t")
      .innerJoin("dir_directories as d", "d.id", "t.directory_id")
      .select(["t.directory_id", "t.token_hash", "t.last_used_at"])
      .where("d.state", "=", "active")
      .where("t.revoked_at", "is", null)
      .where((eb) => eb.or([eb("t.expires_at", "is", null), eb("t.expires_at", ">", now)]))
      .where("t.last_used_at", ">=", since)
      .orderBy("t.last_used_at", "desc")
      .limit(limit)
      .execute();
    return rows.reverse().map((row) => ({ directoryId: row.directory_id, hash: row.token_hash }));
  }

  /**
   * Whether the token whose hash is `hash` is active and belongs to `directoryId`, and the
   * directory active too: what authentication will decide, without recording a use (the rate
   * limiter asks before a request spends its directory's rate).
   */
  async isActiveFor(hash: string, directoryId: string): Promise<boolean> {
    const [row] = (await selectTokenWithDirectory<TokenWithDirectory>(this.db, this.dialect, { hash, directoryId })).rows;
    return row !== undefined && row.d_state === "active" && matches(row, hash, this.stamp());
  }

  /** The token of a row found by `hash`, if the hashes match (constant time) and it is active; records the last use. */
  private async accept(row: Selectable<TokenTable>, hash: string): Promise<TokenInfo | undefined> {
    const now = this.stamp();
    if (!matches(row, hash, now)) return undefined;
    if (row.last_used_at === null || Date.parse(now) - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
      await this.db.updateTable("dir_tokens").set({ last_used_at: now }).where("id", "=", row.id).execute();
      row.last_used_at = now;
    }
    return info(row, now);
  }
}

/** Runs a change that ends tokens of `directoryId` in a transaction of its own (see `TokenService`'s `fence`). */
export type TokenFence = <T>(directoryId: string, work: (tx: Kysely<DirectoryDatabase>) => Promise<T>) => Promise<T>;

/** A token row joined with its directory's columns (`d_...`). */
type TokenWithDirectory = Selectable<TokenTable> & {
  d_organization_id: string;
  d_name: string;
  d_type: string;
  d_state: string;
  d_settings: Selectable<DirectoryDatabase["dir_directories"]>["settings"];
  d_created_at: string;
  d_updated_at: string;
};

/** The authentication of a SCIM request: a token by its hash, joined with its directory (compiled once). */
const selectTokenWithDirectory = compiledStatement<DirectoryDatabase, "hash" | "directoryId">(["hash", "directoryId"], (db, v) =>
  db
    .selectFrom("dir_tokens as t")
    .innerJoin("dir_directories as d", "d.id", "t.directory_id")
    .selectAll("t")
    .select([
      "d.organization_id as d_organization_id",
      "d.name as d_name",
      "d.type as d_type",
      "d.state as d_state",
      "d.settings as d_settings",
      "d.created_at as d_created_at",
      "d.updated_at as d_updated_at",
    ])
    .where("t.token_hash", "=", v.hash)
    .where("t.directory_id", "=", v.directoryId),
);

/** Of active tokens (oldest first), the one used last; the newest when none was used, or on a tie. */
function inUse(active: readonly TokenTable[]): TokenTable | undefined {
  let chosen: TokenTable | undefined;
  for (const token of active) {
    if (chosen === undefined || (token.last_used_at ?? "") >= (chosen.last_used_at ?? "")) chosen = token;
  }
  return chosen;
}

/**
 * Link by email (the directory setting `linkByEmail`): when a user is created whose email
 * already belongs to a live user of the same organization (in any of its directories, the same
 * one included), the new user is linked to that user, so the application sees one person
 * (`linkedUserId` / `linkedDirectoryId` in the normalized data). The link is written by an
 * `afterCreate` hook, inside the create's transaction (ARCHITECTURE.md, "Extension points").
 * Links only ever point at a live user: an `afterDelete` hook, inside the delete's transaction
 * (soft or hard), removes the deleted user's own link and re-links the users linked to it to the
 * earliest live user created before them with the link's email, or leaves them unlinked; deleting
 * a directory does the same for the users linked to its users ({@link LinkService.detach}).
 *
 * PostgreSQL (READ COMMITTED): concurrent creates with one email take turns (an advisory lock), so
 * the later one sees the earlier; a link's target is locked `FOR SHARE` until the transaction
 * ends, so a concurrent delete of it waits and then removes the link.
 */
import { PostgresAdapter, sql, type Kysely, type RawBuilder, type Selectable } from "kysely";
import type { OperationContext, ScimHooks, ScimResourceBody } from "scim-core";
import type { SqlDialectName, SqlScimStore } from "scim-store-sql";
import { toDirectory } from "./directories.js";
import type { DirectoryPrincipal } from "./provisioning.js";
import type { DirectoryDatabase, UserLinkTable } from "./tables.js";

/** A user linked to an earlier user of the same organization. */
export interface UserLink {
  directoryId: string;
  userId: string;
  linkedDirectoryId: string;
  linkedUserId: string;
  /** The email (lower-cased) both users have. */
  email: string;
  createdAt: string;
}

type Db = Kysely<DirectoryDatabase>;
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function nonEmpty(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

const isTrue = (value: unknown): boolean => value === true || (typeof value === "string" && value.toLowerCase() === "true");

/**
 * A user's email as the directory layer sees it: the value of the primary element of `emails`,
 * else of the first one with a value; else `userName` when it is an email address (Okta and
 * Entra often send the address only there).
 */
export function primaryEmail(resource: Obj): string | undefined {
  const emails = Array.isArray(resource.emails) ? resource.emails.filter(isObj) : [];
  const primary = emails.find((e) => isTrue(e.primary) && nonEmpty(e.value) !== undefined);
  const chosen = nonEmpty(primary?.value) ?? emails.map((e) => nonEmpty(e.value)).find((v) => v !== undefined);
  if (chosen !== undefined) return chosen;
  const userName = nonEmpty(resource.userName);
  return userName !== undefined && /^[^@\s]+@[^@\s]+$/.test(userName) ? userName : undefined;
}

function live(dialect: SqlDialectName, alias: string): RawBuilder<boolean> {
  return sql<boolean>`${sql.ref(`${alias}.deleted`)} = ${sql.lit(dialect === "sqlite" ? 0 : false)}`;
}

function toLink(row: Selectable<UserLinkTable>): UserLink {
  return {
    directoryId: row.directory_id,
    userId: row.user_id,
    linkedDirectoryId: row.linked_directory_id,
    linkedUserId: row.linked_user_id,
    email: row.email,
    createdAt: row.created_at,
  };
}

/** A user of the organization: where it lives and when it was created. */
interface Candidate {
  tenant: string;
  id: string;
  created: string;
  seq: number;
}

/** A user: its directory (the SCIM tenant) and id. */
interface UserRef {
  tenant: string;
  id: string;
}

const earlier = (a: Candidate, b: Candidate): boolean => (a.created === b.created ? a.seq < b.seq : a.created < b.created);

/** Attempts to find a live target when the chosen one turns out to be deleted meanwhile (PostgreSQL). */
const ATTEMPTS = 3;

/**
 * The dialect of a Kysely instance opened by scim-store-sql (PostgreSQL through Kysely's
 * `PostgresDialect`, SQLite otherwise), for code that has a database but no store.
 */
function dialectOf(db: Kysely<DirectoryDatabase>): SqlDialectName {
  return db.getExecutor().adapter instanceof PostgresAdapter ? "postgres" : "sqlite";
}

/**
 * PostgreSQL: makes the creates of users with one email in one organization take turns until
 * their transactions end (a transaction-scoped advisory lock; the two-key form, so that it never
 * shares a key with the single-key locks of the roles and the outbox). Under READ COMMITTED the
 * later create then sees the earlier one's user and links to it. Only creates take it: the delete
 * paths never wait for it, so a create holding it while it waits for a row being deleted cannot
 * deadlock with that delete.
 */
async function lockEmail(db: Db, organizationId: string, email: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${"scim-directory:link"}), hashtext(${`${organizationId}\n${email}`}))`.execute(db);
}

/** Links between users of one organization (`sync.links`). */
export class LinkService {
  /**
   * The `afterCreate` hook that links a new user by email and the `afterDelete` hook that keeps
   * links off deleted users (createDirectorySync installs them).
   */
  readonly hooks: ScimHooks;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
  ) {
    this.hooks = {
      afterCreate: (ctx, resource) => this.onCreate(ctx, resource),
      afterDelete: (ctx, previous) => this.onDelete(ctx, previous),
    };
  }

  /** The link of a user, or undefined. */
  async linkOf(directoryId: string, userId: string): Promise<UserLink | undefined> {
    const row = await this.db.selectFrom("dir_user_links").selectAll().where("directory_id", "=", directoryId).where("user_id", "=", userId).executeTakeFirst();
    return row === undefined ? undefined : toLink(row);
  }

  /** The links of several users of one directory, by user id. */
  async linksOf(directoryId: string, userIds: readonly string[]): Promise<Map<string, UserLink>> {
    const out = new Map<string, UserLink>();
    for (let i = 0; i < userIds.length; i += 500) {
      const part = userIds.slice(i, i + 500);
      const rows = await this.db.selectFrom("dir_user_links").selectAll().where("directory_id", "=", directoryId).where("user_id", "in", part).execute();
      for (const row of rows) out.set(row.user_id, toLink(row));
    }
    return out;
  }

  /** The users linked to a user (those created after it with its email), in any directory. */
  async linkedTo(directoryId: string, userId: string): Promise<UserLink[]> {
    const rows = await this.db
      .selectFrom("dir_user_links")
      .selectAll()
      .where("linked_directory_id", "=", directoryId)
      .where("linked_user_id", "=", userId)
      .orderBy("created_at")
      .execute();
    return rows.map(toLink);
  }

  private async onCreate(ctx: OperationContext, resource: ScimResourceBody): Promise<void> {
    if (ctx.resourceType !== "User") return;
    const directory = (ctx.principal as Partial<DirectoryPrincipal>).directory;
    if (directory === undefined || !directory.settings.linkByEmail) return;
    const email = primaryEmail(resource)?.toLowerCase();
    if (email === undefined) return;
    const store = ctx.store as SqlScimStore;
    const db = store.db as unknown as Db;
    const user = { tenant: directory.id, id: resource.id };
    if (store.dialect === "postgres") await lockEmail(db, directory.organizationId, email);
    const person = await this.personFor(db, store.dialect, directory.organizationId, email, user, { wait: true });
    if (person !== undefined) await this.insertLink(db, user, person, email);
  }

  /**
   * Keeps links off a deleted user (soft or hard delete; `afterDelete` runs after the purge of a
   * hard delete, inside the same transaction): its own link goes, and the users linked to it are
   * re-linked ({@link LinkService.detach}).
   */
  private async onDelete(ctx: OperationContext, previous: ScimResourceBody): Promise<void> {
    if (ctx.resourceType !== "User") return;
    const directory = (ctx.principal as Partial<DirectoryPrincipal>).directory;
    if (directory === undefined) return;
    const store = ctx.store as SqlScimStore;
    const db = store.db as unknown as Db;
    await db.deleteFrom("dir_user_links").where("directory_id", "=", directory.id).where("user_id", "=", previous.id).execute();
    await this.detach(db, directory.organizationId, { directoryId: directory.id, userId: previous.id }, store.dialect);
  }

  /**
   * Removes the links that point at a removed user (or at every user of a removed directory) and
   * re-links each user that had one to the earliest live user of the organization created before
   * it with the link's email (when its directory has `linkByEmail`), or else leaves it unlinked,
   * the earliest of them becoming the target of the later ones. Runs inside the removal's
   * transaction (`db`), once the removed users are deleted there. Choosing a target never waits
   * for another transaction (see {@link LinkService.personFor}), so two removals re-linking to
   * each other's users cannot deadlock.
   * Used by the delete hook and by `DirectoryService.delete`.
   * @internal
   */
  async detach(db: Db, organizationId: string, removed: { directoryId: string; userId?: string }, dialect: SqlDialectName = dialectOf(db)): Promise<void> {
    let pointing = db.deleteFrom("dir_user_links").where("linked_directory_id", "=", removed.directoryId);
    if (removed.userId !== undefined) pointing = pointing.where("linked_user_id", "=", removed.userId);
    const orphans = await pointing.returningAll().execute();
    if (orphans.length === 0) return;

    // Oldest first: an orphan left unlinked (the earliest of the person's users now) is then the
    // target of the later ones, never the other way round, so no two users link to each other.
    const users = await this.liveUsers(db, dialect, orphans.map((o) => ({ tenant: o.directory_id, id: o.user_id })));
    const relinking = orphans
      .map((o) => ({ link: o, user: users.find((u) => u.tenant === o.directory_id && u.id === o.user_id) }))
      .filter((o): o is { link: Selectable<UserLinkTable>; user: Candidate } => o.user !== undefined)
      .sort((a, b) => (earlier(a.user, b.user) ? -1 : earlier(b.user, a.user) ? 1 : 0));
    if (relinking.length === 0) return;
    const directories = await db
      .selectFrom("dir_directories")
      .selectAll()
      .where("id", "in", [...new Set(relinking.map((o) => o.user.tenant))])
      .execute();
    const linkByEmail = new Set(directories.map(toDirectory).filter((d) => d.settings.linkByEmail).map((d) => d.id));
    for (const { link, user } of relinking) {
      if (!linkByEmail.has(user.tenant)) continue;
      const person = await this.personFor(db, dialect, organizationId, link.email, user, { wait: false, before: user });
      if (person !== undefined) await this.insertLink(db, user, person, link.email);
    }
  }

  /**
   * The person a user with the email links to: the earliest live user of the organization with
   * it (created before `before` when given), or that user's own live target; undefined if none.
   * On PostgreSQL the person's row is locked (`FOR SHARE`) until the transaction ends, so a
   * concurrent delete of it waits for this link and then removes it (or this waits for the delete
   * and looks again). `wait: false` skips a row another transaction holds instead of waiting for
   * it (two deletes re-linking to each other's user would otherwise deadlock) and tries the next
   * user in creation order, so a user whose first candidate is being deleted at the same time
   * links to the next one.
   */
  private async personFor(db: Db, dialect: SqlDialectName, organizationId: string, email: string, user: UserRef, options: { wait: boolean; before?: Candidate }): Promise<UserRef | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const candidates = await this.withEmail(db, dialect, organizationId, email, user);
      for (const target of candidates) {
        if (options.before !== undefined && !earlier(target, options.before)) return undefined;
        const person = await this.personOf(db, dialect, target, user);
        if (dialect === "sqlite") return person; // one write transaction at a time: nothing can delete it meanwhile
        let lock = db.selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", person.tenant).where("r.id", "=", person.id).where(live(dialect, "r")).forShare();
        if (!options.wait) lock = lock.skipLocked();
        if ((await lock.executeTakeFirst()) !== undefined) return person;
        // Waited and found it deleted: look again. Skipped (held by another transaction, or
        // deleted since the candidates were read): the next one.
        if (options.wait) break;
      }
      if (!options.wait || candidates.length === 0) return undefined;
    }
    return undefined;
  }

  /**
   * Whom to link to for a candidate: its own target while that is live (a link points at the
   * person, never at another link) and is not the user itself, else the candidate.
   */
  private async personOf(db: Db, dialect: SqlDialectName, target: Candidate, user: UserRef): Promise<UserRef> {
    const onward = await db.selectFrom("dir_user_links").selectAll().where("directory_id", "=", target.tenant).where("user_id", "=", target.id).executeTakeFirst();
    const next = onward !== undefined ? { tenant: onward.linked_directory_id, id: onward.linked_user_id } : undefined;
    const usable = next !== undefined && !(next.tenant === user.tenant && next.id === user.id) && (await this.isLive(db, dialect, next.tenant, next.id));
    return usable ? next : { tenant: target.tenant, id: target.id };
  }

  private async insertLink(db: Db, user: UserRef, person: UserRef, email: string): Promise<void> {
    await db
      .insertInto("dir_user_links")
      .values({
        directory_id: user.tenant,
        user_id: user.id,
        linked_directory_id: person.tenant,
        linked_user_id: person.id,
        email,
        created_at: this.now().toISOString(),
      })
      .onConflict((oc) => oc.columns(["directory_id", "user_id"]).doNothing())
      .execute();
  }

  /** Which of the users are live, with their creation order. */
  private async liveUsers(db: Db, dialect: SqlDialectName, users: readonly UserRef[]): Promise<Candidate[]> {
    const out: Candidate[] = [];
    for (const tenant of new Set(users.map((u) => u.tenant))) {
      const ids = users.filter((u) => u.tenant === tenant).map((u) => u.id);
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await db
          .selectFrom("scim_resources as r")
          .select(["r.tenant", "r.id", "r.created", "r.seq"])
          .where("r.tenant", "=", tenant)
          .where("r.id", "in", ids.slice(i, i + 500))
          .where("r.resource_type", "=", "User")
          .where(live(dialect, "r"))
          .execute();
        for (const r of rows) out.push({ tenant: r.tenant, id: r.id, created: r.created, seq: Number(r.seq) });
      }
    }
    return out;
  }

  private async isLive(db: Db, dialect: SqlDialectName, tenant: string, id: string): Promise<boolean> {
    const row = await db.selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", tenant).where("r.id", "=", id).where(live(dialect, "r")).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The live users of the organization, other than `except`, with the email as one of their
   * emails or as their userName, in creation order (indexed lookups in each directory of the
   * organization).
   */
  private async withEmail(db: Db, dialect: SqlDialectName, organizationId: string, email: string, except: UserRef): Promise<Candidate[]> {
    const tenants = (await db.selectFrom("dir_directories").select("id").where("organization_id", "=", organizationId).execute()).map((d) => d.id);
    if (tenants.length === 0) return [];
    const byEmail = db
      .selectFrom("scim_emails as e")
      .innerJoin("scim_resources as r", (join) => join.onRef("r.tenant", "=", "e.tenant").onRef("r.id", "=", "e.resource_id"))
      .select(["r.tenant", "r.id", "r.created", "r.seq"])
      .where("e.tenant", "in", tenants)
      .where("e.value_lower", "=", email)
      .where("r.resource_type", "=", "User")
      .where(live(dialect, "r"));
    const byUserName = db
      .selectFrom("scim_resources as r")
      .select(["r.tenant", "r.id", "r.created", "r.seq"])
      .where("r.tenant", "in", tenants)
      .where("r.resource_type", "=", "User")
      .where("r.user_name_lower", "=", email)
      .where(live(dialect, "r"));
    const rows = [...(await byEmail.execute()), ...(await byUserName.execute())]
      .map((r) => ({ tenant: r.tenant, id: r.id, created: r.created, seq: Number(r.seq) }))
      .filter((r) => !(r.tenant === except.tenant && r.id === except.id));
    rows.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.seq - b.seq));
    // A user with the email both as an email and as its userName appears twice.
    return rows.filter((r, i) => i === 0 || !(r.tenant === rows[i - 1]!.tenant && r.id === rows[i - 1]!.id));
  }
}

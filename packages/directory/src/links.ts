/**
 * Link by email (the directory setting `linkByEmail`): when a user is created whose email
 * already belongs to a live user of the same organization (in any of its directories, the same
 * one included), the new user is linked to that user, so the application sees one person
 * (`linkedUserId` / `linkedDirectoryId` in the normalized data). The link is written by an event
 * subscriber on `user.created`, inside the create's transaction (scim-core README, "Hooks and
 * events"). Links only ever point at a live user: on `user.deleted` (soft or hard), inside the
 * delete's transaction, the deleted user's own link goes and the users linked to it are re-linked
 * to the earliest live user created before them with the link's email, or left unlinked; deleting
 * a directory does the same for the users linked to its users ({@link LinkService.detach}).
 * Each change of a user's link is an event in the same transaction, after the event that caused
 * it: `user.linked` ({@link UserLinkedData}) or `user.unlinked` ({@link UserUnlinkedData}).
 *
 * PostgreSQL (READ COMMITTED): concurrent creates with one email take turns (an advisory lock), so
 * the later one sees the earlier; a link's target is locked `FOR SHARE` until the transaction
 * ends, so a concurrent delete of it waits and then removes the link. "Earlier" is the order of
 * the turns, not of `createdAt` (stamped before the turn): a user can be linked to one created a
 * few milliseconds after it, whose create took its turn first. A create never re-points existing
 * links (the application's person for an email stays), so that is kept as it is.
 */
import { PostgresAdapter, sql, type Kysely, type RawBuilder, type Selectable } from "kysely";
import { timeOrderedUuid, type OperationContext, type ScimEvent, type ScimEventSubscriber, type ScimResourceBody } from "scim-core";
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

/** The `data` of a `user.linked` event: the user the event's user is now linked to. */
export interface UserLinkedData {
  linkedDirectoryId: string;
  linkedUserId: string;
  /** The email (lower-cased) both users have. */
  email: string;
  /** The user it was linked to before, when a re-link replaced a link to a deleted user. */
  previous?: { directoryId: string; userId: string };
  [key: string]: unknown;
}

/** The `data` of a `user.unlinked` event: the link the user lost (its target was deleted, and no other user has the email). */
export interface UserUnlinkedData {
  email: string;
  previous: { directoryId: string; userId: string };
  [key: string]: unknown;
}

/** Appends an event to the outbox, in the transaction of the change. */
type AppendEvent = (event: ScimEvent) => Promise<void>;

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
 * How many candidates a lookup reads at a time: the first one nearly always decides, the next
 * ones are needed only when some are skipped (held by another transaction, on PostgreSQL).
 */
const CANDIDATE_BATCH = 8;

const keyOf = (user: UserRef): string => `${user.tenant}\n${user.id}`;

/** A live user whose link pointed at a removed user, and the email of that link. */
interface Orphan {
  email: string;
  user: Candidate;
}

/** The orphans of one email that link to one person at once ({@link LinkService.detach}). */
interface GroupPlan {
  email: string;
  /** Undefined when no live user has the email (nothing to link to). */
  person?: UserRef;
  users: Candidate[];
}

/** The directories (SCIM tenants) of an organization. */
async function organizationTenants(db: Db, organizationId: string): Promise<string[]> {
  return (await db.selectFrom("dir_directories").select("id").where("organization_id", "=", organizationId).execute()).map((d) => d.id);
}

/** `created` in code-point order, as {@link earlier} compares it (PostgreSQL's column uses the locale's). */
function createdOrder(dialect: SqlDialectName, column: string): RawBuilder<string> {
  return dialect === "postgres" ? sql<string>`${sql.ref(column)} collate "C"` : sql<string>`${sql.ref(column)}`;
}

/** Whether the row (`alias`) was created after the candidate: later `created`, or the same and a later `seq`. */
function createdAfter(dialect: SqlDialectName, alias: string, after: Candidate): RawBuilder<boolean> {
  const created = createdOrder(dialect, `${alias}.created`);
  return sql<boolean>`(${created} > ${after.created} or (${created} = ${after.created} and ${sql.ref(`${alias}.seq`)} > ${after.seq}))`;
}

/**
 * The first `limit` live users of the directories (`tenants`) with the email (lower-cased) as
 * one of their emails or as their userName, in creation order (`created`, then `seq`), after
 * `after` when given: ordered and limited in SQL, from the indexed email and userName lookups,
 * so that a lookup never brings every user with a widely shared email into memory.
 * @internal exported for the tests
 */
export async function earliestWithEmail(
  db: Db,
  dialect: SqlDialectName,
  tenants: readonly string[],
  email: string,
  options: { limit: number; after?: Candidate },
): Promise<Candidate[]> {
  if (tenants.length === 0) return [];
  let byEmail = db
    .selectFrom("scim_emails as e")
    .innerJoin("scim_resources as r", (join) => join.onRef("r.tenant", "=", "e.tenant").onRef("r.id", "=", "e.resource_id"))
    .select(["r.tenant", "r.id", "r.created", "r.seq"])
    .where("e.tenant", "in", tenants)
    .where("e.value_lower", "=", email)
    .where("r.resource_type", "=", "User")
    .where(live(dialect, "r"));
  let byUserName = db
    .selectFrom("scim_resources as r")
    .select(["r.tenant", "r.id", "r.created", "r.seq"])
    .where("r.tenant", "in", tenants)
    .where("r.resource_type", "=", "User")
    .where("r.user_name_lower", "=", email)
    .where(live(dialect, "r"));
  if (options.after !== undefined) {
    byEmail = byEmail.where(createdAfter(dialect, "r", options.after));
    byUserName = byUserName.where(createdAfter(dialect, "r", options.after));
  }
  // UNION: a user with the email both as an email and as its userName appears once.
  const rows = await db
    .selectFrom(byEmail.union(byUserName).as("c"))
    .select(["c.tenant", "c.id", "c.created", "c.seq"])
    .orderBy(createdOrder(dialect, "c.created"))
    .orderBy("c.seq")
    .limit(options.limit)
    .execute();
  return rows.map((r) => ({ tenant: r.tenant, id: r.id, created: r.created, seq: Number(r.seq) }));
}

/**
 * The live users of the organization's directories with the email, other than `except`, in
 * creation order, read {@link CANDIDATE_BATCH} at a time: the next batch only when the caller
 * goes past the ones read.
 */
async function* candidatesWithEmail(db: Db, dialect: SqlDialectName, tenants: readonly string[], email: string, except: UserRef): AsyncGenerator<Candidate> {
  let after: Candidate | undefined;
  for (;;) {
    const batch = await earliestWithEmail(db, dialect, tenants, email, { limit: CANDIDATE_BATCH, ...(after === undefined ? {} : { after }) });
    for (const candidate of batch) if (!(candidate.tenant === except.tenant && candidate.id === except.id)) yield candidate;
    if (batch.length < CANDIDATE_BATCH) return;
    after = batch[batch.length - 1];
  }
}

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
   * The event subscriber that links a new user by email (`user.created`) and keeps links off
   * deleted users (`user.deleted`); install it after the store's outbox subscriber, so that its
   * `user.linked` and `user.unlinked` events follow the event that caused them
   * (createDirectorySync does).
   */
  readonly subscriber: ScimEventSubscriber;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
  ) {
    this.subscriber = async (event, ctx) => {
      if (event.resourceType !== "User" || ctx.resourceType !== "User") return;
      if (event.type === "user.created" && event.resource !== undefined) await this.onCreate(ctx, event.resource);
      else if (event.type === "user.deleted") await this.onDelete(ctx, event.resourceId);
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
    const directory = (ctx.principal as Partial<DirectoryPrincipal>).directory;
    if (directory === undefined || !directory.settings.linkByEmail) return;
    const email = primaryEmail(resource)?.toLowerCase();
    if (email === undefined) return;
    const store = ctx.store as SqlScimStore;
    const db = store.db as unknown as Db;
    const user = { tenant: directory.id, id: resource.id };
    if (store.dialect === "postgres") await lockEmail(db, directory.organizationId, email);
    const tenants = await organizationTenants(db, directory.organizationId);
    const person = await this.personFor(db, store.dialect, tenants, email, user, { wait: true });
    if (person === undefined) return;
    const linked = new Map<string, UserRef>();
    await this.insertLinks(db, [user], person, email, linked);
    if (linked.has(keyOf(user))) await store.appendEvent(this.linkEvent(user, person, email));
  }

  /** The `user.linked` event of a user now linked to `person`. */
  private linkEvent(user: UserRef, person: UserRef, email: string, previous?: UserRef): ScimEvent {
    const data: UserLinkedData = { linkedDirectoryId: person.tenant, linkedUserId: person.id, email };
    if (previous !== undefined) data.previous = { directoryId: previous.tenant, userId: previous.id };
    return { id: timeOrderedUuid(), type: "user.linked", tenant: user.tenant, resourceType: "User", resourceId: user.id, occurredAt: this.now().toISOString(), data };
  }

  /**
   * Keeps links off a deleted user (soft or hard delete; `user.deleted` is emitted after the purge
   * of a hard delete, inside the same transaction): its own link goes, and the users linked to it
   * are re-linked ({@link LinkService.detach}).
   */
  private async onDelete(ctx: OperationContext, userId: string): Promise<void> {
    const directory = (ctx.principal as Partial<DirectoryPrincipal>).directory;
    if (directory === undefined) return;
    const store = ctx.store as SqlScimStore;
    const db = store.db as unknown as Db;
    await db.deleteFrom("dir_user_links").where("directory_id", "=", directory.id).where("user_id", "=", userId).execute();
    await this.detach(db, directory.organizationId, { directoryId: directory.id, userId }, store.dialect, (event) => store.appendEvent(event));
  }

  /**
   * Removes the links that point at a removed user (or at every user of a removed directory) and
   * re-links each user that had one to the earliest live user of the organization created before
   * it with the link's email (when its directory has `linkByEmail`), or else leaves it unlinked,
   * the earliest of them becoming the target of the later ones. Runs inside the removal's
   * transaction (`db`), once the removed users are deleted there. Choosing a target never waits
   * for another transaction (see {@link LinkService.personFor}), so two removals re-linking to
   * each other's users cannot deadlock.
   *
   * The users of one email re-link together ({@link LinkService.planGroup}): one lookup of the
   * earliest live user with the email and one batch of links for all of them, however many share
   * it (a placeholder email such as `noreply@company.com` can have thousands). When that shortcut
   * could differ from taking the users one at a time, oldest first (see `planGroup`), or when the
   * chosen person is held by another transaction (PostgreSQL), they are taken one at a time.
   * With `appendEvent`, each live user whose link pointed at a removed user gets a `user.linked`
   * event (with `previous`) when re-linked, else a `user.unlinked`.
   * Used on `user.deleted` and by `DirectoryService.delete`.
   * @internal
   */
  async detach(db: Db, organizationId: string, removed: { directoryId: string; userId?: string }, dialect: SqlDialectName = dialectOf(db), appendEvent?: AppendEvent): Promise<void> {
    let pointing = db.deleteFrom("dir_user_links").where("linked_directory_id", "=", removed.directoryId);
    if (removed.userId !== undefined) pointing = pointing.where("linked_user_id", "=", removed.userId);
    const orphans = await pointing.returningAll().execute();
    if (orphans.length === 0) return;
    const linked = new Map<string, UserRef>();
    const live = await this.relink(db, organizationId, dialect, orphans, linked);
    if (appendEvent === undefined) return;
    for (const orphan of orphans) {
      const user = { tenant: orphan.directory_id, id: orphan.user_id };
      if (!live.has(keyOf(user))) continue; // deleted itself: its own user.deleted says enough
      const previous = { tenant: orphan.linked_directory_id, id: orphan.linked_user_id };
      const person = linked.get(keyOf(user));
      if (person !== undefined) await appendEvent(this.linkEvent(user, person, orphan.email, previous));
      else {
        const data: UserUnlinkedData = { email: orphan.email, previous: { directoryId: previous.tenant, userId: previous.id } };
        await appendEvent({ id: timeOrderedUuid(), type: "user.unlinked", tenant: user.tenant, resourceType: "User", resourceId: user.id, occurredAt: this.now().toISOString(), data });
      }
    }
  }

  /**
   * Re-links the orphans of {@link LinkService.detach} (their links already deleted), recording
   * each new link in `linked`; returns the keys of the orphans that are live users.
   */
  private async relink(db: Db, organizationId: string, dialect: SqlDialectName, orphans: readonly Selectable<UserLinkTable>[], linked: Map<string, UserRef>): Promise<Set<string>> {
    // Oldest first: an orphan left unlinked (the earliest of the person's users now) is then the
    // target of the later ones, never the other way round, so no two users link to each other.
    const users = new Map((await this.liveUsers(db, orphans.map((o) => ({ tenant: o.directory_id, id: o.user_id })))).map((u) => [keyOf(u), u]));
    const relinking = orphans
      .map((o) => ({ email: o.email, user: users.get(keyOf({ tenant: o.directory_id, id: o.user_id })) }))
      .filter((o): o is Orphan => o.user !== undefined)
      .sort((a, b) => (earlier(a.user, b.user) ? -1 : earlier(b.user, a.user) ? 1 : 0));
    const live = new Set(relinking.map((o) => keyOf(o.user)));
    if (relinking.length === 0) return live;
    const directories = await db
      .selectFrom("dir_directories")
      .selectAll()
      .where("id", "in", [...new Set(relinking.map((o) => o.user.tenant))])
      .execute();
    const linkByEmail = new Set(directories.map(toDirectory).filter((d) => d.settings.linkByEmail).map((d) => d.id));
    const eligible = relinking.filter((o) => linkByEmail.has(o.user.tenant));
    if (eligible.length === 0) return live;
    const tenants = await organizationTenants(db, organizationId);

    const groups = new Map<string, Orphan[]>();
    for (const orphan of eligible) {
      const group = groups.get(orphan.email);
      if (group === undefined) groups.set(orphan.email, [orphan]);
      else group.push(orphan);
    }
    const orphanKeys = new Map(eligible.map((o) => [keyOf(o.user), o.email]));
    const plans: Array<Required<GroupPlan>> = [];
    for (const [email, group] of groups) {
      const plan = await this.planGroup(db, dialect, tenants, email, group, orphanKeys);
      if (plan === undefined) {
        await this.relinkOneByOne(db, dialect, tenants, eligible, linked);
        return live;
      }
      if (plan.person !== undefined && plan.users.length > 0) plans.push({ ...plan, person: plan.person });
    }
    if (dialect === "postgres") {
      // Locked before any link is written, so that the walk below starts from where it would have.
      for (const plan of plans) {
        if (!(await this.lockPerson(db, dialect, plan.person, false))) {
          await this.relinkOneByOne(db, dialect, tenants, eligible, linked);
          return live;
        }
      }
    }
    for (const plan of plans) await this.insertLinks(db, plan.users, plan.person, plan.email, linked);
    return live;
  }

  /**
   * How the orphans of one email re-link at once, or undefined when taking them one at a time
   * (oldest first, as {@link LinkService.relinkOneByOne} does) could give another result.
   *
   * One at a time, each orphan's first candidate (other than itself) is the earliest live user `E`
   * of the organization with the email: for `E` itself the next one, never created before it, so
   * `E` stays unlinked; for an orphan created after `E`, the person of `E` (its own live target
   * `T`, else `E`); for one created before it (it no longer has the email), none. Re-linking other
   * orphans changes only the orphans' own links, so this holds for every orphan of the email
   * unless `E` is an orphan of another email (its new link would depend on the order) or `T` is
   * one of the orphans (it would not link to itself).
   */
  private async planGroup(db: Db, dialect: SqlDialectName, tenants: readonly string[], email: string, group: readonly Orphan[], orphanKeys: ReadonlyMap<string, string>): Promise<GroupPlan | undefined> {
    const [first] = await earliestWithEmail(db, dialect, tenants, email, { limit: 1 });
    if (first === undefined) return { email, users: [] };
    const orphanEmail = orphanKeys.get(keyOf(first));
    if (orphanEmail !== undefined && orphanEmail !== email) return undefined;
    let person: UserRef = first;
    if (orphanEmail === undefined) {
      const onward = await this.targetOf(db, dialect, first);
      if (onward !== undefined && orphanKeys.has(keyOf(onward))) return undefined;
      if (onward !== undefined) person = onward;
    }
    const users = group.filter((o) => earlier(first, o.user)).map((o) => o.user);
    return { email, person: { tenant: person.tenant, id: person.id }, users };
  }

  /** Re-links the orphans one at a time, oldest first, each to the person its own walk finds. */
  private async relinkOneByOne(db: Db, dialect: SqlDialectName, tenants: readonly string[], orphans: readonly Orphan[], linked: Map<string, UserRef>): Promise<void> {
    for (const { email, user } of orphans) {
      const person = await this.personFor(db, dialect, tenants, email, user, { wait: false, before: user });
      if (person !== undefined) await this.insertLinks(db, [user], person, email, linked);
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
   * links to the next one. The candidates are read a few at a time ({@link candidatesWithEmail}).
   */
  private async personFor(db: Db, dialect: SqlDialectName, tenants: readonly string[], email: string, user: UserRef, options: { wait: boolean; before?: Candidate }): Promise<UserRef | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let found = false;
      for await (const target of candidatesWithEmail(db, dialect, tenants, email, user)) {
        found = true;
        if (options.before !== undefined && !earlier(target, options.before)) return undefined;
        const person = await this.personOf(db, dialect, target, user);
        if (dialect === "sqlite") return person; // one write transaction at a time: nothing can delete it meanwhile
        if (await this.lockPerson(db, dialect, person, options.wait)) return person;
        // Waited and found it deleted: look again. Skipped (held by another transaction, or
        // deleted since the candidates were read): the next one.
        if (options.wait) break;
      }
      if (!options.wait || !found) return undefined;
    }
    return undefined;
  }

  /**
   * PostgreSQL: locks a live user `FOR SHARE` until the transaction ends; false when it is
   * deleted, or (`wait: false`) held by another transaction.
   */
  private async lockPerson(db: Db, dialect: SqlDialectName, person: UserRef, wait: boolean): Promise<boolean> {
    let lock = db.selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", person.tenant).where("r.id", "=", person.id).where(live(dialect, "r")).forShare();
    if (!wait) lock = lock.skipLocked();
    return (await lock.executeTakeFirst()) !== undefined;
  }

  /**
   * Whom to link to for a candidate: its own target while that is live (a link points at the
   * person, never at another link) and is not the user itself, else the candidate.
   */
  private async personOf(db: Db, dialect: SqlDialectName, target: Candidate, user: UserRef): Promise<UserRef> {
    const next = await this.targetOf(db, dialect, target);
    return next !== undefined && !(next.tenant === user.tenant && next.id === user.id) ? next : { tenant: target.tenant, id: target.id };
  }

  /** The user a user is linked to, while that one is live; else undefined. */
  private async targetOf(db: Db, dialect: SqlDialectName, user: UserRef): Promise<UserRef | undefined> {
    const onward = await db.selectFrom("dir_user_links").selectAll().where("directory_id", "=", user.tenant).where("user_id", "=", user.id).executeTakeFirst();
    if (onward === undefined) return undefined;
    const next = { tenant: onward.linked_directory_id, id: onward.linked_user_id };
    return (await this.isLive(db, dialect, next.tenant, next.id)) ? next : undefined;
  }

  /**
   * Links the users to the person (a few hundred rows a statement); a user already linked keeps
   * its link. The users linked here go into `linked`, with the person.
   */
  private async insertLinks(db: Db, users: readonly UserRef[], person: UserRef, email: string, linked: Map<string, UserRef>): Promise<void> {
    const createdAt = this.now().toISOString();
    for (let i = 0; i < users.length; i += 500) {
      const inserted = await db
        .insertInto("dir_user_links")
        .values(
          users.slice(i, i + 500).map((user) => ({
            directory_id: user.tenant,
            user_id: user.id,
            linked_directory_id: person.tenant,
            linked_user_id: person.id,
            email,
            created_at: createdAt,
          })),
        )
        .onConflict((oc) => oc.columns(["directory_id", "user_id"]).doNothing())
        .returning(["directory_id", "user_id"])
        .execute();
      for (const row of inserted) linked.set(keyOf({ tenant: row.directory_id, id: row.user_id }), person);
    }
  }

  /** Which of the users are live, with their creation order. */
  private async liveUsers(db: Db, users: readonly UserRef[]): Promise<Candidate[]> {
    const out: Candidate[] = [];
    for (const tenant of new Set(users.map((u) => u.tenant))) {
      const ids = users.filter((u) => u.tenant === tenant).map((u) => u.id);
      for (let i = 0; i < ids.length; i += 500) {
        // By (tenant, id) alone, type and liveness checked here (see scim-store-sql's
        // memberCandidates: with them in the WHERE clause, SQLite may walk the tenant instead).
        const rows = await db
          .selectFrom("scim_resources as r")
          .select(["r.tenant", "r.id", "r.created", "r.seq", "r.resource_type", "r.deleted"])
          .where("r.tenant", "=", tenant)
          .where("r.id", "in", ids.slice(i, i + 500))
          .execute();
        for (const r of rows) if (r.resource_type === "User" && !r.deleted) out.push({ tenant: r.tenant, id: r.id, created: r.created, seq: Number(r.seq) });
      }
    }
    return out;
  }

  private async isLive(db: Db, dialect: SqlDialectName, tenant: string, id: string): Promise<boolean> {
    const row = await db.selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", tenant).where("r.id", "=", id).where(live(dialect, "r")).executeTakeFirst();
    return row !== undefined;
  }
}

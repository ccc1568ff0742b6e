/**
 * Link by email (the directory setting `linkByEmail`): when a user is created whose email
 * already belongs to a live user of the same organization (in any of its directories, the same
 * one included), the new user is linked to that user, so the application sees one person
 * (`linkedUserId` / `linkedDirectoryId` in the normalized data). The link is written by an
 * `afterCreate` hook, inside the create's transaction (ARCHITECTURE.md, "Extension points").
 */
import { sql, type Kysely, type RawBuilder, type Selectable } from "kysely";
import type { OperationContext, ScimHooks, ScimResourceBody } from "scim-core";
import type { SqlDialectName, SqlScimStore } from "scim-store-sql";
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

/** Links between users of one organization (`sync.links`). */
export class LinkService {
  /** The `afterCreate` hook that links a new user by email (createDirectorySync installs it). */
  readonly hooks: ScimHooks;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
  ) {
    this.hooks = { afterCreate: (ctx, resource) => this.onCreate(ctx, resource) };
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
    const target = await this.earliestWithEmail(db, store.dialect, directory.organizationId, email, { tenant: directory.id, id: resource.id });
    if (target === undefined) return;
    // Link to the person, not to another link: a linked user's own target is the one to point
    // at, while it is live.
    const onward = await db.selectFrom("dir_user_links").selectAll().where("directory_id", "=", target.tenant).where("user_id", "=", target.id).executeTakeFirst();
    const person = onward !== undefined && (await this.isLive(db, store.dialect, onward.linked_directory_id, onward.linked_user_id)) ? { tenant: onward.linked_directory_id, id: onward.linked_user_id } : target;
    await db
      .insertInto("dir_user_links")
      .values({
        directory_id: directory.id,
        user_id: resource.id,
        linked_directory_id: person.tenant,
        linked_user_id: person.id,
        email,
        created_at: this.now().toISOString(),
      })
      .onConflict((oc) => oc.columns(["directory_id", "user_id"]).doNothing())
      .execute();
  }

  private async isLive(db: Db, dialect: SqlDialectName, tenant: string, id: string): Promise<boolean> {
    const row = await db.selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", tenant).where("r.id", "=", id).where(live(dialect, "r")).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The earliest live user of the organization, other than `except`, with the email as one of its
   * emails or as its userName (indexed lookups in each directory of the organization).
   */
  private async earliestWithEmail(db: Db, dialect: SqlDialectName, organizationId: string, email: string, except: { tenant: string; id: string }): Promise<Candidate | undefined> {
    const tenants = (await db.selectFrom("dir_directories").select("id").where("organization_id", "=", organizationId).execute()).map((d) => d.id);
    if (tenants.length === 0) return undefined;
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
    return rows[0];
  }
}

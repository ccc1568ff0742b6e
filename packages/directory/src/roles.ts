/**
 * Group-to-role mapping: per directory, a group (by displayName, case-insensitively, or by id)
 * gives a role. A user's roles come from every group they are in, directly or through nested
 * groups (a user in A, A a member of B: B's roles too; cycles are tolerated).
 *
 * Roles are stored per user (`dir_user_roles`) and recomputed only for the users a change can
 * affect: the member added or removed (every user below it, for a nested group), the users below
 * a renamed group, the user deleted, the users below the groups a mapping names; a deleted group
 * (whose membership rows are gone) recomputes the users holding a role it gave, through itself or
 * the groups above it, the only ones that can lose any (none for a group that gave no role). A user's group closure is computed in memory, once per group and recomputation,
 * never stored: stored per user, a 230-byte PATCH nesting a 999-member group into a cycle of
 * 1,000 groups wrote 1,000,000 rows and held the database for 6.5 s. A change writes
 * `user.roles_changed` events (`data: { roles, added, removed }`) to the outbox in the same
 * transaction as the stored roles; during a SCIM request that is the request's transaction
 * (scim-core README, "Hooks and events").
 */
import { sql, type Kysely, type RawBuilder, type Selectable } from "kysely";
import { isBlank, timeOrderedUuid, type MemberValue, type OperationContext, type ScimEvent, type ScimEventSubscriber, type ScimHooks, type ScimResourceBody } from "scim-core";
import type { SqlDialectName, SqlScimStore } from "scim-store-sql";
import { z } from "zod";
import { asAdministrator } from "./write-origin.js";
import type { DirectoryService } from "./directories.js";
import { DirectoryError, notFound } from "./errors.js";
import { newId } from "./ids.js";
import type { DirectoryDatabase, RoleMappingTable } from "./tables.js";

/** Input of {@link RoleService.createMapping}: a group by displayName or by id, and the role it gives. */
export const createRoleMappingSchema = z
  .object({
    // A displayName is kept as given, spaces included: it matches a group's displayName as the
    // SCIM filter `displayName eq` would (case-insensitively, nothing trimmed).
    group: z.union([
      // Blank as scim-core judges a group's name: whitespace and invisible format characters.
      z.object({ displayName: z.string().min(1).max(256).refine((name) => !isBlank(name), "must not be blank").describe("the group's displayName, as given (not trimmed); not blank (whitespace or invisible characters only)") }).strict(),
      // Lengths are checked before trimming, as the document's maxLength says.
      z.object({ id: z.string().max(256).trim().min(1).describe("the group's id (surrounding whitespace trimmed; not blank)") }).strict(),
    ]),
    role: z.string().max(200).trim().min(1).describe("the role (surrounding whitespace trimmed; not blank)"),
  })
  .strict();
export type CreateRoleMappingInput = z.input<typeof createRoleMappingSchema>;

/**
 * Input of {@link RoleService.updateMapping}: the fields of {@link createRoleMappingSchema} to
 * change (at least one; unknown keys refused).
 */
export const updateRoleMappingSchema = createRoleMappingSchema
  .partial()
  .strict()
  .refine((input) => input.group !== undefined || input.role !== undefined, { message: "give the group, the role or both" })
  .meta({ minProperties: 1 });
export type UpdateRoleMappingInput = z.input<typeof updateRoleMappingSchema>;

/** A group-to-role mapping as the API shows it. */
export interface RoleMapping {
  id: string;
  directoryId: string;
  /** The group: by displayName (matched case-insensitively) or by id. */
  group: { displayName: string } | { id: string };
  role: string;
  createdAt: string;
}

/**
 * Every user of the directory with roles, as last computed (sorted), in pages of `pageSize`
 * ordered by user id: for the `user.roles_changed` events of a directory's deletion.
 */
export async function* storedRolesOfDirectory(db: Kysely<DirectoryDatabase>, directoryId: string, pageSize = 500): AsyncGenerator<{ userId: string; roles: string[] }> {
  for (let after: string | undefined; ; ) {
    let query = db.selectFrom("dir_user_roles").select(["user_id", "roles"]).where("directory_id", "=", directoryId);
    if (after !== undefined) query = query.where("user_id", ">", after);
    const rows = await query.orderBy("user_id").limit(pageSize).execute();
    for (const row of rows) {
      const roles = rolesFromColumn(row.roles);
      if (roles.length > 0) yield { userId: row.user_id, roles };
    }
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.user_id;
  }
}

/** The `data` of a `user.roles_changed` event: roles after the change, and the difference. */
export interface RolesChangedData {
  roles: string[];
  added: string[];
  removed: string[];
  [key: string]: unknown;
}

type Db = Kysely<DirectoryDatabase>;

/** Ids per statement in `in (...)` lists and rows per multi-row insert. */
const CHUNK = 500;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The first rows of a recursive walk: `VALUES (id), (id), ...` (typed, for PostgreSQL). */
function seeds(ids: readonly string[]): RawBuilder<unknown> {
  return sql`VALUES ${sql.join(ids.map((id) => sql`(CAST(${id} AS text))`))}`;
}

/** `alias.deleted = false` as a literal, so that the store's partial indexes apply. */
function live(dialect: SqlDialectName, alias: string): RawBuilder<boolean> {
  return sql<boolean>`${sql.ref(`${alias}.deleted`)} = ${sql.lit(dialect === "sqlite" ? 0 : false)}`;
}

function parseJson(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

function rolesFromColumn(value: unknown): string[] {
  const parsed = parseJson(value);
  return Array.isArray(parsed) ? parsed.filter((r): r is string => typeof r === "string") : [];
}

function toMapping(row: Selectable<RoleMappingTable>): RoleMapping {
  return {
    id: row.id,
    directoryId: row.directory_id,
    group: row.group_match === "id" ? { id: row.group_value } : { displayName: row.group_display_name ?? row.group_value },
    role: row.role,
    createdAt: row.created_at,
  };
}

/** The columns that store a mapping's group: an id as given, a displayName lower-cased (and as given). */
function groupColumns(group: CreateRoleMappingInput["group"]): Pick<Selectable<RoleMappingTable>, "group_match" | "group_value" | "group_display_name"> {
  return "id" in group
    ? { group_match: "id", group_value: group.id, group_display_name: null }
    : { group_match: "displayName", group_value: group.displayName.toLowerCase(), group_display_name: group.displayName };
}

/** The directory's mapping; 404 when unknown or another directory's. */
async function findMapping(db: Db, directoryId: string, mappingId: string): Promise<Selectable<RoleMappingTable>> {
  const row = await db.selectFrom("dir_role_mappings").selectAll().where("directory_id", "=", directoryId).where("id", "=", mappingId).executeTakeFirst();
  if (row === undefined) throw notFound("role mapping", mappingId);
  return row;
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "23505";
}

const lower = (value: unknown): string | undefined => (typeof value === "string" ? value.toLowerCase() : undefined);

/** The mappings of one directory, indexed for lookups by group id and lower-cased displayName. */
class MappingIndex {
  private readonly byId = new Map<string, string[]>();
  private readonly byName = new Map<string, string[]>();

  constructor(rows: ReadonlyArray<Pick<RoleMappingTable, "group_match" | "group_value" | "role">>) {
    for (const row of rows) {
      const map = row.group_match === "id" ? this.byId : this.byName;
      const roles = map.get(row.group_value) ?? [];
      roles.push(row.role);
      map.set(row.group_value, roles);
    }
  }

  get empty(): boolean {
    return this.byId.size === 0 && this.byName.size === 0;
  }

  /** The sorted roles the given groups give. */
  rolesOf(groupIds: Iterable<string>, nameOf: (groupId: string) => string | null | undefined): string[] {
    const roles = new Set<string>();
    for (const id of groupIds) {
      for (const role of this.byId.get(id) ?? []) roles.add(role);
      const name = nameOf(id);
      if (name != null) for (const role of this.byName.get(name) ?? []) roles.add(role);
    }
    return [...roles].sort();
  }
}

/**
 * The part of a directory's group graph one recomputation needs: the parent groups of the
 * groups it met (loaded level by level, in batches) and their lower-cased names.
 */
class GroupGraph {
  private readonly parents = new Map<string, string[]>();
  private readonly roles = new Map<string, string[]>();
  readonly names = new Map<string, string | null>();

  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialectName,
    private readonly directoryId: string,
    private readonly mappings: MappingIndex,
  ) {}

  /**
   * Loads the ancestors of `groupIds` (each group once: cycles end), in one recursive statement
   * per 500 groups: loaded level by level, a user in a chain of 1,000 nested groups took a
   * statement per level.
   */
  async load(groupIds: Iterable<string>): Promise<void> {
    const tenant = this.directoryId;
    const parentOf = sql`scim_members AS m CROSS JOIN scim_resources AS g
      WHERE m.tenant = ${tenant} AND m.member_id = up.id AND g.tenant = m.tenant AND g.id = m.group_id AND g.resource_type = 'Group' AND ${live(this.dialect, "g")}`;
    for (const part of chunks([...new Set(groupIds)].filter((id) => !this.parents.has(id)))) {
      const known = new Set(this.parents.keys());
      // CROSS JOIN: SQLite keeps that join order, each step an index lookup from the rows found.
      const rows = await sql<{ child: string; parent: string; name: string | null }>`
        WITH RECURSIVE up(id) AS (
          ${seeds(part)}
          UNION
          SELECT m.group_id FROM up CROSS JOIN ${parentOf}
        )
        SELECT m.member_id AS child, m.group_id AS parent, g.display_name_lower AS name FROM up CROSS JOIN ${parentOf}`.execute(this.db);
      for (const id of part) this.parents.set(id, []);
      for (const row of rows.rows) if (!this.parents.has(row.parent)) this.parents.set(row.parent, []);
      for (const row of rows.rows) {
        this.names.set(row.parent, row.name);
        if (!known.has(row.child)) this.parents.get(row.child)!.push(row.parent);
      }
    }
  }

  /**
   * The roles a member of the group has through it: those of the group and of every group above
   * it (loaded by {@link load}), sorted. Computed once per group and recomputation, so that a
   * user's roles cost one lookup per direct group, however deep the nesting.
   */
  rolesBelow(groupId: string): readonly string[] {
    let roles = this.roles.get(groupId);
    if (roles !== undefined) return roles;
    const closure = new Set([groupId]);
    const stack = [groupId];
    while (stack.length > 0) {
      for (const parent of this.parents.get(stack.pop()!) ?? []) {
        if (closure.has(parent)) continue;
        closure.add(parent);
        stack.push(parent);
      }
    }
    roles = this.mappings.rolesOf(closure, (id) => this.names.get(id));
    this.roles.set(groupId, roles);
    return roles;
  }
}

/** What a transaction's events left to recompute at its commit (see `recomputeAtCommit`). */
interface PendingRoleWork {
  users: Set<string>;
  members: Map<string, MemberValue>;
  /** Groups deleted, with their lower-cased displayName (null: none; undefined: unknown). */
  deletedGroups: Map<string, string | null | undefined>;
  /** Groups (or members of unknown type) removed from groups: their former parents. */
  formerParents: Map<string, Set<string>>;
}

/** What a recomputation found for one user whose roles changed. */
interface RolesChange {
  userId: string;
  data: RolesChangedData;
}

/**
 * Role computation over one executor (a transaction): the reads and writes of the stored roles
 * and group closures, and the `user.roles_changed` events.
 */
class RoleComputation {
  constructor(
    /** The transaction's store. */
    readonly store: SqlScimStore,
    private readonly directoryId: string,
    private readonly now: () => Date,
  ) {}

  /** The transaction's database. */
  get db(): Db {
    return this.store.db as unknown as Db;
  }

  private get dialect(): SqlDialectName {
    return this.store.dialect;
  }

  /**
   * Serialises the recomputations of one directory with every other write of it (the store's
   * tenant lock, `lockTenant`: on PostgreSQL a transaction-scoped advisory lock), so that two
   * concurrent membership changes in a nested structure cannot each miss the other's rows. Every
   * read that decides which users to recompute comes after it. SQLite runs one write transaction
   * at a time already.
   */
  async lock(): Promise<void> {
    await this.store.lockTenant(this.directoryId);
  }

  /**
   * The users members stand for: each user, and every user below each group (nested groups
   * followed, each group once for all of them).
   */
  async usersOfMembers(members: readonly MemberValue[]): Promise<string[]> {
    const users: string[] = [];
    const groups: string[] = [];
    const untyped: string[] = [];
    for (const member of members) {
      if (member.type === undefined) untyped.push(member.value);
      else if (member.type.toLowerCase() === "group") groups.push(member.value);
      else users.push(member.value);
    }
    for (const ids of chunks(untyped)) {
      const rows = await this.db.selectFrom("scim_resources").select(["id", "resource_type"]).where("tenant", "=", this.directoryId).where("id", "in", ids).execute();
      const types = new Map(rows.map((row) => [row.id, row.resource_type]));
      for (const id of ids) (types.get(id) === "Group" ? groups : users).push(id);
    }
    return [...users, ...(await this.usersBelow(groups))];
  }

  /**
   * Every user below the groups, following nested groups downwards (each group once: cycles end),
   * in one recursive statement per 500 starting groups: walked level by level from JavaScript, a
   * chain of 1,000 nested groups took a statement per level, and a bulk request building such a
   * chain one group at a time took seconds.
   */
  async usersBelow(groupIds: readonly string[]): Promise<string[]> {
    const users = new Set<string>();
    const tenant = this.directoryId;
    for (const part of chunks([...new Set(groupIds)])) {
      // CROSS JOIN: SQLite keeps that join order, each step an index lookup from the rows found.
      const rows = await sql<{ id: string }>`
        WITH RECURSIVE below(id) AS (
          ${seeds(part)}
          UNION
          SELECT m.member_id FROM below CROSS JOIN scim_members AS m WHERE m.tenant = ${tenant} AND m.group_id = below.id
        )
        SELECT r.id FROM below CROSS JOIN scim_resources AS r WHERE r.tenant = ${tenant} AND r.id = below.id AND r.resource_type = 'User'`.execute(this.db);
      for (const row of rows.rows) users.add(row.id);
    }
    return [...users];
  }

  /**
   * The users who can lose a role because the groups were deleted (their membership rows are
   * gone, so nobody can tell who was below them): a deleted group only takes away the roles it
   * gave, its own and those of the groups above it (its former parents, named by the
   * `group.user_removed` events of its deletion, and theirs), so only the users holding one of
   * those can lose any. A deleted group that gave no role (the common case) reads no role holder.
   * `deleted` maps each group's id to its lower-cased displayName (null: none; undefined: unknown,
   * and every role holder is a candidate).
   */
  async usersLosingDeletedGroups(deleted: ReadonlyMap<string, string | null | undefined>, formerParents: ReadonlyMap<string, ReadonlySet<string>>): Promise<string[]> {
    const mappings = await this.mappings();
    const parents = new Set<string>();
    for (const groupId of deleted.keys()) for (const parent of formerParents.get(groupId) ?? []) parents.add(parent);
    const graph = new GroupGraph(this.db, this.dialect, this.directoryId, mappings);
    for (const part of chunks([...parents])) {
      // A former parent may be deleted by the same request: its name counts all the same.
      const rows = await this.db.selectFrom("scim_resources").select(["id", "display_name_lower"]).where("tenant", "=", this.directoryId).where("id", "in", part).execute();
      for (const row of rows) graph.names.set(row.id, row.display_name_lower);
    }
    await graph.load(parents);
    const given = new Set<string>();
    let unknownName = false;
    for (const [groupId, name] of deleted) {
      if (name === undefined) unknownName = true;
      for (const role of mappings.rolesOf([groupId], () => name)) given.add(role);
    }
    for (const parent of parents) for (const role of graph.rolesBelow(parent)) given.add(role);
    if (given.size === 0 && !unknownName) return [];
    const rows = await this.db.selectFrom("dir_user_roles").select(["user_id", "roles"]).where("directory_id", "=", this.directoryId).execute();
    return rows.filter((row) => unknownName || rolesFromColumn(row.roles).some((role) => given.has(role))).map((row) => row.user_id);
  }

  /** The live groups a mapping names. */
  async groupsMatching(match: string, value: string): Promise<string[]> {
    let q = this.db.selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", this.directoryId).where("r.resource_type", "=", "Group").where(live(this.dialect, "r"));
    q = match === "id" ? q.where("r.id", "=", value) : q.where("r.display_name_lower", "=", value);
    return (await q.execute()).map((r) => r.id);
  }

  /** Whether a mapping other than `exceptId` maps the same group to the same role. */
  async mappingExists(match: string, value: string, role: string, exceptId: string): Promise<boolean> {
    const found = await this.db
      .selectFrom("dir_role_mappings")
      .select("id")
      .where("directory_id", "=", this.directoryId)
      .where("group_match", "=", match)
      .where("group_value", "=", value)
      .where("role", "=", role)
      .where("id", "!=", exceptId)
      .executeTakeFirst();
    return found !== undefined;
  }

  async hasMappings(): Promise<boolean> {
    const found = await this.db.selectFrom("dir_role_mappings").select("id").where("directory_id", "=", this.directoryId).limit(1).executeTakeFirst();
    return found !== undefined;
  }

  /** Whether a displayName mapping names one of the (lower-cased) names. */
  async mapsDisplayName(names: readonly string[]): Promise<boolean> {
    if (names.length === 0) return false;
    const found = await this.db
      .selectFrom("dir_role_mappings")
      .select("id")
      .where("directory_id", "=", this.directoryId)
      .where("group_match", "=", "displayName")
      .where("group_value", "in", [...names])
      .limit(1)
      .executeTakeFirst();
    return found !== undefined;
  }

  async mappings(): Promise<MappingIndex> {
    const rows = await this.db.selectFrom("dir_role_mappings").select(["group_match", "group_value", "role"]).where("directory_id", "=", this.directoryId).execute();
    return new MappingIndex(rows);
  }

  /**
   * Recomputes the users' roles, stores what changed and appends a
   * `user.roles_changed` event per user whose roles changed. Users that are not live (deleted)
   * end with no roles and no stored rows. Returns the changes.
   */
  async recompute(userIds: Iterable<string>): Promise<RolesChange[]> {
    // In id order: the events of one request come in the same order on every database, whatever
    // order the request (or a query without ORDER BY) named the users in.
    const ids = [...new Set(userIds)].sort();
    if (ids.length === 0) return [];
    const mappings = await this.mappings();
    const graph = new GroupGraph(this.db, this.dialect, this.directoryId, mappings);
    const changes: RolesChange[] = [];
    for (const part of chunks(ids)) changes.push(...(await this.recomputeChunk(part, graph)));
    const occurredAt = this.now().toISOString();
    for (const change of changes) {
      const event: ScimEvent = {
        id: timeOrderedUuid(),
        type: "user.roles_changed",
        tenant: this.directoryId,
        resourceType: "User",
        resourceId: change.userId,
        occurredAt,
        data: change.data,
      };
      await this.store.appendEvent(event);
    }
    return changes;
  }

  private async recomputeChunk(userIds: string[], graph: GroupGraph): Promise<RolesChange[]> {
    const { db, directoryId } = this;
    // By (tenant, id) alone, the rest checked here: with the type and liveness in the WHERE clause
    // too, SQLite walked one of the tenant's (tenant, resource_type, ...) indexes instead, 70 ms a
    // chunk on 100,000 users (2.7 s of a 20,000-member PATCH).
    const rows = await db.selectFrom("scim_resources as r").select(["r.id", "r.resource_type", "r.deleted"]).where("r.tenant", "=", directoryId).where("r.id", "in", userIds).execute();
    const liveUsers = new Set(rows.filter((r) => r.resource_type === "User" && !r.deleted).map((r) => r.id));

    // Direct groups of the live users, then their ancestors.
    const direct = new Map<string, string[]>();
    if (liveUsers.size > 0) {
      const rows = await db
        .selectFrom("scim_members as m")
        .innerJoin("scim_resources as g", (join) => join.onRef("g.tenant", "=", "m.tenant").onRef("g.id", "=", "m.group_id"))
        .select(["m.member_id", "m.group_id", "g.display_name_lower"])
        .where("m.tenant", "=", directoryId)
        .where("m.member_id", "in", [...liveUsers])
        .where("g.resource_type", "=", "Group")
        .where(live(this.dialect, "g"))
        .execute();
      for (const row of rows) {
        graph.names.set(row.group_id, row.display_name_lower);
        const groups = direct.get(row.member_id) ?? [];
        groups.push(row.group_id);
        direct.set(row.member_id, groups);
      }
      await graph.load([...direct.values()].flat());
    }

    // What was stored.
    const storedRoles = new Map<string, string[]>();
    for (const row of await db.selectFrom("dir_user_roles").select(["user_id", "roles"]).where("directory_id", "=", directoryId).where("user_id", "in", userIds).execute()) {
      storedRoles.set(row.user_id, rolesFromColumn(row.roles));
    }
    // The differences.
    const rolesToStore: Array<{ directory_id: string; user_id: string; roles: string; updated_at: string }> = [];
    const rolesToClear: string[] = [];
    const changes: RolesChange[] = [];
    const ts = this.now().toISOString();
    for (const userId of userIds) {
      const given = new Set<string>();
      if (liveUsers.has(userId)) for (const groupId of direct.get(userId) ?? []) for (const role of graph.rolesBelow(groupId)) given.add(role);
      const roles = [...given].sort();
      const previous = storedRoles.get(userId) ?? [];
      const added = roles.filter((r) => !previous.includes(r));
      const removed = previous.filter((r) => !roles.includes(r));
      if (added.length === 0 && removed.length === 0) continue;
      if (roles.length > 0) rolesToStore.push({ directory_id: directoryId, user_id: userId, roles: JSON.stringify(roles), updated_at: ts });
      else rolesToClear.push(userId);
      changes.push({ userId, data: { roles, added, removed } });
    }

    for (const part of chunks(rolesToStore)) {
      await db
        .insertInto("dir_user_roles")
        .values(part)
        .onConflict((oc) => oc.columns(["directory_id", "user_id"]).doUpdateSet((eb) => ({ roles: eb.ref("excluded.roles"), updated_at: eb.ref("excluded.updated_at") })))
        .execute();
    }
    for (const part of chunks(rolesToClear)) {
      await db.deleteFrom("dir_user_roles").where("directory_id", "=", directoryId).where("user_id", "in", part).execute();
    }
    return changes;
  }
}

/** The transaction's SQL store of a hook or subscriber. */
function storeOf(ctx: OperationContext): SqlScimStore {
  return ctx.store as SqlScimStore;
}

/** Group-to-role mappings and the roles they give (`sync.roles`). */
export class RoleService {
  /**
   * The event subscriber that keeps roles current during SCIM requests; install it after the
   * store's outbox subscriber (createDirectorySync does).
   */
  readonly subscriber: ScimEventSubscriber;
  /** The hooks that recompute roles when a group is renamed (displayName mappings). */
  readonly hooks: ScimHooks;

  constructor(
    private readonly db: Db,
    private readonly store: SqlScimStore,
    private readonly directories: DirectoryService,
    private readonly now: () => Date,
  ) {
    this.subscriber = (event, ctx) => this.onEvent(event, ctx);
    const afterGroupWrite = (ctx: OperationContext, resource: ScimResourceBody, previous: ScimResourceBody) => this.onGroupWrite(ctx, resource, previous);
    this.hooks = { afterReplace: afterGroupWrite, afterPatch: afterGroupWrite };
  }

  /** The directory's mappings, oldest first; 404 when the directory is unknown. */
  async listMappings(directoryId: string): Promise<RoleMapping[]> {
    await this.directories.get(directoryId);
    const rows = await this.db.selectFrom("dir_role_mappings").selectAll().where("directory_id", "=", directoryId).orderBy("created_at").orderBy("id").execute();
    return rows.map(toMapping);
  }

  /** One mapping of the directory; 404 when the directory or the mapping is unknown (or the mapping is another directory's). */
  async getMapping(directoryId: string, mappingId: string): Promise<RoleMapping> {
    await this.directories.get(directoryId);
    return toMapping(await findMapping(this.db, directoryId, mappingId));
  }

  /**
   * Maps a group to a role and gives the role to every user below the group(s) it names, with
   * their `user.roles_changed` events, in one transaction. 404 when the directory (or, for an id
   * mapping, the group) is unknown; 409 `duplicate_mapping` when the same mapping exists.
   */
  async createMapping(directoryId: string, input: CreateRoleMappingInput): Promise<RoleMapping> {
    const parsed = createRoleMappingSchema.parse(input);
    await this.directories.get(directoryId);
    const row: Selectable<RoleMappingTable> = {
      id: newId("map"),
      directory_id: directoryId,
      ...groupColumns(parsed.group),
      role: parsed.role,
      created_at: this.now().toISOString(),
    };
    return this.saveMapping(directoryId, async () => ({ row }));
  }

  /**
   * Changes a mapping's group and/or role and recomputes every user below the groups it named
   * before and names now, in one transaction: a user whose roles change gets one
   * `user.roles_changed` event (a renamed role is one event with the old role removed and the
   * new one added). 404 when the directory or the mapping (in this directory) is unknown, or when
   * the mapping is given a group id naming no group; 409 `duplicate_mapping` when another mapping
   * is the same.
   */
  async updateMapping(directoryId: string, mappingId: string, input: UpdateRoleMappingInput): Promise<RoleMapping> {
    const parsed = updateRoleMappingSchema.parse(input);
    await this.directories.get(directoryId);
    return this.saveMapping(directoryId, async (roles) => {
      const previous = await findMapping(roles.db, directoryId, mappingId);
      const row = { ...previous, ...(parsed.group !== undefined ? groupColumns(parsed.group) : {}), ...(parsed.role !== undefined ? { role: parsed.role } : {}) };
      return { row, previous };
    });
  }

  /**
   * Removes a mapping and takes its role from every user below the group(s) it named (unless
   * another mapping gives it), with their events, in one transaction. 404 when unknown.
   */
  async deleteMapping(directoryId: string, mappingId: string): Promise<void> {
    await this.directories.get(directoryId);
    await this.inTransaction(directoryId, async (roles) => {
      const row = await findMapping(roles.db, directoryId, mappingId);
      await roles.db.deleteFrom("dir_role_mappings").where("id", "=", mappingId).execute();
      const groups = await roles.groupsMatching(row.group_match, row.group_value);
      await roles.recompute(await roles.usersBelow(groups));
    });
  }

  /** The user's roles as last computed (sorted; empty for an unknown or deleted user). */
  async rolesOf(directoryId: string, userId: string): Promise<string[]> {
    const row = await this.db.selectFrom("dir_user_roles").select("roles").where("directory_id", "=", directoryId).where("user_id", "=", userId).executeTakeFirst();
    return row === undefined ? [] : rolesFromColumn(row.roles);
  }

  /** Roles of several users at once (users without roles are absent). */
  async rolesOfMany(directoryId: string, userIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const part of chunks(userIds)) {
      const rows = await this.db.selectFrom("dir_user_roles").select(["user_id", "roles"]).where("directory_id", "=", directoryId).where("user_id", "in", part).execute();
      for (const row of rows) out.set(row.user_id, rolesFromColumn(row.roles));
    }
    return out;
  }

  /**
   * Recomputes every user of the directory (a repair, e.g. after a bulk import that wrote no
   * events), page by page, each page in its own transaction. Returns how many users' roles changed.
   */
  async rebuild(directoryId: string, options: { pageSize?: number } = {}): Promise<number> {
    await this.directories.get(directoryId);
    const pageSize = Math.min(Math.max(options.pageSize ?? CHUNK, 1), 10_000);
    let changed = 0;
    let after = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom("scim_resources as r")
        .select(["r.seq", "r.id"])
        .where("r.tenant", "=", directoryId)
        .where("r.resource_type", "=", "User")
        .where("r.seq", ">", after)
        .orderBy("r.seq")
        .limit(pageSize)
        .execute();
      if (rows.length === 0) break;
      after = Number(rows[rows.length - 1]!.seq);
      await this.inTransaction(directoryId, async (roles) => {
        changed += (await roles.recompute(rows.map((r) => r.id))).length;
      });
    }
    // Roles left for users whose resource is gone altogether (hard deletes without events).
    const orphans = await this.db
      .selectFrom("dir_user_roles as u")
      .select("u.user_id")
      .distinct()
      .where("u.directory_id", "=", directoryId)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom("scim_resources as r").select("r.id").where("r.tenant", "=", directoryId).whereRef("r.id", "=", "u.user_id"))))
      .execute();
    const gone = orphans.map((r) => r.user_id);
    if (gone.length > 0) {
      await this.inTransaction(directoryId, async (roles) => {
        changed += (await roles.recompute(gone)).length;
      });
    }
    return changed;
  }

  /**
   * Stores a new mapping (no `previous`) or a changed one, and recomputes the users below the
   * groups it named before and names now, in one transaction holding the role lock. `next` reads
   * the mapping to store inside that transaction. 404 when the mapping names a new group by an id
   * that no group has; 409 `duplicate_mapping` when another mapping of the directory is the same.
   */
  private async saveMapping(
    directoryId: string,
    next: (roles: RoleComputation) => Promise<{ row: Selectable<RoleMappingTable>; previous?: Selectable<RoleMappingTable> }>,
  ): Promise<RoleMapping> {
    let saved: Selectable<RoleMappingTable> | undefined;
    const duplicate = (row: Selectable<RoleMappingTable>) => new DirectoryError(409, "duplicate_mapping", `the group is already mapped to role '${row.role}'`);
    try {
      await this.inTransaction(directoryId, async (roles) => {
        const { row, previous } = await next(roles);
        saved = row;
        const groups = await roles.groupsMatching(row.group_match, row.group_value);
        const sameGroup = previous !== undefined && previous.group_match === row.group_match && previous.group_value === row.group_value;
        if (row.group_match === "id" && groups.length === 0 && !sameGroup) throw notFound("group", row.group_value);
        if (await roles.mappingExists(row.group_match, row.group_value, row.role, row.id)) throw duplicate(row);
        if (previous === undefined) {
          await roles.db.insertInto("dir_role_mappings").values(row).execute();
        } else {
          const { group_match, group_value, group_display_name, role } = row;
          await roles.db.updateTable("dir_role_mappings").set({ group_match, group_value, group_display_name, role }).where("id", "=", row.id).execute();
          if (!sameGroup) groups.push(...(await roles.groupsMatching(previous.group_match, previous.group_value)));
        }
        await roles.recompute(await roles.usersBelow(groups));
      });
    } catch (error) {
      if (saved !== undefined && isUniqueViolation(error)) throw duplicate(saved);
      throw error;
    }
    return toMapping(saved!);
  }

  /** Runs `work` in one transaction holding the directory's role lock. */
  private async inTransaction(directoryId: string, work: (roles: RoleComputation) => Promise<void>): Promise<void> {
    // The administrator's: mappings and their roles change while the directory is inactive too.
    await asAdministrator(() =>
      this.store.transaction!(async (tx) => {
        const roles = new RoleComputation(tx as SqlScimStore, directoryId, this.now);
        await roles.lock();
        await work(roles);
      }),
    );
  }

  /**
   * The subscriber's work: recompute the users an event can affect. A directory without mappings
   * is skipped (nobody has roles, so nothing can change; createMapping computes from the
   * membership rows). Everything after the lock sees the changes committed before it.
   */
  private async onEvent(event: ScimEvent, ctx: OperationContext): Promise<void> {
    // A new user needs nothing: it is in no group (its id is new, and `groups` is read-only), so
    // it has no roles and no closure rows; the membership events that follow compute them.
    if (event.type === "user.created") return;
    const store = storeOf(ctx);
    const roles = new RoleComputation(store, event.tenant, this.now);
    switch (event.type) {
      case "user.deleted":
        await roles.lock();
        if (await this.hasMappings(store, roles, event.tenant)) this.recomputeAtCommit(store, event.tenant, [event.resourceId]);
        return;
      case "group.user_added":
      case "group.user_removed":
        if (event.member === undefined) return;
        await roles.lock();
        // A nested group's users are found at commit, once for every group the transaction
        // changed: a bulk request nesting 1,000 groups walks each subtree once, not once per event.
        if (await this.hasMappings(store, roles, event.tenant)) {
          const work = this.recomputeAtCommit(store, event.tenant, [], [event.member]);
          // A group leaving a group: should it be deleted next, the roles from above it go too.
          if (event.type === "group.user_removed" && event.member.type?.toLowerCase() !== "user") {
            let parents = work.formerParents.get(event.member.value);
            if (parents === undefined) work.formerParents.set(event.member.value, (parents = new Set()));
            parents.add(event.resourceId);
          }
        }
        return;
      case "group.deleted":
        // Its membership rows are gone (its memberships in other groups ended just before, with
        // their events): at commit, the users holding a role it gave are recomputed.
        await roles.lock();
        if (await this.hasMappings(store, roles, event.tenant)) {
          const name = event.resource === undefined ? undefined : (lower(event.resource.displayName) ?? null);
          this.recomputeAtCommit(store, event.tenant, []).deletedGroups.set(event.resourceId, name);
        }
        return;
      default:
        return;
    }
  }

  /**
   * Whether the directory has mappings, asked once per transaction (the key) and directory: a
   * PATCH adding 20,000 members has 20,000 events. The transaction holds the directory's lock
   * (`lock()` came first), and mapping changes take it too, so the answer holds until it ends.
   */
  private readonly mapped = new WeakMap<SqlScimStore, Map<string, Promise<boolean>>>();

  private hasMappings(store: SqlScimStore, roles: RoleComputation, directoryId: string): Promise<boolean> {
    let byDirectory = this.mapped.get(store);
    if (byDirectory === undefined) this.mapped.set(store, (byDirectory = new Map()));
    let answer = byDirectory.get(directoryId);
    if (answer === undefined) byDirectory.set(directoryId, (answer = roles.hasMappings()));
    return answer;
  }

  /** Users, and members whose users, to recompute when the transaction (the key) ends. */
  private readonly pending = new WeakMap<SqlScimStore, PendingRoleWork>();

  /**
   * Recomputes `userIds`, the users `members` stand for (a user, or every user below a group), and
   * those who can lose a role through a group deleted (see the work returned), once, with every
   * other user the transaction's events affect, just before it commits: a PATCH adding 1,000
   * members to a mapped group is one recomputation of 1,000 users (two statements per 500), not
   * 1,000 of one. Their `user.roles_changed` events come after the request's own events, in the
   * same transaction. Returns the transaction's pending work.
   */
  private recomputeAtCommit(store: SqlScimStore, directoryId: string, userIds: readonly string[], members: readonly MemberValue[] = []): PendingRoleWork {
    let work = this.pending.get(store);
    if (work === undefined) {
      work = { users: new Set(), members: new Map(), deletedGroups: new Map(), formerParents: new Map() };
      this.pending.set(store, work);
    }
    for (const id of userIds) work.users.add(id);
    for (const member of members) if (!work.members.has(member.value)) work.members.set(member.value, member);
    const pending = work;
    store.beforeCommit(`scim-directory:roles:${directoryId}`, async () => {
      this.pending.delete(store);
      const roles = new RoleComputation(store, directoryId, this.now);
      const users = new Set(pending.users);
      for (const id of await roles.usersOfMembers([...pending.members.values()])) users.add(id);
      if (pending.deletedGroups.size > 0) for (const id of await roles.usersLosingDeletedGroups(pending.deletedGroups, pending.formerParents)) users.add(id);
      await roles.recompute(users);
    });
    return work;
  }

  /**
   * A group renamed: when a displayName mapping names the old or the new name, its users' roles
   * change. They are recomputed at commit with the request's other changes, so that their
   * `user.roles_changed` events come after the `group.updated` that caused them.
   */
  private async onGroupWrite(ctx: OperationContext, resource: ScimResourceBody, previous: ScimResourceBody): Promise<void> {
    if (ctx.resourceType !== "Group") return;
    const before = lower(previous.displayName);
    const after = lower(resource.displayName);
    if (before === after) return;
    const store = storeOf(ctx);
    const roles = new RoleComputation(store, ctx.storeContext.tenant, this.now);
    await roles.lock();
    if (await roles.mapsDisplayName([before, after].filter((n): n is string => n !== undefined))) {
      this.recomputeAtCommit(store, ctx.storeContext.tenant, await roles.usersBelow([resource.id]));
    }
  }
}

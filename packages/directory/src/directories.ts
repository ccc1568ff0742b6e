/**
 * Directories: one or more per organization, each with its own SCIM base URL
 * (`/scim/v2/{directoryId}`), tokens and settings. Deleting a directory revokes its tokens and
 * removes its users, groups and role mappings; its events and audit entries stay.
 */
import { sql, type Insertable, type Kysely, type Selectable } from "kysely";
import { z } from "zod";
import { timeOrderedUuid, type ScimEvent, type ScimResourceBody, type SchemaRegistry } from "scim-core";
import { isConcurrentChange, type SqlDialectName, type SqlScimStore } from "scim-store-sql";
import { asAdministrator } from "./write-origin.js";
import { DirectoryError, isDirectoryError, notFound } from "./errors.js";
import { LinkService } from "./links.js";
import { attributePathProblem, liveResourcesInWireForm } from "./normalized.js";
import { newId } from "./ids.js";
import { storedRolesOfDirectory } from "./roles.js";
import { DIRECTORY_TYPES, directorySettingsChangesSchema, directorySettingsSchema, type DirectorySettings, type DirectoryType } from "./settings.js";
import type { DirectoryDatabase, DirectoryTable } from "./tables.js";

/** A directory as the API shows it. */
export interface Directory {
  id: string;
  organizationId: string;
  name: string;
  type: DirectoryType;
  state: "active" | "inactive";
  settings: DirectorySettings;
  createdAt: string;
  updatedAt: string;
}

/** Input of {@link DirectoryService.create}. */
export const createDirectorySchema = z
  .object({
    organizationId: z.string().min(1).max(200),
    name: z.string().min(1).max(200),
    type: z.enum(DIRECTORY_TYPES).default("generic-scim"),
    state: z.enum(["active", "inactive"]).default("active"),
    settings: directorySettingsChangesSchema.default({}),
  })
  .strict();
export type CreateDirectoryInput = z.input<typeof createDirectorySchema>;

/** Input of {@link DirectoryService.update}: each settings field given replaces that field whole (`attributeMapping`, `rateLimit`...); the fields left out stay. */
export const updateDirectorySchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    type: z.enum(DIRECTORY_TYPES).optional(),
    state: z.enum(["active", "inactive"]).optional(),
    settings: directorySettingsChangesSchema.optional(),
  })
  .strict();
export type UpdateDirectoryInput = z.input<typeof updateDirectorySchema>;

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validated settings by their stored JSON text: every SCIM request reads its directory, and the
 * text rarely changes. The cached objects are frozen, since every reader shares them.
 */
const parsedSettings = new Map<string, DirectorySettings>();

function settingsOf(stored: unknown): DirectorySettings {
  if (typeof stored !== "string") return deepFreeze(directorySettingsSchema.parse(stored));
  let settings = parsedSettings.get(stored);
  if (settings === undefined) {
    settings = deepFreeze(directorySettingsSchema.parse(JSON.parse(stored)));
    if (parsedSettings.size >= 1000) parsedSettings.delete(parsedSettings.keys().next().value!);
    parsedSettings.set(stored, settings);
  }
  return settings;
}

/** A directory from its row (settings validated). */
export function toDirectory(row: Selectable<DirectoryTable>): Directory {
  return {
    id: row.id,
    organizationId: row.organization_id,
    name: row.name,
    type: row.type as DirectoryType,
    state: row.state as Directory["state"],
    settings: settingsOf(row.settings),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** What deleting a directory does besides removing its rows (see {@link DirectoryService.delete}). */
export interface DirectoryRemoval {
  /** The store whose transaction the deletion runs in, and whose outbox gets its events. */
  store: SqlScimStore;
  /** The schemas of the events' wire forms (never-returned attributes left out). */
  registry: SchemaRegistry;
  /**
   * Runs before anything is deleted, once the directory is inactive: deprovisions its users (the
   * host's `onDeprovision` for each live user). Throwing stops the deletion.
   */
  beforeDelete?: (directory: Directory) => Promise<void>;
}

/** The fields of a directory that differ between two versions of it (settings by their own names). */
function changedFields(before: Directory, after: Directory): string[] {
  const changed: string[] = [];
  for (const field of ["name", "type", "state"] as const) if (before[field] !== after[field]) changed.push(field);
  const keys = new Set([...Object.keys(before.settings), ...Object.keys(after.settings)]);
  for (const key of [...keys].sort()) {
    const a = (before.settings as Record<string, unknown>)[key];
    const b = (after.settings as Record<string, unknown>)[key];
    if (canonical(a) !== canonical(b)) changed.push(`settings.${key}`);
  }
  return changed;
}

/** JSON with object keys in order: two settings that differ only in key order are the same. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** How many times a directory's deletion runs when PostgreSQL gives it up for a concurrent transaction. */
const DELETE_ATTEMPTS = 5;

/**
 * Locks a directory's row until the transaction ends (PostgreSQL; SQLite runs one write
 * transaction at a time anyway) by an UPDATE that changes nothing; 404 when there is no such
 * directory. Every change of a directory takes it first, before its tenant's lock and its
 * tokens: one order, no deadlock.
 */
export async function lockDirectoryRow(tx: Kysely<DirectoryDatabase>, id: string): Promise<void> {
  const locked = await tx.updateTable("dir_directories").set({ updated_at: sql`updated_at` }).where("id", "=", id).executeTakeFirst();
  if (Number(locked.numUpdatedRows) === 0) throw notFound("directory", id);
}

/**
 * Runs `work` as the administrator's change of a directory (a deactivation, a deletion, a token's
 * revocation or rotation), in a store transaction that holds the directory's row and then its
 * tenant's lock: it waits for the directory's writes under way, and the IdP's writes after it see
 * what it changed (the store's tenant guard). Every such change takes them in that order, as token
 * changes take the row before the tokens: no deadlock.
 */
export function fencedChange<T>(store: SqlScimStore, directoryId: string, work: (store: SqlScimStore, db: Kysely<DirectoryDatabase>) => Promise<T>): Promise<T> {
  return asAdministrator(() =>
    store.transaction!(async (tx) => {
      const sqlStore = tx as SqlScimStore;
      const db = sqlStore.db as unknown as Kysely<DirectoryDatabase>;
      await lockDirectoryRow(db, directoryId);
      await sqlStore.lockTenant(directoryId);
      return work(sqlStore, db);
    }),
  );
}

/** The SCIM tables a directory's data lives in (its id is their tenant). */
const SCIM_TABLES = ["scim_members", "scim_emails", "scim_unique_keys", "scim_counts", "scim_resources"] as const;

/** Rows a directory's deletion removes per statement on SQLite (see {@link deleteTenantRows}). */
const DELETE_CHUNK = 5_000;

/**
 * Deletes a tenant's rows of `table`. On SQLite in statements of {@link DELETE_CHUNK} rows: one
 * statement runs without a break (better-sqlite3 is synchronous), and 100,000 users in one held
 * every other request for some 400 ms; between statements the transaction lets the event loop
 * run (scim-store-sql's driver).
 */
async function deleteTenantRows(tx: Kysely<DirectoryDatabase>, table: (typeof SCIM_TABLES)[number], tenant: string, dialect: SqlDialectName | undefined): Promise<void> {
  if (dialect !== "sqlite") {
    await tx.deleteFrom(table).where("tenant", "=", tenant).execute();
    return;
  }
  for (;;) {
    const result = await sql`delete from ${sql.table(table)} where rowid in (select rowid from ${sql.table(table)} where tenant = ${tenant} limit ${sql.lit(DELETE_CHUNK)})`.execute(tx);
    if (Number(result.numAffectedRows ?? 0) < DELETE_CHUNK) return;
  }
}

/** Directory operations. */
export class DirectoryService {
  constructor(
    private readonly db: Kysely<DirectoryDatabase>,
    private readonly now: () => Date,
    /** Where the attribute mapping's paths are checked (400 for a path it does not define). */
    private readonly registry?: SchemaRegistry,
    /** What deleting a directory does besides removing its rows (deprovisioning, events). */
    private readonly removal?: DirectoryRemoval,
  ) {}

  /** 400 `invalid_attribute_mapping` when a mapped path names no User attribute of the registry. */
  private checkMapping(settings: Partial<DirectorySettings> | undefined): void {
    if (this.registry === undefined || settings?.attributeMapping === undefined) return;
    for (const [name, path] of Object.entries(settings.attributeMapping)) {
      const problem = attributePathProblem(path, this.registry);
      if (problem !== undefined) throw new DirectoryError(400, "invalid_attribute_mapping", `settings.attributeMapping.${name}: ${problem}`);
    }
  }

  /**
   * Creates a directory. `db`: a transaction of the caller's to create it in (the server's first
   * run makes its admin key, directory and token in one).
   */
  async create(input: CreateDirectoryInput, db: Kysely<DirectoryDatabase> = this.db): Promise<Directory> {
    const parsed = createDirectorySchema.parse(input);
    this.checkMapping(parsed.settings);
    const ts = this.now().toISOString();
    const row: Insertable<DirectoryTable> = {
      id: newId("dir"),
      organization_id: parsed.organizationId,
      name: parsed.name,
      type: parsed.type,
      state: parsed.state,
      settings: JSON.stringify(directorySettingsSchema.parse(parsed.settings)),
      created_at: ts,
      updated_at: ts,
    };
    await db.insertInto("dir_directories").values(row).execute();
    return this.get(row.id, db);
  }

  /** The directory, or undefined (`db`: a transaction of the caller's to read it in). */
  async find(id: string, db: Kysely<DirectoryDatabase> = this.db): Promise<Directory | undefined> {
    const row = await db.selectFrom("dir_directories").selectAll().where("id", "=", id).executeTakeFirst();
    return row === undefined ? undefined : toDirectory(row);
  }

  /** The directory; 404 when unknown (`db`: a transaction of the caller's to read it in). */
  async get(id: string, db: Kysely<DirectoryDatabase> = this.db): Promise<Directory> {
    const found = await this.find(id, db);
    if (found === undefined) throw notFound("directory", id);
    return found;
  }

  /**
   * Directories, oldest first (by creation time, then id), optionally of one organization;
   * `after` is the last directory of the previous page. At most 1001 (a page of 1000 and one to
   * tell whether another page follows).
   */
  async list(options: { organizationId?: string; after?: { created: string; id: string }; limit?: number } = {}): Promise<Directory[]> {
    let q = this.db.selectFrom("dir_directories").selectAll();
    if (options.organizationId !== undefined) q = q.where("organization_id", "=", options.organizationId);
    const after = options.after;
    if (after !== undefined) {
      q = q.where((eb) => eb.or([eb("created_at", ">", after.created), eb.and([eb("created_at", "=", after.created), eb("id", ">", after.id)])]));
    }
    const rows = await q.orderBy("created_at").orderBy("id").limit(Math.min(Math.max(options.limit ?? 100, 1), 1001)).execute();
    return rows.map(toDirectory);
  }

  /**
   * Changes some fields of a directory; each `settings` field given replaces that field whole (a shallow merge). The read,
   * the merge and the write happen in one transaction that holds the directory's row, so that
   * concurrent updates of different fields (a settings PATCH racing a deactivation, say) each
   * keep the other's change instead of writing back what they read before it (PostgreSQL, READ
   * COMMITTED). The first statement takes the row lock: an UPDATE locks the row as
   * `SELECT ... FOR UPDATE` would, on both databases and without a dialect switch (SQLite runs
   * one write transaction at a time anyway), and the SELECT after it reads the row as the
   * previous holder committed it. 404 when the directory is unknown.
   */
  async update(id: string, input: UpdateDirectoryInput): Promise<Directory> {
    return this.change(id, input, true);
  }

  /** {@link update}, with its `directory.updated` event or (a deletion's own state changes) without. */
  private async change(id: string, input: UpdateDirectoryInput, announce: boolean): Promise<Directory> {
    const parsed = updateDirectorySchema.parse(input);
    this.checkMapping(parsed.settings);
    const removal = this.removal;
    if (removal === undefined || !announce) return this.db.transaction().execute((tx) => this.write(tx, id, parsed));
    // With the store, in its transaction: the change and its `directory.updated` event together.
    const write = (store: SqlScimStore, db: Kysely<DirectoryDatabase>) => this.write(db, id, parsed, (event) => store.appendEvent(event));
    // A deactivation waits for the directory's writes under way; the IdP's writes after it find
    // the directory inactive: once it has answered, nothing more is written for the IdP (a review
    // saw in-flight writes land after it on PostgreSQL).
    if (parsed.state === "inactive") return fencedChange(removal.store, id, write);
    return removal.store.transaction!(async (store) => write(store as SqlScimStore, (store as SqlScimStore).db as unknown as Kysely<DirectoryDatabase>));
  }

  /**
   * Writes a directory's change; with `appendEvent`, a `directory.updated` event when anything
   * changed (`data: { changed, name, type, state }`, `changed` naming the fields, settings by
   * theirs: `settings.attributeMapping`), so that a mirror knows, for one, to read the users'
   * `customAttributes` again.
   */
  private async write(tx: Kysely<DirectoryDatabase>, id: string, parsed: z.output<typeof updateDirectorySchema>, appendEvent?: (event: ScimEvent) => Promise<void>): Promise<Directory> {
    const ts = this.now().toISOString();
    // Locks the row (PostgreSQL) without changing it: a change that changes nothing keeps `updatedAt`.
    await lockDirectoryRow(tx, id);
    const current = toDirectory(await tx.selectFrom("dir_directories").selectAll().where("id", "=", id).executeTakeFirstOrThrow());
    const settings = parsed.settings ? directorySettingsSchema.parse({ ...current.settings, ...parsed.settings }) : current.settings;
    const next: Directory = { ...current, name: parsed.name ?? current.name, type: parsed.type ?? current.type, state: parsed.state ?? current.state, settings };
    const changed = changedFields(current, next);
    if (changed.length === 0) return current;
    await tx
      .updateTable("dir_directories")
      .set({ name: next.name, type: next.type, state: next.state, settings: JSON.stringify(settings), updated_at: ts })
      .where("id", "=", id)
      .execute();
    const updated = toDirectory(await tx.selectFrom("dir_directories").selectAll().where("id", "=", id).executeTakeFirstOrThrow());
    if (appendEvent !== undefined) {
      const data = { changed, name: updated.name, type: updated.type, state: updated.state };
      await appendEvent({ id: timeOrderedUuid(), type: "directory.updated", tenant: id, resourceType: "Directory", resourceId: id, occurredAt: ts, data });
    }
    return updated;
  }

  /**
   * Deletes the directory with its tokens, users, groups and role mappings; its events and audit
   * entries stay. With a {@link DirectoryRemoval} (as `createDirectorySync` wires it):
   *
   * 1. When there is a `beforeDelete` (the host's deprovisioning hook), the directory is made
   *    inactive first, so that its IdP gets 401 from then on, and `beforeDelete` runs before
   *    anything is deleted. If it throws, the directory gets its state back, nothing is deleted,
   *    and the deletion fails with 503 `deprovision_failed`: retry it (hooks are idempotent).
   * 2. In the deletion's transaction, the outbox gets a `user.deleted` event for each live user,
   *    a `user.roles_changed` (to no roles) for each that had roles, a `group.deleted` event for each live group (their wire form as `resource`, as a SCIM
   *    DELETE gives), then one `directory.deleted` event: a mirror that follows the events
   *    removes everything without knowing about directories.
   *
   * The users' links go, and the users of other directories linked to its users are re-linked
   * as when their target is deleted (see {@link LinkService.detach}), in the same transaction.
   */
  async delete(id: string): Promise<void> {
    const directory = await this.get(id);
    const removal = this.removal;
    if (removal?.beforeDelete !== undefined) {
      // The deletion's own state changes are not announced: it ends with `directory.deleted`, or
      // leaves the directory as it was.
      if (directory.state === "active") await this.change(id, { state: "inactive" }, false);
      try {
        await removal.beforeDelete(directory);
      } catch (error) {
        if (directory.state === "active") await this.change(id, { state: "active" }, false).catch(() => undefined);
        if (isDirectoryError(error)) throw error;
        throw new DirectoryError(503, "deprovision_failed", "the application could not deprovision the directory's users yet; nothing was deleted: retry later");
      }
    }
    // In a transaction that holds the directory's row (see fencedChange): a token created or
    // rotated meanwhile waits and then finds no directory (404), where the two deadlocked on
    // PostgreSQL; writes of the directory under way finish first, those that come later find it
    // gone (tenantGuard).
    const remove = async (tx: Kysely<DirectoryDatabase>, appendEvent?: (event: ScimEvent) => Promise<void>) => {
      if (appendEvent !== undefined) await this.appendRemovalEvents(tx, directory, appendEvent);
      // Its tokens go (hashes included): the audit log keeps their ids only.
      await tx.deleteFrom("dir_tokens").where("directory_id", "=", id).execute();
      await tx.deleteFrom("dir_role_mappings").where("directory_id", "=", id).execute();
      await tx.deleteFrom("dir_user_roles").where("directory_id", "=", id).execute();
      await tx.deleteFrom("dir_scim_activity").where("directory_id", "=", id).execute();
      // Its users first (PostgreSQL: this waits for a create that is linking a user to one of
      // them, whose link is then removed below), so that no re-link can point at them.
      for (const table of SCIM_TABLES) await deleteTenantRows(tx, table, id, this.removal?.store.dialect);
      await tx.deleteFrom("dir_directories").where("id", "=", id).execute();
      await tx.deleteFrom("dir_user_links").where("directory_id", "=", id).execute();
      await new LinkService(tx, this.now).detach(tx, directory.organizationId, { directoryId: id }, undefined, appendEvent);
    };
    if (removal === undefined) {
      await this.db.transaction().execute(async (tx) => {
        await lockDirectoryRow(tx, id);
        await remove(tx);
      });
      return;
    }
    // PostgreSQL may give the deletion up for a concurrent transaction (a deadlock with creates
    // that link users by email to this directory's): it is all or nothing, so it runs again.
    for (let attempt = 1; ; attempt++) {
      try {
        await fencedChange(removal.store, id, (store, db) => remove(db, (event) => store.appendEvent(event)));
        return;
      } catch (error) {
        if (!isConcurrentChange(error) || attempt >= DELETE_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
      }
    }
  }

  /** The events of a directory's deletion: each live user's and group's deletion, then the directory's. */
  private async appendRemovalEvents(tx: Kysely<DirectoryDatabase>, directory: Directory, appendEvent: (event: ScimEvent) => Promise<void>): Promise<void> {
    const occurredAt = this.now().toISOString();
    const removed = { User: 0, Group: 0 };
    for (const type of ["User", "Group"] as const) {
      const eventType = type === "User" ? "user.deleted" : "group.deleted";
      for await (const { id, resource } of liveResourcesInWireForm(tx, this.removal!.store.dialect, this.removal!.registry, directory.id, type)) {
        await appendEvent({ id: timeOrderedUuid(), type: eventType, tenant: directory.id, resourceType: type, resourceId: id, occurredAt, resource: resource as ScimResourceBody });
        removed[type]++;
      }
      // As a SCIM DELETE does: a user who had roles has none now, for consumers that take
      // role grants from `user.roles_changed` alone.
      if (type === "User") {
        for await (const { userId, roles } of storedRolesOfDirectory(tx, directory.id)) {
          const data = { roles: [], added: [], removed: roles };
          await appendEvent({ id: timeOrderedUuid(), type: "user.roles_changed", tenant: directory.id, resourceType: "User", resourceId: userId, occurredAt, data });
        }
      }
    }
    await appendEvent({
      id: timeOrderedUuid(),
      type: "directory.deleted",
      tenant: directory.id,
      resourceType: "Directory",
      resourceId: directory.id,
      occurredAt,
      data: { organizationId: directory.organizationId, name: directory.name, type: directory.type, users: removed.User, groups: removed.Group },
    });
  }

}

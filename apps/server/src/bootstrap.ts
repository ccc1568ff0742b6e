/**
 * First run: an installation without an admin key gets one, and one without directories gets a
 * first directory with a token. The secrets are returned to be shown once; only their hashes
 * are stored.
 *
 * A first run (or a `ROTATE_ADMIN_KEY` start) that stops before its secrets are shown, killed or
 * crashed between its writes and its banner, would leave secrets nobody ever saw: a key and a
 * token stored as hashes only, and a next start with nothing to say. So a marker
 * (`dir_settings` {@link FIRST_RUN_SETTING}) is written before anything is created and removed
 * once the secrets are shown ({@link Bootstrapped.shown}); a start that finds it replaces what
 * the interrupted one made and shows the new secrets: nobody can have used the old ones.
 */
import { createAdminKey, hasAdminKey, type Directory, type DirectorySync } from "scim-directory";

/** The `dir_settings` key of an unfinished first run: JSON `{ directoryId? }`. */
export const FIRST_RUN_SETTING = "first_run_pending";

/** What the first run created (secrets shown once). */
export interface Bootstrapped {
  adminKey?: string;
  directory?: Directory;
  token?: string;
  /** The secrets replace those of an earlier first run that stopped before showing them. */
  resumed?: boolean;
  /** To call once the secrets are shown: the first run is finished (nothing to replace at the next start). */
  shown(): Promise<void>;
}

interface Pending {
  directoryId?: string;
}

/**
 * Creates the admin key and a first directory when missing; with `rotateAdminKey`, replaces the
 * admin key (the previous one stops working) and returns the new one. After a first run that
 * stopped before its secrets were shown, replaces them: a new admin key, and a new token for its
 * directory (the earlier ones revoked).
 */
export async function bootstrap(sync: DirectorySync, options: { rotateAdminKey?: boolean } = {}): Promise<Bootstrapped> {
  const db = sync.db;
  const pending = await readPending(sync);
  const needKey = options.rotateAdminKey === true || pending !== undefined || !(await hasAdminKey(db));
  const noDirectory = (await sync.directories.list({ limit: 1 })).length === 0;
  const recovered = pending?.directoryId !== undefined && !noDirectory ? await sync.directories.get(pending.directoryId).catch(() => undefined) : undefined;
  const out: Bootstrapped = { shown: async () => {} };
  // Nothing to create (and no unfinished first run: it would need a key).
  if (!needKey && !noDirectory) return out;
  // Before anything is created: a start that stops from here on is finished by the next one.
  await writePending(sync, pending ?? {});
  if (pending !== undefined) out.resumed = true;
  if (needKey) out.adminKey = await createAdminKey(db);
  if (noDirectory) {
    out.directory = await sync.directories.create({ organizationId: "default", name: "First directory", type: "generic-scim" });
    await writePending(sync, { directoryId: out.directory.id });
    out.token = (await sync.tokens.create(out.directory.id)).token;
  } else if (recovered !== undefined) {
    // Its token (if it was made) was never shown: replaced.
    await sync.tokens.revokeAll(recovered.id);
    out.directory = recovered;
    out.token = (await sync.tokens.create(recovered.id)).token;
  }
  out.shown = () => clearPending(sync);
  return out;
}

async function readPending(sync: DirectorySync): Promise<Pending | undefined> {
  const row = await sync.db.selectFrom("dir_settings").select("value").where("key", "=", FIRST_RUN_SETTING).executeTakeFirst();
  if (row === undefined) return undefined;
  try {
    const value = JSON.parse(row.value) as unknown;
    const directoryId = (value as { directoryId?: unknown } | null)?.directoryId;
    return typeof directoryId === "string" ? { directoryId } : {};
  } catch {
    return {};
  }
}

async function writePending(sync: DirectorySync, pending: Pending): Promise<void> {
  await sync.db
    .insertInto("dir_settings")
    .values({ key: FIRST_RUN_SETTING, value: JSON.stringify(pending) })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value: JSON.stringify(pending) }))
    .execute();
}

async function clearPending(sync: DirectorySync): Promise<void> {
  await sync.db.deleteFrom("dir_settings").where("key", "=", FIRST_RUN_SETTING).execute();
}

/**
 * First run: an installation without an admin key gets one, and one without directories gets a
 * first directory with a token. The secrets are returned to be shown once; only their hashes
 * are stored.
 */
import { createAdminKey, hasAdminKey, type Directory, type DirectorySync } from "scim-directory";

/** What the first run created (secrets shown once). */
export interface Bootstrapped {
  adminKey?: string;
  directory?: Directory;
  token?: string;
}

/**
 * Creates the admin key and a first directory when missing; with `rotateAdminKey`, replaces the
 * admin key (the previous one stops working) and returns the new one.
 */
export async function bootstrap(sync: DirectorySync, options: { rotateAdminKey?: boolean } = {}): Promise<Bootstrapped> {
  const out: Bootstrapped = {};
  if (options.rotateAdminKey || !(await hasAdminKey(sync.db))) out.adminKey = await createAdminKey(sync.db);
  if ((await sync.directories.list({ limit: 1 })).length === 0) {
    out.directory = await sync.directories.create({ organizationId: "default", name: "First directory", type: "generic-scim" });
    out.token = (await sync.tokens.create(out.directory.id)).token;
  }
  return out;
}

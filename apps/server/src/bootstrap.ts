/**
 * First run: an installation without an admin key gets one, and one without directories gets a
 * first directory with a token. The secrets are returned to be shown once; only their hashes
 * are stored.
 *
 * A first run (or a `ROTATE_ADMIN_KEY` start) that stops before its secrets are shown, killed or
 * crashed between its writes and its banner, would leave secrets nobody ever saw: a key and a
 * token stored as hashes only, and a next start with nothing to say. So a marker
 * (`dir_settings` {@link FIRST_RUN_SETTING}) is written with what the first run creates, in the
 * same transaction, and removed once the secrets are shown ({@link Bootstrapped.shown}); a start
 * that finds it replaces what the interrupted one made and shows the new secrets: nobody can
 * have used the old ones.
 *
 * Several processes may start at once on one database (replicas of a new deployment). The marker
 * is claimed in a transaction that only one process at a time runs (an advisory lock on
 * PostgreSQL, `BEGIN IMMEDIATE` on SQLite), and it names its process: another process that finds
 * it waits for that process to show its secrets, then finds the installation made and shows none.
 * It takes the marker over as an interrupted run's only when its process is gone: at once when
 * that process ran on the same host (and pid namespace) and no longer runs, or else when the
 * marker has not changed for {@link BootstrapOptions.takeOverAfterMs}. Before, two replicas
 * starting together both printed secrets, and some of those printed no longer worked.
 */
import { randomUUID } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { sql } from "kysely";
import { createAdminKey, hasAdminKey, type Directory, type DirectorySync } from "scim-directory";

/** The `dir_settings` key of an unfinished first run: JSON {@link Pending}. */
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

/** Options of {@link bootstrap}. */
export interface BootstrapOptions {
  /** Replace the admin key (the previous one stops working) and return the new one. */
  rotateAdminKey?: boolean;
  /**
   * How long the marker of a process on another host may stay unchanged before that process
   * counts as gone and its first run is taken over (its secrets replaced). @default 30000
   */
  takeOverAfterMs?: number;
  /** How often a waiting start looks at the marker again, in milliseconds. @default 200 */
  pollMs?: number;
  /** This process as markers name it (tests stand for other processes with it). @default this host and pid */
  instance?: { host: string; pid: number };
  /** Aborted: a start waiting for another process's first run stops waiting (rejects). */
  signal?: AbortSignal;
  /** Told when the start begins to wait for another process's first run (each marker once). */
  onWait?: (process: { host?: string; pid?: number }, takeOverAfterMs: number) => void;
}

/** The marker: the process that runs the first run, and the directory it made (once made). */
export interface Pending {
  directoryId?: string;
  owner?: string;
  host?: string;
  pid?: number;
}

/** What a claim of the first run found, or made. */
type Claim = { kind: "wait"; marker: string } | { kind: "done"; made: Omit<Bootstrapped, "shown">; marker?: string };

/**
 * Creates the admin key and a first directory when missing; with `rotateAdminKey`, replaces the
 * admin key (the previous one stops working) and returns the new one. After a first run that
 * stopped before its secrets were shown, replaces them: a new admin key, and a new token for its
 * directory (the earlier ones revoked). While another process runs its first run, waits for it
 * and creates nothing.
 */
export async function bootstrap(sync: DirectorySync, options: BootstrapOptions = {}): Promise<Bootstrapped> {
  const me = { owner: randomUUID(), ...(options.instance ?? { host: thisHost(), pid: process.pid }) };
  const takeOverAfterMs = options.takeOverAfterMs ?? 30_000;
  const pollMs = options.pollMs ?? 200;
  // The marker another process holds, and since when it has not changed.
  let watched: { marker: string; since: number } | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const stale = watched !== undefined && performance.now() - watched.since >= takeOverAfterMs ? watched.marker : undefined;
    const claim = await runFirstRun(sync, me, options.rotateAdminKey === true, stale);
    if (claim.kind === "done") {
      const { marker } = claim;
      // Only this run's marker: another process may have taken it over meanwhile.
      const shown = async () => void (marker !== undefined && (await sync.db.deleteFrom("dir_settings").where("key", "=", FIRST_RUN_SETTING).where("value", "=", marker).execute()));
      return { ...claim.made, shown };
    }
    if (watched?.marker !== claim.marker) {
      watched = { marker: claim.marker, since: performance.now() };
      const { host, pid } = parsePending(claim.marker);
      options.onWait?.({ ...(host !== undefined ? { host } : {}), ...(pid !== undefined ? { pid } : {}) }, takeOverAfterMs);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * The first run, in one transaction that no other process runs at the same time: the marker of
 * another process still running its own (`stale`: a marker seen unchanged for too long, whose
 * process counts as gone), or else what there is to make, made with the marker that says it was
 * not shown yet. All or nothing: a start stopped in the middle leaves no directory without its
 * token, nor a key without the marker.
 */
async function runFirstRun(sync: DirectorySync, me: Required<Omit<Pending, "directoryId">>, rotateAdminKey: boolean, stale: string | undefined): Promise<Claim> {
  return sync.db.transaction().execute(async (trx) => {
    if (sync.store.dialect === "postgres") await sql`select pg_advisory_xact_lock(hashtext('scim-directory:first-run'))`.execute(trx);
    const row = await trx.selectFrom("dir_settings").select("value").where("key", "=", FIRST_RUN_SETTING).executeTakeFirst();
    const previous = row === undefined ? undefined : parsePending(row.value);
    if (previous !== undefined && row!.value !== stale && stillRunning(previous, me)) return { kind: "wait", marker: row!.value };
    const needKey = rotateAdminKey || previous !== undefined || !(await hasAdminKey(trx));
    const noDirectory = (await trx.selectFrom("dir_directories").select("id").limit(1).executeTakeFirst()) === undefined;
    // Nothing to create (and no unfinished first run: it would need a key).
    if (!needKey && !noDirectory) return { kind: "done", made: {} };
    const made: Omit<Bootstrapped, "shown"> = {};
    if (previous !== undefined) made.resumed = true;
    if (needKey) made.adminKey = await createAdminKey(trx);
    if (noDirectory) {
      made.directory = await sync.directories.create({ organizationId: "default", name: "First directory", type: "generic-scim" }, trx);
      made.token = (await sync.tokens.create(made.directory.id, trx)).token;
    }
    const recovered = !noDirectory && previous?.directoryId !== undefined ? await sync.directories.find(previous.directoryId, trx) : undefined;
    if (recovered !== undefined) {
      // Its token was never shown: replaced.
      await sync.tokens.revokeAll(recovered.id, trx);
      made.directory = recovered;
      made.token = (await sync.tokens.create(recovered.id, trx)).token;
    }
    const marker = JSON.stringify({ ...(made.directory !== undefined ? { directoryId: made.directory.id } : {}), ...me } satisfies Pending);
    await trx
      .insertInto("dir_settings")
      .values({ key: FIRST_RUN_SETTING, value: marker })
      .onConflict((oc) => oc.column("key").doUpdateSet({ value: marker }))
      .execute();
    return { kind: "done", made, marker };
  });
}

/**
 * This host as markers name it: its name, and on Linux its boot (`/proc/sys/kernel/random/boot_id`:
 * machines with the same name, cloned images, differ by it) and its pid namespace
 * (`/proc/self/ns/pid`: containers that share a host name, with host networking or a fixed
 * `hostname`, each have their own pid 1, and a pid counts only within its namespace; the
 * machine's own namespace has the same number on every machine).
 */
export function thisHost(): string {
  try {
    return `${hostname()} ${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()} ${readlinkSync("/proc/self/ns/pid")}`;
  } catch {
    return hostname();
  }
}

/**
 * Whether the process a marker names may still be running its first run: not when it ran on this
 * host (and pid namespace) and its pid is this process's (an earlier process in this container)
 * or runs no process; not when the marker names no process (written before markers did). Another
 * host's cannot be told.
 */
export function stillRunning(marker: Pending, me: { host: string; pid: number }, signal: (pid: number, signal: 0) => unknown = process.kill): boolean {
  if (marker.owner === undefined || marker.host === undefined || marker.pid === undefined) return false;
  if (marker.host !== me.host) return true;
  if (marker.pid === me.pid) return false;
  try {
    signal(marker.pid, 0);
    return true;
  } catch (error) {
    // EPERM: a process runs with that pid, as another user: a replica may run as one.
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function parsePending(value: string): Pending {
  try {
    const parsed = JSON.parse(value) as Record<string, unknown> | null;
    const pending: Pending = {};
    if (typeof parsed?.directoryId === "string") pending.directoryId = parsed.directoryId;
    if (typeof parsed?.owner === "string") pending.owner = parsed.owner;
    if (typeof parsed?.host === "string") pending.host = parsed.host;
    // A positive integer only: `process.kill(0 or -n, 0)` would signal a whole process group.
    if (Number.isInteger(parsed?.pid) && (parsed!.pid as number) > 0) pending.pid = parsed!.pid as number;
    return pending;
  } catch {
    return {};
  }
}

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { sql } from "kysely";
import { createAdminKey, createDirectorySync, readAdminKeyHash, verifyAdminKey, type DirectorySync } from "scim-directory";
import { openPostgres, openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bootstrap, FIRST_RUN_SETTING, stillRunning, thisHost, type Bootstrapped } from "./bootstrap.js";

/**
 * Two first runs started at once (`runs`): the one that claimed the marker, and the other, still
 * waiting for it. The claimer's secrets are then shown, and the other's result awaited.
 */
async function firstAndSecond(runs: [Promise<Bootstrapped>, Promise<Bootstrapped>]): Promise<{ first: Bootstrapped; second: Bootstrapped }> {
  const winner = await Promise.race(runs.map((run, i) => run.then((result) => ({ result, i }))));
  // The other waits as long as the first run's secrets are not shown.
  const other = runs[1 - winner.i]!;
  const early = await Promise.race([other.then(() => "finished"), new Promise((resolve) => setTimeout(() => resolve("waiting"), 600))]);
  expect(early).toBe("waiting");
  await winner.result.shown();
  return { first: winner.result, second: await other };
}

describe("first run", () => {
  let sync: DirectorySync;
  beforeEach(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
  });
  afterEach(() => sync.close());

  const keyWorks = async (key: string) => verifyAdminKey(key, await readAdminKeyHash(sync.db));
  const pending = async () => (await sync.db.selectFrom("dir_settings").select("value").where("key", "=", FIRST_RUN_SETTING).executeTakeFirst())?.value;

  it("creates the admin key, a directory and its token once; once shown, a later start creates nothing", async () => {
    const first = await bootstrap(sync);
    expect(first.adminKey).toMatch(/^dsync_admin_/);
    expect(first.token).toMatch(/^dsync_/);
    expect(first.resumed).toBeUndefined();
    expect(JSON.parse((await pending())!)).toMatchObject({ directoryId: first.directory!.id, pid: process.pid });
    await first.shown();
    expect(await pending()).toBeUndefined();
    const again = await bootstrap(sync);
    expect([again.adminKey, again.directory, again.token]).toEqual([undefined, undefined, undefined]);
    expect(await keyWorks(first.adminKey!)).toBe(true);
    expect(await sync.tokens.verify(first.token!)).toBeDefined();
  });

  it("a first run that stopped before showing its secrets is finished by the next start with new ones, the unseen ones revoked", async () => {
    const lost = await bootstrap(sync); // never shown: the process died before its banner
    const next = await bootstrap(sync);
    expect(next.resumed).toBe(true);
    expect(next.directory?.id).toBe(lost.directory!.id);
    expect(next.adminKey).toMatch(/^dsync_admin_/);
    expect(next.token).toMatch(/^dsync_/);
    expect(await keyWorks(next.adminKey!)).toBe(true);
    expect(await keyWorks(lost.adminKey!)).toBe(false);
    expect(await sync.tokens.verify(next.token!)).toBeDefined();
    expect(await sync.tokens.verify(lost.token!)).toBeUndefined();
    expect(await sync.directories.list({ limit: 10 })).toHaveLength(1);
    await next.shown();
    expect(await pending()).toBeUndefined();
  });

  it("a first run that stopped after the admin key, before the directory, gets a new key and its directory at the next start", async () => {
    await sync.db.insertInto("dir_settings").values({ key: FIRST_RUN_SETTING, value: "{}" }).execute();
    const unseen = await createAdminKey(sync.db);
    const next = await bootstrap(sync);
    expect(next.resumed).toBe(true);
    expect(await keyWorks(unseen)).toBe(false);
    expect(await keyWorks(next.adminKey!)).toBe(true);
    expect(next.directory?.name).toBe("First directory");
    expect(await sync.tokens.verify(next.token!)).toBeDefined();
  });

  it("ROTATE_ADMIN_KEY that stopped before showing the new key: the next start, without it, shows another", async () => {
    const first = await bootstrap(sync);
    await first.shown();
    const rotated = await bootstrap(sync, { rotateAdminKey: true }); // never shown
    expect(rotated.directory).toBeUndefined();
    const next = await bootstrap(sync);
    expect(next.resumed).toBe(true);
    expect(next.directory).toBeUndefined();
    expect(next.token).toBeUndefined();
    expect(await keyWorks(next.adminKey!)).toBe(true);
    expect(await keyWorks(rotated.adminKey!)).toBe(false);
    // The directory's token, shown by the first run, still works.
    expect(await sync.tokens.verify(first.token!)).toBeDefined();
  });

  // Replicas of a new deployment: both printed secrets, and some of those printed did not work.
  it("two processes starting at once: one shows the secrets, the other waits for it and shows none", async () => {
    const { first, second } = await firstAndSecond([
      bootstrap(sync, { instance: { host: "replica-a", pid: 7 }, pollMs: 20 }),
      bootstrap(sync, { instance: { host: "replica-b", pid: 7 }, pollMs: 20 }),
    ]);
    expect(first.adminKey).toMatch(/^dsync_admin_/);
    expect([second.adminKey, second.directory, second.token, second.resumed]).toEqual([undefined, undefined, undefined, undefined]);
    expect(await keyWorks(first.adminKey!)).toBe(true);
    expect(await sync.tokens.verify(first.token!)).toBeDefined();
    expect(await sync.directories.list({ limit: 10 })).toHaveLength(1);
    expect(await pending()).toBeUndefined();
  });

  // A start stopped between the directory and its token (or its place in the marker) left a
  // directory with no token, and the next start said it was a ROTATE_ADMIN_KEY start.
  it("makes the admin key, the directory, its token and the marker all or nothing", async () => {
    const create = sync.tokens.create;
    sync.tokens.create = async () => {
      throw new Error("stopped here");
    };
    try {
      await expect(bootstrap(sync)).rejects.toThrow("stopped here");
    } finally {
      sync.tokens.create = create;
    }
    expect(await sync.directories.list({ limit: 10 })).toEqual([]);
    expect(await readAdminKeyHash(sync.db)).toBeUndefined();
    expect(await pending()).toBeUndefined();
    const next = await bootstrap(sync);
    expect(next.resumed).toBeUndefined();
    expect(next.directory?.name).toBe("First directory");
    expect(await sync.tokens.verify(next.token!)).toBeDefined();
    expect(await keyWorks(next.adminKey!)).toBe(true);
  });

  // Containers that share a host name (host networking) each have a pid 1 of their own.
  // The machine's own pid namespace has the same number on every machine: the boot id tells
  // machines of one name apart (cloned images).
  it("names this host by its name and, on Linux, its boot and its pid namespace", () => {
    expect(thisHost().startsWith(hostname())).toBe(true);
    if (process.platform === "linux") expect(thisHost()).toBe(`${hostname()} ${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()} ${readlinkSync("/proc/self/ns/pid")}`);
  });

  // A replica may run as another user: its pid answers EPERM, and it is running.
  it("a marker's process that runs as another user (EPERM) is running; one that runs no more (ESRCH) is not", () => {
    const marker = { owner: "o", host: "h", pid: 4242 };
    const failing = (code: string) => () => {
      throw Object.assign(new Error(code), { code });
    };
    expect(stillRunning(marker, { host: "h", pid: 1 }, failing("EPERM"))).toBe(true);
    expect(stillRunning(marker, { host: "h", pid: 1 }, failing("ESRCH"))).toBe(false);
    expect(stillRunning(marker, { host: "h", pid: 1 }, () => true)).toBe(true);
    expect(stillRunning(marker, { host: "h", pid: 4242 }, () => true)).toBe(false);
    expect(stillRunning(marker, { host: "other", pid: 1 }, failing("ESRCH"))).toBe(true);
  });

  it("takes over the first run of a process of this host that no longer runs, at once", async () => {
    // A pid that ran a process and runs none now.
    const gone = Number(execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]));
    const lost = await bootstrap(sync, { instance: { host: thisHost(), pid: gone } }); // never shown
    const started = performance.now();
    const next = await bootstrap(sync, { takeOverAfterMs: 60_000 });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(next.resumed).toBe(true);
    expect(next.directory?.id).toBe(lost.directory!.id);
    expect(await keyWorks(next.adminKey!)).toBe(true);
    expect(await sync.tokens.verify(lost.token!)).toBeUndefined();
  });

  it("a marker of this host with a pid that is no process's (0: a process group) is taken over at once", async () => {
    await sync.db.insertInto("dir_settings").values({ key: FIRST_RUN_SETTING, value: JSON.stringify({ owner: "x", host: thisHost(), pid: 0 }) }).execute();
    const started = performance.now();
    const next = await bootstrap(sync, { takeOverAfterMs: 60_000 });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(next.resumed).toBe(true);
    expect(await keyWorks(next.adminKey!)).toBe(true);
  });

  it("waits for the first run of a process of another host, and takes it over once its marker stays unchanged that long", async () => {
    const lost = await bootstrap(sync, { instance: { host: "another-host", pid: 1 } }); // never shown
    const started = performance.now();
    const waits: unknown[] = [];
    const next = await bootstrap(sync, { takeOverAfterMs: 300, pollMs: 20, onWait: (owner, ms) => waits.push({ owner, ms }) });
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    // Told once, with the process it waits for (the server logs it: a restart may wait 30 s).
    expect(waits).toEqual([{ owner: { host: "another-host", pid: 1 }, ms: 300 }]);
    expect(next.resumed).toBe(true);
    expect(next.directory?.id).toBe(lost.directory!.id);
    expect(await keyWorks(next.adminKey!)).toBe(true);
    expect(await keyWorks(lost.adminKey!)).toBe(false);
    expect(await sync.tokens.verify(next.token!)).toBeDefined();
    expect(await sync.tokens.verify(lost.token!)).toBeUndefined();
    await next.shown();
    expect(await pending()).toBeUndefined();
  });

  it("the process that was taken over does not remove the marker of the one that took over", async () => {
    const slow = await bootstrap(sync, { instance: { host: "another-host", pid: 1 } });
    const next = await bootstrap(sync, { takeOverAfterMs: 100, pollMs: 20 });
    await slow.shown();
    expect(await pending()).toBeDefined();
    await next.shown();
    expect(await pending()).toBeUndefined();
  });
});

const PG_URL = process.env.SCIM_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const ci = process.env.CI === "true" || process.env.CI === "1";

describe("first run on PostgreSQL", () => {
  // Two replicas: two pools on one database, each its own DirectorySync (migrating at once too).
  it("two replicas starting at once: one shows the secrets, the other waits for it and shows none", async ({ skip }) => {
    const schema = `bootstrap_test_${randomBytes(6).toString("hex")}`;
    const admin = openPostgres({ connectionString: PG_URL, max: 1 });
    try {
      try {
        await sql`select 1`.execute(admin.db);
      } catch (error) {
        if (ci) throw error;
        return skip("PostgreSQL unreachable");
      }
      const [a, b] = await Promise.all([0, 1].map(() => createDirectorySync({ database: openPostgres({ connectionString: PG_URL, schema }) })));
      try {
        const { first, second } = await firstAndSecond([
          bootstrap(a!, { instance: { host: "replica-a", pid: 7 }, pollMs: 20 }),
          bootstrap(b!, { instance: { host: "replica-b", pid: 7 }, pollMs: 20 }),
        ]);
        expect([second.adminKey, second.directory, second.token]).toEqual([undefined, undefined, undefined]);
        expect(await verifyAdminKey(first.adminKey!, await readAdminKeyHash(b!.db))).toBe(true);
        expect(await b!.tokens.verify(first.token!)).toBeDefined();
        expect(await b!.directories.list({ limit: 10 })).toHaveLength(1);
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    } finally {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db).catch(() => {});
      await admin.destroy();
    }
  }, 30_000);
});

import { createAdminKey, createDirectorySync, readAdminKeyHash, verifyAdminKey, type DirectorySync } from "scim-directory";
import { openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bootstrap, FIRST_RUN_SETTING } from "./bootstrap.js";

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
    expect(await pending()).toBe(JSON.stringify({ directoryId: first.directory!.id }));
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
});

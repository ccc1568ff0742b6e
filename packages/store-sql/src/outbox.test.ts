/**
 * The outbox read after a cursor: in order, and never passing an event that a slower transaction
 * commits later (PostgreSQL positions events in commit order; SQLite commits one at a time).
 */
import { randomUUID } from "node:crypto";
import type { ScimEvent } from "scim-core";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScimSqlDatabase } from "./dialect.js";
import { sqlStore, type SqlScimStore } from "./sql-store.js";
import { openTestPostgres, openTestSqlite } from "./test-databases.js";

const event = (tenant: string, resourceId: string): ScimEvent => ({
  id: randomUUID(),
  type: "user.created",
  tenant,
  resourceType: "User",
  resourceId,
  occurredAt: new Date().toISOString(),
});

const ids = (events: { event: ScimEvent }[]) => events.map((e) => e.event.resourceId);

const dialects = [
  { name: "SQLite", open: () => openTestSqlite() },
  { name: "PostgreSQL", open: () => openTestPostgres() },
];

for (const dialect of dialects) {
  describe(`outbox (${dialect.name})`, () => {
    let database: ScimSqlDatabase | undefined;
    let store: SqlScimStore;
    beforeAll(async () => {
      database = await dialect.open();
      if (database) store = sqlStore({ database });
    });
    afterAll(() => database?.destroy());

    it("reads in order after a cursor, per tenant or across tenants", async ({ skip }) => {
      if (!database) return skip();
      const a = `t-${randomUUID()}`;
      const b = `t-${randomUUID()}`;
      for (const [tenant, id] of [[a, "a1"], [b, "b1"], [a, "a2"], [a, "a3"]] as const) await store.appendEvent(event(tenant, id));
      const all = await store.readEvents({ tenant: a });
      expect(ids(all)).toEqual(["a1", "a2", "a3"]);
      expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((x, y) => x - y));
      expect(ids(await store.readEvents({ tenant: a, after: all[0]!.seq, limit: 1 }))).toEqual(["a2"]);
      const mixed = await store.readEvents({ after: all[0]!.seq, limit: 10_000 });
      expect(ids(mixed.filter((e) => e.event.tenant === a || e.event.tenant === b))).toEqual(["b1", "a2", "a3"]);
    });

    it("readEventPage keeps to a byte budget: fewer events then, hasMore, and every event once, payload whole", async ({ skip }) => {
      if (!database) return skip();
      const tenant = `t-${randomUUID()}`;
      // Padding of these many bytes (each event has ~200 more); an event goes in while the page with it stays within 4,000.
      const sizes = [3000, 200, 9000, 200, 2000, 200, 9000, 200];
      for (const [i, size] of sizes.entries()) await store.appendEvent({ ...event(tenant, `e${i}`), data: { pad: "p".repeat(size) } });
      const pages: string[][] = [];
      let after = 0;
      for (;;) {
        const page = await store.readEventPage({ tenant, after, limit: 100, maxBytes: 4000 });
        pages.push(ids(page.events));
        for (const e of page.events) expect((e.event.data as { pad: string }).pad.length).toBe(sizes[Number(e.event.resourceId.slice(1))]);
        if (!page.hasMore) break;
        after = page.events.at(-1)!.seq;
        if (pages.length > 10) throw new Error("the walk does not end");
      }
      expect(pages).toEqual([["e0", "e1"], ["e2"], ["e3", "e4", "e5"], ["e6"], ["e7"]]);
      // Without a budget, the limit alone; hasMore only while more follow.
      const whole = await store.readEventPage({ tenant, limit: 8 });
      expect([whole.events.length, whole.hasMore]).toEqual([8, false]);
      const first = await store.readEventPage({ tenant, limit: 7 });
      expect([first.events.length, first.hasMore]).toEqual([7, true]);
      expect(ids(await store.readEvents({ tenant, maxBytes: 1 }))).toEqual(["e0"]);
    });

    /** Appends an event in a transaction that stays open until `release()`; resolves once the event is appended. */
    async function appendHeld(tenant: string, id: string): Promise<{ release: () => void; done: Promise<void> }> {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let appended!: () => void;
      const inside = new Promise<void>((resolve) => (appended = resolve));
      const done = store.transaction!(async (tx) => {
        await (tx as SqlScimStore).appendEvent(event(tenant, id));
        appended();
        await gate;
      });
      await inside;
      return { release, done };
    }

    it.runIf(dialect.name === "PostgreSQL")("never passes an event that a transaction begun earlier commits later", async ({ skip }) => {
      if (!database) return skip();
      // Two tenants: the writes of one tenant take turns (lockTenant), those of two do not.
      const [slowTenant, fastTenant, marker] = [`t-${randomUUID()}`, `t-${randomUUID()}`, `t-${randomUUID()}`];
      await store.appendEvent(event(marker, "marker"));
      const cursor = (await store.readEvents({ tenant: marker }))[0]!.seq;
      // The slow transaction takes its seq first, then commits last.
      const { release, done: slow } = await appendHeld(slowTenant, "slow");
      await store.appendEvent(event(fastTenant, "fast"));
      const first = await store.readEvents({ after: cursor });
      expect(ids(first)).toEqual(["fast"]);
      release();
      await slow;
      const next = await store.readEvents({ after: first[0]!.seq });
      expect(ids(next)).toEqual(["slow"]);
      // Read again from the start: both, in the order they became readable.
      expect(ids(await store.readEvents({ after: cursor }))).toEqual(["fast", "slow"]);
    });

    it.runIf(dialect.name === "PostgreSQL")("the events of one tenant's transactions take turns: a later one waits for the one under way", async ({ skip }) => {
      if (!database) return skip();
      const tenant = `t-${randomUUID()}`;
      const { release, done: slow } = await appendHeld(tenant, "slow");
      let fastDone = false;
      const fast = store.appendEvent(event(tenant, "fast")).then(() => (fastDone = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(fastDone).toBe(false);
      release();
      await Promise.all([slow, fast]);
      expect(ids(await store.readEvents({ tenant }))).toEqual(["slow", "fast"]);
    });

    it.runIf(dialect.name === "PostgreSQL")("inside a transaction, reads only committed events and never positions the transaction's own", async ({ skip }) => {
      if (!database) return skip();
      const tenant = `t-${randomUUID()}`;
      await store.appendEvent(event(tenant, "committed"));
      let seenInside: string[] = [];
      await expect(
        store.transaction!(async (tx) => {
          await (tx as SqlScimStore).appendEvent(event(tenant, "rolled-back"));
          seenInside = ids(await (tx as SqlScimStore).readEvents({ tenant }));
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(seenInside).toEqual(["committed"]);
      // The committed event kept the position it was given; the rolled-back one never had one.
      const after = await store.readEvents({ tenant });
      expect(ids(after)).toEqual(["committed"]);
      const before = await store.readEvents({ tenant });
      expect(before[0]!.seq).toBe(after[0]!.seq);
    });

    it.runIf(dialect.name === "PostgreSQL")("a read positions the whole backlog: a tenant's event behind 10,000 others is found at once", async ({ skip }) => {
      if (!database) return skip();
      const busy = `t-${randomUUID()}`;
      const quiet = `t-${randomUUID()}`;
      // 10,001 events of another tenant committed and never read (positioned) yet, then one of ours.
      await database.db
        .insertInto("scim_outbox")
        .columns(["id", "tenant", "type", "resource_type", "resource_id", "occurred_at", "payload"])
        .expression((eb) =>
          eb
            .selectFrom(sql<{ n: number }>`generate_series(1, 10001)`.as("g"))
            .select([sql`gen_random_uuid()::text`.as("id"), sql.lit(busy).as("tenant"), sql.lit("user.created").as("type"), sql.lit("User").as("resource_type"), sql`g::text`.as("resource_id"), sql.lit(new Date().toISOString()).as("occurred_at"), sql`'{}'::jsonb`.as("payload")]),
        )
        .execute();
      await store.appendEvent(event(quiet, "ours"));
      expect(ids(await store.readEvents({ tenant: quiet }))).toEqual(["ours"]);
      await database.db.deleteFrom("scim_outbox").where("tenant", "=", busy).execute();
    });

    it("pruneEvents deletes the events that occurred before a time, in batches, and keeps the rest", async ({ skip }) => {
      if (!database) return skip();
      const tenant = `t-${randomUUID()}`;
      const old = "2020-01-01T00:00:00.000Z";
      for (let chunk = 0; chunk < 12; chunk++) {
        await database.db
          .insertInto("scim_outbox")
          .values(Array.from({ length: 1000 }, (_, i) => ({ id: randomUUID(), tenant, type: "user.created", resource_type: "User", resource_id: `old-${chunk}-${i}`, occurred_at: old, payload: "{}" })))
          .execute();
      }
      await store.appendEvent(event(tenant, "recent"));
      expect(await store.pruneEvents(new Date("2021-01-01T00:00:00.000Z"))).toBeGreaterThanOrEqual(12_000);
      expect(ids(await store.readEvents({ tenant, limit: 10_000 }))).toEqual(["recent"]);
      expect(await store.pruneEvents(new Date("2021-01-01T00:00:00.000Z"))).toBe(0);
    });

    it("eventsHorizon: the latest position handed out, and how far pruning went per tenant, also once the outbox is empty", async ({ skip }) => {
      if (!database) return skip();
      const tenant = `t-${randomUUID()}`;
      const quiet = `t-${randomUUID()}`;
      const old = "2020-06-01T00:00:00.000Z";
      await store.appendEvent({ ...event(quiet, "q1"), occurredAt: new Date().toISOString() });
      for (const id of ["o1", "o2"]) await store.appendEvent({ ...event(tenant, id), occurredAt: old });
      await store.appendEvent(event(tenant, "r1"));
      const read = await store.readEvents({ tenant });
      expect(ids(read)).toEqual(["o1", "o2", "r1"]);
      const before = await store.eventsHorizon();
      expect(before.latest).toBe(read[2]!.seq);
      // The old ones go (by when they occurred); pruning marks the greatest position it deleted, for their tenant.
      const quietMark = (await store.eventsHorizon(quiet)).prunedThrough;
      expect(await store.pruneEvents(new Date("2021-01-01T00:00:00.000Z"))).toBeGreaterThanOrEqual(2);
      expect(await store.eventsHorizon(tenant)).toEqual({ latest: read[2]!.seq, prunedThrough: read[1]!.seq });
      expect((await store.eventsHorizon()).prunedThrough).toBeGreaterThanOrEqual(read[1]!.seq);
      // Another tenant's events going tells nothing about this one's.
      expect((await store.eventsHorizon(quiet)).prunedThrough).toBe(quietMark);
      // Everything: positions are never handed out again, and the mark stays where the outbox was.
      await store.pruneEvents(new Date(Date.now() + 86_400_000));
      expect(await store.readEvents({ limit: 10_000 })).toEqual([]);
      expect(await store.eventsHorizon(tenant)).toEqual({ latest: read[2]!.seq, prunedThrough: read[2]!.seq });
      await store.appendEvent(event(tenant, "r2"));
      const [next] = await store.readEvents({ after: read[2]!.seq });
      expect(next!.seq).toBeGreaterThan(read[2]!.seq);
      expect((await store.eventsHorizon()).latest).toBe(next!.seq);
      expect((await store.eventsHorizon(tenant)).prunedThrough).toBe(read[2]!.seq);
    });

    it("eventsHorizon's latest is past every event already written, with no read in between: a reader starting from it replays none", async ({ skip }) => {
      if (!database) return skip();
      const tenant = `t-${randomUUID()}`;
      await store.appendEvent(event(tenant, "h1"));
      const start = (await store.eventsHorizon()).latest;
      await store.appendEvent(event(tenant, "h2"));
      const latest = (await store.eventsHorizon(tenant)).latest;
      expect(latest).toBeGreaterThan(start);
      expect(ids(await store.readEvents({ tenant, after: start }))).toEqual(["h2"]);
      expect(ids(await store.readEvents({ tenant, after: latest }))).toEqual([]);
    });

    it("readEventPage says how far a complete page read: a reader of one tenant goes on past the others' events", async ({ skip }) => {
      if (!database) return skip();
      const mine = `t-${randomUUID()}`;
      const other = `t-${randomUUID()}`;
      await store.appendEvent(event(mine, "m1"));
      const first = await store.readEventPage({ tenant: mine });
      expect(ids(first.events)).toEqual(["m1"]);
      for (let i = 0; i < 3; i++) await store.appendEvent(event(other, `o${i}`));
      const empty = await store.readEventPage({ tenant: mine, after: first.through! });
      expect(empty).toEqual({ events: [], hasMore: false, through: (await store.eventsHorizon()).latest });
      expect(empty.through).toBeGreaterThan(first.events[0]!.seq);
      // A page cut by its limit says nothing: more follow.
      await store.appendEvent(event(mine, "m2"));
      await store.appendEvent(event(mine, "m3"));
      const cut = await store.readEventPage({ tenant: mine, after: empty.through!, limit: 1 });
      expect([ids(cut.events), cut.hasMore, cut.through]).toEqual([["m2"], true, undefined]);
    });
  });
}

/** After a restore: its own database each (the mark it leaves concerns every tenant of a database). */
const restorable = [
  { name: "SQLite", open: async () => ({ database: await openTestSqlite(), drop: async () => {} }) },
  {
    name: "PostgreSQL",
    open: async () => {
      const schema = `restore_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
      const database = await openTestPostgres({ schema });
      return database === undefined ? undefined : { database, drop: () => sql`drop schema ${sql.id(schema)} cascade`.execute(database.db).then(() => undefined) };
    },
  },
];

for (const dialect of restorable) {
  describe(`outbox after a restore (${dialect.name})`, () => {
    it("restartEventPositions: new events never take a position handed out before, and every earlier cursor counts as pruned", async ({ skip }) => {
      const opened = await dialect.open();
      if (opened === undefined) return skip();
      const { database, drop } = opened;
      const store = sqlStore({ database });
      try {
        const tenant = `t-${randomUUID()}`;
        for (const id of ["kept1", "kept2"]) await store.appendEvent(event(tenant, id));
        const backup = (await store.eventsHorizon()).latest;
        // Events after the backup: a reader follows them to `cursor`; then the restore loses them
        // (rows and counter as they were at the backup).
        for (const id of ["lost1", "lost2", "lost3"]) await store.appendEvent(event(tenant, id));
        const cursor = (await store.readEvents({ tenant })).at(-1)!.seq;
        await database.db.deleteFrom("scim_outbox").where("resource_id", "like", "lost%").execute();
        if (database.dialect === "sqlite") await sql`update sqlite_sequence set seq = ${backup} where name = 'scim_outbox'`.execute(database.db);
        else await sql`select setval('scim_outbox_position_seq', ${backup}, true)`.execute(database.db);
        expect((await store.eventsHorizon()).latest).toBe(backup);

        const latest = await store.restartEventPositions();
        expect(latest).toBe(backup + 2 ** 40);
        expect(await store.eventsHorizon(tenant)).toEqual({ latest, prunedThrough: latest });
        // The IdP sends again what was lost: new positions, past every one a reader ever held.
        await store.appendEvent(event(tenant, "again1"));
        const after = await store.readEvents({ tenant, after: cursor });
        expect(ids(after)).toEqual(["again1"]);
        expect(after[0]!.seq).toBeGreaterThan(latest);
        // ...and the reader's cursor is behind the mark: it is told it may have missed events.
        const horizon = await store.eventsHorizon(tenant);
        expect(cursor).toBeLessThan(horizon.prunedThrough);
        expect(horizon.latest).toBe(after[0]!.seq);
        // A reader from the start begins after the mark: the events from before the restore
        // (still kept until pruned by age) would lead it into a 410 on its next page.
        expect(ids(await store.readEvents({ tenant }))).toEqual(["again1"]);
        expect(ids(await store.readEvents({ after: 0, limit: 10_000 }))).toEqual(["again1"]);
        // A second restore moves on from there.
        expect(await store.restartEventPositions()).toBe(horizon.latest + 2 ** 40);
      } finally {
        await drop();
        await database.destroy();
      }
    });
  });
}

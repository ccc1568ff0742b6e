/**
 * The outbox's reading positions: `seq` on SQLite (AUTOINCREMENT, one write transaction at a
 * time), `position` on PostgreSQL (given by a sequence once an event is committed, migration 0003).
 */
import { sql, type Kysely } from "kysely";
import type { SqlDialectName } from "./dialect.js";

/**
 * What numbers a table's positions: SQLite's AUTOINCREMENT counter of `table`, or, on PostgreSQL,
 * `sequence` (its name as SQL, qualified and quoted as `pg_get_serial_sequence` gives it).
 */
export interface PositionCounter {
  table: string;
  sequence: string;
}

/** The outbox's counter. */
const OUTBOX_COUNTER: PositionCounter = { table: "scim_outbox", sequence: "scim_outbox_position_seq" };

/**
 * The greatest position `counter` has handed out, 0 when none: read from the counter itself, so
 * that it stays once every row is deleted.
 */
export async function latestPosition(db: Kysely<unknown>, dialect: SqlDialectName, counter: PositionCounter): Promise<number> {
  const latest =
    dialect === "sqlite"
      ? (await sql<{ seq: number }>`select seq from sqlite_sequence where name = ${counter.table}`.execute(db)).rows[0]?.seq
      : (await sql<{ latest: string }>`select case when is_called then last_value else last_value - 1 end as latest from ${sql.raw(counter.sequence)}`.execute(db)).rows[0]?.latest;
  return Number(latest ?? 0);
}

/** The greatest outbox position handed out so far, 0 when none (see {@link latestPosition}). */
export function latestOutboxPosition(db: Kysely<unknown>, dialect: SqlDialectName): Promise<number> {
  return latestPosition(db, dialect, OUTBOX_COUNTER);
}

/**
 * How far {@link restartPositions} moves a counter: far past any position handed out between a
 * backup and its restore (2^40, a million million), and 8,000 restores below 2^53.
 */
export const RESTORED_POSITION_GAP = 2 ** 40;

/** Moves `counter` (the outbox's by default) {@link RESTORED_POSITION_GAP} past its latest position; returns the new latest. */
export async function restartPositions(db: Kysely<unknown>, dialect: SqlDialectName, counter: PositionCounter = OUTBOX_COUNTER): Promise<number> {
  const next = (await latestPosition(db, dialect, counter)) + RESTORED_POSITION_GAP;
  if (dialect === "sqlite") {
    const moved = await sql`update sqlite_sequence set seq = ${next} where name = ${counter.table}`.execute(db);
    if (Number(moved.numAffectedRows ?? 0) === 0) await sql`insert into sqlite_sequence (name, seq) values (${counter.table}, ${next})`.execute(db);
  } else {
    await sql`select setval(${counter.sequence}::regclass, ${next}, true)`.execute(db);
  }
  return next;
}

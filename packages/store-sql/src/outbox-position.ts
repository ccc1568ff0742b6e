/**
 * The outbox's reading positions: `seq` on SQLite (AUTOINCREMENT, one write transaction at a
 * time), `position` on PostgreSQL (given by a sequence once an event is committed, migration 0003).
 */
import { sql, type Kysely } from "kysely";
import type { SqlDialectName } from "./dialect.js";

/**
 * The greatest position handed out so far, 0 when none: read from AUTOINCREMENT's counter
 * (SQLite) or the positions' sequence (PostgreSQL), so that it stays once every event is pruned.
 */
export async function latestOutboxPosition(db: Kysely<unknown>, dialect: SqlDialectName): Promise<number> {
  const latest =
    dialect === "sqlite"
      ? (await sql<{ seq: number }>`select seq from sqlite_sequence where name = 'scim_outbox'`.execute(db)).rows[0]?.seq
      : (await sql<{ latest: string }>`select case when is_called then last_value else last_value - 1 end as latest from scim_outbox_position_seq`.execute(db)).rows[0]?.latest;
  return Number(latest ?? 0);
}

/**
 * How far {@link restartPositions} moves a counter: far past any position handed out between a
 * backup and its restore (2^40, a million million), and 8,000 restores below 2^53.
 */
export const RESTORED_POSITION_GAP = 2 ** 40;

/**
 * Moves the counter that numbers `table`'s `seq` (SQLite's AUTOINCREMENT) or a PostgreSQL
 * `sequence` {@link RESTORED_POSITION_GAP} past `latest`; returns the new latest.
 */
export async function restartPositions(db: Kysely<unknown>, dialect: SqlDialectName, target: { table: string; sequence: string }, latest: number): Promise<number> {
  const next = latest + RESTORED_POSITION_GAP;
  if (dialect === "sqlite") {
    const moved = await sql`update sqlite_sequence set seq = ${next} where name = ${target.table}`.execute(db);
    if (Number(moved.numAffectedRows ?? 0) === 0) await sql`insert into sqlite_sequence (name, seq) values (${target.table}, ${next})`.execute(db);
  } else {
    await sql`select setval(${target.sequence}::regclass, ${next}, true)`.execute(db);
  }
  return next;
}

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

/**
 * scim-store-sql: durable SCIM 2.0 storage for scim-core on SQLite and PostgreSQL, with filters,
 * sorting and paging pushed down to SQL.
 * @packageDocumentation
 */
export { openDatabase, openPostgres, openSqlite, registerSqliteFunctions, SQLITE_LOWER, type OpenDatabaseOptions, type PostgresOptions, type ScimSqlDatabase, type SqlDialectName, type SqliteOptions } from "./dialect.js";
export { groupCommitDialect, GroupCommitSqliteDriver, type BetterSqliteDatabase, type GroupCommitOptions } from "./sqlite-driver.js";
export { FairQueue } from "./fair-queue.js";
export { startCheckpointer, type Checkpointer, type CheckpointOptions, type CheckpointStats } from "./sqlite-checkpointer.js";
export { compiledStatement } from "./compiled-statement.js";
export { databaseUnavailable, isDatabaseUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from "./database-unavailable.js";
export { filterRunsInSql, filterToSql, narrowedByIndex, referencesMembership, type FilterSqlOptions } from "./filter-sql.js";
export { migrateScimTables, runMigrations, scimMigrations, type MigrationSet } from "./migrations.js";
export { fillLeftOut, jsonWithinShare, referenceWeights, type ReferenceWeight } from "./page-budget.js";
export { orderBySql, sortKeySql, type SortKeySql, type SortSqlOptions } from "./sort-sql.js";
export {
  ConcurrentChangeError,
  createSqlStore,
  isConcurrentChange,
  sqlStore,
  type ImportedResource,
  type OutboxEvent,
  type OutboxEventPage,
  type ReadEventsOptions,
  type PasswordTarget,
  type SqlScimStore,
  type SqlStoreOptions,
} from "./sql-store.js";
export type { ScimDatabase } from "./tables.js";
export { RESTORED_POSITION_GAP, restartPositions, type PositionCounter } from "./outbox-position.js";

/**
 * scim-store-sql: durable SCIM 2.0 storage for scim-core on SQLite and PostgreSQL.
 * @packageDocumentation
 */
export { openDatabase, openPostgres, openSqlite, type PostgresOptions, type ScimSqlDatabase, type SqlDialectName, type SqliteOptions } from "./dialect.js";
export { migrateScimTables, scimMigrations } from "./migrations.js";
export type { ScimDatabase } from "./tables.js";

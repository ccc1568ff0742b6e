/**
 * Versioned migrations of the directory tables (Kysely's migrator, its own history table
 * `dir_migrations`). scim-store-sql's tables are migrated by scim-store-sql. Never edit a released
 * migration: add one.
 */
import { sql, type Kysely, type Migration } from "kysely";
import { runMigrations, type SqlDialectName } from "scim-store-sql";

type AnyDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function migration0001(dialect: SqlDialectName): Migration {
  const pg = dialect === "postgres";
  const json = pg ? "jsonb" : "text";
  const serial = pg ? "bigserial" : "integer";
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable("dir_directories")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("organization_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("settings", sql.raw(json), (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("dir_directories_organization").on("dir_directories").columns(["organization_id", "created_at"]).execute();

      await db.schema
        .createTable("dir_tokens")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("directory_id", "text", (c) => c.notNull())
        .addColumn("token_hash", "text", (c) => c.notNull().unique())
        .addColumn("hint", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("expires_at", "text")
        .addColumn("revoked_at", "text")
        .addColumn("last_used_at", "text")
        .execute();
      await db.schema.createIndex("dir_tokens_directory").on("dir_tokens").columns(["directory_id", "created_at"]).execute();

      await db.schema
        .createTable("dir_role_mappings")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("directory_id", "text", (c) => c.notNull())
        .addColumn("group_match", "text", (c) => c.notNull())
        .addColumn("group_value", "text", (c) => c.notNull())
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("dir_role_mappings_unique")
        .unique()
        .on("dir_role_mappings")
        .columns(["directory_id", "group_match", "group_value", "role"])
        .execute();

      await db.schema
        .createTable("dir_user_roles")
        .addColumn("directory_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("roles", sql.raw(json), (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("dir_user_roles_pk", ["directory_id", "user_id"])
        .execute();

      await db.schema
        .createTable("dir_audit_log")
        .addColumn("seq", sql.raw(serial), (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn("id", "text", (c) => c.notNull().unique())
        .addColumn("at", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("directory_id", "text")
        .addColumn("actor", "text")
        .addColumn("method", "text", (c) => c.notNull())
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("status", "integer", (c) => c.notNull())
        .addColumn("duration_ms", sql.raw(pg ? "double precision" : "real"), (c) => c.notNull())
        .addColumn("resource_id", "text")
        .addColumn("detail", sql.raw(json))
        .execute();
      await db.schema.createIndex("dir_audit_log_directory").on("dir_audit_log").columns(["directory_id", "seq"]).execute();
      await db.schema.createIndex("dir_audit_log_at").on("dir_audit_log").columns(["at"]).execute();

      await db.schema
        .createTable("dir_settings")
        .addColumn("key", "text", (c) => c.primaryKey())
        .addColumn("value", "text", (c) => c.notNull())
        .execute();
    },
    async down(db: AnyDb) {
      for (const table of ["dir_settings", "dir_audit_log", "dir_user_roles", "dir_role_mappings", "dir_tokens", "dir_directories"]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}

/** `dir_user_groups` as migration 0002 made it (0003 drops it; its `down` makes it again). */
async function createUserGroupsTable(db: AnyDb): Promise<void> {
  await db.schema
    .createTable("dir_user_groups")
    .addColumn("directory_id", "text", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("group_id", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("dir_user_groups_pk", ["directory_id", "user_id", "group_id"])
    .execute();
  await db.schema.createIndex("dir_user_groups_group").on("dir_user_groups").columns(["directory_id", "group_id"]).execute();
}

/**
 * Role computation and provisioning links: each user's group closure (`dir_user_groups`), links
 * by email (`dir_user_links`), and the displayName of a role mapping as entered.
 */
function migration0002(): Migration {
  return {
    async up(db: AnyDb) {
      await createUserGroupsTable(db);

      await db.schema
        .createTable("dir_user_links")
        .addColumn("directory_id", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("linked_directory_id", "text", (c) => c.notNull())
        .addColumn("linked_user_id", "text", (c) => c.notNull())
        .addColumn("email", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("dir_user_links_pk", ["directory_id", "user_id"])
        .execute();
      await db.schema.createIndex("dir_user_links_linked").on("dir_user_links").columns(["linked_directory_id", "linked_user_id"]).execute();

      await db.schema.alterTable("dir_role_mappings").addColumn("group_display_name", "text").execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable("dir_role_mappings").dropColumn("group_display_name").execute();
      await db.schema.dropTable("dir_user_links").ifExists().execute();
      await db.schema.dropTable("dir_user_groups").ifExists().execute();
    },
  };
}

/**
 * Users' group closures are no longer stored (`dir_user_groups`): roles are computed from the
 * membership rows, each group's closure once per recomputation (see roles.ts).
 */
function migration0003(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.dropTable("dir_user_groups").ifExists().execute();
    },
    async down(db: AnyDb) {
      await createUserGroupsTable(db);
    },
  };
}

/**
 * Each directory's SCIM requests counted by the hour (`dir_scim_activity`), as the audit log
 * writes them: the sync status sums 25 rows instead of reading every entry of the last 24 hours
 * (105 ms for 430,000 requests, on SQLite time in which the server answered nothing else). Filled
 * from the audit entries of the last 25 hours.
 */
function migration0004(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable("dir_scim_activity")
        .addColumn("directory_id", "text", (c) => c.notNull())
        .addColumn("hour", "text", (c) => c.notNull())
        .addColumn("requests", "integer", (c) => c.notNull())
        .addColumn("client_errors", "integer", (c) => c.notNull())
        .addColumn("server_errors", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint("dir_scim_activity_pk", ["directory_id", "hour"])
        .execute();
      const from = new Date(Date.now() - 25 * 3_600_000).toISOString();
      // The weight of an entry as the audit log counts it (audit.ts, activityWeight).
      const weight = sql`(case when detail ->> 'operations' is not null then 0 else coalesce(cast(detail ->> 'repeated' as integer), 1) end)`;
      await sql`insert into dir_scim_activity (directory_id, hour, requests, client_errors, server_errors)
        select directory_id, substr(at, 1, 13), sum(${weight}),
          sum(case when status >= 400 and status < 500 then ${weight} else 0 end),
          sum(case when status >= 500 then ${weight} else 0 end)
        from dir_audit_log where kind = 'scim' and directory_id is not null and at >= ${from}
        group by directory_id, substr(at, 1, 13)`.execute(db);
    },
    async down(db: AnyDb) {
      await db.schema.dropTable("dir_scim_activity").ifExists().execute();
    },
  };
}

/** The migrations of scim-directory for one dialect, by name (names sort in the order they run). */
export function directoryMigrations(dialect: SqlDialectName): Record<string, Migration> {
  return {
    "0001_directory_tables": migration0001(dialect),
    "0002_roles_and_links": migration0002(),
    "0003_no_stored_closures": migration0003(),
    "0004_scim_activity": migration0004(),
  };
}

/** Brings the directory tables to the latest version (idempotent, safe from several processes). */
export async function migrateDirectoryTables(db: AnyDb, dialect: SqlDialectName, options: { schema?: string } = {}): Promise<void> {
  await runMigrations(db, dialect, {
    migrations: directoryMigrations(dialect),
    tableName: "dir_migrations",
    lockTableName: "dir_migrations_lock",
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
  });
}

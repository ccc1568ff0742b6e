/**
 * Versioned migrations, run by {@link migrate} (and by `sqlStore({ migrate: true })` on start).
 * Kysely's Migrator records what ran in `scim_migrations` and takes a lock (on SQLite, the
 * `BEGIN IMMEDIATE` of one transaction), so several processes starting together on one database
 * migrate once. Never edit a released migration: add one.
 */
import { randomBytes } from "node:crypto";
import { Kysely, Migrator, sql, type Migration, type MigrationProvider, type MigrationResultSet } from "kysely";
import type { SqlDialectName } from "./dialect.js";
import { latestOutboxPosition } from "./outbox-position.js";

type AnyDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function migration0001(dialect: SqlDialectName): Migration {
  const pg = dialect === "postgres";
  const bool = pg ? "boolean" : "integer";
  const json = pg ? "jsonb" : "text";
  const serial = pg ? "bigserial" : "integer";
  const falsy = pg ? sql`false` : sql`0`;
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable("scim_resources")
        .addColumn("seq", sql.raw(serial), (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("resource_type", "text", (c) => c.notNull())
        .addColumn("id", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("user_name", "text")
        .addColumn("user_name_lower", "text")
        .addColumn("external_id", "text")
        .addColumn("display_name", "text")
        .addColumn("display_name_lower", "text")
        .addColumn("active", sql.raw(bool))
        .addColumn("deleted", sql.raw(bool), (c) => c.notNull().defaultTo(falsy))
        .addColumn("user_name_key", "text")
        .addColumn("display_name_key", "text")
        .addColumn("created", "text", (c) => c.notNull())
        .addColumn("last_modified", "text", (c) => c.notNull())
        .addColumn("doc", sql.raw(json), (c) => c.notNull())
        .execute();
      // Ids are unique per tenant, deleted rows included (an id is never reused).
      await db.schema.createIndex("scim_resources_id").unique().on("scim_resources").columns(["tenant", "id"]).execute();
      // Uniqueness over live rows only: a deleted resource frees its userName (RFC 7644 §3.6).
      await db.schema
        .createIndex("scim_resources_user_name_key")
        .unique()
        .on("scim_resources")
        .columns(["tenant", "resource_type", "user_name_key"])
        .where(sql.ref("deleted"), "=", falsy)
        .execute();
      await db.schema
        .createIndex("scim_resources_display_name_key")
        .unique()
        .on("scim_resources")
        .columns(["tenant", "resource_type", "display_name_key"])
        .where(sql.ref("deleted"), "=", falsy)
        .execute();
      // Lookups and ranges (eq, sw, gt...) on the common attributes, and the default list order.
      for (const column of ["user_name_lower", "external_id", "display_name_lower", "seq", "created", "last_modified"]) {
        await db.schema
          .createIndex(`scim_resources_${column}`)
          .on("scim_resources")
          .columns(["tenant", "resource_type", column])
          .where(sql.ref("deleted"), "=", falsy)
          .execute();
      }

      await db.schema
        .createTable("scim_emails")
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("resource_id", "text", (c) => c.notNull())
        .addColumn("position", "integer", (c) => c.notNull())
        .addColumn("value", "text")
        .addColumn("value_lower", "text")
        .addColumn("type_lower", "text")
        .addColumn("is_primary", sql.raw(bool), (c) => c.notNull().defaultTo(falsy))
        .addPrimaryKeyConstraint("scim_emails_pk", ["tenant", "resource_id", "position"])
        .execute();
      await db.schema.createIndex("scim_emails_value_lower").on("scim_emails").columns(["tenant", "value_lower"]).execute();

      await db.schema
        .createTable("scim_unique_keys")
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("resource_type", "text", (c) => c.notNull())
        .addColumn("attribute", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addColumn("resource_id", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("scim_unique_keys_pk", ["tenant", "resource_type", "attribute", "value"])
        .execute();
      await db.schema.createIndex("scim_unique_keys_resource").on("scim_unique_keys").columns(["tenant", "resource_id"]).execute();

      await db.schema
        .createTable("scim_members")
        .addColumn("seq", sql.raw(serial), (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("group_id", "text", (c) => c.notNull())
        .addColumn("member_id", "text", (c) => c.notNull())
        .addColumn("member_type", "text")
        .addColumn("display", "text")
        .execute();
      await db.schema.createIndex("scim_members_group").unique().on("scim_members").columns(["tenant", "group_id", "member_id"]).execute();
      await db.schema.createIndex("scim_members_member").on("scim_members").columns(["tenant", "member_id"]).execute();

      await db.schema
        .createTable("scim_counts")
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("resource_type", "text", (c) => c.notNull())
        .addColumn("live", "integer", (c) => c.notNull())
        .addPrimaryKeyConstraint("scim_counts_pk", ["tenant", "resource_type"])
        .execute();

      await db.schema
        .createTable("scim_outbox")
        .addColumn("seq", sql.raw(serial), (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn("id", "text", (c) => c.notNull().unique())
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("resource_type", "text", (c) => c.notNull())
        .addColumn("resource_id", "text", (c) => c.notNull())
        .addColumn("occurred_at", "text", (c) => c.notNull())
        .addColumn("payload", sql.raw(json), (c) => c.notNull())
        .execute();
      await db.schema.createIndex("scim_outbox_tenant").on("scim_outbox").columns(["tenant", "seq"]).execute();
    },
    async down(db: AnyDb) {
      for (const table of ["scim_outbox", "scim_counts", "scim_members", "scim_unique_keys", "scim_emails", "scim_resources"]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}

/**
 * PostgreSQL compares text by its locale unless told otherwise, which neither orders like
 * JavaScript nor lets a B-tree serve `sw` ranges and sorted lists: the filtered and sorted text
 * columns use code-point order (`COLLATE "C"`, SQLite's BINARY). Nothing to do on SQLite.
 */
function migration0002(dialect: SqlDialectName): Migration {
  const columns: Array<[string, string]> = [
    ["scim_resources", "user_name"],
    ["scim_resources", "user_name_lower"],
    ["scim_resources", "external_id"],
    ["scim_resources", "display_name"],
    ["scim_resources", "display_name_lower"],
    ["scim_emails", "value"],
    ["scim_emails", "value_lower"],
    ["scim_emails", "type_lower"],
  ];
  return {
    async up(db: AnyDb) {
      if (dialect !== "postgres") return;
      for (const [table, column] of columns) await sql.raw(`alter table ${table} alter column ${column} type text collate "C"`).execute(db);
    },
    async down(db: AnyDb) {
      if (dialect !== "postgres") return;
      for (const [table, column] of columns) await sql.raw(`alter table ${table} alter column ${column} type text collate "default"`).execute(db);
    },
  };
}

/**
 * PostgreSQL: outbox events get their reading position (`position`) once they are committed, so
 * that positions follow commit order. A `seq` is taken when the row is inserted, but concurrent
 * transactions commit in any order: a reader that had passed seq 2 would never see a seq 1
 * committed after it. Readers position the committed events that have none (see `readEvents`);
 * events already there keep their seq as position, so cursors handed out stay valid. Nothing to
 * do on SQLite, where one write transaction runs at a time and seq is commit order.
 */
function migration0003(dialect: SqlDialectName): Migration {
  return {
    async up(db: AnyDb) {
      if (dialect !== "postgres") return;
      await sql`alter table scim_outbox add column position bigint`.execute(db);
      await sql`update scim_outbox set position = seq`.execute(db);
      await sql`create sequence scim_outbox_position_seq`.execute(db);
      await sql`select setval('scim_outbox_position_seq', coalesce((select max(seq) from scim_outbox), 0) + 1, false)`.execute(db);
      await sql`create unique index scim_outbox_position on scim_outbox (position)`.execute(db);
      await sql`create index scim_outbox_tenant_position on scim_outbox (tenant, position)`.execute(db);
      await sql`create index scim_outbox_unpositioned on scim_outbox (seq) where position is null`.execute(db);
    },
    async down(db: AnyDb) {
      if (dialect !== "postgres") return;
      await sql`alter table scim_outbox drop column position`.execute(db);
      await sql`drop sequence scim_outbox_position_seq`.execute(db);
    },
  };
}

/**
 * How far `pruneEvents` has deleted each tenant's events (`scim_outbox_pruned`, a row per tenant):
 * a reader whose cursor is behind it may have missed events, and is told so rather than handed
 * the events after the gap as if nothing were missing. A database pruned before this migration
 * gets the row of tenant `''` (every tenant): the events below the oldest one kept.
 */
function migration0005(dialect: SqlDialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable("scim_outbox_pruned")
        .addColumn("tenant", "text", (c) => c.primaryKey())
        .addColumn("pruned_through", "bigint", (c) => c.notNull())
        .execute();
      const column = dialect === "sqlite" ? "seq" : "position";
      const oldest = (await sql<{ oldest: number | string | null }>`select min(${sql.ref(column)}) as oldest from scim_outbox`.execute(db)).rows[0]?.oldest;
      const through = oldest !== null && oldest !== undefined ? Number(oldest) - 1 : await latestOutboxPosition(db, dialect);
      if (through > 0) await sql`insert into scim_outbox_pruned (tenant, pruned_through) values ('', ${through})`.execute(db);
    },
    async down(db: AnyDb) {
      await db.schema.dropTable("scim_outbox_pruned").ifExists().execute();
    },
  };
}

/**
 * A member's groups are read through an index that holds the group too (`tenant, member_id,
 * group_id`), so that the index answers them alone. Before, only `scim_members_group` (`tenant,
 * group_id, member_id`) held both columns: where SQLite had no statistics for the members table
 * (it was empty at the last ANALYZE), it preferred that one and read every membership of the
 * tenant for each member looked up. Adding 8,000 members to a group with a role mapping took
 * 10 s, growing with the square of the members.
 */
function migration0004(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.createIndex("scim_members_member_group").on("scim_members").columns(["tenant", "member_id", "group_id"]).execute();
      await db.schema.dropIndex("scim_members_member").execute();
    },
    async down(db: AnyDb) {
      await db.schema.createIndex("scim_members_member").on("scim_members").columns(["tenant", "member_id"]).execute();
      await db.schema.dropIndex("scim_members_member_group").execute();
    },
  };
}

/**
 * Secrets of the database, made once by this migration: `cursor`, the AES-256 key that seals
 * list cursors (they hold a position in `scim_resources`, numbered across tenants: in clear, a
 * tenant paging its users could tell how many resources the others had written between two of its
 * own). Every process on the database shares it, so any of them continues another's cursor.
 */
function migration0006(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable("scim_secrets")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("value", "text", (c) => c.notNull())
        .execute();
      await sql`insert into scim_secrets (name, value) values ('cursor', ${randomBytes(32).toString("hex")})`.execute(db);
    },
    async down(db: AnyDb) {
      await db.schema.dropTable("scim_secrets").ifExists().execute();
    },
  };
}

/**
 * The soft-deleted rows of a tenant and type, in creation order: what `purgeDeletedBefore` reads
 * (every other index holds live rows only, so it walked the whole tenant: 300 ms on 100,000 users
 * for a handful of deleted ones).
 */
function migration0007(dialect: SqlDialectName): Migration {
  const truthy = dialect === "postgres" ? sql`true` : sql`1`;
  return {
    async up(db: AnyDb) {
      await db.schema.createIndex("scim_resources_deleted").on("scim_resources").columns(["tenant", "resource_type", "seq"]).where(sql.ref("deleted"), "=", truthy).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropIndex("scim_resources_deleted").execute();
    },
  };
}

/** The migrations of scim-store-sql for one dialect, by name (names sort in the order they run). */
export function scimMigrations(dialect: SqlDialectName): Record<string, Migration> {
  return {
    "0001_scim_tables": migration0001(dialect),
    "0002_code_point_collation": migration0002(dialect),
    "0003_outbox_commit_order": migration0003(dialect),
    "0004_members_by_member_covering": migration0004(),
    "0005_outbox_pruned": migration0005(dialect),
    "0006_secrets": migration0006(),
    "0007_deleted_resources_index": migration0007(dialect),
  };
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(this.migrations);
  }
}

/** What {@link runMigrations} runs, and where it keeps their history. */
export interface MigrationSet {
  /** The migrations by name (names sort in the order they run). */
  migrations: Record<string, Migration>;
  /** The history table and its lock table. */
  tableName: string;
  lockTableName: string;
  /** The PostgreSQL schema of the tables; by default the connection's current schema. */
  schema?: string;
}

/**
 * Runs the migrations not yet recorded, safe from several processes at once (PostgreSQL: Kysely's
 * migration lock; SQLite: one `BEGIN IMMEDIATE` transaction, see `sqlite-driver.ts`); throws when
 * one fails. On PostgreSQL the history tables are looked for in
 * one schema, the given one or else the connection's current one (`public` by default): Kysely
 * otherwise looks for them by name in every schema, and with another schema's tables in the same
 * database (a second app, or a test schema) it found those, skipped creating its own, and failed
 * with "relation ... does not exist".
 */
export async function runMigrations(db: AnyDb, dialect: SqlDialectName, set: MigrationSet): Promise<MigrationResultSet> {
  const schema = set.schema ?? (dialect === "postgres" ? await currentSchema(db) : undefined);
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(set.migrations),
    migrationTableName: set.tableName,
    migrationLockTableName: set.lockTableName,
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error instanceof Error ? result.error : new Error(String(result.error));
  return result;
}

/** PostgreSQL's `current_schema()`: the first schema of the search path that exists, if any. */
async function currentSchema(db: AnyDb): Promise<string | undefined> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  return rows[0]?.schema ?? undefined;
}

/**
 * Brings the database to the latest schema version (in `options.schema` on PostgreSQL, when the
 * tables live in a schema of their own; `openPostgres({ schema })` sets it on its handle). Safe to
 * call on every start and from several processes at once. Throws when a
 * migration fails.
 */
export function migrateScimTables(db: AnyDb, dialect: SqlDialectName, options: { schema?: string } = {}): Promise<MigrationResultSet> {
  return runMigrations(db, dialect, {
    migrations: scimMigrations(dialect),
    tableName: "scim_migrations",
    lockTableName: "scim_migrations_lock",
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
  });
}

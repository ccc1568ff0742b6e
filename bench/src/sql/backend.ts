/**
 * What the benchmark needs from one database: the scim-store-sql store on it, loaded with the
 * data set, and the same requests written by hand as raw prepared statements through the same
 * driver (the physical limit), plus EXPLAIN of any statement.
 */
import type { SqlScimStore } from "scim-store-sql";

/** A row as the raw statements return it, after the same work as the store (the doc parsed). */
export interface RawRow {
  seq: number;
  id: string;
  attributes: Record<string, unknown>;
}

/** The hand-written statements (all prepared once, all on the store's indexes). */
export interface RawQueries {
  /** `userName eq`: on scim_resources_user_name_lower (the value lower-cased by the caller). */
  byUserName(lower: string, count: number): Promise<RawRow[]>;
  /** `externalId eq` (caseExact): on scim_resources_external_id. */
  byExternalId(externalId: string, count: number): Promise<RawRow[]>;
  /** `emails[type eq "work" and value eq ...]`: scim_emails_value_lower, then the row by id. */
  byWorkEmail(lower: string, count: number): Promise<RawRow[]>;
  /** A page in creation order at an offset (LIMIT/OFFSET on scim_resources_seq). */
  pageAtOffset(offset: number, count: number): Promise<RawRow[]>;
  /** A page in creation order after a seq (keyset, on scim_resources_seq). */
  pageAfterSeq(seq: number, count: number): Promise<RawRow[]>;
  /** The seq of the row at `offset` in creation order (setup, untimed). */
  seqAt(offset: number): Promise<number>;
  /** The member delta of a PATCH, as the store does it: bump the group's version, insert/delete one member row, in one transaction. */
  addMember(groupId: string, memberId: string): Promise<void>;
  removeMember(groupId: string, memberId: string): Promise<void>;
}

/** The raw queries that are one SELECT (those EXPLAIN can show). */
export type RawQueryName = "byUserName" | "byExternalId" | "byWorkEmail" | "pageAtOffset" | "pageAfterSeq";

/** A statement and its parameters, as the store sent it (captured with Kysely's `log`). */
export interface Statement {
  sql: string;
  parameters: readonly unknown[];
}

export interface Backend {
  dialect: "sqlite" | "postgres";
  /** For the report (driver, where the data lives). */
  description: string;
  store: SqlScimStore;
  raw: RawQueries;
  /** The database already holds the data set (kept from an earlier run with BENCH_SQL_KEEP=1). */
  loaded: boolean;
  /** Records that the data set is loaded (only with BENCH_SQL_KEEP=1). */
  markLoaded(): void | Promise<void>;
  /**
   * Runs `work` on a second store over the same database whose statements are captured, and
   * returns them (to EXPLAIN what the store really sends).
   */
  capture(work: (store: SqlScimStore) => Promise<unknown>): Promise<Statement[]>;
  /** The query plan of a statement (EXPLAIN QUERY PLAN on SQLite; EXPLAIN ANALYZE on PostgreSQL). */
  explain(statement: Statement): Promise<string>;
  /** The hand-written statement behind a raw query, with the parameters for these arguments. */
  rawStatement(name: RawQueryName, ...args: unknown[]): Statement;
  /** Before loading (bulk-load settings, if any). */
  beforeLoad(): Promise<void>;
  /** After loading: maintenance a deployment would have (PostgreSQL: VACUUM ANALYZE, as autovacuum would). */
  afterLoad(): Promise<string>;
  /** Bytes on disk (database file + WAL, or the schema's relations). */
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

/** The tenant-independent columns the store selects for a resource. */
export const RESOURCE_SELECT = "seq, id, resource_type, version, created, last_modified, doc";

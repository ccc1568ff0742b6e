import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from "kysely";
import { describe, expect, it } from "vitest";
import { renderSql, sql, toKysely } from "./sql-text.js";

/** Kysely instances that only compile (no database). */
const compilers = {
  sqlite: new Kysely<never>({ dialect: { createAdapter: () => new SqliteAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (db) => new SqliteIntrospector(db), createQueryCompiler: () => new SqliteQueryCompiler() } }),
  postgres: new Kysely<never>({ dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (db) => new PostgresIntrospector(db), createQueryCompiler: () => new PostgresQueryCompiler() } }),
};

describe("sql-text", () => {
  const inner = sql`m.value_lower = ${"a@example.com"} and m.type_lower = ${"work"}`;
  const statement = sql`select r.id from scim_resources r where r.tenant = ${"t1"} and (${sql.join([inner, sql`r.seq > ${42}`, sql.raw("r.deleted = 0")], sql.raw(" or "))}) limit ${100}`;

  it("writes the text once with each dialect's placeholders, values in order and never in the text", () => {
    expect(renderSql(statement, "sqlite")).toEqual({
      sql: "select r.id from scim_resources r where r.tenant = ? and (m.value_lower = ? and m.type_lower = ? or r.seq > ? or r.deleted = 0) limit ?",
      parameters: ["t1", "a@example.com", "work", 42, 100],
    });
    expect(renderSql(statement, "postgres")).toEqual({
      sql: "select r.id from scim_resources r where r.tenant = $1 and (m.value_lower = $2 and m.type_lower = $3 or r.seq > $4 or r.deleted = 0) limit $5",
      parameters: ["t1", "a@example.com", "work", 42, 100],
    });
    // A value that looks like SQL is still a parameter.
    expect(renderSql(sql`a = ${"'; drop table x; --"}`, "sqlite")).toEqual({ sql: "a = ?", parameters: ["'; drop table x; --"] });
    expect(renderSql(sql.join([]), "sqlite")).toEqual({ sql: "", parameters: [] });
    expect(renderSql(sql.join([sql`a`, 1, sql`b`]), "postgres")).toEqual({ sql: "a, $1, b", parameters: [1] });
  });

  it("hands Kysely the same statement (toKysely), for each dialect", () => {
    for (const dialect of ["sqlite", "postgres"] as const) {
      const compiled = toKysely(statement).compile(compilers[dialect]);
      const rendered = renderSql(statement, dialect);
      expect(compiled.sql).toBe(rendered.sql);
      expect(compiled.parameters).toEqual(rendered.parameters);
    }
  });
});

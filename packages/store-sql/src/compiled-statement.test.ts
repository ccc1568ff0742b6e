import Database from "better-sqlite3";
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, SqliteDialect, type CompiledQuery } from "kysely";
import { describe, expect, it } from "vitest";
import { compiledStatement } from "./compiled-statement.js";

interface Db {
  counter: { name: string; total: number; note: string | null };
}

/** A Kysely that records what it runs: SQLite in memory, or PostgreSQL's compiler over a dummy driver. */
function recording(dialect: "sqlite" | "postgres") {
  const ran: CompiledQuery[] = [];
  const db = new Kysely<Db>({
    dialect:
      dialect === "sqlite"
        ? new SqliteDialect({ database: new Database(":memory:") })
        : { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => new PostgresQueryCompiler() },
    log: (event) => void ran.push(event.query),
  });
  return { db, ran };
}

const upsert = compiledStatement<Db, "name" | "total" | "note">(["name", "total", "note"], (db, v) =>
  db
    .insertInto("counter")
    .values({ name: v.name, total: v.total, note: v.note })
    .onConflict((oc) => oc.column("name").doUpdateSet({ total: sql`counter.total + ${v.total}`, note: "updated" })),
);

describe("compiledStatement", () => {
  it("runs the SQL Kysely writes, with each argument where Kysely puts it (repeated arguments and constants included)", async () => {
    for (const dialect of ["sqlite", "postgres"] as const) {
      const { db, ran } = recording(dialect);
      if (dialect === "sqlite") await sql`create table counter (name text primary key, total integer not null, note text)`.execute(db);
      ran.length = 0;
      await upsert(db, dialect, { name: "a", total: 2, note: null });
      await upsert(db, dialect, { name: "a", total: 5, note: "x" });
      const expected = db
        .insertInto("counter")
        .values({ name: "a", total: 5, note: "x" })
        .onConflict((oc) => oc.column("name").doUpdateSet({ total: sql`counter.total + ${5}`, note: "updated" }))
        .compile();
      expect(ran.map((q) => q.sql)).toEqual([expected.sql, expected.sql]);
      expect(ran[1]!.parameters).toEqual(expected.parameters);
      expect(ran[0]!.parameters).toEqual(["a", 2, null, 2, "updated"]);
      if (dialect === "sqlite") expect(await db.selectFrom("counter").selectAll().execute()).toEqual([{ name: "a", total: 7, note: "updated" }]);
      await db.destroy();
    }
  });

  it("works inside a transaction, which it runs on", async () => {
    const { db } = recording("sqlite");
    await sql`create table counter (name text primary key, total integer not null, note text)`.execute(db);
    await expect(
      db.transaction().execute(async (trx) => {
        await upsert(trx, "sqlite", { name: "b", total: 1, note: null });
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await db.selectFrom("counter").selectAll().execute()).toEqual([]);
    await db.destroy();
  });

  it("refuses, at its first use, a builder that does not pass an argument to Kysely as a value", async () => {
    const { db } = recording("sqlite");
    const spliced = compiledStatement<Db, "name">(["name"], (k, v) => k.selectFrom("counter").selectAll().where(sql.raw<boolean>(`name = '${v.name}'`)));
    await expect(spliced(db, "sqlite", { name: "a" })).rejects.toThrow(/must pass each of its arguments \(name\)/);
    const transformed = compiledStatement<Db, "name">(["name"], (k, v) => k.selectFrom("counter").selectAll().where("name", "=", String(v.name).toUpperCase()));
    await expect(transformed(db, "sqlite", { name: "a" })).rejects.toThrow(/must pass each of its arguments/);
    await db.destroy();
  });
});

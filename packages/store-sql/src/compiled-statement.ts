/**
 * Statements of a fixed shape, compiled by Kysely once per dialect and then only bound to new
 * arguments: the store's hot writes (a created resource, its event, the live count) no longer
 * build and compile a query tree per request. Measured in the directory benchmark's profile,
 * building and compiling was about a tenth of the CPU time of a SCIM create; Kysely still writes
 * every statement's SQL.
 *
 * How: the first time a statement runs on a dialect, its builder runs with placeholder
 * arguments (unique strings) and is compiled; each parameter of the compiled query is then either
 * one of the arguments (by name) or a constant of the builder. A builder must pass its
 * arguments to Kysely as they are (as values, not transformed nor spliced into the SQL): one
 * that does not is refused at its first use.
 */
import { CompiledQuery, type Compilable, type Kysely, type QueryResult, type Transaction } from "kysely";
import type { SqlDialectName } from "./dialect.js";

type Executor<DB> = Kysely<DB> | Transaction<DB>;

/** Where a compiled parameter comes from: a named argument, or a constant of the builder. */
type Slot<K> = { argument: K } | { constant: unknown };

interface Template<K> {
  sql: string;
  slots: Slot<K>[];
}

const PLACEHOLDER = "\u0000scim-store-sql:argument:";

/**
 * A statement whose shape never changes: `build(db, args, dialect)` is a Kysely query over the
 * named arguments `keys`; the returned function runs it on an executor (a Kysely instance or a
 * transaction) of the given dialect with new arguments. Arguments are bound as they are: pass
 * `null`, not `undefined`, for a missing value. The SQL is kept per dialect name, as compiled by
 * the first executor: use one only with Kysely instances of the same configuration (plugins that
 * rewrite queries, `withSchema`); result-transforming plugins are not applied to its rows.
 *
 * @example
 * type Db = { events: { id: string; payload: string } };
 * const insertEvent = compiledStatement<Db, "id" | "payload">(["id", "payload"], (db, v) => db.insertInto("events").values(v));
 * await insertEvent(trx, "sqlite", { id, payload });
 */
export function compiledStatement<DB, K extends string>(
  keys: readonly K[],
  build: (db: Executor<DB>, args: Record<K, never>, dialect: SqlDialectName) => Compilable,
): <R = unknown>(db: Executor<DB>, dialect: SqlDialectName, args: Record<K, unknown>) => Promise<QueryResult<R>> {
  const templates = new Map<SqlDialectName, Template<K>>();
  const byPlaceholder = new Map<string, K>(keys.map((key) => [`${PLACEHOLDER}${key}`, key]));
  const templateFor = (db: Executor<DB>, dialect: SqlDialectName): Template<K> => {
    let template = templates.get(dialect);
    if (template === undefined) {
      const placeholders = Object.fromEntries(keys.map((key) => [key, `${PLACEHOLDER}${key}`])) as Record<K, never>;
      const compiled = build(db, placeholders, dialect).compile();
      const seen = new Set<K>();
      const slots = compiled.parameters.map((parameter): Slot<K> => {
        const key = typeof parameter === "string" ? byPlaceholder.get(parameter) : undefined;
        if (key === undefined) return { constant: parameter };
        seen.add(key);
        return { argument: key };
      });
      if (seen.size !== keys.length || compiled.sql.includes(PLACEHOLDER)) {
        throw new Error(`compiledStatement: the builder must pass each of its arguments (${keys.join(", ")}) to Kysely as a value: ${compiled.sql}`);
      }
      template = { sql: compiled.sql, slots };
      templates.set(dialect, template);
    }
    return template;
  };
  return async <R>(db: Executor<DB>, dialect: SqlDialectName, args: Record<K, unknown>) => {
    const { sql, slots } = templateFor(db, dialect);
    const parameters = slots.map((slot) => ("argument" in slot ? args[slot.argument] : slot.constant));
    return db.executeQuery<R>(CompiledQuery.raw(sql, parameters));
  };
}

/**
 * SQL text with bound values, for the statements the store builds per request from a filter or
 * a sort (`filter-sql.ts`, `sort-sql.ts`, the list query of `SqlStore.query`). The `sql` tag here
 * has the shape of Kysely's (`sql\`...\``, `sql.raw`, `sql.join`) but only records its pieces: the
 * text is written once, by {@link renderSql}, with the dialect's placeholders. Kysely builds a
 * frozen operation node per piece, then visits them to compile: measured on the SQL benchmark's
 * `emails[type eq "work" and value eq "…"]` lookup, `Object.freeze` alone was 44% of the time the
 * filter took to translate. The statement still runs through Kysely (`CompiledQuery.raw`), and
 * {@link toKysely} hands a fragment to Kysely's own builders.
 *
 * Values are always bound parameters; only `sql.raw` writes text, and it is given constants of
 * the store, never input.
 */
import { CompiledQuery, sql as kyselySql, type RawBuilder } from "kysely";
import type { SqlDialectName } from "./dialect.js";

/** A piece of SQL: text between values, where a value is a parameter or a nested fragment. */
export class SqlText<T = unknown> {
  /** @internal The type the fragment stands for (as Kysely's `RawBuilder<T>`); never set. */
  declare readonly __type?: T;

  constructor(
    /** The text around the values (one more than `values`). */
    readonly strings: readonly string[],
    /** Parameters, and fragments written in their place. */
    readonly values: readonly unknown[],
  ) {}
}

const EMPTY: readonly unknown[] = [];

/** The tag: `sql\`a = ${value}\`` binds `value`; a nested {@link SqlText} is written in place. */
function tag<T = unknown>(strings: TemplateStringsArray, ...values: unknown[]): SqlText<T> {
  return new SqlText<T>(strings, values);
}

/** Text written as it is (constants of the store only). */
function raw<T = unknown>(text: string): SqlText<T> {
  return new SqlText<T>([text], EMPTY);
}

/** `parts` one after another, `separator` between them (", " by default). */
function join<T = unknown>(parts: readonly unknown[], separator: SqlText = raw(", ")): SqlText<T> {
  if (parts.length === 0) return raw("");
  const strings: string[] = [""];
  const values: unknown[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) {
      values.push(separator);
      strings.push("");
    }
    values.push(parts[i]);
    strings.push("");
  }
  return new SqlText<T>(strings, values);
}

/** Builds {@link SqlText} fragments: a tag, with `raw` and `join`. */
export const sql = Object.assign(tag, { raw, join });

/** A statement's text with its dialect's placeholders (`?`, or `$1`, `$2`... on PostgreSQL), and its parameters. */
export interface RenderedSql {
  sql: string;
  parameters: unknown[];
}

/**
 * The fragment flat: its text pieces, one more than its parameters, with every nested fragment
 * written in place.
 */
function flatten(fragment: SqlText): { strings: string[]; parameters: unknown[] } {
  const strings: string[] = [""];
  const parameters: unknown[] = [];
  const write = (f: SqlText): void => {
    strings[strings.length - 1] += f.strings[0];
    for (let i = 0; i < f.values.length; i++) {
      const value = f.values[i];
      if (value instanceof SqlText) write(value);
      else {
        parameters.push(value);
        strings.push("");
      }
      strings[strings.length - 1] += f.strings[i + 1];
    }
  };
  write(fragment);
  return { strings, parameters };
}

/** Writes `fragment` out for `dialect`. */
export function renderSql(fragment: SqlText, dialect: SqlDialectName): RenderedSql {
  const { strings, parameters } = flatten(fragment);
  let text = strings[0]!;
  for (let i = 1; i < strings.length; i++) text += `${dialect === "postgres" ? `$${i}` : "?"}${strings[i]}`;
  return { sql: text, parameters };
}

/** A statement Kysely runs as it is (`db.executeQuery(...)`). */
export function compiledSql<R>(fragment: SqlText, dialect: SqlDialectName): CompiledQuery<R> {
  const { sql: text, parameters } = renderSql(fragment, dialect);
  return CompiledQuery.raw(text, parameters) as CompiledQuery<R>;
}

/** The fragment as one flat Kysely `RawBuilder` (its text pieces and parameters), for Kysely's own builders. */
export function toKysely<T>(fragment: SqlText<T>): RawBuilder<T> {
  const { strings, parameters } = flatten(fragment);
  return kyselySql<T>(Object.assign(strings, { raw: strings }) as unknown as TemplateStringsArray, ...parameters);
}

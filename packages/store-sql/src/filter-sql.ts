/**
 * Filter push-down (RFC 7644 §3.4.2.2): translates scim-core's filter AST into one SQL boolean
 * expression over `scim_resources AS r`, with exactly the semantics of scim-core's `compileFilter`
 * (the reference), so that a filtered list never loads rows into JavaScript.
 *
 * The resource as `compileFilter` sees it is `{ ...attributes, id, meta: { resourceType, created,
 * lastModified, version: 'W/"<version>"' } }`: the attributes are `r.doc`, `id` is `r.id` and `meta`
 * is built from `r.created`, `r.last_modified` and `r.version`.
 *
 * - The common attributes use their indexed columns, written so that the B-tree indexes serve them:
 *   `userName` (`r.user_name_lower`, the literal lower-cased in JavaScript), `externalId`
 *   (`r.external_id`), the core `displayName` (`r.display_name_lower`), `id`, `meta.created` and
 *   `meta.lastModified` (ISO text in UTC at millisecond precision), `active`, and `emails.value`,
 *   `emails.type`, `emails.primary eq true` and value filters over them on `emails`, through
 *   `r.id IN (SELECT resource_id FROM scim_emails ...)`.
 * - Everything else reads the JSON document: SQLite's `json_each`/`json_type`, PostgreSQL's `jsonb`
 *   operators, `jsonb_typeof`, `jsonb_array_elements` and `jsonb_path_exists`. Every value's JSON type
 *   is checked as `compileFilter` checks JavaScript types (a string literal never matches a number,
 *   `true` never matches `1`), dateTimes are compared as instants (parsed in SQL), multi-valued
 *   attributes match when any element does, and the conditions of a value filter hold on one element.
 * - Two-valued logic: every leaf is true or false, never NULL, so `not (title eq "x")` matches the
 *   resources without a title, as in `compileFilter`.
 * - Values and attribute names are always bound parameters, never SQL text.
 * - `and`/`or` chains are flattened (`logicalOperands`) and joined as a balanced tree, so that
 *   thousands of operands neither overflow the stack nor SQLite's expression depth limit (1000);
 *   operands that read the same member (or the `scim_emails` rows) share one subquery.
 * - Ordering comparisons of text (`gt`/`ge`/`lt`/`le`, and `sw` as the range
 *   `x >= p AND x < p-with-its-last-character-incremented`) use `COLLATE "C"` on PostgreSQL, whose
 *   default collations do not order like JavaScript; its B-tree indexes serve them when the column
 *   itself is `COLLATE "C"`. On SQLite (BINARY collation) the index serves the range as it is.
 * - Case-insensitive strings without a column folded in JavaScript (the JSON document, and `id` or
 *   `externalId` when a schema makes them case-insensitive) are folded in SQL (`SqlDialect.fold`):
 *   on SQLite by `scim_lower`, JavaScript's `toLowerCase` as a function `openSqlite` registers on
 *   its connection (SQLite's `lower()` folds ASCII letters only), so they fold exactly as
 *   `compileFilter` folds (all of Unicode, `Σ` to `ς` at the end of a word); on PostgreSQL by
 *   `lower()`.
 *
 * Domain limits (where the SQL can differ from `compileFilter`):
 * - On PostgreSQL, case folding of strings read from the JSON document follows the database's
 *   `LC_CTYPE` (`lower()`), not JavaScript's `toLowerCase`: non-ASCII letters may fold differently
 *   (`C.UTF-8` folds `É`, `Ä`, `Ö` as JavaScript does, but a final `Σ` to `σ`, not `ς`; the `C`
 *   locale folds ASCII only). The indexed columns are folded in JavaScript when written and are
 *   exact on both databases, as is every folding on SQLite (the database must be opened by
 *   `openSqlite`, which registers `scim_lower`).
 * - Strings are ordered by code point (SQLite's BINARY collation, PostgreSQL's `COLLATE "C"`);
 *   JavaScript's `<` orders by UTF-16 code unit. They differ only between characters above U+FFFF
 *   and characters U+E000..U+FFFF. Strings are well-formed Unicode (no lone surrogates); on
 *   PostgreSQL, stored text cannot hold U+0000 (a literal holding it is handled exactly).
 * - DateTimes compare as instants to the last digit of either fraction, as scim-core's filters do
 *   (`meta` instants are stored in whole milliseconds; a document's dateTime as it was written).
 *   A sort by a document's dateTime orders to the millisecond (ties in creation order).
 * - Resources are in the canonical form the server stores: `emails` elements are objects with a
 *   string `value`/`type` (the `scim_emails` rows), the common attributes are strings/booleans, and
 *   an object never has two keys that differ only in case. Named members of arrays (`length`) are
 *   not read.
 * - `meta.resourceType` is the name of the resource type given in the options.
 * - Group `members` are not in `r.doc`: they are read from the group's `scim_members` rows, without
 *   their `$ref`. The derived User `groups` (direct memberships, RFC 7643 §4.1.2) are read from the
 *   `scim_members` rows that name the user and their live groups, also without `$ref`; see
 *   {@link filterRunsInSql}.
 */
import type { RawBuilder, SqlBool } from "kysely";
import {
  badRequest,
  logicalOperands,
  membersAttributeOf,
  booleanFilterValue,
  numericFilterValue,
  parseDateTime,
  splitDateTime,
  printAttrPath,
  leafFilters,
  referencesAttribute,
  referencesMemberRef,
  type AttributeInfo,
  type AttributeType,
  type CompareOperator,
  type CompiledResourceType,
  type Filter,
  type FilterValue,
} from "scim-core";
import { SQLITE_LOWER, type SqlDialectName } from "./dialect.js";
import { sql, toKysely, type SqlText } from "./sql-text.js";

/** Options of {@link filterToSql}. */
export interface FilterSqlOptions {
  /** The database the SQL is for. */
  dialect: SqlDialectName;
  /** The resource type the filter applies to (`registry.findResourceType(name)`). */
  resourceType: CompiledResourceType;
  /** The tenant of the query: scopes the subqueries on `scim_emails`. */
  tenant: string;
  /**
   * The resource types whose `members` make a user's derived `groups` (those of the registry with
   * a `members` attribute): `groups.value eq` looks its groups up among them. @default ["Group"]
   */
  groupTypes?: readonly string[];
}

/** @internal A SQL fragment. */
export type Sql = SqlText<unknown>;
/** @internal A SQL condition that is always true or false, never NULL. */
export type Cond = SqlText<SqlBool>;

type LeafFilter = Extract<Filter, { type: "compare" | "present" }>;
type ValuePathFilter = Extract<Filter, { type: "valuePath" }>;

// ---------------------------------------------------------------------------------------------
// Dialect primitives

/** JSON value types as `compileFilter` tells them apart (`typeof` and `Array.isArray`). */
type JsonType = "string" | "number" | "boolean" | "true" | "false" | "array" | "object" | "null";

const SQLITE_TYPES: Record<JsonType, string> = {
  string: "= 'text'",
  number: "IN ('integer', 'real')",
  boolean: "IN ('true', 'false')",
  true: "= 'true'",
  false: "= 'false'",
  array: "= 'array'",
  object: "= 'object'",
  null: "= 'null'",
};

/** `jsonb_typeof` tests (`true` and `false` compare the jsonb value instead, see `isType`). */
const PG_TYPES: Record<JsonType, string> = {
  string: "= 'string'",
  number: "= 'number'",
  boolean: "= 'boolean'",
  true: "= 'boolean'",
  false: "= 'boolean'",
  array: "= 'array'",
  object: "= 'object'",
  null: "= 'null'",
};

/**
 * @internal SQL building blocks for one dialect. A JSON value lives in a FROM item (an alias): on
 * SQLite a `json_each`-shaped row (`value`: the SQL value, JSON text for arrays and objects; `type`:
 * the `json_type` name), on PostgreSQL a row with one `jsonb` column `value`.
 */
export class SqlDialect {
  readonly pg: boolean;
  readonly TRUE: Cond;
  readonly FALSE: Cond;
  private aliases = 0;

  constructor(readonly name: SqlDialectName) {
    this.pg = name === "postgres";
    this.TRUE = sql<SqlBool>`${sql.raw(this.pg ? "true" : "1")}`;
    this.FALSE = sql<SqlBool>`${sql.raw(this.pg ? "false" : "0")}`;
  }

  /** A fresh FROM-item alias (generated, never from the filter). */
  alias(prefix: string): Sql {
    return sql.raw(`${prefix}${++this.aliases}`);
  }

  /** A text parameter. */
  text(value: string): Sql {
    return this.pg ? sql`CAST(${value} AS text)` : sql`${value}`;
  }

  /** A number parameter (compared with JSON numbers and instants). */
  number(value: number): Sql {
    return this.pg ? sql`CAST(${String(value)} AS numeric)` : sql`${value}`;
  }

  /** An integer parameter (string lengths). */
  int(value: number): Sql {
    return this.pg ? sql`CAST(${value} AS integer)` : sql`${value}`;
  }

  /**
   * `x` lower-cased in SQL: on SQLite JavaScript's `toLowerCase` ({@link SQLITE_LOWER}, registered
   * by `openSqlite`), on PostgreSQL `lower()` (its `LC_CTYPE`). Only for text that has no column
   * folded in JavaScript: an index on a column does not serve a function of it.
   */
  fold(x: Sql): Sql {
    return this.pg ? sql`lower(${x})` : sql`${sql.raw(SQLITE_LOWER)}(${x})`;
  }

  /** Orders text by code point: PostgreSQL's default collation does not order like JavaScript. */
  ordered(expr: Sql): Sql {
    return this.pg ? sql`${expr} COLLATE "C"` : expr;
  }

  not(cond: Cond): Cond {
    return sql<SqlBool>`NOT (${cond})`;
  }

  /** `a AND b AND ...` as a balanced tree (SQLite limits expression depth to 1000). */
  and(parts: readonly Cond[]): Cond {
    return this.balanced(parts, "AND", this.TRUE);
  }

  /** `a OR b OR ...` as a balanced tree. */
  or(parts: readonly Cond[]): Cond {
    return this.balanced(parts, "OR", this.FALSE);
  }

  private balanced(parts: readonly Cond[], op: "AND" | "OR", empty: Cond): Cond {
    const useful = parts.filter((p) => p !== (op === "AND" ? this.TRUE : this.FALSE));
    if (useful.includes(op === "AND" ? this.FALSE : this.TRUE)) return op === "AND" ? this.FALSE : this.TRUE;
    if (useful.length === 0) return empty;
    const joiner = sql.raw(` ${op} `);
    // Groups of up to 64 operands per level keep the depth logarithmic and the text flat.
    let level: Cond[] = useful;
    while (level.length > 1) {
      const next: Cond[] = [];
      for (let i = 0; i < level.length; i += 64) {
        const group = level.slice(i, i + 64);
        next.push(group.length === 1 ? group[0]! : sql<SqlBool>`(${sql.join(group, joiner)})`);
      }
      level = next;
    }
    return level[0]!;
  }

  /** `EXISTS (SELECT 1 FROM <from> WHERE <where>)`. */
  exists(from: Sql, where: readonly Cond[]): Cond {
    return sql<SqlBool>`EXISTS (SELECT 1 FROM ${from} WHERE ${this.and(where)})`;
  }

  // --- strings -------------------------------------------------------------------------------

  /** `x` contains `p`. */
  contains(x: Sql, p: string): Cond {
    if (p === "") return this.TRUE;
    return this.pg ? sql<SqlBool>`strpos(${x}, ${this.text(p)}) > 0` : sql<SqlBool>`instr(${x}, ${p}) > 0`;
  }

  /** `x` starts with `p`: a code-point range, which a B-tree index serves. */
  startsWith(x: Sql, p: string): Cond {
    if (p === "") return this.TRUE;
    const upper = prefixUpperBound(p);
    const lower = sql<SqlBool>`${this.ordered(x)} >= ${this.text(p)}`;
    return upper === undefined ? lower : sql<SqlBool>`${lower} AND ${this.ordered(x)} < ${this.text(upper)}`;
  }

  /**
   * `x` ends with `p`. PostgreSQL counts characters; SQLite compares the UTF-8 bytes (its text
   * functions stop at U+0000), which is exact since a UTF-8 match cannot start inside a character.
   */
  endsWith(x: Sql, p: string): Cond {
    if (p === "") return this.TRUE;
    if (this.pg) return sql<SqlBool>`right(${x}, ${this.int([...p].length)}) = ${this.text(p)}`;
    const bytes = new TextEncoder().encode(p).length;
    // substr of an empty blob is NULL.
    return sql<SqlBool>`COALESCE(substr(CAST(${x} AS BLOB), ${-bytes}) = CAST(${p} AS BLOB), 0)`;
  }

  /** `x <op> p` for gt/ge/lt/le, by code point. */
  order(x: Sql, op: "gt" | "ge" | "lt" | "le", p: string): Cond {
    return sql<SqlBool>`${this.ordered(x)} ${sql.raw(ORDER_SQL[op])} ${this.text(p)}`;
  }

  /** `x = p`. */
  eq(x: Sql, p: string): Cond {
    return sql<SqlBool>`${x} = ${this.text(p)}`;
  }

  /** `x <> p`. */
  ne(x: Sql, p: string): Cond {
    return sql<SqlBool>`${x} <> ${this.text(p)}`;
  }

  // --- JSON values ---------------------------------------------------------------------------

  /** The JSON value in alias `a` has JSON type `t`. */
  isType(a: Sql, t: JsonType): Cond {
    if (this.pg) {
      if (t === "true" || t === "false") return sql<SqlBool>`${a}.value = ${sql.raw(`'${t}'::jsonb`)}`;
      return sql<SqlBool>`jsonb_typeof(${a}.value) ${sql.raw(PG_TYPES[t])}`;
    }
    return sql<SqlBool>`${a}.type ${sql.raw(SQLITE_TYPES[t])}`;
  }

  /** `cond` on the value in alias `a`, evaluated only when it has JSON type `t` (PostgreSQL's casts throw). */
  whenType(a: Sql, t: JsonType, cond: Cond): Cond {
    if (this.pg) return sql<SqlBool>`CASE WHEN ${this.isType(a, t)} THEN COALESCE(${cond}, false) ELSE false END`;
    return sql<SqlBool>`(${this.isType(a, t)} AND COALESCE(${cond}, 0))`;
  }

  /** The text of a JSON string in alias `a`. */
  str(a: Sql): Sql {
    return this.pg ? sql`(${a}.value #>> '{}')` : sql`${a}.value`;
  }

  /** The number of a JSON number in alias `a` (PostgreSQL: only under {@link whenType}). */
  num(a: Sql): Sql {
    return this.pg ? sql`(${a}.value)::numeric` : sql`${a}.value`;
  }

  /** A FROM item (`... AS alias`) holding the member `key` of the object in `parent`. */
  memberFrom(parent: Sql, key: string, alias: Sql): { from: Sql; where: Cond[] } {
    if (key === "__proto__") {
      // JavaScript reads Object.prototype there: an object without members.
      return { from: this.constant(this.pg ? sql`'{}'::jsonb` : sql`'{}'`, "object", alias), where: [this.isType(parent, "object")] };
    }
    if (this.pg) {
      if (key.includes("\u0000")) return { from: this.constant(sql`NULL::jsonb`, "null", alias), where: [this.FALSE] };
      return { from: sql`(SELECT ${parent}.value -> ${this.text(key)} AS value) AS ${alias}`, where: [sql<SqlBool>`${alias}.value IS NOT NULL`] };
    }
    return { from: sql`json_each(CASE WHEN ${parent}.type = 'object' THEN ${parent}.value END) AS ${alias}`, where: [sql<SqlBool>`${alias}.key = ${key}`] };
  }

  /** A FROM item holding the member `key` of the document `r.doc`. */
  docMemberFrom(key: string, alias: Sql): { from: Sql; where: Cond[] } {
    if (key === "__proto__") return { from: this.constant(this.pg ? sql`'{}'::jsonb` : sql`'{}'`, "object", alias), where: [] };
    if (this.pg) {
      if (key.includes("\u0000")) return { from: this.constant(sql`NULL::jsonb`, "null", alias), where: [this.FALSE] };
      return { from: sql`(SELECT r.doc -> ${this.text(key)} AS value) AS ${alias}`, where: [sql<SqlBool>`${alias}.value IS NOT NULL`] };
    }
    return { from: sql`json_each(r.doc) AS ${alias}`, where: [sql<SqlBool>`${alias}.key = ${key}`] };
  }

  /** A FROM item holding the elements of the array in `parent` (none when it is not an array). */
  elementsFrom(parent: Sql, alias: Sql): Sql {
    if (this.pg) {
      return sql`jsonb_array_elements(CASE WHEN jsonb_typeof(${parent}.value) = 'array' THEN ${parent}.value ELSE '[]'::jsonb END) AS ${alias}(value)`;
    }
    return sql`json_each(CASE WHEN ${parent}.type = 'array' THEN ${parent}.value END) AS ${alias}`;
  }

  /** A FROM item holding one computed value: `json` is JSON text (SQLite) or jsonb (PostgreSQL). */
  constant(json: Sql, type: "object" | "array" | "string" | "null", alias: Sql): Sql {
    if (this.pg) return sql`(SELECT ${json} AS value) AS ${alias}`;
    const t = type === "string" ? "text" : type;
    return sql`(SELECT ${json} AS value, ${sql.raw(`'${t}'`)} AS type) AS ${alias}`;
  }

  /**
   * The instant of an xsd:dateTime text as integer milliseconds since the epoch, or NULL when the
   * text is not a valid dateTime: `parseDateTime` of scim-core written in SQL (offsets, `t`/`z` in
   * any case, the Gregorian calendar, days per month), with the fraction cut to milliseconds.
   */
  instant(text: Sql): Sql {
    const int = this.pg ? "bigint" : "INTEGER";
    const digits = (from: number, length: number) => sql.raw(`CAST(substr(t, ${from}, ${length}) AS ${int})`);
    const shape = this.pg
      ? this.TRUE
      : sql<SqlBool>`(t GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*' AND nd <> 0 AND (tz IN ('', 'Z', 'z') OR (length(tz) = 6 AND substr(tz, 1, 1) IN ('+', '-') AND substr(tz, 2) GLOB '[0-9][0-9]:[0-9][0-9]')))`;
    const parts = sql`(SELECT ${digits(1, 4)} AS y, ${digits(6, 2)} AS mo, ${digits(9, 2)} AS d, ${digits(12, 2)} AS h, ${digits(15, 2)} AS mi, ${digits(18, 2)} AS se,
        CASE WHEN nd > 0 THEN CAST(substr(substr(ad, 1, nd) || '00', 1, 3) AS ${sql.raw(int)}) ELSE 0 END AS ms,
        CASE WHEN length(tz) = 6 THEN CAST(substr(tz, 2, 2) AS ${sql.raw(int)}) ELSE 0 END AS oh,
        CASE WHEN length(tz) = 6 THEN CAST(substr(tz, 5, 2) AS ${sql.raw(int)}) ELSE 0 END AS om,
        CASE WHEN substr(tz, 1, 1) = '-' THEN -1 ELSE 1 END AS sign,
        ${shape} AS shape
      FROM (SELECT t, ad, CASE WHEN substr(rest, 1, 1) = '.' THEN tzf ELSE rest END AS tz,
          CASE WHEN substr(rest, 1, 1) = '.' THEN length(ad) - length(tzf) ELSE -1 END AS nd
        FROM (SELECT t, rest, substr(rest, 2) AS ad, ltrim(substr(rest, 2), '0123456789') AS tzf
          FROM (SELECT t, substr(t, 20) AS rest FROM (SELECT ${text} AS t) AS q0) AS q1) AS q2) AS q3) AS q4`;
    // Days from the civil date (H. Hinnant's algorithm); Date.UTC reads years 0-99 as 1900-1999
    // for the length of February, as parseDateTime does.
    const leapYear = sql.raw("(CASE WHEN y < 100 THEN y + 1900 ELSE y END)");
    const valid = sql`shape AND mo BETWEEN 1 AND 12 AND d >= 1 AND h <= 23 AND mi <= 59 AND se <= 59 AND oh <= 14 AND om <= 59
      AND d <= CASE WHEN mo = 2 THEN CASE WHEN ${leapYear} % 4 = 0 AND (${leapYear} % 100 <> 0 OR ${leapYear} % 400 = 0) THEN 29 ELSE 28 END
        WHEN mo IN (4, 6, 9, 11) THEN 30 ELSE 31 END`;
    const days = sql.raw("(era * 146097 + (yy - era * 400) * 365 + (yy - era * 400) / 4 - (yy - era * 400) / 100 + (153 * ((mo + 9) % 12) + 2) / 5 + d - 1 - 719468)");
    const instant = sql`(SELECT CASE WHEN ${valid} THEN ${days} * 86400000 + h * 3600000 + mi * 60000 + se * 1000 + ms - sign * (oh * 60 + om) * 60000 END
      FROM (SELECT q5.*, (CASE WHEN yy >= 0 THEN yy ELSE yy - 399 END) / 400 AS era
        FROM (SELECT q4.*, y - CASE WHEN mo <= 2 THEN 1 ELSE 0 END AS yy FROM ${parts}) AS q5) AS q6)`;
    if (!this.pg) return instant;
    // PostgreSQL's casts throw on bad text: check the whole shape first.
    return sql`CASE WHEN ${text} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?$' THEN ${instant} END`;
  }

  /**
   * The digits of an xsd:dateTime text's fraction past the millisecond, which {@link instant}
   * cuts off, without trailing zeros ('' when there are none). Two texts of the same millisecond
   * compare by these as text: digit strings without trailing zeros order as the fractions they
   * write. Meaningful only where `instant` is not NULL.
   */
  subMillis(text: Sql): Sql {
    const collate = this.pg ? sql.raw(' COLLATE "C"') : sql.raw("");
    return sql`(SELECT (CASE WHEN substr(rest, 1, 1) = '.' AND nd > 3 THEN rtrim(substr(rest, 5, nd - 3), '0') ELSE '' END)${collate}
      FROM (SELECT rest, length(substr(rest, 2)) - length(ltrim(substr(rest, 2), '0123456789')) AS nd
        FROM (SELECT substr(${text}, 20) AS rest) AS s0) AS s1)`;
  }

  /**
   * `compileFilter`'s `isPresentValue` on the value in alias `a`: false for null, "", and arrays and
   * objects without a present value inside (looked at to depth 4; deeper containers count as present).
   */
  present(a: Sql, depth = 0): Cond {
    if (this.pg) {
      const inside = sql<SqlBool>`(jsonb_path_exists(${a}.value, ${PG_PRESENT_SCALAR}) OR jsonb_path_exists(${a}.value, ${PG_PRESENT_DEEP}))`;
      return sql<SqlBool>`CASE COALESCE(jsonb_typeof(${a}.value), 'null') WHEN 'null' THEN false WHEN 'string' THEN ${a}.value <> '""'::jsonb WHEN 'array' THEN ${inside} WHEN 'object' THEN ${inside} ELSE true END`;
    }
    let inside: Cond = this.TRUE;
    if (depth <= 4) {
      const c = this.alias("p");
      inside = this.exists(sql`json_each(${a}.value) AS ${c}`, [this.present(c, depth + 1)]);
    }
    return sql<SqlBool>`CASE COALESCE(${a}.type, 'null') WHEN 'null' THEN 0 WHEN 'text' THEN ${a}.value <> '' WHEN 'array' THEN ${inside} WHEN 'object' THEN ${inside} ELSE 1 END`;
  }
}

const ORDER_SQL = { gt: ">", ge: ">=", lt: "<", le: "<=" } as const;

/** PostgreSQL `isPresentValue` of a container: a present scalar at depth 1 to 5... */
const PG_PRESENT_SCALAR = sql.raw(`'strict $.**{1 to 5} ? (@.type() == "number" || @.type() == "boolean" || (@.type() == "string" && @ != ""))'::jsonpath`);
/** ...or a container at depth 5 (deeper than `isPresentValue` looks). */
const PG_PRESENT_DEEP = sql.raw(`'strict $.**{5} ? (@.type() == "object" || @.type() == "array")'::jsonpath`);

/**
 * @internal The least string greater than every string that starts with `p`, by code point
 * (undefined when there is none): the exclusive upper bound of the index range of `sw`.
 */
export function prefixUpperBound(p: string): string | undefined {
  const points = [...p];
  while (points.length > 0) {
    let next = points.pop()!.codePointAt(0)! + 1;
    if (next === 0xd800) next = 0xe000;
    if (next <= 0x10ffff) return points.join("") + String.fromCodePoint(next);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Value tests: `compileFilter`'s tests on one JSON value, as conditions on a FROM-item alias

/** A test on the JSON value held by an alias; false when it does not apply (never NULL). */
type ValueTest = (a: Sql) => Cond;

/** How a string is compared: exactly, folded in SQL (`SqlDialect.fold`), or against a column folded in JavaScript. */
type StringMode = "exact" | "fold" | "folded";

/** `compileFilter`'s `stringTest` on text `x` (not NULL). */
function stringCond(d: SqlDialect, x: Sql, op: CompareOperator, literal: string, mode: StringMode): Cond {
  const lit = mode === "exact" ? literal : literal.toLowerCase();
  const f = mode === "fold" ? d.fold(x) : x;
  const nul = lit.indexOf("\u0000");
  if (d.pg && (nul >= 0 || literal.includes("\u0000"))) {
    // PostgreSQL text never holds U+0000: decide without sending it.
    if (op === "ne") return d.TRUE;
    if (op === "eq" || op === "co" || op === "sw" || op === "ew") return d.FALSE;
    const cut = lit.slice(0, nul);
    return op === "gt" || op === "ge" ? d.order(f, "gt", cut) : d.order(f, "le", cut);
  }
  switch (op) {
    case "eq":
      return mode === "fold" ? d.or([d.eq(x, literal), d.eq(f, lit)]) : d.eq(f, lit);
    case "ne":
      return mode === "fold" ? d.and([d.ne(x, literal), d.ne(f, lit)]) : d.ne(f, lit);
    case "co":
      return d.contains(f, lit);
    case "sw":
      return d.startsWith(f, lit);
    case "ew":
      return d.endsWith(f, lit);
    default:
      return d.order(f, op, lit);
  }
}

function isOrdering(op: CompareOperator): op is "gt" | "ge" | "lt" | "le" {
  return op === "gt" || op === "ge" || op === "lt" || op === "le";
}

function stringTest(d: SqlDialect, op: CompareOperator, literal: string, exact: boolean): ValueTest {
  return (a) => d.whenType(a, "string", stringCond(d, d.str(a), op, literal, exact ? "exact" : "fold"));
}

function numberTest(d: SqlDialect, op: CompareOperator, literal: number): ValueTest | undefined {
  const isNumber: ValueTest = (a) => d.isType(a, "number");
  if (Number.isNaN(literal)) return op === "ne" ? isNumber : undefined;
  if (!Number.isFinite(literal)) {
    // JSON numbers are finite: everything is below +Infinity and above -Infinity.
    const below = literal > 0 ? op === "lt" || op === "le" : op === "gt" || op === "ge";
    return below || op === "ne" ? isNumber : undefined;
  }
  const cmp = isOrdering(op) ? ORDER_SQL[op] : op === "eq" ? "=" : op === "ne" ? "<>" : undefined;
  if (cmp === undefined) return undefined;
  return (a) => d.whenType(a, "number", sql<SqlBool>`${d.num(a)} ${sql.raw(cmp)} ${d.number(literal)}`);
}

function booleanTest(d: SqlDialect, op: CompareOperator, literal: boolean): ValueTest | undefined {
  if (op === "eq") return (a) => d.isType(a, literal ? "true" : "false");
  if (op === "ne") return (a) => d.isType(a, literal ? "false" : "true");
  return undefined;
}

/** `compileFilter`'s `valueTest`: the test for one value of an attribute of a declared type (throws like it). */
function valueTest(d: SqlDialect, op: CompareOperator, literal: Exclude<FilterValue, null>, type: AttributeType, exact: boolean, where: string): ValueTest | undefined {
  const order = isOrdering(op);
  switch (type) {
    case "boolean": {
      if (order) throw badRequest("invalidFilter", `operator '${op}' is not defined for the boolean attribute '${where}'`);
      const b = booleanFilterValue(literal);
      return b === undefined ? undefined : booleanTest(d, op, b);
    }
    case "binary":
      if (order) throw badRequest("invalidFilter", `operator '${op}' is not defined for the binary attribute '${where}'`);
      return typeof literal === "string" ? stringTest(d, op, literal, true) : undefined;
    case "integer":
    case "decimal":
    {
      const n = numericFilterValue(literal);
      return n === undefined ? undefined : numberTest(d, op, n);
    }
    case "dateTime": {
      if (typeof literal !== "string") return undefined;
      if (op === "co" || op === "sw" || op === "ew") return stringTest(d, op, literal, true);
      const at = splitDateTime(literal);
      if (at === undefined) throw badRequest("invalidFilter", `'${literal}' is not a valid dateTime for '${where}'`);
      return (a) => d.whenType(a, "string", instantCond(d, d.str(a), op, at));
    }
    case "complex":
      return undefined;
    default:
      if (typeof literal === "string") return stringTest(d, op, literal, exact);
      // An unquoted numeric id from a lenient parse (`externalId eq 123456`) is compared as text.
      if (typeof literal === "number" && (op === "eq" || op === "ne")) return stringTest(d, op, String(literal), exact);
      return undefined;
  }
}

/**
 * An xsd:dateTime text compared with a literal ({@link splitDateTime}) as instants, to the last digit of
 * either fraction (scim-core's filters count fractions past the millisecond): by whole
 * milliseconds ({@link SqlDialect.instant}), then by the digits past them
 * ({@link SqlDialect.subMillis}). NULL when the text is not a dateTime.
 */
function instantCond(d: SqlDialect, text: Sql, op: CompareOperator, { ms, sub }: { ms: number; sub: string }): Cond {
  const x = d.alias("dt");
  const i = sql`${x}.i`;
  const s = sql`${x}.s`;
  const n = d.number(ms);
  const t = d.text(sub);
  const sameMs = (cmp: string) => sql<SqlBool>`(${i} = ${n} AND ${s} ${sql.raw(cmp)} ${t})`;
  let cond: Cond;
  switch (op) {
    case "eq": cond = sameMs("="); break;
    case "ne": cond = sql<SqlBool>`(${i} <> ${n} OR ${s} <> ${t})`; break;
    case "gt": cond = sql<SqlBool>`(${i} > ${n} OR ${sameMs(">")})`; break;
    case "ge": cond = sql<SqlBool>`(${i} > ${n} OR ${sameMs(">=")})`; break;
    case "lt": cond = sql<SqlBool>`(${i} < ${n} OR ${sameMs("<")})`; break;
    default: cond = sql<SqlBool>`(${i} < ${n} OR ${sameMs("<=")})`; break;
  }
  return sql<SqlBool>`(SELECT ${cond} FROM (SELECT ${d.instant(text)} AS i, ${d.subMillis(text)} AS s) AS ${x})`;
}

/** `compileFilter`'s `dynamicTest`: for attributes no schema defines, by the runtime type of each value. */
function dynamicTest(d: SqlDialect, op: CompareOperator, literal: Exclude<FilterValue, null>): ValueTest | undefined {
  if (typeof literal === "string") return stringTest(d, op, literal, false);
  if (typeof literal === "number") return numberTest(d, op, literal);
  return booleanTest(d, op, literal);
}

/** The test of a leaf: `test` holds for some read value, or (`negated`) for none. */
interface LeafSpec {
  test: ValueTest;
  negated?: true;
}

/** Millisecond instants that ISO text of the form `YYYY-MM-DDTHH:mm:ss.sssZ` can hold. */
const MIN_ISO_MS = -62167219200000; // 0000-01-01T00:00:00.000Z
const MAX_ISO_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

// ---------------------------------------------------------------------------------------------
// The translator

/**
 * A translated filter before it becomes SQL, so that operands of a chain that read the same member
 * share one subquery (thousands of operands on one attribute then cost one subquery, not
 * thousands):
 * - `read`: `test` on the member `name` of the resource (or of its extension object). The member is
 *   at most one row, so tests on it combine with AND as well as with OR.
 * - `emails`: `cond` holds for some `scim_emails` row of the resource (rows combine with OR).
 * - `sql`: anything else.
 * `negated` parts stand for NOT of what they describe.
 */
type Part =
  | { kind: "sql"; cond: Cond }
  | { kind: "read"; name: string; extension: string | undefined; test: ValueTest; negated: boolean }
  | { kind: "emails"; cond: (e: Sql) => Cond; negated: boolean };

class FilterTranslator {
  /** The core `members` attribute when the resource type has one: kept as `scim_members` rows. */
  private readonly members: AttributeInfo | undefined;
  /** Whether the type has the derived, read-only `groups` of RFC 7643 §4.1.2: the `scim_members` rows naming it. */
  private readonly derivedGroups: boolean;

  constructor(
    private readonly d: SqlDialect,
    private readonly rt: CompiledResourceType,
    private readonly tenant: string,
    private readonly groupTypes: readonly string[] = ["Group"],
  ) {
    this.members = membersAttributeOf(rt);
    this.derivedGroups = hasDerivedGroups(rt);
  }

  node(f: Filter): Cond {
    return this.render(this.part(f));
  }

  private part(f: Filter): Part {
    switch (f.type) {
      case "compare":
      case "present":
        return this.leaf(f);
      case "valuePath":
        return this.valuePath(f);
      case "not":
        return this.negatePart(this.part(f.filter));
      case "logical":
        return this.chain(f.op, logicalOperands(f, f.op).map((n) => this.part(n)));
      default:
        throw badRequest("invalidFilter", "unknown filter node");
    }
  }

  private render(part: Part): Cond {
    switch (part.kind) {
      case "sql":
        return part.cond;
      case "read": {
        const cond = this.read(part.name, part.extension, part.test);
        return part.negated ? this.negate(cond) : cond;
      }
      case "emails": {
        const cond = this.emailRows(part.cond);
        return part.negated ? this.negate(cond) : cond;
      }
    }
  }

  private negatePart(part: Part): Part {
    return part.kind === "sql" ? { kind: "sql", cond: this.negate(part.cond) } : { ...part, negated: !part.negated };
  }

  private negate(cond: Cond): Cond {
    const d = this.d;
    return cond === d.TRUE ? d.FALSE : cond === d.FALSE ? d.TRUE : d.not(cond);
  }

  /**
   * The operands of an `and`/`or` chain, with reads of one member merged: for a one-row member
   * `EXISTS(t1) op EXISTS(t2) = EXISTS(t1 op t2)` and `NOT EXISTS(t1) op NOT EXISTS(t2) =
   * NOT EXISTS(t1 op' t2)`; for `scim_emails` rows, `IN(c1) OR IN(c2) = IN(c1 OR c2)` and
   * `NOT IN(c1) AND NOT IN(c2) = NOT IN(c1 OR c2)`.
   */
  private chain(op: "and" | "or", parts: Part[]): Part {
    const d = this.d;
    const join = (conds: Cond[], how: "and" | "or") => (how === "and" ? d.and(conds) : d.or(conds));
    const groups = new Map<string, Part[]>();
    const order: (Part | string)[] = [];
    for (const part of parts) {
      let key: string | undefined;
      if (part.kind === "read") key = JSON.stringify(["read", part.extension ?? null, part.name, part.negated]);
      else if (part.kind === "emails" && part.negated === (op === "and")) key = JSON.stringify(["emails", part.negated]);
      if (key === undefined) {
        order.push(part);
        continue;
      }
      const group = groups.get(key);
      if (group === undefined) {
        groups.set(key, [part]);
        order.push(key);
      } else group.push(part);
    }
    const merged: Part[] = order.map((entry) => {
      if (typeof entry !== "string") return entry;
      const group = groups.get(entry)!;
      const first = group[0]!;
      if (group.length === 1) return first;
      if (first.kind === "read") {
        // Under NOT, the inner tests combine with the dual operator (De Morgan).
        const how = first.negated ? (op === "and" ? "or" : "and") : op;
        const tests = group.map((p) => (p as Extract<Part, { kind: "read" }>).test);
        return { ...first, test: (a: Sql) => join(tests.map((t) => t(a)), how) };
      }
      const rows = group as Extract<Part, { kind: "emails" }>[];
      return { kind: "emails", negated: rows[0]!.negated, cond: (e: Sql) => d.or(rows.map((p) => p.cond(e))) };
    });
    if (merged.length === 1) return merged[0]!;
    return { kind: "sql", cond: join(merged.map((p) => this.render(p)), op) };
  }

  private sql(cond: Cond): Part {
    return { kind: "sql", cond };
  }

  private readPart(name: string, extension: string | undefined, test: ValueTest): Part {
    return { kind: "read", name, extension, test, negated: false };
  }

  // --- leaves at resource scope ----------------------------------------------------------------

  private leaf(node: LeafFilter): Part {
    const d = this.d;
    const path = node.path;
    const where = printAttrPath(path);
    if (node.type === "compare" && node.op === "eq" && node.value === null) {
      // `attr eq null` matches an unassigned attribute: exactly what `attr ne null` does not match.
      return this.negatePart(this.leaf({ type: "compare", op: "ne", path, value: null }));
    }
    const resolved = this.rt.resolve(path);
    if (resolved === undefined) {
      // An attribute no schema defines: read it as written, compare by runtime type.
      const spec = this.leafSpec(node, undefined, where);
      if (spec === undefined) return this.sql(d.FALSE);
      const test = path.sub === undefined ? spec.test : this.anyElement(path.sub, spec.test);
      return this.readPart(path.attr, path.uri, test);
    }
    const { schema, attribute } = resolved;
    let sub = resolved.sub;
    // A multi-valued complex attribute without sub-attribute means its `value`, except for `pr`;
    // one without a `value` (`addresses`) compares with `null` only, as `pr` (see compileFilter).
    if (sub === undefined && attribute.type === "complex" && attribute.multiValued && node.type === "compare") {
      sub = attribute.subMap?.get("value");
      if (sub === undefined && node.value !== null) return this.sql(d.FALSE);
    }
    const extension = schema.extension ? schema.id : undefined;
    const core = extension === undefined && schema === this.rt.core;
    if (sub === undefined) {
      const spec = this.leafSpec(node, attribute, where);
      if (spec === undefined) return this.sql(d.FALSE);
      const column = core ? this.columnLeaf(node, attribute) : undefined;
      return column !== undefined ? this.sql(column) : this.readPart(attribute.name, extension, spec.test);
    }
    const spec = this.leafSpec(node, sub, where);
    if (spec === undefined) return this.sql(d.FALSE);
    const fast = core ? (this.subColumnLeaf(node, attribute, sub) ?? this.memberValueLeaf(node, attribute, sub) ?? this.groupValueLeaf(node, attribute, sub)) : undefined;
    if (fast !== undefined) return fast;
    const subName = sub.name;
    if (!attribute.multiValued && extension === undefined) {
      // A singular complex attribute such as `name.familyName`: one object, one read.
      return this.readPart(attribute.name, undefined, (a) => this.member(a, subName, spec.test));
    }
    return this.readPart(attribute.name, extension, this.anyElement(subName, spec.test));
  }

  /** `compileFilter`'s `leafTest` (throws like it); undefined when the leaf can never match. */
  private leafSpec(node: LeafFilter, leaf: AttributeInfo | undefined, where: string): LeafSpec | undefined {
    const d = this.d;
    const present: ValueTest = (a) => d.present(a);
    if (node.type === "present") return { test: present };
    if (node.value === null) {
      if (node.op === "eq") return { test: present, negated: true };
      if (node.op === "ne") return { test: present };
      return undefined;
    }
    const test = leaf ? valueTest(d, node.op, node.value, leaf.type, leaf.exact, where) : dynamicTest(d, node.op, node.value);
    if (test === undefined) return undefined;
    return { test: leaf && !leaf.multiValued ? test : this.anyOf(test) };
  }

  // --- JSON reads ------------------------------------------------------------------------------

  /** `test` on `resource[name]`, or on `resource[extension][name]`. */
  private read(name: string, extension: string | undefined, test: ValueTest): Cond {
    if (extension === undefined) return this.rootMember(name, test);
    return this.rootMember(extension, (x) => this.member(x, name, test));
  }

  /** `test` on the member `key` of the resource as compileFilter sees it (`id` and `meta` included). */
  private rootMember(key: string, test: ValueTest): Cond {
    const d = this.d;
    const a = d.alias("j");
    if (key === "id") {
      return d.exists(d.constant(d.pg ? sql`to_jsonb(r.id)` : sql`r.id`, "string", a), [test(a)]);
    }
    if (key === "meta") {
      const name = d.text(this.rt.name);
      const meta = d.pg
        ? sql`jsonb_build_object('resourceType', ${name}, 'created', r.created, 'lastModified', r.last_modified, 'version', 'W/"' || r.version || '"')`
        : sql`json_object('resourceType', ${name}, 'created', r.created, 'lastModified', r.last_modified, 'version', 'W/"' || r.version || '"')`;
      return d.exists(d.constant(meta, "object", a), [test(a)]);
    }
    if (key === "members" && this.members !== undefined) return d.exists(d.constant(this.membersJson(), "array", a), [test(a)]);
    if (key === "groups" && this.derivedGroups) return d.exists(d.constant(this.groupsJson(), "array", a), [test(a)]);
    const { from, where } = d.docMemberFrom(key, a);
    return d.exists(from, [...where, test(a)]);
  }

  /**
   * The group's `members` as `compileFilter` sees them, built from its `scim_members` rows: an array
   * of `{ value, type, display }` objects without the absent (NULL) members; `[]` when it has none,
   * which every test treats as the absent attribute. (`$ref` is not there: it is built from the
   * request's base URL, see {@link filterRunsInSql}.)
   */
  private membersJson(): Sql {
    const d = this.d;
    const m = d.alias("g");
    const tenant = d.text(this.tenant);
    if (d.pg) {
      return sql`(SELECT COALESCE(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('value', ${m}.member_id, 'type', ${m}.member_type, 'display', ${m}.display))), '[]'::jsonb)
        FROM scim_members AS ${m} WHERE ${m}.tenant = ${tenant} AND ${m}.group_id = r.id)`;
    }
    // json_patch (RFC 7396) drops the members whose patch value is null.
    return sql`(SELECT json_group_array(json_patch(json_object('value', ${m}.member_id), json_object('type', ${m}.member_type, 'display', ${m}.display)))
      FROM scim_members AS ${m} WHERE ${m}.tenant = ${tenant} AND ${m}.group_id = r.id)`;
  }

  /**
   * The user's derived `groups` as the server returns them (RFC 7643 §4.1.2, direct memberships;
   * see `ScimStore.groupsOf`), built from the `scim_members` rows that name it, on the index by
   * member: `{ value, type: "direct", display }` for each live group, `display` being the group's
   * `displayName` now; `[]` when it is in none. (`$ref` is not there: see {@link filterRunsInSql}.)
   */
  private groupsJson(): Sql {
    const d = this.d;
    const m = d.alias("g");
    const g = d.alias("g");
    const tenant = d.text(this.tenant);
    const from = sql`FROM scim_members AS ${m} JOIN scim_resources AS ${g} ON ${g}.tenant = ${m}.tenant AND ${g}.id = ${m}.group_id
      WHERE ${m}.tenant = ${tenant} AND ${m}.member_id = r.id AND ${g}.deleted = ${d.pg ? sql`false` : sql`0`}`;
    if (d.pg) {
      return sql`(SELECT COALESCE(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('value', ${g}.id, 'type', 'direct', 'display', ${g}.display_name))), '[]'::jsonb) ${from})`;
    }
    return sql`(SELECT json_group_array(json_patch(json_object('value', ${g}.id, 'type', 'direct'), json_object('display', ${g}.display_name))) ${from})`;
  }

  /**
   * `groups.value eq "<id>"` (and `groups eq "<id>"`): the members of the live groups with that
   * id (folded unless `value` is caseExact), from the group side: the tenant's groups, then their
   * membership rows, then the users by id, instead of every user's groups.
   */
  private groupValueLeaf(node: LeafFilter, attribute: AttributeInfo, sub: AttributeInfo): Part | undefined {
    if (!this.derivedGroups || attribute.name !== "groups" || sub.name !== "value" || sub.type !== "string") return undefined;
    if (node.type !== "compare" || node.op !== "eq" || typeof node.value !== "string" || this.groupTypes.length === 0) return undefined;
    const d = this.d;
    const m = d.alias("g");
    const g = d.alias("g");
    const tenant = d.text(this.tenant);
    const types = sql.join(this.groupTypes.map((t) => d.text(t)));
    const id = stringCond(d, sql`${g}.id`, "eq", node.value, sub.exact ? "exact" : "fold");
    return this.sql(sql<SqlBool>`r.id IN (SELECT ${m}.member_id FROM scim_members AS ${m} WHERE ${m}.tenant = ${tenant} AND ${m}.group_id IN (
      SELECT ${g}.id FROM scim_resources AS ${g} WHERE ${g}.tenant = ${tenant} AND ${g}.resource_type IN (${types}) AND ${g}.deleted = ${d.pg ? sql`false` : sql`0`} AND ${id}))`);
  }

  /** `members.value eq "<id>"` (and `members eq "<id>"`) on the member index: a group's member rows are its members. */
  private memberValueLeaf(node: LeafFilter, attribute: AttributeInfo, sub: AttributeInfo): Part | undefined {
    if (attribute !== this.members || sub.name !== "value" || !sub.exact || sub.type !== "string") return undefined;
    if (node.type !== "compare" || node.op !== "eq" || typeof node.value !== "string") return undefined;
    const d = this.d;
    // PostgreSQL stores no NUL, so no member id holds one (the query would fail on the literal).
    if (d.pg && node.value.includes("\u0000")) return this.sql(d.FALSE);
    const m = d.alias("g");
    return this.sql(sql<SqlBool>`EXISTS (SELECT 1 FROM scim_members AS ${m} WHERE ${m}.tenant = ${d.text(this.tenant)} AND ${m}.group_id = r.id AND ${m}.member_id = ${d.text(node.value)})`);
  }

  /** `test` on the member `key` of the object in alias `parent` (false when it is not an object). */
  private member(parent: Sql, key: string, test: ValueTest): Cond {
    const d = this.d;
    const a = d.alias("j");
    const { from, where } = d.memberFrom(parent, key, a);
    return d.exists(from, [...where, test(a)]);
  }

  /** `compileFilter`'s `anyOf`: the value, or any element of it when it is an array. */
  private anyOf(test: ValueTest): ValueTest {
    const d = this.d;
    return (a) => {
      const e = d.alias("e");
      return d.or([test(a), d.exists(d.elementsFrom(a, e), [test(e)])]);
    };
  }

  /** `compileFilter`'s `anyElement`: `test` on `element[sub]` of any element (or of a single object). */
  private anyElement(sub: string, test: ValueTest): ValueTest {
    const d = this.d;
    return (a) => {
      const e = d.alias("e");
      return d.or([this.member(a, sub, test), d.exists(d.elementsFrom(a, e), [this.member(e, sub, test)])]);
    };
  }

  // --- value filters ---------------------------------------------------------------------------

  private valuePath(node: ValuePathFilter): Part {
    const d = this.d;
    const resolved = this.rt.resolve(node.path);
    const attribute = resolved?.attribute;
    if (attribute !== undefined && attribute.type !== "complex") {
      throw badRequest("invalidFilter", `'${printAttrPath(node.path)}' is not a complex attribute and cannot take a value filter`);
    }
    const inner = this.elementNode(node.filter, attribute);
    if (resolved !== undefined && this.isCoreEmails(resolved.schema, resolved.attribute)) {
      const emails = resolved.attribute;
      if (this.rowCond(node.filter, emails, d.alias("m")) !== undefined) {
        return { kind: "emails", negated: false, cond: (e) => this.rowCond(node.filter, emails, e)! };
      }
    }
    // One element (an object, or an array element that is an object or an array) satisfies `inner`.
    const element: ValueTest = (a) => {
      const e = d.alias("e");
      return d.or([
        d.and([d.isType(a, "object"), inner(a)]),
        d.exists(d.elementsFrom(a, e), [d.or([d.isType(e, "object"), d.isType(e, "array")]), inner(e)]),
      ]);
    };
    if (resolved === undefined) return this.readPart(node.path.attr, node.path.uri, element);
    return this.readPart(resolved.attribute.name, resolved.schema.extension ? resolved.schema.id : undefined, element);
  }

  /** The inside of `[...]`: a condition on one element (throws like `compileFilter`). */
  private elementNode(f: Filter, parent: AttributeInfo | undefined): ValueTest {
    const d = this.d;
    switch (f.type) {
      case "compare":
      case "present":
        return this.elementLeaf(f, parent);
      case "valuePath":
        throw badRequest("invalidFilter", "a value filter cannot contain another value filter");
      case "not": {
        const inner = this.elementNode(f.filter, parent);
        return (a) => this.negate(inner(a));
      }
      case "logical": {
        const parts = logicalOperands(f, f.op).map((n) => this.elementNode(n, parent));
        return (a) => (f.op === "and" ? d.and(parts.map((p) => p(a))) : d.or(parts.map((p) => p(a))));
      }
      default:
        throw badRequest("invalidFilter", "unknown filter node");
    }
  }

  private elementLeaf(node: LeafFilter, parent: AttributeInfo | undefined): ValueTest {
    const d = this.d;
    const path = node.path;
    const where = printAttrPath(path);
    if (path.uri !== undefined || path.sub !== undefined) {
      throw badRequest("invalidFilter", `'${where}' inside a value filter must name a sub-attribute`);
    }
    const info = parent?.subMap?.get(path.attr.toLowerCase());
    const name = info?.name ?? path.attr;
    const spec = this.leafSpec(node, info, where);
    if (spec === undefined) return () => d.FALSE;
    if (spec.negated) return (a) => this.negate(this.member(a, name, spec.test));
    return (a) => this.member(a, name, spec.test);
  }

  // --- indexed columns -------------------------------------------------------------------------

  /** A leaf on a common attribute with a column of its own, or undefined. Called after `leafSpec`. */
  private columnLeaf(node: LeafFilter, attribute: AttributeInfo): Cond | undefined {
    if (attribute.multiValued) return undefined;
    if (attribute.type === "boolean" && attribute.name === "active") return this.booleanColumn(node, sql`r.active`);
    if (attribute.type !== "string") return undefined;
    switch (attribute.name) {
      case "id":
        return this.stringColumn(node, sql`r.id`, sql`r.id`, attribute.exact ? "exact" : "fold");
      case "externalId":
        return this.stringColumn(node, sql`r.external_id`, sql`r.external_id`, attribute.exact ? "exact" : "fold");
      case "userName":
        return attribute.exact
          ? this.stringColumn(node, sql`r.user_name`, sql`r.user_name`, "exact")
          : this.stringColumn(node, sql`r.user_name_lower`, sql`r.user_name`, "folded");
      case "displayName":
        return attribute.exact
          ? this.stringColumn(node, sql`r.display_name`, sql`r.display_name`, "exact")
          : this.stringColumn(node, sql`r.display_name_lower`, sql`r.display_name`, "folded");
      default:
        return undefined;
    }
  }

  /** A string leaf on `column` (NULL when the attribute is not a string); `raw` is the unfolded column. */
  private stringColumn(node: LeafFilter, column: Sql, raw: Sql, mode: StringMode): Cond {
    const d = this.d;
    if (node.type === "present" || node.value === null) return sql<SqlBool>`(${raw} IS NOT NULL AND ${raw} <> '')`;
    const literal = typeof node.value === "number" ? String(node.value) : (node.value as string);
    return sql<SqlBool>`(${column} IS NOT NULL AND ${stringCond(d, column, node.op, literal, mode)})`;
  }

  private booleanColumn(node: LeafFilter, column: Sql): Cond {
    if (node.type === "present" || node.value === null) return sql<SqlBool>`${column} IS NOT NULL`;
    const literal = booleanFilterValue(node.value);
    // `active eq 5`, `active eq "yes"`: no value equals it (as compileFilter has it).
    if (literal === undefined) return this.d.FALSE;
    const wantTrue = (node.op === "eq") === literal;
    return wantTrue ? sql<SqlBool>`${column} IS TRUE` : sql<SqlBool>`${column} IS FALSE`;
  }

  /** A leaf on `meta.created`/`meta.lastModified` or on the `emails` rows, or undefined. */
  private subColumnLeaf(node: LeafFilter, attribute: AttributeInfo, sub: AttributeInfo): Part | undefined {
    if (attribute.name === "meta" && sub.type === "dateTime" && !sub.multiValued) {
      if (sub.name === "created") return this.sql(this.instantColumn(node, sql`r.created`));
      if (sub.name === "lastModified") return this.sql(this.instantColumn(node, sql`r.last_modified`));
      return undefined;
    }
    if (this.isCoreEmails(this.rt.core, attribute)) {
      const element: LeafFilter = { ...node, path: { attr: sub.name } };
      if (this.rowCond(element, attribute, this.d.alias("m")) === undefined) return undefined;
      return { kind: "emails", negated: false, cond: (e) => this.rowCond(element, attribute, e)! };
    }
    return undefined;
  }

  /** A dateTime leaf on an instant column (ISO text in UTC at millisecond precision, never NULL). */
  private instantColumn(node: LeafFilter, column: Sql): Cond {
    const d = this.d;
    if (node.type === "present" || node.value === null) return d.TRUE;
    const literal = node.value as string;
    const op = node.op;
    if (op === "co" || op === "sw" || op === "ew") return stringCond(d, column, op, literal, "exact");
    const at = parseDateTime(literal);
    // Stored instants are whole milliseconds: a literal between two compares as its neighbours.
    if (!Number.isInteger(at)) {
      if (op === "eq") return d.FALSE;
      if (op === "ne") return d.TRUE;
      return op === "gt" || op === "ge" ? this.instantCompare(column, "ge", Math.ceil(at)) : this.instantCompare(column, "le", Math.floor(at));
    }
    return this.instantCompare(column, op, at);
  }

  private instantCompare(column: Sql, op: CompareOperator, ms: number): Cond {
    const d = this.d;
    const above = op === "gt" || op === "ge" || op === "ne";
    const below = op === "lt" || op === "le" || op === "ne";
    if (ms < MIN_ISO_MS) return above ? d.TRUE : d.FALSE;
    if (ms > MAX_ISO_MS) return below ? d.TRUE : d.FALSE;
    const cmp = isOrdering(op) ? ORDER_SQL[op] : op === "eq" ? "=" : "<>";
    // All stored values have the same shape, so any collation orders them as time.
    return sql<SqlBool>`${column} ${sql.raw(cmp)} ${d.text(new Date(ms).toISOString())}`;
  }

  // --- emails rows -----------------------------------------------------------------------------

  private isCoreEmails(schema: { extension: boolean }, attribute: AttributeInfo): boolean {
    return !schema.extension && attribute.name === "emails" && attribute.type === "complex" && attribute.multiValued && this.rt.core.byName.get("emails") === attribute;
  }

  /** `r.id IN (SELECT resource_id FROM scim_emails WHERE <cond on one row>)`. */
  private emailRows(cond: (e: Sql) => Cond): Cond {
    const d = this.d;
    const e = d.alias("m");
    return sql<SqlBool>`r.id IN (SELECT ${e}.resource_id FROM scim_emails AS ${e} WHERE ${e}.tenant = ${d.text(this.tenant)} AND ${cond(e)})`;
  }

  /**
   * A condition on one `scim_emails` row equal to the element filter `f` on the element it was
   * made from, or undefined when the row cannot tell (other sub-attributes, `primary` false or
   * absent). Called after `elementNode` accepted `f`.
   *
   * The condition runs in the WHERE clause of {@link emailRows}' subquery, where NULL excludes a
   * row as false does: a comparison under no `not` (`positive`) leaves out the `IS NOT NULL` test
   * of its column, which only a negation needs (`NOT (NULL = 'x')` is NULL, not true), and a
   * comparison true of every text (`co ""`).
   */
  private rowCond(f: Filter, parent: AttributeInfo, e: Sql, positive = true): Cond | undefined {
    const d = this.d;
    switch (f.type) {
      case "not": {
        const inner = this.rowCond(f.filter, parent, e, !positive);
        return inner === undefined ? undefined : this.negate(inner);
      }
      case "logical": {
        const parts: Cond[] = [];
        for (const n of logicalOperands(f, f.op)) {
          const part = this.rowCond(n, parent, e, positive);
          if (part === undefined) return undefined;
          parts.push(part);
        }
        return f.op === "and" ? d.and(parts) : d.or(parts);
      }
      case "compare":
      case "present":
        break;
      default:
        return undefined;
    }
    if (f.path.uri !== undefined || f.path.sub !== undefined) return undefined;
    const info = parent.subMap?.get(f.path.attr.toLowerCase());
    if (info === undefined || info.multiValued) return undefined;
    const literal = f.type === "compare" ? f.value : undefined;
    const op = f.type === "compare" ? f.op : undefined;
    if (info.name === "primary" && info.type === "boolean") {
      // `is_primary` is `primary === true`: it tells true from the rest, not false from absent.
      if (op === undefined || literal === undefined || literal === null) return undefined;
      const b = booleanFilterValue(literal);
      if (b === undefined) return d.FALSE;
      if ((op === "eq" && b) || (op === "ne" && !b)) return sql<SqlBool>`${e}.is_primary IS TRUE`;
      return undefined;
    }
    let column: Sql;
    if (info.name === "value" && info.type === "string") column = info.exact ? sql`${e}.value` : sql`${e}.value_lower`;
    else if (info.name === "type" && info.type === "string" && !info.exact) column = sql`${e}.type_lower`;
    else return undefined;
    const present = sql<SqlBool>`(${column} IS NOT NULL AND ${column} <> '')`;
    if (op === undefined) return present;
    if (literal === null) return op === "ne" ? present : op === "eq" ? this.negate(present) : d.FALSE;
    const text = typeof literal === "string" ? literal : typeof literal === "number" && (op === "eq" || op === "ne") ? String(literal) : undefined;
    if (text === undefined) return d.FALSE;
    const cond = stringCond(d, column, op, text, info.exact ? "exact" : "folded");
    // `co ""` (and the like) is TRUE whatever the column holds: it needs the test either way.
    return positive && cond !== d.TRUE ? cond : sql<SqlBool>`(${column} IS NOT NULL AND ${cond})`;
  }
}

/**
 * Translates a filter (RFC 7644 §3.4.2.2) into a SQL condition on `scim_resources AS r`, for
 * `SELECT ... FROM scim_resources AS r WHERE r.tenant = ? AND r.resource_type = ? AND r.deleted =
 * <false> AND (<condition>)`. The condition matches exactly the resources that scim-core's
 * `compileFilter` selects (within the domain stated at the top of this module), is never NULL,
 * and binds every value and attribute name as a parameter.
 *
 * @throws ScimError 400 `invalidFilter` where `compileFilter` throws (`gt` on a boolean or binary
 * attribute, an invalid dateTime literal, a value filter inside a value filter or on a
 * non-complex attribute, a URN or sub-attribute inside `[...]`).
 *
 * @example
 * const where = filterToSql(parseFilter('emails[type eq "work" and value co "@example.com"]'), {
 *   dialect: "sqlite", resourceType: registry.getResourceType("User"), tenant,
 * });
 * db.selectFrom("scim_resources as r").selectAll().where(where)
 */
export function filterToSql(filter: Filter, options: FilterSqlOptions): RawBuilder<SqlBool> {
  return toKysely(filterSqlText(filter, options));
}

/** @internal {@link filterToSql} as the store's own SQL fragment (see `sql-text.ts`). */
export function filterSqlText(filter: Filter, options: FilterSqlOptions): Cond {
  return new FilterTranslator(new SqlDialect(options.dialect), options.resourceType, options.tenant, options.groupTypes).node(filter);
}

/**
 * Whether {@link filterToSql} evaluates the filter exactly as `compileFilter` does on the resource
 * as the server returns it. Group `members` and the derived `User.groups` (RFC 7643 §4.1.2, direct
 * memberships, as `groupsOf` lists them) are read from the `scim_members` rows, except their `$ref`
 * (built from the request's base URL). A store declares `capabilities.filter: filterRunsInSql`
 * and the server evaluates the other filters itself.
 */
export function filterRunsInSql(filter: Filter): boolean {
  return !referencesMemberRef(filter);
}

/** Whether a resource type has the derived, read-only `groups` of RFC 7643 §4.1.2 (as User does). */
function hasDerivedGroups(rt: CompiledResourceType): boolean {
  const groups = rt.core.byName.get("groups");
  return groups !== undefined && groups.mutability === "readOnly" && groups.type === "complex" && groups.multiValued;
}

/**
 * Whether the filter names `members` or `groups` at the top level (as memoryStore's view adds
 * them): they are membership rows, not part of `r.doc`, so {@link filterToSql} sees them absent.
 * A store can declare `capabilities.filter: (f) => !referencesMembership(f)` to have the core
 * evaluate those filters.
 */
export function referencesMembership(filter: Filter): boolean {
  return referencesAttribute(filter, "members") || referencesAttribute(filter, "groups");
}


/**
 * Whether an index equality narrows the rows a filter can match to the few that hold one value:
 * `eq` on `id`, `userName`, `externalId`, a group's `displayName` or `emails.value` (also as
 * `emails[... value eq ...]`), an `and` with one such operand, an `or` of them. These are the
 * identity providers' lookups, the most frequent reads; the SQL store leaves its per-row deadline
 * check out of them (they read a row or two, and the check's cost is in building the statement).
 */
export function narrowedByIndex(filter: Filter, rt: CompiledResourceType): boolean {
  switch (filter.type) {
    case "logical":
      return filter.op === "and" ? logicalOperands(filter, "and").some((f) => narrowedByIndex(f, rt)) : logicalOperands(filter, "or").every((f) => narrowedByIndex(f, rt));
    case "compare": {
      if (filter.op !== "eq" || typeof filter.value !== "string") return false;
      const resolved = rt.resolve(filter.path);
      if (resolved === undefined || resolved.schema.extension) return false;
      const name = resolved.attribute.name;
      if (resolved.sub === undefined && !resolved.attribute.multiValued) {
        return name === "id" || name === "userName" || name === "externalId" || (name === "displayName" && membersAttributeOf(rt) !== undefined);
      }
      return name === "emails" && (resolved.sub === undefined || resolved.sub.name === "value");
    }
    case "valuePath": {
      const resolved = rt.resolve(filter.path);
      return resolved !== undefined && !resolved.schema.extension && resolved.attribute.name === "emails" && valueEquality(filter.filter);
    }
    default:
      return false;
  }
}

/** Whether an element filter holds only for elements with one `value` (`value eq "x"`, in an `and`, or in each operand of an `or`). */
function valueEquality(filter: Filter): boolean {
  if (filter.type === "logical") return filter.op === "and" ? logicalOperands(filter, "and").some(valueEquality) : logicalOperands(filter, "or").every(valueEquality);
  return filter.type === "compare" && filter.op === "eq" && typeof filter.value === "string" && filter.path.attr.toLowerCase() === "value" && filter.path.sub === undefined;
}

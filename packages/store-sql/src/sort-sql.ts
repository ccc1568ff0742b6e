/**
 * Sorting push-down (RFC 7644 §3.4.2.3): the ORDER BY key of an attribute path over
 * `scim_resources AS r`, with the semantics of scim-core's memoryStore (`sortKeyReader` and
 * `compareKeys`):
 *
 * - strings compare case-insensitively (the indexed lower-cased columns where they exist), caseExact
 *   strings as they are, dateTimes as instants, numbers as numbers, booleans false before true;
 *   an empty string is a missing value;
 * - a multi-valued attribute sorts by its primary element (the first element with
 *   `primary: true`), or else by its first element; a multi-valued complex attribute without
 *   sub-attribute by its `value`;
 * - an attribute no schema defines is read with case-insensitive names and keyed by its runtime
 *   type: numbers before strings before booleans;
 * - missing values sort last ascending and first descending; ties keep insertion order (`r.seq`
 *   ascending, in both directions);
 * - keys every resource has (`meta.created`, `meta.lastModified`, a required `userName` or
 *   `displayName`) are the indexed column alone, so that the column's index serves the order.
 *
 * Strings without a column folded in JavaScript are folded as the filters fold them
 * (`SqlDialect.fold`: JavaScript's `toLowerCase` on SQLite, `lower()` on PostgreSQL), and the
 * domain limits of `filter-sql.ts` apply (PostgreSQL's locale folding, code-point order).
 */
import type { RawBuilder } from "kysely";
import type { AttrPath, AttributeInfo, CompiledResourceType } from "scim-core";
import { SqlDialect, type FilterSqlOptions, type Sql } from "./filter-sql.js";
import { sql, toKysely } from "./sql-text.js";

/** Options of {@link sortKeySql}: the same as those of `filterToSql`. */
export type SortSqlOptions = FilterSqlOptions;

/**
 * The ORDER BY terms of a sort key, most significant first. Order every term in the requested
 * direction and add `r.seq ASC` as the last term:
 *
 * `ORDER BY <terms[0]> DIR, <terms[1]> DIR, ..., r.seq ASC`
 *
 * `terms[0]` is greater for a resource without a value than for any resource with one (0 or 1 for
 * a typed key; the rank 0 number, 1 string, 2 boolean, 3 missing for an attribute no schema
 * defines), so missing values come last ascending and first descending. No term is ever NULL: a
 * missing value gives the same neutral values to every resource. A key every resource has
 * (`meta.created`, `meta.lastModified`, a required `userName` or `displayName`) is one term, its
 * indexed column, which an index serves. An empty list means that every
 * resource has the same key (for example a complex attribute without `value`): order by `r.seq`
 * alone. The terms can be selected as they are, to build a keyset cursor.
 *
 * Text terms carry `COLLATE "C"` on PostgreSQL (code-point order, like the filters). JSON paths
 * quote member names with JSON string escapes, which SQLite reads since 3.45 (better-sqlite3 12
 * bundles a later one).
 */
export interface SortKeySql {
  terms: RawBuilder<unknown>[];
}

/** Keeps a one-row derived table from being inlined into the query that reads it. */
const FENCE = { sqlite: sql.raw("LIMIT -1 OFFSET 0"), postgres: sql.raw("OFFSET 0") } as const;

/** What a key is compared as. */
type KeyKind = "text" | "number" | "boolean";

/** A JSON value in an expression: JSON text on SQLite, jsonb on PostgreSQL; NULL when absent. */
type Json = Sql;

/** The terms of a sort key, as the store's own SQL fragments. */
interface KeyTerms {
  terms: Sql[];
}

class SortKeyBuilder {
  constructor(
    private readonly d: SqlDialect,
    private readonly rt: CompiledResourceType,
    private readonly tenant: string,
  ) {}

  key(path: AttrPath): KeyTerms {
    const resolved = this.rt.resolve(path);
    if (resolved === undefined) return this.dynamicKey(path);
    const { schema, attribute } = resolved;
    let sub = resolved.sub;
    if (sub === undefined && attribute.type === "complex") sub = attribute.subMap?.get("value");
    if (attribute.type === "complex" && sub === undefined) return { terms: [] };
    const leaf = sub ?? attribute;
    if (!schema.extension && schema === this.rt.core) {
      const column = this.columnKey(attribute, sub);
      if (column !== undefined) return column;
    }
    const base: Json = schema.extension ? this.get(sql`r.doc`, schema.id) : sql`r.doc`;
    let x = this.get(base, attribute.name);
    if (attribute.multiValued) x = this.pickOne(x);
    if (sub !== undefined) x = this.get(x, sub.name);
    return this.typedKey(x, leaf);
  }

  // --- columns ---------------------------------------------------------------------------------

  private columnKey(attribute: AttributeInfo, sub: AttributeInfo | undefined): KeyTerms | undefined {
    const d = this.d;
    if (sub === undefined && !attribute.multiValued) {
      switch (attribute.name) {
        case "id":
          return attribute.type === "string" ? this.terms(attribute.exact ? sql`r.id` : d.fold(sql`r.id`), "text") : undefined;
        case "externalId":
          return attribute.type === "string" ? this.terms(this.nonEmpty(attribute.exact ? sql`r.external_id` : d.fold(sql`r.external_id`)), "text") : undefined;
        case "userName":
          return attribute.type === "string" ? this.nameKey(attribute, sql`r.user_name`, sql`r.user_name_lower`) : undefined;
        case "displayName":
          return attribute.type === "string" ? this.nameKey(attribute, sql`r.display_name`, sql`r.display_name_lower`) : undefined;
        case "active":
          return attribute.type === "boolean" ? this.terms(sql`r.active`, "boolean") : undefined;
        default:
          return undefined;
      }
    }
    if (attribute.name === "meta" && sub !== undefined) {
      switch (sub.name) {
        case "created":
          // ISO text in UTC at millisecond precision, never NULL: text order is time order in any
          // collation (all values have the same shape), so PostgreSQL's index serves it as it is.
          return sub.type === "dateTime" ? { terms: [sql`r.created`] } : undefined;
        case "lastModified":
          return sub.type === "dateTime" ? { terms: [sql`r.last_modified`] } : undefined;
        case "resourceType":
          return { terms: [] };
        case "version":
          return sub.type === "string" && sub.exact ? this.terms(sql`('W/"' || r.version || '"')`, "text") : undefined;
        case "location":
          return { terms: [] };
        default:
          return undefined;
      }
    }
    if (attribute.name === "emails" && attribute.multiValued && this.rt.core.byName.get("emails") === attribute && sub !== undefined && sub.type === "string" && !sub.exact) {
      const column = sub.name === "value" ? "value_lower" : sub.name === "type" ? "type_lower" : undefined;
      if (column === undefined) return undefined;
      // The primary element, or else the first one (`scim_emails` has a row per object element).
      const m = d.alias("os");
      return this.terms(
        sql`(SELECT NULLIF(${m}.${sql.raw(column)}, '') FROM scim_emails AS ${m} WHERE ${m}.tenant = ${d.text(this.tenant)} AND ${m}.resource_id = r.id AND (${m}.is_primary IS TRUE OR ${m}.position = 0) ORDER BY ${m}.is_primary DESC, ${m}.position LIMIT 1)`,
        "text",
      );
    }
    return undefined;
  }

  private nonEmpty(expr: Sql): Sql {
    return sql`NULLIF(${expr}, '')`;
  }

  /**
   * `userName` or `displayName` by its column: the lower-cased one (indexed) unless the schema
   * makes it caseExact. A required one is never missing (scim-core refuses a blank value of a
   * required string), so it is keyed by the column alone and its index serves the order.
   */
  private nameKey(attribute: AttributeInfo, exact: Sql, lower: Sql): KeyTerms {
    if (attribute.exact) return this.terms(this.nonEmpty(exact), "text");
    return attribute.required ? this.presentKey(lower) : this.terms(this.nonEmpty(lower), "text");
  }

  /**
   * The key of a text column every live resource has a value in (a required attribute's): the
   * column alone, without the missing-value term, so that its index on `(tenant, resource_type,
   * column)` serves `ORDER BY` (at 100,000 users, a page sorted by `userName` sorted every user
   * first). A NULL there (a row written against an older schema) sorts where the database puts
   * NULLs: first ascending on SQLite, last on PostgreSQL.
   */
  private presentKey(column: Sql): KeyTerms {
    return { terms: [this.d.ordered(column)] };
  }

  // --- JSON ------------------------------------------------------------------------------------

  /**
   * `value` computed once for an expression that reads it several times. The OFFSET keeps the
   * planners from inlining the derived table, which would copy `value` into every read (and
   * nested binds would multiply the copies).
   */
  private bind(value: Sql, body: (v: Sql) => Sql): Sql {
    const w = this.d.alias("ow");
    return sql`(SELECT ${body(sql`${w}.v`)} FROM (SELECT ${value} AS v ${FENCE[this.d.name]}) AS ${w})`;
  }

  private type(x: Json): Sql {
    return this.d.pg ? sql`jsonb_typeof(${x})` : sql`json_type(${x})`;
  }

  /** `obj[key]`: NULL unless `obj` is an object holding `key` (`->` gives NULL on arrays and scalars). */
  private get(obj: Json, key: string): Json {
    if (this.d.pg) return sql`(${obj} -> ${this.d.text(key)})`;
    return sql`(${obj} -> ${`$.${JSON.stringify(key)}`})`;
  }

  /** memoryStore's `pickOne`: the first element with `primary: true`, or else the first element. */
  private pickOne(x: Json): Json {
    const e = this.d.alias("oe");
    if (this.d.pg) {
      return this.bind(x, (v) => sql`CASE WHEN jsonb_typeof(${v}) = 'array' THEN COALESCE(
        (SELECT ${e}.value FROM jsonb_array_elements(${v}) WITH ORDINALITY AS ${e}(value, i) WHERE jsonb_typeof(${e}.value) = 'object' AND ${e}.value -> 'primary' = 'true'::jsonb ORDER BY ${e}.i LIMIT 1),
        ${v} -> 0) ELSE ${v} END`);
    }
    return this.bind(x, (v) => sql`CASE WHEN json_type(${v}) = 'array' THEN COALESCE(
      (SELECT ${v} -> ('$[' || ${e}.key || ']') FROM json_each(${v}) AS ${e} WHERE ${e}.type = 'object' AND json_type(${e}.value, '$.primary') = 'true' ORDER BY ${e}.key LIMIT 1),
      ${v} -> '$[0]') ELSE ${v} END`);
  }

  /** memoryStore's `normalizer` of a declared type, on JSON `x`. */
  private typedKey(x: Json, leaf: AttributeInfo): KeyTerms {
    const d = this.d;
    const pg = d.pg;
    switch (leaf.type) {
      case "dateTime":
        return this.terms(this.bind(x, (v) => sql`CASE WHEN ${this.type(v)} = ${sql.raw(pg ? "'string'" : "'text'")} THEN ${d.instant(this.text(v))} END`), "number");
      case "integer":
      case "decimal":
        return this.terms(this.bind(x, (v) => (pg ? sql`CASE WHEN jsonb_typeof(${v}) = 'number' THEN (${v})::numeric END` : sql`CASE WHEN json_type(${v}) IN ('integer', 'real') THEN ${v} ->> '$' END`)), "number");
      case "boolean":
        return this.terms(this.bind(x, (v) => (pg ? sql`CASE WHEN jsonb_typeof(${v}) = 'boolean' THEN (${v})::boolean END` : sql`CASE json_type(${v}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END`)), "boolean");
      case "complex":
        return { terms: [] };
      default:
        return this.terms(this.bind(x, (v) => this.stringKey(v, leaf.exact)), "text");
    }
  }

  /** The text of JSON string `v` (meaningful only when it is one). */
  private text(v: Json): Sql {
    return this.d.pg ? sql`(${v} #>> '{}')` : sql`(${v} ->> '$')`;
  }

  /** A non-empty JSON string, lower-cased unless `exact`; NULL otherwise. */
  private stringKey(v: Json, exact: boolean): Sql {
    const isString = this.d.pg ? sql`jsonb_typeof(${v}) = 'string'` : sql`json_type(${v}) = 'text'`;
    const text = exact ? this.text(v) : this.d.fold(this.text(v));
    return sql`CASE WHEN ${isString} AND ${this.text(v)} <> '' THEN ${text} END`;
  }

  /** memoryStore's case-insensitive read: the exact name, or else the first member whose name folds to it. */
  private getCaseInsensitive(obj: Json, name: string): Json {
    const d = this.d;
    const e = d.alias("oe");
    const lower = name.toLowerCase();
    if (d.pg) {
      return this.bind(obj, (o) => sql`CASE WHEN jsonb_typeof(${o}) = 'object' THEN COALESCE(${o} -> ${d.text(name)},
        (SELECT ${e}.value FROM jsonb_each(${o}) AS ${e} WHERE ${d.fold(sql`${e}.key`)} = ${d.text(lower)} ORDER BY ${e}.key LIMIT 1)) END`);
    }
    return this.bind(obj, (o) => sql`CASE WHEN json_type(${o}) = 'object' THEN COALESCE(${o} -> ${`$.${JSON.stringify(name)}`},
      (SELECT ${o} -> ${e}.fullkey FROM json_each(${o}) AS ${e} WHERE ${d.fold(sql`${e}.key`)} = ${lower} ORDER BY ${e}.id LIMIT 1)) END`);
  }

  /** An attribute no schema defines: case-insensitive names, keyed by runtime type (memoryStore's `dynamicKey`). */
  private dynamicKey(path: AttrPath): KeyTerms {
    const d = this.d;
    const base: Json = path.uri !== undefined ? this.getCaseInsensitive(sql`r.doc`, path.uri) : sql`r.doc`;
    let x = this.pickOne(this.getCaseInsensitive(base, path.attr));
    if (path.sub !== undefined) {
      x = this.getCaseInsensitive(x, path.sub);
    } else {
      x = this.bind(x, (v) => sql`CASE WHEN ${this.type(v)} = 'object' THEN ${this.get(v, "value")} ELSE ${v} END`);
    }
    // Three terms: the rank (numbers, strings, booleans, then missing values, which therefore come
    // last ascending and first descending), the number (or 0/1 for booleans), the folded text.
    const term = (expr: (v: Sql) => Sql) => {
      const w = d.alias("ok");
      return sql`(SELECT ${expr(sql.raw("v"))} FROM (SELECT ${x} AS v ${FENCE[d.name]}) AS ${w})`;
    };
    if (d.pg) {
      return {
        terms: [
          term((v) => sql`CASE jsonb_typeof(${v}) WHEN 'number' THEN 0 WHEN 'string' THEN CASE WHEN ${v} <> '""'::jsonb THEN 1 ELSE 3 END WHEN 'boolean' THEN 2 ELSE 3 END`),
          term((v) => sql`CASE jsonb_typeof(${v}) WHEN 'number' THEN (${v})::numeric WHEN 'boolean' THEN CASE WHEN ${v} = 'true'::jsonb THEN 1 ELSE 0 END ELSE 0 END`),
          d.ordered(term((v) => sql`CASE WHEN jsonb_typeof(${v}) = 'string' THEN ${d.fold(sql`(${v} #>> '{}')`)} ELSE '' END`)),
        ],
      };
    }
    return {
      terms: [
        term((v) => sql`CASE json_type(${v}) WHEN 'integer' THEN 0 WHEN 'real' THEN 0 WHEN 'text' THEN CASE WHEN (${v} ->> '$') <> '' THEN 1 ELSE 3 END WHEN 'true' THEN 2 WHEN 'false' THEN 2 ELSE 3 END`),
        term((v) => sql`CASE json_type(${v}) WHEN 'integer' THEN ${v} ->> '$' WHEN 'real' THEN ${v} ->> '$' WHEN 'true' THEN 1 ELSE 0 END`),
        term((v) => sql`CASE WHEN json_type(${v}) = 'text' THEN ${d.fold(sql`(${v} ->> '$')`)} ELSE '' END`),
      ],
    };
  }

  /** The terms of a key of one kind: missing flag, then the key (neutral when missing). */
  private terms(key: Sql, kind: KeyKind): KeyTerms {
    const d = this.d;
    const neutral = kind === "text" ? sql`''` : kind === "number" ? sql`0` : d.pg ? sql`false` : sql`0`;
    const value = sql`COALESCE(${key}, ${neutral})`;
    return { terms: [sql`(CASE WHEN ${key} IS NULL THEN 1 ELSE 0 END)`, kind === "text" ? d.ordered(value) : value] };
  }
}

/**
 * The ORDER BY key of `path` over `scim_resources AS r` (RFC 7644 §3.4.2.3), with memoryStore's
 * order: see {@link SortKeySql} for how to use the terms.
 */
export function sortKeySql(path: AttrPath, options: SortSqlOptions): SortKeySql {
  return { terms: sortKeyTerms(path, options).map(toKysely) };
}

/** The terms of {@link sortKeySql} as the store's own SQL fragments (see `sql-text.ts`). */
function sortKeyTerms(path: AttrPath, options: SortSqlOptions): Sql[] {
  return new SortKeyBuilder(new SqlDialect(options.dialect), options.resourceType, options.tenant).key(path).terms;
}

/**
 * The whole ORDER BY list (without the `ORDER BY` keywords) of a sorted list:
 * `<key terms> <direction>, r.seq ASC`.
 *
 * @example
 * sql`SELECT r.id FROM scim_resources AS r WHERE ... ORDER BY ${orderBySql({ attr: "userName" }, "ascending", options)}`
 */
export function orderBySql(path: AttrPath, order: "ascending" | "descending", options: SortSqlOptions): RawBuilder<unknown> {
  return toKysely(orderBySqlText(path, order, options));
}

/** @internal {@link orderBySql} as the store's own SQL fragment (see `sql-text.ts`). */
export function orderBySqlText(path: AttrPath, order: "ascending" | "descending", options: SortSqlOptions): Sql {
  const direction = sql.raw(order === "descending" ? " DESC" : " ASC");
  const terms = sortKeyTerms(path, options).map((t) => sql`${t}${direction}`);
  return sql.join([...terms, sql`r.seq ASC`]);
}

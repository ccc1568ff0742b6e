/**
 * In-memory sorting and paging (RFC 7644 §3.4.2.3, §3.4.2.4; RFC 9865 cursors), for stores that
 * declare they cannot sort or page themselves.
 */
import { ScimError } from "../errors/scim-error.js";
import type { AttrPath } from "../filter/ast.js";
import { parseDateTime } from "../schema/datetime.js";
import type { CompiledResourceType } from "../schema/registry.js";
import { isObject } from "../schema/validate.js";

type Obj = Record<string, unknown>;

/** The value a resource sorts by: for a multi-valued attribute, its primary (or first) element. */
export function sortValue(resource: Obj, rt: CompiledResourceType, path: AttrPath): unknown {
  const resolved = rt.resolve(path);
  const name = resolved?.attribute.name ?? path.attr;
  const container = resolved?.schema.extension ? resource[resolved.schema.id] : path.uri && !resolved ? resource[path.uri] : resource;
  if (!isObject(container)) return undefined;
  let value = container[name];
  if (Array.isArray(value)) value = value.find((el) => isObject(el) && el.primary === true) ?? value[0];
  const sub = resolved?.sub?.name ?? path.sub ?? (isObject(value) && resolved?.attribute.type === "complex" ? "value" : undefined);
  if (sub !== undefined) value = isObject(value) ? value[sub] : undefined;
  if (value === null || value === "") return undefined;
  const leaf = resolved?.sub ?? (resolved?.attribute.type === "complex" ? resolved.attribute.subMap?.get("value") : resolved?.attribute);
  if (typeof value === "string") {
    if (leaf?.type === "dateTime") {
      const t = parseDateTime(value);
      return Number.isNaN(t) ? value : t;
    }
    return leaf?.exact ? value : value.toLowerCase();
  }
  return value;
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Sorts resources by an attribute path (RFC 7644 §3.4.2.3): strings fold case unless caseExact,
 * dateTimes compare as instants, resources without a value come last when ascending. Stable.
 */
export function sortResources<T extends Obj>(resources: readonly T[], rt: CompiledResourceType, path: AttrPath, order: "ascending" | "descending"): T[] {
  return sortByKeys(resources.map((item) => ({ item, key: sortValue(item, rt, path) })), order);
}

/**
 * Sorts items by the {@link sortValue} already read from each, as {@link sortResources} does
 * (missing values last ascending, first descending; stable): for callers that keep only keys.
 */
export function sortByKeys<T>(items: ReadonlyArray<{ item: T; key: unknown }>, order: "ascending" | "descending"): T[] {
  const keyed = items.map((x, i) => ({ r: x.item, i, k: x.key }));
  const sign = order === "descending" ? -1 : 1;
  keyed.sort((a, b) => {
    const am = a.k === undefined;
    const bm = b.k === undefined;
    if (am || bm) return am && bm ? a.i - b.i : am ? sign : -sign;
    return sign * compareValues(a.k, b.k) || a.i - b.i;
  });
  return keyed.map((x) => x.r);
}

/**
 * Encodes an offset as an opaque cursor (RFC 9865), bound to the query it pages (`signature`:
 * its filter and sort), so that a cursor is refused under another query.
 */
export function offsetCursor(offset: number, signature = ""): string {
  return `o${offset.toString(36)}.${signatureTag(signature)}`;
}

/** Decodes a cursor made by {@link offsetCursor} for this query; "" is the first page. Invalid, or of another query: 400 `invalidCursor`. */
export function cursorOffset(cursor: string, signature = ""): number {
  if (cursor === "") return 0;
  const match = /^o([0-9a-z]{1,10})\.([0-9a-z]{1,8})$/.exec(cursor);
  const n = match ? parseInt(match[1]!, 36) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || match![2] !== signatureTag(signature)) throw new ScimError(400, "invalidCursor", "the cursor is not valid for this query");
  return n;
}

/** A short tag of a query's signature (FNV-1a, 32 bits, base 36). */
function signatureTag(signature: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < signature.length; i++) {
    h ^= signature.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

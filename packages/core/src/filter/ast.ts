/**
 * The typed filter AST (RFC 7644 §3.4.2.2). Stores translate it (for example to SQL); the
 * compiler turns it into a predicate. Produced by {@link parseFilter}.
 */

/**
 * An attribute path (RFC 7644 §3.4.2.2 `attrPath = [URI ":"] ATTRNAME *1subAttr`), as written:
 * names keep the client's casing; resolve them against a schema case-insensitively.
 *
 * `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName` parses to
 * `{ uri: "urn:ietf:params:scim:schemas:core:2.0:User", attr: "name", sub: "givenName" }`.
 */
export interface AttrPath {
  /** Schema URN qualifying the attribute, when written. */
  uri?: string;
  /** Attribute name (inside a value filter, the sub-attribute name of the element). */
  attr: string;
  /** Sub-attribute name, when written (`name.givenName`). */
  sub?: string;
}

/** Comparison operators (RFC 7644 §3.4.2.2 Table 3), lower-cased. */
export type CompareOperator = "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";

/** A comparison literal: JSON string, number, `true`, `false` or `null` (RFC 7644 §3.4.2.2 `compValue`). */
export type FilterValue = string | number | boolean | null;

/** `attrPath compareOp compValue`, e.g. `userName eq "bjensen"`. */
export interface CompareFilter {
  type: "compare";
  op: CompareOperator;
  path: AttrPath;
  value: FilterValue;
}

/** `attrPath pr`: the attribute has a non-empty value. */
export interface PresentFilter {
  type: "present";
  path: AttrPath;
}

/** `FILTER and FILTER` / `FILTER or FILTER` (and binds tighter than or; both left-associative). */
export interface LogicalFilter {
  type: "logical";
  op: "and" | "or";
  left: Filter;
  right: Filter;
}

/** `not (FILTER)`. */
export interface NotFilter {
  type: "not";
  filter: Filter;
}

/**
 * `attrPath "[" valFilter "]"`, e.g. `emails[type eq "work" and value co "@example.com"]`: the
 * inner filter holds for one and the same element of the multi-valued attribute. Paths inside
 * `filter` name sub-attributes of the element (no `uri`, no `sub`).
 */
export interface ValuePathFilter {
  type: "valuePath";
  path: AttrPath;
  filter: Filter;
}

/** Any filter expression (RFC 7644 §3.4.2.2 `FILTER`). */
export type Filter = CompareFilter | PresentFilter | LogicalFilter | NotFilter | ValuePathFilter;

/** Every comparison operator, in RFC order. */
export const COMPARE_OPERATORS: readonly CompareOperator[] = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

/**
 * The operands of a chain of one logical operator (`a and b and c` gives `[a, b, c]`), without
 * recursion, so that a long chain cannot overflow the stack. Stores use it to plan queries.
 */
export function logicalOperands(node: Filter, op: "and" | "or"): Filter[] {
  const out: Filter[] = [];
  const stack: Filter[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.type === "logical" && n.op === op) stack.push(n.right, n.left);
    else out.push(n);
  }
  return out;
}

/**
 * The comparisons of a filter, `not` and `and`/`or` taken apart: its `compare`, `present` and
 * `valuePath` nodes (a value filter's inner filter is not entered: its paths are relative to the
 * element).
 */
export function leafFilters(filter: Filter): Array<CompareFilter | PresentFilter | ValuePathFilter> {
  const out: Array<CompareFilter | PresentFilter | ValuePathFilter> = [];
  const stack: Filter[] = [filter];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (f.type === "not") stack.push(f.filter);
    else if (f.type === "logical") stack.push(f.left, f.right);
    else out.push(f);
  }
  return out;
}

/**
 * Whether the filter names the top-level attribute `name` (case-insensitive, with or without its
 * schema URN) anywhere: `groups.value eq "x"`, `groups[display sw "A"]`, `not (groups pr)`. For
 * stores and servers that keep an attribute outside the filtered document (group `members`, the
 * derived `User.groups`, RFC 7643 §4.1.2) and must supply it first.
 */
export function referencesAttribute(filter: Filter, name: string): boolean {
  const wanted = name.toLowerCase();
  return leafFilters(filter).some((f) => f.path.attr.toLowerCase() === wanted);
}

/**
 * Whether the filter names the `$ref` of a group's `members` or of a user's `groups` (as a
 * sub-attribute, or inside a value path): the server builds `$ref` when it answers, so stores keep
 * no `$ref` to filter on, and leave such filters to the server (`capabilities.filter`).
 */
export function referencesMemberRef(filter: Filter): boolean {
  return leafFilters(filter).some((f) => {
    const attr = f.path.attr.toLowerCase();
    if (attr !== "members" && attr !== "groups") return false;
    if (f.path.sub?.toLowerCase() === "$ref") return true;
    return f.type === "valuePath" && leafFilters(f.filter).some((g) => g.path.attr.toLowerCase() === "$ref");
  });
}

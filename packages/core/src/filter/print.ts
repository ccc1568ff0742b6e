/**
 * Prints a filter AST back to RFC 7644 §3.4.2.2 text that parses to the same AST.
 */
import type { AttrPath, Filter } from "./ast.js";

/** Renders an attribute path: `[uri ":"] attr ["." sub]`. */
export function printAttrPath(path: AttrPath): string {
  let s = path.uri !== undefined ? `${path.uri}:${path.attr}` : path.attr;
  if (path.sub !== undefined) s += `.${path.sub}`;
  return s;
}

/**
 * Prints a {@link Filter} as canonical filter text: lower-case operators, JSON literals, and
 * parentheses exactly where the tree needs them, so `parseFilter(printFilter(f))` equals `f`.
 */
export function printFilter(filter: Filter): string {
  switch (filter.type) {
    case "compare":
      // JSON.stringify(-0) is "0"; the parser reads "-0" back as -0.
      return `${printAttrPath(filter.path)} ${filter.op} ${Object.is(filter.value, -0) ? "-0" : JSON.stringify(filter.value)}`;
    case "present":
      return `${printAttrPath(filter.path)} pr`;
    case "not":
      return `not (${printFilter(filter.filter)})`;
    case "valuePath":
      return `${printAttrPath(filter.path)}[${printFilter(filter.filter)}]`;
    case "logical": {
      // Left-associative: a left child needs parentheses only when it binds looser (an `or`
      // under an `and`); a right child also when it is the same operator.
      const left = filter.left;
      const right = filter.right;
      const l = left.type === "logical" && left.op === "or" && filter.op === "and" ? `(${printFilter(left)})` : printFilter(left);
      const r = right.type === "logical" && (filter.op === "and" || right.op === "or") ? `(${printFilter(right)})` : printFilter(right);
      return `${l} ${filter.op} ${r}`;
    }
  }
}

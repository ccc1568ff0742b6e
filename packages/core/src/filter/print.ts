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
      // Left-associative: walk the left spine of the same operator without recursion (long
      // `or` chains), so only right children and looser left operands need parentheses.
      const op = filter.op;
      const rights: Filter[] = [];
      let node: Filter = filter;
      while (node.type === "logical" && node.op === op) {
        rights.push(node.right);
        node = node.left;
      }
      let out = node.type === "logical" && node.op === "or" && op === "and" ? `(${printFilter(node)})` : printFilter(node);
      for (let i = rights.length - 1; i >= 0; i--) {
        const right = rights[i]!;
        const r = right.type === "logical" && (op === "and" || right.op === "or") ? `(${printFilter(right)})` : printFilter(right);
        out += ` ${op} ${r}`;
      }
      return out;
    }
  }
}

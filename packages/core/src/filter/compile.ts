/**
 * Filter compiler (RFC 7644 §3.4.2.2): turns a filter AST into a predicate with schema-aware
 * semantics. Everything that can be decided once (attribute resolution, case folding of the
 * literal, dateTime parsing of the literal) is decided at compile time.
 */
import { badRequest } from "../errors/scim-error.js";
import { compareDateTime, compareSplitDateTimes, splitDateTime } from "../schema/datetime.js";
import { resolveResourceType, type AttributeInfo, type CompiledResourceType, type ResourceTypeRef, type SchemaRegistry } from "../schema/registry.js";
import type { AttributeType } from "../schema/types.js";
import { logicalOperands, type AttrPath, type CompareOperator, type Filter, type FilterValue } from "./ast.js";
import { booleanFilterValue, numericFilterValue, parseFilter } from "./parser.js";
import { printAttrPath } from "./print.js";

/** A compiled filter: true when the resource matches. Never throws on any resource shape. */
export type FilterPredicate = (resource: Record<string, unknown>) => boolean;

/** Options of {@link compileFilter}. */
export interface CompileFilterOptions {
  /** The resource type the filter applies to: a registered name (`"User"`), a definition, or compiled. */
  resourceType: ResourceTypeRef;
  /** Registry that resolves `resourceType` and its schemas. @default the core schemas */
  registry?: SchemaRegistry;
  /** When `filter` is text: accept unquoted values (see {@link ParseFilterOptions.lenient}). @default false */
  lenient?: boolean;
}

type Obj = Record<string, unknown>;
type ValueTest = (value: unknown) => boolean;

const FALSE: FilterPredicate = () => false;
const NEVER: ValueTest = () => false;

/** RFC 7644 §3.4.2.2 `pr`: false for null, "", [] and {} (and for objects whose values are all empty). */
export function isPresentValue(value: unknown): boolean {
  return present(value, 0);
}

/** Resource data is at most a few levels deep; deeper (or cyclic) values count as present. */
function present(value: unknown, depth: number): boolean {
  if (value === undefined || value === null || value === "") return false;
  // Functions are never resource data: they come from Object.prototype (`toString pr`).
  if (typeof value !== "object") return typeof value !== "function";
  if (depth > 4) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (present(v, depth + 1)) return true;
    return false;
  }
  for (const k in value as Obj) if (present((value as Obj)[k], depth + 1)) return true;
  return false;
}

function ordering(op: CompareOperator): ((a: number | string, b: number | string) => boolean) | undefined {
  switch (op) {
    case "gt": return (a, b) => a > b;
    case "ge": return (a, b) => a >= b;
    case "lt": return (a, b) => a < b;
    case "le": return (a, b) => a <= b;
    default: return undefined;
  }
}

function stringTest(op: CompareOperator, literal: string, exact: boolean): ValueTest {
  if (exact) {
    switch (op) {
      case "eq": return (v) => v === literal;
      case "ne": return (v) => typeof v === "string" && v !== literal;
      case "co": return (v) => typeof v === "string" && v.includes(literal);
      case "sw": return (v) => typeof v === "string" && v.startsWith(literal);
      case "ew": return (v) => typeof v === "string" && v.endsWith(literal);
      case "gt": return (v) => typeof v === "string" && v > literal;
      case "ge": return (v) => typeof v === "string" && v >= literal;
      case "lt": return (v) => typeof v === "string" && v < literal;
      case "le": return (v) => typeof v === "string" && v <= literal;
    }
  }
  const l = literal.toLowerCase();
  switch (op) {
    case "eq": return (v) => typeof v === "string" && (v === literal || v.toLowerCase() === l);
    case "ne": return (v) => typeof v === "string" && v !== literal && v.toLowerCase() !== l;
    case "co": return (v) => typeof v === "string" && v.toLowerCase().includes(l);
    case "sw": return (v) => typeof v === "string" && v.toLowerCase().startsWith(l);
    case "ew": return (v) => typeof v === "string" && v.toLowerCase().endsWith(l);
    case "gt": return (v) => typeof v === "string" && v.toLowerCase() > l;
    case "ge": return (v) => typeof v === "string" && v.toLowerCase() >= l;
    case "lt": return (v) => typeof v === "string" && v.toLowerCase() < l;
    case "le": return (v) => typeof v === "string" && v.toLowerCase() <= l;
  }
}

/** A value compared with a dateTime literal exactly ({@link compareDateTime}); NaN when it is not a dateTime. */
function compareInstant(v: unknown, at: { ms: number; sub: string }): number {
  if (typeof v === "string") return compareDateTime(v, at);
  if (v instanceof Date) return compareSplitDateTimes({ ms: v.getTime(), sub: "" }, at);
  return NaN;
}

/** The test for one (non-null, non-array) value of an attribute of the given type. */
function valueTest(op: CompareOperator, literal: FilterValue, type: AttributeType, exact: boolean, where: string): ValueTest {
  const order = ordering(op);
  switch (type) {
    case "boolean": {
      if (order) throw badRequest("invalidFilter", `operator '${op}' is not defined for the boolean attribute '${where}'`);
      const b = booleanFilterValue(literal);
      if (b === undefined) return NEVER;
      if (op === "eq") return (v) => v === b;
      if (op === "ne") return (v) => typeof v === "boolean" && v !== b;
      return NEVER;
    }
    case "binary":
      if (order) throw badRequest("invalidFilter", `operator '${op}' is not defined for the binary attribute '${where}'`);
      return typeof literal === "string" ? stringTest(op, literal, true) : NEVER;
    case "integer":
    case "decimal": {
      const n = numericFilterValue(literal);
      if (n === undefined) return NEVER;
      if (order) return (v) => typeof v === "number" && order(v, n);
      if (op === "eq") return (v) => v === n;
      if (op === "ne") return (v) => typeof v === "number" && v !== n;
      return NEVER;
    }
    case "dateTime": {
      if (typeof literal !== "string") return NEVER;
      if (op === "co" || op === "sw" || op === "ew") return stringTest(op, literal, true);
      const at = splitDateTime(literal);
      if (at === undefined) throw badRequest("invalidFilter", `'${literal}' is not a valid dateTime for '${where}'`);
      // Exact to the last digit of either fraction: a stored value equals itself, whatever its precision.
      const compare = (v: unknown) => compareInstant(v, at);
      if (order) return (v) => { const c = compare(v); return c === c && order(c, 0); };
      if (op === "eq") return (v) => compare(v) === 0;
      return (v) => { const c = compare(v); return c === c && c !== 0; };
    }
    case "complex":
      return NEVER;
    default:
      if (typeof literal === "string") return stringTest(op, literal, exact);
      // An unquoted numeric id from a lenient parse (`externalId eq 123456`) is compared as text.
      if (typeof literal === "number" && (op === "eq" || op === "ne")) return stringTest(op, String(literal), exact);
      return NEVER;
  }
}

/** For attributes no schema defines: decide by the runtime type of each value (strings case-insensitive). */
function dynamicTest(op: CompareOperator, literal: FilterValue): ValueTest {
  if (typeof literal === "string") return stringTest(op, literal, false);
  if (typeof literal === "number") return valueTest(op, literal, "decimal", false, "");
  if (typeof literal === "boolean") {
    if (op === "eq") return (v) => v === literal;
    if (op === "ne") return (v) => typeof v === "boolean" && v !== literal;
  }
  return NEVER;
}

function anyOf(test: ValueTest): ValueTest {
  return (v) => {
    if (!Array.isArray(v)) return v !== undefined && v !== null && test(v);
    for (let i = 0; i < v.length; i++) if (test(v[i])) return true;
    return false;
  };
}

/** Applies `test` to `element[sub]` of any element of a multi-valued complex value (or of a single object). */
function anyElement(sub: string, test: ValueTest): ValueTest {
  return (v) => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const el = v[i];
        if (el !== null && typeof el === "object" && test((el as Obj)[sub])) return true;
      }
      return false;
    }
    return v !== null && typeof v === "object" && test((v as Obj)[sub]);
  };
}

/** Reads `name` from the resource, or from its extension object `resource[schemaId]`. */
function reader(name: string, extension: string | undefined, test: ValueTest): FilterPredicate {
  if (extension === undefined) return (r) => test(r[name]);
  return (r) => {
    const ext = r[extension];
    return ext !== null && typeof ext === "object" && test((ext as Obj)[name]);
  };
}

interface Scope {
  /** Resource scope: the resource type. */
  rt?: CompiledResourceType;
  /** Element scope (inside `[...]`): the multi-valued attribute, undefined if not in the schema. */
  parent?: AttributeInfo;
}

/** Builds the value test of a comparison or `pr` on a leaf attribute. */
function leafTest(node: Filter & { type: "compare" | "present" }, leaf: { type: AttributeType; exact: boolean; multiValued: boolean } | undefined, where: string): ValueTest {
  if (node.type === "present") return isPresentValue;
  if (node.value === null) {
    // `attr eq null` matches an unassigned attribute; `attr ne null` an assigned one.
    if (node.op === "eq") return (v) => !isPresentValue(v);
    if (node.op === "ne") return isPresentValue;
    return NEVER;
  }
  const test = leaf ? valueTest(node.op, node.value, leaf.type, leaf.exact, where) : dynamicTest(node.op, node.value);
  if (test === NEVER) return NEVER;
  // Every value test checks the value's type itself, so a singular attribute needs no wrapper.
  return leaf && !leaf.multiValued ? test : anyOf(test);
}

function compileLeaf(node: Filter & { type: "compare" | "present" }, scope: Scope): FilterPredicate {
  const path = node.path;
  const where = printAttrPath(path);
  if (scope.rt === undefined) {
    // Inside a value filter: the path names a sub-attribute of the element.
    if (path.uri !== undefined || path.sub !== undefined) {
      throw badRequest("invalidFilter", `'${where}' inside a value filter must name a sub-attribute`);
    }
    const info = scope.parent?.subMap?.get(path.attr.toLowerCase());
    const name = info?.name ?? path.attr;
    const test = leafTest(node, info, where);
    if (test === NEVER) return FALSE;
    return (el) => test(el[name]);
  }
  if (node.type === "compare" && node.op === "eq" && node.value === null) {
    // `attr eq null` matches an unassigned attribute (RFC 7643 §2.5): exactly the resources that
    // `attr ne null` does not match, including those without the parent object or extension.
    const assigned = compileLeaf({ type: "compare", op: "ne", path, value: null }, scope);
    return (r) => !assigned(r);
  }
  const resolved = scope.rt.resolve(path);
  if (resolved === undefined) {
    // An attribute no schema defines: read it as written, compare by runtime type.
    const test = leafTest(node, undefined, where);
    if (test === NEVER) return FALSE;
    const inner = path.sub === undefined ? test : anyElement(path.sub, test);
    return reader(path.attr, path.uri, inner);
  }
  const { schema, attribute } = resolved;
  let sub = resolved.sub;
  // A multi-valued complex attribute without sub-attribute means its `value` (RFC 7644 §3.4.2.2),
  // except for `pr`, which asks whether the attribute has any element at all. One without a
  // `value` (`addresses`) compares with nothing but `null`, which then asks what `pr` asks:
  // `addresses ne null` is `addresses pr`, and `eq null` its opposite.
  if (sub === undefined && attribute.type === "complex" && attribute.multiValued && node.type === "compare") {
    sub = attribute.subMap?.get("value");
    if (sub === undefined && node.value !== null) return FALSE;
  }
  const extension = schema.extension ? schema.id : undefined;
  if (sub === undefined) {
    const test = leafTest(node, attribute, where);
    return test === NEVER ? FALSE : reader(attribute.name, extension, test);
  }
  const test = leafTest(node, sub, where);
  if (test === NEVER) return FALSE;
  if (!attribute.multiValued && extension === undefined) {
    // A singular complex attribute such as `name.familyName`: one object, one read.
    const name = attribute.name;
    const subName = sub.name;
    return (r) => {
      const o = r[name];
      return o !== null && typeof o === "object" && test((o as Obj)[subName]);
    };
  }
  return reader(attribute.name, extension, anyElement(sub.name, test));
}

function compileValuePath(node: Filter & { type: "valuePath" }, scope: Scope): FilterPredicate {
  const rt = scope.rt;
  if (rt === undefined) throw badRequest("invalidFilter", "a value filter cannot contain another value filter");
  const resolved = rt.resolve(node.path);
  const attribute = resolved?.attribute;
  if (attribute !== undefined && attribute.type !== "complex") {
    throw badRequest("invalidFilter", `'${printAttrPath(node.path)}' is not a complex attribute and cannot take a value filter`);
  }
  const inner = compileNode(node.filter, { parent: attribute });
  const element: ValueTest = (v) => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const el = v[i];
        if (el !== null && typeof el === "object" && inner(el as Obj)) return true;
      }
      return false;
    }
    return v !== null && typeof v === "object" && inner(v as Obj);
  };
  if (resolved === undefined) return reader(node.path.attr, node.path.uri, element);
  return reader(resolved.attribute.name, resolved.schema.extension ? resolved.schema.id : undefined, element);
}


function compileNode(node: Filter, scope: Scope): FilterPredicate {
  switch (node.type) {
    case "compare":
    case "present":
      return compileLeaf(node, scope);
    case "valuePath":
      return compileValuePath(node, scope);
    case "not": {
      const inner = compileNode(node.filter, scope);
      return (r) => !inner(r);
    }
    case "logical": {
      const parts = logicalOperands(node, node.op).map((n) => compileNode(n, scope));
      if (node.op === "and") {
        if (parts.length === 2) {
          const [a, b] = parts as [FilterPredicate, FilterPredicate];
          return (r) => a(r) && b(r);
        }
        return (r) => {
          for (let i = 0; i < parts.length; i++) if (!parts[i]!(r)) return false;
          return true;
        };
      }
      if (parts.length === 2) {
        const [a, b] = parts as [FilterPredicate, FilterPredicate];
        return (r) => a(r) || b(r);
      }
      return (r) => {
        for (let i = 0; i < parts.length; i++) if (parts[i]!(r)) return true;
        return false;
      };
    }
    default:
      throw badRequest("invalidFilter", "unknown filter node");
  }
}

/**
 * Compiles a filter (text or AST) into a predicate over resources of one resource type
 * (RFC 7644 §3.4.2.2), with schema-aware semantics:
 * - strings compare case-insensitively unless the attribute is `caseExact` (userName and
 *   emails.value fold case; id and externalId do not);
 * - dateTime values compare as instants (offsets, fractional seconds);
 * - a multi-valued attribute matches when any element does; without a sub-attribute it means
 *   its `value`; conditions inside `[...]` hold for one and the same element;
 * - `pr` is false for null, "", [] and {}; absent attributes and type mismatches are false;
 * - `gt`/`ge`/`lt`/`le` on a boolean or binary attribute throw 400 `invalidFilter`.
 *
 * Resources are expected in canonical form (declared attribute casing, extensions under their
 * schema URN), as the server stores them. The predicate never throws.
 */
export function compileFilter(filter: Filter | string, options: CompileFilterOptions): FilterPredicate {
  const rt = resolveResourceType(options.resourceType, options.registry);
  const ast = typeof filter === "string" ? parseFilter(filter, { lenient: options.lenient }) : filter;
  const predicate = compileNode(ast, { rt });
  return (resource) => resource !== null && typeof resource === "object" && predicate(resource);
}

/**
 * @internal Compiles a value filter (the inside of `attr[...]`) against the elements of a
 * complex attribute, as PATCH paths need (RFC 7644 §3.5.2). `parent` is undefined for an
 * attribute no schema defines.
 */
export function compileElementFilter(filter: Filter, parent: AttributeInfo | undefined): FilterPredicate {
  return compileNode(filter, { parent });
}

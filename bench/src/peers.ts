/**
 * One small adapter per peer library, each using that library's public API as documented in its
 * README and as implemented in its code (read in node_modules):
 *
 *  - scimmy 1.3.5:                 `new Types.Filter(text)` parses (an array of DNF branch objects);
 *                                  `filter.match(resources)` returns the matching resources.
 *  - scim2-parse-filter 0.2.10:    `parse(text)` returns an AST; `filter(ast)` returns a predicate.
 *  - scim-query-filter-parser 2.0.4: `compileFilter(text)` parses *and* compiles to a predicate
 *                                  (there is no separate parse step or AST in its API).
 *  - scim-patch 0.8.3:             `scimPatch(resource, operations, options)`; it mutates `resource`
 *                                  unless `mutateDocument: false`.
 */
import { Types as ScimmyTypes } from "scimmy";
import * as s2pf from "scim2-parse-filter";
import * as sqfp from "scim-query-filter-parser";
import * as scimPatchLib from "scim-patch";
import { refEval, type Literal, type Ref } from "./filter-reference.js";

/** A filter parser under test. */
export interface ParserAdapter {
  name: string;
  /** The timed operation. */
  parse(text: string): unknown;
  /** The meaning of the parse result, as a predicate over resources (for the correctness probes). */
  meaning(parsed: unknown): (resource: unknown) => boolean;
  /** What exactly is timed, when it is not a plain parse. */
  note?: string;
}

/** A filter matcher under test: compile once, then count the matches in a chunk of resources. */
export interface MatcherAdapter {
  name: string;
  compile(text: string): (chunk: object[]) => number;
  note?: string;
}

/** Counts with a per-resource predicate (the same loop for every predicate-style library). */
export function countWith(pred: (r: any) => boolean): (chunk: object[]) => number {
  return (chunk) => {
    let n = 0;
    for (let i = 0; i < chunk.length; i++) if (pred(chunk[i])) n++;
    return n;
  };
}

// ---------------------------------------------------------------------------------------------
// scim2-parse-filter

type S2Filter = s2pf.Filter;

function s2ToRef(f: S2Filter): Ref {
  switch (f.op) {
    case "and":
    case "or": {
      const fs = (f as s2pf.LogExp).filters.map(s2ToRef);
      return fs.reduce((a, b) => ({ t: f.op as "and" | "or", a, b }));
    }
    case "not":
      return { t: "not", x: s2ToRef((f as s2pf.NotFilter).filter) };
    case "[]":
      return { t: "vp", path: (f as s2pf.ValuePath).attrPath, f: s2ToRef((f as s2pf.ValuePath).valFilter) };
    case "pr":
      return { t: "pr", path: (f as s2pf.Suffix).attrPath };
    default: {
      const c = f as s2pf.Compare;
      return { t: "cmp", path: c.attrPath, op: c.op, v: c.compValue };
    }
  }
}

export const scim2ParseFilter: ParserAdapter & MatcherAdapter = {
  name: "scim2-parse-filter",
  parse: (text) => s2pf.parse(text),
  meaning: (parsed) => {
    const ref = s2ToRef(parsed as S2Filter);
    return (r) => refEval(ref, r);
  },
  compile: (text) => countWith(s2pf.filter(s2pf.parse(text))),
};

// ---------------------------------------------------------------------------------------------
// scimmy

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === "object" && !Array.isArray(x);

/** scimmy expression `[("not")?, comparator, value?]` on attribute `attr`. */
function scimmyLeaf(attr: string, e: unknown[]): Ref {
  const neg = typeof e[0] === "string" && e[0].toLowerCase() === "not";
  const [comparator, expected] = e.slice(neg ? 1 : 0) as [string, Literal];
  const c = comparator.toLowerCase();
  let leaf: Ref;
  if (c === "pr") leaf = { t: "pr", path: attr };
  else if (c === "np") leaf = { t: "not", x: { t: "pr", path: attr } };
  else leaf = { t: "cmp", path: attr, op: c, v: expected === undefined ? null : expected };
  return neg ? { t: "not", x: leaf } : leaf;
}

function andAll(rs: Ref[]): Ref {
  return rs.reduce((a, b) => ({ t: "and", a, b }));
}

/**
 * One scimmy branch object: every property must hold ("and"). A nested object under an attribute
 * is matched by scimmy against one and the same element (or the single complex value), so it is a
 * value path.
 */
function scimmyBranch(obj: Record<string, unknown>): Ref {
  const parts: Ref[] = [];
  for (const [attr, expr] of Object.entries(obj)) {
    if (Array.isArray(expr)) {
      if (expr.length && expr.every((e) => Array.isArray(e) || isPlainObject(e))) {
        for (const e of expr) parts.push(Array.isArray(e) ? scimmyLeaf(attr, e) : { t: "vp", path: attr, f: scimmyBranch(e as Record<string, unknown>) });
      } else parts.push(scimmyLeaf(attr, expr));
    } else if (isPlainObject(expr)) {
      parts.push({ t: "vp", path: attr, f: scimmyBranch(expr) });
    }
  }
  return andAll(parts);
}

function scimmyToRef(filter: unknown[]): Ref {
  return filter.map((b) => scimmyBranch(b as Record<string, unknown>)).reduce((a, b) => ({ t: "or", a, b }));
}

export const scimmy: ParserAdapter & MatcherAdapter = {
  name: "scimmy",
  parse: (text) => new ScimmyTypes.Filter(text),
  meaning: (parsed) => {
    const ref = scimmyToRef([...(parsed as unknown[])]);
    return (r) => refEval(ref, r);
  },
  compile: (text) => {
    const f = new ScimmyTypes.Filter(text);
    return (chunk) => f.match(chunk).length;
  },
  note: "Filter#match takes an array; timed on pre-built chunks of 1,000 users",
};

// ---------------------------------------------------------------------------------------------
// scim-query-filter-parser

export const scimQueryFilterParser: ParserAdapter & MatcherAdapter = {
  name: "scim-query-filter-parser",
  parse: (text) => sqfp.compileFilter(text),
  meaning: (parsed) => parsed as (r: unknown) => boolean,
  compile: (text) => countWith(sqfp.compileFilter(text)),
  note: "its only API is compileFilter (parse + compile to a closure); that is what is timed",
};

export const FILTER_PEERS = [scimmy, scim2ParseFilter, scimQueryFilterParser];

// ---------------------------------------------------------------------------------------------
// scim-patch

export interface PatchAdapter {
  name: string;
  /** Applies the operations and returns the resulting resource; must leave `resource` untouched. */
  apply(resource: object, operations: PatchOperation[], resourceType: "User" | "Group"): object;
  /** For a library that mutates: apply to `resource` itself (the caller passes a fresh clone). */
  applyInPlace?(resource: object, operations: PatchOperation[]): object;
  note?: string;
}

export interface PatchOperation {
  op: string;
  path?: string;
  value?: unknown;
}

/** JSON deep clone, the same one scim-patch itself uses for `mutateDocument: false`. */
export const jsonClone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

export const scimPatch: PatchAdapter = {
  name: "scim-patch",
  apply: (resource, operations) => scimPatchLib.scimPatch(jsonClone(resource) as any, operations as any),
  applyInPlace: (resource, operations) => scimPatchLib.scimPatch(resource as any, operations as any),
  note: "deep-cloned (JSON) before each call because scimPatch mutates its input",
};

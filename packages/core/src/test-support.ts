/** Helpers shared by this package's tests (not exported from the package). */
import { isScimError, type ScimError } from "./errors/scim-error.js";
import type { AttrPath, CompareOperator, Filter, FilterValue } from "./filter/ast.js";

/** Runs `f` and returns the ScimError it throws; fails the test if it throws nothing or something else. */
export function scimError(f: () => unknown): ScimError {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  if (!isScimError(thrown)) throw new Error(`expected a ScimError, got ${thrown === undefined ? "no exception" : String(thrown)}`);
  return thrown;
}

// Filter AST builders. Optional keys are only set when given: the parser never writes
// `uri: undefined`, and toStrictEqual would notice.

export function p(attr: string, sub?: string, uri?: string): AttrPath {
  const path: AttrPath = { attr };
  if (uri !== undefined) path.uri = uri;
  if (sub !== undefined) path.sub = sub;
  return path;
}
export const cmp = (path: AttrPath, op: CompareOperator, value: FilterValue): Filter => ({ type: "compare", op, path, value });
export const pr = (path: AttrPath): Filter => ({ type: "present", path });
export const and = (left: Filter, right: Filter): Filter => ({ type: "logical", op: "and", left, right });
export const or = (left: Filter, right: Filter): Filter => ({ type: "logical", op: "or", left, right });
export const not = (filter: Filter): Filter => ({ type: "not", filter });
export const vp = (path: AttrPath, filter: Filter): Filter => ({ type: "valuePath", path, filter });

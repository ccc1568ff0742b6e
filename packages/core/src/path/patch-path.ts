/**
 * PATCH paths (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`), e.g. `members`,
 * `name.givenName`, `emails[type eq "work"].value`,
 * `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
 */
import { badRequest } from "../errors/scim-error.js";
import { leafFilters, type AttrPath, type Filter } from "../filter/ast.js";
import { FilterScanner } from "../filter/parser.js";
import { isForbiddenKey } from "../schema/forbidden-keys.js";

/** A parsed PATCH path. */
export interface PatchPath {
  /** The attribute (with `sub` only when there is no value filter). */
  attr: AttrPath;
  /** The value filter of `attr[...]`, when present. */
  filter?: Filter;
  /** The sub-attribute after `]`, as in `emails[type eq "work"].value`. */
  sub?: string;
}

const MAX_PATH_LENGTH = 4096;

function checkNames(path: AttrPath, text: string): void {
  if (isForbiddenKey(path.attr) || (path.sub !== undefined && isForbiddenKey(path.sub))) {
    throw badRequest("invalidPath", `path '${text}' names a forbidden attribute`);
  }
}

function checkFilterNames(filter: Filter, text: string): void {
  for (const f of leafFilters(filter)) {
    checkNames(f.path, text);
    if (f.type === "valuePath") checkFilterNames(f.filter, text);
  }
}

/**
 * Parses a PATCH operation path (RFC 7644 §3.5.2). Throws `ScimError` 400 `invalidPath` for a
 * malformed path or one naming `__proto__`, `constructor` or `prototype`.
 */
export function parsePatchPath(text: string): PatchPath {
  if (typeof text !== "string" || text.length === 0) throw badRequest("invalidPath", "path must be a non-empty string");
  if (text.length > MAX_PATH_LENGTH) throw badRequest("invalidPath", `path longer than ${MAX_PATH_LENGTH} characters`);
  const s = new FilterScanner(text, true, 16, "invalidPath");
  const attr = s.readAttrPath();
  checkNames(attr, text);
  if (s.atEnd()) return { attr };
  if (s.peek() !== 91 /* [ */) s.fail(`unexpected '${text[s.pos]}' in path`);
  if (attr.sub !== undefined) s.fail("a value filter applies to an attribute, not a sub-attribute");
  const filter = s.parseGroup(true, 93 /* ] */);
  checkFilterNames(filter, text);
  if (s.atEnd()) return { attr, filter };
  if (s.peek() !== 46 /* . */) s.fail(`unexpected '${text[s.pos]}' after ']'`);
  s.pos++;
  const subStart = s.pos;
  const sub = s.readAttrPath();
  if (sub.uri !== undefined || sub.sub !== undefined || !s.atEnd()) s.fail("expected one sub-attribute name after ']'", subStart);
  checkNames(sub, text);
  return { attr, filter, sub: sub.attr };
}

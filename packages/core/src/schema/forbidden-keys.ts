/**
 * Keys that could reach an object's prototype. They are rejected wherever a client's text becomes
 * an object key: resource bodies, PATCH paths and PATCH values. As values they are ordinary strings.
 */
import { badRequest, type ScimErrorType } from "../errors/scim-error.js";

const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/** True for `__proto__`, `constructor` and `prototype`, in any case. */
export function isForbiddenKey(key: string): boolean {
  // Hot path: every key of every body passes here. Only lengths 9 and 11 can match.
  const n = key.length;
  if (n !== 9 && n !== 11) return false;
  return FORBIDDEN.has(key) || FORBIDDEN.has(key.toLowerCase());
}

/** Throws a 400 when `key` is a forbidden key. */
export function assertAllowedKey(key: string, scimType: ScimErrorType, where: string): void {
  if (isForbiddenKey(key)) throw badRequest(scimType, `'${key}' is not allowed as an attribute name${where}`);
}

/**
 * Throws 400 `invalidSyntax` when a forbidden key appears anywhere in `value`, including inside
 * attributes that would be dropped. Iterative: JSON.parse accepts nesting deeper than the stack.
 */
export function assertNoForbiddenKeys(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  const stack: object[] = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (Array.isArray(v)) {
      for (const el of v) if (typeof el === "object" && el !== null) stack.push(el);
      continue;
    }
    for (const key of Object.keys(v)) {
      assertAllowedKey(key, "invalidSyntax", "");
      const child = (v as Record<string, unknown>)[key];
      if (typeof child === "object" && child !== null) stack.push(child);
    }
  }
}

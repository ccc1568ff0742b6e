/**
 * Keys that could reach an object's prototype. They are rejected wherever a client's text becomes
 * an object key: resource bodies, PATCH paths and PATCH values. As values they are ordinary strings.
 */
import { badRequest, type ScimErrorType } from "../errors/scim-error.js";

const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/** True for `__proto__`, `constructor` and `prototype`, in any case. */
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN.has(key) || FORBIDDEN.has(key.toLowerCase());
}

/** Throws a 400 when `key` is a forbidden key. */
export function assertAllowedKey(key: string, scimType: ScimErrorType, where: string): void {
  if (isForbiddenKey(key)) throw badRequest(scimType, `'${key}' is not allowed as an attribute name${where}`);
}

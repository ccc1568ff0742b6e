/** @internal Small readers for message fields, each failing with 400 `invalidSyntax`/`invalidValue`. */
import { badRequest } from "../errors/scim-error.js";
import { isForbiddenKey } from "../schema/forbidden-keys.js";
import { isObject } from "../schema/validate.js";

type Obj = Record<string, unknown>;

/** Reads a message body as an object whose keys are matched case-insensitively. */
export function messageFields(body: unknown, message: string): Map<string, unknown> {
  if (!isObject(body)) throw badRequest("invalidSyntax", `the ${message} must be a JSON object`);
  const fields = new Map<string, unknown>();
  for (const key of Object.keys(body)) {
    if (isForbiddenKey(key)) throw badRequest("invalidSyntax", `'${key}' is not allowed as a key`);
    fields.set(key.toLowerCase(), (body as Obj)[key]);
  }
  return fields;
}

/** Checks `schemas`, when present, names `urn`. */
export function checkSchemas(fields: Map<string, unknown>, urn: string, message: string): void {
  const schemas = fields.get("schemas");
  if (schemas === undefined) return;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === "string" && s.toLowerCase() === urn.toLowerCase())) {
    throw badRequest("invalidSyntax", `a ${message} must have "schemas": ["${urn}"]`);
  }
}

export function optionalString(fields: Map<string, unknown>, key: string, name: string): string | undefined {
  const v = fields.get(key.toLowerCase());
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest("invalidSyntax", `'${name}' must be a string`);
  return v;
}

export function optionalInteger(fields: Map<string, unknown>, key: string, name: string): number | undefined {
  const v = fields.get(key.toLowerCase());
  if (v === undefined || v === null) return undefined;
  const n = typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) throw badRequest("invalidValue", `'${name}' must be an integer`);
  return n;
}

export function optionalStringList(fields: Map<string, unknown>, key: string, name: string): string[] | undefined {
  const v = fields.get(key.toLowerCase());
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw badRequest("invalidSyntax", `'${name}' must be an array of strings`);
  return v as string[];
}

/**
 * The PatchOp message (RFC 7644 §3.5.2).
 */
import { badRequest } from "../errors/scim-error.js";
import type { PatchOperation } from "../patch/apply-patch.js";
import { isObject } from "../schema/validate.js";
import { checkSchemas, messageFields } from "./fields.js";
import { PATCH_OP_SCHEMA } from "./urns.js";

/**
 * Validates a PatchOp body (RFC 7644 §3.5.2) and returns its operations. `schemas`, when sent,
 * must name the PatchOp URN; `Operations` must be an array of objects with a string `op`
 * (matched case-insensitively later). An empty array is valid and changes nothing.
 * Errors are 400 `invalidSyntax`.
 */
export function parsePatchRequest(body: unknown): PatchOperation[] {
  const f = messageFields(body, "PatchOp request");
  checkSchemas(f, PATCH_OP_SCHEMA, "PatchOp request");
  const ops = f.get("operations");
  if (!Array.isArray(ops)) throw badRequest("invalidSyntax", "a PatchOp request needs an 'Operations' array");
  return ops.map((op, i) => {
    if (!isObject(op)) throw badRequest("invalidSyntax", `Operations[${i}] must be an object`);
    const fields = messageFields(op, `Operations[${i}]`);
    const name = fields.get("op");
    if (typeof name !== "string") throw badRequest("invalidSyntax", `Operations[${i}] needs a string 'op'`);
    const path = fields.get("path");
    if (path !== undefined && path !== null && typeof path !== "string") throw badRequest("invalidPath", `Operations[${i}].path must be a string`);
    const out: PatchOperation = { op: name };
    if (typeof path === "string") out.path = path;
    if (fields.has("value")) out.value = fields.get("value");
    return out;
  });
}

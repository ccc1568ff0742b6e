/**
 * BulkRequest and BulkResponse messages (RFC 7644 §3.7).
 */
import { badRequest, ScimError, type ScimErrorBody } from "../errors/scim-error.js";
import { isForbiddenKey } from "../schema/forbidden-keys.js";
import { isObject } from "../schema/validate.js";
import { checkSchemas, messageFields, optionalInteger, optionalString } from "./fields.js";
import { MAX_JSON_DEPTH } from "./json-body.js";
import { BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA } from "./urns.js";
import { utf8Length } from "../store/page-bytes.js";

/** HTTP methods allowed in a bulk operation (RFC 7644 §3.7). */
export type BulkMethod = "POST" | "PUT" | "PATCH" | "DELETE";

/** One validated bulk operation. */
export interface BulkOperation {
  method: BulkMethod;
  /** Required for POST; lets later operations refer to the new resource as `bulkId:<id>`. */
  bulkId?: string;
  /** An ETag for If-Match semantics. */
  version?: string;
  /** Relative path, e.g. `/Users` or `/Groups/123`. */
  path: string;
  data?: unknown;
}

/** A validated BulkRequest (RFC 7644 §3.7.1). */
export interface BulkRequest {
  /** Stop after this many errors (RFC 7644 §3.7.3). */
  failOnErrors?: number;
  operations: BulkOperation[];
}

/** Limits of a bulk request, as advertised in ServiceProviderConfig (RFC 7643 §5). */
export interface BulkLimits {
  /** @default 1000 */
  maxOperations?: number;
  /** Maximum payload in bytes. @default 1048576 */
  maxPayloadSize?: number;
  /**
   * The payload's size in bytes, when the caller knows it (the raw body's length). When it is not
   * given, the size of `body`'s JSON serialization is measured (a body a host parser already read).
   */
  payloadSize?: number;
}

const METHODS = new Set<BulkMethod>(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Validates a BulkRequest (RFC 7644 §3.7). More operations than `maxOperations`, or a payload
 * larger than `maxPayloadSize`, is a 413 (RFC 7644 §3.7.4). Structure errors are 400 `invalidSyntax`.
 */
export function parseBulkRequest(body: unknown, limits: BulkLimits = {}): BulkRequest {
  const maxOperations = limits.maxOperations ?? 1000;
  const maxPayloadSize = limits.maxPayloadSize ?? 1048576;
  const payloadSize = limits.payloadSize ?? jsonPayloadSize(body);
  if (payloadSize > maxPayloadSize) {
    throw new ScimError(413, undefined, `the bulk request is larger than maxPayloadSize (${maxPayloadSize} bytes)`);
  }
  const f = messageFields(body, "BulkRequest");
  checkSchemas(f, BULK_REQUEST_SCHEMA, "BulkRequest");
  const ops = f.get("operations");
  if (!Array.isArray(ops)) throw badRequest("invalidSyntax", "a BulkRequest needs an 'Operations' array");
  if (ops.length > maxOperations) {
    throw new ScimError(413, undefined, `the bulk request has more than maxOperations (${maxOperations}) operations`);
  }
  const out: BulkRequest = { operations: [] };
  const failOnErrors = optionalInteger(f, "failOnErrors", "failOnErrors");
  if (failOnErrors !== undefined) {
    if (failOnErrors < 1) throw badRequest("invalidValue", "'failOnErrors' must be a positive integer");
    out.failOnErrors = failOnErrors;
  }
  const seen = new Set<string>();
  ops.forEach((raw, i) => {
    const at = `Operations[${i}]`;
    if (!isObject(raw)) throw badRequest("invalidSyntax", `${at} must be an object`);
    const o = messageFields(raw, at);
    const method = optionalString(o, "method", `${at}.method`)?.toUpperCase() as BulkMethod | undefined;
    if (method === undefined || !METHODS.has(method)) throw badRequest("invalidSyntax", `${at}.method must be POST, PUT, PATCH or DELETE`);
    const path = optionalString(o, "path", `${at}.path`);
    if (path === undefined || !path.startsWith("/")) throw badRequest("invalidSyntax", `${at}.path must be a path such as "/Users"`);
    const op: BulkOperation = { method, path };
    const bulkId = optionalString(o, "bulkId", `${at}.bulkId`);
    if (bulkId !== undefined) {
      if (bulkId === "" || seen.has(bulkId)) throw badRequest("invalidValue", `${at}.bulkId must be unique and non-empty`);
      seen.add(bulkId);
      op.bulkId = bulkId;
    } else if (method === "POST") throw badRequest("invalidSyntax", `${at}: a POST needs a bulkId`);
    const version = optionalString(o, "version", `${at}.version`);
    if (version !== undefined) op.version = version;
    if (method !== "DELETE") {
      // The resource (POST, PUT) or the PatchOp message (PATCH): always a JSON object.
      const data = o.get("data");
      if (!isObject(data)) throw badRequest("invalidSyntax", `${at}: ${method} needs 'data' with a JSON object`);
      op.data = data;
    }
    out.operations.push(op);
  });
  return out;
}

/**
 * The size in bytes of a payload a host's body parser already read: the UTF-8 length of its JSON
 * serialization, the bytes the client sent give or take insignificant whitespace (RFC 7644 §3.7.4
 * `maxPayloadSize`). A value JSON cannot represent (a cycle, a BigInt, a string too long for the
 * runtime) is 400 `invalidSyntax`, as it could not have come from a JSON body.
 */
export function jsonPayloadSize(body: unknown): number {
  let text: string | undefined;
  try {
    text = JSON.stringify(body);
  } catch {
    throw badRequest("invalidSyntax", "the bulk request is not a JSON value");
  }
  return text === undefined ? 0 : utf8Length(text);
}


/** Nesting deeper than this in operation data is a 400, not a stack overflow. */
const MAX_DEPTH = MAX_JSON_DEPTH;

function tooDeep(): never {
  throw badRequest("invalidSyntax", `the operation data is nested more than ${MAX_DEPTH} levels deep`);
}

/** Every `bulkId:<id>` reference inside a value (RFC 7644 §3.7.2), to order operations. */
export function bulkIdReferences(value: unknown, out: Set<string> = new Set()): Set<string> {
  collectReferences(value, out, 0);
  return out;
}

function collectReferences(value: unknown, out: Set<string>, depth: number): void {
  if (typeof value === "string") {
    if (value.startsWith("bulkId:")) out.add(value.slice(7));
    return;
  }
  if (typeof value !== "object" || value === null) return;
  if (depth >= MAX_DEPTH) tooDeep();
  if (Array.isArray(value)) {
    for (const v of value) collectReferences(v, out, depth + 1);
  } else {
    for (const k of Object.keys(value)) collectReferences((value as Record<string, unknown>)[k], out, depth + 1);
  }
}

/**
 * Replaces every `bulkId:<id>` string inside a value with the id the earlier operation created
 * (RFC 7644 §3.7.2). RFC 7644 leaves an unknown reference to the service provider: this throws
 * 400 `invalidValue` naming it.
 */
export function resolveBulkIds(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  return resolveAt(value, ids, 0);
}

function resolveAt(value: unknown, ids: ReadonlyMap<string, string>, depth: number): unknown {
  if (typeof value === "string") {
    if (!value.startsWith("bulkId:")) return value;
    const id = ids.get(value.slice(7));
    if (id === undefined) throw badRequest("invalidValue", `unresolved reference '${value}'`);
    return id;
  }
  if (typeof value === "object" && value !== null && depth >= MAX_DEPTH) tooDeep();
  if (Array.isArray(value)) return value.map((v) => resolveAt(v, ids, depth + 1));
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      if (isForbiddenKey(k)) throw badRequest("invalidSyntax", `'${k}' is not allowed as a key`);
      out[k] = resolveAt(value[k], ids, depth + 1);
    }
    return out;
  }
  return value;
}

/**
 * The `bulkId:` references inside the paths of a PATCH operation's operations, where a value
 * filter names one (`members[value eq "bulkId:u1"]`): data of the operation like its values.
 */
function patchPathReferences(op: BulkOperation): string[] {
  if (op.method !== "PATCH" || !isObject(op.data) || !Array.isArray(op.data.Operations)) return [];
  const out: string[] = [];
  for (const operation of op.data.Operations) {
    if (isObject(operation) && typeof operation.path === "string") for (const match of operation.path.matchAll(QUOTED_REFERENCE)) out.push(match[1]!);
  }
  return out;
}

/** A quoted `"bulkId:<id>"` inside a filter. */
const QUOTED_REFERENCE = /"bulkId:([^"\\]+)"/g;

/**
 * A PATCH operation's message with the `"bulkId:<id>"` references inside its operations' paths
 * replaced by the ids created (see {@link patchPathReferences}); other messages as they are.
 */
export function resolvePatchPaths(data: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (!isObject(data) || !Array.isArray(data.Operations)) return data;
  return {
    ...data,
    Operations: data.Operations.map((operation: unknown) =>
      isObject(operation) && typeof operation.path === "string"
        ? { ...operation, path: operation.path.replace(QUOTED_REFERENCE, (whole, id: string) => (ids.has(id) ? JSON.stringify(ids.get(id)) : whole)) }
        : operation,
    ),
  };
}

/** The `bulkId:` references in a bulk operation's path, segment by segment (`/Groups/bulkId:g1`). */
function pathReferences(path: string): string[] {
  return path.split("/").filter((s) => s.startsWith("bulkId:")).map((s) => s.slice(7));
}

/** A path segment percent-decoded, or as it is when its escapes are malformed (the router reports those). */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Why a bulk operation's path is outside what a bulk operation may do, or undefined. RFC 7644 §3.7
 * limits bulk to POST, PUT, PATCH and DELETE on resources: not another bulk request, not a search
 * (`/.search`, RFC 7644 §3.4.3), and not query parameters, which the operation has no place for.
 */
export function bulkPathError(path: string): ScimError | undefined {
  if (path.includes("?")) return badRequest("invalidPath", `a bulk operation's path cannot have a query string ('${path}')`);
  const segments = path.split("/").filter((s) => s !== "").map((s) => decoded(s).toLowerCase());
  if (segments[0] === "bulk") return badRequest("invalidPath", `a bulk operation cannot target /Bulk ('${path}')`);
  if (segments.includes(".search")) return badRequest("invalidPath", `a bulk operation cannot run a search ('${path}'): it creates, replaces, modifies or deletes resources`);
  return undefined;
}

/** One step of a bulk job, in the order {@link planBulkOperations} runs them. */
export interface BulkStep {
  /** The operation's position in the request; the BulkResponse reports results in that order. */
  index: number;
  /** The bulkIds the operation refers to (in its path or data): POST operations planned before it, except `deferred` ones. */
  references: string[];
  /**
   * For a POST on a cycle of references: the bulkIds it is created without, because their POSTs
   * wait for it ({@link deferReferences}); a `resolves` step of the same operation adds them later.
   */
  deferred?: string[];
  /**
   * A second step of a POST on a cycle, planned once every POST it deferred has run: it adds the
   * values that named them (RFC 7644 §3.7.1: the service provider MUST try to resolve circular
   * references). Its `references` are those deferred bulkIds.
   */
  resolves?: true;
  /** Why the operation cannot run: it gets this error as its result instead. */
  error?: ScimError;
}

const NEW = 0;
const VISITING = 1;
const PLANNED = 2;

/**
 * The order in which to run a bulk job's operations (RFC 7644 §3.7.2). Operations run in request
 * order, except that an operation that refers to `bulkId:<id>` needs the POST with that bulkId to
 * run first: that POST (and, depth-first, the POSTs it refers to) moves up to just before it. This
 * is the only reordering, so the client's intent and the stateful result are kept (RFC 7644 §3.7);
 * each operation appears once, and a POST on a cycle once more, as its `resolves` step.
 *
 * Circular references (RFC 7644 §3.7.1, whose example is two groups that are each other's member)
 * are resolved: where following a reference would come back to a POST already waiting for it,
 * the POST that refers back is created without the values naming the waiting POST (`deferred`),
 * and its `resolves` step, planned right after the last of those POSTs, adds them.
 *
 * Operations that cannot run carry an error: 409 for a reference to an unknown bulkId or to the
 * bulkId of a non-POST operation, and 400 `invalidPath` for a path that no bulk operation may
 * have ({@link bulkPathError}). An operation whose referenced POST fails at run time is for the
 * caller to answer, with {@link failedReferenceError}.
 */
export function planBulkOperations(operations: readonly BulkOperation[]): BulkStep[] {
  const byBulkId = new Map<string, number>();
  operations.forEach((op, i) => {
    if (op.bulkId !== undefined) byBulkId.set(op.bulkId, i);
  });
  const steps: BulkStep[] = operations.map((op, index) => {
    const references = [...new Set([...pathReferences(op.path), ...bulkIdReferences(op.data), ...patchPathReferences(op)])];
    const error = bulkPathError(op.path) ?? referenceError(references, operations, byBulkId);
    return error === undefined ? { index, references } : { index, references, error };
  });
  const state = new Uint8Array(operations.length);
  const order: BulkStep[] = [];
  /** The `resolves` steps to plan right after an operation (by its index). */
  const resolveAfter = new Map<number, BulkStep[]>();
  // Depth-first over the references, with an explicit stack: a long chain of references cannot
  // overflow the call stack. `waitsFor` is the lowest stack position a frame's deferred
  // references point to: the POST there is the last of them to be planned.
  for (let root = 0; root < steps.length; root++) {
    if (state[root] !== NEW) continue;
    state[root] = VISITING;
    const stack: { step: BulkStep; next: number; waitsFor: number }[] = [{ step: steps[root]!, next: 0, waitsFor: -1 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      // An operation that will fail anyway does not pull the POSTs it refers to forward.
      const reference = top.step.error === undefined ? top.step.references[top.next++] : undefined;
      if (reference === undefined) {
        stack.pop();
        state[top.step.index] = PLANNED;
        order.push(top.step, ...(resolveAfter.get(top.step.index) ?? []));
        if (top.step.deferred !== undefined) {
          const last = top.waitsFor === stack.length ? top.step.index : stack[top.waitsFor]!.step.index;
          const resolves: BulkStep = { index: top.step.index, references: top.step.deferred, resolves: true };
          if (last === top.step.index) order.push(resolves);
          else resolveAfter.set(last, [...(resolveAfter.get(last) ?? []), resolves]);
        }
        continue;
      }
      const target = byBulkId.get(reference)!;
      if (state[target] === NEW) {
        state[target] = VISITING;
        stack.push({ step: steps[target]!, next: 0, waitsFor: -1 });
      } else if (state[target] === VISITING) {
        if (pathReferences(operations[top.step.index]!.path).includes(reference)) {
          // A path cannot be created without its reference (POST paths name none anyway).
          top.step.error = new ScimError(409, undefined, "circular bulkId reference");
          continue;
        }
        // A cycle: this POST is created without the reference, and gets it once the target exists.
        top.step.references = top.step.references.filter((r) => r !== reference);
        top.next--;
        (top.step.deferred ??= []).push(reference);
        const position = stack.findIndex((frame) => frame.step.index === target);
        top.waitsFor = top.waitsFor === -1 ? position : Math.min(top.waitsFor, position);
      }
    }
  }
  return order;
}

/**
 * Splits a POST's resource into what can be created now and what must wait (RFC 7644 §3.7.1):
 * the values of its attributes (and of its extensions' attributes) that name a `deferred` bulkId
 * are left out, and come back as PATCH `add` operations: the elements of a multi-valued
 * attribute that name one (a group's members), or the whole value of a single-valued one (an
 * enterprise user's manager). The operations still hold the `bulkId:` references.
 */
export function deferReferences(
  data: Record<string, unknown>,
  deferred: readonly string[],
  /** Whether a top-level key is an extension's schema URN, whose object holds attributes. */
  isExtension: (key: string) => boolean,
): { data: Record<string, unknown>; later: { op: "add"; path: string; value: unknown }[] } {
  const names = (value: unknown) => [...bulkIdReferences(value)].some((id) => deferred.includes(id));
  const later: { op: "add"; path: string; value: unknown }[] = [];
  const split = (container: Record<string, unknown>, prefix: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(container)) {
      const value = container[key];
      if (prefix === "" && isExtension(key) && isObject(value)) out[key] = split(value, `${key}:`);
      else if (Array.isArray(value) && value.some(names)) {
        out[key] = value.filter((v) => !names(v));
        later.push({ op: "add", path: `${prefix}${key}`, value: value.filter(names) });
      } else if (names(value)) later.push({ op: "add", path: `${prefix}${key}`, value });
      else out[key] = value;
    }
    return out;
  };
  return { data: split(data, ""), later };
}

/** A reference to an unknown bulkId or to the bulkId of a non-POST operation (409), or undefined. */
function referenceError(references: readonly string[], operations: readonly BulkOperation[], byBulkId: ReadonlyMap<string, number>): ScimError | undefined {
  for (const reference of references) {
    const target = byBulkId.get(reference);
    if (target === undefined) return new ScimError(409, undefined, `unknown bulkId '${reference}'`);
    if (operations[target]!.method !== "POST") return new ScimError(409, undefined, `bulkId '${reference}' does not refer to a POST operation`);
  }
  return undefined;
}

/** The 409 of an operation that refers to a POST that failed (RFC 7644 §3.7.3). */
export function failedReferenceError(bulkId: string): ScimError {
  return new ScimError(409, undefined, `bulkId '${bulkId}' refers to an operation that failed`);
}

/** The outcome of one bulk operation (RFC 7644 §3.7.3). */
export interface BulkOperationResult {
  method: BulkMethod;
  bulkId?: string;
  version?: string;
  location?: string;
  /** HTTP status of the operation. */
  status: number;
  /** The Error message when the operation failed. */
  response?: ScimErrorBody | Record<string, unknown>;
}

/** A BulkResponse body (RFC 7644 §3.7.3); `status` is a string as in the RFC's examples. */
export interface BulkResponse {
  schemas: [typeof BULK_RESPONSE_SCHEMA];
  Operations: Array<Omit<BulkOperationResult, "status"> & { status: string }>;
}

/** Builds a BulkResponse (RFC 7644 §3.7.3). */
export function bulkResponse(results: readonly BulkOperationResult[]): BulkResponse {
  return {
    schemas: [BULK_RESPONSE_SCHEMA],
    Operations: results.map((r) => {
      const op: BulkResponse["Operations"][number] = { method: r.method, status: String(r.status) };
      if (r.bulkId !== undefined) op.bulkId = r.bulkId;
      if (r.version !== undefined) op.version = r.version;
      if (r.location !== undefined) op.location = r.location;
      if (r.response !== undefined) op.response = r.response;
      return op;
    }),
  };
}

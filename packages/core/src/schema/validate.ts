/**
 * Validation and coercion of incoming resources against the schema registry (RFC 7643 §2, §7;
 * RFC 7644 §3.3, §3.5.1). Produces a new object in canonical form: declared attribute casing,
 * extensions under their schema URN, unassigned (null, "", []) attributes removed.
 */
import { badRequest, ScimError } from "../errors/scim-error.js";
import { isDateTime } from "./datetime.js";
import { assertAllowedKey, assertNoForbiddenKeys } from "./forbidden-keys.js";
import { membersAttributeOf, resolveResourceType, type AttributeInfo, type CompiledResourceType, type CompiledSchema, type ResourceTypeRef, type SchemaRegistry } from "./registry.js";
import type { AttrPath } from "../filter/ast.js";
import { splitAttrPath } from "../filter/parser.js";

type Obj = Record<string, unknown>;

/** Options shared by validation and PATCH for unknown input. */
export interface StrictnessOptions {
  /**
   * Reject unknown attributes and unregistered schema URNs with 400 instead of dropping them.
   * The default (false) drops them, which is what Okta and Entra expect: Entra adds its own
   * schema URNs and attributes the app may not define.
   * @default false
   */
  strict?: boolean;
}

/** @internal Context of one coercion. */
export interface CoerceContext {
  strict: boolean;
  /**
   * A multi-valued attribute must come as a JSON array (RFC 7643 §2.4): true for resource bodies
   * (POST, PUT); a PATCH value may name a single element (RFC 7644 §3.5.2.1).
   */
  arrays?: boolean;
  /**
   * Most values of a multi-valued attribute; more is 400 invalidValue. `unlimited` (a group's
   * `members`, which stores keep apart) has no limit.
   */
  maxValues?: number;
  unlimited?: AttributeInfo;
}

/** The default of {@link CoerceContext.maxValues}: values of one multi-valued attribute. */
export const DEFAULT_MAX_VALUES = 1000;

/** @internal 400 invalidValue when a multi-valued attribute holds more values than allowed. */
export function assertValueCount(attr: AttributeInfo, count: number, ctx: CoerceContext): void {
  if (ctx.maxValues !== undefined && count > ctx.maxValues && attr !== ctx.unlimited) {
    throw invalid(attr, `has ${count} values; at most ${ctx.maxValues} are accepted`);
  }
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;
const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** True for a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(attr: AttributeInfo, detail: string): ScimError {
  const name = attr.parent ? `${attr.parent.name}.${attr.name}` : attr.name;
  return badRequest("invalidValue", `attribute '${name}' ${detail}`);
}

/** Coerces one non-null value of a simple attribute; undefined means unassigned. */
function coerceSimple(attr: AttributeInfo, value: unknown): unknown {
  if (value === "") return undefined;
  switch (attr.type) {
    case "string":
    case "reference":
      if (typeof value === "string") {
        // A lone surrogate is no Unicode character: UTF-8 cannot carry it (RFC 7643 §2.3.1), and
        // PostgreSQL refuses it in JSON.
        if (SURROGATE.test(value) && LONE_SURROGATE.test(value)) throw invalid(attr, "is not valid Unicode (it holds a lone surrogate)");
        // No client means a NUL, and PostgreSQL cannot store one: refused alike whatever the store.
        if (value.indexOf("\u0000") !== -1) throw invalid(attr, "holds a NUL character (U+0000)");
        return value;
      }
      throw invalid(attr, "must be a string");
    case "boolean":
      if (typeof value === "boolean") return value;
      if (typeof value === "string") {
        const l = value.toLowerCase();
        if (l === "true") return true;
        if (l === "false") return false;
      }
      throw invalid(attr, "must be a boolean");
    case "integer":
      // Beyond 2^53 a JSON number is no longer the integer that was sent (9007199254740993 parses
      // as ...992): refuse it rather than store another value.
      if (typeof value === "number" && Number.isSafeInteger(value)) return value;
      if (typeof value === "string" && INTEGER.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
      if (typeof value === "number" && Number.isInteger(value)) throw invalid(attr, `must be an integer between -(2^53 - 1) and 2^53 - 1 (got ${value})`);
      throw invalid(attr, "must be an integer");
    case "decimal":
      if (typeof value === "number" && Number.isFinite(value)) return value;
      if (typeof value === "string" && DECIMAL.test(value) && Number.isFinite(Number(value))) return Number(value);
      throw invalid(attr, "must be a number");
    case "dateTime":
      if (isDateTime(value)) return value;
      throw invalid(attr, "must be an xsd:dateTime such as 2024-01-31T12:00:00Z");
    case "binary":
      if (typeof value === "string" && BASE64.test(value)) return value;
      throw invalid(attr, "must be base64-encoded");
    default:
      throw invalid(attr, "has an unsupported type");
  }
}

/** Coerces the value of a complex attribute (or one element of a multi-valued one). */
function coerceComplex(attr: AttributeInfo, value: unknown, ctx: CoerceContext): Obj | undefined {
  if (!isObject(value)) {
    const valueSub = attr.subMap?.get("value");
    // Tolerances: Entra sends `manager` as a bare id, or as a one-element array.
    if (valueSub !== undefined && !attr.multiValued && (typeof value === "string" || typeof value === "number" || typeof value === "boolean")) {
      const v = coerceSimple(valueSub, value);
      return v === undefined ? undefined : { [valueSub.name]: v };
    }
    if (!attr.multiValued && Array.isArray(value) && value.length <= 1) {
      return value.length === 0 || value[0] === null ? undefined : coerceComplex(attr, value[0], ctx);
    }
    throw invalid(attr, "must be an object");
  }
  const out = coerceSubAttributes(attr, value, ctx);
  if (attr.multiValued && !isAssignedElement(out)) return undefined;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * @internal The sub-attributes of an object given for a complex attribute, coerced to their
 * types and canonical names: unknown ones dropped (400 when `strict`), read-only ones and null
 * values skipped. Unlike a whole value, a part may hold only `type` and `primary`: what a PATCH
 * merges into an element it selects (`emails[type eq "home"]` with `{"primary": true}`).
 */
export function coerceSubAttributes(attr: AttributeInfo, value: Obj, ctx: CoerceContext): Obj {
  const out: Obj = {};
  for (const key of Object.keys(value)) {
    assertAllowedKey(key, "invalidSyntax", ` (in '${attr.name}')`);
    const sub = attr.subMap!.get(key.toLowerCase());
    if (sub === undefined) {
      if (ctx.strict) throw badRequest("invalidValue", `unknown sub-attribute '${key}' of '${attr.name}'`);
      continue;
    }
    if (sub.mutability === "readOnly") continue;
    const raw = value[key];
    if (raw === null || raw === undefined) continue;
    const v = coerceSimple(sub, raw);
    if (v === undefined) continue;
    out[sub.name] = v;
  }
  return out;
}

/**
 * @internal Whether an element of a multi-valued complex attribute holds something beyond the
 * sub-attributes that only qualify a value, `type` and `primary` (RFC 7643 §2.4): `{"type":
 * "work", "primary": true}`, what is left of an email whose value was removed or sent as "", is
 * unassigned, and is dropped rather than kept as a primary work email without an address.
 */
export function isAssignedElement(element: unknown): boolean {
  if (!isObject(element)) return element !== undefined && element !== null;
  for (const key of Object.keys(element)) if (key !== "type" && key !== "primary") return true;
  return false;
}

/** Only whitespace (Unicode's, `\s`) and the invisible format characters (zero-width space and joiners, word joiner, BOM, soft hyphen). */
const BLANK = /^[\s\u200B-\u200D\u2060\uFEFF\u00AD]*$/;

/**
 * Whether `text` is blank as a required name (a `userName`, a group's `displayName`) may not be:
 * only whitespace (Unicode's) and invisible format characters (zero-width space and joiners, word
 * joiner, BOM, soft hyphen), or nothing.
 */
export function isBlank(text: string): boolean {
  return BLANK.test(text);
}
/** Any UTF-16 surrogate (the quick test); then one that is not half of a pair. */
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * @internal Throws 400 invalidValue for a required string attribute whose value is only
 * whitespace or invisible characters: `""` is unassigned (so missing), and `"  "` is no more a `userName` or a group's
 * `displayName` than `""`, while it would hold that unique name.
 */
export function assertNotBlank(attr: AttributeInfo, value: unknown): void {
  if (attr.required && attr.type === "string" && typeof value === "string" && isBlank(value)) {
    throw invalid(attr, "is required and must not be blank");
  }
}

/**
 * @internal Throws 400 invalidValue when a value of a complex attribute (each element, when it
 * is multi-valued) lacks a sub-attribute the schema marks `required` (RFC 7643 §2.2, §7): the
 * requirement holds wherever the attribute has a value, as `/Schemas` advertises it.
 */
export function assertRequiredSubAttributes(attr: AttributeInfo, value: unknown): void {
  if (attr.requiredSubs.length === 0 || value === undefined || value === null) return;
  const values = Array.isArray(value) ? value : [value];
  for (const element of values) {
    if (!isObject(element)) continue;
    for (const sub of attr.requiredSubs) {
      if (element[sub.name] === undefined) throw invalid(sub, "is required in each value");
    }
  }
}

/** Throws 400 invalidValue when more than one element is `primary: true` (RFC 7643 §2.4). */
export function assertSinglePrimary(attr: AttributeInfo, elements: readonly unknown[]): void {
  let primaries = 0;
  for (const el of elements) if (isObject(el) && el.primary === true) primaries++;
  if (primaries > 1) throw invalid(attr, "may have at most one element with primary true");
}

/**
 * @internal Coerces a value for `attr` (RFC 7643 §2.3 types). Returns undefined when the value
 * is unassigned (null, "", [] or an object with nothing assigned). Throws 400 invalidValue.
 */
export function coerceAttribute(attr: AttributeInfo, value: unknown, ctx: CoerceContext): unknown {
  if (value === null || value === undefined) return undefined;
  if (attr.multiValued) {
    if (ctx.arrays && !Array.isArray(value)) throw invalid(attr, "is multi-valued: send it as a JSON array");
    const list = Array.isArray(value) ? value : [value];
    assertValueCount(attr, list.length, ctx);
    const out: unknown[] = [];
    for (const el of list) {
      if (el === null || el === undefined) continue;
      const v = attr.type === "complex" ? coerceComplex(attr, el, ctx) : coerceSimple(attr, el);
      if (v !== undefined) out.push(v);
    }
    if (out.length === 0) return undefined;
    if (attr.type === "complex") assertSinglePrimary(attr, out);
    return out;
  }
  if (attr.type === "complex") return coerceComplex(attr, value, ctx);
  if (Array.isArray(value)) {
    if (value.length === 1) return coerceSimple(attr, value[0]);
    if (value.length === 0) return undefined;
    throw invalid(attr, "is single-valued");
  }
  return coerceSimple(attr, value);
}

/** @internal Where a top-level key of a resource (or of a path-less PATCH value) points. */
export type KeyTarget =
  | { kind: "schemas" }
  | { kind: "schema"; schema: CompiledSchema }
  | { kind: "attribute"; schema: CompiledSchema; attribute: AttributeInfo; sub: AttributeInfo | undefined }
  | { kind: "unknown" };

/** @internal Where a parsed attribute path points: `schemas`, a whole schema (its URN), or an attribute. */
export function resolveAttrTarget(rt: CompiledResourceType, path: AttrPath): KeyTarget {
  if (path.uri === undefined && path.sub === undefined && path.attr.toLowerCase() === "schemas") return { kind: "schemas" };
  if (path.uri !== undefined && path.sub === undefined) {
    const schema = rt.schema(`${path.uri}:${path.attr}`);
    if (schema !== undefined) return { kind: "schema", schema };
  }
  const resolved = rt.resolve(path);
  if (resolved === undefined) return { kind: "unknown" };
  return { kind: "attribute", schema: resolved.schema, attribute: resolved.attribute, sub: resolved.sub };
}

const rejectPath = (message: string): never => {
  throw new Error(message);
};

/** @internal Resolves a key: `schemas`, a schema URN, an attribute name, `name.givenName`, or a URN-qualified attribute. */
export function resolveKey(rt: CompiledResourceType, key: string): KeyTarget {
  const direct = rt.core.byName.get(key.toLowerCase());
  if (direct !== undefined) return { kind: "attribute", schema: rt.core, attribute: direct, sub: undefined };
  const schema = rt.schema(key);
  if (schema !== undefined) return { kind: "schema", schema };
  let path: AttrPath;
  try {
    path = splitAttrPath(key, rejectPath);
  } catch {
    return { kind: "unknown" };
  }
  return resolveAttrTarget(rt, path);
}

/** Options of {@link validateResource}. */
export interface ValidateResourceOptions extends StrictnessOptions {
  /** The resource type: a registered name (`"User"`), a definition, or compiled. */
  resourceType: ResourceTypeRef;
  registry?: SchemaRegistry;
  /**
   * The stored resource when validating a replacement (PUT, RFC 7644 §3.5.1): immutable
   * attributes must keep their value, and an omitted immutable attribute keeps the stored one.
   */
  existing?: Obj;
  /**
   * Most values of one multi-valued attribute (a group's `members` excepted): more is 400
   * `invalidValue`. @default no limit
   */
  maxValues?: number;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!deepEqual((a as Obj)[k], (b as Obj)[k])) return false;
  return true;
}
export { deepEqual };

function readAttr(resource: Obj | undefined, schema: CompiledSchema, attr: AttributeInfo): unknown {
  if (resource === undefined) return undefined;
  const container = schema.extension ? resource[schema.id] : resource;
  return isObject(container) ? container[attr.name] : undefined;
}

/**
 * Validates and coerces an incoming resource (POST or PUT body) against its resource type
 * (RFC 7643 §2, §7; RFC 7644 §3.3, §3.5.1) and returns a new object in canonical form.
 *
 * - attribute names match case-insensitively and come back in their declared casing;
 * - values are coerced to their types ("True"/"False" strings to booleans, numeric strings to
 *   numbers, a bare id to `{ value }` for a complex attribute such as `manager`);
 * - `null`, `""` and `[]` mean unassigned; readOnly attributes (`id`, `meta`, `groups`) are ignored;
 * - required attributes must be present; at most one `primary: true` per multi-valued attribute,
 *   and at most `maxValues` values (a group's `members` excepted);
 * - immutable attributes keep their stored value on replace (400 `mutability` if changed);
 * - unknown attributes and unregistered schema URNs are dropped, or rejected in strict mode;
 * - `__proto__`, `constructor` and `prototype` keys are rejected (400 `invalidSyntax`).
 *
 * Errors are `ScimError` 400 with `invalidSyntax`, `invalidValue` or `mutability`.
 */
export function validateResource(input: unknown, options: ValidateResourceOptions): Obj {
  const rt = resolveResourceType(options.resourceType, options.registry);
  const ctx: CoerceContext = { strict: options.strict === true, arrays: true, maxValues: options.maxValues, unlimited: membersAttributeOf(rt) };
  if (!isObject(input)) throw badRequest("invalidSyntax", "the resource must be a JSON object");
  assertNoForbiddenKeys(input);
  const out: Obj = {};
  const extensions = new Map<CompiledSchema, Obj>();

  const assign = (schema: CompiledSchema, attr: AttributeInfo, raw: unknown, sub?: AttributeInfo) => {
    if (attr.mutability === "readOnly" || sub?.mutability === "readOnly") return;
    let target = out;
    if (schema.extension) {
      target = extensions.get(schema) ?? {};
      extensions.set(schema, target);
    }
    if (sub !== undefined) {
      // A dotted key such as "name.givenName". For a multi-valued attribute ("emails.value") it
      // cannot say which element it means.
      if (attr.multiValued) throw invalid(attr, `is multi-valued: send '${attr.name}' as an array, not '${attr.name}.${sub.name}'`);
      const v = coerceAttribute(sub, raw, ctx);
      const parent = isObject(target[attr.name]) ? (target[attr.name] as Obj) : {};
      if (v === undefined) delete parent[sub.name];
      else parent[sub.name] = v;
      if (Object.keys(parent).length > 0) target[attr.name] = parent;
      else delete target[attr.name];
      return;
    }
    const v = coerceAttribute(attr, raw, ctx);
    if (v === undefined) delete target[attr.name];
    else target[attr.name] = v;
  };

  for (const key of Object.keys(input)) {
    assertAllowedKey(key, "invalidSyntax", "");
    const raw = input[key];
    const target = resolveKey(rt, key);
    switch (target.kind) {
      case "schemas": {
        if (!Array.isArray(raw) || raw.some((s) => typeof s !== "string")) {
          throw badRequest("invalidSyntax", "'schemas' must be an array of schema URNs");
        }
        for (const urn of raw as string[]) {
          if (rt.schema(urn) === undefined && ctx.strict) throw badRequest("invalidValue", `schema '${urn}' is not supported by resource type ${rt.name}`);
        }
        break;
      }
      case "schema": {
        if (!target.schema.extension) {
          // The core schema URN used as a key: its attributes, nested.
          if (!isObject(raw)) throw badRequest("invalidSyntax", `'${key}' must be an object`);
          for (const k of Object.keys(raw)) {
            assertAllowedKey(k, "invalidSyntax", "");
            const attr = target.schema.byName.get(k.toLowerCase());
            if (attr) assign(target.schema, attr, raw[k]);
            else if (ctx.strict) throw badRequest("invalidValue", `unknown attribute '${k}'`);
          }
          break;
        }
        if (raw === null) break;
        if (!isObject(raw)) throw badRequest("invalidSyntax", `extension '${key}' must be an object`);
        for (const k of Object.keys(raw)) {
          assertAllowedKey(k, "invalidSyntax", ` (in '${key}')`);
          const attr = target.schema.byName.get(k.toLowerCase());
          if (attr) assign(target.schema, attr, raw[k]);
          else if (ctx.strict) throw badRequest("invalidValue", `unknown attribute '${k}' in '${target.schema.id}'`);
        }
        break;
      }
      case "attribute":
        assign(target.schema, target.attribute, raw, target.sub);
        break;
      case "unknown":
        if (ctx.strict) throw badRequest("invalidValue", `unknown attribute '${key}' for resource type ${rt.name}`);
        break;
    }
  }

  const existing = options.existing;
  if (existing !== undefined) {
    for (const schema of [rt.core, ...rt.extensions]) {
      for (const attr of schema.attributes) {
        if (attr.mutability !== "immutable") continue;
        const before = readAttr(existing, schema, attr);
        if (before === undefined) continue;
        const container = schema.extension ? extensions.get(schema) : out;
        const after = container?.[attr.name];
        if (after === undefined) {
          const c = schema.extension ? (extensions.get(schema) ?? {}) : out;
          c[attr.name] = before;
          if (schema.extension) extensions.set(schema, c);
        } else if (!deepEqual(before, after)) {
          throw badRequest("mutability", `attribute '${attr.name}' is immutable and already has a value`);
        }
      }
    }
  }

  const schemas: string[] = [rt.core.id];
  for (const ext of rt.extensions) {
    const data = extensions.get(ext);
    if (data !== undefined && Object.keys(data).length > 0) {
      out[ext.id] = data;
      schemas.push(ext.id);
    } else if (ext.required) {
      throw badRequest("invalidValue", `the extension '${ext.id}' is required`);
    }
  }
  for (const schema of [rt.core, ...rt.extensions]) {
    const container = schema.extension ? (out[schema.id] as Obj | undefined) : out;
    if (container === undefined) continue;
    for (const attr of schema.attributes) {
      if (attr.required && attr.mutability !== "readOnly" && container[attr.name] === undefined) {
        throw badRequest("invalidValue", `attribute '${attr.name}' is required`);
      }
      assertNotBlank(attr, container[attr.name]);
      assertRequiredSubAttributes(attr, container[attr.name]);
    }
  }
  return { schemas, ...out };
}

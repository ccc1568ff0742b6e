/**
 * Output projection (RFC 7643 §7 `returned`; RFC 7644 §3.4.2.5 `attributes` and
 * `excludedAttributes`), shared by every response that carries a resource.
 */
import { splitAttrPath } from "../filter/parser.js";
import { badRequest } from "../errors/scim-error.js";
import { resolveResourceType, type AttributeInfo, type CompiledResourceType, type CompiledSchema, type ResourceTypeRef, type SchemaRegistry } from "../schema/registry.js";
import { isObject, resolveAttrTarget } from "../schema/validate.js";

type Obj = Record<string, unknown>;

/** Options of {@link projectResource}. */
export interface ProjectionOptions {
  /** The resource type: a registered name (`"User"`), a definition, or compiled. */
  resourceType: ResourceTypeRef;
  registry?: SchemaRegistry;
  /**
   * Return only these attributes (plus those `returned: always`). Paths may be URN-qualified,
   * name a sub-attribute (`name.givenName`, `emails.value`) or a whole extension by its URN.
   * A comma-separated string (the query parameter) or an array.
   */
  attributes?: string | readonly string[];
  /** Leave out these attributes (never those `returned: always`). Same syntax as `attributes`. */
  excludedAttributes?: string | readonly string[];
}

/** A parsed attribute list: whole schemas, whole attributes, and single sub-attributes. */
interface Selection {
  schemas: Set<CompiledSchema>;
  attributes: Set<AttributeInfo>;
  subs: Map<AttributeInfo, Set<AttributeInfo>>;
}

function toList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const items = typeof value === "string" ? value.split(",") : value;
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== "string") throw badRequest("invalidSyntax", "attribute names must be strings");
    const t = item.trim();
    if (t) out.push(t);
  }
  return out;
}

const rejectName = (message: string): never => {
  throw badRequest("invalidSyntax", message);
};

/** Unknown names are ignored, as RFC 7644 §3.4.2.5 leaves them without effect. */
function select(rt: CompiledResourceType, names: string[]): Selection | undefined {
  if (names.length === 0) return undefined;
  const sel: Selection = { schemas: new Set(), attributes: new Set(), subs: new Map() };
  for (const name of names) {
    const whole = rt.schema(name);
    if (whole !== undefined) {
      sel.schemas.add(whole);
      continue;
    }
    const target = resolveAttrTarget(rt, splitAttrPath(name, rejectName));
    if (target.kind === "schema") sel.schemas.add(target.schema);
    else if (target.kind === "attribute") {
      if (target.sub === undefined) sel.attributes.add(target.attribute);
      else {
        let set = sel.subs.get(target.attribute);
        if (!set) sel.subs.set(target.attribute, (set = new Set()));
        set.add(target.sub);
      }
    }
  }
  return sel;
}

/** @internal A compiled projection: reuse it for every resource of a list response. */
export type Projector = (resource: Obj) => Obj;

/**
 * @internal Compiles a projection once (the attribute lists are parsed once), to apply it to
 * every resource of a list. With `allowFastPath` (the server's choice: its resources come from a
 * store in canonical form) and no attribute lists, known keys are copied in stored order instead
 * of rebuilding every value in schema order; `projectResource` always takes the general path.
 */
export function compileProjection(options: ProjectionOptions, allowFastPath = true): Projector {
  const rt = resolveResourceType(options.resourceType, options.registry);
  const include = select(rt, toList(options.attributes));
  const exclude = select(rt, toList(options.excludedAttributes));
  if (allowFastPath && include === undefined && exclude === undefined) {
    const fast = defaultProjection(rt);
    if (fast !== undefined) return fast;
  }

  /** Sub-attributes to keep of a complex value, or undefined for all of them (by `returned`). */
  const subFilter = (attr: AttributeInfo, partial: Set<AttributeInfo> | undefined): ((sub: AttributeInfo) => boolean) => {
    const excluded = exclude?.subs.get(attr);
    return (sub) => {
      if (sub.returned === "never") return false;
      if (sub.returned === "always") return true;
      if (excluded?.has(sub)) return false;
      if (partial !== undefined) return partial.has(sub);
      return sub.returned !== "request";
    };
  };

  const projectValue = (attr: AttributeInfo, value: unknown, keep: (sub: AttributeInfo) => boolean): unknown => {
    if (attr.type !== "complex") return value;
    const one = (el: unknown): unknown => {
      if (!isObject(el)) return el;
      const out: Obj = {};
      for (const sub of attr.subs) {
        const v = el[sub.name];
        if (v !== undefined && keep(sub)) out[sub.name] = v;
      }
      return out;
    };
    if (Array.isArray(value)) return value.map(one).filter((el) => !isObject(el) || Object.keys(el).length > 0);
    const o = one(value);
    return isObject(o) && Object.keys(o).length === 0 ? undefined : o;
  };

  const projectSchema = (schema: CompiledSchema, source: Obj, target: Obj) => {
    const wholeSchema = include?.schemas.has(schema) === true;
    const schemaExcluded = exclude?.schemas.has(schema) === true;
    for (const attr of schema.attributes) {
      const value = source[attr.name];
      if (value === undefined || value === null) continue;
      if (attr.returned === "never") continue;
      let partial: Set<AttributeInfo> | undefined;
      if (attr.returned !== "always") {
        if (schemaExcluded || exclude?.attributes.has(attr)) continue;
        if (include !== undefined) {
          if (!wholeSchema && !include.attributes.has(attr)) {
            partial = include.subs.get(attr);
            if (partial === undefined) continue;
          }
        } else if (attr.returned === "request") continue;
      }
      const projected = projectValue(attr, value, subFilter(attr, partial));
      if (projected !== undefined && !(Array.isArray(projected) && projected.length === 0)) target[attr.name] = projected;
    }
  };

  // `schemas` names the namespaces of the attributes present (RFC 7643 §3): not an extension whose
  // attributes were all left out (by the attribute lists, or as never returned).
  const extensionIds = new Map(rt.extensions.map((ext) => [ext.id.toLowerCase(), ext.id]));
  return (resource) => {
    const out: Obj = {};
    if (resource.schemas !== undefined) out.schemas = resource.schemas;
    projectSchema(rt.core, resource, out);
    for (const ext of rt.extensions) {
      const data = resource[ext.id];
      if (!isObject(data)) continue;
      const projected: Obj = {};
      projectSchema(ext, data, projected);
      if (Object.keys(projected).length > 0) out[ext.id] = projected;
    }
    if (extensionIds.size > 0 && Array.isArray(out.schemas)) {
      out.schemas = out.schemas.filter((uri) => {
        const ext = typeof uri === "string" ? extensionIds.get(uri.toLowerCase()) : undefined;
        return ext === undefined || out[ext] !== undefined;
      });
    }
    // `meta` last, as in the RFC's examples.
    if (out.meta !== undefined) {
      const meta = out.meta;
      delete out.meta;
      out.meta = meta;
    }
    return out;
  };
}

function emptyObject(o: Obj): boolean {
  for (const _ in o) return false;
  return true;
}

/** @internal Whether the default projection leaves a value out as empty (RFC 7643 §2.5: unassigned). */
export function isEmptyValue(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) ? v.length === 0 : typeof v === "object" && emptyObject(v as Obj));
}

/**
 * @internal The projection without `attributes`/`excludedAttributes` of a resource type whose only
 * hidden (`returned: never`/`request`) attributes are top-level core ones (true of User and Group):
 * `shown` are the top-level keys it returns as they are, non-empty values only (`schemas`, core
 * attributes by their canonical names, extension objects by their schema URNs), then `meta` last.
 */
export interface DefaultView {
  readonly shown: ReadonlySet<string>;
  readonly project: Projector;
}

const defaultViews = new WeakMap<CompiledResourceType, DefaultView | null>();

/**
 * @internal The {@link DefaultView} of a resource type, or undefined when its default projection
 * has to rebuild values (hidden sub-attributes or extension attributes). The same result as the
 * general path on canonical resources, without rebuilding every complex value (a page of 100
 * users is projected 100 times).
 */
export function defaultView(rt: CompiledResourceType): DefaultView | undefined {
  let cached = defaultViews.get(rt);
  if (cached === undefined) {
    cached = null;
    const hidden = new Set<string>();
    let simple = true;
    for (const schema of [rt.core, ...rt.extensions]) {
      for (const attr of schema.attributes) {
        if (attr.returned === "never" || attr.returned === "request") {
          if (schema.extension) simple = false;
          hidden.add(attr.name);
        }
        for (const sub of attr.subs) if (sub.returned === "never" || sub.returned === "request") simple = false;
      }
    }
    if (simple) {
      const shown = new Set<string>(["schemas", rt.core.id, ...rt.extensions.map((e) => e.id)]);
      for (const attr of rt.core.byName.values()) shown.add(attr.name);
      shown.delete("meta");
      for (const name of hidden) shown.delete(name);
      const project: Projector = (resource) => {
        const out: Obj = {};
        for (const key in resource) {
          if (!shown.has(key)) continue;
          const v = resource[key];
          if (!isEmptyValue(v)) out[key] = v;
        }
        if (resource.meta !== undefined && resource.meta !== null) out.meta = resource.meta;
        return out;
      };
      cached = { shown, project };
    }
    defaultViews.set(rt, cached);
  }
  return cached ?? undefined;
}

function defaultProjection(rt: CompiledResourceType): Projector | undefined {
  return defaultView(rt)?.project;
}

/**
 * Projects a stored resource for output (RFC 7643 §7, RFC 7644 §3.4.2.5): `returned: never`
 * attributes (such as `password`) are never included, `always` ones (`id`, `schemas`) always,
 * `request` ones only when asked for, `default` ones unless `attributes` narrows the set or
 * `excludedAttributes` removes them. Returns a new object in schema order.
 */
export function projectResource(resource: Obj, options: ProjectionOptions): Obj {
  return compileProjection(options, false)(resource);
}

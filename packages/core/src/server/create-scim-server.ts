/**
 * `createScimServer(config)`: every RFC 7644 endpoint over a plain request/response pair, so that
 * any framework adapter (or `fetch`-native runtime) can sit on top.
 */
import { adapterRequest } from "./adapter-request.js";
import { authenticationRequired, badRequest, isScimError, ScimConfigError, ScimError } from "../errors/scim-error.js";
import {
  bulkResponse,
  deferReferences,
  failedReferenceError,
  parseBulkRequest,
  resolvePatchPaths,
  planBulkOperations,
  resolveBulkIds,
  type BulkMethod,
  type BulkOperation,
  type BulkOperationResult,
  type BulkStep,
} from "../messages/bulk.js";
import { listResponse } from "../messages/list-response.js";
import { PATCH_OP_SCHEMA } from "../messages/urns.js";
import { isObject } from "../schema/validate.js";
import { parseSearchRequest } from "../messages/search-request.js";
import { defaultRegistry, type CompiledResourceType } from "../schema/registry.js";
import { GROUP_SCHEMA_ID } from "../schema/core-schemas.js";
import { errorResponse, header, json, methodNotAllowed, queryParams, readBody } from "./http.js";
import { ResourceEndpoint, type RequestScope, type ServerSettings } from "./resources.js";
import type { Principal, ScimRequest, ScimResponse, ScimServer, ScimServerConfig } from "./types.js";
import { utf8Length } from "../store/page-bytes.js";

/** The default of `ScimServerConfig.paging.maxPageBytes`: 8 MiB. */
const DEFAULT_MAX_PAGE_BYTES = 8 * 1024 * 1024;
/** The default of `ScimServerConfig.maxQueryMs`: 10 s. */
const DEFAULT_MAX_QUERY_MS = 10_000;
const SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

const HOOK_NAMES = new Set(["beforeCreate", "afterCreate", "beforeReplace", "afterReplace", "beforePatch", "afterPatch", "beforeDelete", "afterDelete", "revalidate"]);

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw new ScimConfigError(`${name} must be a positive integer`);
  return value;
}

/** Checks the configuration at start-up (a mistake throws ScimConfigError, never a runtime 500). */
function settingsOf(config: ScimServerConfig): ServerSettings {
  if (typeof config !== "object" || config === null) throw new ScimConfigError("createScimServer needs a configuration object");
  const store = config.store as unknown;
  if (typeof store !== "object" || store === null) throw new ScimConfigError("config.store is required");
  for (const method of ["get", "query", "create", "replace", "delete", "addMembers", "removeMembers", "setMembers", "groupsOf"]) {
    if (typeof (store as Record<string, unknown>)[method] !== "function") throw new ScimConfigError(`config.store.${method} must be a function`);
  }
  if (typeof (store as { capabilities?: unknown }).capabilities !== "object") throw new ScimConfigError("config.store.capabilities is required");
  if (typeof config.authenticate !== "function") throw new ScimConfigError("config.authenticate must be a function (request) => principal | null");
  if (config.baseUrl !== undefined && typeof config.baseUrl !== "function" && (typeof config.baseUrl !== "string" || !/^https?:\/\/[^\s]+$/i.test(config.baseUrl))) {
    throw new ScimConfigError("config.baseUrl must be an absolute http(s) URL or a function returning one");
  }
  const defaultCount = positiveInteger(config.paging?.defaultCount, "config.paging.defaultCount", 100);
  const maxCount = positiveInteger(config.paging?.maxCount, "config.paging.maxCount", 1000);
  if (defaultCount > maxCount) throw new ScimConfigError("config.paging.defaultCount must not exceed maxCount");
  positiveInteger(config.bulk?.maxOperations, "config.bulk.maxOperations", 1000);
  positiveInteger(config.bulk?.maxPayloadSize, "config.bulk.maxPayloadSize", 1048576);
  positiveInteger(config.maxValues, "config.maxValues", 1000);
  positiveInteger(config.maxPatchOperations, "config.maxPatchOperations", 1000);
  positiveInteger(config.maxFilterTerms, "config.maxFilterTerms", 100);
  for (const [type, status] of Object.entries(config.patchStatus ?? {})) {
    if (status !== 200 && status !== 204) throw new ScimConfigError(`config.patchStatus.${type} must be 200 or 204`);
  }
  if (config.hooks !== undefined) {
    if (typeof config.hooks !== "object" || config.hooks === null) throw new ScimConfigError("config.hooks must be an object of hook functions");
    for (const [name, hook] of Object.entries(config.hooks)) {
      if (!HOOK_NAMES.has(name)) throw new ScimConfigError(`config.hooks.${name} is not a hook (expected one of ${[...HOOK_NAMES].join(", ")})`);
      if (hook !== undefined && typeof hook !== "function") throw new ScimConfigError(`config.hooks.${name} must be a function`);
    }
  }
  if (config.subscribers !== undefined && (!Array.isArray(config.subscribers) || config.subscribers.some((s) => typeof s !== "function"))) {
    throw new ScimConfigError("config.subscribers must be an array of functions (event, ctx) => void");
  }
  for (const name of ["onError", "me"] as const) {
    if (config[name] !== undefined && typeof config[name] !== "function") throw new ScimConfigError(`config.${name} must be a function`);
  }
  if (config.basePath !== undefined && (typeof config.basePath !== "string" || (config.basePath !== "" && !config.basePath.startsWith("/")))) {
    throw new ScimConfigError('config.basePath must start with "/" (e.g. "/scim/v2")');
  }
  for (const name of ["lenientFilters", "strict", "uniqueGroupDisplayName"] as const) {
    if (config[name] !== undefined && typeof config[name] !== "boolean") throw new ScimConfigError(`config.${name} must be a boolean`);
  }
  if (config.bulk?.enabled !== undefined && typeof config.bulk.enabled !== "boolean") throw new ScimConfigError("config.bulk.enabled must be a boolean");
  const registry = config.registry as unknown;
  if (registry !== undefined && (typeof registry !== "object" || registry === null || typeof (registry as Record<string, unknown>).getResourceType !== "function")) {
    throw new ScimConfigError("config.registry must be a schema registry from createSchemaRegistry()");
  }
  return {
    config,
    registry: config.registry ?? defaultRegistry(),
    defaultCount,
    maxCount,
    maxPageBytes: positiveInteger(config.paging?.maxPageBytes, "config.paging.maxPageBytes", DEFAULT_MAX_PAGE_BYTES),
    maxBodyBytes: positiveInteger(config.maxBodyBytes, "config.maxBodyBytes", 1048576),
    maxQueryMs: positiveInteger(config.maxQueryMs, "config.maxQueryMs", DEFAULT_MAX_QUERY_MS),
    searches: { lastTimedOut: Number.NEGATIVE_INFINITY },
    lenient: config.lenientFilters !== false,
    strict: config.strict === true,
    uniqueGroupDisplayName: config.uniqueGroupDisplayName !== false,
  };
}

/** A path segment, percent-decoded; malformed escapes are a 400, not an exception. */
function decodeSegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest("invalidSyntax", "the request path is not correctly percent-encoded");
  }
}

/**
 * The non-empty segments of a request path before any `?`, percent-decoded (a hot path: a loop
 * of `indexOf`, not `split`/`filter`/`map`, which cost about 2 µs per request).
 */
export function pathSegments(path: string): string[] {
  const q = path.indexOf("?");
  const end = q < 0 ? path.length : q;
  const out: string[] = [];
  let start = 0;
  while (start < end) {
    let slash = path.indexOf("/", start);
    if (slash < 0 || slash > end) slash = end;
    if (slash > start) out.push(decodeSegment(path.slice(start, slash)));
    start = slash + 1;
  }
  return out;
}

/** A bulk operation's path with its `bulkId:` segments replaced by the ids created (RFC 7644 §3.7.2). */
/** What a bulk job carries from step to step: the ids its POSTs created, and the values its POSTs on cycles left for later. */
interface BulkJob {
  ids: Map<string, string>;
  /** By operation index: the PATCH operations that add what the POST was created without, and the bulkIds they name. */
  later: Map<number, { operations: { op: "add"; path: string; value: unknown }[]; deferred: string[] }>;
}

/**
 * A POST created without the values naming `deferred` bulkIds (a cycle) that failed: its error
 * says so, since the client did send those values (a required attribute among them fails as missing).
 */
function explainDeferral(result: BulkOperationResult, deferred: readonly string[]): void {
  const body = result.response as { detail?: unknown } | undefined;
  if (body !== undefined && typeof body.detail === "string") {
    result.response = { ...body, detail: `${body.detail} (to resolve a circular reference, the resource was created without its values that name bulkId '${deferred.join("', '")}', RFC 7644 §3.7.1)` };
  }
}

function resolvePath(path: string, ids: ReadonlyMap<string, string>): string {
  return path
    .split("/")
    .map((segment) => {
      if (!segment.startsWith("bulkId:")) return segment;
      const id = ids.get(segment.slice(7));
      if (id === undefined) throw badRequest("invalidValue", `unresolved reference '${segment}'`);
      return encodeURIComponent(id);
    })
    .join("/");
}

function withMeta(base: string, path: string, resourceType: string, body: Record<string, unknown>): Record<string, unknown> {
  return { ...body, meta: { resourceType, location: `${base}${path}` } };
}

/**
 * Creates a SCIM 2.0 service provider (RFC 7644) over a store. Returns `handle` (plain objects,
 * the fast path for Node adapters) and `fetch` (web Request/Response); both are safe to pass
 * unbound. The configuration is checked at once: mistakes throw `ScimConfigError`.
 *
 * Endpoints: `/ServiceProviderConfig`, `/Schemas[/{id}]`, `/ResourceTypes[/{id}]`, each resource
 * type's endpoint (`/Users`, `/Groups`: list, get, POST, PUT, PATCH, DELETE, `/.search`),
 * `/.search` at the root, `/Bulk`, and `/Me` when `config.me` is set (501 otherwise).
 */
export function createScimServer(config: ScimServerConfig): ScimServer {
  const settings = settingsOf(config);
  const registry = settings.registry;
  const endpoints = new Map<string, ResourceEndpoint>();
  for (const def of registry.listResourceTypes()) {
    const rt = registry.getResourceType(def.name);
    endpoints.set(rt.endpoint.replace(/^\//, "").toLowerCase(), new ResourceEndpoint(rt, settings));
  }
  const bulkEnabled = config.bulk?.enabled !== false;
  const bulkLimits = { maxOperations: config.bulk?.maxOperations ?? 1000, maxPayloadSize: config.bulk?.maxPayloadSize ?? 1048576 };

  const serviceProviderConfig = (base: string) => ({
    schemas: [SPC_SCHEMA],
    patch: { supported: true },
    bulk: { supported: bulkEnabled, maxOperations: bulkLimits.maxOperations, maxPayloadSize: bulkLimits.maxPayloadSize },
    filter: { supported: true, maxResults: settings.maxCount },
    // The server passes a new password to the store unless the store says it drops them.
    changePassword: { supported: config.store.capabilities.passwords !== false },
    sort: { supported: true },
    etag: { supported: true },
    pagination: { cursor: true, index: true, defaultPaginationMethod: "index", defaultPageSize: settings.defaultCount, maxPageSize: settings.maxCount },
    authenticationSchemes: [
      { type: "oauthbearertoken", name: "OAuth Bearer Token", description: "Authentication with a bearer token in the Authorization header", primary: true },
    ],
    meta: { resourceType: "ServiceProviderConfig", location: `${base}/ServiceProviderConfig` },
  });

  const schemaBody = (base: string, id: string) => {
    const schema = registry.getSchema(id);
    if (!schema) return undefined;
    // A group's displayName is unique per tenant unless configured otherwise: say so (RFC 7643 §7).
    const attributes =
      schema.id === GROUP_SCHEMA_ID && settings.uniqueGroupDisplayName
        ? schema.attributes.map((a) => (a.name.toLowerCase() === "displayname" && (a.uniqueness ?? "none") === "none" ? { ...a, uniqueness: "server" as const } : a))
        : schema.attributes;
    return withMeta(base, `/Schemas/${schema.id}`, "Schema", { schemas: [SCHEMA_SCHEMA], id: schema.id, name: schema.name, description: schema.description, attributes });
  };

  const resourceTypeBody = (base: string, rt: CompiledResourceType) =>
    withMeta(base, `/ResourceTypes/${rt.definition.id ?? rt.name}`, "ResourceType", {
      schemas: [RESOURCE_TYPE_SCHEMA],
      id: rt.definition.id ?? rt.name,
      name: rt.name,
      endpoint: rt.endpoint,
      description: rt.definition.description,
      schema: rt.definition.schema,
      schemaExtensions: rt.definition.schemaExtensions ?? [],
    });

  const rootSearch = async (scope: RequestScope): Promise<ScimResponse> => {
    const search = parseSearchRequest(readBody(scope.request, settings.maxBodyBytes));
    // Across resource types, pages go by index only: a cursor client must not take an index page
    // without nextCursor for the end (RFC 9865 §2: a cursor the server cannot honor is refused).
    if (search.cursor !== undefined) throw badRequest("invalidCursor", "a search across resource types (POST /.search) pages by startIndex and count, not by cursor");
    const startIndex = search.startIndex ?? 1;
    const count = Math.min(search.count ?? settings.defaultCount, settings.maxCount);
    // The resource types are concatenated in registry order; each is asked only for its part of the page.
    const page: Record<string, unknown>[] = [];
    let total = 0;
    let skip = startIndex - 1;
    let full = true;
    for (const endpoint of endpoints.values()) {
      const wanted = count - page.length;
      const part = await endpoint.list(scope, { ...search, startIndex: skip + 1, count: full ? wanted : 0, cursor: undefined });
      const body = part.body as { totalResults: number; Resources: Record<string, unknown>[] };
      total += body.totalResults;
      page.push(...body.Resources);
      // A part cut short by the page's byte budget ends the page: the next page (startIndex plus
      // itemsPerPage) goes on inside this type. The types after it only count.
      if (full && body.Resources.length < Math.min(wanted, Math.max(0, body.totalResults - skip))) full = false;
      skip = Math.max(0, skip - body.totalResults);
    }
    return json(200, listResponse({ resources: page, totalResults: total, startIndex }));
  };

  const route = async (scope: RequestScope, depth = 0): Promise<ScimResponse> => {
    const request = scope.request;
    const method = request.method.toUpperCase();
    const segments = pathSegments(request.path);
    const [first, second, third] = segments;
    if (first === undefined) {
      // RFC 7644 §3.4.2.1: a query MAY go to the server root; here it is POST /.search.
      if (method === "GET" || method === "HEAD") throw new ScimError(501, undefined, "queries at the server root are not supported by GET: use POST /.search, or GET a resource type's endpoint (/Users, /Groups)");
      throw new ScimError(404, undefined, "Not found");
    }
    const name = first.toLowerCase();
    const base = scope.baseUrl;

    if (name === "serviceproviderconfig" || name === "schemas" || name === "resourcetypes") {
      if (method !== "GET") return methodNotAllowed(method, ["GET"]);
      // RFC 7644 §4: a filter here SHOULD be a 403, so that no client takes the whole list for its matches.
      if (scope.params.has("filter")) throw new ScimError(403, undefined, `${first} does not support filters (RFC 7644 §4)`);
      if (name === "serviceproviderconfig") {
        if (second !== undefined) throw new ScimError(404, undefined, "Not found");
        return json(200, serviceProviderConfig(base));
      }
      if (name === "schemas") {
        if (second === undefined) {
          const schemas = registry.listSchemas().map((s) => schemaBody(base, s.id)!);
          return json(200, listResponse({ resources: schemas, startIndex: 1 }));
        }
        const schema = third === undefined ? schemaBody(base, second) : undefined;
        if (!schema) throw new ScimError(404, undefined, `Schema ${second} not found`);
        return json(200, schema);
      }
      const types = [...endpoints.values()].map((e) => e.rt);
      if (second === undefined) return json(200, listResponse({ resources: types.map((rt) => resourceTypeBody(base, rt)), startIndex: 1 }));
      const rt = third === undefined ? types.find((t) => (t.definition.id ?? t.name).toLowerCase() === second.toLowerCase()) : undefined;
      if (!rt) throw new ScimError(404, undefined, `ResourceType ${second} not found`);
      return json(200, resourceTypeBody(base, rt));
    }

    if (name === ".search" && second === undefined) {
      if (method !== "POST") return methodNotAllowed(method, ["POST"]);
      return rootSearch(scope);
    }

    if (name === "bulk" && second === undefined) {
      if (method !== "POST") return methodNotAllowed(method, ["POST"]);
      if (!bulkEnabled || depth > 0) throw new ScimError(501, undefined, "Bulk is not supported");
      return bulk(scope);
    }

    if (name === "me") {
      if (!config.me) throw new ScimError(501, undefined, "/Me is not supported by this service provider");
      const id = await config.me(scope.principal, request);
      if (!id) throw new ScimError(404, undefined, "the authenticated subject has no User resource");
      const rest = segments.slice(1).map(encodeURIComponent).join("/");
      return route({ ...scope, request: { ...request, path: `/Users/${encodeURIComponent(id)}${rest ? `/${rest}` : ""}` } }, depth);
    }

    const endpoint = endpoints.get(name);
    if (!endpoint) throw new ScimError(404, undefined, `Not found: ${request.path}`);
    if (second === undefined) {
      if (method === "GET") return endpoint.list(scope);
      if (method === "POST") return endpoint.create(scope);
      return methodNotAllowed(method, ["GET", "POST"]);
    }
    if (third !== undefined) throw new ScimError(404, undefined, `Not found: ${request.path}`);
    if (second === ".search") {
      if (method !== "POST") return methodNotAllowed(method, ["POST"]);
      return endpoint.list(scope, parseSearchRequest(readBody(request, settings.maxBodyBytes)));
    }
    switch (method) {
      case "GET":
        return endpoint.get(scope, second);
      case "PUT":
        return endpoint.replace(scope, second);
      case "PATCH":
        return endpoint.patch(scope, second);
      case "DELETE":
        return endpoint.delete(scope, second);
      default:
        return methodNotAllowed(method, ["GET", "PUT", "PATCH", "DELETE"]);
    }
  };

  /**
   * POST /Bulk (RFC 7644 §3.7): operations in request order, each POST it refers to by `bulkId:`
   * run just before it ({@link planBulkOperations}), references resolved, circular ones by
   * creating first and adding the references after, `failOnErrors` honoured. Results keep request
   * order.
   */
  const bulk = async (scope: RequestScope): Promise<ScimResponse> => {
    const raw = scope.request.body;
    const size = typeof raw === "string" ? utf8Length(raw) : raw instanceof Uint8Array ? raw.byteLength : undefined;
    if (size !== undefined && size > bulkLimits.maxPayloadSize) {
      throw new ScimError(413, undefined, `the bulk request is larger than maxPayloadSize (${bulkLimits.maxPayloadSize} bytes)`);
    }
    // A body the host already parsed has no raw size: parseBulkRequest measures its JSON (RFC 7644 §3.7.4).
    const request = parseBulkRequest(readBody(scope.request, Math.max(settings.maxBodyBytes, bulkLimits.maxPayloadSize)), { ...bulkLimits, payloadSize: size });
    const job: BulkJob = { ids: new Map(), later: new Map() };
    const results: BulkOperationResult[] = [];
    let errors = 0;
    for (const step of planBulkOperations(request.operations)) {
      const op = request.operations[step.index]!;
      const before = results[step.index];
      const result = step.resolves ? await resolveDeferred(scope, op, step, job, before) : await bulkOperation(scope, op, step, job);
      if (result === undefined) continue;
      results[step.index] = result;
      if (result.status >= 400 && !(before !== undefined && before.status >= 400)) errors++;
      if (request.failOnErrors !== undefined && errors >= request.failOnErrors) break;
    }
    // failOnErrors stopped the job before some POSTs on a cycle got the values they were created
    // without: they did not do what they were asked, and say so (their resource exists).
    for (const [index, { deferred }] of job.later) {
      const created = results[index];
      if (created?.status !== 201) continue;
      const failed = deferred.find((bulkId) => request.operations.some((o, i) => o.bulkId === bulkId && results[i] !== undefined && results[i]!.status >= 400));
      const error = failed !== undefined ? failedReferenceError(failed) : new ScimError(409, undefined, `the bulk job stopped (failOnErrors) before the values naming bulkId '${deferred.join("', '")}' were added`);
      results[index] = { ...created, status: error.status, response: error.toJSON() };
    }
    // Sparse when failOnErrors stopped the job: only the operations that ran are reported.
    return json(200, bulkResponse(results.filter((r) => r !== undefined)));
  };

  /**
   * Runs one bulk operation as the request it stands for (RFC 7644 §3.7.3). `location` is the
   * resource's URL, for failures too, except for a POST that failed or a path that names no resource.
   * A POST with deferred references is created without them ({@link deferReferences}).
   */
  const bulkOperation = async (scope: RequestScope, op: BulkOperation, step: BulkStep, job: BulkJob): Promise<BulkOperationResult> => {
    let path: string | undefined;
    let result: BulkOperationResult;
    /** The bulkIds a POST on a cycle was sent without, once it is sent. */
    let deferring: readonly string[] | undefined;
    try {
      if (step.error !== undefined) throw step.error;
      const failed = step.references.find((reference) => !job.ids.has(reference));
      if (failed !== undefined) throw failedReferenceError(failed);
      path = resolvePath(op.path, job.ids);
      let data = op.data;
      if (step.deferred !== undefined && isObject(data)) {
        // An extension's object (`"urn:...:User": {...}`) is looked into; a URN-qualified
        // attribute (`"urn:...:User:manager"`) is an attribute like any other.
        const rt = endpoints.get(path.split("/").filter(Boolean)[0]?.toLowerCase() ?? "")?.rt;
        const extensions = new Set(rt?.extensions.map((e) => e.id.toLowerCase()));
        const split = deferReferences(data, step.deferred, (key) => extensions.has(key.toLowerCase()));
        data = split.data;
        job.later.set(step.index, { operations: split.later, deferred: step.deferred });
      }
      const resolved = data === undefined ? undefined : resolveBulkIds(op.method === "PATCH" ? resolvePatchPaths(data, job.ids) : data, job.ids);
      deferring = step.deferred;
      const response = await route({ ...scope, params: queryParams(undefined), request: bulkRequest(op.method, path, resolved, op.version) }, 1);
      const body = response.body as Record<string, unknown> | undefined;
      result = bulkResult(op.method, response);
      if (op.method === "POST" && response.status === 201 && op.bulkId !== undefined && typeof body?.id === "string") job.ids.set(op.bulkId, body.id);
    } catch (error) {
      result = bulkError(scope, op.method, error);
    }
    if (result.status >= 400 && deferring !== undefined) explainDeferral(result, deferring);
    if (op.bulkId !== undefined) result.bulkId = op.bulkId;
    if (result.location === undefined && op.method !== "POST" && path !== undefined) result.location = `${scope.baseUrl}${path}`;
    return result;
  };

  /**
   * The `resolves` step of a POST on a cycle (RFC 7644 §3.7.1): a PATCH that adds the values the
   * POST was created without, now that the resources they name exist. The operation's result
   * becomes the PATCH's outcome (its version; or its error, with the location of the resource,
   * which exists without those values). Nothing to do when the POST itself failed.
   */
  const resolveDeferred = async (scope: RequestScope, op: BulkOperation, step: BulkStep, job: BulkJob, created: BulkOperationResult | undefined): Promise<BulkOperationResult | undefined> => {
    const later = job.later.get(step.index)?.operations;
    job.later.delete(step.index);
    const id = op.bulkId === undefined ? undefined : job.ids.get(op.bulkId);
    if (created === undefined || created.status !== 201 || later === undefined || id === undefined) return undefined;
    try {
      const failed = step.references.find((reference) => !job.ids.has(reference));
      if (failed !== undefined) throw failedReferenceError(failed);
      const path = `${op.path.replace(/\/+$/, "")}/${encodeURIComponent(id)}`;
      const response = await route({ ...scope, params: queryParams(undefined), request: bulkRequest("PATCH", path, { schemas: [PATCH_OP_SCHEMA], Operations: resolveBulkIds(later, job.ids) }) }, 1);
      if (response.status >= 400) return { ...created, status: response.status, response: response.body as Record<string, unknown> };
      return { ...created, ...(response.headers.ETag ? { version: response.headers.ETag } : {}) };
    } catch (error) {
      return { ...created, ...bulkError(scope, op.method, error) };
    }
  };

  /** The internal request of a bulk operation. */
  const bulkRequest = (method: string, path: string, body: unknown, version?: string): ScimRequest => {
    const headers: Record<string, string> = { "content-type": "application/scim+json" };
    if (version !== undefined) headers["if-match"] = version;
    return { method, path, headers, body };
  };

  /** A bulk operation's result from its response (RFC 7644 §3.7.3). */
  const bulkResult = (method: BulkMethod, response: ScimResponse): BulkOperationResult => {
    const body = response.body as Record<string, unknown> | undefined;
    const location = response.headers.Location ?? (body?.meta as Record<string, unknown> | undefined)?.location;
    const result: BulkOperationResult = { method, status: response.status };
    if (response.headers.ETag) result.version = response.headers.ETag;
    if (typeof location === "string") result.location = location;
    if (response.status >= 400) result.response = body;
    return result;
  };

  /** A bulk operation's result when it threw: its SCIM error, or a generic 500 (reported to onError). */
  const bulkError = (scope: RequestScope, method: BulkMethod, error: unknown): BulkOperationResult => {
    const e = isScimError(error) ? error : unexpected(error, scope.request, "internal error");
    return { method, status: e.status, response: e.toJSON() };
  };

  /**
   * The answer to a failure that is no ScimError, reported to onError: the store's own error when
   * it says the client should retry (a database that cannot be reached: 503), else a generic 500.
   */
  const unexpected = (error: unknown, request: ScimRequest, detail: string): ScimError => {
    config.onError?.(error, request);
    let translated: ScimError | undefined;
    try {
      translated = config.store.unavailable?.(error);
    } catch {
      translated = undefined;
    }
    return translated !== undefined && isScimError(translated) ? translated : new ScimError(500, undefined, detail);
  };

  const handle = async (request: ScimRequest): Promise<ScimResponse> => {
    // HEAD is GET without the body (RFC 9110 §9.3.2): same status and headers.
    if (typeof request?.method === "string" && request.method.toUpperCase() === "HEAD") {
      const response = await answer({ ...request, method: "GET" });
      return { ...response, body: undefined };
    }
    return answer(request);
  };

  const answer = async (request: ScimRequest): Promise<ScimResponse> => {
    const receivedAt = Date.now();
    try {
      if (typeof request?.method !== "string" || typeof request.path !== "string") throw badRequest("invalidSyntax", "malformed request");
      const principal: Principal | null | undefined = await config.authenticate(request);
      if (!principal) throw authenticationRequired(header(request.headers, "authorization"));
      if (typeof principal.tenant !== "string" || principal.tenant === "") throw new ScimConfigError("authenticate must return a principal with a non-empty tenant");
      const configured = typeof config.baseUrl === "function" ? config.baseUrl(request, principal) : config.baseUrl;
      const chosen = configured ?? request.baseUrl;
      if (typeof chosen !== "string" || chosen === "") throw new ScimConfigError("no baseUrl: set config.baseUrl, or let the adapter pass request.baseUrl");
      const base = chosen.replace(/\/+$/, "");
      const scope: RequestScope = { settings, request, principal, storeContext: { tenant: principal.tenant }, baseUrl: base, params: queryParams(request.query), receivedAt };
      return await route(scope);
    } catch (error) {
      if (isScimError(error)) return errorResponse(error);
      return errorResponse(unexpected(error, request, "An internal error occurred"));
    }
  };

  const fetchHandler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const basePath = (config.basePath ?? "").replace(/\/+$/, "");
    let path = url.pathname;
    if (basePath && path.toLowerCase().startsWith(basePath.toLowerCase()) && (path.length === basePath.length || path[basePath.length] === "/")) {
      path = path.slice(basePath.length) || "/";
    }
    const headers: Record<string, string> = {};
    req.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const body = hasBody ? await req.text() : undefined;
    const root = `${url.origin}${basePath}`;
    // Lazy: on @hono/node-server, reading `signal` builds the full web Request.
    const response = await handle(adapterRequest({ method: req.method, path, query: url.search, headers, body: body === "" ? undefined : body, baseUrl: root }, () => req.signal));
    return new Response(response.body === undefined ? null : JSON.stringify(response.body), { status: response.status, headers: response.headers });
  };

  return { handle, fetch: fetchHandler, maxBodyBytes: Math.max(settings.maxBodyBytes, bulkEnabled ? bulkLimits.maxPayloadSize : 0) };
}

/** The syntax of a bearer token (RFC 6750 §2.1 `b64token`). */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Reads the bearer token of a request (RFC 6750 §2.1), or undefined. */
export function bearerToken(request: ScimRequest): string | undefined {
  const value = header(request.headers, "authorization");
  const match = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return match?.[1];
}

/**
 * Compares two secrets in time that depends only on their lengths (no early exit on the first
 * differing byte), so a token cannot be guessed byte by byte from response times.
 */
export function timingSafeEqual(a: string, b: string): boolean {
  // Every code unit of the longer string is visited, whatever the content.
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

/**
 * An `authenticate` function for a fixed set of bearer tokens, each mapped to a principal
 * (`{ tenant }`). Tokens are compared in constant time; a missing or unknown token is a 401. A
 * token that is empty, not of bearer token syntax (RFC 6750 §2.1), or the text "undefined" or
 * "null" (an unset environment variable) is a `ScimConfigError` at once.
 */
export function bearerAuth(tokens: Record<string, Principal> | ((token: string) => Principal | null | undefined | Promise<Principal | null | undefined>)): ScimServerConfig["authenticate"] {
  if (typeof tokens === "function") {
    return (request) => {
      const token = bearerToken(request);
      return token === undefined ? null : tokens(token);
    };
  }
  const entries = Object.entries(tokens);
  if (entries.length === 0) throw new ScimConfigError("bearerAuth needs at least one token");
  for (const [candidate] of entries) {
    // `{ [process.env.SCIM_TOKEN!]: ... }` with the variable unset makes the token "undefined":
    // anyone sending `Bearer undefined` would be let in.
    if (candidate === "undefined" || candidate === "null") throw new ScimConfigError(`bearerAuth: a token is the text "${candidate}" (an unset variable?)`);
    if (!BEARER_TOKEN.test(candidate)) throw new ScimConfigError("bearerAuth: a token is empty or has characters a bearer token cannot have (RFC 6750 §2.1)");
  }
  return (request) => {
    const token = bearerToken(request);
    if (token === undefined) return null;
    let found: Principal | null = null;
    for (const [candidate, principal] of entries) if (timingSafeEqual(candidate, token) && found === null) found = principal;
    return found;
  };
}

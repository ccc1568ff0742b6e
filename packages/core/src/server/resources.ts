/**
 * Resource endpoints (RFC 7644 §3.3–§3.6): list and search, get, create, replace, PATCH and
 * delete, over a tenant-scoped {@link ScimStore}, with ETags, hooks and events.
 */
import { badRequest, isScimError, ScimError } from "../errors/scim-error.js";
import { leafFilters, referencesAttribute, type AttrPath, type Filter } from "../filter/ast.js";
import { compileElementFilter, compileFilter } from "../filter/compile.js";
import { parseFilter, splitAttrPath } from "../filter/parser.js";
import { printAttrPath, printFilter } from "../filter/print.js";
import { compileProjection, defaultView, isEmptyValue, type DefaultView, type Projector } from "../list/project.js";
import { cursorOffset, offsetCursor, sortByKeys, sortValue } from "../list/sort.js";
import { listResponse } from "../messages/list-response.js";
import { parsePatchRequest } from "../messages/patch-request.js";
import type { SearchRequest } from "../messages/search-request.js";
import { applyPatch, type ApplyPatchOptions, type MemberChange, type MemberValue, type PatchOperation } from "../patch/apply-patch.js";
import { GROUP_SCHEMA_ID } from "../schema/core-schemas.js";
import { membersAttributeOf, type AttributeInfo, type CompiledResourceType, type SchemaRegistry } from "../schema/registry.js";
import { DEFAULT_MAX_VALUES, deepEqual, isObject, validateResource, type ValidateResourceOptions } from "../schema/validate.js";
import { estimateResourceBytes, PageBudget, takeWithinBudget, utf8Length } from "../store/page-bytes.js";
import { checkDeadline } from "../store/query-deadline.js";
import type { GroupRef, MemberCandidate, ScimStore, StoreContext, StoredResource, StoreQuery, UniqueKey } from "../store/types.js";
import { timeOrderedUuid } from "../ids/time-ordered-uuid.js";
import { etagMatches, etagOf, header, json, empty, readBody } from "./http.js";
import type { OperationContext, Principal, ScimEvent, ScimEventType, ScimRequest, ScimResourceBody, ScimResponse, ScimServerConfig } from "./types.js";

type Obj = Record<string, unknown>;

/** @internal The normalised configuration the handlers share. */
export interface ServerSettings {
  config: ScimServerConfig;
  registry: SchemaRegistry;
  defaultCount: number;
  maxCount: number;
  /** `paging.maxPageBytes`: the byte budget of a list page. */
  maxPageBytes: number;
  /** `maxQueryMs`: how long a list request may read the store. */
  maxQueryMs: number;
  /** When a list of this server last gave up at its deadline (`Date.now()`; see {@link listDeadline}). */
  searches: { lastTimedOut: number };
  maxBodyBytes: number;
  lenient: boolean;
  strict: boolean;
  uniqueGroupDisplayName: boolean;
}

/** @internal One authenticated request. */
export interface RequestScope {
  settings: ServerSettings;
  request: ScimRequest;
  principal: Principal;
  storeContext: StoreContext;
  baseUrl: string;
  params: Map<string, string>;
  /** When the request's list queries must be done by (see {@link listDeadline}). */
  deadline?: number;
  /** When the server began to handle the request (`Date.now()`). */
  receivedAt: number;
}

/**
 * With a store whose queries hold the server's thread (`capabilities.blocking`), one turn of the
 * event loop (where there is one), so that the requests that arrived meanwhile are read and served.
 */
async function letOthersRun(store: ScimStore): Promise<void> {
  if (store.capabilities.blocking === true && typeof setImmediate === "function") await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * How long a request that waited behind others may still read the store, at least: enough for a
 * lookup, not for a second scan of the tenant.
 */
const QUEUED_QUERY_MS = 250;

/**
 * When a list request's queries must be done by (`StoreQuery.deadline`; one for the whole request,
 * as a root search lists several types): `maxQueryMs` after the request arrived, and at least
 * {@link QUEUED_QUERY_MS} (or `maxQueryMs` when shorter) after its queries can start; only that
 * short time while the server is under search pressure (a list gave up at its deadline within the
 * last `maxQueryMs`).
 *
 * A store that runs queries on the server's thread (`capabilities.blocking`: SQLite) holds every
 * other request while one runs: ten slow filters sent together, each with the full limit, would
 * hold the server for ten times the limit. So with such a store the requests that arrived
 * meanwhile are read first (one turn of the event loop, where there is one), and what they waited
 * counts against their limit. Requests the server could not even read while a search held it
 * (their connections waited in the kernel) look new when read: the search pressure covers those.
 * A second slow filter gives up a quarter second after the first, while a lookup that waited
 * behind it is still answered.
 */
async function listDeadline(scope: RequestScope, store: ScimStore): Promise<number> {
  await letOthersRun(store);
  const max = scope.settings.maxQueryMs;
  const now = Date.now();
  const short = now + Math.min(max, QUEUED_QUERY_MS);
  if (now - scope.settings.searches.lastTimedOut < max) return short;
  return Math.max(scope.receivedAt + max, short);
}

const MAX_CONFLICT_RETRIES = 8;
/** The default of `ScimServerConfig.maxPatchOperations`. */
const DEFAULT_MAX_PATCH_OPERATIONS = 1000;
/** The default of `ScimServerConfig.maxFilterTerms`. */
const DEFAULT_MAX_FILTER_TERMS = 100;
/** Resources per store query when the server reads a whole type to filter or sort it itself. */
const SCAN_CHUNK = 1000;
/**
 * The chunk of a store whose queries hold the server's thread (`capabilities.blocking`): other
 * requests are served between two chunks, so a smaller one keeps their wait short (a chunk of
 * 1,000 users sorted by their groups held the thread some 20 ms).
 */
const BLOCKING_SCAN_CHUNK = 250;
/** Most comparisons on a group's `members` in one filter (each one reads every membership). */
const MAX_MEMBER_FILTER_TERMS = 10;

/** Event ids are time-ordered, so that stores appending them to an indexed outbox write at its end. */
function newEventId(): string {
  return timeOrderedUuid();
}

/** The wire form of a stored resource (RFC 7643 §3.1 `id` and `meta`). */
export function toWire(scope: RequestScope, rt: CompiledResourceType, stored: StoredResource, extra?: Obj): ScimResourceBody {
  const attributes = stored.attributes;
  const schemas = attributes.schemas;
  const body = { schemas: Array.isArray(schemas) ? schemas : [rt.core.id], id: stored.id } as ScimResourceBody;
  for (const key in attributes) {
    if (key === "schemas" || !Object.hasOwn(attributes, key)) continue;
    if (key === "__proto__") Object.defineProperty(body, key, { value: attributes[key], enumerable: true, writable: true, configurable: true });
    else (body as Obj)[key] = attributes[key];
  }
  if (stored.members !== undefined && stored.members.length > 0) {
    body.members = stored.members.map((m) => ({ ...m, $ref: `${scope.baseUrl}/${m.type === "Group" ? "Groups" : "Users"}/${m.value}` }));
  }
  if (extra) Object.assign(body, extra);
  body.meta = {
    resourceType: rt.name,
    created: stored.created,
    lastModified: stored.lastModified,
    location: `${scope.baseUrl}${rt.endpoint}/${stored.id}`,
    version: etagOf(stored.version),
  };
  return body;
}

/**
 * The `Content-Location` header of an answer holding one resource (RFC 7643 §3.1, RFC 9110
 * §8.7): its `meta.location`, when that is a valid header value (an id seeded into a store
 * could hold any character).
 */
function contentLocation(location: string): Record<string, string> {
  return /^[\x21-\x7e]+$/.test(location) ? { "Content-Location": location } : {};
}

/**
 * If-Match (RFC 7644 §3.14, RFC 9110 §13.1.1): 412 unless it names `version` (or `*`). Returns
 * whether the request carries one.
 */
function checkIfMatchHeader(scope: RequestScope, version: number): boolean {
  const ifMatch = header(scope.request.headers, "if-match");
  if (ifMatch === undefined) return false;
  if (!etagMatches(ifMatch, version)) throw new ScimError(412, undefined, "the resource has changed (If-Match does not match its version)");
  return true;
}

/** The derived `User.groups` values (RFC 7643 §4.1.2) of the groups a store reports. */
function groupValues(scope: RequestScope, groups: readonly GroupRef[]): Obj[] {
  return groups.map((g) => ({ value: g.value, ...(g.display !== undefined ? { display: g.display } : {}), type: g.type, $ref: `${scope.baseUrl}/Groups/${g.value}` }));
}

/**
 * What a read without `attributes`/`excludedAttributes` returns (RFC 7643 §7): the wire form of
 * {@link toWire} with the derived `groups`, then the default projection of `view`, built in one
 * pass as one object (a page of 100 users would otherwise be copied twice per user). Stored
 * values are shared, not copied: the body is only serialized.
 */
export function toDefaultWire(scope: RequestScope, rt: CompiledResourceType, stored: StoredResource, view: DefaultView, groups?: readonly Obj[]): Obj {
  const attributes = stored.attributes;
  const shown = view.shown;
  const members = stored.members !== undefined && stored.members.length > 0 && shown.has("members") ? stored.members : undefined;
  const derived = groups !== undefined && groups.length > 0 && shown.has("groups") ? groups : undefined;
  const out: Obj = {};
  const schemas = Array.isArray(attributes.schemas) ? attributes.schemas : [rt.core.id];
  if (schemas.length > 0 && shown.has("schemas")) out.schemas = schemas;
  if (shown.has("id")) out.id = stored.id;
  for (const key in attributes) {
    // `shown` holds canonical attribute names and schema URNs only (never "__proto__").
    if (key === "schemas" || key === "id" || key === "meta" || !shown.has(key) || !Object.hasOwn(attributes, key)) continue;
    if ((key === "members" && members !== undefined) || (key === "groups" && derived !== undefined)) continue;
    const v = attributes[key];
    if (!isEmptyValue(v)) out[key] = v;
  }
  if (members !== undefined) out.members = members.map((m) => ({ ...m, $ref: `${scope.baseUrl}/${m.type === "Group" ? "Groups" : "Users"}/${m.value}` }));
  if (derived !== undefined) out.groups = derived;
  out.meta = {
    resourceType: rt.name,
    created: stored.created,
    lastModified: stored.lastModified,
    location: `${scope.baseUrl}${rt.endpoint}/${stored.id}`,
    version: etagOf(stored.version),
  };
  return out;
}

/** Whether a projection would return a top-level core attribute (so that it is worth loading). */
function wanted(rt: CompiledResourceType, name: string, attributes: readonly string[] | undefined, excluded: readonly string[] | undefined): boolean {
  const names = (list: readonly string[]) =>
    list.some((entry) => {
      const trimmed = entry.trim();
      if (rt.schema(trimmed) === rt.core) return true;
      try {
        const p = splitAttrPath(trimmed, (m) => {
          throw new Error(m);
        });
        return p.attr.toLowerCase() === name.toLowerCase() && (p.uri === undefined || p.uri.toLowerCase() === rt.core.id.toLowerCase());
      } catch {
        return false;
      }
    });
  if (excluded && excluded.length > 0 && names(excluded.filter((e) => !e.includes(".")))) return false;
  if (attributes && attributes.length > 0) return names(attributes);
  return true;
}

function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

/** The unique keys of a resource's attributes (RFC 7643 §2.2 `uniqueness`), case-folded unless caseExact. */
export function uniqueKeys(settings: ServerSettings, rt: CompiledResourceType, attributes: Obj): UniqueKey[] {
  const keys: UniqueKey[] = [];
  for (const schema of [rt.core, ...rt.extensions]) {
    const container = schema.extension ? attributes[schema.id] : attributes;
    if (!isObject(container)) continue;
    for (const attr of schema.attributes) {
      const unique = attr.uniqueness !== "none" || (settings.uniqueGroupDisplayName && rt.core.id === GROUP_SCHEMA_ID && attr.name === "displayName");
      if (!unique || attr.name === "id" || attr.multiValued || attr.type === "complex") continue;
      const v = container[attr.name];
      if (typeof v !== "string" && typeof v !== "number") continue;
      const value = typeof v === "string" && !attr.exact ? v.toLowerCase() : String(v);
      keys.push({ attribute: schema.extension ? `${schema.id}:${attr.name}` : attr.name, value });
    }
  }
  return keys;
}

function withoutMembers(resource: Obj): Obj {
  const { members: _members, ...rest } = resource;
  return rest;
}

/** Runs `work` in the store's unit of work when it has one. */
function unitOfWork<T>(scope: RequestScope, store: ScimStore, work: (store: ScimStore) => Promise<T>): Promise<T> {
  return store.transaction ? store.transaction(work, { tenant: scope.storeContext.tenant }) : work(store);
}

function operationContext(scope: RequestScope, rt: CompiledResourceType, store: ScimStore): OperationContext {
  return { principal: scope.principal, request: scope.request, resourceType: rt.name, store, storeContext: scope.storeContext };
}

/** Strips `returned: never` attributes (password) before a resource reaches hooks' events. */
function eventResource(rt: CompiledResourceType, wire: ScimResourceBody): ScimResourceBody {
  return compileProjection({ resourceType: rt })(wire) as ScimResourceBody;
}

function subscribed(scope: RequestScope): boolean {
  const subscribers = scope.settings.config.subscribers;
  return subscribers !== undefined && subscribers.length > 0;
}

async function emit(scope: RequestScope, ctx: OperationContext, type: ScimEventType, resourceId: string, resource?: ScimResourceBody, member?: MemberValue): Promise<void> {
  const subscribers = scope.settings.config.subscribers;
  if (!subscribers || subscribers.length === 0) return;
  const event: ScimEvent = {
    id: newEventId(),
    type,
    tenant: scope.principal.tenant,
    resourceType: ctx.resourceType,
    resourceId,
    occurredAt: new Date().toISOString(),
  };
  if (resource) event.resource = resource;
  if (member) event.member = member;
  for (const subscriber of subscribers) await subscriber(event, ctx);
}

function prefix(rt: CompiledResourceType): "user" | "group" | undefined {
  const name = rt.name.toLowerCase();
  return name === "user" ? "user" : name === "group" ? "group" : undefined;
}

/** The events of a change to a user or group (other resource types emit none). */
async function emitChange(scope: RequestScope, ctx: OperationContext, rt: CompiledResourceType, kind: "created" | "updated" | "deleted", wire: ScimResourceBody, previous?: ScimResourceBody): Promise<void> {
  const p = prefix(rt);
  if (!p || !subscribed(scope)) return;
  const resource = eventResource(rt, wire);
  if (p === "user" && kind === "updated" && previous) {
    const was = previous.active !== false;
    const is = wire.active !== false;
    if (was && !is) return emit(scope, ctx, "user.deactivated", wire.id, resource);
    if (!was && is) return emit(scope, ctx, "user.reactivated", wire.id, resource);
  }
  await emit(scope, ctx, `${p}.${kind}` as ScimEventType, wire.id, resource);
}

/** One member's net change in a request: added to the group, or removed from it. */
interface MembershipChange {
  member: MemberValue;
  added: boolean;
}

/** The membership events of a group's changes, in the order given (the order of the request's operations). */
async function emitMembers(scope: RequestScope, ctx: OperationContext, rt: CompiledResourceType, groupId: string, changes: readonly MembershipChange[]): Promise<void> {
  if (prefix(rt) !== "group") return;
  for (const { member, added } of changes) await emit(scope, ctx, added ? "group.user_added" : "group.user_removed", groupId, undefined, member);
}

/**
 * Completes the members a request removed by id alone (`members[value eq "id"]`, Entra's value
 * arrays) with their `type` and `display`, as the members it adds have them, so that a consumer of
 * `group.user_removed` can tell a user from a nested group: one lookup for all of them. A member
 * that no longer exists keeps what the request gave.
 */
async function describeRemoved(scope: RequestScope, store: ScimStore, changes: MembershipChange[]): Promise<void> {
  const bare = changes.filter((c) => !c.added && c.member.type === undefined);
  if (bare.length === 0) return;
  const found = await memberCandidates(scope, store, bare.map((c) => c.member));
  for (const change of bare) {
    const hit = found.get(change.member.value);
    const known = hit?.User ?? hit?.Group;
    if (known === undefined) continue;
    change.member = { ...change.member, type: known.type };
    if (change.member.display === undefined && known.display !== undefined) change.member.display = known.display;
  }
}

const addedAll = (members: readonly MemberValue[]): MembershipChange[] => members.map((member) => ({ member, added: true }));
const removedAll = (members: readonly MemberValue[]): MembershipChange[] => members.map((member) => ({ member, added: false }));

/** Whether two member lists name the same members, in any order. */
function sameMembers(a: readonly MemberValue[], b: readonly MemberValue[]): boolean {
  const values = new Set(a.map((m) => m.value));
  return values.size === new Set(b.map((m) => m.value)).size && b.every((m) => values.has(m.value));
}

/**
 * The membership a PATCH's operations lead to, member by member: whether each member touched was a
 * member before the request and is one after the operations so far, so that the request writes
 * only its net change (RFC 7644 §3.5.2: operations apply in order; a member added then removed
 * again changes nothing, and keeps the version).
 */
class MembershipChanges {
  private readonly byValue = new Map<string, { was: boolean; is: boolean; member: MemberValue }>();
  /** Once a `replace` has set the whole list: its members (a member not touched since is one if listed). */
  private list: Set<string> | undefined;

  /** Whether `value` is a member as the operations so far left the group; undefined when only the database knows. */
  isNow(value: string): boolean | undefined {
    return this.byValue.get(value)?.is ?? this.list?.has(value);
  }

  /** Records one operation on `member`: whether it was a member just before, and is just after. */
  note(member: MemberValue, wasBefore: boolean, isAfter: boolean): void {
    const seen = this.byValue.get(member.value);
    if (seen === undefined) this.byValue.set(member.value, { was: wasBefore, is: isAfter, member });
    else {
      seen.is = isAfter;
      if (isAfter) seen.member = member;
    }
  }

  /**
   * Records a `replace` of the whole list by `members`, given the list as the database holds it
   * (`stored`, read once: a later replace passes what the earlier one set).
   */
  replaceAll(stored: readonly MemberValue[], members: readonly MemberValue[]): void {
    const now = new Set(members.map((m) => m.value));
    for (const m of stored) {
      const was = this.isNow(m.value) ?? true;
      if (was) this.note(m, was, now.has(m.value));
    }
    for (const [value, change] of this.byValue) if (change.is && !now.has(value)) this.note(change.member, true, false);
    for (const m of members) this.note(m, this.isNow(m.value) ?? false, true);
    this.list = now;
  }

  /** Whether a replace has set the whole list (the database's list no longer matters). */
  get listKnown(): boolean {
    return this.list !== undefined;
  }

  /**
   * The members whose membership the request changed: added (not a member before, one after) or
   * removed, in the order the request's operations first touched them.
   */
  changes(): MembershipChange[] {
    return [...this.byValue.values()].filter((c) => c.was !== c.is).map((c) => ({ member: c.member, added: c.is }));
  }
}

/** Characters of a string sort key kept while the server sorts in memory: a key is held per match. */
const MAX_SORT_KEY_CHARS = 256;

/**
 * A sort key cut to {@link MAX_SORT_KEY_CHARS} (900 KB titles held for every match took a GB):
 * strings that share their first 256 characters sort as equal, in creation order.
 */
function boundedKey(key: unknown): unknown {
  return typeof key === "string" && key.length > MAX_SORT_KEY_CHARS ? key.slice(0, MAX_SORT_KEY_CHARS) : key;
}

/** The members' display names in UTF-8 bytes, weighed on top of `MEMBER_JSON_BYTES` each (as the stores weigh them). */
function displayBytes(members: readonly MemberValue[] | undefined): number {
  let bytes = 0;
  for (const m of members ?? []) if (m.display !== undefined) bytes += utf8Length(m.display);
  return bytes;
}

/** How many of a page's stored resources its byte budget (`StoreQuery.maxBytes`) takes. */
function pageWithinBudget(resources: readonly StoredResource[], maxBytes: number | undefined): number {
  if (maxBytes === undefined) return resources.length;
  return takeWithinBudget((function* () { for (const r of resources) yield estimateResourceBytes(r.attributes, r.members?.length ?? 0) + displayBytes(r.members); })(), maxBytes);
}

/**
 * Checks that new members exist in the tenant and completes their `type` and `display`
 * (RFC 7643 §4.2: members are Users or Groups). For a PUT or PATCH, `group` is the group being
 * written: when a member is missing, the group is looked up again, and a group deleted meanwhile
 * (with its members, as a whole tenant's deletion does) is a 404, not a 400 about the member.
 */
async function resolveMembers(scope: RequestScope, store: ScimStore, members: readonly MemberValue[], group?: { id: string; stillExists: () => Promise<unknown> }): Promise<MemberValue[]> {
  const groupId = group?.id;
  const wanted: MemberValue[] = [];
  const seen = new Set<string>();
  for (const m of members) {
    if (typeof m.value !== "string" || m.value === "") throw badRequest("invalidValue", "each member needs a 'value' with the id of a User or Group");
    if (m.value === groupId) throw badRequest("invalidValue", "a group cannot be a member of itself");
    if (seen.has(m.value)) continue;
    seen.add(m.value);
    wanted.push(m);
  }
  if (wanted.length === 0) return [];
  const found = await memberCandidates(scope, store, wanted);
  const out: MemberValue[] = [];
  for (const m of wanted) {
    const wantType = memberTypeOf(m);
    const candidates = found.get(m.value);
    const hit = wantType === "group" ? candidates?.Group : wantType === "user" ? candidates?.User : (candidates?.User ?? candidates?.Group);
    if (hit === undefined) {
      await group?.stillExists();
      // A type that names the other kind of resource: say so, not that the member is missing.
      const other = wantType === "user" ? candidates?.Group : wantType === "group" ? candidates?.User : undefined;
      if (other !== undefined) throw badRequest("invalidValue", `member '${m.value}' is a ${other.type}, not the ${m.type} its 'type' says`);
      throw badRequest("invalidValue", `member '${m.value}' does not exist`);
    }
    const display = m.display ?? hit.display;
    // Copied into every membership and membership event: as long as a name may be, no longer.
    if (display !== undefined && display.length * 3 > MAX_MEMBER_DISPLAY_BYTES && utf8Length(display) > MAX_MEMBER_DISPLAY_BYTES) {
      throw badRequest("invalidValue", `the display of member '${m.value}' is longer than ${MAX_MEMBER_DISPLAY_BYTES} bytes (UTF-8)`);
    }
    const member: MemberValue = { value: m.value, type: hit.type };
    if (display !== undefined) member.display = display;
    out.push(member);
  }
  return out;
}

/**
 * Most UTF-8 bytes of a member's `display`, as of an indexed name (a userName or displayName) in
 * scim-store-sql: a 900 KB display was stored with each membership and each of its events.
 */
const MAX_MEMBER_DISPLAY_BYTES = 2000;

/** The member's `type`, lower-cased ("user", "group"), when it gives one. */
function memberTypeOf(m: MemberValue): string | undefined {
  return typeof m.type === "string" ? m.type.toLowerCase() : undefined;
}

type CandidatesById = Map<string, Partial<Record<"User" | "Group", MemberCandidate>>>;

/**
 * The live Users and Groups that `members` may name, by id: one `memberCandidates` question when
 * the store has it, else `get` per member (the User first unless the member says it is a Group,
 * then the other type only when that one is missing).
 */
async function memberCandidates(scope: RequestScope, store: ScimStore, members: readonly MemberValue[]): Promise<CandidatesById> {
  const byId: CandidatesById = new Map();
  const note = (c: MemberCandidate) => {
    const entry = byId.get(c.id) ?? {};
    entry[c.type] = c;
    byId.set(c.id, entry);
  };
  if (store.memberCandidates !== undefined) {
    for (const c of await store.memberCandidates(scope.storeContext, members.map((m) => m.value))) note(c);
    return byId;
  }
  const read = async (type: "User" | "Group", id: string): Promise<boolean> => {
    const stored = await store.get(scope.storeContext, type, id);
    if (stored === undefined) return false;
    const display = (stored.attributes.displayName as string | undefined) ?? (stored.attributes.userName as string | undefined);
    note(display === undefined ? { id, type } : { id, type, display });
    return true;
  };
  for (const m of members) {
    const first = memberTypeOf(m) === "group" ? "Group" : "User";
    if (!(await read(first, m.value))) await read(first === "User" ? "Group" : "User", m.value);
  }
  return byId;
}

/** @internal Handlers for one resource type. */
export class ResourceEndpoint {
  private readonly members: AttributeInfo | undefined;
  /** Whether the type has the derived, read-only `groups` of RFC 7643 §4.1.2. */
  private readonly derivedGroups: boolean;
  /** The projection without attribute lists, compiled once. */
  private readonly defaultProject: Projector;
  /** Its one-pass form, where the type allows it. */
  private readonly defaultView: DefaultView | undefined;
  /** How bodies are validated (RFC 7643 §2; `ScimServerConfig.strict` and `maxValues`). */
  private readonly validation: ValidateResourceOptions;
  /** How PATCH operations apply (members deferred to the store when the type has them). */
  private readonly patchOptions: ApplyPatchOptions;

  constructor(
    readonly rt: CompiledResourceType,
    private readonly settings: ServerSettings,
  ) {
    this.members = membersAttributeOf(rt);
    this.derivedGroups = rt.core.byName.get("groups")?.mutability === "readOnly";
    this.defaultProject = compileProjection({ resourceType: rt });
    this.defaultView = defaultView(rt);
    const maxValues = settings.config.maxValues ?? DEFAULT_MAX_VALUES;
    this.validation = { resourceType: rt, registry: settings.registry, strict: settings.strict, maxValues };
    this.patchOptions = { ...this.validation, deferMembers: this.members !== undefined };
  }

  private get store(): ScimStore {
    return this.settings.config.store;
  }

  private projection(scope: RequestScope, source?: SearchRequest): { project: Projector; attributes?: string[]; excluded?: string[] } {
    const attributes = source ? source.attributes : splitList(scope.params.get("attributes"));
    const excluded = source ? source.excludedAttributes : splitList(scope.params.get("excludedattributes"));
    if ((attributes === undefined || attributes.length === 0) && (excluded === undefined || excluded.length === 0)) return { project: this.defaultProject, attributes, excluded };
    return { project: compileProjection({ resourceType: this.rt, attributes, excludedAttributes: excluded }), attributes, excluded };
  }

  private async withGroups(scope: RequestScope, wire: ScimResourceBody, wantGroups: boolean, known?: Map<string, GroupRef[]>): Promise<ScimResourceBody> {
    if (!wantGroups) return wire;
    const groups = await this.groupsOfOne(scope, wire.id, known);
    if (groups.length > 0) wire.groups = groupValues(scope, groups);
    return wire;
  }

  /**
   * The wire form with its groups, in order of the sub-attribute a sort names (`value` when none):
   * a sort by a multi-valued attribute takes its primary or first value (RFC 7644 §3.4.2.3), and
   * groups have no primary, so the first is the least, whatever order the store lists them in.
   */
  private async withGroupsInOrder(scope: RequestScope, wire: ScimResourceBody, path: AttrPath, known?: Map<string, GroupRef[]>): Promise<ScimResourceBody> {
    const grouped = await this.withGroups(scope, { ...wire }, true, known);
    const groups = grouped.groups;
    if (!Array.isArray(groups) || groups.length < 2) return grouped;
    const sub = (path.sub ?? "value").toLowerCase();
    const keyOf = (g: unknown) => {
      const v = isObject(g) ? Object.entries(g).find(([k]) => k.toLowerCase() === sub)?.[1] : undefined;
      return typeof v === "string" ? v.toLowerCase() : "";
    };
    grouped.groups = [...groups].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    return grouped;
  }

  /**
   * What the store is given to write: without `password` when the store drops passwords
   * (`capabilities.passwords === false`), so that a change of the password alone changes nothing
   * (no new version, no event), as nothing is kept.
   */
  private storable(attributes: Obj): Obj {
    if (this.store.capabilities.passwords !== false || !Object.prototype.hasOwnProperty.call(attributes, "password")) return attributes;
    const { password: _dropped, ...rest } = attributes;
    return rest;
  }

  private hasGroups(): boolean {
    return this.derivedGroups;
  }

  /** The body of a read (RFC 7644 §3.4): the wire form with the derived `groups` when wanted, projected. */
  private async readBody(scope: RequestScope, stored: StoredResource, project: Projector, wantGroups: boolean, known?: Map<string, GroupRef[]>): Promise<Obj> {
    return this.bodyOf(scope, stored, project, wantGroups ? await this.groupsOfOne(scope, stored.id, known) : undefined);
  }

  /** A resource's groups: from `known` (a {@link groupsOfAll}) when given, else asked of the store. */
  private groupsOfOne(scope: RequestScope, id: string, known: Map<string, GroupRef[]> | undefined): Promise<GroupRef[]> {
    return known !== undefined ? Promise.resolve(known.get(id) ?? []) : this.store.groupsOf(scope.storeContext, id);
  }

  /**
   * The groups of each of `resources` in one store call (`groupsOfMany`), or undefined when the
   * store has no such call (each is then asked `groupsOf`).
   */
  private async groupsOfAll(scope: RequestScope, resources: readonly StoredResource[]): Promise<Map<string, GroupRef[]> | undefined> {
    if (this.store.groupsOfMany === undefined || resources.length === 0) return undefined;
    return this.store.groupsOfMany(scope.storeContext, resources.map((stored) => stored.id));
  }

  /** {@link readBody} once the groups are known (undefined: not wanted). */
  private bodyOf(scope: RequestScope, stored: StoredResource, project: Projector, groups: GroupRef[] | undefined): Obj {
    if (project === this.defaultProject && this.defaultView !== undefined) {
      return toDefaultWire(scope, this.rt, stored, this.defaultView, groups !== undefined && groups.length > 0 ? groupValues(scope, groups) : undefined);
    }
    const wire = toWire(scope, this.rt, stored);
    if (groups !== undefined && groups.length > 0) wire.groups = groupValues(scope, groups);
    return project(wire);
  }

  /** The group a PUT or PATCH writes, for {@link resolveMembers}: still there, or a 404. */
  private target(scope: RequestScope, id: string): { id: string; stillExists: () => Promise<unknown> } {
    return { id, stillExists: () => this.load(scope, id, false) };
  }

  private async load(scope: RequestScope, id: string, withMembers: boolean): Promise<StoredResource> {
    const stored = await this.store.get(scope.storeContext, this.rt.name, id, { members: withMembers && this.members !== undefined });
    if (!stored) throw new ScimError(404, undefined, `Resource ${id} not found`);
    return stored;
  }

  private respond(scope: RequestScope, status: number, wire: ScimResourceBody, project: Projector, extraHeaders: Record<string, string> = {}): ScimResponse {
    return json(status, project(wire), { ETag: String((wire.meta as Obj).version), ...extraHeaders });
  }

  /** GET /{endpoint}/{id} (RFC 7644 §3.4.1), with If-None-Match (304). */
  async get(scope: RequestScope, id: string): Promise<ScimResponse> {
    const { project, attributes, excluded } = this.projection(scope);
    // The store read without a helper around it (the hot path of GET by id).
    const stored = await this.store.get(scope.storeContext, this.rt.name, id, { members: this.members !== undefined && wanted(this.rt, "members", attributes, excluded) });
    if (!stored) throw new ScimError(404, undefined, `Resource ${id} not found`);
    // If-Match first, then If-None-Match (RFC 9110 §13.2.2).
    checkIfMatchHeader(scope, stored.version);
    const ifNoneMatch = header(scope.request.headers, "if-none-match");
    // RFC 9110 §15.4.5: a 304 carries the ETag and Content-Location its 200 would have.
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, stored.version)) {
      return empty(304, { ETag: etagOf(stored.version), ...contentLocation(`${scope.baseUrl}${this.rt.endpoint}/${stored.id}`) });
    }
    return this.respondRead(scope, stored, project, attributes, excluded);
  }

  /**
   * 200 with a resource as a read returns it, its ETag (RFC 7644 §3.14) and its location as
   * `Content-Location` (RFC 7643 §3.1: `meta.location` "MUST be the same").
   */
  private async respondRead(scope: RequestScope, stored: StoredResource, project: Projector, attributes?: string[], excluded?: string[]): Promise<ScimResponse> {
    const groups = this.hasGroups() && wanted(this.rt, "groups", attributes, excluded) ? await this.store.groupsOf(scope.storeContext, stored.id) : undefined;
    return json(200, this.bodyOf(scope, stored, project, groups), { ETag: etagOf(stored.version), ...contentLocation(`${scope.baseUrl}${this.rt.endpoint}/${stored.id}`) });
  }

  /** GET /{endpoint} and POST /{endpoint}/.search (RFC 7644 §3.4.2, §3.4.3). */
  async list(scope: RequestScope, search?: SearchRequest): Promise<ScimResponse> {
    const params = scope.params;
    const filterText = search ? search.filter : params.get("filter");
    // An empty `filter=` is a 400 invalidFilter, not "no filter": a lookup whose value went
    // missing must not answer with every resource.
    const filter = filterText !== undefined ? parseFilter(filterText, { lenient: this.settings.lenient }) : undefined;
    if (filter !== undefined) {
      this.assertFilterSize(filter);
      this.assertFilterable(filter);
    }
    const { project, attributes, excluded } = this.projection(scope, search);
    const cursor = search ? search.cursor : params.get("cursor");
    // Beyond 2^53 an index is not an exact number: such a page is past the end anyway.
    const startIndex = Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, search?.startIndex ?? integerParam(params, "startindex") ?? 1));
    const count = Math.min(this.settings.maxCount, Math.max(0, search?.count ?? integerParam(params, "count") ?? this.settings.defaultCount));
    const sortByText = search ? search.sortBy : params.get("sortby");
    const sortOrderText = (search ? search.sortOrder : params.get("sortorder"))?.toLowerCase();
    if (sortOrderText !== undefined && sortOrderText !== "ascending" && sortOrderText !== "descending") {
      throw badRequest("invalidValue", "sortOrder must be ascending or descending");
    }
    const sortPath = sortByText ? parseSortBy(sortByText) : undefined;
    // An attribute that is never returned sorts as one without values (creation order, as
    // `password`, which no store keeps): its order would tell its secret values apart.
    const sort = sortPath && !this.neverReturned(sortPath) ? { path: sortPath, order: (sortOrderText ?? "ascending") as "ascending" | "descending" } : undefined;
    const withMembers = this.members !== undefined && wanted(this.rt, "members", attributes, excluded);
    const wantGroups = this.hasGroups() && wanted(this.rt, "groups", attributes, excluded);
    scope.deadline ??= await listDeadline(scope, this.store);
    let page: Awaited<ReturnType<ResourceEndpoint["query"]>>;
    try {
      page = await this.query(scope, { filter, sort, startIndex, count, cursor, members: withMembers, maxBytes: this.settings.maxPageBytes, deadline: scope.deadline, ...(wantGroups ? { groups: true } : {}) });
    } catch (error) {
      if (isScimError(error) && error.scimType === "tooMany") this.settings.searches.lastTimedOut = Date.now();
      throw error;
    }
    const resources: Obj[] = [];
    const known = wantGroups ? await this.groupsOfAll(scope, page.resources) : undefined;
    for (const stored of page.resources) resources.push(await this.readBody(scope, stored, project, wantGroups, known));
    return json(
      200,
      listResponse({
        resources,
        totalResults: page.totalResults,
        startIndex: cursor === undefined ? startIndex : undefined,
        nextCursor: page.nextCursor,
      }),
    );
  }

  /**
   * 400 invalidFilter past `maxFilterTerms` comparisons, or past {@link MAX_MEMBER_FILTER_TERMS}
   * on a group's `members` (RFC 7644 §3.4.2.2 leaves the limits to the service provider): each of
   * those reads every membership of the tenant (Entra's membership check needs one).
   */
  private assertFilterSize(filter: Filter): void {
    const max = this.settings.config.maxFilterTerms ?? DEFAULT_MAX_FILTER_TERMS;
    let terms = 0;
    let memberTerms = 0;
    for (const f of leafFilters(filter)) {
      const n = f.type === "valuePath" ? leafFilters(f.filter).length : 1;
      terms += n;
      if (this.members !== undefined && f.path.attr.toLowerCase() === "members") memberTerms += n;
    }
    if (terms > max) throw badRequest("invalidFilter", `the filter has ${terms} comparisons; at most ${max} are accepted`);
    if (memberTerms > MAX_MEMBER_FILTER_TERMS) throw badRequest("invalidFilter", `the filter has ${memberTerms} comparisons on 'members'; at most ${MAX_MEMBER_FILTER_TERMS} are accepted`);
  }

  /** Whether a path names an attribute (or sub-attribute) that is never returned (RFC 7643 §7). */
  private neverReturned(path: AttrPath): boolean {
    const resolved = this.rt.resolve(path);
    return resolved !== undefined && (resolved.attribute.returned === "never" || resolved.sub?.returned === "never");
  }

  /**
   * Refuses a filter on an attribute that is never returned (`password`, RFC 7643 §4.1.1, §7):
   * answering it would tell which user has a given password. 400 invalidFilter.
   */
  private assertFilterable(filter: Filter): void {
    const refuse = (attr: AttributeInfo | undefined) => {
      if (attr?.returned === "never") throw badRequest("invalidFilter", `'${attr.name}' is never returned and cannot be filtered on`);
    };
    for (const f of leafFilters(filter)) {
      const resolved = this.rt.resolve(f.path);
      refuse(resolved?.attribute);
      refuse(resolved?.sub);
      // A value filter's inner filter names sub-attributes of the element.
      if (f.type === "valuePath" && resolved !== undefined) {
        for (const g of leafFilters(f.filter)) refuse(resolved.attribute.subMap?.get(g.path.attr.toLowerCase()));
      }
    }
  }

  /** @internal The query, split between the store and memory as the store's capabilities say. */
  async query(scope: RequestScope, query: StoreQuery): Promise<{ resources: StoredResource[]; totalResults: number; nextCursor?: string }> {
    const caps = this.store.capabilities;
    const { filter, sort } = query;
    const storeFilters = !filter || caps.filter === true || (typeof caps.filter === "function" && caps.filter(filter));
    const storePages = query.cursor !== undefined ? caps.cursor : caps.paging;
    // A sort by the derived `groups` (RFC 7643 §4.1.2) is made here: no store keeps them in the document.
    const sortsByGroups = sort !== undefined && this.hasGroups() && this.rt.resolve(sort.path)?.attribute === this.rt.core.byName.get("groups");
    if (storeFilters && (!sort || (caps.sort && !sortsByGroups)) && storePages) {
      const page = await this.store.query(scope.storeContext, this.rt.name, query);
      // A store that does not keep to the byte budget: its index pages are cut here (a store's
      // cursor cannot be moved; such a store's cursor pages stay as it made them).
      if (caps.pageBytes !== true && query.cursor === undefined) page.resources = page.resources.slice(0, pageWithinBudget(page.resources, query.maxBytes));
      return page;
    }
    // A filter evaluated here reads what the store keeps apart from the document: a group's
    // members, a user's derived groups (RFC 7643 §4.1.2).
    const inMemory = filter !== undefined && !storeFilters ? filter : undefined;
    const needsMembers = inMemory !== undefined && this.members !== undefined && referencesAttribute(inMemory, "members");
    const needsGroups = inMemory !== undefined && this.hasGroups() && referencesAttribute(inMemory, "groups");
    const predicate = inMemory !== undefined ? compileFilter(inMemory, { resourceType: this.rt }) : undefined;
    // An offset cursor names its query (filter and sort): it is refused under another one.
    const signature = `${filter !== undefined ? printFilter(filter) : ""}|${sort ? `${printAttrPath(sort.path)}:${sort.order}` : ""}`;
    const offset = query.cursor !== undefined ? cursorOffset(query.cursor, signature) : (query.startIndex ?? 1) - 1;
    const count = query.count ?? this.settings.defaultCount;
    const maxBytes = query.maxBytes;
    // The store is read chunk by chunk and only the page is kept (sorted: each match's id and sort
    // key until the page is known), so that memory stays bounded whatever the tenant holds.
    let total = 0;
    const keys: Array<{ item: string; key: unknown }> = [];
    let page: StoredResource[] = [];
    const budget = new PageBudget(maxBytes);
    const sizeOf = (stored: StoredResource) => (maxBytes !== undefined ? estimateResourceBytes(stored.attributes, stored.members?.length ?? 0) + displayBytes(stored.members) : 0);
    /** How many matches from `offset` on the page stands for (fewer than `count` once cut). */
    let consumed: number | undefined;
    for await (const chunk of this.scan(scope, storeFilters ? filter : undefined, query.members === true || needsMembers, query.deadline)) {
      // The chunk's users' groups in one question, when the store can answer it so.
      const groupsOf = needsGroups || sortsByGroups ? await this.groupsOfAll(scope, chunk) : undefined;
      for (const stored of chunk) {
        checkDeadline(query.deadline);
        // Filters and sorts read the wire form (`id`, `meta.*`); the page is of stored resources.
        const wire = toWire(scope, this.rt, stored);
        if (predicate !== undefined && !predicate(needsGroups ? await this.withGroups(scope, wire, true, groupsOf) : wire)) continue;
        const index = total++;
        if (sort) keys.push({ item: stored.id, key: boundedKey(sortValue(sortsByGroups ? await this.withGroupsInOrder(scope, wire, sort.path, groupsOf) : wire, this.rt, sort.path)) });
        else if (index >= offset && index < offset + count && consumed === undefined) {
          if (budget.admit(sizeOf(stored))) page.push(stored);
          else consumed = index - offset;
        }
      }
    }
    if (sort) {
      page = [];
      consumed = 0;
      for (const id of sortByKeys(keys, sort.order).slice(offset, offset + count)) {
        // Deleted since the scan: left out, its place counted.
        const stored = await this.store.get(scope.storeContext, this.rt.name, id, { members: query.members === true && this.members !== undefined });
        if (stored === undefined) {
          consumed++;
          continue;
        }
        if (!budget.admit(sizeOf(stored))) break;
        consumed++;
        page.push(stored);
      }
    }
    // A page cut to its byte budget goes on after its last resource.
    const next = offset + (consumed ?? count);
    // count=0 asks for totalResults only: no page, no next one.
    const nextCursor = query.cursor !== undefined && count > 0 && next < total ? offsetCursor(next, signature) : undefined;
    return { resources: page, totalResults: total, nextCursor };
  }

  /**
   * The store's resources of this type (only those `filter` selects, when given), read in chunks
   * (by cursor, else by index; at once from a store that pages neither), for the filters and
   * sorts the server evaluates itself. Between two chunks of a store whose queries hold the
   * server's thread (`capabilities.blocking`), the requests that arrived meanwhile are served
   * (a sort by `groups` reads every user of the tenant: 30,000 of them held every other
   * request of every tenant for over a second).
   */
  private async *scan(scope: RequestScope, filter: Filter | undefined, members: boolean, deadline: number | undefined): AsyncGenerator<StoredResource[]> {
    const caps = this.store.capabilities;
    const base: StoreQuery = { filter, members, maxBytes: this.settings.maxPageBytes, ...(deadline !== undefined ? { deadline } : {}) };
    const size = caps.blocking === true ? BLOCKING_SCAN_CHUNK : SCAN_CHUNK;
    if (caps.cursor) {
      for (let cursor: string | undefined = ""; cursor !== undefined; ) {
        const chunk = await this.store.query(scope.storeContext, this.rt.name, { ...base, cursor, count: size });
        yield chunk.resources;
        cursor = chunk.resources.length > 0 ? chunk.nextCursor : undefined;
        if (cursor !== undefined) await letOthersRun(this.store);
      }
      return;
    }
    if (caps.paging) {
      for (let startIndex = 1; ; ) {
        const chunk = await this.store.query(scope.storeContext, this.rt.name, { ...base, startIndex, count: size });
        yield chunk.resources;
        startIndex += chunk.resources.length;
        if (chunk.resources.length === 0 || startIndex > chunk.totalResults) return;
        await letOthersRun(this.store);
      }
    }
    yield (await this.store.query(scope.storeContext, this.rt.name, { filter, members, ...(deadline !== undefined ? { deadline } : {}) })).resources;
  }

  /** POST /{endpoint} (RFC 7644 §3.3): 201 with Location. */
  async create(scope: RequestScope): Promise<ScimResponse> {
    const body = readBody(scope.request, this.settings.maxBodyBytes);
    let resource = validateResource(body, this.validation);
    const hooks = this.settings.config.hooks;
    if (hooks?.beforeCreate) {
      const changed = await hooks.beforeCreate(operationContext(scope, this.rt, this.store), resource);
      if (changed) resource = validateResource(changed, this.validation);
    }
    const { members: rawMembers, ...given } = resource;
    const attributes = this.storable(given);
    const members = this.members && Array.isArray(rawMembers) ? await resolveMembers(scope, this.store, rawMembers as MemberValue[]) : undefined;
    const keys = uniqueKeys(this.settings, this.rt, attributes);
    // A store whose transactions run concurrently can lose a race (PostgreSQL: a deadlock with
    // another tenant's write): nothing was written, so the create is tried again.
    const wire = await this.retrying(scope, () =>
      unitOfWork(scope, this.store, async (store) => {
        const stored = await store.create(scope.storeContext, this.rt.name, { attributes, uniqueKeys: keys, members });
        const created = toWire(scope, this.rt, { ...stored, members: members ?? [] });
        const ctx = operationContext(scope, this.rt, store);
        await hooks?.afterCreate?.(ctx, created);
        await emitChange(scope, ctx, this.rt, "created", created);
        if (members) await emitMembers(scope, ctx, this.rt, created.id, addedAll(members));
        return created;
      }),
    );
    const { project } = this.projection(scope);
    return this.respond(scope, 201, wire, project, { Location: String((wire.meta as Obj).location) });
  }

  /**
   * If-Match (RFC 7644 §3.14): 412 unless it names the current version. If-None-Match on a write:
   * 412 when it names the current version or is `*` (RFC 9110 §13.1.2; only GET and HEAD answer
   * 304).
   */
  private checkIfMatch(scope: RequestScope, stored: StoredResource): boolean {
    const ifNoneMatch = header(scope.request.headers, "if-none-match");
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, stored.version)) throw new ScimError(412, undefined, "the resource matches If-None-Match");
    return checkIfMatchHeader(scope, stored.version);
  }

  /** Retries `attempt` when a concurrent change wins the race and the client sent no If-Match. */
  private async retrying<T>(scope: RequestScope, attempt: () => Promise<T>): Promise<T> {
    const conditional = header(scope.request.headers, "if-match") !== undefined || header(scope.request.headers, "if-none-match") !== undefined;
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (error) {
        if (conditional || i >= MAX_CONFLICT_RETRIES || !isScimError(error) || error.status !== 412) throw error;
        // Stores whose transactions run concurrently (SQL) can lose the race again: back off a
        // little, with jitter, so that contending writers spread out.
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** i));
      }
    }
  }

  /**
   * Starts the request over (a 412 that {@link retrying} retries) when the hooks' `revalidate`
   * says a before-hook's decision on `seen` may not hold for `latest`, the version written
   * meanwhile that the write would apply to.
   */
  private revalidate(scope: RequestScope, store: ScimStore, seen: ScimResourceBody, latest: ScimResourceBody): void {
    const hooks = this.settings.config.hooks;
    if (hooks?.revalidate?.(operationContext(scope, this.rt, store), seen, latest)) {
      throw new ScimError(412, undefined, "the resource changed while the request was prepared; retry");
    }
  }

  /** The resource as the unit of work sees it (404 if it was deleted meanwhile); `fallback` if unchanged. */
  private async reload(scope: RequestScope, store: ScimStore, id: string, withMembers: boolean, fallback: StoredResource): Promise<StoredResource> {
    const fresh = await store.get(scope.storeContext, this.rt.name, id, { members: withMembers && this.members !== undefined });
    if (!fresh) throw new ScimError(404, undefined, `Resource ${id} not found`);
    return fresh.version === fallback.version ? fallback : fresh;
  }

  /** The given members that are not (or, with `present`, that are) members of group `id`. */
  private async notMembers(scope: RequestScope, store: ScimStore, id: string, members: readonly MemberValue[], present = false): Promise<MemberValue[]> {
    const out: MemberValue[] = [];
    const seen = new Set<string>();
    const listed = store.membersAmong !== undefined ? await store.membersAmong(scope.storeContext, id, [...new Set(members.map((m) => m.value))]) : undefined;
    for (const m of members) {
      if (seen.has(m.value)) continue;
      seen.add(m.value);
      const isMember = listed !== undefined ? listed.has(m.value) : (await store.groupsOf(scope.storeContext, m.value)).some((g) => g.value === id);
      if (isMember === present) out.push(m);
    }
    return out;
  }

  /** PUT /{endpoint}/{id} (RFC 7644 §3.5.1). */
  async replace(scope: RequestScope, id: string): Promise<ScimResponse> {
    const body = readBody(scope.request, this.settings.maxBodyBytes);
    const hooks = this.settings.config.hooks;
    const wire = await this.retrying(scope, async () => {
      const current = await this.load(scope, id, true);
      const conditional = this.checkIfMatch(scope, current);
      const previous = toWire(scope, this.rt, current);
      let resource = validateResource(body, { ...this.validation, existing: current.attributes });
      if (hooks?.beforeReplace) {
        const changed = await hooks.beforeReplace(operationContext(scope, this.rt, this.store), resource, previous);
        if (changed) resource = validateResource(changed, { ...this.validation, existing: current.attributes });
      }
      const { members: rawMembers, ...given } = resource;
      const checked = this.storable(given);
      const members = this.members ? await resolveMembers(scope, this.store, (Array.isArray(rawMembers) ? rawMembers : []) as MemberValue[], this.target(scope, id)) : undefined;
      return unitOfWork(scope, this.store, async (store) => {
        // Without If-Match the latest version is replaced: read it inside the unit of work, so that
        // a store with serialized transactions never reports a conflict.
        const latest = conditional ? current : await this.reload(scope, store, id, true, current);
        const before = latest === current ? previous : toWire(scope, this.rt, latest);
        if (latest !== current && hooks?.beforeReplace) this.revalidate(scope, store, previous, before);
        // Immutable attributes are checked against the version being replaced.
        const attributes = latest === current ? checked : this.storable(withoutMembers(validateResource(resource, { ...this.validation, existing: latest.attributes })));
        // A PUT that changes nothing (Okta sends one after every GET) keeps the version and emits
        // nothing, as a PATCH that changes nothing does (RFC 7644 §3.14: versions follow changes).
        const attributesChanged = !deepEqual(attributes, latest.attributes);
        if (!attributesChanged && (members === undefined || sameMembers(members, latest.members ?? []))) return before;
        const stored = await store.replace(scope.storeContext, this.rt.name, id, { attributes, uniqueKeys: uniqueKeys(this.settings, this.rt, attributes), members }, { expectedVersion: latest.version });
        const replaced = toWire(scope, this.rt, { ...stored, members: members ?? [] });
        const ctx = operationContext(scope, this.rt, store);
        await hooks?.afterReplace?.(ctx, replaced, before);
        // A change of members only is told by the membership events, as for a PATCH: the old
        // members leave, then the new ones come.
        if (attributesChanged) await emitChange(scope, ctx, this.rt, "updated", replaced, before);
        if (members) {
          const had = new Set((latest.members ?? []).map((m) => m.value));
          const now = new Set(members.map((m) => m.value));
          await emitMembers(scope, ctx, this.rt, id, [...removedAll((latest.members ?? []).filter((m) => !now.has(m.value))), ...addedAll(members.filter((m) => !had.has(m.value)))]);
        }
        return replaced;
      });
    });
    const { attributes, excluded } = this.projection(scope);
    const withGroups = await this.withGroups(scope, wire, this.hasGroups() && wanted(this.rt, "groups", attributes, excluded));
    return this.respond(scope, 200, withGroups, this.projection(scope).project, contentLocation(String((withGroups.meta as Obj).location)));
  }

  /** PATCH /{endpoint}/{id} (RFC 7644 §3.5.2): atomic where the store has transactions. */
  async patch(scope: RequestScope, id: string): Promise<ScimResponse> {
    const body = readBody(scope.request, this.settings.maxBodyBytes);
    const requested = parsePatchRequest(body);
    const maxOperations = this.settings.config.maxPatchOperations ?? DEFAULT_MAX_PATCH_OPERATIONS;
    if (requested.length > maxOperations) throw new ScimError(413, undefined, `a PATCH request may carry at most ${maxOperations} operations (it has ${requested.length})`);
    const hooks = this.settings.config.hooks;
    // The resource as the PATCH left it (without members), or its version when it has members.
    const outcome = await this.retrying(scope, async (): Promise<StoredResource> => {
      const loaded = await this.load(scope, id, false);
      const conditional = this.checkIfMatch(scope, loaded);
      let operations: PatchOperation[] = requested;
      // The resource as the before-hook saw it: `revalidate` is given the same object.
      const seen = hooks?.beforePatch ? toWire(scope, this.rt, loaded) : undefined;
      if (hooks?.beforePatch) operations = (await hooks.beforePatch(operationContext(scope, this.rt, this.store), requested, seen!)) ?? requested;
      const first = applyPatch(loaded.attributes, operations, this.patchOptions);
      if (!first.changed) return loaded;
      const memberChanges = first.memberChanges.length === 0 ? [] : await this.resolveMemberChanges(scope, id, first.memberChanges);
      return unitOfWork(scope, this.store, async (store) => {
        // Without If-Match the operations apply to the latest version: read it inside the unit of
        // work, so that a store with serialized transactions never reports a conflict.
        const current = conditional ? loaded : await this.reload(scope, store, id, false, loaded);
        if (current !== loaded && seen !== undefined) this.revalidate(scope, store, seen, toWire(scope, this.rt, current));
        const result = current === loaded ? first : applyPatch(current.attributes, operations, this.patchOptions);
        if (!result.changed && memberChanges.length === 0) return current;
        // The wire forms only for those who see them: the afterPatch hook and event subscribers.
        const observed = hooks?.afterPatch !== undefined || subscribed(scope);
        const previous = observed ? toWire(scope, this.rt, current) : undefined;
        const patched = this.storable(result.resource as Obj);
        const attributesChanged = !deepEqual(patched, current.attributes);
        let latest = current;
        if (attributesChanged) {
          const attributes = patched;
          latest = await store.replace(scope.storeContext, this.rt.name, id, { attributes, uniqueKeys: uniqueKeys(this.settings, this.rt, attributes) }, { expectedVersion: current.version });
        }
        // The net change of each member over the whole request, operations in order (RFC 7644
        // §3.5.2): a member removed then added again was and is a member, so no event and no
        // write. Only the net change is written (IdPs resend memberships on every sync): a PATCH
        // whose membership operations change nothing keeps the version (RFC 7644 §3.14).
        const membership = new MembershipChanges();
        // Whether members the operations so far did not touch are members: through each member's
        // groups, without reading the group's member list.
        const known = async (members: readonly MemberValue[]): Promise<void> => {
          const unknown = members.filter((m) => membership.isNow(m.value) === undefined);
          if (unknown.length === 0) return;
          const present = new Set((await this.notMembers(scope, store, id, unknown, true)).map((m) => m.value));
          for (const m of unknown) membership.note(m, present.has(m.value), present.has(m.value));
        };
        for (const change of memberChanges) {
          if (change.op === "add") {
            await known(change.members);
            for (const m of change.members) membership.note(m, membership.isNow(m.value)!, true);
          } else if (change.op === "remove") {
            const members = change.values.map((value) => ({ value }));
            await known(members);
            for (const m of members) if (membership.isNow(m.value)) membership.note(m, true, false);
          } else if (change.op === "replace") {
            const stored = membership.listKnown ? [] : ((await store.get(scope.storeContext, this.rt.name, id, { members: true }))?.members ?? []);
            membership.replaceAll(stored, change.members);
          }
        }
        const net = membership.changes();
        const removed = net.filter((c) => !c.added).map((c) => c.member.value);
        const added = net.filter((c) => c.added).map((c) => c.member);
        if (removed.length > 0) latest = await store.removeMembers(scope.storeContext, id, removed, { expectedVersion: latest.version });
        if (added.length > 0) latest = await store.addMembers(scope.storeContext, id, added, { expectedVersion: latest.version });
        if (latest === current) return current;
        if (observed) {
          const ctx = operationContext(scope, this.rt, store);
          const patched = toWire(scope, this.rt, latest);
          await hooks?.afterPatch?.(ctx, patched, previous!);
          if (attributesChanged) await emitChange(scope, ctx, this.rt, "updated", patched, previous);
          await describeRemoved(scope, store, net);
          await emitMembers(scope, ctx, this.rt, id, net);
        }
        return latest;
      });
    });
    // RFC 7644 §3.5.2: "MUST return a 200 OK if the 'attributes' parameter is specified".
    const projected = scope.params.has("attributes") || scope.params.has("excludedattributes");
    const status = projected ? 200 : (this.settings.config.patchStatus?.[this.rt.name] ?? (this.members ? 204 : 200));
    if (status === 204) return empty(204, { ETag: etagOf(outcome.version) });
    // 200: the resource as a GET would return it now (without If-None-Match); a type with
    // members reads it again, with them (the member operations do not return them).
    const { project, attributes, excluded } = this.projection(scope);
    const current = this.members === undefined ? outcome : await this.load(scope, id, wanted(this.rt, "members", attributes, excluded));
    return this.respondRead(scope, current, project, attributes, excluded);
  }

  /** Member additions are checked and completed; `removeWhere` becomes a removal by ids. */
  private async resolveMemberChanges(scope: RequestScope, id: string, changes: readonly MemberChange[]): Promise<Array<Exclude<MemberChange, { op: "removeWhere" }>>> {
    const out: Array<Exclude<MemberChange, { op: "removeWhere" }>> = [];
    // A filter that does not name ids needs the member list: read once for the request, then kept
    // in step with the operations, so that each such filter sees the list as the operations before
    // it left it. (Read per operation, 1,000 of them on a 20,000-member group read 20 million rows.)
    const list = changes.some((c) => c.op === "removeWhere") ? new Map(((await this.load(scope, id, true)).members ?? []).map((m) => [m.value, m])) : undefined;
    for (const change of changes) {
      if (change.op === "add" || change.op === "replace") {
        const members = await resolveMembers(scope, this.store, change.members, this.target(scope, id));
        out.push({ op: change.op, members });
        if (list !== undefined) {
          if (change.op === "replace") list.clear();
          for (const m of members) if (!list.has(m.value)) list.set(m.value, m);
        }
      } else if (change.op === "remove") {
        out.push(change);
        if (list !== undefined) for (const value of change.values) list.delete(value);
      } else {
        if (list === undefined) throw new Error("unreachable: the member list is read when a filter needs it");
        const predicate = compileElementFilter(change.filter, this.members);
        const values = [...list.values()].filter((m) => predicate(m as unknown as Obj)).map((m) => m.value);
        for (const value of values) list.delete(value);
        out.push({ op: "remove", values });
      }
    }
    return out;
  }

  /** DELETE /{endpoint}/{id} (RFC 7644 §3.6): 204, then 404. */
  async delete(scope: RequestScope, id: string): Promise<ScimResponse> {
    const hooks = this.settings.config.hooks;
    const groupType = this.settings.registry.findResourceType("Group");
    const subscribed = (this.settings.config.subscribers?.length ?? 0) > 0;
    // Without If-Match, a delete that loses a race to a concurrent change is tried again.
    await this.retrying(scope, async () => {
      const current = await this.load(scope, id, false);
      const conditional = this.checkIfMatch(scope, current);
      const previous = toWire(scope, this.rt, current);
      await hooks?.beforeDelete?.(operationContext(scope, this.rt, this.store), previous);
      await unitOfWork(scope, this.store, async (store) => {
        // The store also removes the resource from every group that lists it: that is a membership change too.
        const memberOf = subscribed && groupType ? await store.groupsOf(scope.storeContext, id) : [];
        await store.delete(scope.storeContext, this.rt.name, id, conditional ? { expectedVersion: current.version } : undefined);
        const ctx = operationContext(scope, this.rt, store);
        await hooks?.afterDelete?.(ctx, previous);
        // Its memberships end first, then the resource goes: causes before what follows from them.
        if (memberOf.length > 0 && groupType) {
          const display = previous.displayName ?? previous.userName;
          const member: MemberValue = { value: id, type: this.rt.name, ...(typeof display === "string" ? { display } : {}) };
          const groupCtx = operationContext(scope, groupType, store);
          for (const group of memberOf) await emitMembers(scope, groupCtx, groupType, group.value, removedAll([member]));
        }
        await emitChange(scope, ctx, this.rt, "deleted", previous);
      });
    });
    return empty(204);
  }
}

function integerParam(params: Map<string, string>, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === undefined || raw.trim() === "") return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw badRequest("invalidValue", `'${name}' must be an integer`);
  return Number(raw);
}

function parseSortBy(text: string): AttrPath {
  return splitAttrPath(text.trim(), (message) => {
    throw badRequest("invalidValue", `sortBy: ${message}`);
  });
}

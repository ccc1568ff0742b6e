/**
 * The in-memory reference store (scim-core README, "Writing a store over your own users table"): every {@link ScimStore}
 * operation, tenant-scoped, with indexes so that the lookups identity providers make all the time
 * (`userName eq`, `externalId eq`, `displayName eq`, `id eq`) never scan, membership kept as
 * deltas (a PATCH to a group of 100,000 members touches only the changed members), filters
 * (RFC 7644 §3.4.2.2), sorting (§3.4.2.3), index paging (§3.4.2.4), cursor paging (RFC 9865),
 * uniqueness (RFC 7643 §2.2, RFC 7644 §3.3), versions (RFC 7644 §3.14) and transactions.
 *
 * It is the store of tests, demos and small single-process deployments: state lives in the
 * process and is lost when it exits.
 */
import { ScimConfigError, ScimError, badRequest } from "../errors/scim-error.js";
import { logicalOperands, referencesAttribute, referencesMemberRef, type AttrPath, type Filter } from "../filter/ast.js";
import { compileFilter, type FilterPredicate } from "../filter/compile.js";
import { printAttrPath } from "../filter/print.js";
import { estimateResourceBytes, MEMBER_JSON_BYTES, PageBudget, takeWithinBudget, utf8Length } from "./page-bytes.js";
import { checkDeadline } from "./query-deadline.js";
import type { MemberValue } from "../patch/apply-patch.js";
import { parseDateTime } from "../schema/datetime.js";
import { defaultRegistry, type AttributeInfo, type CompiledResourceType, type SchemaRegistry } from "../schema/registry.js";
import type {
  GroupRef,
  MemberCandidate,
  ScimStore,
  StoreContext,
  StoreQuery,
  StoreQueryResult,
  StoreWrite,
  StoredResource,
  UniqueKey,
  WriteCondition,
} from "./types.js";

type Obj = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** A resource the store starts with, keeping its id (fixtures, migration from another store). */
export interface MemorySeed {
  tenant: string;
  /** Resource type name, e.g. "User". */
  resourceType: string;
  id: string;
  /** Canonical attributes, without `id`, `meta` and `members` (see {@link StoredResource.attributes}). */
  attributes: Record<string, unknown>;
  /** Group members. */
  members?: readonly MemberValue[];
  /** Unique keys (RFC 7643 §2.2), as {@link StoreWrite.uniqueKeys}. @default derived from the registry: every singular string attribute with `uniqueness` other than "none" (for User: `userName`, case-folded) */
  uniqueKeys?: readonly UniqueKey[];
  /** ISO 8601 instant. @default now() */
  created?: string;
  /** ISO 8601 instant. @default created */
  lastModified?: string;
  /** @default 1 */
  version?: number;
}

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** Registry for filter and sort semantics (RFC 7643 §2.2 caseExact, types, extensions). @default defaultRegistry() */
  registry?: SchemaRegistry;
  /** Seed resources that keep their ids (fixtures, migration). Mistakes (duplicate ids or keys) throw ScimConfigError. */
  resources?: readonly MemorySeed[];
  /** Id generator for created resources. @default crypto.randomUUID */
  generateId?: () => string;
  /** Clock for `created` and `lastModified`. @default () => new Date() */
  now?: () => Date;
}

/** The in-memory store: a {@link ScimStore} with transactions and a raw view for tests. */
export interface MemoryStore extends ScimStore {
  /**
   * Runs `work` as one unit (see {@link ScimStore.transaction}). Transactions are serialized;
   * writes made outside a transaction wait while one runs. Reads outside do not wait and may see
   * its uncommitted writes. Inside `work`, use the store passed to it (nested `transaction`
   * calls on it are savepoints); writing through the outer store from inside `work` waits for
   * the transaction itself to end, that is forever.
   */
  transaction<T>(work: (store: ScimStore) => Promise<T>): Promise<T>;
  /** The stored resource as it is (always with `members`; its attributes deep-frozen, shared), bypassing the read path; for tests. */
  inspect(tenant: string, type: string, id: string): StoredResource | undefined;
}

/** Counters of the work queries did, for tests that check that an index answered (see {@link memoryStoreStats}). */
export interface MemoryStoreStats {
  /** Stored resources a query looked at (a scan adds every resource of the type; an index lookup only its candidates). */
  examined: number;
  /** Calls of compileFilter. */
  compiled: number;
}

const statsByStore = new WeakMap<object, MemoryStoreStats>();

/**
 * @internal The live query counters of a store made by {@link memoryStore} (reset them by
 * assigning 0). Not part of the public API: tests use it to prove that indexed lookups do not scan.
 */
export function memoryStoreStats(store: ScimStore): MemoryStoreStats {
  const stats = statsByStore.get(store);
  if (stats === undefined) throw new ScimConfigError("not a memoryStore");
  return stats;
}

/** The resource type whose resources the membership operations (`addMembers`...) address. */
const GROUP_TYPE = "Group";

/** Attributes kept in per-type equality indexes, by their canonical name; keys are lower-cased. */
const INDEXED = ["userName", "externalId", "displayName"] as const;
type IndexedName = (typeof INDEXED)[number];

/**
 * An equality index: lower-cased value → the ids of the resources holding it, one id as a plain
 * string (the common case: a userName, an externalId), several as a Set. A Set per value cost
 * 100,000 Sets for 100,000 users, and their allocation on every create.
 */
type ValueIndex = Map<string, string | Set<string>>;

function indexAdd(index: ValueIndex, key: string, id: string): void {
  const held = index.get(key);
  if (held === undefined) index.set(key, id);
  else if (typeof held !== "string") held.add(id);
  else if (held !== id) index.set(key, new Set([held, id]));
}

function indexRemove(index: ValueIndex, key: string, id: string): void {
  const held = index.get(key);
  if (held === undefined) return;
  if (typeof held === "string") {
    if (held === id) index.delete(key);
    return;
  }
  held.delete(id);
  if (held.size === 1) index.set(key, held.values().next().value!);
  else if (held.size === 0) index.delete(key);
}

/** The ids an index holds under `key` (a new array). */
function indexIds(index: ValueIndex, key: string): string[] {
  const held = index.get(key);
  return held === undefined ? [] : typeof held === "string" ? [held] : [...held];
}

interface MemberEntry {
  value: MemberValue;
  /** Insertion order, to restore the order of a member list after a rollback. */
  seq: number;
}

/** A stored resource. Replaced by a new object on every change (never mutated), except `members`, which changes in place; `attributes` and member values are deep-frozen and handed out to reads as they are. */
interface Rec {
  readonly id: string;
  readonly type: string;
  readonly version: number;
  readonly created: string;
  readonly lastModified: string;
  readonly attributes: Obj;
  /** Unique-key map keys (`attribute\0value`). */
  readonly keys: readonly string[];
  /** Creation order: the default order and the tie-break of every sort. */
  readonly seq: number;
  readonly members: Map<string, MemberEntry> | undefined;
  /** The canonical form filters and sorts read, built lazily. */
  view?: Obj;
  /** The attributes' JSON size (for page byte budgets), measured lazily. */
  bytes?: number;
}

/**
 * A record with every field, the lazy ones (`view`, `bytes`) too, in one order: records of one
 * shape keep V8's property accesses on them monomorphic (a field added later gave some records
 * another shape).
 */
function newRec(id: string, type: string, version: number, created: string, lastModified: string, attributes: Obj, keys: readonly string[], seq: number, members: Map<string, MemberEntry> | undefined): Rec {
  return { id, type, version, created, lastModified, attributes, keys, seq, members, view: undefined, bytes: undefined };
}

interface TypeTable {
  readonly byId: Map<string, Rec>;
  readonly index: Record<IndexedName, ValueIndex>;
  /** Unique key → id of the live resource that holds it. */
  readonly unique: Map<string, string>;
  /**
   * The ids of `byId` in its (creation) order, for index paging without walking the map; built on
   * demand, extended by creations, dropped when a resource leaves or the order is restored.
   */
  order: string[] | undefined;
}

interface TenantData {
  readonly types: Map<string, TypeTable>;
  /** Reverse membership index: member id → (id of a resource listing it → that resource's type). */
  readonly memberOf: Map<string, Map<string, string>>;
}

/** What to undo when a transaction fails: inverse operations, applied last to first. */
interface UndoLog {
  readonly ops: Array<(after: RollbackOrder) => void>;
  closed: boolean;
}

/** Maps whose insertion order a rollback disturbed, re-sorted once at the end. */
interface RollbackOrder {
  members: Set<Map<string, MemberEntry>>;
  tables: Set<TypeTable>;
}

type Key = string | number | boolean | null;

interface Entry {
  rec: Rec;
  key: Key;
}

/** A position in a result list: after the resource with this sort key, creation order and id. */
interface Position {
  key: Key;
  seq: number;
  id: string;
}

function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isPlainContainer(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A deep-frozen copy of JSON-like data (plain objects, arrays, primitives; a Date becomes a
 * frozen copy, any other object a plain object of its own keys), sharing every part that is
 * already a deep-frozen plain object or array: such a part can never change, so the store may
 * keep it, and hand it out on every read, without copying. A PATCH result, which shares the
 * untouched parts of the stored resource it came from, is so stored without copying them again.
 */
function immutable<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) return Object.freeze(new Date(value.getTime())) as T;
  const reusable = Object.isFrozen(value) && isPlainContainer(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = immutable(value[i]);
      if (out === undefined && (!reusable || v !== value[i])) out = value.slice(0, i);
      if (out !== undefined) out.push(v);
    }
    if (out === undefined) return reusable ? value : (Object.freeze([]) as T);
    return Object.freeze(out) as T;
  }
  const keys = Object.keys(value);
  let out: Obj | undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const original = (value as Obj)[k];
    const v = immutable(original);
    if (out === undefined && (!reusable || v !== original)) {
      out = {};
      for (let j = 0; j < i; j++) put(out, keys[j]!, (value as Obj)[keys[j]!]);
    }
    if (out !== undefined) put(out, k, v);
  }
  if (out === undefined) return reusable ? value : (Object.freeze({}) as T);
  return Object.freeze(out) as T;
}

function put(out: Obj, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  else out[k] = v;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameMember(a: MemberValue, b: MemberValue): boolean {
  const ka = Object.keys(a).filter((k) => (a as unknown as Obj)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as unknown as Obj)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if ((a as unknown as Obj)[k] !== (b as unknown as Obj)[k]) return false;
  return true;
}

function assertMemberValue(m: MemberValue): void {
  if (!isObj(m) || typeof m.value !== "string" || m.value === "") {
    throw badRequest("invalidValue", "a member needs a non-empty 'value'");
  }
}

function uniqueMapKey(k: UniqueKey): string {
  return `${String(k.attribute).toLowerCase()}\u0000${String(k.value)}`;
}

function notFound(id: string): ScimError {
  return new ScimError(404, undefined, `Resource ${id} not found`);
}

function checkVersion(rec: Rec, condition: WriteCondition | undefined): void {
  const expected = condition?.expectedVersion;
  if (expected !== undefined && expected !== rec.version) {
    throw new ScimError(412, undefined, `Resource ${rec.id} has version ${rec.version}, not ${expected}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Filters: index planning


function conjunction(parts: Filter[]): Filter | undefined {
  if (parts.length === 0) return undefined;
  let out = parts[0]!;
  for (let i = 1; i < parts.length; i++) out = { type: "logical", op: "and", left: out, right: parts[i]! };
  return out;
}

/** Candidate ids from the indexes, and what still has to be checked on each candidate. */
interface Plan {
  ids: string[];
  residual: Filter | undefined;
}

// ---------------------------------------------------------------------------------------------
// Sorting

function pickOne(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  // RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, or else its first.
  for (const el of value) if (isObj(el) && el.primary === true) return el;
  return value[0];
}

function getCaseInsensitive(obj: Obj, name: string): unknown {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function dynamicKey(v: unknown): Key {
  if (typeof v === "string") return v === "" ? null : v.toLowerCase();
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "boolean") return v;
  return null;
}

function normalizer(leaf: AttributeInfo): (v: unknown) => Key {
  switch (leaf.type) {
    case "dateTime":
      return (v) => {
        if (typeof v !== "string") return null;
        const t = parseDateTime(v);
        return Number.isNaN(t) ? null : t;
      };
    case "integer":
    case "decimal":
      return (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    case "boolean":
      return (v) => (typeof v === "boolean" ? v : null);
    case "complex":
      return () => null;
    default:
      if (leaf.exact) return (v) => (typeof v === "string" && v !== "" ? v : null);
      return (v) => (typeof v === "string" && v !== "" ? v.toLowerCase() : null);
  }
}

/** The sort key of a resource (its canonical view) for `path` (RFC 7644 §3.4.2.3). */
function sortKeyReader(path: AttrPath, rt: CompiledResourceType | undefined): (view: Obj) => Key {
  const resolved = rt?.resolve(path);
  if (resolved === undefined) {
    // An attribute no schema defines: read it as written, strings case-insensitively.
    return (view) => {
      const base = path.uri !== undefined ? getCaseInsensitive(view, path.uri) : view;
      if (!isObj(base)) return null;
      let x = pickOne(getCaseInsensitive(base, path.attr));
      if (path.sub !== undefined) x = isObj(x) ? getCaseInsensitive(x, path.sub) : undefined;
      else if (isObj(x)) x = x.value;
      return dynamicKey(x);
    };
  }
  const { schema, attribute } = resolved;
  let sub = resolved.sub;
  if (sub === undefined && attribute.type === "complex") sub = attribute.subMap?.get("value");
  if (attribute.type === "complex" && sub === undefined) return () => null;
  const leaf = sub ?? attribute;
  const norm = normalizer(leaf);
  const ext = schema.extension ? schema.id : undefined;
  const name = attribute.name;
  const subName = sub?.name;
  const multi = attribute.multiValued;
  return (view) => {
    const base = ext !== undefined ? view[ext] : view;
    if (!isObj(base)) return null;
    let x = base[name];
    if (multi) x = pickOne(x);
    if (subName !== undefined) x = isObj(x) ? x[subName] : undefined;
    return norm(x);
  };
}

function typeRank(k: string | number | boolean): number {
  return typeof k === "number" ? 0 : typeof k === "string" ? 1 : 2;
}

/** Ascending key order; a missing value (null) sorts last. */
function compareKeys(a: Key, b: Key): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparator(descending: boolean): (a: Position, b: Position) => number {
  return (a, b) => {
    const c = compareKeys(a.key, b.key);
    if (c !== 0) return descending ? -c : c;
    if (a.seq !== b.seq) return a.seq - b.seq;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
}

// ---------------------------------------------------------------------------------------------
// Cursors (RFC 9865): base64url of JSON { v: 1, o: sort signature, k: key, s: seq, i: id }

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]!);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function encodeCursor(signature: string, at: Position): string {
  return toBase64Url(JSON.stringify({ v: 1, o: signature, k: at.key, s: at.seq, i: at.id }));
}

function invalidCursor(): ScimError {
  return new ScimError(400, "invalidCursor", "The cursor is not valid for this query");
}

function decodeCursor(cursor: string, signature: string): Position | undefined {
  if (cursor === "") return undefined;
  const text = fromBase64Url(cursor);
  if (text === undefined) throw invalidCursor();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw invalidCursor();
  }
  if (!isObj(data) || data.v !== 1 || data.o !== signature) throw invalidCursor();
  const { k, s, i } = data;
  const keyOk = k === null || typeof k === "string" || typeof k === "boolean" || (typeof k === "number" && Number.isFinite(k));
  if (!keyOk || typeof s !== "number" || !Number.isSafeInteger(s) || typeof i !== "string") throw invalidCursor();
  return { key: k as Key, seq: s, id: i };
}

// ---------------------------------------------------------------------------------------------

/**
 * Creates an in-memory {@link ScimStore} (scim-core README, "Writing a store over your own users table") with
 * capabilities `{ filter, sort, paging, cursor }` (every filter but those naming `members.$ref`
 * or `groups.$ref`, which the server evaluates on the wire form):
 * - per tenant and resource type, resources by id plus indexes of lower-cased `userName`,
 *   `externalId` and `displayName`, so `eq` on these and on `id` (also inside `and`/`or`) is
 *   answered without scanning; other filters are compiled once per query (RFC 7644 §3.4.2.2);
 * - sorting by any attribute path (RFC 7644 §3.4.2.3), stable by creation order then id;
 *   `startIndex`/`count` paging (§3.4.2.4) and opaque keyset cursors (RFC 9865);
 * - unique keys (RFC 7643 §2.2) checked and written in one synchronous step (409 `uniqueness`),
 *   versions for If-Match (RFC 7644 §3.14, 412), 404 for unknown ids;
 * - group members as ordered maps changed by deltas, with a reverse index for `groupsOf`;
 *   deleting a resource removes it from every group that lists it (bumping their versions);
 * - `transaction` with an undo log: a failing unit of work leaves nothing behind.
 *
 * @example
 * const store = memoryStore({ resources: [{ tenant: "acme", resourceType: "User", id: "u1", attributes: { userName: "bjensen" } }] });
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const registry = options.registry ?? defaultRegistry();
  const generateId = options.generateId ?? (() => crypto.randomUUID());
  const now = options.now ?? (() => new Date());
  const tenants = new Map<string, TenantData>();
  const stats: MemoryStoreStats = { examined: 0, compiled: 0 };
  let seq = 0;

  const findType = (type: string): CompiledResourceType | undefined => registry.findResourceType(type);

  function tenantData(tenant: string, create: true): TenantData;
  function tenantData(tenant: string, create: boolean): TenantData | undefined;
  function tenantData(tenant: string, create: boolean): TenantData | undefined {
    let data = tenants.get(tenant);
    if (data === undefined && create) {
      data = { types: new Map(), memberOf: new Map() };
      tenants.set(tenant, data);
    }
    return data;
  }

  function table(data: TenantData, type: string, create: true): TypeTable;
  function table(data: TenantData | undefined, type: string, create: boolean): TypeTable | undefined;
  function table(data: TenantData | undefined, type: string, create: boolean): TypeTable | undefined {
    if (data === undefined) return undefined;
    let t = data.types.get(type);
    if (t === undefined && create) {
      t = { byId: new Map(), index: { userName: new Map(), externalId: new Map(), displayName: new Map() }, unique: new Map(), order: undefined };
      data.types.set(type, t);
    }
    return t;
  }

  // --- primitive mutations; each records its inverse in the undo log of a transaction -------

  /**
   * Adds (or removes) the index entries and unique keys of `rec`; `other` (the version it replaces,
   * or replaces it) skips the entries both have, so a change that leaves them alone touches none.
   */
  function indexRec(t: TypeTable, rec: Rec, add: boolean, other?: Rec): void {
    for (const name of INDEXED) {
      const v = rec.attributes[name];
      if (typeof v !== "string") continue;
      if (other !== undefined && other.attributes[name] === v) continue;
      if (add) indexAdd(t.index[name], v.toLowerCase(), rec.id);
      else indexRemove(t.index[name], v.toLowerCase(), rec.id);
    }
    if (other !== undefined && sameKeys(rec.keys, other.keys)) return;
    for (const k of rec.keys) {
      if (add) t.unique.set(k, rec.id);
      else if (t.unique.get(k) === rec.id) t.unique.delete(k);
    }
  }

  /** Replaces `prev` by `next` (either may be absent) with its index entries and unique keys. */
  function putRec(log: UndoLog | undefined, t: TypeTable, prev: Rec | undefined, next: Rec | undefined): void {
    if (prev !== undefined) indexRec(t, prev, false, next);
    if (next !== undefined) {
      // A new id goes to the end of the map (creation order); a replaced one keeps its place.
      if (prev === undefined) {
        if (t.byId.has(next.id)) t.order = undefined;
        else t.order?.push(next.id);
      }
      t.byId.set(next.id, next);
      indexRec(t, next, true, prev);
    } else if (prev !== undefined) {
      t.byId.delete(prev.id);
      t.order = undefined;
    }
    if (log !== undefined) {
      log.ops.push((order) => {
        putRec(undefined, t, next, prev);
        // A restored resource went to the end of the map: creation order needs restoring.
        if (next === undefined) order.tables.add(t);
      });
    }
  }

  function link(log: UndoLog | undefined, data: TenantData, memberId: string, groupId: string, groupType: string): void {
    let groups = data.memberOf.get(memberId);
    if (groups === undefined) data.memberOf.set(memberId, (groups = new Map()));
    groups.set(groupId, groupType);
    if (log !== undefined) log.ops.push(() => unlink(undefined, data, memberId, groupId));
  }

  function unlink(log: UndoLog | undefined, data: TenantData, memberId: string, groupId: string): void {
    const groups = data.memberOf.get(memberId);
    const groupType = groups?.get(groupId);
    if (groups === undefined || groupType === undefined) return;
    groups.delete(groupId);
    if (groups.size === 0) data.memberOf.delete(memberId);
    if (log !== undefined) log.ops.push(() => link(undefined, data, memberId, groupId, groupType));
  }

  function memberSet(log: UndoLog | undefined, map: Map<string, MemberEntry>, entry: MemberEntry): void {
    map.set(entry.value.value, entry);
    if (log !== undefined) log.ops.push(() => void map.delete(entry.value.value));
  }

  function memberDelete(log: UndoLog | undefined, map: Map<string, MemberEntry>, id: string): void {
    const entry = map.get(id);
    if (entry === undefined) return;
    map.delete(id);
    if (log !== undefined) {
      log.ops.push((order) => {
        map.set(id, entry);
        order.members.add(map);
      });
    }
  }

  function rollback(log: UndoLog, mark: number): void {
    const order: RollbackOrder = { members: new Set(), tables: new Set() };
    while (log.ops.length > mark) log.ops.pop()!(order);
    for (const map of order.members) {
      const entries = [...map.values()].sort((a, b) => a.seq - b.seq);
      map.clear();
      for (const e of entries) map.set(e.value.value, e);
    }
    for (const t of order.tables) {
      const recs = [...t.byId.values()].sort((a, b) => a.seq - b.seq);
      t.order = undefined;
      t.byId.clear();
      for (const r of recs) t.byId.set(r.id, r);
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  function uniqueKeyStrings(keys: readonly UniqueKey[] | undefined): string[] {
    if (keys === undefined) return [];
    return [...new Set(keys.map(uniqueMapKey))];
  }

  function checkUnique(t: TypeTable, keys: readonly string[], id: string, source: readonly UniqueKey[] | undefined): void {
    for (let i = 0; i < keys.length; i++) {
      const owner = t.unique.get(keys[i]!);
      if (owner !== undefined && owner !== id) {
        const k = source?.find((s) => uniqueMapKey(s) === keys[i]);
        throw new ScimError(409, "uniqueness", `A resource with ${k ? `${k.attribute} '${k.value}'` : "this value"} already exists`);
      }
    }
  }

  function buildMembers(members: readonly MemberValue[]): Map<string, MemberEntry> {
    const map = new Map<string, MemberEntry>();
    for (const m of members) {
      assertMemberValue(m);
      if (!map.has(m.value)) map.set(m.value, { value: immutable(m), seq: ++seq });
    }
    return map;
  }

  function bump(prev: Rec, ts: string, changes: Partial<Pick<Rec, "attributes" | "keys" | "members">> = {}): Rec {
    return newRec(prev.id, prev.type, prev.version + 1, prev.created, ts, changes.attributes ?? prev.attributes, changes.keys ?? prev.keys, prev.seq, "members" in changes ? changes.members : prev.members);
  }

  function toStored(rec: Rec, members: boolean): StoredResource {
    const out: StoredResource = {
      id: rec.id,
      resourceType: rec.type,
      version: rec.version,
      created: rec.created,
      lastModified: rec.lastModified,
      // Deep-frozen: shared by every read, never copied (see StoredResource.attributes).
      attributes: rec.attributes,
    };
    if (members) out.members = rec.members === undefined ? [] : Array.from(rec.members.values(), (e) => e.value);
    return out;
  }

  /**
   * A resource's size in a response (`StoreQuery.maxBytes`): its attributes (measured once per
   * version), its members when loaded, its derived groups when the server adds them.
   */
  function bytesOf(rec: Rec, members: boolean, groupsOf: TenantData | undefined): number {
    let size = (rec.bytes ??= estimateResourceBytes(rec.attributes));
    // Each reference with its display name, which may be long (a group's name of 2,000 bytes).
    if (members && rec.members !== undefined) for (const { value } of rec.members.values()) size += MEMBER_JSON_BYTES + utf8Bytes(value.display);
    if (groupsOf !== undefined) {
      for (const [id, type] of groupsOf.memberOf.get(rec.id) ?? []) size += MEMBER_JSON_BYTES + utf8Bytes(groupsOf.types.get(type)?.byId.get(id)?.attributes.displayName);
    }
    return size;
  }

  /** The UTF-8 size of a display name (0 for none), as the SQL store measures it. */
  function utf8Bytes(text: unknown): number {
    return typeof text === "string" ? utf8Length(text) : 0;
  }

  /** How many of a page's records its byte budget takes (all without one). */
  function withinBudget(recs: readonly Rec[], members: boolean, groupsOf: TenantData | undefined, maxBytes: number | undefined): number {
    // The first resource always goes in (a page holds at least one): a lookup's single match is not weighed.
    if (maxBytes === undefined || recs.length <= 1) return recs.length;
    return takeWithinBudget((function* () { for (const rec of recs) yield bytesOf(rec, members, groupsOf); })(), maxBytes);
  }

  function viewOf(rec: Rec): Obj {
    let view = rec.view;
    if (view === undefined) {
      view = {
        ...rec.attributes,
        id: rec.id,
        meta: { resourceType: rec.type, created: rec.created, lastModified: rec.lastModified, version: `W/"${rec.version}"` },
      };
      rec.view = view;
    }
    return view;
  }

  function groupRefs(data: TenantData | undefined, memberId: string): GroupRef[] {
    const groups = data?.memberOf.get(memberId);
    if (groups === undefined) return [];
    const out: GroupRef[] = [];
    for (const [groupId, groupType] of groups) {
      const rec = data!.types.get(groupType)?.byId.get(groupId);
      if (rec === undefined) continue;
      const display = rec.attributes.displayName;
      out.push(typeof display === "string" ? { value: groupId, display, type: "direct" } : { value: groupId, type: "direct" });
    }
    return out;
  }

  /** Changes the member list of `prev` from its current one to `next` (new map), updating the reverse index. */
  function relink(log: UndoLog | undefined, data: TenantData, prev: Rec | undefined, rec: Rec, next: Map<string, MemberEntry>): void {
    const old = prev?.members;
    if (old !== undefined) for (const id of old.keys()) if (!next.has(id)) unlink(log, data, id, rec.id);
    for (const id of next.keys()) if (old === undefined || !old.has(id)) link(log, data, id, rec.id, rec.type);
  }

  /**
   * Refuses members that are not live Users or Groups of the tenant (400 invalidValue), in the
   * write itself: the server checks members before it writes (`resolveMembers`), and a member
   * deleted in between must not be left in the group (a concurrency review found deleted users
   * and groups kept as members, and their `group.user_added` events after their deletion).
   */
  function assertLiveMembers(data: TenantData, ids: Iterable<string>, already?: Map<string, MemberEntry>): void {
    for (const id of ids) {
      if (already?.has(id) || table(data, "User", false)?.byId.has(id) || table(data, GROUP_TYPE, false)?.byId.has(id)) continue;
      throw badRequest("invalidValue", `member '${id}' does not exist`);
    }
  }

  // --- writes (synchronous: check and write happen in one step) --------------------------------

  function doCreate(log: UndoLog | undefined, ctx: StoreContext, type: string, write: StoreWrite & { id?: string }): StoredResource {
    if (write.id !== undefined && (typeof write.id !== "string" || write.id === "")) {
      throw badRequest("invalidValue", "a given id must be a non-empty string");
    }
    const data = tenantData(ctx.tenant, true);
    const t = table(data, type, true);
    const id = write.id ?? generateId();
    if (t.byId.has(id)) throw new ScimError(409, "uniqueness", `Resource ${id} already exists`);
    const keys = uniqueKeyStrings(write.uniqueKeys);
    checkUnique(t, keys, id, write.uniqueKeys);
    const members = write.members !== undefined ? buildMembers(write.members) : undefined;
    if (members !== undefined) assertLiveMembers(data, members.keys());
    const ts = now().toISOString();
    const rec = newRec(id, type, 1, ts, ts, immutable(write.attributes ?? {}), keys, ++seq, members);
    putRec(log, t, undefined, rec);
    if (members !== undefined) relink(log, data, undefined, rec, members);
    return toStored(rec, false);
  }

  function doReplace(log: UndoLog | undefined, ctx: StoreContext, type: string, id: string, write: StoreWrite, condition?: WriteCondition): StoredResource {
    const data = tenantData(ctx.tenant, false);
    const t = table(data, type, false);
    const prev = t?.byId.get(id);
    if (data === undefined || t === undefined || prev === undefined) throw notFound(id);
    checkVersion(prev, condition);
    let keys: readonly string[] = uniqueKeyStrings(write.uniqueKeys);
    // Unchanged keys are this resource's already (most replaces and PATCHes keep userName).
    if (sameKeys(keys, prev.keys)) keys = prev.keys;
    else checkUnique(t, keys, id, write.uniqueKeys);
    const members = write.members !== undefined ? buildMembers(write.members) : prev.members;
    if (write.members !== undefined) assertLiveMembers(data, members!.keys(), prev.members);
    const next = bump(prev, now().toISOString(), { attributes: immutable(write.attributes ?? {}), keys, members });
    if (write.members !== undefined) relink(log, data, prev, next, members!);
    putRec(log, t, prev, next);
    return toStored(next, false);
  }

  function doDelete(log: UndoLog | undefined, ctx: StoreContext, type: string, id: string, condition?: WriteCondition): void {
    const data = tenantData(ctx.tenant, false);
    const t = table(data, type, false);
    const prev = t?.byId.get(id);
    if (data === undefined || t === undefined || prev === undefined) throw notFound(id);
    checkVersion(prev, condition);
    const ts = now().toISOString();
    // The resource leaves every group that lists it; those groups change.
    const containing = data.memberOf.get(id);
    if (containing !== undefined) {
      for (const [groupId, groupType] of [...containing]) {
        unlink(log, data, id, groupId);
        if (groupId === id && groupType === type) continue;
        const gt = data.types.get(groupType);
        const group = gt?.byId.get(groupId);
        if (gt === undefined || group?.members === undefined) continue;
        memberDelete(log, group.members, id);
        putRec(log, gt, group, bump(group, ts));
      }
    }
    // Its own member list goes with it.
    if (prev.members !== undefined) for (const memberId of prev.members.keys()) unlink(log, data, memberId, id);
    putRec(log, t, prev, undefined);
  }

  function groupFor(ctx: StoreContext, groupId: string): { data: TenantData; t: TypeTable; rec: Rec } {
    const data = tenantData(ctx.tenant, false);
    const t = table(data, GROUP_TYPE, false);
    const rec = t?.byId.get(groupId);
    if (data === undefined || t === undefined || rec === undefined) throw notFound(groupId);
    return { data, t, rec };
  }

  function doAddMembers(log: UndoLog | undefined, ctx: StoreContext, groupId: string, members: readonly MemberValue[], condition?: WriteCondition): StoredResource {
    const { data, t, rec } = groupFor(ctx, groupId);
    checkVersion(rec, condition);
    for (const m of members) assertMemberValue(m);
    const current = rec.members;
    const seen = new Set<string>();
    const fresh: MemberValue[] = [];
    for (const m of members) {
      if (current?.has(m.value) || seen.has(m.value)) continue;
      seen.add(m.value);
      fresh.push(m);
    }
    if (fresh.length === 0) return toStored(rec, false);
    assertLiveMembers(data, fresh.map((m) => m.value));
    // A group without a member map gets a new one: the rollback of putRec detaches it again.
    const map = current ?? new Map<string, MemberEntry>();
    const mapLog = current === undefined ? undefined : log;
    for (const m of fresh) {
      memberSet(mapLog, map, { value: immutable(m), seq: ++seq });
      link(log, data, m.value, groupId, rec.type);
    }
    const next = bump(rec, now().toISOString(), { members: map });
    putRec(log, t, rec, next);
    return toStored(next, false);
  }

  function doRemoveMembers(log: UndoLog | undefined, ctx: StoreContext, groupId: string, ids: readonly string[], condition?: WriteCondition): StoredResource {
    const { data, t, rec } = groupFor(ctx, groupId);
    checkVersion(rec, condition);
    const map = rec.members;
    const present = map === undefined ? [] : [...new Set(ids)].filter((id) => map.has(id));
    if (present.length === 0) return toStored(rec, false);
    for (const id of present) {
      memberDelete(log, map!, id);
      unlink(log, data, id, groupId);
    }
    const next = bump(rec, now().toISOString());
    putRec(log, t, rec, next);
    return toStored(next, false);
  }

  function doSetMembers(log: UndoLog | undefined, ctx: StoreContext, groupId: string, members: readonly MemberValue[], condition?: WriteCondition): StoredResource {
    const { data, t, rec } = groupFor(ctx, groupId);
    checkVersion(rec, condition);
    const map = buildMembers(members);
    const old = rec.members;
    assertLiveMembers(data, map.keys(), old);
    const oldSize = old?.size ?? 0;
    if (oldSize === map.size) {
      let same = true;
      for (const [id, e] of map) {
        const o = old?.get(id);
        if (o === undefined || !sameMember(o.value, e.value)) {
          same = false;
          break;
        }
      }
      if (same) return toStored(rec, false);
    }
    const next = bump(rec, now().toISOString(), { members: map });
    relink(log, data, rec, next, map);
    putRec(log, t, rec, next);
    return toStored(next, false);
  }

  // --- reads -----------------------------------------------------------------------------------

  function compile(filter: Filter, type: string, rt: CompiledResourceType | undefined): FilterPredicate {
    stats.compiled++;
    return compileFilter(filter, { resourceType: rt ?? type, registry });
  }

  /** Ids matching an `eq` on an indexed attribute, or undefined when the index cannot answer. */
  function indexLookup(node: Filter, rt: CompiledResourceType, t: TypeTable | undefined): string[] | undefined {
    if (node.type !== "compare" || node.op !== "eq") return undefined;
    const value = typeof node.value === "string" ? node.value : typeof node.value === "number" ? String(node.value) : undefined;
    if (value === undefined) return undefined;
    const resolved = rt.resolve(node.path);
    if (resolved === undefined || resolved.sub !== undefined || resolved.schema.extension) return undefined;
    const attr = resolved.attribute;
    if (attr.multiValued || (attr.type !== "string" && attr.type !== "reference")) return undefined;
    if (typeof node.value === "number" && attr.type !== "string") return undefined;
    if (attr.name === "id") return t?.byId.has(value) ? [value] : [];
    if (!(INDEXED as readonly string[]).includes(attr.name)) return undefined;
    const name = attr.name as IndexedName;
    if (t === undefined) return [];
    const ids = indexIds(t.index[name], value.toLowerCase());
    return attr.exact ? ids.filter((id) => t.byId.get(id)?.attributes[name] === value) : ids;
  }

  function plan(node: Filter, rt: CompiledResourceType, t: TypeTable | undefined): Plan | undefined {
    if (node.type === "compare") {
      const ids = indexLookup(node, rt, t);
      return ids === undefined ? undefined : { ids, residual: undefined };
    }
    if (node.type !== "logical") return undefined;
    if (node.op === "and") {
      const parts = logicalOperands(node, "and");
      let best: Plan | undefined;
      let bestAt = -1;
      for (let i = 0; i < parts.length; i++) {
        const p = plan(parts[i]!, rt, t);
        if (p !== undefined && (best === undefined || p.ids.length < best.ids.length)) {
          best = p;
          bestAt = i;
        }
      }
      if (best === undefined) return undefined;
      const rest = parts.filter((_, i) => i !== bestAt);
      if (best.residual !== undefined) rest.push(best.residual);
      return { ids: best.ids, residual: conjunction(rest) };
    }
    const union = new Set<string>();
    let inexact = false;
    for (const part of logicalOperands(node, "or")) {
      const p = plan(part, rt, t);
      if (p === undefined) return undefined;
      for (const id of p.ids) union.add(id);
      if (p.residual !== undefined) inexact = true;
    }
    return { ids: [...union], residual: inexact ? node : undefined };
  }

  /** The resources of the type that match the filter, in creation order. */
  function matching(t: TypeTable | undefined, data: TenantData | undefined, type: string, filter: Filter | undefined, deadline: number | undefined): Rec[] {
    if (filter === undefined) return t === undefined ? [] : [...t.byId.values()];
    const rt = findType(type);
    const planned = rt === undefined ? undefined : plan(filter, rt, t);
    let candidates: Rec[];
    let residual: Filter | undefined;
    if (planned !== undefined) {
      candidates = [];
      for (const id of planned.ids) {
        const rec = t?.byId.get(id);
        if (rec !== undefined) candidates.push(rec);
      }
      if (candidates.length > 1) candidates.sort((a, b) => a.seq - b.seq);
      residual = planned.residual;
    } else {
      candidates = t === undefined ? [] : [...t.byId.values()];
      residual = filter;
    }
    stats.examined += candidates.length;
    if (residual === undefined) return candidates;
    // Compiled even without candidates: an invalid filter is a 400 whatever the data.
    const predicate = compile(residual, type, rt);
    const withMembers = referencesAttribute(residual, "members");
    const withGroups = referencesAttribute(residual, "groups");
    const out: Rec[] = [];
    let examined = 0;
    for (const rec of candidates) {
      // The clock is read once per 256 resources: cheap beside evaluating the filter on them.
      if ((++examined & 255) === 0) checkDeadline(deadline);
      let view = viewOf(rec);
      if (withMembers || (withGroups && rec.attributes.groups === undefined)) {
        view = { ...view };
        if (withMembers) view.members = rec.members === undefined ? [] : Array.from(rec.members.values(), (e) => e.value);
        if (withGroups && rec.attributes.groups === undefined) view.groups = groupRefs(data, rec.id);
      }
      if (predicate(view)) out.push(rec);
    }
    return out;
  }

  /** Index paging without filter or sort: walk the table in creation order, copy only the page. */
  function plainPage(t: TypeTable | undefined, data: TenantData | undefined, query: StoreQuery): StoreQueryResult {
    const totalResults = t === undefined ? 0 : t.byId.size;
    const rawCount = query.count;
    const count = rawCount === undefined || Number.isNaN(rawCount) ? Infinity : Math.max(0, Math.floor(rawCount));
    const si = query.startIndex === undefined || Number.isNaN(query.startIndex) ? 1 : Math.floor(query.startIndex);
    const start = Math.max(1, si) - 1;
    const resources: StoredResource[] = [];
    if (t === undefined || count === 0) return { resources, totalResults };
    const members = query.members === true;
    const order = (t.order ??= [...t.byId.keys()]);
    const end = Math.min(order.length, start + count);
    const budget = new PageBudget(query.maxBytes);
    for (let i = start; i < end; i++) {
      const rec = t.byId.get(order[i]!)!;
      if (query.maxBytes !== undefined && !budget.admit(bytesOf(rec, members, query.groups === true ? data : undefined))) break;
      resources.push(toStored(rec, members));
    }
    return { resources, totalResults };
  }

  function doQuery(ctx: StoreContext, type: string, query: StoreQuery): StoreQueryResult {
    const sort = query.sort;
    const descending = sort?.order === "descending";
    const signature = sort === undefined ? "" : `${printAttrPath(sort.path).toLowerCase()}:${descending ? "d" : "a"}`;
    const after = query.cursor !== undefined ? decodeCursor(query.cursor, signature) : undefined;
    const data = tenantData(ctx.tenant, false);
    const t = table(data, type, false);
    if (query.filter === undefined && sort === undefined && query.cursor === undefined) return plainPage(t, data, query);
    const recs = matching(t, data, type, query.filter, query.deadline);
    const totalResults = recs.length;
    const rawCount = query.count;
    const count = rawCount === undefined || Number.isNaN(rawCount) ? Infinity : Math.max(0, Math.floor(rawCount));
    if (count === 0) return { resources: [], totalResults };

    let entries: Entry[];
    if (sort !== undefined) {
      const read = sortKeyReader(sort.path, findType(type));
      entries = recs.map((rec) => ({ rec, key: read(viewOf(rec)) }));
      const cmp = comparator(descending);
      entries.sort((a, b) => cmp({ key: a.key, seq: a.rec.seq, id: a.rec.id }, { key: b.key, seq: b.rec.seq, id: b.rec.id }));
    } else {
      entries = recs.map((rec) => ({ rec, key: null }));
    }

    let start: number;
    if (query.cursor !== undefined) {
      start = 0;
      if (after !== undefined) {
        // Keyset: the first entry after the position (also when that resource is gone since).
        const cmp = comparator(descending);
        let lo = 0;
        let hi = entries.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          const e = entries[mid]!;
          if (cmp({ key: e.key, seq: e.rec.seq, id: e.rec.id }, after) <= 0) lo = mid + 1;
          else hi = mid;
        }
        start = lo;
      }
    } else {
      const si = query.startIndex === undefined || Number.isNaN(query.startIndex) ? 1 : Math.floor(query.startIndex);
      start = Math.max(1, si) - 1;
    }
    const members = query.members === true;
    let page = entries.slice(start, count === Infinity ? undefined : start + count);
    if (query.maxBytes !== undefined) page = page.slice(0, withinBudget(page.map((e) => e.rec), members, query.groups === true ? data : undefined, query.maxBytes));
    const result: StoreQueryResult = { resources: page.map((e) => toStored(e.rec, members)), totalResults };
    if (query.cursor !== undefined && page.length > 0 && start + page.length < entries.length) {
      const last = page[page.length - 1]!;
      result.nextCursor = encodeCursor(signature, { key: last.key, seq: last.rec.seq, id: last.rec.id });
    }
    return result;
  }

  // --- serialization of writes and transactions ------------------------------------------------

  let queue: Promise<unknown> = Promise.resolve();
  let held = 0;
  const release = (): void => {
    held--;
  };

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    held++;
    const result = queue.then(fn);
    queue = result.then(release, release);
    return result;
  }

  /** Runs a write now, or after the running and queued transactions when there are any. */
  function outerWrite<T>(fn: () => T): Promise<T> {
    if (held === 0) {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return exclusive(async () => fn());
  }

  function api(log: UndoLog | undefined): ScimStore {
    const guard = (): void => {
      if (log?.closed) throw new Error("memoryStore: this transaction has ended; use the store outside of it");
    };
    const write = <T>(fn: () => T): Promise<T> => {
      if (log === undefined) return outerWrite(fn);
      try {
        guard();
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const read = <T>(fn: () => T): Promise<T> => {
      try {
        guard();
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const store: ScimStore = {
      // `$ref` is built when the server answers: the server filters on it (with the wire form).
      capabilities: { filter: (filter) => !referencesMemberRef(filter), sort: true, paging: true, cursor: true, pageBytes: true },
      get: (ctx, type, id, opts) =>
        read(() => {
          const rec = table(tenantData(ctx.tenant, false), type, false)?.byId.get(id);
          return rec === undefined ? undefined : toStored(rec, opts?.members === true);
        }),
      query: (ctx, type, query) => read(() => doQuery(ctx, type, query ?? {})),
      create: (ctx, type, w) => write(() => doCreate(log, ctx, type, w)),
      replace: (ctx, type, id, w, condition) => write(() => doReplace(log, ctx, type, id, w, condition)),
      delete: (ctx, type, id, condition) => write(() => doDelete(log, ctx, type, id, condition)),
      addMembers: (ctx, groupId, members, condition) => write(() => doAddMembers(log, ctx, groupId, members, condition)),
      removeMembers: (ctx, groupId, ids, condition) => write(() => doRemoveMembers(log, ctx, groupId, ids, condition)),
      setMembers: (ctx, groupId, members, condition) => write(() => doSetMembers(log, ctx, groupId, members, condition)),
      groupsOf: (ctx, memberId) => read(() => groupRefs(tenantData(ctx.tenant, false), memberId)),
      groupsOfMany: (ctx, memberIds) =>
        read(() => {
          const data = tenantData(ctx.tenant, false);
          const found = new Map<string, GroupRef[]>();
          for (const id of memberIds) {
            const refs = groupRefs(data, id);
            if (refs.length > 0) found.set(id, refs);
          }
          return found;
        }),
      membersAmong: (ctx, groupId, ids) =>
        read(() => {
          const data = tenantData(ctx.tenant, false);
          const present = new Set<string>();
          for (const id of ids) if (data?.memberOf.get(id)?.has(groupId) === true) present.add(id);
          return present;
        }),
      memberCandidates: (ctx, ids) =>
        read(() => {
          const data = tenantData(ctx.tenant, false);
          const found: MemberCandidate[] = [];
          const distinct = new Set(ids);
          for (const type of ["User", "Group"] as const) {
            const byId = table(data, type, false)?.byId;
            if (byId === undefined) continue;
            for (const id of distinct) {
              const rec = byId.get(id);
              if (rec === undefined) continue;
              const display = str(rec.attributes.displayName) ?? str(rec.attributes.userName);
              found.push(display === undefined ? { id, type } : { id, type, display });
            }
          }
          return found;
        }),
      transaction: <T>(work: (s: ScimStore) => Promise<T>): Promise<T> => {
        if (log === undefined) {
          return exclusive(async () => {
            const txLog: UndoLog = { ops: [], closed: false };
            try {
              return await work(api(txLog));
            } catch (error) {
              rollback(txLog, 0);
              throw error;
            } finally {
              txLog.closed = true;
            }
          });
        }
        // Nested: a savepoint of the enclosing transaction.
        return (async () => {
          guard();
          const mark = log.ops.length;
          try {
            return await work(store);
          } catch (error) {
            if (!log.closed) rollback(log, mark);
            throw error;
          }
        })();
      },
    };
    return store;
  }

  // --- seeding ---------------------------------------------------------------------------------

  function derivedKeys(type: string, attributes: Obj): UniqueKey[] {
    const rt = findType(type);
    if (rt === undefined) return [];
    const out: UniqueKey[] = [];
    for (const schema of [rt.core, ...rt.extensions]) {
      const base = schema.extension ? attributes[schema.id] : attributes;
      if (!isObj(base)) continue;
      for (const attr of schema.attributes) {
        if (attr.uniqueness === "none" || attr.name === "id" || attr.multiValued) continue;
        const v = base[attr.name];
        if (typeof v !== "string") continue;
        out.push({ attribute: schema.extension ? `${schema.id}:${attr.name}` : attr.name, value: attr.exact ? v : v.toLowerCase() });
      }
    }
    return out;
  }

  for (const seed of options.resources ?? []) {
    const where = `seed ${seed?.resourceType}/${seed?.id} of tenant '${seed?.tenant}'`;
    if (typeof seed?.id !== "string" || seed.id === "" || typeof seed.tenant !== "string" || typeof seed.resourceType !== "string") {
      throw new ScimConfigError(`${where}: needs tenant, resourceType and a non-empty id`);
    }
    const data = tenantData(seed.tenant, true);
    const t = table(data, seed.resourceType, true);
    if (t.byId.has(seed.id)) throw new ScimConfigError(`${where}: duplicate id`);
    const source = seed.uniqueKeys ?? derivedKeys(seed.resourceType, seed.attributes ?? {});
    const keys = uniqueKeyStrings(source);
    try {
      checkUnique(t, keys, seed.id, source);
    } catch (error) {
      throw new ScimConfigError(`${where}: ${(error as Error).message}`);
    }
    const created = seed.created ?? now().toISOString();
    const members = seed.members !== undefined ? buildMembers(seed.members) : undefined;
    const rec = newRec(seed.id, seed.resourceType, seed.version ?? 1, created, seed.lastModified ?? created, immutable(seed.attributes ?? {}), keys, ++seq, members);
    putRec(undefined, t, undefined, rec);
    if (members !== undefined) relink(undefined, data, undefined, rec, members);
  }

  const outer = api(undefined);
  const store: MemoryStore = {
    ...outer,
    transaction: outer.transaction!,
    inspect(tenant, type, id) {
      const rec = table(tenantData(tenant, false), type, false)?.byId.get(id);
      return rec === undefined ? undefined : toStored(rec, true);
    },
  };
  statsByStore.set(store, stats);
  return store;
}

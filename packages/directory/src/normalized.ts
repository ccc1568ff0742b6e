/**
 * Normalized directory data (`sync.data`): users and groups in one shape whatever the identity
 * provider sent (Okta, Entra ID, OneLogin...), with their direct groups, roles,
 * links and the directory's custom attributes (`settings.attributeMapping`), read from the SQL
 * tables with indexed filters and cursor paging, never by loading a directory into memory.
 */
import { sql, type ExpressionBuilder, type Kysely, type RawBuilder } from "kysely";
import { compileFilter, leafFilters, parsePatchPath, takeWithinBudget, type AttributeInfo, type CompiledResourceType, type Filter, type FilterPredicate, type SchemaRegistry } from "scim-core";
import { fillLeftOut, jsonWithinShare, referenceWeights, SQLITE_LOWER, type SqlDialectName, type SqlScimStore } from "scim-store-sql";
import { decodeCursor, encodeCursor, filtersKey, type SeqList } from "./cursor.js";
import type { Directory, DirectoryService } from "./directories.js";
import { DirectoryError, notFound } from "./errors.js";
import { primaryEmail, type LinkService } from "./links.js";
import type { RoleService } from "./roles.js";
import type { DirectoryDatabase } from "./tables.js";

/** Most users of one email address looked up by id before the page (see `usersWithEmail`). */
const EMAIL_CANDIDATES = 500;

/** The state of a directory user: `suspended` is `active: false`, `deleted` a soft-deleted user. */
export type DirectoryUserState = "active" | "suspended" | "deleted";

/** A group as a user's `groups` lists it. */
export interface DirectoryGroupRef {
  id: string;
  name: string;
}

/** A user, the same whatever the identity provider sent. */
export interface DirectoryUser {
  id: string;
  directoryId: string;
  organizationId: string;
  externalId: string | null;
  /** The primary email, else the first one, else `userName` when it is an email address. */
  email: string | null;
  username: string;
  firstName: string | null;
  lastName: string | null;
  /** `displayName`, else `name.formatted`, else first and last name. */
  displayName: string | null;
  state: DirectoryUserState;
  /** The groups the user is a direct member of (none once deleted). */
  groups: DirectoryGroupRef[];
  /** The roles its groups give (see `sync.roles`), sorted. */
  roles: string[];
  /** One entry per attribute of the directory's `attributeMapping` (null when the user has no value). */
  customAttributes: Record<string, unknown>;
  /** The SCIM resource as stored (wire form without `groups` and `meta.location`). */
  raw: Record<string, unknown>;
  /** Set when the user was linked by email to an earlier user of the organization. */
  linkedUserId?: string;
  linkedDirectoryId?: string;
  createdAt: string;
  updatedAt: string;
}

/** A group, the same whatever the identity provider sent. */
export interface DirectoryGroup {
  id: string;
  directoryId: string;
  organizationId: string;
  externalId: string | null;
  name: string;
  /** Direct members (users and groups). */
  memberCount: number;
  /** The SCIM resource as stored, without `members` (wire form without `meta.location`). */
  raw: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** A page of a list; pass `nextCursor` as `cursor` for the next one (absent on the last page). */
export interface Page<T> {
  data: T[];
  nextCursor?: string;
}

/** Options of {@link DirectoryDataService.listUsers}. */
export interface ListUsersOptions {
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  /** Page size, 1 to 1000. @default 100 */
  limit?: number;
  /** Users with this email (any of their emails, or their userName), case-insensitively. */
  email?: string;
  /** Users with this userName, case-insensitively. */
  username?: string;
  /** Users in this state. @default active and suspended users (deleted ones only when asked) */
  state?: DirectoryUserState;
  /** Direct members of this group (by id). */
  group?: string;
  /** The user with this externalId (the IdP's id for it; exact). */
  externalId?: string;
}

/** A user's group in a page, `{ "id": "…", "name": "…" }`, without its name. */
const GROUP_REF_BYTES = 60;

/** The list a cursor pages: its kind, its directory and its filters. */
function seqList(list: SeqList["list"], directoryId: string, filters: Record<string, string | undefined>): SeqList {
  const key = filtersKey(filters);
  return key === undefined ? { list, directoryId } : { list, directoryId, filters: key };
}

/** Options of {@link DirectoryDataService.listGroups}. */
export interface ListGroupsOptions {
  cursor?: string;
  /** Page size, 1 to 1000. @default 100 */
  limit?: number;
  /** Groups with this displayName, case-insensitively. */
  name?: string;
  /** Groups with this externalId. */
  externalId?: string;
  /** Groups that are direct members of this group (by id): nested groups. */
  group?: string;
}

/** Live users and groups of a directory (for a sync-status view). */
export interface DirectoryCounts {
  users: number;
  groups: number;
}

type Obj = Record<string, unknown>;
type Db = Kysely<DirectoryDatabase>;

/**
 * The most JSON the documents of one page of normalized users or groups hold (their `raw`): a
 * row goes in while the page with it stays within it, so a page may hold fewer than `limit` (always
 * at least one).
 */
export const PAGE_BYTES = 8 * 1024 * 1024;

interface ResourceRow {
  seq: number | string;
  id: string;
  version: number;
  created: string;
  last_modified: string;
  doc: unknown;
  deleted: number | boolean;
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A string with content, else null (OneLogin sends unmapped attributes as ""). */
function text(value: unknown): string | null {
  if (typeof value !== "string") return null;
  return value.trim() === "" ? null : value;
}

/** `obj[key]` with the key matched case-insensitively (attribute names are, RFC 7643 §2.1). */
function getKey(obj: unknown, key: string): unknown {
  if (!isObj(obj)) return undefined;
  if (Object.hasOwn(obj, key)) return obj[key];
  const lowered = key.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lowered) return obj[k];
  return undefined;
}

function parseDoc(doc: unknown): Obj {
  try {
    const parsed = typeof doc === "string" ? (JSON.parse(doc) as unknown) : doc;
    return isObj(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * The stored attributes without what is never returned (RFC 7643 §7 `returned: "never"`):
 * attributes, and sub-attributes of complex ones, of the core schema and of each extension. What
 * SCIM never shows, the admin API (`raw`, custom attributes) does not show either.
 */
function withoutSecrets(attributes: Obj, rt: CompiledResourceType | undefined): Obj {
  if (rt === undefined) return attributes;
  let out = attributes;
  const strip = (container: Obj, attrs: readonly AttributeInfo[]): Obj => {
    let copy: Obj | undefined;
    for (const attr of attrs) {
      const value = container[attr.name];
      if (value === undefined) continue;
      copy ??= { ...container };
      if (attr.returned === "never") {
        delete copy[attr.name];
        continue;
      }
      const hidden = attr.subs.filter((sub) => sub.returned === "never");
      if (hidden.length === 0) continue;
      const clean = (el: unknown) => (isObj(el) ? Object.fromEntries(Object.entries(el).filter(([k]) => !hidden.some((h) => h.name === k))) : el);
      copy[attr.name] = Array.isArray(value) ? value.map(clean) : clean(value);
    }
    return copy ?? container;
  };
  out = strip(out, rt.core.attributes);
  for (const ext of rt.extensions) {
    const data = out[ext.id];
    if (isObj(data)) out = { ...out, [ext.id]: strip(data, ext.attributes) };
  }
  return out;
}

/** The stored resource in its wire form (as scim-core's server shows it, without `meta.location`). */
function rawOf(row: ResourceRow, resourceType: string, coreSchema: string, attributes: Obj, omit: string): Obj {
  const { schemas, [omit]: _omitted, ...rest } = attributes;
  return {
    schemas: Array.isArray(schemas) ? schemas : [coreSchema],
    id: row.id,
    ...rest,
    meta: { resourceType, created: row.created, lastModified: row.last_modified, version: `W/"${Number(row.version)}"` },
  };
}

/** A live user or group of a directory in its wire form (see {@link liveResourcesInWireForm}). */
export interface WireResource {
  id: string;
  /** As `raw` of the normalized data: the SCIM wire form without `meta.location`, `groups`/`members` and never-returned attributes. */
  resource: Obj;
}

/**
 * A directory's live (not deleted) users or groups in wire form, in creation order, read in
 * pages of `pageSize`: what a directory's deletion deprovisions and reports in its events.
 */
export async function* liveResourcesInWireForm(
  db: Kysely<DirectoryDatabase>,
  dialect: SqlDialectName,
  registry: SchemaRegistry,
  directoryId: string,
  type: "User" | "Group",
  pageSize = 500,
): AsyncGenerator<WireResource> {
  const rt = registry.findResourceType(type);
  const coreSchema = rt?.core.id ?? `urn:ietf:params:scim:schemas:core:2.0:${type}`;
  for (let after = 0; ; ) {
    const rows = (await db
      .selectFrom("scim_resources as r")
      .select(["r.seq", "r.id", "r.version", "r.created", "r.last_modified", "r.doc", "r.deleted"])
      .where("r.tenant", "=", directoryId)
      .where("r.resource_type", "=", type)
      .where("r.seq", ">", after)
      .where(sql<boolean>`${sql.ref("r.deleted")} = ${sql.lit(dialect === "sqlite" ? 0 : false)}`)
      .orderBy("r.seq")
      .limit(pageSize)
      .execute()) as ResourceRow[];
    for (const row of rows) {
      yield { id: row.id, resource: rawOf(row, type, coreSchema, withoutSecrets(parseDoc(row.doc), rt), type === "User" ? "groups" : "members") };
    }
    if (rows.length < pageSize) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

const isFalse = (value: unknown): boolean => value === false || (typeof value === "string" && value.toLowerCase() === "false");

/** Empty values (undefined, null, "") read as null; anything else as it is. */
function valueOrNull(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" && value.trim() === "") return null;
  return value;
}

/** Reads one attribute path of a resource; never throws. */
export type AttributeReader = (resource: Obj) => unknown;

/**
 * What is wrong with an attribute path of an attribute mapping, or undefined when it names an
 * attribute (or sub-attribute) the registry defines for `resourceType` that the identity
 * provider sends and the store keeps, with a value filter on its sub-attributes only: a mapping
 * to anything else would read nothing forever (unknown attributes are not stored; readOnly ones
 * such as `id`, `meta` and `groups` are the server's; `password` is never kept).
 */
export function attributePathProblem(path: string, registry: SchemaRegistry, resourceType = "User"): string | undefined {
  let parsed: ReturnType<typeof parsePatchPath>;
  try {
    parsed = parsePatchPath(path);
  } catch {
    return `'${path}' is not an attribute path`;
  }
  const rt = registry.findResourceType(resourceType);
  if (rt === undefined) return undefined;
  const resolved = rt.resolve(parsed.attr);
  if (resolved === undefined || (parsed.attr.sub !== undefined && resolved.sub === undefined)) return `'${path}' names no attribute of ${resourceType}`;
  const sub = parsed.sub !== undefined ? resolved.attribute.subMap?.get(parsed.sub.toLowerCase()) : undefined;
  for (const a of [resolved.attribute, resolved.sub, sub]) {
    if (a === undefined) continue;
    // Neither is in what the IdP sent and the store keeps: the mapping would read null forever.
    if (a.mutability === "readOnly") return `'${path}' is assigned by the server (readOnly: id, meta, groups), not sent by the identity provider`;
    if (a.returned === "never") return `'${path}' is never returned (a secret such as password)`;
  }
  if (parsed.filter !== undefined) {
    if (parsed.sub !== undefined && sub === undefined) return `'${path}' names no sub-attribute of ${resolved.attribute.name}`;
    const unknown = leafFilters(parsed.filter).find((f) => f.path.uri !== undefined || f.path.sub !== undefined || resolved.attribute.subMap?.get(f.path.attr.toLowerCase()) === undefined);
    if (unknown !== undefined) return `'${path}' filters on '${unknown.path.attr}', which is not a sub-attribute of ${resolved.attribute.name}`;
    try {
      compileFilter({ type: "valuePath", path: { ...(parsed.attr.uri !== undefined ? { uri: parsed.attr.uri } : {}), attr: parsed.attr.attr }, filter: parsed.filter }, { resourceType: rt, registry });
    } catch {
      return `'${path}' has an invalid value filter`;
    }
  }
  return undefined;
}

/**
 * Compiles an attribute path (`title`, `name.givenName`, `emails[type eq "work"].value`,
 * `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, a custom extension's
 * `urn:...:costCenter`; RFC 7644 §3.5.2 PATH syntax) into a reader of a stored resource. Names
 * are resolved against the registry (case-insensitively), falling back to the keys as written for
 * attributes it does not define. A value filter selects the first matching element. The reader
 * returns undefined where the resource has no value; a path that does not parse reads nothing.
 */
export function attributeReader(path: string, registry: SchemaRegistry, resourceType = "User"): AttributeReader {
  let parsed: ReturnType<typeof parsePatchPath>;
  try {
    parsed = parsePatchPath(path);
  } catch {
    return () => undefined;
  }
  const rt = registry.findResourceType(resourceType);
  const resolved = rt?.resolve(parsed.attr);
  // Where the attribute lives: the top level, or the object of its extension schema.
  const schemaKey = resolved !== undefined ? (resolved.schema.extension ? resolved.schema.id : undefined) : parsed.attr.uri !== undefined && parsed.attr.uri.toLowerCase() !== rt?.core.id.toLowerCase() ? parsed.attr.uri : undefined;
  const attrName = resolved?.attribute.name ?? parsed.attr.attr;
  const subName = parsed.filter !== undefined ? parsed.sub : (resolved?.sub?.name ?? parsed.attr.sub);
  let select: FilterPredicate | undefined;
  if (parsed.filter !== undefined && rt !== undefined) {
    const valuePath: Filter = { type: "valuePath", path: { ...(parsed.attr.uri !== undefined ? { uri: parsed.attr.uri } : {}), attr: parsed.attr.attr }, filter: parsed.filter };
    try {
      select = compileFilter(valuePath, { resourceType: rt, registry });
    } catch {
      return () => undefined;
    }
  }
  const wrap = (element: unknown): Obj => {
    const holder = { [attrName]: [element] };
    return schemaKey !== undefined ? { [schemaKey]: holder } : holder;
  };
  return (resource) => {
    try {
      const container = schemaKey !== undefined ? getKey(resource, schemaKey) : resource;
      let value = getKey(container, attrName);
      if (parsed.filter !== undefined) {
        if (!Array.isArray(value) || select === undefined) return undefined;
        value = value.find((element) => select(wrap(element)));
      }
      if (subName === undefined) return value;
      if (Array.isArray(value)) {
        const values = value.map((element) => getKey(element, subName)).filter((v) => v !== undefined);
        return values.length > 0 ? values : undefined;
      }
      return getKey(value, subName);
    } catch {
      return undefined;
    }
  };
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit)) throw new DirectoryError(400, "invalid_limit", "limit must be an integer");
  return Math.min(Math.max(limit, 1), 1000);
}

/** Reads a directory's users and groups in normalized form (`sync.data`). */
export class DirectoryDataService {
  private readonly readers = new Map<string, AttributeReader>();

  constructor(
    private readonly db: Db,
    private readonly store: SqlScimStore,
    private readonly directories: DirectoryService,
    private readonly roles: RoleService,
    private readonly links: LinkService,
    private readonly registry: SchemaRegistry,
  ) {}

  private get dialect(): SqlDialectName {
    return this.store.dialect;
  }

  /** `alias.column = true/false` as a literal (so that the store's partial indexes apply). */
  private flag(alias: string, column: "deleted" | "active", value: boolean): RawBuilder<boolean> {
    const literal = this.dialect === "sqlite" ? (value ? 1 : 0) : value;
    return sql<boolean>`${sql.ref(`${alias}.${column}`)} = ${sql.lit(literal)}`;
  }

  private reader(path: string): AttributeReader {
    let reader = this.readers.get(path);
    if (reader === undefined) {
      reader = attributeReader(path, this.registry);
      if (this.readers.size > 1000) this.readers.clear();
      this.readers.set(path, reader);
    }
    return reader;
  }

  /** A page of users, oldest first; 404 when the directory is unknown, 400 for a bad cursor. */
  async listUsers(directoryId: string, options: ListUsersOptions = {}): Promise<Page<DirectoryUser>> {
    const directory = await this.directories.get(directoryId);
    const limit = pageSize(options.limit);
    // email and username match case-insensitively: their cursor too.
    const list = seqList("users", directoryId, { email: options.email?.toLowerCase(), username: options.username?.toLowerCase(), state: options.state, group: options.group, externalId: options.externalId });
    let q = this.resources(directoryId, "User").where("r.seq", ">", decodeCursor(options.cursor, list) ?? 0);
    switch (options.state) {
      case "deleted":
        q = q.where(this.flag("r", "deleted", true));
        break;
      case "suspended":
        q = q.where(this.flag("r", "deleted", false)).where(this.flag("r", "active", false));
        break;
      case "active":
        q = q.where(this.flag("r", "deleted", false)).where((eb) => eb.or([eb("r.active", "is", null), this.flag("r", "active", true)]));
        break;
      default:
        q = q.where(this.flag("r", "deleted", false));
    }
    if (options.username !== undefined) q = q.where("r.user_name_lower", "=", options.username.toLowerCase());
    if (options.email !== undefined) {
      const email = options.email.toLowerCase();
      // The users with the email, found first by index (an email or a userName lookup), then
      // paged: as one OR in the page's query, the database walked every user of the directory
      // to test each (110 ms on 100,000 users). Many (a shared address) or deleted users: as one query.
      const ids = options.state === "deleted" ? undefined : await this.usersWithEmail(directoryId, email);
      if (ids !== undefined && ids.length === 0) return { data: [] };
      if (ids !== undefined) q = q.where("r.id", "in", ids);
      else {
        q = q.where((eb) =>
          eb.or([
            eb("r.user_name_lower", "=", email),
            // A deletion removes the user's emails rows: a deleted user is found by the emails
            // its document keeps (read from each deleted user's document, not by an index).
            options.state === "deleted"
              ? this.documentHasEmail(email)
              : eb.exists(eb.selectFrom("scim_emails as e").select("e.resource_id").whereRef("e.tenant", "=", "r.tenant").whereRef("e.resource_id", "=", "r.id").where("e.value_lower", "=", email)),
          ]),
        );
      }
    }
    if (options.externalId !== undefined) q = q.where("r.external_id", "=", options.externalId);
    if (options.group !== undefined) q = q.where(this.memberOf(options.group));
    return this.page(q, limit, list, (rows) => this.toUsers(directory, rows));
  }

  /**
   * The ids of the directory's live users whose userName or one of whose emails is `email`
   * (lower-cased), each list read by its index; undefined past {@link EMAIL_CANDIDATES}.
   */
  private async usersWithEmail(directoryId: string, email: string): Promise<string[] | undefined> {
    const byEmail = await this.db.selectFrom("scim_emails").select("resource_id").where("tenant", "=", directoryId).where("value_lower", "=", email).limit(EMAIL_CANDIDATES + 1).execute();
    const byName = await this.db
      .selectFrom("scim_resources as r")
      .select("r.id")
      .where("r.tenant", "=", directoryId)
      .where("r.resource_type", "=", "User")
      .where(this.flag("r", "deleted", false))
      .where("r.user_name_lower", "=", email)
      .limit(EMAIL_CANDIDATES + 1)
      .execute();
    const ids = new Set([...byEmail.map((row) => row.resource_id), ...byName.map((row) => row.id)]);
    return ids.size > EMAIL_CANDIDATES ? undefined : [...ids];
  }

  /**
   * Rows (`r`) one of whose `emails` in the document has the value `email` (lower-cased as the
   * emails rows are: JavaScript's folding on SQLite, `lower()` on PostgreSQL).
   */
  private documentHasEmail(email: string): RawBuilder<boolean> {
    return this.dialect === "sqlite"
      ? sql<boolean>`exists (select 1 from json_each(r.doc, '$.emails') as e where e.type = 'object' and ${sql.raw(SQLITE_LOWER)}(e.value ->> '$.value') = ${email})`
      : sql<boolean>`exists (select 1 from jsonb_array_elements(case when jsonb_typeof(r.doc -> 'emails') = 'array' then r.doc -> 'emails' else '[]'::jsonb end) as e(value) where jsonb_typeof(e.value) = 'object' and lower(e.value ->> 'value') = ${email})`;
  }

  /** Rows (`r`) that are direct members of the group. */
  private memberOf(groupId: string) {
    return (eb: ExpressionBuilder<DirectoryDatabase & { r: DirectoryDatabase["scim_resources"] }, "r">) =>
      eb.exists(eb.selectFrom("scim_members as m").select("m.member_id").whereRef("m.tenant", "=", "r.tenant").where("m.group_id", "=", groupId).whereRef("m.member_id", "=", "r.id"));
  }

  /** The rows of one resource type of a directory, with the columns normalization reads. */
  private resources(directoryId: string, type: "User" | "Group") {
    return this.db
      .selectFrom("scim_resources as r")
      .select(["r.seq", "r.id", "r.version", "r.created", "r.last_modified", "r.doc", "r.deleted"])
      .where("r.tenant", "=", directoryId)
      .where("r.resource_type", "=", type);
  }

  /**
   * A page of `limit` rows in creation order (one more read, to know whether a next page exists),
   * normalized; its cursor names `list`, so that no other list takes it.
   */
  private async page<T>(q: ReturnType<DirectoryDataService["resources"]>, limit: number, list: SeqList, normalize: (rows: readonly ResourceRow[]) => Promise<T[]>): Promise<Page<T>> {
    // Within the byte budget: each row tells its document's size and brings the document only
    // when within its share; a row goes in while the page with it stays within the budget (at least one).
    const doc = jsonWithinShare(this.dialect, "r.doc", Math.floor(PAGE_BYTES / (limit + 1)));
    const rows = (await q
      .clearSelect()
      .select(["r.seq", "r.id", "r.version", "r.created", "r.last_modified", "r.deleted", doc.value.as("doc"), doc.bytes.as("doc_bytes")])
      .orderBy("r.seq")
      .limit(limit + 1)
      .execute()) as Array<ResourceRow & { doc_bytes: number | string }>;
    const candidates = rows.slice(0, limit);
    const groupBytes = list.list === "users" ? await this.groupsBytes(list.directoryId, candidates.map((row) => row.id)) : undefined;
    const taken = takeWithinBudget(candidates.map((row) => Number(row.doc_bytes) + (groupBytes?.get(row.id) ?? 0)), PAGE_BYTES);
    const cutAt = rows.slice(0, taken);
    const page = await fillLeftOut(cutAt, "doc", (row) => row.seq, async (seqs) =>
      (await this.db.selectFrom("scim_resources as r").select(["r.seq", "r.doc"]).where("r.seq", "in", seqs.map(Number)).execute()).map((row) => [row.seq, row.doc]),
    );
    const data = await normalize(page);
    // The cursor after the last row read, kept or deleted meanwhile.
    return rows.length > taken ? { data, nextCursor: encodeCursor(list, { seq: Number(cutAt[cutAt.length - 1]!.seq) }) } : { data };
  }


  /**
   * What each user's `groups` weighs in a page (`{ id, name }` per live group, names up to 2,000
   * bytes): counted in the budget, or 13 users in 3,000 long-named groups made a 128 MB page.
   */
  private async groupsBytes(directoryId: string, userIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (userIds.length <= 1) return out;
    for (const [id, weight] of await referenceWeights(this.store.db, directoryId, userIds, "groups")) out.set(id, weight.count * GROUP_REF_BYTES + weight.nameBytes);
    return out;
  }

  /** A user, deleted ones included (state `deleted`), or undefined. */
  async findUser(directoryId: string, id: string): Promise<DirectoryUser | undefined> {
    const directory = await this.directories.get(directoryId);
    const row = (await this.resources(directoryId, "User")
      .where("r.id", "=", id)
      .executeTakeFirst()) as ResourceRow | undefined;
    if (row === undefined) return undefined;
    return (await this.toUsers(directory, [row]))[0];
  }

  /** A user, deleted ones included (state `deleted`); 404 when unknown. */
  async getUser(directoryId: string, id: string): Promise<DirectoryUser> {
    const user = await this.findUser(directoryId, id);
    if (user === undefined) throw notFound("user", id);
    return user;
  }

  /** A page of live groups, oldest first; 404 when the directory is unknown, 400 for a bad cursor. */
  async listGroups(directoryId: string, options: ListGroupsOptions = {}): Promise<Page<DirectoryGroup>> {
    const directory = await this.directories.get(directoryId);
    const limit = pageSize(options.limit);
    const list = seqList("groups", directoryId, { name: options.name?.toLowerCase(), externalId: options.externalId, group: options.group });
    let q = this.resources(directoryId, "Group")
      .where(this.flag("r", "deleted", false))
      .where("r.seq", ">", decodeCursor(options.cursor, list) ?? 0);
    if (options.name !== undefined) q = q.where("r.display_name_lower", "=", options.name.toLowerCase());
    if (options.externalId !== undefined) q = q.where("r.external_id", "=", options.externalId);
    if (options.group !== undefined) q = q.where(this.memberOf(options.group));
    return this.page(q, limit, list, (rows) => this.toGroups(directory, rows));
  }

  /** A live group, or undefined. */
  async findGroup(directoryId: string, id: string): Promise<DirectoryGroup | undefined> {
    const directory = await this.directories.get(directoryId);
    const row = (await this.resources(directoryId, "Group")
      .where("r.id", "=", id)
      .where(this.flag("r", "deleted", false))
      .executeTakeFirst()) as ResourceRow | undefined;
    if (row === undefined) return undefined;
    return (await this.toGroups(directory, [row]))[0];
  }

  /** A live group; 404 when unknown or deleted. */
  async getGroup(directoryId: string, id: string): Promise<DirectoryGroup> {
    const group = await this.findGroup(directoryId, id);
    if (group === undefined) throw notFound("group", id);
    return group;
  }

  /** Live users (active and suspended) and groups of the directory: two row reads. */
  async counts(directoryId: string): Promise<DirectoryCounts> {
    await this.directories.get(directoryId);
    const rows = await this.db.selectFrom("scim_counts").select(["resource_type", "live"]).where("tenant", "=", directoryId).execute();
    const count = (type: string) => Number(rows.find((r) => r.resource_type === type)?.live ?? 0);
    return { users: count("User"), groups: count("Group") };
  }

  /** Normalizes rows of users, with their direct groups, roles and links read in batches. */
  private async toUsers(directory: Directory, rows: readonly ResourceRow[]): Promise<DirectoryUser[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const groups = await this.directGroups(directory.id, ids);
    const roles = await this.roles.rolesOfMany(directory.id, ids);
    const links = await this.links.linksOf(directory.id, ids);
    const mapping = Object.entries(directory.settings.attributeMapping);
    const rt = this.registry.findResourceType("User");
    const coreSchema = rt?.core.id ?? "urn:ietf:params:scim:schemas:core:2.0:User";
    return rows.map((row) => {
      const attributes = withoutSecrets(parseDoc(row.doc), rt);
      const name = isObj(attributes.name) ? attributes.name : {};
      const firstName = text(name.givenName);
      const lastName = text(name.familyName);
      const deleted = row.deleted === true || Number(row.deleted) === 1;
      const customAttributes: Record<string, unknown> = {};
      for (const [key, path] of mapping) customAttributes[key] = valueOrNull(this.reader(path)(attributes));
      const link = links.get(row.id);
      const user: DirectoryUser = {
        id: row.id,
        directoryId: directory.id,
        organizationId: directory.organizationId,
        externalId: text(attributes.externalId),
        email: primaryEmail(attributes) ?? null,
        username: text(attributes.userName) ?? "",
        firstName,
        lastName,
        displayName: text(attributes.displayName) ?? text(name.formatted) ?? ([firstName, lastName].filter((n) => n !== null).join(" ") || null),
        state: deleted ? "deleted" : isFalse(attributes.active) ? "suspended" : "active",
        groups: deleted ? [] : (groups.get(row.id) ?? []),
        roles: deleted ? [] : (roles.get(row.id) ?? []),
        customAttributes,
        raw: rawOf(row, "User", coreSchema, attributes, "groups"),
        createdAt: row.created,
        updatedAt: row.last_modified,
      };
      if (link !== undefined) {
        user.linkedUserId = link.linkedUserId;
        user.linkedDirectoryId = link.linkedDirectoryId;
      }
      return user;
    });
  }

  private async toGroups(directory: Directory, rows: readonly ResourceRow[]): Promise<DirectoryGroup[]> {
    if (rows.length === 0) return [];
    const counts = new Map<string, number>();
    const result = await this.db
      .selectFrom("scim_members")
      .select((eb) => ["group_id", eb.fn.countAll().as("n")])
      .where("tenant", "=", directory.id)
      .where(
        "group_id",
        "in",
        rows.map((r) => r.id),
      )
      .groupBy("group_id")
      .execute();
    for (const row of result) counts.set(row.group_id, Number(row.n));
    const rt = this.registry.findResourceType("Group");
    const coreSchema = rt?.core.id ?? "urn:ietf:params:scim:schemas:core:2.0:Group";
    return rows.map((row) => {
      const attributes = withoutSecrets(parseDoc(row.doc), rt);
      return {
        id: row.id,
        directoryId: directory.id,
        organizationId: directory.organizationId,
        externalId: text(attributes.externalId),
        name: text(attributes.displayName) ?? "",
        memberCount: counts.get(row.id) ?? 0,
        raw: rawOf(row, "Group", coreSchema, attributes, "members"),
        createdAt: row.created,
        updatedAt: row.last_modified,
      };
    });
  }

  /** The live groups each user is a direct member of, in the order they were added. */
  private async directGroups(directoryId: string, userIds: readonly string[]): Promise<Map<string, DirectoryGroupRef[]>> {
    const out = new Map<string, DirectoryGroupRef[]>();
    const rows = await this.db
      .selectFrom("scim_members as m")
      .innerJoin("scim_resources as g", (join) => join.onRef("g.tenant", "=", "m.tenant").onRef("g.id", "=", "m.group_id"))
      .select(["m.member_id", "g.id", "g.display_name"])
      .where("m.tenant", "=", directoryId)
      .where("m.member_id", "in", userIds)
      .where("g.resource_type", "=", "Group")
      .where(this.flag("g", "deleted", false))
      .orderBy("m.seq")
      .execute();
    for (const row of rows) {
      const list = out.get(row.member_id) ?? [];
      list.push({ id: row.id, name: row.display_name ?? "" });
      out.set(row.member_id, list);
    }
    return out;
  }
}

/**
 * What the filter property tests share (test-only; not exported from the package): the outcome of
 * a filter as scim-core's `compileFilter` (the reference) and as `filterToSql` give it, ids in
 * creation order or the 400 they throw.
 */
import fc from "fast-check";
import { compileFilter, isScimError, type AttrPath, type CompareOperator, type CompiledResourceType, type Filter } from "scim-core";
import type { ScimSqlDatabase } from "./dialect.js";
import { filterToSql } from "./filter-sql.js";
import { sqlBool } from "./rows.js";
import { openTestPostgres, openTestSqlite } from "./test-databases.js";

/** The ids a filter selects, or the error it is refused with. */
export type Outcome = { ids: string[] } | { error: string };

function errorOf(e: unknown): { error: string } {
  if (!isScimError(e)) throw e;
  return { error: `${e.status} ${e.scimType} ${e.detail}` };
}

/** What `compileFilter` selects among `resources` (each with its `id`, seen as `view` gives it). */
export function referenceOutcome<T extends { id: string }>(filter: Filter, rt: CompiledResourceType, resources: readonly T[], view: (resource: T) => Record<string, unknown>): Outcome {
  let predicate;
  try {
    predicate = compileFilter(filter, { resourceType: rt });
  } catch (e) {
    return errorOf(e);
  }
  return { ids: resources.filter((r) => predicate(view(r))).map((r) => r.id) };
}

/** What `filterToSql` selects among the tenant's live resources of the type, in creation order. */
export async function sqlOutcome(h: ScimSqlDatabase, tenant: string, rt: CompiledResourceType, filter: Filter): Promise<Outcome> {
  let where;
  try {
    where = filterToSql(filter, { dialect: h.dialect, resourceType: rt, tenant });
  } catch (e) {
    return errorOf(e);
  }
  const rows = await h.db
    .selectFrom("scim_resources as r")
    .select("r.id")
    .where("r.tenant", "=", tenant)
    .where("r.resource_type", "=", rt.name)
    .where("r.deleted", "=", sqlBool(h.dialect, false))
    .where(where)
    .orderBy("r.seq")
    .execute();
  return { ids: rows.map((r) => r.id) };
}

const P = (attr: string, sub?: string): AttrPath => (sub === undefined ? { attr } : { attr, sub });
const compareOps: fc.Arbitrary<CompareOperator> = fc.constantFrom("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le");

/**
 * Generated filters on a multi-valued complex attribute kept as membership rows (a group's
 * `members`, a user's `groups`): comparisons and `pr` on it and on its `value`, `type`, `display`
 * (and a sub-attribute it does not have), `other` leaves on the resource itself, value filters
 * over its elements, and `and`/`or`/`not` around them.
 */
export function membershipFilterArb(attr: string, literals: fc.Arbitrary<unknown>, other: fc.Arbitrary<Filter>): fc.Arbitrary<Filter> {
  const leaf: fc.Arbitrary<Filter> = fc.oneof(
    fc.record({ type: fc.constant("compare" as const), op: compareOps, path: fc.constantFrom(P(attr), P(attr, "value"), P(attr, "type"), P(attr, "display"), P(attr, "nope")), value: literals }) as fc.Arbitrary<Filter>,
    fc.constantFrom<Filter>({ type: "present", path: P(attr) }, { type: "present", path: P(attr, "display") }, { type: "present", path: P(attr, "type") }),
    other,
  );
  const innerLeaf: fc.Arbitrary<Filter> = fc.oneof(
    fc.record({ type: fc.constant("compare" as const), op: compareOps, path: fc.constantFrom(P("value"), P("type"), P("display")), value: literals }) as fc.Arbitrary<Filter>,
    fc.constantFrom<Filter>({ type: "present", path: P("display") }, { type: "present", path: P("type") }, { type: "present", path: P("value") }),
  );
  const inner: fc.Arbitrary<Filter> = fc.letrec<{ f: Filter }>((tie) => ({
    f: fc.oneof(
      { maxDepth: 2, depthIdentifier: "inner" },
      { arbitrary: innerLeaf, weight: 3 },
      { arbitrary: fc.record({ type: fc.constant("logical" as const), op: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }), weight: 1 },
      { arbitrary: fc.record({ type: fc.constant("not" as const), filter: tie("f") }), weight: 1 },
    ),
  })).f;
  return fc.letrec<{ f: Filter }>((tie) => ({
    f: fc.oneof(
      { maxDepth: 3, depthIdentifier: "outer" },
      { arbitrary: leaf, weight: 4 },
      { arbitrary: fc.record({ type: fc.constant("valuePath" as const), path: fc.constant(P(attr)), filter: inner }), weight: 2 },
      { arbitrary: fc.record({ type: fc.constant("logical" as const), op: fc.constantFrom("and" as const, "or" as const), left: tie("f"), right: tie("f") }), weight: 2 },
      { arbitrary: fc.record({ type: fc.constant("not" as const), filter: tie("f") }), weight: 1 },
    ),
  })).f;
}

/** The databases the filter property tests run on (PostgreSQL undefined locally without a server). */
export const filterTestDatabases: [string, () => Promise<ScimSqlDatabase | undefined>][] = [
  ["SQLite", () => openTestSqlite()],
  ["PostgreSQL", () => openTestPostgres()],
];

/** Removes the tenants' rows a property test inserted, then closes the database. */
export async function dropTenantsAndClose(handle: ScimSqlDatabase | undefined, tenants: readonly string[]): Promise<void> {
  if (handle === undefined) return;
  for (const tenant of tenants) {
    await handle.db.deleteFrom("scim_members").where("tenant", "=", tenant).execute();
    await handle.db.deleteFrom("scim_resources").where("tenant", "=", tenant).execute();
  }
  await handle.destroy();
}

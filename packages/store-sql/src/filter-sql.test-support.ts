/**
 * What the filter property tests share (test-only; not exported from the package): the outcome of
 * a filter as scim-core's `compileFilter` (the reference) and as `filterToSql` give it, ids in
 * creation order or the 400 they throw.
 */
import { compileFilter, isScimError, type CompiledResourceType, type Filter } from "scim-core";
import type { ScimSqlDatabase } from "./dialect.js";
import { filterToSql } from "./filter-sql.js";
import { sqlBool } from "./rows.js";

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

/**
 * Group `members` in SQL: for generated groups (members with and without `type` and `display`,
 * groups without members, deleted groups) and generated filters on `members`, the ids that
 * `filterToSql` selects are exactly those that scim-core's `compileFilter` selects on the group as
 * the server returns it (members without `$ref`, which `filterRunsInSql` keeps in memory). On
 * SQLite and on PostgreSQL (skipped only when `openTestPostgres` gives undefined, that is locally
 * without a server).
 */
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { randomUUID } from "node:crypto";
import { defaultRegistry, parseFilter, printFilter, type CompareOperator, type Filter } from "scim-core";
import type { ScimSqlDatabase } from "./dialect.js";
import { filterRunsInSql } from "./filter-sql.js";
import { dropTenantsAndClose, filterTestDatabases, membershipFilterArb, referenceOutcome, sqlOutcome } from "./filter-sql.test-support.js";
import { indexedColumns, sqlBool } from "./rows.js";

const seed = process.env.FC_SEED ?? (process.env.CI ? "20261126" : undefined);
if (seed !== undefined) fc.configureGlobal({ seed: Number(seed) });

const rt = defaultRegistry().getResourceType("Group");
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

interface Member {
  value: string;
  type?: string;
  display?: string;
}

interface Group {
  id: string;
  displayName: string;
  members: Member[];
  deleted: boolean;
}

// Member ids are few and shared, so that filters on them match some groups and not others.
const memberIds = ["u-a", "u-B", "g-c", "U-A", "u-%"];
const memberArb: fc.Arbitrary<Member> = fc.record(
  {
    value: fc.constantFrom(...memberIds),
    type: fc.constantFrom("User", "Group", "user"),
    display: fc.constantFrom("Ann", "ann", "Bob Lee", "", "b%"),
  },
  { requiredKeys: ["value"] },
);
const groupArb: fc.Arbitrary<Omit<Group, "id">> = fc.record({
  displayName: fc.constantFrom("Eng", "Sales", "eng"),
  members: fc.uniqueArray(memberArb, { maxLength: 4, selector: (m) => m.value }),
  deleted: fc.boolean().map((b) => b && Math.random() < 0.3),
});
const populationArb = fc.array(groupArb, { minLength: 5, maxLength: 25 }).map((gs) => gs.map((g, i) => ({ ...g, id: `grp-${i}` })));

const literalArb = fc.oneof(fc.constantFrom(...memberIds, "User", "Group", "Ann", "ann", "u", "b%", "", "Eng"), fc.constant(null), fc.constant(true), fc.constant(7));
const displayNameArb: fc.Arbitrary<Filter> = fc.record({ type: fc.constant("compare" as const), op: fc.constantFrom<CompareOperator>("eq", "sw"), path: fc.constant({ attr: "displayName" }), value: fc.constantFrom("Eng", "eng", "S") });
const filterArb = membershipFilterArb("members", literalArb, displayNameArb);

async function insertGroups(h: ScimSqlDatabase, tenant: string, groups: readonly Group[]): Promise<void> {
  await h.db
    .insertInto("scim_resources")
    .values(
      groups.map((g, i) => ({
        tenant,
        resource_type: "Group",
        id: g.id,
        version: 1,
        ...indexedColumns(h.dialect, { displayName: g.displayName }, []),
        deleted: sqlBool(h.dialect, g.deleted),
        created: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        last_modified: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        doc: JSON.stringify({ schemas: [GROUP], displayName: g.displayName }),
      })),
    )
    .execute();
  const rows = groups.flatMap((g) => g.members.map((m) => ({ tenant, group_id: g.id, member_id: m.value, member_type: m.type ?? null, display: m.display ?? null })));
  if (rows.length > 0) await h.db.insertInto("scim_members").values(rows).execute();
}

/** The group as `compileFilter` sees it on the server: no `members` key when it has none. */
function viewOf(g: Group): Record<string, unknown> {
  return { schemas: [GROUP], id: g.id, displayName: g.displayName, ...(g.members.length > 0 ? { members: g.members } : {}), meta: { resourceType: "Group" } };
}

const expected = (filter: Filter, live: readonly Group[]) => referenceOutcome(filter, rt, live, viewOf);
const actual = (h: ScimSqlDatabase, tenant: string, filter: Filter) => sqlOutcome(h, tenant, rt, filter);

describe("filterRunsInSql", () => {
  it("runs members and User.groups filters in SQL, and keeps their $ref for the server", () => {
    for (const f of ['members eq "u1"', 'id eq "g" and members eq "u1"', 'members[value eq "u1" and type eq "User"]', 'not (members pr)', 'members.display sw "A"', 'emails[value eq "groups"]', 'groups.value eq "g1"', 'userName eq "a" or not (groups pr)', 'groups[display sw "E"]']) {
      expect(filterRunsInSql(parseFilter(f)), f).toBe(true);
    }
    for (const f of ['groups.$ref eq "x"', 'groups[$ref co "Groups"]', 'members.$ref eq "x"', 'members[$ref co "Users"]', 'urn:ietf:params:scim:schemas:core:2.0:Group:members.$ref pr']) {
      expect(filterRunsInSql(parseFilter(f)), f).toBe(false);
    }
  });
});

describe.each(filterTestDatabases)("filterToSql on group members agrees with compileFilter on %s", (_name, open) => {
  let handle: ScimSqlDatabase | undefined;
  const tenants: string[] = [];

  afterAll(() => dropTenantsAndClose(handle, tenants));

  it("selects the same groups for the Entra membership check and for hand-picked filters", async (ctx) => {
    handle = await open();
    if (handle === undefined) return ctx.skip();
    const tenant = `members-${randomUUID()}`;
    tenants.push(tenant);
    const groups: Group[] = [
      { id: "g1", displayName: "Eng", members: [{ value: "u-a", type: "User", display: "Ann" }, { value: "g-c", type: "Group" }], deleted: false },
      { id: "g2", displayName: "Sales", members: [{ value: "u-B" }], deleted: false },
      { id: "g3", displayName: "Empty", members: [], deleted: false },
      { id: "g4", displayName: "Gone", members: [{ value: "u-a", type: "User" }], deleted: true },
    ];
    await insertGroups(handle, tenant, groups);
    const live = groups.filter((g) => !g.deleted);
    const cases: [string, string[]][] = [
      ['id eq "g1" and members eq "u-a"', ["g1"]],
      ['id eq "g2" and members eq "u-a"', []],
      ['members[value eq "u-a"]', ["g1"]],
      ['members.value eq "U-A"', []], // members.value is caseExact here (scim-core's Group schema)
      ['members pr', ["g1", "g2"]],
      ['not (members pr)', ["g3"]],
      ['members[type eq "group"]', ["g1"]],
      ['members[display pr]', ["g1"]],
      ['members[not (display pr)]', ["g1", "g2"]],
      ['members[value eq "u-a" and type eq "Group"]', []],
      ['members.value eq "u-a" and members.type eq "Group"', ["g1"]],
    ];
    for (const [text, ids] of cases) {
      const filter = parseFilter(text);
      expect(expected(filter, live), `${text} (reference)`).toEqual({ ids });
      expect(await actual(handle, tenant, filter), text).toEqual({ ids });
    }
  });

  it("selects the same ids for 300 generated filters (6 populations of 5-25 groups, 50 filters each)", async (ctx) => {
    handle ??= await open();
    if (handle === undefined) return ctx.skip();
    const h = handle;
    await fc.assert(
      fc.asyncProperty(populationArb, fc.array(filterArb, { minLength: 50, maxLength: 50 }), async (groups, filters) => {
        const tenant = `members-${randomUUID()}`;
        tenants.push(tenant);
        await insertGroups(h, tenant, groups);
        const live = groups.filter((g) => !g.deleted);
        for (const filter of filters) {
          expect(filterRunsInSql(filter)).toBe(true);
          expect(await actual(h, tenant, filter), printFilter(filter)).toEqual(expected(filter, live));
        }
      }),
      { numRuns: 6, endOnFailure: true },
    );
  }, 120_000);
});

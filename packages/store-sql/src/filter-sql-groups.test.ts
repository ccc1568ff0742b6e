/**
 * The derived User `groups` in SQL (RFC 7643 §4.1.2): for generated users and groups (memberships,
 * groups with and without a displayName, deleted groups, users in no group) and generated filters
 * on `groups`, the users that `filterToSql` selects are exactly those that scim-core's
 * `compileFilter` selects on the user as the server returns it (`groups` as `groupsOf` lists them:
 * `{ value, display, type: "direct" }` of each live group the user is a direct member of, without
 * `$ref`, which `filterRunsInSql` keeps in memory). On SQLite and on PostgreSQL (skipped only when
 * `openTestPostgres` gives undefined, that is locally without a server).
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

const rt = defaultRegistry().getResourceType("User");
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";

interface Group {
  id: string;
  displayName?: string;
  members: string[];
  deleted: boolean;
}
interface User {
  id: string;
  userName: string;
}
interface Population {
  users: User[];
  groups: Group[];
}

// Few users and ids that differ in case only, so that filters match some users and not others.
const userIds = ["u-1", "u-2", "u-3", "u-4", "u-5", "u-6"];
const groupIds = ["g-a", "G-A2", "g-b", "g-%"];
const groupArb = (id: string): fc.Arbitrary<Group> =>
  fc.record({
    id: fc.constant(id),
    displayName: fc.option(fc.constantFrom("Eng", "eng", "Sales", "", "E%"), { nil: undefined }),
    members: fc.subarray(userIds),
    deleted: fc.boolean().map((b) => b && Math.random() < 0.3),
  });
const populationArb: fc.Arbitrary<Population> = fc
  .tuple(...groupIds.map(groupArb))
  .map((groups) => ({ users: userIds.map((id, i) => ({ id, userName: `user${i}` })), groups }));

const literalArb = fc.oneof(fc.constantFrom(...groupIds, "G-A", "g", "direct", "Direct", "indirect", "Eng", "eng", "E%", ""), fc.constant(null), fc.constant(true), fc.constant(3));
const userNameArb: fc.Arbitrary<Filter> = fc.record({ type: fc.constant("compare" as const), op: fc.constantFrom<CompareOperator>("eq", "sw"), path: fc.constant({ attr: "userName" }), value: fc.constantFrom("user1", "USER2", "user") });
const filterArb = membershipFilterArb("groups", literalArb, userNameArb);

async function insertPopulation(h: ScimSqlDatabase, tenant: string, { users, groups }: Population): Promise<void> {
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  await h.db
    .insertInto("scim_resources")
    .values([
      ...users.map((u, i) => ({
        tenant,
        resource_type: "User",
        id: u.id,
        version: 1,
        ...indexedColumns(h.dialect, { userName: u.userName }, []),
        deleted: sqlBool(h.dialect, false),
        created: at(i),
        last_modified: at(i),
        doc: JSON.stringify({ schemas: [USER], userName: u.userName }),
      })),
      ...groups.map((g, i) => ({
        tenant,
        resource_type: "Group",
        id: g.id,
        version: 1,
        ...indexedColumns(h.dialect, g.displayName === undefined ? {} : { displayName: g.displayName }, []),
        deleted: sqlBool(h.dialect, g.deleted),
        created: at(100 + i),
        last_modified: at(100 + i),
        doc: JSON.stringify({ schemas: [GROUP], ...(g.displayName === undefined ? {} : { displayName: g.displayName }) }),
      })),
    ])
    .execute();
  const rows = groups.flatMap((g) => g.members.map((member) => ({ tenant, group_id: g.id, member_id: member, member_type: "User", display: null })));
  if (rows.length > 0) await h.db.insertInto("scim_members").values(rows).execute();
}

/** The user as `compileFilter` sees it on the server: `groups` of its live groups, none when it is in none. */
function viewOf(groups: readonly Group[]) {
  return (u: User): Record<string, unknown> => {
    const refs = groups
      .filter((g) => !g.deleted && g.members.includes(u.id))
      .map((g) => ({ value: g.id, ...(g.displayName === undefined ? {} : { display: g.displayName }), type: "direct" }));
    return { schemas: [USER], id: u.id, userName: u.userName, ...(refs.length > 0 ? { groups: refs } : {}), meta: { resourceType: "User" } };
  };
}

const expected = (filter: Filter, population: Population) => referenceOutcome(filter, rt, population.users, viewOf(population.groups));
const actual = (h: ScimSqlDatabase, tenant: string, filter: Filter) => sqlOutcome(h, tenant, rt, filter);

describe.each(filterTestDatabases)("filterToSql on User.groups agrees with compileFilter on %s", (_name, open) => {
  let handle: ScimSqlDatabase | undefined;
  const tenants: string[] = [];

  afterAll(() => dropTenantsAndClose(handle, tenants));

  it("selects the same users for hand-picked filters", async (ctx) => {
    handle = await open();
    if (handle === undefined) return ctx.skip();
    const tenant = `groups-${randomUUID()}`;
    tenants.push(tenant);
    const population: Population = {
      users: userIds.slice(0, 4).map((id, i) => ({ id, userName: `user${i}` })),
      groups: [
        { id: "g-a", displayName: "Eng", members: ["u-1", "u-2"], deleted: false },
        { id: "g-b", displayName: "Sales", members: ["u-2"], deleted: false },
        { id: "g-%", members: ["u-3"], deleted: false },
        { id: "G-A2", displayName: "Gone", members: ["u-4"], deleted: true },
      ],
    };
    await insertPopulation(handle, tenant, population);
    const cases: [string, string[]][] = [
      ['groups.value eq "g-a"', ["u-1", "u-2"]],
      ['groups.value eq "G-A"', ["u-1", "u-2"]], // groups.value is not caseExact (RFC 7643 §8.7.1)
      ['groups eq "g-b"', ["u-2"]],
      ['groups pr', ["u-1", "u-2", "u-3"]],
      ['not (groups pr)', ["u-4"]], // its only group is deleted
      ['groups.display eq "eng"', ["u-1", "u-2"]],
      ['groups[display pr]', ["u-1", "u-2"]],
      ['groups[not (display pr)]', ["u-3"]],
      ['groups[value eq "g-a" and display eq "Sales"]', []],
      ['groups.value eq "g-a" and groups.display eq "Sales"', ["u-2"]],
      ['groups.type eq "direct"', ["u-1", "u-2", "u-3"]],
      ['userName eq "user0" or groups.value eq "g-%"', ["u-1", "u-3"]],
    ];
    for (const [text, ids] of cases) {
      const filter = parseFilter(text);
      expect(filterRunsInSql(filter), text).toBe(true);
      expect(expected(filter, population), `${text} (reference)`).toEqual({ ids });
      expect(await actual(handle, tenant, filter), text).toEqual({ ids });
    }
  });

  it("selects the same users for 300 generated filters (6 populations, 50 filters each)", async (ctx) => {
    handle ??= await open();
    if (handle === undefined) return ctx.skip();
    const h = handle;
    await fc.assert(
      fc.asyncProperty(populationArb, fc.array(filterArb, { minLength: 50, maxLength: 50 }), async (population, filters) => {
        const tenant = `groups-${randomUUID()}`;
        tenants.push(tenant);
        await insertPopulation(h, tenant, population);
        for (const filter of filters) {
          expect(filterRunsInSql(filter)).toBe(true);
          expect(await actual(h, tenant, filter), printFilter(filter)).toEqual(expected(filter, population));
        }
      }),
      { numRuns: 6, endOnFailure: true },
    );
  }, 120_000);
});

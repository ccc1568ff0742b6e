import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { isScimError } from "../errors/scim-error.js";
import { isForbiddenKey } from "../schema/forbidden-keys.js";
import { applyPatch, type ApplyPatchOptions, type PatchResult } from "./apply-patch.js";

type Obj = Record<string, unknown>;

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const RUNS = Number(process.env.PATCH_PROPERTY_RUNS ?? 300);

// ---- resources ----

const ids = ["u1", "u2", "u3", "U1", "2819c223-7f76-453a-919d-413861904646", "__proto__", "constructor"];
const words = ["a", "Babs", "work", "home", "", " ", "True", "false", "__proto__", "constructor", "prototype", "x@example.com", "ünï", "0"];

const emailArb = fc.record(
  {
    value: fc.constantFrom("bjensen@example.com", "babs@jensen.org", "b@x.example", "B@X.EXAMPLE"),
    type: fc.constantFrom("work", "home", "other", "Work"),
    display: fc.constantFrom(...words),
  },
  { requiredKeys: ["value"] },
);

const userArb: fc.Arbitrary<Obj> = fc
  .record(
    {
      id: fc.constantFrom(...ids),
      externalId: fc.constantFrom(...words),
      userName: fc.constantFrom("bjensen", "jdoe@example.com", "X"),
      name: fc.record({ givenName: fc.constantFrom(...words), familyName: fc.constantFrom(...words), formatted: fc.string() }, { requiredKeys: [] }),
      displayName: fc.string(),
      nickName: fc.constantFrom(...words),
      title: fc.constantFrom(...words),
      active: fc.boolean(),
      emails: fc.array(emailArb, { maxLength: 4 }),
      primary: fc.nat({ max: 5 }),
      meta: fc.constant({ resourceType: "User", created: "2010-01-23T04:56:22Z", lastModified: "2011-05-13T04:42:34Z" }),
      enterprise: fc.record(
        {
          employeeNumber: fc.constantFrom("1", "701984", "__proto__"),
          department: fc.constantFrom(...words),
          manager: fc.record({ value: fc.constantFrom(...ids), $ref: fc.constant("https://example.com/v2/Users/m") }, { requiredKeys: ["value"] }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["id", "userName"] },
  )
  .map(({ primary, enterprise, emails, ...rest }) => {
    const user: Obj = { schemas: [USER], ...rest };
    if (emails !== undefined && emails.length > 0) {
      // At most one primary (RFC 7643 §2.4), as a stored resource has.
      user.emails = emails.map((e, i) => (i === primary ? { ...e, primary: true } : e));
    }
    if (enterprise !== undefined && Object.keys(enterprise).length > 0) {
      user[ENTERPRISE] = enterprise;
      user.schemas = [USER, ENTERPRISE];
    }
    return user;
  });

const groupArb: fc.Arbitrary<Obj> = fc
  .record(
    {
      id: fc.constantFrom(...ids),
      displayName: fc.constantFrom("Engineering", "Tour Guides", "__proto__"),
      members: fc.uniqueArray(
        fc.record({ value: fc.constantFrom(...ids, "u4", "u5"), display: fc.constantFrom(...words) }, { requiredKeys: ["value"] }),
        { maxLength: 5, selector: (m) => m.value },
      ),
    },
    { requiredKeys: ["id", "displayName"] },
  )
  .map((g) => {
    const out: Obj = { schemas: [GROUP], ...g };
    if (g.members !== undefined && g.members.length === 0) delete out.members;
    return out;
  });

// ---- operations, from realistic pools of valid and invalid parts ----

const opNames = ["add", "replace", "remove", "Add", "Replace", "Remove", "REMOVE", "move", "", 5, null, undefined];

const paths = [
  // valid
  "displayName", "userName", "title", "nickName", "active", "name", "name.givenName", "name.familyName",
  "emails", "emails.value", "emails.primary", 'emails[type eq "work"]', 'emails[type eq "work"].value',
  'emails[type eq "home"].primary', 'emails[type eq "work" and value ew "example.com"]', 'emails[value co "@"]',
  'emails[not (type eq "work")].display', "emails[primary eq true]", "members", 'members[value eq "u1"]',
  'members[value eq "u2" or value eq "u3"]', 'members[display sw "B"]', 'members[value eq "u1"].display',
  `${ENTERPRISE}:employeeNumber`, `${ENTERPRISE}:manager`, `${ENTERPRISE}:manager.value`, `${ENTERPRISE}.manager`,
  ENTERPRISE, `${USER}:displayName`, "externalId", "addresses", 'addresses[type eq "work"].locality',
  // read-only / managed
  "id", "meta", "meta.created", "schemas", "groups", USER,
  // unknown
  "unknownAttr", "name.unknownSub", 'emails[type eq "work"].label', "urn:example:ext:1.0:User:badge",
  // malformed
  "emails[", "emails]", 'emails[type eq "work"', "name..givenName", "1abc", "a b", 'emails[type eq "work"].value.x',
  "emails[primary gt true]", 'emails[value.x eq "1"]', 'name[givenName eq "x"]',
  // forbidden names
  "__proto__", "__proto__.polluted", "constructor.prototype", "name.__proto__", `${ENTERPRISE}:constructor`,
  'emails[__proto__ eq "x"]', 'emails[type eq "work"].prototype',
  // absent or not a string
  undefined, null, "", "   ", 7, ["members"],
];

const scalarValues: unknown[] = [
  "x", "", "True", "False", "true", "maybe", true, false, 0, 42, 1.5, null, "2020-01-01T00:00:00Z",
  "__proto__", "constructor", "prototype", "u1", "b@x.example",
];

const objectValues: unknown[] = [
  {}, [], [{}], { value: "" }, { value: "m2" }, { value: "u1", display: "B" }, [{ value: "u1" }], [{ $ref: null, value: "u4" }],
  [{ value: "u2" }, { value: "u9", display: "Nine" }], [{ display: "only display" }], [{ value: "x@y.example", primary: true }],
  [{ value: "a@x.example", primary: true }, { value: "b@x.example", primary: true }], { value: "w@x.example", type: "work", primary: "True" },
  { givenName: "G" }, { givenName: "", familyName: null }, { active: false }, { active: "False", displayName: "D" },
  { id: "other", displayName: "Renamed" }, { "name.givenName": "y", [`${ENTERPRISE}:employeeNumber`]: "z" },
  { [ENTERPRISE]: { manager: "m3", department: "R&D" } }, { members: [{ value: "u5" }] }, { members: [] },
  { schemas: ["urn:bogus"], meta: { created: "x" }, groups: [{ value: "g" }] }, { emails: [{ value: "n@x.example", type: "home" }] },
  { userName: null }, { unknown: { deep: [1, 2, { x: 3 }] } }, [[["nested"]]], { value: { value: "deep" } },
  [null, { value: "u3" }, null], { manager: { value: "" } },
];

const pollutedValues: unknown[] = [
  JSON.parse(`{"__proto__":{"polluted":"yes"}}`),
  JSON.parse(`{"name":{"__proto__":{"polluted":"yes"}}}`),
  JSON.parse(`[{"value":"u1","__proto__":{"polluted":"yes"}}]`),
  JSON.parse(`{"constructor":{"prototype":{"polluted":"yes"}}}`),
  JSON.parse(`{"name.__proto__":"yes"}`),
  JSON.parse(`{"${ENTERPRISE}":{"__proto__":{"polluted":"yes"}}}`),
  JSON.parse(`{"unknown":{"a":[{"prototype":1}]}}`),
];

const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...scalarValues) },
  { weight: 4, arbitrary: fc.constantFrom(...objectValues) },
  { weight: 1, arbitrary: fc.constantFrom(...pollutedValues) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

const operationArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record(
      { op: fc.constantFrom(...opNames), path: fc.constantFrom(...paths), value: valueArb },
      { requiredKeys: ["op"] },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, "add", 5, [], JSON.parse(`{"op":"add","path":"title","value":"x","__proto__":{"polluted":1}}`)) },
);

const operationsArb = fc.array(operationArb, { maxLength: 6 });

/** Operations on a group's members only, to exercise memberChanges densely. */
const memberOperationArb: fc.Arbitrary<unknown> = fc.record({
  op: fc.constantFrom("add", "replace", "remove", "Add", "Remove"),
  path: fc.constantFrom("members", 'members[value eq "u1"]', 'members[value eq "U2" or value eq "u3"]', 'members[display eq "B"]', 'members[value eq "u9"]', undefined),
  value: fc.constantFrom<unknown>(
    [], [{ value: "u1" }], [{ value: "U1", display: "B" }], [{ $ref: null, value: "u4" }], [{ value: "u2" }, { value: "u9" }],
    [{ display: "B" }], [{ value: "u3", type: "User" }], { value: "u5" }, "u2", null, { display: "B" }, { value: "u1", display: "x" },
    { members: [{ value: "u2" }] }, { displayName: "G", members: [] },
  ),
}, { requiredKeys: ["op"] });

const caseArb = fc.oneof(
  fc.record({ resourceType: fc.constant("User" as const), resource: userArb, operations: operationsArb, deferMembers: fc.boolean(), strict: fc.boolean() }),
  fc.record({ resourceType: fc.constant("Group" as const), resource: groupArb, operations: operationsArb, deferMembers: fc.boolean(), strict: fc.boolean() }),
);

// ---- helpers ----

type Outcome = { ok: true; result: PatchResult<Obj> } | { ok: false; error: unknown };

function run(resource: Obj, operations: unknown[], options: ApplyPatchOptions): Outcome {
  try {
    return { ok: true, result: applyPatch(resource, operations, options) };
  } catch (error) {
    return { ok: false, error };
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Obj)[key]);
  }
  return value;
}

/**
 * Deep equality of data that also sees keys whose value is undefined, but not prototypes:
 * fast-check generates some objects with a null prototype, and structuredClone does not keep it.
 */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => sameData((a as Obj)[k], (b as Obj)[k]));
}

function expectSameData(actual: unknown, expected: unknown, what: string): void {
  if (!sameData(actual, expected)) expect(actual, what).toStrictEqual(expected);
}

/** Every object in `value` is a plain object or array with no forbidden own key. */
function assertClean(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    const proto = Object.getPrototypeOf(v);
    expect(proto === Object.prototype || proto === Array.prototype || proto === null).toBe(true);
    for (const key of Object.keys(v)) {
      expect(isForbiddenKey(key), `forbidden key '${key}' in the result`).toBe(false);
      stack.push((v as Obj)[key]);
    }
  }
}

function expectOnlyBadRequest(outcome: Outcome, operations: unknown[]): void {
  if (outcome.ok) return;
  const { error } = outcome;
  if (!isScimError(error)) throw error;
  expect(error.status).toBe(400);
  expect(error.scimType).toBeDefined();
  if (Array.isArray(operations) && operations.length > 0) expect(error.detail).toMatch(/^Operations\[\d+\]: /);
}

const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort();

describe("applyPatch properties", () => {
  it("never mutates its inputs, and throws nothing but a ScimError 400", () => {
    fc.assert(
      fc.property(caseArb, ({ resourceType, resource, operations, deferMembers, strict }) => {
        const resourceBefore = structuredClone(resource);
        const operationsBefore = structuredClone(operations);
        const outcome = run(resource, operations, { resourceType, deferMembers, strict });
        expectSameData(resource, resourceBefore, "the resource was mutated");
        expectSameData(operations, operationsBefore, "the operations were mutated");
        expectOnlyBadRequest(outcome, operations);
        if (outcome.ok) {
          expect(outcome.result.resource).not.toBe(resource);
          assertClean(outcome.result.resource);
        }
        expect(({} as Obj).polluted).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeys);
  });

  it("behaves the same on deep-frozen inputs", () => {
    fc.assert(
      fc.property(caseArb, ({ resourceType, resource, operations, deferMembers, strict }) => {
        const options = { resourceType, deferMembers, strict };
        const plain = run(structuredClone(resource), structuredClone(operations), options);
        const frozenResource = deepFreeze(structuredClone(resource));
        const frozenOperations = deepFreeze(structuredClone(operations));
        const frozen = run(frozenResource, frozenOperations, options);
        expectOnlyBadRequest(frozen, operations);
        expectSameData(frozenResource, resource, "the frozen resource changed");
        expect(frozen.ok).toBe(plain.ok);
        if (frozen.ok && plain.ok) {
          expect(frozen.result).toStrictEqual(plain.result);
        } else if (!frozen.ok && !plain.ok) {
          expect(isScimError(frozen.error) && isScimError(plain.error)).toBe(true);
          expect((frozen.error as Error).message).toBe((plain.error as Error).message);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("an empty Operations array returns an equal resource, unchanged, with no member changes", () => {
    fc.assert(
      fc.property(fc.oneof(userArb.map((r) => ["User", r] as const), groupArb.map((r) => ["Group", r] as const)), fc.boolean(), ([resourceType, resource], deferMembers) => {
        const result = applyPatch(resource, [], { resourceType, deferMembers });
        expectSameData(result.resource, resource, "[] changed the resource");
        expect(result.resource).not.toBe(resource);
        expect(result.changed).toBe(false);
        expect(result.memberChanges).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it("changed: false means the resource is equal to the input", () => {
    fc.assert(
      fc.property(caseArb, ({ resourceType, resource, operations, strict }) => {
        const outcome = run(resource, operations, { resourceType, strict });
        if (outcome.ok && !outcome.result.changed) expectSameData(outcome.result.resource, resource, "changed is false but the resource differs");
      }),
      { numRuns: RUNS },
    );
  });

  it("deferMembers never touches members, and its memberChanges applied as a delta give the same membership", () => {
    fc.assert(
      fc.property(groupArb, fc.array(fc.oneof(memberOperationArb, operationArb), { maxLength: 5 }), (group, operations) => {
        const deferred = run(group, operations, { resourceType: "Group", deferMembers: true });
        if (!deferred.ok) return;
        expectSameData(deferred.result.resource.members, group.members, "deferMembers touched members");
        const applied = run(group, operations, { resourceType: "Group" });
        expect(applied.ok).toBe(true);
        if (!applied.ok) return;
        const { members: _a, ...restDeferred } = deferred.result.resource;
        const { members: _b, ...restApplied } = applied.result.resource;
        expectSameData(restDeferred, restApplied, "deferMembers changed more than members");
        // Member ids are resource ids: case-exact (members.value is caseExact).
        const key = (m: Obj) => String(m.value);
        if (deferred.result.memberChanges.some((c) => c.op === "removeWhere")) return;
        // A store that only sees the deltas ends with the same members as the applied patch.
        let store = ((group.members as Obj[] | undefined) ?? []).map((m) => ({ ...m }));
        for (const change of deferred.result.memberChanges) {
          if (change.op === "replace") store = change.members.map((m) => ({ ...m }));
          else if (change.op === "add") {
            for (const m of change.members) if (!store.some((s) => key(s) === key(m as unknown as Obj))) store.push({ ...m });
          } else if (change.op === "remove") {
            const gone = new Set(change.values);
            store = store.filter((s) => !gone.has(key(s)));
          }
        }
        const appliedMembers = (applied.result.resource.members as Obj[] | undefined) ?? [];
        expect(store.map(key).sort()).toEqual(appliedMembers.map(key).sort());
      }),
      { numRuns: RUNS },
    );
  });

  it("a request with one failing operation fails as a whole", () => {
    fc.assert(
      fc.property(userArb, operationsArb, operationArb, (user, operations, extra) => {
        // Appending an operation that fails makes the whole request fail: nothing is returned.
        const failing = [...operations, { op: "replace", path: "id", value: "x" }, extra];
        const outcome = run(user, failing, { resourceType: "User" });
        expect(outcome.ok).toBe(false);
        expectOnlyBadRequest(outcome, failing);
      }),
      { numRuns: 100 },
    );
  });
});

/**
 * Realistic SCIM PATCH requests (Okta, Microsoft Entra ID default and `aadOptscim062020`
 * compliant styles, RFC 7644 §3.5.2 examples), each with the resource it applies to and the
 * expected result, written by hand from the RFC 7644 semantics as an edit of the input.
 *
 * Results are compared after normalisation: `meta.lastModified` and `meta.version` are ignored
 * (a library may or may not bump them), and null, [] and {} are treated as unassigned
 * (RFC 7643 §2.5), so "members": [] equals no "members".
 */
import type { PatchOperation } from "./peers.js";

export const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";

const BABS = "2819c223-7f76-453a-919d-413861904646";
const MANDY = "902c246b-6245-4190-8e05-00816be7344a";
const JAMES = "08e1d05d-121c-4561-8b96-473d93df9210";
const MANAGER = "26118915-6090-4610-87e4-49d8ca9f808d";
const ref = (id: string) => `https://example.com/v2/Users/${id}`;

export const BASE_USER = {
  schemas: [USER_SCHEMA, ENT],
  id: BABS,
  externalId: "bjensen",
  userName: "bjensen@example.com",
  name: { formatted: "Ms. Barbara J Jensen, III", familyName: "Jensen", givenName: "Barbara" },
  displayName: "Babs Jensen",
  title: "Tour Guide",
  userType: "Employee",
  active: true,
  emails: [
    { value: "bjensen@example.com", type: "work", primary: true },
    { value: "babs.j@example.org", type: "other" },
  ],
  phoneNumbers: [{ value: "555-555-8377", type: "work" }],
  addresses: [
    {
      type: "work", streetAddress: "100 Universal City Plaza", locality: "Hollywood", region: "CA", postalCode: "91608",
      country: "USA", formatted: "100 Universal City Plaza\nHollywood, CA 91608 USA", primary: true,
    },
    { type: "home", streetAddress: "456 Hollywood Blvd", locality: "Hollywood", region: "CA", postalCode: "91608", country: "USA" },
  ],
  meta: {
    resourceType: "User", created: "2010-01-23T04:56:22Z", lastModified: "2011-05-13T04:42:34Z",
    version: 'W/"3694e05e9dff591"', location: ref(BABS),
  },
  [ENT]: { employeeNumber: "701984", department: "Tour Operations", manager: { value: MANAGER } },
};

export const BASE_GROUP = {
  schemas: [GROUP_SCHEMA],
  id: "e9e30dba-f08f-4109-8486-d5c6a331660a",
  displayName: "Tour Guides",
  members: [
    { value: BABS, display: "Babs Jensen", $ref: ref(BABS) },
    { value: MANDY, display: "Mandy Pepperidge", $ref: ref(MANDY) },
  ],
  meta: {
    resourceType: "Group", created: "2010-01-23T04:56:22Z", lastModified: "2011-05-13T04:42:34Z",
    version: 'W/"3694e05e9dff592"', location: "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
  },
};

type Res = Record<string, any>;

export interface PatchCase {
  id: string;
  source: string;
  resourceType: "User" | "Group";
  /** The resource before the request. */
  input: Res;
  operations: PatchOperation[];
  /** Edits `r` (a deep copy of the input) into the expected result. */
  expect: (r: Res) => void;
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));
const user = (edit?: (u: Res) => void): Res => {
  const u = clone(BASE_USER) as Res;
  edit?.(u);
  return u;
};
const group = (): Res => clone(BASE_GROUP);

export const PATCHES: PatchCase[] = [
  // --- Okta ---------------------------------------------------------------------------------
  {
    id: "okta-deactivate", source: "Okta", resourceType: "User", input: user(),
    operations: [{ op: "replace", value: { active: false } }],
    expect: (r) => { r.active = false; },
  },
  {
    id: "okta-group-rename", source: "Okta", resourceType: "Group", input: group(),
    operations: [{ op: "replace", value: { id: BASE_GROUP.id, displayName: "Tour Guides EMEA" } }],
    expect: (r) => { r.displayName = "Tour Guides EMEA"; },
  },
  {
    id: "okta-add-members", source: "Okta", resourceType: "Group", input: group(),
    operations: [{ op: "add", path: "members", value: [{ value: JAMES, display: "jsmith@example.com" }, { value: "6c5bb468-14b2-4183-baf2-06d523e03bd3", display: "mpepper@example.com" }] }],
    expect: (r) => {
      r.members.push({ value: JAMES, display: "jsmith@example.com" }, { value: "6c5bb468-14b2-4183-baf2-06d523e03bd3", display: "mpepper@example.com" });
    },
  },
  {
    id: "okta-remove-member-filter", source: "Okta", resourceType: "Group", input: group(),
    operations: [{ op: "remove", path: `members[value eq "${MANDY}"]` }],
    expect: (r) => { r.members = r.members.filter((m: Res) => m.value !== MANDY); },
  },
  {
    id: "okta-replace-members-empty", source: "Okta", resourceType: "Group", input: group(),
    operations: [{ op: "replace", path: "members", value: [] }],
    expect: (r) => { delete r.members; },
  },
  {
    id: "okta-replace-members-list", source: "Okta", resourceType: "Group", input: group(),
    operations: [{ op: "replace", path: "members", value: [{ value: JAMES, display: "jsmith@example.com" }] }],
    expect: (r) => { r.members = [{ value: JAMES, display: "jsmith@example.com" }]; },
  },

  // --- Microsoft Entra ID, default style ----------------------------------------------------
  {
    id: "entra-disable-string-bool", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Replace", path: "active", value: "False" }],
    expect: (r) => { r.active = false; },
  },
  {
    id: "entra-enable-string-bool", source: "Entra", resourceType: "User", input: user((u) => (u.active = false)),
    operations: [{ op: "Replace", path: "active", value: "True" }],
    expect: (r) => { r.active = true; },
  },
  {
    id: "entra-multi-attribute", source: "Entra", resourceType: "User", input: user(),
    operations: [
      { op: "Replace", path: "displayName", value: "Barbara Jensen" },
      { op: "Replace", path: "name.givenName", value: "Babs" },
      { op: "Replace", path: "title", value: "Senior Tour Guide" },
      { op: "Add", path: "nickName", value: "Babs" },
    ],
    expect: (r) => {
      r.displayName = "Barbara Jensen";
      r.name.givenName = "Babs";
      r.title = "Senior Tour Guide";
      r.nickName = "Babs";
    },
  },
  {
    id: "entra-add-work-email-missing", source: "Entra", resourceType: "User",
    input: user((u) => (u.emails = [{ value: "babs.j@example.org", type: "other" }])),
    operations: [{ op: "Add", path: 'emails[type eq "work"].value', value: "barbara.jensen@example.com" }],
    expect: (r) => { r.emails.push({ type: "work", value: "barbara.jensen@example.com" }); },
  },
  {
    id: "entra-add-work-email-present", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Add", path: 'emails[type eq "work"].value', value: "barbara.jensen@example.com" }],
    expect: (r) => { r.emails[0].value = "barbara.jensen@example.com"; },
  },
  {
    id: "entra-replace-work-email", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Replace", path: 'emails[type eq "work"].value', value: "babs@example.com" }],
    expect: (r) => { r.emails[0].value = "babs@example.com"; },
  },
  {
    id: "entra-add-mobile-missing", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Add", path: 'phoneNumbers[type eq "mobile"].value', value: "+1 555 0101" }],
    expect: (r) => { r.phoneNumbers.push({ type: "mobile", value: "+1 555 0101" }); },
  },
  {
    id: "entra-employeeNumber-add-missing", source: "Entra", resourceType: "User", input: user((u) => delete u[ENT]),
    operations: [{ op: "Add", path: `${ENT}:employeeNumber`, value: "123456" }],
    expect: (r) => { r[ENT] = { employeeNumber: "123456" }; },
  },
  {
    id: "entra-employeeNumber-replace", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Replace", path: `${ENT}:employeeNumber`, value: "701985" }],
    expect: (r) => { r[ENT].employeeNumber = "701985"; },
  },
  {
    id: "entra-manager-bare-string", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Add", path: `${ENT}:manager`, value: "45f7c0ff-9b8c-4d7e-8a6b-5c4d3e2f1a0b" }],
    expect: (r) => { r[ENT].manager = { value: "45f7c0ff-9b8c-4d7e-8a6b-5c4d3e2f1a0b" }; },
  },
  {
    id: "entra-manager-clear", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Replace", path: `${ENT}:manager`, value: { value: "" } }],
    expect: (r) => { delete r[ENT].manager; },
  },
  {
    id: "entra-remove-member-by-value", source: "Entra", resourceType: "Group", input: group(),
    operations: [{ op: "Remove", path: "members", value: [{ value: MANDY }] }],
    expect: (r) => { r.members = r.members.filter((m: Res) => m.value !== MANDY); },
  },
  {
    id: "entra-add-member", source: "Entra", resourceType: "Group", input: group(),
    operations: [{ op: "Add", path: "members", value: [{ value: JAMES }] }],
    expect: (r) => { r.members.push({ value: JAMES }); },
  },
  {
    id: "entra-remove-title", source: "Entra", resourceType: "User", input: user(),
    operations: [{ op: "Remove", path: "title" }],
    expect: (r) => { delete r.title; },
  },

  // --- Microsoft Entra ID, compliant style (aadOptscim062020) --------------------------------
  {
    id: "entra-compliant-pathless-dotted", source: "Entra compliant", resourceType: "User", input: user(),
    operations: [{
      op: "replace",
      value: { "name.givenName": "Barbara", "name.familyName": "Jensen-Smith", displayName: "Barbara Jensen-Smith", [`${ENT}:department`]: "Tour Management", active: false },
    }],
    expect: (r) => {
      r.name.familyName = "Jensen-Smith";
      r.displayName = "Barbara Jensen-Smith";
      r[ENT].department = "Tour Management";
      r.active = false;
    },
  },
  {
    id: "entra-compliant-remove-member", source: "Entra compliant", resourceType: "Group", input: group(),
    operations: [{ op: "remove", path: `members[value eq "${BABS}"]` }],
    expect: (r) => { r.members = r.members.filter((m: Res) => m.value !== BABS); },
  },

  // --- RFC 7644 §3.5.2 examples --------------------------------------------------------------
  {
    id: "rfc-add-member", source: "RFC 7644 §3.5.2.1", resourceType: "Group", input: group(),
    operations: [{ op: "add", path: "members", value: [{ display: "James Smith", $ref: ref(JAMES), value: JAMES }] }],
    expect: (r) => { r.members.push({ display: "James Smith", $ref: ref(JAMES), value: JAMES }); },
  },
  {
    id: "rfc-add-emails-pathless", source: "RFC 7644 §3.5.2.1", resourceType: "User", input: user(),
    operations: [{ op: "add", value: { emails: [{ value: "babs@jensen.org", type: "home" }], nickname: "Babs" } }],
    expect: (r) => {
      r.emails.push({ value: "babs@jensen.org", type: "home" });
      r.nickName = "Babs";
    },
  },
  {
    id: "rfc-remove-member-filter", source: "RFC 7644 §3.5.2.2", resourceType: "Group", input: group(),
    operations: [{ op: "remove", path: `members[value eq "${BABS}"]` }],
    expect: (r) => { r.members = r.members.filter((m: Res) => m.value !== BABS); },
  },
  {
    id: "rfc-remove-all-members", source: "RFC 7644 §3.5.2.2", resourceType: "Group", input: group(),
    operations: [{ op: "remove", path: "members" }],
    expect: (r) => { delete r.members; },
  },
  {
    id: "rfc-remove-work-email-filter", source: "RFC 7644 §3.5.2.2", resourceType: "User", input: user(),
    operations: [{ op: "remove", path: 'emails[type eq "work" and value ew "example.com"]' }],
    expect: (r) => { r.emails = r.emails.filter((e: Res) => e.type !== "work"); },
  },
  {
    id: "rfc-remove-all-then-add", source: "RFC 7644 §3.5.2.2", resourceType: "Group", input: group(),
    operations: [
      { op: "remove", path: "members" },
      { op: "add", path: "members", value: [{ display: "James Smith", $ref: ref(JAMES), value: JAMES }] },
    ],
    expect: (r) => { r.members = [{ display: "James Smith", $ref: ref(JAMES), value: JAMES }]; },
  },
  {
    id: "rfc-replace-members", source: "RFC 7644 §3.5.2.3", resourceType: "Group", input: group(),
    operations: [{
      op: "replace", path: "members",
      value: [{ display: "Babs Jensen", $ref: ref(BABS), value: BABS }, { display: "James Smith", $ref: ref(JAMES), value: JAMES }],
    }],
    expect: (r) => {
      r.members = [{ display: "Babs Jensen", $ref: ref(BABS), value: BABS }, { display: "James Smith", $ref: ref(JAMES), value: JAMES }];
    },
  },
  {
    id: "rfc-replace-work-address", source: "RFC 7644 §3.5.2.3", resourceType: "User", input: user(),
    operations: [{
      op: "replace", path: 'addresses[type eq "work"]',
      value: {
        type: "work", streetAddress: "911 Universal City Plaza", locality: "Hollywood", region: "CA", postalCode: "91608",
        country: "US", formatted: "911 Universal City Plaza\nHollywood, CA 91608 US", primary: true,
      },
    }],
    expect: (r) => {
      r.addresses[0] = {
        type: "work", streetAddress: "911 Universal City Plaza", locality: "Hollywood", region: "CA", postalCode: "91608",
        country: "US", formatted: "911 Universal City Plaza\nHollywood, CA 91608 US", primary: true,
      };
    },
  },
  {
    id: "rfc-replace-street-address", source: "RFC 7644 §3.5.2.3", resourceType: "User", input: user(),
    operations: [{ op: "replace", path: 'addresses[type eq "work"].streetAddress', value: "1010 Broadway Ave" }],
    expect: (r) => { r.addresses[0].streetAddress = "1010 Broadway Ave"; },
  },
  {
    id: "rfc-replace-pathless-emails", source: "RFC 7644 §3.5.2.3", resourceType: "User", input: user(),
    operations: [{ op: "replace", value: { emails: [{ value: "bjensen@example.com", type: "work", primary: true }], nickName: "Babs" } }],
    expect: (r) => {
      r.emails = [{ value: "bjensen@example.com", type: "work", primary: true }];
      r.nickName = "Babs";
    },
  },
];

/** The expected result of a case. */
export function expectedResult(c: PatchCase): Res {
  const r = clone(c.input);
  c.expect(r);
  return r;
}

/** Normalises a resource for comparison (see the module comment). */
export function normalise(x: unknown): unknown {
  if (Array.isArray(x)) {
    const a = x.map(normalise).filter((v) => v !== undefined);
    return a.length ? a : undefined;
  }
  if (x !== null && typeof x === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) {
      const n = normalise(v);
      if (n !== undefined) o[k] = n;
    }
    if ("resourceType" in o && typeof o.created === "string") {
      delete o.lastModified;
      delete o.version;
    }
    return Object.keys(o).length ? o : undefined;
  }
  return x === null ? undefined : x;
}

/** The first path where two JSON values differ, with both values (for reports). */
export function firstDiff(a: unknown, b: unknown, path = ""): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length)
      return `${path || "/"}: ${b.length} elements, expected ${a.length}`;
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) {
      const d = firstDiff((a as any)[k], (b as any)[k], `${path}/${k}`);
      if (d) return d;
    }
    return null;
  }
  return `${path || "/"}: got ${JSON.stringify(b)?.slice(0, 80)}, expected ${JSON.stringify(a)?.slice(0, 80)}`;
}

import { describe, it, expect } from "vitest";
import { isScimError, type ScimError, type ScimErrorType } from "../errors/scim-error.js";
import { parsePatchRequest } from "../messages/patch-request.js";
import { createSchemaRegistry } from "../schema/registry.js";
import { validateResource } from "../schema/validate.js";
import { applyPatch, type ApplyPatchOptions, type PatchResult } from "./apply-patch.js";

type Obj = Record<string, unknown>;

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// ---- fixtures ----

/** Babs Jensen, as in RFC 7643 §8.2 (trimmed to what the examples touch). */
function bjensen(): Obj {
  return {
    schemas: [USER],
    id: "2819c223-7f76-453a-919d-413861904646",
    externalId: "bjensen",
    meta: {
      resourceType: "User",
      created: "2010-01-23T04:56:22Z",
      lastModified: "2011-05-13T04:42:34Z",
      version: 'W/"a330bc54f0671c9"',
      location: "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
    },
    userName: "bjensen",
    name: { formatted: "Ms. Barbara J Jensen, III", familyName: "Jensen", givenName: "Barbara" },
    displayName: "Babs Jensen",
    nickName: "Babs",
    emails: [
      { value: "bjensen@example.com", type: "work", primary: true },
      { value: "babs@jensen.org", type: "home" },
    ],
    addresses: [
      {
        type: "work",
        streetAddress: "100 Universal City Plaza",
        locality: "Hollywood",
        region: "CA",
        postalCode: "91608",
        country: "USA",
        formatted: "100 Universal City Plaza\nHollywood, CA 91608 USA",
        primary: true,
      },
      {
        type: "home",
        streetAddress: "456 Hollywood Blvd",
        locality: "Hollywood",
        region: "CA",
        postalCode: "91608",
        country: "USA",
        formatted: "456 Hollywood Blvd\nHollywood, CA 91608 USA",
      },
    ],
    active: true,
  };
}

/** A user as Okta or Entra create it, with the enterprise extension and a manager. */
function enterpriseUser(): Obj {
  return {
    schemas: [USER, ENTERPRISE],
    id: "u-1",
    userName: "jdoe@example.com",
    name: { givenName: "John", familyName: "Doe" },
    emails: [{ value: "jdoe@example.com", type: "work", primary: true }],
    active: true,
    [ENTERPRISE]: { employeeNumber: "701984", department: "Tour Operations", manager: { value: "m-1" } },
  };
}

const BABS_ID = "2819c223-7f76-453a-919d-413861904646";
const JAMES_ID = "08e1d05d-121c-4561-8b96-473d93df9210";

/** The group of RFC 7644 §3.5.2 (`acbf3ae7-...`), with Babs and a third member. */
function tourGuides(): Obj {
  return {
    schemas: [GROUP],
    id: "acbf3ae7-8463-4692-b4fd-9b4da3f908ce",
    displayName: "Tour Guides",
    members: [
      { value: BABS_ID, $ref: `https://example.com/v2/Users/${BABS_ID}`, display: "Babs Jensen" },
      { value: "902c246b-6245-4190-8e05-00816be7344a", display: "Mandy Pepperidge" },
    ],
  };
}

function group(memberIds: string[]): Obj {
  return { schemas: [GROUP], id: "g-1", displayName: "Engineering", members: memberIds.map((value) => ({ value })) };
}

// ---- helpers ----

function patchUser(resource: Obj, operations: unknown[], options: Partial<ApplyPatchOptions> = {}): PatchResult<Obj> {
  return applyPatch(resource, operations, { resourceType: "User", ...options });
}

function patchGroup(resource: Obj, operations: unknown[], options: Partial<ApplyPatchOptions> = {}): PatchResult<Obj> {
  return applyPatch(resource, operations, { resourceType: "Group", ...options });
}

/** Applies a full PatchOp body, as the server does: parsePatchRequest, then applyPatch. */
function patchBody(resource: Obj, body: string, options: ApplyPatchOptions): PatchResult<Obj> {
  return applyPatch(resource, parsePatchRequest(JSON.parse(body)), options);
}

/** Runs `fn`, expecting a ScimError 400 of the given type; returns it. */
function expectScimError(fn: () => unknown, scimType: ScimErrorType, index?: number): ScimError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, "expected a ScimError to be thrown").toBeDefined();
  if (!isScimError(thrown)) throw thrown;
  expect(thrown.status).toBe(400);
  expect(thrown.scimType).toBe(scimType);
  if (index !== undefined) expect(thrown.detail).toMatch(new RegExp(`^Operations\\[${index}\\]: `));
  return thrown;
}

function memberValues(resource: Obj): unknown[] {
  return ((resource.members as Obj[] | undefined) ?? []).map((m) => m.value);
}

// ---- RFC 7644 §3.5.2.1 Add ----

describe("RFC 7644 §3.5.2.1 add examples", () => {
  it("adds a member to a group", () => {
    const before = tourGuides();
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations":[
       {
        "op":"add",
        "path":"members",
        "value":[
         {
           "display": "James Smith",
           "$ref":
   "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473d93df9210",
           "value": "08e1d05d-121c-4561-8b96-473d93df9210"
         }
        ]
       }
     ]
   }`;
    const { resource, changed, memberChanges } = patchBody(before, body, { resourceType: "Group" });
    expect(changed).toBe(true);
    expect(resource.members).toEqual([
      ...(tourGuides().members as Obj[]),
      { display: "James Smith", $ref: `https://example.com/v2/Users/${JAMES_ID}`, value: JAMES_ID },
    ]);
    expect(memberChanges).toEqual([
      { op: "add", members: [{ display: "James Smith", $ref: `https://example.com/v2/Users/${JAMES_ID}`, value: JAMES_ID }] },
    ]);
    expect(before).toEqual(tourGuides());
  });

  it("the RFC's own member example (as printed, with '...' in $ref) adds Babs once, without a duplicate", () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations":[
       {
        "op":"add",
        "path":"members",
        "value":[
         {
           "display": "Babs Jensen",
           "$ref":
   "https://example.com/v2/Users/2819c223...413861904646",
           "value": "2819c223-7f76-453a-919d-413861904646"
         }
        ]
       }
     ]
   }`;
    const empty = group([]);
    const added = patchBody(empty, body, { resourceType: "Group" }).resource;
    expect(added.members).toEqual([
      { display: "Babs Jensen", $ref: "https://example.com/v2/Users/2819c223...413861904646", value: BABS_ID },
    ]);
    // Babs is already a member of Tour Guides: "no duplicate", the list keeps one Babs.
    const again = patchBody(tourGuides(), body, { resourceType: "Group" }).resource;
    expect(memberValues(again).filter((v) => v === BABS_ID)).toHaveLength(1);
    expect(memberValues(again)).toHaveLength(2);
  });

  it("adds emails and a nickname without a path (the RFC spells it 'nickname')", () => {
    // RFC 7644 §3.5.2.1 prints this body without the closing brace of "value"; restored here.
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations":[{
       "op":"add",
       "value":{
         "emails":[
           {
             "value":"babs@jensen.org",
             "type":"home"
           }
         ],
         "nickname":"Babs"
       }
     }]
   }`;
    const user = bjensen();
    delete user.nickName;
    user.emails = [{ value: "bjensen@example.com", type: "work", primary: true }];
    const { resource, changed } = patchBody(user, body, { resourceType: "User" });
    expect(changed).toBe(true);
    expect(resource.nickName).toBe("Babs");
    expect(resource).not.toHaveProperty("nickname");
    expect(resource.emails).toEqual([
      { value: "bjensen@example.com", type: "work", primary: true },
      { value: "babs@jensen.org", type: "home" },
    ]);
  });

  it("adding an email that is already there does not duplicate it (and changes nothing)", () => {
    const { resource, changed } = patchUser(bjensen(), [
      { op: "add", value: { emails: [{ value: "babs@jensen.org", type: "home" }], nickname: "Babs" } },
    ]);
    expect(resource.emails).toEqual(bjensen().emails);
    expect(changed).toBe(false);
  });

  it("a new primary: true clears the old primary", () => {
    const { resource } = patchUser(bjensen(), [
      { op: "add", path: "emails", value: [{ value: "barbara@new.example", type: "other", primary: true }] },
    ]);
    expect(resource.emails).toEqual([
      { value: "bjensen@example.com", type: "work", primary: false },
      { value: "babs@jensen.org", type: "home" },
      { value: "barbara@new.example", type: "other", primary: true },
    ]);
  });

  it("setting primary on an existing element through a filter clears the old one", () => {
    const { resource } = patchUser(bjensen(), [{ op: "replace", path: 'emails[type eq "home"].primary', value: "True" }]);
    expect(resource.emails).toEqual([
      { value: "bjensen@example.com", type: "work", primary: false },
      { value: "babs@jensen.org", type: "home", primary: true },
    ]);
  });

  it("adds a single-valued attribute and a sub-attribute", () => {
    const { resource } = patchUser(bjensen(), [
      { op: "add", path: "title", value: "Tour Guide" },
      { op: "add", path: "name.middleName", value: "Jane" },
    ]);
    expect(resource.title).toBe("Tour Guide");
    expect(resource.name).toEqual({ formatted: "Ms. Barbara J Jensen, III", familyName: "Jensen", givenName: "Barbara", middleName: "Jane" });
  });

  it("add on a complex attribute merges its sub-attributes", () => {
    const { resource } = patchUser(bjensen(), [{ op: "add", path: "name", value: { honorificPrefix: "Ms." } }]);
    expect(resource.name).toEqual({ formatted: "Ms. Barbara J Jensen, III", familyName: "Jensen", givenName: "Barbara", honorificPrefix: "Ms." });
  });
});

// ---- RFC 7644 §3.5.2.2 Remove ----

describe("RFC 7644 §3.5.2.2 remove examples", () => {
  it('removes a single member: members[value eq "2819c223-7f76-...413861904646"]', () => {
    // The RFC abbreviates the id inside the filter; a member with that literal value is removed.
    const before: Obj = {
      ...tourGuides(),
      members: [{ value: "2819c223-7f76-...413861904646", display: "Babs Jensen" }, { value: JAMES_ID, display: "James Smith" }],
    };
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations":[{
       "op":"remove",
       "path":"members[value eq \\"2819c223-7f76-...413861904646\\"]"
     }]
   }`;
    const { resource, changed, memberChanges } = patchBody(before, body, { resourceType: "Group" });
    expect(changed).toBe(true);
    expect(resource.members).toEqual([{ value: JAMES_ID, display: "James Smith" }]);
    expect(memberChanges).toEqual([{ op: "remove", values: ["2819c223-7f76-...413861904646"] }]);
  });

  it("removing a member that is not in the group changes nothing and is not an error", () => {
    const { resource, changed } = patchGroup(tourGuides(), [{ op: "remove", path: `members[value eq "${JAMES_ID}"]` }]);
    expect(changed).toBe(false);
    expect(resource).toEqual(tourGuides());
  });

  it("removes all members of a group", () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations":[{
       "op":"remove","path":"members"
     }]
   }`;
    const { resource, changed, memberChanges } = patchBody(tourGuides(), body, { resourceType: "Group" });
    expect(changed).toBe(true);
    expect(resource).not.toHaveProperty("members");
    expect(resource.displayName).toBe("Tour Guides");
    expect(memberChanges).toEqual([{ op: "replace", members: [] }]);
  });

  it('removes emails[type eq "work" and value ew "example.com"]', () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [{
       "op":"remove",
       "path":"emails[type eq \\"work\\" and value ew \\"example.com\\"]"
     }]
   }`;
    const { resource } = patchBody(bjensen(), body, { resourceType: "User" });
    expect(resource.emails).toEqual([{ value: "babs@jensen.org", type: "home" }]);
  });

  it("the same filter leaves a work email of another domain alone", () => {
    const user = { ...bjensen(), emails: [{ value: "babs@jensen.org", type: "work" }] };
    const { resource, changed } = patchUser(user, [{ op: "remove", path: 'emails[type eq "work" and value ew "example.com"]' }]);
    expect(changed).toBe(false);
    expect(resource.emails).toEqual([{ value: "babs@jensen.org", type: "work" }]);
  });

  it("removes all members and adds new ones in one request", () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [
       {
         "op":"remove","path":"members"
       },
       {
         "op":"add",
         "path":"members",
         "value":[
         {
           "display": "Babs Jensen",
           "$ref":
   "https://example.com/v2/Users/2819c223...413861904646",
           "value": "2819c223-7f76-453a-919d-413861904646"
         },
         {
           "display": "James Smith",
           "$ref":
   "https://example.com/v2/Users/08e1d05d...473d93df9210",
           "value": "08e1d05d-121c-4561-8b96-473d93df9210"
         }]
       }
     ]
   }`;
    const { resource, memberChanges } = patchBody(tourGuides(), body, { resourceType: "Group" });
    const newMembers = [
      { display: "Babs Jensen", $ref: "https://example.com/v2/Users/2819c223...413861904646", value: BABS_ID },
      { display: "James Smith", $ref: "https://example.com/v2/Users/08e1d05d...473d93df9210", value: JAMES_ID },
    ];
    expect(resource.members).toEqual(newMembers);
    expect(memberChanges).toEqual([
      { op: "replace", members: [] },
      { op: "add", members: newMembers },
    ]);
  });

  it("removes a sub-attribute and an extension attribute", () => {
    const { resource } = patchUser(enterpriseUser(), [
      { op: "remove", path: "name.givenName" },
      { op: "remove", path: `${ENTERPRISE}:department` },
    ]);
    expect(resource.name).toEqual({ familyName: "Doe" });
    expect(resource[ENTERPRISE]).toEqual({ employeeNumber: "701984", manager: { value: "m-1" } });
  });

  it("removing the last attribute of an extension drops the extension and its schema URN", () => {
    const user = { ...enterpriseUser(), [ENTERPRISE]: { employeeNumber: "1" } };
    const { resource } = patchUser(user, [{ op: "remove", path: `${ENTERPRISE}:employeeNumber` }]);
    expect(resource).not.toHaveProperty(ENTERPRISE);
    expect(resource.schemas).toEqual([USER]);
  });

  it("removes a whole extension by its URN", () => {
    const { resource } = patchUser(enterpriseUser(), [{ op: "remove", path: ENTERPRISE }]);
    expect(resource).not.toHaveProperty(ENTERPRISE);
    expect(resource.schemas).toEqual([USER]);
  });
});

// ---- RFC 7644 §3.5.2.3 Replace ----

describe("RFC 7644 §3.5.2.3 replace examples", () => {
  it("replaces all members of a group", () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [{
       "op":"replace",
       "path":"members",
       "value":[
         {
           "display": "Babs Jensen",
           "$ref":
   "https://example.com/v2/Users/2819c223...413861904646",
           "value": "2819c223...413861904646"
         },
         {
           "display": "James Smith",
           "$ref":
   "https://example.com/v2/Users/08e1d05d...473d93df9210",
           "value": "08e1d05d...473d93df9210"
         }
       ]
     }]
   }`;
    const members = [
      { display: "Babs Jensen", $ref: "https://example.com/v2/Users/2819c223...413861904646", value: "2819c223...413861904646" },
      { display: "James Smith", $ref: "https://example.com/v2/Users/08e1d05d...473d93df9210", value: "08e1d05d...473d93df9210" },
    ];
    const { resource, changed, memberChanges } = patchBody(tourGuides(), body, { resourceType: "Group" });
    expect(changed).toBe(true);
    expect(resource.members).toEqual(members);
    expect(memberChanges).toEqual([{ op: "replace", members }]);
  });

  it('replaces the addresses[type eq "work"] element', () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [{
       "op":"replace",
       "path":"addresses[type eq \\"work\\"]",
       "value":
       {
         "type": "work",
         "streetAddress": "911 Universal City Plaza",
         "locality": "Hollywood",
         "region": "CA",
         "postalCode": "91608",
         "country": "US",
         "formatted":
   "911 Universal City Plaza\\nHollywood, CA 91608 US",
         "primary": true
       }
     }]
   }`;
    const { resource } = patchBody(bjensen(), body, { resourceType: "User" });
    const addresses = bjensen().addresses as Obj[];
    expect(resource.addresses).toEqual([
      {
        type: "work",
        streetAddress: "911 Universal City Plaza",
        locality: "Hollywood",
        region: "CA",
        postalCode: "91608",
        country: "US",
        formatted: "911 Universal City Plaza\nHollywood, CA 91608 US",
        primary: true,
      },
      addresses[1],
    ]);
  });

  it("replacing through a value filter changes the sub-attributes given and leaves the others (RFC 7644 §3.5.2.3)", () => {
    const before = (bjensen().addresses as Obj[])[1]!;
    const { resource } = patchUser(bjensen(), [{ op: "replace", path: 'addresses[type eq "home"]', value: { type: "home", locality: "Burbank" } }]);
    expect((resource.addresses as Obj[])[1]).toEqual({ ...before, locality: "Burbank" });
    expect((resource.addresses as Obj[])[0]).toEqual((bjensen().addresses as Obj[])[0]);
  });

  it("a replace or add through a value filter of only primary (or type) moves primary and loses no element", () => {
    const [work, home] = bjensen().emails as Obj[];
    for (const op of ["replace", "add"]) {
      const moved = patchUser(bjensen(), [{ op, path: 'emails[type eq "home"]', value: { primary: true } }]);
      expect(moved.changed, op).toBe(true);
      expect(moved.resource.emails, op).toEqual([{ ...work, primary: false }, { ...home, primary: true }]);
      const cleared = patchUser(bjensen(), [{ op, path: 'emails[type eq "work"]', value: { primary: false } }]);
      expect(cleared.resource.emails, op).toEqual([{ ...work, primary: false }, home]);
      const retyped = patchUser(bjensen(), [{ op, path: 'emails[type eq "home"]', value: { type: "other" } }]);
      expect(retyped.resource.emails, op).toEqual([work, { ...home, type: "other" }]);
    }
    // A value without anything usable changes nothing (it used to delete the element on replace).
    const nothing = patchUser(bjensen(), [{ op: "replace", path: 'emails[type eq "home"]', value: { unknownThing: 1 } }]);
    expect(nothing.resource.emails).toEqual([work, home]);
  });

  it('replaces addresses[type eq "work"].streetAddress', () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [{
       "op":"replace",
       "path":"addresses[type eq \\"work\\"].streetAddress",
       "value":"1010 Broadway Ave"
     }]
   }`;
    const { resource } = patchBody(bjensen(), body, { resourceType: "User" });
    const addresses = bjensen().addresses as Obj[];
    expect(resource.addresses).toEqual([{ ...addresses[0], streetAddress: "1010 Broadway Ave" }, addresses[1]]);
  });

  it("replaces emails and nickname without a path", () => {
    const body = `{ "schemas":
       ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [{
       "op":"replace",
       "value":{
         "emails":[
           {
             "value":"bjensen@example.com",
             "type":"work",
             "primary":true
           },
           {
             "value":"babs@jensen.org",
             "type":"home"
           }
         ],
         "nickname":"Babs"
       }
     }]
   }`;
    const user = { ...bjensen(), nickName: "Barb", emails: [{ value: "old@example.com", type: "other" }] };
    const { resource, changed } = patchBody(user, body, { resourceType: "User" });
    expect(changed).toBe(true);
    expect(resource.nickName).toBe("Babs");
    // A replace of a multi-valued attribute replaces the whole list.
    expect(resource.emails).toEqual([
      { value: "bjensen@example.com", type: "work", primary: true },
      { value: "babs@jensen.org", type: "home" },
    ]);
  });

  it("replace on a complex attribute leaves the sub-attributes it does not name unchanged", () => {
    const { resource } = patchUser(bjensen(), [{ op: "replace", path: "name", value: { givenName: "Barb" } }]);
    expect(resource.name).toEqual({ formatted: "Ms. Barbara J Jensen, III", familyName: "Jensen", givenName: "Barb" });
  });

  it('replace on a complex attribute with a sub-attribute set to "" or null unassigns only that one', () => {
    const blank = patchUser(bjensen(), [{ op: "replace", path: "name", value: { givenName: "" } }]).resource;
    expect(blank.name).toEqual({ formatted: "Ms. Barbara J Jensen, III", familyName: "Jensen" });
    const nulled = patchUser(bjensen(), [{ op: "replace", value: { name: { formatted: null, givenName: "B" } } }]).resource;
    expect(nulled.name).toEqual({ familyName: "Jensen", givenName: "B" });
  });

  it("replace on a complex attribute with only unknown or read-only sub-attributes changes nothing", () => {
    const unknown = patchUser(bjensen(), [{ op: "replace", path: "name", value: { nickname: "x" } }]);
    expect(unknown.changed).toBe(false);
    expect(unknown.resource.name).toEqual(bjensen().name);
    const readOnly = patchUser(enterpriseUser(), [{ op: "replace", path: `${ENTERPRISE}:manager`, value: { displayName: "Boss" } }]);
    expect(readOnly.changed).toBe(false);
    expect((readOnly.resource[ENTERPRISE] as Obj).manager).toEqual({ value: "m-1" });
  });

  it("a required name cannot be replaced by whitespace, with a path or without", () => {
    for (const operation of [{ op: "replace", path: "userName", value: "  " }, { op: "replace", value: { userName: "\t" } }]) {
      expect(() => patchUser(bjensen(), [operation])).toThrow(/userName' is required and must not be blank/);
    }
    expect(() => patchGroup({ schemas: [GROUP], displayName: "Eng" }, [{ op: "replace", path: "displayName", value: " " }])).toThrow(/must not be blank/);
  });

  it("replace on an attribute that does not exist adds it", () => {
    const { resource } = patchUser(bjensen(), [{ op: "replace", path: "title", value: "Guide" }]);
    expect(resource.title).toBe("Guide");
  });

  it("an element left with only type and primary is removed (Entra clearing a phone, an empty street): RFC 7643 §2.4", () => {
    const user = { ...bjensen(), phoneNumbers: [{ value: "1", type: "mobile", primary: true }, { value: "2", type: "work" }] };
    const removed = patchUser(user, [{ op: "Remove", path: 'phoneNumbers[type eq "mobile"].value' }]);
    expect(removed.resource.phoneNumbers).toEqual([{ value: "2", type: "work" }]);
    const emptied = patchUser(user, [{ op: "Replace", path: 'phoneNumbers[type eq "work"].value', value: "" }]);
    expect(emptied.resource.phoneNumbers).toEqual([{ value: "1", type: "mobile", primary: true }]);
    const street = patchUser(bjensen(), [{ op: "replace", path: 'addresses[type eq "home"].streetAddress', value: null }]);
    expect((street.resource.addresses as Obj[]).find((a) => a.type === "home")).toMatchObject({ locality: "Hollywood" });
    const onlyStreet = { ...bjensen(), addresses: [{ type: "work", streetAddress: "1 Main St" }] };
    expect(patchUser(onlyStreet, [{ op: "replace", path: 'addresses[type eq "work"].streetAddress', value: "" }]).resource.addresses).toBeUndefined();
    // An add that names only the qualifiers creates nothing.
    expect(patchUser(onlyStreet, [{ op: "add", path: 'emails[type eq "other"].primary', value: false }]).resource.emails).toEqual(bjensen().emails);
  });

  it("an element is judged on the result of the whole PATCH: removing a value, then adding another, keeps its primary (RFC 7644 §3.5.2)", () => {
    const user = { ...bjensen(), emails: [{ value: "e@x.com", type: "work", primary: true }] };
    for (const first of [{ op: "Remove", path: 'emails[type eq "work"].value' }, { op: "Replace", path: 'emails[type eq "work"].value', value: "" }]) {
      const { resource } = patchUser(user, [first, { op: "Add", path: 'emails[type eq "work"].value', value: "e2@x.com" }]);
      expect(resource.emails).toEqual([{ value: "e2@x.com", type: "work", primary: true }]);
    }
  });

  it("replace with a filter sets the sub-attribute on every matching element", () => {
    const user = { ...bjensen(), phoneNumbers: [{ value: "1", type: "work" }, { value: "2", type: "work" }, { value: "3", type: "home" }] };
    const { resource } = patchUser(user, [{ op: "replace", path: 'phoneNumbers[type eq "work"].display', value: "office" }]);
    expect(resource.phoneNumbers).toEqual([
      { value: "1", type: "work", display: "office" },
      { value: "2", type: "work", display: "office" },
      { value: "3", type: "home" },
    ]);
  });
});

// ---- Okta ----

describe("Okta's documented requests", () => {
  it('deactivates with a path-less {"active": false}', () => {
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [{ "op": "replace", "value": { "active": false } }]
    }`;
    const { resource, changed } = patchBody(enterpriseUser(), body, { resourceType: "User" });
    expect(changed).toBe(true);
    expect(resource.active).toBe(false);
    expect(resource).toEqual({ ...enterpriseUser(), active: false });
  });

  it("reactivates", () => {
    const { resource } = patchUser({ ...enterpriseUser(), active: false }, [{ op: "replace", value: { active: true } }]);
    expect(resource.active).toBe(true);
  });

  it("renames a group; the read-only id inside the value is ignored", () => {
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [{
        "op": "replace",
        "value": { "id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Test SCIMv2" }
      }]
    }`;
    const before = { ...group(["u-1"]), id: "abf4dd94-a4c0-4f67-89c9-76b03340cb9b" };
    const { resource, memberChanges } = patchBody(before, body, { resourceType: "Group" });
    expect(resource).toEqual({ ...before, displayName: "Test SCIMv2" });
    expect(memberChanges).toEqual([]);
  });

  it("a different id inside the value is ignored too (never changes the id)", () => {
    const { resource } = patchGroup(group(["u-1"]), [{ op: "replace", value: { id: "other", displayName: "X" } }]);
    expect(resource.id).toBe("g-1");
    expect(resource.displayName).toBe("X");
  });

  it('mixes remove members[value eq "id"] and add members {value, display} in one request', () => {
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [
        { "op": "remove", "path": "members[value eq \\"89bb1940-b905-4575-9e7f-6f887cfb368e\\"]" },
        { "op": "add", "path": "members",
          "value": [{ "value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local" }] }
      ]
    }`;
    const before = group(["89bb1940-b905-4575-9e7f-6f887cfb368e", "u-keep"]);
    const expectedChanges = [
      { op: "remove", values: ["89bb1940-b905-4575-9e7f-6f887cfb368e"] },
      { op: "add", members: [{ value: "23a35c27-23d3-4c03-b4c5-6443c09e7173", display: "test.user@okta.local" }] },
    ];
    const applied = patchBody(before, body, { resourceType: "Group" });
    expect(applied.resource.members).toEqual([{ value: "u-keep" }, { value: "23a35c27-23d3-4c03-b4c5-6443c09e7173", display: "test.user@okta.local" }]);
    expect(applied.memberChanges).toEqual(expectedChanges);

    const deferred = patchBody(before, body, { resourceType: "Group", deferMembers: true });
    expect(deferred.resource.members).toEqual(before.members);
    expect(deferred.memberChanges).toEqual(expectedChanges);
    expect(deferred.changed).toBe(true);
  });

  it("a full sync replaces members, also with []", () => {
    const synced = patchGroup(group(["a", "b"]), [{ op: "replace", path: "members", value: [{ value: "c", display: "C" }] }]);
    expect(synced.resource.members).toEqual([{ value: "c", display: "C" }]);
    expect(synced.memberChanges).toEqual([{ op: "replace", members: [{ value: "c", display: "C" }] }]);

    const emptied = patchGroup(group(["a", "b"]), [{ op: "replace", path: "members", value: [] }]);
    expect(emptied.resource).not.toHaveProperty("members");
    expect(emptied.changed).toBe(true);
    expect(emptied.memberChanges).toEqual([{ op: "replace", members: [] }]);

    const deferred = patchGroup(group(["a", "b"]), [{ op: "replace", path: "members", value: [] }], { deferMembers: true });
    expect(deferred.resource.members).toEqual([{ value: "a" }, { value: "b" }]);
    expect(deferred.memberChanges).toEqual([{ op: "replace", members: [] }]);
  });
});

// ---- Microsoft Entra ID ----

describe("Microsoft Entra ID, default PATCH style", () => {
  it('accepts capitalised ops and "False"/"True" strings for booleans', () => {
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [{ "op": "Replace", "path": "active", "value": "False" }]
    }`;
    const off = patchBody(enterpriseUser(), body, { resourceType: "User" }).resource;
    expect(off.active).toBe(false);
    const on = patchUser(off, [{ op: "Replace", path: "active", value: "True" }]).resource;
    expect(on.active).toBe(true);
    expect(patchUser(enterpriseUser(), [{ op: "REPLACE", path: "displayName", value: "X" }]).resource.displayName).toBe("X");
    expect(patchUser(enterpriseUser(), [{ op: "Add", path: "title", value: "CEO" }]).resource.title).toBe("CEO");
    expect(patchUser(enterpriseUser(), [{ op: "Remove", path: "name" }]).resource).not.toHaveProperty("name");
  });

  it('keeps one app role through roles[primary eq "True"].value: Add replaces it, Replace changes it, Remove removes it', () => {
    const path = 'roles[primary eq "True"].value';
    const admin = patchUser(enterpriseUser(), [{ op: "Add", path, value: "Admin" }]).resource;
    expect(admin.roles).toEqual([{ primary: true, value: "Admin" }]);
    const writer = patchUser(admin, [{ op: "Add", path, value: "Writer" }]).resource;
    expect(writer.roles).toEqual([{ primary: true, value: "Writer" }]);
    const owner = patchUser(writer, [{ op: "Replace", path, value: "Owner" }]).resource;
    expect(owner.roles).toEqual([{ primary: true, value: "Owner" }]);
    expect(patchUser(owner, [{ op: "Remove", path: 'roles[primary eq "True"]' }]).resource).not.toHaveProperty("roles");
    const removedValue = patchUser(owner, [{ op: "Remove", path }]).resource;
    expect(removedValue.roles ?? []).not.toContainEqual(expect.objectContaining({ value: "Owner" }));
  });

  it('adds emails[type eq "work"].value when no work email exists (creates it)', () => {
    const user = { ...enterpriseUser(), emails: [{ value: "john@home.example", type: "home" }] };
    const { resource } = patchUser(user, [{ op: "Add", path: 'emails[type eq "work"].value', value: "john@work.example" }]);
    expect(resource.emails).toEqual([
      { value: "john@home.example", type: "home" },
      { type: "work", value: "john@work.example" },
    ]);
    const none = { ...enterpriseUser() };
    delete none.emails;
    expect(patchUser(none, [{ op: "Add", path: 'emails[type eq "work"].value', value: "j@w.example" }]).resource.emails).toEqual([
      { type: "work", value: "j@w.example" },
    ]);
  });

  it('adds emails[type eq "work"] with a bare address as the new element\'s value', () => {
    const user = { ...enterpriseUser() };
    delete user.emails;
    const { resource } = patchUser(user, [{ op: "Add", path: 'emails[type eq "work"]', value: "john@work.example" }]);
    expect(resource.emails).toEqual([{ type: "work", value: "john@work.example" }]);
  });

  it('adds emails[type eq "work"].value when a work email exists (replaces its value)', () => {
    const { resource } = patchUser(enterpriseUser(), [{ op: "Add", path: 'emails[type eq "work"].value', value: "john.doe@example.com" }]);
    expect(resource.emails).toEqual([{ value: "john.doe@example.com", type: "work", primary: true }]);
  });

  it("Replace on the work email and familyName (the multi-valued example)", () => {
    const { resource } = patchUser(enterpriseUser(), [
      { op: "Replace", path: 'emails[type eq "work"].value', value: "updatedEmail@microsoft.com" },
      { op: "Replace", path: "name.familyName", value: "updatedFamilyName" },
    ]);
    expect(resource.emails).toEqual([{ value: "updatedEmail@microsoft.com", type: "work", primary: true }]);
    expect(resource.name).toEqual({ givenName: "John", familyName: "updatedFamilyName" });
  });

  it("sets an enterprise attribute by URN path, creating the extension and listing its schema", () => {
    const user = { schemas: [USER], id: "u-2", userName: "x@example.com" };
    const { resource } = patchUser(user, [{ op: "Add", path: `${ENTERPRISE}:employeeNumber`, value: "12345" }]);
    expect(resource[ENTERPRISE]).toEqual({ employeeNumber: "12345" });
    expect(resource.schemas).toEqual([USER, ENTERPRISE]);
    const replaced = patchUser(enterpriseUser(), [{ op: "Replace", path: `${ENTERPRISE}:employeeNumber`, value: "999" }]).resource;
    expect((replaced[ENTERPRISE] as Obj).employeeNumber).toBe("999");
    expect((replaced[ENTERPRISE] as Obj).department).toBe("Tour Operations");
  });

  it('removes only the members named by {"op":"Remove","path":"members","value":[{"value":"id"}]}', () => {
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": "a071c8f8e9744fb5a4c7" }] }]
    }`;
    const before = group(["f648f8d5ea4e4cd38e9c", "a071c8f8e9744fb5a4c7", "c0ffee"]);
    const applied = patchBody(before, body, { resourceType: "Group" });
    expect(memberValues(applied.resource)).toEqual(["f648f8d5ea4e4cd38e9c", "c0ffee"]);
    expect(applied.memberChanges).toEqual([{ op: "remove", values: ["a071c8f8e9744fb5a4c7"] }]);

    const deferred = patchBody(before, body, { resourceType: "Group", deferMembers: true });
    expect(deferred.resource).toEqual(before);
    expect(deferred.memberChanges).toEqual([{ op: "remove", values: ["a071c8f8e9744fb5a4c7"] }]);

    const plain = patchGroup(before, [{ op: "Remove", path: "members", value: [{ value: "f648f8d5ea4e4cd38e9c" }, { value: "c0ffee" }] }]);
    expect(memberValues(plain.resource)).toEqual(["a071c8f8e9744fb5a4c7"]);
  });

  it("a removal value array that names no member value removes nothing (never the whole list)", () => {
    const before = { ...group(["a", "b"]), members: [{ value: "a", display: "A" }, { value: "b", display: "B" }] };
    const { resource, changed } = patchGroup(before, [{ op: "Remove", path: "members", value: [{ display: "A" }] }]);
    expect(changed).toBe(false);
    expect(resource.members).toEqual(before.members);
  });

  it("a member named in a removal value array is removed by its value alone, as memberChanges reports it", () => {
    const before = { ...group([]), members: [{ value: "u3" }, { value: "u4", type: "Group" }, { value: "u5" }] };
    const { resource, memberChanges } = patchGroup(before, [
      { op: "Remove", path: "members", value: [{ value: "u3", type: "User" }, { value: "u4", type: "User", display: "x" }] },
    ]);
    expect(memberChanges).toEqual([{ op: "remove", values: ["u3", "u4"] }]);
    expect(memberValues(resource)).toEqual(["u5"]);
  });

  it("a removal value array on other attributes compares every sub-attribute it names", () => {
    const { resource } = patchUser(bjensen(), [
      { op: "remove", path: "emails", value: [{ value: "bjensen@example.com", type: "home" }, { value: "BABS@jensen.org", type: "home" }] },
    ]);
    expect(resource.emails).toEqual([{ value: "bjensen@example.com", type: "work", primary: true }]);
  });

  it("a member removed by a value array is matched by its exact id, as a filter would (members.value is caseExact)", () => {
    const before = group(["ABC-1", "def-2"]);
    const byArray = patchGroup(before, [{ op: "Remove", path: "members", value: [{ value: "ABC-1" }] }]).resource;
    const byFilter = patchGroup(before, [{ op: "Remove", path: 'members[value eq "ABC-1"]' }]).resource;
    expect(memberValues(byArray)).toEqual(["def-2"]);
    expect(byArray).toEqual(byFilter);
    const otherCase = patchGroup(before, [{ op: "Remove", path: "members", value: [{ value: "abc-1" }] }]).resource;
    expect(memberValues(otherCase)).toEqual(["ABC-1", "def-2"]);
  });

  it('adds members [{"$ref": null, "value": "id"}], several at once, without duplicating one already present', () => {
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [{
        "op": "Add", "path": "members",
        "value": [{ "$ref": null, "value": "f648f8d5ea4e4cd38e9c" }, { "$ref": null, "value": "already-in" }, { "$ref": null, "value": "second-new" }]
      }]
    }`;
    const before = group(["already-in"]);
    const { resource, changed, memberChanges } = patchBody(before, body, { resourceType: "Group" });
    expect(changed).toBe(true);
    expect(memberValues(resource)).toEqual(["already-in", "f648f8d5ea4e4cd38e9c", "second-new"]);
    // `$ref: null` is unassigned: it is not stored.
    for (const m of resource.members as Obj[]) expect(m).not.toHaveProperty("$ref");
    expect(memberChanges).toHaveLength(1);
    expect(memberChanges[0]!.op).toBe("add");
    expect((memberChanges[0] as { members: { value: string }[] }).members.map((m) => m.value)).toEqual(["f648f8d5ea4e4cd38e9c", "already-in", "second-new"]);
  });

  it("adding only members already present changes nothing", () => {
    const { resource, changed } = patchGroup(group(["a", "b"]), [{ op: "Add", path: "members", value: [{ $ref: null, value: "a" }] }]);
    expect(changed).toBe(false);
    expect(memberValues(resource)).toEqual(["a", "b"]);
  });

  describe("manager", () => {
    const managerOf = (r: Obj) => (r[ENTERPRISE] as Obj | undefined)?.manager;

    it('as [{"$ref": ..., "value": "id"}]', () => {
      const { resource } = patchUser(enterpriseUser(), [
        { op: "Add", path: `${ENTERPRISE}:manager`, value: [{ $ref: "https://example.com/v2/Users/m-2", value: "m-2" }] },
      ]);
      expect(managerOf(resource)).toEqual({ value: "m-2", $ref: "https://example.com/v2/Users/m-2" });
    });

    it("as a bare id string", () => {
      const { resource } = patchUser(enterpriseUser(), [{ op: "Replace", path: `${ENTERPRISE}:manager`, value: "m-3" }]);
      expect(managerOf(resource)).toEqual({ value: "m-3" });
    });

    it('as {"value": "id"}', () => {
      const user = { schemas: [USER], id: "u-9", userName: "nine" };
      const { resource } = patchUser(user, [{ op: "Add", path: `${ENTERPRISE}:manager`, value: { value: "m-4" } }]);
      expect(managerOf(resource)).toEqual({ value: "m-4" });
      expect(resource.schemas).toEqual([USER, ENTERPRISE]);
    });

    it('{"value": ""} removes the manager', () => {
      const { resource, changed } = patchUser(enterpriseUser(), [{ op: "Replace", path: `${ENTERPRISE}:manager`, value: { value: "" } }]);
      expect(changed).toBe(true);
      expect(resource[ENTERPRISE]).toEqual({ employeeNumber: "701984", department: "Tour Operations" });
    });

    it('{"value": ""} removes the manager also when it has a $ref', () => {
      const user = enterpriseUser();
      (user[ENTERPRISE] as Obj).manager = { value: "m-1", $ref: "https://example.com/v2/Users/m-1" };
      const { resource } = patchUser(user, [{ op: "Replace", path: `${ENTERPRISE}:manager`, value: { value: "" } }]);
      expect(managerOf(resource)).toBeUndefined();
    });

    it('{"value": ""} on the only extension attribute drops the extension and its schema', () => {
      const user = { schemas: [USER, ENTERPRISE], id: "u-3", userName: "three", [ENTERPRISE]: { manager: { value: "m-1" } } };
      const { resource } = patchUser(user, [{ op: "Replace", path: `${ENTERPRISE}:manager`, value: { value: "" } }]);
      expect(resource).not.toHaveProperty(ENTERPRISE);
      expect(resource.schemas).toEqual([USER]);
    });

    it("with the dotted-URN spelling ...:User.manager", () => {
      const { resource } = patchUser(enterpriseUser(), [{ op: "Replace", path: `${ENTERPRISE}.manager`, value: "m-5" }]);
      expect(managerOf(resource)).toEqual({ value: "m-5" });
      const removed = patchUser(enterpriseUser(), [{ op: "Remove", path: `${ENTERPRISE}.manager` }]).resource;
      expect(managerOf(removed)).toBeUndefined();
    });

    it("path-less, inside the extension object", () => {
      const { resource } = patchUser(enterpriseUser(), [{ op: "replace", value: { [ENTERPRISE]: { manager: { value: "m-6" } } } }]);
      expect(managerOf(resource)).toEqual({ value: "m-6" });
      expect((resource[ENTERPRISE] as Obj).employeeNumber).toBe("701984");
    });
  });
});

describe("Microsoft Entra ID, compliant PATCH style", () => {
  it("path-less replace with dotted and URN keys", () => {
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [{
        "op": "replace",
        "value": {
          "displayName": "Johnny Doe",
          "name.givenName": "Johnny",
          "name.familyName": "Doe-Smith",
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m-7",
          "active": false
        }
      }]
    }`;
    const { resource } = patchBody(enterpriseUser(), body, { resourceType: "User" });
    expect(resource.displayName).toBe("Johnny Doe");
    expect(resource.name).toEqual({ givenName: "Johnny", familyName: "Doe-Smith" });
    expect(resource[ENTERPRISE]).toEqual({ employeeNumber: "42", department: "Tour Operations", manager: { value: "m-7" } });
    expect(resource.active).toBe(false);
    expect(Object.keys(resource)).not.toContain("name.givenName");
    expect(Object.keys(resource).some((k) => k.includes("employeeNumber"))).toBe(false);
  });

  it("path-less value keys with a value filter are applied as paths (the work email, a phone, an address part)", () => {
    const user = { ...enterpriseUser(), phoneNumbers: [{ value: "+1 555", type: "work" }] };
    const body = `{
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      "Operations": [{
        "op": "replace",
        "value": {
          "displayName": "Jane Compliant",
          "name.givenName": "JaneC",
          "emails[type eq \\"work\\"].value": "new.jane@contoso.com",
          "phoneNumbers[type eq \\"work\\"].value": "+1 000",
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E300"
        }
      }]
    }`;
    const { resource, changed } = patchBody(user, body, { resourceType: "User" });
    expect(changed).toBe(true);
    expect(resource.displayName).toBe("Jane Compliant");
    expect((resource.name as Obj).givenName).toBe("JaneC");
    expect(resource.emails).toEqual([{ value: "new.jane@contoso.com", type: "work", primary: true }]);
    expect(resource.phoneNumbers).toEqual([{ value: "+1 000", type: "work" }]);
    expect((resource[ENTERPRISE] as Obj).employeeNumber).toBe("E300");
    // Only filtered keys: still a change. An add creates the element the filter names.
    const added = patchUser(user, [{ op: "add", value: { 'emails[type eq "home"].value': "jane@home.example", 'addresses[type eq "work"].locality': "Oslo" } }]).resource;
    expect(added.emails).toContainEqual({ type: "home", value: "jane@home.example" });
    expect(added.addresses).toEqual([{ type: "work", locality: "Oslo" }]);
    // A malformed filter key is a malformed path; a forbidden name in one is refused.
    expectScimError(() => patchUser(user, [{ op: "replace", value: { 'emails[type eq "work".value': "x" } }]), "invalidPath", 0);
    expectScimError(() => patchUser(user, [{ op: "replace", value: { '__proto__[type eq "work"].value': "x" } }]), "invalidPath", 0);
  });

  it("URN key on a user without the extension creates it", () => {
    const user = { schemas: [USER], id: "u-4", userName: "four" };
    const { resource } = patchUser(user, [{ op: "replace", value: { [`${ENTERPRISE}:department`]: "R&D" } }]);
    expect(resource[ENTERPRISE]).toEqual({ department: "R&D" });
    expect(resource.schemas).toEqual([USER, ENTERPRISE]);
  });

  it("the core schema URN as a path-qualifier", () => {
    const { resource } = patchUser(enterpriseUser(), [{ op: "replace", path: `${USER}:displayName`, value: "Core" }]);
    expect(resource.displayName).toBe("Core");
  });

  it('removes a member by members[value eq "id"]', () => {
    const { resource, memberChanges } = patchGroup(group(["a", "b"]), [{ op: "remove", path: 'members[value eq "a"]' }]);
    expect(memberValues(resource)).toEqual(["b"]);
    expect(memberChanges).toEqual([{ op: "remove", values: ["a"] }]);
  });
});

// ---- memberChanges and deferMembers ----

describe("memberChanges", () => {
  const members = [{ value: "a", display: "Alice" }, { value: "b", display: "Bob" }, { value: "c", display: "Carol" }];
  const base = (): Obj => ({ schemas: [GROUP], id: "g", displayName: "G", members: members.map((m) => ({ ...m })) });

  it.each([
    ["add", [{ op: "add", path: "members", value: [{ value: "d" }] }], [{ op: "add", members: [{ value: "d" }] }], ["a", "b", "c", "d"]],
    ["path-less add", [{ op: "add", value: { members: [{ value: "d" }] } }], [{ op: "add", members: [{ value: "d" }] }], ["a", "b", "c", "d"]],
    ["remove by id filter", [{ op: "remove", path: 'members[value eq "b"]' }], [{ op: "remove", values: ["b"] }], ["a", "c"]],
    ["remove by an or of ids", [{ op: "remove", path: 'members[value eq "a" or value eq "c"]' }], [{ op: "remove", values: ["a", "c"] }], ["b"]],
    ["remove by value array", [{ op: "remove", path: "members", value: [{ value: "c" }] }], [{ op: "remove", values: ["c"] }], ["a", "b"]],
    ["remove all", [{ op: "remove", path: "members" }], [{ op: "replace", members: [] }], []],
    ["replace", [{ op: "replace", path: "members", value: [{ value: "z" }] }], [{ op: "replace", members: [{ value: "z" }] }], ["z"]],
    ["path-less replace", [{ op: "replace", value: { members: [{ value: "z" }] } }], [{ op: "replace", members: [{ value: "z" }] }], ["z"]],
    ["replace with []", [{ op: "replace", path: "members", value: [] }], [{ op: "replace", members: [] }], []],
  ] as const)("%s: applied, and reported the same way when deferred", (_name, ops, changes, after) => {
    const applied = patchGroup(base(), [...ops]);
    expect(applied.memberChanges).toEqual(changes);
    expect(memberValues(applied.resource)).toEqual(after);
    expect(applied.changed).toBe(true);

    const deferred = patchGroup(base(), [...ops], { deferMembers: true });
    expect(deferred.memberChanges).toEqual(changes);
    expect(deferred.resource.members).toEqual(members);
    expect(deferred.changed).toBe(true);
  });

  it("a bare value through a value filter is the element's value, whether the filter matches an element or not (as deferred members take it)", () => {
    // Found by the property test (seed 1850884847): the second add matched the member the first
    // created, and its bare value was refused as "must be an object" unless deferred.
    const group = { schemas: [GROUP], id: "u1", displayName: "Engineering" };
    const ops = [
      { op: "add", path: 'members[value eq "u1"]', value: { displayName: "G", members: [] } },
      { op: "add", path: 'members[value eq "u1"]', value: "u1" },
    ];
    expect(memberValues(patchGroup(group, ops).resource)).toEqual(["u1"]);
    expect(patchGroup(group, ops, { deferMembers: true }).memberChanges).toEqual([
      { op: "add", members: [{ value: "u1" }] },
      { op: "add", members: [{ value: "u1" }] },
    ]);
    // Emails: the matched element's address changes, its other sub-attributes stay.
    const [work, home] = bjensen().emails as Obj[];
    expect(patchUser(bjensen(), [{ op: "add", path: 'emails[type eq "work"]', value: "new@example.com" }]).resource.emails).toEqual([{ ...work, value: "new@example.com" }, home]);
  });

  it("a filter that does not name ids: removes the matches, or reports removeWhere when deferred", () => {
    const applied = patchGroup(base(), [{ op: "remove", path: 'members[display sw "C"]' }]);
    expect(memberValues(applied.resource)).toEqual(["a", "b"]);
    expect(applied.memberChanges).toEqual([{ op: "remove", values: ["c"] }]);

    const deferred = patchGroup(base(), [{ op: "remove", path: 'members[display sw "C"]' }], { deferMembers: true });
    expect(deferred.resource.members).toEqual(members);
    expect(deferred.memberChanges).toEqual([
      { op: "removeWhere", filter: { type: "compare", op: "sw", path: { attr: "display" }, value: "C" } },
    ]);
  });

  it("an add to a filtered member path that matches nothing creates the member and reports it", () => {
    const { resource, memberChanges } = patchGroup(base(), [{ op: "add", path: 'members[value eq "e"]', value: { display: "Eve" } }]);
    expect((resource.members as Obj[]).at(-1)).toEqual({ value: "e", display: "Eve" });
    expect(memberChanges).toEqual([{ op: "add", members: [{ value: "e", display: "Eve" }] }]);
  });

  it("changing a member's display through a filter is allowed and is not a membership change", () => {
    const { resource, memberChanges } = patchGroup(base(), [{ op: "replace", path: 'members[value eq "a"]', value: { value: "a", display: "Alicia" } }]);
    expect((resource.members as Obj[])[0]).toEqual({ value: "a", display: "Alicia" });
    expect(memberChanges).toEqual([]);
  });

  it("changing a member's value through a filter is refused (it would change membership unreported)", () => {
    expectScimError(() => patchGroup(base(), [{ op: "replace", path: 'members[value eq "a"]', value: { value: "x" } }]), "mutability", 0);
    expectScimError(() => patchGroup(base(), [{ op: "add", path: 'members[value eq "a"]', value: { value: "x" } }]), "mutability", 0);
  });

  it("a member without a value is refused, however it is added", () => {
    expectScimError(() => patchGroup(base(), [{ op: "add", path: "members", value: [{ value: "d" }, { display: "Nobody" }] }]), "invalidValue", 0);
    expectScimError(() => patchGroup(base(), [{ op: "replace", path: "members", value: [{ display: "Nobody" }] }], { deferMembers: true }), "invalidValue", 0);
    expectScimError(() => patchGroup(base(), [{ op: "add", path: 'members[display eq "Nobody"]', value: {} }]), "invalidValue", 0);
  });

  it("sub-attribute paths of members are refused", () => {
    expectScimError(() => patchGroup(base(), [{ op: "replace", path: 'members[value eq "a"].display', value: "x" }]), "mutability", 0);
    expectScimError(() => patchGroup(base(), [{ op: "replace", path: "members.display", value: "x" }]), "mutability", 0);
  });

  it("deferred: an add to members[value eq id] reports that member; a replace through a filter is refused", () => {
    const { resource, memberChanges } = patchGroup(base(), [{ op: "add", path: 'members[value eq "e"]', value: { display: "E" } }], { deferMembers: true });
    expect(memberChanges).toEqual([{ op: "add", members: [{ value: "e", display: "E" }] }]);
    expect(resource.members).toEqual(members);
    expectScimError(() => patchGroup(base(), [{ op: "replace", path: 'members[value eq "e"]', value: {} }], { deferMembers: true }), "mutability", 0);
    expectScimError(() => patchGroup(base(), [{ op: "add", path: 'members[display eq "e"]', value: {} }], { deferMembers: true }), "invalidPath", 0);
  });

  it("a group PATCH that does not touch members reports nothing; a User never reports", () => {
    expect(patchGroup(base(), [{ op: "replace", path: "displayName", value: "H" }]).memberChanges).toEqual([]);
    expect(patchUser(bjensen(), [{ op: "remove", path: "emails" }]).memberChanges).toEqual([]);
  });

  it("deferMembers leaves members untouched while applying the other operations", () => {
    const { resource } = patchGroup(base(), [
      { op: "replace", path: "displayName", value: "Renamed" },
      { op: "remove", path: "members" },
    ], { deferMembers: true });
    expect(resource.displayName).toBe("Renamed");
    expect(resource.members).toEqual(members);
  });
});

// ---- changed ----

describe("changed", () => {
  it("is false for a replace with the same value", () => {
    const { resource, changed } = patchUser(bjensen(), [
      { op: "replace", path: "displayName", value: "Babs Jensen" },
      { op: "replace", path: "active", value: "true" },
      { op: "replace", path: "name.givenName", value: "Barbara" },
      { op: "replace", value: { nickName: "Babs", userName: "bjensen" } },
    ]);
    expect(changed).toBe(false);
    expect(resource).toEqual(bjensen());
  });

  it("is false for removing something absent, and for an empty Operations array", () => {
    expect(patchUser(bjensen(), [{ op: "remove", path: "title" }]).changed).toBe(false);
    expect(patchUser(bjensen(), [{ op: "remove", path: 'emails[type eq "other"]' }]).changed).toBe(false);
    const none = patchUser(bjensen(), []);
    expect(none.changed).toBe(false);
    expect(none.resource).toEqual(bjensen());
    expect(none.memberChanges).toEqual([]);
  });

  it("is true when something changes", () => {
    expect(patchUser(bjensen(), [{ op: "replace", path: "displayName", value: "B" }]).changed).toBe(true);
  });
});

// ---- immutability of inputs ----

describe("inputs are never mutated", () => {
  function deepFreeze<T>(value: T): T {
    if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
      Object.freeze(value);
      for (const v of Object.values(value)) deepFreeze(v);
    }
    return value;
  }

  it("works on deep-frozen resources and operations", () => {
    const user = deepFreeze(enterpriseUser());
    const ops = deepFreeze([
      { op: "add", path: "emails", value: [{ value: "n@x.example", type: "home", primary: true }] },
      { op: "replace", path: 'emails[type eq "work"].value', value: "w@x.example" },
      { op: "replace", value: { "name.givenName": "J", [`${ENTERPRISE}:employeeNumber`]: "1" } },
      { op: "remove", path: `${ENTERPRISE}:manager` },
    ]);
    const { resource } = patchUser(user, ops);
    expect(resource.emails).toEqual([
      { value: "w@x.example", type: "work", primary: false },
      { value: "n@x.example", type: "home", primary: true },
    ]);
    expect(user).toEqual(enterpriseUser());

    const g = deepFreeze(tourGuides());
    const out = patchGroup(g, deepFreeze([{ op: "remove", path: `members[value eq "${BABS_ID}"]` }, { op: "add", path: "members", value: [{ value: "x" }] }]));
    expect(memberValues(out.resource)).toEqual(["902c246b-6245-4190-8e05-00816be7344a", "x"]);
    expect(g).toEqual(tourGuides());
  });

  it("returns a new object even when nothing changes", () => {
    const user = bjensen();
    const { resource } = patchUser(user, []);
    expect(resource).not.toBe(user);
    expect(resource).toEqual(user);
  });
});

// ---- errors ----

describe("errors", () => {
  it("remove without a path: noTarget", () => {
    const e = expectScimError(() => patchUser(bjensen(), [{ op: "remove" }]), "noTarget", 0);
    expect(e.detail).toMatch(/path/);
    expectScimError(() => patchUser(bjensen(), [{ op: "remove", path: "" }]), "noTarget", 0);
  });

  it("replace with a value filter matching nothing: noTarget", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: 'emails[type eq "other"].value', value: "x@y" }]), "noTarget", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: 'addresses[type eq "other"]', value: { locality: "x" } }]), "noTarget", 0);
  });

  it("an add to a filter that matches nothing and does not describe an element: noTarget", () => {
    const user = { ...bjensen() };
    delete user.emails;
    expectScimError(() => patchUser(user, [{ op: "add", path: 'emails[type ne "home"].value', value: "x@y" }]), "noTarget", 0);
  });

  it("an unknown op: invalidSyntax", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "move", path: "title", value: "x" }]), "invalidSyntax", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "copy" }]), "invalidSyntax", 0);
    expectScimError(() => patchUser(bjensen(), [{ path: "title", value: "x" }]), "invalidSyntax", 0);
    expectScimError(() => patchUser(bjensen(), [null]), "invalidSyntax", 0);
  });

  it("the index in the detail is the failing operation's", () => {
    const e = expectScimError(
      () => patchUser(bjensen(), [{ op: "replace", path: "title", value: "a" }, { op: "add", path: "nickName", value: "b" }, { op: "test", path: "x" }]),
      "invalidSyntax",
      2,
    );
    expect(e.detail).toContain("test");
  });

  it("a malformed path: invalidPath", () => {
    for (const path of ["emails[type eq", 'emails[type eq "work"', "emails]", "name..givenName", "1name", 'emails[type eq "work"].value.x', "a b"]) {
      expectScimError(() => patchUser(bjensen(), [{ op: "replace", path, value: "x" }]), "invalidPath", 0);
    }
    expectScimError(() => patchUser(bjensen(), [{ op: "add", path: 5, value: "x" }]), "invalidPath", 0);
  });

  it("a filter on an attribute that is not multi-valued complex: invalidPath", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: 'name[givenName eq "x"]', value: {} }]), "invalidPath", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: 'userName[value eq "x"]', value: "y" }]), "invalidPath", 0);
  });

  it("a value filter the engine cannot evaluate is invalidPath, also when members are deferred", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "remove", path: "emails[primary gt true]" }]), "invalidPath", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "remove", path: 'emails[value.x eq "1"]' }]), "invalidPath", 0);
    expectScimError(() => patchGroup(group(["a"]), [{ op: "remove", path: 'members[value.x eq "1"]' }], { deferMembers: true }), "invalidPath", 0);
  });

  it("a value of the wrong type: invalidValue", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "active", value: "maybe" }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "active", value: { a: 1 } }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "name", value: "Barbara" }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "displayName", value: ["a", "b"] }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", value: { active: "yes" } }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", value: "active" }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "add", path: "title" }]), "invalidValue", 0);
    expectScimError(() => patchUser(enterpriseUser(), [{ op: "replace", path: ENTERPRISE, value: "x" }]), "invalidValue", 0);
  });

  it("a readOnly path such as id or meta.created: mutability", () => {
    for (const path of ["id", "meta.created", "meta", "groups", "ID", `${USER}:id`]) {
      const e = expectScimError(() => patchUser(bjensen(), [{ op: "replace", path, value: "2020-01-01T00:00:00Z" }]), "mutability", 0);
      expect(e.detail).toMatch(/readOnly/);
    }
    expectScimError(() => patchUser(bjensen(), [{ op: "remove", path: "id" }]), "mutability", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "schemas", value: [USER] }]), "mutability", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "remove", path: USER }]), "mutability", 0);
  });

  it("removing the required userName (or a group's displayName), or making it unassigned: mutability (RFC 7644 §3.5.2.2)", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "remove", path: "userName" }]), "mutability", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "userName", value: null }]), "mutability", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", value: { userName: null } }]), "mutability", 0);
    expectScimError(() => patchGroup(group([]), [{ op: "remove", path: "displayName" }]), "mutability", 0);
    expectScimError(() => patchGroup(group([]), [{ op: "replace", path: "displayName", value: null }]), "mutability", 0);
    // "" is unassigned too; whitespace is a value, and not a valid one.
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "userName", value: "" }]), "mutability", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "userName", value: "  " }]), "invalidValue", 0);
  });

  it("two primaries: invalidValue", () => {
    const two = [{ value: "a@x.example", primary: true }, { value: "b@x.example", primary: true }];
    expectScimError(() => patchUser(bjensen(), [{ op: "add", path: "emails", value: two }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "emails", value: two }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", value: { emails: two } }]), "invalidValue", 0);
  });

  it("errors are plain ScimErrors with an RFC 7644 §3.12 body", () => {
    const e = expectScimError(() => patchUser(bjensen(), [{ op: "remove" }]), "noTarget", 0);
    expect(e.toJSON()).toEqual({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "400", scimType: "noTarget", detail: e.detail });
  });
});

// ---- atomicity ----

describe("primary and value counts (RFC 7643 §2.4)", () => {
  it("primary set on every element of a list of two is refused, not stored twice", () => {
    const user = { ...bjensen(), emails: [{ value: "a@x.com", type: "work" }, { value: "b@x.com", type: "home" }] };
    expectScimError(() => patchUser(user, [{ op: "replace", path: "emails.primary", value: true }]), "invalidValue", 0);
    expectScimError(() => patchUser(user, [{ op: "add", value: { "emails.primary": true } }]), "invalidValue", 0);
    // One element: it can be the primary one; false on every element is fine.
    const one = patchUser({ ...bjensen(), emails: [{ value: "a@x.com" }] }, [{ op: "replace", path: "emails.primary", value: true }]);
    expect(one.resource.emails).toEqual([{ value: "a@x.com", primary: true }]);
    expect(patchUser(user, [{ op: "replace", path: "emails.primary", value: false }]).resource.emails).toEqual([
      { value: "a@x.com", type: "work", primary: false },
      { value: "b@x.com", type: "home", primary: false },
    ]);
  });

  it("replace of a sub-attribute of an absent multi-valued attribute adds it (RFC 7644 §3.5.2.3)", () => {
    const user = { ...bjensen() };
    delete user.emails;
    const r = patchUser(user, [{ op: "replace", path: "emails.value", value: "x@x.com" }]);
    expect(r.changed).toBe(true);
    expect(r.resource.emails).toEqual([{ value: "x@x.com" }]);
  });

  it("maxValues bounds every multi-valued attribute after the operations, members excepted", () => {
    const emails = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ value: `e${from + i}@x.com` }));
    const user = { ...bjensen(), emails: emails(2) };
    expect((patchUser(user, [{ op: "add", path: "emails", value: emails(1, 2) }], { maxValues: 3 }).resource.emails as unknown[]).length).toBe(3);
    const e = expectScimError(() => patchUser(user, [{ op: "add", path: "emails", value: emails(2, 2) }], { maxValues: 3 }), "invalidValue", 0);
    expect(e.detail).toMatch(/emails.*4 values.*at most 3/);
    expectScimError(() => patchUser(user, [{ op: "replace", path: "emails", value: emails(4) }], { maxValues: 3 }), "invalidValue", 0);
    expectScimError(() => patchUser(user, [{ op: "add", path: 'emails[value eq "new@x.com"]', value: { type: "work" } }, { op: "add", path: "emails", value: emails(1, 9) }], { maxValues: 3 }), "invalidValue", 1);
    // Without the option there is no limit; members are never counted.
    expect((patchUser(user, [{ op: "add", path: "emails", value: emails(10, 2) }]).resource.emails as unknown[]).length).toBe(12);
    const group = { schemas: [GROUP], displayName: "G", members: [{ value: "a" }] };
    const members = patchGroup(group, [{ op: "add", path: "members", value: [{ value: "b" }, { value: "c" }, { value: "d" }] }], { maxValues: 2 });
    expect((members.resource.members as unknown[]).length).toBe(4);
  });
});

describe("extension attributes: immutable, required, unassigned, case (RFC 7643 §2.2, §2.5)", () => {
  const EXT = "urn:example:params:scim:schemas:extension:acme:2.0:User";
  const attr = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: "string" as const, multiValued: false, required: false, caseExact: false, mutability: "readWrite" as const, returned: "default" as const, uniqueness: "none" as const, ...extra });
  const registry = createSchemaRegistry({
    schemas: [{ id: EXT, name: "Acme", attributes: [attr("imm", { mutability: "immutable" }), attr("mand", { required: true }), attr("dept"), attr("tags", { multiValued: true })] }],
  }).addExtension("User", { schema: EXT, required: false });
  const patch = (resource: Obj, operations: unknown[]) => applyPatch(resource, operations, { resourceType: "User", registry });
  const user = (ext?: Obj): Obj => ({ schemas: ext ? [USER, EXT] : [USER], userName: "u", ...(ext ? { [EXT]: ext } : {}) });

  it("an immutable attribute with a value cannot be removed, alone or with its extension, so it cannot be changed by remove then add", () => {
    const stored = user({ imm: "I1", mand: "m" });
    expectScimError(() => patch(stored, [{ op: "remove", path: `${EXT}:imm` }, { op: "add", path: `${EXT}:imm`, value: "I2" }]), "mutability", 0);
    expectScimError(() => patch(stored, [{ op: "remove", path: EXT }]), "mutability", 0);
    expectScimError(() => patch(stored, [{ op: "replace", value: { [EXT]: null } }]), "mutability", 0);
    // Set once when it has no value yet.
    expect((patch(user({ mand: "m" }), [{ op: "add", path: `${EXT}:imm`, value: "I1" }]).resource[EXT] as Obj).imm).toBe("I1");
  });

  it("a PATCH cannot create the extension without its required attributes", () => {
    expectScimError(() => patch(user(), [{ op: "add", path: `${EXT}:dept`, value: "x" }]), "invalidValue");
    expectScimError(() => patch(user(), [{ op: "add", value: { [EXT]: { dept: "x" } } }]), "invalidValue");
    // Removing a required attribute of the extension (RFC 7644 §3.5.2.2).
    expectScimError(() => patch(user({ mand: "m", dept: "d" }), [{ op: "remove", path: `${EXT}:mand` }]), "mutability", 0);
    const made = patch(user(), [{ op: "add", value: { [EXT]: { dept: "x", mand: "m" } } }]);
    expect(made.resource[EXT]).toEqual({ dept: "x", mand: "m" });
    expect(made.resource.schemas).toEqual([USER, EXT]);
  });

  it("a path-less replace of the extension with null unassigns it, as it does a core attribute", () => {
    const r = patch(user({ mand: "m", dept: "d" }), [{ op: "replace", value: { [EXT]: null } }]);
    expect(r.changed).toBe(true);
    expect(r.resource[EXT]).toBeUndefined();
    expect(r.resource.schemas).toEqual([USER]);
    expect(patch(user({ mand: "m" }), [{ op: "add", value: { [EXT]: null } }]).changed).toBe(false);
  });

  it("a value filter on simple values selects the values themselves (RFC 7644 §3.5.2.2)", () => {
    const stored = user({ mand: "m", tags: ["x", "y", "xz"] });
    const tags = (operations: unknown[]) => (patch(stored, operations).resource[EXT] as Obj).tags;
    expect(tags([{ op: "remove", path: `${EXT}:tags[value eq "X"]` }])).toEqual(["y", "xz"]);
    expect(tags([{ op: "remove", path: `${EXT}:tags[value sw "x"]` }])).toEqual(["y"]);
    expect(patch(stored, [{ op: "remove", path: `${EXT}:tags[value eq "nothing"]` }]).changed).toBe(false);
    expect((patch(user({ mand: "m", tags: ["x"] }), [{ op: "remove", path: `${EXT}:tags[value eq "x"]` }]).resource[EXT] as Obj).tags).toBeUndefined();
    expect(tags([{ op: "replace", path: `${EXT}:tags[value eq "y"]`, value: "w" }])).toEqual(["x", "w", "xz"]);
    // Two values replaced by one: it is kept once.
    expect(tags([{ op: "replace", path: `${EXT}:tags[value sw "x"]`, value: "Y" }])).toEqual(["Y"]);
    expectScimError(() => patch(stored, [{ op: "replace", path: `${EXT}:tags[value eq "q"]`, value: "w" }]), "noTarget", 0);
    expect(tags([{ op: "add", path: `${EXT}:tags[value eq "new"]`, value: "new" }])).toEqual(["x", "y", "xz", "new"]);
    expect(patch(stored, [{ op: "add", path: `${EXT}:tags[value eq "X"]`, value: "X" }]).changed).toBe(false);
    expectScimError(() => patch(stored, [{ op: "replace", path: `${EXT}:tags[value eq "y"]`, value: ["a", "b"] }]), "invalidValue", 0);
    expectScimError(() => patch(stored, [{ op: "remove", path: `${EXT}:tags[value eq "y"].value` }]), "invalidPath", 0);
    expectScimError(() => patch(stored, [{ op: "remove", path: `${EXT}:dept[value eq "y"]` }]), "invalidPath", 0);
  });

  it("adding a simple value already there in another case changes nothing when the attribute is not caseExact", () => {
    const r = patch(user({ mand: "m", tags: ["a", "b"] }), [{ op: "add", path: `${EXT}:tags`, value: ["A", "c"] }]);
    expect((r.resource[EXT] as Obj).tags).toEqual(["a", "b", "c"]);
  });
});

describe("required sub-attributes (RFC 7643 §2.2, §7)", () => {
  const EXT = "urn:example:params:scim:schemas:extension:badges:2.0:User";
  const sub = (name: string, extra: Record<string, unknown> = {}) => ({ name, type: "string" as const, multiValued: false, required: false, mutability: "readWrite" as const, returned: "default" as const, ...extra });
  const registry = createSchemaRegistry({
    schemas: [
      {
        id: EXT,
        name: "Badges",
        attributes: [
          { ...sub("badge"), type: "complex" as const, subAttributes: [sub("number", { required: true }), sub("site")] },
          { ...sub("keys"), type: "complex" as const, multiValued: true, subAttributes: [sub("value", { required: true }), sub("label"), sub("type")] },
        ],
      },
    ],
  }).addExtension("User", { schema: EXT, required: false });
  const options = { resourceType: "User", registry };
  const user = (ext?: Obj): Obj => ({ schemas: ext ? [USER, EXT] : [USER], userName: "u", ...(ext ? { [EXT]: ext } : {}) });

  it("a value without a required sub-attribute is 400 invalidValue on create and replace", () => {
    expectScimError(() => validateResource(user({ badge: { site: "X" } }), options), "invalidValue");
    expectScimError(() => validateResource(user({ keys: [{ value: "k1" }, { label: "no value" }] }), options), "invalidValue");
    expect(validateResource(user({ badge: { number: "7", site: "X" }, keys: [{ value: "k1" }] }), options)[EXT]).toEqual({ badge: { number: "7", site: "X" }, keys: [{ value: "k1" }] });
    // Without the attribute, nothing is required of it; an element of only `type` is unassigned and dropped.
    expect(validateResource(user({ keys: [{ value: "k1" }, { type: "spare" }] }), options)[EXT]).toEqual({ keys: [{ value: "k1" }] });
    expect(validateResource(user(), options).schemas).toEqual([USER]);
  });

  it("a PATCH is judged on its result: a partial value merged into a whole one is fine, a removed required sub-attribute is not", () => {
    const stored = user({ badge: { number: "7", site: "X" }, keys: [{ value: "k1", label: "a" }] });
    const patch = (resource: Obj, operations: unknown[]) => applyPatch(resource, operations, options);
    expect((patch(stored, [{ op: "add", path: `${EXT}:badge`, value: { site: "Y" } }]).resource[EXT] as Obj).badge).toEqual({ number: "7", site: "Y" });
    expect((patch(stored, [{ op: "replace", path: `${EXT}:badge.site`, value: "Z" }]).resource[EXT] as Obj).badge).toEqual({ number: "7", site: "Z" });
    expectScimError(() => patch(stored, [{ op: "remove", path: `${EXT}:badge.number` }]), "invalidValue");
    expectScimError(() => patch(user(), [{ op: "add", path: `${EXT}:badge`, value: { site: "Y" } }]), "invalidValue");
    expectScimError(() => patch(user(), [{ op: "add", path: `${EXT}:badge.site`, value: "Y" }]), "invalidValue");
    expectScimError(() => patch(stored, [{ op: "add", path: `${EXT}:keys`, value: [{ label: "b" }] }]), "invalidValue");
    // A remove then an add in one request: the result has it.
    expect((patch(stored, [{ op: "remove", path: `${EXT}:badge.number` }, { op: "add", path: `${EXT}:badge.number`, value: "8" }]).resource[EXT] as Obj).badge).toEqual({ number: "8", site: "X" });
    expect(patch(stored, [{ op: "remove", path: `${EXT}:badge` }]).resource[EXT]).toEqual({ keys: [{ value: "k1", label: "a" }] });
  });
});

describe("atomicity", () => {
  it("when the second operation fails, the error is thrown and the input is unchanged", () => {
    const user = bjensen();
    const snapshot = structuredClone(user);
    const ops = [
      { op: "replace", path: "displayName", value: "Changed" },
      { op: "add", path: "emails", value: [{ value: "n@x.example", primary: true }] },
      { op: "replace", path: "id", value: "hijack" },
    ];
    const opsSnapshot = structuredClone(ops);
    let result: unknown = "not assigned";
    const e = expectScimError(() => {
      result = patchUser(user, ops);
    }, "mutability", 2);
    expect(e.detail).toContain("id");
    expect(result).toBe("not assigned");
    expect(user).toEqual(snapshot);
    expect(ops).toEqual(opsSnapshot);
  });

  it("a failing group operation after member changes leaves the group as it was", () => {
    const g = tourGuides();
    const snapshot = structuredClone(g);
    expectScimError(
      () => patchGroup(g, [{ op: "remove", path: "members" }, { op: "remove", path: "displayName" }]),
      "mutability",
      1,
    );
    expect(g).toEqual(snapshot);
  });
});

// ---- unknown attributes ----

describe("unknown attributes", () => {
  it("are dropped by default", () => {
    const { resource, changed } = patchUser(bjensen(), [
      { op: "add", path: "favoriteColor", value: "blue" },
      { op: "replace", value: { shoeSize: 42, "urn:example:custom:2.0:User:badge": "x", "name.nickname": "y" } },
      { op: "remove", path: "unknownThing" },
      { op: "add", path: "emails", value: [{ value: "z@x.example", label: "z" }] },
    ]);
    expect(resource).not.toHaveProperty("favoriteColor");
    expect(resource).not.toHaveProperty("shoeSize");
    expect(resource).not.toHaveProperty("urn:example:custom:2.0:User:badge");
    expect((resource.emails as Obj[]).at(-1)).toEqual({ value: "z@x.example" });
    expect(changed).toBe(true);
  });

  it("make nothing change on their own", () => {
    const { resource, changed } = patchUser(bjensen(), [{ op: "add", path: "favoriteColor", value: "blue" }]);
    expect(changed).toBe(false);
    expect(resource).toEqual(bjensen());
  });

  it("are rejected with strict: true", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "add", path: "favoriteColor", value: "blue" }], { strict: true }), "invalidPath", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", value: { shoeSize: 42 } }], { strict: true }), "invalidPath", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: 'emails[type eq "work"].label', value: "x" }], { strict: true }), "invalidPath", 0);
    expectScimError(() => patchUser(enterpriseUser(), [{ op: "replace", value: { [ENTERPRISE]: { badge: 1 } } }], { strict: true }), "invalidPath", 0);
    const e = expectScimError(() => patchUser(bjensen(), [{ op: "add", path: "emails", value: [{ value: "z@x.example", label: "z" }] }], { strict: true }), "invalidValue", 0);
    expect(e.detail).toContain("label");
  });

  it("strict mode still accepts known attributes in any case", () => {
    const { resource } = patchUser(bjensen(), [{ op: "replace", value: { NICKNAME: "B", "Name.GivenName": "G" } }], { strict: true });
    expect(resource.nickName).toBe("B");
    expect((resource.name as Obj).givenName).toBe("G");
  });
});

// ---- prototype pollution ----

describe("prototype pollution", () => {
  const payloads: [string, string][] = [
    ["path-less value key", `[{"op":"add","value":{"__proto__":{"polluted":"yes"}}}]`],
    ["path-less constructor key", `[{"op":"add","value":{"constructor":{"prototype":{"polluted":"yes"}}}}]`],
    ["path-less prototype key", `[{"op":"replace","value":{"prototype":{"polluted":"yes"}}}]`],
    ["path-less key in another case", `[{"op":"add","value":{"__PROTO__":{"polluted":"yes"}}}]`],
    ["dotted key", `[{"op":"add","value":{"name.__proto__":{"polluted":"yes"}}}]`],
    ["dotted key (constructor)", `[{"op":"add","value":{"name.constructor":"yes"}}]`],
    ["URN key", `[{"op":"add","value":{"${ENTERPRISE}:__proto__":{"polluted":"yes"}}}]`],
    ["URN key (prototype)", `[{"op":"add","value":{"${ENTERPRISE}:prototype":"yes"}}]`],
    ["nested in a complex value", `[{"op":"add","value":{"name":{"__proto__":{"polluted":"yes"}}}}]`],
    ["nested in a complex value with a path", `[{"op":"replace","path":"name","value":{"__proto__":{"polluted":"yes"}}}]`],
    ["nested in a multi-valued element", `[{"op":"add","path":"emails","value":[{"value":"a@b.example","__proto__":{"polluted":"yes"}}]}]`],
    ["nested in a member", `[{"op":"add","path":"members","value":[{"value":"x","constructor":{"prototype":{"polluted":"yes"}}}]}]`],
    ["nested under an unknown attribute", `[{"op":"add","value":{"foo":{"bar":[{"__proto__":{"polluted":"yes"}}]}}}]`],
    ["in an extension object", `[{"op":"add","value":{"${ENTERPRISE}":{"__proto__":{"polluted":"yes"}}}}]`],
    ["in an extension object with a path", `[{"op":"add","path":"${ENTERPRISE}","value":{"__proto__":{"polluted":"yes"}}}]`],
    ["in the manager value", `[{"op":"add","path":"${ENTERPRISE}:manager","value":{"value":"m","__proto__":{"polluted":"yes"}}}]`],
    ["in a filtered add", `[{"op":"add","path":"addresses[type eq \\"other\\"]","value":{"__proto__":{"polluted":"yes"}}}]`],
    ["in a filtered replace", `[{"op":"replace","path":"addresses[type eq \\"work\\"]","value":{"__proto__":{"polluted":"yes"}}}]`],
    ["in a removal value array", `[{"op":"remove","path":"emails","value":[{"__proto__":{"polluted":"yes"}}]}]`],
    ["as an operation key", `[{"op":"add","path":"title","value":"x","__proto__":{"polluted":"yes"}}]`],
    ["path segment", `[{"op":"add","path":"__proto__","value":{"polluted":"yes"}}]`],
    ["path segment with sub-attribute", `[{"op":"add","path":"__proto__.polluted","value":"yes"}]`],
    ["path sub-attribute", `[{"op":"add","path":"name.__proto__","value":{"polluted":"yes"}}]`],
    ["path constructor.prototype", `[{"op":"add","path":"constructor.prototype","value":{"polluted":"yes"}}]`],
    ["path prototype", `[{"op":"add","path":"prototype","value":{"polluted":"yes"}}]`],
    ["URN path segment", `[{"op":"add","path":"${ENTERPRISE}:__proto__","value":{"polluted":"yes"}}]`],
    ["URN path constructor", `[{"op":"add","path":"${ENTERPRISE}:constructor","value":{"polluted":"yes"}}]`],
    ["sub-attribute after a filter", `[{"op":"add","path":"emails[type eq \\"work\\"].__proto__","value":{"polluted":"yes"}}]`],
    ["sub-attribute after a filter (constructor)", `[{"op":"add","path":"emails[type eq \\"work\\"].constructor","value":{"polluted":"yes"}}]`],
    ["value-filter attribute", `[{"op":"add","path":"emails[__proto__ eq \\"polluted\\"].value","value":"yes"}]`],
    ["value-filter attribute (constructor)", `[{"op":"add","path":"emails[constructor eq \\"x\\"]","value":{"value":"yes"}}]`],
    ["value-filter attribute (prototype) in a member removal", `[{"op":"remove","path":"members[prototype eq \\"x\\"]"}]`],
  ];

  it.each(payloads)("%s is a 400 and never reaches a prototype", (_name, json) => {
    const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    const arrayProtoKeys = Object.getOwnPropertyNames(Array.prototype).sort();
    const ops = JSON.parse(json) as unknown[];
    for (const [resourceType, resource] of [["User", enterpriseUser()], ["Group", tourGuides()]] as const) {
      for (const deferMembers of [false, true]) {
        let thrown: unknown;
        try {
          applyPatch(resource, ops, { resourceType, deferMembers });
        } catch (e) {
          thrown = e;
        }
        // `members` does not exist on a User (and vice versa): the payload may be dropped as an
        // unknown attribute only if it never names a forbidden key, which these all do.
        expect(isScimError(thrown), `${resourceType}: ${String(thrown)}`).toBe(true);
        expect((thrown as ScimError).status).toBe(400);
        expect((thrown as ScimError).detail).toMatch(/^Operations\[0\]: /);
      }
    }
    expect(({} as Obj).polluted).toBeUndefined();
    expect((Object.prototype as Obj).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeys);
    expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(arrayProtoKeys);
  });

  it("rejects them in strict mode too", () => {
    for (const [, json] of payloads) {
      let thrown: unknown;
      try {
        applyPatch(enterpriseUser(), JSON.parse(json), { resourceType: "User", strict: true });
      } catch (e) {
        thrown = e;
      }
      expect(isScimError(thrown) && thrown.status === 400, json).toBe(true);
    }
    expect(({} as Obj).polluted).toBeUndefined();
  });

  it('"__proto__", "constructor" and "prototype" as values are ordinary strings', () => {
    const g = patchGroup(group([]), JSON.parse(`[{"op":"replace","value":{"displayName":"__proto__"}}]`)).resource;
    expect(g.displayName).toBe("__proto__");
    expect(Object.getPrototypeOf(g)).toBe(Object.prototype);

    const { resource } = patchUser(enterpriseUser(), JSON.parse(`[
      {"op":"replace","path":"displayName","value":"constructor"},
      {"op":"add","path":"emails","value":[{"value":"prototype@x.example","type":"__proto__"}]},
      {"op":"replace","path":"${ENTERPRISE}:department","value":"__proto__"},
      {"op":"add","path":"members","value":[{"value":"__proto__"}]}
    ]`));
    expect(resource.displayName).toBe("constructor");
    expect((resource.emails as Obj[]).at(-1)).toEqual({ value: "prototype@x.example", type: "__proto__" });
    expect((resource[ENTERPRISE] as Obj).department).toBe("__proto__");

    const members = patchGroup(group([]), [{ op: "add", path: "members", value: [{ value: "__proto__", display: "constructor" }] }]);
    expect(members.resource.members).toEqual([{ value: "__proto__", display: "constructor" }]);
    const removed = patchGroup(members.resource, [{ op: "remove", path: 'members[value eq "__proto__"]' }]);
    expect(removed.resource).not.toHaveProperty("members");
    expect(removed.memberChanges).toEqual([{ op: "remove", values: ["__proto__"] }]);
    expect(({} as Obj).polluted).toBeUndefined();
  });

  it("a filter value of __proto__ creates a plain element", () => {
    const user = { ...bjensen() };
    delete user.emails;
    const { resource } = patchUser(user, [{ op: "add", path: 'emails[type eq "__proto__"].value', value: "p@x.example" }]);
    expect(resource.emails).toEqual([{ type: "__proto__", value: "p@x.example" }]);
    expect(Object.getPrototypeOf((resource.emails as Obj[])[0])).toBe(Object.prototype);
  });
});

// ---- small tolerances ----

describe("tolerances", () => {
  it("an empty Operations array is a no-op", () => {
    const { resource, changed, memberChanges } = patchGroup(tourGuides(), []);
    expect(resource).toEqual(tourGuides());
    expect(changed).toBe(false);
    expect(memberChanges).toEqual([]);
  });

  it("a path with surrounding spaces, and a null path on add", () => {
    expect(patchUser(bjensen(), [{ op: "replace", path: "  title ", value: "x" }]).resource.title).toBe("x");
    expect(patchUser(bjensen(), [{ op: "add", path: null, value: { title: "y" } }]).resource.title).toBe("y");
  });

  it("attribute names in paths and values match case-insensitively and come back in declared case", () => {
    const { resource } = patchUser(bjensen(), [
      { op: "replace", path: "DISPLAYNAME", value: "A" },
      { op: "replace", path: 'EMAILS[TYPE eq "WORK"].VALUE', value: "w@x.example" },
      { op: "replace", value: { NAME: { GIVENNAME: "G" } } },
    ]);
    expect(resource.displayName).toBe("A");
    expect((resource.emails as Obj[])[0]).toEqual({ value: "w@x.example", type: "work", primary: true });
    expect((resource.name as Obj).givenName).toBe("G");
    expect(resource).not.toHaveProperty("DISPLAYNAME");
  });

  it("a number for a string attribute is a 400 invalidValue, by path and in a path-less value", () => {
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", path: "userName", value: 12345 }]), "invalidValue", 0);
    expectScimError(() => patchUser(bjensen(), [{ op: "replace", value: { displayName: "x" } }, { op: "replace", value: { [`${ENTERPRISE}:employeeNumber`]: 7 } }]), "invalidValue", 1);
  });

  it("a single value for a multi-valued attribute is taken as a one-element list", () => {
    const { resource } = patchUser(bjensen(), [{ op: "add", path: "emails", value: { value: "solo@x.example", type: "other" } }]);
    expect((resource.emails as Obj[]).at(-1)).toEqual({ value: "solo@x.example", type: "other" });
  });

  it("schemas and read-only attributes inside a path-less value are ignored", () => {
    const { resource, changed } = patchUser(bjensen(), [
      { op: "replace", value: { schemas: ["urn:bogus"], id: "x", meta: { created: "2000-01-01T00:00:00Z" }, groups: [{ value: "g" }] } },
    ]);
    expect(changed).toBe(false);
    expect(resource).toEqual(bjensen());
  });

  it("a group's members, renamed and re-synced together, keep the operation order", () => {
    const { resource, memberChanges } = patchGroup(group(["a"]), [
      { op: "replace", value: { displayName: "New", members: [{ value: "b" }] } },
      { op: "add", path: "members", value: [{ value: "c" }] },
    ]);
    expect(resource.displayName).toBe("New");
    expect(memberValues(resource)).toEqual(["b", "c"]);
    expect(memberChanges).toEqual([
      { op: "replace", members: [{ value: "b" }] },
      { op: "add", members: [{ value: "c" }] },
    ]);
  });
});

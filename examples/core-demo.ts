/**
 * A tour of scim-core in one script: `pnpm demo`.
 * Validates an Entra-style user, filters it the way Okta and Entra look users up, applies the
 * PATCH requests they send, and projects the result for a response.
 */
import {
  applyPatch,
  compileFilter,
  isScimError,
  listResponse,
  parseFilter,
  parsePatchRequest,
  projectResource,
  validateResource,
} from "scim-core";

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// 1. An Entra ID create request: an extra Microsoft schema URN, null attributes, roles: [].
const created = validateResource(
  {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"],
    externalId: "jyoung",
    userName: "Jessica.Young@example.com",
    active: true,
    displayName: "Jessica Young",
    emails: [{ primary: true, type: "work", value: "Jessica.Young@example.com" }],
    name: { givenName: "Jessica", familyName: "Young" },
    roles: [],
    meta: { resourceType: "User" },
    password: "never-returned",
    [ENTERPRISE]: { department: "Sales", manager: null },
  },
  { resourceType: "User" },
);
const user = { ...created, id: "2819c223-7f76-453a-919d-413861904646" };
console.log("validated, as a store keeps it (declared casing, unknown schema dropped; the password is for the store and never returned):\n", JSON.stringify(user, null, 2));

// 2. Lookups as the IdPs send them; Entra's unquoted value needs the lenient parser.
for (const [filter, lenient] of [
  ['userName eq "jessica.young@EXAMPLE.com"', false],
  ["externalId eq jyoung", true],
  ['emails[type eq "work"].value eq "jessica.young@example.com"', false],
  [`${ENTERPRISE}:department eq "sales" and not (active eq false)`, false],
] as const) {
  const matches = compileFilter(parseFilter(filter, { lenient }), { resourceType: "User" });
  console.log(`${matches(user) ? "match   " : "no match"}  ${filter}`);
}
try {
  parseFilter('userName eq "unterminated');
} catch (error) {
  if (isScimError(error)) console.log("invalid filter ->", JSON.stringify(error.toJSON()));
}

// 3. Entra's default-style PATCH: capitalised ops, "False" strings, URN paths.
const operations = parsePatchRequest({
  schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  Operations: [
    { op: "Replace", path: "active", value: "False" },
    { op: "Add", path: 'emails[type eq "work"].value', value: "jessica@example.com" },
    { op: "Replace", path: `${ENTERPRISE}:employeeNumber`, value: "701984" },
    { op: "Add", path: `${ENTERPRISE}:manager`, value: "26118915-6090-4610-87e4-49d8ca9f808d" },
  ],
});
const { resource: patched } = applyPatch(user, operations, { resourceType: "User" });

// 4. The response body, projected as a client asked: password is never returned.
const body = listResponse({
  resources: [projectResource(patched, { resourceType: "User", attributes: "userName,active,emails.value," + ENTERPRISE })],
  startIndex: 1,
});
console.log("after PATCH, as a ListResponse:\n", JSON.stringify(body, null, 2));

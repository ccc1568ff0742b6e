/**
 * The data set of the SQL benchmark: N deterministic, realistic Users (RFC 7643 §4.1 core + the
 * enterprise extension, ~1.2 KB of JSON each), generated from their index alone, so that every
 * store gets the same users without holding them all in memory, and any user's userName,
 * externalId, work email and id can be recomputed for lookups.
 *
 * Users with index i % 10 === 0 are the members of the large group (100,000 at 1,000,000 users);
 * users 1, 11, ..., 91 are the small group's 10 members; users with i % 10 === 5 are in no group
 * and are the ones the member PATCH adds and removes again.
 */
export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
export const TENANT = "bench";

const GIVEN = [
  "Isabella", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sofía", "Lucas", "Mia", "Ethan", "Aarav", "Yuki",
  "Chloé", "Jürgen", "Fatima", "Wei", "Priya", "Oluwaseun", "Barbara", "James", "Ana", "Mohammed", "Sven", "Zoë",
];
const FAMILY = [
  "Smith", "Sanchez", "Schmidt", "Singh", "Suzuki", "Stewart", "Silva", "Sorensen", "Garcia", "Johnson", "Muller",
  "Nguyen", "OMalley", "Jensen", "Kowalski", "Okafor", "Tanaka", "deSouza", "vanDijk", "Simic", "Brown", "Lee",
  "Patel", "Rossi", "Ivanova", "Haddad", "Chen",
];
const DOMAINS = ["example.com", "Example.COM", "contoso.com", "fabrikam.io", "corp.example.org"];
const HOME_DOMAINS = ["gmail.com", "outlook.com", "proton.me", "yahoo.co.jp", "web.de"];
const TITLES = ["Engineer", "Senior Engineer", "Manager", "Director", "Sales Representative", "Analyst", "Designer", "VP Sales"];
const DEPARTMENTS = ["Sales", "Engineering", "Marketing", "Finance", "Support", "Legal", "HR", "Operations"];
const DIVISIONS = ["Americas", "EMEA", "APAC", "Corporate"];
const CITIES = [
  ["Seattle", "WA", "US", "98101"], ["Austin", "TX", "US", "73301"], ["Berlin", "BE", "DE", "10115"], ["Lyon", "ARA", "FR", "69001"],
  ["Osaka", "27", "JP", "530-0001"], ["Lagos", "LA", "NG", "100001"], ["Pune", "MH", "IN", "411001"], ["Toronto", "ON", "CA", "M5H 2N2"],
] as const;
const LOCALES = [["en-US", "America/Los_Angeles"], ["de-DE", "Europe/Berlin"], ["fr-FR", "Europe/Paris"], ["ja-JP", "Asia/Tokyo"], ["en-GB", "Europe/London"]] as const;

/** A 32-bit hash of (i, salt): the generator's only source of variety (no state, any order). */
function h(i: number, salt: number): number {
  let x = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 1, 0xc2b2ae35);
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const hex = (x: number, n: number) => x.toString(16).padStart(8, "0").slice(-n);

/** A UUID-shaped id that embeds i (so it is unique) after hash-derived digits. */
function uuidOf(i: number, salt: number): string {
  return `${hex(h(i, salt), 8)}-${hex(h(i, salt + 1), 4)}-4${hex(h(i, salt + 2), 3)}-a${hex(h(i, salt + 3), 3)}-${i.toString(16).padStart(12, "0")}`;
}

/** The keys a benchmark looks a user up by. */
export interface UserKeys {
  id: string;
  userName: string;
  externalId: string;
  workEmail: string;
}

function names(i: number): { given: string; family: string; domain: string } {
  return { given: GIVEN[h(i, 10) % GIVEN.length], family: FAMILY[h(i, 11) % FAMILY.length], domain: DOMAINS[h(i, 12) % DOMAINS.length] };
}

/** The lookup keys of user i (cheap: no document is built). */
export function userKeys(i: number): UserKeys {
  const { given, family, domain } = names(i);
  const local = `${given}.${family}${i}`;
  // Mixed case in a third of the userNames: lookups must fold case (userName is caseExact=false).
  const userName = h(i, 13) % 3 === 0 ? `${local}@${domain}` : `${local}@${domain}`.toLowerCase();
  return { id: uuidOf(i, 20), userName, externalId: uuidOf(i, 30), workEmail: `${local}@${domain}` };
}

/** User i's attributes as a store keeps them (no id, no meta), about 1.2 KB as JSON. */
export function userAttributes(i: number): Record<string, unknown> {
  const k = userKeys(i);
  const { given, family } = names(i);
  const home = HOME_DOMAINS[h(i, 14) % HOME_DOMAINS.length];
  const [city, region, country, postal] = CITIES[h(i, 15) % CITIES.length];
  const [locale, timezone] = LOCALES[h(i, 16) % LOCALES.length];
  const phone = `+1 555 ${String(h(i, 17) % 1000).padStart(3, "0")} ${String(h(i, 18) % 10000).padStart(4, "0")}`;
  const manager = uuidOf(i - (i % 50), 20);
  return {
    schemas: [USER_SCHEMA, ENTERPRISE],
    externalId: k.externalId,
    userName: k.userName,
    name: { formatted: `Ms. ${given} ${family}`, familyName: family, givenName: given, middleName: "J", honorificPrefix: "Ms." },
    displayName: `${given} ${family}`,
    nickName: given.slice(0, 4),
    profileUrl: `https://login.example.com/profiles/${given.toLowerCase()}${i}`,
    title: TITLES[h(i, 19) % TITLES.length],
    userType: h(i, 21) % 10 === 0 ? "Contractor" : "Employee",
    preferredLanguage: locale,
    locale,
    timezone,
    active: h(i, 22) % 10 !== 0,
    emails: [
      { value: k.workEmail, type: "work", primary: true },
      { value: `${given}.${family}.${i}@${home}`.toLowerCase(), type: "home" },
    ],
    phoneNumbers: [
      { value: phone, type: "work" },
      { value: phone.replace("555", "556"), type: "mobile" },
    ],
    addresses: [
      {
        type: "work",
        streetAddress: `${100 + (h(i, 23) % 9000)} Main Street, Floor ${1 + (h(i, 24) % 40)}`,
        locality: city,
        region,
        postalCode: postal,
        country,
        formatted: `${100 + (h(i, 23) % 9000)} Main Street\n${city}, ${region} ${postal}\n${country}`,
        primary: true,
      },
    ],
    [ENTERPRISE]: {
      employeeNumber: String(100000 + i),
      costCenter: `CC-${1000 + (h(i, 25) % 400)}`,
      organization: "Example Corp",
      division: DIVISIONS[h(i, 26) % DIVISIONS.length],
      department: DEPARTMENTS[h(i, 27) % DEPARTMENTS.length],
      manager: { value: manager, displayName: `Manager of team ${Math.floor(i / 50)}` },
    },
  };
}

/** An index-paging-stable creation instant for user i (all distinct, increasing with i). */
export function createdOf(i: number): string {
  return new Date(Date.UTC(2022, 0, 1) + i * 1000).toISOString();
}

/** The large group's member indexes: i % 10 === 0, at most 100,000. */
export function largeGroupMembers(users: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < users && out.length < 100_000; i += 10) out.push(i);
  return out;
}

/** The small group's 10 member indexes. */
export function smallGroupMembers(users: number): number[] {
  return Array.from({ length: 10 }, (_, k) => 1 + 10 * k).filter((i) => i < users);
}

/** Users in no group (i % 10 === 5): the member PATCH adds one and removes it again. */
export function outsiders(users: number, count: number, seed: number): number[] {
  const slots = Math.floor((users - 5) / 10) + 1;
  return Array.from({ length: count }, (_, k) => 5 + 10 * (h(k, seed) % slots));
}

/** `count` random user indexes below `users` (deterministic). */
export function randomUsers(users: number, count: number, seed: number): number[] {
  return Array.from({ length: count }, (_, k) => h(k, seed) % users);
}

/** Deep-freezes a JSON value (memoryStore then keeps it without copying). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

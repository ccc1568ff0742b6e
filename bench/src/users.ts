/**
 * Deterministic, realistic User resources for the matching benchmark, the five filters it runs,
 * and a hand-written JavaScript predicate per filter with the same SCIM semantics (RFC 7643
 * schema: userName, emails.value, emails.type, name.familyName, department are caseExact=false;
 * dateTimes compare as instants; multi-valued attributes match when any element does; `pr` needs
 * a non-empty value). The hand-written predicates are the physical limit for a matcher.
 */
import { rng } from "./harness.js";

export const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";

export type User = Record<string, any>;

const GIVEN = [
  "Isabella", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sofía", "Lucas", "Mia", "Ethan", "Aarav", "Yuki",
  "Chloé", "Jürgen", "Fatima", "Wei", "Priya", "Oluwaseun", "Barbara", "James", "Ana", "Mohammed", "Sven", "Zoë",
];
const FAMILY = [
  "Smith", "Sanchez", "Schmidt", "Singh", "Suzuki", "Stewart", "Silva", "Sørensen", "Garcia", "Johnson", "Müller",
  "Nguyen", "O'Malley", "Jensen", "Kowalski", "Okafor", "Tanaka", "de Souza", "van Dijk", "Šimić", "Brown", "Lee",
  "smythe", "Patel", "Rossi", "Ivanova", "Haddad", "Chen",
];
const DOMAINS = ["example.com", "Example.COM", "EXAMPLE.com", "example.org", "contoso.com", "fabrikam.io", "mail.example.com"];
const TITLES = ["Engineer", "Senior Engineer", "Manager", "Director", "Sales Representative", "Analyst", "Designer", "VP Sales"];
const DEPARTMENTS = ["Sales", "sales", "SALES", "Sales Ops", "Engineering", "Marketing", "Finance", "Support", "Legal", "HR"];
const OFFSETS = [0, 0, 120, -300, 330, -480, 540, 60, -210];

function hex(r: () => number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += Math.floor(r() * 16).toString(16);
  return s;
}

function uuid(r: () => number): string {
  return `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;
}

/** xsd:dateTime for `epochMs` written in the given UTC offset, with 0, 3, 6 or 7 fraction digits. */
export function formatDateTime(epochMs: number, offsetMin: number, fracDigits: number, r: () => number, zulu = true): string {
  const local = new Date(epochMs + offsetMin * 60000).toISOString(); // "YYYY-MM-DDTHH:MM:SS.mmmZ"
  let s = local.slice(0, 19);
  if (fracDigits > 0) s += "." + (local.slice(20, 23) + hex(r, 4).replace(/[a-f]/g, "0")).slice(0, fracDigits);
  if (offsetMin === 0 && zulu) return s + "Z";
  const sign = offsetMin < 0 ? "-" : "+";
  const a = Math.abs(offsetMin);
  return `${s}${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

const MATCH_INSTANT = Date.UTC(2024, 2, 1, 8, 0, 0); // 2024-03-01T10:00:00+02:00

export function generateUsers(n: number, seed = 20240301): User[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const users: User[] = [];
  for (let i = 0; i < n; i++) {
    const given = pick(GIVEN);
    const family = pick(FAMILY);
    const domain = pick(DOMAINS);
    const local = `${given}.${family.replace(/[^A-Za-zÀ-ž]/g, "")}${i}`;
    const style = r();
    const userName =
      style < 0.4 ? `${local}@${domain}` : style < 0.7 ? `${local}@${domain}`.toLowerCase() : style < 0.85 ? `${given[0]}${family}${i}`.toUpperCase() : `${given}${i}`;
    const u: User = {
      schemas: [USER_SCHEMA],
      id: uuid(r),
      externalId: r() < 0.8 ? uuid(r) : undefined,
      userName,
      name: { givenName: given, familyName: family, formatted: `${given} ${family}` },
      displayName: `${given} ${family}`,
      active: r() < 0.85,
    };
    if (r() < 0.03) delete u.name.familyName;
    if (u.externalId === undefined) delete u.externalId;
    // emails: 10% none; otherwise 1-3 with types, the first one primary.
    if (r() >= 0.1) {
      const count = 1 + Math.floor(r() * 3);
      const emails = [];
      for (let k = 0; k < count; k++) {
        const type = k === 0 ? (r() < 0.75 ? "work" : "home") : pick(["home", "other", "work"]);
        const d = type === "work" ? domain : pick(DOMAINS);
        const value = r() < 0.5 ? `${local}@${d}` : `${local}@${d}`.toLowerCase();
        emails.push(k === 0 ? { value, type, primary: true } : { value, type });
      }
      u.emails = emails;
    }
    const t = r();
    if (t < 0.55) u.title = pick(TITLES);
    else if (t < 0.57) u.title = "";
    // meta.lastModified around the filter's instant, in varied offsets and precisions.
    const created = MATCH_INSTANT - Math.floor(r() * 400 * 86400000);
    let modified = MATCH_INSTANT + Math.floor((r() - 0.5) * 60 * 86400000);
    if (modified < created) modified = created;
    u.meta = {
      resourceType: "User",
      created: formatDateTime(created, 0, 3, r),
      lastModified: formatDateTime(modified, pick(OFFSETS), pick([0, 3, 6, 7]), r, r() < 0.7),
      version: `W/"${hex(r, 8)}"`,
      location: `https://scim.example.com/v2/Users/${u.id}`,
    };
    if (r() < 0.7) {
      u.schemas.push(ENTERPRISE);
      u[ENTERPRISE] = {
        employeeNumber: String(100000 + i),
        department: pick(DEPARTMENTS),
        ...(r() < 0.8 ? { manager: { value: uuid(r) } } : {}),
      };
    }
    users.push(u);
  }
  // Boundary cases for `meta.lastModified gt "2024-03-01T10:00:00+02:00"`: the same instant in
  // other offsets (no match), one millisecond later (match), one millisecond earlier (no match).
  const boundary = [
    "2024-03-01T08:00:00Z", "2024-03-01T10:00:00+02:00", "2024-03-01T03:00:00-05:00", "2024-03-01T08:00:00.000Z",
    "2024-03-01T13:30:00+05:30", "2024-03-01T08:00:00.001Z", "2024-03-01T09:59:59.999+01:00", "2024-03-01T10:00:00.001+02:00",
  ];
  boundary.forEach((lm, k) => (users[(k * 9973 + 11) % n].meta.lastModified = lm));
  return users;
}

/**
 * The hand-written dateTime parser of the baseline: xsd:dateTime (`YYYY-MM-DDTHH:MM:SS[.f+](Z|±HH:MM)`)
 * to epoch milliseconds (fraction kept below the millisecond), NaN when the shape is wrong.
 */
function digits2(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) * 10 + (s.charCodeAt(i + 1) - 48);
}
export function dateTimeToEpochMs(s: string): number {
  const n = s.length;
  if (n < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (s.charCodeAt(10) | 32) !== 116 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58)
    return NaN;
  let y = digits2(s, 0) * 100 + digits2(s, 2);
  const m = digits2(s, 5);
  const d = digits2(s, 8);
  // Days from 1970-01-01 (H. Hinnant's days_from_civil).
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  let ms = days * 86400000 + digits2(s, 11) * 3600000 + digits2(s, 14) * 60000 + digits2(s, 17) * 1000;
  let i = 19;
  if (s.charCodeAt(i) === 46) {
    let scale = 100;
    for (i++; i < n; i++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      ms += c * scale;
      scale /= 10;
    }
  }
  const z = s.charCodeAt(i);
  if ((z | 32) === 122) return i + 1 === n ? ms : NaN;
  if ((z === 43 || z === 45) && i + 6 === n && s.charCodeAt(i + 3) === 58) {
    const off = (digits2(s, i + 1) * 60 + digits2(s, i + 4)) * 60000;
    return z === 43 ? ms - off : ms + off;
  }
  return NaN;
}

export interface MatchCase {
  id: string;
  text: string;
  /** Hand-written predicate with the filter's SCIM semantics. */
  hand: (u: User) => boolean;
}

/** Swaps the case of every letter: `Isabella.Garcia12@Example.com` -> `iSABELLA.gARCIA12@eXAMPLE.COM`. */
function swapCase(s: string): string {
  return [...s].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join("");
}

export function matchCases(users: User[]): MatchCase[] {
  const target = users.find((u, i) => i > users.length * 0.4 && /[A-Z]/.test(u.userName) && /[a-z]/.test(u.userName))!;
  const wantedUserName = swapCase(target.userName);
  const wantedLower = wantedUserName.toLowerCase();
  const instant = dateTimeToEpochMs("2024-03-01T10:00:00+02:00");
  return [
    {
      id: "userName eq (mixed case)",
      text: `userName eq ${JSON.stringify(wantedUserName)}`,
      hand: (u) => typeof u.userName === "string" && u.userName.toLowerCase() === wantedLower,
    },
    {
      id: "emails[type+value co]",
      text: `emails[type eq "work" and value co "@example.com"]`,
      hand: (u) => {
        const es = u.emails;
        if (!Array.isArray(es)) return false;
        for (let i = 0; i < es.length; i++) {
          const e = es[i];
          if (typeof e.type === "string" && e.type.toLowerCase() === "work" && typeof e.value === "string" && e.value.toLowerCase().includes("@example.com"))
            return true;
        }
        return false;
      },
    },
    {
      id: "meta.lastModified gt",
      text: `meta.lastModified gt "2024-03-01T10:00:00+02:00"`,
      hand: (u) => {
        const v = u.meta?.lastModified;
        return typeof v === "string" && dateTimeToEpochMs(v) > instant;
      },
    },
    {
      id: "active and familyName sw",
      text: `active eq true and name.familyName sw "s"`,
      hand: (u) => {
        const f = u.name?.familyName;
        return u.active === true && typeof f === "string" && f.toLowerCase().startsWith("s");
      },
    },
    {
      id: "title pr or department eq",
      text: `title pr or ${ENTERPRISE}:department eq "Sales"`,
      hand: (u) => {
        if (typeof u.title === "string" && u.title.length > 0) return true;
        const d = u[ENTERPRISE]?.department;
        return typeof d === "string" && d.toLowerCase() === "sales";
      },
    },
  ];
}

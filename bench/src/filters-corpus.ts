/**
 * Real-world SCIM filters (Okta, Microsoft Entra ID, RFC 7644 §3.4.2.2, and the shapes that
 * provisioning clients and admin UIs send), each as a generator of 64 variants whose literal
 * values differ, so that no parser can benefit from caching. Variant 0 is the verbatim text
 * (for RFC examples, exactly as printed in the RFC).
 */

export const VARIANTS = 64;

/** Builds the literals of variant `k`. Every method returns filter text (strings JSON-quoted). */
export class V {
  constructor(readonly k: number) {}

  /** A string literal: variant 0 is `def`, others insert k before the last "." (or append it). */
  str(def: string): string {
    return JSON.stringify(this.rawStr(def));
  }

  /** A string literal with k appended (variant 0 is `def`). */
  strAppend(def: string): string {
    return JSON.stringify(this.k === 0 ? def : `${def}${this.k}`);
  }

  rawStr(def: string): string {
    if (this.k === 0) return def;
    const dot = def.lastIndexOf(".");
    return dot > 0 ? `${def.slice(0, dot)}${this.k}${def.slice(dot)}` : `${def}${this.k}`;
  }

  /** A dateTime literal in the same format as `def`, with the minutes shifted by k. */
  date(def: string): string {
    const m = /^(.{14})(\d\d)(.*)$/.exec(def)!;
    const min = (Number(m[2]) + this.k) % 60;
    return JSON.stringify(`${m[1]}${String(min).padStart(2, "0")}${m[3]}`);
  }

  num(def: number): string {
    return String(def + this.k);
  }

  /** A UUID derived from k and a salt (variant 0 of a verbatim one is `def`). */
  uuid(salt: number, def?: string): string {
    if (this.k === 0 && def) return JSON.stringify(def);
    let h = (salt * 2654435761 + this.k * 40503 + 12345) >>> 0;
    let s = "";
    for (let i = 0; i < 32; i++) {
      h = Math.imul(h ^ (h >>> 13), 1274126177) >>> 0;
      s += (h & 15).toString(16);
    }
    return JSON.stringify(`${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20)}`);
  }

  /** An attribute name with the letters' case flipped by the bits of k (names are case-insensitive). */
  name(def: string): string {
    let out = "";
    let bit = 0;
    for (const ch of def) {
      if (/[a-zA-Z]/.test(ch)) {
        const flip = (this.k >> bit++) & 1;
        out += flip ? (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()) : ch;
      } else out += ch;
    }
    return out;
  }
}

export interface CorpusFilter {
  id: string;
  source: string;
  /** The resource type the filter is written for. */
  resourceType: "User" | "Group";
  gen: (v: V) => string;
}

const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE = "urn:ietf:params:scim:schemas:core:2.0:User";

export const FILTERS: CorpusFilter[] = [
  // --- Okta -------------------------------------------------------------------------------
  { id: "okta-userName", source: "Okta", resourceType: "User", gen: (v) => `userName eq ${v.str("isabella.garcia@example.com")}` },
  { id: "okta-group-displayName", source: "Okta", resourceType: "Group", gen: (v) => `displayName eq ${v.str("Engineering")}` },
  { id: "okta-id", source: "Okta", resourceType: "User", gen: (v) => `id eq ${v.uuid(1)}` },
  { id: "okta-userName-sw", source: "Okta", resourceType: "User", gen: (v) => `userName sw ${v.str("isabella")}` },

  // --- Microsoft Entra ID -----------------------------------------------------------------
  { id: "entra-externalId", source: "Entra", resourceType: "User", gen: (v) => `externalId eq ${v.uuid(2)}` },
  { id: "entra-userName", source: "Entra", resourceType: "User", gen: (v) => `userName eq ${v.str("AdeleV@contoso.onmicrosoft.com")}` },
  { id: "entra-emails-work-value", source: "Entra", resourceType: "User", gen: (v) => `emails[type eq "work"].value eq ${v.str("Adele.Vance@contoso.com")}` },
  { id: "entra-group-displayName", source: "Entra", resourceType: "Group", gen: (v) => `displayName eq ${v.str("Sales and Marketing")}` },
  { id: "entra-group-externalId", source: "Entra", resourceType: "Group", gen: (v) => `externalId eq ${v.uuid(3)}` },
  { id: "entra-group-member-check", source: "Entra", resourceType: "Group", gen: (v) => `id eq ${v.uuid(4)} and members[value eq ${v.uuid(5)}]` },
  { id: "entra-group-members-eq", source: "Entra", resourceType: "Group", gen: (v) => `members eq ${v.uuid(6)}` },
  { id: "entra-manager", source: "Entra", resourceType: "User", gen: (v) => `${ENT}:manager.value eq ${v.uuid(7)}` },
  { id: "entra-employeeNumber", source: "Entra", resourceType: "User", gen: (v) => `${ENT}:employeeNumber eq ${v.str("701984")}` },

  // --- RFC 7644 §3.4.2.2 examples (variant 0 verbatim) -------------------------------------
  { id: "rfc-userName-eq", source: "RFC 7644", resourceType: "User", gen: (v) => `userName eq ${v.str("bjensen")}` },
  { id: "rfc-familyName-co", source: "RFC 7644", resourceType: "User", gen: (v) => `name.familyName co ${v.str("O'Malley")}` },
  { id: "rfc-userName-sw", source: "RFC 7644", resourceType: "User", gen: (v) => `userName sw ${v.str("J")}` },
  { id: "rfc-urn-userName-sw", source: "RFC 7644", resourceType: "User", gen: (v) => `${CORE}:userName sw ${v.str("J")}` },
  { id: "rfc-urn-familyName-co", source: "RFC 7644", resourceType: "User", gen: (v) => `${CORE}:name.familyName co ${v.str("O'Malley")}` },
  { id: "rfc-title-pr", source: "RFC 7644", resourceType: "User", gen: (v) => `${v.name("title")} pr` },
  { id: "rfc-lastModified-gt", source: "RFC 7644", resourceType: "User", gen: (v) => `meta.lastModified gt ${v.date("2011-05-13T04:42:34Z")}` },
  { id: "rfc-lastModified-ge", source: "RFC 7644", resourceType: "User", gen: (v) => `meta.lastModified ge ${v.date("2011-05-13T04:42:34Z")}` },
  { id: "rfc-lastModified-lt", source: "RFC 7644", resourceType: "User", gen: (v) => `meta.lastModified lt ${v.date("2011-05-13T04:42:34Z")}` },
  { id: "rfc-lastModified-le", source: "RFC 7644", resourceType: "User", gen: (v) => `meta.lastModified le ${v.date("2011-05-13T04:42:34Z")}` },
  { id: "rfc-title-pr-and-userType", source: "RFC 7644", resourceType: "User", gen: (v) => `title pr and userType eq ${v.str("Employee")}` },
  { id: "rfc-title-pr-or-userType", source: "RFC 7644", resourceType: "User", gen: (v) => `title pr or userType eq ${v.str("Intern")}` },
  { id: "rfc-schemas-eq", source: "RFC 7644", resourceType: "User", gen: (v) => `schemas eq ${v.strAppend(ENT)}` },
  {
    id: "rfc-and-group-or", source: "RFC 7644", resourceType: "User",
    gen: (v) => `userType eq "Employee" and (emails co ${v.str("example.com")} or emails.value co ${v.str("example.org")})`,
  },
  {
    id: "rfc-ne-and-not-group", source: "RFC 7644", resourceType: "User",
    gen: (v) => `userType ne "Employee" and not (emails co ${v.str("example.com")} or emails.value co ${v.str("example.org")})`,
  },
  { id: "rfc-and-paren-type", source: "RFC 7644", resourceType: "User", gen: (v) => `userType eq ${v.str("Employee")} and (emails.type eq "work")` },
  {
    id: "rfc-and-valuePath", source: "RFC 7644", resourceType: "User",
    gen: (v) => `userType eq "Employee" and emails[type eq "work" and value co ${v.str("@example.com")}]`,
  },
  {
    id: "rfc-valuePath-or-valuePath", source: "RFC 7644", resourceType: "User",
    gen: (v) => `emails[type eq "work" and value co ${v.str("@example.com")}] or ims[type eq "xmpp" and value co ${v.str("@foo.com")}]`,
  },

  // --- literals: escapes, unicode, numbers, booleans, null ---------------------------------
  { id: "escaped-quotes", source: "literals", resourceType: "User", gen: (v) => `displayName eq ${v.str('Bob "The Builder" Jones')}` },
  { id: "escaped-backslash", source: "literals", resourceType: "User", gen: (v) => `externalId eq ${v.str("CORP\\jsmith")}` },
  { id: "unicode-raw", source: "literals", resourceType: "User", gen: (v) => `name.familyName eq ${v.str("Müller-Lüdenscheidt")}` },
  { id: "unicode-cjk", source: "literals", resourceType: "User", gen: (v) => `displayName co ${v.str("山田 太郎")}` },
  { id: "unicode-escape", source: "literals", resourceType: "User", gen: (v) => `name.givenName eq "Jos\\u00e9${v.k || ""}"` },
  { id: "unicode-emoji", source: "literals", resourceType: "User", gen: (v) => `nickName sw ${v.str("🚀 Rocket")}` },
  { id: "number-int", source: "literals", resourceType: "User", gen: (v) => `urn:ietf:params:scim:schemas:extension:acme:2.0:User:level ge ${v.num(3)}` },
  { id: "number-decimal-exp", source: "literals", resourceType: "User", gen: (v) => `urn:ietf:params:scim:schemas:extension:acme:2.0:User:score gt -1.5e${v.k % 4} and urn:ietf:params:scim:schemas:extension:acme:2.0:User:score lt ${v.num(100)}.25` },
  { id: "bool-true", source: "literals", resourceType: "User", gen: (v) => `${v.name("active")} eq true` },
  { id: "bool-and-sw", source: "literals", resourceType: "User", gen: (v) => `active eq false and userName sw ${v.str("a")}` },
  { id: "bool-in-valuePath", source: "literals", resourceType: "User", gen: (v) => `emails[primary eq true and value ew ${v.str("@example.com")}]` },
  { id: "null-literal", source: "literals", resourceType: "User", gen: (v) => `${v.name("nickName")} eq null` },
  { id: "enterprise-department", source: "literals", resourceType: "User", gen: (v) => `${ENT}:department eq ${v.str("Sales")}` },

  // --- case, precedence, nesting ----------------------------------------------------------
  { id: "case-insensitive-ops", source: "syntax", resourceType: "User", gen: (v) => `userName EQ ${v.str("bjensen")} AND active Eq true` },
  { id: "precedence-or-and", source: "syntax", resourceType: "User", gen: (v) => `userName eq ${v.str("a")} or userName eq ${v.str("b")} and active eq false` },
  { id: "three-way-and", source: "syntax", resourceType: "User", gen: (v) => `active eq true and title pr and userType eq ${v.str("Employee")}` },
  {
    id: "id-or-chain-10", source: "syntax", resourceType: "User",
    gen: (v) => Array.from({ length: 10 }, (_, i) => `id eq ${v.uuid(100 + i)}`).join(" or "),
  },
  { id: "not-group", source: "syntax", resourceType: "User", gen: (v) => `not (userName eq ${v.str("bjensen")})` },
  { id: "not-and-not", source: "syntax", resourceType: "User", gen: (v) => `not (userName eq ${v.str("a")}) and not (userName eq ${v.str("b")})` },
  {
    id: "created-range", source: "syntax", resourceType: "User",
    gen: (v) => `meta.created ge ${v.date("2024-01-01T00:00:00Z")} and meta.created lt ${v.date("2024-02-01T00:00:00Z")}`,
  },
  { id: "lastModified-offset-fraction", source: "syntax", resourceType: "User", gen: (v) => `meta.lastModified gt ${v.date("2024-03-01T10:00:00.123+02:00")}` },
  {
    id: "deep-nesting", source: "syntax", resourceType: "User",
    gen: (v) =>
      `((userName eq ${v.str("alice")} or userName eq ${v.str("bob")}) and (active eq true or not (title pr))) or ` +
      `(emails[type eq "work" and (value ew ${v.str("@a.example.com")} or value ew ${v.str("@b.example.com")})] and displayName sw ${v.str("X")})`,
  },
  { id: "address-valuePath", source: "syntax", resourceType: "User", gen: (v) => `addresses[type eq "work" and postalCode sw ${v.str("9")}]` },
  { id: "phone-valuePath-sub", source: "syntax", resourceType: "User", gen: (v) => `phoneNumbers[type eq "mobile"].value eq ${v.str("+1 555 0100")}` },
  { id: "groups-display", source: "syntax", resourceType: "User", gen: (v) => `groups.display eq ${v.str("Admins")}` },
  { id: "roles-valuePath", source: "syntax", resourceType: "User", gen: (v) => `roles[primary eq true and value eq ${v.str("admin")}]` },
  { id: "x509-pr", source: "syntax", resourceType: "User", gen: (v) => `${v.name("x509Certificates")} pr` },
  { id: "name-formatted-co", source: "syntax", resourceType: "User", gen: (v) => `name.formatted co ${v.str("Barbara")} and name.familyName ew ${v.str("sen")}` },
];

export interface FilterCase {
  filter: CorpusFilter;
  texts: string[];
}

/**
 * A flat copy of a string, as an HTTP layer would hand it over (template literals build rope
 * strings, which the first library to scan them would flatten for everyone after it).
 */
const flat = (s: string): string => Buffer.from(s, "utf8").toString("utf8");

export function buildCorpus(): FilterCase[] {
  return FILTERS.map((f) => ({ filter: f, texts: Array.from({ length: VARIANTS }, (_, k) => flat(f.gen(new V(k)))) }));
}

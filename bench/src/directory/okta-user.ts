/** The users of the DIRECTORY benchmark: Okta create bodies (IDP-NOTES.md), deterministic. */
export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";

const FIRST = ["Ann", "Bob", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena", "Mateo", "Noor", "Olga", "Priya"];
const LAST = ["Lee", "Okafor", "Schmidt", "Nakamura", "Garcia", "Novak", "Haddad", "Kowalski", "Silva", "Andersen", "Moreau", "Rossi"];

/** User `i` of batch `tag`, as Okta sends it on create. */
export function oktaUserObject(tag: string, i: number) {
  const first = FIRST[i % FIRST.length]!;
  const last = LAST[(i * 7) % LAST.length]!;
  const email = `${first}.${last}.${tag}${i}@acme-corp.example`.toLowerCase();
  return {
    schemas: [USER_SCHEMA],
    userName: email,
    name: { givenName: first, familyName: last },
    emails: [{ primary: true, value: email, type: "work" }],
    displayName: `${first} ${last}`,
    locale: "en-US",
    externalId: `00u${tag}${i.toString(36).padStart(6, "0")}`,
    groups: [] as unknown[],
    password: `Pw-${tag}-${i}-x9!`,
    active: true,
  };
}

/** The JSON body of {@link oktaUserObject}. */
export const oktaUser = (tag: string, i: number): string => JSON.stringify(oktaUserObject(tag, i));

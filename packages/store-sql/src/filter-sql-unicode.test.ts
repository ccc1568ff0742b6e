/**
 * Case folding of strings read from the JSON document on SQLite: JavaScript's `toLowerCase`
 * (all of Unicode, as scim-core's `compileFilter` and memoryStore fold), through the `scim_lower`
 * function `openSqlite` registers on its connection, instead of SQLite's `lower()` (ASCII only).
 * The indexed columns are folded in JavaScript when written and stay unwrapped.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql, type LogEvent } from "kysely";
import { bearerAuth, createScimServer, createSchemaRegistry, ENTERPRISE_USER_SCHEMA_ID, USER_SCHEMA_ID, type AttributeDefinition, type ScimResponse, type SchemaDefinition } from "scim-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSqlite, SQLITE_LOWER, type ScimSqlDatabase } from "./dialect.js";
import { migrateScimTables } from "./migrations.js";
import { sqlStore } from "./sql-store.js";

const ENT = ENTERPRISE_USER_SCHEMA_ID;
const ACME = "urn:example:scim:schemas:extension:acme:1.0:User";

function attr(name: string, extra: Partial<AttributeDefinition> = {}): AttributeDefinition {
  return { name, type: "string", multiValued: false, required: false, caseExact: false, mutability: "readWrite", returned: "default", uniqueness: "none", ...extra };
}

const acme: SchemaDefinition = { id: ACME, name: "Acme", description: "tags", attributes: [attr("tags", { multiValued: true })] };
const registry = createSchemaRegistry({ schemas: [acme] }).addExtension("User", { schema: ACME, required: false });

describe("case-insensitive JSON strings on SQLite fold as JavaScript's toLowerCase", () => {
  let database: ScimSqlDatabase;
  const statements: string[] = [];
  let get: (path: string) => Promise<ScimResponse>;

  beforeAll(async () => {
    database = openSqlite({ filename: ":memory:", log: (e: LogEvent) => void (e.level === "query" && statements.push(e.query.sql)) });
    await migrateScimTables(database.db, "sqlite");
    const store = sqlStore({ database, registry });
    const tenant = `t-${randomUUID()}`;
    const token = `token-${randomUUID()}`;
    const server = createScimServer({ store, registry, authenticate: bearerAuth({ [token]: { tenant } }), baseUrl: "https://example.test/scim/v2" });
    const call = (method: string, path: string, body?: unknown) => {
      const [p, q] = path.split("?");
      return server.handle({ method, path: p!, query: q, headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" }, body });
    };
    get = (path) => call("GET", path);
    const users: [string, string, string[]][] = [
      ["emile-upper", "Émile", ["Ärger", "x"]],
      ["emile-lower", "émile", ["ärgerlich"]],
      ["sharp-s", "ß", ["Ökonom"]],
      ["sigma", "ΟΔΟΣ", ["Σοφία"]],
      ["ascii", "Zed", ["Arbeit"]],
    ];
    for (const [userName, costCenter, tags] of users) {
      const res = await call("POST", "/Users", { schemas: [USER_SCHEMA_ID, ENT, ACME], userName, [ENT]: { costCenter }, [ACME]: { tags } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  });
  afterAll(() => database.destroy());

  async function userNames(query: string): Promise<string[]> {
    const res = await get(`/Users?${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return ((res.body as { Resources?: { userName: string }[] }).Resources ?? []).map((r) => r.userName);
  }

  it(`${ENT}:costCenter eq "émile" matches a stored "Émile" (and the other way round)`, async () => {
    expect(await userNames(`filter=${encodeURIComponent(`${ENT}:costCenter eq "émile"`)}`)).toEqual(["emile-upper", "emile-lower"]);
    expect(await userNames(`filter=${encodeURIComponent(`${ENT}:costCenter eq "ÉMILE"`)}`)).toEqual(["emile-upper", "emile-lower"]);
    // JavaScript folds the last capital sigma of a word to ς (U+03C2), another one to σ (U+03C3).
    expect(await userNames(`filter=${encodeURIComponent(`${ENT}:costCenter eq "\u03bf\u03b4\u03bf\u03c2"`)}`)).toEqual(["sigma"]);
    expect(await userNames(`filter=${encodeURIComponent(`${ENT}:costCenter sw "\u03bf\u03b4\u03bf\u03c3"`)}`)).toEqual([]);
  });

  it(`sw "Är" on a multi-valued extension string, and co/gt on non-ASCII letters`, async () => {
    expect(await userNames(`filter=${encodeURIComponent(`${ACME}:tags sw "Är"`)}`)).toEqual(["emile-upper", "emile-lower"]);
    expect(await userNames(`filter=${encodeURIComponent(`${ACME}:tags sw "är"`)}`)).toEqual(["emile-upper", "emile-lower"]);
    expect(await userNames(`filter=${encodeURIComponent(`${ACME}:tags co "KONOM"`)}`)).toEqual(["sharp-s"]);
    expect(await userNames(`filter=${encodeURIComponent(`${ACME}:tags co "ö"`)}`)).toEqual(["sharp-s"]);
    expect(await userNames(`filter=${encodeURIComponent(`not (${ACME}:tags ge "ä")`)}`)).toEqual(["ascii"]);
  });

  it("sortBy a JSON string folds non-ASCII letters together", async () => {
    // Folded: "zed" < "ß" (U+00DF) < "émile" = "émile" (U+00E9) < "οδος" (U+03BF).
    expect(await userNames(`sortBy=${encodeURIComponent(`${ENT}:costCenter`)}`)).toEqual(["ascii", "sharp-s", "emile-upper", "emile-lower", "sigma"]);
    expect(await userNames(`sortBy=${encodeURIComponent(`${ENT}:costCenter`)}&sortOrder=descending`)).toEqual(["sigma", "emile-upper", "emile-lower", "sharp-s", "ascii"]);
    // A multi-valued attribute sorts by its first value: "arbeit" < "ärger" = ... < "ökonom" < "σοφία".
    expect(await userNames(`sortBy=${encodeURIComponent(`${ACME}:tags`)}`)).toEqual(["ascii", "emile-upper", "emile-lower", "sharp-s", "sigma"]);
  });

  it("uses the function only on JSON strings: not on an unfiltered list nor on an indexed lookup", async () => {
    statements.length = 0;
    await userNames("count=5");
    await userNames(`filter=${encodeURIComponent('userName eq "ÉMILE-UPPER"')}`);
    await userNames(`filter=${encodeURIComponent('userName sw "Emile"')}&sortBy=userName`);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.filter((s) => s.includes(SQLITE_LOWER) || /\blower\(/i.test(s))).toEqual([]);
    statements.length = 0;
    await userNames(`filter=${encodeURIComponent(`${ENT}:costCenter eq "émile"`)}`);
    expect(statements.some((s) => s.includes(`${SQLITE_LOWER}(`))).toBe(true);
    expect(statements.filter((s) => /(?<!_)lower\(/i.test(s))).toEqual([]);
  });
});

describe(`${SQLITE_LOWER} on the connections openSqlite opens`, () => {
  it("is JavaScript's toLowerCase on text, and SQLite's lower() on NULL, numbers and blobs", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "scim-lower-")), "db.sqlite");
    for (const filename of [":memory:", file]) {
      const database = openSqlite({ filename });
      try {
        const { rows } = await sql<Record<string, unknown>>`SELECT
          ${sql.raw(SQLITE_LOWER)}('ÉMILE ÄÖ ẞ ΟΔΟΣ İ') AS text,
          ${sql.raw(SQLITE_LOWER)}(NULL) AS nul, lower(NULL) AS nul_ref,
          ${sql.raw(SQLITE_LOWER)}(42) AS int, lower(42) AS int_ref,
          ${sql.raw(SQLITE_LOWER)}(1e20) AS real, lower(1e20) AS real_ref,
          ${sql.raw(SQLITE_LOWER)}(x'C3894142') AS blob, lower(x'C3894142') AS blob_ref,
          typeof(${sql.raw(SQLITE_LOWER)}(42)) AS int_type, typeof(lower(42)) AS int_type_ref`.execute(database.db);
        const row = rows[0]!;
        expect(row.text, filename).toBe("ÉMILE ÄÖ ẞ ΟΔΟΣ İ".toLowerCase());
        for (const k of ["nul", "int", "real", "blob", "int_type"]) expect(row[k], `${filename} ${k}`).toEqual(row[`${k}_ref`]);
      } finally {
        await database.destroy();
      }
    }
  });
});

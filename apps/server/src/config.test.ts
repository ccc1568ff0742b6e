import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { StartupError } from "./errors.js";

describe("server configuration", () => {
  it("defaults to port 3000 and SQLite under ./data", () => {
    expect(loadConfig({})).toMatchObject({ PORT: 3000, HOST: "0.0.0.0", DATABASE_URL: "sqlite:data/directory-sync.db", LOG_LEVEL: "info", TRUST_PROXY: false });
  });

  it("reads the environment, empty variables counting as unset", () => {
    const config = loadConfig({ PORT: "8080", DATABASE_URL: "postgres://u@db/sync", PUBLIC_URL: "https://sync.example.com", TRUST_PROXY: "2", LOG_LEVEL: "", HOST: "" });
    expect(config).toMatchObject({ PORT: 8080, DATABASE_URL: "postgres://u@db/sync", PUBLIC_URL: "https://sync.example.com", TRUST_PROXY: 2, LOG_LEVEL: "info", HOST: "0.0.0.0" });
    expect(loadConfig({ TRUST_PROXY: "true" }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ SCIM_SCHEMAS_FILE: "config/schemas.json" }).SCIM_SCHEMAS_FILE).toBe("config/schemas.json");
    expect(loadConfig({ SCIM_SCHEMAS_FILE: "" }).SCIM_SCHEMAS_FILE).toBeUndefined();
    expect(loadConfig({ DATABASE_SCHEMA: "directory_sync" }).DATABASE_SCHEMA).toBe("directory_sync");
    expect(() => loadConfig({ DATABASE_SCHEMA: "Sync; drop" })).toThrow(/DATABASE_SCHEMA: DATABASE_SCHEMA must be lower-case letters, digits and _/);
    expect(loadConfig({}).DATABASE_POOL_SIZE).toBe(10);
    expect(loadConfig({ DATABASE_POOL_SIZE: "40" }).DATABASE_POOL_SIZE).toBe(40);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: "1" })).toThrow(/DATABASE_POOL_SIZE/);
    expect(loadConfig({}).SCIM_MAX_QUERY_MS).toBe(10_000);
    expect(loadConfig({ SCIM_MAX_QUERY_MS: "2500" }).SCIM_MAX_QUERY_MS).toBe(2500);
    expect(() => loadConfig({ SCIM_MAX_QUERY_MS: "0" })).toThrow(/SCIM_MAX_QUERY_MS/);
    expect(() => loadConfig({ SCIM_MAX_QUERY_MS: "10s" })).toThrow(/SCIM_MAX_QUERY_MS/);
  });

  it("takes a variable of spaces only for unset, as an empty one", () => {
    expect(loadConfig({ PORT: " ", DATABASE_URL: "  ", HOST: "\t" })).toMatchObject({ PORT: 3000, DATABASE_URL: "sqlite:data/directory-sync.db", HOST: "0.0.0.0" });
  });

  it("reads PORT in decimal digits only (0: any free port)", () => {
    expect(loadConfig({ PORT: "0" }).PORT).toBe(0);
    expect(loadConfig({ PORT: "65535" }).PORT).toBe(65535);
    for (const port of ["0x12B7", "1e3", "80.5", "-1", "65536", " 80"]) expect(() => loadConfig({ PORT: port }), port).toThrow(/PORT/);
  });

  it("refuses a SQLite URL without a file, or in memory: the data would be lost at every stop", () => {
    for (const url of ["sqlite:", "sqlite://", "file:", "sqlite: ", ":memory:", "sqlite::memory:", "file:x.db?mode=memory"]) {
      expect(() => loadConfig({ DATABASE_URL: url }), url).toThrow(/DATABASE_URL: .*(no SQLite file|in-memory)/);
    }
    expect(loadConfig({ DATABASE_URL: "sqlite:./x.db" }).DATABASE_URL).toBe("sqlite:./x.db");
    // A PostgreSQL URL is never a SQLite one, whatever its password says.
    expect(loadConfig({ DATABASE_URL: "postgres://u:mode=memory@db/sync" }).DATABASE_URL).toBe("postgres://u:mode=memory@db/sync");
  });

  it("refuses a PUBLIC_URL that is no http(s) origin: another scheme, credentials, a query or a fragment", () => {
    expect(() => loadConfig({ PUBLIC_URL: "ftp://sync.example.com" })).toThrow(/PUBLIC_URL must be an http/);
    for (const url of ["https://u:pw@sync.example.com", "https://u@sync.example.com", "https://@sync.example.com", "https://:@sync.example.com"]) {
      expect(() => loadConfig({ PUBLIC_URL: url }), url).toThrow(/PUBLIC_URL must not hold a user name or password/);
    }
    expect(loadConfig({ PUBLIC_URL: "https://sync.example.com/a@b" }).PUBLIC_URL).toBe("https://sync.example.com/a@b");
    expect(() => loadConfig({ PUBLIC_URL: "https://sync.example.com/?q=1" })).toThrow(/PUBLIC_URL must not hold a query/);
    expect(() => loadConfig({ PUBLIC_URL: "https://sync.example.com/#f" })).toThrow(/PUBLIC_URL must not hold a query/);
    expect(loadConfig({ PUBLIC_URL: "https://example.com/sync" }).PUBLIC_URL).toBe("https://example.com/sync");
  });

  it("refuses invalid values with every problem named", () => {
    const load = () => loadConfig({ PORT: "eighty", PUBLIC_URL: "not a url", TRUST_PROXY: "maybe" });
    expect(load).toThrow(/^invalid configuration: PORT: .*; PUBLIC_URL: .*; TRUST_PROXY: TRUST_PROXY must be true, false or a number of proxies$/);
    expect(load).toThrow(StartupError);
  });
});

import { runStoreConformance } from "scim-core/testing";
import { afterAll, beforeAll, describe } from "vitest";
import type { ScimSqlDatabase } from "./dialect.js";
import { sqlStore, type SqlScimStore } from "./sql-store.js";
import { openTestPostgres, openTestSqlite } from "./test-databases.js";

const inspect = (store: unknown, tenant: string, type: string, id: string) => (store as SqlScimStore).inspect(tenant, type, id);

describe("SQLite", () => {
  let database: ScimSqlDatabase;
  beforeAll(async () => {
    database = await openTestSqlite();
  });
  afterAll(() => database.destroy());
  runStoreConformance({ name: "sqlStore (SQLite)", createStore: () => sqlStore({ database }), inspect });
});

describe("PostgreSQL", () => {
  let database: ScimSqlDatabase | undefined;
  beforeAll(async () => {
    database = await openTestPostgres();
  });
  afterAll(() => database?.destroy());
  runStoreConformance({
    name: "sqlStore (PostgreSQL)",
    createStore: () => {
      if (!database) throw new Error("PostgreSQL unreachable");
      return sqlStore({ database });
    },
    inspect,
  });
});

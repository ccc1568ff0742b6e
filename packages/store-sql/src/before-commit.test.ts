/**
 * `beforeCommit`: work a transaction defers to its end, run once per key inside it, before its
 * COMMIT; a throw there rolls the whole transaction back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScimSqlDatabase } from "./dialect.js";
import { sqlStore, type SqlScimStore } from "./sql-store.js";
import { openTestSqlite } from "./test-databases.js";

describe("beforeCommit (SQLite)", () => {
  let database: ScimSqlDatabase;
  let store: SqlScimStore;
  beforeAll(async () => {
    database = await openTestSqlite();
    store = sqlStore({ database });
  });
  afterAll(() => database.destroy());

  const user = (userName: string) => ({ attributes: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName }, uniqueKeys: [] });

  it("runs each key once, at the end of the transaction, inside it; work it registers runs too", async () => {
    const ctx = { tenant: "before-commit-1" };
    const order: string[] = [];
    await store.transaction!(async (s) => {
      const tx = s as SqlScimStore;
      for (let i = 0; i < 3; i++) {
        tx.beforeCommit("k", async () => {
          order.push("k");
          // Inside the transaction: a write here commits with it.
          await tx.create(ctx, "User", user("from-commit@example.com"));
          tx.beforeCommit("later", async () => void order.push("later"));
        });
      }
      await tx.create(ctx, "User", user("first@example.com"));
      order.push("work done");
    });
    expect(order).toEqual(["work done", "k", "later"]);
    expect((await store.query(ctx, "User", {})).totalResults).toBe(2);
  });

  it("a throw in it rolls the whole transaction back", async () => {
    const ctx = { tenant: "before-commit-2" };
    await expect(
      store.transaction!(async (s) => {
        const tx = s as SqlScimStore;
        await tx.create(ctx, "User", user("rolled@example.com"));
        tx.beforeCommit("k", async () => {
          throw new Error("recomputation failed");
        });
      }),
    ).rejects.toThrow("recomputation failed");
    expect((await store.query(ctx, "User", {})).totalResults).toBe(0);
    expect(() => store.beforeCommit("k", async () => {})).toThrow(/inside a transaction/);
  });
});

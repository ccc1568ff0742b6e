import { describe, expect, it } from "vitest";
import { databaseUnavailable, isDatabaseUnavailable } from "./database-unavailable.js";

const coded = (code: string, message = "x") => Object.assign(new Error(message), { code });

describe("isDatabaseUnavailable", () => {
  it("is true for a database that cannot be reached, is restarting, has no connection to spare, or is locked", () => {
    for (const error of [
      coded("ECONNREFUSED", "connect ECONNREFUSED 10.0.0.5:5432"),
      coded("ECONNRESET"),
      coded("ETIMEDOUT"),
      coded("57P01", "terminating connection due to administrator command"),
      coded("57P03", "the database system is starting up"),
      coded("53300", "sorry, too many clients already"),
      coded("08006", "connection failure"),
      coded("SQLITE_BUSY", "database is locked"),
      new Error("Connection terminated unexpectedly"),
      new Error("timeout exceeded when trying to connect"),
      new Error("wrapped", { cause: coded("ECONNREFUSED") }),
    ]) {
      expect(isDatabaseUnavailable(error), String(error)).toBe(true);
    }
  });

  it("is false for every other failure: constraints, syntax, a closed store, non-errors", () => {
    for (const error of [coded("23505", "duplicate key value"), coded("42601", "syntax error"), coded("SQLITE_CONSTRAINT_UNIQUE"), new Error("driver has already been destroyed"), undefined, null, "ECONNREFUSED", 42]) {
      expect(isDatabaseUnavailable(error), String(error)).toBe(false);
    }
  });

  it("answers 503 with Retry-After, naming nothing of the failure", () => {
    const answer = databaseUnavailable(coded("ECONNREFUSED", "connect ECONNREFUSED 10.0.0.5:5432"))!;
    expect([answer.status, answer.retryAfterSeconds]).toEqual([503, 5]);
    expect(answer.detail).not.toMatch(/10\.0\.0\.5|ECONN/);
    expect(databaseUnavailable(coded("23505"))).toBeUndefined();
  });
});

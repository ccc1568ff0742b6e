/**
 * The SQL functions of the SQL store's SQLite queries, in one self-contained function that both
 * threads run: `openSqlite` and `registerSqliteFunctions` call it on the server's thread, and the
 * search thread's worker (`sqlite-search-thread.ts`, evaluated from source text) runs its source,
 * `Function.prototype.toString()`, so that a search folds case and keeps its deadline the same way
 * wherever it runs.
 */

/** A better-sqlite3 connection, as far as registering functions goes. */
export interface SqliteFunctionHost {
  function(name: string, options: { deterministic: boolean; safeIntegers: boolean }, fn: (...values: unknown[]) => unknown): unknown;
}

/** A better-sqlite3 `Database` class, as far as `lower()` of a value that is not text goes. */
export type SqliteLowerSource = new (filename: string) => { prepare(sql: string): { all(parameters: unknown[]): unknown[] } };

/**
 * @internal Registers, on `database`, the function named `names.lower` (`toLowerCase` of text,
 * all of Unicode; NULL, numbers and blobs give what SQLite's own `lower()` gives, asked of a
 * private in-memory connection of `Database`) and the function named `names.deadline`
 * (`(deadline, row)`: 1 until `Date.now()` passes `deadline`, then throws `timedOut()`).
 *
 * It must use nothing but its parameters and globals: the search thread runs its source text.
 */
export function installSqliteFunctions(
  database: SqliteFunctionHost,
  Database: SqliteLowerSource,
  names: { lower: string; deadline: string },
  timedOut: () => unknown,
): void {
  let lowerOfOther: ((value: unknown) => unknown) | undefined;
  // safeIntegers: an INTEGER arrives as a bigint and goes back to `lower()` as an INTEGER, not a REAL.
  database.function(names.lower, { deterministic: true, safeIntegers: true }, (value) => {
    if (typeof value === "string") return value.toLowerCase();
    if (value === null || value === undefined) return null;
    if (lowerOfOther === undefined) {
      const statement = new Database(":memory:").prepare("SELECT lower(?) AS v");
      lowerOfOther = (v) => (statement.all([v])[0] as { v: unknown }).v;
    }
    return lowerOfOther(value);
  });
  // Two arguments (the second, a column of the row, only keeps the call per row); better-sqlite3
  // takes the arity from the function's declared parameters.
  database.function(names.deadline, { deterministic: false, safeIntegers: false }, (deadline, _row) => {
    if (typeof deadline === "number" && Date.now() > deadline) throw timedOut();
    return 1;
  });
}

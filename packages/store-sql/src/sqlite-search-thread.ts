/**
 * Searches of a SQLite file on a worker thread, with its own read-only connection, so that they
 * stop holding the server's thread.
 *
 * better-sqlite3 runs a statement on the thread that calls it, to its end: on the server's thread a
 * search that walks a tenant (a filter no index answers, a `sortBy`, the derived `groups` sorted
 * on 30,000 users: 1.3 s) held every request of every tenant until it ended, and a review kept
 * other tenants at a median of 1.8 s with two such searches at a time. The store sends those
 * searches here (`SqlStore.query`: lists that are not lookups an index narrows, outside
 * transactions), where they run one at a time, the tenants in turn, while the server's thread
 * goes on with everything else; lookups, reads by id and writes stay on the server's thread, where a
 * round trip to a worker would cost more than they do. The connection sees committed rows only,
 * as the server's reader does, and has the same SQL functions: case folding
 * (`SQLITE_LOWER`) and the deadline (`SQLITE_DEADLINE`), past which a search ends with
 * `queryTimedOut()` as on the server's thread.
 */
import { Worker } from "node:worker_threads";
import { queryTimedOut } from "scim-core";
import { FairQueue } from "./fair-queue.js";
import { installSqliteFunctions } from "./sqlite-functions.js";

/**
 * The worker's code (CommonJS, evaluated): a connection that only reads, the store's SQL
 * functions (the source of the same {@link installSqliteFunctions} the server's thread runs),
 * and one statement per message, answered with its rows or its error.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true });
db.pragma("query_only = 1");
db.pragma("busy_timeout = " + workerData.busyTimeoutMs);
const TIMED_OUT = new Error("query timed out");
TIMED_OUT.timedOut = true;
(${installSqliteFunctions.toString()})(db, Database, workerData.functions, () => TIMED_OUT);
const statements = new Map();
function statement(sql) {
  let found = statements.get(sql);
  if (found === undefined) {
    if (statements.size >= 200) statements.delete(statements.keys().next().value);
    found = db.prepare(sql);
    statements.set(sql, found);
  }
  return found;
}
parentPort.on("message", (message) => {
  if (message === "stop") {
    db.close();
    parentPort.close();
    return;
  }
  try {
    parentPort.postMessage({ rows: statement(message.sql).all(message.parameters) });
  } catch (error) {
    parentPort.postMessage({ error: { message: String(error && error.message), code: error && error.code, timedOut: error && error.timedOut === true } });
  }
});
`;

/** The worker's answer to the one search it was sent. */
type Answer = { rows: unknown[] } | { error: { message: string; code?: string; timedOut: boolean } };

/** Options of {@link startSearchThread}. */
export interface SearchThreadOptions {
  /** The path of the better-sqlite3 module (the worker loads the same copy). */
  driver: string;
  /** The names of the store's SQL functions (`SQLITE_LOWER`, `SQLITE_DEADLINE`). */
  functions: { lower: string; deadline: string };
  /** How long a search waits for a lock held by another connection (a checkpoint's). @default 5000 */
  busyTimeoutMs?: number;
}

/** A worker thread that runs searches of a SQLite file (see the module's comment). */
export interface SearchThread {
  /**
   * The rows of a read-only statement, run on the worker after the searches already waiting,
   * the tenants in turn ({@link FairQueue}: one tenant's queue delays another tenant's search by
   * one search at most; each search's time limit counts from its request's arrival, as on the
   * server's thread); undefined once the worker is gone (it failed, or `stop` ran): the caller then runs it on its own connection. A statement that
   * failed rejects as it would have on the server's thread (`queryTimedOut()` past the deadline,
   * SQLite's error with its `code` otherwise).
   */
  all<R>(sql: string, parameters: readonly unknown[], tenant?: string): Promise<R[]> | undefined;
  /** Searches sent and not yet answered (for tests and monitoring). */
  readonly pending: number;
  /** Stops the worker and closes its connection. */
  stop(): Promise<void>;
}

/** A search waiting for the worker, or on it. */
interface Job {
  sql: string;
  parameters: readonly unknown[];
  resolve: (rows: unknown[]) => void;
  reject: (error: unknown) => void;
}

/** Starts the search thread of a SQLite file (WAL mode: its reads never wait for the writer). */
export function startSearchThread(filename: string, options: SearchThreadOptions): SearchThread {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver: options.driver, filename, busyTimeoutMs: Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000)), functions: options.functions },
  });
  // The searches waiting, by tenant, and the one on the worker: one at a time, the tenants in turn.
  const queued = new FairQueue<Job>();
  let current: Job | undefined;
  let running = true;
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  /** Sends the next search to the worker when it is free (the tenants in turn, see FairQueue). */
  const next = () => {
    if (current !== undefined) return;
    current = queued.shift();
    if (current === undefined) worker.unref();
    else worker.postMessage({ sql: current.sql, parameters: current.parameters });
  };
  const end = (error: unknown) => {
    running = false;
    current?.reject(error);
    current = undefined;
    for (const job of queued.drain()) job.reject(error);
  };
  worker.on("message", (answer: Answer) => {
    const job = current;
    if (job === undefined) return;
    current = undefined;
    if ("rows" in answer) job.resolve(answer.rows);
    else if (answer.error.timedOut) job.reject(queryTimedOut());
    else job.reject(Object.assign(new Error(answer.error.message), answer.error.code !== undefined ? { code: answer.error.code } : {}));
    next();
  });
  worker.on("error", (error) => end(error));
  worker.on("exit", () => end(new Error("the SQLite search thread has stopped")));
  // Keeps the process alive only while searches wait for it. (Last: adding a "message" listener
  // refs the worker again.)
  worker.unref();
  return {
    all<R>(sql: string, parameters: readonly unknown[], tenant = ""): Promise<R[]> | undefined {
      if (!running) return undefined;
      return new Promise<R[]>((resolve, reject) => {
        worker.ref();
        queued.push(tenant, { sql, parameters, resolve: resolve as (rows: unknown[]) => void, reject });
        next();
      });
    },
    get pending() {
      return queued.size + (current !== undefined ? 1 : 0);
    },
    async stop() {
      // Keep the process alive until the worker has closed its connection.
      worker.ref();
      if (running) {
        running = false;
        worker.postMessage("stop");
      }
      await exited;
    },
  };
}

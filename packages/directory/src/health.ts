/**
 * The service's health: `/healthz` answers 200 only while the database answers a query, so that a
 * load balancer or a readiness probe takes an instance out while its database cannot be reached
 * (every SCIM and admin request would fail meanwhile); `/livez` answers 200 while the process
 * serves HTTP at all, for liveness probes, which should not restart a process over a database
 * outage it recovers from by itself.
 */
import { sql, type Kysely } from "kysely";

/** How long `/healthz` waits for the database before it says it is unavailable. @default 3000 */
export const DEFAULT_HEALTH_TIMEOUT_MS = 3000;

/** What {@link checkDatabase} found. */
export type DatabaseHealth = "ok" | "unreachable" | "timeout";

/**
 * Runs `select 1` on the database (on SQLite, on its reader connection, which another process's
 * write lock does not hold up), within `timeoutMs`. Never throws. A PostgreSQL server that refuses
 * the connection because it has too many counts as up (see {@link probeDatabase}).
 */
export function checkDatabase(db: Kysely<any>, timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS): Promise<DatabaseHealth> {
  return probeDatabase(() => sql`select 1`.execute(db), timeoutMs);
}

/**
 * PostgreSQL's "too many connections" (SQLSTATE 53300): the server is up and answered, but full.
 * That is load, not an outage: were `/healthz` to fail on it, every replica sharing the database
 * would leave its load balancer at once, and an overload would become a full outage.
 */
const TOO_MANY_CONNECTIONS = "53300";

/** {@link checkDatabase} over any query: `ok` when it answers (or the server says it is full), within `timeoutMs`. */
export async function probeDatabase(query: () => Promise<unknown>, timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS): Promise<DatabaseHealth> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<DatabaseHealth>((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const answered = query().then(
    (): DatabaseHealth => "ok",
    (error: unknown): DatabaseHealth => ((error as { code?: unknown } | null)?.code === TOO_MANY_CONNECTIONS ? "ok" : "unreachable"),
  );
  try {
    return await Promise.race([answered, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a health answer is reused, in milliseconds. */
export const HEALTH_MAX_AGE_MS = 1000;

/**
 * `check` shared by every caller: one runs at a time, and its answer is reused for `maxAgeMs`.
 * `/healthz` needs no authentication, so without it each request (a flood of them) would cost a
 * query, or a PostgreSQL connection.
 */
export function sharedHealthCheck(check: () => Promise<DatabaseHealth>, maxAgeMs = HEALTH_MAX_AGE_MS, now: () => number = () => performance.now()): () => Promise<DatabaseHealth> {
  let last: { at: number; health: DatabaseHealth } | undefined;
  let running: Promise<DatabaseHealth> | undefined;
  return () => {
    if (last !== undefined && now() - last.at < maxAgeMs) return Promise.resolve(last.health);
    running ??= check().then((health) => {
      last = { at: now(), health };
      running = undefined;
      return health;
    });
    return running;
  };
}

/**
 * Starts the directory-sync service: reads the custom extension schemas (SCIM_SCHEMAS_FILE), opens
 * the database (SQLite by default, PostgreSQL for a `postgres://` DATABASE_URL), migrates it, creates the admin key and a first directory on the
 * first run, and serves `directoryApp` (SCIM for every directory, the admin API, /healthz) with
 * structured request logs. `close()` is the graceful stop of SIGINT and SIGTERM (see
 * {@link RunningServer.close}).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Server as NetServer, type Socket } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { Logger } from "pino";
import { answerClientErrors, closeStalledResponses } from "scim-core";
import { createDirectorySync, directoryApp, redactPathname, type DirectorySync } from "scim-directory";
import { nodeServerErrorHandler } from "scim-hono";
import { openDatabase } from "scim-store-sql";
import { bootstrap, type Bootstrapped } from "./bootstrap.js";
import type { ServerConfig } from "./config.js";
import { logSerializers, maskCredentials, runtimeErrorLog, startupStep } from "./errors.js";
import { closeSilentConnections } from "./silent-connections.js";
import { loadSchemasFile } from "./schemas-file.js";

/** A running server. */
export interface RunningServer {
  /** `http://host:port`: the origin it listens on (PUBLIC_URL when set). */
  origin: string;
  sync: DirectorySync;
  /** What the first run created: secrets to show once. */
  firstRun: Bootstrapped;
  /**
   * Graceful shutdown, what SIGINT and SIGTERM run: stops accepting connections, answers every
   * request from then on (those running included) with `Connection: close` so that clients leave
   * their keep-alive connections (RFC 9112 §9.6), closes connections once idle (see
   * {@link IDLE_CLOSE_MS}), and once none is left closes the directory sync (the audit entries that wait are written, the SQLite
   * WAL is checkpointed and removed). Requests still running after `graceMs` are cut (one `warn`
   * line says how many) and the database is closed all the same. Calling it again returns the
   * same promise.
   */
  close(options?: CloseOptions): Promise<CloseResult>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  /** Aborted (SIGTERM during start-up): a start waiting for another process's first run gives up, and the start rejects. */
  signal?: AbortSignal;
  /** How long a request may take to arrive, head and body (see {@link REQUEST_TIMEOUT_MS}). @default REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number;
}

/**
 * How long a client may take to send a whole request, head and body, before its connection is
 * closed (Node checks every few seconds, so it may be a little later; a head that has not all
 * arrived is answered 408 first). Node's
 * default, 300 s, let a client that trickles its body hold a connection and a request for five
 * minutes; an identity provider sends its largest body (a Bulk request) in well under a second.
 */
export const REQUEST_TIMEOUT_MS = 60_000;

/** Options of {@link RunningServer.close}. */
export interface CloseOptions {
  /** How long requests in flight get to finish before their connections are cut. @default 10_000 */
  graceMs?: number;
}

/** How a {@link RunningServer.close} went. */
export interface CloseResult {
  /** Requests whose connection was cut after the grace, unanswered or half answered. */
  cut: number;
}

/**
 * How long a connection must have been idle before a draining server closes it: the time for a
 * client that has just read a keep-alive answer to send its next request, which is then answered
 * with `Connection: close`. A connection closed sooner could be reset under that request, which
 * the client cannot safely retry (a POST). Connections idle for longer are closed at once.
 */
const IDLE_CLOSE_MS = 1_000;
/** How often a draining server looks for connections that have become idle. */
const IDLE_SWEEP_MS = 50;

/** The warning of a SQLite WAL that cannot start over (see scim-store-sql's `onWalStall`). */
export function walStallMessage(walBytes: number): string {
  return (
    `the SQLite WAL is ${Math.round(walBytes / 1048576)} MiB and could not start over: writes have not paused for it, or a connection ` +
    "holds a read transaction open on the database (a backup, a sqlite3 shell, a report?), until which it grows with every write"
  );
}

/**
 * Starts the service with `config`, logging through `logger` (errors as name, message and code
 * only). A failure to start (schemas file, database, migrations, port) rejects with a
 * StartupError whose message is one line without secrets; what was opened is closed again.
 */
export async function startServer(config: ServerConfig, parentLogger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const logger = parentLogger.child({}, { serializers: logSerializers });
  // One log of run-time errors for the whole service, so that a database outage is one line per window.
  const logError = runtimeErrorLog(logger);
  const registry = config.SCIM_SCHEMAS_FILE !== undefined ? loadSchemasFile(config.SCIM_SCHEMAS_FILE) : undefined;
  // Named (credentials masked) as the next step names it: "unable to open database file" alone
  // does not say which file.
  const database = await startupStep(`cannot open the database ${maskCredentials(config.DATABASE_URL)}`, () =>
    openDatabase(config.DATABASE_URL, {
      ...(config.DATABASE_SCHEMA !== undefined ? { schema: config.DATABASE_SCHEMA } : {}),
      poolSize: config.DATABASE_POOL_SIZE,
      // SQLite files only (PostgreSQL has no WAL of ours to watch).
      checkpoints: { onWalStall: ({ walBytes }) => logger.warn({ walBytes }, walStallMessage(walBytes)) },
    }),
  );
  let sync: DirectorySync | undefined;
  try {
    sync = await startupStep(`cannot open or migrate the database (${database.description})`, () =>
      createDirectorySync({
        database,
        ...(registry !== undefined ? { registry } : {}),
        ...(config.PUBLIC_URL ? { publicUrl: config.PUBLIC_URL } : {}),
        maxQueryMs: config.SCIM_MAX_QUERY_MS,
        // The cause goes to the log; the client gets a generic 500 without it (a 503 when the database cannot serve for the moment).
        onError: (error, request) => logError(error, { method: request.method, path: request.path }, "unexpected error in a SCIM request"),
        audit: { onError: (error) => logError(error, {}, "could not write audit entries") },
      }),
    );
    if (config.RESTORED_FROM_BACKUP) {
      const restarted = await startupStep("cannot move the event and audit positions past the restored ones", () => sync!.restartPositions());
      logger.warn({ eventPosition: restarted.events, auditPosition: restarted.audit }, "RESTORED_FROM_BACKUP: event and audit positions moved past any handed out before the restore; events readers get 410 cursor_expired and read the lists again. Start without it from now on");
    }
    return await serveSync(sync, config, logger, logError, options);
  } catch (error) {
    // Close what was opened, without letting a second failure hide the first.
    await (sync !== undefined ? sync.close() : database.destroy()).catch(() => {});
    throw error;
  }
}

/**
 * Listens, then creates the first-run secrets; the rest of {@link startServer}. In that order: a
 * start that cannot listen (a port in use) creates nothing, so the next start is still a first
 * run and shows the secrets (only their hashes are stored: secrets created but never shown would
 * be lost).
 */
async function serveSync(sync: DirectorySync, config: ServerConfig, logger: Logger, logError: ReturnType<typeof runtimeErrorLog>, options: StartOptions): Promise<RunningServer> {
  const app = directoryApp(sync, {
    trustProxy: config.TRUST_PROXY,
    onError: (error) => logError(error, {}, "unexpected error in the admin API or the audit log"),
  });
  const handler = app.fetch;

  const handlers = handlersInFlight();
  // @hono/node-server's listener, as its `serve` makes it, with an error handler `serve` does not
  // take: a request it cannot make a URL of (a Host header that is not a host) gets a SCIM 400.
  const listener = getRequestListener(
    async (request, env) => {
      const started = performance.now();
      const response = await handlers.run(async () => handler(request, env));
      if (logger.isLevelEnabled("info")) {
        // Paths only (query strings carry cursors and filters; keep logs lean), with
        // token-like segments redacted as the audit log does: an IdP admin may paste a
        // token where the directory id goes.
        const path = redactPathname(new URL(request.url).pathname);
        logger.info({ method: request.method, path, status: response.status, ms: Math.round((performance.now() - started) * 10) / 10 }, "request");
      }
      return response;
    },
    { hostname: config.HOST, errorHandler: nodeServerErrorHandler },
  );
  const server = await startupStep(`cannot listen on ${config.HOST}:${config.PORT}`, () =>
    new Promise<Server>((resolve, reject) => {
      const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
      // Node checks the timeout every connectionsCheckingInterval (30 s by default).
      const s = createServer({ requestTimeout, connectionsCheckingInterval: Math.min(5_000, Math.max(50, requestTimeout / 4)) }, listener);
      // EADDRINUSE, EACCES: emitted instead of the listening callback.
      s.once("error", reject);
      s.listen(config.PORT, config.HOST, () => {
        s.off("error", reject);
        resolve(s);
      });
    }),
  );
  answerClientErrors(server);
  closeStalledResponses(server);
  closeSilentConnections(server);
  const drain = drainer(server, logger);
  let firstRun: Bootstrapped;
  try {
    firstRun = await startupStep("cannot create the admin key and the first directory", () =>
      bootstrap(sync, {
        rotateAdminKey: config.ROTATE_ADMIN_KEY,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        onWait: (owner, takeOverAfterMs) =>
          logger.warn({ ...owner, takeOverAfterSeconds: takeOverAfterMs / 1000 }, "another process is running the first run: waiting for it to show its secrets (a process that stopped is replaced once its marker has not changed for that long)"),
      }),
    );
  } catch (error) {
    await drain(0);
    throw error;
  }
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.PORT;
  const origin = config.PUBLIC_URL?.replace(/\/+$/, "") ?? `http://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${port}`;
  // Reachable from other machines without a public origin: URLs follow each client's Host.
  if (config.PUBLIC_URL === undefined && !LOOPBACK_HOSTS.has(config.HOST)) logger.warn(PUBLIC_URL_WARNING);

  let closing: Promise<CloseResult> | undefined;
  const close = ({ graceMs = 10_000 }: CloseOptions = {}) =>
    (closing ??= drain(graceMs).then(async (cut) => {
      // A request cut after the grace may still be running (its client is gone, its write and
      // audit entry are not): closing the database under it failed it with "driver has already
      // been destroyed" and lost its audit entry.
      await handlers.settled(SETTLE_AFTER_CUT_MS);
      await sync.close();
      return { cut };
    }));

  return { origin, sync, firstRun, close };
}

/** Listening addresses that only this machine reaches. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

/** Logged at start when the server listens beyond this machine without `PUBLIC_URL`. */
export const PUBLIC_URL_WARNING =
  "PUBLIC_URL is not set: SCIM URLs, Location and meta.location (kept in events) follow each request's Host header, which the client chooses; set PUBLIC_URL to the public origin in production";

/**
 * How long closing waits, once connections are closed, for the application's handlers of cut
 * requests to end before it closes the database anyway (main.ts allows 5 s for the whole close).
 */
export const SETTLE_AFTER_CUT_MS = 2_000;

/** Counts the application's handlers running, so that closing can wait for them to end. */
function handlersInFlight(): { run<T>(handler: () => Promise<T>): Promise<T>; settled(ms: number): Promise<void> } {
  let running = 0;
  const waiting = new Set<() => void>();
  return {
    async run(handler) {
      running++;
      try {
        return await handler();
      } finally {
        if (--running === 0) for (const resolve of waiting) resolve();
      }
    },
    settled: (ms) =>
      running === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              waiting.delete(done);
              resolve();
            };
            const timer = setTimeout(done, ms);
            waiting.add(done);
          }),
  };
}

/**
 * Graceful stop of a Node.js HTTP/1.1 server. Tracks its connections and the requests being
 * answered, and returns `drain(graceMs)`, which stops accepting connections, has every response
 * not yet started carry `Connection: close` (Node then ends the connection after it), closes
 * connections once idle for {@link IDLE_CLOSE_MS}, and resolves when no connection is left,
 * or after `graceMs` with the number of requests it cut.
 */
function drainer(server: Server, logger: Logger): (graceMs: number) => Promise<number> {
  /** Every open connection, with the time its last answer ended (or it was accepted). */
  const idleSince = new Map<Socket, number>();
  /** The responses being written; a connection is busy while one of them is its. */
  const answering = new Set<ServerResponse>();
  let draining = false;

  server.on("connection", (socket: Socket) => {
    idleSince.set(socket, performance.now());
    socket.once("close", () => idleSince.delete(socket));
  });
  // Before the application's listener, so that a request arriving while draining is marked first.
  server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
    if (draining) response.shouldKeepAlive = false;
    answering.add(response);
    response.once("close", () => {
      answering.delete(response);
      if (idleSince.has(request.socket)) idleSince.set(request.socket, performance.now());
    });
  });

  /** Destroys the connections that have no request being answered and were idle long enough. */
  const closeIdle = () => {
    const busy = new Set([...answering].map((response) => response.req.socket));
    const now = performance.now();
    for (const [socket, since] of idleSince) if (!busy.has(socket) && now - since >= IDLE_CLOSE_MS) socket.destroy();
  };

  return (graceMs) =>
    new Promise<number>((resolve) => {
      draining = true;
      // Responses already running: those whose headers are not written yet close their connection.
      for (const response of answering) if (!response.headersSent) response.shouldKeepAlive = false;
      let cut = 0;
      const sweep = setInterval(closeIdle, IDLE_SWEEP_MS);
      const grace = setTimeout(() => {
        cut = answering.size;
        logger.warn({ cut, graceMs }, `shutdown: ${cut} request(s) still running after ${graceMs} ms, cutting them`);
        for (const socket of idleSince.keys()) socket.destroy();
      }, graceMs);
      // net.Server's close: stop listening, call back once every connection has ended. (http.Server's
      // would also destroy every idle connection at once, including one whose client is sending its
      // next request right now: a reset of that request.)
      NetServer.prototype.close.call(server, () => {
        clearInterval(sweep);
        clearTimeout(grace);
        resolve(cut);
      });
      closeIdle();
    });
}

/**
 * Starts the directory-sync service: reads the custom extension schemas (SCIM_SCHEMAS_FILE), opens
 * the database (SQLite by default, PostgreSQL for a `postgres://` DATABASE_URL), migrates it, creates the admin key and a first directory on the
 * first run, and serves `directoryApp` (SCIM for every directory, the admin API, /healthz) with
 * structured request logs. `close()` stops accepting connections, lets requests in flight finish,
 * then closes the database.
 */
import { serve, type ServerType } from "@hono/node-server";
import type { Logger } from "pino";
import { createDirectorySync, directoryApp, type DirectorySync } from "scim-directory";
import { openDatabase } from "scim-store-sql";
import { bootstrap, type Bootstrapped } from "./bootstrap.js";
import type { ServerConfig } from "./config.js";
import { logSerializers, startupStep } from "./errors.js";
import { loadSchemasFile } from "./schemas-file.js";

/** A running server. */
export interface RunningServer {
  /** `http://host:port`: the origin it listens on (PUBLIC_URL when set). */
  origin: string;
  sync: DirectorySync;
  /** What the first run created: secrets to show once. */
  firstRun: Bootstrapped;
  /** Graceful shutdown. */
  close(): Promise<void>;
}

/**
 * Starts the service with `config`, logging through `logger` (errors as name, message and code
 * only). A failure to start (schemas file, database, migrations, port) rejects with a
 * StartupError whose message is one line without secrets; what was opened is closed again.
 */
export async function startServer(config: ServerConfig, parentLogger: Logger): Promise<RunningServer> {
  const logger = parentLogger.child({}, { serializers: logSerializers });
  const registry = config.SCIM_SCHEMAS_FILE !== undefined ? loadSchemasFile(config.SCIM_SCHEMAS_FILE) : undefined;
  const database = await startupStep("cannot open the database", () => openDatabase(config.DATABASE_URL));
  let sync: DirectorySync | undefined;
  try {
    sync = await startupStep(`cannot open or migrate the database (${database.description})`, () =>
      createDirectorySync({
        database,
        ...(registry !== undefined ? { registry } : {}),
        ...(config.PUBLIC_URL ? { publicUrl: config.PUBLIC_URL } : {}),
        // The cause goes to the log; the client gets a generic 500 without it.
        onError: (error, request) => logger.error({ err: error, method: request.method, path: request.path }, "unexpected error in a SCIM request"),
        audit: { onError: (error) => logger.error({ err: error }, "could not write audit entries") },
      }),
    );
    return await serveSync(sync, config, logger);
  } catch (error) {
    // Close what was opened, without letting a second failure hide the first.
    await (sync !== undefined ? sync.close() : database.destroy()).catch(() => {});
    throw error;
  }
}

/** Creates the first-run secrets and listens; the rest of {@link startServer}. */
async function serveSync(sync: DirectorySync, config: ServerConfig, logger: Logger): Promise<RunningServer> {
  const firstRun = await startupStep("cannot create the admin key and the first directory", () => bootstrap(sync));

  const app = directoryApp(sync, {
    trustProxy: config.TRUST_PROXY,
    onError: (error) => logger.error({ err: error }, "unexpected error in the admin API or the audit log"),
  });
  const handler = app.fetch;

  const server: ServerType = await startupStep(`cannot listen on ${config.HOST}:${config.PORT}`, () =>
    new Promise<ServerType>((resolve, reject) => {
      const s = serve(
        {
          fetch: async (request, env) => {
            const started = performance.now();
            const response = await handler(request, env);
            // Paths only: query strings can carry cursors and filters, never secrets, but keep logs lean.
            const path = new URL(request.url).pathname;
            logger.info({ method: request.method, path, status: response.status, ms: Math.round((performance.now() - started) * 10) / 10 }, "request");
            return response;
          },
          port: config.PORT,
          hostname: config.HOST,
        },
        () => {
          s.off("error", reject);
          resolve(s);
        },
      );
      // EADDRINUSE, EACCES: emitted instead of the listening callback.
      s.once("error", reject);
    }),
  );
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.PORT;
  const origin = config.PUBLIC_URL?.replace(/\/+$/, "") ?? `http://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Idle keep-alive connections would hold close() open.
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    }).then(() => sync.close()));

  return { origin, sync, firstRun, close };
}

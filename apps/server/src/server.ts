/**
 * Starts the directory-sync service: opens the database (SQLite by default, PostgreSQL for a
 * `postgres://` DATABASE_URL), migrates it, creates the admin key and a first directory on the
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

/** Starts the service with `config`, logging through `logger`. */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  const database = openDatabase(config.DATABASE_URL);
  const sync = await createDirectorySync({
    database,
    ...(config.PUBLIC_URL ? { publicUrl: config.PUBLIC_URL } : {}),
    // The cause goes to the log; the client gets a generic 500 without it.
    onError: (error, request) => logger.error({ err: error, method: request.method, path: request.path }, "unexpected error in a SCIM request"),
    audit: { onError: (error) => logger.error({ err: error }, "could not write audit entries") },
  });
  const firstRun = await bootstrap(sync);

  const app = directoryApp(sync, {
    trustProxy: config.TRUST_PROXY,
    onError: (error) => logger.error({ err: error }, "unexpected error in the admin API or the audit log"),
  });
  const handler = app.fetch;

  const server: ServerType = await new Promise((resolve) => {
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
      () => resolve(s),
    );
  });
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

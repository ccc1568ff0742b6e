/**
 * `pnpm start` (at the repository root, or in this folder): the directory-sync service. On the
 * first run it prints the admin key, the first directory's SCIM URL and its token, once.
 */
import pino from "pino";
import { loadConfig, type ServerConfig } from "./config.js";
import { errorMessage, logSerializers, maskCredentials } from "./errors.js";
import { startServer, type RunningServer } from "./server.js";

// The level is set from the validated configuration below; errors are logged without stacks.
const logger = pino({ level: "info", serializers: logSerializers, redact: { paths: ["req.headers.authorization", "headers.authorization", "token", "adminKey"], remove: true } });

/** Logs one fatal line, prints one line to stderr and exits 1: no stack trace, no secret. */
function die(message: string): never {
  logger.fatal(message);
  console.error(`directory-sync: ${message}`);
  process.exit(1);
}

// Whatever escapes at run time ends the process the same way, instead of as a raw stack trace.
process.on("uncaughtException", (error) => die(`uncaught error: ${errorMessage(error)}`));
process.on("unhandledRejection", (error) => die(`unhandled rejection: ${errorMessage(error)}`));

/** How many directories' SCIM URLs a start prints (the oldest). */
const BANNER_DIRECTORIES = 20;

/** Prints where to reach the service, and the secrets it just created (first run, ROTATE_ADMIN_KEY), once. */
async function announce({ firstRun, sync, origin }: RunningServer, config: ServerConfig): Promise<void> {
  // Secrets go to the terminal once, never to the structured log.
  if (firstRun.adminKey || firstRun.token) {
    console.log("");
    if (firstRun.resumed) console.log("An earlier first run (or ROTATE_ADMIN_KEY start) stopped before it finished showing its secrets: these replace them, and any it printed no longer work.");
    console.log(firstRun.directory ? "First run: save these now, they are not shown again (only their hashes are stored)." : "New admin API key (ROTATE_ADMIN_KEY): save it now, it is not shown again; the previous key no longer works.");
    if (firstRun.adminKey) console.log(`  Admin API key:  ${firstRun.adminKey}   (Authorization: Bearer ... on ${origin}/api)`);
    if (firstRun.directory && firstRun.token) {
      console.log(`  SCIM base URL:  ${sync.scimUrl(firstRun.directory.id, origin)}`);
      console.log(`  SCIM token:     ${firstRun.token}`);
    }
    console.log("");
  }
  // Shown: a later start has nothing to replace.
  await firstRun.shown();
  if (!firstRun.directory) {
    // The oldest few: a service of thousands of directories would print thousands of lines.
    const listed = await sync.directories.list({ limit: BANNER_DIRECTORIES + 1 });
    for (const directory of listed.slice(0, BANNER_DIRECTORIES)) {
      console.log(`SCIM base URL (${directory.name}): ${sync.scimUrl(directory.id, origin)}`);
    }
    if (listed.length > BANNER_DIRECTORIES) console.log(`... and more directories: GET ${origin}/api/directories lists them all`);
  }
  console.log(`Database: ${maskCredentials(config.DATABASE_URL)}`);
  console.log(`Admin API: ${origin}/api (OpenAPI: ${origin}/api/openapi.json), health: ${origin}/healthz`);
  logger.info({ origin }, "directory-sync listening");
}

/** The signals that stop the service (during start-up, and once it runs). */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** How long requests in flight get after SIGINT or SIGTERM before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;
/** After the grace, how long closing the database may take before the process exits anyway. */
const CLOSE_DATABASE_MS = 5_000;

/** SIGINT and SIGTERM finish the requests in flight, close the database and exit (installed as soon as the server runs). */
function stopOnSignals(): void {
  let stopping = false;
  for (const signal of STOP_SIGNALS) {
    // `on`, not `once`: a second signal while stopping must find this listener (and be ignored),
    // not Node's default, which ends the process at once, cutting what the first one finishes.
    process.on(signal, () => {
      if (stopping) return void logger.info({ signal }, "already shutting down");
      stopping = true;
      logger.info({ signal }, "shutting down: finishing requests in flight");
      // The grace is close()'s: it cuts what still runs (one line says how many) and closes the
      // database all the same. This is the last resort, should closing the database hang.
      setTimeout(() => {
        logger.fatal(`shutdown: not stopped ${(SHUTDOWN_GRACE_MS + CLOSE_DATABASE_MS) / 1000} s after the signal, exiting`);
        process.exit(1);
      }, SHUTDOWN_GRACE_MS + CLOSE_DATABASE_MS).unref();
      running!.close({ graceMs: SHUTDOWN_GRACE_MS }).then(
        ({ cut }) => {
          logger.info({ cut }, "stopped");
          // Requests cut: not a clean stop.
          process.exit(cut === 0 ? 0 : 1);
        },
        (error) => {
          logger.error({ err: error }, "shutdown failed");
          process.exit(1);
        },
      );
    });
  }
}

// During start-up (migrations, a wait of up to 30 s for another process's first run), SIGINT
// and SIGTERM stop the start and exit 0, instead of Node's default, which kills the process there.
const startup = new AbortController();
const stopStartup = (signal: NodeJS.Signals) => {
  if (startup.signal.aborted) return;
  logger.info({ signal }, "shutting down during start-up");
  startup.abort();
  // A step that does not give up (a migration, a database that does not answer) ends here.
  setTimeout(() => {
    logger.fatal(`shutdown: start-up not stopped ${SHUTDOWN_GRACE_MS / 1000} s after the signal, exiting`);
    process.exit(1);
  }, SHUTDOWN_GRACE_MS).unref();
};
for (const signal of STOP_SIGNALS) process.on(signal, stopStartup);

let running: RunningServer | undefined;
try {
  const config = loadConfig();
  logger.level = config.LOG_LEVEL;
  running = await startServer(config, logger, { signal: startup.signal });
  startup.signal.throwIfAborted();
  for (const signal of STOP_SIGNALS) process.off(signal, stopStartup);
  stopOnSignals();
  await announce(running, config);
} catch (error) {
  await running?.close({ graceMs: 0 }).catch(() => {});
  if (startup.signal.aborted) {
    logger.info({ cut: 0 }, "stopped");
    process.exit(0);
  }
  die(`could not start: ${errorMessage(error)}`);
}



/**
 * `pnpm start` (at the repository root, or in this folder): the directory-sync service. On the
 * first run it prints the admin key, the first directory's SCIM URL and its token, once.
 */
import pino from "pino";
import { loadConfig } from "./config.js";
import { startServer } from "./server.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "info", redact: { paths: ["req.headers.authorization", "headers.authorization", "token", "adminKey"], remove: true } });

let config;
try {
  config = loadConfig();
} catch (error) {
  logger.fatal((error as Error).message);
  process.exit(1);
}

const running = await startServer(config, logger);
const { firstRun, sync, origin } = running;

// Secrets go to the terminal once, never to the structured log.
if (firstRun.adminKey || firstRun.token) {
  console.log("");
  console.log("First run: save these now, they are not shown again (only their hashes are stored).");
  if (firstRun.adminKey) console.log(`  Admin API key:  ${firstRun.adminKey}   (Authorization: Bearer ... on ${origin}/api)`);
  if (firstRun.directory && firstRun.token) {
    console.log(`  SCIM base URL:  ${sync.scimUrl(firstRun.directory.id, origin)}`);
    console.log(`  SCIM token:     ${firstRun.token}`);
  }
  console.log("");
} else {
  for (const directory of await sync.directories.list({ limit: 20 })) {
    console.log(`SCIM base URL (${directory.name}): ${sync.scimUrl(directory.id, origin)}`);
  }
}
console.log(`Database: ${config.DATABASE_URL.startsWith("postgres") ? config.DATABASE_URL.replace(/\/\/[^@/]*@/, "//***@") : config.DATABASE_URL}`);
console.log(`Admin API: ${origin}/api (OpenAPI: ${origin}/api/openapi.json), health: ${origin}/healthz`);
logger.info({ origin }, "directory-sync listening");

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing requests in flight");
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    running.close().then(
      () => {
        clearTimeout(force);
        logger.info("stopped");
        process.exit(0);
      },
      (error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}

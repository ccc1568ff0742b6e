/**
 * apps/server's directory-sync service as `pnpm start` runs it (startServer: SQLite file, the
 * whole directoryApp with audit log, rate limit, IP allowlist, events outbox and role
 * subscriber), on a fresh SQLite file in BENCH_DIRECTORY_DB. Prints the admin key, the first
 * directory's id and its SCIM token in its ready line: the runner raises the directory's rate
 * limit above the load through the admin API before loading it.
 *
 * Logs: BENCH_DIRECTORY_LOG_LEVEL (default "silent"; "info" writes the per-request log lines to
 * /dev/null, as the service would write them to a log collector).
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../../../apps/server/src/config.js";
import { startServer } from "../../../../apps/server/src/server.js";
import { ready } from "./common.js";

const APP = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "apps", "server");
// pino is the service's dependency, not the benchmark's: load the service's copy.
type Logger = Parameters<typeof startServer>[1];
type Pino = ((options: { level: string }, destination: unknown) => Logger) & { destination(options: { dest: string; sync: boolean }): unknown };
const pino = createRequire(join(APP, "package.json"))("pino") as Pino;

const level = process.env.BENCH_DIRECTORY_LOG_LEVEL ?? "silent";
const logger = pino({ level }, pino.destination({ dest: "/dev/null", sync: false }));
const file = process.env.BENCH_DIRECTORY_DB;
if (!file) throw new Error("BENCH_DIRECTORY_DB is required");

const config = loadConfig({ DATABASE_URL: `sqlite:${file}`, PORT: process.env.PORT ?? "0", HOST: "127.0.0.1", LOG_LEVEL: level });
const running = await startServer(config, logger);
const { firstRun } = running;
if (!firstRun.adminKey || !firstRun.directory || !firstRun.token) throw new Error("expected a first run on a fresh database");
ready(
  { port: Number(new URL(running.origin).port), adminKey: firstRun.adminKey, directoryId: firstRun.directory.id, token: firstRun.token, scimBase: `/scim/v2/${firstRun.directory.id}` },
  async () => void (await running.close()),
);

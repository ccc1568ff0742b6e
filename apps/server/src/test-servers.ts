/**
 * Test support (not part of the service): servers started by `startServer` on a SQLite file in a
 * temporary folder, closed and removed after each test.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import { afterEach } from "vitest";
import { loadConfig } from "./config.js";
import { startServer, type RunningServer, type StartOptions } from "./server.js";

/** Registers the cleanup; `start` starts a server on the test's database (the same file for each start of a test). */
export function useTemporaryServers(prefix: string) {
  let dir: string | undefined;
  const running: RunningServer[] = [];
  afterEach(async () => {
    for (const server of running.splice(0)) await server.close().catch(() => {});
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return {
    async start(env: Record<string, string> = {}, logger: Logger = pino({ level: "silent" }), options: StartOptions = {}): Promise<RunningServer> {
      dir ??= mkdtempSync(join(tmpdir(), prefix));
      const server = await startServer(loadConfig({ DATABASE_URL: `sqlite:${join(dir, "sync.db")}`, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent", ...env }), logger, options);
      running.push(server);
      return server;
    },
  };
}

/**
 * The start-up warning about PUBLIC_URL: a server reachable from other machines without it builds
 * its URLs (and the `meta.location` kept in events) from each request's Host header.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { PUBLIC_URL_WARNING, startServer, type RunningServer } from "./server.js";

const dirs: string[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close({ graceMs: 0 });
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts a server with `env` and returns the messages it logged at warn level and above. */
async function warningsOf(env: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "public-url-"));
  dirs.push(dir);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  servers.push(await startServer(loadConfig({ DATABASE_URL: `sqlite:${join(dir, "db.sqlite")}`, PORT: "0", LOG_LEVEL: "warn", ...env }), pino({ level: "warn" }, sink)));
  return lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
}

describe("PUBLIC_URL at start-up", () => {
  it("a server listening beyond this machine without PUBLIC_URL warns that its URLs follow the Host header", async () => {
    expect(await warningsOf({ HOST: "0.0.0.0" })).toContain(PUBLIC_URL_WARNING);
  });

  it("no warning on a loopback address, nor with PUBLIC_URL set", async () => {
    expect(await warningsOf({ HOST: "127.0.0.1" })).not.toContain(PUBLIC_URL_WARNING);
    expect(await warningsOf({ HOST: "0.0.0.0", PUBLIC_URL: "https://sync.example.com" })).not.toContain(PUBLIC_URL_WARNING);
  });
});

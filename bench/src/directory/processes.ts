/**
 * What the DIRECTORY and FAIRNESS parts share: servers in child processes (src/directory/servers/*.ts,
 * `node --import tsx`, PORT=0; each prints a JSON ready line), stopping them, plain node:http
 * requests over a caller's agent, the admin API, a process's CPU time from /proc, percentiles and
 * formatting. Every child started here is killed (SIGKILL) when this process exits.
 *
 * BENCH_DIRECTORY_NODE_ARGS: more node options for every server child (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof").
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = dirname(fileURLToPath(import.meta.url));
/** The bench package's directory (where results-*.md go). */
export const BENCH_DIR = join(HERE, "..", "..");
const START_TIMEOUT_MS = 120_000;
export const SCIM_JSON = "application/scim+json";

/** A server of src/directory/servers/. */
export interface ServerDef {
  name: "directory-service" | "hono-sample" | "hono-sample-sqlite";
  /** The script in src/directory/servers/. */
  script: string;
  what: string;
}

/** A server child once ready (its ready line's port, token, SCIM base, admin key, first directory). */
export interface Running {
  def: ServerDef;
  child: ChildProcess;
  port: number;
  token: string;
  scimBase: string;
  adminKey?: string;
  directoryId?: string;
  startMs: number;
  /** The last lines the child printed (its `stopped` line has its memory). */
  lines: string[];
}

/** Every child process started (servers and helpers); killed when this process exits. */
export const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

/** Starts `servers/<def.script>.ts` with `env` and resolves once it prints its ready line (rejects after 120 s or if it exits first). */
export function startServer(def: ServerDef, env: Record<string, string>): Promise<Running> {
  const t0 = Date.now();
  const nodeArgs = (process.env.BENCH_DIRECTORY_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", join(HERE, "servers", `${def.script}.ts`)], {
    cwd: BENCH_DIR,
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    let buf = "";
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${def.name}: ${why}${stderr ? `\n${stderr.trim().split("\n").slice(-10).join("\n")}` : ""}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    child.on("exit", (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
    child.stdout!.on("data", (d) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (lines.length > 20) lines.shift();
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.ready) {
          clearTimeout(timer);
          child.removeAllListeners("exit");
          resolve({
            def,
            child,
            port: msg.port as number,
            token: msg.token as string,
            scimBase: msg.scimBase as string,
            ...(typeof msg.adminKey === "string" ? { adminKey: msg.adminKey } : {}),
            ...(typeof msg.directoryId === "string" ? { directoryId: msg.directoryId } : {}),
            startMs: Date.now() - t0,
            lines,
          });
        }
      }
    });
  });
}

/** SIGTERM (the service closes its database), SIGKILL after 10 s; resolves with the child's last RSS. */
export function stopServer(s: Running): Promise<number | undefined> {
  return new Promise((resolve) => {
    const rss = () => {
      for (const line of [...s.lines].reverse()) {
        try {
          const msg = JSON.parse(line);
          if (msg.stopped) return msg.rss as number;
        } catch {
          // not a JSON line
        }
      }
      return undefined;
    };
    if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve(rss());
    const timer = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
    s.child.once("exit", () => {
      clearTimeout(timer);
      children.delete(s.child);
      resolve(rss());
    });
    s.child.kill("SIGTERM");
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request over `agent` to 127.0.0.1:`port`; resolves with the status and the whole body (30 s timeout). */
export function request(agent: http.Agent, port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, agent, headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
      res.on("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

/** CPU time (user + system, every thread) a process has used, in ms, from /proc (Linux; clock ticks of 10 ms); NaN elsewhere. */
export function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** The nearest-rank percentile `p` (0..100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A request to the service's admin API (`/api...`) with its admin key, on a fresh socket. */
export async function admin(s: Running, method: string, path: string, body?: unknown): Promise<Answer> {
  const agent = new http.Agent({ keepAlive: false });
  const headers: Record<string, string> = { authorization: `Bearer ${s.adminKey}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  return request(agent, s.port, method, `/api${path}`, headers, body === undefined ? undefined : JSON.stringify(body));
}

export const fmtMs = (ms: number) => (Number.isFinite(ms) ? (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)) : "–");

/** The load averages, for the reports. */
export const load = () => os.loadavg().map((x) => x.toFixed(2)).join(", ");

/** Writes a part's report to `bench/<file>`: its title, the time, its lines. */
export function writeReport(file: string, title: string, lines: readonly string[], part: string): void {
  const path = join(BENCH_DIR, file);
  writeFileSync(path, [`# ${title}`, "", `${new Date().toISOString()}`, "", ...lines].join("\n") + "\n");
  console.log(`${part} part written to ${path}`);
}

/** Runs a part's report when its module is the script run (`npx tsx src/directory/<part>.ts`), exiting 1 on failure. */
export function runWhenMain(moduleUrl: string, report: () => Promise<unknown>): void {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  report().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

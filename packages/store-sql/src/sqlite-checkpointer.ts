/**
 * WAL checkpoints on a worker thread, so that they stop stalling requests.
 *
 * Why: in WAL mode every COMMIT appends the pages it changed to the WAL file, and a checkpoint
 * copies them back into the database file (and syncs it). By default SQLite checkpoints inside
 * the COMMIT that makes the WAL pass 1,000 pages: that COMMIT, and with group commit every
 * request waiting on it, takes about ten times longer. Measured on the directory-sync service,
 * those checkpoints were more than half of all COMMIT time, on the one thread that serves
 * requests.
 *
 * How: the request connection's automatic checkpoints are turned off, and a worker thread opens
 * its own connection to the same file and runs a PASSIVE checkpoint every `intervalMs` (it copies
 * what it can without blocking the writer, in parallel with it, on another core). A PASSIVE
 * checkpoint never catches up with a writer that never pauses, and the WAL only starts over once
 * it has been copied whole: when the WAL holds more than `restartPages` pages, the worker runs a
 * RESTART checkpoint, which makes the writer wait while it copies the last pages, so that the next
 * write starts the WAL from the beginning; it gives up after 20 ms rather than make the writer
 * wait for a reader that stays open. If the worker fails or exits, the request connection's
 * automatic checkpoints come back.
 *
 * What no checkpoint can do: start the WAL over while another connection (a backup, the sqlite3
 * shell, a report) holds a read transaction open on an older snapshot. The WAL then grows with
 * every write, without bound, until that transaction ends; `onWalStall` says so, each time the WAL
 * has doubled, so that the host can log who to look for.
 */
import { Worker } from "node:worker_threads";

/** Options of the background checkpointer (see {@link startCheckpointer}). */
export interface CheckpointOptions {
  /** Time between two PASSIVE checkpoints, in milliseconds. @default 100 */
  intervalMs?: number;
  /**
   * WAL size, in pages (frames), beyond which the worker makes the writer wait for a whole
   * checkpoint. Each such wait delays the requests of that moment by up to tens of milliseconds;
   * measured on the directory benchmark, 65,536 gave a p99 of 20 ms where 4,096 gave 28 ms.
   * @default 65536 (256 MiB of 4 KiB pages; the file is cut back to 64 MiB when the WAL starts over)
   */
  restartPages?: number;
  /**
   * Called when the WAL has passed `restartPages` and could not start over (a RESTART gave up:
   * writes did not pause for 20 ms, or a connection holds a read transaction open), the first
   * time and then each time it has doubled since; `walBytes` is its size. Nothing is refused
   * meanwhile: writes go on and the WAL grows.
   */
  onWalStall?: (stall: { walBytes: number }) => void;
}

/** What the checkpointer has done (for tests and monitoring). */
export interface CheckpointStats {
  /** Checkpoints that copied something. */
  checkpoints: number;
  /** WAL frames (page images) copied into the database file. */
  frames: number;
  /** RESTART checkpoints that completed (the WAL had grown past `restartPages`). */
  restarts: number;
  /** Checkpoint attempts that failed (the next one tries again; 100 in a row end the worker). */
  failures: number;
}

/** A running background checkpointer. */
export interface Checkpointer {
  readonly stats: Readonly<CheckpointStats>;
  /** True while the worker runs (false after `stop` or after it failed, when SQLite checkpoints inline again). */
  readonly running: boolean;
  /** Stops the worker and closes its connection (before the request connection closes). */
  stop(): Promise<void>;
}

/** The request connection, as far as checkpoints are concerned. */
interface PragmaDatabase {
  pragma(text: string): unknown;
}

/** SQLite's default `wal_autocheckpoint`, restored when the worker stops working. */
const SQLITE_AUTOCHECKPOINT = 1000;

/**
 * The worker's code (CommonJS, evaluated): its own connection, a checkpoint per tick, a report of
 * each checkpoint that copied something. `wal_checkpoint` answers `{ busy, log, checkpointed }`:
 * the WAL's frames and how many of them are now in the database file.
 *
 * A RESTART holds the writer lock while it copies the last frames and waits for readers, and the
 * request connection waits for that lock with its event loop blocked: so the worker gives the
 * RESTART a short busy timeout (it gives up rather than make requests wait for a reader), runs it
 * only when the WAL has grown since the last one, and after a RESTART that gave up waits a while
 * before the next. Failing on every tick for `maxFailures` ticks ends the worker (SQLite then
 * checkpoints inline again).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true });
const PASSIVE_TIMEOUT = "busy_timeout = " + workerData.busyTimeoutMs;
const RESTART_TIMEOUT = "busy_timeout = " + workerData.restartBusyTimeoutMs;
db.pragma(PASSIVE_TIMEOUT);
const pageSize = db.pragma("page_size", { simple: true });
let last = { log: 0, checkpointed: 0 };
let restartedAt = -1;
let retryRestartAt = 0;
let failures = 0;
function tick() {
  try {
    let [result] = db.pragma("wal_checkpoint(PASSIVE)");
    let restart;
    if (result.log >= workerData.restartPages && result.log > restartedAt && Date.now() >= retryRestartAt) {
      db.pragma(RESTART_TIMEOUT);
      try {
        [result] = db.pragma("wal_checkpoint(RESTART)");
      } finally {
        db.pragma(PASSIVE_TIMEOUT);
      }
      restart = result.busy === 0 ? "done" : "gave-up";
      if (restart === "done") restartedAt = result.log;
      else retryRestartAt = Date.now() + workerData.restartBackoffMs;
    }
    // A WAL that started over holds fewer frames than before: count its frames from zero.
    const frames = result.log < last.log ? result.checkpointed : result.checkpointed - last.checkpointed;
    if (result.log < last.log) restartedAt = -1;
    last = { log: result.log, checkpointed: result.checkpointed };
    failures = 0;
    if (frames > 0 || restart) parentPort.postMessage({ kind: "checkpoint", restart, frames: Math.max(0, frames), walBytes: result.log * pageSize });
  } catch (error) {
    parentPort.postMessage({ kind: "failure", message: String(error && error.message) });
    if (++failures >= workerData.maxFailures) stop();
  }
}
const timer = setInterval(tick, workerData.intervalMs);
function stop() {
  clearInterval(timer);
  db.close();
  parentPort.close();
}
parentPort.on("message", (message) => {
  if (message === "stop") stop();
});
`;

type WorkerMessage = { kind: "checkpoint"; restart?: "done" | "gave-up"; frames: number; walBytes: number } | { kind: "failure"; message: string };

/**
 * Moves the WAL checkpoints of a SQLite file off the request connection onto a worker thread.
 * `driver` is the path of the better-sqlite3 module (the worker loads the same copy).
 */
export function startCheckpointer(database: PragmaDatabase, filename: string, driver: string, options: CheckpointOptions = {}): Checkpointer {
  const stats: CheckpointStats = { checkpoints: 0, frames: 0, restarts: 0, failures: 0 };
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      driver,
      filename,
      intervalMs: Math.max(1, options.intervalMs ?? 100),
      restartPages: Math.max(1, options.restartPages ?? 65_536),
      busyTimeoutMs: 1_000,
      restartBusyTimeoutMs: 20,
      restartBackoffMs: 1_000,
      maxFailures: 100,
    },
  });
  database.pragma("wal_autocheckpoint = 0");
  // A WAL that grew during a burst is cut back to 64 MiB when it starts over.
  database.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  let running = true;
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  const fallBack = () => {
    if (!running) return;
    running = false;
    if (!stopping) database.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT}`);
  };
  /** The WAL size of the last stall reported; the next report waits for twice as much. */
  let stallReported = 0;
  worker.on("message", (message: WorkerMessage) => {
    if (message.kind === "failure") {
      stats.failures++;
      return;
    }
    if (message.frames > 0) stats.checkpoints++;
    stats.frames += message.frames;
    if (message.restart === "done") {
      stats.restarts++;
      stallReported = 0;
    }
    if (message.restart === "gave-up" && message.walBytes >= 2 * stallReported) {
      stallReported = message.walBytes;
      try {
        options.onWalStall?.({ walBytes: message.walBytes });
      } catch {
        // A failing listener changes nothing here.
      }
    }
  });
  // A worker that cannot start or dies (a missing file, out of memory): SQLite checkpoints inline again.
  worker.on("error", () => {
    stats.failures++;
    fallBack();
  });
  worker.on("exit", fallBack);
  // The worker must never keep a process alive on its own: the request connection's close is what
  // ends it. (Last: adding a "message" listener refs the worker again.)
  worker.unref();
  return {
    stats,
    get running() {
      return running;
    },
    async stop() {
      stopping = true;
      // Keep the process alive until the worker has closed its connection.
      worker.ref();
      if (running) worker.postMessage("stop");
      await exited;
    },
  };
}

/**
 * For servers on Node.js HTTP: a response whose client stops reading it. Node times out slow
 * requests (`headersTimeout`, `requestTimeout`) and idle keep-alive connections, but nothing ends
 * a response the client does not read: its body waits in memory, for good, for a socket that
 * takes nothing. Many such connections (a list page of megabytes each, asked for and never read)
 * run the process out of memory. {@link closeStalledResponses} closes them.
 */

/** What a Node.js socket tells of its writing, and how to close it. */
export interface WritingSocket {
  readonly destroyed: boolean;
  /** Bytes handed to the socket (a response's body is one write: it moves once). */
  readonly bytesWritten?: number;
  /** Bytes the stream holds, the chunk being written included. */
  readonly writableLength?: number;
  /** libuv's handle: `writeQueueSize`, the bytes handed to it that the kernel has not taken yet. */
  readonly _handle?: { readonly writeQueueSize?: number } | null;
  destroy(): unknown;
  /** Node 18.3+: closes with a reset, which makes the kernel drop what it still holds to send. */
  resetAndDestroy?(): unknown;
}

/**
 * Closes a connection whose client stopped reading with a reset where Node can (`resetAndDestroy`):
 * a plain close leaves the unsent answer in the kernel (up to its send buffer, megabytes) for
 * as long as it keeps trying to deliver it.
 */
export function abortStalled(socket: Pick<WritingSocket, "destroy" | "resetAndDestroy">): void {
  if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Where a socket's writing stands: it changes whenever the kernel takes bytes of it. What the
 * kernel took shows in `writeQueueSize`, an internal of Node's TCP handle that has been there
 * since Node 0.x (no public API says it); `bytesWritten` and `writableLength` move when a write
 * is handed over or completes.
 */
export function writingMark(socket: Partial<WritingSocket> | null | undefined): string {
  return `${socket?.bytesWritten}/${socket?.writableLength}/${socket?._handle?.writeQueueSize}`;
}

/**
 * Starts following a socket's writing: the function returned says, each time it is called with
 * the time, for how many milliseconds the kernel has taken nothing of it ({@link writingMark}).
 */
export function writingProgress(socket: Partial<WritingSocket> | null | undefined, now = Date.now()): (now: number) => number {
  let mark = writingMark(socket);
  let since = now;
  return (at) => {
    const current = writingMark(socket);
    if (current !== mark) [mark, since] = [current, at];
    return at - since;
  };
}

/** The parts of a Node.js response used here. */
interface WatchedResponse {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  readonly socket: WritingSocket | null;
  once(event: "close", listener: () => void): unknown;
}

/** A Node.js HTTP server (typed without Node's own types, as the package's other helpers are). */
export interface StalledResponsesServer {
  on(event: "request", listener: (request: unknown, response: WatchedResponse) => void): unknown;
  on(event: "close", listener: () => void): unknown;
}

/** The default of {@link closeStalledResponses}' `stalledMs`: 30 s. */
export const DEFAULT_STALLED_MS = 30_000;

/**
 * Watches every response of `server` once it has begun to be written, and closes the connection
 * of one the kernel has taken nothing of for `stalledMs` (checked every third of it): its client
 * stopped reading, and its answer's memory is freed with the connection. A response still being
 * made (its headers not sent) is not watched: the handler's own time is not the client's fault.
 *
 * ```ts
 * const server = app.listen(3000);
 * closeStalledResponses(server);
 * ```
 */
export function closeStalledResponses(server: StalledResponsesServer, options: { stalledMs?: number } = {}): void {
  const stalledMs = Math.max(1, options.stalledMs ?? DEFAULT_STALLED_MS);
  /** Each response, with how long its writing has stood still once its headers are sent. */
  const watched = new Map<WatchedResponse, { stalledFor?: (now: number) => number }>();
  let timer: { unref?: () => unknown } | undefined;
  const sweep = () => {
    const now = Date.now();
    for (const [response, state] of watched) {
      if (response.writableFinished || response.socket === null || response.socket.destroyed) {
        watched.delete(response);
        continue;
      }
      if (!response.headersSent) continue;
      state.stalledFor ??= writingProgress(response.socket, now);
      if (state.stalledFor(now) >= stalledMs) {
        watched.delete(response);
        abortStalled(response.socket);
      }
    }
    if (watched.size === 0 && timer !== undefined) {
      clearInterval(timer as Parameters<typeof clearInterval>[0]);
      timer = undefined;
    }
  };
  server.on("request", (_request, response) => {
    watched.set(response, {});
    response.once("close", () => watched.delete(response));
    if (timer === undefined) {
      timer = setInterval(sweep, Math.max(1, Math.floor(stalledMs / 3)));
      timer.unref?.();
    }
  });
  server.on("close", () => {
    if (timer !== undefined) clearInterval(timer as Parameters<typeof clearInterval>[0]);
    timer = undefined;
    watched.clear();
  });
}

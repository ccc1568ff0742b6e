/**
 * Connections that never send a request. Node's HTTP server times out a request whose head is
 * slow (`headersTimeout`) and an idle keep-alive connection (`keepAliveTimeout`), but a connection
 * that sends no byte at all stays open for good: enough of them use up the process's file
 * descriptors, and the server refuses everyone.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";

/** How long a new connection may stay silent before its first request, in milliseconds. */
export const FIRST_REQUEST_TIMEOUT_MS = 30_000;

/** Closes each connection of `server` that has not begun a request `ms` after it opened. */
export function closeSilentConnections(server: Server, ms = FIRST_REQUEST_TIMEOUT_MS): void {
  const waiting = new WeakMap<Socket, NodeJS.Timeout>();
  server.on("connection", (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), ms);
    timer.unref();
    waiting.set(socket, timer);
    socket.once("close", () => clearTimeout(timer));
  });
  // The head has arrived: from here on Node's own timeouts apply.
  server.on("request", (request: { socket: Socket }) => {
    const timer = waiting.get(request.socket);
    if (timer !== undefined) {
      clearTimeout(timer);
      waiting.delete(request.socket);
    }
  });
}

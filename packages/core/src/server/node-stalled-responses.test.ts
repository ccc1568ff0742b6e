import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStalledResponses } from "./node-stalled-responses.js";

describe("closeStalledResponses", () => {
  const BODY = "x".repeat(16 * 1024 * 1024);
  let server: Server;
  let port: number;
  let resets = 0;
  beforeAll(async () => {
    server = createServer((request, response) => {
      const socket = response.socket!;
      const reset = socket.resetAndDestroy.bind(socket);
      socket.resetAndDestroy = () => {
        resets++;
        return reset();
      };
      // A handler that takes longer than stalledMs before it answers: not the client's fault.
      const delay = request.url === "/slow-handler" ? 1_500 : 0;
      setTimeout(() => response.end(request.url === "/small" ? "ok" : BODY), delay);
    });
    // 1 s: a client in this same process, starved of CPU by the other test files running beside
    // it, once read nothing for 300 ms and was cut off as stalled.
    closeStalledResponses(server, { stalledMs: 1_000 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** GETs `path` and reads the answer at `bytesPerMs`; with 0, reads nothing until `resume()`. */
  const get = (path: string, bytesPerMs: number) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let bytes = 0;
    if (bytesPerMs === 0) socket.pause();
    const done = new Promise<number>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytesPerMs === 0 || bytesPerMs === Infinity) return;
        socket.pause();
        setTimeout(() => socket.resume(), chunk.length / bytesPerMs);
      });
      socket.on("close", () => resolve(bytes));
      socket.on("error", () => {});
    });
    return { done, resume: () => socket.resume() };
  };
  const connections = () => new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));

  it("closes the connection of an answer its client stopped reading, and only that one", async () => {
    const stalled = get("/big", 0);
    const small = await get("/small", Infinity).done;
    expect(small).toBeGreaterThan(0);
    // The kernel's buffers fill, then nothing moves: closed after stalledMs (checked every 333 ms).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await connections()).toBe(0);
    stalled.resume();
    expect(await stalled.done).toBeLessThan(BODY.length);
    // Closed with a reset, so that the kernel drops the megabytes it still held to send (a plain
    // close leaves them in a FIN-WAIT-1 socket for as long as it keeps trying to deliver them).
    expect(resets).toBe(1);
  });

  it("keeps an answer its client reads on, slowly, to the end, and a handler that takes its time", async () => {
    const started = Date.now();
    // 8 MB/s: two seconds for the body, many times stalledMs.
    const [steady, slowHandler] = await Promise.all([get("/big", 8_000).done, get("/slow-handler", Infinity).done]);
    expect(Date.now() - started).toBeGreaterThan(1_900);
    expect(steady).toBeGreaterThan(BODY.length);
    expect(slowHandler).toBeGreaterThan(BODY.length);
  });
});

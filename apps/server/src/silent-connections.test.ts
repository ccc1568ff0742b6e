import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { closeSilentConnections } from "./silent-connections.js";

describe("closeSilentConnections", () => {
  it("closes a connection that sends nothing, and leaves one that made a request alone", async () => {
    const server = createServer((_req, res) => res.end("ok"));
    server.keepAliveTimeout = 5000;
    closeSilentConnections(server, 150);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    try {
      const silent = connect(port, "127.0.0.1");
      silent.on("error", () => {});
      const started = Date.now();
      await once(silent, "close");
      expect(Date.now() - started).toBeLessThan(2000);

      // A request before the timeout: the keep-alive connection outlives it.
      const busy = connect(port, "127.0.0.1");
      let answer = "";
      busy.on("data", (d) => (answer += d));
      busy.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(busy.destroyed).toBe(false);
      busy.destroy();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

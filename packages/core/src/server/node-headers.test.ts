import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { rawConnection } from "../testing/raw-connection.js";
import { bearerToken } from "./create-scim-server.js";
import { nodeRequestHeaders } from "./node-headers.js";

/** The headers of one raw HTTP request, as Node parsed them. */
async function received(head: string): Promise<IncomingMessage> {
  let seen: IncomingMessage | undefined;
  const server = createServer((req, res) => {
    seen = req;
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const connection = await rawConnection(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    connection.write(`GET / HTTP/1.1\r\nHost: x\r\n${head}\r\n`);
    await connection.response();
  } finally {
    connection.destroy();
    server.close();
  }
  return seen!;
}

const tokenOf = (headers: Record<string, string | string[] | undefined>) => bearerToken({ method: "GET", path: "/", query: {}, headers } as never);

describe("nodeRequestHeaders", () => {
  it("one Authorization: Node's headers as they are", async () => {
    const req = await received("Authorization: Bearer good\r\nAccept: a\r\n");
    expect(nodeRequestHeaders(req)).toBe(req.headers);
    expect(tokenOf(nodeRequestHeaders(req))).toBe("good");
  });

  it("Authorization twice: every value joined, which is no bearer credential (Node alone keeps the first)", async () => {
    const req = await received("Authorization: Bearer good\r\nauthorization: Bearer other\r\n");
    expect(req.headers.authorization).toBe("Bearer good");
    expect(tokenOf(req.headers)).toBe("good");
    const headers = nodeRequestHeaders(req);
    expect(headers.authorization).toBe("Bearer good, Bearer other");
    expect(tokenOf(headers)).toBeUndefined();
    // Nothing else changes, and Node's object is left alone.
    expect({ ...headers, authorization: req.headers.authorization }).toEqual(req.headers);
    expect(req.headers.authorization).toBe("Bearer good");
  });

  it("without rawHeaders (a request built by hand): the headers as given", () => {
    const headers = { authorization: "Bearer t" };
    expect(nodeRequestHeaders({ headers })).toBe(headers);
  });
});

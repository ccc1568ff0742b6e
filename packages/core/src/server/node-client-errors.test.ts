import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { answerClientErrors } from "./node-client-errors.js";

describe("answerClientErrors", () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((_request, response) => response.end("ok"));
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const raw = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => socket.end(text));
      let answer = "";
      socket.on("data", (d) => (answer += d)).on("close", () => resolve(answer)).on("error", reject);
    });
  const openConnections = () => new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  const bodyOf = (answer: string) => answer.slice(answer.indexOf("\r\n\r\n") + 4);

  it("answers a head over Node's limit (a long filter) with a SCIM 431 and closes the connection", async () => {
    const filter = encodeURIComponent(`userName eq "${"a".repeat(20_000)}"`);
    const answer = await raw(`GET /Users?filter=${filter} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(answer).toContain("Content-Type: application/scim+json\r\n");
    expect(answer).toContain("Connection: close\r\n");
    const body = bodyOf(answer);
    expect(answer).toContain(`Content-Length: ${Buffer.byteLength(body)}\r\n`);
    expect(JSON.parse(body)).toEqual({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
      status: "431",
      detail: "the request's URL and headers are larger than the server accepts",
    });
  });

  it("answers what is not HTTP with a SCIM 400, and a refused HEAD without a body", async () => {
    const garbage = await raw("NOT HTTP AT ALL\r\n\r\n");
    expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(bodyOf(garbage))).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "400", scimType: "invalidSyntax" });
    const head = await raw("HEAD /Users/\x01 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head).toMatch(/Content-Length: [1-9]\d*\r\n/);
    expect(bodyOf(head)).toBe("");
  });

  it("leaves well-formed requests to the application", async () => {
    const answer = await raw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(bodyOf(answer)).toBe("ok");
  });

  it("closes the connection a moment after the answer even when the client never closes its side", async () => {
    const before = await openConnections();
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true }, () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
    let answer = "";
    await new Promise<void>((resolve) => socket.on("data", (d) => (answer += d)).on("end", () => resolve()));
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    // The client keeps its side open; the server lets its socket go after the linger all the same.
    expect(await openConnections()).toBe(before + 1);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(await openConnections()).toBe(before);
    socket.destroy();
  });
});

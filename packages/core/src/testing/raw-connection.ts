/**
 * A raw HTTP/1.1 connection for adapter tests that must know which requests share a connection
 * (fetch picks connections for itself): keep-alive after an error, `Connection: close`.
 */
import { once } from "node:events";
import { connect, type Socket } from "node:net";

/** A connected socket that records what it receives and whether the server closed it. */
async function openSocket(origin: string): Promise<{ socket: Socket; state: { received: string; closed: boolean } }> {
  const { hostname, port } = new URL(origin);
  const socket = connect(Number(port), hostname);
  await once(socket, "connect");
  const state = { received: "", closed: false };
  socket.setEncoding("latin1");
  socket.on("data", (data: string) => (state.received += data));
  socket.on("error", () => {}); // EPIPE or ECONNRESET when the server closes while the client writes
  socket.on("close", () => (state.closed = true));
  return { socket, state };
}

/**
 * One HTTP/1.1 connection written by hand, so that a test knows which requests share it (fetch
 * picks a connection for itself). Responses must carry Content-Length, as the adapter's do.
 */
export async function rawConnection(origin: string) {
  const { socket, state } = await openSocket(origin);
  return {
    write: (data: string | Uint8Array) => void socket.write(data),
    /** The next complete response on the connection: status line and headers, and body. */
    async response(): Promise<{ head: string; body: string }> {
      const started = Date.now();
      for (;;) {
        const end = state.received.indexOf("\r\n\r\n");
        const length = end < 0 ? undefined : Number(/\r\ncontent-length: *(\d+)/i.exec(state.received.slice(0, end))?.[1]);
        if (length !== undefined && state.received.length >= end + 4 + length) {
          const response = { head: state.received.slice(0, end), body: state.received.slice(end + 4, end + 4 + length) };
          state.received = state.received.slice(end + 4 + length);
          return response;
        }
        if (state.closed || Date.now() - started > 3000) throw new Error(`no complete response (${state.closed ? "closed" : "timeout"}): ${state.received.slice(0, 200)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    closed: () => state.closed,
    destroy: () => socket.destroy(),
  };
}

/** Writes a POST with a chunked body (no Content-Length) of `chunks` times 64 KiB on `connection`. */
export function writeChunked(connection: { write(data: string | Uint8Array): void }, path: string, authorization: string, chunks: number): void {
  connection.write(`POST ${path} HTTP/1.1\r\nHost: sp.example.com\r\nAuthorization: ${authorization}\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  for (let i = 0; i < chunks; i++) connection.write("10000\r\n"), connection.write(chunk), connection.write("\r\n");
  connection.write("0\r\n\r\n");
}

/**
 * A body stream of `total` bytes (endless by default) in chunks of `chunk` bytes of spaces, sent
 * chunked (no Content-Length) by fetch, that counts how much of it the server pulled.
 */
export function countedStream(total = Infinity, chunk = 16 * 1024): { stream: ReadableStream<Uint8Array>; state: { pulled: number } } {
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= total) return controller.close();
      state.pulled += chunk;
      controller.enqueue(new Uint8Array(chunk).fill(0x20));
    },
  });
  return { stream, state };
}

/**
 * On one new connection: a chunked POST of `chunks` × 64 KiB to `${root}/Users`, its answer, then
 * a GET of `${root}/ServiceProviderConfig` on the same connection and its answer (whether an
 * oversized body left the connection usable).
 */
export async function chunkedPostThenGet(origin: string, root: string, authorization: string, chunks: number): Promise<{ post: { head: string; body: string }; get: { head: string; body: string } }> {
  const connection = await rawConnection(origin);
  try {
    writeChunked(connection, `${root}/Users`, authorization, chunks);
    const post = await connection.response();
    connection.write(`GET ${root}/ServiceProviderConfig HTTP/1.1\r\nHost: sp.example.com\r\nAuthorization: ${authorization}\r\n\r\n`);
    return { post, get: await connection.response() };
  } finally {
    connection.destroy();
  }
}

/**
 * On one new connection: a POST to `${root}/Users` whose chunked body never ends (64 KiB chunks,
 * paced, as fast as the server reads them) until the server closes the connection or `timeoutMs`
 * passes. Gives the response the server sent (if any), whether it closed the connection, and how
 * many body bytes were written: an adapter must answer 413 and close, not read forever.
 */
export async function endlessChunkedPost(origin: string, root: string, authorization: string, timeoutMs = 5000): Promise<{ response?: { head: string; body: string }; closed: boolean; sentBytes: number }> {
  const { socket, state } = await openSocket(origin);
  socket.write(`POST ${root}/Users HTTP/1.1\r\nHost: sp.example.com\r\nAuthorization: ${authorization}\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sentBytes = 0;
  const started = Date.now();
  try {
    // A socket the server reset is destroyed before its "close" event.
    while (!state.closed && !socket.destroyed && Date.now() - started < timeoutMs) {
      const more = socket.write("10000\r\n") && socket.write(chunk) && socket.write("\r\n");
      sentBytes += chunk.length;
      // Paced as a real upload: a flood of writes can make the server's socket fail on its own.
      await new Promise((resolve) => setTimeout(resolve, 1));
      // `once` rejects on the socket's error (ECONNRESET when the server closes): that ends the loop too.
      if (!more) await Promise.race([once(socket, "drain"), once(socket, "close"), new Promise((resolve) => setTimeout(resolve, 100))]).catch(() => {});
    }
    state.closed ||= socket.destroyed;
  } finally {
    socket.destroy();
  }
  const end = state.received.indexOf("\r\n\r\n");
  const response = end < 0 ? undefined : { head: state.received.slice(0, end), body: state.received.slice(end + 4) };
  return { response, closed: state.closed, sentBytes };
}

/**
 * POSTs to `root` + `/Users` with a declared `Content-Length` of 30 MB and only a few bytes of
 * body, reads the answer, and waits up to a second for the server to close the connection: a
 * server that answers 413 from the header should close rather than read the rest to reuse it.
 */
export async function declaredOversizePost(origin: string, root: string, authorization: string): Promise<{ head: string; closed: boolean }> {
  const connection = await rawConnection(origin);
  try {
    connection.write(`POST ${root}/Users HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Type: application/scim+json\r\nContent-Length: 30000000\r\n\r\n{"userName":`);
    const { head } = await connection.response();
    for (let i = 0; i < 100 && !connection.closed(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    return { head, closed: connection.closed() };
  } finally {
    connection.destroy();
  }
}

/**
 * Sends `GET {baseUrl}/Users?filter=…` with a filter of 20,000 characters, a head larger than Node's
 * HTTP parser accepts, and returns the answer's status, Content-Type and parsed body: a server
 * that uses scim-core's `answerClientErrors` answers an RFC 7644 §3.12 Error with status 431.
 */
export async function oversizedHeadRequest(baseUrl: string): Promise<{ status: number; contentType: string | undefined; body: unknown }> {
  const url = new URL(baseUrl);
  const connection = await rawConnection(url.origin);
  try {
    const filter = encodeURIComponent(`userName eq "${"a".repeat(20_000)}"`);
    connection.write(`GET ${url.pathname.replace(/\/+$/, "")}/Users?filter=${filter} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    const { head, body } = await connection.response();
    return {
      status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
      contentType: /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1],
      body: body === "" ? undefined : JSON.parse(body),
    };
  } finally {
    connection.destroy();
  }
}

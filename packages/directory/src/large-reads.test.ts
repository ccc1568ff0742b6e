import { serve, type ServerType } from "@hono/node-server";
import { EventEmitter } from "node:events";
import { connect } from "node:net";
import { Hono, type Context } from "hono";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { largeReadTurns, readsLargeAnswer, scimReadsLarge, type LargeReadTurnOptions } from "./large-reads.js";

describe("readsLargeAnswer", () => {
  const reads = (method: string, path: string, query = "") => readsLargeAnswer(method, path.split("/").filter((s) => s !== ""), new URLSearchParams(query));
  it("is a list page, a search, or a GET or HEAD of one group unless its members are left out", () => {
    expect(reads("GET", "/Groups/g1")).toBe(true);
    expect(reads("HEAD", "/groups/g1")).toBe(true);
    expect(reads("GET", "/Groups/g1", "attributes=displayName,members")).toBe(true);
    expect(reads("GET", "/Groups/g1", "excludedAttributes=members")).toBe(false);
    expect(reads("GET", "/Groups/g1", "ExcludedAttributes=urn:ietf:params:scim:schemas:core:2.0:Group:members")).toBe(false);
    expect(reads("GET", "/Groups/g1", "attributes=displayName")).toBe(false);
    expect(reads("GET", "/Groups/g1", "excludedAttributes=displayName")).toBe(true);
    // A sub-attribute of members left out still returns the members; an empty list is no list.
    expect(reads("GET", "/Groups/g1", "excludedAttributes=members.value")).toBe(true);
    expect(reads("GET", "/Groups/g1", "excludedAttributes=displayName,%20MEMBERS")).toBe(false);
    expect(reads("GET", "/Groups/g1", "attributes=")).toBe(true);
    expect(reads("GET", "/Groups/g1", "attributes=members.value")).toBe(true);
    // Every list page and search (up to 8 MiB each).
    expect(reads("GET", "/Groups")).toBe(true);
    expect(reads("GET", "/Groups", "attributes=members&count=100")).toBe(true);
    expect(reads("GET", "/Groups", "excludedAttributes=members")).toBe(true);
    expect(reads("GET", "/Users")).toBe(true);
    expect(reads("HEAD", "/Users", "filter=externalId%20eq%20%22a%22")).toBe(true);
    expect(reads("GET", "/Users", "count=2")).toBe(true);
    // ...but the IdPs' lookups and connection tests, which answer at most one resource.
    const lookup = (filter: string, extra = "") => `filter=${encodeURIComponent(filter)}${extra}`;
    expect(reads("GET", "/Users", lookup('userName eq "a@x.test"', "&startIndex=1&count=100"))).toBe(false);
    expect(reads("GET", "/Users", lookup('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"'))).toBe(false);
    expect(reads("GET", "/Users", lookup('id eq "u1"'))).toBe(false);
    expect(reads("GET", "/Users", "startIndex=1&count=1")).toBe(false);
    expect(reads("GET", "/Users", "COUNT=0")).toBe(false);
    expect(reads("GET", "/Groups", lookup('id eq "g1"', "&excludedAttributes=members"))).toBe(false);
    expect(reads("GET", "/Groups", "count=1&excludedAttributes=members")).toBe(false);
    // Entra's group lookup: a group's displayName is unique in a directory.
    expect(reads("GET", "/Groups", lookup('displayName eq "Sales"', "&excludedAttributes=members"))).toBe(false);
    // A group lookup with its members is a group read; other filters can match many.
    expect(reads("GET", "/Groups", lookup('id eq "g1"'))).toBe(true);
    expect(reads("GET", "/Groups", lookup('displayName eq "Sales"'))).toBe(true);
    expect(reads("GET", "/Users", lookup('displayName eq "Ann Lee"'))).toBe(true);
    expect(reads("GET", "/Groups", lookup('displayName co "Sales"', "&excludedAttributes=members"))).toBe(true);
    expect(reads("GET", "/Users", lookup('userName eq "a" or userName eq "b"'))).toBe(true);
    expect(reads("GET", "/Users", lookup('userName sw "a"'))).toBe(true);
    expect(reads("GET", "/Users", lookup('urn:example:ext:1.0:User:userName eq "a"'))).toBe(true);
    expect(reads("GET", "/Users", lookup('emails[value eq "a"]'))).toBe(true);
    expect(reads("GET", "/Users", "filter=not%20a%20filter")).toBe(true);
    expect(reads("POST", "/Groups/.search")).toBe(true);
    expect(reads("POST", "/Users/.search")).toBe(true);
    expect(reads("POST", "/.search")).toBe(true);
    // Writes, a user, the discovery endpoints.
    expect(reads("POST", "/Groups")).toBe(false);
    expect(reads("POST", "/Users")).toBe(false);
    expect(reads("GET", "/Users/u1")).toBe(false);
    for (const discovery of ["/ServiceProviderConfig", "/Schemas", "/resourcetypes"]) expect(reads("GET", discovery), discovery).toBe(false);
    expect(reads("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")).toBe(false);
    expect(reads("GET", "/Groups/g1/x")).toBe(false);
    expect(reads("PATCH", "/Groups/g1")).toBe(false);
  });
});

/** The SCIM routes' 429, as a test sees it. */
const refuse = (c: Context, retryAfterSeconds: number, reason: string) => c.text(`${reason} ${retryAfterSeconds}`, 429);

/** The turns of `/scim/v2/:dir/*`, one at a time per directory. */
const turns = (timing: Partial<LargeReadTurnOptions> = {}) =>
  largeReadTurns({
    limit: 1,
    scopeOf: (c) => c.req.param("dir") ?? "",
    readsLarge: scimReadsLarge((c) => c.req.path.split("/").filter((s) => s !== "").slice(3)),
    refuse,
    ...timing,
  });

describe("largeReadTurns", () => {
  it("takes no turn for a request whose token the guard refused (it is answered 401 without a read)", async () => {
    const app = new Hono<{ Variables: { tokenVerified?: boolean } }>();
    const handled: string[] = [];
    app.use("/scim/v2/:dir/*", async (c, next) => {
      c.set("tokenVerified", c.req.header("authorization") === "good");
      await next();
    });
    app.use("/scim/v2/:dir/*", turns());
    app.get("/scim/v2/:dir/*", (c) => (handled.push(c.req.header("authorization") ?? ""), c.text("ok")));
    const held = Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, socket: null });
    await app.request("http://x/scim/v2/a/Groups/g1", { headers: { authorization: "good" } }, { outgoing: held });
    // The only turn is held: a refused token does not wait for it (nor take it).
    await app.request("http://x/scim/v2/a/Groups/g1", { headers: { authorization: "bad" } }, { outgoing: Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, socket: null }) });
    expect(handled).toEqual(["good", "bad"]);
    held.emit("close");
  });

  it("lets `limit` reads of a directory's groups run at once, each until its answer is written; other directories and other requests go on", async () => {
    const app = new Hono();
    const handled: string[] = [];
    app.use("/scim/v2/:dir/*", turns());
    app.get("/scim/v2/:dir/*", (c) => {
      handled.push(`${c.req.param("dir")} ${c.req.path.split("/").slice(4).join("/")}`);
      return c.text("ok");
    });
    // A Node response that is written when the test says so.
    const outgoing = () => Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, socket: null });
    const first = outgoing();
    expect((await app.request("http://x/scim/v2/a/Groups/g1", {}, { outgoing: first })).status).toBe(200);
    // The first answer is not written yet: the next read of a's groups waits.
    const second = outgoing();
    const waiting = app.request("http://x/scim/v2/a/Groups/g2", {}, { outgoing: second });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(handled).toEqual(["a Groups/g1"]);
    // Meanwhile: another directory's group, a read without members, a user.
    await app.request("http://x/scim/v2/b/Groups/g1", {}, { outgoing: outgoing() });
    await app.request("http://x/scim/v2/a/Groups/g3?excludedAttributes=members", {}, { outgoing: outgoing() });
    await app.request("http://x/scim/v2/a/Users/u1", {}, { outgoing: outgoing() });
    expect(handled).toEqual(["a Groups/g1", "b Groups/g1", "a Groups/g3", "a Users/u1"]);
    first.emit("close");
    expect((await waiting).status).toBe(200);
    expect(handled.at(-1)).toBe("a Groups/g2");
    // The connection closes before the response does (pipelined requests behind a dropped
    // answer never emit their own close): the turn ends with the socket.
    const socket = Object.assign(new EventEmitter(), { destroyed: false });
    // A response queued behind others has no socket of its own yet: the request's is watched.
    const dropped = Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, socket: null });
    await app.request("http://x/scim/v2/c/Groups/g1", {}, { outgoing: dropped, incoming: { socket } });
    const behind = app.request("http://x/scim/v2/c/Groups/g2", {}, { outgoing: outgoing() });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(handled.at(-1)).toBe("c Groups/g1");
    socket.emit("close");
    await behind;
    expect(handled.at(-1)).toBe("c Groups/g2");
    expect(socket.listenerCount("close")).toBe(0);
    // A socket already gone when the handler ends: the turn ends at once.
    const gone = Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, socket: Object.assign(new EventEmitter(), { destroyed: true }) });
    await app.request("http://x/scim/v2/d/Groups/g1", {}, { outgoing: gone });
    await app.request("http://x/scim/v2/d/Groups/g2", {}, { outgoing: gone });
    expect(handled.slice(-2)).toEqual(["d Groups/g1", "d Groups/g2"]);
    // Without a Node response (nothing writes it later), the turn ends with the handler.
    second.emit("close");
    await app.request("http://x/scim/v2/a/Groups/g4");
    await app.request("http://x/scim/v2/a/Groups/g5");
    expect(handled.slice(-2)).toEqual(["a Groups/g4", "a Groups/g5"]);
  });

  const turnsApp = (timing: { stalledMs?: number; maxHoldMs?: number; maxWaiting?: number; maxWaitMs?: number } = {}) => {
    const app = new Hono();
    const handled: string[] = [];
    app.use("/scim/v2/:dir/*", turns(timing));
    app.on(["GET", "POST"], "/scim/v2/:dir/*", (c) => (handled.push(c.req.path.split("/").slice(4).join("/")), c.text("ok")));
    return { app, handled };
  };
  /** A Node socket whose writing the test moves on, and which closes when destroyed. */
  const fakeSocket = () => {
    const socket = Object.assign(new EventEmitter(), { destroyed: false, bytesWritten: 0, destroyCalls: 0 });
    return Object.assign(socket, {
      destroy() {
        socket.destroyCalls++;
        socket.destroyed = true;
        socket.emit("close");
      },
    });
  };
  const unwritten = () => Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, socket: null });

  it("a read whose client leaves while it waits for its turn gives up its place and reads nothing", async () => {
    const { app, handled } = turnsApp();
    const holder = fakeSocket();
    await app.request("http://x/scim/v2/a/Groups/g1", {}, { outgoing: unwritten(), incoming: { socket: holder } });
    const leaving = fakeSocket();
    const left = app.request("http://x/scim/v2/a/Groups/g2", {}, { outgoing: unwritten(), incoming: { socket: leaving } });
    const staying = app.request("http://x/scim/v2/a/Groups/g3", {}, { outgoing: unwritten(), incoming: { socket: fakeSocket() } });
    await new Promise((resolve) => setTimeout(resolve, 10));
    leaving.emit("close");
    expect((await left).status).toBe(503);
    expect(leaving.listenerCount("close")).toBe(0);
    holder.emit("close");
    await staying;
    expect(handled).toEqual(["Groups/g1", "Groups/g3"]);
  });

  it("closes a connection that stops reading its answer, or takes too long over it, which frees the turn", async () => {
    const { app, handled } = turnsApp({ stalledMs: 60, maxHoldMs: 400 });
    // Stops reading: nothing more written for stalledMs.
    const stalled = fakeSocket();
    await app.request("http://x/scim/v2/a/Groups/g1", {}, { outgoing: unwritten(), incoming: { socket: stalled } });
    const next = app.request("http://x/scim/v2/a/Groups/g2", {}, { outgoing: unwritten(), incoming: { socket: fakeSocket() } });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect([stalled.destroyCalls, handled]).toEqual([0, ["Groups/g1"]]);
    await vi.waitFor(() => expect(stalled.destroyCalls).toBe(1), { timeout: 1_000, interval: 5 });
    await next;
    expect(handled).toEqual(["Groups/g1", "Groups/g2"]);
    // Reads on, slowly: kept while it makes progress, closed at maxHoldMs.
    const { app: slowApp } = turnsApp({ stalledMs: 60, maxHoldMs: 400 });
    const slow = fakeSocket();
    const started = Date.now();
    await slowApp.request("http://x/scim/v2/a/Groups/g1", {}, { outgoing: unwritten(), incoming: { socket: slow } });
    const reading = setInterval(() => (slow.bytesWritten += 1_000), 10);
    await vi.waitFor(() => expect(slow.destroyCalls).toBe(1), { timeout: 2_000, interval: 5 });
    clearInterval(reading);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
  });

  it("searches by POST take turns too; a full line or a long wait is a 429, and the line goes on", async () => {
    const { app, handled } = turnsApp({ maxWaiting: 2, maxWaitMs: 80 });
    const holder = fakeSocket();
    await app.request("http://x/scim/v2/a/Groups/.search", { method: "POST", body: "{}" }, { outgoing: unwritten(), incoming: { socket: holder } });
    const waiting = [1, 2].map((n) => app.request(`http://x/scim/v2/a/.search?n=${n}`, { method: "POST", body: "{}" }, { outgoing: unwritten(), incoming: { socket: fakeSocket() } }));
    const third = await app.request("http://x/scim/v2/a/Groups?n=3", {}, { outgoing: unwritten(), incoming: { socket: fakeSocket() } });
    expect([third.status, await third.text()]).toEqual([429, "large_reads_waiting 1"]);
    // A POST that reads no groups passes.
    await app.request("http://x/scim/v2/a/Users", { method: "POST", body: "{}" }, { outgoing: unwritten(), incoming: { socket: fakeSocket() } });
    expect(handled).toEqual(["Groups/.search", "Users"]);
    // Nobody gives the turn back: the two waiting reads give up after maxWaitMs.
    const answers = await Promise.all(waiting);
    expect(await Promise.all(answers.map(async (r) => [r.status, await r.text()]))).toEqual([
      [429, "large_reads_wait 5"],
      [429, "large_reads_wait 5"],
    ]);
    holder.emit("close");
    await app.request("http://x/scim/v2/a/Groups/g1", {}, { outgoing: unwritten(), incoming: { socket: fakeSocket() } });
    expect(handled.at(-1)).toBe("Groups/g1");
  });

  it("an answer found large once made (a megabyte user) takes a turn after its handler; with the line full, a 429 in its place", async () => {
    const app = new Hono();
    const handled: string[] = [];
    app.use("/scim/v2/:dir/*", turns({ maxWaiting: 1, maxWaitMs: 60_000 }));
    const big = "u".repeat(300 * 1024);
    app.get("/scim/v2/:dir/*", (c) => {
      handled.push(c.req.path.split("/").slice(4).join("/"));
      const body = c.req.path.endsWith("small") ? "{}" : big;
      return c.body(body, 200, { "Content-Length": String(body.length), ETag: 'W/"1"' });
    });
    const request = (path: string, socket = fakeSocket()) => app.request(`http://x/scim/v2/a/${path}`, {}, { outgoing: unwritten(), incoming: { socket } });
    const holder = fakeSocket();
    expect((await request("Users/u1", holder)).status).toBe(200); // holds the only turn
    const waiting = request("Users/u2"); // made, then waits with its answer
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Small answers pass; a third large one finds the line full.
    expect((await request("Users/small")).status).toBe(200);
    const refused = await request("Users/u3");
    expect([refused.status, refused.headers.get("content-length"), refused.headers.get("etag"), await refused.text()]).toEqual([429, null, null, "large_reads_waiting 1"]);
    expect(handled).toEqual(["Users/u1", "Users/u2", "Users/small", "Users/u3"]);
    holder.emit("close");
    const answer = await waiting;
    expect([answer.status, (await answer.text()).length]).toEqual([200, big.length]);
  });

  it("a client the kernel keeps taking the answer from is not stalled, though the socket's bytesWritten stands still", async () => {
    const { app } = turnsApp({ stalledMs: 60, maxHoldMs: 10_000 });
    const slow = Object.assign(fakeSocket(), { writableLength: 8_000_000, _handle: { writeQueueSize: 8_000_000 } });
    await app.request("http://x/scim/v2/a/Groups/g1", {}, { outgoing: unwritten(), incoming: { socket: slow } });
    const reading = setInterval(() => (slow._handle.writeQueueSize -= 10_000), 15);
    await new Promise((resolve) => setTimeout(resolve, 300));
    clearInterval(reading);
    expect(slow.destroyCalls).toBe(0);
    // It stops taking: stalled.
    await vi.waitFor(() => expect(slow.destroyCalls).toBe(1), { timeout: 1_000, interval: 5 });
  });
});

describe("largeReadTurns over real connections (@hono/node-server)", () => {
  const BODY = "x".repeat(16 * 1024 * 1024);
  let server: ServerType;
  let port: number;
  beforeAll(async () => {
    const app = new Hono();
    app.use("/scim/v2/:dir/*", turns({ stalledMs: 400, maxHoldMs: 30_000 }));
    app.get("/scim/v2/:dir/*", (c) => c.text(BODY));
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
        port = info.port;
        resolve();
      });
    });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /**
   * Sends a GET of a group list and reads the answer at `bytesPerMs` (pausing after each chunk for
   * as long as it takes at that rate); with 0, reads nothing until `resume()` is called.
   */
  const read = (bytesPerMs: number) => {
    const socket = connect(port, "127.0.0.1", () => socket.write("GET /scim/v2/a/Groups HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    let bytes = 0;
    if (bytesPerMs === 0) socket.pause();
    const done = new Promise<number>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytesPerMs === Infinity || bytesPerMs === 0) return;
        socket.pause();
        setTimeout(() => socket.resume(), chunk.length / bytesPerMs);
      });
      socket.on("close", () => resolve(bytes));
      socket.on("error", () => {});
    });
    return { done, resume: () => socket.resume() };
  };

  it("keeps a client that reads on, slowly, to the end; closes one that stopped reading, and the next read gets the turn", async () => {
    // A steady reader at 8 MB/s (the body outgrows the kernel's buffers): whole, though it takes
    // two seconds, five times stalledMs.
    const started = Date.now();
    const steady = await read(8_000).done;
    expect(Date.now() - started).toBeGreaterThan(1_900);
    expect(steady).toBeGreaterThan(BODY.length);
    // A client that reads nothing: its connection is closed once the kernel's buffers are full and
    // nothing moves for stalledMs; the turn goes on to the next read.
    const stalled = read(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = await read(Infinity).done;
    expect(after).toBeGreaterThan(BODY.length);
    stalled.resume();
    expect(await stalled.done).toBeLessThan(BODY.length);
  }, 30_000);
});

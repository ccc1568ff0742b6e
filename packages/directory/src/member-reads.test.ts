import { EventEmitter } from "node:events";
import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import { groupReadTurns, readsGroupMembers } from "./member-reads.js";

describe("readsGroupMembers", () => {
  const reads = (method: string, path: string, query = "") => readsGroupMembers(method, path.split("/").filter((s) => s !== ""), new URLSearchParams(query));
  it("is a GET or HEAD of one group or of the group list, unless its members are left out, or a search by POST", () => {
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
    expect(reads("GET", "/Groups")).toBe(true);
    expect(reads("GET", "/Groups", "attributes=members&count=100")).toBe(true);
    expect(reads("GET", "/Groups", "excludedAttributes=members")).toBe(false);
    expect(reads("GET", "/Groups", "filter=displayName%20eq%20%22x%22&attributes=id,displayName")).toBe(false);
    expect(reads("POST", "/Groups/.search")).toBe(true);
    expect(reads("POST", "/.search")).toBe(true);
    expect(reads("POST", "/Groups")).toBe(false);
    expect(reads("POST", "/Users/.search")).toBe(false);
    expect(reads("GET", "/Users")).toBe(false);
    expect(reads("GET", "/Users/u1")).toBe(false);
    expect(reads("GET", "/Groups/g1/x")).toBe(false);
    expect(reads("PATCH", "/Groups/g1")).toBe(false);
  });
});

describe("groupReadTurns", () => {
  it("takes no turn for a request whose token the guard refused (it is answered 401 without a read)", async () => {
    const app = new Hono<{ Variables: { tokenVerified?: boolean } }>();
    const handled: string[] = [];
    app.use("/scim/v2/:dir/*", async (c, next) => {
      c.set("tokenVerified", c.req.header("authorization") === "good");
      await next();
    });
    app.use("/scim/v2/:dir/*", groupReadTurns(1, (c) => c.req.param("dir") ?? "", (c) => c.req.path.split("/").filter((s) => s !== "").slice(3)));
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
    app.use("/scim/v2/:dir/*", groupReadTurns(1, (c) => c.req.param("dir") ?? "", (c) => c.req.path.split("/").filter((s) => s !== "").slice(3)));
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

  const turnsApp = (timing: { stalledMs?: number; maxHoldMs?: number } = {}) => {
    const app = new Hono();
    const handled: string[] = [];
    app.use("/scim/v2/:dir/*", groupReadTurns(1, (c) => c.req.param("dir") ?? "", (c) => c.req.path.split("/").filter((s) => s !== "").slice(3), timing));
    app.get("/scim/v2/:dir/*", (c) => (handled.push(c.req.path.split("/").slice(4).join("/")), c.text("ok")));
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
});

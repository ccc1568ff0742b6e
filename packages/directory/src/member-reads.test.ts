import { EventEmitter } from "node:events";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { groupReadTurns, readsGroupMembers } from "./member-reads.js";

describe("readsGroupMembers", () => {
  const reads = (method: string, path: string, query = "") => readsGroupMembers(method, path.split("/").filter((s) => s !== ""), new URLSearchParams(query));
  it("is a GET or HEAD of one group, unless its members are left out", () => {
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
    expect(reads("GET", "/Groups")).toBe(false);
    expect(reads("GET", "/Users/u1")).toBe(false);
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
});

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
    expect(reads("GET", "/Groups")).toBe(false);
    expect(reads("GET", "/Users/u1")).toBe(false);
    expect(reads("PATCH", "/Groups/g1")).toBe(false);
  });
});

describe("groupReadTurns", () => {
  it("lets `limit` reads of a directory's groups run at once, each until its answer is written; other directories and other requests go on", async () => {
    const app = new Hono();
    const handled: string[] = [];
    app.use("/scim/v2/:dir/*", groupReadTurns(1, (c) => c.req.param("dir") ?? "", (c) => c.req.path.split("/").filter((s) => s !== "").slice(3)));
    app.get("/scim/v2/:dir/*", (c) => {
      handled.push(`${c.req.param("dir")} ${c.req.path.split("/").slice(4).join("/")}`);
      return c.text("ok");
    });
    // A Node response that is written when the test says so.
    const outgoing = () => Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false });
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
    // Without a Node response (nothing writes it later), the turn ends with the handler.
    second.emit("close");
    await app.request("http://x/scim/v2/a/Groups/g4");
    await app.request("http://x/scim/v2/a/Groups/g5");
    expect(handled.slice(-2)).toEqual(["a Groups/g4", "a Groups/g5"]);
  });
});

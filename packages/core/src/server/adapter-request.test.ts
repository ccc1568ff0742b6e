import { describe, expect, it } from "vitest";
import { adapterRequest, connectionSignal, hasDuplicateHost, isValidHost, originForm, refusesHost, requestScheme } from "./adapter-request.js";
import { bearerAuth, createScimServer } from "./create-scim-server.js";
import { memoryStore } from "../store/memory-store.js";

describe("adapterRequest", () => {
  it("carries the fields, and makes the signal only when it is read, each time it is read", () => {
    let made = 0;
    const controller = new AbortController();
    const request = adapterRequest({ method: "GET", path: "/Users", query: "?count=1", headers: { a: "b" }, body: undefined, baseUrl: "http://h/scim" }, () => {
      made++;
      return controller.signal;
    });
    expect(request).toMatchObject({ method: "GET", path: "/Users", query: "?count=1", headers: { a: "b" }, baseUrl: "http://h/scim" });
    expect(made).toBe(0);
    expect(request.signal).toBe(controller.signal);
    expect(made).toBe(1);
  });

  it("is served like a plain object, and the server never makes the signal", async () => {
    let made = 0;
    const server = createScimServer({ store: memoryStore(), authenticate: bearerAuth({ t: { tenant: "a" } }) });
    const headers = { authorization: "Bearer t", "content-type": "application/scim+json" };
    const signal = () => {
      made++;
      return undefined;
    };
    const created = await server.handle(adapterRequest({ method: "POST", path: "/Users", headers, body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "u" }), baseUrl: "http://h/scim" }, signal));
    expect(created.status).toBe(201);
    const read = await server.handle(adapterRequest({ method: "GET", path: `/Users/${(created.body as { id: string }).id}`, headers, baseUrl: "http://h/scim" }, signal));
    expect(read.status).toBe(200);
    expect((read.body as { meta: { location: string } }).meta.location).toMatch(/^http:\/\/h\/scim\/Users\//);
    expect(made).toBe(0);
  });
});

describe("connectionSignal", () => {
  const response = (state: { writableFinished?: boolean; destroyed?: boolean } = {}) => {
    const listeners: (() => void)[] = [];
    return {
      writableFinished: state.writableFinished ?? false,
      destroyed: state.destroyed ?? false,
      on: (_event: "close", listener: () => void) => listeners.push(listener),
      close() {
        for (const l of listeners) l();
      },
      listeners,
    };
  };

  it("makes one signal when first read, aborted when the connection closes before the answer", () => {
    const res = response();
    const signal = connectionSignal({ socket: { destroyed: false } }, res);
    expect(res.listeners).toHaveLength(0);
    const first = signal();
    expect(signal()).toBe(first);
    expect(first.aborted).toBe(false);
    res.close();
    expect(first.aborted).toBe(true);
  });

  it("does not abort once the answer is finished, and is aborted at once on a dead connection", () => {
    const done = response();
    const kept = connectionSignal({}, done)();
    done.writableFinished = true;
    done.close();
    expect(kept.aborted).toBe(false);
    expect(connectionSignal({ socket: { destroyed: true } }, response())().aborted).toBe(true);
    expect(connectionSignal({}, response({ destroyed: true }))().aborted).toBe(true);
  });
});

describe("isValidHost, hasDuplicateHost", () => {
  it("takes host[:port] (RFC 3986 §3.2.2–3.2.3) and nothing else", () => {
    for (const host of ["example.com", "sp.example.com:8443", "127.0.0.1", "127.0.0.1:3000", "[::1]", "[::1]:65535", "a-b_c~d.example", "xn--bcher-kva.example", "%41.example", "localhost:0", "a.com:"]) {
      expect(isValidHost(host), host).toBe(true);
    }
    for (const host of ["", "evil.com/x?y=", "exa mple", "a@evil.com", "a.example/evil path#x", "a.com:99999", "a.com:80:80", "[::1", "<script>", "a.com#frag", "a.com\\b", "%zz.example"]) {
      expect(isValidHost(host), host).toBe(false);
    }
  });

  it("tells a Host header sent twice, in any case", () => {
    expect(hasDuplicateHost(["Host", "a.example", "Accept", "*/*"])).toBe(false);
    expect(hasDuplicateHost(["Host", "a.example", "host", "b.example"])).toBe(true);
    expect(hasDuplicateHost(["X-Host", "a", "Host", "b"])).toBe(false);
    expect(hasDuplicateHost(undefined)).toBe(false);
  });
});

describe("requestScheme", () => {
  it("takes http or https from the framework, else the connection's own", () => {
    expect(requestScheme("https", undefined)).toBe("https");
    expect(requestScheme("http", { encrypted: true })).toBe("http");
    expect(requestScheme("javascript", undefined)).toBe("http");
    expect(requestScheme("data", { encrypted: true })).toBe("https");
    expect(requestScheme(undefined, null)).toBe("http");
  });
});

describe("refusesHost", () => {
  it("refuses a Host that is not host[:port], or Host sent twice; no Host (HTTP/1.0) is not refused", () => {
    expect(refusesHost("a.example:8080", ["Host", "a.example:8080"])).toBe(false);
    expect(refusesHost("evil.example/x", ["Host", "evil.example/x"])).toBe(true);
    expect(refusesHost("a.example", ["Host", "a.example", "Host", "b.example"])).toBe(true);
    expect(refusesHost(undefined, [])).toBe(false);
  });
});

describe("originForm", () => {
  it("drops the scheme and authority of an absolute-form target, and leaves an origin-form one as it is", () => {
    expect(originForm("/scim/v2/Users?count=1")).toBe("/scim/v2/Users?count=1");
    expect(originForm("http://sp.example:8080/scim/v2/Users")).toBe("/scim/v2/Users");
    expect(originForm("HTTPS://sp.example?x=1")).toBe("?x=1");
    expect(originForm("*")).toBe("*");
  });
});

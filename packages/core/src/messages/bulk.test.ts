import { describe, it, expect } from "vitest";
import { scimError } from "../test-support.js";
import { isScimError, ScimError } from "../errors/scim-error.js";
import { bulkIdReferences, bulkPathError, bulkResponse, deferReferences, failedReferenceError, jsonPayloadSize, parseBulkRequest, planBulkOperations, resolveBulkIds, type BulkOperation } from "./bulk.js";
import { BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA } from "./urns.js";

// RFC 7644 §3.7.2, the example with a bulkId reference from a group to a user created earlier.
const RFC_BULK = {
  schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
  Operations: [
    {
      method: "POST",
      path: "/Users",
      bulkId: "qwerty",
      data: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: "Alice" },
    },
    {
      method: "POST",
      path: "/Groups",
      bulkId: "ytrewq",
      data: {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        displayName: "Tour Guides",
        members: [{ type: "User", value: "bulkId:qwerty" }],
      },
    },
  ],
};

const op = (extra: Record<string, unknown>) => ({ schemas: [BULK_REQUEST_SCHEMA], Operations: [extra] });

describe("parseBulkRequest (RFC 7644 §3.7)", () => {
  it("reads the RFC 7644 §3.7.2 example", () => {
    expect(parseBulkRequest(RFC_BULK)).toStrictEqual({
      operations: [
        { method: "POST", path: "/Users", bulkId: "qwerty", data: RFC_BULK.Operations[0].data },
        { method: "POST", path: "/Groups", bulkId: "ytrewq", data: RFC_BULK.Operations[1].data },
      ],
    });
  });

  it("reads PUT, PATCH and DELETE with version; methods and keys are case-insensitive", () => {
    const body = {
      failOnErrors: 1,
      operations: [
        { Method: "put", Path: "/Users/b7c14771", Version: 'W/"3694e05e9dff591"', Data: { userName: "bob" } },
        { method: "Patch", path: "/Users/5d8d29d3", data: { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [] } },
        { method: "DELETE", path: "/Users/e9025315", version: 'W/"0ee8add0a938e1a"' },
      ],
    };
    expect(parseBulkRequest(body)).toStrictEqual({
      failOnErrors: 1,
      operations: [
        { method: "PUT", path: "/Users/b7c14771", version: 'W/"3694e05e9dff591"', data: { userName: "bob" } },
        { method: "PATCH", path: "/Users/5d8d29d3", data: body.operations[1].data },
        { method: "DELETE", path: "/Users/e9025315", version: 'W/"0ee8add0a938e1a"' },
      ],
    });
  });

  it("DELETE needs no data, and data sent with it is not passed on", () => {
    expect(parseBulkRequest(op({ method: "DELETE", path: "/Groups/1", data: { x: 1 } })).operations[0]).toStrictEqual({ method: "DELETE", path: "/Groups/1" });
  });

  it("a bulkId on a non-POST operation is kept", () => {
    expect(parseBulkRequest(op({ method: "PATCH", bulkId: "p1", path: "/Groups/1", data: { Operations: [] } })).operations[0].bulkId).toBe("p1");
  });

  it("an empty Operations array is valid", () => {
    expect(parseBulkRequest({ Operations: [] })).toStrictEqual({ operations: [] });
  });

  describe("400 invalidSyntax", () => {
    it.each<[string, unknown]>([
      ["POST without bulkId", op({ method: "POST", path: "/Users", data: { userName: "a" } })],
      ["POST without data", op({ method: "POST", bulkId: "q", path: "/Users" })],
      ["POST with data null", op({ method: "POST", bulkId: "q", path: "/Users", data: null })],
      ["PUT without data", op({ method: "PUT", path: "/Users/1" })],
      ["PUT with data a string", op({ method: "PUT", path: "/Users/1", data: "userName=a" })],
      ["PATCH without data", op({ method: "PATCH", path: "/Users/1" })],
      ["PATCH with data an array", op({ method: "PATCH", path: "/Users/1", data: [{ op: "add" }] })],
      ["an unknown method", op({ method: "GET", path: "/Users/1" })],
      ["no method", op({ path: "/Users/1" })],
      ["a path without leading slash", op({ method: "DELETE", path: "Users/1" })],
      ["no path", op({ method: "DELETE" })],
      ["bulkId not a string", op({ method: "POST", bulkId: 7, path: "/Users", data: {} })],
      ["an operation that is not an object", { Operations: ["POST /Users"] }],
      ["no Operations", { schemas: [BULK_REQUEST_SCHEMA] }],
      ["Operations not an array", { Operations: { method: "POST" } }],
      ["wrong schemas", { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [] }],
      ["a body that is not an object", "Operations"],
      ["a __proto__ key in an operation", { Operations: [JSON.parse('{"method":"DELETE","path":"/Users/1","__proto__":{}}')] }],
    ])("%s", (_, body) => {
      const e = scimError(() => parseBulkRequest(body));
      expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
    });
  });

  it("duplicate bulkIds and an empty bulkId → 400 invalidValue", () => {
    const dup = {
      Operations: [
        { method: "POST", bulkId: "q", path: "/Users", data: { userName: "a" } },
        { method: "POST", bulkId: "q", path: "/Users", data: { userName: "b" } },
      ],
    };
    const e = scimError(() => parseBulkRequest(dup));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
    expect(e.detail).toContain("Operations[1]");
    expect(scimError(() => parseBulkRequest(op({ method: "POST", bulkId: "", path: "/Users", data: {} }))).scimType).toBe("invalidValue");
    // bulkIds are case-sensitive: "q" and "Q" are different.
    expect(parseBulkRequest({ Operations: [dup.Operations[0], { ...dup.Operations[1], bulkId: "Q" }] }).operations).toHaveLength(2);
  });

  it("failOnErrors must be a positive integer", () => {
    expect(parseBulkRequest({ failOnErrors: "2", Operations: [] }).failOnErrors).toBe(2);
    for (const failOnErrors of [0, -1]) expect(scimError(() => parseBulkRequest({ failOnErrors, Operations: [] })).scimType).toBe("invalidValue");
    expect(scimError(() => parseBulkRequest({ failOnErrors: 1.5, Operations: [] })).scimType).toBe("invalidValue");
    expect(parseBulkRequest({ Operations: [] })).not.toHaveProperty("failOnErrors");
  });

  describe("limits (RFC 7644 §3.7.4): 413 with an Error body", () => {
    const deletes = (n: number) => ({ Operations: Array.from({ length: n }, (_, i) => ({ method: "DELETE", path: `/Users/${i}` })) });

    it("more operations than maxOperations", () => {
      expect(parseBulkRequest(deletes(3), { maxOperations: 3 }).operations).toHaveLength(3);
      const e = scimError(() => parseBulkRequest(deletes(4), { maxOperations: 3 }));
      expect(e.status).toBe(413);
      expect(e.scimType).toBeUndefined();
      expect(e.detail).toContain("3");
      expect(e.toJSON()).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "413" });
    });

    it("the default maxOperations is 1000", () => {
      expect(parseBulkRequest(deletes(1000)).operations).toHaveLength(1000);
      expect(scimError(() => parseBulkRequest(deletes(1001))).status).toBe(413);
    });

    it("an already-parsed body without payloadSize is measured as its JSON's UTF-8 length", () => {
      const body = deletes(1);
      const size = new TextEncoder().encode(JSON.stringify(body)).length;
      expect(jsonPayloadSize(body)).toBe(size);
      expect(parseBulkRequest(body, { maxPayloadSize: size }).operations).toHaveLength(1);
      expect(scimError(() => parseBulkRequest(body, { maxPayloadSize: size - 1 })).status).toBe(413);
      expect(jsonPayloadSize({ a: "é€😀" })).toBe(new TextEncoder().encode('{"a":"é€😀"}').length);
      // A raw size the caller gives wins over the measure.
      expect(parseBulkRequest(body, { maxPayloadSize: size - 1, payloadSize: 10 }).operations).toHaveLength(1);
    });

    it("a parsed body JSON cannot represent is 400 invalidSyntax", () => {
      const cyclic: Record<string, unknown> = { Operations: [] };
      cyclic.self = cyclic;
      for (const body of [cyclic, { Operations: [], n: 1n }]) {
        const e = scimError(() => parseBulkRequest(body));
        expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
      }
    });

    it("a payload larger than maxPayloadSize, checked before the body is read", () => {
      const e = scimError(() => parseBulkRequest("not even looked at", { payloadSize: 2_000_000 }));
      expect(e.status).toBe(413);
      expect(scimError(() => parseBulkRequest(deletes(1), { payloadSize: 101, maxPayloadSize: 100 })).status).toBe(413);
      expect(parseBulkRequest(deletes(1), { payloadSize: 100, maxPayloadSize: 100 }).operations).toHaveLength(1);
      expect(parseBulkRequest(deletes(1), { payloadSize: 1_048_576 }).operations).toHaveLength(1);
    });
  });
});

describe("bulkId references (RFC 7644 §3.7.2)", () => {
  it("bulkIdReferences finds every bulkId:<id> string at any depth", () => {
    expect([...bulkIdReferences(RFC_BULK.Operations[1].data)]).toEqual(["qwerty"]);
    expect([...bulkIdReferences({ a: ["bulkId:x", { b: "bulkId:y" }], c: "bulkId:x", d: "not bulkId:z", e: 1, f: null })]).toEqual(["x", "y"]);
    expect(bulkIdReferences("bulkId:solo")).toEqual(new Set(["solo"]));
    expect(bulkIdReferences({ userName: "alice" }).size).toBe(0);
  });

  it("bulkIdReferences adds to a given set", () => {
    const seen = new Set(["a"]);
    expect(bulkIdReferences(["bulkId:b"], seen)).toBe(seen);
    expect([...seen]).toEqual(["a", "b"]);
  });

  it("resolveBulkIds replaces references with the created ids and returns a new value", () => {
    const data = RFC_BULK.Operations[1].data;
    const resolved = resolveBulkIds(data, new Map([["qwerty", "92b725cd-9465-4e7d-8c16-01f8e146b87a"]]));
    expect(resolved).toStrictEqual({ ...data, members: [{ type: "User", value: "92b725cd-9465-4e7d-8c16-01f8e146b87a" }] });
    expect(data.members![0].value).toBe("bulkId:qwerty");
    expect(resolveBulkIds("plain", new Map())).toBe("plain");
    expect(resolveBulkIds(7, new Map())).toBe(7);
  });

  it("an unresolved reference → 400 invalidValue naming it", () => {
    const e = scimError(() => resolveBulkIds({ members: [{ value: "bulkId:missing" }] }, new Map([["other", "1"]])));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
    expect(e.detail).toContain("bulkId:missing");
  });

  it("a __proto__ key in the data → 400 invalidSyntax, Object.prototype untouched", () => {
    const e = scimError(() => resolveBulkIds(JSON.parse('{"a":{"__proto__":{"polluted":"bulkId:x"}}}'), new Map([["x", "1"]])));
    expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("deeply nested data is a 400 invalidSyntax, not a stack overflow", () => {
    let deep: unknown = "bulkId:x";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(scimError(() => resolveBulkIds(deep, new Map([["x", "1"]]))).scimType).toBe("invalidSyntax");
    expect(scimError(() => bulkIdReferences(deep)).scimType).toBe("invalidSyntax");
  });
});

describe("planBulkOperations (RFC 7644 §3.7, §3.7.2)", () => {
  const post = (bulkId: string, ...refs: string[]): BulkOperation => ({ method: "POST", path: "/Groups", bulkId, data: { displayName: bulkId, members: refs.map((r) => ({ value: `bulkId:${r}` })) } });
  const del = (path: string): BulkOperation => ({ method: "DELETE", path });
  const plan = (ops: BulkOperation[]) => planBulkOperations(ops).map((s) => (s.error ? `${s.index}:${s.error.status} ${s.error.detail}` : s.index));

  it("keeps request order when nothing refers forward", () => {
    expect(plan([post("a"), post("b", "a"), del("/Groups/bulkId:b")])).toEqual([0, 1, 2]);
    expect(plan([])).toEqual([]);
  });

  it("runs a referenced POST just before the first operation that needs it, once", () => {
    const ops: BulkOperation[] = [{ method: "PATCH", path: "/Users/bulkId:u", data: {} }, { method: "POST", path: "/Users", bulkId: "u", data: {} }, { method: "PATCH", path: "/Users/bulkId:u", data: {} }];
    expect(plan(ops)).toEqual([1, 0, 2]);
    expect(planBulkOperations(ops).map((s) => [s.index, s.references])).toEqual([[1, []], [0, ["u"]], [2, ["u"]]]);
  });

  it("pulls the POSTs forward depth-first, and later operations stay after them", () => {
    expect(plan([post("outer", "inner"), post("inner", "u"), post("u"), del("/Groups/bulkId:inner")])).toEqual([2, 1, 0, 3]);
    // x needs b, which needs a: a, then b, then x.
    expect(plan([post("x", "b", "a"), post("a"), post("b", "a"), del("/Groups/1")])).toEqual([1, 2, 0, 3]);
  });

  it("unknown and non-POST bulkIds are 409s saying so, and pull nothing forward", () => {
    const patchP: BulkOperation = { method: "PATCH", path: "/Groups/1", bulkId: "p", data: {} };
    expect(plan([post("g", "u", "nope"), post("u"), post("h", "p"), patchP])).toEqual([
      "0:409 unknown bulkId 'nope'",
      1,
      "2:409 bulkId 'p' does not refer to a POST operation",
      3,
    ]);
  });

  it("a cycle is resolved (RFC 7644 §3.7.1): the POST that refers back is created without the reference, and resolved after the POST it waits for", () => {
    const planned = (ops: BulkOperation[]) =>
      planBulkOperations(ops).map((s) => (s.error ? `${s.index}:${s.error.status}` : s.resolves ? `${s.index}:resolves ${s.references.join(",")}` : s.deferred ? `${s.index} without ${s.deferred.join(",")}` : s.index));
    expect(planned([post("x", "c1"), post("c1", "c2"), post("c2", "c1"), post("self", "self")])).toEqual(["2 without c1", 1, "2:resolves c1", 0, "3 without self", "3:resolves self"]);
    // A longer cycle: the resolution waits for the last POST planned of those it deferred.
    expect(planned([post("a", "b"), post("b", "c"), post("c", "a", "b")])).toEqual(["2 without a,b", 1, 0, "2:resolves a,b"]);
    // Two cycles through one POST, each resolved after its own target.
    expect(planned([post("h", "p", "q"), post("p", "h"), post("q", "h")])).toEqual(["1 without h", "2 without h", 0, "1:resolves h", "2:resolves h"]);
    // A path cannot do without its reference: a PATCH of a POST's own resource that the POST needs first.
    const ops: BulkOperation[] = [
      { method: "POST", path: "/Groups/bulkId:g", bulkId: "g", data: { displayName: "g" } },
    ];
    expect(plan(ops)).toEqual(["0:409 circular bulkId reference"]);
    expect(failedReferenceError("c1")).toMatchObject({ status: 409, detail: "bulkId 'c1' refers to an operation that failed" });
  });

  it("deferReferences leaves out the values that name a deferred bulkId and gives them back as PATCH adds", () => {
    const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const split = deferReferences(
      {
        displayName: "G",
        members: [{ value: "bulkId:a" }, { value: "u1" }, { value: "bulkId:b" }, { value: "bulkId:c" }],
        [ENTERPRISE]: { manager: { value: "bulkId:a" }, department: "R&D" },
        nickName: "bulkId:z",
      },
      ["a", "c"],
      (key) => key === ENTERPRISE,
    );
    expect(split.data).toEqual({ displayName: "G", members: [{ value: "u1" }, { value: "bulkId:b" }], [ENTERPRISE]: { department: "R&D" }, nickName: "bulkId:z" });
    expect(split.later).toEqual([
      { op: "add", path: "members", value: [{ value: "bulkId:a" }, { value: "bulkId:c" }] },
      { op: "add", path: `${ENTERPRISE}:manager`, value: { value: "bulkId:a" } },
    ]);
    // A URN-qualified attribute key is an attribute, not an extension to look into.
    const qualified = deferReferences({ userName: "u", [`${ENTERPRISE}:manager`]: { value: "bulkId:a" }, [`${ENTERPRISE}:department`]: "R&D" }, ["a"], (key) => key === ENTERPRISE);
    expect(qualified.data).toEqual({ userName: "u", [`${ENTERPRISE}:department`]: "R&D" });
    expect(qualified.later).toEqual([{ op: "add", path: `${ENTERPRISE}:manager`, value: { value: "bulkId:a" } }]);
  });

  it("a long chain of references is planned without recursion", () => {
    const n = 50_000;
    const ops = Array.from({ length: n }, (_, i) => (i === n - 1 ? post(`g${i}`) : post(`g${i}`, `g${i + 1}`)));
    const order = plan(ops);
    expect(order[0]).toBe(n - 1);
    expect(order[n - 1]).toBe(0);
  });

  it("paths outside bulk's reach are 400 invalidPath", () => {
    for (const path of ["/Bulk", "/bulk/", "/Bulk/x", "/%42ulk", "/.search", "/Users/.search", "/Users/.SEARCH", "/Users/1?attributes=id", "/Users?x"]) {
      expect(bulkPathError(path), path).toMatchObject({ status: 400, scimType: "invalidPath" });
    }
    for (const path of ["/Users", "/Users/1", "/Groups/bulkId:g", "/Users/%E0%A4%A", "/Bulky"]) expect(bulkPathError(path), path).toBeUndefined();
    expect(plan([del("/Bulk"), post("a")])[0]).toMatch(/^0:400 a bulk operation cannot target \/Bulk/);
  });
});

describe("bulkResponse (RFC 7644 §3.7.3)", () => {
  it("renders statuses as strings, keeps optional fields only when set", () => {
    const error = new ScimError(400, "invalidSyntax", "Request is unparsable, syntactically incorrect, or violates schema.");
    const body = bulkResponse([
      { method: "POST", bulkId: "qwerty", version: 'W/"oY4m4wn58tkVjJxK"', location: "https://example.com/v2/Users/92b725cd", status: 201 },
      { method: "PUT", location: "https://example.com/v2/Users/b7c14771", version: 'W/"huJj29dMNgu3WXPD"', status: 200 },
      { method: "DELETE", status: 204 },
      { method: "POST", bulkId: "ytrewq", status: 400, response: error.toJSON() },
    ]);
    expect(body).toStrictEqual({
      schemas: [BULK_RESPONSE_SCHEMA],
      Operations: [
        { method: "POST", status: "201", bulkId: "qwerty", version: 'W/"oY4m4wn58tkVjJxK"', location: "https://example.com/v2/Users/92b725cd" },
        { method: "PUT", status: "200", version: 'W/"huJj29dMNgu3WXPD"', location: "https://example.com/v2/Users/b7c14771" },
        { method: "DELETE", status: "204" },
        {
          method: "POST",
          status: "400",
          bulkId: "ytrewq",
          response: {
            schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
            status: "400",
            scimType: "invalidSyntax",
            detail: "Request is unparsable, syntactically incorrect, or violates schema.",
          },
        },
      ],
    });
    expect(BULK_RESPONSE_SCHEMA).toBe("urn:ietf:params:scim:api:messages:2.0:BulkResponse");
    for (const o of JSON.parse(JSON.stringify(body)).Operations) expect(typeof o.status).toBe("string");
  });

  it("an empty result list gives an empty Operations array", () => {
    expect(bulkResponse([])).toStrictEqual({ schemas: [BULK_RESPONSE_SCHEMA], Operations: [] });
  });
});

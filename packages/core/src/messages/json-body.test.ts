import { describe, it, expect } from "vitest";
import { scimError } from "../test-support.js";
import { isScimError, type ScimError } from "../errors/scim-error.js";
import { MAX_JSON_DEPTH, parseJsonBody } from "./json-body.js";

const nested = (depth: number, open = "[", close = "]") => open.repeat(depth) + close.repeat(depth);

describe("parseJsonBody", () => {
  it("parses JSON text", () => {
    expect(parseJsonBody('{"userName":"bjensen","active":true}')).toStrictEqual({ userName: "bjensen", active: true });
    expect(parseJsonBody(" [1, 2] \n")).toStrictEqual([1, 2]);
    expect(parseJsonBody("null")).toBeNull();
  });

  it("parses bytes as UTF-8 (Uint8Array and Buffer), with or without a BOM", () => {
    const text = '{"displayName":"Zoë Ünal 😀"}';
    expect(parseJsonBody(new TextEncoder().encode(text))).toStrictEqual({ displayName: "Zoë Ünal 😀" });
    expect(parseJsonBody(Buffer.from(text, "utf8"))).toStrictEqual({ displayName: "Zoë Ünal 😀" });
    expect(parseJsonBody(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]))).toStrictEqual({ displayName: "Zoë Ünal 😀" });
  });

  it("bytes that are not UTF-8 are a 400 invalidSyntax, not text with U+FFFD in it (RFC 8259 §8.1)", () => {
    const bad = [new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), Uint8Array.from([...'{"a":"'].map((c) => c.charCodeAt(0)).concat([0xe9, 0x22, 0x7d])), new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d])];
    for (const bytes of bad) {
      try {
        parseJsonBody(bytes);
        expect.unreachable();
      } catch (error) {
        expect(error).toMatchObject({ status: 400, scimType: "invalidSyntax", detail: "the request body is not valid UTF-8 (RFC 8259 §8.1)" });
      }
    }
  });

  it("passes an already-parsed body through unchanged (the same object)", () => {
    const body = { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [] };
    expect(parseJsonBody(body)).toBe(body);
    const list = [1, 2];
    expect(parseJsonBody(list)).toBe(list);
    expect(parseJsonBody(null)).toBeNull();
    expect(parseJsonBody(undefined)).toBeUndefined();
    expect(parseJsonBody(42)).toBe(42);
  });

  it("keeps __proto__ as an own key of the parsed object (JSON.parse does not set the prototype)", () => {
    const parsed = parseJsonBody('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each<[string, string | Uint8Array]>([
    ["empty text", ""],
    ["whitespace", "  \n\t "],
    ["empty bytes", new Uint8Array()],
    ["truncated object", '{"userName":'],
    ["trailing comma", '{"a":1,}'],
    ["single quotes", "{'a':1}"],
    ["unquoted key", "{a:1}"],
    ["form encoding", "userName=bjensen"],
    ["two documents", "{} {}"],
    ["NaN", "NaN"],
    ["100,000 [", "[".repeat(100_000)],
    ["100,000 { without values", '{"a":'.repeat(100_000)],
    ["invalid UTF-8 bytes", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
  ])("%s → 400 invalidSyntax", (_, body) => {
    const e = scimError(() => parseJsonBody(body));
    expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
    expect(e.toJSON().status).toBe("400");
  });

  it("the detail does not echo the body or a stack trace", () => {
    const e = scimError(() => parseJsonBody('{"password":"hunter2",'));
    expect(e.detail).not.toContain("hunter2");
    expect(e.detail).not.toMatch(/\bat\s+\S+\s+\(/);
  });

  describe("nesting depth", () => {
    it("balanced nesting of 100,000 arrays or objects → 400 invalidSyntax, not a stack overflow later", () => {
      for (const text of [nested(100_000), '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000)]) {
        const e = scimError(() => parseJsonBody(text));
        expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
        expect(e.detail).toContain(String(MAX_JSON_DEPTH));
      }
    });

    it("the limit is exact: maxDepth levels pass, one more fails", () => {
      expect(parseJsonBody(nested(MAX_JSON_DEPTH))).toBeInstanceOf(Array);
      expect(scimError(() => parseJsonBody(nested(MAX_JSON_DEPTH + 1))).scimType).toBe("invalidSyntax");
      expect(parseJsonBody(nested(3), { maxDepth: 3 })).toStrictEqual([[[]]]);
      expect(scimError(() => parseJsonBody(nested(4), { maxDepth: 3 })).status).toBe(400);
    });

    it("scalars inside the deepest container do not count as a level", () => {
      expect(parseJsonBody('{"a":{"b":"c"}}', { maxDepth: 2 })).toStrictEqual({ a: { b: "c" } });
    });

    it("applies to already-parsed bodies too", () => {
      let deep: unknown = "x";
      for (let i = 0; i < 10_000; i++) deep = { a: deep };
      expect(scimError(() => parseJsonBody(deep)).scimType).toBe("invalidSyntax");
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      expect(scimError(() => parseJsonBody(cyclic)).status).toBe(400);
    });

    it("a realistic SCIM message (PATCH inside a BulkRequest) is far below the limit", () => {
      const bulk = {
        schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        Operations: [
          {
            method: "PATCH",
            path: "/Groups/abc",
            data: {
              schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
              Operations: [{ op: "add", path: "members", value: [{ value: "bulkId:qwerty", display: "x" }] }],
            },
          },
        ],
      };
      expect(parseJsonBody(JSON.stringify(bulk))).toStrictEqual(bulk);
    });
  });
});

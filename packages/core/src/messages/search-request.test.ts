import { describe, it, expect } from "vitest";
import { scimError } from "../test-support.js";
import { isScimError, type ScimError } from "../errors/scim-error.js";
import { parseSearchRequest } from "./search-request.js";
import { SEARCH_REQUEST_SCHEMA } from "./urns.js";

describe("parseSearchRequest (RFC 7644 §3.4.3)", () => {
  it("reads the RFC 7644 §3.4.3 example", () => {
    const body = {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
      attributes: ["displayName", "userName"],
      filter: 'displayName sw "smith"',
      startIndex: 1,
      count: 10,
    };
    expect(parseSearchRequest(body)).toStrictEqual({ attributes: ["displayName", "userName"], filter: 'displayName sw "smith"', startIndex: 1, count: 10 });
  });

  it("reads every field; keys are case-insensitive", () => {
    expect(
      parseSearchRequest({
        SCHEMAS: [SEARCH_REQUEST_SCHEMA],
        ExcludedAttributes: ["members"],
        SortBy: "userName",
        sortorder: "descending",
        STARTINDEX: 21,
        Count: 20,
        cursor: "",
      }),
    ).toStrictEqual({ excludedAttributes: ["members"], sortBy: "userName", sortOrder: "descending", startIndex: 21, count: 20, cursor: "" });
  });

  it("an empty body means no parameters; schemas is optional", () => {
    expect(parseSearchRequest({})).toStrictEqual({});
    expect(parseSearchRequest({ filter: null, count: null })).toStrictEqual({});
  });

  it("attributes may be a comma-separated string", () => {
    expect(parseSearchRequest({ attributes: "userName, emails.value ,", excludedAttributes: "groups" })).toStrictEqual({
      attributes: ["userName", "emails.value"],
      excludedAttributes: ["groups"],
    });
  });

  it("startIndex below 1 is read as 1; a negative count as 0 (RFC 7644 §3.4.2.4)", () => {
    expect(parseSearchRequest({ startIndex: 0, count: -5 })).toStrictEqual({ startIndex: 1, count: 0 });
    expect(parseSearchRequest({ startIndex: -100 }).startIndex).toBe(1);
    expect(parseSearchRequest({ count: 0 }).count).toBe(0);
  });

  it("numeric strings are accepted for startIndex and count", () => {
    expect(parseSearchRequest({ startIndex: "2", count: " 50 " })).toStrictEqual({ startIndex: 2, count: 50 });
    expect(parseSearchRequest({ startIndex: "-3" }).startIndex).toBe(1);
  });

  it("sortOrder is case-insensitive and normalised", () => {
    expect(parseSearchRequest({ sortOrder: "Ascending" }).sortOrder).toBe("ascending");
    expect(parseSearchRequest({ sortOrder: "DESCENDING" }).sortOrder).toBe("descending");
  });

  it.each<[string, unknown]>([
    ["sortOrder up", { sortOrder: "up" }],
    ["sortOrder asc", { sortOrder: "asc" }],
    ["startIndex 1.5", { startIndex: 1.5 }],
    ["startIndex abc", { startIndex: "abc" }],
    ["count true", { count: true }],
    ["count []", { count: [] }],
  ])("%s → 400 invalidValue", (_, body) => {
    const e = scimError(() => parseSearchRequest(body));
    expect([e.status, e.scimType]).toEqual([400, "invalidValue"]);
  });

  it.each<[string, unknown]>([
    ["not an object", "filter=x"],
    ["an array", [{ filter: "x" }]],
    ["null", null],
    ["filter not a string", { filter: { op: "eq" } }],
    ["sortBy not a string", { sortBy: 1 }],
    ["sortOrder not a string", { sortOrder: true }],
    ["attributes with a number", { attributes: ["userName", 1] }],
    ["attributes an object", { attributes: { a: 1 } }],
    ["cursor a number", { cursor: 5 }],
    ["schemas of another message", { schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"] }],
    ["schemas not an array", { schemas: SEARCH_REQUEST_SCHEMA }],
    ["a __proto__ key", JSON.parse('{"__proto__":{"count":1}}')],
    ["a constructor key", { constructor: 1 }],
  ])("%s → 400 invalidSyntax", (_, body) => {
    const e = scimError(() => parseSearchRequest(body));
    expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
  });
});

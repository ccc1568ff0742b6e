import { describe, it, expect } from "vitest";
import { scimError } from "../test-support.js";
import { isScimError, type ScimError } from "../errors/scim-error.js";
import { parsePatchRequest } from "./patch-request.js";
import { PATCH_OP_SCHEMA } from "./urns.js";

describe("parsePatchRequest (RFC 7644 §3.5.2)", () => {
  it("reads Okta's group update (remove with a filter path, add with a value array)", () => {
    const body = {
      schemas: [PATCH_OP_SCHEMA],
      Operations: [
        { op: "remove", path: 'members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]' },
        { op: "add", path: "members", value: [{ value: "23a35c27-23d3-4c03-b4c5-6443c09e7173", display: "test.user@okta.local" }] },
      ],
    };
    expect(parsePatchRequest(body)).toStrictEqual([
      { op: "remove", path: 'members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]' },
      { op: "add", path: "members", value: [{ value: "23a35c27-23d3-4c03-b4c5-6443c09e7173", display: "test.user@okta.local" }] },
    ]);
  });

  it("keeps Entra's capitalised ops and string booleans as sent; keys are case-insensitive", () => {
    expect(parsePatchRequest({ schemas: [PATCH_OP_SCHEMA], operations: [{ OP: "Replace", Path: "active", Value: "False" }] })).toStrictEqual([
      { op: "Replace", path: "active", value: "False" },
    ]);
  });

  it("keeps an explicit null value (distinct from no value); a null path is no path", () => {
    expect(parsePatchRequest({ Operations: [{ op: "replace", path: null, value: null }] })).toStrictEqual([{ op: "replace", value: null }]);
    expect(parsePatchRequest({ Operations: [{ op: "remove", path: "title" }] })[0]).not.toHaveProperty("value");
  });

  it("an empty Operations array is valid", () => {
    expect(parsePatchRequest({ schemas: [PATCH_OP_SCHEMA], Operations: [] })).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ["no Operations", { schemas: [PATCH_OP_SCHEMA] }, "invalidSyntax"],
    ["Operations not an array", { Operations: { op: "add" } }, "invalidSyntax"],
    ["an operation that is not an object", { Operations: ["add"] }, "invalidSyntax"],
    ["op missing", { Operations: [{ path: "title", value: "x" }] }, "invalidSyntax"],
    ["op a number", { Operations: [{ op: 1 }] }, "invalidSyntax"],
    ["wrong schemas", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], Operations: [] }, "invalidSyntax"],
    ["a __proto__ key in an operation", { Operations: [JSON.parse('{"op":"add","__proto__":{}}')] }, "invalidSyntax"],
    ["path a number", { Operations: [{ op: "add", path: 5, value: 1 }] }, "invalidPath"],
  ])("%s → 400 %s", (_, body, scimType) => {
    const e = scimError(() => parsePatchRequest(body));
    expect([e.status, e.scimType]).toEqual([400, scimType]);
  });
});

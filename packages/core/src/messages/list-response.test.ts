import { describe, it, expect } from "vitest";
import { listResponse } from "./list-response.js";
import { LIST_RESPONSE_SCHEMA } from "./urns.js";

describe("listResponse (RFC 7644 §3.4.2)", () => {
  const users = [{ id: "1", userName: "a" }, { id: "2", userName: "b" }];

  it("renders schemas, totalResults, startIndex, itemsPerPage and Resources, in that order", () => {
    const body = listResponse({ resources: users, totalResults: 57, startIndex: 11 });
    expect(body).toStrictEqual({ schemas: [LIST_RESPONSE_SCHEMA], totalResults: 57, startIndex: 11, itemsPerPage: 2, Resources: users });
    expect(Object.keys(body)).toEqual(["schemas", "totalResults", "startIndex", "itemsPerPage", "Resources"]);
    expect(LIST_RESPONSE_SCHEMA).toBe("urn:ietf:params:scim:api:messages:2.0:ListResponse");
  });

  it("numbers are JSON numbers (Okta), also after serialisation", () => {
    const wire = JSON.parse(JSON.stringify(listResponse({ resources: users, totalResults: 2, startIndex: 1 })));
    for (const key of ["totalResults", "startIndex", "itemsPerPage"]) expect(typeof wire[key]).toBe("number");
  });

  it("Resources is present even when empty: the 'not found' answer to a filter", () => {
    const body = listResponse({ resources: [], startIndex: 1 });
    expect(body).toStrictEqual({ schemas: [LIST_RESPONSE_SCHEMA], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
    expect(JSON.stringify(body)).toContain('"Resources":[]');
  });

  it("itemsPerPage is the page size; totalResults defaults to it", () => {
    expect(listResponse({ resources: users })).toStrictEqual({ schemas: [LIST_RESPONSE_SCHEMA], totalResults: 2, itemsPerPage: 2, Resources: users });
    expect(listResponse({ resources: users.slice(0, 1), totalResults: 100, startIndex: 100 }).itemsPerPage).toBe(1);
  });

  it("leaves out startIndex when not given (cursor paging), and adds RFC 9865 cursors before Resources", () => {
    const body = listResponse({ resources: users, totalResults: 10, nextCursor: "c2", previousCursor: "c0" });
    expect(body).not.toHaveProperty("startIndex");
    expect(Object.keys(body)).toEqual(["schemas", "totalResults", "itemsPerPage", "nextCursor", "previousCursor", "Resources"]);
    expect(body.nextCursor).toBe("c2");
    expect(listResponse({ resources: [] })).not.toHaveProperty("nextCursor");
  });

  it("copies the resources array: later changes to the input do not leak into the body", () => {
    const resources = [...users];
    const body = listResponse({ resources });
    resources.push({ id: "3", userName: "c" });
    expect(body.Resources).toHaveLength(2);
    expect(body.itemsPerPage).toBe(2);
  });
});

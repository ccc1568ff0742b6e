import { describe, it, expect } from "vitest";
import {
  badRequest,
  ERROR_SCHEMA,
  errorBody,
  isScimConfigError,
  isScimError,
  ScimConfigError,
  ScimError,
} from "./scim-error.js";

describe("ScimError", () => {
  it("carries status, scimType and detail, and is an Error", () => {
    const e = new ScimError(409, "uniqueness", "userName 'bjensen' is taken");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("ScimError");
    expect(e.status).toBe(409);
    expect(e.scimType).toBe("uniqueness");
    expect(e.detail).toBe("userName 'bjensen' is taken");
    expect(e.message).toBe("userName 'bjensen' is taken");
  });

  it("renders the RFC 7644 §3.12 Error message with status as a string", () => {
    const e = new ScimError(400, "invalidFilter", "bad filter");
    expect(e.toJSON()).toStrictEqual({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
      status: "400",
      scimType: "invalidFilter",
      detail: "bad filter",
    });
    expect(ERROR_SCHEMA).toBe("urn:ietf:params:scim:api:messages:2.0:Error");
    expect(typeof e.toJSON().status).toBe("string");
  });

  it("JSON.stringify gives the Error message and nothing else (no stack, no brand)", () => {
    const e = new ScimError(404, undefined, "Resource 2819c223 not found");
    const wire = JSON.parse(JSON.stringify(e));
    expect(wire).toStrictEqual({ schemas: [ERROR_SCHEMA], status: "404", detail: "Resource 2819c223 not found" });
    expect(JSON.stringify(e)).not.toContain("stack");
  });

  it("omits scimType when undefined and detail when empty", () => {
    const body = new ScimError(401, undefined, "").toJSON();
    expect(body).toStrictEqual({ schemas: [ERROR_SCHEMA], status: "401" });
    expect("scimType" in body).toBe(false);
    expect("detail" in body).toBe(false);
  });

  it("keeps the key order schemas, status, scimType, detail", () => {
    expect(Object.keys(new ScimError(400, "tooMany", "x").toJSON())).toEqual(["schemas", "status", "scimType", "detail"]);
  });

  it("badRequest builds a 400 with the scimType; errorBody renders it", () => {
    const e = badRequest("invalidValue", "attribute 'active' must be a boolean");
    expect(e.status).toBe(400);
    expect(e.scimType).toBe("invalidValue");
    expect(errorBody(e)).toStrictEqual({
      schemas: [ERROR_SCHEMA],
      status: "400",
      scimType: "invalidValue",
      detail: "attribute 'active' must be a boolean",
    });
  });
});

describe("isScimError", () => {
  it("recognises ScimError instances", () => {
    expect(isScimError(new ScimError(500, undefined, "x"))).toBe(true);
    expect(isScimError(badRequest("invalidPath", "x"))).toBe(true);
  });

  it("recognises an error from another copy of the package by its Symbol.for brand", () => {
    // What a second copy's instance looks like: a different class, the same global symbol.
    class OtherScimError extends Error {
      readonly status = 400;
      constructor(message: string) {
        super(message);
        (this as unknown as Record<symbol, unknown>)[Symbol.for("scim-core.ScimError")] = true;
      }
    }
    const foreign = new OtherScimError("from elsewhere");
    expect(foreign instanceof ScimError).toBe(false);
    expect(isScimError(foreign)).toBe(true);
    expect(isScimError({ [Symbol.for("scim-core.ScimError")]: true })).toBe(true);
  });

  it("rejects look-alikes and non-objects", () => {
    expect(isScimError(new Error("plain"))).toBe(false);
    expect(isScimError({ status: 400, scimType: "invalidValue", detail: "x" })).toBe(false);
    expect(isScimError({ [Symbol("scim-core.ScimError")]: true })).toBe(false); // not the registered symbol
    expect(isScimError({ [Symbol.for("scim-core.ScimError")]: "yes" })).toBe(false);
    expect(isScimError(new ScimConfigError("x"))).toBe(false);
    for (const v of [null, undefined, 0, "ScimError", true]) expect(isScimError(v)).toBe(false);
  });
});

describe("ScimConfigError", () => {
  it("is branded separately and never mistaken for a ScimError", () => {
    const e = new ScimConfigError("schema id must be a URN");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("ScimConfigError");
    expect(isScimConfigError(e)).toBe(true);
    expect(isScimConfigError(new ScimError(400, undefined, "x"))).toBe(false);
    expect(isScimConfigError({ [Symbol.for("scim-core.ScimConfigError")]: true })).toBe(true);
    expect(isScimConfigError(null)).toBe(false);
  });
});

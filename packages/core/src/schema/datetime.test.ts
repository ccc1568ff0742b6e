import { describe, it, expect } from "vitest";
import { compareDateTime, compareSplitDateTimes, isDateTime, parseDateTime, splitDateTime } from "./datetime.js";
import { compileFilter } from "../filter/compile.js";
import { parseFilter } from "../filter/parser.js";
import { createSchemaRegistry } from "./registry.js";

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0) => Date.UTC(y, mo - 1, d, h, mi, s, ms);
const BASE = utc(2011, 5, 13, 4, 42, 34);

describe("parseDateTime: valid xsd:dateTime values", () => {
  it("the RFC 7644 example instant", () => {
    expect(parseDateTime("2011-05-13T04:42:34Z")).toBe(BASE);
    expect(BASE).toBe(1305261754000);
  });

  it("lower-case t and z", () => {
    expect(parseDateTime("2011-05-13t04:42:34z")).toBe(BASE);
    expect(parseDateTime("2011-05-13t04:42:34Z")).toBe(BASE);
  });

  it("no offset is taken as UTC", () => {
    expect(parseDateTime("2011-05-13T04:42:34")).toBe(BASE);
    expect(parseDateTime("2011-05-13T04:42:34.250")).toBe(BASE + 250);
  });

  it("offsets denote the same instant", () => {
    expect(parseDateTime("2011-05-13T06:42:34+02:00")).toBe(BASE);
    expect(parseDateTime("2011-05-12T23:12:34-05:30")).toBe(BASE);
    expect(parseDateTime("2011-05-13T04:42:34+00:00")).toBe(BASE);
    expect(parseDateTime("2011-05-13T04:42:34-00:00")).toBe(BASE);
    expect(parseDateTime("2011-05-13T18:42:34+14:00")).toBe(BASE);
    expect(parseDateTime("2011-05-12T14:42:34-14:00")).toBe(BASE);
    expect(parseDateTime("2011-05-13T10:27:34+05:45")).toBe(BASE);
  });

  it("offsets crossing a day, month and year boundary", () => {
    expect(parseDateTime("2011-01-01T00:30:00+01:00")).toBe(utc(2010, 12, 31, 23, 30));
    expect(parseDateTime("2010-12-31T23:30:00-01:00")).toBe(utc(2011, 1, 1, 0, 30));
  });

  it("fractional seconds of any length", () => {
    expect(parseDateTime("2011-05-13T04:42:34.5Z")).toBe(BASE + 500);
    expect(parseDateTime("2011-05-13T04:42:34.50Z")).toBe(BASE + 500);
    expect(parseDateTime("2011-05-13T04:42:34.500Z")).toBe(BASE + 500);
    expect(parseDateTime("2011-05-13T04:42:34.123Z")).toBe(BASE + 123);
    expect(parseDateTime("2011-05-13T04:42:34.0Z")).toBe(BASE);
    expect(parseDateTime("2011-05-13T04:42:34.000000000Z")).toBe(BASE);
    expect(parseDateTime("2011-05-13T06:42:34.5+02:00")).toBe(BASE + 500);
  });

  it("keeps sub-millisecond digits (microseconds, .NET's 7 digits)", () => {
    expect(parseDateTime("2011-05-13T04:42:34.1234567Z") - BASE).toBeCloseTo(123.4567, 3);
    expect(parseDateTime("2011-05-13T04:42:34.000001Z")).toBeGreaterThan(BASE);
    expect(parseDateTime("2011-05-13T04:42:34.500001Z")).toBeGreaterThan(parseDateTime("2011-05-13T04:42:34.5Z"));
    expect(parseDateTime("2011-05-13T04:42:34.123456Z")).toBeLessThan(parseDateTime("2011-05-13T04:42:34.123457Z"));
    expect(parseDateTime("2011-05-13T04:42:34.999999Z")).toBeLessThan(parseDateTime("2011-05-13T04:42:35Z"));
  });

  it("very long fractions do not overflow", () => {
    const t = parseDateTime("2011-05-13T04:42:34.12345678901234567890123Z");
    expect(t - BASE).toBeCloseTo(123.456789, 3);
  });

  it("February 29 in leap years (every 4, every 400, not every 100)", () => {
    expect(parseDateTime("2024-02-29T00:00:00Z")).toBe(utc(2024, 2, 29));
    expect(parseDateTime("2000-02-29T12:00:00Z")).toBe(utc(2000, 2, 29, 12));
    expect(parseDateTime("1996-02-29T00:00:00Z")).toBe(utc(1996, 2, 29));
  });

  it("the last day of every month", () => {
    const last = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for (let m = 1; m <= 12; m++) {
      const mm = String(m).padStart(2, "0");
      expect(parseDateTime(`2023-${mm}-${last[m - 1]}T00:00:00Z`)).toBe(utc(2023, m, last[m - 1]!));
      expect(parseDateTime(`2023-${mm}-${last[m - 1]! + 1}T00:00:00Z`)).toBeNaN();
    }
  });

  it("boundaries of each field", () => {
    expect(parseDateTime("2011-01-01T00:00:00Z")).toBe(utc(2011, 1, 1));
    expect(parseDateTime("2011-12-31T23:59:59Z")).toBe(utc(2011, 12, 31, 23, 59, 59));
    expect(parseDateTime("1970-01-01T00:00:00Z")).toBe(0);
    expect(parseDateTime("1969-12-31T23:59:59Z")).toBe(-1000);
    expect(parseDateTime("9999-12-31T23:59:59Z")).toBe(utc(9999, 12, 31, 23, 59, 59));
  });

  it("years below 100 are not shifted into the 1900s", () => {
    expect(parseDateTime("0001-01-01T00:00:00Z")).toBe(-62135596800000);
    expect(parseDateTime("0099-06-15T00:00:00Z")).toBe(new Date("0099-06-15T00:00:00Z").getTime());
    expect(parseDateTime("0099-06-15T00:00:00Z")).not.toBe(parseDateTime("1999-06-15T00:00:00Z"));
    expect(parseDateTime("0004-02-29T00:00:00Z")).toBe(new Date("0004-02-29T00:00:00Z").getTime());
  });
});

describe("parseDateTime: invalid values are NaN", () => {
  it.each([
    // not leap years
    "2023-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2100-02-29T00:00:00Z",
    // out-of-range fields
    "2011-00-13T04:42:34Z",
    "2011-13-13T04:42:34Z",
    "2011-05-00T04:42:34Z",
    "2011-05-32T04:42:34Z",
    "2011-04-31T04:42:34Z",
    "2011-05-13T24:01:00Z",
    "2011-05-13T25:00:00Z",
    "2011-05-13T04:60:34Z",
    "2011-05-13T04:42:60Z",
    "2011-05-13T04:42:34+15:00",
    "2011-05-13T04:42:34-15:00",
    "2011-05-13T04:42:34+02:60",
    // wrong shape
    "2011-05-13",
    "2011-05-13T04:42Z",
    "2011-05-13T04:42",
    "2011-05-13 04:42:34Z",
    "2011/05/13T04:42:34Z",
    "2011-5-13T04:42:34Z",
    "2011-05-13T4:42:34Z",
    "11-05-13T04:42:34Z",
    "20110-05-13T04:42:34Z",
    "+2011-05-13T04:42:34Z",
    "-2011-05-13T04:42:34Z",
    "2011-05-13T04:42:34.Z",
    "2011-05-13T04:42:34.",
    "2011-05-13T04:42:34,5Z",
    "2011-05-13T04:42:34.5.6Z",
    "2011-05-13T04:42:34+0200",
    "2011-05-13T04:42:34+02",
    "2011-05-13T04:42:34+02:0",
    "2011-05-13T04:42:34+2:00",
    "2011-05-13T04:42:34+02:00Z",
    "2011-05-13T04:42:34Z+02:00",
    "2011-05-13T04:42:34ZZ",
    "2011-05-13T04:42:34Zx",
    "2011-05-13T04:42:34 Z",
    "2011-05-13T04:42:34UTC",
    " 2011-05-13T04:42:34Z",
    "2011-05-13T04:42:34Z ",
    "\uff12011-05-13T04:42:34Z",
    "2011-05-13T04:42:3\u0664Z",
    // garbage
    "",
    "yesterday",
    "now",
    "1305261754000",
    "2011-05-13T04:42:34Z\u0000",
    "xxxx-xx-xxTxx:xx:xxZ",
    "Fri, 13 May 2011 04:42:34 GMT",
  ])("%j", (value) => {
    expect(parseDateTime(value)).toBeNaN();
  });
});

describe("isDateTime", () => {
  it("accepts valid dateTime strings", () => {
    expect(isDateTime("2011-05-13T04:42:34Z")).toBe(true);
    expect(isDateTime("2011-05-13T04:42:34.1234567+02:00")).toBe(true);
  });

  it("rejects invalid strings and non-strings", () => {
    for (const v of ["2023-02-29T00:00:00Z", "yesterday", "", undefined, null, 1305261754000, new Date(0), {}, [], true]) {
      expect(isDateTime(v)).toBe(false);
    }
  });
});

describe("splitDateTime: exact comparison past the millisecond", () => {
  it("splits whole milliseconds (the fraction cut, not rounded) from the digits past them", () => {
    expect(splitDateTime("2020-01-01T08:00:00Z")).toEqual({ ms: Date.UTC(2020, 0, 1, 8), sub: "" });
    expect(splitDateTime("2020-01-01T09:00:00.00010+01:00")).toEqual({ ms: Date.UTC(2020, 0, 1, 8), sub: "1" });
    expect(splitDateTime("2020-01-01T08:00:00.999999999999999999Z")).toEqual({ ms: Date.UTC(2020, 0, 1, 8) + 999, sub: "999999999999999" });
    expect(splitDateTime("2020-01-01T08:00:00.5Z")).toEqual({ ms: Date.UTC(2020, 0, 1, 8) + 500, sub: "" });
    expect(splitDateTime("2020-02-30T08:00:00Z")).toBeUndefined();
    expect(splitDateTime("not a date")).toBeUndefined();
  });

  it("orders values parseDateTime's number cannot tell apart", () => {
    const a = "2020-01-01T08:00:00.0009999Z";
    const b = "2020-01-01T08:00:00.001Z";
    expect(parseDateTime(a)).toBe(parseDateTime(b));
    expect(compareSplitDateTimes(splitDateTime(a)!, splitDateTime(b)!)).toBeLessThan(0);
    expect(compareSplitDateTimes(splitDateTime(b)!, splitDateTime(a)!)).toBeGreaterThan(0);
    expect(compareSplitDateTimes(splitDateTime(b)!, splitDateTime("2020-01-01T09:00:00.0010000+01:00")!)).toBe(0);
    // compareDateTime agrees with compareSplitDateTimes on every pair.
    const values = [a, b, "2020-01-01T08:00:00Z", "2020-01-01T08:00:00.0001Z", "2020-01-01T08:00:00.00010Z", "2020-01-01T08:00:00.00011Z", "2020-01-01T09:00:00.001+01:00", "2020-01-01T08:00:00.999999Z"];
    for (const x of values) for (const y of values) expect(Math.sign(compareDateTime(x, splitDateTime(y)!)), `${x} vs ${y}`).toBe(Math.sign(compareSplitDateTimes(splitDateTime(x)!, splitDateTime(y)!)));
    expect(compareDateTime("not a date", splitDateTime(a)!)).toBeNaN();
  });

  it("makes filters exact: a stored value equals itself, and only itself", () => {
    const registry = createSchemaRegistry();
    registry.addSchema({ id: "urn:x:hr", name: "HR", attributes: [{ name: "hired", type: "dateTime", multiValued: false, required: false, caseExact: false, mutability: "readWrite", returned: "default", uniqueness: "none" }] });
    registry.addExtension("User", { schema: "urn:x:hr", required: false });
    const user = (hired: string) => ({ "urn:x:hr": { hired } });
    const matches = (filter: string, hired: string) => compileFilter(parseFilter(filter), { resourceType: "User", registry })(user(hired));
    expect(matches('urn:x:hr:hired eq "2020-01-01T08:00:00.0001Z"', "2020-01-01T08:00:00.0001Z")).toBe(true);
    expect(matches('urn:x:hr:hired eq "2020-01-01T08:00:00Z"', "2020-01-01T08:00:00.0001Z")).toBe(false);
    expect(matches('urn:x:hr:hired gt "2020-01-01T08:00:00.0009999Z"', "2020-01-01T08:00:00.001Z")).toBe(true);
    expect(matches('urn:x:hr:hired lt "2020-01-01T08:00:00.0009999Z"', "2020-01-01T08:00:00.001Z")).toBe(false);
    expect(matches('urn:x:hr:hired ne "2020-01-01T08:00:00.0009999Z"', "2020-01-01T08:00:00.001Z")).toBe(true);
  });
});

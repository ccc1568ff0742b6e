import pino from "pino";
import { describe, expect, it } from "vitest";
import { errorMessage, logSerializers, maskCredentials, runtimeErrorLog, safeError, StartupError, startupStep } from "./errors.js";

describe("errors in logs and start-up messages", () => {
  it("logs an error as name, message and code: no stack, no cause, no other properties", () => {
    const error = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432", { cause: new Error("inner") }), { code: "ECONNREFUSED", config: { password: "pw" } });
    expect(safeError(error)).toEqual({ name: "Error", message: "connect ECONNREFUSED 127.0.0.1:5432", code: "ECONNREFUSED" });
    expect(safeError(new TypeError("bad"))).toEqual({ name: "TypeError", message: "bad" });
    expect(safeError("a string")).toEqual({ name: "Error", message: "a string" });
  });

  it("keeps stacks out of pino lines, also under a host logger with pino's default serializers", () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) }).child({}, { serializers: logSerializers });
    logger.error({ err: Object.assign(new Error("boom at postgres://scim:S3cret@db/sync"), { code: "E42" }), path: "/Users" }, "unexpected error");
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, msg: "unexpected error", path: "/Users", err: { name: "Error", message: "boom at postgres://***@db/sync", code: "E42" } });
    expect(JSON.parse(lines[0]!).err).not.toHaveProperty("stack");
    expect(lines[0]).not.toContain("S3cret");
  });

  it("logs a database outage once per window at warn, counting what it left out; every other error at error, each", () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) }).child({}, { serializers: logSerializers });
    let clock = 0;
    const log = runtimeErrorLog(logger, 10_000, () => clock);
    const down = Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), { code: "ECONNREFUSED" });
    for (let i = 0; i < 500; i++) log(down, { path: "/Users" }, "unexpected error in a SCIM request");
    log(new Error("a bug"), { path: "/Users" }, "unexpected error in a SCIM request");
    clock = 10_000;
    log(down, {}, "could not write audit entries");
    expect(lines.map((l) => [l.level, l.msg, l.leftOut])).toEqual([
      [40, "the database is unavailable: requests are answered 503 with Retry-After (logged once per 10 s while it lasts)", undefined],
      [50, "unexpected error in a SCIM request", undefined],
      [40, "the database is unavailable: requests are answered 503 with Retry-After (logged once per 10 s while it lasts)", 499],
    ]);
    expect(lines[0]!.err).toEqual({ name: "Error", message: "connect ECONNREFUSED 10.0.0.5:5432", code: "ECONNREFUSED" });
  });

  it("keeps a token pasted into a request path, or quoted in an error message, out of the log", () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) }).child({}, { serializers: logSerializers });
    const token = `dsync_${"A".repeat(43)}`;
    logger.error({ err: new Error(`no resource ${token}`), method: "GET", path: `/Users/${token}` }, "unexpected error in a SCIM request");
    expect(JSON.parse(lines[0]!)).toMatchObject({ path: "/Users/[REDACTED]", err: { message: "no resource [REDACTED]" } });
    expect(lines[0]).not.toContain(token);
  });

  it("masks the credentials of URLs and keeps the message on one line", () => {
    expect(maskCredentials("postgres://scim:S3cret@db:5432/sync and https://u:p@x.test/a")).toBe("postgres://***@db:5432/sync and https://***@x.test/a");
    expect(errorMessage(new Error("bad url postgres://scim:S3cret@db/sync\n  more"))).toBe("bad url postgres://***@db/sync more");
  });

  it("describes an AggregateError without a message by its errors", () => {
    const error = new AggregateError([new Error("connect ECONNREFUSED ::1:1"), new Error("connect ECONNREFUSED 127.0.0.1:1")], "");
    expect(errorMessage(error)).toBe("connect ECONNREFUSED ::1:1; connect ECONNREFUSED 127.0.0.1:1");
    expect(errorMessage(new Error(""))).toBe("Error");
  });

  it("turns a failed start-up step into a StartupError saying what and why", async () => {
    await expect(startupStep("cannot listen on 0.0.0.0:80", () => Promise.reject(new Error("listen EACCES")))).rejects.toThrow(new StartupError("cannot listen on 0.0.0.0:80: listen EACCES"));
    await expect(startupStep("outer", () => Promise.reject(new StartupError("inner: why")))).rejects.toThrow(/^inner: why$/);
    await expect(startupStep("fine", () => 42)).resolves.toBe(42);
  });
});

import { describe, expect, it } from "vitest";
import { Hono } from "hono";
import { canonicalIp, cidrContains, clientAddress, isIpAllowed, limiterKey, parseCidr, parseIp, type TrustProxy } from "./ip-allowlist.js";

describe("IP allowlist matching", () => {
  it("parses IPv4, IPv6 (compressed, embedded IPv4, zone) and refuses the rest", () => {
    expect(parseIp("10.0.0.1")).toBe((0xffffn << 32n) | 0x0a000001n);
    expect(parseIp("::ffff:10.0.0.1")).toBe(parseIp("10.0.0.1"));
    expect(parseIp("::ffff:a00:1")).toBe(parseIp("10.0.0.1"));
    expect(parseIp("::1")).toBe(1n);
    expect(parseIp("::")).toBe(0n);
    expect(parseIp("2001:db8::1")).toBe(parseIp("2001:0db8:0000:0000:0000:0000:0000:0001"));
    expect(parseIp("fe80::1%eth0")).toBe(parseIp("fe80::1"));
    for (const bad of ["", "10.0.0", "10.0.0.256", "1.2.3.4.5", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7:8:9", "10.0.0.01a"]) expect(parseIp(bad), bad).toBeUndefined();
  });

  it("matches CIDR blocks of both families, and IPv4 against IPv4-mapped IPv6 either way", () => {
    const cases: Array<[string, string, boolean]> = [
      ["10.0.0.0/8", "10.255.1.2", true],
      ["10.0.0.0/8", "11.0.0.1", false],
      ["192.168.1.7", "192.168.1.7", true],
      ["192.168.1.7", "192.168.1.8", false],
      ["192.168.1.7/32", "::ffff:192.168.1.7", true],
      ["0.0.0.0/0", "203.0.113.1", true],
      ["0.0.0.0/0", "2001:db8::1", false],
      ["::ffff:10.0.0.0/104", "10.9.9.9", true],
      ["2001:db8::/32", "2001:db8:ffff::1", true],
      ["2001:db8::/32", "2001:db9::1", false],
      ["::/0", "10.0.0.1", true],
      ["fe80::/10", "febf::1", true],
      ["fe80::/10", "fec0::1", false],
      ["10.1.2.3/16", "10.1.99.99", true], // host bits in the block are ignored
    ];
    for (const [block, address, expected] of cases) expect(isIpAllowed([block], address), `${address} in ${block}`).toBe(expected);
  });

  it("IPv4-mapped IPv6 in dotted form (RFC 4291 §2.2, form 3) parses as an address or block, and matches the other forms either way", () => {
    expect(parseIp("::ffff:127.0.0.1")).toBe(parseIp("127.0.0.1"));
    expect(parseIp("::FFFF:127.0.0.1")).toBe(parseIp("::ffff:7f00:1"));
    expect(parseIp("0:0:0:0:0:ffff:127.0.0.1")).toBe(parseIp("127.0.0.1"));
    expect(parseCidr("::ffff:127.0.0.1")).toEqual(parseCidr("127.0.0.1"));
    expect(parseCidr("::ffff:10.0.0.0/104")).toEqual(parseCidr("10.0.0.0/8"));
    // Node reports an IPv4 client of a dual-stack socket as `::ffff:a.b.c.d`.
    const forms = ["127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1"];
    for (const entry of forms) for (const client of forms) expect(isIpAllowed([entry], client), `${client} in ${entry}`).toBe(true);
    expect(isIpAllowed(["::ffff:127.0.0.1"], "127.0.0.2")).toBe(false);
    // The dotted part is only ever the last 32 bits, and one of them.
    for (const bad of ["1.2.3.4::", "1.2.3.4::5", "::1.2.3.4:5", "::ffff:1.2.3.4.5", "::ffff:1.2.3", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:1.2.3.4/129"]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });

  it("an empty list allows everyone; an unknown address or an invalid entry allows nobody", () => {
    expect(isIpAllowed([], undefined)).toBe(true);
    expect(isIpAllowed(["10.0.0.0/8"], undefined)).toBe(false);
    expect(isIpAllowed(["10.0.0.0/8"], "nonsense")).toBe(false);
    expect(isIpAllowed(["999.0.0.0/8"], "10.0.0.1")).toBe(false);
    expect(isIpAllowed(["10.0.0.0/33", "10.0.0.0/8"], "10.0.0.1")).toBe(true);
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("2001:db8::/129")).toBeUndefined();
    expect(parseCidr("10.0.0.0/8/8")).toBeUndefined();
    expect(cidrContains(parseCidr("10.0.0.0/8")!, parseIp("10.2.3.4")!)).toBe(true);
  });

  it("canonicalIp gives every spelling of an address one text (RFC 5952), and nothing for other text", () => {
    expect(canonicalIp("2001:0DB8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(canonicalIp("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1"); // the first of two equal runs
    expect(canonicalIp("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1"); // one zero group stays
    expect(canonicalIp("0:0:0:0:0:0:0:0")).toBe("::");
    expect(canonicalIp("1:0:0:0:0:0:0:0")).toBe("1::");
    // One IPv4 client, however its address is written.
    expect(canonicalIp("::ffff:0a00:0001")).toBe("10.0.0.1");
    expect(canonicalIp("::FFFF:10.0.0.1")).toBe("10.0.0.1");
    expect(canonicalIp("010.000.000.001")).toBe("10.0.0.1");
    expect(canonicalIp("fe80::1%eth0")).toBe("fe80::1");
    for (const bad of ["", "unknown", "10.0.0", "x".repeat(100), "1::2::3"]) expect(canonicalIp(bad), bad).toBeUndefined();
  });

  it("limiterKey buckets IPv6 clients by their /64 and leaves IPv4 addresses as they are", () => {
    expect(limiterKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(limiterKey("2001:0DB8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(limiterKey("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(limiterKey("::1")).toBe("::/64");
    expect(limiterKey("192.0.2.1")).toBe("192.0.2.1");
    expect(limiterKey("::ffff:192.0.2.1")).toBe("::ffff:192.0.2.1");
    expect(limiterKey(undefined)).toBe("unknown");
    expect(limiterKey("not an address")).toBe("not an address");
  });

  it("clientAddress takes the entry the trusted proxies wrote, only when it is an address", async () => {
    const app = new Hono();
    let trust: TrustProxy = true;
    app.get("/", (c) => c.text(String(clientAddress(c, trust))));
    const from = async (forwardedFor?: string) =>
      (await app.request("/", { headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor } }, { incoming: { socket: { remoteAddress: "172.16.0.1" } } })).text();
    expect(await from()).toBe("172.16.0.1");
    expect(await from("203.0.113.5")).toBe("203.0.113.5");
    expect(await from("spoofed, 2001:DB8:0::5")).toBe("2001:db8::5");
    expect(await from("[2001:db8::5]:8443")).toBe("2001:db8::5");
    expect(await from("203.0.113.5:1234")).toBe("203.0.113.5");
    expect(await from("10.0.0.1, not-an-address")).toBe("undefined");
    expect(await from("y".repeat(15_000))).toBe("undefined");
    trust = 2;
    expect(await from("10.0.0.1, 203.0.113.5")).toBe("10.0.0.1");
    trust = false;
    expect(await from("10.0.0.1")).toBe("172.16.0.1");
  });
});

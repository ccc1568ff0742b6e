import { describe, expect, it } from "vitest";
import { cidrContains, isIpAllowed, parseCidr, parseIp } from "./ip-allowlist.js";

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
});

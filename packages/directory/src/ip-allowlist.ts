/**
 * The per-directory IP allowlist: IPv4 and IPv6 addresses and CIDR blocks, matched in one
 * 128-bit space (an IPv4 address is its IPv4-mapped IPv6 form `::ffff:a.b.c.d`, RFC 4291
 * §2.5.5.2, so `10.0.0.0/8` matches a client seen as `::ffff:10.1.2.3` and the other way round).
 * Also: which address a request comes from, with `X-Forwarded-For` only behind trusted proxies.
 */
import type { Context } from "hono";

/** A parsed CIDR block in the 128-bit space. */
export interface CidrBlock {
  /** The network address (host bits cleared). */
  network: bigint;
  /** Prefix length, 0-128. */
  prefix: number;
}

const V4_MAPPED = 0xffffn << 32n;
const ALL_ONES = (1n << 128n) - 1n;

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

/**
 * An IPv6 address (RFC 4291 §2.2): eight groups of up to four hex digits, `::` for one run of
 * zero groups, and the last two groups optionally written as an IPv4 address (form 3,
 * `::ffff:127.0.0.1`, how Node reports an IPv4 client of a dual-stack socket).
 */
function parseIPv6(text: string): bigint | undefined {
  // The dotted part can only be the low-order 32 bits: after the last colon, and nowhere else.
  const lastColon = text.lastIndexOf(":");
  let hex = text;
  let low: bigint | undefined;
  if (text.includes(".")) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined || text.slice(0, lastColon + 1).includes(".")) return undefined;
    // `::a.b.c.d` keeps its `::`; `x:a.b.c.d` loses only the IPv4 part.
    hex = text.endsWith("::", lastColon + 1) ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
    low = v4;
  }
  const width = low === undefined ? 8 : 6;
  const halves = hex.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (side: string): string[] => (side === "" ? [] : side.split(":"));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  let groups: string[];
  if (halves.length === 2) {
    const missing = width - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...Array<string>(missing).fill("0"), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== width) return undefined;
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return low === undefined ? value : (value << 32n) | low;
}

/**
 * An IPv4 or IPv6 address as a 128-bit number (IPv4 as IPv4-mapped IPv6), or undefined when it
 * is not one. A zone index (`fe80::1%eth0`) is ignored.
 */
export function parseIp(text: string): bigint | undefined {
  const address = text.trim().replace(/%.*$/, "");
  if (address.includes(":")) return parseIPv6(address);
  const v4 = parseIPv4(address);
  return v4 === undefined ? undefined : V4_MAPPED | v4;
}

/** A CIDR block (`10.0.0.0/8`, `2001:db8::/32`) or a single address, or undefined when invalid. */
export function parseCidr(text: string): CidrBlock | undefined {
  const [address, bits, extra] = text.trim().split("/");
  if (address === undefined || extra !== undefined) return undefined;
  const value = parseIp(address);
  if (value === undefined) return undefined;
  const isV4 = !address.includes(":");
  const max = isV4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
  const length = bits === undefined ? max : Number(bits);
  if (length > max) return undefined;
  const prefix = isV4 ? 96 + length : length;
  const mask = prefix === 0 ? 0n : (ALL_ONES << BigInt(128 - prefix)) & ALL_ONES;
  return { network: value & mask, prefix };
}

/** Whether the address is in the block. */
export function cidrContains(block: CidrBlock, address: bigint): boolean {
  const mask = block.prefix === 0 ? 0n : (ALL_ONES << BigInt(128 - block.prefix)) & ALL_ONES;
  return (address & mask) === block.network;
}

/**
 * Whether `address` is allowed by `allowlist` (addresses and CIDR blocks). An empty list allows
 * everyone; otherwise an unknown or unparsable client address is refused, and an entry that does
 * not parse matches nothing.
 */
export function isIpAllowed(allowlist: readonly string[], address: string | undefined): boolean {
  if (allowlist.length === 0) return true;
  const client = address === undefined ? undefined : parseIp(address);
  if (client === undefined) return false;
  for (const entry of allowlist) {
    const block = parseCidr(entry);
    if (block !== undefined && cidrContains(block, client)) return true;
  }
  return false;
}

/**
 * Which proxies to believe about the client address:
 * - `false` (the default): the socket's peer address; `X-Forwarded-For` is ignored.
 * - `true` or `1`: one proxy in front: the last `X-Forwarded-For` entry (what that proxy saw).
 * - `n`: `n` proxies in front: the n-th entry from the end of `X-Forwarded-For`.
 * Entries further left are written by the client and cannot be trusted.
 */
export type TrustProxy = boolean | number;

/** The parts of Node's socket that @hono/node-server exposes on `c.env.incoming`. */
interface NodeEnv {
  incoming?: { socket?: { remoteAddress?: string } };
}

/**
 * The canonical text of an address (RFC 5952 §4 for IPv6: lower case, no leading zeros, the
 * longest run of two or more zero groups as `::`; an IPv4 address, or an IPv4-mapped IPv6 one
 * (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), dotted).
 * Undefined when the text is not an address. Every spelling of one address has one text, so a
 * limiter keyed by it holds one bucket per client, however the client writes its address.
 */
export function canonicalIp(text: string): string | undefined {
  const value = parseIp(text);
  if (value === undefined) return undefined;
  return !text.includes(":") || value >> 32n === 0xffffn ? dotted(value) : ipv6Text(value);
}

/** The RFC 5952 text of an IPv6 address given as a 128-bit number (see {@link canonicalIp}). */
function ipv6Text(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  // The longest run of zero groups (the first of equals), compressed only when two or longer.
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}

/**
 * The bucket of a client address in the limiters of failed authentications: the address itself
 * for IPv4 (and IPv4-mapped IPv6), its /64 network for IPv6 (`2001:db8:1:2::/64`). A single
 * IPv6 client usually holds a whole /64 (RFC 6177 §2 assigns end sites /48 to /64), so keyed by
 * the full address it could send each wrong token from a new address and never be limited.
 * Anything that is not an address is its own key (`unknown`).
 */
export function limiterKey(address: string | undefined): string {
  if (address === undefined) return "unknown";
  const value = parseIp(address);
  if (value === undefined || !address.includes(":") || value >> 32n === 0xffffn) return address;
  return `${ipv6Text((value >> 64n) << 64n)}/64`;
}

function dotted(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 0xffn)).join(".");
}

/**
 * The client address of a request: the socket's peer address from @hono/node-server
 * (`c.env.incoming.socket.remoteAddress`), or, when `trustProxy` says so, the entry of
 * `X-Forwarded-For` the trusted proxies wrote, in its canonical text (`canonicalIp`). Undefined
 * when unknown, and when that entry is not an address: the header's text never becomes a key of
 * a limiter or an audit row (a client behind a proxy that appends could send any text there).
 */
export function clientAddress(c: Context, trustProxy: TrustProxy = false): string | undefined {
  const peer = (c.env as NodeEnv | undefined)?.incoming?.socket?.remoteAddress;
  const hops = trustProxy === true ? 1 : trustProxy === false ? 0 : Math.max(0, Math.floor(trustProxy));
  if (hops === 0) return peer;
  const forwarded = (c.req.header("x-forwarded-for") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  // Fewer entries than trusted hops: the leftmost is the best there is (it was written by a trusted proxy).
  if (forwarded.length === 0) return peer;
  const entry = forwarded[Math.max(0, forwarded.length - hops)]!;
  // Bracketed or with a port (`[::1]:443`, `1.2.3.4:80`), as some proxies write them.
  const bare = /^\[([^\]]+)\](?::\d+)?$/.exec(entry)?.[1] ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(entry)?.[1] ?? entry;
  return bare.length > 64 ? undefined : canonicalIp(bare);
}

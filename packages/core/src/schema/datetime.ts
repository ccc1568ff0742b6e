/**
 * xsd:dateTime handling (RFC 7643 §2.3.5): parsing to an instant so that values written with
 * different offsets or fractional precision compare as the points in time they denote.
 */

function digits(s: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * The days of a month of the Gregorian calendar, as `Date.UTC` counts them: it reads years 0-99 as
 * 1900-1999, so their February follows those years (arithmetic: a Date per value was most of the
 * cost of parsing one).
 */
function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const y = year < 100 ? year + 1900 : year;
    return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Where {@link scan}'s value has its fraction's digits: `[fractionStart, fractionEnd)`, empty when it has none. */
let fractionStart = 0;
let fractionEnd = 0;

/**
 * Reads an xsd:dateTime: its instant in milliseconds since the epoch at whole seconds (offset
 * applied), with the fraction's digits left in {@link fractionStart}..{@link fractionEnd}; NaN
 * when `s` is not a valid dateTime. A value without offset is taken as UTC.
 */
function scan(s: string): number {
  const n = s.length;
  if (n < 19) return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  const t = s.charCodeAt(10);
  if (
    year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 ||
    s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (t !== 84 && t !== 116) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58
  ) {
    return NaN;
  }
  let i = 19;
  fractionStart = fractionEnd = i;
  if (i < n && s.charCodeAt(i) === 46) {
    i++;
    const start = i;
    while (i < n) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      i++;
    }
    if (i === start) return NaN;
    fractionStart = start;
    fractionEnd = i;
  }
  let offsetMinutes = 0;
  if (i < n) {
    const c = s.charCodeAt(i);
    if (c === 90 || c === 122) {
      i++;
    } else if (c === 43 || c === 45) {
      const oh = digits(s, i + 1, 2);
      const om = digits(s, i + 4, 2);
      if (oh < 0 || oh > 14 || om < 0 || om > 59 || s.charCodeAt(i + 3) !== 58) return NaN;
      offsetMinutes = (oh * 60 + om) * (c === 45 ? -1 : 1);
      i += 6;
    } else return NaN;
  }
  if (i !== n) return NaN;
  if (day > daysInMonth(year, month)) return NaN;
  const base = Date.UTC(year, month - 1, day, hour, minute, second);
  const fixed = year < 100 ? new Date(base).setUTCFullYear(year) : base;
  return fixed - offsetMinutes * 60000;
}

/**
 * Parses an xsd:dateTime (`2011-05-13T04:42:34.1234567+02:00`) into milliseconds since the epoch,
 * keeping sub-millisecond digits as a fraction (up to 15 digits; the number rounds past about a
 * microsecond at today's instants: {@link splitDateTime} compares exactly). A value without
 * offset is taken as UTC. Returns NaN when `value` is not a valid dateTime.
 */
export function parseDateTime(value: string): number {
  const whole = scan(value);
  if (fractionEnd === fractionStart || whole !== whole) return whole;
  let fraction = 0;
  let scale = 1;
  for (let i = fractionStart; i < fractionEnd && scale < 1e15; i++) {
    fraction = fraction * 10 + (value.charCodeAt(i) - 48);
    scale *= 10;
  }
  return whole + (fraction / scale) * 1000;
}

/** True when `value` is a valid xsd:dateTime string (RFC 7643 §2.3.5). */
export function isDateTime(value: unknown): value is string {
  return typeof value === "string" && !Number.isNaN(parseDateTime(value));
}

/**
 * An xsd:dateTime split for exact comparison (RFC 7643 §2.3.5): `ms`, its instant in whole
 * milliseconds since the epoch (the fraction cut after three digits), and `sub`, the fraction's
 * digits past the millisecond without trailing zeros. {@link parseDateTime}'s number rounds past
 * about a microsecond at today's instants; two splits compare exactly by `ms`, then by `sub` as
 * text (digit strings without trailing zeros order as the fractions they write). Undefined when
 * `value` is not a valid dateTime.
 */
export function splitDateTime(value: string): { ms: number; sub: string } | undefined {
  const whole = scan(value);
  if (whole !== whole) return undefined;
  const end = subMillisEnd(value);
  return { ms: whole + fractionMillis(value), sub: end > fractionStart + 3 ? value.slice(fractionStart + 3, end) : "" };
}

/** The whole milliseconds of the fraction {@link scan} just read: its first three digits. */
function fractionMillis(value: string): number {
  let ms = 0;
  for (let i = fractionStart; i < fractionStart + 3; i++) ms = ms * 10 + (i < fractionEnd ? value.charCodeAt(i) - 48 : 0);
  return ms;
}

/** Where the digits past the millisecond of the fraction {@link scan} just read end, without trailing zeros. */
function subMillisEnd(value: string): number {
  let end = fractionEnd;
  while (end > fractionStart + 3 && value.charCodeAt(end - 1) === 48) end--;
  return end;
}

/**
 * Compares an xsd:dateTime text with a {@link splitDateTime} result exactly, without allocating:
 * negative, zero or positive; NaN when `value` is not a valid dateTime.
 */
export function compareDateTime(value: string, to: { ms: number; sub: string }): number {
  const whole = scan(value);
  if (whole !== whole) return NaN;
  const ms = whole + fractionMillis(value);
  if (ms !== to.ms) return ms - to.ms;
  const end = subMillisEnd(value);
  const from = fractionStart + 3;
  const length = end > from ? end - from : 0;
  const sub = to.sub;
  for (let k = 0; k < length && k < sub.length; k++) {
    const d = value.charCodeAt(from + k) - sub.charCodeAt(k);
    if (d !== 0) return d;
  }
  return length - sub.length;
}

/** Compares two {@link splitDateTime} results: negative, zero or positive. */
export function compareSplitDateTimes(a: { ms: number; sub: string }, b: { ms: number; sub: string }): number {
  if (a.ms !== b.ms) return a.ms - b.ms;
  return a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : 0;
}

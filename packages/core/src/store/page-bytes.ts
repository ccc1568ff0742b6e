/**
 * Page byte budgets (`StoreQuery.maxBytes`, `ScimServerConfig.paging.maxPageBytes`): how many of
 * a page's resources a list response takes before its JSON grows past the budget. RFC 7644
 * §3.4.2.4 lets a service provider return fewer resources than `count`; clients page on from
 * `startIndex + itemsPerPage` or the `nextCursor`.
 */

/**
 * The UTF-8 size of a string, counted without encoding it: two bytes per code unit below U+0800,
 * three above, four per surrogate pair (two units of two). A lone surrogate counts two, where an
 * encoder writes U+FFFD (three); every string the server keeps has none.
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) bytes += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return bytes;
}

/** What a group member weighs in a response (value, display, type and `$ref` URL), estimated. */
export const MEMBER_JSON_BYTES = 200;

/**
 * The size of a resource in a response, estimated: its attributes as JSON (UTF-16 code units) plus
 * {@link MEMBER_JSON_BYTES} per member.
 */
export function estimateResourceBytes(attributes: object, members = 0): number {
  return JSON.stringify(attributes).length + members * MEMBER_JSON_BYTES;
}

/**
 * A page filled within a budget, one resource at a time: a resource goes in while the page with
 * it stays within `maxBytes`, and always the first (one resource larger than the budget is a page
 * of its own, or paging would never get past it). Without a budget, every resource goes in.
 */
export class PageBudget {
  private used = 0;
  private taken = 0;

  constructor(private readonly maxBytes: number | undefined) {}

  /** Whether a resource of `size` bytes goes in (then it is counted). */
  admit(size: number): boolean {
    if (this.maxBytes !== undefined && this.taken > 0 && this.used + size > this.maxBytes) return false;
    this.used += size;
    this.taken++;
    return true;
  }
}

/** How many of `sizes`, in order, a page of at most `maxBytes` takes (see {@link PageBudget}). */
export function takeWithinBudget(sizes: Iterable<number>, maxBytes: number | undefined): number {
  const budget = new PageBudget(maxBytes);
  let taken = 0;
  for (const size of sizes) {
    if (!budget.admit(size)) break;
    taken++;
  }
  return taken;
}

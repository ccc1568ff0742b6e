/**
 * Page byte budgets (`StoreQuery.maxBytes`, `ScimServerConfig.paging.maxPageBytes`): how many of
 * a page's resources a list response takes before its JSON grows past the budget. RFC 7644
 * §3.4.2.4 lets a service provider return fewer resources than `count`; clients page on from
 * `startIndex + itemsPerPage` or the `nextCursor`.
 */

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
 * How many of `sizes`, in order, a page of at most `maxBytes` takes: each resource while the page
 * with it stays within the budget, and always the first (one resource larger than the budget is a
 * page of its own, or paging would never get past it). Without a budget, all of them.
 */
export function takeWithinBudget(sizes: Iterable<number>, maxBytes: number | undefined): number {
  let taken = 0;
  let used = 0;
  for (const size of sizes) {
    if (maxBytes !== undefined && taken > 0 && used + size > maxBytes) break;
    used += size;
    taken++;
  }
  return taken;
}

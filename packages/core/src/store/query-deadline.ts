/**
 * Query time limits (`StoreQuery.deadline`, `ScimServerConfig.maxQueryMs`): a list whose filter
 * or sort the store cannot answer from an index reads every resource of the tenant, and on a large
 * tenant that takes long enough to hold up everyone else (an embedded database such as SQLite
 * runs on the server's own thread). Past its deadline a query gives up with 400 `tooMany`, which
 * RFC 7644 §3.12 defines for a filter that "yields many more results than the server is willing
 * to calculate or process".
 */
import { ScimError } from "../errors/scim-error.js";

/**
 * The error of a query that ran past its deadline: 400 `tooMany` (RFC 7644 §3.12). Stores throw
 * it (or their own driver's timeout mapped to it) when they give up on `StoreQuery.deadline`.
 */
export function queryTimedOut(): ScimError {
  return new ScimError(
    400,
    "tooMany",
    "The query takes longer than this server allows: narrow the filter with an attribute the server indexes (userName, externalId, emails.value or displayName with eq), or leave out the sort",
  );
}

/** Throws {@link queryTimedOut} once `deadline` (milliseconds since the epoch, as `Date.now()`) has passed. */
export function checkDeadline(deadline: number | undefined): void {
  if (deadline !== undefined && Date.now() > deadline) throw queryTimedOut();
}

/**
 * The SearchRequest message (RFC 7644 §3.4.3), with the RFC 9865 `cursor` parameter.
 */
import { badRequest } from "../errors/scim-error.js";
import { checkSchemas, messageFields, optionalInteger, optionalString, optionalStringList } from "./fields.js";
import { SEARCH_REQUEST_SCHEMA } from "./urns.js";

/** A validated SearchRequest (RFC 7644 §3.4.3). */
export interface SearchRequest {
  attributes?: string[];
  excludedAttributes?: string[];
  filter?: string;
  sortBy?: string;
  sortOrder?: "ascending" | "descending";
  /** 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4). */
  startIndex?: number;
  /** Negative values are read as 0 (RFC 7644 §3.4.2.4). */
  count?: number;
  /** RFC 9865 cursor; the empty string asks for the first page. */
  cursor?: string;
}

/**
 * Validates a SearchRequest body (RFC 7644 §3.4.3). Keys match case-insensitively; wrong types
 * are a 400. Out-of-range paging values are normalised as RFC 7644 §3.4.2.4 says.
 */
export function parseSearchRequest(body: unknown): SearchRequest {
  const f = messageFields(body, "SearchRequest");
  checkSchemas(f, SEARCH_REQUEST_SCHEMA, "SearchRequest");
  const out: SearchRequest = {};
  const attributes = optionalStringList(f, "attributes", "attributes");
  if (attributes) out.attributes = attributes;
  const excluded = optionalStringList(f, "excludedAttributes", "excludedAttributes");
  if (excluded) out.excludedAttributes = excluded;
  const filter = optionalString(f, "filter", "filter");
  if (filter !== undefined) out.filter = filter;
  const sortBy = optionalString(f, "sortBy", "sortBy");
  if (sortBy !== undefined) out.sortBy = sortBy;
  const sortOrder = optionalString(f, "sortOrder", "sortOrder");
  if (sortOrder !== undefined) {
    const l = sortOrder.toLowerCase();
    if (l !== "ascending" && l !== "descending") throw badRequest("invalidValue", "'sortOrder' must be \"ascending\" or \"descending\"");
    out.sortOrder = l;
  }
  const startIndex = optionalInteger(f, "startIndex", "startIndex");
  if (startIndex !== undefined) out.startIndex = Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, startIndex));
  const count = optionalInteger(f, "count", "count");
  if (count !== undefined) out.count = Math.max(0, count);
  const cursor = optionalString(f, "cursor", "cursor");
  if (cursor !== undefined) out.cursor = cursor;
  return out;
}

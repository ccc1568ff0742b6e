/**
 * The ListResponse message (RFC 7644 §3.4.2), with RFC 9865 cursor fields.
 */
import { LIST_RESPONSE_SCHEMA } from "./urns.js";

/** A ListResponse body (RFC 7644 §3.4.2). Okta needs the numbers as JSON numbers and `Resources` always present. */
export interface ListResponse<R = Record<string, unknown>> {
  schemas: [typeof LIST_RESPONSE_SCHEMA];
  totalResults: number;
  startIndex?: number;
  itemsPerPage: number;
  /** RFC 9865: the cursor of the next page, absent on the last page. */
  nextCursor?: string;
  /** RFC 9865: the cursor of the previous page. */
  previousCursor?: string;
  Resources: R[];
}

/** Inputs of {@link listResponse}. */
export interface ListResponseInit<R> {
  resources: readonly R[];
  /** Total number of matching resources. @default resources.length */
  totalResults?: number;
  /** 1-based index of the first resource (index paging). Omitted for cursor paging when undefined. */
  startIndex?: number;
  nextCursor?: string;
  previousCursor?: string;
}

/** Builds a ListResponse (RFC 7644 §3.4.2): `itemsPerPage` is the number of resources on this page. */
export function listResponse<R>(init: ListResponseInit<R>): ListResponse<R> {
  const body: ListResponse<R> = {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults: init.totalResults ?? init.resources.length,
    itemsPerPage: init.resources.length,
    Resources: [...init.resources],
  };
  if (init.startIndex !== undefined) body.startIndex = init.startIndex;
  if (init.nextCursor !== undefined) body.nextCursor = init.nextCursor;
  if (init.previousCursor !== undefined) body.previousCursor = init.previousCursor;
  // Key order as the RFC's examples show it.
  return {
    schemas: body.schemas,
    totalResults: body.totalResults,
    ...(body.startIndex !== undefined ? { startIndex: body.startIndex } : {}),
    itemsPerPage: body.itemsPerPage,
    ...(body.nextCursor !== undefined ? { nextCursor: body.nextCursor } : {}),
    ...(body.previousCursor !== undefined ? { previousCursor: body.previousCursor } : {}),
    Resources: body.Resources,
  };
}

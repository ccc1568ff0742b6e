/**
 * scim-core: the pure SCIM 2.0 protocol engine (RFC 7643, RFC 7644).
 * @packageDocumentation
 */
export * from "./errors/scim-error.js";
export * from "./schema/types.js";
export * from "./schema/core-schemas.js";
export * from "./schema/resource-types.js";
export * from "./schema/datetime.js";
export {
  createSchemaRegistry,
  defaultRegistry,
  membersAttributeOf,
  type AttributeInfo,
  type CompiledSchema,
  type CompiledResourceType,
  type ResolvedAttribute,
  type ResourceTypeRef,
  type SchemaRegistry,
  type SchemaRegistryOptions,
} from "./schema/registry.js";
export * from "./filter/ast.js";
export { booleanFilterValue, numericFilterValue, parseFilter, type ParseFilterOptions } from "./filter/parser.js";
export { printFilter, printAttrPath } from "./filter/print.js";
export { compileFilter, isPresentValue, type CompileFilterOptions, type FilterPredicate } from "./filter/compile.js";
export { validateResource, isBlank, isObject, type ValidateResourceOptions, type StrictnessOptions } from "./schema/validate.js";
export { isForbiddenKey } from "./schema/forbidden-keys.js";
export { parsePatchPath, type PatchPath } from "./path/patch-path.js";
export { applyPatch, type ApplyPatchOptions, type MemberChange, type MemberValue, type PatchOperation, type PatchResult } from "./patch/apply-patch.js";
export { projectResource, type ProjectionOptions } from "./list/project.js";
export * from "./messages/urns.js";
export { parseJsonBody, MAX_JSON_DEPTH, type ParseJsonBodyOptions } from "./messages/json-body.js";
export { listResponse, type ListResponse, type ListResponseInit } from "./messages/list-response.js";
export { parseSearchRequest, type SearchRequest } from "./messages/search-request.js";
export { parsePatchRequest } from "./messages/patch-request.js";
export {
  parseBulkRequest,
  bulkResponse,
  bulkIdReferences,
  resolveBulkIds,
  type BulkLimits,
  type BulkMethod,
  type BulkOperation,
  type BulkOperationResult,
  type BulkRequest,
  type BulkResponse,
} from "./messages/bulk.js";
export type {
  GroupRef,
  MemberCandidate,
  ScimStore,
  StoreCapabilities,
  StoreContext,
  StoredResource,
  StoreQuery,
  StoreQueryResult,
  StoreSort,
  StoreWrite,
  TransactionOptions,
  UniqueKey,
  WriteCondition,
} from "./store/types.js";
export { createScimServer, bearerAuth, bearerToken, timingSafeEqual } from "./server/create-scim-server.js";
export { adapterRequest, connectionSignal, hasDuplicateHost, invalidHost, isValidHost, originForm, refusesHost, requestScheme, type AdapterRequestInit, type ConnectionRequest, type ConnectionResponse } from "./server/adapter-request.js";
export { hostParsedBody, readNodeBody, writeNodeResponse, type NodeAnswerResponse, type NodeBodyRequest, type NodeBodyResponse, type ReadNodeBodyOptions } from "./server/node-body.js";
export { nodeRequestHeaders, type NodeHeadersRequest } from "./server/node-headers.js";
export { answerClientErrors, clientErrorFor, type ClientError, type ClientErrorServer, type ClientErrorSocket } from "./server/node-client-errors.js";
export { abortStalled, closeStalledResponses, DEFAULT_STALLED_MS, writingMark, writingProgress, type StalledResponsesServer, type WritingSocket } from "./server/node-stalled-responses.js";
export type {
  OperationContext,
  Principal,
  ScimEvent,
  ScimEventSubscriber,
  ScimEventType,
  ScimHeaders,
  ScimHooks,
  ScimRequest,
  ScimResourceBody,
  ScimResponse,
  ScimServer,
  ScimServerConfig,
} from "./server/types.js";
export { errorResponse, SCIM_CONTENT_TYPE } from "./server/http.js";
export { timeOrderedUuid } from "./ids/time-ordered-uuid.js";
export { randomHex } from "./ids/random-pool.js";
export { estimateResourceBytes, takeWithinBudget, utf8Length, MEMBER_JSON_BYTES } from "./store/page-bytes.js";
export { queryTimedOut, checkDeadline } from "./store/query-deadline.js";
export { memoryStore, type MemoryStore, type MemoryStoreOptions, type MemorySeed } from "./store/memory-store.js";

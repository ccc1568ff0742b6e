/**
 * scim-directory: multi-tenant directory sync on scim-core and scim-store-sql.
 * @packageDocumentation
 */
export { adminApi, errorBody, type AdminApiOptions, type AdminEnv, type AdminKeyHashSource } from "./admin-api.js";
export { ADMIN_KEY_PREFIX, ADMIN_KEY_SETTING, createAdminKey, generateAdminKey, hasAdminKey, hashAdminKey, readAdminKeyHash, verifyAdminKey } from "./admin-keys.js";
export {
  auditPath,
  AuditLog,
  redact,
  redactText,
  redactPathname,
  redactQuery,
  secretMentionOf,
  REDACTED,
  scimAuditMiddleware,
  type AuditEntry,
  type AuditKind,
  type AuditLogOptions,
  type AuditPage,
  type AuditRecord,
  type ScimActivity,
  type ScimAuditEnv,
  type ScimAuditOptions,
} from "./audit.js";
export {
  createDirectoryClient,
  DirectoryApiError,
  isDirectoryApiError,
  type DirectoryClient,
  type DirectoryClientOptions,
  type ListAuditQuery,
  type ListDirectoriesQuery,
  type ListEventsQuery,
  type ListGroupsQuery,
  type ListUsersQuery,
} from "./client.js";
export { directoryApp, type DirectoryAppOptions } from "./directory-app.js";
export { composeHooks, createDirectorySync, directoryIdOf, SCIM_MOUNT, type DirectorySync, type DirectorySyncOptions } from "./directory-sync.js";
export { createDirectorySchema, DirectoryService, updateDirectorySchema, type CreateDirectoryInput, type Directory, type UpdateDirectoryInput } from "./directories.js";
export { DirectoryError, isDirectoryError } from "./errors.js";
export { canonicalIp, cidrContains, clientAddress, isIpAllowed, parseCidr, parseIp, type CidrBlock, type TrustProxy } from "./ip-allowlist.js";
export { LinkService, primaryEmail, type UserLink, type UserLinkedData, type UserUnlinkedData } from "./links.js";
export { directoryMigrations, migrateDirectoryTables } from "./migrations.js";
export {
  attributeReader,
  DirectoryDataService,
  type AttributeReader,
  type DirectoryCounts,
  type DirectoryGroup,
  type DirectoryGroupRef,
  type DirectoryUser,
  type DirectoryUserState,
  type ListGroupsOptions,
  type ListUsersOptions,
  type Page,
} from "./normalized.js";
export {
  adminOpenApiDocument,
  adminOperations,
  type ApiOperation,
  type AuditEntryView,
  type AuditPageView,
  type DirectoryGroupView,
  type DirectoryPage,
  type DirectoryStatus,
  type DirectoryUserView,
  type DirectoryView,
  type DirectoryDeletedData,
  type DirectoryUpdatedData,
  type DirectoryEvent,
  type DirectoryEventPage,
  type ErrorResponse,
  type EventCursor,
  type EventMember,
  type EventPage,
  type EventView,
  type GroupPage,
  type IssuedTokenView,
  type OpenApiDocumentOptions,
  type RoleMappingView,
  type TokenView,
  type UserPage,
} from "./openapi.js";
export { provisioningHooks, type DeprovisionEvent, type DeprovisionReason, type DirectoryHooks, type DirectoryPrincipal } from "./provisioning.js";
export { createRoleMappingSchema, RoleService, updateRoleMappingSchema, type CreateRoleMappingInput, type RoleMapping, type RolesChangedData, type UpdateRoleMappingInput } from "./roles.js";
export { ThreadTurns } from "./thread-turns.js";
export { ANSWER_BYTES_PER_REQUEST, DEFAULT_SEARCH_TIME_BUDGET, DEFAULT_CHANGE_BUDGET, RateLimiter, type RateLimitConfig, type RateLimitDecision, type RateLimiterOptions } from "./rate-limit.js";
export { directoryScimRoutes, GuardSettingsCache, type GuardSettings, type ScimRoutesOptions } from "./scim-routes.js";
export { DIRECTORY_TYPES, directorySettingsSchema, type DirectorySettings, type DirectoryType } from "./settings.js";
export type { DirectoryDatabase } from "./tables.js";
export { hashToken, TOKEN_PREFIX, TokenService, type IssuedToken, type TokenInfo } from "./tokens.js";

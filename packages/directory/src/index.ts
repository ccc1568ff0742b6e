/**
 * scim-directory: multi-tenant directory sync on scim-core and scim-store-sql.
 * @packageDocumentation
 */
export { createDirectorySync, directoryIdOf, SCIM_MOUNT, type DirectorySync, type DirectorySyncOptions } from "./directory-sync.js";
export { createDirectorySchema, DirectoryService, updateDirectorySchema, type CreateDirectoryInput, type Directory, type UpdateDirectoryInput } from "./directories.js";
export { DirectoryError, isDirectoryError } from "./errors.js";
export { directoryMigrations, migrateDirectoryTables } from "./migrations.js";
export { provisioningHooks, type DeprovisionEvent, type DeprovisionReason, type DirectoryHooks, type DirectoryPrincipal } from "./provisioning.js";
export { directoryScimRoutes } from "./scim-routes.js";
export { DIRECTORY_TYPES, directorySettingsSchema, type DirectorySettings, type DirectoryType } from "./settings.js";
export type { DirectoryDatabase } from "./tables.js";
export { hashToken, TOKEN_PREFIX, TokenService, type IssuedToken, type TokenInfo } from "./tokens.js";

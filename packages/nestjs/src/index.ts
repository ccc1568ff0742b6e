/**
 * scim-nestjs: serve SCIM 2.0 (RFC 7643/7644) from a NestJS application (Express platform) with
 * scim-core. A thin adapter: every protocol rule lives in scim-core.
 * @packageDocumentation
 */
export { ScimModule, type ScimModuleAsyncOptions, type ScimModuleOptions } from "./scim.module.js";
export { SCIM_OPTIONS, SCIM_SERVER } from "./tokens.js";

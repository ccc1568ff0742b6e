/**
 * Injection tokens of scim-nestjs. `Symbol.for`, so that two copies of the package in one
 * application still agree on them.
 */

/** Injects the `ScimServer` (RFC 7644) that `ScimModule` serves: `@Inject(SCIM_SERVER) scim: ScimServer`. */
export const SCIM_SERVER: unique symbol = Symbol.for("scim-nestjs.SCIM_SERVER");

/** Injects the resolved `ScimModuleOptions` given to `forRoot` / returned by `forRootAsync`'s factory. */
export const SCIM_OPTIONS: unique symbol = Symbol.for("scim-nestjs.SCIM_OPTIONS");

/**
 * Provisioning semantics, built on the server's lifecycle hooks (scim-core README, "Hooks
 * and events"): the host's deprovisioning hooks run before a deactivating or deleting write and
 * before the SCIM response (a failing hook is a 503 the IdP retries, and nothing is written);
 * hard delete purges the row after a soft delete when the directory says so.
 */
import { applyPatch, isScimError, ScimError, type OperationContext, type PatchOperation, type ScimHooks, type ScimResourceBody, type SchemaRegistry } from "scim-core";
import type { SqlScimStore } from "scim-store-sql";
import type { Directory } from "./directories.js";

/** Why a user is being deprovisioned. */
export type DeprovisionReason = "deactivated" | "deleted";

/** What a deprovisioning hook receives. */
export interface DeprovisionEvent {
  directory: Directory;
  /** The user as it is before the change (SCIM wire form). */
  user: ScimResourceBody;
  reason: DeprovisionReason;
}

/** Hooks of the host application. */
export interface DirectoryHooks {
  /**
   * Runs before a user is deactivated (`active: false`) or deleted, before anything is written;
   * for example, revoke the user's sessions. Throwing makes the SCIM request fail with 503, so the
   * IdP retries it later: make it idempotent.
   */
  onDeprovision?: (event: DeprovisionEvent) => void | Promise<void>;
}

/** The principal of a directory's SCIM request. */
export interface DirectoryPrincipal {
  tenant: string;
  tokenId: string;
  directory: Directory;
  [key: string]: unknown;
}

function directoryOf(ctx: OperationContext): Directory {
  return (ctx.principal as DirectoryPrincipal).directory;
}

/** The `Retry-After` of the 503 that a failing deprovisioning hook gives. */
const DEPROVISION_RETRY_AFTER_SECONDS = 5;

async function deprovision(hooks: DirectoryHooks, ctx: OperationContext, user: ScimResourceBody, reason: DeprovisionReason): Promise<void> {
  if (!hooks.onDeprovision || ctx.resourceType !== "User") return;
  try {
    await hooks.onDeprovision({ directory: directoryOf(ctx), user, reason });
  } catch (error) {
    // A refusal the host expressed as a SCIM error stands; anything else is retryable.
    if (isScimError(error)) throw error;
    throw new ScimError(503, undefined, "the application could not deprovision the user yet; retry later", { retryAfterSeconds: DEPROVISION_RETRY_AFTER_SECONDS });
  }
}

const isActive = (resource: Record<string, unknown>): boolean => resource.active !== false;

/**
 * A user written without `active` is active (the normalized state says so): it is stored with
 * `active: true`, so that SCIM shows it and `filter=active eq true` finds it as well.
 */
function withActive(ctx: OperationContext, resource: Record<string, unknown>): Record<string, unknown> | undefined {
  return ctx.resourceType === "User" && resource.active === undefined ? { ...resource, active: true } : undefined;
}

/**
 * Whether a patch may change `active`: an operation without a path (its value names attributes),
 * or one whose path mentions it (`active`, its schema URN form).
 */
function mayTouchActive(operations: readonly PatchOperation[]): boolean {
  return operations.some((op) => typeof op.path !== "string" || /active/i.test(op.path));
}

/** The server hooks that implement the directory's provisioning semantics. */
export function provisioningHooks(hooks: DirectoryHooks, registry: SchemaRegistry): ScimHooks {
  /** The users (as the before-hooks saw them) for which onDeprovision ran: see `revalidate`. */
  const deprovisioned = new WeakSet<object>();
  return {
    beforeCreate(ctx, resource) {
      return withActive(ctx, resource);
    },
    async beforeReplace(ctx, next, current) {
      if (isActive(current) && next.active === false) {
        await deprovision(hooks, ctx, current, "deactivated");
        deprovisioned.add(current);
      }
      return withActive(ctx, next);
    },
    async beforePatch(ctx, operations: PatchOperation[], current) {
      if (ctx.resourceType !== "User") return;
      const deprovisions = isActive(current) && hooks.onDeprovision !== undefined;
      if (!deprovisions && !mayTouchActive(operations)) return;
      // What the patch would make of the user: the engine is pure, so this writes nothing.
      const { id: _id, meta: _meta, groups: _groups, ...attributes } = current;
      let after: Record<string, unknown>;
      try {
        after = applyPatch(attributes, operations, { resourceType: "User", registry }).resource as Record<string, unknown>;
      } catch (error) {
        // An invalid patch is answered by the server's own validation, which follows.
        if (!isScimError(error) || error.status === 503) throw error;
        return;
      }
      if (deprovisions && after.active === false) {
        await deprovision(hooks, ctx, current, "deactivated");
        deprovisioned.add(current);
      }
      // A patch that removes `active` (`remove active`, `replace` with null) leaves the user
      // active, as a create or a replace without it does: stored with `active: true`.
      if (after.active === undefined) return [...operations, { op: "replace", path: "active", value: true }];
    },
    async beforeDelete(ctx, current) {
      await deprovision(hooks, ctx, current, "deleted");
    },
    // The hooks above decide on the user as they saw it, before the write's transaction. When
    // other requests wrote the user in between, the request starts over (the hook runs again on
    // the latest version) if `active` differs now (a deactivation on top of a reactivation
    // would go without the hook), or if the hook ran for it: `active` may have gone false and
    // back to true meanwhile, and the sessions of that reactivation were never revoked.
    revalidate(ctx, seen, latest) {
      if (ctx.resourceType !== "User" || hooks.onDeprovision === undefined) return false;
      return isActive(seen) !== isActive(latest) || deprovisioned.has(seen);
    },
    async afterDelete(ctx, previous) {
      if (directoryOf(ctx).settings.deleteMode !== "hard") return;
      // Inside the unit of work: the soft-deleted row goes with the delete, or neither does.
      await (ctx.store as SqlScimStore).purge(ctx.storeContext, ctx.resourceType, previous.id);
    },
  };
}

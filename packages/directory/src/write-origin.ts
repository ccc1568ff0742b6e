/**
 * Whom the running write is for: the administrator (a directory's deletion, the roles of a
 * mapping's change), or the IdP holding a token of a directory (a SCIM request). The store's
 * tenant guard lets the administrator's writes through while a directory is inactive, and refuses
 * the IdP's writes to its own directory once that directory is inactive or the token revoked,
 * also when the request authenticated before (its writes to other directories, such as the links
 * of a deleted user, are not the token's: they are not refused).
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** The origin of the writes made inside {@link asAdministrator} or {@link asTokenHolder}. */
export type WriteOrigin = { administrator: true } | { directoryId: string; tokenHash: string };

const origin = new AsyncLocalStorage<WriteOrigin>();

/** Runs `work` as the administrator's: its writes go on while the directory is inactive. */
export function asAdministrator<T>(work: () => Promise<T>): Promise<T> {
  return origin.run({ administrator: true }, work);
}

/** Runs `work` (a SCIM request to `directoryId`) for the holder of the token whose hash is `tokenHash`. */
export function asTokenHolder<T>(directoryId: string, tokenHash: string, work: () => Promise<T>): Promise<T> {
  return origin.run({ directoryId, tokenHash }, work);
}

/** The origin of the caller's writes, if it runs inside {@link asAdministrator} or {@link asTokenHolder}. */
export function writeOrigin(): WriteOrigin | undefined {
  return origin.getStore();
}

/**
 * Whether the running write is the administrator's (a directory's deletion, the roles of a
 * mapping's change), not its IdP's: the store's tenant guard refuses an IdP's writes once the
 * directory is inactive, and lets the administrator's through.
 */
import { AsyncLocalStorage } from "node:async_hooks";

const administering = new AsyncLocalStorage<true>();

/** Runs `work` as the administrator's: its writes go on while the directory is inactive. */
export function asAdministrator<T>(work: () => Promise<T>): Promise<T> {
  return administering.run(true, work);
}

/** Whether the caller runs inside {@link asAdministrator}. */
export function isAdministering(): boolean {
  return administering.getStore() === true;
}

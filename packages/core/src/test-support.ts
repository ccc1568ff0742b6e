/** Helpers shared by this package's tests (not exported from the package). */
import { isScimError, type ScimError } from "./errors/scim-error.js";

/** Runs `f` and returns the ScimError it throws; fails the test if it throws nothing or something else. */
export function scimError(f: () => unknown): ScimError {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  if (!isScimError(thrown)) throw new Error(`expected a ScimError, got ${thrown === undefined ? "no exception" : String(thrown)}`);
  return thrown;
}

/**
 * The SCIM endpoints of every directory as a Hono app: `/scim/v2/{directoryId}/...`, served by
 * scim-hono over the service's SCIM server. Mount it on the root of the host app.
 */
import { Hono } from "hono";
import { scimHono } from "scim-hono";
import { SCIM_MOUNT, type DirectorySync } from "./directory-sync.js";

/** A Hono app serving `/scim/v2/:directoryId/*`. */
export function directoryScimRoutes(sync: DirectorySync): Hono {
  const app = new Hono();
  app.route(`${SCIM_MOUNT}/:directoryId`, scimHono(sync.scim));
  return app;
}

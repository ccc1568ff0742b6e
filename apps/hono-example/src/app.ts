/**
 * A SCIM 2.0 service provider (RFC 7644) on Hono: point Okta or Microsoft Entra ID at
 * `<origin>/scim/v2` with the bearer token. Users and groups live in the store you pass, usually
 * scim-store-sql on SQLite or PostgreSQL (see `database.ts` and `server.ts`).
 */
import { Hono } from "hono";
import { bearerAuth, createScimServer, type Principal, type ScimEventSubscriber, type ScimStore } from "scim-core";
import { scimHono } from "scim-hono";

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Where users and groups live: a SQL store from `openStore` (database.ts), or any `ScimStore`. */
  store: ScimStore;
  /** The bearer token of the identity provider. @default process.env.SCIM_TOKEN */
  token?: string;
  /** A second token for a second tenant (another customer's directory), if any. */
  otherTenantToken?: string;
  /**
   * Called for every change (user.created, group.user_added, ...), inside the change's
   * transaction: pass the SQL store's `store.outbox` so every change has its event. @default []
   */
  subscribers?: ScimEventSubscriber[];
  /**
   * The public SCIM base URL (`https://scim.example.com/scim/v2`) for `Location` and
   * `meta.location`, when a proxy or tunnel changes the scheme or host. @default process.env.PUBLIC_URL, else the request's
   */
  baseUrl?: string;
}

/** The Hono app: SCIM at `/scim/v2`, a health check at `/healthz`. */
export function createApp(options: AppOptions): Hono {
  const token = options.token ?? process.env.SCIM_TOKEN;
  if (!token) throw new Error("createApp needs a bearer token: pass { token } or set SCIM_TOKEN");
  const tokens: Record<string, Principal> = { [token]: { tenant: "default" } };
  if (options.otherTenantToken) tokens[options.otherTenantToken] = { tenant: "other" };
  const baseUrl = options.baseUrl ?? process.env.PUBLIC_URL;

  const scim = createScimServer({
    store: options.store,
    authenticate: bearerAuth(tokens),
    subscribers: options.subscribers ?? [],
    onError: (error) => console.error("SCIM request failed:", error),
    ...(baseUrl ? { baseUrl } : {}),
  });

  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.route("/scim/v2", scimHono(scim));
  return app;
}

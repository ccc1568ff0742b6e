/**
 * An Express app that is a SCIM 2.0 service provider (RFC 7644) at `/scim/v2`: scim-core's
 * server over the store you pass (scim-store-sql on SQLite or PostgreSQL: see `database.ts` and
 * `server.ts`), mounted with scim-express, plus a health check.
 */
import { randomBytes } from "node:crypto";
import express from "express";
import { bearerAuth, createScimServer, type Principal, type ScimEventSubscriber, type ScimStore } from "scim-core";
import { scimExpress } from "scim-express";

/** Options of {@link createApp}. */
export interface AppOptions {
  /** Where users and groups live: a SQL store from `openStore` (database.ts), or any `ScimStore`. */
  store: ScimStore;
  /** The bearer token of the `default` tenant. @default process.env.SCIM_TOKEN, else a random one ({@link generateToken}) */
  token?: string;
  /** More bearer tokens, each mapped to its own tenant (e.g. `{ [token2]: { tenant: "acme" } }`). @default {} */
  tokens?: Record<string, Principal>;
  /** The public URL of the SCIM root, for `meta.location` behind a proxy or tunnel. @default the URL of each request */
  baseUrl?: string;
  /**
   * Called for every change (user.created, group.user_added, ...), inside the change's
   * transaction: pass the SQL store's `store.outbox` so every change has its event. @default []
   */
  subscribers?: ScimEventSubscriber[];
}

/** A random bearer token: `scim_` and 32 random bytes in base64url. */
export function generateToken(): string {
  return `scim_${randomBytes(32).toString("base64url")}`;
}

/** Builds the app; `app.locals.scimToken` holds the token of the `default` tenant. */
export function createApp(options: AppOptions): express.Express {
  const token = options.token ?? (process.env.SCIM_TOKEN || generateToken());
  const scim = createScimServer({
    store: options.store,
    authenticate: bearerAuth({ ...options.tokens, [token]: { tenant: "default" } }),
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    subscribers: options.subscribers ?? [],
    onError: (error) => console.error("unexpected error in the SCIM server:", error),
  });

  const app = express();
  app.locals.scimToken = token;
  app.set("trust proxy", "loopback"); // honour X-Forwarded-Proto from a local tunnel or proxy
  // SCIM first: it reads its own request bodies, so SCIM errors stay SCIM errors.
  app.use("/scim/v2", scimExpress(scim));
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  // The rest of your app, with its own body parser.
  app.use(express.json());
  return app;
}

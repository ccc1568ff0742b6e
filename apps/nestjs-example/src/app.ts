import { NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import type { ScimEventSubscriber } from "scim-core";
import { AppModule, type AppStore } from "./app.module.js";

/** Options of {@link createApp}. */
export interface CreateAppOptions {
  /** Where users and groups live (closed when the application shuts down). */
  store: AppStore;
  /** Bearer token of the "acme" tenant. @default process.env.SCIM_TOKEN */
  token?: string;
  /** Bearer token of a second tenant, "globex" (optional). */
  otherTenantToken?: string;
  /** Event subscribers, e.g. `[store.outbox]`. @default [] */
  subscribers?: ScimEventSubscriber[];
  /**
   * The public SCIM base URL (`https://scim.example.com/scim/v2`) for `Location` and
   * `meta.location`, when a proxy or tunnel changes the scheme or host. @default process.env.PUBLIC_URL, else the request's
   */
  baseUrl?: string;
}

/**
 * Creates the NestJS application (not yet listening). The token defaults to `SCIM_TOKEN`.
 *
 * Nest's body parsers are off (`bodyParser: false`): the app has no other JSON endpoints, so
 * scim-nestjs reads every body itself, `application/json` included, with the SCIM errors and
 * limits (a malformed body is a SCIM 400 `invalidSyntax`, not Nest's own 400; the limit is the
 * server's 1 MB, not the parser's 100 kB). An app with other JSON endpoints keeps the parsers on
 * (see the scim-nestjs README).
 */
export async function createApp(options: CreateAppOptions): Promise<NestExpressApplication> {
  const token = options.token ?? process.env.SCIM_TOKEN;
  if (!token) throw new Error("createApp needs a bearer token: pass { token } or set SCIM_TOKEN");
  const module = AppModule.register({
    store: options.store,
    token,
    ...(options.otherTenantToken ? { otherTenantToken: options.otherTenantToken } : {}),
    ...(options.subscribers ? { subscribers: options.subscribers } : {}),
    ...((options.baseUrl ?? process.env.PUBLIC_URL) ? { baseUrl: (options.baseUrl ?? process.env.PUBLIC_URL)! } : {}),
  });
  return NestFactory.create<NestExpressApplication>(module, { logger: ["error", "warn"], bodyParser: false });
}

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
}

/**
 * Creates the NestJS application (not yet listening). The token defaults to `SCIM_TOKEN`.
 *
 * Nest's JSON body parser stays on for the rest of the app: it parses `application/json`
 * requests, so for those a malformed body or one over its 100 kB limit is answered by Nest, not
 * as a SCIM error. `application/scim+json` (what Okta and Entra send) is read by scim-nestjs.
 * Pass `{ bodyParser: false }` to NestFactory.create if the app has no other JSON endpoints.
 */
export async function createApp(options: CreateAppOptions): Promise<NestExpressApplication> {
  const token = options.token ?? process.env.SCIM_TOKEN;
  if (!token) throw new Error("createApp needs a bearer token: pass { token } or set SCIM_TOKEN");
  const module = AppModule.register({
    store: options.store,
    token,
    ...(options.otherTenantToken ? { otherTenantToken: options.otherTenantToken } : {}),
    ...(options.subscribers ? { subscribers: options.subscribers } : {}),
  });
  return NestFactory.create<NestExpressApplication>(module, { logger: ["error", "warn"] });
}

import { Controller, Get, Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from "@nestjs/common";
import { bearerAuth, type Principal, type ScimEventSubscriber, type ScimStore } from "scim-core";
import { ScimModule } from "scim-nestjs";

/** A store the application may close: scim-store-sql's `SqlScimStore`, or any `ScimStore`. */
export type AppStore = ScimStore & { close?: () => Promise<void> };

/** What the application needs to know: the store and the bearer tokens identity providers present. */
export interface AppOptions {
  /**
   * Where users and groups live: a SQL store from `openStore` (database.ts), or any `ScimStore`.
   * The application closes it when it shuts down (`app.close()`, or a signal with
   * `enableShutdownHooks()`).
   */
  store: AppStore;
  /** Bearer token of the "acme" tenant. */
  token: string;
  /** Bearer token of a second tenant, "globex" (optional). */
  otherTenantToken?: string;
  /**
   * The public SCIM base URL (`https://scim.example.com/scim/v2`) for `Location` and
   * `meta.location`, when a proxy or tunnel changes the scheme or host. @default the request's
   */
  baseUrl?: string;

  /**
   * Called for every change (user.created, group.user_added, ...), inside the change's
   * transaction: pass the SQL store's `store.outbox` so every change has its event. @default []
   */
  subscribers?: ScimEventSubscriber[];
}

/** Injects the application's store: `@Inject(APP_STORE) store: AppStore`. */
export const APP_STORE: unique symbol = Symbol.for("nestjs-example.APP_STORE");

/** A liveness probe for load balancers and orchestrators, outside the SCIM root. */
@Controller("healthz")
export class HealthController {
  @Get()
  health(): { status: string } {
    return { status: "ok" };
  }
}

/** Closes the store once the application has stopped serving. */
@Injectable()
export class StoreLifecycle implements OnApplicationShutdown {
  constructor(@Inject(APP_STORE) private readonly store: AppStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close?.();
  }
}

/**
 * The application: SCIM 2.0 at /scim/v2 (users and groups in the given store, one tenant per
 * token) and /healthz.
 */
@Module({})
export class AppModule {
  static register(options: AppOptions): DynamicModule {
    const tokens: Record<string, Principal> = { [options.token]: { tenant: "acme" } };
    if (options.otherTenantToken) tokens[options.otherTenantToken] = { tenant: "globex" };
    return {
      module: AppModule,
      imports: [
        ScimModule.forRoot({
          store: options.store,
          authenticate: bearerAuth(tokens),
          subscribers: options.subscribers ?? [],
          path: "scim/v2",
          ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
        }),
      ],
      controllers: [HealthController],
      providers: [{ provide: APP_STORE, useValue: options.store }, StoreLifecycle],
      exports: [APP_STORE],
    };
  }
}

import { Controller, Get, Module, type DynamicModule } from "@nestjs/common";
import { bearerAuth, memoryStore, type Principal } from "scim-core";
import { ScimModule } from "scim-nestjs";

/** What the application needs to know: the bearer tokens identity providers present. */
export interface AppOptions {
  /** Bearer token of the "acme" tenant. */
  token: string;
  /** Bearer token of a second tenant, "globex" (optional). */
  otherTenantToken?: string;
}

/** A liveness probe for load balancers and orchestrators, outside the SCIM root. */
@Controller("healthz")
export class HealthController {
  @Get()
  health(): { status: string } {
    return { status: "ok" };
  }
}

/**
 * The application: SCIM 2.0 at /scim/v2 (users and groups in memory, one tenant per token) and
 * /healthz. Replace `memoryStore()` with a durable store (scim-store-sql) for production.
 */
@Module({})
export class AppModule {
  static register(options: AppOptions): DynamicModule {
    const tokens: Record<string, Principal> = { [options.token]: { tenant: "acme" } };
    if (options.otherTenantToken) tokens[options.otherTenantToken] = { tenant: "globex" };
    return {
      module: AppModule,
      imports: [ScimModule.forRoot({ store: memoryStore(), authenticate: bearerAuth(tokens), path: "scim/v2" })],
      controllers: [HealthController],
    };
  }
}

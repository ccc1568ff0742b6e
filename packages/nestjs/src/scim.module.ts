/**
 * `ScimModule`: serves a scim-core SCIM 2.0 service provider (RFC 7644) from a NestJS application
 * on the Express platform, under a path of the application (`scim/v2` by default).
 */
import { Inject, Module, RequestMethod, type DynamicModule, type FactoryProvider, type MiddlewareConsumer, type ModuleMetadata, type NestModule, type OnModuleInit } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { badRequest, createScimServer, ScimConfigError, type ScimServer, type ScimServerConfig } from "scim-core";
import { scimMiddleware, WILDCARD } from "./scim-middleware.js";
import { SCIM_OPTIONS, SCIM_SERVER } from "./tokens.js";

/** Options of {@link ScimModule.forRoot}: the scim-core server configuration and where to serve it. */
export interface ScimModuleOptions extends ScimServerConfig {
  /**
   * The SCIM root below the application's global prefix (RFC 7644 §3.2: `/Users`, `/Groups`...
   * are served under it). Express path syntax, so `scim/v2/:tenant` works too.
   * @default "scim/v2"
   */
  path?: string;
}

/** Options of {@link ScimModule.forRootAsync}: a factory of the options, with its dependencies. */
export interface ScimModuleAsyncOptions extends Pick<ModuleMetadata, "imports"> {
  /** Tokens of the providers passed to `useFactory`, in order. */
  inject?: FactoryProvider["inject"];
  /** Returns the options (may be async, e.g. after reading secrets). */
  useFactory: (...args: any[]) => ScimModuleOptions | Promise<ScimModuleOptions>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const DEFAULT_PATH = "scim/v2";
const DEFAULT_LIMIT = 1048576;

function normalizePath(path: unknown): string {
  if (path === undefined) return DEFAULT_PATH;
  if (typeof path !== "string") throw new ScimConfigError('ScimModule: path must be a string such as "scim/v2"');
  return path.replace(/^\/+|\/+$/g, "");
}

/** Creates the server from the options, without `path` (the core does not know it). */
function serverFactory(options: ScimModuleOptions): ScimServer {
  const { path: _path, ...config } = options;
  return createScimServer(config);
}

/** The parts of an Express response the error handler writes. */
interface ScimErrorResponse {
  headersSent: boolean;
  status(code: number): ScimErrorResponse;
  set(headers: Record<string, string>): ScimErrorResponse;
  end(body: string): void;
}

/**
 * Whether a request path lies under the SCIM root `path` (Express syntax, `:param` segments
 * match any one segment), wherever a global prefix or a version puts it.
 */
function rootMatcher(path: string): RegExp {
  const segments = path.split("/").filter(Boolean).map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return new RegExp(`(?:^|/)${segments.join("/")}(?:/|$)`, "i");
}

const serverProvider = { provide: SCIM_SERVER, useFactory: serverFactory, inject: [SCIM_OPTIONS] };

/**
 * Serves every endpoint of RFC 7644 (`/ServiceProviderConfig`, `/Users`, `/Groups`, `/Bulk`...)
 * under `path` through a middleware, so Nest's guards, interceptors and serializer do not touch
 * SCIM traffic: authentication is the server's `authenticate`. Exports `SCIM_SERVER` and
 * `SCIM_OPTIONS` for injection elsewhere.
 *
 * ```ts
 * @Module({ imports: [ScimModule.forRoot({ store: memoryStore(), authenticate: bearerAuth({ [token]: { tenant: "acme" } }) })] })
 * export class AppModule {}
 * ```
 */
@Module({})
export class ScimModule implements NestModule, OnModuleInit {
  constructor(
    @Inject(SCIM_SERVER) private readonly server: ScimServer,
    @Inject(SCIM_OPTIONS) private readonly options: ScimModuleOptions,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** Serves a server built from `options` (checked at start-up: a mistake throws `ScimConfigError`). */
  static forRoot(options: ScimModuleOptions): DynamicModule {
    return {
      module: ScimModule,
      providers: [{ provide: SCIM_OPTIONS, useValue: options }, serverProvider],
      exports: [SCIM_SERVER, SCIM_OPTIONS],
    };
  }

  /** Like {@link forRoot}, with options from a factory that may inject providers (configuration, secrets). */
  static forRootAsync(options: ScimModuleAsyncOptions): DynamicModule {
    return {
      module: ScimModule,
      imports: options.imports ?? [],
      providers: [{ provide: SCIM_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }, serverProvider],
      exports: [SCIM_SERVER, SCIM_OPTIONS],
    };
  }

  /** Mounts the SCIM middleware on `path` (and everything below it), for every method. */
  configure(consumer: MiddlewareConsumer): void {
    const limit = Math.max(this.options.maxBodyBytes ?? DEFAULT_LIMIT, this.options.bulk?.maxPayloadSize ?? DEFAULT_LIMIT);
    consumer.apply(scimMiddleware(this.server, limit)).forRoutes({ path: `${normalizePath(this.options.path)}{/*${WILDCARD}}`, method: RequestMethod.ALL });
  }

  /**
   * A path under the SCIM root with a malformed percent-escape (`/Users/%ZZ`) fails Express's
   * decoding of the route's wildcard before the middleware runs; the error then reached Nest's
   * exception handler, which answers in Nest's shape. An Express error handler, registered after
   * the routes and before Nest's handlers (init hooks run between them), answers those requests
   * with the SCIM error the other adapters give (RFC 7644 §3.12: 400 invalidSyntax).
   */
  onModuleInit(): void {
    const app = this.adapterHost?.httpAdapter?.getInstance?.() as { use?: (handler: unknown) => unknown } | undefined;
    if (typeof app?.use !== "function") return;
    const underRoot = rootMatcher(normalizePath(this.options.path));
    app.use((error: unknown, req: { originalUrl?: string }, res: ScimErrorResponse, next: (error?: unknown) => void) => {
      const url = req.originalUrl ?? "";
      const path = url.split("?")[0]!;
      if ((error as { status?: unknown } | null)?.status !== 400 || !(error instanceof URIError || /decode param/i.test(String((error as Error).message))) || !underRoot.test(path) || res.headersSent) {
        next(error);
        return;
      }
      const body = badRequest("invalidSyntax", "the request path is not correctly percent-encoded").toJSON();
      res.status(400).set({ "Content-Type": "application/scim+json" });
      res.end(JSON.stringify(body));
    });
  }
}

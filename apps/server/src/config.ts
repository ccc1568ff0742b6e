/**
 * The server's configuration, from environment variables, validated with zod at start-up (a
 * mistake stops the server with a clear message, before it listens).
 */
import { z } from "zod";
import { StartupError } from "./errors.js";

/** `value` as a URL, or undefined when it is none (z.url() reports that). */
function parsedUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

const schema = z.object({
  /** Port to listen on, in decimal digits (0: any free port). */
  PORT: z
    .string()
    .regex(/^\d{1,5}$/, "PORT must be a port number in decimal digits (0 to 65535)")
    .transform(Number)
    .pipe(z.number().max(65535, "PORT must be at most 65535"))
    .default(3000),
  /** Interface to listen on. */
  HOST: z.string().min(1).default("0.0.0.0"),
  /** `postgres://...` for PostgreSQL; `sqlite:<path>` or a plain path for a SQLite file (relative to the working directory); any other scheme is refused. */
  DATABASE_URL: z
    .string()
    .refine((v) => !/^(sqlite|file):(\/\/)?\s*$/i.test(v), "DATABASE_URL names no SQLite file (sqlite:<path>); a database without a file would be lost at every stop")
    .refine((v) => /^postgres(ql)?:\/\//i.test(v) || !/:memory:|mode=memory/i.test(v), "DATABASE_URL names an in-memory SQLite database, which would be lost at every stop")
    .default("sqlite:data/directory-sync.db"),
  /** PostgreSQL: the schema to keep the tables in (created when missing), for a database shared with other applications. */
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "DATABASE_SCHEMA must be lower-case letters, digits and _")
    .optional(),
  /** PostgreSQL: the most connections the server opens. One directory's writes take at most half of them, so that a long write and the queue behind it leave the others theirs. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(1000).default(10),
  /**
   * The public origin (`https://sync.example.com`, optionally with a path a proxy strips) for
   * SCIM URLs, when behind a proxy or tunnel: http or https, without credentials, query or fragment.
   */
  PUBLIC_URL: z
    .url()
    .refine((v) => /^https?:$/i.test(parsedUrl(v)?.protocol ?? "http:"), "PUBLIC_URL must be an http:// or https:// URL")
    // Any `@` before the host, even with nothing before it (`https://@host`), which URL reads as no user.
    .refine((v) => !/^[^:]+:\/\/[^/?#]*@/.test(v), "PUBLIC_URL must not hold a user name or password")
    .refine((v) => !/[?#]/.test(v), "PUBLIC_URL must not hold a query (?) or a fragment (#)")
    .optional(),
  /** A JSON file of custom extension schemas of User and Group (see `schemas-file.ts`). */
  SCIM_SCHEMAS_FILE: z.string().min(1).optional(),
  /** Longest a SCIM list request may read the database, in milliseconds (then 400 tooMany): a filter no index answers reads the whole directory. */
  SCIM_MAX_QUERY_MS: z.coerce.number().int().min(1).max(600_000).default(10_000),
  /** pino log level. */
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** "true": replace the admin API key at this start and print the new one once (the old one stops working): the way back in when the key is lost. */
  ROTATE_ADMIN_KEY: z.enum(["true", "false", ""]).default("false").transform((v) => v === "true"),
  /**
   * "true" for the first start after the database was restored from a backup: event and audit
   * positions move past any handed out before the restore, and every events reader is told to
   * read the lists again (DirectorySync.restartPositions). One start, one process.
   */
  RESTORED_FROM_BACKUP: z.enum(["true", "false", ""]).default("false").transform((v) => v === "true"),
  /** Believe X-Forwarded-For (only behind a proxy that sets it): "true", "false" or a number of proxies. */
  TRUST_PROXY: z
    .string()
    .default("false")
    .transform((v, ctx) => {
      if (v === "true") return true;
      if (v === "false" || v === "") return false;
      const n = Number(v);
      if (Number.isInteger(n) && n >= 0) return n;
      ctx.addIssue({ code: "custom", message: "TRUST_PROXY must be true, false or a number of proxies" });
      return z.NEVER;
    }),
});

/** The validated configuration. */
export type ServerConfig = z.infer<typeof schema>;

/** Every problem zod found, on one line: `path: message; ...`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

/** Reads the configuration from `env`; throws a StartupError listing every invalid variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  // A variable set to nothing, or to spaces only, is unset: its default applies.
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ""));
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new StartupError(`invalid configuration: ${formatIssues(result.error)}`);
  }
  return result.data;
}

/**
 * Directory types and per-directory settings, validated with zod (the admin API's input and
 * what is read back from the database).
 */
import { z } from "zod";

/** The identity providers a directory can be connected to. */
export const DIRECTORY_TYPES = ["okta", "azure-ad", "onelogin", "google-workspace", "jumpcloud", "generic-scim"] as const;
export type DirectoryType = (typeof DIRECTORY_TYPES)[number];

/**
 * An IPv4 or IPv6 address or CIDR block (its shape; the admin API also checks that it parses). An
 * IPv6 address may end with an IPv4 address (`::ffff:127.0.0.1`, RFC 4291 §2.2 form 3).
 */
const cidr = z.string().regex(/^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:]+(\d{1,3}(\.\d{1,3}){3})?(\/\d{1,3})?)$/, "an IPv4 or IPv6 address or CIDR block")
  .describe("an IPv4 or IPv6 address or CIDR block that parses as one (IPv4 octets at most 255, prefixes at most /32 or /128)");

/**
 * The name of a custom attribute, never one that would reach an object's prototype (`__proto__`,
 * `constructor`, `prototype`), which would be lost or worse when the mapping is applied.
 */
const customAttributeName = z
  .string()
  .min(1)
  .max(100)
  .refine((name) => name !== "__proto__" && name !== "constructor" && name !== "prototype", "a reserved name");

/** Per-directory settings; every field has a default. */
export const directorySettingsSchema = z
  .object({
    /**
     * When a user is created whose email already belongs to a user of the same organization (in
     * any of its directories), link it to that user (`linkedUserId` in the normalized data) instead
     * of treating it as a new person.
     */
    linkByEmail: z.boolean().default(false),
    /** DELETE over SCIM: "soft" keeps the user with state `deleted` (SCIM then answers 404), "hard" removes it. */
    deleteMode: z.enum(["soft", "hard"]).default("soft"),
    /** How long a rotated token stays valid beside its successor, in seconds. */
    tokenGracePeriodSeconds: z.number().int().min(0).max(30 * 24 * 3600).default(24 * 3600),
    /**
     * SCIM requests per second allowed for the directory (token bucket), and the burst above it.
     * A large answer counts as one request more for each whole 64 KiB (`ANSWER_BYTES_PER_REQUEST`):
     * a page of 1,000 users as about ten.
     * Each process keeps its own buckets: n processes on one database allow up to n times this.
     * Other processes apply a change within five seconds (their settings cache), as for `ipAllowlist`.
     */
    rateLimit: z
      .object({ requestsPerSecond: z.number().positive().max(100_000), burst: z.number().int().positive().max(1_000_000) })
      .default({ requestsPerSecond: 100, burst: 200 }),
    /** When not empty, SCIM requests must come from one of these addresses or CIDR blocks. */
    ipAllowlist: z.array(cidr).max(100).default([]),
    /**
     * Custom attributes of the normalized user: name -> SCIM attribute path (core, enterprise or a
     * custom extension, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`).
     */
    attributeMapping: z
      // Typed for TypeScript callers (the admin client); checked by the record below.
      .custom<Record<string, string>>(() => true)
      // zod's record skips an own `__proto__` key (JSON.parse makes one): refuse it instead of losing it.
      .superRefine((value, ctx) => {
        if (typeof value === "object" && value !== null && Object.hasOwn(value, "__proto__")) ctx.addIssue({ code: "custom", message: "a reserved name", path: ["__proto__"] });
      })
      .pipe(z.record(customAttributeName, z.string().min(1).max(300)))
      // The JSON Schema of the input (the OpenAPI document): what the pipe accepts.
      .meta({
        type: "object",
        propertyNames: { minLength: 1, maxLength: 100, not: { enum: ["__proto__", "constructor", "prototype"] } },
        additionalProperties: { type: "string", minLength: 1, maxLength: 300 },
        description: "custom attribute name -> the SCIM attribute path that feeds it; each path must name an attribute of User in the server's schema registry (else 400 invalid_attribute_mapping)",
      })
      .default({}),
  })
  .strict();

export type DirectorySettings = z.infer<typeof directorySettingsSchema>;

const settingsFields = directorySettingsSchema.shape;

/**
 * Some of the settings, to change them: every field optional and without a default, so that a
 * field not sent keeps its current value (zod 4 fills the defaults of a `.partial()` schema).
 */
export const directorySettingsChangesSchema = z
  .object({
    linkByEmail: settingsFields.linkByEmail.unwrap().optional(),
    deleteMode: settingsFields.deleteMode.unwrap().optional(),
    tokenGracePeriodSeconds: settingsFields.tokenGracePeriodSeconds.unwrap().optional(),
    rateLimit: settingsFields.rateLimit.unwrap().optional(),
    ipAllowlist: settingsFields.ipAllowlist.unwrap().optional(),
    attributeMapping: settingsFields.attributeMapping.unwrap().optional(),
  })
  .strict();

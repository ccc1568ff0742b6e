/**
 * Loads our core (`scim-core`, the built output of packages/core) if it can be imported, and
 * adapts it to the same interfaces as the peers. While the core is not built yet, the benchmark
 * runs the peers alone.
 */
import type { Ref } from "./filter-reference.js";
import { refEval } from "./filter-reference.js";
import { countWith, type MatcherAdapter, type ParserAdapter, type PatchAdapter, type PatchOperation } from "./peers.js";

type ResourceType = "User" | "Group";

/** The subset of scim-core's API the benchmark uses (see packages/core). */
export interface CoreApi {
  parseFilter(text: string, options?: { lenient?: boolean }): unknown;
  compileFilter(filter: unknown, options: { resourceType: ResourceType }): (resource: any) => boolean;
  applyPatch(resource: object, operations: PatchOperation[], options: { resourceType: ResourceType }): { resource: object };
}

export interface Ours {
  api: CoreApi;
  parser: ParserAdapter;
  /** Matcher for a resource type. */
  matcher(resourceType: ResourceType): MatcherAdapter;
  patcher: PatchAdapter;
  /** The version of the built package. */
  version: string;
}

interface CoreAttrPath {
  uri?: string;
  attr: string;
  sub?: string;
}

/** scim-core's Filter AST (packages/core/src/filter/ast.ts) -> reference AST. */
function coreToRef(f: any): Ref {
  const path = (p: CoreAttrPath) => `${p.uri !== undefined ? p.uri + ":" : ""}${p.attr}${p.sub !== undefined ? "." + p.sub : ""}`;
  switch (f.type) {
    case "compare":
      return { t: "cmp", path: path(f.path), op: f.op, v: f.value };
    case "present":
      return { t: "pr", path: path(f.path) };
    case "logical":
      return { t: f.op, a: coreToRef(f.left), b: coreToRef(f.right) };
    case "not":
      return { t: "not", x: coreToRef(f.filter) };
    case "valuePath":
      return { t: "vp", path: path(f.path), f: coreToRef(f.filter) };
  }
  throw new Error(`unknown filter node ${JSON.stringify(f).slice(0, 80)}`);
}

export async function loadOurs(): Promise<Ours | { error: string }> {
  if (process.env.BENCH_NO_CORE === "1") return { error: "BENCH_NO_CORE=1" };
  let mod: any;
  try {
    mod = await import("scim-core");
  } catch (e) {
    return { error: `cannot import scim-core: ${(e as Error).message.split("\n")[0]}` };
  }
  const missing = ["parseFilter", "compileFilter", "applyPatch"].filter((k) => typeof mod[k] !== "function");
  const api = mod as CoreApi;
  let version = "?";
  try {
    const { createRequire } = await import("node:module");
    version = createRequire(import.meta.url)("scim-core/package.json").version;
  } catch {
    /* ignore */
  }
  const need = (name: string) => {
    if (missing.includes(name)) throw new Error(`scim-core does not export ${name}`);
  };
  if (missing.length === 3) return { error: `scim-core exports none of ${missing.join(", ")}` };
  const parser: ParserAdapter = {
    name: "scim-core",
    parse: (text) => api.parseFilter(text),
    meaning: (parsed) => {
      const ref = coreToRef(parsed);
      return (r) => refEval(ref, r);
    },
  };
  return {
    api,
    version,
    parser,
    matcher: (resourceType) => ({
      name: "scim-core",
      compile: (text) => {
        need("compileFilter");
        return countWith(api.compileFilter(text, { resourceType }));
      },
    }),
    patcher: {
      name: "scim-core",
      apply: (resource, operations, resourceType) => {
        need("applyPatch");
        return api.applyPatch(resource, operations, { resourceType }).resource;
      },
    },
  };
}

/**
 * Correctness oracle for filter parsing.
 *
 * A deliberately simple (slow, obviously-correct) reference parser turns each corpus filter into a
 * small reference AST. A library "parses a filter correctly" when the meaning of its result agrees
 * with the reference on a few hundred generated probe resources:
 *  - for libraries that return an AST (ours, scim2-parse-filter, scimmy) the AST is converted to
 *    the reference AST shape and evaluated with the same neutral evaluator, so only the *structure*
 *    (precedence, grouping, value paths, literal values, paths) is judged, not the library's own
 *    matching semantics;
 *  - scim-query-filter-parser only returns a compiled function, so its function is run on the
 *    probes. Probe values use the exact case of the filter literals and same-format dateTimes, so
 *    case-folding and instant-vs-string comparison cannot cause a disagreement there.
 */
import { rng } from "./harness.js";

export type Literal = string | number | boolean | null;

export type Ref =
  | { t: "cmp"; path: string; op: string; v: Literal }
  | { t: "pr"; path: string }
  | { t: "and" | "or"; a: Ref; b: Ref }
  | { t: "not"; x: Ref }
  | { t: "vp"; path: string; f: Ref };

// ---------------------------------------------------------------------------------------------
// Reference parser (RFC 7644 §3.4.2.2, plus Entra's `attr[filter].sub op value`).

const CMP_OPS = new Set(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"]);

export function refParse(text: string): Ref {
  let pos = 0;
  const fail = (m: string): never => {
    throw new Error(`reference parser: ${m} at ${pos} in ${JSON.stringify(text)}`);
  };
  const ws = () => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };
  const word = (): string => {
    const m = /^[A-Za-z0-9:._$-]+/.exec(text.slice(pos));
    if (!m) fail("expected a word");
    pos += m![0].length;
    return m![0];
  };
  const keyword = (kw: string): boolean => {
    ws();
    const s = text.slice(pos, pos + kw.length);
    const after = text[pos + kw.length];
    if (s.toLowerCase() === kw && (after === " " || after === "(")) {
      pos += kw.length;
      return true;
    }
    return false;
  };
  const value = (): Literal => {
    ws();
    if (text[pos] === '"') {
      let i = pos + 1;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      if (i >= text.length) fail("unterminated string");
      const s = JSON.parse(text.slice(pos, i + 1)) as string;
      pos = i + 1;
      return s;
    }
    const m = /^[^\s)\]]+/.exec(text.slice(pos));
    if (!m) fail("expected a value");
    pos += m![0].length;
    const w = m![0];
    if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(w)) return Number(w);
    const l = w.toLowerCase();
    if (l === "true") return true;
    if (l === "false") return false;
    if (l === "null") return null;
    return fail(`bad value ${w}`);
  };
  const comparison = (path: string): Ref => {
    ws();
    const op = word().toLowerCase();
    if (op === "pr") return { t: "pr", path };
    if (!CMP_OPS.has(op)) fail(`bad operator ${op}`);
    return { t: "cmp", path, op, v: value() };
  };
  const unary = (): Ref => {
    ws();
    if (text[pos] === "(") {
      pos++;
      const f = or();
      ws();
      if (text[pos] !== ")") fail("expected )");
      pos++;
      return f;
    }
    const w = word();
    ws();
    if (w.toLowerCase() === "not" && text[pos] === "(") {
      pos++;
      const f = or();
      ws();
      if (text[pos] !== ")") fail("expected )");
      pos++;
      return { t: "not", x: f };
    }
    if (text[pos] === "[") {
      pos++;
      const inner = or();
      ws();
      if (text[pos] !== "]") fail("expected ]");
      pos++;
      if (text[pos] === ".") {
        pos++;
        const sub = word();
        return { t: "vp", path: w, f: { t: "and", a: inner, b: comparison(sub) } };
      }
      return { t: "vp", path: w, f: inner };
    }
    return comparison(w);
  };
  const and = (): Ref => {
    let a = unary();
    while (keyword("and")) a = { t: "and", a, b: unary() };
    return a;
  };
  const or = (): Ref => {
    let a = and();
    while (keyword("or")) a = { t: "or", a, b: and() };
    return a;
  };
  const f = or();
  ws();
  if (pos !== text.length) fail("trailing input");
  return f;
}

export function refToString(r: Ref): string {
  switch (r.t) {
    case "cmp":
      return `${r.path} ${r.op} ${JSON.stringify(r.v)}`;
    case "pr":
      return `${r.path} pr`;
    case "and":
    case "or":
      return `(${refToString(r.a)} ${r.t} ${refToString(r.b)})`;
    case "not":
      return `not (${refToString(r.x)})`;
    case "vp":
      return `${r.path}[${refToString(r.f)}]`;
  }
}

// ---------------------------------------------------------------------------------------------
// Neutral evaluator.

const CORE_URNS = new Set(["urn:ietf:params:scim:schemas:core:2.0:user", "urn:ietf:params:scim:schemas:core:2.0:group"]);

/** `urn:..:User:name.givenName` -> ["name", "givenname"]; extension URNs stay a segment. */
export function pathSegments(path: string): string[] {
  const p = path.toLowerCase();
  const colon = p.lastIndexOf(":");
  if (colon < 0) return p.split(".");
  const uri = p.slice(0, colon);
  const rest = p.slice(colon + 1).split(".");
  return CORE_URNS.has(uri) ? rest : [uri, ...rest];
}

function getCI(o: Record<string, unknown>, seg: string): unknown {
  if (seg in o) return o[seg];
  for (const k of Object.keys(o)) if (k.toLowerCase() === seg) return o[k];
  return undefined;
}

function resolve(root: unknown, segs: string[]): unknown[] {
  let cur: unknown[] = [root];
  for (const seg of segs) {
    const next: unknown[] = [];
    for (const o of cur) {
      if (o === null || typeof o !== "object" || Array.isArray(o)) continue;
      const v = getCI(o as Record<string, unknown>, seg);
      if (Array.isArray(v)) next.push(...v);
      else if (v !== undefined) next.push(v);
    }
    cur = next;
  }
  return cur;
}

function compare(v: unknown, op: string, lit: Literal): boolean {
  if (v !== null && typeof v === "object") v = getCI(v as Record<string, unknown>, "value");
  switch (op) {
    case "eq":
      return v === lit;
    case "ne":
      return v !== lit;
    case "co":
      return typeof v === "string" && typeof lit === "string" && v.includes(lit);
    case "sw":
      return typeof v === "string" && typeof lit === "string" && v.startsWith(lit);
    case "ew":
      return typeof v === "string" && typeof lit === "string" && v.endsWith(lit);
  }
  if (typeof v !== typeof lit || (typeof v !== "string" && typeof v !== "number")) return false;
  const a = v as string | number;
  const b = lit as string | number;
  switch (op) {
    case "gt":
      return a > b;
    case "ge":
      return a >= b;
    case "lt":
      return a < b;
    case "le":
      return a <= b;
  }
  return false;
}

export function refEval(r: Ref, res: unknown): boolean {
  switch (r.t) {
    case "cmp":
      return resolve(res, pathSegments(r.path)).some((v) => compare(v, r.op, r.v));
    case "pr":
      return resolve(res, pathSegments(r.path)).some((v) => v !== null && v !== undefined && v !== "");
    case "and":
      return refEval(r.a, res) && refEval(r.b, res);
    case "or":
      return refEval(r.a, res) || refEval(r.b, res);
    case "not":
      return !refEval(r.x, res);
    case "vp":
      return resolve(res, pathSegments(r.path)).some((e) => refEval(r.f, e));
  }
}

// ---------------------------------------------------------------------------------------------
// Probe resources.

/** Multi-valued attributes of the User/Group schemas (complex, except `schemas`). */
const MULTI = new Set([
  "emails", "phonenumbers", "ims", "photos", "addresses", "groups", "entitlements", "roles", "x509certificates", "members",
]);
const MULTI_SIMPLE = new Set(["schemas"]);

interface Leaf {
  op: string;
  v: Literal;
}
interface SpecNode {
  children: Map<string, SpecNode>;
  leaves: Leaf[];
}

function collect(r: Ref, prefix: string[], root: SpecNode): void {
  const at = (segs: string[]): SpecNode => {
    let n = root;
    for (const s of segs) {
      let c = n.children.get(s);
      if (!c) n.children.set(s, (c = { children: new Map(), leaves: [] }));
      n = c;
    }
    return n;
  };
  switch (r.t) {
    case "cmp":
      at([...prefix, ...pathSegments(r.path)]).leaves.push({ op: r.op, v: r.v });
      return;
    case "pr":
      at([...prefix, ...pathSegments(r.path)]).leaves.push({ op: "pr", v: null });
      return;
    case "and":
    case "or":
      collect(r.a, prefix, root);
      collect(r.b, prefix, root);
      return;
    case "not":
      collect(r.x, prefix, root);
      return;
    case "vp": {
      const segs = [...prefix, ...pathSegments(r.path)];
      at(segs);
      collect(r.f, segs, root);
      return;
    }
  }
}

const DATE = /^(\d{4})(-\d\d-\d\dT.*)$/;

function variants(l: Leaf): Literal[] {
  if (l.op === "pr") return ["p"];
  const v = l.v;
  if (v === null) return ["zz"];
  if (typeof v === "boolean") return [true, false];
  if (typeof v === "number") return [v, v + 1, v - 1];
  const d = DATE.exec(v);
  if (d) return [v, `${+d[1] + 1}${d[2]}`, `${+d[1] - 1}${d[2]}`];
  return [v, v + "x", "x" + v, "zz"];
}

export function makeProbes(expected: Ref, count: number, seed: number): unknown[] {
  const root: SpecNode = { children: new Map(), leaves: [] };
  collect(expected, [], root);
  const rand = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  // `ne` and `null` comparisons have library-specific semantics on missing attributes: keep those present.
  const mustBePresent = (n: SpecNode): boolean => n.leaves.some((l) => l.op === "ne" || (l.op !== "pr" && l.v === null));
  const scalar = (n: SpecNode): Literal => {
    const exact = n.leaves.filter((l) => l.op !== "pr" && l.v !== null).map((l) => l.v);
    if (exact.length && rand() < 0.5) return pick(exact);
    return pick(n.leaves.flatMap(variants));
  };
  const build = (n: SpecNode, seg: string): unknown => {
    const required = mustBePresent(n) || [...n.children.values()].some(mustBePresent);
    if (MULTI.has(seg)) {
      if (!required && rand() < 0.15) return undefined;
      // A comparison on the bare complex attribute (`emails co "x"`) targets its `value`.
      const el: SpecNode = { children: new Map(n.children), leaves: [] };
      if (n.leaves.length) {
        const v = el.children.get("value");
        el.children.set("value", { children: v?.children ?? new Map(), leaves: [...(v?.leaves ?? []), ...n.leaves] });
      }
      const len = 1 + Math.floor(rand() * 3);
      return Array.from({ length: len }, () => buildObject(el));
    }
    if (MULTI_SIMPLE.has(seg)) {
      if (!required && rand() < 0.15) return undefined;
      return Array.from({ length: 1 + Math.floor(rand() * 2) }, () => scalar(n));
    }
    if (n.children.size) {
      if (!required && rand() < 0.1) return undefined;
      return buildObject(n);
    }
    if (!required && rand() < 0.2) return undefined;
    return scalar(n);
  };
  const buildObject = (n: SpecNode): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (const [seg, c] of n.children) {
      const v = build(c, seg);
      if (v !== undefined) o[seg] = v;
    }
    return o;
  };
  return Array.from({ length: count }, () => buildObject(root));
}

export interface CheckResult {
  ok: boolean;
  /** A probe where the candidate disagrees with the reference. */
  counterexample?: { resource: unknown; expected: boolean };
  /** Probes on which the reference is true / total. */
  refTrue: number;
  total: number;
}

export function checkAgainst(expected: Ref, candidate: (r: unknown) => boolean, probes: unknown[]): CheckResult {
  let refTrue = 0;
  for (const p of probes) {
    const want = refEval(expected, p);
    if (want) refTrue++;
    let got: boolean;
    try {
      got = candidate(p);
    } catch {
      got = !want;
    }
    if (got !== want) return { ok: false, counterexample: { resource: p, expected: want }, refTrue, total: probes.length };
  }
  return { ok: true, refTrue, total: probes.length };
}

/**
 * Filter parser (RFC 7644 §3.4.2.2): a single-pass scanner over character codes with recursive
 * descent for `or` < `and` < `not`/grouping. Nesting is bounded, so pathological input is a 400 in
 * linear time, never a stack overflow.
 */
import { badRequest, type ScimErrorType } from "../errors/scim-error.js";
import type { AttrPath, CompareOperator, Filter, FilterValue } from "./ast.js";

/** Options of {@link parseFilter}. */
export interface ParseFilterOptions {
  /**
   * Accept unquoted string values, as Microsoft Entra ID sends them (`externalId eq jyoung`).
   * The SCIM server turns this on; a strict parser answers 400 `invalidFilter`.
   * @default false
   */
  lenient?: boolean;
  /** Longest filter accepted, in characters; longer ones are a 400 `invalidFilter`. @default 32768 */
  maxLength?: number;
  /** Deepest nesting of parentheses, `not` and `[...]` accepted. @default 32 */
  maxDepth?: number;
}

/** @internal Defaults shared by filter and PATCH path parsing. */
export const DEFAULT_MAX_FILTER_LENGTH = 32768;
const DEFAULT_MAX_DEPTH = 32;


// Character codes.
const SPACE = 32, TAB = 9, LF = 10, CR = 13;
const QUOTE = 34, APOS = 39, LPAREN = 40, RPAREN = 41, LBRACKET = 91, RBRACKET = 93;
const BACKSLASH = 92, DOT = 46, MINUS = 45, DOLLAR = 36;

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * The boolean a filter value stands for when it is compared with a `boolean` attribute: `true` or
 * `false`, or the text `"true"`/`"false"` in any case, as Microsoft Entra ID writes it
 * (`roles[primary eq "True"].value`; request values are read the same way); otherwise undefined
 * (the comparison matches nothing).
 */
export function booleanFilterValue(value: FilterValue): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value !== "string" || value.length !== 4 && value.length !== 5) return undefined;
  const lower = value.toLowerCase();
  return lower === "true" ? true : lower === "false" ? false : undefined;
}

/**
 * The number a filter value stands for when it is compared with an `integer` or `decimal`
 * attribute (RFC 7644 §3.4.2.2: by numeric value): a number, or text written as a JSON number
 * (RFC 8259 §6), which is what a lenient parse keeps of a number not written in its shortest
 * form (`1.50`, `12.0`, `1.2e1`); otherwise undefined (the comparison matches nothing).
 */
export function numericFilterValue(value: FilterValue): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value !== "string" || !NUMBER.test(value)) return undefined;
  // Beyond the double range, ±Infinity: every stored number is below `1e400` (`lt` matches them all).
  return Number(value);
}

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR;
}

function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `ATTRNAME = ALPHA *(nameChar)`, with a leading `$` allowed for `$ref`. */
function isValidName(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  const c0 = name.charCodeAt(0);
  if (!isAlpha(c0) && c0 !== DOLLAR) return false;
  for (let i = 1; i < n; i++) {
    const c = name.charCodeAt(i);
    if (!(isAlpha(c) || isDigit(c) || c === 95 || c === MINUS)) return false;
  }
  return true;
}

/** `ATTRNAME` starts with a letter; `$ref` style names with `$` and a letter. */
function isNameStartAt(t: string, i: number): boolean {
  const c = t.charCodeAt(i);
  return isAlpha(c) || (c === DOLLAR && isAlpha(t.charCodeAt(i + 1)));
}


/**
 * @internal The scanner behind {@link parseFilter} and PATCH path parsing. Positions in error
 * details are 1-based character offsets.
 */
export class FilterScanner {
  pos = 0;
  private depth = 0;
  readonly len: number;

  constructor(
    readonly text: string,
    private readonly lenient: boolean,
    private readonly maxDepth: number,
    private readonly errorType: ScimErrorType,
  ) {
    this.len = text.length;
  }

  fail(message: string, at: number = this.pos): never {
    throw badRequest(this.errorType, `${message} at position ${at + 1}`);
  }

  skipSpaces(): void {
    const t = this.text;
    while (this.pos < this.len && isSpace(t.charCodeAt(this.pos))) this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.len;
  }

  peek(): number {
    return this.text.charCodeAt(this.pos);
  }

  /** FILTER: or-expressions of and-expressions of unary expressions. */
  parseOr(inBracket: boolean): Filter {
    let left = this.parseAnd(inBracket);
    while (this.keyword("or")) {
      const right = this.parseAnd(inBracket);
      left = { type: "logical", op: "or", left, right };
    }
    return left;
  }

  private parseAnd(inBracket: boolean): Filter {
    let left = this.parseUnary(inBracket);
    while (this.keyword("and")) {
      const right = this.parseUnary(inBracket);
      left = { type: "logical", op: "and", left, right };
    }
    return left;
  }

  /** Consumes `and`/`or` (any case) followed by a space or `(`. */
  private keyword(word: "and" | "or"): boolean {
    this.skipSpaces();
    const t = this.text;
    const p = this.pos;
    const n = word.length;
    if (p + n > this.len) return false;
    for (let i = 0; i < n; i++) {
      if ((t.charCodeAt(p + i) | 32) !== word.charCodeAt(i)) return false;
    }
    if (p + n === this.len) this.fail(`missing filter after '${t.slice(p)}'`, p);
    const after = t.charCodeAt(p + n);
    if (!isSpace(after) && after !== LPAREN) return false;
    this.pos = p + n;
    return true;
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) this.fail(`filter nested deeper than ${this.maxDepth} levels`);
  }

  private parseUnary(inBracket: boolean): Filter {
    this.skipSpaces();
    if (this.atEnd()) this.fail("expected an attribute path or '(' but the filter ended");
    const c = this.peek();
    if (c === LPAREN) return this.parseGroup(inBracket, RPAREN);
    const start = this.pos;
    const path = this.readAttrPath();
    this.skipSpaces();
    const next = this.peek();
    const n = path.attr.length;
    if ((n === 3 || n === 2) && path.uri === undefined && path.sub === undefined) {
      const word = path.attr.toLowerCase();
      if (word === "not") {
        if (next === LPAREN) return { type: "not", filter: this.parseGroup(inBracket, RPAREN) };
        if (next !== LBRACKET && !this.operatorAhead()) this.fail("'not' must be followed by a parenthesised filter", start);
      } else if ((word === "and" || word === "or") && next !== LBRACKET && !this.operatorAhead()) {
        this.fail(`unexpected logical operator '${path.attr}'`, start);
      }
    }
    if (next === LBRACKET) {
      if (inBracket) this.fail("a value filter cannot contain another value filter");
      return this.parseValuePath(path);
    }
    return this.parseComparison(path);
  }

  /** True when the next word is a comparison operator (so a preceding `not`/`and` is an attribute). */
  private operatorAhead(): boolean {
    return this.operatorAt(this.pos) !== undefined;
  }

  /** `"(" FILTER ")"` or `"[" valFilter "]"`, from the opening character at the current position. */
  parseGroup(inBracket: boolean, close: typeof RPAREN | typeof RBRACKET): Filter {
    const open = this.pos;
    this.enter();
    this.pos++;
    const inner = this.parseOr(inBracket);
    this.skipSpaces();
    if (this.peek() !== close) this.fail(`unbalanced '${this.text[open]}': it is never closed`, open);
    this.pos++;
    this.depth--;
    return inner;
  }

  private parseValuePath(path: AttrPath): Filter {
    const open = this.pos;
    const inner = this.parseGroup(true, RBRACKET);
    if (path.sub !== undefined) this.fail("a value filter applies to an attribute, not a sub-attribute", open);
    if (this.peek() === DOT) {
      // Microsoft Entra ID sends `emails[type eq "work"].value eq "x"`: the same element must match
      // both the bracketed filter and the comparison on the sub-attribute.
      this.pos++;
      const subStart = this.pos;
      const sub = this.readAttrPath();
      if (sub.uri !== undefined || sub.sub !== undefined) this.fail("invalid sub-attribute after ']'", subStart);
      this.skipSpaces();
      const tail = this.parseComparison(sub);
      return { type: "valuePath", path, filter: { type: "logical", op: "and", left: inner, right: tail } };
    }
    return { type: "valuePath", path, filter: inner };
  }

  private parseComparison(path: AttrPath): Filter {
    const t = this.text;
    const opStart = this.pos;
    const op = this.operatorAt(opStart);
    if (op === undefined) {
      let i = opStart;
      while (i < this.len && isAlpha(t.charCodeAt(i))) i++;
      if (i > opStart) this.fail(`unknown operator '${t.slice(opStart, i)}'`, opStart);
      if (this.atEnd()) this.fail("expected an operator but the filter ended");
      this.fail(`expected an operator, found '${t[opStart]}'`);
    }
    this.pos = opStart + 2;
    if (op === "pr") {
      this.expectDelimiter();
      return { type: "present", path };
    }
    if (!isSpace(this.peek())) {
      if (this.atEnd()) this.fail(`missing value after '${op}'`);
      this.fail(`expected a space after '${op}'`);
    }
    this.skipSpaces();
    const value = this.readValue(op);
    this.expectDelimiter();
    return { type: "compare", op, path, value };
  }

  /** The two-letter operator at `at` (any case) when a non-letter follows it. */
  private operatorAt(at: number): CompareOperator | "pr" | undefined {
    const t = this.text;
    if (at + 2 > this.len || isAlpha(t.charCodeAt(at + 2))) return undefined;
    const a = t.charCodeAt(at) | 32;
    const b = t.charCodeAt(at + 1) | 32;
    switch (a) {
      case 101: // e
        return b === 113 ? "eq" : b === 119 ? "ew" : undefined;
      case 110: // n
        return b === 101 ? "ne" : undefined;
      case 99: // c
        return b === 111 ? "co" : undefined;
      case 115: // s
        return b === 119 ? "sw" : undefined;
      case 103: // g
        return b === 116 ? "gt" : b === 101 ? "ge" : undefined;
      case 108: // l
        return b === 116 ? "lt" : b === 101 ? "le" : undefined;
      case 112: // p
        return b === 114 ? "pr" : undefined;
      default:
        return undefined;
    }
  }

  /** After a value or `pr`: end, a space, `)` or `]`. */
  private expectDelimiter(): void {
    if (this.atEnd()) return;
    const c = this.peek();
    if (isSpace(c) || c === RPAREN || c === RBRACKET) return;
    this.fail(`unexpected '${this.text[this.pos]}'`);
  }

  /**
   * `attrPath = [URI ":"] ATTRNAME *1subAttr`, scanned in one pass: the URI is everything before
   * the last `:`, the sub-attribute what follows the first `.` after it.
   */
  readAttrPath(): AttrPath {
    const t = this.text;
    const start = this.pos;
    const len = this.len;
    let i = start;
    let colon = -1;
    let dot = -1;
    let dots = 0;
    for (; i < len; i++) {
      const c = t.charCodeAt(i);
      if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === MINUS || c === DOLLAR) continue;
      if (c === 58) {
        colon = i;
        dot = -1;
        dots = 0;
      } else if (c === DOT) {
        if (dot < 0) dot = i;
        dots++;
      } else break;
    }
    if (i === start) {
      if (this.atEnd()) this.fail("expected an attribute path but the filter ended");
      const c = t.charCodeAt(start);
      if (c === RPAREN) this.fail("unbalanced ')'");
      if (c === RBRACKET) this.fail("unbalanced ']'");
      this.fail(`expected an attribute path, found '${t[start]}'`);
    }
    this.pos = i;
    const nameStart = colon + 1 > start ? colon + 1 : start;
    const nameEnd = dot < 0 ? i : dot;
    if (dots > 1 || colon === start || !isNameStartAt(t, nameStart) || nameEnd === nameStart || (dot >= 0 && (dot + 1 === i || !isNameStartAt(t, dot + 1)))) {
      this.fail(`invalid attribute path '${t.slice(start, i)}'`, start);
    }
    const attr = t.slice(nameStart, nameEnd);
    if (colon < 0) return dot < 0 ? { attr } : { attr, sub: t.slice(dot + 1, i) };
    const uri = t.slice(start, colon);
    return dot < 0 ? { uri, attr } : { uri, attr, sub: t.slice(dot + 1, i) };
  }

  private readValue(op: string): FilterValue {
    const t = this.text;
    const start = this.pos;
    if (this.atEnd()) this.fail(`missing value after '${op}'`);
    const c = t.charCodeAt(start);
    if (c === QUOTE) return this.readString();
    if (c === APOS) this.fail("string values must be in double quotes, not single quotes");
    let i = start;
    while (i < this.len) {
      const d = t.charCodeAt(i);
      if (isSpace(d) || d === RPAREN || d === RBRACKET) break;
      i++;
    }
    const word = t.slice(start, i);
    this.pos = i;
    if (c === MINUS || isDigit(c)) {
      if (NUMBER.test(word)) {
        const n = Number(word);
        // Lenient (unquoted ids, as Entra sends them): a number not written in canonical form
        // (`1.50`, `1E3`, digits beyond 2^53, which a number would round) stays text, so that a
        // string attribute compares it as written.
        if (Number.isFinite(n) && (!this.lenient || String(n) === word)) return n;
      }
      if (this.lenient) return word;
      this.fail(`invalid number '${word}'`, start);
    }
    switch (word.toLowerCase()) {
      case "true":
        return true;
      case "false":
        return false;
      case "null":
        return null;
    }
    if (c === LPAREN || c === LBRACKET || c === QUOTE || word.length === 0) this.fail(`missing value after '${op}'`, start);
    if (this.lenient && word.indexOf('"') < 0 && word.indexOf("'") < 0) return word;
    this.fail(`string values must be in double quotes (found '${word}')`, start);
  }

  /** Position of the next backslash at or after the current string (or -1): found once, not per string. */
  private backslash = -2;

  private readString(): string {
    const t = this.text;
    const start = this.pos + 1;
    const end = t.indexOf('"', start);
    if (end < 0) this.fail("unterminated string", start - 1);
    if (this.backslash !== -1 && this.backslash < start) this.backslash = t.indexOf("\\", start);
    if (this.backslash === -1 || this.backslash > end) {
      this.pos = end + 1;
      return t.slice(start, end);
    }
    // Escapes: find the closing quote that is not escaped.
    let i = start;
    for (;;) {
      if (i >= this.len) this.fail("unterminated string", start - 1);
      const c = t.charCodeAt(i);
      if (c === QUOTE) break;
      i += c === BACKSLASH ? 2 : 1;
    }
    this.pos = i + 1;
    return this.unescape(start, i);
  }

  /** JSON string escapes (RFC 7644 §3.4.2.2 `compValue` strings are JSON strings). */
  private unescape(from: number, to: number): string {
    const t = this.text;
    let out = "";
    let run = from;
    for (let i = from; i < to; i++) {
      if (t.charCodeAt(i) !== BACKSLASH) continue;
      out += t.slice(run, i);
      const e = t[i + 1];
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const hex = t.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("invalid \\u escape in string", i);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          this.fail(`invalid escape '\\${e}' in string`, i);
      }
      i++;
      run = i + 1;
    }
    return out + t.slice(run, to);
  }
}

/**
 * @internal Splits `urn:...:User:name.givenName` into URI, attribute and sub-attribute. The URI is
 * everything before the last `:`; the schema resolver corrects the Entra spelling
 * `urn:...:User.manager`.
 */
export function splitAttrPath(token: string, fail: (message: string) => never): AttrPath {
  const colon = token.lastIndexOf(":");
  const rest = colon < 0 ? token : token.slice(colon + 1);
  const dot = rest.indexOf(".");
  const attr = dot < 0 ? rest : rest.slice(0, dot);
  const sub = dot < 0 ? undefined : rest.slice(dot + 1);
  if (!isValidName(attr) || (sub !== undefined && !isValidName(sub))) fail(`invalid attribute path '${token}'`);
  const path: AttrPath = { attr };
  if (colon >= 0) {
    if (colon === 0) fail(`invalid attribute path '${token}'`);
    path.uri = token.slice(0, colon);
  }
  if (sub !== undefined) path.sub = sub;
  return path;
}

/**
 * Parses a SCIM filter (RFC 7644 §3.4.2.2) into a typed {@link Filter} AST.
 *
 * Keywords, operators and attribute names are case-insensitive; string values are JSON strings
 * in double quotes (any Unicode, JSON escapes). Invalid input throws a `ScimError` 400
 * `invalidFilter` whose detail names the 1-based position.
 *
 * @example parseFilter('emails[type eq "work" and value co "@example.com"]')
 */
export function parseFilter(text: string, options?: ParseFilterOptions): Filter {
  if (typeof text !== "string") throw badRequest("invalidFilter", "filter must be a string");
  const maxLength = options?.maxLength ?? DEFAULT_MAX_FILTER_LENGTH;
  if (text.length > maxLength) throw badRequest("invalidFilter", `filter longer than ${maxLength} characters at position ${maxLength + 1}`);
  const scanner = new FilterScanner(text, options?.lenient === true, options?.maxDepth ?? DEFAULT_MAX_DEPTH, "invalidFilter");
  scanner.skipSpaces();
  if (scanner.atEnd()) scanner.fail("empty filter");
  const filter = scanner.parseOr(false);
  scanner.skipSpaces();
  if (!scanner.atEnd()) {
    const c = scanner.peek();
    if (c === RPAREN) scanner.fail("unbalanced ')'");
    if (c === RBRACKET) scanner.fail("unbalanced ']'");
    scanner.fail(`expected 'and', 'or' or the end of the filter, found '${text[scanner.pos]}'`);
  }
  return filter;
}

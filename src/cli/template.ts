// The Go text/template language as docker's `--format` uses it: actions,
// pipelines, variables, if/range/with, Go's builtin functions and docker's
// (json, split, join, title, lower, upper, pad, truncate), trim markers, and
// Go's way of printing values (`<nil>`, `map[k:v]`, `[a b]`). Errors read as
// Go's do, because scripts and users match on them.
import { formatG } from "./units.js";

/** A value a template sees: JSON from the API, or a row docker builds (a `StructValue`). */
export type TemplateValue = string | number | boolean | null | undefined | TemplateValue[] | TemplateObject | StructValue;
export interface TemplateObject {
  [key: string]: TemplateValue;
}

/**
 * A Go struct value: its fields are fixed, so a missing one is an error
 * (`can't evaluate field X in type T`) rather than a map's `<no value>`,
 * and `json` prints its fields in sorted order as docker's formatter does.
 */
export class StructValue {
  constructor(
    readonly typeName: string,
    readonly fields: Readonly<Record<string, TemplateValue>>,
  ) {}
}

export type TemplateFunction = (...args: TemplateValue[]) => TemplateValue;
export type FuncMap = Readonly<Record<string, TemplateFunction>>;

export class TemplateError extends Error {
  override name = "TemplateError";
}

// ---------------------------------------------------------------- lexer

type TokenKind = "text" | "leftDelim" | "rightDelim" | "field" | "dot" | "variable" | "identifier" | "string" | "number" | "bool" | "nil" | "pipe" | "leftParen" | "rightParen" | "declare" | "assign" | "comma" | "space" | "eof";

interface Token {
  kind: TokenKind;
  value: string;
  pos: number;
}

const KEYWORDS = new Set(["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"]);

function lex(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const line = (pos: number) => src.slice(0, pos).split("\n").length;
  const fail = (pos: number, msg: string): never => {
    throw new TemplateError(`template: :${line(pos)}: ${msg}`);
  };
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    let text = open === -1 ? src.slice(i) : src.slice(i, open);
    if (open === -1) {
      if (text) tokens.push({ kind: "text", value: text, pos: i });
      break;
    }
    const trimLeft = /^\{\{- [\s\S]/.test(src.slice(open, open + 4)) || /^\{\{-[\t\n\r ]/.test(src.slice(open, open + 4));
    if (trimLeft) text = text.replace(/[\t\n\r ]+$/, "");
    if (text) tokens.push({ kind: "text", value: text, pos: i });
    let p = open + 2 + (trimLeft ? 2 : 0);
    // A comment is an action of its own: {{/* … */}}
    if (src.startsWith("/*", p)) {
      const end = src.indexOf("*/", p + 2);
      if (end === -1) fail(p, "unclosed comment");
      p = end + 2;
      let trimRight = false;
      if (src.startsWith(" -}}", p)) {
        trimRight = true;
        p += 4;
      } else if (src.startsWith("}}", p)) p += 2;
      else fail(p, "comment ends before closing delimiter");
      if (trimRight) while (p < src.length && /[\t\n\r ]/.test(src[p]!)) p++;
      i = p;
      continue;
    }
    tokens.push({ kind: "leftDelim", value: "{{", pos: open });
    let closed = false;
    let parenDepth = 0;
    while (p < src.length) {
      const c = src[p]!;
      if (src.startsWith(" -}}", p) || src.startsWith("\t-}}", p) || src.startsWith("\n-}}", p)) {
        tokens.push({ kind: "rightDelim", value: "}}", pos: p });
        p += 4;
        while (p < src.length && /[\t\n\r ]/.test(src[p]!)) p++;
        closed = true;
        break;
      }
      if (src.startsWith("}}", p)) {
        tokens.push({ kind: "rightDelim", value: "}}", pos: p });
        p += 2;
        closed = true;
        break;
      }
      if (/[\t\n\r ]/.test(c)) {
        const start = p;
        while (p < src.length && /[\t\n\r ]/.test(src[p]!) && !src.startsWith(" -}}", p)) p++;
        tokens.push({ kind: "space", value: src.slice(start, p), pos: start });
        continue;
      }
      if (c === "|") {
        tokens.push({ kind: "pipe", value: c, pos: p++ });
        continue;
      }
      if (c === "(") {
        parenDepth++;
        tokens.push({ kind: "leftParen", value: c, pos: p++ });
        continue;
      }
      if (c === ")") {
        if (--parenDepth < 0) fail(p, `unexpected right paren`);
        tokens.push({ kind: "rightParen", value: c, pos: p++ });
        continue;
      }
      if (c === ",") {
        tokens.push({ kind: "comma", value: c, pos: p++ });
        continue;
      }
      if (src.startsWith(":=", p)) {
        tokens.push({ kind: "declare", value: ":=", pos: p });
        p += 2;
        continue;
      }
      if (c === "=") {
        tokens.push({ kind: "assign", value: "=", pos: p++ });
        continue;
      }
      if (c === '"') {
        const start = p++;
        while (p < src.length && src[p] !== '"') {
          if (src[p] === "\\") p++;
          if (src[p] === "\n") fail(start, "unterminated quoted string");
          p++;
        }
        if (p >= src.length) fail(start, "unterminated quoted string");
        p++;
        tokens.push({ kind: "string", value: unquoteGo(src.slice(start, p)), pos: start });
        continue;
      }
      if (c === "`") {
        const end = src.indexOf("`", p + 1);
        if (end === -1) fail(p, "unterminated raw quoted string");
        tokens.push({ kind: "string", value: src.slice(p + 1, end), pos: p });
        p = end + 1;
        continue;
      }
      if (c === "$") {
        const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(p))!;
        tokens.push({ kind: "variable", value: m[0], pos: p });
        p += m[0].length;
        continue;
      }
      if (c === ".") {
        const m = /^\.[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(p));
        if (m) {
          tokens.push({ kind: "field", value: m[0].slice(1), pos: p });
          p += m[0].length;
        } else if (/[0-9]/.test(src[p + 1] ?? "")) {
          const n = /^\.[0-9]+(?:[eE][+-]?[0-9]+)?/.exec(src.slice(p))!;
          tokens.push({ kind: "number", value: n[0], pos: p });
          p += n[0].length;
        } else {
          tokens.push({ kind: "dot", value: ".", pos: p++ });
        }
        continue;
      }
      if (/[0-9+-]/.test(c)) {
        const m = /^[+-]?(?:0[xX][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]+(?:[eE][+-]?[0-9]+)?)/.exec(src.slice(p));
        if (!m || m[0] === "+" || m[0] === "-" || m[0] === "") fail(p, `bad number syntax: "${c}"`);
        tokens.push({ kind: "number", value: m![0], pos: p });
        p += m![0].length;
        continue;
      }
      if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(p))!;
        const word = m[0];
        const kind: TokenKind = word === "true" || word === "false" ? "bool" : word === "nil" ? "nil" : "identifier";
        tokens.push({ kind, value: word, pos: p });
        p += word.length;
        continue;
      }
      const cp = c.codePointAt(0)!;
      fail(p, `bad character U+${cp.toString(16).toUpperCase().padStart(4, "0")} '${c}'`);
    }
    if (!closed) fail(open, "unclosed action");
    i = p;
  }
  tokens.push({ kind: "eof", value: "", pos: src.length });
  return tokens;
}

function unquoteGo(quoted: string): string {
  const body = quoted.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (_m, e: string) => {
    switch (e[0]) {
      case "n":
        return "\n";
      case "t":
        return "\t";
      case "r":
        return "\r";
      case "a":
        return "\x07";
      case "b":
        return "\b";
      case "f":
        return "\f";
      case "v":
        return "\v";
      case "x":
      case "u":
      case "U":
        return String.fromCodePoint(parseInt(e.slice(1), 16));
      default:
        return /^[0-7]{3}$/.test(e) ? String.fromCharCode(parseInt(e, 8)) : e;
    }
  });
}

// ---------------------------------------------------------------- parser

type Arg =
  | { kind: "field"; names: string[]; pos: number; text: string }
  | { kind: "dot"; pos: number; text: string }
  | { kind: "variable"; name: string; names: string[]; pos: number; text: string }
  | { kind: "literal"; value: TemplateValue; pos: number; text: string }
  | { kind: "function"; name: string; pos: number; text: string }
  | { kind: "pipeline"; pipe: Pipeline; names: string[]; pos: number; text: string };

interface Command {
  args: Arg[];
  pos: number;
}

interface Pipeline {
  decl: string[];
  assign: boolean;
  commands: Command[];
  pos: number;
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipeline }
  | { kind: "if" | "with" | "range"; pipe: Pipeline; list: Node[]; elseList: Node[] | null }
  | { kind: "break" | "continue"; pos: number };

class Parser {
  #i = 0;
  #rangeDepth = 0;
  #vars: string[][] = [["$"]];
  constructor(
    private readonly tokens: Token[],
    private readonly src: string,
    private readonly funcs: FuncMap,
  ) {}

  #line(pos: number): number {
    return this.src.slice(0, pos).split("\n").length;
  }
  #fail(pos: number, msg: string): never {
    throw new TemplateError(`template: :${this.#line(pos)}: ${msg}`);
  }
  #peek(): Token {
    return this.tokens[this.#i]!;
  }
  #next(): Token {
    return this.tokens[this.#i++]!;
  }
  #peekNonSpace(): Token {
    while (this.#peek().kind === "space") this.#i++;
    return this.#peek();
  }
  #nextNonSpace(): Token {
    this.#peekNonSpace();
    return this.#next();
  }

  parse(): Node[] {
    const { nodes, end } = this.#list();
    if (end !== null) this.#fail(end.pos, `unexpected {{${end.value}}}`);
    return nodes;
  }

  /** Nodes up to {{end}}/{{else}} (returned as `end`) or EOF. */
  #list(): { nodes: Node[]; end: { value: "end" | "else"; pos: number } | null } {
    const nodes: Node[] = [];
    for (;;) {
      const t = this.#next();
      if (t.kind === "eof") return { nodes, end: null };
      if (t.kind === "text") {
        nodes.push({ kind: "text", text: t.value });
        continue;
      }
      // leftDelim
      const k = this.#peekNonSpace();
      if (k.kind === "identifier" && KEYWORDS.has(k.value)) {
        this.#next();
        switch (k.value) {
          case "end":
            this.#expectClose("end");
            return { nodes, end: { value: "end", pos: k.pos } };
          case "else":
            // `else` closes the list; `else if`/`else with` are handled by the caller.
            return { nodes, end: { value: "else", pos: k.pos } };
          case "if":
          case "with":
          case "range":
            nodes.push(this.#control(k.value, k.pos));
            continue;
          case "break":
          case "continue":
            if (this.#rangeDepth === 0) this.#fail(k.pos, `{{${k.value}}} outside {{range}}`);
            this.#expectClose(k.value);
            nodes.push({ kind: k.value, pos: k.pos });
            continue;
          default:
            this.#fail(k.pos, `{{${k.value}}} is not supported`);
        }
      }
      const pipe = this.#pipeline("command", true);
      nodes.push({ kind: "action", pipe });
    }
  }

  #expectClose(context: string): void {
    const t = this.#nextNonSpace();
    if (t.kind !== "rightDelim") this.#fail(t.pos, `unexpected ${describe(t)} in ${context}`);
  }

  #control(kind: "if" | "with" | "range", pos: number): Node {
    this.#vars.push([...this.#vars[this.#vars.length - 1]!]);
    const pipe = this.#pipeline(kind, kind === "range");
    if (kind === "range") this.#rangeDepth++;
    const body = this.#list();
    if (kind === "range") this.#rangeDepth--;
    let elseList: Node[] | null = null;
    if (body.end === null) this.#fail(this.src.length, "unexpected EOF");
    if (body.end.value === "else") {
      const after = this.#peekNonSpace();
      if ((kind === "if" && after.kind === "identifier" && after.value === "if") || (kind === "with" && after.kind === "identifier" && after.value === "with")) {
        // `{{else if …}}` is an if nested in the else branch that shares our {{end}}.
        this.#next();
        elseList = [this.#control(kind, after.pos)];
      } else {
        this.#expectClose("else");
        const rest = this.#list();
        if (rest.end === null) this.#fail(this.src.length, "unexpected EOF");
        if (rest.end.value === "else") this.#fail(rest.end.pos, "expected end; found {{else}}");
        elseList = rest.nodes;
      }
    }
    this.#vars.pop();
    return { kind, pipe, list: body.nodes, elseList };
  }

  #pipeline(context: string, allowDecl: boolean): Pipeline {
    const start = this.#peekNonSpace();
    const decl: string[] = [];
    let assign = false;
    // Look ahead for `$x :=`, `$x =` or `$i, $v :=`.
    const save = this.#i;
    if (start.kind === "variable") {
      this.#next();
      let t = this.#peekNonSpace();
      const names = [start.value];
      if (t.kind === "comma" && allowDecl) {
        this.#next();
        const second = this.#nextNonSpace();
        if (second.kind !== "variable") this.#fail(second.pos, "range can only initialize variables");
        names.push(second.value);
        t = this.#peekNonSpace();
      }
      if (t.kind === "declare" || t.kind === "assign") {
        this.#next();
        decl.push(...names);
        assign = t.kind === "assign";
        const scope = this.#vars[this.#vars.length - 1]!;
        if (assign) {
          for (const n of names) if (!scope.includes(n)) this.#fail(t.pos, `undefined variable "${n}"`);
        } else scope.push(...names);
      } else this.#i = save;
    }
    const commands: Command[] = [];
    for (;;) {
      const t = this.#peekNonSpace();
      if (t.kind === "rightDelim" || t.kind === "rightParen") {
        if (t.kind === "rightDelim") this.#next();
        break;
      }
      if (t.kind === "eof") this.#fail(t.pos, `unclosed action`);
      commands.push(this.#command());
      const after = this.#peekNonSpace();
      if (after.kind === "pipe") {
        this.#next();
        const following = this.#peekNonSpace();
        if (following.kind === "rightDelim" || following.kind === "rightParen") this.#fail(following.pos, "missing command");
        continue;
      }
    }
    if (commands.length === 0) this.#fail(start.pos, `missing value for ${context}`);
    for (const c of commands.slice(1)) {
      const first = c.args[0]!;
      if (first.kind === "literal" || first.kind === "dot" || (first.kind === "variable" && first.names.length === 0)) {
        this.#fail(first.pos, `non executable command in pipeline stage 2`);
      }
    }
    return { decl, assign, commands, pos: start.pos };
  }

  #command(): Command {
    const args: Arg[] = [];
    const pos = this.#peekNonSpace().pos;
    for (;;) {
      const t = this.#peek();
      if (t.kind === "space") {
        this.#next();
        continue;
      }
      if (t.kind === "rightDelim" || t.kind === "rightParen" || t.kind === "pipe" || t.kind === "eof") break;
      args.push(this.#operand());
      const after = this.#peek();
      if (after.kind !== "space" && after.kind !== "rightDelim" && after.kind !== "rightParen" && after.kind !== "pipe") {
        this.#fail(after.pos, `unexpected ${describe(after)} in operand`);
      }
    }
    if (args.length === 0) this.#fail(pos, "empty command");
    return { args, pos };
  }

  #fieldChain(): string[] {
    const names: string[] = [];
    while (this.#peek().kind === "field") names.push(this.#next().value);
    return names;
  }

  #operand(): Arg {
    const t = this.#next();
    const text = (end: number) => this.src.slice(t.pos, end);
    switch (t.kind) {
      case "field": {
        const names = [t.value, ...this.#fieldChain()];
        return { kind: "field", names, pos: t.pos, text: text(this.#peek().pos) };
      }
      case "dot":
        return { kind: "dot", pos: t.pos, text: "." };
      case "variable": {
        if (!this.#vars[this.#vars.length - 1]!.includes(t.value)) this.#fail(t.pos, `undefined variable "${t.value}"`);
        const names = this.#fieldChain();
        return { kind: "variable", name: t.value, names, pos: t.pos, text: text(this.#peek().pos) };
      }
      case "string":
        return { kind: "literal", value: t.value, pos: t.pos, text: JSON.stringify(t.value) };
      case "number": {
        const cleaned = t.value.replace(/_/g, "");
        const n = /^[+-]?0[xX]/.test(cleaned) ? parseInt(cleaned, 16) : Number(cleaned);
        if (Number.isNaN(n)) this.#fail(t.pos, `bad number syntax: "${t.value}"`);
        return { kind: "literal", value: n, pos: t.pos, text: t.value };
      }
      case "bool":
        return { kind: "literal", value: t.value === "true", pos: t.pos, text: t.value };
      case "nil":
        return { kind: "literal", value: null, pos: t.pos, text: "nil" };
      case "identifier":
        if (KEYWORDS.has(t.value)) this.#fail(t.pos, `unexpected <${t.value}> in command`);
        if (!(t.value in this.funcs)) this.#fail(t.pos, `function "${t.value}" not defined`);
        return { kind: "function", name: t.value, pos: t.pos, text: t.value };
      case "leftParen": {
        const pipe = this.#pipeline("parenthesized pipeline", false);
        const close = this.#next();
        if (close.kind !== "rightParen") this.#fail(close.pos, `unclosed left paren`);
        const names = this.#fieldChain();
        return { kind: "pipeline", pipe, names, pos: t.pos, text: text(this.#peek().pos) };
      }
      default:
        return this.#fail(t.pos, `unexpected ${describe(t)} in operand`);
    }
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case "rightDelim":
      return `"}}"`;
    case "eof":
      return "EOF";
    case "rightParen":
      return `")"`;
    default:
      return JSON.stringify(t.value);
  }
}

// ---------------------------------------------------------------- values

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false. */
export function isTrue(v: TemplateValue): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "string") return v.length > 0;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "boolean") return v;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof StructValue) return true;
  return Object.keys(v).length > 0;
}

/** `fmt.Sprint` of one value, as Go prints what a template produces. */
export function formatValue(v: TemplateValue): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatNumber(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v)) return `[${v.map(formatNested).join(" ")}]`;
  if (v instanceof StructValue) return `{${Object.values(v.fields).map(formatNested).join(" ")}}`;
  const keys = Object.keys(v).sort();
  return `map[${keys.map((k) => `${k}:${formatNested(v[k])}`).join(" ")}]`;
}

function formatNested(v: TemplateValue): string {
  return v === undefined ? "<nil>" : formatValue(v);
}

/** Integers as integers (the API's sizes and counts), other numbers as Go's `%v` of a float64. */
function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  const exp = Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 21) return formatG(n, shortestDigits(n));
  return String(n);
}

function shortestDigits(n: number): number {
  return n.toExponential().replace(/^-/, "").split("e")[0]!.replace(".", "").length;
}

function typeName(v: TemplateValue): string {
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "[]interface {}";
  if (v instanceof StructValue) return v.typeName;
  return "map[string]interface {}";
}

/** encoding/json with HTML escaping off, as docker's `json` function. */
export function toJson(v: TemplateValue): string {
  // docker's rows marshal themselves with json.Marshal, which escapes <, > and &.
  const text = v instanceof StructValue ? JSON.stringify(toJsonable(v)).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) : JSON.stringify(toJsonable(v));
  return text.replace(/[\u2028\u2029]/g, (c) => (c === "\u2028" ? "\\u2028" : "\\u2029"));
}

function toJsonable(v: TemplateValue): unknown {
  if (v === undefined) return null;
  if (v instanceof StructValue) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v.fields).sort()) out[k] = toJsonable(v.fields[k]);
    return out;
  }
  if (Array.isArray(v)) return v.map(toJsonable);
  if (v !== null && typeof v === "object") {
    // A JSON object is a Go map here, and encoding/json writes maps with sorted keys.
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = toJsonable(v[k]);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------- functions

class ExecError extends Error {}

function asString(v: TemplateValue): string {
  if (typeof v !== "string") throw new ExecError(`wrong type for value; expected string; got ${typeName(v)}`);
  return v;
}

function asInt(v: TemplateValue): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new ExecError(`wrong type for value; expected int; got ${typeName(v)}`);
  return v;
}

function arity(name: string, args: TemplateValue[], n: number): void {
  if (args.length !== n) throw new ExecError(`wrong number of args for ${name}: want ${n} got ${args.length}`);
}

function goEqual(a: TemplateValue, b: TemplateValue): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  // Go 1.18+ compares anything with nil: only nil equals nil.
  if (a === null || b === null) return a === b;
  if (typeof a !== typeof b) throw new ExecError("incompatible types for comparison");
  if (a !== null && typeof a === "object") throw new ExecError("non-comparable type");
  return a === b;
}

function compare(name: string, a: TemplateValue, b: TemplateValue): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a !== typeof b) throw new ExecError("incompatible types for comparison");
  throw new ExecError(`invalid type for comparison in ${name}`);
}

/** Go's strings.Title: the first letter of each word upper-cased. */
function title(s: string): string {
  let prev = " ";
  let out = "";
  for (const ch of s) {
    const separator = !/[\p{L}\p{N}_]/u.test(prev);
    out += separator ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function indexInto(v: TemplateValue, key: TemplateValue): TemplateValue {
  if (Array.isArray(v) || typeof v === "string") {
    const i = asInt(key);
    if (i < 0 || i >= v.length) throw new ExecError(`index out of range: ${i}`);
    return typeof v === "string" ? v.charCodeAt(i) : v[i];
  }
  if (v === null || v === undefined) throw new ExecError("index of untyped nil");
  if (v instanceof StructValue) throw new ExecError(`can't index item of type ${v.typeName}`);
  if (typeof v === "object") {
    if (typeof key !== "string") throw new ExecError(`value has type ${typeName(key)}; should be string`);
    return Object.hasOwn(v, key) ? v[key] : null;
  }
  throw new ExecError(`can't index item of type ${typeName(v)}`);
}

/** Go's fmt.Sprint: a space between operands when neither side is a string. */
function sprint(args: TemplateValue[]): string {
  let out = "";
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += formatValue(a);
  });
  return out;
}

/** Go's fmt.Sprintf for the verbs templates use: %s %v %d %q %t %f %g %e %x %X %c %%. */
export function sprintf(format: string, args: TemplateValue[]): string {
  let out = "";
  let argi = 0;
  const re = /%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?([a-zA-Z%])/g;
  let last = 0;
  for (let m = re.exec(format); m; m = re.exec(format)) {
    out += format.slice(last, m.index);
    last = re.lastIndex;
    const [, flags = "", widthSpec, precSpec, verb = "v"] = m;
    if (verb === "%") {
      out += "%";
      continue;
    }
    const width = widthSpec === "*" ? Number(args[argi++]) : widthSpec ? Number(widthSpec) : undefined;
    const hasPrec = m[0].includes(".");
    const prec = precSpec === "*" ? Number(args[argi++]) : precSpec ? Number(precSpec) : hasPrec ? 0 : undefined;
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const a = args[argi++];
    let s: string;
    switch (verb) {
      case "v":
      case "s":
        s = verb === "s" && typeof a === "number" ? `%!s(${typeName(a)}=${formatValue(a)})` : formatValue(a);
        if (prec !== undefined) s = Array.from(s).slice(0, prec).join("");
        break;
      case "q":
        s = typeof a === "string" ? JSON.stringify(a) : `%!q(${typeName(a)}=${formatValue(a)})`;
        break;
      case "d":
        s = typeof a === "number" && Number.isInteger(a) ? String(a) : `%!d(${typeName(a)}=${formatValue(a)})`;
        if (typeof a === "number" && flags.includes("+") && a >= 0) s = "+" + s;
        break;
      case "t":
        s = typeof a === "boolean" ? String(a) : `%!t(${typeName(a)}=${formatValue(a)})`;
        break;
      case "f":
      case "F":
        s = typeof a === "number" ? a.toFixed(prec ?? 6) : `%!f(${typeName(a)}=${formatValue(a)})`;
        break;
      case "e":
        s = typeof a === "number" ? a.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, "e$10$2") : `%!e(${typeName(a)}=${formatValue(a)})`;
        break;
      case "g":
        s = typeof a === "number" ? (prec === undefined ? formatNumber(a) : formatG(a, prec)) : `%!g(${typeName(a)}=${formatValue(a)})`;
        break;
      case "x":
      case "X": {
        const hex = typeof a === "number" ? a.toString(16) : typeof a === "string" ? Buffer.from(a).toString("hex") : formatValue(a);
        s = verb === "X" ? hex.toUpperCase() : hex;
        break;
      }
      case "c":
        s = typeof a === "number" ? String.fromCodePoint(a) : `%!c(${typeName(a)}=${formatValue(a)})`;
        break;
      default:
        s = `%!${verb}(${typeName(a)}=${formatValue(a)})`;
    }
    if (width !== undefined && Array.from(s).length < width) {
      const padLen = width - Array.from(s).length;
      if (flags.includes("-")) s = s + " ".repeat(padLen);
      else if (flags.includes("0") && /[dfeEgxX]/.test(verb)) {
        const sign = /^[+-]/.test(s) ? s[0]! : "";
        s = sign + "0".repeat(padLen) + s.slice(sign.length);
      } else s = " ".repeat(padLen) + s;
    }
    out += s;
  }
  out += format.slice(last);
  if (argi < args.length) out += `%!(EXTRA ${args.slice(argi).map((a) => `${typeName(a)}=${formatValue(a)}`).join(", ")})`;
  return out;
}

/** Go's builtins plus docker's template functions (cli/templates). */
export const BASIC_FUNCTIONS: FuncMap = {
  and: (...args) => {
    for (const a of args) if (!isTrue(a)) return a;
    return args[args.length - 1];
  },
  or: (...args) => {
    for (const a of args) if (isTrue(a)) return a;
    return args[args.length - 1];
  },
  not: (...args) => {
    arity("not", args, 1);
    return !isTrue(args[0]);
  },
  eq: (...args) => {
    if (args.length < 2) throw new ExecError("missing argument for comparison");
    return args.slice(1).some((b) => goEqual(args[0], b));
  },
  ne: (...args) => {
    arity("ne", args, 2);
    return !goEqual(args[0], args[1]);
  },
  lt: (...args) => {
    arity("lt", args, 2);
    return compare("lt", args[0], args[1]) < 0;
  },
  le: (...args) => {
    arity("le", args, 2);
    return compare("le", args[0], args[1]) <= 0;
  },
  gt: (...args) => {
    arity("gt", args, 2);
    return compare("gt", args[0], args[1]) > 0;
  },
  ge: (...args) => {
    arity("ge", args, 2);
    return compare("ge", args[0], args[1]) >= 0;
  },
  len: (...args) => {
    arity("len", args, 1);
    const v = args[0];
    if (typeof v === "string") return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.length;
    if (v !== null && typeof v === "object" && !(v instanceof StructValue)) return Object.keys(v).length;
    throw new ExecError(`len of type ${typeName(v)}`);
  },
  index: (...args) => {
    if (args.length === 0) throw new ExecError("wrong number of args for index: want at least 1 got 0");
    let v = args[0];
    for (const k of args.slice(1)) v = indexInto(v, k);
    return v;
  },
  slice: (...args) => {
    const v = args[0];
    const idx = args.slice(1).map(asInt);
    if (typeof v === "string") return v.slice(idx[0] ?? 0, idx[1] ?? v.length);
    if (Array.isArray(v)) return v.slice(idx[0] ?? 0, idx[1] ?? v.length);
    throw new ExecError(`can't slice item of type ${typeName(v)}`);
  },
  print: (...args) => sprint(args),
  printf: (...args) => sprintf(asString(args[0]), args.slice(1)),
  println: (...args) => args.map(formatValue).join(" ") + "\n",
  json: (...args) => {
    arity("json", args, 1);
    return toJson(args[0]);
  },
  split: (...args) => {
    arity("split", args, 2);
    const s = asString(args[0]);
    const sep = asString(args[1]);
    return sep === "" ? Array.from(s) : s.split(sep);
  },
  join: (...args) => {
    arity("join", args, 2);
    const [elems, sep] = args;
    const separator = asString(sep);
    if (elems === null || elems === undefined) return "";
    if (Array.isArray(elems)) return elems.map(formatValue).join(separator);
    if (typeof elems === "object" && !(elems instanceof StructValue)) return Object.values(elems).map(formatValue).sort().join(separator);
    throw new ExecError(`expected slice, got ${typeName(elems)}`);
  },
  title: (...args) => {
    arity("title", args, 1);
    return title(asString(args[0]));
  },
  lower: (...args) => {
    arity("lower", args, 1);
    return asString(args[0]).toLowerCase();
  },
  upper: (...args) => {
    arity("upper", args, 1);
    return asString(args[0]).toUpperCase();
  },
  pad: (...args) => {
    arity("pad", args, 3);
    const s = asString(args[0]);
    return s === "" ? s : " ".repeat(asInt(args[1])) + s + " ".repeat(asInt(args[2]));
  },
  truncate: (...args) => {
    arity("truncate", args, 2);
    const s = asString(args[0]);
    const n = asInt(args[1]);
    return Buffer.byteLength(s) < n ? s : Buffer.from(s).subarray(0, n).toString();
  },
};

/**
 * docker's functions for rendering a table's header row: they leave the
 * column name as it is (cli/templates HeaderFunctions).
 */
export const HEADER_FUNCTIONS: FuncMap = {
  ...BASIC_FUNCTIONS,
  json: (v) => v,
  split: (v) => v,
  join: (v) => v,
  title: (v) => v,
  lower: (v) => v,
  upper: (v) => v,
  truncate: (v) => v,
};

// ---------------------------------------------------------------- execution

class Break {}
class Continue {}

interface Scope {
  vars: Map<string, TemplateValue>[];
}

export class Template {
  readonly #nodes: Node[];
  readonly #src: string;
  readonly #funcs: FuncMap;
  /** Go's `missingkey=error` option, which docker's inspect uses. */
  #missingKeyError = false;

  private constructor(nodes: Node[], src: string, funcs: FuncMap) {
    this.#nodes = nodes;
    this.#src = src;
    this.#funcs = funcs;
  }

  /** Parses `src`; errors read `template: :LINE: ...` as Go's parser's do. */
  static parse(src: string, funcs: FuncMap = BASIC_FUNCTIONS): Template {
    return new Template(new Parser(lex(src), src, funcs).parse(), src, funcs);
  }

  /** The same template run with other functions (docker renders table headers so). */
  withFunctions(funcs: FuncMap): Template {
    return new Template(this.#nodes, this.#src, funcs);
  }

  /** Runs the template; a failure is a TemplateError reading as Go's `executing` errors, with the output so far. */
  execute(data: TemplateValue, options: { missingKey?: "default" | "error" } = {}): string {
    this.#missingKeyError = options.missingKey === "error";
    const out: string[] = [];
    const scope: Scope = { vars: [new Map([["$", data]])] };
    try {
      this.#walkList(this.#nodes, data, scope, out);
    } catch (e) {
      if (e instanceof TemplateError) throw Object.assign(e, { partial: out.join("") });
      throw e;
    }
    return out.join("");
  }

  #errorAt(pos: number, text: string, msg: string): TemplateError {
    const before = this.#src.slice(0, pos);
    const line = before.split("\n").length;
    const col = pos - (before.lastIndexOf("\n") + 1);
    return new TemplateError(`template: :${line}:${col}: executing "" at <${text}>: ${msg}`);
  }

  #walkList(nodes: Node[], dot: TemplateValue, scope: Scope, out: string[]): void {
    for (const n of nodes) this.#walk(n, dot, scope, out);
  }

  #walk(node: Node, dot: TemplateValue, scope: Scope, out: string[]): void {
    switch (node.kind) {
      case "text":
        out.push(node.text);
        return;
      case "action": {
        const v = this.#pipeline(node.pipe, dot, scope);
        if (node.pipe.decl.length === 0) out.push(formatValue(v));
        return;
      }
      case "break":
        throw new Break();
      case "continue":
        throw new Continue();
      case "if":
      case "with": {
        scope.vars.push(new Map());
        try {
          const v = this.#pipeline(node.pipe, dot, scope);
          if (isTrue(v)) this.#walkList(node.list, node.kind === "with" ? v : dot, scope, out);
          else if (node.elseList) this.#walkList(node.elseList, dot, scope, out);
        } finally {
          scope.vars.pop();
        }
        return;
      }
      case "range": {
        scope.vars.push(new Map());
        try {
          const v = this.#pipeline({ ...node.pipe, decl: [] }, dot, scope);
          const entries: [TemplateValue, TemplateValue][] = [];
          if (Array.isArray(v)) v.forEach((x, i) => entries.push([i, x]));
          else if (typeof v === "number" && Number.isInteger(v)) for (let i = 0; i < v; i++) entries.push([i, i]);
          else if (v !== null && v !== undefined && typeof v === "object" && !(v instanceof StructValue)) {
            for (const k of Object.keys(v).sort()) entries.push([k, v[k]]);
          } else if (v !== null && v !== undefined) {
            throw this.#errorAt(node.pipe.pos, node.pipe.commands[0]?.args[0]?.text ?? "", `range can't iterate over ${formatValue(v)}`);
          }
          if (entries.length === 0) {
            if (node.elseList) this.#walkList(node.elseList, dot, scope, out);
            return;
          }
          const decl = node.pipe.decl;
          for (const [k, x] of entries) {
            const frame = scope.vars[scope.vars.length - 1]!;
            if (decl.length === 1) frame.set(decl[0]!, x);
            if (decl.length === 2) {
              frame.set(decl[0]!, k);
              frame.set(decl[1]!, x);
            }
            try {
              this.#walkList(node.list, x, scope, out);
            } catch (e) {
              if (e instanceof Break) break;
              if (e instanceof Continue) continue;
              throw e;
            }
          }
        } finally {
          scope.vars.pop();
        }
        return;
      }
    }
  }

  #lookupVar(scope: Scope, name: string): TemplateValue {
    for (let i = scope.vars.length - 1; i >= 0; i--) {
      const frame = scope.vars[i]!;
      if (frame.has(name)) return frame.get(name);
    }
    return undefined;
  }

  #pipeline(pipe: Pipeline, dot: TemplateValue, scope: Scope): TemplateValue {
    let value: TemplateValue = undefined;
    let hasFinal = false;
    for (const cmd of pipe.commands) {
      value = this.#command(cmd, dot, scope, hasFinal, value);
      hasFinal = true;
    }
    if (pipe.decl.length > 0) {
      if (pipe.assign) {
        for (let i = scope.vars.length - 1; i >= 0; i--) {
          const frame = scope.vars[i]!;
          if (frame.has(pipe.decl[0]!)) {
            frame.set(pipe.decl[0]!, value);
            break;
          }
        }
      } else scope.vars[scope.vars.length - 1]!.set(pipe.decl[0]!, value);
    }
    return value;
  }

  #command(cmd: Command, dot: TemplateValue, scope: Scope, hasFinal: boolean, final: TemplateValue): TemplateValue {
    const [first, ...rest] = cmd.args;
    if (!first) return undefined;
    if (first.kind === "function") {
      const fn = this.#funcs[first.name];
      if (!fn) throw this.#errorAt(first.pos, first.text, `function "${first.name}" not defined`);
      const args = rest.map((a) => this.#arg(a, dot, scope));
      if (hasFinal) args.push(final);
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof ExecError) throw this.#errorAt(first.pos, first.text, `error calling ${first.name}: ${e.message}`);
        throw e;
      }
    }
    if (rest.length > 0 || hasFinal) {
      if (first.kind === "field") throw this.#errorAt(first.pos, first.text, `${first.names[first.names.length - 1]} has arguments but cannot be invoked as function`);
      throw this.#errorAt(first.pos, first.text, `can't give argument to non-function ${first.text}`);
    }
    return this.#arg(first, dot, scope);
  }

  #arg(arg: Arg, dot: TemplateValue, scope: Scope): TemplateValue {
    switch (arg.kind) {
      case "literal":
        return arg.value;
      case "dot":
        return dot;
      case "field":
        return this.#fields(dot, arg.names, arg);
      case "variable":
        return this.#fields(this.#lookupVar(scope, arg.name), arg.names, arg);
      case "pipeline":
        return this.#fields(this.#pipeline(arg.pipe, dot, scope), arg.names, arg);
      case "function": {
        const fn = this.#funcs[arg.name]!;
        try {
          return fn();
        } catch (e) {
          if (e instanceof ExecError) throw this.#errorAt(arg.pos, arg.text, `error calling ${arg.name}: ${e.message}`);
          throw e;
        }
      }
    }
  }

  #fields(start: TemplateValue, names: string[], arg: Arg): TemplateValue {
    let v = start;
    for (const name of names) {
      if (v instanceof StructValue) {
        if (!Object.hasOwn(v.fields, name)) throw this.#errorAt(arg.pos, arg.text, `can't evaluate field ${name} in type ${v.typeName}`);
        v = v.fields[name];
      } else if (v === null || v === undefined) {
        throw this.#errorAt(arg.pos, arg.text, `nil pointer evaluating interface {}.${name}`);
      } else if (typeof v === "object" && !Array.isArray(v)) {
        // A JSON object is a Go map: a missing key is `<no value>`, not an error.
        if (!Object.hasOwn(v, name) && this.#missingKeyError) throw this.#errorAt(arg.pos, arg.text, `map has no entry for key "${name}"`);
        v = Object.hasOwn(v, name) ? v[name] : undefined;
      } else {
        throw this.#errorAt(arg.pos, arg.text, `can't evaluate field ${name} in type ${typeName(v)}`);
      }
    }
    return v;
  }
}

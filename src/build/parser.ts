// parser: Dockerfile text → a list of instruction nodes (the AST), as
// BuildKit's parser reads it. What it does:
//
// - parser directives (`# syntax=…`, `# escape=…`, `# check=…`) in the
//   leading comment lines, until the first line that is not one;
// - comments (whole lines starting with `#`) and blank lines, also inside
//   continuations; line continuations with the escape token at the end of a
//   line; leading whitespace of continuation lines kept;
// - per instruction, the leading `--flag` words, then its arguments in the
//   shape that instruction takes (JSON array or shell form, key/value pairs,
//   whitespace-separated words, one string, a nested instruction);
// - heredocs (`<<EOF` … `EOF`) after RUN, COPY and ADD in shell form.
//
// Nothing is expanded here: variables are substituted when instructions are
// read against their build state (instructions.ts, shell.ts).
import { wharfError } from "../internal/index.js";
import { processWords } from "./shell.js";

export interface Heredoc {
  /** The terminator word, quotes removed. */
  readonly name: string;
  /** The lines between the instruction and the terminator, each with its newline. */
  readonly content: string;
  /** False when the word was quoted (`<<"EOF"`): the content is taken as written. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are stripped from the content. */
  readonly chomp: boolean;
  readonly fileDescriptor: number;
}

export interface DockerfileNode {
  /** The instruction keyword, lower-cased (`run`, `copy`). */
  readonly keyword: string;
  /** The instruction line as written, continuations joined. */
  readonly original: string;
  /** Leading `--name=value` words, as written (quotes removed). */
  readonly flags: readonly string[];
  /**
   * The arguments in the instruction's shape: words for the JSON form and
   * list forms, one string for the shell form, `key, value, separator` triples
   * for ENV and LABEL.
   */
  readonly args: readonly string[];
  /** Whether the arguments were a JSON array. */
  readonly json: boolean;
  /** The nested instruction of ONBUILD. */
  readonly sub?: DockerfileNode;
  readonly heredocs: readonly Heredoc[];
  readonly startLine: number;
  readonly endLine: number;
}

export interface Directives {
  readonly escape: string;
  readonly syntax?: string;
  readonly check?: string;
}

export interface ParseResult {
  readonly nodes: readonly DockerfileNode[];
  readonly directives: Directives;
  readonly warnings: readonly string[];
}

/** A parse error, with the lines it concerns. */
export function parseError(message: string, startLine?: number, endLine?: number) {
  if (startLine === undefined) return wharfError("invalid-argument", `dockerfile parse error: ${message}`);
  const where = endLine === undefined || endLine === startLine ? `line ${startLine}` : `lines ${startLine}-${endLine}`;
  return wharfError("invalid-argument", `dockerfile parse error on ${where}: ${message}`);
}

const DIRECTIVE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(["escape", "syntax", "check"]);
const WHITESPACE = /[\t\v\f\r ]+/;
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;
const HEREDOC_INSTRUCTIONS = new Set(["run", "copy", "add"]);

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

class DirectiveReader {
  done = false;
  readonly seen = new Map<string, string>();
  escape = "\\";
  continuation = continuationRegExp("\\");

  /** Looks at a leading line; records it when it is a directive. */
  line(text: string): void {
    if (this.done) return;
    const m = DIRECTIVE.exec(text);
    const name = m?.[1]?.toLowerCase();
    if (!m || !name || !KNOWN_DIRECTIVES.has(name)) {
      this.done = true;
      return;
    }
    if (this.seen.has(name)) throw parseError(`only one ${name} parser directive can be used`);
    const value = m[2]!;
    this.seen.set(name, value);
    if (name === "escape") {
      if (value !== "`" && value !== "\\") throw parseError(`invalid escape token '${value}' does not match \` or \\`);
      this.escape = value;
      this.continuation = continuationRegExp(value);
    }
  }
}

/** The escape token at the end of a line (optionally followed by blanks), unless it is itself escaped. */
function continuationRegExp(escape: string): RegExp {
  const e = escapeRegExp(escape);
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

const trimLeft = (s: string) => s.replace(/^\s+/u, "");
const isComment = (s: string) => trimLeft(s).startsWith("#");

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => l.replace(/[\r\n]+$/, ""));
}

/** Parses a whole Dockerfile. Throws invalid-argument naming the line. */
export function parseDockerfile(text: string): ParseResult {
  const lines = splitLines(text.startsWith("\uFEFF") ? text.slice(1) : text);
  const d = new DirectiveReader();
  const nodes: DockerfileNode[] = [];
  const warnings: string[] = [];
  let i = 0;
  const trimContinuation = (line: string): { line: string; end: boolean } => {
    if (d.continuation.test(line)) return { line: line.replace(d.continuation, "$1"), end: false };
    return { line, end: true };
  };
  while (i < lines.length) {
    const raw = trimLeft(lines[i]!);
    i++;
    d.line(raw);
    const startLine = i;
    if (isComment(raw)) continue;
    let { line, end } = trimContinuation(raw);
    if (end && line === "") continue;
    let emptyContinuation = false;
    while (!end && i < lines.length) {
      const next = lines[i]!;
      i++;
      d.line(next);
      if (isComment(next)) continue;
      if (trimLeft(next).length === 0) {
        emptyContinuation = true;
        continue;
      }
      const t = trimContinuation(next);
      line += t.line;
      end = t.end;
    }
    if (emptyContinuation) warnings.push(`Empty continuation line found in: ${line}`);
    let node: DockerfileNode;
    try {
      node = nodeFromLine(line, d.escape, startLine, i);
    } catch (e) {
      throw parseError((e as Error).message.replace(/^dockerfile parse error: /, ""), startLine, i);
    }
    if (HEREDOC_INSTRUCTIONS.has(node.keyword) && !node.json && line.includes("<<")) {
      const heredocs: Heredoc[] = [];
      for (const doc of heredocWords(node.args.join(" "))) {
        let content = "";
        let terminated = false;
        while (i < lines.length) {
          const body = lines[i]!;
          i++;
          const candidate = doc.chomp ? body.replace(/^\t+/, "") : body;
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          content += body + "\n";
        }
        if (!terminated) throw parseError("unterminated heredoc", startLine, i);
        heredocs.push({ ...doc, content });
      }
      node = { ...node, heredocs, endLine: i };
    }
    nodes.push(node);
  }
  if (nodes.length === 0) throw parseError("file with no instructions");
  const directives: Directives = {
    escape: d.escape,
    ...(d.seen.has("syntax") ? { syntax: d.seen.get("syntax")! } : {}),
    ...(d.seen.has("check") ? { check: d.seen.get("check")! } : {}),
  };
  return { nodes, directives, warnings };
}

/** The heredoc words of a shell-form line (`<<EOF`, `<<-"EOF"`, `3<<EOF`). */
function heredocWords(line: string): Omit<Heredoc, "content">[] {
  const out: Omit<Heredoc, "content">[] = [];
  let words: string[];
  try {
    words = processWords(line, () => undefined, { rawQuotes: true, rawEscapes: true, skipUnset: true });
  } catch {
    return out;
  }
  for (const word of words) {
    const m = HEREDOC_WORD.exec(word);
    if (!m || !m[3]) continue;
    const rest = m[3];
    let plain: string[];
    let raw: string[];
    try {
      plain = processWords(rest, () => undefined, { skipUnset: true });
      raw = processWords(rest, () => undefined, { skipUnset: true, rawQuotes: true });
    } catch {
      continue;
    }
    if (plain.length !== 1 || raw.length !== 1) continue;
    const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
    out.push({ name: plain[0]!, expand: quotes(plain[0]!) === quotes(raw[0]!), chomp: m[2] === "-", fileDescriptor: Number(m[1] || "0") });
  }
  return out;
}

interface Parsed {
  readonly args: string[];
  readonly json: boolean;
  readonly sub?: DockerfileNode;
}

type ArgParser = (rest: string, escape: string, lines: [number, number]) => Parsed;

const none: Parsed = { args: [], json: false };

const PARSERS: Readonly<Record<string, ArgParser>> = {
  add: (rest) => maybeJsonToList(rest),
  arg: (rest, escape) => ({ args: parseWords(rest, escape), json: false }),
  cmd: (rest) => maybeJson(rest),
  copy: (rest) => maybeJsonToList(rest),
  entrypoint: (rest) => maybeJson(rest),
  env: (rest, escape) => ({ args: nameValues(rest, "ENV", escape), json: false }),
  expose: (rest) => whitespaceList(rest),
  from: (rest) => whitespaceList(rest),
  healthcheck: (rest) => healthcheck(rest),
  label: (rest, escape) => ({ args: nameValues(rest, "LABEL", escape), json: false }),
  maintainer: (rest) => oneString(rest),
  onbuild: (rest, escape, lines) => (rest === "" ? none : { args: [], json: false, sub: nodeFromLine(rest, escape, lines[0], lines[1]) }),
  run: (rest) => maybeJson(rest),
  shell: (rest) => maybeJson(rest),
  stopsignal: (rest) => oneString(rest),
  user: (rest) => oneString(rest),
  volume: (rest) => maybeJsonToList(rest),
  workdir: (rest) => oneString(rest),
};

function nodeFromLine(line: string, escape: string, startLine: number, endLine: number): DockerfileNode {
  const trimmed = line.trim();
  const split = WHITESPACE.exec(trimmed);
  const keyword = (split ? trimmed.slice(0, split.index) : trimmed).toLowerCase();
  let flags: string[] = [];
  let rest = "";
  if (split) {
    const extracted = extractFlags(trimmed.slice(split.index + split[0].length));
    flags = extracted.flags;
    rest = extracted.rest.trim();
  }
  const parser = PARSERS[keyword];
  // Unknown instructions parse (to nothing); reading the instruction rejects them with its line.
  const parsed = parser ? parser(rest, escape, [startLine, endLine]) : none;
  return { keyword, original: line, flags, args: parsed.args, json: parsed.json, ...(parsed.sub ? { sub: parsed.sub } : {}), heredocs: [], startLine, endLine };
}

/** Leading `--flag` words (quotes and escapes processed); stops at the first other word or at `--`. */
function extractFlags(line: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOk = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const ch = pos < line.length ? line[pos]! : "";
    if (phase === "spaces") {
      if (pos === line.length) break;
      if (/\s/.test(ch)) continue;
      if (ch !== "-" || line[pos + 1] !== "-") return { flags, rest: line.slice(pos) };
      phase = "word";
    }
    if (pos === line.length) {
      if (word !== "--" && (blankOk || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === "word") {
      if (/\s/.test(ch)) {
        phase = "spaces";
        if (word === "--") return { flags, rest: line.slice(pos) };
        if (blankOk || word.length > 0) flags.push(word);
        word = "";
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = "quote";
        continue;
      }
      if (ch === "\\") {
        if (pos + 1 === line.length) continue;
        pos++;
        word += line[pos]!;
        continue;
      }
      word += ch;
      continue;
    }
    // in a quote
    if (ch === quote) {
      phase = "word";
      continue;
    }
    if (ch === "\\") {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      pos++;
      word += line[pos]!;
      continue;
    }
    word += ch;
  }
  return { flags, rest: "" };
}

/**
 * Splits on whitespace outside quotes, keeping quotes and escapes in the
 * words (they are processed later, against the build's variables).
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOk = false;
  const chars = [...rest];
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = pos < chars.length ? chars[pos]! : "";
    if (phase === "spaces") {
      if (pos === chars.length) break;
      if (/^\s$/u.test(ch)) continue;
      phase = "word";
    }
    if (pos === chars.length) {
      if (blankOk || word.length > 0) words.push(word);
      break;
    }
    if (phase === "word") {
      if (/^\s$/u.test(ch)) {
        phase = "spaces";
        if (blankOk || word.length > 0) words.push(word);
        word = "";
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = "quote";
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue; // an escape at the end is dropped
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = "word";
    // Inside single quotes the escape token escapes nothing.
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = "word";
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}

/** ENV and LABEL: `key value` (one pair, the rest of the line) or `k=v k2=v2`; triples of key, value, separator. */
function nameValues(rest: string, instruction: string, escape: string): string[] {
  const words = parseWords(rest, escape);
  if (words.length === 0) return [];
  if (!words[0]!.includes("=")) {
    const m = WHITESPACE.exec(rest);
    if (!m) throw parseError(`${instruction} must have two arguments`);
    return [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ""];
  }
  const out: string[] = [];
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq === -1) throw parseError(`Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
    out.push(word.slice(0, eq), word.slice(eq + 1), "=");
  }
  return out;
}

function oneString(rest: string): Parsed {
  return rest === "" ? none : { args: [rest], json: false };
}

function whitespaceList(rest: string): Parsed {
  return rest === "" ? none : { args: rest.split(WHITESPACE), json: false };
}

class NotStringArray extends Error {}

/** The first JSON value of `rest` when it is an array of strings; undefined when `rest` is not JSON at all. */
function parseJsonArray(rest: string): string[] | undefined {
  const text = trimLeft(rest);
  if (!text.startsWith("[")) return undefined;
  const end = jsonValueEnd(text);
  if (end === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text.slice(0, end));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((v): v is string => typeof v === "string")) throw new NotStringArray();
  return value;
}

/** Where the JSON value at the start of `text` ends (Go's decoder reads one value and leaves the rest). */
function jsonValueEnd(text: string): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "[" || ch === "{") depth++;
    else if (ch === "]" || ch === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return undefined;
}

function maybeJson(rest: string): Parsed {
  if (rest === "") return none;
  try {
    const arr = parseJsonArray(rest);
    if (arr) return { args: arr, json: true };
  } catch (e) {
    if (e instanceof NotStringArray) throw parseError("when using JSON array syntax, arrays must be comprised of strings only");
    throw e;
  }
  return { args: [rest], json: false };
}

function maybeJsonToList(rest: string): Parsed {
  try {
    const arr = parseJsonArray(rest);
    if (arr) return { args: arr, json: true };
  } catch (e) {
    if (e instanceof NotStringArray) throw parseError("when using JSON array syntax, arrays must be comprised of strings only");
    throw e;
  }
  return whitespaceList(rest);
}

/** HEALTHCHECK: the type word (`CMD`, `NONE`), then the command in JSON or shell form. */
function healthcheck(rest: string): Parsed {
  const m = /\s/.exec(rest);
  const sep = m ? m.index : rest.length;
  if (sep === 0) return none;
  const type = rest.slice(0, sep);
  const cmd = maybeJson(trimLeft(rest.slice(sep)));
  return { args: [type, ...cmd.args], json: cmd.json };
}

// ---- dump, in the form of BuildKit's corpus results ---------------------

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case "\\":
        out += "\\\\";
        continue;
      case "\x07":
        out += "\\a";
        continue;
      case "\b":
        out += "\\b";
        continue;
      case "\f":
        out += "\\f";
        continue;
      case "\n":
        out += "\\n";
        continue;
      case "\r":
        out += "\\r";
        continue;
      case "\t":
        out += "\\t";
        continue;
      case "\v":
        out += "\\v";
        continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp >= 0x80 && cp < 0xa0) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else if (cp === 0xfffd && ch !== "\ufffd") out += "\\ufffd";
    else out += ch;
  }
  return out + '"';
}

/** One node as the corpus prints it: `(keyword ["--flag"] "arg" …)`. */
export function dumpNode(node: DockerfileNode): string {
  let s = node.keyword;
  if (node.flags.length > 0) s += ` [${node.flags.map(goQuote).join(" ")}]`;
  if (node.sub) s += ` ${dumpNode(node.sub)}`;
  for (const a of node.args) s += ` ${goQuote(a)}`;
  return `(${s.trim()})`;
}

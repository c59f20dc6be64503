// shell: variable expansion and word splitting of Dockerfile arguments, as
// BuildKit's shell lexer does them — a small subset of POSIX sh: single and
// double quotes, the escape token, `$name`, `${name}`, `${name:-word}`,
// `${name:+word}`, `${name?word}`, `${name:?word}`. No command substitution,
// no globbing, no arithmetic. Positional and special parameters are never
// set (they expand to nothing).
import { wharfError } from "../internal/index.js";

/** Variables for expansion: a name's value, or undefined when it is unset. */
export type Env = (name: string) => string | undefined;

export interface LexOptions {
  /** `\` (default) or `` ` `` as set by the `escape` directive. */
  readonly escape?: string;
  /** Keep quote characters in the result (used to find quoted heredoc words). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Leave references to unset variables as they are written. */
  readonly skipUnset?: boolean;
}

/** `KEY=value` lines (as an image config's Env) as an Env; the last one of a name wins. */
export function envFromList(list: readonly string[]): Env {
  const map = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf("=");
    if (eq === -1) map.set(entry, "");
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return (name) => map.get(name);
}

/** Expands one word (quotes removed, variables substituted) without splitting it. */
export function processWord(source: string, env: Env, options: LexOptions = {}): string {
  return new Lexer(source, env, options).run().word;
}

/** Expands and splits into words: unquoted whitespace, also inside an expanded variable, separates words. */
export function processWords(source: string, env: Env, options: LexOptions = {}): string[] {
  return new Lexer(source, env, options).run().words;
}

const isSpace = (ch: string) => /^\s$/u.test(ch);
const isLetter = (ch: string) => /^\p{L}$/u.test(ch);
const isDigit = (ch: string) => /^\p{Nd}$/u.test(ch);
const SPECIAL_PARAMS = new Set(["@", "*", "#", "?", "-", "$", "!", "0"]);

class Words {
  word = "";
  words: string[] = [];
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.word.length > 0) {
        this.words.push(this.word);
        this.word = "";
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  get(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = "";
      this.inWord = false;
    }
    return this.words;
  }
}

class Lexer {
  readonly #chars: string[];
  #pos = 0;
  readonly #env: Env;
  readonly #escape: string;
  readonly #rawQuotes: boolean;
  readonly #rawEscapes: boolean;
  readonly #skipUnset: boolean;
  readonly #source: string;

  constructor(source: string, env: Env, options: LexOptions) {
    this.#source = source;
    this.#chars = [...source];
    this.#env = env;
    this.#escape = options.escape ?? "\\";
    this.#rawQuotes = options.rawQuotes ?? false;
    this.#rawEscapes = options.rawEscapes ?? false;
    this.#skipUnset = options.skipUnset ?? false;
  }

  #peek(): string | undefined {
    return this.#chars[this.#pos];
  }

  #next(): string | undefined {
    return this.#chars[this.#pos++];
  }

  run(): { word: string; words: string[] } {
    try {
      return this.#until(undefined);
    } catch (e) {
      throw wharfError("invalid-argument", `failed to process ${JSON.stringify(this.#source)}: ${(e as Error).message}`);
    }
  }

  /** Reads up to `stop` (consumed) or the end. */
  #until(stop: string | undefined): { word: string; words: string[] } {
    let result = "";
    const words = new Words();
    while (this.#peek() !== undefined) {
      const ch = this.#peek()!;
      if (stop !== undefined && ch === stop) {
        this.#next();
        return { word: result, words: words.get() };
      }
      if (ch === "'" || ch === '"' || ch === "$") {
        const part = ch === "'" ? this.#single() : ch === '"' ? this.#double() : this.#dollar();
        result += part;
        if (ch === "$") words.addString(part);
        else words.addRawString(part);
        continue;
      }
      let c = this.#next()!;
      if (c === this.#escape) {
        if (this.#rawEscapes) {
          words.addRawChar(c);
          result += c;
        }
        const escaped = this.#next();
        if (escaped === undefined) break;
        c = escaped;
        words.addRawChar(c);
      } else {
        words.addChar(c);
      }
      result += c;
    }
    if (stop !== undefined) throw new Error(`unexpected end of statement while looking for matching ${stop}`);
    return { word: result, words: words.get() };
  }

  #single(): string {
    let result = "";
    const open = this.#next()!;
    if (this.#rawQuotes) result += open;
    for (;;) {
      const ch = this.#next();
      if (ch === undefined) throw new Error("unexpected end of statement while looking for matching single-quote");
      if (ch === "'") {
        if (this.#rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  #double(): string {
    let result = "";
    const open = this.#next()!;
    if (this.#rawQuotes) result += open;
    for (;;) {
      const peek = this.#peek();
      if (peek === undefined) throw new Error("unexpected end of statement while looking for matching double-quote");
      if (peek === '"') {
        this.#next();
        if (this.#rawQuotes) result += peek;
        return result;
      }
      if (peek === "$") {
        result += this.#dollar();
        continue;
      }
      let ch = this.#next()!;
      if (ch === this.#escape) {
        if (this.#rawEscapes) result += ch;
        const after = this.#peek();
        if (after === undefined) continue; // an escape at the end is dropped
        if (after === '"' || after === "$" || after === this.#escape) ch = this.#next()!;
      }
      result += ch;
    }
  }

  #dollar(): string {
    this.#next(); // $
    if (this.#peek() !== "{") {
      const name = this.#name();
      if (name === "") return "$";
      const value = this.#env(name);
      if (value === undefined && this.#skipUnset) return `$${name}`;
      return value ?? "";
    }
    this.#next(); // {
    const first = this.#peek();
    if (first === undefined) throw new Error("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") throw new Error("syntax error: bad substitution");
    const name = this.#name();
    const ch = this.#next();
    const value = this.#env(name);
    const set = value !== undefined;
    switch (ch) {
      case "}":
        if (!set && this.#skipUnset) return `\${${name}}`;
        return value ?? "";
      case "?": {
        const word = this.#nested();
        if (!set) {
          if (this.#skipUnset) return `\${${name}?${word}}`;
          throw new Error(`${name}: ${word || "is not allowed to be unset"}`);
        }
        return value;
      }
      case ":": {
        const modifier = this.#next();
        const word = this.#nested();
        switch (modifier) {
          case "+":
            if (!set && this.#skipUnset) return `\${${name}:+${word}}`;
            return value ? word : (value ?? "");
          case "-":
            if (!set && this.#skipUnset) return `\${${name}:-${word}}`;
            return value ? value : word;
          case "?":
            if (!set) throw new Error(`${name}: ${word || "is not allowed to be unset"}`);
            if (value === "") throw new Error(`${name}: ${word || "is not allowed to be empty"}`);
            return value;
          default:
            throw new Error(`unsupported modifier (${modifier ?? ""}) in substitution`);
        }
      }
      default:
        throw new Error("missing ':' in substitution");
    }
  }

  /** The word of `${name:-word}`, itself expanded, up to the closing brace. */
  #nested(): string {
    try {
      return this.#until("}").word;
    } catch (e) {
      if (this.#peek() === undefined) throw new Error("syntax error: missing '}'");
      throw e;
    }
  }

  /** A name (letters, digits, `_`), all digits of a positional parameter, or one special parameter. */
  #name(): string {
    let name = "";
    for (;;) {
      const ch = this.#peek();
      if (ch === undefined) break;
      if (name === "" && isDigit(ch)) {
        while (this.#peek() !== undefined && isDigit(this.#peek()!)) name += this.#next();
        return name;
      }
      if (name === "" && SPECIAL_PARAMS.has(ch)) return this.#next()!;
      if (!isLetter(ch) && !isDigit(ch) && ch !== "_") break;
      name += this.#next();
    }
    return name;
  }
}

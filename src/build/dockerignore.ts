// dockerignore: the `.dockerignore` pattern rules as docker applies them —
// one pattern a line, `#` comments, `!` exceptions, `*`, `?`, `[…]`, `**`
// for any number of directories; the last matching pattern decides, and a
// pattern that matches a directory matches everything below it.
import { posix } from "node:path";

interface Pattern {
  readonly exclusion: boolean;
  readonly regexp: RegExp;
  readonly text: string;
}

export class IgnoreMatcher {
  readonly #patterns: Pattern[];

  constructor(lines: readonly string[]) {
    this.#patterns = [];
    for (const raw of lines) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      let exclusion = false;
      if (line.startsWith("!")) {
        exclusion = true;
        line = line.slice(1).trim();
      }
      if (line === "") continue;
      let cleaned = posix.normalize(line);
      cleaned = cleaned.replace(/^\/+/, "").replace(/\/+$/, "");
      if (cleaned === "" || cleaned === ".") cleaned = ".";
      this.#patterns.push({ exclusion, regexp: compile(cleaned), text: cleaned });
    }
  }

  get empty(): boolean {
    return this.#patterns.length === 0;
  }

  get patterns(): readonly string[] {
    return this.#patterns.map((p) => (p.exclusion ? `!${p.text}` : p.text));
  }

  /** Whether `path` (relative to the context, `/`-separated) is excluded. */
  ignores(path: string): boolean {
    const clean = posix.normalize(path).replace(/^\/+/, "");
    const parents = parentPaths(clean);
    let matched = false;
    for (const p of this.#patterns) {
      // Only a pattern that could change the outcome is tried.
      if (p.exclusion !== matched) continue;
      if (p.regexp.test(clean) || parents.some((parent) => p.regexp.test(parent))) matched = !p.exclusion;
    }
    return matched;
  }

  /** Whether an exception pattern might re-include something below `dir` (so the walk must go in). */
  mayIncludeBelow(dir: string): boolean {
    return this.#patterns.some((p) => p.exclusion && (p.text.startsWith(dir + "/") || p.text.includes("*") || p.text.includes("?") || p.text.includes("[")));
  }
}

function parentPaths(path: string): string[] {
  const parts = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join("/"));
  return out;
}

/** The pattern as a regular expression over the whole path, as moby's patternmatcher builds it. */
function compile(pattern: string): RegExp {
  let re = "^";
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        i++;
        if (chars[i + 1] === "/") i++;
        if (i + 1 >= chars.length) re += ".*";
        else re += "(.*/)?";
        continue;
      }
      re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      let j = i + 1;
      let cls = "";
      if (chars[j] === "^" || chars[j] === "!") {
        cls += "^";
        j++;
      }
      while (j < chars.length && chars[j] !== "]") {
        const c = chars[j]!;
        cls += c === "\\" ? `\\${chars[++j] ?? "\\"}` : c === "/" ? "\\/" : c;
        j++;
      }
      if (j >= chars.length) re += "\\[";
      else {
        re += `[${cls}]`;
        i = j;
      }
    } else if (ch === "\\") {
      const next = chars[i + 1];
      if (next !== undefined) {
        re += escapeChar(next);
        i++;
      } else re += "\\\\";
    } else re += escapeChar(ch);
  }
  return new RegExp(re + "$", "s");
}

function escapeChar(ch: string): string {
  return /[.+^${}()|[\]\\*?/]/.test(ch) ? `\\${ch}` : ch;
}

/** `.dockerignore` text as lines. */
export function ignoreLines(text: string): string[] {
  return text.split(/\r?\n/);
}

// Command-line flags with the semantics of cobra and pflag, which docker uses,
// so that every habit of a docker user parses the same way: `--name value`,
// `--name=value`, `-q`, `-aq`, `-fvalue`, `--flag=false`, repeated flags,
// `--` ending flags, flags after positional arguments, and docker's messages
// and exit codes when something is wrong.

export type FlagKind = "bool" | "string" | "stringArray" | "int";

export interface FlagSpec {
  /** Long name, without dashes. */
  name: string;
  /** One-letter shorthand, without the dash. */
  short?: string;
  kind: FlagKind;
  usage: string;
  /** What the help shows after the flag: `string`, `filter`, `list`… (pflag's type name). */
  valueName?: string;
  /** A default other than the zero value; the help shows it as pflag does. */
  defaultValue?: string | boolean | number;
  hidden?: boolean;
}

export type ArgRule = { kind: "none" } | { kind: "exact"; n: number } | { kind: "min"; n: number } | { kind: "max"; n: number } | { kind: "range"; min: number; max: number };

export interface CommandSpec {
  /** The words after the binary name that reach this command, e.g. `["image", "ls"]`. */
  path: readonly string[];
  /** cobra's `Use` after the command name, e.g. `[OPTIONS] [REPOSITORY[:TAG]]`. */
  use: string;
  short: string;
  /** The help's `Aliases:` line, e.g. `wharf image ls, wharf image list, wharf images`. */
  aliases?: string;
  flags: readonly FlagSpec[];
  args: ArgRule;
  /** false stops flag parsing at the first positional argument (docker's `tag`). */
  interspersed?: boolean;
}

export type FlagValue = boolean | string | string[] | number;

/** Parsed flags: every flag of the spec has a value (its default when not given). */
export class FlagValues {
  readonly #values = new Map<string, FlagValue>();
  readonly #changed = new Set<string>();
  constructor(readonly flags: readonly FlagSpec[]) {
    for (const f of flags) this.#values.set(f.name, zeroValue(f));
  }
  set(name: string, value: FlagValue): void {
    this.#values.set(name, value);
    this.#changed.add(name);
  }
  /** Whether the flag appeared on the command line. */
  changed(name: string): boolean {
    return this.#changed.has(name);
  }
  bool(name: string): boolean {
    const v = this.#values.get(name);
    if (typeof v !== "boolean") throw new Error(`flag --${name} is not a boolean flag`);
    return v;
  }
  string(name: string): string {
    const v = this.#values.get(name);
    if (typeof v !== "string") throw new Error(`flag --${name} is not a string flag`);
    return v;
  }
  strings(name: string): string[] {
    const v = this.#values.get(name);
    if (!Array.isArray(v)) throw new Error(`flag --${name} is not a list flag`);
    return v;
  }
  int(name: string): number {
    const v = this.#values.get(name);
    if (typeof v !== "number") throw new Error(`flag --${name} is not an int flag`);
    return v;
  }
}

function zeroValue(f: FlagSpec): FlagValue {
  switch (f.kind) {
    case "bool":
      return typeof f.defaultValue === "boolean" ? f.defaultValue : false;
    case "string":
      return typeof f.defaultValue === "string" ? f.defaultValue : "";
    case "int":
      return typeof f.defaultValue === "number" ? f.defaultValue : 0;
    case "stringArray":
      return [];
  }
}

/** A malformed command line: docker prints it with the usage line and exits 125. */
export class FlagError extends Error {
  override name = "FlagError";
}

export interface ParsedArgs {
  values: FlagValues;
  args: string[];
  /** `--help` or `-h` was given. */
  help: boolean;
  /** Warnings pflag prints on stderr (the deprecated `-h`). */
  warnings: string[];
}

/** Go's strconv.ParseBool. */
export function parseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

function flagTitle(f: FlagSpec): string {
  return f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
}

function assign(values: FlagValues, f: FlagSpec, raw: string): void {
  switch (f.kind) {
    case "bool": {
      const b = parseBool(raw);
      if (b === undefined) throw new FlagError(`invalid argument "${raw}" for "${flagTitle(f)}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`);
      values.set(f.name, b);
      return;
    }
    case "int": {
      if (!/^[+-]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[0-9]+)$/.test(raw)) {
        throw new FlagError(`invalid argument "${raw}" for "${flagTitle(f)}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`);
      }
      values.set(f.name, Number(raw));
      return;
    }
    case "string":
      values.set(f.name, raw);
      return;
    case "stringArray":
      values.set(f.name, [...values.strings(f.name), raw]);
      return;
  }
}

/**
 * Parses `argv` (the words after the command's name) against `flags`, as
 * pflag does. Throws FlagError with pflag's message for anything malformed.
 */
export function parseArgs(argv: readonly string[], flags: readonly FlagSpec[], options: { interspersed?: boolean } = {}): ParsedArgs {
  const values = new FlagValues(flags);
  const args: string[] = [];
  const warnings: string[] = [];
  let help = false;
  const byName = new Map(flags.map((f) => [f.name, f]));
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const interspersed = options.interspersed ?? true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      if (!interspersed) {
        args.push(...argv.slice(i));
        break;
      }
      args.push(a);
      continue;
    }
    if (a.startsWith("--")) {
      const body = a.slice(2);
      const eq = body.indexOf("=");
      const name = eq === -1 ? body : body.slice(0, eq);
      if (name === "" || name.startsWith("-") || name.startsWith("=")) throw new FlagError(`bad flag syntax: ${a}`);
      const f = byName.get(name);
      if (!f) {
        if (name === "help") {
          help = true;
          continue;
        }
        throw new FlagError(`unknown flag: --${name}`);
      }
      if (eq !== -1) assign(values, f, body.slice(eq + 1));
      else if (f.kind === "bool") values.set(f.name, true);
      else if (i + 1 < argv.length) assign(values, f, argv[++i]!);
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    // Shorthands: `-aq`, `-fvalue`, `-f value`, `-f=value`.
    let shorts = a.slice(1);
    while (shorts.length > 0) {
      const c = shorts[0]!;
      const f = byShort.get(c);
      if (!f) {
        if (c === "h") {
          help = true;
          warnings.push("Flag shorthand -h has been deprecated, please use --help");
          shorts = shorts.slice(1);
          continue;
        }
        throw new FlagError(`unknown shorthand flag: '${c}' in -${shorts}`);
      }
      if (shorts.length > 2 && shorts[1] === "=") {
        assign(values, f, shorts.slice(2));
        shorts = "";
      } else if (f.kind === "bool") {
        values.set(f.name, true);
        shorts = shorts.slice(1);
      } else if (shorts.length > 1) {
        assign(values, f, shorts.slice(1));
        shorts = "";
      } else if (i + 1 < argv.length) {
        assign(values, f, argv[++i]!);
        shorts = "";
      } else throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
    }
  }
  return { values, args, help, warnings };
}

function plural(word: string, n: number): string {
  return n === 1 ? word : `${word}s`;
}

/** docker's positional-argument checks (cli/required.go); undefined when the count is fine. */
export function checkArgs(rule: ArgRule, args: readonly string[], bin: string, commandPath: string, useLine: string): string | undefined {
  const n = args.length;
  const tail = (verb: string) => `\n\nUsage:  ${useLine}\n\n${verb} '${commandPath} --help' for more information`;
  switch (rule.kind) {
    case "none":
      return n === 0 ? undefined : `${bin}: '${commandPath}' accepts no arguments${tail("Run")}`;
    case "exact":
      return n === rule.n ? undefined : `${bin}: '${commandPath}' requires ${rule.n} ${plural("argument", rule.n)}${tail("Run")}`;
    case "min":
      return n >= rule.n ? undefined : `${bin}: '${commandPath}' requires at least ${rule.n} ${plural("argument", rule.n)}${tail("See")}`;
    case "max":
      return n <= rule.n ? undefined : `${bin}: '${commandPath}' requires at most ${rule.n} ${plural("argument", rule.n)}${tail("Run")}`;
    case "range":
      return n >= rule.min && n <= rule.max ? undefined : `${bin}: '${commandPath}' requires at least ${rule.min} and at most ${rule.max} ${plural("argument", rule.max)}${tail("Run")}`;
  }
}

/** pflag's wrapN: a line of at most `width` (+`slop`) characters, and the rest. */
function wrapN(width: number, slop: number, s: string): [string, string] {
  if (width + slop > s.length) return [s, ""];
  const head = s.slice(0, width);
  const w = Math.max(head.lastIndexOf(" "), head.lastIndexOf("\t"), head.lastIndexOf("\n"));
  if (w <= 0) return [s, ""];
  const nl = head.lastIndexOf("\n");
  if (nl > 0 && nl < w) return [s.slice(0, nl), s.slice(nl + 1)];
  return [s.slice(0, w), s.slice(w + 1)];
}

/** pflag's wrap: `s` wrapped to `cols` columns, continuation lines indented by `indent`. */
function wrapText(indent: number, cols: number, s: string): string {
  if (cols === 0) return s.replaceAll("\n", "\n" + " ".repeat(indent));
  let width = cols - indent;
  let out = "";
  if (width < 24) {
    indent = 16;
    width = cols - indent;
    out += "\n" + " ".repeat(indent);
  }
  if (width < 24) return s.replaceAll("\n", out);
  const slop = 5;
  width -= slop;
  const pad = " ".repeat(indent);
  let [line, rest] = wrapN(width, slop, s);
  out += line.replaceAll("\n", "\n" + pad);
  while (rest !== "") {
    [line, rest] = wrapN(width, slop, rest);
    out += "\n" + pad + line.replaceAll("\n", "\n" + pad);
  }
  return out;
}

/** pflag's FlagUsagesWrapped: the flag table of a help page, sorted by name. */
export function flagUsages(flags: readonly FlagSpec[], cols: number): string {
  const visible = flags.filter((f) => !f.hidden).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const lines: { head: string; usage: string }[] = [];
  let maxLen = 0;
  for (const f of visible) {
    let head = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    const valueName = f.valueName ?? (f.kind === "bool" ? "" : f.kind === "stringArray" ? "stringArray" : f.kind);
    if (valueName) head += ` ${valueName}`;
    maxLen = Math.max(maxLen, head.length);
    let usage = f.usage;
    if (f.defaultValue !== undefined && f.defaultValue !== false && f.defaultValue !== "" && f.defaultValue !== 0) {
      usage += f.kind === "string" ? ` (default ${JSON.stringify(f.defaultValue)})` : ` (default ${String(f.defaultValue)})`;
    }
    lines.push({ head, usage });
  }
  // pflag measures each head with a trailing NUL and prints it with Println's separators: the usage starts at maxLen + 3.
  return lines.map(({ head, usage }) => `${head}${" ".repeat(maxLen - head.length + 2)} ${wrapText(maxLen + 3, cols, usage)}\n`).join("");
}

/** The width docker wraps help to: the terminal's, else 80; one column kept free. */
export function helpColumns(): number {
  const cols = process.stdout.isTTY ? process.stdout.columns : undefined;
  return (cols && cols > 0 ? cols : 80) - 1;
}

/** A leaf command's `--help`, laid out as docker's usage template. */
export function commandHelp(bin: string, spec: CommandSpec, cols: number = helpColumns()): string {
  const parts = [`Usage:  ${useLine(bin, spec)}`, "", spec.short.trim()];
  if (spec.aliases) parts.push("", "Aliases:", `  ${spec.aliases}`);
  const visible = spec.flags.filter((f) => !f.hidden);
  if (visible.length > 0) parts.push("", "Options:", flagUsages(visible, cols).trimEnd());
  return parts.join("\n") + "\n";
}

export function useLine(bin: string, spec: CommandSpec): string {
  return [bin, ...spec.path, spec.use].filter((s) => s !== "").join(" ");
}

export function commandPath(bin: string, spec: CommandSpec): string {
  return [bin, ...spec.path].join(" ");
}

/** cobra's flag error as docker reports it: the message, the usage line, where to find help. */
export function flagErrorText(bin: string, spec: CommandSpec, message: string): string {
  return `${message}\n\nUsage:  ${useLine(bin, spec)}\n\nRun '${commandPath(bin, spec)} --help' for more information`;
}

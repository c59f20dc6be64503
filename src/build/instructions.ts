// instructions: the parsed nodes read into typed instructions — flags
// checked, arguments in the shape each instruction needs — and grouped into
// stages. Variables are not expanded yet: that needs the build state of the
// step (executor.ts); only FROM is expanded here, against the global ARGs.
import { wharfError, type WharfError } from "../internal/index.js";
import type { DockerfileNode, Heredoc, ParseResult } from "./parser.js";
import { processWord, type Env } from "./shell.js";

export interface Located {
  readonly node: DockerfileNode;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface ArgDecl {
  readonly name: string;
  /** The default as written (expanded when the step runs); undefined when none was given. */
  readonly value?: string;
}

export type RunMount =
  | { readonly type: "bind"; readonly target: string; readonly source: string; readonly from?: string; readonly rw: boolean }
  | { readonly type: "cache"; readonly target: string; readonly id: string; readonly sharing: "shared" | "private" | "locked"; readonly from?: string; readonly source: string; readonly mode?: number; readonly uid: number; readonly gid: number; readonly readonly: boolean }
  | { readonly type: "tmpfs"; readonly target: string; readonly size?: number }
  | { readonly type: "secret"; readonly id: string; readonly target: string; readonly required: boolean; readonly mode: number; readonly uid: number; readonly gid: number; readonly env?: string }
  | { readonly type: "ssh"; readonly id: string; readonly target: string; readonly required: boolean };

export interface Healthcheck {
  /** `NONE`, or the test as the config stores it: `["CMD", …]` / `["CMD-SHELL", "…"]`. */
  readonly test: readonly string[];
  readonly interval?: number;
  readonly timeout?: number;
  readonly startPeriod?: number;
  readonly startInterval?: number;
  readonly retries?: number;
}

export type Instruction = Located &
  (
    | { readonly kind: "from"; readonly image: string; readonly name?: string; readonly platform?: string }
    | { readonly kind: "arg"; readonly args: readonly ArgDecl[] }
    | { readonly kind: "env"; readonly pairs: readonly KeyValue[] }
    | { readonly kind: "label"; readonly pairs: readonly KeyValue[] }
    | { readonly kind: "maintainer"; readonly name: string }
    | { readonly kind: "run"; readonly args: readonly string[]; readonly json: boolean; readonly mounts: readonly RunMount[]; readonly network: "default" | "none" | "host"; readonly heredocs: readonly Heredoc[] }
    | { readonly kind: "cmd" | "entrypoint"; readonly args: readonly string[]; readonly json: boolean }
    | { readonly kind: "shell"; readonly args: readonly string[] }
    | { readonly kind: "workdir"; readonly path: string }
    | { readonly kind: "user"; readonly user: string }
    | { readonly kind: "expose"; readonly ports: readonly string[] }
    | { readonly kind: "volume"; readonly paths: readonly string[] }
    | { readonly kind: "stopsignal"; readonly signal: string }
    | { readonly kind: "healthcheck"; readonly check: Healthcheck }
    | { readonly kind: "onbuild"; readonly expression: string }
    | {
        readonly kind: "copy" | "add";
        readonly sources: readonly string[];
        readonly dest: string;
        readonly from?: string;
        readonly chown?: string;
        readonly chmod?: string;
        readonly link: boolean;
        readonly parents: boolean;
        readonly exclude: readonly string[];
        readonly heredocs: readonly Heredoc[];
        readonly keepGitDir: boolean;
        readonly checksum?: string;
      }
  );

export type InstructionKind = Instruction["kind"];

export interface Stage {
  readonly index: number;
  /** Lower-cased `AS` name, if any. */
  readonly name?: string;
  readonly from: Extract<Instruction, { kind: "from" }>;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM. */
  readonly globalArgs: readonly Extract<Instruction, { kind: "arg" }>[];
  readonly stages: readonly Stage[];
  readonly escape: string;
}

/** An error about one instruction: `Dockerfile:12: COPY: …`. */
export function instructionError(file: string, node: DockerfileNode, message: string, kind: WharfError["kind"] = "invalid-argument"): WharfError {
  const line = node.startLine === node.endLine ? `${node.startLine}` : `${node.startLine}-${node.endLine}`;
  return wharfError(kind, `${file}:${line}: ${node.keyword.toUpperCase()}: ${message}`);
}

class Flags {
  readonly #values = new Map<string, string | true>();

  constructor(node: DockerfileNode, allowed: readonly string[], file: string) {
    for (const raw of node.flags) {
      const body = raw.slice(2);
      const eq = body.indexOf("=");
      const name = eq === -1 ? body : body.slice(0, eq);
      if (!allowed.includes(name)) throw instructionError(file, node, `unknown flag: --${name}`);
      const value = eq === -1 ? true : body.slice(eq + 1);
      if (name === "mount" || name === "exclude") {
        const prev = this.#values.get(name);
        this.#values.set(name, prev === undefined || prev === true ? String(value) : `${prev}\u0000${String(value)}`);
      } else {
        if (this.#values.has(name)) throw instructionError(file, node, `duplicate flag specified: --${name}`);
        this.#values.set(name, value);
      }
    }
  }

  string(name: string): string | undefined {
    const v = this.#values.get(name);
    return v === undefined ? undefined : v === true ? "" : v;
  }

  bool(name: string): boolean {
    const v = this.#values.get(name);
    if (v === undefined) return false;
    return v === true || v === "" || v === "true";
  }

  list(name: string): string[] {
    const v = this.#values.get(name);
    return v === undefined || v === true ? [] : v.split("\u0000");
  }
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go duration (`30s`, `1m30s`, `0`) in nanoseconds. */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  let rest = text;
  let total = 0;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return text.length > 0 ? Math.round(total) : undefined;
}

function parseMount(spec: string, node: DockerfileNode, file: string): RunMount {
  const fields = new Map<string, string>();
  for (const part of csvFields(spec)) {
    const eq = part.indexOf("=");
    const key = (eq === -1 ? part : part.slice(0, eq)).toLowerCase();
    fields.set(key, eq === -1 ? "" : part.slice(eq + 1));
  }
  const type = fields.get("type") ?? "bind";
  const target = fields.get("target") ?? fields.get("dst") ?? fields.get("destination") ?? "";
  const bad = (m: string) => instructionError(file, node, `--mount=${spec}: ${m}`);
  const bool = (k: string) => {
    if (!fields.has(k)) return false;
    const v = fields.get(k)!;
    return v === "" || v === "true" || v === "1";
  };
  const num = (k: string, base = 10) => {
    const v = fields.get(k);
    if (v === undefined) return undefined;
    const n = parseInt(v, base);
    if (!Number.isFinite(n) || n < 0) throw bad(`invalid ${k} ${JSON.stringify(v)}`);
    return n;
  };
  const from = fields.get("from");
  switch (type) {
    case "bind":
      if (!target) throw bad("a bind mount needs a target");
      return { type, target, source: fields.get("source") ?? fields.get("src") ?? "", ...(from !== undefined ? { from } : {}), rw: bool("rw") || bool("readwrite") };
    case "cache": {
      if (!target) throw bad("a cache mount needs a target");
      const sharing = fields.get("sharing") ?? "shared";
      if (sharing !== "shared" && sharing !== "private" && sharing !== "locked") throw bad(`invalid sharing ${JSON.stringify(sharing)}`);
      const mode = num("mode", 8);
      return { type, target, id: fields.get("id") ?? target, sharing, ...(from !== undefined ? { from } : {}), source: fields.get("source") ?? fields.get("src") ?? "", ...(mode !== undefined ? { mode } : {}), uid: num("uid") ?? 0, gid: num("gid") ?? 0, readonly: bool("ro") || bool("readonly") };
    }
    case "tmpfs": {
      if (!target) throw bad("a tmpfs mount needs a target");
      const size = num("size");
      return { type, target, ...(size !== undefined ? { size } : {}) };
    }
    case "secret": {
      const id = fields.get("id") ?? (target ? target.split("/").pop()! : "");
      if (!id) throw bad("a secret mount needs an id or a target");
      const env = fields.get("env");
      return { type, id, target: target || `/run/secrets/${id}`, required: bool("required"), mode: num("mode", 8) ?? 0o400, uid: num("uid") ?? 0, gid: num("gid") ?? 0, ...(env !== undefined ? { env } : {}) };
    }
    case "ssh": {
      const id = fields.get("id") ?? "default";
      return { type, id, target: target || "/run/buildkit/ssh_agent.0", required: bool("required") };
    }
    default:
      throw bad(`unsupported mount type ${JSON.stringify(type)}`);
  }
}

/** Comma-separated fields, double quotes protecting commas (as Go's csv reader). */
function csvFields(spec: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of spec) {
    if (ch === '"') quoted = !quoted;
    else if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.filter((f) => f !== "");
}

function pairs(node: DockerfileNode): KeyValue[] {
  const out: KeyValue[] = [];
  for (let i = 0; i + 2 < node.args.length + 1; i += 3) out.push({ key: node.args[i]!, value: node.args[i + 1] ?? "" });
  return out;
}

/** One node as a typed instruction. */
export function readInstruction(node: DockerfileNode, file: string): Instruction {
  const need = (n: number, what: string) => {
    if (node.args.length < n) throw instructionError(file, node, what);
  };
  switch (node.keyword) {
    case "from": {
      const f = new Flags(node, ["platform"], file);
      need(1, "requires either one or three arguments");
      if (node.args.length !== 1 && !(node.args.length === 3 && node.args[1]!.toLowerCase() === "as")) throw instructionError(file, node, "requires either one or three arguments");
      const name = node.args[2]?.toLowerCase();
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw instructionError(file, node, `invalid name for build stage: ${JSON.stringify(node.args[2])}, name can't start with a number or contain symbols`);
      const platform = f.string("platform");
      return { kind: "from", node, image: node.args[0]!, ...(name !== undefined ? { name } : {}), ...(platform !== undefined ? { platform } : {}) };
    }
    case "arg": {
      new Flags(node, [], file);
      need(1, "requires at least one argument");
      const args = node.args.map((word): ArgDecl => {
        const eq = word.indexOf("=");
        if (eq === -1) return { name: word };
        return { name: word.slice(0, eq), value: word.slice(eq + 1) };
      });
      for (const a of args) if (a.name === "") throw instructionError(file, node, "an ARG needs a name");
      return { kind: "arg", node, args };
    }
    case "env":
    case "label": {
      new Flags(node, [], file);
      if (node.args.length === 0) throw instructionError(file, node, "requires at least one argument");
      return { kind: node.keyword, node, pairs: pairs(node) };
    }
    case "maintainer":
      new Flags(node, [], file);
      need(1, "requires exactly one argument");
      return { kind: "maintainer", node, name: node.args[0]! };
    case "run": {
      const f = new Flags(node, ["mount", "network", "security"], file);
      need(1, "requires at least one argument");
      const network = f.string("network") ?? "default";
      if (network !== "default" && network !== "none" && network !== "host") throw instructionError(file, node, `unsupported network mode ${JSON.stringify(network)}`);
      const security = f.string("security");
      if (security !== undefined && security !== "sandbox") throw instructionError(file, node, `--security=${security} is not allowed`);
      return { kind: "run", node, args: node.args, json: node.json, mounts: f.list("mount").map((m) => parseMount(m, node, file)), network, heredocs: node.heredocs };
    }
    case "cmd":
    case "entrypoint":
      new Flags(node, [], file);
      return { kind: node.keyword, node, args: node.args, json: node.json };
    case "shell":
      new Flags(node, [], file);
      if (!node.json) throw instructionError(file, node, "requires the arguments to be in JSON form");
      need(1, "requires at least one argument");
      return { kind: "shell", node, args: node.args };
    case "workdir":
      new Flags(node, [], file);
      need(1, "requires exactly one argument");
      return { kind: "workdir", node, path: node.args[0]! };
    case "user":
      new Flags(node, [], file);
      need(1, "requires exactly one argument");
      return { kind: "user", node, user: node.args[0]! };
    case "expose":
      new Flags(node, [], file);
      need(1, "requires at least one argument");
      return { kind: "expose", node, ports: node.args };
    case "volume":
      new Flags(node, [], file);
      need(1, "requires at least one argument");
      for (const p of node.args) if (p.trim() === "") throw instructionError(file, node, "a volume path cannot be empty");
      return { kind: "volume", node, paths: node.args };
    case "stopsignal":
      new Flags(node, [], file);
      need(1, "requires exactly one argument");
      return { kind: "stopsignal", node, signal: node.args[0]! };
    case "healthcheck":
      return { kind: "healthcheck", node, check: readHealthcheck(node, file) };
    case "onbuild": {
      new Flags(node, [], file);
      if (!node.sub) throw instructionError(file, node, "requires at least one argument");
      const sub = node.sub.keyword;
      if (sub === "onbuild") throw instructionError(file, node, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (sub === "from" || sub === "maintainer") throw instructionError(file, node, `${sub.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      const expression = node.original.trim().replace(/^onbuild\s+/i, "");
      return { kind: "onbuild", node, expression };
    }
    case "copy":
    case "add": {
      const allowed = node.keyword === "copy" ? ["from", "chown", "chmod", "link", "parents", "exclude"] : ["chown", "chmod", "link", "exclude", "keep-git-dir", "checksum"];
      const f = new Flags(node, allowed, file);
      const heredocs = node.heredocs;
      if (node.args.length < 2) throw instructionError(file, node, "requires at least two arguments, but only one was provided. Destination could not be determined");
      const from = f.string("from");
      const chown = f.string("chown");
      const chmod = f.string("chmod");
      const checksum = f.string("checksum");
      const args = node.args;
      const sources = args.slice(0, -1);
      return {
        kind: node.keyword,
        node,
        sources,
        dest: args[args.length - 1] ?? "",
        ...(from !== undefined ? { from } : {}),
        ...(chown !== undefined ? { chown } : {}),
        ...(chmod !== undefined ? { chmod } : {}),
        link: f.bool("link"),
        parents: f.bool("parents"),
        exclude: f.list("exclude"),
        heredocs,
        keepGitDir: f.bool("keep-git-dir"),
        ...(checksum !== undefined ? { checksum } : {}),
      };
    }
    default:
      throw instructionError(file, node, `unknown instruction: ${node.keyword.toUpperCase()}`);
  }
}

function readHealthcheck(node: DockerfileNode, file: string): Healthcheck {
  const f = new Flags(node, ["interval", "timeout", "start-period", "start-interval", "retries"], file);
  const type = node.args[0]?.toUpperCase();
  if (type === undefined) throw instructionError(file, node, "requires at least one argument");
  if (type === "NONE") {
    if (node.args.length > 1) throw instructionError(file, node, "HEALTHCHECK NONE takes no arguments");
    return { test: ["NONE"] };
  }
  if (type !== "CMD") throw instructionError(file, node, `unknown type ${JSON.stringify(node.args[0])} in HEALTHCHECK (try CMD)`);
  const cmd = node.args.slice(1);
  if (cmd.length === 0) throw instructionError(file, node, "missing command after HEALTHCHECK CMD");
  const test = node.json ? ["CMD", ...cmd] : ["CMD-SHELL", cmd[0]!];
  const duration = (name: string): number | undefined => {
    const v = f.string(name);
    if (v === undefined || v === "") return undefined;
    const ns = parseDuration(v);
    if (ns === undefined) throw instructionError(file, node, `invalid --${name} ${JSON.stringify(v)}: not a duration`);
    if (ns !== 0 && ns < 1e6) throw instructionError(file, node, `Interval "${name}" cannot be less than 1ms`);
    return ns;
  };
  const retriesText = f.string("retries");
  let retries: number | undefined;
  if (retriesText !== undefined && retriesText !== "") {
    retries = Number(retriesText);
    if (!Number.isInteger(retries)) throw instructionError(file, node, `invalid --retries ${JSON.stringify(retriesText)}`);
    if (retries < 0) throw instructionError(file, node, "--retries cannot be negative");
  }
  const out: { -readonly [K in keyof Healthcheck]: Healthcheck[K] } = { test };
  const interval = duration("interval");
  const timeout = duration("timeout");
  const startPeriod = duration("start-period");
  const startInterval = duration("start-interval");
  if (interval !== undefined) out.interval = interval;
  if (timeout !== undefined) out.timeout = timeout;
  if (startPeriod !== undefined) out.startPeriod = startPeriod;
  if (startInterval !== undefined) out.startInterval = startInterval;
  if (retries !== undefined) out.retries = retries;
  return out;
}

/**
 * The whole Dockerfile as stages. `globalEnv` gives the values of the global
 * ARGs (their defaults overridden by --build-arg) for expanding FROM.
 */
export function readDockerfile(parsed: ParseResult, file: string): Dockerfile {
  const globalArgs: Extract<Instruction, { kind: "arg" }>[] = [];
  const stages: { index: number; name?: string; from: Extract<Instruction, { kind: "from" }>; instructions: Instruction[] }[] = [];
  const names = new Set<string>();
  for (const node of parsed.nodes) {
    const ins = readInstruction(node, file);
    if (ins.kind === "from") {
      if (ins.name !== undefined) {
        if (names.has(ins.name)) throw instructionError(file, node, `duplicate stage name ${JSON.stringify(ins.name)}`);
        names.add(ins.name);
      }
      stages.push({ index: stages.length, ...(ins.name !== undefined ? { name: ins.name } : {}), from: ins, instructions: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (ins.kind === "arg") {
        globalArgs.push(ins);
        continue;
      }
      throw instructionError(file, node, "no build stage in current context (a Dockerfile must begin with a FROM, after global ARGs)");
    }
    current.instructions.push(ins);
  }
  if (stages.length === 0) throw wharfError("invalid-argument", `${file}: no build stage: the Dockerfile has no FROM`);
  return { globalArgs, stages, escape: parsed.directives.escape };
}

/** Expands one word against `env`, naming the instruction on failure. */
export function expand(file: string, node: DockerfileNode, word: string, env: Env, escape: string): string {
  try {
    return processWord(word, env, { escape });
  } catch (e) {
    throw instructionError(file, node, (e as Error).message);
  }
}

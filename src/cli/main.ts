// `wharf`, the CLI: global flags, the command tree, help, and docker's way of
// reporting errors (exit 125 for a malformed command line, 1 for a failure).
import { ConnectionError, DaemonError, EngineClient, resolveHost, WharfError } from "../api/client.js";
import { CliError, write, type CliContext, type Command, type Io } from "./context.js";
import { checkArgs, commandHelp, commandPath, flagErrorText, FlagError, flagUsages, helpColumns, parseArgs, useLine, type CommandSpec, type FlagSpec } from "./flags.js";
import { daemonMessage, historyCommand, imageInspectCommand, imagesCommand, importCommand, inspectCommand, loadCommand, pruneCommand, rmiCommand, saveCommand, tagCommand } from "./commands/images.js";
import { buildCommand, builderPruneCommand } from "./commands/build.js";
import { clientVersion, dfCommand, infoCommand, versionCommand } from "./commands/system.js";

const BIN = "wharf";

interface Leaf {
  kind: "leaf";
  name: string;
  aliases?: readonly string[];
  command: Command;
  /** Listed under "Common Commands" in the root help. */
  common?: boolean;
}

interface Group {
  kind: "group";
  name: string;
  short: string;
  children: readonly Leaf[];
}

type Entry = Leaf | Group;

const leaf = (name: string, command: Command, extra: { aliases?: readonly string[]; common?: boolean } = {}): Leaf => ({ kind: "leaf", name, command, ...extra });

/** The command tree: docker's names, aliases and grouping. */
export const COMMANDS: readonly Entry[] = [
  leaf("build", buildCommand, { common: true }),
  leaf("images", imagesCommand, { common: true }),
  leaf("version", versionCommand, { common: true }),
  leaf("info", infoCommand, { common: true }),
  {
    kind: "group",
    name: "image",
    short: "Manage images",
    children: [
      leaf("build", buildCommand),
      leaf("history", historyCommand),
      leaf("import", importCommand),
      leaf("inspect", imageInspectCommand),
      leaf("load", loadCommand),
      leaf("ls", imagesCommand, { aliases: ["list"] }),
      leaf("prune", pruneCommand),
      leaf("rm", rmiCommand, { aliases: ["rmi", "remove"] }),
      leaf("save", saveCommand),
      leaf("tag", tagCommand),
    ],
  },
  {
    kind: "group",
    name: "builder",
    short: "Manage builds",
    children: [leaf("build", buildCommand), leaf("prune", builderPruneCommand)],
  },
  {
    kind: "group",
    name: "system",
    short: "Manage wharf",
    children: [leaf("df", dfCommand), leaf("info", infoCommand)],
  },
  leaf("history", historyCommand),
  leaf("import", importCommand),
  leaf("inspect", inspectCommand),
  leaf("load", loadCommand),
  leaf("rmi", rmiCommand),
  leaf("save", saveCommand),
  leaf("tag", tagCommand),
];

const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "host", short: "H", kind: "stringArray", valueName: "list", usage: "Daemon socket to connect to" },
  { name: "debug", short: "D", kind: "bool", usage: "Enable debug mode" },
  { name: "log-level", short: "l", kind: "string", valueName: "string", defaultValue: "info", usage: 'Set the logging level ("debug", "info", "warn", "error", "fatal")' },
  { name: "version", short: "v", kind: "bool", usage: "Print version information and quit" },
];

const ROOT_SPEC: CommandSpec = { path: [], use: "[OPTIONS] COMMAND [ARG...]", short: "A container engine: Dockerfile to image to container, and the registry that ships images", flags: GLOBAL_FLAGS, args: { kind: "none" } };

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"]);

function commandList(entries: readonly { name: string; short: string }[]): string {
  const pad = Math.max(11, ...entries.map((e) => e.name.length));
  return entries.map((e) => `  ${e.name.padEnd(pad)} ${e.short}`).join("\n");
}

function shortOf(e: Entry): string {
  return e.kind === "leaf" ? e.command.spec.short : e.short;
}

export function rootHelp(cols: number = helpColumns()): string {
  const common = COMMANDS.filter((e): e is Leaf => e.kind === "leaf" && e.common === true);
  const groups = COMMANDS.filter((e): e is Group => e.kind === "group");
  const others = COMMANDS.filter((e): e is Leaf => e.kind === "leaf" && e.common !== true).sort((a, b) => a.name.localeCompare(b.name));
  const list = (es: readonly Entry[]) => commandList(es.map((e) => ({ name: e.name, short: shortOf(e) })));
  return [
    `Usage:  ${BIN} [OPTIONS] COMMAND`,
    "",
    ROOT_SPEC.short,
    "",
    "Common Commands:",
    list(common),
    "",
    "Management Commands:",
    list(groups),
    "",
    "Commands:",
    list(others),
    "",
    "Global Options:",
    flagUsages(GLOBAL_FLAGS, cols).trimEnd(),
    "",
    `Run '${BIN} COMMAND --help' for more information on a command.`,
    "",
  ].join("\n");
}

export function groupHelp(group: Group): string {
  return [
    `Usage:  ${BIN} ${group.name} COMMAND`,
    "",
    group.short,
    "",
    "Commands:",
    commandList(group.children.map((c) => ({ name: c.name, short: c.command.spec.short }))),
    "",
    `Run '${BIN} ${group.name} COMMAND --help' for more information on a command.`,
    "",
  ].join("\n");
}

function findLeaf(entries: readonly Entry[], word: string): Entry | undefined {
  return entries.find((e) => e.name === word || (e.kind === "leaf" && e.aliases?.includes(word)));
}

/** Resolves the command words of argv: the entry, the words that named it, and the rest. */
function resolve(argv: readonly string[]): { entry: Entry | undefined; path: string[]; rest: string[] } {
  const [first, ...rest] = argv;
  if (first === undefined) return { entry: undefined, path: [], rest: [] };
  const top = findLeaf(COMMANDS, first);
  if (!top || top.kind === "leaf") return { entry: top, path: [first], rest };
  const [second, ...tail] = rest;
  if (second === undefined || second.startsWith("-")) return { entry: top, path: [first], rest };
  const child = findLeaf(top.children, second);
  if (!child) throw new CliError(`${BIN}: unknown command: ${BIN} ${first} ${second}\n\nUsage:  ${BIN} ${first}\n\nRun '${BIN} ${first} --help' for more information`);
  return { entry: child, path: [first, second], rest: tail };
}

function defaultIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    stdoutIsTTY: process.stdout.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
  };
}

/** The message and exit status docker would give for an error. */
export function describeError(e: unknown, debug: boolean): { message: string; status: number } {
  if (e instanceof CliError) return { message: e.message, status: e.status };
  if (e instanceof DaemonError) return { message: daemonMessage(e), status: 1 };
  if (e instanceof ConnectionError || e instanceof WharfError) return { message: e.message, status: 1 };
  if (e instanceof Error) return { message: debug && e.stack ? e.stack : e.message, status: 1 };
  return { message: String(e), status: 1 };
}

/** Runs the CLI on `argv` (the words after `wharf`) and resolves with the exit status. */
export async function run(argv: readonly string[], io: Io = defaultIo(), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let client: EngineClient | undefined;
  let debug = false;
  const report = async (message: string, status: number) => {
    if (message !== "") await write(io.stderr, message.endsWith("\n") ? message : message + "\n");
    return status;
  };
  try {
    // Global flags come before the command, as with docker (cobra's root does not intersperse).
    let globals;
    try {
      globals = parseArgs(argv, GLOBAL_FLAGS, { interspersed: false });
    } catch (e) {
      if (e instanceof FlagError) return await report(flagErrorText(BIN, ROOT_SPEC, e.message), 125);
      throw e;
    }
    debug = globals.values.bool("debug") || env["WHARF_DEBUG"] === "1";
    if (globals.values.bool("version")) {
      await write(io.stdout, `${BIN} version ${clientVersion()}\n`);
      return 0;
    }
    const logLevel = globals.values.string("log-level");
    if (!LOG_LEVELS.has(logLevel)) return await report(`Unable to parse logging level: ${logLevel}`, 1);
    const hosts = globals.values.strings("host");
    if (hosts.length > 1) return await report("Please specify only one -H", 1);
    if (globals.help && globals.args.length === 0) {
      await write(io.stdout, rootHelp());
      return 0;
    }
    let words = globals.args;
    let helpRequested = false;
    if (words[0] === "help") {
      helpRequested = true;
      words = words.slice(1);
      if (words.length === 0) {
        await write(io.stdout, rootHelp());
        return 0;
      }
    }
    if (words.length === 0) {
      await write(io.stdout, rootHelp());
      return 0;
    }
    const { entry, path, rest } = resolve(words);
    if (!entry) return await report(`${BIN}: unknown command: ${BIN} ${words[0]}\n\nRun '${BIN} --help' for more information`, 1);
    if (entry.kind === "group") {
      if (rest.length > 0 && !rest.every((a) => a === "--help" || a === "-h")) {
        const parsed = (() => {
          try {
            return parseArgs(rest, []);
          } catch (e) {
            return e instanceof FlagError ? e : undefined;
          }
        })();
        if (parsed instanceof FlagError) return await report(`${parsed.message}\n\nUsage:  ${BIN} ${entry.name}\n\nRun '${BIN} ${entry.name} --help' for more information`, 125);
      }
      await write(io.stdout, groupHelp(entry));
      return 0;
    }
    const spec: CommandSpec = { ...entry.command.spec, path };
    let parsed;
    try {
      parsed = parseArgs(rest, spec.flags, spec.interspersed === false ? { interspersed: false } : {});
    } catch (e) {
      if (e instanceof FlagError) return await report(flagErrorText(BIN, spec, e.message), 125);
      throw e;
    }
    for (const w of parsed.warnings) await write(io.stderr, w + "\n");
    if (parsed.help || helpRequested) {
      await write(io.stdout, commandHelp(BIN, spec));
      return 0;
    }
    const argError = checkArgs(spec.args, parsed.args, BIN, commandPath(BIN, spec), useLine(BIN, spec));
    if (argError) return await report(argError, 1);
    const host = resolveHost(hosts[0], env);
    const ctx: CliContext = {
      bin: BIN,
      io,
      client: () => (client ??= new EngineClient({ host })),
    };
    try {
      await entry.command.run(ctx, parsed.values, parsed.args);
    } catch (e) {
      if (e instanceof FlagError) return await report(flagErrorText(BIN, spec, e.message), 125);
      throw e;
    }
    return 0;
  } catch (e) {
    const { message, status } = describeError(e, debug);
    return await report(message, status);
  } finally {
    client?.close();
  }
}

/** The entry point bin/wharf calls. */
export async function main(argv: readonly string[]): Promise<void> {
  // A closed pipe downstream (`wharf images | head -1`) is not an error worth a stack trace.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  });
  process.exitCode = await run(argv);
  // stdin may still be open (a terminal, or a pipe nobody read); it must not keep us alive.
  process.stdin.unref?.();
  if (process.stdin.readableFlowing !== null || process.stdin.listenerCount("data") > 0) process.stdin.destroy();
}

// `wharf`, the CLI: global flags, the command tree, help, and docker's way of
// reporting errors (exit 125 for a malformed command line, 1 for a failure).
import { isatty } from "node:tty";
import { ConnectionError, DaemonError, EngineClient, resolveHost, WharfError } from "../api/client.js";
import { CliError, write, type CliContext, type Command, type Io } from "./context.js";
import { checkArgs, commandHelp, commandPath, flagErrorText, FlagError, flagUsages, helpColumns, parseArgs, useLine, type CommandSpec, type FlagSpec } from "./flags.js";

// Command modules load when their command runs (or for help): `wharf run`
// must not pay for templates and image parsing it never uses.
const images = () => import("./commands/images.js");
const system = () => import("./commands/system.js");
const runs = () => import("./commands/run.js");
const containers = () => import("./commands/containers.js");
const volumes = () => import("./commands/volumes.js");
const networks = () => import("./commands/networks.js");
const builds = () => import("./commands/build.js");
const distribution = () => import("./commands/distribution.js");

const BIN = "wharf";

interface Leaf {
  kind: "leaf";
  name: string;
  aliases?: readonly string[];
  /** The command, or how to load it. */
  command: Command | (() => Promise<Command>);
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

const leaf = (name: string, command: Command | (() => Promise<Command>), extra: { aliases?: readonly string[]; common?: boolean } = {}): Leaf => ({ kind: "leaf", name, command, ...extra });

/** A command that loads with its module: `lazy(images, "imagesCommand")`. */
function lazy<M>(load: () => Promise<M>, key: keyof M & string): () => Promise<Command> {
  return () => load().then((m) => m[key] as Command);
}

async function commandOf(l: Leaf): Promise<Command> {
  return typeof l.command === "function" ? await l.command() : l.command;
}

const imagesCommand = lazy(images, "imagesCommand");
const historyCommand = lazy(images, "historyCommand");
const importCommand = lazy(images, "importCommand");
const imageInspectCommand = lazy(images, "imageInspectCommand");
const inspectCommand = lazy(containers, "inspectCommand");
const loadCommand = lazy(images, "loadCommand");
const pruneCommand = lazy(images, "pruneCommand");
const rmiCommand = lazy(images, "rmiCommand");
const saveCommand = lazy(images, "saveCommand");
const tagCommand = lazy(images, "tagCommand");
const dfCommand = lazy(system, "dfCommand");
const infoCommand = lazy(system, "infoCommand");
const versionCommand = lazy(system, "versionCommand");
const eventsCommand = lazy(containers, "eventsCommand");

/** The container commands, as `container X` and (all but ls) as top-level `X`. */
const CONTAINER_LEAVES: readonly Leaf[] = [
  leaf("attach", lazy(runs, "attachCommand")),
  leaf("commit", lazy(containers, "commitCommand")),
  leaf("cp", lazy(containers, "cpCommand")),
  leaf("create", lazy(runs, "createCommand")),
  leaf("diff", lazy(containers, "diffCommand")),
  leaf("exec", lazy(runs, "execCommand"), { common: true }),
  leaf("export", lazy(containers, "exportCommand")),
  leaf("inspect", lazy(containers, "containerInspectCommand")),
  leaf("kill", lazy(containers, "killCommand")),
  leaf("logs", lazy(containers, "logsCommand")),
  leaf("ls", lazy(containers, "psCommand"), { aliases: ["ps", "list"] }),
  leaf("pause", lazy(containers, "pauseCommand")),
  leaf("port", lazy(containers, "portCommand")),
  leaf("prune", lazy(containers, "containerPruneCommand")),
  leaf("rename", lazy(containers, "renameCommand")),
  leaf("restart", lazy(containers, "restartCommand")),
  leaf("rm", lazy(containers, "rmCommand"), { aliases: ["remove"] }),
  leaf("run", lazy(runs, "runCommand"), { common: true }),
  leaf("start", lazy(runs, "startCommand")),
  leaf("stats", lazy(containers, "statsCommand")),
  leaf("stop", lazy(containers, "stopCommand")),
  leaf("top", lazy(containers, "topCommand")),
  leaf("unpause", lazy(containers, "unpauseCommand")),
  leaf("update", lazy(containers, "updateCommand")),
  leaf("wait", lazy(containers, "waitCommand")),
];
const TOP_CONTAINER_LEAVES = CONTAINER_LEAVES.filter((l) => !["inspect", "ls", "prune"].includes(l.name)).map((l) => ({ ...l, aliases: l.name === "rm" ? [] : (l.aliases ?? []) }));

/** The command tree: docker's names, aliases and grouping. */
export const COMMANDS: readonly Entry[] = [
  ...["run", "exec"].map((n) => TOP_CONTAINER_LEAVES.find((l) => l.name === n)!),
  leaf("ps", lazy(containers, "psCommand"), { common: true }),
  leaf("build", lazy(builds, "buildCommand"), { common: true }),
  leaf("images", imagesCommand, { common: true }),
  leaf("version", versionCommand, { common: true }),
  leaf("info", infoCommand, { common: true }),
  leaf("pull", lazy(distribution, "pullCommand"), { common: true }),
  leaf("push", lazy(distribution, "pushCommand"), { common: true }),
  leaf("login", lazy(distribution, "loginCommand"), { common: true }),
  leaf("logout", lazy(distribution, "logoutCommand"), { common: true }),
  {
    kind: "group",
    name: "manifest",
    short: "Manage image manifests and manifest lists",
    children: [leaf("inspect", lazy(distribution, "manifestInspectCommand"))],
  },
  {
    kind: "group",
    name: "image",
    short: "Manage images",
    children: [
      leaf("build", lazy(builds, "buildCommand")),
      leaf("history", historyCommand),
      leaf("import", importCommand),
      leaf("inspect", imageInspectCommand),
      leaf("load", loadCommand),
      leaf("ls", imagesCommand, { aliases: ["list"] }),
      leaf("prune", pruneCommand),
      leaf("pull", lazy(distribution, "pullCommand")),
      leaf("push", lazy(distribution, "pushCommand")),
      leaf("rm", rmiCommand, { aliases: ["rmi", "remove"] }),
      leaf("save", saveCommand),
      leaf("tag", tagCommand),
    ],
  },
  {
    kind: "group",
    name: "builder",
    short: "Manage builds",
    children: [leaf("build", lazy(builds, "buildCommand")), leaf("prune", lazy(builds, "builderPruneCommand"))],
  },
  {
    kind: "group",
    name: "system",
    short: "Manage wharf",
    children: [leaf("df", dfCommand), leaf("events", eventsCommand), leaf("info", infoCommand)],
  },
  { kind: "group", name: "container", short: "Manage containers", children: CONTAINER_LEAVES },
  {
    kind: "group",
    name: "volume",
    short: "Manage volumes",
    children: [
      leaf("create", lazy(volumes, "volumeCreateCommand")),
      leaf("inspect", lazy(volumes, "volumeInspectCommand")),
      leaf("ls", lazy(volumes, "volumeLsCommand"), { aliases: ["list"] }),
      leaf("prune", lazy(volumes, "volumePruneCommand")),
      leaf("rm", lazy(volumes, "volumeRmCommand"), { aliases: ["remove"] }),
    ],
  },
  {
    kind: "group",
    name: "network",
    short: "Manage networks",
    children: [
      leaf("connect", lazy(networks, "networkConnectCommand")),
      leaf("create", lazy(networks, "networkCreateCommand")),
      leaf("disconnect", lazy(networks, "networkDisconnectCommand")),
      leaf("inspect", lazy(networks, "networkInspectCommand")),
      leaf("ls", lazy(networks, "networkLsCommand"), { aliases: ["list"] }),
      leaf("prune", lazy(networks, "networkPruneCommand")),
      leaf("rm", lazy(networks, "networkRmCommand"), { aliases: ["remove"] }),
    ],
  },
  ...TOP_CONTAINER_LEAVES.filter((l) => !l.common),
  leaf("events", eventsCommand),
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

async function shortOf(e: Entry): Promise<string> {
  return e.kind === "leaf" ? (await commandOf(e)).spec.short : e.short;
}

async function listOf(es: readonly Entry[]): Promise<string> {
  return commandList(await Promise.all(es.map(async (e) => ({ name: e.name, short: await shortOf(e) }))));
}

export async function rootHelp(cols: number = helpColumns()): Promise<string> {
  const common = COMMANDS.filter((e): e is Leaf => e.kind === "leaf" && e.common === true);
  const groups = COMMANDS.filter((e): e is Group => e.kind === "group");
  const others = COMMANDS.filter((e): e is Leaf => e.kind === "leaf" && e.common !== true).sort((a, b) => a.name.localeCompare(b.name));
  const [commonList, groupList, otherList] = await Promise.all([listOf(common), listOf(groups), listOf(others)]);
  return [
    `Usage:  ${BIN} [OPTIONS] COMMAND`,
    "",
    ROOT_SPEC.short,
    "",
    "Common Commands:",
    commonList,
    "",
    "Management Commands:",
    groupList,
    "",
    "Commands:",
    otherList,
    "",
    "Global Options:",
    flagUsages(GLOBAL_FLAGS, cols).trimEnd(),
    "",
    `Run '${BIN} COMMAND --help' for more information on a command.`,
    "",
  ].join("\n");
}

export async function groupHelp(group: Group): Promise<string> {
  const children = await listOf(group.children);
  return [
    `Usage:  ${BIN} ${group.name} COMMAND`,
    "",
    group.short,
    "",
    "Commands:",
    children,
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

/** Whether anything asked for process.stdin: making it costs start-up time most commands do not need. */
let stdinUsed = false;

function defaultIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    get stdin() {
      stdinUsed = true;
      return process.stdin;
    },
    stdoutIsTTY: process.stdout.isTTY === true,
    stdinIsTTY: isatty(0),
  };
}

/** The message and exit status docker would give for an error. */
export function describeError(e: unknown, debug: boolean): { message: string; status: number } {
  if (e instanceof CliError) return { message: e.message, status: e.status };
  if (e instanceof DaemonError) return { message: `Error response from daemon: ${e.message}`, status: 1 };
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
      await write(io.stdout, `${BIN} version ${(await system()).clientVersion()}\n`);
      return 0;
    }
    const logLevel = globals.values.string("log-level");
    if (!LOG_LEVELS.has(logLevel)) return await report(`Unable to parse logging level: ${logLevel}`, 1);
    const hosts = globals.values.strings("host");
    if (hosts.length > 1) return await report("Please specify only one -H", 1);
    if (globals.help && globals.args.length === 0) {
      await write(io.stdout, await rootHelp());
      return 0;
    }
    let words = globals.args;
    let helpRequested = false;
    if (words[0] === "help") {
      helpRequested = true;
      words = words.slice(1);
      if (words.length === 0) {
        await write(io.stdout, await rootHelp());
        return 0;
      }
    }
    if (words.length === 0) {
      await write(io.stdout, await rootHelp());
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
      await write(io.stdout, await groupHelp(entry));
      return 0;
    }
    const command = await commandOf(entry);
    const spec: CommandSpec = { ...command.spec, path };
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
      await command.run(ctx, parsed.values, parsed.args);
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
  if (!stdinUsed) return;
  process.stdin.unref?.();
  if (process.stdin.readableFlowing !== null || process.stdin.listenerCount("data") > 0) process.stdin.destroy();
}

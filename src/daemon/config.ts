// wharfd's command line, parsed once into a typed config. The flags are
// dockerd's, so a docker administrator's habits (and unit files) carry over.
import { isAbsolute, join, resolve } from "node:path";
import { wharfError, type LogLevel } from "../internal/index.js";
import { isLoopback, parseAddr } from "../registry/config.js";

export const DEFAULT_DATA_ROOT = "/var/lib/wharf";
export const DEFAULT_EXEC_ROOT = "/run/wharf";
export const DEFAULT_HOST = "unix:///run/wharf/wharf.sock";

export interface DaemonConfig {
  readonly dataRoot: string;
  readonly execRoot: string;
  /** Unix socket paths to serve the Engine API on. */
  readonly sockets: readonly string[];
  readonly pidfile: string;
  readonly logLevel: LogLevel;
  readonly debug: boolean;
  /** Where to serve the image store over the OCI distribution API (loopback only); none by default. */
  readonly registryAddr?: { readonly host: string; readonly port: number };
}

export type Invocation = { readonly kind: "run"; readonly config: DaemonConfig } | { readonly kind: "help" } | { readonly kind: "version" };

export const USAGE = `Usage:	wharfd [OPTIONS]

A container engine serving the Docker Engine API

Options:
      --data-root string   Root directory of persistent wharf state (default "${DEFAULT_DATA_ROOT}")
  -D, --debug              Enable debug mode
      --exec-root string   Root directory for execution state files (default "${DEFAULT_EXEC_ROOT}")
  -h, --help               Print usage
  -H, --host list          Daemon socket(s) to connect to (default ${DEFAULT_HOST})
  -l, --log-level string   Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
  -p, --pidfile string     Path to use for daemon PID file (default "<exec-root>/wharfd.pid")
      --registry-addr string  Serve the image store over the OCI distribution API on this loopback address (127.0.0.1:5000)
  -v, --version            Print version information and quit
`;

/**
 * `unix:///path` → the socket path. TCP is refused: dockerd serves TCP only
 * with TLS worth having, and wharfd has no TLS yet.
 */
export function parseHost(spec: string): string {
  const m = /^([a-z]+):\/\/(.*)$/.exec(spec);
  const scheme = m ? m[1]! : "tcp";
  if (scheme === "unix") {
    const path = m![2]!;
    if (!isAbsolute(path)) throw wharfError("invalid-argument", `invalid host ${JSON.stringify(spec)}: the socket path must be absolute (unix:///path/to/socket)`);
    return path;
  }
  if (scheme === "tcp") throw wharfError("invalid-argument", `invalid host ${JSON.stringify(spec)}: TCP is served only with TLS, which wharfd does not offer yet; use unix:///path/to/socket`);
  throw wharfError("invalid-argument", `invalid host ${JSON.stringify(spec)}: unsupported scheme ${JSON.stringify(scheme)}; use unix:///path/to/socket`);
}

function parseLogLevel(text: string): LogLevel {
  switch (text.toLowerCase()) {
    case "debug":
    case "info":
    case "error":
      return text.toLowerCase() as LogLevel;
    case "warn":
    case "warning":
      return "warn";
    // dockerd's fatal and panic: wharf logs nothing above error.
    case "fatal":
    case "panic":
      return "error";
    default:
      throw wharfError("invalid-argument", `invalid log level ${JSON.stringify(text)}: expected debug, info, warn, error or fatal`);
  }
}

function parseBoolFlag(name: string, text: string): boolean {
  if (/^(1|t|true)$/i.test(text)) return true;
  if (/^(0|f|false)$/i.test(text)) return false;
  throw wharfError("invalid-argument", `invalid argument ${JSON.stringify(text)} for ${name}: expected true or false`);
}

type ValueFlag = "data-root" | "exec-root" | "host" | "pidfile" | "log-level" | "registry-addr";
type BoolFlag = "debug" | "help" | "version";
const VALUE_FLAGS: Record<string, ValueFlag> = { "data-root": "data-root", "exec-root": "exec-root", host: "host", H: "host", pidfile: "pidfile", p: "pidfile", "log-level": "log-level", l: "log-level", "registry-addr": "registry-addr" };
const BOOL_FLAGS: Record<string, BoolFlag> = { debug: "debug", D: "debug", help: "help", h: "help", version: "version", v: "version" };

/** Parses wharfd's arguments; anything unknown or malformed throws invalid-argument with a one-line message. */
export function parseDaemonArgs(argv: readonly string[]): Invocation {
  const values: Partial<Record<Exclude<ValueFlag, "host">, string>> = {};
  const hosts: string[] = [];
  const flags: Partial<Record<BoolFlag, boolean>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith("--") && arg.length > 2) {
      const eq = arg.indexOf("=");
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else if (arg.startsWith("-") && arg.length > 1 && !arg.startsWith("--")) {
      // pflag shorthands: `-H x`, `-Hx`, `-H=x`.
      name = arg[1]!;
      const rest = arg.slice(2);
      inline = rest === "" ? undefined : rest.startsWith("=") ? rest.slice(1) : rest;
    } else {
      throw wharfError("invalid-argument", `"wharfd" accepts no arguments: unexpected ${JSON.stringify(arg)}`);
    }
    const display = name.length === 1 ? `-${name}` : `--${name}`;
    const bool = BOOL_FLAGS[name];
    if (bool) {
      if (inline !== undefined && name.length === 1 && !arg.includes("=")) throw wharfError("invalid-argument", `unknown shorthand flag: ${JSON.stringify(name)} in ${arg}`);
      flags[bool] = inline === undefined ? true : parseBoolFlag(display, inline);
      continue;
    }
    const flag = VALUE_FLAGS[name];
    if (!flag) throw wharfError("invalid-argument", name.length === 1 ? `unknown shorthand flag: ${JSON.stringify(name)} in ${arg}` : `unknown flag: ${display}`);
    let value = inline;
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw wharfError("invalid-argument", `flag needs an argument: ${display}`);
    }
    if (flag === "host") hosts.push(value);
    else values[flag] = value;
  }
  if (flags.help) return { kind: "help" };
  if (flags.version) return { kind: "version" };
  const dataRoot = resolve(values["data-root"] ?? DEFAULT_DATA_ROOT);
  const execRoot = resolve(values["exec-root"] ?? DEFAULT_EXEC_ROOT);
  const debug = flags.debug ?? false;
  const logLevel = parseLogLevel(values["log-level"] ?? "info");
  const sockets = [...new Set((hosts.length > 0 ? hosts : [DEFAULT_HOST]).map(parseHost))];
  return {
    kind: "run",
    config: {
      dataRoot,
      execRoot,
      sockets,
      pidfile: resolve(values.pidfile ?? join(execRoot, "wharfd.pid")),
      // -D wins over --log-level, as in dockerd.
      logLevel: debug ? "debug" : logLevel,
      debug,
      ...(values["registry-addr"] !== undefined ? { registryAddr: parseRegistryAddr(values["registry-addr"]) } : {}),
    },
  };
}

/** The daemon's registry has no TLS or auth of its own: it listens on loopback only. */
function parseRegistryAddr(text: string): { host: string; port: number } {
  const addr = parseAddr(text);
  if (!isLoopback(addr.host)) throw wharfError("invalid-argument", `invalid --registry-addr ${JSON.stringify(text)}: wharfd serves its registry on loopback addresses only (127.0.0.1:5000, [::1]:5000); use wharf registry serve with TLS and auth for other addresses`);
  return addr;
}

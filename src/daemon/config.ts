// wharfd's command line, parsed once into a typed config. The flags are
// dockerd's, so a docker administrator's habits (and unit files) carry over.
import { isAbsolute, join, resolve } from "node:path";
import { wharfError, type LogLevel } from "../internal/index.js";
import { DEFAULT_CERTS_DIR, parseInsecureEntry, parseMirror, type RegistryConfig } from "../distribution/index.js";
import { parseAddr } from "../registry/config.js";
import type { DaemonRegistryFlags } from "./registry.js";
import { isIpv4 } from "../network/index.js";

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
  /** OCI runtimes by name (`--add-runtime name=path`); `runc` is always there. */
  readonly runtimes: Readonly<Record<string, string>>;
  /** The runtime of containers that name none (`--default-runtime`). */
  readonly defaultRuntime: string;
  /** Networking: the default bridge and its address, the pools of new networks, forwarding. */
  readonly network?: NetworkFlags;
  /** Mirrors, insecure registries and per-registry certificates for pull and push. */
  readonly registries?: RegistryConfig;
  /** Serving the image store over the OCI distribution API (`--registry-addr`, `--registry-config`); none by default. */
  readonly registry?: DaemonRegistryFlags;
}

export interface NetworkFlags {
  /** The default network's bridge (`wharf0`); also names wharf's nft table. */
  readonly bridge?: string;
  /** `--bip`: the default bridge's address with its prefix. */
  readonly bip?: string;
  /** `--default-address-pool base=CIDR,size=N`, repeatable. */
  readonly pools: readonly string[];
  readonly mtu?: number;
  readonly ipForward: boolean;
  /** `--ip`: the host address published ports bind to when they name none (dockerd's `--ip`). */
  readonly defaultBindIp?: string;
}

export type Invocation = { readonly kind: "run"; readonly config: DaemonConfig } | { readonly kind: "help" } | { readonly kind: "version" };

export const USAGE = `Usage:	wharfd [OPTIONS]

A container engine serving the Docker Engine API

Options:
      --add-runtime runtime   Register an additional OCI compatible runtime (name=path)
      --data-root string   Root directory of persistent wharf state (default "${DEFAULT_DATA_ROOT}")
      --certs-dir string   Directory of per-registry TLS certificates (<dir>/<host>/ca.crt) (default "${DEFAULT_CERTS_DIR}")
  -D, --debug              Enable debug mode
      --default-runtime string   Default OCI runtime for containers (default "runc")
      --exec-root string   Root directory for execution state files (default "${DEFAULT_EXEC_ROOT}")
  -h, --help               Print usage
  -H, --host list          Daemon socket(s) to connect to (default ${DEFAULT_HOST})
      --insecure-registry list  Registries reachable over HTTP or without a verified certificate (host[:port] or CIDR; loopback always)
  -l, --log-level string   Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
  -p, --pidfile string     Path to use for daemon PID file (default "<exec-root>/wharfd.pid")
      --registry-mirror list  Preferred Docker Hub mirror(s)
      --registry-addr string  Serve the image store over the OCI distribution API on this address (127.0.0.1:5000; plain HTTP on loopback only)
      --registry-config string  JSON file for that registry: TLS, auth, limits, names (as wharf registry serve's --config)
  -v, --version            Print version information and quit
      --bridge string      Name of the default network's bridge (default "wharf0")
      --bip string         Address and prefix of the default bridge (default: the first free subnet of the pools)
      --default-address-pool list  Pools of new networks: base=CIDR,size=N (default base=10.210.0.0/16,size=24)
      --mtu int            MTU of container interfaces (default 1500)
      --ip string          Where published ports bind when they name no host address (default 0.0.0.0)
      --ip-forward         Turn on IPv4 forwarding on the host (default false: left as the host has it)
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

type ValueFlag =
  | "data-root"
  | "exec-root"
  | "host"
  | "pidfile"
  | "log-level"
  | "add-runtime"
  | "default-runtime"
  | "bridge"
  | "bip"
  | "default-address-pool"
  | "mtu"
  | "registry-mirror"
  | "insecure-registry"
  | "certs-dir"
  | "registry-addr"
  | "registry-config"
  | "ip";
const LIST_FLAGS = new Set<ValueFlag>(["registry-mirror", "insecure-registry"]);
type BoolFlag = "debug" | "help" | "version" | "ip-forward";
const VALUE_FLAGS: Record<string, ValueFlag> = {
  "data-root": "data-root",
  "exec-root": "exec-root",
  host: "host",
  H: "host",
  pidfile: "pidfile",
  p: "pidfile",
  "log-level": "log-level",
  l: "log-level",
  "add-runtime": "add-runtime",
  "default-runtime": "default-runtime",
  bridge: "bridge",
  b: "bridge",
  bip: "bip",
  "default-address-pool": "default-address-pool",
  mtu: "mtu",
  "registry-mirror": "registry-mirror",
  "insecure-registry": "insecure-registry",
  "certs-dir": "certs-dir",
  "registry-addr": "registry-addr",
  "registry-config": "registry-config",
  ip: "ip",
};
const BOOL_FLAGS: Record<string, BoolFlag> = { debug: "debug", D: "debug", help: "help", h: "help", version: "version", v: "version", "ip-forward": "ip-forward" };

/** Parses wharfd's arguments; anything unknown or malformed throws invalid-argument with a one-line message. */
export function parseDaemonArgs(argv: readonly string[]): Invocation {
  const values: Partial<Record<Exclude<ValueFlag, "host" | "add-runtime" | "default-address-pool">, string>> = {};
  const lists = { "registry-mirror": [] as string[], "insecure-registry": [] as string[] };
  const hosts: string[] = [];
  const runtimes: Record<string, string> = { runc: "runc" };
  const pools: string[] = [];
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
    else if (flag === "add-runtime") {
      const [name, path] = parseRuntime(value);
      runtimes[name] = path;
    } else if (flag === "default-address-pool") pools.push(value);
    else if (LIST_FLAGS.has(flag)) lists[flag as keyof typeof lists].push(value);
    else values[flag] = value;
  }
  if (flags.help) return { kind: "help" };
  if (flags.version) return { kind: "version" };
  const dataRoot = resolve(values["data-root"] ?? DEFAULT_DATA_ROOT);
  const execRoot = resolve(values["exec-root"] ?? DEFAULT_EXEC_ROOT);
  const debug = flags.debug ?? false;
  const logLevel = parseLogLevel(values["log-level"] ?? "info");
  const sockets = [...new Set((hosts.length > 0 ? hosts : [DEFAULT_HOST]).map(parseHost))];
  const defaultRuntime = values["default-runtime"] ?? "runc";
  if (!runtimes[defaultRuntime]) throw wharfError("invalid-argument", `invalid --default-runtime ${JSON.stringify(defaultRuntime)}: no such runtime; add it with --add-runtime ${defaultRuntime}=/path/to/runtime`);
  const network = parseNetworkFlags(values.bridge, values.bip, pools, values.mtu, flags["ip-forward"] ?? false, values.ip);
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
      runtimes,
      defaultRuntime,
      network,
      registries: {
        mirrors: lists["registry-mirror"].map(parseMirror),
        insecure: lists["insecure-registry"].map(parseInsecureEntry),
        certsDir: resolve(values["certs-dir"] ?? DEFAULT_CERTS_DIR),
      },
      ...(values["registry-addr"] !== undefined || values["registry-config"] !== undefined
        ? {
            registry: {
              ...(values["registry-addr"] !== undefined ? { addr: checkRegistryAddr(values["registry-addr"]) } : {}),
              ...(values["registry-config"] !== undefined ? { configFile: resolve(values["registry-config"]) } : {}),
            },
          }
        : {}),
    },
  };
}

/** `--add-runtime name=path`: a name docker would accept and a path or command name. */
function parseRuntime(text: string): [string, string] {
  const eq = text.indexOf("=");
  const name = eq === -1 ? "" : text.slice(0, eq);
  const path = eq === -1 ? "" : text.slice(eq + 1);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || path === "") throw wharfError("invalid-argument", `invalid --add-runtime ${JSON.stringify(text)}: expected name=path`);
  if (name === "runc" && path !== "runc") throw wharfError("invalid-argument", `invalid --add-runtime ${JSON.stringify(text)}: runtime name "runc" is reserved`);
  return [name, path];
}

function parseNetworkFlags(bridge: string | undefined, bip: string | undefined, pools: readonly string[], mtuText: string | undefined, ipForward: boolean, ip: string | undefined): NetworkFlags {
  if (ip !== undefined && !isIpv4(ip)) throw wharfError("invalid-argument", `invalid --ip ${JSON.stringify(ip)}: expected an IPv4 address, such as 127.0.0.1`);
  if (bridge !== undefined && !/^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/.test(bridge)) throw wharfError("invalid-argument", `invalid --bridge ${JSON.stringify(bridge)}: an interface name of at most 15 characters`);
  if (bip !== undefined && !/^[0-9]{1,3}(\.[0-9]{1,3}){3}\/[0-9]{1,2}$/.test(bip)) throw wharfError("invalid-argument", `invalid --bip ${JSON.stringify(bip)}: expected an address with its prefix, such as 10.1.0.1/24`);
  for (const p of pools) if (!/^base=[0-9.]+\/[0-9]{1,2}(,size=[0-9]{1,2})?$/.test(p)) throw wharfError("invalid-argument", `invalid --default-address-pool ${JSON.stringify(p)}: expected base=CIDR,size=N`);
  let mtu: number | undefined;
  if (mtuText !== undefined) {
    mtu = Number(mtuText);
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw wharfError("invalid-argument", `invalid --mtu ${JSON.stringify(mtuText)}`);
  }
  return { ...(bridge !== undefined ? { bridge } : {}), ...(bip !== undefined ? { bip } : {}), pools, ...(mtu !== undefined ? { mtu } : {}), ipForward, ...(ip !== undefined ? { defaultBindIp: ip } : {}) };
}


/** `--registry-addr`: host:port, checked here; whether it may serve plain HTTP is the registry config's to say. */
function checkRegistryAddr(text: string): string {
  try {
    parseAddr(text);
  } catch (e) {
    throw wharfError("invalid-argument", `invalid --registry-addr: ${(e as Error).message}`);
  }
  return text;
}

// The flags of `run` and `create` and what they become: the body of
// `POST /containers/create` (Config, HostConfig, NetworkingConfig) laid out
// member by member as the docker CLI sends it, so the daemon cannot tell the
// two apart. Parsing follows docker's opts: env files, labels, ports, mounts,
// ulimits, durations and sizes, with its error messages.
import { readFileSync } from "node:fs";
import { FlagError, type FlagSpec, type FlagValues } from "./flags.js";
import { CliError } from "./context.js";

const list = (name: string, usage: string, short?: string): FlagSpec => ({ name, ...(short ? { short } : {}), kind: "stringArray", valueName: "list", usage });
const str = (name: string, usage: string, short?: string, valueName = "string"): FlagSpec => ({ name, ...(short ? { short } : {}), kind: "string", valueName, usage });
const bool = (name: string, usage: string, short?: string): FlagSpec => ({ name, ...(short ? { short } : {}), kind: "bool", usage });

/** The flags `create` and `run` share. */
export const CONTAINER_FLAGS: readonly FlagSpec[] = [
  list("add-host", "Add a custom host-to-IP mapping (host:ip)"),
  list("attach", "Attach to STDIN, STDOUT or STDERR", "a"),
  str("cidfile", "Write the container ID to the file"),
  list("cap-add", "Add Linux capabilities"),
  list("cap-drop", "Drop Linux capabilities"),
  { name: "cpu-shares", short: "c", kind: "int", usage: "CPU shares (relative weight)" },
  str("cpus", "Number of CPUs", undefined, "decimal"),
  list("device", "Add a host device to the container"),
  list("dns", "Set custom DNS servers"),
  list("dns-search", "Set custom DNS search domains"),
  str("entrypoint", "Overwrite the default ENTRYPOINT of the image"),
  list("env", "Set environment variables", "e"),
  list("env-file", "Read in a file of environment variables"),
  list("expose", "Expose a port or a range of ports"),
  list("group-add", "Add additional groups to join"),
  str("health-cmd", "Command to run to check health"),
  str("health-interval", "Time between running the check (ms|s|m|h) (default 0s)", undefined, "duration"),
  { name: "health-retries", kind: "int", usage: "Consecutive failures needed to report unhealthy" },
  str("health-start-interval", "Time between running the check during the start period (ms|s|m|h) (default 0s)", undefined, "duration"),
  str("health-start-period", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)", undefined, "duration"),
  str("health-timeout", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)", undefined, "duration"),
  str("hostname", "Container host name", "h"),
  bool("init", "Run an init inside the container that forwards signals and reaps processes"),
  bool("interactive", "Keep STDIN open even if not attached", "i"),
  str("ip", "IPv4 address (e.g., 172.30.100.104)"),
  str("ip6", "IPv6 address (e.g., 2001:db8::33)"),
  list("label", "Set meta data on a container", "l"),
  list("label-file", "Read in a line delimited file of labels"),
  str("log-driver", "Logging driver for the container"),
  list("log-opt", "Log driver options"),
  str("mac-address", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
  str("memory", "Memory limit", "m", "bytes"),
  str("memory-reservation", "Memory soft limit", undefined, "bytes"),
  str("memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", undefined, "bytes"),
  { name: "mount", kind: "stringArray", valueName: "mount", usage: "Attach a filesystem mount to the container" },
  str("name", "Assign a name to the container"),
  { name: "network", kind: "string", valueName: "network", usage: "Connect a container to a network" },
  list("network-alias", "Add network-scoped alias for the container"),
  bool("no-healthcheck", "Disable any container-specified HEALTHCHECK"),
  { name: "pids-limit", kind: "int", usage: "Tune container pids limit (set -1 for unlimited)" },
  str("platform", "Set platform if server is multi-platform capable"),
  bool("privileged", "Give extended privileges to this container"),
  list("publish", "Publish a container's port(s) to the host", "p"),
  bool("publish-all", "Publish all exposed ports to random ports", "P"),
  { name: "pull", kind: "string", valueName: "string", defaultValue: "missing", usage: 'Pull image before running ("always", "missing", "never")' },
  bool("quiet", "Suppress the pull output", "q"),
  bool("read-only", "Mount the container's root filesystem as read only"),
  { name: "restart", kind: "string", valueName: "string", defaultValue: "no", usage: "Restart policy to apply when a container exits" },
  bool("rm", "Automatically remove the container and its associated anonymous volumes when it exits"),
  str("runtime", "Runtime to use for this container"),
  list("security-opt", "Security Options"),
  str("shm-size", "Size of /dev/shm", undefined, "bytes"),
  str("stop-signal", "Signal to stop the container"),
  { name: "stop-timeout", kind: "int", usage: "Timeout (in seconds) to stop a container" },
  list("tmpfs", "Mount a tmpfs directory"),
  bool("tty", "Allocate a pseudo-TTY", "t"),
  { name: "ulimit", kind: "stringArray", valueName: "ulimit", usage: "Ulimit options (default [])" },
  str("user", "Username or UID (format: <name|uid>[:<group|gid>])", "u"),
  list("volume", "Bind mount a volume", "v"),
  list("volumes-from", "Mount volumes from the specified container(s)"),
  str("workdir", "Working directory inside the container", "w"),
];

export const RUN_FLAGS: readonly FlagSpec[] = [
  ...CONTAINER_FLAGS,
  bool("detach", "Run container in background and print container ID", "d"),
  str("detach-keys", "Override the key sequence for detaching a container"),
  { name: "sig-proxy", kind: "bool", defaultValue: true, usage: "Proxy received signals to the process" },
];

// ---------------------------------------------------------------- values

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** docker's RAMInBytes: `64m`, `1g`, `512k`, `1.5GiB`, plain bytes; binary multiples. */
export function ramInBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(text);
  if (!m) throw new Error(`invalid size: '${text}'`);
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? "").toLowerCase()]!);
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds. */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)/gy;
  let sign = 1;
  let rest = text;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "") throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  let at = 0;
  re.lastIndex = 0;
  while (at < rest.length) {
    re.lastIndex = at;
    const m = re.exec(rest);
    if (!m) throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  return sign * Math.round(total);
}

/** `KEY=value` lines of an env or label file; `KEY` alone takes the value from the environment (env files only). */
export function readKeyValueFile(path: string, fromEnv: boolean, env: NodeJS.ProcessEnv): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`open ${path}: ${code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (e as Error).message}`, 125);
  }
  const out: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = eq === -1 ? line : line.slice(0, eq);
    if (key === "") throw new CliError(`no variable name on line '${line}'`, 125);
    if (/\s/.test(key)) throw new CliError(`variable '${key.trimEnd()}' contains whitespaces`, 125);
    if (eq !== -1) out.push(line);
    else if (!fromEnv) out.push(line);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
    void i;
  }
  return out;
}

/** `-e KEY` takes KEY's value from the CLI's environment when it has one (docker's ValidateEnv). */
function expandEnv(value: string, env: NodeJS.ProcessEnv): string {
  if (value.includes("=")) return value;
  const v = env[value];
  return v === undefined ? value : `${value}=${v}`;
}

function sortedRecord<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = v;
  return out;
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

function portRange(text: string, what: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw new CliError(`invalid ${what}: ${text}`, 125);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 65535 || hi > 65535 || hi < lo) throw new CliError(`invalid ${what}: ${text}`, 125);
  void spec;
  return [lo, hi];
}

/** docker's nat.ParsePortSpec: `[ip:][hostPort:]containerPort[/proto]`, ranges included. */
export function parsePortSpec(spec: string): { port: string; binding: PortBinding }[] {
  let rest = spec;
  let proto = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash !== -1) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (!["tcp", "udp", "sctp"].includes(proto)) throw new CliError(`invalid proto: ${proto}`, 125);
  }
  let ip = "";
  let hostPort = "";
  let containerPort: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close === -1) throw new CliError(`invalid ip address: ${rest}`, 125);
    ip = rest.slice(1, close);
    const after = rest.slice(close + 1);
    const parts = after.split(":");
    if (parts.length !== 3 || parts[0] !== "") throw new CliError(`invalid port format: ${spec}`, 125);
    hostPort = parts[1]!;
    containerPort = parts[2]!;
  } else {
    const parts = rest.split(":");
    if (parts.length === 1) containerPort = parts[0]!;
    else if (parts.length === 2) [hostPort, containerPort] = parts as [string, string];
    else if (parts.length === 3) [ip, hostPort, containerPort] = parts as [string, string, string];
    else {
      // An IPv6 address without brackets: the last two fields are the ports.
      containerPort = parts.pop()!;
      hostPort = parts.pop()!;
      ip = parts.join(":");
    }
  }
  if (containerPort === "") throw new CliError(`no port specified: ${spec}<empty>`, 125);
  if (ip !== "" && !/^[0-9.]+$|:/.test(ip)) throw new CliError(`invalid IP address: ${ip}`, 125);
  const [cLo, cHi] = portRange(containerPort, "containerPort", spec);
  let hLo = 0;
  let hHi = 0;
  if (hostPort !== "") [hLo, hHi] = portRange(hostPort, "hostPort", spec);
  const count = cHi - cLo + 1;
  if (hostPort !== "" && hHi - hLo + 1 !== count && count !== 1) throw new CliError(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`, 125);
  const out: { port: string; binding: PortBinding }[] = [];
  for (let i = 0; i < count; i++) {
    let hp = hostPort === "" ? "" : String(hLo + i);
    // One container port from a range of host ports: the daemon picks one of the range.
    if (count === 1 && hostPort !== "" && hHi !== hLo) hp = `${hLo}-${hHi}`;
    out.push({ port: `${cLo + i}/${proto}`, binding: { HostIp: ip, HostPort: hp } });
  }
  return out;
}

function exposedPorts(spec: string): string[] {
  let rest = spec;
  let proto = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash !== -1) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  if (rest.includes(":")) throw new CliError(`invalid port format for --expose: ${spec}`, 125);
  const [lo, hi] = portRange(rest, "range format for --expose", spec);
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

function parseBoolText(text: string, what: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new CliError(`invalid argument "${what}" for "--mount" flag: invalid value for '${what.split("=")[0]}': ${text}`, 125);
}

/** One `--mount` value as the API's Mount object, with docker's member order. */
export function parseMount(value: string): Record<string, unknown> {
  let type = "volume";
  let source: string | undefined;
  let target: string | undefined;
  let readOnly: boolean | undefined;
  let consistency: string | undefined;
  const bind: Record<string, unknown> = {};
  const volume: Record<string, unknown> = {};
  const driverConfig: { Name?: string; Options?: Record<string, string> } = {};
  const labels: Record<string, string> = {};
  const options: Record<string, string> = {};
  const tmpfs: Record<string, number> = {};
  const bad = (msg: string) => new CliError(`invalid argument "${value}" for "--mount" flag: ${msg}`, 125);
  for (const field of value.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase().trim();
    const val = eq === -1 ? undefined : field.slice(eq + 1);
    if (val === undefined && key !== "readonly" && key !== "ro" && key !== "volume-nocopy" && key !== "bind-nonrecursive") throw bad(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case "type":
        type = val!;
        if (!["bind", "volume", "tmpfs", "npipe", "cluster"].includes(type)) throw bad(`invalid value for 'type': ${type}`);
        break;
      case "source":
      case "src":
        source = val!;
        break;
      case "target":
      case "dst":
      case "destination":
        target = val!;
        break;
      case "readonly":
      case "ro":
        readOnly = val === undefined ? true : parseBoolText(val, field);
        break;
      case "consistency":
        consistency = val!;
        break;
      case "bind-propagation":
        bind["Propagation"] = val!;
        break;
      case "bind-nonrecursive":
        bind["NonRecursive"] = val === undefined ? true : parseBoolText(val, field);
        break;
      case "volume-nocopy":
        volume["NoCopy"] = val === undefined ? true : parseBoolText(val, field);
        break;
      case "volume-label": {
        const [k, v = ""] = val!.split(/=(.*)/s, 2) as [string, string?];
        labels[k] = v;
        break;
      }
      case "volume-driver":
        driverConfig.Name = val!;
        break;
      case "volume-opt": {
        const i = val!.indexOf("=");
        if (i === -1) throw bad(`invalid value for volume-opt: ${val}`);
        options[val!.slice(0, i)] = val!.slice(i + 1);
        break;
      }
      case "tmpfs-size":
        try {
          tmpfs["SizeBytes"] = ramInBytes(val!);
        } catch {
          throw bad(`invalid value for tmpfs-size: ${val}`);
        }
        break;
      case "tmpfs-mode":
        if (!/^[0-7]+$/.test(val!)) throw bad(`invalid value for tmpfs-mode: ${val}`);
        tmpfs["Mode"] = Number.parseInt(val!, 8);
        break;
      default:
        throw bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (target === undefined || target === "") throw bad("target is required");
  if (Object.keys(labels).length) volume["Labels"] = labels;
  if (Object.keys(options).length) driverConfig.Options = options;
  if (driverConfig.Name !== undefined || driverConfig.Options !== undefined) volume["DriverConfig"] = driverConfig;
  if (type !== "bind" && Object.keys(bind).length) throw bad(`cannot mix 'bind-*' options with mount type '${type}'`);
  if (type !== "volume" && Object.keys(volume).length) throw bad(`cannot mix 'volume-*' options with mount type '${type}'`);
  if (type !== "tmpfs" && Object.keys(tmpfs).length) throw bad(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  return {
    Type: type,
    ...(source !== undefined && source !== "" ? { Source: source } : {}),
    Target: target,
    ...(readOnly ? { ReadOnly: true } : {}),
    ...(consistency ? { Consistency: consistency } : {}),
    ...(Object.keys(bind).length ? { BindOptions: bind } : {}),
    ...(Object.keys(volume).length ? { VolumeOptions: volume } : {}),
    ...(Object.keys(tmpfs).length ? { TmpfsOptions: tmpfs } : {}),
  };
}

/** `--ulimit nofile=1024:2048` (or one number for both). */
export function parseUlimit(value: string): { Name: string; Hard: number; Soft: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(value);
  if (!m) throw new CliError(`invalid argument "${value}" for "--ulimit" flag: invalid ulimit argument: ${value}`, 125);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard) throw new CliError(`invalid argument "${value}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`, 125);
  return { Name: m[1]!, Hard: hard, Soft: soft };
}

/** `--restart no|always|unless-stopped|on-failure[:N]`. */
export function parseRestart(value: string): { Name: string; MaximumRetryCount: number } {
  const [name = "", count] = value.split(":", 2) as [string, string?];
  if (!["", "no", "always", "unless-stopped", "on-failure"].includes(name)) throw new CliError(`invalid restart policy '${name}'`, 125);
  if (count !== undefined) {
    if (name !== "on-failure") throw new CliError(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`, 125);
    if (!/^\d+$/.test(count)) throw new CliError(`invalid restart policy format: maximum retry count must be an integer`, 125);
  }
  return { Name: name === "" ? "no" : name, MaximumRetryCount: count === undefined ? 0 : Number(count) };
}

function normalizeCap(c: string): string {
  const up = c.toUpperCase();
  return up === "ALL" || up.startsWith("CAP_") ? up : `CAP_${up}`;
}

function parseDevice(value: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = value.split(":");
  const host = parts[0]!;
  let ctr = host;
  let perms = "rwm";
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1]!)) perms = parts[1]!;
    else ctr = parts[1]!;
  } else if (parts.length === 3) {
    ctr = parts[1]!;
    perms = parts[2]!;
  } else if (parts.length > 3) throw new CliError(`invalid device specification: ${value}`, 125);
  if (!/^[rwm]+$/.test(perms)) throw new CliError(`invalid device mode: ${perms}`, 125);
  if (!ctr.startsWith("/")) throw new CliError(`${ctr} is not an absolute path`, 125);
  return { PathOnHost: host, PathInContainer: ctr, CgroupPermissions: perms };
}

function securityOpt(value: string): string {
  const sep = value.includes("=") ? "=" : value.includes(":") ? ":" : undefined;
  if (sep === undefined) {
    if (value === "no-new-privileges") return value;
    throw new CliError(`invalid --security-opt: ${JSON.stringify(value)}`, 125);
  }
  const [key, ...rest] = value.split(sep);
  const v = rest.join(sep);
  if (key === "seccomp" && v !== "unconfined" && v !== "builtin") {
    let text: string;
    try {
      text = readFileSync(v, "utf8");
    } catch (e) {
      throw new CliError(`opening seccomp profile (${v}) failed: open ${v}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`, 125);
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch {
      throw new CliError(`compacting json for seccomp profile (${v}) failed: invalid character in JSON`, 125);
    }
  }
  return value;
}

function durationFlag(flags: FlagValues, name: string): number | undefined {
  const text = flags.string(name);
  if (!flags.changed(name) || text === "") return undefined;
  try {
    const ns = parseDuration(text);
    if (ns < 0) throw new Error("negative");
    return ns;
  } catch {
    throw new FlagError(`invalid argument "${text}" for "--${name}" flag: time: invalid duration ${JSON.stringify(text)}`);
  }
}

function bytesFlag(flags: FlagValues, name: string, short?: string): number {
  const text = flags.string(name);
  if (text === "") return 0;
  if (name === "memory-swap" && text === "-1") return -1;
  try {
    return ramInBytes(text);
  } catch {
    throw new FlagError(`invalid argument "${text}" for "${short ? `-${short}, ` : ""}--${name}" flag: invalid size: '${text}'`);
  }
}

export interface CreateRequest {
  /** The JSON body, in docker's member order. */
  body: Record<string, unknown>;
  name: string;
  platform: string;
  image: string;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  openStdin: boolean;
  autoRemove: boolean;
  cidfile: string;
  pull: "missing" | "always" | "never";
}

const endpoint = (aliases: string[] | null, ipam: Record<string, string> | null, mac = "") => ({
  IPAMConfig: ipam,
  Links: null,
  Aliases: aliases,
  MacAddress: mac,
  DriverOpts: null,
  GwPriority: 0,
  NetworkID: "",
  EndpointID: "",
  Gateway: "",
  IPAddress: "",
  IPPrefixLen: 0,
  IPv6Gateway: "",
  GlobalIPv6Address: "",
  GlobalIPv6PrefixLen: 0,
  DNSNames: null,
});

/**
 * The create request for `args` (IMAGE [COMMAND] [ARG...]) and the flags of
 * `create` or `run` (`detach` only exists for run). Bad values are a
 * CliError or FlagError with docker's text; nothing is sent.
 */
export function buildCreateRequest(flags: FlagValues, args: readonly string[], options: { detach: boolean; env?: NodeJS.ProcessEnv }): CreateRequest {
  const env = options.env ?? process.env;
  const [image, ...cmd] = args as [string, ...string[]];
  const tty = flags.bool("tty");
  const stdin = flags.bool("interactive");
  const detach = options.detach;
  const attach = flags.strings("attach").map((a) => a.toLowerCase());
  for (const a of attach) if (!["stdin", "stdout", "stderr"].includes(a)) throw new FlagError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (detach && attach.length > 0) throw new CliError("conflicting options: cannot specify both --attach and --detach", 125);
  let attachStdin = false;
  let attachStdout = false;
  let attachStderr = false;
  if (!detach) {
    if (attach.length === 0) {
      attachStdout = true;
      attachStderr = true;
      attachStdin = stdin;
    } else {
      attachStdin = attach.includes("stdin");
      attachStdout = attach.includes("stdout");
      attachStderr = attach.includes("stderr");
    }
  }
  const autoRemove = flags.bool("rm");
  const restart = parseRestart(flags.string("restart"));
  if (autoRemove && restart.Name !== "no") throw new CliError("conflicting options: cannot specify both --restart and --rm", 125);

  const envList = [...flags.strings("env-file").flatMap((f) => readKeyValueFile(f, true, env)), ...flags.strings("env").map((e) => expandEnv(e, env))];
  const labelList = [...flags.strings("label-file").flatMap((f) => readKeyValueFile(f, false, env)), ...flags.strings("label")];
  const labels = sortedRecord(
    labelList.map((l): [string, string] => {
      const i = l.indexOf("=");
      return i === -1 ? [l, ""] : [l.slice(0, i), l.slice(i + 1)];
    }),
  );

  const exposed = new Set<string>();
  const bindings = new Map<string, PortBinding[]>();
  for (const p of flags.strings("publish")) {
    for (const { port, binding } of parsePortSpec(p)) {
      exposed.add(port);
      bindings.set(port, [...(bindings.get(port) ?? []), binding]);
    }
  }
  for (const e of flags.strings("expose")) for (const port of exposedPorts(e)) exposed.add(port);

  const volumes = new Map<string, object>();
  const binds: string[] = [];
  for (const v of flags.strings("volume")) {
    const parts = v.split(":");
    if (v === "" || parts.some((p, i) => p === "" && i < 2)) throw new CliError(`invalid spec: ${v}: empty section between colons`, 125);
    if (parts.length === 1) volumes.set(v, {});
    else if (parts.length > 3) throw new CliError(`invalid spec: ${v}: too many colons`, 125);
    else binds.push(v);
  }
  const mounts = flags.strings("mount").map(parseMount);
  const tmpfs = sortedRecord(
    flags.strings("tmpfs").map((t): [string, string] => {
      const i = t.indexOf(":");
      return i === -1 ? [t, ""] : [t.slice(0, i), t.slice(i + 1)];
    }),
  );
  const logOpts = sortedRecord(
    flags.strings("log-opt").map((o): [string, string] => {
      const i = o.indexOf("=");
      if (i === -1) throw new CliError(`invalid key/value pair format in logging opts: ${o}`, 125);
      return [o.slice(0, i), o.slice(i + 1)];
    }),
  );

  let healthcheck: Record<string, unknown> | undefined;
  const healthCmd = flags.string("health-cmd");
  const interval = durationFlag(flags, "health-interval");
  const timeout = durationFlag(flags, "health-timeout");
  const startPeriod = durationFlag(flags, "health-start-period");
  const startInterval = durationFlag(flags, "health-start-interval");
  const retries = flags.int("health-retries");
  const anyHealth = healthCmd !== "" || interval || timeout || startPeriod || startInterval || retries !== 0;
  if (flags.bool("no-healthcheck")) {
    if (anyHealth) throw new CliError("--no-healthcheck conflicts with --health-* options", 125);
    healthcheck = { Test: ["NONE"] };
  } else if (anyHealth) {
    if (retries < 0) throw new CliError("--health-retries cannot be negative", 125);
    healthcheck = {
      ...(healthCmd !== "" ? { Test: ["CMD-SHELL", healthCmd] } : {}),
      ...(interval ? { Interval: interval } : {}),
      ...(timeout ? { Timeout: timeout } : {}),
      ...(startPeriod ? { StartPeriod: startPeriod } : {}),
      ...(startInterval ? { StartInterval: startInterval } : {}),
      ...(retries ? { Retries: retries } : {}),
    };
  }

  let entrypoint: string[] | null = null;
  if (flags.string("entrypoint") !== "") entrypoint = [flags.string("entrypoint")];
  else if (flags.changed("entrypoint")) entrypoint = [""];

  let nanoCpus = 0;
  const cpus = flags.string("cpus");
  if (cpus !== "") {
    const n = Number(cpus);
    if (!/^[0-9]*\.?[0-9]+$/.test(cpus) || !Number.isFinite(n)) throw new FlagError(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`);
    nanoCpus = Math.round(n * 1e9);
  }

  const network = flags.string("network");
  const networkMode = network === "" ? "default" : network;
  const aliases = flags.strings("network-alias");
  const userDefined = !["default", "bridge", "host", "none"].includes(networkMode) && !networkMode.startsWith("container:");
  if (aliases.length > 0 && !userDefined) throw new CliError("network-scoped aliases are only supported for user-defined networks", 125);
  const ip = flags.string("ip");
  const ip6 = flags.string("ip6");
  const ipam = ip !== "" || ip6 !== "" ? { ...(ip !== "" ? { IPv4Address: ip } : {}), ...(ip6 !== "" ? { IPv6Address: ip6 } : {}) } : null;
  const mac = flags.string("mac-address");
  if (mac !== "" && !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(mac)) throw new CliError(`${mac} is not a valid mac address`, 125);

  const pull = flags.string("pull");
  if (pull !== "missing" && pull !== "always" && pull !== "never") throw new CliError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`, 125);

  const capAdd = flags.strings("cap-add").map(normalizeCap);
  const capDrop = flags.strings("cap-drop").map(normalizeCap);
  const security = flags.strings("security-opt").map(securityOpt);
  const extraHosts = flags.strings("add-host").map((h) => {
    const i = h.indexOf("=");
    const c = h.indexOf(":");
    const sep = i !== -1 && (c === -1 || i < c) ? i : c;
    if (sep <= 0) throw new FlagError(`invalid argument "${h}" for "--add-host" flag: bad format for add-host: "${h}"`);
    return `${h.slice(0, sep)}:${h.slice(sep + 1)}`;
  });
  const memory = bytesFlag(flags, "memory", "m");
  const memorySwap = bytesFlag(flags, "memory-swap");
  const shmSize = bytesFlag(flags, "shm-size");
  const memoryReservation = bytesFlag(flags, "memory-reservation");
  if (memory !== 0 && memory < 6 * 1024 * 1024) throw new CliError("Minimum memory limit allowed is 6MB", 125);

  const config = {
    Hostname: flags.string("hostname"),
    Domainname: "",
    User: flags.string("user"),
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ...(exposed.size > 0 ? { ExposedPorts: sortedRecord([...exposed].map((p): [string, object] => [p, {}])) } : {}),
    Tty: tty,
    OpenStdin: stdin,
    StdinOnce: stdin && attachStdin,
    Env: envList.length > 0 ? envList : null,
    Cmd: cmd.length > 0 ? cmd : null,
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    Image: image,
    Volumes: sortedRecord(volumes),
    WorkingDir: flags.string("workdir"),
    Entrypoint: entrypoint,
    ...(mac !== "" ? { MacAddress: mac } : {}),
    OnBuild: null,
    Labels: labels,
    ...(flags.string("stop-signal") !== "" ? { StopSignal: flags.string("stop-signal") } : {}),
    ...(flags.changed("stop-timeout") ? { StopTimeout: flags.int("stop-timeout") } : {}),
  };
  const hostConfig = {
    Binds: binds.length > 0 ? binds : null,
    ContainerIDFile: flags.string("cidfile"),
    LogConfig: { Type: flags.string("log-driver"), Config: logOpts },
    NetworkMode: networkMode,
    PortBindings: sortedRecord(bindings),
    RestartPolicy: restart,
    AutoRemove: autoRemove,
    VolumeDriver: "",
    VolumesFrom: flags.strings("volumes-from").length > 0 ? flags.strings("volumes-from") : null,
    ConsoleSize: [0, 0],
    CapAdd: capAdd.length > 0 ? capAdd : null,
    CapDrop: capDrop.length > 0 ? capDrop : null,
    CgroupnsMode: "",
    Dns: flags.strings("dns"),
    DnsOptions: [],
    DnsSearch: flags.strings("dns-search"),
    ExtraHosts: extraHosts.length > 0 ? extraHosts : null,
    GroupAdd: flags.strings("group-add").length > 0 ? flags.strings("group-add") : null,
    IpcMode: "",
    Cgroup: "",
    Links: null,
    OomScoreAdj: 0,
    PidMode: "",
    Privileged: flags.bool("privileged"),
    PublishAllPorts: flags.bool("publish-all"),
    ReadonlyRootfs: flags.bool("read-only"),
    SecurityOpt: security.length > 0 ? security : null,
    ...(Object.keys(tmpfs).length > 0 ? { Tmpfs: tmpfs } : {}),
    UTSMode: "",
    UsernsMode: "",
    ShmSize: shmSize,
    ...(flags.string("runtime") !== "" ? { Runtime: flags.string("runtime") } : {}),
    Isolation: "",
    CpuShares: flags.int("cpu-shares"),
    Memory: memory,
    NanoCpus: nanoCpus,
    CgroupParent: "",
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: "",
    CpusetMems: "",
    Devices: flags.strings("device").map(parseDevice),
    DeviceCgroupRules: null,
    DeviceRequests: null,
    MemoryReservation: memoryReservation,
    MemorySwap: memorySwap,
    MemorySwappiness: -1,
    OomKillDisable: false,
    PidsLimit: flags.int("pids-limit"),
    Ulimits: flags.strings("ulimit").map(parseUlimit),
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    ...(mounts.length > 0 ? { Mounts: mounts } : {}),
    MaskedPaths: null,
    ReadonlyPaths: null,
    ...(flags.bool("init") ? { Init: true } : {}),
  };
  const body = {
    ...config,
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: { [networkMode]: endpoint(aliases.length > 0 ? aliases : null, ipam) } },
  };
  return {
    body,
    name: flags.string("name"),
    platform: flags.string("platform"),
    image,
    tty,
    attachStdin,
    attachStdout,
    attachStderr,
    openStdin: stdin,
    autoRemove,
    cidfile: flags.string("cidfile"),
    pull,
  };
}

/** Go's json.Marshal escapes `<`, `>` and `&`; the daemon sees the same bytes from both CLIs. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) + "\n";
}

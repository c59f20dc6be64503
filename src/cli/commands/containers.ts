// Container commands that do not hold a terminal: ps, inspect, the
// lifecycle verbs (stop, kill, restart, pause, unpause, rm, wait, rename),
// logs, top, stats, port, update, prune, diff, commit, export, cp, and
// events — each with docker's flags, requests, output and exit codes.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { lstat, stat } from "node:fs/promises";
import { basename, dirname, resolve as resolvePath } from "node:path";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { DaemonError, filtersParam, type EngineClient, type Filters } from "../../api/client.js";
import { CliError, write, type CliContext, type Command } from "../context.js";
import { confirm } from "../prompt.js";
import { FlagError, type FlagSpec, type FlagValues } from "../flags.js";
import { executeTemplate, isTable, parseTemplate, QUIET_FORMAT, renderRows, TABLE } from "../format.js";
import { Demuxer } from "../streams.js";
import { StructValue, type TemplateValue } from "../template.js";
import { bytesSize, ellipsis, goTimeString, humanDuration, humanSize, humanSizeWithPrecision, tabwrite, truncateId } from "../units.js";
import { parseDuration, ramInBytes, parseRestart, goJson } from "../container-opts.js";
import { daemonText } from "./run.js";

const enc = encodeURIComponent;

export const FORMAT_HELP = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`;

export const INSPECT_FORMAT_HELP = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`;

const formatFlag = (short?: string, usage = FORMAT_HELP): FlagSpec => ({ name: "format", ...(short ? { short } : {}), kind: "string", valueName: "string", usage });
const filterFlag = (short?: string): FlagSpec => ({ name: "filter", ...(short ? { short } : {}), kind: "stringArray", valueName: "filter", usage: "Filter output based on conditions provided" });

/** `--filter key=value` flags as the API's filters. */
export function parseFilters(values: readonly string[], flagTitle: string): Filters {
  const filters: Filters = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === -1) throw new FlagError(`invalid argument "${v}" for "${flagTitle}" flag: bad format of filter (expected name=value)`);
    (filters[v.slice(0, eq).trim().toLowerCase()] ??= []).push(v.slice(eq + 1).trim());
  }
  return filters;
}

/** Runs `op` for each name, printing the name on success; errors are printed together and make the status 1, as docker's. */
async function forEach(ctx: CliContext, names: readonly string[], op: (name: string) => Promise<void>, print: (name: string) => string | undefined = (n) => n): Promise<void> {
  const errors: string[] = [];
  for (const name of names) {
    try {
      await op(name);
      const line = print(name);
      if (line !== undefined) await write(ctx.io.stdout, line + "\n");
    } catch (e) {
      if (!(e instanceof DaemonError)) throw e;
      errors.push(daemonText(e));
    }
  }
  if (errors.length > 0) throw new CliError(errors.join("\n"));
}

/** docker's GetTimestamp: a duration before now, an RFC 3339 time, or unix seconds, as `secs.nanos`. */
export function apiTimestamp(value: string, now = Date.now()): string {
  if (value === "") return "";
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  try {
    const ns = parseDuration(value);
    const ms = now - ns / 1e6;
    return `${Math.floor(ms / 1000)}.${String(Math.round((ms % 1000) * 1e6)).padStart(9, "0")}`;
  } catch {
    // not a duration
  }
  const t = Date.parse(/T|Z|[+-]\d\d:\d\d$/.test(value) || value.length <= 10 ? value : value.replace(" ", "T"));
  if (Number.isNaN(t)) throw new CliError(`parsing time "${value}": invalid time`);
  // Fractions below a millisecond survive from the text.
  const frac = /\.(\d+)/.exec(value)?.[1] ?? "";
  return `${Math.floor(t / 1000)}.${frac.padEnd(9, "0").slice(0, 9)}`;
}

// ---------------------------------------------------------------- lifecycle verbs

export const stopCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Stop one or more running containers",
    aliases: "wharf container stop, wharf stop",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "signal", short: "s", kind: "string", valueName: "string", usage: "Signal to send to the container" },
      { name: "timeout", short: "t", kind: "int", usage: "Seconds to wait before killing the container" },
      { name: "time", kind: "int", usage: "Seconds to wait before killing the container (deprecated: use --timeout)", hidden: true },
    ],
  },
  async run(ctx, flags, args) {
    const t = flags.changed("timeout") ? flags.int("timeout") : flags.changed("time") ? flags.int("time") : undefined;
    const signal = flags.string("signal");
    await forEach(ctx, args, (n) => ctx.client().requestEmpty("POST", `/containers/${enc(n)}/stop`, { query: { ...(signal ? { signal } : {}), ...(t !== undefined ? { t: String(t) } : {}) } }));
  },
};

export const restartCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Restart one or more containers",
    aliases: "wharf container restart, wharf restart",
    args: { kind: "min", n: 1 },
    flags: stopCommand.spec.flags,
  },
  async run(ctx, flags, args) {
    const t = flags.changed("timeout") ? flags.int("timeout") : flags.changed("time") ? flags.int("time") : undefined;
    const signal = flags.string("signal");
    await forEach(ctx, args, (n) => ctx.client().requestEmpty("POST", `/containers/${enc(n)}/restart`, { query: { ...(signal ? { signal } : {}), ...(t !== undefined ? { t: String(t) } : {}) } }));
  },
};

export const killCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Kill one or more running containers",
    aliases: "wharf container kill, wharf kill",
    args: { kind: "min", n: 1 },
    flags: [{ name: "signal", short: "s", kind: "string", valueName: "string", usage: "Signal to send to the container" }],
  },
  async run(ctx, flags, args) {
    const signal = flags.string("signal");
    await forEach(ctx, args, (n) => ctx.client().requestEmpty("POST", `/containers/${enc(n)}/kill`, { query: signal ? { signal } : {} }));
  },
};

const simpleVerb = (verb: "pause" | "unpause", short: string): Command => ({
  spec: { use: "CONTAINER [CONTAINER...]", short, aliases: `wharf container ${verb}, wharf ${verb}`, args: { kind: "min", n: 1 }, flags: [] },
  run: (ctx, _flags, args) => forEach(ctx, args, (n) => ctx.client().requestEmpty("POST", `/containers/${enc(n)}/${verb}`)),
});

export const pauseCommand = simpleVerb("pause", "Pause all processes within one or more containers");
export const unpauseCommand = simpleVerb("unpause", "Unpause all processes within one or more containers");

export const rmCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Remove one or more containers",
    aliases: "wharf container rm, wharf container remove, wharf rm",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "force", short: "f", kind: "bool", usage: "Force the removal of a running container (uses SIGKILL)" },
      { name: "link", short: "l", kind: "bool", usage: "Remove the specified link" },
      { name: "volumes", short: "v", kind: "bool", usage: "Remove anonymous volumes associated with the container" },
    ],
  },
  async run(ctx, flags, args) {
    const force = flags.bool("force");
    const errors: string[] = [];
    for (const name of args) {
      const n = name.replace(/^\//, "");
      try {
        await ctx.client().requestEmpty("DELETE", `/containers/${enc(n)}`, { query: { ...(force ? { force: "1" } : {}), ...(flags.bool("link") ? { link: "1" } : {}), ...(flags.bool("volumes") ? { v: "1" } : {}) } });
        await write(ctx.io.stdout, name + "\n");
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        // `rm -f` of a container that is already gone is not a failure.
        if (force && e.status === 404) continue;
        errors.push(daemonText(e));
      }
    }
    if (errors.length > 0) throw new CliError(errors.join("\n"));
  },
};

export const waitCommand: Command = {
  spec: { use: "CONTAINER [CONTAINER...]", short: "Block until one or more containers stop, then print their exit codes", aliases: "wharf container wait, wharf wait", args: { kind: "min", n: 1 }, flags: [] },
  async run(ctx, _flags, args) {
    const errors: string[] = [];
    for (const name of args) {
      try {
        const r = await ctx.client().requestJson<{ StatusCode: number; Error?: { Message?: string } | null }>("POST", `/containers/${enc(name)}/wait`, { query: {} });
        if (r.Error?.Message) errors.push(r.Error.Message);
        else await write(ctx.io.stdout, `${r.StatusCode}\n`);
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        errors.push(daemonText(e));
      }
    }
    if (errors.length > 0) throw new CliError(errors.join("\n"));
  },
};

export const renameCommand: Command = {
  spec: { use: "CONTAINER NEW_NAME", short: "Rename a container", aliases: "wharf container rename, wharf rename", args: { kind: "exact", n: 2 }, flags: [] },
  async run(ctx, _flags, args) {
    const [old, name] = args as [string, string];
    const n = name.trim();
    if (n === "") throw new CliError("Error: Neither old nor new names may be empty");
    try {
      await ctx.client().requestEmpty("POST", `/containers/${enc(old.trim())}/rename`, { query: { name: n } });
    } catch (e) {
      if (e instanceof DaemonError) throw new CliError(`${daemonText(e)}\nError: failed to rename container named ${old}`);
      throw e;
    }
  },
};

// ---------------------------------------------------------------- ps

interface PortSummary {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

interface ContainerSummary {
  Id: string;
  Names: string[] | null;
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: PortSummary[] | null;
  SizeRw?: number;
  SizeRootFs?: number;
  Labels: Record<string, string> | null;
  State: string;
  Status: string;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, unknown> | null };
  Mounts?: { Name?: string; Source?: string; Type?: string }[] | null;
}

/** docker's DisplayablePorts: `0.0.0.0:8080->80/tcp, 443/tcp`, consecutive ports merged into ranges. */
export function displayablePorts(input: readonly PortSummary[]): string {
  const ports = [...input].sort((i, j) => {
    if (i.PrivatePort !== j.PrivatePort) return i.PrivatePort - j.PrivatePort;
    if ((i.IP ?? "") !== (j.IP ?? "")) return (i.IP ?? "") < (j.IP ?? "") ? -1 : 1;
    if ((i.PublicPort ?? 0) !== (j.PublicPort ?? 0)) return (i.PublicPort ?? 0) - (j.PublicPort ?? 0);
    return i.Type < j.Type ? -1 : i.Type > j.Type ? 1 : 0;
  });
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, first: number, last: number) => {
    const slash = key.lastIndexOf("/");
    const ip = slash === -1 ? "" : key.slice(0, slash);
    const type = slash === -1 ? key : key.slice(slash + 1);
    let group = first === last ? `${first}` : `${first}-${last}`;
    if (ip !== "") group = `${ip}:${group}->${group}`;
    return `${group}/${type}`;
  };
  for (const p of ports) {
    const current = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if ((p.PublicPort ?? 0) !== current) {
        const host = p.IP.includes(":") ? `[${p.IP}]` : p.IP;
        hostMappings.push(`${host}:${p.PublicPort ?? 0}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: current, last: current });
      continue;
    }
    if (current === g.last + 1) {
      g.last = current;
      continue;
    }
    result.push(formGroup(key, g.first, g.last));
    g.first = current;
    g.last = current;
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  return [...result, ...hostMappings].join(", ");
}

const PS_HEADER = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Status: "STATUS",
  Ports: "PORTS",
  Names: "NAMES",
  Size: "SIZE",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  State: "STATE",
  LocalVolumes: "LOCAL VOLUMES",
};

const DEFAULT_PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

function isImageId(image: string): boolean {
  return /^(sha256:)?[0-9a-f]{64}$/.test(image);
}

export function containerRow(c: ContainerSummary, trunc: boolean, now = Date.now()): StructValue {
  let image = c.Image === "" ? "<no image>" : c.Image;
  if (trunc) {
    if (isImageId(image)) image = truncateId(image);
    else if (image.includes("@")) image = image.slice(0, image.indexOf("@"));
  }
  const names = (c.Names ?? []).map((n) => n.replace(/^\//, "")).filter((n) => trunc ? !n.includes("/") : true);
  const command = trunc ? ellipsis(c.Command, 20) : c.Command;
  const labels = Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const rw = humanSizeWithPrecision(c.SizeRw ?? 0, 3);
  const size = (c.SizeRootFs ?? 0) > 0 ? `${rw} (virtual ${humanSizeWithPrecision(c.SizeRootFs ?? 0, 3)})` : rw;
  const mounts = (c.Mounts ?? []).map((m) => (m.Name ? (trunc ? ellipsis(m.Name, 15) : m.Name) : trunc ? ellipsis(m.Source ?? "", 15) : (m.Source ?? "")));
  return new StructValue("*formatter.ContainerContext", {
    ID: trunc ? truncateId(c.Id) : c.Id,
    Names: trunc ? (names[0] ?? "") : names.join(","),
    Image: image,
    Command: `"${command}"`,
    CreatedAt: goTimeString(c.Created),
    RunningFor: `${humanDuration(now - c.Created * 1000)} ago`,
    Ports: displayablePorts(c.Ports ?? []),
    State: c.State,
    Status: c.Status,
    Size: size,
    Labels: labels.join(","),
    Mounts: mounts.join(","),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Type === "volume").length),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(","),
    Platform: null,
  });
}

export const psCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "List containers",
    aliases: "wharf container ls, wharf container list, wharf container ps, wharf ps",
    args: { kind: "none" },
    flags: [
      { name: "all", short: "a", kind: "bool", usage: "Show all containers (default shows just running)" },
      filterFlag("f"),
      formatFlag(),
      { name: "last", short: "n", kind: "int", defaultValue: -1, usage: "Show n last created containers (includes all states)" },
      { name: "latest", short: "l", kind: "bool", usage: "Show the latest created container (includes all states)" },
      { name: "no-trunc", kind: "bool", usage: "Don't truncate output" },
      { name: "quiet", short: "q", kind: "bool", usage: "Only display container IDs" },
      { name: "size", short: "s", kind: "bool", usage: "Display total file sizes" },
    ],
  },
  async run(ctx, flags) {
    const filters = parseFilters(flags.strings("filter"), "-f, --filter");
    let limit = flags.int("last");
    if (flags.bool("latest")) limit = 1;
    const quiet = flags.bool("quiet");
    let format = flags.string("format") || TABLE;
    const wantSize = flags.bool("size") || (format !== TABLE && format.includes(".Size"));
    if (format === TABLE) format = quiet ? QUIET_FORMAT : flags.bool("size") ? DEFAULT_PS_TABLE + "\t{{.Size}}" : DEFAULT_PS_TABLE;
    else if (quiet) format = QUIET_FORMAT;
    const list = await ctx.client().requestJson<ContainerSummary[]>("GET", "/containers/json", {
      query: { ...(flags.bool("all") ? { all: "1" } : {}), ...(filtersParam(filters) ? { filters: filtersParam(filters)! } : {}), ...(limit > 0 ? { limit: String(limit) } : {}), ...(wantSize && !quiet ? { size: "1" } : {}) },
    });
    const trunc = !flags.bool("no-trunc");
    const now = Date.now();
    await write(ctx.io.stdout, renderRows(format, list.map((c) => containerRow(c, trunc, now)), PS_HEADER));
  },
};

// ---------------------------------------------------------------- inspect

type InspectType = "container" | "image" | "volume" | "network";

async function getRaw(client: EngineClient, type: InspectType, name: string, size: boolean): Promise<Record<string, unknown>> {
  switch (type) {
    case "container":
      return client.requestJson("GET", `/containers/${enc(name)}/json`, { query: size ? { size: "1" } : {} });
    case "image":
      return client.requestJson("GET", `/images/${encodeURIComponent(name).replace(/%2F/gi, "/").replace(/%3A/gi, ":").replace(/%40/g, "@")}/json`);
    case "volume":
      return client.requestJson("GET", `/volumes/${enc(name)}`);
    case "network":
      return client.requestJson("GET", `/networks/${enc(name)}`);
  }
}

/** docker's inspect output: a JSON array indented by four spaces, or each object through the template. */
export async function printInspect(ctx: CliContext, objects: readonly Record<string, unknown>[], format: string, errors: readonly string[]): Promise<void> {
  if (format === "") {
    await write(ctx.io.stdout, objects.length === 0 ? "[]\n" : JSON.stringify(objects, null, 4) + "\n");
  } else {
    const tmpl = parseTemplate(format === "json" ? "{{json .}}" : format);
    let out = "";
    for (const obj of objects) out += executeTemplate(tmpl, obj as TemplateValue, { missingKey: "error" }) + "\n";
    await write(ctx.io.stdout, out);
  }
  if (errors.length > 0) throw new CliError(errors.join("\n"));
}

async function inspectObjects(ctx: CliContext, names: readonly string[], types: readonly InspectType[], size: boolean, format: string): Promise<void> {
  const found: Record<string, unknown>[] = [];
  const errors: string[] = [];
  for (const name of names) {
    let hit: Record<string, unknown> | undefined;
    let lastError: DaemonError | undefined;
    for (const type of types) {
      try {
        hit = await getRaw(ctx.client(), type, name, size);
        break;
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        if (e.status !== 404) {
          lastError = e;
          break;
        }
        lastError = e;
      }
    }
    if (hit) found.push(hit);
    else if (types.length > 1) errors.push(`Error: No such object: ${name}`);
    else errors.push(lastError ? daemonText(lastError) : `Error: No such object: ${name}`);
  }
  await printInspect(ctx, found, format, errors);
}

export const inspectCommand: Command = {
  spec: {
    use: "[OPTIONS] NAME|ID [NAME|ID...]",
    short: "Return low-level information on wharf objects",
    args: { kind: "min", n: 1 },
    flags: [formatFlag("f", INSPECT_FORMAT_HELP), { name: "size", short: "s", kind: "bool", usage: "Display total file sizes if the type is container" }, { name: "type", kind: "string", valueName: "string", usage: "Only inspect objects of the given type" }],
  },
  async run(ctx, flags, args) {
    const type = flags.string("type");
    if (type !== "" && !["container", "image", "volume", "network"].includes(type)) throw new CliError(`"${type}" is not a valid value for --type`);
    const types: InspectType[] = type === "" ? ["container", "image", "network", "volume"] : [type as InspectType];
    await inspectObjects(ctx, args, types, flags.bool("size"), flags.string("format"));
  },
};

export const containerInspectCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Display detailed information on one or more containers",
    args: { kind: "min", n: 1 },
    flags: [formatFlag("f", INSPECT_FORMAT_HELP), { name: "size", short: "s", kind: "bool", usage: "Display total file sizes" }],
  },
  run: (ctx, flags, args) => inspectObjects(ctx, args, ["container"], flags.bool("size"), flags.string("format")),
};

// ---------------------------------------------------------------- logs

export const logsCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER",
    short: "Fetch the logs of a container",
    aliases: "wharf container logs, wharf logs",
    args: { kind: "exact", n: 1 },
    flags: [
      { name: "details", kind: "bool", usage: "Show extra details provided to logs" },
      { name: "follow", short: "f", kind: "bool", usage: "Follow log output" },
      { name: "since", kind: "string", valueName: "string", usage: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
      { name: "tail", short: "n", kind: "string", valueName: "string", defaultValue: "all", usage: "Number of lines to show from the end of the logs" },
      { name: "timestamps", short: "t", kind: "bool", usage: "Show timestamps" },
      { name: "until", kind: "string", valueName: "string", usage: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    ],
  },
  async run(ctx, flags, args) {
    const client = ctx.client();
    const c = await client.requestJson<{ Id: string; Config: { Tty: boolean } }>("GET", `/containers/${enc(args[0]!)}/json`);
    const since = apiTimestamp(flags.string("since"));
    const until = apiTimestamp(flags.string("until"));
    const res = await client.request("GET", `/containers/${enc(c.Id)}/logs`, {
      query: {
        ...(flags.bool("details") ? { details: "1" } : {}),
        ...(flags.bool("follow") ? { follow: "1" } : {}),
        ...(since ? { since } : {}),
        stderr: "1",
        stdout: "1",
        tail: flags.string("tail"),
        ...(flags.bool("timestamps") ? { timestamps: "1" } : {}),
        ...(until ? { until } : {}),
      },
    });
    await copyOutput(ctx, res, c.Config.Tty);
  },
};

/** A stream's bytes to stdout, or demultiplexed to stdout and stderr. */
async function copyOutput(ctx: CliContext, res: Readable, tty: boolean): Promise<void> {
  const demux = tty ? undefined : new Demuxer(ctx.io.stdout, ctx.io.stderr);
  for await (const chunk of res) {
    const ok = demux ? demux.push(chunk as Buffer) : ctx.io.stdout.write(chunk as Buffer);
    if (!ok) await Promise.all([ctx.io.stdout, ctx.io.stderr].filter((s) => s.writableNeedDrain).map((s) => new Promise((r) => s.once("drain", r))));
  }
}

// ---------------------------------------------------------------- top, port, diff

export const topCommand: Command = {
  spec: { use: "CONTAINER [ps OPTIONS]", short: "Display the running processes of a container", aliases: "wharf container top, wharf top", args: { kind: "min", n: 1 }, interspersed: false, flags: [] },
  async run(ctx, _flags, args) {
    const [name, ...ps] = args as [string, ...string[]];
    const r = await ctx.client().requestJson<{ Titles: string[]; Processes: string[][] | null }>("GET", `/containers/${enc(name)}/top`, { query: ps.length ? { ps_args: ps.join(" ") } : {} });
    let text = r.Titles.join("\t") + "\n";
    for (const p of r.Processes ?? []) text += p.join("\t") + "\n";
    await write(ctx.io.stdout, tabwrite(text, { minWidth: 20, padding: 3 }));
  },
};

export const portCommand: Command = {
  spec: { use: "CONTAINER [PRIVATE_PORT[/PROTO]]", short: "List port mappings or a specific mapping for the container", aliases: "wharf container port, wharf port", args: { kind: "range", min: 1, max: 2 }, flags: [] },
  async run(ctx, _flags, args) {
    const c = await ctx.client().requestJson<{ NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null } }>("GET", `/containers/${enc(args[0]!)}/json`);
    const ports = c.NetworkSettings.Ports ?? {};
    const hostAddr = (b: { HostIp: string; HostPort: string }) => `${b.HostIp.includes(":") ? `[${b.HostIp}]` : b.HostIp || "0.0.0.0"}:${b.HostPort}`;
    if (args[1] !== undefined) {
      let [port, proto = "tcp"] = args[1].split("/") as [string, string?];
      proto = proto.toLowerCase();
      if (!/^\d+$/.test(port)) throw new CliError(`Error: invalid port (${port}): must be a number`);
      const key = `${port}/${proto}`;
      const bindings = ports[key];
      if (!bindings || bindings.length === 0) throw new CliError(`Error: No public port '${args[1]}' published for ${args[0]}`);
      await write(ctx.io.stdout, bindings.map((b) => hostAddr(b) + "\n").join(""));
      return;
    }
    const lines: string[] = [];
    const keys = Object.keys(ports).sort((a, b) => {
      const [pa, ta = ""] = a.split("/");
      const [pb, tb = ""] = b.split("/");
      return Number(pa) - Number(pb) || ta.localeCompare(tb);
    });
    for (const k of keys) for (const b of ports[k] ?? []) lines.push(`${k} -> ${hostAddr(b)}\n`);
    await write(ctx.io.stdout, lines.join(""));
  },
};

export const diffCommand: Command = {
  spec: { use: "CONTAINER", short: "Inspect changes to files or directories on a container's filesystem", aliases: "wharf container diff, wharf diff", args: { kind: "exact", n: 1 }, flags: [] },
  async run(ctx, _flags, args) {
    const changes = await ctx.client().requestJson<{ Path: string; Kind: number }[] | null>("GET", `/containers/${enc(args[0]!)}/changes`);
    const kinds = ["C", "A", "D"];
    await write(ctx.io.stdout, (changes ?? []).map((c) => `${kinds[c.Kind] ?? "?"} ${c.Path}\n`).join(""));
  },
};

// ---------------------------------------------------------------- stats

interface StatsJson {
  read: string;
  name?: string;
  id?: string;
  pids_stats?: { current?: number };
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] | null }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
}

const STATS_HEADER = { Container: "CONTAINER", ID: "CONTAINER ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS" };
const DEFAULT_STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/** One row of `stats`, computed as docker's CLI does from the daemon's sample. */
export function statsRow(container: string, s: StatsJson | undefined, trunc: boolean): StructValue {
  if (!s) {
    return new StructValue("formatter.statsContext", { Container: container, ID: trunc ? truncateId(container) : container, Name: "--", CPUPerc: "--", MemUsage: "-- / --", MemPerc: "--", NetIO: "--", BlockIO: "--", PIDs: "--" });
  }
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const online = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const cpu = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * online * 100 : 0;
  const stats = s.memory_stats?.stats ?? {};
  const cache = stats["total_inactive_file"] ?? stats["inactive_file"] ?? 0;
  const usage = s.memory_stats?.usage ?? 0;
  const mem = usage > cache ? usage - cache : usage;
  const limit = s.memory_stats?.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let written = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === "read") read += e.value;
    else if (e.op.toLowerCase() === "write") written += e.value;
  }
  const id = s.id ?? container;
  return new StructValue("formatter.statsContext", {
    Container: container,
    ID: trunc ? truncateId(id) : id,
    Name: (s.name ?? "").replace(/^\//, "") || "--",
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit > 0 ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSizeWithPrecision(rx, 3)} / ${humanSizeWithPrecision(tx, 3)}`,
    BlockIO: `${humanSizeWithPrecision(read, 3)} / ${humanSizeWithPrecision(written, 3)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  });
}

export const statsCommand: Command = {
  spec: {
    use: "[OPTIONS] [CONTAINER...]",
    short: "Display a live stream of container(s) resource usage statistics",
    aliases: "wharf container stats, wharf stats",
    args: { kind: "min", n: 0 },
    flags: [
      { name: "all", short: "a", kind: "bool", usage: "Show all containers (default shows just running)" },
      formatFlag(),
      { name: "no-stream", kind: "bool", usage: "Disable streaming stats and only pull the first result" },
      { name: "no-trunc", kind: "bool", usage: "Do not truncate output" },
    ],
  },
  async run(ctx, flags, args) {
    const client = ctx.client();
    let names = args;
    if (names.length === 0) {
      const list = await client.requestJson<ContainerSummary[]>("GET", "/containers/json", { query: flags.bool("all") ? { all: "1" } : {} });
      names = list.map((c) => c.Id);
    }
    const trunc = !flags.bool("no-trunc");
    let format = flags.string("format") || TABLE;
    if (format === TABLE) format = DEFAULT_STATS_TABLE;
    const render = (samples: Map<string, StatsJson | undefined>) => renderRows(format, names.map((n) => statsRow(n, samples.get(n), trunc)), STATS_HEADER);
    if (flags.bool("no-stream")) {
      const samples = new Map<string, StatsJson | undefined>();
      const errors: string[] = [];
      await Promise.all(
        names.map(async (n) => {
          try {
            samples.set(n, await client.requestJson<StatsJson>("GET", `/containers/${enc(n)}/stats`, { query: { stream: "0" } }));
          } catch (e) {
            if (!(e instanceof DaemonError)) throw e;
            errors.push(daemonText(e));
          }
        }),
      );
      if (errors.length > 0) throw new CliError(errors.join("\n"));
      await write(ctx.io.stdout, render(samples));
      return;
    }
    // Streaming: each container's samples as they come; the table redrawn every second.
    const samples = new Map<string, StatsJson | undefined>();
    const streams = names.map(async (n) => {
      const res = await client.request("GET", `/containers/${enc(n)}/stats`, { query: { stream: "1" } });
      const rl = createInterface({ input: res, crlfDelay: Infinity });
      for await (const line of rl) if (line.trim() !== "") samples.set(n, JSON.parse(line) as StatsJson);
    });
    let stopped = false;
    const all = Promise.all(streams).finally(() => (stopped = true));
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 1000));
      await write(ctx.io.stdout, (ctx.io.stdoutIsTTY ? "\x1b[2J\x1b[H" : "") + render(samples));
    }
    await all;
  },
};

// ---------------------------------------------------------------- update

export const updateCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [CONTAINER...]",
    short: "Update configuration of one or more containers",
    aliases: "wharf container update, wharf update",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "blkio-weight", kind: "int", usage: "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)" },
      { name: "cpu-period", kind: "int", usage: "Limit CPU CFS (Completely Fair Scheduler) period" },
      { name: "cpu-quota", kind: "int", usage: "Limit CPU CFS (Completely Fair Scheduler) quota" },
      { name: "cpu-shares", short: "c", kind: "int", usage: "CPU shares (relative weight)" },
      { name: "cpus", kind: "string", valueName: "decimal", usage: "Number of CPUs" },
      { name: "cpuset-cpus", kind: "string", valueName: "string", usage: "CPUs in which to allow execution (0-3, 0,1)" },
      { name: "cpuset-mems", kind: "string", valueName: "string", usage: "MEMs in which to allow execution (0-3, 0,1)" },
      { name: "memory", short: "m", kind: "string", valueName: "bytes", usage: "Memory limit" },
      { name: "memory-reservation", kind: "string", valueName: "bytes", usage: "Memory soft limit" },
      { name: "memory-swap", kind: "string", valueName: "bytes", usage: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
      { name: "pids-limit", kind: "int", usage: "Tune container pids limit (set -1 for unlimited)" },
      { name: "restart", kind: "string", valueName: "string", usage: "Restart policy to apply when a container exits" },
    ],
  },
  async run(ctx, flags, args) {
    const bytes = (name: string) => {
      const v = flags.string(name);
      if (v === "") return 0;
      if (v === "-1" && name === "memory-swap") return -1;
      try {
        return ramInBytes(v);
      } catch {
        throw new FlagError(`invalid argument "${v}" for "--${name}" flag: invalid size: '${v}'`);
      }
    };
    const cpus = flags.string("cpus");
    if (cpus !== "" && !/^[0-9]*\.?[0-9]+$/.test(cpus)) throw new FlagError(`invalid argument "${cpus}" for "--cpus" flag: failed to parse ${cpus} as a rational number`);
    const changed = ["blkio-weight", "cpu-period", "cpu-quota", "cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems", "memory", "memory-reservation", "memory-swap", "pids-limit", "restart"].some((f) => flags.changed(f));
    if (!changed) throw new CliError("you must provide one or more flags when using this command");
    const body = {
      CpuShares: flags.int("cpu-shares"),
      Memory: bytes("memory"),
      NanoCpus: cpus === "" ? 0 : Math.round(Number(cpus) * 1e9),
      CgroupParent: "",
      BlkioWeight: flags.int("blkio-weight"),
      BlkioWeightDevice: null,
      BlkioDeviceReadBps: null,
      BlkioDeviceWriteBps: null,
      BlkioDeviceReadIOps: null,
      BlkioDeviceWriteIOps: null,
      CpuPeriod: flags.int("cpu-period"),
      CpuQuota: flags.int("cpu-quota"),
      CpuRealtimePeriod: 0,
      CpuRealtimeRuntime: 0,
      CpusetCpus: flags.string("cpuset-cpus"),
      CpusetMems: flags.string("cpuset-mems"),
      Devices: null,
      DeviceCgroupRules: null,
      DeviceRequests: null,
      MemoryReservation: bytes("memory-reservation"),
      MemorySwap: bytes("memory-swap"),
      MemorySwappiness: null,
      OomKillDisable: null,
      PidsLimit: flags.changed("pids-limit") ? flags.int("pids-limit") : null,
      Ulimits: null,
      CpuCount: 0,
      CpuPercent: 0,
      IOMaximumIOps: 0,
      IOMaximumBandwidth: 0,
      RestartPolicy: flags.changed("restart") ? parseRestart(flags.string("restart")) : { Name: "", MaximumRetryCount: 0 },
    };
    const text = goJson(body);
    const warnings: string[] = [];
    await forEach(ctx, args, async (n) => {
      const r = await ctx.client().requestJson<{ Warnings: string[] | null }>("POST", `/containers/${enc(n)}/update`, { body: text });
      warnings.push(...(r.Warnings ?? []));
    });
    for (const w of warnings) await write(ctx.io.stderr, w + "\n");
  },
};

// ---------------------------------------------------------------- prune

export const containerPruneCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Remove all stopped containers",
    args: { kind: "none" },
    flags: [
      { name: "filter", kind: "stringArray", valueName: "filter", usage: 'Provide filter values (e.g. "until=<timestamp>")' },
      { name: "force", short: "f", kind: "bool", usage: "Do not prompt for confirmation" },
    ],
  },
  async run(ctx, flags) {
    const filters = parseFilters(flags.strings("filter"), "--filter");
    if (!flags.bool("force") && !(await confirm(ctx, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) return;
    const f = filtersParam(filters);
    const r = await ctx.client().requestJson<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/containers/prune", { query: f ? { filters: f } : {} });
    let out = "";
    const deleted = r.ContainersDeleted ?? [];
    if (deleted.length > 0) out += "Deleted Containers:\n" + deleted.map((d) => d + "\n").join("") + "\n";
    out += `Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`;
    await write(ctx.io.stdout, out);
  },
};

// ---------------------------------------------------------------- commit, export

export const commitCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    short: "Create a new image from a container's changes",
    aliases: "wharf container commit, wharf commit",
    args: { kind: "range", min: 1, max: 2 },
    flags: [
      { name: "author", short: "a", kind: "string", valueName: "string", usage: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
      { name: "change", short: "c", kind: "stringArray", valueName: "list", usage: "Apply Dockerfile instruction to the created image" },
      { name: "message", short: "m", kind: "string", valueName: "string", usage: "Commit message" },
      { name: "pause", short: "p", kind: "bool", defaultValue: true, usage: "Pause container during commit" },
    ],
  },
  async run(ctx, flags, args) {
    const [container, target] = args as [string, string?];
    let repo: string | undefined;
    let tag: string | undefined;
    if (target) {
      const { parseReference, referenceName } = await import("../../oci/index.js");
      const { referenceErrorText } = await import("./images.js");
      let ref;
      try {
        ref = parseReference(target);
      } catch (e) {
        throw new CliError(referenceErrorText(target, e));
      }
      if (ref.digest !== undefined) throw new CliError("refusing to create a tag with a digest reference");
      repo = referenceName(ref);
      tag = ref.tag ?? "";
    }
    const changes = flags.strings("change");
    const r = await ctx.client().requestJson<{ Id: string }>("POST", "/commit", {
      query: {
        author: flags.string("author"),
        ...(changes.length ? { changes } : {}),
        comment: flags.string("message"),
        container,
        ...(flags.bool("pause") ? {} : { pause: "0" }),
        repo: repo ?? "",
        tag: tag ?? "",
      },
    });
    await write(ctx.io.stdout, r.Id + "\n");
  },
};

export const exportCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER",
    short: "Export a container's filesystem as a tar archive",
    aliases: "wharf container export, wharf export",
    args: { kind: "exact", n: 1 },
    flags: [{ name: "output", short: "o", kind: "string", valueName: "string", usage: "Write to a file, instead of STDOUT" }],
  },
  async run(ctx, flags, args) {
    const output = flags.string("output");
    if (output === "" && ctx.io.stdoutIsTTY) throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    const body = await ctx.client().request("GET", `/containers/${enc(args[0]!)}/export`);
    if (output === "") await pipeline(body, ctx.io.stdout, { end: false });
    else await pipeline(body, createWriteStream(output));
  },
};

// ---------------------------------------------------------------- cp

interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;

function statHeader(value: string | string[] | undefined): PathStat | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  try {
    return JSON.parse(Buffer.from(v, "base64").toString("utf8")) as PathStat;
  } catch {
    return undefined;
  }
}

/** `CONTAINER:PATH` → its parts; a host path (also `./x:y`) → undefined. */
export function splitCpArg(arg: string): { container: string; path: string } | undefined {
  if (arg.startsWith("/") || arg.startsWith(".")) return undefined;
  const i = arg.indexOf(":");
  if (i <= 0) return undefined;
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

function runTar(args: string[], input?: Readable): { stdout: Readable; done: Promise<void> } {
  const child = spawn("tar", args, { stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  if (input) void pipeline(input, child.stdin!).catch(() => {});
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new CliError(`tar: ${err.trim() || `exited with ${code}`}`))));
  });
  return { stdout: child.stdout!, done };
}

/** A `--transform` that renames the archive's top entry from `from` to `to` (GNU tar's sed syntax). */
function renameTop(from: string, to: string): string[] {
  if (from === to) return [];
  const esc = (s: string) => s.replace(/[\\/.*[\]^$&,]/g, (c) => `\\${c}`);
  return [`--transform=s,^${esc(from)}\\(/\\|$\\),${to.replace(/[\\&,]/g, (c) => `\\${c}`)}\\1,`];
}

export const cpCommand: Command = {
  spec: {
    use: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\twharf cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    short: "Copy files/folders between a container and the local filesystem",
    aliases: "wharf container cp, wharf cp",
    args: { kind: "exact", n: 2 },
    flags: [
      { name: "archive", short: "a", kind: "bool", usage: "Archive mode (copy all uid/gid information)" },
      { name: "follow-link", short: "L", kind: "bool", usage: "Always follow symbol link in SRC_PATH" },
      { name: "quiet", short: "q", kind: "bool", usage: "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached" },
    ],
  },
  async run(ctx, flags, args) {
    const [srcArg, dstArg] = args as [string, string];
    const src = splitCpArg(srcArg);
    const dst = splitCpArg(dstArg);
    if (src && dst) throw new CliError("copying between containers is not supported");
    if (!src && !dst) throw new CliError("must specify at least one container source");
    if (src) await copyFromContainer(ctx, src.container, src.path, dstArg, flags);
    else await copyToContainer(ctx, srcArg, dst!.container, dst!.path, flags);
  },
};

async function copyFromContainer(ctx: CliContext, container: string, path: string, dest: string, flags: FlagValues): Promise<void> {
  const client = ctx.client();
  if (path === "") throw new CliError("source path must not be empty");
  let srcPath = path.startsWith("/") ? path : `/${path}`;
  if (flags.bool("follow-link")) {
    const head = await client.request("HEAD", `/containers/${enc(container)}/archive`, { query: { path: srcPath } });
    head.resume();
    const st = statHeader(head.headers["x-docker-container-path-stat"]);
    if (st && (st.mode & MODE_SYMLINK) !== 0 && st.linkTarget) srcPath = st.linkTarget.startsWith("/") ? st.linkTarget : `${dirname(srcPath)}/${st.linkTarget}`;
  }
  const res = await client.request("GET", `/containers/${enc(container)}/archive`, { query: { path: srcPath } });
  if (dest === "-") {
    await pipeline(res, ctx.io.stdout, { end: false });
    return;
  }
  const st = statHeader(res.headers["x-docker-container-path-stat"]);
  const srcIsDir = st ? (st.mode & MODE_DIR) !== 0 : false;
  const srcBase = st?.name ?? basename(srcPath);
  const target = resolvePath(dest);
  const owner = flags.bool("archive") ? ["--same-owner"] : ["--no-same-owner"];
  let into: string;
  let rename: string[] = [];
  const existing = await stat(target).catch(() => undefined);
  if (existing?.isDirectory()) {
    // Into an existing directory, under the source's name (a source ending in `/.` copies its content).
    into = target;
    if (srcIsDir && /\/\.$/.test(path)) rename = renameTop(srcBase, ".");
  } else if (existing) {
    if (srcIsDir) throw new CliError(`cannot copy a directory to a file: ${dest}`);
    into = dirname(target);
    rename = renameTop(srcBase, basename(target));
  } else {
    if (dest.endsWith("/") && !srcIsDir) throw new CliError(`destination directory ${dest} does not exist`);
    const parent = await stat(dirname(target)).catch(() => undefined);
    if (!parent?.isDirectory()) throw new CliError(`destination directory ${dirname(target)} does not exist`);
    into = dirname(target);
    rename = renameTop(srcBase, basename(target));
  }
  const tar = runTar(["-x", "-C", into, ...owner, ...rename, "-f", "-"], res);
  tar.stdout.resume();
  await tar.done;
}

async function copyToContainer(ctx: CliContext, source: string, container: string, path: string, flags: FlagValues): Promise<void> {
  const client = ctx.client();
  if (path === "") throw new CliError("destination path must not be empty");
  const dstPath = path.startsWith("/") ? path : `/${path}`;
  // Where the destination is: an existing directory takes the source by its name; a missing path renames it.
  let dstStat: PathStat | undefined;
  try {
    const head = await client.request("HEAD", `/containers/${enc(container)}/archive`, { query: { path: dstPath } });
    head.resume();
    dstStat = statHeader(head.headers["x-docker-container-path-stat"]);
  } catch (e) {
    if (!(e instanceof DaemonError && e.status === 404)) throw e;
  }
  if (source === "-") {
    if (dstStat && (dstStat.mode & MODE_DIR) === 0) throw new CliError(`destination "${container}:${path}" must be a directory`);
    const res = await client.request("PUT", `/containers/${enc(container)}/archive`, { query: { noOverwriteDirNonDir: "true", path: dstPath }, body: ctx.io.stdin, headers: { "Content-Type": "application/x-tar" } });
    res.resume();
    return;
  }
  const abs = resolvePath(source);
  let local;
  try {
    local = flags.bool("follow-link") ? await stat(abs) : await lstat(abs);
  } catch {
    throw new CliError(`lstat ${abs}: no such file or directory`);
  }
  const srcBase = basename(abs);
  let dir: string;
  let rename: string[] = [];
  if (dstStat && (dstStat.mode & MODE_DIR) !== 0) {
    dir = dstPath;
    if (local.isDirectory() && /\/\.$/.test(source)) rename = renameTop(srcBase, ".");
  } else if (dstStat) {
    if (local.isDirectory()) throw new CliError(`cannot copy a directory to a file: ${container}:${path}`);
    dir = dirname(dstPath);
    rename = renameTop(srcBase, basename(dstPath));
  } else {
    if (dstPath.endsWith("/")) throw new CliError(`destination directory ${container}:${path} does not exist`);
    dir = dirname(dstPath);
    rename = renameTop(srcBase, basename(dstPath));
  }
  const owner = flags.bool("archive") ? [] : ["--owner=0", "--group=0", "--numeric-owner"];
  const tar = runTar(["-c", "-C", dirname(abs), ...owner, ...(flags.bool("follow-link") ? ["-h"] : []), ...rename, "-f", "-", srcBase]);
  const res = await client.request("PUT", `/containers/${enc(container)}/archive`, { query: { ...(flags.bool("archive") ? { copyUIDGID: "true" } : {}), noOverwriteDirNonDir: "true", path: dir }, body: tar.stdout, headers: { "Content-Type": "application/x-tar" } });
  res.resume();
  await tar.done;
}

// ---------------------------------------------------------------- events

interface EventJson {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  scope?: string;
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** `2006-01-02T15:04:05.000000000Z07:00` of a time in nanoseconds, in local time. */
export function eventTime(timeNano: bigint): string {
  const ms = Number(timeNano / 1_000_000n);
  const d = new Date(ms);
  const nanos = String(timeNano % 1_000_000_000n).padStart(9, "0");
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? "Z" : `${off > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${nanos}${zone}`;
}

/** One event as docker prints it without a format. */
export function eventLine(e: EventJson, timeNano: bigint = BigInt(e.time) * 1_000_000_000n): string {
  const attrs = Object.entries(e.Actor.Attributes ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  const time = eventTime(timeNano);
  return `${time} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(", ")})` : ""}\n`;
}

/** An event as Go marshals docker's events.Message: its members in struct order, empty ones left out. */
export function eventJson(e: EventJson, timeNano: bigint): string {
  const head = JSON.stringify({
    ...(e.status ? { status: e.status } : {}),
    ...(e.id ? { id: e.id } : {}),
    ...(e.from ? { from: e.from } : {}),
    Type: e.Type,
    Action: e.Action,
    Actor: { ID: e.Actor.ID, Attributes: e.Actor.Attributes ?? null },
    scope: e.scope ?? "",
    ...(e.time ? { time: e.time } : {}),
  }).replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return timeNano ? `${head.slice(0, -1)},"timeNano":${timeNano}}` : head;
}

export const eventsCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Get real time events from the server",
    aliases: "wharf system events, wharf events",
    args: { kind: "none" },
    flags: [filterFlag("f"), formatFlag(undefined, INSPECT_FORMAT_HELP), { name: "since", kind: "string", valueName: "string", usage: "Show all events created since timestamp" }, { name: "until", kind: "string", valueName: "string", usage: "Stream events until this timestamp" }],
  },
  async run(ctx, flags) {
    const filters = parseFilters(flags.strings("filter"), "-f, --filter");
    const since = apiTimestamp(flags.string("since"));
    const until = apiTimestamp(flags.string("until"));
    const f = filtersParam(filters);
    const res = await ctx.client().request("GET", "/events", { query: { ...(f ? { filters: f } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}) } });
    const format = flags.string("format");
    const tmpl = format ? parseTemplate(format === "json" ? "{{json .}}" : format.replaceAll("\\t", "\t").replaceAll("\\n", "\n")) : undefined;
    const rl = createInterface({ input: res, crlfDelay: Infinity });
    for await (const line of rl) {
      if (line.trim() === "") continue;
      const e = JSON.parse(line) as EventJson;
      // timeNano does not fit a double: read it from the text.
      const nano = /"timeNano":\s*(\d+)/.exec(line)?.[1];
      const timeNano = nano ? BigInt(nano) : BigInt(e.time) * 1_000_000_000n;
      if (format === "json" || format === "{{json .}}") await write(ctx.io.stdout, eventJson(e, timeNano) + "\n");
      else await write(ctx.io.stdout, tmpl ? executeTemplate(tmpl, e as unknown as TemplateValue) + "\n" : eventLine(e, timeNano));
    }
  },
};

export { isTable };

// Volume commands: create, ls, inspect, rm, prune — against the Engine API
// v1.41 volume endpoints, with docker's flags and output.
import { DaemonError, filtersParam } from "../../api/client.js";
import { CliError, write, type CliContext, type Command } from "../context.js";
import { confirm } from "../prompt.js";
import { QUIET_FORMAT, renderRows, TABLE } from "../format.js";
import { StructValue } from "../template.js";
import { humanSize, humanSizeWithPrecision } from "../units.js";
import { goJson } from "../container-opts.js";
import { FORMAT_HELP, INSPECT_FORMAT_HELP, parseFilters, printInspect } from "./containers.js";
import { daemonText } from "./run.js";

const enc = encodeURIComponent;

interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt?: string;
  Labels: Record<string, string> | null;
  Scope: string;
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
}

function keyValues(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    out[i === -1 ? v : v.slice(0, i)] = i === -1 ? "" : v.slice(i + 1);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export const volumeCreateCommand: Command = {
  spec: {
    use: "[OPTIONS] [VOLUME]",
    short: "Create a volume",
    args: { kind: "max", n: 1 },
    flags: [
      { name: "driver", short: "d", kind: "string", valueName: "string", defaultValue: "local", usage: "Specify volume driver name" },
      { name: "label", kind: "stringArray", valueName: "list", usage: "Set metadata for a volume" },
      { name: "name", kind: "string", valueName: "string", usage: "Specify volume name", hidden: true },
      { name: "opt", short: "o", kind: "stringArray", valueName: "map", usage: "Set driver specific options (default map[])" },
    ],
  },
  async run(ctx, flags, args) {
    const name = args[0] ?? flags.string("name");
    if (args[0] !== undefined && flags.string("name") !== "" && flags.string("name") !== args[0]) throw new CliError(`conflicting options: cannot specify a volume-name through both --name and as a positional arg`);
    const opts = keyValues(flags.strings("opt"));
    const labels = keyValues(flags.strings("label"));
    const body = { Driver: flags.string("driver"), ...(Object.keys(opts).length ? { DriverOpts: opts } : {}), ...(Object.keys(labels).length ? { Labels: labels } : {}), ...(name ? { Name: name } : {}) };
    const v = await ctx.client().requestJson<Volume>("POST", "/volumes/create", { body: goJson(body) });
    await write(ctx.io.stdout, v.Name + "\n");
  },
};

const VOLUME_HEADER = { Name: "VOLUME NAME", Driver: "DRIVER", Scope: "SCOPE", Mountpoint: "MOUNTPOINT", Labels: "LABELS", Links: "LINKS", Size: "SIZE", Availability: "AVAILABILITY", Group: "GROUP" };

export function volumeRow(v: Volume): StructValue {
  return new StructValue("*formatter.volumeContext", {
    Name: v.Name,
    Driver: v.Driver,
    Scope: v.Scope,
    Mountpoint: v.Mountpoint,
    Labels: Object.entries(v.Labels ?? {})
      .map(([k, val]) => `${k}=${val}`)
      .join(","),
    Links: v.UsageData ? String(v.UsageData.RefCount) : "N/A",
    Size: v.UsageData && v.UsageData.Size >= 0 ? humanSizeWithPrecision(v.UsageData.Size, 3) : "N/A",
    Availability: "N/A",
    Group: "N/A",
  });
}

export const volumeLsCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "List volumes",
    aliases: "wharf volume ls, wharf volume list",
    args: { kind: "none" },
    flags: [
      { name: "filter", short: "f", kind: "stringArray", valueName: "filter", usage: "Provide filter values (e.g. \"dangling=true\")" },
      { name: "format", kind: "string", valueName: "string", usage: FORMAT_HELP },
      { name: "quiet", short: "q", kind: "bool", usage: "Only display volume names" },
    ],
  },
  async run(ctx, flags) {
    const f = filtersParam(parseFilters(flags.strings("filter"), "-f, --filter"));
    const r = await ctx.client().requestJson<{ Volumes: Volume[] | null; Warnings: string[] | null }>("GET", "/volumes", { query: f ? { filters: f } : {} });
    let format = flags.string("format") || TABLE;
    if (flags.bool("quiet")) format = "{{.Name}}";
    else if (format === TABLE) format = "table {{.Driver}}\t{{.Name}}";
    const vols = [...(r.Volumes ?? [])].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    await write(ctx.io.stdout, renderRows(format, vols.map(volumeRow), VOLUME_HEADER));
    void QUIET_FORMAT;
  },
};

export const volumeInspectCommand: Command = {
  spec: { use: "[OPTIONS] VOLUME [VOLUME...]", short: "Display detailed information on one or more volumes", args: { kind: "min", n: 1 }, flags: [{ name: "format", short: "f", kind: "string", valueName: "string", usage: INSPECT_FORMAT_HELP }] },
  async run(ctx, flags, args) {
    const found: Record<string, unknown>[] = [];
    const errors: string[] = [];
    for (const n of args) {
      try {
        found.push(await ctx.client().requestJson<Record<string, unknown>>("GET", `/volumes/${enc(n)}`));
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        errors.push(daemonText(e));
      }
    }
    await printInspect(ctx, found, flags.string("format"), errors);
  },
};

export const volumeRmCommand: Command = {
  spec: { use: "[OPTIONS] VOLUME [VOLUME...]", short: "Remove one or more volumes", aliases: "wharf volume rm, wharf volume remove", args: { kind: "min", n: 1 }, flags: [{ name: "force", short: "f", kind: "bool", usage: "Force the removal of one or more volumes" }] },
  async run(ctx, flags, args) {
    const errors: string[] = [];
    for (const n of args) {
      try {
        await ctx.client().requestEmpty("DELETE", `/volumes/${enc(n)}`, { query: flags.bool("force") ? { force: "1" } : {} });
        await write(ctx.io.stdout, n + "\n");
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        errors.push(daemonText(e));
      }
    }
    if (errors.length > 0) throw new CliError(errors.join("\n"));
  },
};

export const volumePruneCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Remove unused local volumes",
    args: { kind: "none" },
    flags: [
      { name: "all", short: "a", kind: "bool", usage: "Remove all unused volumes, not just anonymous ones" },
      { name: "filter", kind: "stringArray", valueName: "filter", usage: 'Provide filter values (e.g. "label=<label>")' },
      { name: "force", short: "f", kind: "bool", usage: "Do not prompt for confirmation" },
    ],
  },
  async run(ctx, flags) {
    const filters = parseFilters(flags.strings("filter"), "--filter");
    if (flags.bool("all")) filters["all"] = ["true"];
    const warning = flags.bool("all") ? "WARNING! This will remove all local volumes not used by at least one container." : "WARNING! This will remove anonymous local volumes not used by at least one container.";
    if (!flags.bool("force") && !(await confirm(ctx, `${warning}\nAre you sure you want to continue?`))) return;
    const f = filtersParam(filters);
    const r = await ctx.client().requestJson<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/volumes/prune", { query: f ? { filters: f } : {} });
    let out = "";
    const deleted = r.VolumesDeleted ?? [];
    if (deleted.length > 0) out += "Deleted Volumes:\n" + deleted.map((d) => d + "\n").join("") + "\n";
    out += `Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`;
    await write(ctx.io.stdout, out);
  },
};

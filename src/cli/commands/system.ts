// System commands: version, info and system df, printed as docker prints them.
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DiskUsageResponse, ImageSummary, SystemInfo, SystemVersion } from "../../api/wire.js";
import { API_VERSION } from "../../api/wire.js";
import { familiarName, parseReference } from "../../oci/index.js";
import { CliError, write, type Command } from "../context.js";
import { executeTemplate, isTable, parseTemplate, renderRows, TABLE, templateText } from "../format.js";
import { BASIC_FUNCTIONS, StructValue, Template, TemplateError, type TemplateObject, type TemplateValue } from "../template.js";
import { ansic, bytesSize, humanSize, tabwrite } from "../units.js";
import { daemonMessage, FORMAT_HELP, imageRow, INSPECT_FORMAT_HELP } from "./images.js";

/** The CLI's own version, from the project's package.json: the first one above this module (compiled or bundled). */
export function clientVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "wharf") return typeof pkg.version === "string" ? pkg.version : "unknown";
    } catch {
      // not here
    }
  }
  return "unknown";
}

function buildTime(): string {
  try {
    return statSync(fileURLToPath(import.meta.url)).mtime.toISOString();
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------- version

const DEFAULT_VERSION_TEMPLATE = `{{with .Client -}}
Client:{{if ne .Platform nil}}{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- $detailsOrder := getDetailsOrder $component}}
  {{- range $key := $detailsOrder}}
  {{$key}}:\t{{index $component.Details $key}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}`.replaceAll("\\t", "\t");

function arch(): string {
  return process.arch === "x64" ? "amd64" : process.arch === "ia32" ? "386" : process.arch;
}

/** The server's version as docker's types.Version: Go field names, an Engine component always present. */
function serverVersionValue(sv: SystemVersion): TemplateObject {
  const components = (sv.Components ?? []).map((c) => {
    const details: Record<string, string> = { ...(c.Details ?? {}) };
    if (c.Name === "Engine" && details["BuildTime"] !== undefined) details["BuildTime"] = ansic(details["BuildTime"]);
    return { Name: c.Name, Version: c.Version, Details: details };
  });
  if (!components.some((c) => c.Name === "Engine")) {
    components.push({
      Name: "Engine",
      Version: sv.Version,
      Details: { ApiVersion: sv.ApiVersion, MinAPIVersion: sv.MinAPIVersion, GitCommit: sv.GitCommit, GoVersion: sv.GoVersion, Os: sv.Os, Arch: sv.Arch, BuildTime: ansic(sv.BuildTime ?? ""), Experimental: String(sv.Experimental ?? false) },
    });
  }
  return {
    Platform: { Name: sv.Platform?.Name ?? "" },
    Components: components,
    Version: sv.Version,
    APIVersion: sv.ApiVersion,
    MinAPIVersion: sv.MinAPIVersion,
    GitCommit: sv.GitCommit,
    GoVersion: sv.GoVersion,
    Os: sv.Os,
    Arch: sv.Arch,
    KernelVersion: sv.KernelVersion,
    Experimental: sv.Experimental ?? false,
    BuildTime: sv.BuildTime,
  };
}

const VERSION_FUNCTIONS = {
  ...BASIC_FUNCTIONS,
  getDetailsOrder: (c: TemplateValue): TemplateValue => {
    const details = c !== null && typeof c === "object" && !Array.isArray(c) && !(c instanceof StructValue) ? c["Details"] : undefined;
    return details !== null && typeof details === "object" && !Array.isArray(details) && !(details instanceof StructValue) ? Object.keys(details).sort() : [];
  },
};

export const versionCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Show the wharf version information",
    args: { kind: "none" },
    flags: [{ name: "format", short: "f", kind: "string", valueName: "string", usage: INSPECT_FORMAT_HELP }],
  },
  async run(ctx, flags) {
    const format = flags.string("format");
    let tmpl: Template;
    try {
      tmpl = Template.parse(format === "" ? DEFAULT_VERSION_TEMPLATE : format === "json" ? "{{json .}}" : format, VERSION_FUNCTIONS);
    } catch (e) {
      if (e instanceof TemplateError) throw new CliError(`template parsing error: ${e.message}`, 64);
      throw e;
    }
    const client: TemplateObject = {
      Platform: { Name: "wharf" },
      Version: clientVersion(),
      APIVersion: API_VERSION,
      DefaultAPIVersion: API_VERSION,
      GitCommit: "unknown",
      GoVersion: `node${process.versions.node}`,
      Os: process.platform,
      Arch: arch(),
      BuildTime: ansic(buildTime()),
      Context: "default",
    };
    let server: TemplateObject | null = null;
    let failure: unknown;
    try {
      server = serverVersionValue(await ctx.client().version());
    } catch (e) {
      failure = e;
    }
    const rendered = executeTemplate(tmpl, { Client: client, Server: server });
    await write(ctx.io.stdout, tabwrite(rendered + "\n", { minWidth: 20, padding: 1 }));
    if (failure !== undefined) throw failure;
  },
};

// ---------------------------------------------------------------- info

function line(...parts: (string | number | boolean)[]): string {
  return parts.map(String).join(" ") + "\n";
}

function nonEmpty(label: string, value: string | undefined): string {
  return value ? line(label, value) : "";
}

/** docker's `info` text for what the daemon reports. */
export function prettyInfo(info: Partial<SystemInfo>, client: { version: string; debug: boolean }): { out: string; err: string } {
  let out = "Client: wharf\n";
  out += line(" Version:   ", client.version);
  out += line(" Context:   ", "default");
  out += line(" Debug Mode:", client.debug);
  out += "\nServer:\n";
  out += line(" Containers:", info.Containers ?? 0);
  out += line("  Running:", info.ContainersRunning ?? 0);
  out += line("  Paused:", info.ContainersPaused ?? 0);
  out += line("  Stopped:", info.ContainersStopped ?? 0);
  out += line(" Images:", info.Images ?? 0);
  out += nonEmpty(" Server Version:", info.ServerVersion);
  out += nonEmpty(" Storage Driver:", info.Driver);
  for (const [k, v] of info.DriverStatus ?? []) out += `  ${k}: ${v}\n`;
  out += nonEmpty(" Logging Driver:", info.LoggingDriver);
  out += nonEmpty(" Cgroup Driver:", info.CgroupDriver);
  out += nonEmpty(" Cgroup Version:", info.CgroupVersion);
  const plugins = info.Plugins ?? { Volume: [], Network: [], Authorization: null, Log: [] };
  out += " Plugins:\n";
  out += line("  Volume:", (plugins.Volume ?? []).join(" "));
  out += line("  Network:", (plugins.Network ?? []).join(" "));
  if ((plugins.Authorization ?? []).length > 0) out += line("  Authorization:", (plugins.Authorization ?? []).join(" "));
  out += line("  Log:", (plugins.Log ?? []).join(" "));
  out += line(" Swarm:", info.Swarm?.LocalNodeState ?? "inactive");
  const runtimes = Object.keys(info.Runtimes ?? {});
  if (runtimes.length > 0) {
    out += line(" Runtimes:", runtimes.join(" "));
    out += line(" Default Runtime:", info.DefaultRuntime ?? "");
  }
  if (info.OSType === "linux") {
    const commit = (k: string) => {
      const v = (info as Record<string, unknown>)[k];
      return v !== null && typeof v === "object" && "ID" in v && typeof v.ID === "string" ? v.ID : "";
    };
    out += line(" Init Binary:", info.InitBinary ?? "");
    out += line(" containerd version:", commit("ContainerdCommit"));
    out += line(" runc version:", commit("RuncCommit"));
    out += line(" init version:", commit("InitCommit"));
    if ((info.SecurityOptions ?? []).length > 0) {
      out += " Security Options:\n";
      for (const opt of info.SecurityOptions ?? []) {
        // "name=seccomp,profile=builtin" → the name, then its profile.
        const kv = Object.fromEntries(opt.split(",").map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
        out += `  ${kv["name"] ?? opt}\n`;
        if (kv["profile"] !== undefined) out += line("   Profile:", kv["profile"]);
      }
    }
  }
  out += nonEmpty(" Kernel Version:", info.KernelVersion);
  out += nonEmpty(" Operating System:", info.OperatingSystem);
  out += nonEmpty(" OSType:", info.OSType);
  out += nonEmpty(" Architecture:", info.Architecture);
  out += line(" CPUs:", info.NCPU ?? 0);
  out += line(" Total Memory:", bytesSize(info.MemTotal ?? 0));
  out += nonEmpty(" Name:", info.Name);
  out += nonEmpty(" ID:", info.ID);
  out += line(" Docker Root Dir:", info.DockerRootDir ?? "");
  out += line(" Debug Mode:", info.Debug ?? false);
  if (info.Debug || client.debug) {
    out += line("  File Descriptors:", info.NFd ?? 0);
    out += line("  Goroutines:", info.NGoroutines ?? 0);
    out += line("  System Time:", info.SystemTime ?? "");
    out += line("  EventsListeners:", info.NEventsListener ?? 0);
  }
  out += nonEmpty(" HTTP Proxy:", info.HttpProxy);
  out += nonEmpty(" HTTPS Proxy:", info.HttpsProxy);
  out += nonEmpty(" No Proxy:", info.NoProxy);
  if ((info.Labels ?? []).length > 0) {
    out += " Labels:\n";
    for (const l of info.Labels ?? []) out += `  ${l}\n`;
  }
  out += line(" Experimental:", info.ExperimentalBuild ?? false);
  const registry = info.RegistryConfig;
  if (registry && (registry.InsecureRegistryCIDRs?.length ?? 0) + Object.keys(registry.IndexConfigs ?? {}).length > 0) {
    out += " Insecure Registries:\n";
    for (const cfg of Object.values(registry.IndexConfigs ?? {})) {
      const c = cfg as { Name?: string; Secure?: boolean };
      if (!c.Secure) out += `  ${c.Name ?? ""}\n`;
    }
    for (const cidr of registry.InsecureRegistryCIDRs ?? []) out += `  ${cidr}\n`;
  }
  if (registry && (registry.Mirrors ?? []).length > 0) {
    out += " Registry Mirrors:\n";
    for (const m of registry.Mirrors) out += `  ${m}\n`;
  }
  out += line(" Live Restore Enabled:", info.LiveRestoreEnabled ?? false);
  out += "\n";
  const err = (info.Warnings ?? []).map((w) => w + "\n").join("");
  return { out, err };
}

export const infoCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Display system-wide information",
    aliases: "wharf system info, wharf info",
    args: { kind: "none" },
    flags: [{ name: "format", short: "f", kind: "string", valueName: "string", usage: INSPECT_FORMAT_HELP }],
  },
  async run(ctx, flags) {
    const format = flags.string("format");
    const tmpl = format === "" ? undefined : parseTemplate(format === "json" ? "{{json .}}" : format);
    const info = await ctx.client().info();
    const debug = process.env["WHARF_DEBUG"] === "1";
    if (tmpl) {
      const data: TemplateObject = { ...(info as unknown as TemplateObject), ClientInfo: { Debug: debug, Version: clientVersion(), Context: "default", Plugins: [], Warnings: null } };
      await write(ctx.io.stdout, executeTemplate(tmpl, data) + "\n");
      return;
    }
    const { out, err } = prettyInfo(info, { version: clientVersion(), debug });
    await write(ctx.io.stdout, out);
    if (err) await write(ctx.io.stderr, err);
  },
};

// ---------------------------------------------------------------- system df

const DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_IMAGE_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const DF_HEADER = { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" };
const DF_IMAGE_HEADER = { ID: "IMAGE ID", Repository: "REPOSITORY", Tag: "TAG", CreatedSince: "CREATED", Size: "SIZE", SharedSize: "SHARED SIZE", UniqueSize: "UNIQUE SIZE", Containers: "CONTAINERS" };

function summaryRow(type: string, total: number, active: number, size: number, reclaimable: number, withPercent: boolean): StructValue {
  const percent = withPercent && size > 0 ? ` (${Math.trunc((reclaimable * 100) / size)}%)` : "";
  return new StructValue("*formatter.diskUsageContext", {
    Active: String(active),
    Reclaimable: `${humanSize(reclaimable)}${percent}`,
    Size: humanSize(size),
    TotalCount: String(total),
    Type: type,
  });
}

/** The four summary rows of `system df`, computed as docker's formatter does. */
export function diskUsageRows(du: DiskUsageResponse): StructValue[] {
  const images = du.Images ?? [];
  const layers = du.LayersSize ?? 0;
  let used = 0;
  for (const i of images) if (i.Containers !== 0 && i.Size !== -1 && i.SharedSize !== -1) used += i.Size - i.SharedSize;
  const containers = (du.Containers ?? []) as { SizeRw?: number; State?: string }[];
  const containerSize = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const running = containers.filter((c) => c.State === "running");
  const containerReclaimable = containers.filter((c) => c.State !== "running").reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const volumes = (du.Volumes ?? []) as { UsageData?: { Size?: number; RefCount?: number } }[];
  const volumeSize = volumes.reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const volumeReclaimable = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const cache = (du.BuildCache ?? []) as { Size?: number; InUse?: boolean; Shared?: boolean }[];
  const cacheSize = cache.filter((c) => !c.Shared).reduce((n, c) => n + (c.Size ?? 0), 0);
  const cacheReclaimable = cache.filter((c) => !c.InUse && !c.Shared).reduce((n, c) => n + (c.Size ?? 0), 0);
  return [
    summaryRow("Images", images.length, images.filter((i) => i.Containers > 0).length, layers, layers - used, true),
    summaryRow("Containers", containers.length, running.length, containerSize, containerReclaimable, true),
    summaryRow("Local Volumes", volumes.length, volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length, volumeSize, volumeReclaimable, true),
    summaryRow("Build Cache", cache.length, cache.filter((c) => c.InUse).length, cacheSize, cacheReclaimable, true),
  ];
}

function firstTag(img: ImageSummary): { repo: string; tag: string } {
  const t = img.RepoTags?.[0];
  if (t === undefined || t === "<none>:<none>") return { repo: "<none>", tag: "<none>" };
  try {
    const ref = parseReference(t);
    if (ref.tag !== undefined) return { repo: familiarName(ref), tag: ref.tag };
  } catch {
    // An unparsable tag is shown as untagged, as docker does.
  }
  return { repo: "<none>", tag: "<none>" };
}

export const dfCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Show wharf disk usage",
    args: { kind: "none" },
    flags: [
      { name: "verbose", short: "v", kind: "bool", usage: "Show detailed information on space usage" },
      { name: "format", kind: "string", valueName: "string", usage: FORMAT_HELP },
    ],
  },
  async run(ctx, flags) {
    const format = flags.string("format") || TABLE;
    const du = await ctx.client().systemDf();
    if (!flags.bool("verbose")) {
      await write(ctx.io.stdout, renderRows(format === TABLE ? DF_TABLE : format, diskUsageRows(du), DF_HEADER));
      return;
    }
    const now = Date.now();
    const trunc = isTable(format);
    const imageRows = (du.Images ?? []).map((img) => {
      const { repo, tag } = firstTag(img);
      return imageRow(img, repo, tag, "", trunc, now);
    });
    if (format !== TABLE) {
      const tmpl = parseTemplate(templateText(format));
      await write(ctx.io.stdout, executeTemplate(tmpl, { Images: imageRows, Containers: [], Volumes: [], BuildCache: [] }));
      return;
    }
    let out = "Images space usage:\n\n";
    out += renderRows(DF_IMAGE_TABLE, imageRows, DF_IMAGE_HEADER);
    out += "\nContainers space usage:\n\n";
    out += renderRows("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}", [], {
      ID: "CONTAINER ID",
      Image: "IMAGE",
      Command: "COMMAND",
      LocalVolumes: "LOCAL VOLUMES",
      Size: "SIZE",
      RunningFor: "CREATED",
      Status: "STATUS",
      Names: "NAMES",
    });
    out += "\nLocal Volumes space usage:\n\n";
    out += renderRows("table {{.Name}}\t{{.Links}}\t{{.Size}}", [], { Name: "VOLUME NAME", Links: "LINKS", Size: "SIZE" });
    const cacheSize = ((du.BuildCache ?? []) as { Size?: number }[]).reduce((n, c) => n + (c.Size ?? 0), 0);
    out += `\nBuild cache usage: ${humanSize(cacheSize)}\n\n`;
    out += renderRows("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}", [], {
      ID: "CACHE ID",
      CacheType: "CACHE TYPE",
      Size: "SIZE",
      CreatedSince: "CREATED",
      LastUsedSince: "LAST USED",
      UsageCount: "USAGE",
      Shared: "SHARED",
    });
    await write(ctx.io.stdout, out);
  },
};

export { daemonMessage };

// Network commands: create, ls, inspect, rm, prune, connect, disconnect —
// against the Engine API v1.41 network endpoints, with docker's flags,
// request bodies and output.
import { DaemonError, filtersParam } from "../../api/client.js";
import { CliError, write, type CliContext, type Command } from "../context.js";
import { confirm } from "../prompt.js";
import { renderRows, TABLE } from "../format.js";
import { StructValue } from "../template.js";
import { goTimeString, truncateId } from "../units.js";
import { goJson } from "../container-opts.js";
import { FORMAT_HELP, INSPECT_FORMAT_HELP, parseFilters, printInspect } from "./containers.js";
import { daemonText } from "./run.js";

const enc = encodeURIComponent;

function keyValues(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    out[i === -1 ? v : v.slice(0, i)] = i === -1 ? "" : v.slice(i + 1);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export const networkCreateCommand: Command = {
  spec: {
    use: "[OPTIONS] NETWORK",
    short: "Create a network",
    args: { kind: "exact", n: 1 },
    flags: [
      { name: "attachable", kind: "bool", usage: "Enable manual container attachment" },
      { name: "aux-address", kind: "stringArray", valueName: "map", usage: "Auxiliary IPv4 or IPv6 addresses used by Network driver (default map[])" },
      { name: "driver", short: "d", kind: "string", valueName: "string", defaultValue: "bridge", usage: "Driver to manage the Network" },
      { name: "gateway", kind: "stringArray", valueName: "strings", usage: "IPv4 or IPv6 Gateway for the master subnet" },
      { name: "internal", kind: "bool", usage: "Restrict external access to the network" },
      { name: "ip-range", kind: "stringArray", valueName: "strings", usage: "Allocate container ip from a sub-range" },
      { name: "ipam-driver", kind: "string", valueName: "string", defaultValue: "default", usage: "IP Address Management Driver" },
      { name: "ipam-opt", kind: "stringArray", valueName: "map", usage: "Set IPAM driver specific options (default map[])" },
      { name: "ipv6", kind: "bool", usage: "Enable or disable IPv6 networking" },
      { name: "label", kind: "stringArray", valueName: "list", usage: "Set metadata on a network" },
      { name: "opt", short: "o", kind: "stringArray", valueName: "map", usage: "Set driver specific options (default map[])" },
      { name: "scope", kind: "string", valueName: "string", usage: "Control the network's scope" },
      { name: "subnet", kind: "stringArray", valueName: "strings", usage: "Subnet in CIDR format that represents a network segment" },
    ],
  },
  async run(ctx, flags, args) {
    const subnets = flags.strings("subnet");
    const gateways = flags.strings("gateway");
    const ranges = flags.strings("ip-range");
    if (gateways.length > subnets.length) throw new CliError("every ip-range or gateway must have a corresponding subnet");
    if (ranges.length > subnets.length) throw new CliError("every ip-range or gateway must have a corresponding subnet");
    const aux = keyValues(flags.strings("aux-address"));
    const config = subnets.map((s, i) => ({ Subnet: s, ...(ranges[i] ? { IPRange: ranges[i] } : {}), ...(gateways[i] ? { Gateway: gateways[i] } : {}), ...(i === 0 && Object.keys(aux).length ? { AuxiliaryAddresses: aux } : {}) }));
    const body = {
      Driver: flags.string("driver"),
      Scope: flags.string("scope"),
      ...(flags.changed("ipv6") ? { EnableIPv6: flags.bool("ipv6") } : {}),
      IPAM: { Driver: flags.string("ipam-driver"), Options: keyValues(flags.strings("ipam-opt")), Config: config },
      Internal: flags.bool("internal"),
      Attachable: flags.bool("attachable"),
      Ingress: false,
      ConfigOnly: false,
      ConfigFrom: null,
      Options: keyValues(flags.strings("opt")),
      Labels: keyValues(flags.strings("label")),
      Name: args[0]!,
      CheckDuplicate: true,
    };
    const r = await ctx.client().requestJson<{ Id: string; Warning?: string }>("POST", "/networks/create", { body: goJson(body) });
    if (r.Warning) await write(ctx.io.stderr, `${r.Warning}\n`);
    await write(ctx.io.stdout, r.Id + "\n");
  },
};

interface NetworkResource {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  Labels: Record<string, string> | null;
}

const NETWORK_HEADER = { ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv6: "IPV6", Internal: "INTERNAL", Labels: "LABELS", CreatedAt: "CREATED AT" };

export function networkRow(n: NetworkResource, trunc: boolean): StructValue {
  const created = Date.parse(n.Created);
  return new StructValue("*formatter.networkContext", {
    ID: trunc ? truncateId(n.Id) : n.Id,
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: Object.entries(n.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    CreatedAt: Number.isNaN(created) ? n.Created : goTimeString(Math.floor(created / 1000)),
  });
}

export const networkLsCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "List networks",
    aliases: "wharf network ls, wharf network list",
    args: { kind: "none" },
    flags: [
      { name: "filter", short: "f", kind: "stringArray", valueName: "filter", usage: 'Provide filter values (e.g. "driver=bridge")' },
      { name: "format", kind: "string", valueName: "string", usage: FORMAT_HELP },
      { name: "no-trunc", kind: "bool", usage: "Do not truncate the output" },
      { name: "quiet", short: "q", kind: "bool", usage: "Only display network IDs" },
    ],
  },
  async run(ctx, flags) {
    const f = filtersParam(parseFilters(flags.strings("filter"), "-f, --filter"));
    const list = await ctx.client().requestJson<NetworkResource[]>("GET", "/networks", { query: f ? { filters: f } : {} });
    let format = flags.string("format") || TABLE;
    if (flags.bool("quiet")) format = "{{.ID}}";
    else if (format === TABLE) format = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
    const sorted = [...list].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    await write(ctx.io.stdout, renderRows(format, sorted.map((n) => networkRow(n, !flags.bool("no-trunc"))), NETWORK_HEADER));
  },
};

export const networkInspectCommand: Command = {
  spec: {
    use: "[OPTIONS] NETWORK [NETWORK...]",
    short: "Display detailed information on one or more networks",
    args: { kind: "min", n: 1 },
    flags: [
      { name: "format", short: "f", kind: "string", valueName: "string", usage: INSPECT_FORMAT_HELP },
      { name: "verbose", short: "v", kind: "bool", usage: "Verbose output for diagnostics" },
    ],
  },
  async run(ctx, flags, args) {
    const found: Record<string, unknown>[] = [];
    const errors: string[] = [];
    for (const n of args) {
      try {
        found.push(await ctx.client().requestJson<Record<string, unknown>>("GET", `/networks/${enc(n)}`, { query: flags.bool("verbose") ? { verbose: "true" } : {} }));
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        errors.push(daemonText(e));
      }
    }
    await printInspect(ctx, found, flags.string("format"), errors);
  },
};

export const networkRmCommand: Command = {
  spec: { use: "NETWORK [NETWORK...]", short: "Remove one or more networks", aliases: "wharf network rm, wharf network remove", args: { kind: "min", n: 1 }, flags: [{ name: "force", short: "f", kind: "bool", usage: "Do not error if the network does not exist" }] },
  async run(ctx, flags, args) {
    const errors: string[] = [];
    for (const n of args) {
      try {
        // docker looks the network up first (it refuses to remove swarm's ingress without asking).
        await ctx.client().requestJson("GET", `/networks/${enc(n)}`).catch(() => undefined);
        await ctx.client().requestEmpty("DELETE", `/networks/${enc(n)}`);
        await write(ctx.io.stdout, n + "\n");
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        if (flags.bool("force") && e.status === 404) continue;
        errors.push(daemonText(e));
      }
    }
    // docker ends a failed network rm with this line.
    if (errors.length > 0) throw new CliError(errors.join("\n") + "\nexit status 1");
  },
};

export const networkPruneCommand: Command = {
  spec: {
    use: "[OPTIONS]",
    short: "Remove all unused networks",
    args: { kind: "none" },
    flags: [
      { name: "filter", kind: "stringArray", valueName: "filter", usage: 'Provide filter values (e.g. "until=<timestamp>")' },
      { name: "force", short: "f", kind: "bool", usage: "Do not prompt for confirmation" },
    ],
  },
  async run(ctx, flags) {
    const f = filtersParam(parseFilters(flags.strings("filter"), "--filter"));
    if (!flags.bool("force") && !(await confirm(ctx, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"))) return;
    const r = await ctx.client().requestJson<{ NetworksDeleted: string[] | null }>("POST", "/networks/prune", { query: f ? { filters: f } : {} });
    const deleted = r.NetworksDeleted ?? [];
    if (deleted.length > 0) await write(ctx.io.stdout, "Deleted Networks:\n" + deleted.map((d) => d + "\n").join("") + "\n");
  },
};

export const networkConnectCommand: Command = {
  spec: {
    use: "[OPTIONS] NETWORK CONTAINER",
    short: "Connect a container to a network",
    args: { kind: "exact", n: 2 },
    flags: [
      { name: "alias", kind: "stringArray", valueName: "strings", usage: "Add network-scoped alias for the container" },
      { name: "driver-opt", kind: "stringArray", valueName: "strings", usage: "driver options for the network" },
      { name: "ip", kind: "string", valueName: "string", usage: "IPv4 address (e.g., 172.30.100.104)" },
      { name: "ip6", kind: "string", valueName: "string", usage: "IPv6 address (e.g., 2001:db8::33)" },
      { name: "link", kind: "stringArray", valueName: "list", usage: "Add link to another container" },
      { name: "link-local-ip", kind: "stringArray", valueName: "strings", usage: "Add a link-local address for the container" },
    ],
  },
  async run(ctx, flags, args) {
    const [network, container] = args as [string, string];
    const ip = flags.string("ip");
    const ip6 = flags.string("ip6");
    const linkLocal = flags.strings("link-local-ip");
    const ipam = ip || ip6 || linkLocal.length ? { ...(ip ? { IPv4Address: ip } : {}), ...(ip6 ? { IPv6Address: ip6 } : {}), ...(linkLocal.length ? { LinkLocalIPs: linkLocal } : {}) } : null;
    const aliases = flags.strings("alias");
    const links = flags.strings("link");
    const body = {
      Container: container,
      EndpointConfig: {
        IPAMConfig: ipam,
        Links: links.length ? links : null,
        Aliases: aliases.length ? aliases : null,
        MacAddress: "",
        DriverOpts: keyValues(flags.strings("driver-opt")),
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
      },
    };
    const res = await ctx.client().request("POST", `/networks/${enc(network)}/connect`, { body: goJson(body) });
    res.resume();
  },
};

export const networkDisconnectCommand: Command = {
  spec: { use: "[OPTIONS] NETWORK CONTAINER", short: "Disconnect a container from a network", args: { kind: "exact", n: 2 }, flags: [{ name: "force", short: "f", kind: "bool", usage: "Force the container to disconnect from a network" }] },
  async run(ctx, flags, args) {
    const [network, container] = args as [string, string];
    const res = await ctx.client().request("POST", `/networks/${enc(network)}/disconnect`, { body: goJson({ Container: container, Force: flags.bool("force") }) });
    res.resume();
  },
};

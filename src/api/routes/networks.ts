// Network routes of the Engine API v1.41 (list, inspect, create, remove,
// connect, disconnect, prune) and the network parts of container inspect
// and list: NetworkSettings (Ports, Networks, the default bridge's address
// at the top level as dockerd shows it) and the PORTS of `docker ps`.
import type { ContainerEngine, ContainerRecord } from "../../container/index.js";
import { wharfError } from "../../internal/index.js";
import type { CreateNetworkRequest, NetworkManager, NetworkRecord, Sandbox } from "../../network/index.js";
import { readJsonBody } from "../body.js";
import type { Filters } from "../query.js";
import { sendEmpty, sendJson } from "../respond.js";
import type { Router } from "../router.js";

export interface NetworkDeps {
  readonly networks: NetworkManager;
  readonly containers: ContainerEngine;
}

function publicRecord(n: NetworkRecord) {
  const { Bridge: _bridge, Predefined: _predefined, ...rest } = n;
  return rest;
}

function inspectNetwork(deps: NetworkDeps, n: NetworkRecord) {
  const containers: Record<string, unknown> = {};
  for (const [cid, ep] of deps.networks.endpointsOn(n.Id)) {
    let name = cid;
    try {
      name = deps.containers.get(cid).Name.slice(1);
    } catch {
      // removed meanwhile
    }
    containers[cid] = { Name: name, EndpointID: ep.EndpointID, MacAddress: ep.MacAddress, IPv4Address: `${ep.IPAddress}/${ep.IPPrefixLen}`, IPv6Address: "" };
  }
  return { ...publicRecord(n), Containers: containers };
}

const LIST_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"];

async function matches(deps: NetworkDeps, n: NetworkRecord, f: Filters): Promise<boolean> {
  const any = (key: string, test: (v: string) => boolean): boolean => {
    const vs = f.values(key);
    return vs.length === 0 || vs.some(test);
  };
  if (!any("driver", (v) => v === n.Driver)) return false;
  if (!any("id", (v) => n.Id.includes(v))) return false;
  if (!any("name", (v) => n.Name.includes(v))) return false;
  if (!any("scope", (v) => v === n.Scope)) return false;
  if (!any("type", (v) => (v === "custom" ? !n.Predefined : v === "builtin" ? n.Predefined : false))) return false;
  for (const l of f.values("label")) {
    const i = l.indexOf("=");
    const key = i < 0 ? l : l.slice(0, i);
    if (!(key in n.Labels)) return false;
    if (i >= 0 && n.Labels[key] !== l.slice(i + 1)) return false;
  }
  const dangling = f.bool("dangling");
  if (dangling !== undefined) {
    const used = n.Predefined || (await deps.networks.inUse(n.Id));
    if (dangling === used) return false;
  }
  return true;
}

function containerOf(deps: NetworkDeps, body: Record<string, unknown>): ContainerRecord {
  const ref = body["Container"];
  if (typeof ref !== "string" || !ref) throw wharfError("invalid-argument", "a container is required");
  return deps.containers.get(ref);
}

export function networkRoutes(router: Router, deps: NetworkDeps): void {
  const { networks } = deps;

  router.on("GET", "/networks", async (ctx) => {
    const f = ctx.query.filters();
    f.validate(LIST_FILTERS);
    const out = [];
    for (const n of networks.list()) if (await matches(deps, n, f)) out.push({ ...publicRecord(n), Containers: {} });
    out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    sendJson(ctx.res, 200, out);
  });

  router.on("GET", "/networks/{id}", async (ctx) => {
    sendJson(ctx.res, 200, inspectNetwork(deps, networks.get(ctx.params["id"]!)));
  });

  router.on("POST", "/networks/create", async (ctx) => {
    const body = await readJsonBody(ctx.req);
    sendJson(ctx.res, 201, await networks.create(body as unknown as CreateNetworkRequest));
  });

  router.on("DELETE", "/networks/{id}", async (ctx) => {
    await networks.remove(ctx.params["id"]!);
    sendEmpty(ctx.res, 204);
  });

  router.on("POST", "/networks/{id}/connect", async (ctx) => {
    const body = await readJsonBody(ctx.req);
    const c = containerOf(deps, body);
    const ec = (typeof body["EndpointConfig"] === "object" && body["EndpointConfig"] !== null ? body["EndpointConfig"] : {}) as { Aliases?: unknown; IPAMConfig?: { IPv4Address?: unknown }; MacAddress?: unknown };
    await networks.connect(ctx.params["id"]!, c, {
      Aliases: Array.isArray(ec.Aliases) ? ec.Aliases.filter((a): a is string => typeof a === "string") : [],
      ...(typeof ec.IPAMConfig?.IPv4Address === "string" ? { IPv4Address: ec.IPAMConfig.IPv4Address } : {}),
      ...(typeof ec.MacAddress === "string" ? { MacAddress: ec.MacAddress } : {}),
    });
    sendEmpty(ctx.res, 200);
  });

  router.on("POST", "/networks/{id}/disconnect", async (ctx) => {
    const body = await readJsonBody(ctx.req);
    await networks.disconnect(ctx.params["id"]!, containerOf(deps, body), body["Force"] === true);
    sendEmpty(ctx.res, 200);
  });

  router.on("POST", "/networks/prune", async (ctx) => {
    const f = ctx.query.filters();
    f.validate(["until", "label", "label!"]);
    const until = f.single("until");
    const untilMs = until === undefined ? undefined : /^[0-9]+$/.test(until) ? Number(until) * 1000 : Date.parse(until);
    const deleted = await networks.prune((n) => {
      if (untilMs !== undefined && Date.parse(n.Created) > untilMs) return false;
      for (const l of f.values("label")) {
        const [k, v] = l.split("=", 2) as [string, string?];
        if (!(k in n.Labels) || (v !== undefined && n.Labels[k] !== v)) return false;
      }
      for (const l of f.values("label!")) {
        const [k, v] = l.split("=", 2) as [string, string?];
        if (k in n.Labels && (v === undefined || n.Labels[k] === v)) return false;
      }
      return true;
    });
    sendJson(ctx.res, 200, { NetworksDeleted: deleted.length > 0 ? deleted : null });
  });
}

function emptyEndpoint() {
  return { IPAMConfig: null, Links: null, Aliases: null, NetworkID: "", EndpointID: "", Gateway: "", IPAddress: "", IPPrefixLen: 0, IPv6Gateway: "", GlobalIPv6Address: "", GlobalIPv6PrefixLen: 0, MacAddress: "", DriverOpts: null };
}

/** `NetworkSettings.Ports`: each exposed or published port, with its bindings while running. */
export function portsOf(r: ContainerRecord, sandbox: Sandbox | undefined): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  if (!sandbox) return out;
  for (const key of Object.keys(r.Config.ExposedPorts ?? {})) out[key.includes("/") ? key : `${key}/tcp`] = null;
  for (const p of sandbox.Ports) {
    const key = `${p.ContainerPort}/${p.Proto}`;
    (out[key] ??= []).push({ HostIp: p.HostIp, HostPort: String(p.HostPort) });
  }
  return out;
}

/** The container's `NetworkSettings` as dockerd shows it. */
export async function networkSettings(networks: NetworkManager, r: ContainerRecord) {
  const cfg = await networks.configOf(r).catch(() => undefined);
  const sandbox = networks.sandboxOf(r.Id);
  const nets: Record<string, unknown> = {};
  if (cfg?.Mode === "host") nets["host"] = emptyEndpoint();
  else if (cfg?.Mode === "none") nets["none"] = emptyEndpoint();
  for (const [netId, req] of Object.entries(cfg?.Networks ?? {})) {
    const ep = sandbox?.Endpoints[netId];
    const name = networks.name(netId);
    const aliases = name === "bridge" ? null : [...req.Aliases, r.Id.slice(0, 12)];
    nets[name] = {
      ...emptyEndpoint(),
      IPAMConfig: req.IPv4Address ? { IPv4Address: req.IPv4Address } : null,
      Aliases: aliases,
      NetworkID: netId,
      ...(ep ? { EndpointID: ep.EndpointID, Gateway: ep.Gateway, IPAddress: ep.IPAddress, IPPrefixLen: ep.IPPrefixLen, MacAddress: ep.MacAddress } : {}),
    };
  }
  const def = Object.entries(cfg?.Networks ?? {}).find(([id]) => networks.name(id) === "bridge");
  const defEp = def ? sandbox?.Endpoints[def[0]] : undefined;
  return {
    Bridge: "",
    SandboxID: sandbox ? r.Id : "",
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    Ports: portsOf(r, sandbox),
    SandboxKey: sandbox?.Netns ?? "",
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: defEp?.EndpointID ?? "",
    Gateway: defEp?.Gateway ?? "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: defEp?.IPAddress ?? "",
    IPPrefixLen: defEp?.IPPrefixLen ?? 0,
    IPv6Gateway: "",
    MacAddress: defEp?.MacAddress ?? "",
    Networks: nets,
  };
}

/** `docker ps`'s ports: published ones with their host side, exposed ones without. */
export function summaryPorts(r: ContainerRecord, sandbox: Sandbox | undefined): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  for (const p of sandbox?.Ports ?? []) out.push({ IP: p.HostIp, PrivatePort: p.ContainerPort, PublicPort: p.HostPort, Type: p.Proto });
  for (const key of Object.keys(r.Config.ExposedPorts ?? {})) {
    const [port, proto = "tcp"] = key.split("/");
    if (!out.some((o) => o.PrivatePort === Number(port) && o.Type === proto)) out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

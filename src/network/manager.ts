// The network engine: network records (create, inspect, remove, prune), the
// default `bridge` network and the predefined `host` and `none`, and each
// container's side of it — its namespace, veth pairs, addresses (IPAM),
// published ports (nft rules + the proxy that holds the port), hosts and
// resolv.conf, and the embedded DNS of user-defined networks.
//
// Lifecycle of a container's network: `prepare` at create (checked and
// written beside the container's record), `attach` before the runtime
// creates the container (the namespace made and wired, its path put into the
// runtime spec), `detach` when it ends (ports, rules, namespace and
// addresses released; the veth pairs go with the namespace), `restore` for a
// container found running at daemon start, then one `sweep` that removes
// whatever no running container claims and writes the rules anew.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { asWharfError, errnoCode, isKind, KeyedMutex, pathExists, unlinkIfPresent, wharfError, writeJsonAtomic, type EventBus, type Logger } from "../internal/index.js";
import type { NetworkNamespace } from "../runtime/index.js";
import { unmount } from "../snapshot/index.js";
import { DnsServer, nameservers } from "./dns.js";
import { allocateAddress, claimAddress, DEFAULT_POOL, pickSubnet, planAddresses, type AddressPlan, type AddressPool } from "./ipam.js";
import { contains, formatIpv4, formatSubnet, isIpv4, parseIpv4, parseSubnet, type Ipv4 } from "./ipv4.js";
import { createNamespace, deleteLink, ensureBridge, hostRoutes, inNamespace, run, wireNamespace, type EndpointPlan } from "./links.js";
import { applyNft, filterChainName, jumpHandles, listForward, renderFilterAccept, renderTable, tableName, type TablePort } from "./nft.js";
import { portRequests, type PortRequest } from "./ports.js";
import { openProxy, type PortProxy } from "./proxy.js";
import type { ContainerNetworkConfig, ContainerView, Endpoint, EndpointRequest, NetworkRecord, Sandbox } from "./types.js";

export interface NetworkOptions {
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly logger: Logger;
  /** The default network's bridge: `wharf0`. Also names wharf's nft table. */
  readonly bridge?: string;
  /** The default bridge's address and prefix (`--bip 10.1.0.1/24`); picked from the pools when absent. */
  readonly bip?: string;
  readonly pools?: readonly AddressPool[];
  readonly mtu?: number;
  /** Turn on IPv4 forwarding (`--ip-forward`); otherwise it is left as the host has it. */
  readonly ipForward?: boolean;
  /** Where a published port that names no host address binds (`--ip`): every address by default. */
  readonly defaultBindIp?: string;
  readonly hostResolvConf?: string;
  readonly events?: EventBus;
  /** The port the DNS listeners use (53; tests may pick another). */
  readonly dnsPort?: number;
}

/** How the container module calls the network module. */
export interface ContainerNetwork {
  /** `body` is the create request: `NetworkingConfig` and `MacAddress` are read from it. */
  prepare(c: ContainerView, body: Record<string, unknown>): Promise<void>;
  /** Resolves once the namespace exists; its `ready` once it is wired, which the process must wait for. */
  attach(c: ContainerView): Promise<Attachment>;
  detach(id: string): Promise<void>;
  restore(c: ContainerView): Promise<void>;
  /** The container is gone: whatever of its network is left goes too. */
  forget(id: string): Promise<void>;
}

/**
 * A container's network as attach leaves it: the namespace to run in, there
 * at once, and its wiring (links, addresses, routes, files, rules) going on
 * while the runtime creates the container. `ready` rejects when the wiring
 * fails; detach undoes whatever was done.
 */
export interface Attachment {
  readonly netns: NetworkNamespace;
  readonly ready: Promise<void>;
}

const WIRED: Promise<void> = Promise.resolve();
// A sandbox record describes namespaces, links and rules that a reboot takes
// away: written atomically for a daemon crash, never synced.
const SANDBOX_WRITE = { mkdir: true, durable: false } as const;

/** Lookups into the container engine, given once it is open. */
export interface ContainerLookup {
  get(nameOrId: string): ContainerView | undefined;
  list(): readonly ContainerView[];
}

export interface CreateNetworkRequest {
  readonly Name: string;
  readonly Driver?: string;
  readonly Internal?: boolean;
  readonly Attachable?: boolean;
  readonly EnableIPv6?: boolean;
  readonly IPAM?: { Driver?: string; Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[]; Options?: Record<string, string> | null };
  readonly Options?: Record<string, string>;
  readonly Labels?: Record<string, string>;
  readonly CheckDuplicate?: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const DEFAULT_MTU = 1500;

interface Live {
  sandbox: Sandbox;
  proxies: PortProxy[];
  /** The attach's wiring while it goes on; settled (never rejects) once done. */
  wiring?: Promise<void>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class NetworkManager implements ContainerNetwork {
  readonly #o: NetworkOptions;
  readonly #logger: Logger;
  readonly #bridge: string;
  readonly #table: string;
  readonly #mtu: number;
  readonly #networks = new Map<string, NetworkRecord>();
  readonly #plans = new Map<string, AddressPlan>();
  readonly #last = new Map<string, Ipv4>();
  readonly #live = new Map<string, Live>();
  readonly #configs = new Map<string, ContainerNetworkConfig>();
  readonly #dns = new Map<string, DnsServer>();
  readonly #locks = new KeyedMutex();
  #containers: ContainerLookup = { get: () => undefined, list: () => [] };
  #nftTail: Promise<void> = Promise.resolve();

  private constructor(o: NetworkOptions) {
    this.#o = o;
    this.#logger = o.logger;
    this.#bridge = o.bridge ?? "wharf0";
    this.#table = tableName(this.#bridge);
    this.#mtu = o.mtu ?? DEFAULT_MTU;
  }

  get #networksDir(): string {
    return join(this.#o.dataRoot, "network", "networks");
  }
  get #sandboxDir(): string {
    return join(this.#o.execRoot, "network", "sandboxes");
  }
  get netnsDir(): string {
    return join(this.#o.execRoot, "netns");
  }
  get table(): string {
    return this.#table;
  }
  get bridges(): string[] {
    return [...this.#networks.values()].filter((n) => n.Bridge).map((n) => n.Bridge);
  }

  static async open(o: NetworkOptions): Promise<NetworkManager> {
    const m = new NetworkManager(o);
    await m.#load();
    return m;
  }

  setContainers(lookup: ContainerLookup): void {
    this.#containers = lookup;
  }

  // ---- records ----------------------------------------------------------------

  async #save(n: NetworkRecord): Promise<void> {
    await writeJsonAtomic(join(this.#networksDir, `${n.Id}.json`), n, { mkdir: true });
  }

  async #load(): Promise<void> {
    let files: string[] = [];
    try {
      files = await readdir(this.#networksDir);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
    for (const f of files) {
      if (!f.endsWith(".json")) continue;
      try {
        const n = JSON.parse(await readFile(join(this.#networksDir, f), "utf8")) as NetworkRecord;
        this.#networks.set(n.Id, n);
        if (n.Driver === "bridge") this.#plans.set(n.Id, planOf(n));
      } catch (e) {
        this.#logger.warn("unreadable network record", { file: f, error: asWharfError(e, "read").message });
      }
    }
    for (const [name, driver] of [["host", "host"], ["none", "null"]] as const) {
      if (!this.#byName(name)) await this.#save(this.#put(newRecord(name, driver, true)));
    }
    await this.#ensureDefault();
    if (this.#o.ipForward) await writeFile("/proc/sys/net/ipv4/ip_forward", "1").catch((e: unknown) => this.#logger.warn("cannot enable IPv4 forwarding", { error: asWharfError(e, "ip_forward").message }));
    for (const n of this.#networks.values()) {
      if (n.Driver !== "bridge") continue;
      const plan = this.#plans.get(n.Id)!;
      await ensureBridge(n.Bridge, `${formatIpv4(plan.gateway)}/${plan.subnet.prefix}`, this.#mtu);
      if (!n.Predefined) await this.#startDns(n);
    }
  }

  #put(n: NetworkRecord): NetworkRecord {
    this.#networks.set(n.Id, n);
    if (n.Driver === "bridge") this.#plans.set(n.Id, planOf(n));
    return n;
  }

  async #ensureDefault(): Promise<void> {
    const existing = this.#byName("bridge");
    const want = this.#o.bip ? parseSubnet(this.#o.bip, { loose: true }) : undefined;
    const wantGw = this.#o.bip ? parseIpv4(this.#o.bip.split("/")[0]!) : undefined;
    if (existing) {
      const plan = this.#plans.get(existing.Id)!;
      const sameAddr = !want || (formatSubnet(want) === formatSubnet(plan.subnet) && wantGw === plan.gateway);
      if (existing.Bridge === this.#bridge && sameAddr) {
        const bindIp = this.#o.defaultBindIp ?? "0.0.0.0";
        if (existing.Options?.["com.docker.network.bridge.host_binding_ipv4"] !== bindIp) {
          existing.Options = { ...existing.Options, "com.docker.network.bridge.host_binding_ipv4": bindIp };
          await this.#save(existing);
        }
        return;
      }
      if (existing.Bridge !== this.#bridge) await deleteLink(existing.Bridge);
      this.#networks.delete(existing.Id);
    }
    const subnet = want ?? pickSubnet(this.#o.pools ?? [DEFAULT_POOL], await this.#takenSubnets());
    const gateway = wantGw ?? ((subnet.base + 1) as Ipv4);
    const n = newRecord("bridge", "bridge", true);
    if (existing) n.Id = existing.Id;
    n.Bridge = this.#bridge;
    n.IPAM.Config = [{ Subnet: formatSubnet(subnet), Gateway: formatIpv4(gateway) }];
    n.Options = {
      "com.docker.network.bridge.default_bridge": "true",
      "com.docker.network.bridge.enable_icc": "true",
      "com.docker.network.bridge.enable_ip_masquerade": "true",
      "com.docker.network.bridge.host_binding_ipv4": this.#o.defaultBindIp ?? "0.0.0.0",
      "com.docker.network.bridge.name": this.#bridge,
      "com.docker.network.driver.mtu": String(this.#mtu),
    };
    planAddresses(n.IPAM.Config[0]!.Subnet, n.IPAM.Config[0]!.Gateway);
    await this.#save(this.#put(n));
  }

  /** Subnets a new network must not overlap: host routes (other bridges included) and our networks. */
  async #takenSubnets() {
    const taken = [...this.#plans.values()].map((p) => p.subnet);
    for (const r of await hostRoutes()) {
      try {
        const [ip, prefix] = r.split("/") as [string, string];
        const p = Number(prefix);
        if (p === 0) continue;
        taken.push({ base: (parseIpv4(ip) & (p === 32 ? 0xffffffff : (0xffffffff << (32 - p)) >>> 0)) >>> 0 as Ipv4, prefix: p });
      } catch {
        // not an IPv4 route
      }
    }
    return taken;
  }

  #byName(name: string): NetworkRecord | undefined {
    for (const n of this.#networks.values()) if (n.Name === name) return n;
    return undefined;
  }

  /** By full id, name, or unique id prefix; not-found otherwise. */
  get(idOrName: string): NetworkRecord {
    const exact = this.#networks.get(idOrName);
    if (exact) return exact;
    const byName = this.#byName(idOrName);
    if (byName) return byName;
    if (/^[0-9a-f]+$/.test(idOrName)) {
      const hits = [...this.#networks.values()].filter((n) => n.Id.startsWith(idOrName));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw wharfError("invalid-argument", `network ${idOrName} is ambiguous (${hits.length} matches found based on ID prefix)`);
    }
    throw wharfError("not-found", `network ${idOrName} not found`);
  }

  list(): NetworkRecord[] {
    return [...this.#networks.values()];
  }

  /** The containers with an endpoint on network `id` now: id → endpoint. */
  endpointsOn(id: string): Map<string, Endpoint> {
    const out = new Map<string, Endpoint>();
    for (const [cid, l] of this.#live) {
      const ep = l.sandbox.Endpoints[id];
      if (ep) out.set(cid, ep);
    }
    return out;
  }

  /** Whether any container (running or not) is configured on network `id`. */
  async inUse(id: string): Promise<boolean> {
    if (this.endpointsOn(id).size > 0) return true;
    for (const c of this.#containers.list()) {
      const cfg = await this.#config(c).catch(() => undefined);
      if (cfg && cfg.Networks[id]) return true;
    }
    return false;
  }

  async create(req: CreateNetworkRequest): Promise<{ Id: string; Warning: string }> {
    const name = typeof req.Name === "string" ? req.Name : "";
    if (!name) throw wharfError("invalid-argument", "network name is required");
    if (!NAME_RE.test(name)) throw wharfError("invalid-argument", `invalid network name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const driver = req.Driver || "bridge";
    if (name === "bridge" || name === "host" || name === "none") throw wharfError("forbidden", `${name} is a pre-defined network and cannot be created`);
    if (driver !== "bridge") throw wharfError("not-found", `plugin "${driver}" not found`);
    if (req.EnableIPv6) throw wharfError("not-implemented", "IPv6 networks are not supported yet");
    return this.#locks.run("networks", async () => {
      if (this.#byName(name)) throw wharfError("conflict", `network with name ${name} already exists`);
      const configs = req.IPAM?.Config ?? [];
      if (configs.length > 1) throw wharfError("not-implemented", "more than one IPAM config per network is not supported yet");
      const c = configs[0];
      let subnetText = c?.Subnet;
      if (!subnetText) {
        if (c?.Gateway || c?.IPRange) throw wharfError("invalid-argument", "a gateway or ip-range needs a subnet");
        subnetText = formatSubnet(pickSubnet(this.#o.pools ?? [DEFAULT_POOL], await this.#takenSubnets()));
      }
      const plan = planAddresses(subnetText, c?.Gateway || undefined, c?.IPRange || undefined);
      for (const [otherId, other] of this.#plans) {
        if (contains(other.subnet, plan.subnet.base) || contains(plan.subnet, other.subnet.base)) throw wharfError("forbidden", `Pool overlaps with other one on this address space (network ${this.#networks.get(otherId)?.Name})`);
      }
      const n = newRecord(name, "bridge", false);
      n.Internal = req.Internal === true;
      n.Attachable = req.Attachable === true;
      n.Labels = isObject(req.Labels) ? (req.Labels as Record<string, string>) : {};
      n.Options = isObject(req.Options) ? (req.Options as Record<string, string>) : {};
      const bindIp = n.Options["com.docker.network.bridge.host_binding_ipv4"];
      if (bindIp !== undefined && !isIpv4(bindIp)) {
        throw wharfError("invalid-argument", `invalid com.docker.network.bridge.host_binding_ipv4 ${JSON.stringify(bindIp)}: expected an IPv4 address`);
      }
      n.IPAM = { Driver: "default", Options: req.IPAM?.Options ?? {}, Config: [{ Subnet: formatSubnet(plan.subnet), Gateway: formatIpv4(plan.gateway), ...(c?.IPRange ? { IPRange: formatSubnet(plan.range) } : {}) }] };
      n.Bridge = n.Options["com.docker.network.bridge.name"] || `wh-${n.Id.slice(0, 12)}`;
      if (n.Bridge.length > 15) throw wharfError("invalid-argument", `invalid bridge name ${JSON.stringify(n.Bridge)}: at most 15 characters`);
      await ensureBridge(n.Bridge, `${formatIpv4(plan.gateway)}/${plan.subnet.prefix}`, this.#mtu);
      try {
        await this.#save(this.#put(n));
        await this.#startDns(n);
        await this.#applyRules();
        await this.#applyFilter();
      } catch (e) {
        this.#networks.delete(n.Id);
        this.#plans.delete(n.Id);
        await rm(join(this.#networksDir, `${n.Id}.json`), { force: true });
        await deleteLink(n.Bridge);
        throw e;
      }
      this.#o.events?.publish("network", "create", n.Id, { name: n.Name, type: n.Driver });
      return { Id: n.Id, Warning: "" };
    });
  }

  async remove(idOrName: string): Promise<void> {
    const n = this.get(idOrName);
    if (n.Predefined) throw wharfError("forbidden", `${n.Name} is a pre-defined network and cannot be removed`);
    await this.#locks.run("networks", async () => {
      const active = this.endpointsOn(n.Id);
      if (active.size > 0) throw wharfError("forbidden", `error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
      await this.#dns.get(n.Id)?.close();
      this.#dns.delete(n.Id);
      this.#networks.delete(n.Id);
      this.#plans.delete(n.Id);
      await rm(join(this.#networksDir, `${n.Id}.json`), { force: true });
      await deleteLink(n.Bridge);
      await this.#applyRules();
      await this.#applyFilter();
    });
    this.#o.events?.publish("network", "destroy", n.Id, { name: n.Name, type: n.Driver });
  }

  async prune(filter: (n: NetworkRecord) => boolean = () => true): Promise<string[]> {
    const deleted: string[] = [];
    for (const n of this.list()) {
      if (n.Predefined || !filter(n) || (await this.inUse(n.Id))) continue;
      await this.remove(n.Id).then(() => deleted.push(n.Name), () => {});
    }
    return deleted;
  }

  async #startDns(n: NetworkRecord): Promise<void> {
    const plan = this.#plans.get(n.Id)!;
    const address = formatIpv4(plan.gateway);
    try {
      this.#dns.set(n.Id, await DnsServer.listen({ address, port: this.#o.dnsPort ?? 53, logger: this.#logger, resolve: (name, client) => this.resolveName(name, client), upstreams: () => this.#upstreams() }));
    } catch (e) {
      this.#logger.warn("embedded DNS unavailable", { network: n.Name, address, error: asWharfError(e, "listen").message });
    }
  }

  #hostResolv: { text: string; at: number } | undefined;
  #upstreams(): string[] {
    const now = Date.now();
    if (!this.#hostResolv || now - this.#hostResolv.at > 5000) {
      let text = "";
      try {
        text = readFileSync(this.#o.hostResolvConf ?? "/etc/resolv.conf", "utf8");
      } catch {
        text = "";
      }
      this.#hostResolv = { text, at: now };
    }
    const servers = nameservers(this.#hostResolv.text);
    return servers.length > 0 ? servers : ["8.8.8.8", "8.8.4.4"];
  }

  /** The addresses of container `name` (name, alias, id or short id) on the networks of the container at `clientIp`. */
  resolveName(name: string, clientIp: string): string[] | undefined {
    const asker = [...this.#live.values()].find((l) => Object.values(l.sandbox.Endpoints).some((e) => e.IPAddress === clientIp));
    const networks = asker ? Object.keys(asker.sandbox.Endpoints) : [...this.#dns.keys()];
    const out: string[] = [];
    for (const [cid, l] of this.#live) {
      const view = this.#containers.get(cid);
      const cfg = this.#configs.get(cid);
      for (const netId of networks) {
        const ep = l.sandbox.Endpoints[netId];
        if (!ep) continue;
        const net = this.#networks.get(netId);
        if (!net || net.Predefined) continue;
        const names = [cid, cid.slice(0, 12), ...(view ? [view.Name.slice(1)] : []), ...(cfg?.Networks[netId]?.Aliases ?? [])].map((s) => s.toLowerCase());
        if (names.includes(name) && !out.includes(ep.IPAddress)) out.push(ep.IPAddress);
      }
    }
    return out.length > 0 ? out : undefined;
  }

  // ---- a container's config ---------------------------------------------------

  #configPath(c: ContainerView): string {
    return join(dirname(c.HostsPath), "network.json");
  }

  async #config(c: ContainerView): Promise<ContainerNetworkConfig> {
    const cached = this.#configs.get(c.Id);
    if (cached) return cached;
    let cfg: ContainerNetworkConfig;
    try {
      cfg = JSON.parse(await readFile(this.#configPath(c), "utf8")) as ContainerNetworkConfig;
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
      // A container from before networking: its mode says it all.
      cfg = this.#parseMode(c.HostConfig.NetworkMode, {}, c);
    }
    this.#configs.set(c.Id, cfg);
    return cfg;
  }

  async #saveConfig(c: ContainerView, cfg: ContainerNetworkConfig): Promise<void> {
    await writeJsonAtomic(this.#configPath(c), cfg);
    this.#configs.set(c.Id, cfg);
  }

  #parseMode(mode: string, endpoints: Record<string, unknown>, c: ContainerView): ContainerNetworkConfig {
    const request = (netId: string, raw: unknown, first: boolean): EndpointRequest => {
      const r = isObject(raw) ? raw : {};
      const ipam = isObject(r["IPAMConfig"]) ? r["IPAMConfig"] : {};
      const aliases = Array.isArray(r["Aliases"]) ? (r["Aliases"] as unknown[]).filter((a): a is string => typeof a === "string") : [];
      const mac = typeof r["MacAddress"] === "string" && r["MacAddress"] ? r["MacAddress"] : first && typeof c.Config.MacAddress === "string" ? c.Config.MacAddress : "";
      return { NetworkID: netId, Aliases: aliases, IPv4Address: typeof ipam["IPv4Address"] === "string" ? ipam["IPv4Address"] : "", MacAddress: mac };
    };
    if (mode === "none") return { Mode: "none", Networks: {} };
    if (mode === "host") return { Mode: "host", Networks: {} };
    if (mode.startsWith("container:")) {
      const ref = mode.slice("container:".length);
      const target = this.#containers.get(ref);
      if (!target) throw wharfError("not-found", `No such container: ${ref}`);
      if (target.Id === c.Id) throw wharfError("invalid-argument", "cannot join own network namespace");
      return { Mode: "container", Container: target.Id, Networks: {} };
    }
    const primary = this.get(mode === "default" ? "bridge" : mode);
    if (primary.Driver === "host") return { Mode: "host", Networks: {} };
    if (primary.Driver === "null") return { Mode: "none", Networks: {} };
    const networks: Record<string, EndpointRequest> = {};
    const primaryRaw = endpoints[mode] ?? endpoints[primary.Name] ?? endpoints[primary.Id];
    networks[primary.Id] = request(primary.Id, primaryRaw, true);
    for (const [key, raw] of Object.entries(endpoints)) {
      if (key === mode || key === "default") continue;
      const n = this.get(key);
      if (n.Id === primary.Id) continue;
      if (n.Driver !== "bridge") throw wharfError("invalid-argument", `container cannot be connected to network ${n.Name} and ${primary.Name} at once`);
      networks[n.Id] = request(n.Id, raw, false);
    }
    return { Mode: "bridge", Networks: networks };
  }

  #checkRequests(cfg: ContainerNetworkConfig, c: ContainerView): void {
    for (const [netId, req] of Object.entries(cfg.Networks)) {
      const net = this.#networks.get(netId)!;
      if (req.IPv4Address) {
        if (net.Predefined) throw wharfError("invalid-argument", "user specified IP address is supported on user defined networks only");
        const plan = this.#plans.get(netId)!;
        if (!contains(plan.subnet, parseIpv4(req.IPv4Address))) throw wharfError("invalid-argument", `invalid IP address ${req.IPv4Address}: not in subnet ${formatSubnet(plan.subnet)} of network ${net.Name}`);
      }
      if (req.Aliases.length > 0 && net.Predefined) throw wharfError("invalid-argument", "network-scoped alias is supported only for containers in user defined networks");
      if (req.MacAddress && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(req.MacAddress)) throw wharfError("invalid-argument", `invalid MAC address ${JSON.stringify(req.MacAddress)}`);
    }
    const ports = portRequests(c.HostConfig.PortBindings, c.Config.ExposedPorts, c.HostConfig.PublishAllPorts);
    if (cfg.Mode === "container" && ports.length > 0) throw wharfError("invalid-argument", "conflicting options: port publishing and the container type network mode");
    for (const h of c.HostConfig.ExtraHosts ?? []) {
      const i = h.indexOf(":");
      const ip = h.slice(i + 1);
      if (i <= 0 || (ip !== "host-gateway" && !/^[0-9a-fA-F.:]+$/.test(ip))) throw wharfError("invalid-argument", `invalid IP address in add-host: ${JSON.stringify(ip)}`);
    }
  }

  // ---- container hooks --------------------------------------------------------

  async prepare(c: ContainerView, body: Record<string, unknown>): Promise<void> {
    const networkingConfig = body["NetworkingConfig"];
    const endpoints = isObject(networkingConfig) && isObject(networkingConfig["EndpointsConfig"]) ? networkingConfig["EndpointsConfig"] : {};
    const mac = typeof body["MacAddress"] === "string" ? body["MacAddress"] : undefined;
    let cfg: ContainerNetworkConfig;
    try {
      cfg = this.#parseMode(c.HostConfig.NetworkMode, endpoints, mac ? { ...c, Config: { ...c.Config, MacAddress: mac } } : c);
    } catch (e) {
      // A 404 from create reads to the docker CLI as a missing image (it would pull): a bad network is a bad request here.
      if (isKind(e, "not-found")) throw wharfError("invalid-argument", e.message);
      throw e;
    }
    this.#checkRequests(cfg, c);
    await this.#saveConfig(c, cfg);
    // host-gateway in --add-host means the default bridge's gateway.
    if ((c.HostConfig.ExtraHosts ?? []).some((h) => h.endsWith(":host-gateway"))) await this.#writeHosts(c, undefined);
  }

  async forget(id: string): Promise<void> {
    await this.detach(id);
    this.#configs.delete(id);
  }

  async attach(c: ContainerView): Promise<Attachment> {
    const start = performance.now();
    const attachment = await this.#locks.run(`c:${c.Id}`, () => this.#attach(c));
    void attachment.ready.then(
      () => this.#logger.debug("network attached", { container: c.Id, ms: Math.round(performance.now() - start) }),
      () => {},
    );
    return attachment;
  }

  async #attach(c: ContainerView): Promise<Attachment> {
    if (this.#live.has(c.Id)) await this.#detach(c.Id);
    const cfg = await this.#config(c);
    if (cfg.Mode === "host") {
      await this.#writeHostModeFiles(c);
      return { netns: { kind: "host" }, ready: WIRED };
    }
    if (cfg.Mode === "container") {
      const target = this.#live.get(cfg.Container!);
      const targetView = this.#containers.get(cfg.Container!);
      if (!targetView || !targetView.State.Running) throw wharfError("conflict", `cannot join network of a non running container: ${cfg.Container}`);
      const targetCfg = await this.#config(targetView);
      if (targetCfg.Mode === "host") return { netns: { kind: "host" }, ready: WIRED };
      if (!target || !target.sandbox.Netns) throw wharfError("conflict", `cannot join network namespace of container ${cfg.Container}: it has none`);
      return { netns: { kind: "path", path: target.sandbox.Netns }, ready: WIRED };
    }
    const netns = join(this.netnsDir, c.Id);
    // A namespace left by a run that ended while the daemon was down (the sweep has not come yet).
    if (await pathExists(netns)) {
      await unmount(netns).catch(() => {});
      await rm(netns, { force: true });
    }
    const sandbox: Sandbox = { ContainerID: c.Id, Netns: netns, Endpoints: {}, Ports: [] };
    const live: Live = { sandbox, proxies: [] };
    const plans: EndpointPlan[] = [];
    let gateway: string | undefined;
    try {
      // Addresses first: all in memory, so two starts never get one address.
      let index = 0;
      for (const [netId, req] of Object.entries(cfg.Networks)) {
        const net = this.#networks.get(netId);
        if (!net) throw wharfError("not-found", `network ${netId} not found`);
        const plan = this.#plans.get(netId)!;
        const used = this.#usedOn(netId);
        const ip = req.IPv4Address ? claimAddress(plan, used, req.IPv4Address) : allocateAddress(plan, used, this.#last.get(netId));
        if (!req.IPv4Address) this.#last.set(netId, ip);
        const endpointId = randomBytes(32).toString("hex");
        const ep: Endpoint = { EndpointID: endpointId, NetworkID: netId, IPAddress: formatIpv4(ip), IPPrefixLen: plan.subnet.prefix, Gateway: net.Internal ? "" : formatIpv4(plan.gateway), MacAddress: req.MacAddress || macOf(ip), HostIf: `veth${endpointId.slice(0, 11)}`, IfName: `eth${index++}` };
        sandbox.Endpoints[netId] = ep;
        plans.push({ ifName: ep.IfName, hostIf: ep.HostIf, bridge: net.Bridge, address: ep.IPAddress, prefix: ep.IPPrefixLen, mac: ep.MacAddress, mtu: this.#mtu });
        if (!gateway && !net.Internal) gateway = formatIpv4(plan.gateway);
      }
      this.#live.set(c.Id, live);
      // The ports next: a port in use fails here, before anything is made.
      const primary = Object.values(sandbox.Endpoints)[0];
      const requests = cfg.Mode === "bridge" && primary ? portRequests(c.HostConfig.PortBindings, c.Config.ExposedPorts, c.HostConfig.PublishAllPorts, this.#bindIp(primary.NetworkID)) : [];
      for (const r of requests) {
        const proxy = await this.#bindPort(r, primary!.IPAddress);
        live.proxies.push(proxy);
        sandbox.Ports.push({ Proto: r.Proto, HostIp: r.HostIp, HostPort: proxy.hostPort, ContainerPort: r.ContainerPort });
      }
      // Side by side: a namespace whose record a crash kept from being written is swept as one no container claims.
      const made = await Promise.allSettled([writeJsonAtomic(join(this.#sandboxDir, `${c.Id}.json`), sandbox, SANDBOX_WRITE), createNamespace(netns)]);
      for (const m of made) if (m.status === "rejected") throw m.reason;
    } catch (e) {
      await this.#teardown(c.Id, live).catch(() => {});
      throw e;
    }
    // Independent steps at once: the rules need only the addresses, the files only the plan.
    const ready = Promise.all([
      wireNamespace(netns, plans, gateway, true),
      this.#writeHosts(c, sandbox),
      this.#writeResolv(c, cfg),
      sandbox.Ports.length > 0 ? this.#applyRules() : undefined,
    ]).then(() => {
      for (const ep of Object.values(sandbox.Endpoints)) this.#o.events?.publish("network", "connect", ep.NetworkID, { container: c.Id, name: this.#networks.get(ep.NetworkID)?.Name ?? "", type: "bridge" });
    });
    // Detach waits for the wiring before it undoes it; the caller hears of a failure through `ready`.
    live.wiring = ready.catch(() => {});
    return { netns: { kind: "path", path: netns }, ready };
  }

  /**
   * Where a port published on network `netId` binds when it names no host
   * address: the network's `com.docker.network.bridge.host_binding_ipv4`
   * (the default bridge's is the daemon's `--ip`, set at every start), else
   * the daemon's `--ip`, as with dockerd.
   */
  #bindIp(netId: string): string {
    const ip = this.#networks.get(netId)?.Options?.["com.docker.network.bridge.host_binding_ipv4"];
    return ip && isIpv4(ip) ? ip : (this.#o.defaultBindIp ?? "0.0.0.0");
  }

  async #bindPort(r: PortRequest, target: string): Promise<PortProxy> {
    const [first, last] = r.HostPorts;
    let lastError: unknown;
    for (let p = first; p <= last; p++) {
      try {
        return await openProxy(r.Proto, r.HostIp, p, target, r.ContainerPort);
      } catch (e) {
        lastError = e;
        if (!isKind(e, "conflict")) break;
      }
    }
    const message = lastError instanceof Error ? lastError.message : String(lastError);
    throw wharfError(isKind(lastError, "conflict") ? "conflict" : "unavailable", `driver failed programming external connectivity on endpoint: ${message}`);
  }

  #usedOn(netId: string): Set<number> {
    const used = new Set<number>();
    for (const l of this.#live.values()) {
      const ep = l.sandbox.Endpoints[netId];
      if (ep) used.add(parseIpv4(ep.IPAddress));
    }
    return used;
  }

  async detach(id: string): Promise<void> {
    const start = performance.now();
    await this.#locks.run(`c:${id}`, () => this.#detach(id));
    this.#logger.debug("network detached", { container: id, ms: Math.round(performance.now() - start) });
  }

  async #detach(id: string): Promise<void> {
    const live = this.#live.get(id);
    if (!live) return;
    await this.#teardown(id, live);
    for (const ep of Object.values(live.sandbox.Endpoints)) this.#o.events?.publish("network", "disconnect", ep.NetworkID, { container: id, name: this.#networks.get(ep.NetworkID)?.Name ?? "", type: "bridge" });
  }

  /** Undoes an attach, whatever part of it was done. */
  async #teardown(id: string, live: Live): Promise<void> {
    await live.wiring;
    for (const p of live.proxies.splice(0)) await p.close().catch(() => {});
    const hadPorts = live.sandbox.Ports.length > 0;
    this.#live.delete(id);
    const rules = hadPorts ? this.#applyRules().catch((e: unknown) => this.#logger.warn("removing port rules failed", { container: id, error: asWharfError(e, "nft").message })) : undefined;
    if (live.sandbox.Netns) {
      await unmount(live.sandbox.Netns).catch(() => {});
      await unlinkIfPresent(live.sandbox.Netns);
    }
    await rules;
    await unlinkIfPresent(join(this.#sandboxDir, `${id}.json`));
  }

  async restore(c: ContainerView): Promise<void> {
    let sandbox: Sandbox;
    try {
      sandbox = JSON.parse(await readFile(join(this.#sandboxDir, `${c.Id}.json`), "utf8")) as Sandbox;
    } catch {
      return;
    }
    const live: Live = { sandbox, proxies: [] };
    this.#live.set(c.Id, live);
    await this.#config(c).catch(() => undefined);
    const primary = Object.values(sandbox.Endpoints)[0];
    for (const p of sandbox.Ports) {
      if (!primary) break;
      try {
        live.proxies.push(await openProxy(p.Proto, p.HostIp, p.HostPort, primary.IPAddress, p.ContainerPort));
      } catch (e) {
        this.#logger.warn("cannot hold a published port again", { container: c.Id, port: `${p.HostIp}:${p.HostPort}/${p.Proto}`, error: asWharfError(e, "bind").message });
      }
    }
  }

  /**
   * After the container engine restored its containers: namespaces, sandbox
   * files and veth ends that no running container claims go, and the rules
   * are written from what runs.
   */
  async sweep(): Promise<{ removed: string[] }> {
    const removed: string[] = [];
    for (const dir of [this.#sandboxDir, this.netnsDir]) {
      let names: string[] = [];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const f of names) {
        const id = f.replace(/\.json$/, "");
        if (this.#live.has(id)) continue;
        const path = join(dir, f);
        if (dir === this.netnsDir) await unmount(path).catch(() => {});
        await rm(path, { force: true });
        removed.push(path);
      }
    }
    // Host ends of running containers back on their bridges (a bridge made anew at start has none).
    const ends = [...this.#live.values()].flatMap((l) => Object.values(l.sandbox.Endpoints).map((e) => ({ hostIf: e.HostIf, bridge: this.#networks.get(e.NetworkID)?.Bridge ?? "" })));
    const reattach = ends.filter((e) => e.bridge).map((e) => `link set ${e.hostIf} master ${e.bridge} up`);
    if (reattach.length > 0) await run("ip", ["-force", "-batch", "-"], reattach.join("\n") + "\n").catch(() => {});
    const claimed = new Set([...this.#live.values()].flatMap((l) => Object.values(l.sandbox.Endpoints).map((e) => e.HostIf)));
    const out = await run("ip", ["-o", "link", "show", "type", "veth"]).catch(() => "");
    const ours = new Set(this.bridges);
    for (const line of out.split("\n")) {
      const m = /^[0-9]+:\s+([^@:]+)(?:@\S+)?:.*\smaster\s+(\S+)/.exec(line);
      if (!m || !ours.has(m[2]!) || claimed.has(m[1]!)) continue;
      await deleteLink(m[1]!);
      removed.push(m[1]!);
    }
    await this.#applyRules();
    await this.#applyFilter();
    return { removed };
  }

  // ---- connect / disconnect -----------------------------------------------------

  async connect(netRef: string, c: ContainerView, endpoint: { Aliases?: string[]; IPv4Address?: string; MacAddress?: string } = {}): Promise<void> {
    const net = this.get(netRef);
    await this.#locks.run(`c:${c.Id}`, async () => {
      const cfg = await this.#config(c);
      if (net.Driver !== "bridge") throw wharfError("forbidden", `container cannot be disconnected from host network or connected to host network`);
      if (cfg.Mode !== "bridge") throw wharfError("forbidden", `container sharing network namespace with another container or host cannot be connected to any other network`);
      if (cfg.Networks[net.Id]) throw wharfError("forbidden", `endpoint with name ${c.Name.slice(1)} already exists in network ${net.Name}`);
      const req: EndpointRequest = { NetworkID: net.Id, Aliases: endpoint.Aliases ?? [], IPv4Address: endpoint.IPv4Address ?? "", MacAddress: endpoint.MacAddress ?? "" };
      const next: ContainerNetworkConfig = { ...cfg, Networks: { ...cfg.Networks, [net.Id]: req } };
      this.#checkRequests({ ...next, Networks: { [net.Id]: req } }, { ...c, HostConfig: { ...c.HostConfig, PortBindings: {}, PublishAllPorts: false } });
      const live = this.#live.get(c.Id);
      if (live && c.State.Running) {
        await live.wiring;
        const plan = this.#plans.get(net.Id)!;
        const used = this.#usedOn(net.Id);
        const ip = req.IPv4Address ? claimAddress(plan, used, req.IPv4Address) : allocateAddress(plan, used, this.#last.get(net.Id));
        const endpointId = randomBytes(32).toString("hex");
        const ifName = `eth${Object.keys(live.sandbox.Endpoints).length}`;
        const ep: Endpoint = { EndpointID: endpointId, NetworkID: net.Id, IPAddress: formatIpv4(ip), IPPrefixLen: plan.subnet.prefix, Gateway: net.Internal ? "" : formatIpv4(plan.gateway), MacAddress: req.MacAddress || macOf(ip), HostIf: `veth${endpointId.slice(0, 11)}`, IfName: ifName };
        const p: EndpointPlan = { ifName, hostIf: ep.HostIf, bridge: net.Bridge, address: ep.IPAddress, prefix: ep.IPPrefixLen, mac: ep.MacAddress, mtu: this.#mtu };
        const hadGateway = Object.values(live.sandbox.Endpoints).some((e) => e.Gateway);
        await wireNamespace(live.sandbox.Netns, [p], hadGateway ? undefined : ep.Gateway || undefined, false);
        live.sandbox.Endpoints[net.Id] = ep;
        await writeJsonAtomic(join(this.#sandboxDir, `${c.Id}.json`), live.sandbox, SANDBOX_WRITE);
        this.#o.events?.publish("network", "connect", net.Id, { container: c.Id, name: net.Name, type: "bridge" });
      }
      await this.#saveConfig(c, next);
    });
  }

  async disconnect(netRef: string, c: ContainerView, force = false): Promise<void> {
    const net = this.get(netRef);
    await this.#locks.run(`c:${c.Id}`, async () => {
      const cfg = await this.#config(c);
      if (!cfg.Networks[net.Id]) {
        if (force) return;
        throw wharfError("forbidden", `container ${c.Id} is not connected to network ${net.Name}`);
      }
      const live = this.#live.get(c.Id);
      const ep = live?.sandbox.Endpoints[net.Id];
      if (live && ep) {
        await live.wiring;
        await inNamespace(live.sandbox.Netns, [`link del ${ep.IfName}`]).catch(() => deleteLink(ep.HostIf));
        delete live.sandbox.Endpoints[net.Id];
        await writeJsonAtomic(join(this.#sandboxDir, `${c.Id}.json`), live.sandbox, SANDBOX_WRITE);
        this.#o.events?.publish("network", "disconnect", net.Id, { container: c.Id, name: net.Name, type: "bridge" });
      }
      const networks = { ...cfg.Networks };
      delete networks[net.Id];
      await this.#saveConfig(c, { ...cfg, Networks: networks });
    });
  }

  // ---- the container's files ---------------------------------------------------

  #hostGateway(): string {
    const def = this.#byName("bridge");
    const plan = def ? this.#plans.get(def.Id) : undefined;
    return plan ? formatIpv4(plan.gateway) : "";
  }

  async #writeHosts(c: ContainerView, sandbox: Sandbox | undefined): Promise<void> {
    const lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"];
    for (const h of c.HostConfig.ExtraHosts ?? []) {
      const i = h.indexOf(":");
      const ip = h.slice(i + 1) === "host-gateway" ? this.#hostGateway() : h.slice(i + 1);
      lines.push(`${ip}\t${h.slice(0, i)}`);
    }
    const ep = sandbox ? Object.values(sandbox.Endpoints)[0] : undefined;
    const host = c.Config.Hostname;
    if (ep) lines.push(`${ep.IPAddress}\t${c.Config.Domainname ? `${host}.${c.Config.Domainname} ` : ""}${host}`);
    await writeFile(c.HostsPath, lines.join("\n") + "\n");
  }

  async #writeResolv(c: ContainerView, cfg: ContainerNetworkConfig): Promise<void> {
    const userNet = Object.keys(cfg.Networks).map((id) => this.#networks.get(id)).find((n) => n && !n.Predefined && this.#dns.has(n.Id));
    if (!userNet) return; // the default bridge: the engine's file (host's resolvers) stands
    const hostText = await readFile(this.#o.hostResolvConf ?? "/etc/resolv.conf", "utf8").catch(() => "");
    const search = c.HostConfig.DnsSearch.length > 0 ? c.HostConfig.DnsSearch.filter((s) => s !== ".") : (/^\s*search\s+(.*)$/m.exec(hostText)?.[1]?.trim().split(/\s+/) ?? []);
    const options = c.HostConfig.DnsOptions.length > 0 ? [...c.HostConfig.DnsOptions] : (/^\s*options\s+(.*)$/m.exec(hostText)?.[1]?.trim().split(/\s+/) ?? []);
    const out: string[] = [];
    if (search.length > 0) out.push(`search ${search.join(" ")}`);
    // --dns names the servers the embedded one forwards to in docker; here, they follow it.
    out.push(`nameserver ${formatIpv4(this.#plans.get(userNet.Id)!.gateway)}`);
    for (const d of c.HostConfig.Dns) out.push(`nameserver ${d}`);
    if (options.length > 0) out.push(`options ${options.join(" ")}`);
    await writeFile(c.ResolvConfPath, out.join("\n") + "\n");
  }

  async #writeHostModeFiles(c: ContainerView): Promise<void> {
    if (c.HostConfig.Dns.length === 0 && c.HostConfig.DnsSearch.length === 0 && c.HostConfig.DnsOptions.length === 0) {
      const host = await readFile(this.#o.hostResolvConf ?? "/etc/resolv.conf", "utf8").catch(() => undefined);
      if (host !== undefined) await writeFile(c.ResolvConfPath, host);
    }
  }

  // ---- rules --------------------------------------------------------------------

  /** Writes wharf's nft table from the networks and the ports of running containers; one at a time, each from the state of its turn. */
  #applyRules(): Promise<void> {
    const next = this.#nftTail.then(() => {
      const networks = [...this.#networks.values()].filter((n) => n.Driver === "bridge").map((n) => ({ bridge: n.Bridge, subnet: formatSubnet(this.#plans.get(n.Id)!.subnet), internal: n.Internal }));
      const ports: TablePort[] = [];
      for (const l of this.#live.values()) {
        const primary = Object.values(l.sandbox.Endpoints)[0];
        if (!primary) continue;
        for (const p of l.sandbox.Ports) ports.push({ ...p, ContainerIp: primary.IPAddress });
      }
      return applyNft(renderTable(this.#table, { networks, ports }));
    });
    this.#nftTail = next.catch(() => {});
    return next;
  }

  /**
   * Makes iptables' FORWARD chain accept what wharf's bridges carry (see
   * nft.ts): with dockerd's (or ufw's) FORWARD policy DROP, containers would
   * otherwise reach neither each other across the bridge nor the outside.
   * Done when the bridges change; a failure is logged, the network works
   * wherever FORWARD accepts.
   */
  #applyFilter(): Promise<void> {
    const next = this.#nftTail.then(async () => {
      const bridges = [...this.#networks.values()].filter((n) => n.Driver === "bridge").map((n) => n.Bridge);
      const handles = jumpHandles(await listForward(), filterChainName(this.#table));
      await applyNft(renderFilterAccept(this.#table, bridges, handles));
    });
    this.#nftTail = next.catch(() => {});
    return next.catch((e: unknown) => this.#logger.warn("accepting wharf's bridges in iptables' FORWARD failed", { error: asWharfError(e, "nft").message }));
  }

  // ---- what inspect shows ---------------------------------------------------------

  /** A running container's sandbox; undefined when it has none. */
  sandboxOf(id: string): Sandbox | undefined {
    return this.#live.get(id)?.sandbox;
  }

  configOf(c: ContainerView): Promise<ContainerNetworkConfig> {
    return this.#config(c);
  }

  name(netId: string): string {
    return this.#networks.get(netId)?.Name ?? netId;
  }

  async close(): Promise<void> {
    for (const d of this.#dns.values()) await d.close();
    this.#dns.clear();
    for (const l of this.#live.values()) for (const p of l.proxies.splice(0)) await p.close().catch(() => {});
  }
}

function planOf(n: NetworkRecord): AddressPlan {
  const c = n.IPAM.Config[0]!;
  return planAddresses(c.Subnet, c.Gateway, c.IPRange);
}

function newRecord(name: string, driver: NetworkRecord["Driver"], predefined: boolean): NetworkRecord {
  return {
    Name: name,
    Id: randomBytes(32).toString("hex"),
    Created: new Date().toISOString(),
    Scope: "local",
    Driver: driver,
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: driver === "bridge" && !predefined ? {} : null, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Options: {},
    Labels: {},
    Bridge: "",
    Predefined: predefined,
  };
}

/** docker's MAC for an address: 02:42 and the four bytes of the IPv4 address. */
export function macOf(ip: number): string {
  return ["02", "42", ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}


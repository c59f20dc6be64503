// distribution/hosts: how wharf reaches a registry — the endpoints to try for
// a registry name (its mirrors first: `--registry-mirror` for Docker Hub, and
// for any registry the hosts of `<certs-dir>/<registry>/hosts.toml`, in
// containerd's format), whether plain HTTP or an unverified certificate is
// allowed (configured insecure registries, and loopback as docker allows it),
// and the CA certificates and client certificate of each host from a certs.d
// directory (`<dir>/<host>/ca.crt`).
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname, isAbsolute, join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { DEFAULT_DOMAIN } from "../oci/index.js";
import { errnoCode, wharfError } from "../internal/index.js";

/** Docker Hub's API host: `docker.io` names are served from here. */
export const DOCKER_HUB_HOST = "registry-1.docker.io";
export const DEFAULT_CERTS_DIR = "/etc/wharf/certs.d";

export interface RegistryConfig {
  /** Mirrors for Docker Hub (`https://mirror.example:5000`), tried in order before the hub. */
  readonly mirrors?: readonly string[];
  /** `host[:port]` or CIDR (`10.0.0.0/8`) of registries that may be reached over HTTP or without a verified certificate. */
  readonly insecure?: readonly string[];
  /** Directory of per-host TLS material (`<dir>/<host[:port]>/ca.crt`, `client.cert`, `client.key`). */
  readonly certsDir?: string;
  /** Loopback registries are insecure unless this is false (dockerd always treats them so). */
  readonly loopbackInsecure?: boolean;
}

/** One way to reach a registry: scheme and authority (`127.0.0.1:5000`). */
export interface Endpoint {
  readonly scheme: "https" | "http";
  readonly host: string;
  /** Skip certificate verification (insecure registries only). */
  readonly skipVerify: boolean;
  /** A mirror answers pulls only, and gets no credentials. */
  readonly mirror: boolean;
  /** Whether tags may be resolved here (false for a hosts.toml mirror without the `resolve` capability: by digest only). */
  readonly resolve: boolean;
  /** The registry a hosts.toml mirror stands for, sent as `?ns=` as containerd does, so one mirror can serve several. */
  readonly namespace?: string;
  /** CA certificate files for this host named by hosts.toml (beside certs.d's own). */
  readonly ca?: readonly string[];
}

/** What a registry's hosts.toml says: the registry's own server, and the mirrors before it. */
export interface HostsFile {
  readonly server?: Endpoint;
  readonly mirrors: readonly Endpoint[];
}

const HOST_KEYS = new Set(["capabilities", "skip_verify", "ca"]);

/** An endpoint at an http(s) URL's scheme and authority. */
function endpointAt(url: URL, rest: Omit<Endpoint, "scheme" | "host">): Endpoint {
  return { scheme: url.protocol === "http:" ? "http" : "https", host: url.host, ...rest };
}
const CAPABILITIES = new Set(["pull", "resolve", "push"]);

function hostUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${what} ${JSON.stringify(text)} is not a URL`);
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || !["", "/", "/v2", "/v2/"].includes(url.pathname) || url.search || url.username) {
    throw new Error(`${what} ${JSON.stringify(text)}: expected http(s)://host[:port] without path`);
  }
  return url;
}

function caFiles(value: unknown, base: string, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || !list.every((x): x is string => typeof x === "string")) throw new Error(`${what}: ca must be a path or a list of paths`);
  return list.map((f) => (isAbsolute(f) ? f : join(base, f)));
}

/**
 * Parses a registry's hosts.toml (containerd's format): `server` (the registry
 * itself, default `https://<registry>`), top-level `skip_verify` and `ca` for
 * it, and `[host."URL"]` tables with `capabilities` (`pull`, `resolve`; `push`
 * is accepted, pushes go to the server), `skip_verify` and `ca`. Hosts are
 * mirrors tried in file order; those without `pull` are not used.
 */
export function parseHostsFile(text: string, file: string, domain: string, insecure: (authority: string) => boolean): HostsFile {
  const fail = (why: string) => wharfError("invalid-argument", `invalid registry hosts file ${file}: ${why}`);
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw fail((e as Error).message.split("\n")[0] ?? "not TOML");
  }
  const base = dirname(file);
  try {
    for (const key of Object.keys(doc)) if (!["server", "host", "skip_verify", "ca"].includes(key)) throw new Error(`unknown key ${JSON.stringify(key)}`);
    const skip = (v: unknown, what: string): boolean | undefined => {
      if (v !== undefined && typeof v !== "boolean") throw new Error(`${what}: skip_verify must be true or false`);
      return v;
    };
    let server: Endpoint | undefined;
    if (doc["server"] !== undefined || doc["skip_verify"] !== undefined || doc["ca"] !== undefined) {
      if (doc["server"] !== undefined && typeof doc["server"] !== "string") throw new Error("server must be a URL");
      const url = hostUrl((doc["server"] as string | undefined) ?? `https://${domain}`, "server");
      const ca = caFiles(doc["ca"], base, "server");
      server = endpointAt(url, { skipVerify: skip(doc["skip_verify"], "server") ?? insecure(url.host), mirror: false, resolve: true, ...(ca ? { ca } : {}) });
    }
    const mirrors: Endpoint[] = [];
    const hosts = doc["host"] ?? {};
    if (typeof hosts !== "object" || hosts === null || Array.isArray(hosts)) throw new Error("host must be a table of [host.\"URL\"] entries");
    for (const [name, value] of Object.entries(hosts as Record<string, unknown>)) {
      const what = `host ${JSON.stringify(name)}`;
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what} must be a table`);
      const entry = value as Record<string, unknown>;
      for (const key of Object.keys(entry)) if (!HOST_KEYS.has(key)) throw new Error(`${what}: unknown key ${JSON.stringify(key)}`);
      const url = hostUrl(name, "host");
      const caps = entry["capabilities"] ?? ["pull", "resolve"];
      if (!Array.isArray(caps) || !caps.every((c): c is string => typeof c === "string" && CAPABILITIES.has(c))) throw new Error(`${what}: capabilities must be a list of "pull", "resolve", "push"`);
      if (!caps.includes("pull")) continue;
      const ca = caFiles(entry["ca"], base, what);
      mirrors.push(endpointAt(url, { skipVerify: skip(entry["skip_verify"], what) ?? insecure(url.host), mirror: true, resolve: caps.includes("resolve"), namespace: domain, ...(ca ? { ca } : {}) }));
    }
    return { ...(server ? { server } : {}), mirrors };
  } catch (e) {
    throw fail((e as Error).message);
  }
}

export interface TlsMaterial {
  readonly ca?: Buffer[];
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

function hostOnly(authority: string): string {
  if (authority.startsWith("[")) return authority.slice(1, authority.indexOf("]"));
  const i = authority.lastIndexOf(":");
  return i === -1 || authority.indexOf(":") !== i ? authority : authority.slice(0, i);
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  if (!net || isIP(net) !== 4 || isIP(ip) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (ipv4ToInt(ip) & mask) === (ipv4ToInt(net) & mask);
}

/** Loopback as dockerd treats it: insecure unless configured otherwise. */
export function isLoopback(authority: string): boolean {
  const h = hostOnly(authority).toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && inCidr(h, "127.0.0.0/8"));
}

/** Parses an `--insecure-registry` value; throws invalid-argument on anything that is not a host, host:port or CIDR. */
export function parseInsecureEntry(text: string): string {
  const v = text.trim().replace(/^https?:\/\//, "").replace(/\/$/, "");
  if (v.includes("/")) {
    const [net, bits] = v.split("/");
    if (!net || isIP(net) !== 4 || !/^\d{1,2}$/.test(bits ?? "") || Number(bits) > 32) throw wharfError("invalid-argument", `invalid insecure registry ${JSON.stringify(text)}: expected host[:port] or an IPv4 CIDR`);
    return v;
  }
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d+)?$/.test(v)) throw wharfError("invalid-argument", `invalid insecure registry ${JSON.stringify(text)}: expected host[:port] or an IPv4 CIDR`);
  return v;
}

/** Parses a `--registry-mirror` value: an http(s) URL without path. */
export function parseMirror(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw wharfError("invalid-argument", `invalid registry mirror ${JSON.stringify(text)}: expected a URL such as https://mirror.example`);
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || (url.pathname !== "/" && url.pathname !== "") || url.search || url.username) {
    throw wharfError("invalid-argument", `invalid registry mirror ${JSON.stringify(text)}: expected http(s)://host[:port] without path`);
  }
  return `${url.protocol}//${url.host}`;
}

export class RegistryHosts {
  readonly #config: RegistryConfig;
  readonly #tls = new Map<string, Promise<TlsMaterial>>();

  constructor(config: RegistryConfig = {}) {
    this.#config = config;
  }

  /** Whether the registry may be reached over HTTP or with an unverified certificate. */
  isInsecure(authority: string): boolean {
    const lower = authority.toLowerCase();
    const host = hostOnly(lower);
    for (const entry of this.#config.insecure ?? []) {
      const e = entry.toLowerCase();
      if (e.includes("/")) {
        if (inCidr(host, e)) return true;
      } else if (e === lower || e === host) {
        return true;
      }
    }
    return this.#config.loopbackInsecure !== false && isLoopback(lower);
  }

  /** The registry's own API host for a reference domain (`docker.io` → registry-1.docker.io). */
  apiHost(domain: string): string {
    return domain === DEFAULT_DOMAIN ? DOCKER_HUB_HOST : domain;
  }

  /**
   * The registry's hosts.toml from certs.d, read on every call (it is small,
   * and an edit takes effect at the next pull); undefined when there is none.
   */
  hostsFile(domain: string): HostsFile | undefined {
    const file = join(this.#config.certsDir ?? DEFAULT_CERTS_DIR, domain.replace(/[/\\]/g, "_"), "hosts.toml");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
      throw wharfError("invalid-argument", `read registry hosts file ${file}: ${(e as Error).message}`, e);
    }
    return parseHostsFile(text, file, domain, (a) => this.isInsecure(a));
  }

  /**
   * Endpoints to try, in order. Pulls go to the registry's mirrors first
   * (hosts.toml's, then `--registry-mirror` for Docker Hub); pushes go to the
   * registry only. An insecure registry is tried over HTTPS without
   * verification, then HTTP; a hosts.toml `server` is used as it is given.
   */
  endpoints(domain: string, purpose: "pull" | "push"): Endpoint[] {
    const out: Endpoint[] = [];
    const file = this.hostsFile(domain);
    if (purpose === "pull") {
      out.push(...(file?.mirrors ?? []));
      if (domain === DEFAULT_DOMAIN) {
        for (const m of this.#config.mirrors ?? []) {
          const url = new URL(m);
          out.push(endpointAt(url, { skipVerify: this.isInsecure(url.host), mirror: true, resolve: true }));
        }
      }
    }
    if (file?.server) {
      out.push(file.server);
      return out;
    }
    const host = this.apiHost(domain);
    const insecure = this.isInsecure(host);
    out.push({ scheme: "https", host, skipVerify: insecure, mirror: false, resolve: true });
    if (insecure) out.push({ scheme: "http", host, skipVerify: false, mirror: false, resolve: true });
    return out;
  }

  /** CA certificates and client certificate for a host from certs.d, and the extra CA files hosts.toml names for it; empty when there are none. */
  tls(authority: string, extraCa: readonly string[] = []): Promise<TlsMaterial> {
    const key = [authority, ...extraCa].join("\0");
    let p = this.#tls.get(key);
    if (!p) {
      p = readTlsDir(join(this.#config.certsDir ?? DEFAULT_CERTS_DIR, authority.replace(/[/\\]/g, "_"))).then(async (own) => {
        if (extraCa.length === 0) return own;
        const ca = [...(own.ca ?? [])];
        for (const f of extraCa) {
          try {
            ca.push(await readFile(f));
          } catch (e) {
            throw wharfError("invalid-argument", `read registry CA certificate ${f}: ${(e as Error).message}`, e);
          }
        }
        return { ...own, ca };
      });
      p.catch(() => this.#tls.delete(key));
      this.#tls.set(key, p);
    }
    return p;
  }
}

async function readTlsDir(dir: string): Promise<TlsMaterial> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return {};
    throw wharfError("invalid-argument", `read registry certificates in ${dir}: ${(e as Error).message}`, e);
  }
  const ca: Buffer[] = [];
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  for (const name of names) {
    if (name.endsWith(".crt")) ca.push(await readFile(join(dir, name)));
    else if (name.endsWith(".cert")) {
      const keyName = name.slice(0, -".cert".length) + ".key";
      if (!names.includes(keyName)) throw wharfError("invalid-argument", `registry client certificate ${join(dir, name)} has no key ${keyName}`);
      cert = await readFile(join(dir, name));
      key = await readFile(join(dir, keyName));
    }
  }
  return { ...(ca.length ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

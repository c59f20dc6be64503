// distribution/hosts: how wharf reaches a registry — the endpoints to try for
// a registry name (mirrors first for Docker Hub), whether plain HTTP or an
// unverified certificate is allowed (configured insecure registries, and
// loopback as docker allows it), and the CA certificates and client
// certificate of each host from a certs.d directory (`<dir>/<host>/ca.crt`).
import { readdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
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
  /** A mirror answers pulls only. */
  readonly mirror: boolean;
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
   * Endpoints to try, in order. Pulls from Docker Hub go to the mirrors first.
   * An insecure registry is tried over HTTPS without verification, then HTTP.
   */
  endpoints(domain: string, purpose: "pull" | "push"): Endpoint[] {
    const out: Endpoint[] = [];
    if (domain === DEFAULT_DOMAIN && purpose === "pull") {
      for (const m of this.#config.mirrors ?? []) {
        const url = new URL(m);
        const insecure = this.isInsecure(url.host);
        out.push({ scheme: url.protocol === "http:" ? "http" : "https", host: url.host, skipVerify: insecure, mirror: true });
      }
    }
    const host = this.apiHost(domain);
    const insecure = this.isInsecure(host);
    out.push({ scheme: "https", host, skipVerify: insecure, mirror: false });
    if (insecure) out.push({ scheme: "http", host, skipVerify: false, mirror: false });
    return out;
  }

  /** CA certificates and client certificate for a host from certs.d; empty when the directory has none. */
  tls(authority: string): Promise<TlsMaterial> {
    let p = this.#tls.get(authority);
    if (!p) {
      p = readTlsDir(join(this.#config.certsDir ?? DEFAULT_CERTS_DIR, authority.replace(/[/\\]/g, "_")));
      this.#tls.set(authority, p);
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

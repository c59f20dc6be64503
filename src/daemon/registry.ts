// `wharfd --registry-addr` / `--registry-config`: the registry module over the
// daemon's own content store and image store (registry-index.ts), with what
// the standalone registry's config file says of TLS, authentication and
// limits, and how repository names map to local image names.
import { join } from "node:path";
import type { ImageStore } from "../image/index.js";
import type { Logger } from "../internal/index.js";
import { wharfError } from "../internal/index.js";
import { buildConfig, FsRepositoryIndex, isLoopback, parseAddr, readConfigFile, startRegistry, type RegistryConfig } from "../registry/index.js";
import { ImageRepositoryIndex, NameMap } from "./registry-index.js";

export interface DaemonRegistry {
  readonly url: string;
  close(): Promise<void>;
}

/** What wharfd's flags say of its registry: `--registry-addr` and `--registry-config`. */
export interface DaemonRegistryFlags {
  /** host:port, as given. */
  readonly addr?: string;
  readonly configFile?: string;
}

export interface DaemonRegistryConfig {
  readonly config: RegistryConfig;
  readonly names: NameMap;
}

/** Keys of the standalone registry's config file that say nothing to wharfd's: it serves its own store, collects with it and logs with the daemon. */
const STANDALONE_ONLY = ["root", "gc", "logLevel"];

/**
 * The config file's JSON (the standalone registry's keys, and `names`:
 * `{ "prefix": "localhost:5000/" }`) with the flags over it. Plain HTTP on
 * an address other than loopback is refused unless the file asks for it.
 */
export function buildDaemonRegistryConfig(file: Record<string, unknown>, flags: DaemonRegistryFlags): DaemonRegistryConfig {
  const where = flags.configFile !== undefined ? `--registry-config ${JSON.stringify(flags.configFile)}` : "--registry-config";
  for (const key of STANDALONE_ONLY) {
    if (key in file) throw wharfError("invalid-argument", `${where}: "${key}" is for wharf registry serve; wharfd's registry serves its own image store`);
  }
  const { names: namesJson, ...rest } = file;
  let names = NameMap.familiar;
  if (namesJson !== undefined) {
    if (typeof namesJson !== "object" || namesJson === null || Array.isArray(namesJson)) throw wharfError("invalid-argument", `${where}: names: expected an object`);
    const n = namesJson as Record<string, unknown>;
    for (const k of Object.keys(n)) if (k !== "prefix") throw wharfError("invalid-argument", `${where}: names: unknown key ${JSON.stringify(k)} (known: prefix)`);
    if (n.prefix !== undefined) {
      if (typeof n.prefix !== "string") throw wharfError("invalid-argument", `${where}: names.prefix: expected a string`);
      if (n.prefix !== "") names = NameMap.prefixed(n.prefix);
    }
  }
  const addrText = flags.addr ?? (typeof rest.addr === "string" ? rest.addr : "127.0.0.1:5000");
  const addr = parseAddr(addrText);
  if (!isLoopback(addr.host) && rest.tls === undefined && rest.insecureHttp !== true) {
    throw wharfError("invalid-argument", `refusing plain HTTP for wharfd's registry on ${addrText}, which is not a loopback address: give tls.cert and tls.key in --registry-config, or insecureHttp: true`);
  }
  const config = buildConfig(rest, { ...(flags.addr !== undefined ? { addr: flags.addr } : {}), tokenAuth: false, anonymousPull: false, insecureHttp: false, help: false });
  // The daemon's own garbage collection keeps what the registry holds (a lease): the registry never collects.
  return { config: { ...config, gc: { ...config.gc, intervalSeconds: 0 } }, names };
}

export async function loadDaemonRegistryConfig(flags: DaemonRegistryFlags): Promise<DaemonRegistryConfig> {
  const file = flags.configFile !== undefined ? await readConfigFile(flags.configFile) : {};
  return buildDaemonRegistryConfig(file, flags);
}

export async function serveImageRegistry(images: ImageStore, dataRoot: string, served: DaemonRegistryConfig, logger: Logger): Promise<DaemonRegistry> {
  const extra = new FsRepositoryIndex(join(dataRoot, "registry", "repositories"), logger);
  const index = await ImageRepositoryIndex.open(images, extra, logger, served.names);
  // The content store is the daemon's: closing the registry closes only the index.
  const running = await startRegistry(served.config, logger, { blobs: images.content, repositories: index, close: async () => index.close() });
  return { url: running.url, close: () => running.close() };
}

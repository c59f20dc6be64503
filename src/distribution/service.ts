// distribution/service: the engine's face of distribution — pull, push,
// login and remote inspect by reference text, as the API and the container
// create path call them. One instance per daemon: it owns the registry
// client (endpoints, tokens), the in-flight download table shared by every
// pull, and the remembered compressed layers and blob locations.
import {
  hostPlatform,
  parseDocument,
  parsePlatformSpec,
  parseReference,
  type Descriptor,
  type Platform,
  type Reference,
} from "../oci/index.js";
import { nullLogger, wharfError, type Logger } from "../internal/index.js";
import type { Credentials } from "./auth.js";
import { RegistryClient } from "./client.js";
import { RegistryHosts, type RegistryConfig } from "./hosts.js";
import type { RetryPolicy } from "./http.js";
import { DistributionMemory } from "./memory.js";
import { Puller, type PulledImage, type ResolvedImage } from "./pull.js";
import { Pusher, type PushedImage } from "./push.js";
import type { ImageTarget, Progress, StartUnpack } from "./target.js";

export interface DistributionOptions {
  readonly target: ImageTarget;
  readonly registries?: RegistryConfig;
  /** Where the remembered compressed layers and blob locations are kept; in memory only without it. */
  readonly memoryPath?: string;
  readonly startUnpack?: StartUnpack;
  readonly logger?: Logger;
  readonly retry?: RetryPolicy;
  readonly concurrency?: number;
}

export interface RemoteInspect {
  readonly descriptor: Descriptor;
  readonly platforms: readonly Platform[];
}

function parseRef(text: string, action: string): Reference {
  try {
    return parseReference(text);
  } catch (e) {
    throw wharfError("invalid-argument", `${action}: ${(e as Error).message}`);
  }
}

function parsePlatformText(text: string | undefined): Platform | undefined {
  if (!text) return undefined;
  try {
    return parsePlatformSpec(text);
  } catch (e) {
    throw wharfError("invalid-argument", (e as Error).message);
  }
}

export class Distribution {
  readonly client: RegistryClient;
  readonly #puller: Puller;
  readonly #pusher: Pusher;
  readonly #memory: DistributionMemory;

  private constructor(options: DistributionOptions, memory: DistributionMemory) {
    const logger = options.logger ?? nullLogger;
    this.client = new RegistryClient({ hosts: new RegistryHosts(options.registries ?? {}), logger, ...(options.retry ? { retry: options.retry } : {}) });
    this.#memory = memory;
    const common = { client: this.client, target: options.target, memory, logger, ...(options.concurrency ? { concurrency: options.concurrency } : {}) };
    this.#puller = new Puller({ ...common, ...(options.startUnpack ? { startUnpack: options.startUnpack } : {}) });
    this.#pusher = new Pusher(common);
  }

  static async open(options: DistributionOptions): Promise<Distribution> {
    return new Distribution(options, await DistributionMemory.open(options.memoryPath, options.logger));
  }

  /**
   * Pulls `name` (`busybox`, `host:5000/a/b:tag`, `…@sha256:…`) into the
   * image store. `platform` is `os[/arch[/variant]]`. The entry point the
   * container create path uses for a missing image.
   */
  async pull(name: string, options: { credentials?: Credentials | undefined; platform?: string | undefined; allTags?: boolean; progress?: Progress; signal?: AbortSignal } = {}): Promise<PulledImage[]> {
    const ref = parseRef(name, "pull");
    const platform = parsePlatformText(options.platform);
    return this.#puller.pull(ref, {
      credentials: options.credentials,
      platform,
      ...(options.allTags ? { allTags: true } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async push(name: string, options: { credentials?: Credentials | undefined; allTags?: boolean; progress?: Progress; signal?: AbortSignal } = {}): Promise<PushedImage[]> {
    const ref = parseRef(name, "push");
    const result = await this.#pusher.push(ref, {
      credentials: options.credentials,
      ...(options.allTags ? { allTags: true } : {}),
      ...(options.progress ? { progress: options.progress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await this.#memory.flush();
    return result;
  }

  /** Checks credentials against a registry (`docker login`); `server` is a host or URL, Docker Hub when empty. */
  async login(server: string, credentials: Credentials, signal?: AbortSignal): Promise<void> {
    await this.client.login(registryDomain(server), credentials, signal);
  }

  /** The descriptor a reference names in its registry, and the platforms it offers (`GET /distribution/{name}/json`). */
  async inspect(name: string, credentials?: Credentials, signal?: AbortSignal): Promise<RemoteInspect> {
    const ref = parseRef(name, "inspect");
    const repo = this.client.repository(ref.domain, ref.path, { credentials, purpose: "pull" });
    const m = await repo.getManifest(ref.digest ?? ref.tag ?? "latest", signal);
    let doc;
    try {
      doc = parseDocument(m.bytes, m.mediaType || undefined);
    } catch (e) {
      throw wharfError("invalid-argument", `manifest of ${name}: ${(e as Error).message}`);
    }
    const descriptor: Descriptor = { mediaType: doc.mediaType, digest: m.digest, size: m.bytes.length };
    if (doc.kind === "index") return { descriptor, platforms: doc.index.manifests.flatMap((d) => (d.platform ? [d.platform] : [])) };
    const cfg = await repo.getDocumentBlob(doc.manifest.config, signal).catch(() => undefined);
    let platform: Platform = hostPlatform();
    if (cfg) {
      try {
        const c = JSON.parse(cfg.toString("utf8")) as { os?: unknown; architecture?: unknown; variant?: unknown };
        if (typeof c.os === "string" && typeof c.architecture === "string") platform = { os: c.os, architecture: c.architecture, ...(typeof c.variant === "string" ? { variant: c.variant } : {}) };
      } catch {
        // keep the host's
      }
    }
    return { descriptor, platforms: [platform] };
  }

  /**
   * The image a reference names in its registry, for a platform (`os[/arch[/variant]]`, the
   * host's by default): its manifest and config, fetched and checked as a pull would, stored nowhere.
   */
  async remoteImage(name: string, options: { credentials?: Credentials | undefined; platform?: string | undefined; signal?: AbortSignal } = {}): Promise<{ reference: Reference; image: ResolvedImage }> {
    const ref = parseRef(name, "inspect");
    const repo = this.client.repository(ref.domain, ref.path, { credentials: options.credentials, purpose: "pull" });
    return { reference: ref, image: await this.#puller.resolve(repo, ref, parsePlatformText(options.platform), options.signal) };
  }

  /** The manifest bytes a reference names, as `manifest inspect` shows them. */
  async manifest(name: string, credentials?: Credentials, signal?: AbortSignal): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const ref = parseRef(name, "manifest inspect");
    const repo = this.client.repository(ref.domain, ref.path, { credentials, purpose: "pull" });
    const m = await repo.getManifest(ref.digest ?? ref.tag ?? "latest", signal);
    return { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest };
  }
}

/** `https://index.docker.io/v1/`, `docker.io`, `` → docker.io; `host:5000` or `https://host:5000/` → host:5000. */
export function registryDomain(server: string): string {
  let s = server.trim();
  if (s === "") return "docker.io";
  s = s.replace(/^https?:\/\//, "");
  s = s.split("/")[0]!;
  if (s === "index.docker.io" || s === "registry-1.docker.io" || s === "docker.io" || s === "registry.hub.docker.com") return "docker.io";
  return s;
}

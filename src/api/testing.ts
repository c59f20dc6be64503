// Test support for the API: an in-memory ImageService (images made from a few
// facts, names resolved as the real store resolves them, byte streams that
// count what passes so tests can see whether anything was buffered), a server
// over it on a temporary socket, and a small HTTP client.
import { mkdtemp, rm } from "node:fs/promises";
import { request, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { chainIds, digestOf, familiarString, formatReference, MediaType, parseReference, withDefaultTag, type Digest, type ImageConfig, type Reference } from "../oci/index.js";
import { jsonLogger, wharfError } from "../internal/index.js";
import { engineServer, type EngineFacts, type HostFacts } from "./index.js";
import type { ApiServer } from "./server.js";
import type { DeleteItem, DiskUsage, HistoryItem, ImageFilters, ImageService, ImageView, ImportOptions, LoadResult, PruneResult, SaveFormat } from "../image/index.js";

export interface FakeImageSpec {
  readonly tags?: readonly string[];
  readonly digests?: readonly string[];
  readonly created?: string;
  readonly labels?: Record<string, string>;
  readonly cmd?: string[];
  /** Uncompressed sizes of the layers; one per layer. */
  readonly layers?: readonly number[];
  /** Makes the id unique when everything else is equal. */
  readonly seed?: string;
  readonly noConfig?: boolean;
}

function ref(text: string): Reference {
  try {
    return parseReference(text);
  } catch (e) {
    throw wharfError("invalid-argument", (e as Error).message);
  }
}

export class FakeImages implements ImageService {
  readonly #images = new Map<Digest, ImageView>();
  /** Full names (`docker.io/library/busybox:latest`) → image id. */
  readonly #names = new Map<string, Digest>();
  /** Calls of import, with their options, for assertions. */
  readonly imports: { bytes: number; options: ImportOptions }[] = [];
  /** Bytes load has read so far. */
  loadedBytes = 0;
  /** How long load waits before reading its first byte. */
  loadDelayMs = 0;
  /** Size of the archive save produces, and how much it has produced. */
  saveBytes = 1024;
  savedBytes = 0;
  /** Thrown by every call when set: a bug in the service. */
  failWith: unknown;

  add(spec: FakeImageSpec = {}): ImageView {
    const diffIds = (spec.layers ?? [100]).map((size, i) => digestOf(`layer ${i} ${size} ${spec.seed ?? ""}`));
    const created = spec.created ?? "2024-05-01T10:00:00.123456789Z";
    const config: ImageConfig = {
      architecture: "amd64",
      os: "linux",
      created,
      ...(spec.noConfig ? {} : { config: { Env: ["PATH=/bin"], Cmd: spec.cmd ?? ["sh"], ...(spec.labels ? { Labels: spec.labels } : {}) } }),
      rootfs: { type: "layers", diff_ids: diffIds },
      history: diffIds.map(() => ({ created, created_by: "/bin/sh -c #(nop) ADD file:x in / " })),
    };
    const configBytes = JSON.stringify(config);
    const id = digestOf(configBytes);
    const chains = chainIds(diffIds);
    const layers = diffIds.map((diffId, i) => ({ diffId, chainId: chains[i]!, size: spec.layers?.[i] ?? 100, contentSize: spec.layers?.[i] ?? 100, descriptor: { mediaType: MediaType.OciLayer, digest: diffId, size: spec.layers?.[i] ?? 100 } }));
    const manifest = { schemaVersion: 2 as const, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: id, size: configBytes.length }, layers: layers.map((l) => l.descriptor) };
    const view: ImageView = {
      id,
      target: { mediaType: MediaType.OciManifest, digest: digestOf(JSON.stringify(manifest)), size: 100 },
      manifest,
      config,
      tags: [],
      digests: (spec.digests ?? []).map(ref),
      layers,
      size: layers.reduce((n, l) => n + l.contentSize, 0),
      storedAt: new Date("2024-05-02T00:00:00Z"),
    };
    this.#images.set(id, view);
    for (const t of spec.tags ?? []) this.#names.set(formatReference(withDefaultTag(ref(t))), id);
    return this.#view(id);
  }

  #view(id: Digest): ImageView {
    const v = this.#images.get(id)!;
    const tags = [...this.#names].filter(([, i]) => i === id).map(([n]) => parseReference(n));
    return { ...v, tags };
  }

  #resolve(nameOrId: string): Digest {
    if (this.failWith !== undefined) throw this.failWith;
    const hex = nameOrId.replace(/^sha256:/, "");
    if (/^[a-f0-9]{4,64}$/.test(hex)) {
      const found = [...this.#images.keys()].filter((id) => id.slice(7).startsWith(hex));
      if (found.length === 1) return found[0]!;
    }
    try {
      const r = parseReference(nameOrId);
      const byDigest = r.digest !== undefined ? [...this.#images.values()].find((v) => v.digests.some((d) => d.digest === r.digest && d.path === r.path)) : undefined;
      if (byDigest) return byDigest.id;
      const id = this.#names.get(formatReference(withDefaultTag(r)));
      if (id) return id;
    } catch {
      // not a name: not found below
    }
    throw wharfError("not-found", `No such image: ${nameOrId}`);
  }

  async list(filters: ImageFilters = {}): Promise<ImageView[]> {
    if (this.failWith !== undefined) throw this.failWith;
    const time = (v: ImageView) => Date.parse(v.config.created ?? "");
    const before = filters.before ? time(this.#view(this.#resolve(filters.before))) : undefined;
    const since = filters.since ? time(this.#view(this.#resolve(filters.since))) : undefined;
    return [...this.#images.keys()]
      .map((id) => this.#view(id))
      .filter((v) => filters.dangling === undefined || (v.tags.length === 0) === filters.dangling)
      .filter((v) => !filters.reference?.length || filters.reference.some((r) => v.tags.some((t) => familiarString(t) === r || familiarString(t).startsWith(`${r}:`))))
      .filter((v) => (filters.label ?? []).every((l) => (l.includes("=") ? v.config.config?.Labels?.[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1) : l in (v.config.config?.Labels ?? {}))))
      .filter((v) => (before === undefined || time(v) < before) && (since === undefined || time(v) > since));
  }

  async get(nameOrId: string): Promise<ImageView> {
    return this.#view(this.#resolve(nameOrId));
  }

  async history(nameOrId: string): Promise<HistoryItem[]> {
    const v = this.#view(this.#resolve(nameOrId));
    return v.layers
      .map((l, i): HistoryItem => ({ id: i === v.layers.length - 1 ? v.id : "<missing>", created: new Date(v.config.created!), createdBy: "/bin/sh -c #(nop) ADD file:x in / ", tags: i === v.layers.length - 1 ? v.tags.map(familiarString) : [], size: l.size, comment: "" }))
      .reverse();
  }

  async tag(source: string, target: string): Promise<void> {
    const id = this.#resolve(source);
    const r = ref(target);
    if (r.digest !== undefined) throw wharfError("invalid-argument", "refusing to create a tag with a digest reference");
    this.#names.set(formatReference(withDefaultTag(r)), id);
  }

  async remove(nameOrId: string, options: { force?: boolean; noPrune?: boolean } = {}): Promise<DeleteItem[]> {
    const id = this.#resolve(nameOrId);
    const names = [...this.#names].filter(([, i]) => i === id).map(([n]) => n);
    let byName: string | undefined;
    try {
      const n = formatReference(withDefaultTag(parseReference(nameOrId)));
      if (this.#names.get(n) === id) byName = n;
    } catch {
      byName = undefined;
    }
    const items: DeleteItem[] = [];
    if (byName) {
      this.#names.delete(byName);
      items.push({ Untagged: familiarString(parseReference(byName)) });
      if (names.length > 1) return items;
    } else {
      if (names.length > 1 && !options.force) throw wharfError("conflict", `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
      for (const n of names) {
        this.#names.delete(n);
        items.push({ Untagged: familiarString(parseReference(n)) });
      }
    }
    this.#images.delete(id);
    items.push({ Deleted: id });
    return items;
  }

  async #drain(source: Readable, onFirst?: (chunk: Buffer) => void): Promise<number> {
    let bytes = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (bytes === 0) onFirst?.(chunk);
      bytes += chunk.length;
    }
    return bytes;
  }

  async import(source: Readable, options: ImportOptions = {}): Promise<ImageView> {
    const bytes = await this.#drain(source, (c) => {
      if (c.subarray(0, 3).toString() === "bad") throw wharfError("invalid-argument", "import: not a tar archive");
    });
    this.imports.push({ bytes, options });
    return this.add({ ...(options.reference ? { tags: [options.reference] } : {}), seed: `import ${this.imports.length}`, layers: [bytes] });
  }

  async load(source: Readable, options: { signal?: AbortSignal } = {}): Promise<LoadResult> {
    if (this.loadDelayMs) await new Promise((r) => setTimeout(r, this.loadDelayMs));
    for await (const chunk of source as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      if (this.loadedBytes === 0 && chunk.subarray(0, 3).toString() === "bad") throw wharfError("invalid-argument", "load: not an image archive");
      this.loadedBytes += chunk.length;
    }
    const tagged = this.add({ tags: ["loaded:latest"], seed: "loaded" });
    const untagged = this.add({ seed: "loaded untagged" });
    return { names: tagged.tags.map(familiarString), ids: [untagged.id] };
  }

  async save(names: readonly string[], _options: { format?: SaveFormat; signal?: AbortSignal } = {}): Promise<Readable> {
    if (names.length === 0) throw wharfError("invalid-argument", "save: no images named");
    for (const n of names) this.#resolve(n);
    // Produced only when read: `savedBytes` shows how far ahead of the client the producer ran.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const stream = new Readable({
      read: () => {
        const left = this.saveBytes - this.savedBytes;
        if (left <= 0) {
          stream.push(null);
          return;
        }
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        this.savedBytes += piece.length;
        stream.push(piece);
      },
    });
    return stream;
  }

  async prune(options: { all?: boolean; filters?: ImageFilters } = {}): Promise<PruneResult> {
    const chosen = await this.list({ ...(options.all ? {} : { dangling: true }), ...(options.filters?.label ? { label: options.filters.label } : {}) });
    const deleted: DeleteItem[] = [];
    let spaceReclaimed = 0;
    for (const v of chosen) {
      deleted.push(...(await this.remove(v.id, { force: true })));
      spaceReclaimed += v.size;
    }
    return { deleted, spaceReclaimed };
  }

  async diskUsage(): Promise<DiskUsage> {
    const views = await this.list();
    return { layersSize: views.reduce((n, v) => n + v.size, 0), images: views.map((image) => ({ image, sharedSize: 0, uniqueSize: image.size, containers: 0 })) };
  }
}

/** Fixed engine and host facts, so answers do not depend on the machine. */
export const testEngine: EngineFacts = {
  version: "0.1.0",
  gitCommit: "abcdef0",
  runtimeVersion: "node20.0.0",
  buildTime: "2024-05-01T00:00:00.000Z",
  id: "8c2a5a1e-1111-4222-8333-944445555666",
  dataRoot: "/var/lib/wharf-test",
  debug: false,
};

export const testHost: HostFacts = {
  hostname: "testhost",
  kernelVersion: "6.1.0-test",
  operatingSystem: "Debian GNU/Linux 12 (bookworm)",
  osVersion: "12",
  arch: "amd64",
  machine: "x86_64",
  ncpu: 4,
  memTotal: 8 * 1024 ** 3,
  cgroupVersion: "2",
  cgroup: { memory: true, swap: true, cpuCfs: true, cpuShares: true, cpuSet: true, pids: true },
  ipv4Forwarding: true,
  backingFilesystem: "extfs",
  openFiles: 20,
  activeHandles: 5,
};

export interface TestServer {
  readonly socket: string;
  readonly images: FakeImages;
  readonly server: ApiServer;
  /** Every log line the server wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** An API server over a FakeImages on a socket in a fresh temporary directory. */
export async function startTestServer(): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-api-test-"));
  const socket = join(dir, "api.sock");
  const images = new FakeImages();
  const logs: Record<string, unknown>[] = [];
  const logger = jsonLogger({ level: "debug", write: (line) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const server = engineServer({ images, engine: testEngine, host: async () => testHost, logger });
  try {
    await server.listen(socket);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    socket,
    images,
    server,
    logs,
    async close() {
      await server.close(100);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly reusedSocket: boolean;
  json<T = unknown>(): T;
  text(): string;
}

/** One request over the socket; the body may be a stream. */
export function call(socket: string, method: string, path: string, options: { body?: string | Buffer | Readable; headers?: OutgoingHttpHeaders; agent?: Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: options.headers ?? {}, ...(options.agent ? { agent: options.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket, json: <T>() => JSON.parse(body.toString()) as T, text: () => body.toString() });
      });
    });
    req.on("error", reject);
    const body = options.body;
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

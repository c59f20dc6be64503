// distribution/push: an image from the image store to a registry.
//
// Per layer, cheapest first: the registry has the blob (HEAD) → nothing to
// send; another repository of the same registry is known to hold it → mount;
// else upload. Layers stored uncompressed (imported, built) are compressed
// once: the compressed bytes stream to the registry and into the content
// store in the same pass, and the compressed digest is remembered, so a later
// push neither compresses nor (when the registry has it) uploads again.
// Layers upload in parallel; the config next; the manifest last, so the
// registry never names an image whose blobs it lacks.
import { PassThrough, Readable } from "node:stream";
import { gzip as gzipCallback } from "node:zlib";
import { promisify } from "node:util";
import {
  Digester,
  familiarString,
  formatReference,
  isIndexType,
  layerCompression,
  MediaType,
  referenceName,
  shortId,
  MAX_DOCUMENT_BYTES,
  type Descriptor,
  type Digest,
  type Manifest,
  type Reference,
} from "../oci/index.js";
import { asWharfError, isKind, nullLogger, wharfError, type Logger } from "../internal/index.js";
import { Slots } from "./pull.js";
import { isNetworkError } from "./http.js";
import type { Credentials } from "./auth.js";
import type { RegistryClient, Repository } from "./client.js";
import type { DistributionMemory } from "./memory.js";
import type { ImageTarget, Progress, StoredImage, StoredLayer } from "./target.js";

export interface PushOptions {
  readonly credentials?: Credentials | undefined;
  /** Every local tag of the repository (also what an empty tag means in the API). */
  readonly allTags?: boolean;
  readonly progress?: Progress;
  readonly signal?: AbortSignal;
}

export interface PushedImage {
  readonly reference: Reference;
  readonly digest: Digest;
  readonly size: number;
}

export interface PusherOptions {
  readonly client: RegistryClient;
  readonly target: ImageTarget;
  readonly memory: DistributionMemory;
  readonly logger?: Logger;
  readonly concurrency?: number;
  /** gzip level for layers stored uncompressed (1 = fastest, as the compressed size matters less than time on a LAN). */
  readonly gzipLevel?: number;
}

const DEFAULT_CONCURRENCY = 4;
const DEFAULT_GZIP_LEVEL = 1;

function gzipTypeFor(manifestType: string | undefined): string {
  return manifestType === MediaType.DockerManifest ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
}

function sameTag(a: Reference, b: Reference): boolean {
  return a.domain === b.domain && a.path === b.path;
}

export class Pusher {
  readonly #o: PusherOptions;
  readonly #logger: Logger;
  /** Compressions in flight, by diffID, shared by concurrent pushes. */
  readonly #compressing = new Map<Digest, Promise<Descriptor>>();

  constructor(options: PusherOptions) {
    this.#o = options;
    this.#logger = options.logger ?? nullLogger;
  }

  async push(ref: Reference, options: PushOptions = {}): Promise<PushedImage[]> {
    const progress = options.progress ?? (() => {});
    if (ref.digest !== undefined) throw wharfError("invalid-argument", `push ${familiarString(ref)}: cannot push a digest reference`);
    const target = this.#o.target;
    let refs: Reference[];
    if (options.allTags || ref.tag === undefined) {
      const images = await target.list();
      refs = images.flatMap((i) => i.tags.filter((t) => sameTag(t, ref))).sort((a, b) => (a.tag ?? "").localeCompare(b.tag ?? ""));
      if (refs.length === 0) throw wharfError("not-found", `An image does not exist locally with the tag: ${familiarString(ref)}`);
    } else {
      refs = [ref];
    }
    const images: StoredImage[] = [];
    for (const r of refs) {
      try {
        images.push(await target.get(formatReference(r)));
      } catch {
        throw wharfError("not-found", `An image does not exist locally with the tag: ${familiarString(r)}`);
      }
    }
    progress({ status: `The push refers to repository [${referenceName(ref)}]` });
    const repo = this.#o.client.repository(ref.domain, ref.path, { credentials: options.credentials, purpose: "push" });
    const out: PushedImage[] = [];
    for (const [i, r] of refs.entries()) {
      try {
        out.push(await this.#pushOne(repo, r, images[i]!, progress, options.signal));
      } catch (e) {
        throw asWharfError(e, `push ${familiarString(r)}`);
      }
    }
    return out;
  }

  async #pushOne(repo: Repository, ref: Reference, image: StoredImage, progress: Progress, signal?: AbortSignal): Promise<PushedImage> {
    const target = this.#o.target;
    const registryRepo = referenceName(ref);
    const manifestType = image.target.mediaType;
    // Layers are listed top first, as docker lists them.
    const layers = [...image.layers].reverse();
    for (const l of layers) progress({ id: shortId(l.diffId), status: "Preparing" });
    const slots = new Slots(this.#o.concurrency ?? DEFAULT_CONCURRENCY);
    const pushed = new Map<Digest, Descriptor>();
    const work = layers.map(async (l) => {
      if (slots.full) progress({ id: shortId(l.diffId), status: "Waiting" });
      using _slot = await slots.acquire(signal);
      pushed.set(l.diffId, await this.#pushLayer(repo, registryRepo, l, manifestType, progress, signal));
    });
    const results = await Promise.allSettled(work);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;

    // The config, then the manifest.
    const configDesc = image.manifest.config;
    if (!(await repo.hasBlob(configDesc.digest, signal, [repo.pushScope]))) {
      await repo.uploadBlob(configDesc, () => Readable.from(this.#readerIterable(configDesc.digest)), signal);
    }
    const unchanged = image.layers.every((l) => pushed.get(l.diffId)?.digest === l.descriptor.digest);
    let bytes: Buffer;
    let mediaType = manifestType;
    if (unchanged) {
      bytes = await target.content.readAll(image.target.digest, MAX_DOCUMENT_BYTES);
    } else {
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: manifestType === MediaType.DockerManifest ? MediaType.DockerManifest : MediaType.OciManifest,
        config: { mediaType: configDesc.mediaType, digest: configDesc.digest, size: configDesc.size },
        layers: image.layers.map((l) => {
          const d = pushed.get(l.diffId)!;
          return { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(d.urls ? { urls: d.urls } : {}) };
        }),
        ...(image.manifest.annotations ? { annotations: image.manifest.annotations } : {}),
      };
      mediaType = manifest.mediaType!;
      bytes = Buffer.from(JSON.stringify(manifest));
    }
    if (isIndexType(mediaType)) throw wharfError("internal", `image ${image.id} is stored with an index as its manifest`);
    const tag = ref.tag ?? "latest";
    const digest = await repo.putManifest(tag, bytes, mediaType, signal);
    // Record the pushed digest, as docker shows it in RepoDigests.
    using lease = target.leases.create();
    const manifestDigest = await target.putDocument(bytes, lease);
    await target.commitImage({
      manifest: { mediaType, digest: manifestDigest, size: bytes.length },
      config: image.config,
      configDigest: image.id,
      layers: image.layers.map((l) => ({ diffId: l.diffId, size: l.size, contentSize: l.contentSize })),
      names: [],
      repoDigests: [`${registryRepo}@${digest}`],
    });
    progress({ status: `${tag}: digest: ${digest} size: ${bytes.length}` });
    progress({ status: "", aux: { Tag: tag, Digest: digest, Size: bytes.length } });
    return { reference: { ...ref, tag }, digest, size: bytes.length };
  }

  async *#readerIterable(digest: Digest): AsyncGenerator<Buffer> {
    yield* (await this.#o.target.content.reader(digest)) as AsyncIterable<Buffer>;
  }

  /** Pushes one layer; returns the descriptor the registry holds it under. */
  async #pushLayer(repo: Repository, registryRepo: string, layer: StoredLayer, manifestType: string, progress: Progress, signal?: AbortSignal): Promise<Descriptor> {
    const id = shortId(layer.diffId);
    const memory = this.#o.memory;
    const content = this.#o.target.content;
    const stored = layer.descriptor;
    const compressed = layerCompression(stored.mediaType) !== "none";
    let desc: Descriptor | undefined = compressed ? stored : memory.compressedOf(layer.diffId);
    if (desc) {
      if (await repo.hasBlob(desc.digest, signal, [repo.pushScope])) {
        memory.rememberRepository(desc.digest, registryRepo);
        progress({ id, status: "Layer already exists" });
        return desc;
      }
      const domain = repo.domain + "/";
      for (const other of memory.repositoriesOf(desc.digest)) {
        if (!other.startsWith(domain) || other === registryRepo) continue;
        const fromPath = other.slice(domain.length);
        if (await repo.mountBlob(desc.digest, fromPath, signal)) {
          memory.rememberRepository(desc.digest, registryRepo);
          progress({ id, status: `Mounted from ${fromPath}` });
          return desc;
        }
      }
      if (await content.has(desc.digest)) {
        await this.#upload(repo, desc, layer, progress, signal);
        memory.rememberRepository(desc.digest, registryRepo);
        progress({ id, status: "Pushed" });
        return desc;
      }
      if (compressed) throw wharfError("not-found", `layer ${stored.digest} is not in the content store`);
    }
    // Uncompressed and never compressed (or its compressed blob was collected): compress once, streaming to the registry.
    desc = await this.#compressAndUpload(repo, layer, manifestType, progress, signal);
    memory.rememberRepository(desc.digest, registryRepo);
    progress({ id, status: "Pushed" });
    return desc;
  }

  async #upload(repo: Repository, desc: Descriptor, layer: StoredLayer, progress: Progress, signal?: AbortSignal): Promise<void> {
    const id = shortId(layer.diffId);
    const content = this.#o.target.content;
    await repo.uploadBlob(
      desc,
      () => {
        let sent = 0;
        let last = 0;
        const out = new PassThrough({ highWaterMark: 1 << 20 });
        out.on("error", () => {}); // reported to the upload, which reads it
        void (async () => {
          try {
            for await (const chunk of (await content.reader(desc.digest)) as AsyncIterable<Buffer>) {
              sent += chunk.length;
              const now = Date.now();
              if (now - last > 100) {
                last = now;
                progress({ id, status: "Pushing", current: sent, total: desc.size });
              }
              if (!out.write(chunk)) await drainOrClose(out);
          if (out.destroyed) throw wharfError("cancelled", "push: the upload stopped reading");
            }
            out.end();
          } catch (e) {
            out.destroy(e as Error);
          }
        })();
        return out;
      },
      signal,
    );
  }

  /** Compresses a stored uncompressed layer once; the bytes go to the registry and the content store together. */
  async #compressAndUpload(repo: Repository, layer: StoredLayer, manifestType: string, progress: Progress, signal?: AbortSignal): Promise<Descriptor> {
    const running = this.#compressing.get(layer.diffId);
    if (running) {
      const d = await running;
      if (!(await repo.hasBlob(d.digest, signal, [repo.pushScope]))) await this.#upload(repo, d, layer, progress, signal);
      return d;
    }
    const p = this.#compressOnce(repo, layer, manifestType, progress, signal);
    this.#compressing.set(layer.diffId, p);
    try {
      return await p;
    } finally {
      this.#compressing.delete(layer.diffId);
    }
  }

  async #compressOnce(repo: Repository, layer: StoredLayer, manifestType: string, progress: Progress, signal?: AbortSignal): Promise<Descriptor> {
    const id = shortId(layer.diffId);
    const content = this.#o.target.content;
    const source = await content.reader(layer.descriptor.digest);
    let read = 0;
    let last = 0;
    const gzip = parallelGzip(source, this.#o.gzipLevel ?? DEFAULT_GZIP_LEVEL, (n) => {
      read += n;
      const now = Date.now();
      if (now - last > 100) {
        last = now;
        progress({ id, status: "Pushing", current: read, total: layer.descriptor.size });
      }
    });
    const digester = new Digester();
    const writer = await content.writer(`push-${layer.diffId.replace(":", "-")}-${process.hrtime.bigint()}`);
    const toRegistry = new PassThrough({ highWaterMark: 1 << 20 });
    // Its failures reach us through the pump and the upload; an 'error' event nobody listens to would end the daemon.
    toRegistry.on("error", () => {});
    const pump = (async () => {
      let pending: Promise<void> = Promise.resolve();
      try {
        for await (const chunk of gzip as AsyncIterable<Buffer>) {
          digester.update(chunk);
          await pending;
          pending = writer.write(chunk);
          pending.catch(() => {});
          if (!toRegistry.write(chunk)) await drainOrClose(toRegistry);
          if (toRegistry.destroyed) throw wharfError("cancelled", "push: the upload stopped reading");
        }
        await pending;
        toRegistry.end();
      } catch (e) {
        toRegistry.destroy(e as Error);
        throw e;
      }
    })();
    pump.catch(() => {});
    let digest: Digest | undefined;
    const finish = async (): Promise<Descriptor> => {
      await pump;
      digest ??= digester.digest();
      const info = await writer.commit({ digest });
      const desc: Descriptor = { mediaType: gzipTypeFor(manifestType), digest: info.digest, size: info.size };
      this.#o.memory.rememberCompressed(layer.diffId, desc);
      return desc;
    };
    try {
      try {
        await repo.streamBlob(toRegistry, () => (digest ??= digester.digest()), signal);
      } catch (e) {
        // The stream cannot be sent again, but the compression goes on into the content store; the stored blob is then uploaded with retries.
        if (signal?.aborted || !(isNetworkError(e) || isKind(e, "unavailable"))) throw e;
        this.#logger.debug("streamed upload failed; uploading the compressed blob", { diffId: layer.diffId, error: e });
        toRegistry.resume();
        const desc = await finish();
        await this.#upload(repo, desc, layer, progress, signal);
        return desc;
      }
      return await finish();
    } catch (e) {
      source.destroy();
      toRegistry.destroy();
      await pump.catch(() => {});
      await writer.abort().catch(() => {});
      const d = digester.size > 0 && digest ? digest : undefined;
      this.#logger.debug("compressed upload failed", { diffId: layer.diffId, digest: d, error: e });
      throw e;
    }
  }
}

const gzipBlock = promisify(gzipCallback);
const GZIP_BLOCK = 4 << 20;
const GZIP_IN_FLIGHT = 3;

/**
 * gzip in independent blocks compressed on the thread pool at once, written
 * in order as consecutive gzip members (RFC 1952 allows a file of several;
 * Go's, Node's and GNU gzip readers read them as one stream). One thread
 * would bound a push by a single core's gzip speed. Deterministic: the same
 * input gives the same bytes, so the digest is stable.
 */
function parallelGzip(source: Readable, level: number, onRead: (bytes: number) => void): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  out.on("error", () => {}); // reported to the reader, which may have stopped reading
  void (async () => {
    const pending: Promise<Buffer>[] = [];
    let parts: Buffer[] = [];
    let size = 0;
    const emit = async (p: Promise<Buffer>) => {
      const chunk = await p;
      if (!out.write(chunk)) await drainOrClose(out);
          if (out.destroyed) throw wharfError("cancelled", "push: the upload stopped reading");
    };
    const cut = async () => {
      const block = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      size = 0;
      const p = gzipBlock(block, { level });
      p.catch(() => {});
      pending.push(p);
      if (pending.length >= GZIP_IN_FLIGHT) await emit(pending.shift()!);
    };
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        parts.push(chunk);
        size += chunk.length;
        onRead(chunk.length);
        if (size >= GZIP_BLOCK) await cut();
      }
      if (size > 0 || pending.length === 0) await cut();
      while (pending.length) await emit(pending.shift()!);
      out.end();
    } catch (e) {
      source.destroy();
      out.destroy(e as Error);
    }
  })();
  return out;
}

/** Waits until a stream takes more bytes, or is gone (a destroyed stream never drains). */
function drainOrClose(stream: PassThrough): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

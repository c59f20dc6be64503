// distribution/pull: an image from a registry into the image store.
//
// manifest (or index → the manifest for the platform) → config → layers.
// Layers download in parallel (bounded), each verified for size and digest
// as it streams into the content store, and unpacked while it streams when
// the target can (else right after its download); they are stacked in order,
// so layer 0 is in place while later ones still download. Layers whose
// snapshot exists are skipped, blobs already stored are not fetched again,
// and a blob that several pulls want at once is fetched once. A dropped
// download resumes with a Range request where it stopped.
//
// The image is recorded only when every layer is in place; a failed pull
// leaves the store as it was (what it wrote is collected), except resumable
// ingests of interrupted downloads, which the next pull continues.
import {
  chainIds,
  familiarName,
  familiarString,
  formatReference,
  formatPlatform,
  hostPlatform,
  parseDocument,
  parseImageConfig,
  referenceName,
  selectPlatform,
  shortId,
  MAX_DOCUMENT_BYTES,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type Manifest,
  type Platform,
  type Reference,
} from "../oci/index.js";
import { asWharfError, isKind, nullLogger, Semaphore, wharfError, type Logger } from "../internal/index.js";
import type { Writer } from "../content/index.js";
import type { Credentials } from "./auth.js";
import type { FetchedManifest, RegistryClient, Repository } from "./client.js";
import { isNetworkError, sleep, backoffMs } from "./http.js";
import type { DistributionMemory } from "./memory.js";
import type { EarlyUnpack, EarlyUnpacks, ImageTarget, Lease, Progress, StartUnpack, StartedUnpack } from "./target.js";

export interface PullOptions {
  readonly credentials?: Credentials | undefined;
  /** The platform to pick from an index; the host's by default. */
  readonly platform?: Platform | undefined;
  /** Every tag of the repository. */
  readonly allTags?: boolean;
  readonly progress?: Progress;
  readonly signal?: AbortSignal;
}

/** An image as its registry describes it, for one platform. */
export interface ResolvedImage {
  /** The documents fetched on the way: the top one (an index or the manifest), then the platform's manifest. */
  readonly documents: readonly { bytes: Buffer; digest: Digest; mediaType: string }[];
  readonly manifestDigest: Digest;
  readonly manifest: Manifest;
  readonly manifestMediaType: string;
  readonly configBytes: Buffer;
  readonly config: ImageConfig;
}

export interface PulledImage {
  readonly reference: Reference;
  readonly id: Digest;
  /** The digest of what the reference named (the index, for a multi-platform image). */
  readonly digest: Digest;
  readonly upToDate: boolean;
}

export interface PullerOptions {
  readonly client: RegistryClient;
  readonly target: ImageTarget;
  readonly memory: DistributionMemory;
  readonly startUnpack?: StartUnpack;
  readonly logger?: Logger;
  /** Layers downloading at once per pull. */
  readonly concurrency?: number;
}

const BATCH = 1 << 20;
const DEFAULT_CONCURRENCY = 4;
/** Below this size a layer is unpacked after its download rather than while it streams. */
const STREAM_UNPACK_MIN = 256 * 1024;

function ingestRef(digest: Digest): string {
  return `pull-${digest.replace(":", "-")}`;
}


export class Puller {
  readonly #o: PullerOptions;
  readonly #logger: Logger;
  /** Downloads in flight, by blob digest, shared by concurrent pulls. */
  readonly #downloads = new Map<Digest, Promise<void>>();

  constructor(options: PullerOptions) {
    this.#o = options;
    this.#logger = options.logger ?? nullLogger;
  }

  /** Pulls `ref` (a tag or digest; `latest` when it has neither), or every tag with `allTags`. */
  async pull(ref: Reference, options: PullOptions = {}): Promise<PulledImage[]> {
    const repo = this.#o.client.repository(ref.domain, ref.path, { credentials: options.credentials, purpose: "pull" });
    if (options.allTags) {
      if (ref.tag !== undefined || ref.digest !== undefined) throw wharfError("invalid-argument", "tag can't be used with --all-tags/-a");
      const tags = await repo.tags(options.signal);
      if (tags.length === 0) throw wharfError("not-found", `no tags found for ${referenceName(ref)}`);
      const out: PulledImage[] = [];
      for (const tag of tags) out.push(await this.#pullOne(repo, { domain: ref.domain, path: ref.path, tag }, options, false));
      // One status for the repository, as docker ends `pull -a`.
      const fresh = out.some((p) => !p.upToDate);
      options.progress?.({ status: `Status: ${fresh ? "Downloaded newer image" : "Image is up to date"} for ${familiarName(ref)}` });
      return out;
    }
    const one = ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: "latest" } : ref;
    return [await this.#pullOne(repo, one, options)];
  }

  async #pullOne(repo: Repository, ref: Reference, options: PullOptions, status = true): Promise<PulledImage> {
    const { signal } = options;
    const progress = options.progress ?? (() => {});
    const target = this.#o.target;
    const reference = ref.digest ?? ref.tag!;
    const top = await repo.getManifest(reference, signal);
    progress({ id: ref.digest ? ref.digest : ref.tag!, status: `Pulling from ${ref.path}` });
    const want = options.platform ?? hostPlatform();
    const lease = target.leases.create();
    const earlies: StartedUnpack[] = [];
    const earlyResults = new Map<Digest, Promise<EarlyUnpack | undefined>>();
    let recorded = false;
    try {
      const { documents, manifestDigest, manifest, manifestMediaType, configBytes, config } = await this.#resolved(repo, ref, top, want, signal);
      const diffIds = config.rootfs.diff_ids;
      for (const doc of documents) await target.putDocument(doc.bytes, lease);
      await target.putDocument(configBytes, lease);

      const chain = chainIds(diffIds);
      const layers = manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i]!, chainId: chain[i]! }));
      const present = await Promise.all(layers.map((l) => target.hasSnapshot(l.chainId)));
      for (const [i, l] of layers.entries()) progress({ id: shortId(l.descriptor.digest), status: present[i] ? "Already exists" : "Pulling fs layer" });

      // Downloads: bounded, in order of the layers, shared with concurrent pulls.
      const abort = new AbortController();
      const onAbort = () => abort.abort(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const slots = new Slots(this.#o.concurrency ?? DEFAULT_CONCURRENCY);
      const started: Promise<void>[] = [];
      try {
        for (const [i, l] of layers.entries()) {
          if (present[i]) {
            started.push(Promise.resolve());
            continue;
          }
          lease.addBlob(l.descriptor.digest);
          started.push(this.#fetchLayer(repo, l.descriptor, lease, slots, progress, abort.signal, earlies, earlyResults));
        }
        for (const p of started) p.catch(() => {});
        // Stack in order as downloads finish.
        const early: EarlyUnpacks = {
          take: async (blob) => {
            const p = earlyResults.get(blob);
            earlyResults.delete(blob);
            return p;
          },
        };
        const records = [];
        for (const [i, l] of layers.entries()) {
          try {
            await started[i];
          } catch (e) {
            abort.abort(e);
            throw e;
          }
          const id = shortId(l.descriptor.digest);
          if (!present[i]) progress({ id, status: "Extracting", current: l.descriptor.size, total: l.descriptor.size });
          const record = await target.unpack(layers.slice(0, i + 1), lease, { signal: abort.signal, early });
          records.push(record[i]!);
          if (!present[i]) progress({ id, status: "Pull complete" });
        }
        const before = await target.get(familiarString(ref)).catch(() => undefined);
        const repoDigest = `${referenceName(ref)}@${top.digest}`;
        const tagged = before !== undefined && (ref.digest !== undefined || before.tags.some((t) => t.tag === ref.tag && t.path === ref.path && t.domain === ref.domain));
        const same = before?.id === manifest.config.digest && tagged && (before.digests ?? []).some((d) => formatReference(d) === repoDigest);
        // Nothing changed: no metadata write (what keeps a pull of a present image in milliseconds).
        const image = same ? before : await target.commitImage({
          manifest: { mediaType: manifestMediaType, digest: manifestDigest, size: documents[documents.length - 1]!.bytes.length },
          config,
          configDigest: manifest.config.digest,
          layers: records,
          names: ref.tag !== undefined && ref.digest === undefined ? [ref] : [],
          repoDigests: [repoDigest],
        });
        recorded = true;
        for (const l of layers) this.#o.memory.rememberRepository(l.descriptor.digest, referenceName(ref));
        const upToDate = before?.id === image.id && tagged;
        progress({ status: `Digest: ${top.digest}` });
        if (status) progress({ status: `Status: ${upToDate ? "Image is up to date" : "Downloaded newer image"} for ${familiarString(ref)}` });
        return { reference: ref, id: image.id, digest: top.digest, upToDate };
      } finally {
        signal?.removeEventListener("abort", onAbort);
        abort.abort(wharfError("cancelled", "pull finished"));
        await Promise.allSettled(started);
      }
    } catch (e) {
      throw asWharfError(e, `pull ${familiarString(ref)}`);
    } finally {
      // Unpacks fed while downloading that no layer took (a failed pull, a duplicate) are removed.
      for (const [blob, p] of earlyResults) {
        const started = earlies.find((s) => s.done === p);
        const u = await p.catch(() => undefined);
        if (u && started) await started.discard(u).catch(() => {});
        earlyResults.delete(blob);
      }
      lease[Symbol.dispose]();
      if (!recorded) await target.gc().catch((e: unknown) => this.#logger.warn("collect after failed pull", { error: e }));
    }
  }

  /**
   * What a reference names, resolved for a platform: from the top document
   * (an index is narrowed to the platform's manifest) to the manifest and its
   * parsed config, each checked for its limits and for agreeing with the others.
   */
  async #resolved(repo: Repository, ref: Reference, top: FetchedManifest, want: Platform, signal?: AbortSignal): Promise<ResolvedImage> {
    const reference = ref.digest ?? ref.tag!;
    let parsed = this.#parse(top.bytes, top.mediaType, `${referenceName(ref)}:${reference}`);
    const documents: { bytes: Buffer; digest: Digest; mediaType: string }[] = [{ bytes: top.bytes, digest: top.digest, mediaType: parsed.mediaType }];
    let manifestDigest = top.digest;
    if (parsed.kind === "index") {
      const chosen = selectPlatform(
        want,
        parsed.index.manifests.filter((m) => m.platform && (m.mediaType === undefined || !m.mediaType.includes("index"))),
      );
      if (!chosen) throw wharfError("not-found", `no matching manifest for ${formatPlatform(want)} in the manifest list entries`);
      const inner = await repo.getManifest(chosen.digest, signal);
      parsed = this.#parse(inner.bytes, inner.mediaType || chosen.mediaType, `${referenceName(ref)}@${chosen.digest}`);
      if (parsed.kind !== "manifest") throw wharfError("invalid-argument", `manifest ${chosen.digest} of ${referenceName(ref)}: an index inside an index is not supported`);
      documents.push({ bytes: inner.bytes, digest: inner.digest, mediaType: parsed.mediaType });
      manifestDigest = inner.digest;
    }
    const manifest = parsed.manifest;
    const manifestMediaType = parsed.mediaType;
    const configBytes = await this.#config(repo, manifest.config, signal);
    let config: ImageConfig;
    try {
      config = parseImageConfig(configBytes);
    } catch (e) {
      throw wharfError("invalid-argument", `config of ${referenceName(ref)}:${reference}: ${(e as Error).message}`);
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw wharfError("invalid-argument", `image ${referenceName(ref)}:${reference}: the manifest has ${manifest.layers.length} layers, the config ${diffIds.length}`);
    }
    return { documents, manifestDigest, manifest, manifestMediaType, configBytes, config };
  }

  /** The manifest and config a reference names for a platform (the host's by default), without storing anything. */
  async resolve(repo: Repository, ref: Reference, platform: Platform | undefined, signal?: AbortSignal): Promise<ResolvedImage> {
    const one = ref.digest === undefined && ref.tag === undefined ? { ...ref, tag: "latest" } : ref;
    const top = await repo.getManifest(one.digest ?? one.tag!, signal);
    return this.#resolved(repo, one, top, platform ?? hostPlatform(), signal);
  }

  #parse(bytes: Buffer, mediaType: string, what: string) {
    try {
      return parseDocument(bytes, mediaType || undefined);
    } catch (e) {
      throw wharfError("invalid-argument", `manifest ${what}: ${(e as Error).message}`);
    }
  }

  async #config(repo: Repository, descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    if (descriptor.size > MAX_DOCUMENT_BYTES) throw wharfError("invalid-argument", `config ${descriptor.digest}: ${descriptor.size} bytes is more than the limit of ${MAX_DOCUMENT_BYTES}`);
    const content = this.#o.target.content;
    if (await content.has(descriptor.digest)) return content.readAll(descriptor.digest, MAX_DOCUMENT_BYTES);
    return repo.getDocumentBlob(descriptor, signal);
  }

  /** Fetches one layer blob unless it is stored; joins a download of the same blob already running. */
  async #fetchLayer(
    repo: Repository,
    descriptor: Descriptor,
    lease: Lease,
    slots: Slots,
    progress: Progress,
    signal: AbortSignal,
    earlies: StartedUnpack[],
    earlyResults: Map<Digest, Promise<EarlyUnpack | undefined>>,
  ): Promise<void> {
    const id = shortId(descriptor.digest);
    const running = this.#downloads.get(descriptor.digest);
    if (running) {
      progress({ id, status: "Waiting" });
      await running;
      progress({ id, status: "Download complete" });
      return;
    }
    // Registered before the first await, so a concurrent pull of the same blob joins this one.
    const done = (async () => {
      if (await this.#o.target.content.has(descriptor.digest)) return;
      // Docker says "Waiting" only for layers queued behind the running downloads.
      if (slots.full) progress({ id, status: "Waiting" });
      using _slot = await slots.acquire(signal);
      await this.#download(repo, descriptor, lease, progress, signal, earlies, earlyResults);
    })();
    this.#downloads.set(descriptor.digest, done);
    try {
      await done;
      progress({ id, status: "Download complete" });
    } finally {
      if (this.#downloads.get(descriptor.digest) === done) this.#downloads.delete(descriptor.digest);
    }
  }

  async #download(
    repo: Repository,
    descriptor: Descriptor,
    lease: Lease,
    progress: Progress,
    signal: AbortSignal,
    earlies: StartedUnpack[],
    earlyResults: Map<Digest, Promise<EarlyUnpack | undefined>>,
  ): Promise<void> {
    const id = shortId(descriptor.digest);
    const content = this.#o.target.content;
    const action = `download layer ${descriptor.digest}`;
    const writer: Writer = await content.writer(ingestRef(descriptor.digest), { digest: descriptor.digest, size: descriptor.size });
    let unpack: StartedUnpack | undefined;
    // Unpacking while streaming needs the bytes from the first one on.
    if (this.#o.startUnpack && writer.offset === 0 && descriptor.size >= STREAM_UNPACK_MIN) {
      try {
        unpack = await this.#o.startUnpack(lease, signal);
        earlies.push(unpack);
        earlyResults.set(descriptor.digest, unpack.done);
      } catch (e) {
        this.#logger.debug("unpack while downloading is not available", { error: e });
      }
    }
    const feed = async (chunk: Buffer): Promise<void> => {
      const input = unpack?.input;
      if (!input || input.destroyed || input.writableEnded) return;
      if (!input.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            input.off("drain", go);
            input.off("close", go);
            resolve();
          };
          input.on("drain", go);
          input.on("close", go);
        });
      }
    };
    let committed = false;
    try {
      const policy = repo.client.retry;
      let failures = 0;
      let lastReport = 0;
      while (writer.offset < descriptor.size) {
        signal.throwIfAborted();
        const offset = writer.offset;
        let fetched = 0;
        try {
          const { body, start } = await repo.openBlob(descriptor, offset, signal);
          let skip = offset - start;
          let parts: Buffer[] = [];
          let partsSize = 0;
          let pending: Promise<void> = Promise.resolve();
          const flush = async () => {
            if (partsSize === 0) return;
            const batch = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsSize);
            parts = [];
            partsSize = 0;
            await pending;
            pending = writer.write(batch);
            pending.catch(() => {});
            await feed(batch);
          };
          try {
            for await (const raw of body as AsyncIterable<Buffer>) {
              let chunk = raw;
              if (skip > 0) {
                if (chunk.length <= skip) {
                  skip -= chunk.length;
                  continue;
                }
                chunk = chunk.subarray(skip);
                skip = 0;
              }
              fetched += chunk.length;
              if (offset + fetched > descriptor.size) {
                body.destroy();
                throw wharfError("data-corrupt", `${action}: the registry sent more than the ${descriptor.size} bytes the manifest gives`);
              }
              parts.push(chunk);
              partsSize += chunk.length;
              if (partsSize >= BATCH) await flush();
              const now = Date.now();
              if (now - lastReport > 100) {
                lastReport = now;
                progress({ id, status: "Downloading", current: offset + fetched, total: descriptor.size });
              }
            }
            await flush();
          } catch (e) {
            // Keep what arrived before the failure, so the next attempt resumes after it.
            if (!isKind(e, "data-corrupt")) await flush().catch(() => {});
            throw e;
          } finally {
            await pending;
          }
        } catch (e) {
          if (signal.aborted) throw wharfError("cancelled", `${action}: cancelled`, signal.reason);
          if (isKind(e, "data-corrupt")) throw e;
          if (isKind(e, "invalid-argument")) throw wharfError("data-corrupt", `${action}: ${(e as Error).message}`, e);
          if (!isNetworkError(e) && !isKind(e, "unavailable")) throw e;
          if (fetched === 0) failures++;
          else failures = 0;
          if (failures >= policy.attempts) throw wharfError("unavailable", `${action}: ${(e as Error).message}`, e);
          this.#logger.debug("layer download interrupted, resuming", { digest: descriptor.digest, offset: writer.offset, error: e });
          await sleep(backoffMs(policy, Math.max(1, failures)), signal);
          continue;
        }
        if (writer.offset < descriptor.size) {
          // The body ended early without an error: resume from where it stopped.
          if (fetched === 0) failures++;
          if (failures >= policy.attempts) throw wharfError("data-corrupt", `${action}: the registry sent ${writer.offset} of ${descriptor.size} bytes`);
          await sleep(backoffMs(policy, Math.max(1, failures)), signal);
        }
      }
      progress({ id, status: "Verifying Checksum" });
      await writer.commit();
      committed = true;
      unpack?.input.end();
      lease.addBlob(descriptor.digest);
    } catch (e) {
      unpack?.input.destroy();
      if (!committed) {
        // A corrupt or refused blob is discarded; an interrupted one stays for the next pull to resume.
        // A full disk gets its space back at once.
        if (isKind(e, "data-corrupt") || isKind(e, "invalid-argument") || isKind(e, "no-space")) await writer.abort().catch(() => {});
        else await writer.close().catch(() => {});
      }
      if (isKind(e, "data-corrupt") && /digest|size/.test((e as Error).message) && !/download layer/.test((e as Error).message)) {
        throw wharfError("data-corrupt", `${action}: ${(e as Error).message}`, e);
      }
      throw e;
    }
  }
}


/** A semaphore that knows whether the next taker will wait (for docker's "Waiting" status). */
export class Slots {
  readonly #semaphore: Semaphore;
  readonly #permits: number;
  #taken = 0;
  constructor(permits: number) {
    this.#semaphore = new Semaphore(permits);
    this.#permits = permits;
  }
  get full(): boolean {
    return this.#taken >= this.#permits;
  }
  async acquire(signal?: AbortSignal): Promise<Disposable> {
    this.#taken++;
    let permit: Disposable;
    try {
      permit = await this.#semaphore.acquire(signal);
    } catch (e) {
      this.#taken--;
      throw e;
    }
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        this.#taken--;
        permit[Symbol.dispose]();
      },
    };
  }
}

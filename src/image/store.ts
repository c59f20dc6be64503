// The image store: image records and names over the content store and the
// snapshotter. Every image is a manifest and a config in the content store,
// and its layers unpacked into committed snapshots keyed by chainID. Records
// and names live in one metadata document (metadata.ts); views are built
// from memory, so listing and inspecting never touch the disk.
//
// Order of writes keeps a crash harmless: blobs and snapshots first, the
// record last; removal drops the record first and collects afterwards.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Readable } from "node:stream";
import {
  chainIds,
  digestOf,
  familiarString,
  formatReference,
  hostPlatform,
  isDigest,
  MediaType,
  parseDocument,
  parseImageConfig,
  parsePlatformSpec,
  parseReference,
  referenceName,
  withDefaultTag,
  MAX_DOCUMENT_BYTES,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type Manifest,
  type Reference,
} from "../oci/index.js";
import { asWharfError, isKind, KeyedMutex, nullLogger, wharfError, type Logger } from "../internal/index.js";
import type { Store as ContentStore } from "../content/content.js";
import { writableDir, type Snapshotter } from "../snapshot/snapshotter.js";
import { applyLayer } from "../archive/index.js";
import { applyChanges } from "./changes.js";
import { createdAt, filterImages } from "./filters.js";
import { Leases, planCollection, type Lease } from "./gc.js";
import { readDocument, writeDocument, type ImageDocument, type ImageRecord, type LayerRecord } from "./metadata.js";
import { loadArchive } from "./load.js";
import { saveArchive } from "./save.js";
import type {
  DeleteItem,
  DiskUsage,
  HistoryItem,
  ImageFilters,
  ImageService,
  ImageView,
  ImportOptions,
  LayerView,
  LoadResult,
  PruneResult,
  SaveFormat,
} from "./service.js";

export interface ImageStoreOptions {
  /** The data root; image metadata goes to `<root>/metadata/images.json`. */
  readonly root: string;
  readonly content: ContentStore;
  readonly snapshotter: Snapshotter;
  readonly logger?: Logger;
  /** Containers using an image (ids or names), so removal can refuse; none until containers exist. */
  readonly usage?: (imageId: Digest) => readonly string[];
}

/** A new image to record: its documents are already in the content store. */
export interface NewImage {
  readonly manifest: Descriptor;
  readonly config: ImageConfig;
  readonly configDigest: Digest;
  readonly layers: readonly LayerRecord[];
  readonly names: readonly Reference[];
  readonly repoDigests?: readonly string[];
}

interface Loaded {
  readonly manifest: Manifest;
  readonly config: ImageConfig;
}

const EXTRACT_PREFIX = "extract-";
/** Ingest refs of writes that die with their request (see #abortOneShotIngests). */
const ONE_SHOT_INGEST = /^(load|import|doc)-/;

export class ImageStore implements ImageService {
  readonly content: ContentStore;
  readonly snapshotter: Snapshotter;
  readonly logger: Logger;
  readonly leases = new Leases();
  readonly #path: string;
  readonly #usage: (imageId: Digest) => readonly string[];
  #doc: ImageDocument;
  #loaded = new Map<Digest, Loaded>();
  /** Serialises metadata changes and collection. */
  #meta = new KeyedMutex();
  /** One unpack per chainID at a time. */
  #unpacking = new KeyedMutex();

  private constructor(options: ImageStoreOptions, doc: ImageDocument) {
    this.content = options.content;
    this.snapshotter = options.snapshotter;
    this.logger = options.logger ?? nullLogger;
    this.#path = join(options.root, "metadata", "images.json");
    this.#usage = options.usage ?? (() => []);
    this.#doc = doc;
  }

  static async open(options: ImageStoreOptions): Promise<ImageStore> {
    const doc = await readDocument(join(options.root, "metadata", "images.json"));
    const store = new ImageStore(options, doc);
    await store.#abortOneShotIngests();
    await store.#loadAll();
    await store.gc();
    return store;
  }

  /**
   * Ingests of import, load and document writes belong to one request's
   * stream: once the process that ran it is gone, nobody can resume them.
   */
  async #abortOneShotIngests(): Promise<void> {
    for (const ingest of await this.content.ingests()) {
      if (!ONE_SHOT_INGEST.test(ingest.ref)) continue;
      await this.content.abortIngest(ingest.ref).catch((e: unknown) => this.logger.warn("abort leftover ingest", { ref: ingest.ref, error: e }));
    }
  }

  /** Reads every record's documents; records whose documents are gone are dropped (repair after a crash or bad disk). */
  async #loadAll(): Promise<void> {
    const broken: Digest[] = [];
    for (const record of this.#doc.images.values()) {
      try {
        this.#loaded.set(record.id, await this.#readDocuments(record.target));
      } catch (e) {
        this.logger.warn("dropping image whose documents are unreadable", { image: record.id, error: e });
        broken.push(record.id);
      }
    }
    if (broken.length) await this.#mutate((images, refs) => broken.forEach((id) => dropImage(images, refs, id)));
  }

  async #readDocuments(target: Descriptor): Promise<Loaded> {
    const parsed = parseDocument(await this.content.readAll(target.digest, MAX_DOCUMENT_BYTES), target.mediaType);
    if (parsed.kind !== "manifest") throw wharfError("data-corrupt", `image target ${target.digest} is not a manifest`);
    const config = parseImageConfig(await this.content.readAll(parsed.manifest.config.digest, MAX_DOCUMENT_BYTES));
    return { manifest: parsed.manifest, config };
  }

  // ---- views ----------------------------------------------------------

  #view(record: ImageRecord): ImageView {
    const loaded = this.#loaded.get(record.id);
    if (!loaded) throw wharfError("internal", `image ${record.id} has no loaded documents`);
    const tags: Reference[] = [];
    for (const [name, id] of this.#doc.refs) if (id === record.id) tags.push(parseReference(name));
    const diffIds = loaded.config.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    const layers: LayerView[] = diffIds.map((diffId, i) => ({
      diffId,
      chainId: chains[i]!,
      descriptor: loaded.manifest.layers[i]!,
      size: record.layers[i]?.size ?? loaded.manifest.layers[i]?.size ?? 0,
      contentSize: record.layers[i]?.contentSize ?? record.layers[i]?.size ?? 0,
    }));
    return {
      id: record.id,
      target: record.target,
      manifest: loaded.manifest,
      config: loaded.config,
      tags,
      digests: record.repoDigests.map((d) => parseReference(d)),
      layers,
      size: layers.reduce((n, l) => n + l.contentSize, 0),
      storedAt: new Date(record.storedAt),
    };
  }

  #views(): ImageView[] {
    return [...this.#doc.images.values()].map((r) => this.#view(r));
  }

  /** Resolves a name, `name@digest`, full id or unique id prefix to a record. */
  #resolve(nameOrId: string): ImageRecord {
    const notFound = () => wharfError("not-found", `No such image: ${nameOrId}`);
    const byId = (id: string) => this.#doc.images.get(id as Digest);
    if (isDigest(nameOrId)) {
      const r = byId(nameOrId);
      if (r) return r;
      throw notFound();
    }
    let ref: Reference | undefined;
    try {
      ref = parseReference(nameOrId);
    } catch {
      ref = undefined;
    }
    if (ref) {
      if (ref.digest !== undefined) {
        const name = referenceName(ref);
        for (const r of this.#doc.images.values()) {
          if (r.target.digest === ref.digest && (r.repoDigests.some((d) => d.startsWith(name + "@")) || this.#hasName(r.id, name))) return r;
          if (r.repoDigests.includes(`${name}@${ref.digest}`)) return r;
        }
      } else {
        const id = this.#doc.refs.get(formatReference(withDefaultTag(ref)));
        if (id) return byId(id)!;
      }
    }
    if (/^(sha256:)?[a-f0-9]{1,64}$/.test(nameOrId)) {
      const prefix = nameOrId.startsWith("sha256:") ? nameOrId : `sha256:${nameOrId}`;
      const matches = [...this.#doc.images.keys()].filter((id) => id.startsWith(prefix));
      if (matches.length === 1) return byId(matches[0]!)!;
      if (matches.length > 1) throw wharfError("invalid-argument", `multiple IDs found with provided prefix: ${nameOrId}`);
    }
    throw notFound();
  }

  #hasName(id: Digest, repository: string): boolean {
    for (const [name, target] of this.#doc.refs) if (target === id && name.startsWith(repository + ":")) return true;
    return false;
  }

  // ---- metadata changes ------------------------------------------------

  /** Applies a change to copies of the maps and persists them atomically, all under the metadata lock. */
  async #mutate<T>(change: (images: Map<Digest, ImageRecord>, refs: Map<string, Digest>, tagTimes: Map<string, string>) => T): Promise<T> {
    return this.#meta.run("meta", async () => {
      const images = new Map(this.#doc.images);
      const refs = new Map(this.#doc.refs);
      const tagTimes = new Map(this.#doc.tagTimes);
      const result = change(images, refs, tagTimes);
      const next = { images, refs, tagTimes };
      await writeDocument(this.#path, next);
      this.#doc = next;
      for (const id of this.#loaded.keys()) if (!images.has(id)) this.#loaded.delete(id);
      return result;
    });
  }

  /** Records a new image whose blobs and snapshots exist, pointing `names` at it. */
  async commitImage(image: NewImage): Promise<ImageView> {
    const id = image.configDigest;
    const loaded = await this.#readDocuments(image.manifest);
    const now = new Date().toISOString();
    await this.#mutate((images, refs, tagTimes) => {
      const prev = images.get(id);
      images.set(id, {
        id,
        target: prev?.target ?? image.manifest,
        layers: image.layers,
        storedAt: prev?.storedAt ?? now,
        repoDigests: [...new Set([...(prev?.repoDigests ?? []), ...(image.repoDigests ?? [])])],
      });
      for (const ref of image.names) {
        const name = formatReference(withDefaultTag(ref));
        refs.set(name, id);
        tagTimes.set(name, now);
      }
    });
    this.#loaded.set(id, this.#loaded.get(id) ?? loaded);
    return this.#view(this.#doc.images.get(id)!);
  }

  // ---- content helpers -------------------------------------------------

  /** Stores a small document (config, manifest) unless it is there already. */
  async putDocument(bytes: Buffer, lease: Lease): Promise<Digest> {
    const digest = digestOf(bytes);
    lease.addBlob(digest);
    if (await this.content.has(digest)) return digest;
    const w = await this.content.writer(`doc-${digest}`, { digest, size: bytes.length });
    try {
      await w.write(bytes);
      await w.commit();
    } catch (e) {
      await w.abort().catch(() => {});
      throw e;
    }
    return digest;
  }

  /** Writes the config and an OCI manifest for layers already stored; returns both descriptors. */
  async putImageDocuments(config: ImageConfig, layers: readonly Descriptor[], lease: Lease): Promise<{ manifest: Descriptor; configDigest: Digest }> {
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = await this.putDocument(configBytes, lease);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = await this.putDocument(manifestBytes, lease);
    return { manifest: { mediaType: MediaType.OciManifest, digest: manifestDigest, size: manifestBytes.length }, configDigest };
  }

  /** Whether the committed snapshot `name` exists. */
  async hasSnapshot(name: string): Promise<boolean> {
    try {
      const info = await this.snapshotter.stat(name);
      return info.kind === "committed";
    } catch (e) {
      if (isKind(e, "not-found")) return false;
      throw e;
    }
  }

  /**
   * Unpacks each layer into its committed snapshot (chainID), skipping those
   * that exist; verifies each diffID. Returns the uncompressed sizes.
   */
  async unpack(layers: readonly { descriptor: Descriptor; diffId: Digest }[], lease: Lease, options: { signal?: AbortSignal; early?: EarlyUnpacks } = {}): Promise<LayerRecord[]> {
    const { signal, early } = options;
    const chain = chainIds(layers.map((l) => l.diffId));
    const out: LayerRecord[] = [];
    for (const [i, layer] of layers.entries()) {
      const chainId = chain[i]!;
      lease.addSnapshot(chainId);
      lease.addBlob(layer.descriptor.digest);
      const sizes = await this.#unpacking.run(chainId, async () => {
        if (await this.hasSnapshot(chainId)) return this.#storedLayerSize(chainId, layer.descriptor);
        const done = await early?.take(layer.descriptor.digest);
        if (done && done.diffId === layer.diffId) {
          try {
            await this.snapshotter.commit(chainId, done.key, { labels: layerLabels(layer.diffId, done), ...(i > 0 ? { parent: chain[i - 1]! } : {}) });
            return { size: done.size, contentSize: done.contentSize };
          } catch (e) {
            await this.snapshotter.remove(done.key).catch(() => {});
            if (isKind(e, "conflict") && (await this.hasSnapshot(chainId))) return this.#storedLayerSize(chainId, layer.descriptor);
            throw e;
          }
        }
        if (done) await this.snapshotter.remove(done.key).catch(() => {});
        const key = `${EXTRACT_PREFIX}${randomBytes(8).toString("hex")}`;
        lease.addSnapshot(key);
        const mounts = await this.snapshotter.prepare(key, i > 0 ? chain[i - 1] : undefined, { labels: { "wharf.layer": layer.diffId } });
        try {
          const result = await applyLayer(writableDir(mounts), await this.content.reader(layer.descriptor.digest), signal ? { signal } : {});
          if (result.diffId !== layer.diffId) {
            throw wharfError("data-corrupt", `unpack layer ${layer.descriptor.digest}: content is ${result.diffId}, the image config says ${layer.diffId}`);
          }
          await this.snapshotter.commit(chainId, key, { labels: layerLabels(layer.diffId, result) });
          return { size: result.size, contentSize: result.contentSize };
        } catch (e) {
          await this.snapshotter.remove(key).catch(() => {});
          if (isKind(e, "conflict") && (await this.hasSnapshot(chainId))) return this.#storedLayerSize(chainId, layer.descriptor);
          throw e;
        }
      });
      out.push({ diffId: layer.diffId, ...sizes });
    }
    return out;
  }

  /** The uncompressed size of a layer already unpacked, from its snapshot's label. */
  async #storedLayerSize(chainId: Digest, descriptor: Descriptor): Promise<{ size: number; contentSize: number }> {
    const info = await this.snapshotter.stat(chainId).catch(() => undefined);
    const labelled = Number(info?.labels["wharf.size"]);
    const size = Number.isSafeInteger(labelled) ? labelled : descriptor.size;
    const content = Number(info?.labels["wharf.content-size"]);
    return { size, contentSize: Number.isSafeInteger(content) ? content : size };
  }

  // ---- ImageService ----------------------------------------------------

  async list(filters: ImageFilters = {}): Promise<ImageView[]> {
    const bounds: { before?: number; since?: number } = {};
    if (filters.before) bounds.before = createdAt(this.#view(this.#resolve(filters.before)));
    if (filters.since) bounds.since = createdAt(this.#view(this.#resolve(filters.since)));
    return filterImages(this.#views(), filters, bounds).sort((a, b) => createdAt(b) - createdAt(a));
  }

  async get(nameOrId: string): Promise<ImageView> {
    return this.#view(this.#resolve(nameOrId));
  }

  async history(nameOrId: string): Promise<HistoryItem[]> {
    const image = await this.get(nameOrId);
    const entries = image.config.history ?? [];
    const items: HistoryItem[] = [];
    let layer = 0;
    for (const h of entries) {
      const empty = h.empty_layer === true;
      const size = empty ? 0 : (image.layers[layer]?.contentSize ?? 0);
      if (!empty) layer++;
      items.push({
        id: "<missing>",
        created: h.created ? new Date(h.created) : undefined,
        createdBy: h.created_by ?? "",
        tags: [],
        size,
        comment: h.comment ?? "",
      });
    }
    // Layers without history entries (hand-made images) still show.
    for (; layer < image.layers.length; layer++) {
      items.push({ id: "<missing>", created: undefined, createdBy: "", tags: [], size: image.layers[layer]!.contentSize, comment: "" });
    }
    items.reverse();
    if (items.length === 0) items.push({ id: image.id, created: image.config.created ? new Date(image.config.created) : undefined, createdBy: "", tags: [], size: 0, comment: "" });
    items[0] = { ...items[0]!, id: image.id, tags: image.tags.map((t) => familiarString(t)) };
    return items;
  }

  async tag(source: string, target: string): Promise<void> {
    const record = this.#resolve(source);
    let ref: Reference;
    try {
      ref = parseReference(target);
    } catch (e) {
      throw wharfError("invalid-argument", (e as Error).message);
    }
    if (ref.digest !== undefined) throw wharfError("invalid-argument", "refusing to create a tag with a digest reference");
    const name = formatReference(withDefaultTag(ref));
    await this.#mutate((images, refs, tagTimes) => {
      if (!images.has(record.id)) throw wharfError("not-found", `No such image: ${source}`);
      refs.set(name, record.id);
      tagTimes.set(name, new Date().toISOString());
    });
  }

  async remove(nameOrId: string, options: { force?: boolean; noPrune?: boolean } = {}): Promise<DeleteItem[]> {
    const record = this.#resolve(nameOrId);
    const byName = this.#isName(nameOrId, record.id);
    const users = this.#usage(record.id);
    const items: DeleteItem[] = [];
    const removedImage = await this.#mutate((images, refs, tagTimes) => {
      const names = [...refs].filter(([, id]) => id === record.id).map(([n]) => n);
      if (byName) {
        const name = byName;
        refs.delete(name);
        tagTimes.delete(name);
        items.push({ Untagged: familiarString(parseReference(name)) });
        const left = names.filter((n) => n !== name);
        if (left.length > 0) return false;
        if (users.length > 0) return false; // the image stays, dangling, while containers use it
      } else {
        if (users.length > 0 && !options.force) {
          throw wharfError("conflict", `conflict: unable to delete ${shortHex(record.id)} (cannot be forced) - image is being used by running container ${users[0]}`);
        }
        if (names.length > 1 && !options.force) {
          throw wharfError("conflict", `conflict: unable to delete ${shortHex(record.id)} (must be forced) - image is referenced in multiple repositories`);
        }
        for (const n of names) {
          refs.delete(n);
          tagTimes.delete(n);
          items.push({ Untagged: familiarString(parseReference(n)) });
        }
      }
      for (const d of record.repoDigests) items.push({ Untagged: familiarString(parseReference(d)) });
      images.delete(record.id);
      items.push({ Deleted: record.id });
      return true;
    });
    if (removedImage && !options.noPrune) {
      const collected = await this.gc();
      for (const key of collected.snapshots) if (key.startsWith("sha256:")) items.push({ Deleted: key });
    }
    return items;
  }

  /** The full name `nameOrId` denotes when it names (not ids) the image. */
  #isName(nameOrId: string, id: Digest): string | undefined {
    if (isDigest(nameOrId) || /^(sha256:)?[a-f0-9]{1,64}$/.test(nameOrId)) {
      // A hex string is a name only when such a tag exists.
      try {
        const name = formatReference(withDefaultTag(parseReference(nameOrId)));
        if (this.#doc.refs.get(name) === id) return name;
      } catch {
        return undefined;
      }
      return undefined;
    }
    try {
      const ref = parseReference(nameOrId);
      if (ref.digest !== undefined) return undefined;
      const name = formatReference(withDefaultTag(ref));
      return this.#doc.refs.get(name) === id ? name : undefined;
    } catch {
      return undefined;
    }
  }

  async import(source: Readable, options: ImportOptions = {}): Promise<ImageView> {
    let ref: Reference | undefined;
    if (options.reference) {
      try {
        ref = parseReference(options.reference);
      } catch (e) {
        throw wharfError("invalid-argument", (e as Error).message);
      }
      if (ref.digest !== undefined) throw wharfError("invalid-argument", "import: cannot import to a digest reference");
    }
    const platform = options.platform ? parsePlatformSpec(options.platform) : hostPlatform();
    // Check the changes before reading any byte.
    const containerConfig = applyChanges({}, options.changes ?? []);
    using lease = this.leases.create();
    const suffix = randomBytes(8).toString("hex");
    const key = `${EXTRACT_PREFIX}import-${suffix}`;
    lease.addSnapshot(key);
    const mounts = await this.snapshotter.prepare(key);
    const writer = await this.content.writer(`import-${suffix}`);
    let committed = false;
    try {
      // One pass: the uncompressed tar is written to the content store as it
      // is applied to the snapshot, each batch before the apply takes it. The
      // writer hashes the bytes applied: the layer's digest is its diffID.
      const applied = await applyLayer(writableDir(mounts), source, { hash: false, tee: (batch) => writer.write(batch), ...(options.signal ? { signal: options.signal } : {}) });
      const blob = await writer.commit({ size: applied.size });
      committed = true;
      lease.addBlob(blob.digest);
      const diffId = blob.digest;
      // A layer the store has already: the copy just applied goes once the image is recorded, so that its removal does not compete with that.
      let duplicate = false;
      try {
        await this.snapshotter.commit(diffId, key, { labels: layerLabels(diffId, applied) });
      } catch (e) {
        if (!isKind(e, "conflict")) throw e;
        duplicate = true;
      }
      lease.addSnapshot(diffId);
      const now = new Date().toISOString();
      const config: ImageConfig = {
        architecture: platform.architecture,
        ...(platform.variant ? { variant: platform.variant } : {}),
        os: platform.os,
        created: now,
        config: containerConfig,
        rootfs: { type: "layers", diff_ids: [diffId] },
        history: [{ created: now, comment: options.message || "Imported from -" }],
      };
      const docs = await this.putImageDocuments(config, [{ mediaType: MediaType.OciLayer, digest: blob.digest, size: blob.size }], lease);
      const view = await this.commitImage({
        manifest: docs.manifest,
        config,
        configDigest: docs.configDigest,
        layers: [{ diffId, size: applied.size, contentSize: applied.contentSize }],
        names: ref ? [ref] : [],
      });
      // The image stands; a copy left by a failure here goes at the next open, with the other leftovers of an extract.
      if (duplicate) await this.snapshotter.remove(key).catch((e: unknown) => this.logger.warn("remove duplicate layer", { snapshot: key, error: e }));
      return view;
    } catch (e) {
      if (!committed) await writer.abort().catch(() => {});
      await this.snapshotter.remove(key).catch(() => {});
      throw asWharfError(e, "import");
    }
  }

  async load(source: Readable, options: { signal?: AbortSignal } = {}): Promise<LoadResult> {
    using lease = this.leases.create();
    return loadArchive(this, source, lease, options.signal);
  }

  async save(names: readonly string[], options: { format?: SaveFormat; signal?: AbortSignal } = {}): Promise<Readable> {
    if (names.length === 0) throw wharfError("invalid-argument", "save: no images named");
    const images = names.map((n) => {
      const view = this.#view(this.#resolve(n));
      let ref: Reference | undefined;
      try {
        ref = parseReference(n);
      } catch {
        ref = undefined;
      }
      // Saving by name keeps that name only; by id keeps every name (as docker does).
      const named = ref && ref.digest === undefined && this.#isName(n, view.id) ? [withDefaultTag(ref)] : ref?.digest ? [] : view.tags;
      return { view, names: named };
    });
    // Held until the archive is written: GC must not take what is being saved.
    const lease = this.leases.create();
    for (const { view } of images) {
      lease.addBlob(view.target.digest);
      lease.addBlob(view.manifest.config.digest);
      for (const l of view.layers) lease.addBlob(l.descriptor.digest);
    }
    try {
      const out = await saveArchive(this.content, images, options.format ?? "docker", options.signal);
      out.once("close", () => lease[Symbol.dispose]());
      return out;
    } catch (e) {
      lease[Symbol.dispose]();
      throw asWharfError(e, "save");
    }
  }

  async prune(options: { all?: boolean; filters?: ImageFilters } = {}): Promise<PruneResult> {
    const candidates = this.#views().filter((v) => (options.all ? true : v.tags.length === 0) && this.#usage(v.id).length === 0);
    // `dangling` is decided by `all` above; the other filters narrow further.
    const { dangling: _dangling, ...narrowing } = options.filters ?? {};
    const chosen = filterImages(candidates, narrowing);
    const deleted: DeleteItem[] = [];
    let spaceReclaimed = 0;
    for (const image of chosen) {
      const names = image.tags.map((t) => formatReference(t));
      await this.#mutate((images, refs, tagTimes) => {
        for (const n of names) {
          refs.delete(n);
          tagTimes.delete(n);
          deleted.push({ Untagged: familiarString(parseReference(n)) });
        }
        images.delete(image.id);
        deleted.push({ Deleted: image.id });
      });
    }
    if (chosen.length) {
      const sizes = new Map<string, number>();
      for (const image of chosen) for (const l of image.layers) sizes.set(l.chainId, l.contentSize);
      const collected = await this.gc();
      for (const key of collected.snapshots) {
        if (!key.startsWith("sha256:")) continue;
        deleted.push({ Deleted: key });
        spaceReclaimed += sizes.get(key) ?? 0;
      }
    }
    return { deleted, spaceReclaimed };
  }

  async diskUsage(): Promise<DiskUsage> {
    const views = this.#views();
    const users = new Map<string, number>();
    for (const v of views) for (const l of v.layers) users.set(l.chainId, (users.get(l.chainId) ?? 0) + 1);
    const seen = new Map<string, number>();
    for (const v of views) for (const l of v.layers) seen.set(l.chainId, l.contentSize);
    const layersSize = [...seen.values()].reduce((a, b) => a + b, 0);
    return {
      layersSize,
      images: views.map((image) => {
        let shared = 0;
        for (const l of image.layers) if ((users.get(l.chainId) ?? 0) > 1) shared += l.contentSize;
        return { image, sharedSize: shared, uniqueSize: image.size - shared, containers: this.#usage(image.id).length };
      }),
    };
  }

  // ---- garbage collection ---------------------------------------------

  /**
   * Mark and sweep: everything reachable from image records, leases and
   * the extra roots (containers' snapshots) stays; the rest is deleted.
   */
  async gc(extraSnapshots: Iterable<string> = []): Promise<{ blobs: Digest[]; snapshots: string[] }> {
    return this.#meta.run("meta", async () => {
      const blobs = new Set<Digest>();
      const snapshots = new Set<string>(extraSnapshots);
      for (const record of this.#doc.images.values()) {
        blobs.add(record.target.digest);
        const loaded = this.#loaded.get(record.id);
        if (!loaded) continue;
        blobs.add(loaded.manifest.config.digest);
        for (const l of loaded.manifest.layers) blobs.add(l.digest);
        for (const c of chainIds(loaded.config.rootfs.diff_ids)) snapshots.add(c);
      }
      this.leases.addRoots(blobs, snapshots);
      const existing: Digest[] = [];
      for await (const b of this.content.list()) existing.push(b.digest);
      const all = await this.snapshotter.list();
      // Active snapshots that are not extractions belong to containers; they are never swept here.
      const candidates = all.filter((s) => s.kind === "committed" || s.key.startsWith(EXTRACT_PREFIX));
      for (const s of all) if (!candidates.includes(s)) snapshots.add(s.key);
      const plan = planCollection({ blobs, snapshots }, existing, all.filter((s) => candidates.includes(s) || snapshots.has(s.key)));
      const removed: string[] = [];
      for (const key of plan.snapshots) {
        try {
          await this.snapshotter.remove(key);
          removed.push(key);
        } catch (e) {
          this.logger.warn("collect snapshot", { snapshot: key, error: e });
        }
      }
      for (const digest of plan.blobs) {
        try {
          await this.content.delete(digest);
        } catch (e) {
          if (!isKind(e, "not-found")) this.logger.warn("collect blob", { blob: digest, error: e });
        }
      }
      if (plan.blobs.length || removed.length) this.logger.info("collected garbage", { blobs: plan.blobs.length, snapshots: removed.length });
      return { blobs: plan.blobs, snapshots: removed };
    });
  }

  /** Number of images, for /info. */
  get count(): number {
    return this.#doc.images.size;
  }
}

function dropImage(images: Map<Digest, ImageRecord>, refs: Map<string, Digest>, id: Digest): void {
  images.delete(id);
  for (const [name, target] of [...refs]) if (target === id) refs.delete(name);
}

function shortHex(id: Digest): string {
  return id.slice(id.indexOf(":") + 1, id.indexOf(":") + 13);
}

/** A layer unpacked into an active snapshot without a parent, before its place in a chain was known. */
export interface EarlyUnpack {
  readonly key: string;
  readonly diffId: Digest;
  readonly size: number;
  readonly contentSize: number;
}

/** Early unpacks by blob digest; each is taken (and then owned) by at most one layer. */
export interface EarlyUnpacks {
  take(blob: Digest): Promise<EarlyUnpack | undefined>;
}

/** Snapshot labels of an unpacked layer: its diffID and both of its sizes, so a later image reuses them. */
function layerLabels(diffId: Digest, applied: { size: number; contentSize: number }): Record<string, string> {
  return { "wharf.layer": diffId, "wharf.size": String(applied.size), "wharf.content-size": String(applied.contentSize) };
}


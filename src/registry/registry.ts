// registry/registry: the distribution API's operations over a RegistryStorage,
// free of HTTP. The server (server.ts) maps requests onto these methods.
//
// Rules it keeps: a blob is served from a repository only when linked into it
// (pushed there, mounted, or referenced by one of its manifests); a manifest
// is stored byte for byte as a blob and described by a ManifestRecord; a
// manifest whose config, layers or child manifests are missing is refused
// (MANIFEST_BLOB_UNKNOWN), except for non-distributable layers (with `urls`)
// and descriptors whose bytes travel inline (`data`).
import { Readable } from "node:stream";
import { writeBlob, type BlobInfo } from "../content/index.js";
import { Digester, DocumentError, digestAlgorithm, isIndexType, isManifestType, parseDocument, type Descriptor, type Digest, type ParsedDocument } from "../oci/index.js";
import { isKind, nullLogger, type Logger } from "../internal/index.js";
import { registryError } from "./errors.js";
import { Liveness } from "./liveness.js";
import type { ManifestReference, RepositoryName, Tag } from "./names.js";
import type { ManifestRecord, RegistryStorage } from "./storage.js";
import { DEFAULT_UPLOAD_LIMITS, ONE_GO, oneShotRef, UploadSessions, type UploadLimits, type UploadStatus } from "./uploads.js";
import { compareNames } from "./fs-storage.js";
import { pump } from "./pump.js";

export interface RegistryLimits {
  /** The largest manifest accepted (413 above it). */
  readonly maxManifestBytes: number;
  /** The largest `n` of a tags or catalog page, and the page size without `n`. */
  readonly maxListEntries: number;
  readonly uploads: UploadLimits;
}

export const DEFAULT_LIMITS: RegistryLimits = { maxManifestBytes: 4 * 1024 * 1024, maxListEntries: 1000, uploads: DEFAULT_UPLOAD_LIMITS };

export interface RegistryOptions {
  readonly logger?: Logger;
  readonly limits?: Partial<RegistryLimits>;
  /** Whether DELETE of blobs and manifests is allowed (tags can always be deleted when this is on). */
  readonly deleteEnabled?: boolean;
  /** Called after a manifest was stored under a tag (the daemon's store learns of pushes this way). */
  readonly onTagged?: (repo: RepositoryName, tag: Tag, digest: Digest) => Promise<void>;
}

export interface Page<T> {
  readonly items: T[];
  /** The `last` of the next page, when there is one. */
  readonly next?: string;
}

export interface StoredManifest {
  readonly record: ManifestRecord;
  readonly bytes: Buffer;
}

/** Immutable manifest bytes by digest, bounded in total size. */
class ManifestCache {
  readonly #max: number;
  #size = 0;
  readonly #map = new Map<Digest, Buffer>();
  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }
  get(d: Digest): Buffer | undefined {
    const b = this.#map.get(d);
    if (b) {
      this.#map.delete(d);
      this.#map.set(d, b);
    }
    return b;
  }
  set(d: Digest, b: Buffer): void {
    if (b.length > this.#max / 4 || this.#map.has(d)) return;
    this.#map.set(d, b);
    this.#size += b.length;
    for (const [k, v] of this.#map) {
      if (this.#size <= this.#max) break;
      this.#map.delete(k);
      this.#size -= v.length;
    }
  }
  delete(d: Digest): void {
    const b = this.#map.get(d);
    if (b) {
      this.#map.delete(d);
      this.#size -= b.length;
    }
  }
}

function digestBytes(bytes: Uint8Array, algorithm: "sha256" | "sha512"): Digest {
  const d = new Digester(algorithm);
  d.update(bytes);
  return d.digest();
}

/** The descriptor's inline bytes when they are present and match it. */
function inlineData(desc: Descriptor): Buffer | undefined {
  if (desc.data === undefined) return undefined;
  const bytes = Buffer.from(desc.data, "base64");
  if (bytes.length !== desc.size || digestBytes(bytes, digestAlgorithm(desc.digest)) !== desc.digest) {
    throw registryError("MANIFEST_INVALID", `invalid manifest: the data of descriptor ${desc.digest} does not match its digest and size`);
  }
  return bytes;
}

export class Registry {
  readonly storage: RegistryStorage;
  readonly uploads: UploadSessions;
  readonly liveness = new Liveness();
  readonly limits: RegistryLimits;
  readonly deleteEnabled: boolean;
  readonly #logger: Logger;
  readonly #cache = new ManifestCache(64 * 1024 * 1024);
  readonly #onTagged: RegistryOptions["onTagged"];

  private constructor(storage: RegistryStorage, uploads: UploadSessions, limits: RegistryLimits, options: RegistryOptions) {
    this.storage = storage;
    this.uploads = uploads;
    this.limits = limits;
    this.deleteEnabled = options.deleteEnabled ?? true;
    this.#logger = options.logger ?? nullLogger;
    this.#onTagged = options.onTagged;
  }

  static async open(storage: RegistryStorage, options: RegistryOptions = {}): Promise<Registry> {
    const limits: RegistryLimits = { ...DEFAULT_LIMITS, ...options.limits, uploads: { ...DEFAULT_UPLOAD_LIMITS, ...options.limits?.uploads } };
    const logger = options.logger ?? nullLogger;
    const uploads = await UploadSessions.open(storage.blobs, limits.uploads, logger.with({ part: "uploads" }));
    return new Registry(storage, uploads, limits, options);
  }

  async close(): Promise<void> {
    await this.uploads.close();
    await this.storage.close?.();
  }

  // ---- blobs ---------------------------------------------------------------

  /** The blob, when it is in `repo` (linked, or one of its manifests). */
  async blob(repo: RepositoryName, digest: Digest): Promise<BlobInfo> {
    const repos = this.storage.repositories;
    const linked = (await repos.hasBlob(repo, digest)) || (await repos.manifest(repo, digest)) !== undefined;
    if (linked) {
      try {
        return await this.storage.blobs.info(digest);
      } catch (e) {
        if (!isKind(e, "not-found")) throw e;
      }
    }
    throw registryError("BLOB_UNKNOWN", `blob ${digest} is not in repository ${repo}`, { detail: { digest } });
  }

  /** Like `blob`, but marks the blob as needed: a client that sees it exists will reference it. */
  async checkBlob(repo: RepositoryName, digest: Digest): Promise<BlobInfo> {
    return this.liveness.use([digest], () => this.blob(repo, digest));
  }

  /** Unlinks the blob from the repository; its bytes go when GC finds nothing else needs them. */
  async deleteBlob(repo: RepositoryName, digest: Digest): Promise<void> {
    this.#requireDelete("delete blob");
    if (!(await this.storage.repositories.unlinkBlob(repo, digest))) throw registryError("BLOB_UNKNOWN", `blob ${digest} is not in repository ${repo}`, { detail: { digest } });
  }

  #requireDelete(action: string): void {
    if (!this.deleteEnabled) throw registryError("UNSUPPORTED", `${action}: deletion is disabled on this registry`);
  }

  // ---- uploads -------------------------------------------------------------

  async startUpload(repo: RepositoryName, client: string): Promise<UploadStatus> {
    return this.uploads.start(repo, client);
  }

  /** A monolithic upload (POST with `digest`): the body is the whole blob. */
  async putBlob(repo: RepositoryName, digest: Digest, body: Readable, length: number | undefined): Promise<BlobInfo> {
    const writer = await this.storage.blobs.writer(oneShotRef(repo), length === undefined ? { digest } : { digest, size: length }, ONE_GO);
    try {
      await pump(writer, body as AsyncIterable<Uint8Array>);
    } catch (e) {
      await writer.abort().catch(() => {});
      if (isKind(e, "invalid-argument")) throw registryError("SIZE_INVALID", `upload blob ${digest}: ${e.message}`, { cause: e });
      throw e;
    }
    // Under the digest's lock from commit to link, so a collection cannot take the blob in between.
    return this.liveness.use([digest], async () => {
      let info: BlobInfo;
      try {
        info = await writer.commit();
      } catch (e) {
        await writer.abort().catch(() => {});
        if (isKind(e, "data-corrupt")) {
          const sizeWrong = /size is/.test(e.message);
          throw registryError(sizeWrong ? "SIZE_INVALID" : "DIGEST_INVALID", `upload blob ${digest}: ${e.message}`, { cause: e, detail: { digest } });
        }
        throw e;
      }
      await this.#link(repo, info.digest);
      return info;
    });
  }

  async appendUpload(repo: RepositoryName, id: string, body: Readable, options: { range?: { start: number; end: number }; length?: number }): Promise<UploadStatus> {
    return this.uploads.append(repo, id, body, options);
  }

  async finishUpload(repo: RepositoryName, id: string, digest: Digest, body: Readable | undefined, options: { range?: { start: number; end: number }; length?: number }): Promise<BlobInfo> {
    return this.uploads.finish(repo, id, digest, body, options, (commit) =>
      this.liveness.use([digest], async () => {
        const info = await commit();
        await this.#link(repo, info.digest);
        return info;
      }),
    );
  }

  async #link(repo: RepositoryName, digest: Digest): Promise<void> {
    this.liveness.touch([digest]);
    await this.storage.repositories.linkBlob(repo, digest);
  }

  /**
   * Mounts a blob into `repo` from `from`, or (without `from`) from anywhere
   * in the registry. Undefined when it cannot: the caller starts an upload.
   */
  async mount(repo: RepositoryName, digest: Digest, from: RepositoryName | undefined): Promise<BlobInfo | undefined> {
    return this.liveness.use([digest], async () => {
      const repos = this.storage.repositories;
      if (from !== undefined && !(await repos.hasBlob(from, digest)) && !(await repos.manifest(from, digest))) return undefined;
      let info: BlobInfo;
      try {
        info = await this.storage.blobs.info(digest);
      } catch (e) {
        if (isKind(e, "not-found")) return undefined;
        throw e;
      }
      await repos.linkBlob(repo, digest);
      return info;
    });
  }

  // ---- manifests -----------------------------------------------------------

  async #resolve(repo: RepositoryName, ref: ManifestReference): Promise<ManifestRecord> {
    const repos = this.storage.repositories;
    const digest = ref.kind === "digest" ? ref.digest : await repos.resolveTag(repo, ref.tag);
    const record = digest === undefined ? undefined : await repos.manifest(repo, digest);
    if (!record) {
      if (!(await repos.exists(repo))) throw registryError("NAME_UNKNOWN", `repository ${repo} is not known to the registry`, { detail: { name: repo } });
      const what = ref.kind === "digest" ? ref.digest : ref.tag;
      throw registryError("MANIFEST_UNKNOWN", `manifest ${what} is not in repository ${repo}`, { detail: ref.kind === "digest" ? { digest: ref.digest } : { tag: ref.tag } });
    }
    return record;
  }

  async manifestInfo(repo: RepositoryName, ref: ManifestReference): Promise<ManifestRecord> {
    const record = await this.#resolve(repo, ref);
    this.liveness.touch([record.digest]);
    return record;
  }

  async getManifest(repo: RepositoryName, ref: ManifestReference): Promise<StoredManifest> {
    const record = await this.#resolve(repo, ref);
    let bytes = this.#cache.get(record.digest);
    if (!bytes) {
      try {
        bytes = await this.storage.blobs.readAll(record.digest, Math.max(this.limits.maxManifestBytes, record.size));
      } catch (e) {
        if (isKind(e, "not-found")) throw registryError("MANIFEST_UNKNOWN", `manifest ${record.digest} of repository ${repo} has no content`, { cause: e });
        throw e;
      }
      this.#cache.set(record.digest, bytes);
    }
    return { record, bytes };
  }

  /**
   * Stores a manifest byte for byte under `ref`. The digest is the canonical
   * one (sha256, or the algorithm of a digest reference) and must equal a
   * digest reference. Returns the record, whose `subject` the server echoes.
   */
  async putManifest(repo: RepositoryName, ref: ManifestReference, contentType: string | undefined, bytes: Buffer): Promise<ManifestRecord> {
    if (bytes.length > this.limits.maxManifestBytes) throw registryError("MANIFEST_TOO_LARGE", `manifest of ${bytes.length} bytes exceeds the limit of ${this.limits.maxManifestBytes}`);
    const algorithm = ref.kind === "digest" ? digestAlgorithm(ref.digest) : "sha256";
    const digest = digestBytes(bytes, algorithm);
    if (ref.kind === "digest" && digest !== ref.digest) throw registryError("DIGEST_INVALID", `manifest digest is ${digest}, not ${ref.digest} as its reference says`, { detail: { digest: ref.digest } });
    const declared = contentType !== undefined && (isManifestType(contentType) || isIndexType(contentType)) ? contentType : undefined;
    let doc: ParsedDocument;
    try {
      doc = parseDocument(bytes, declared);
    } catch (e) {
      if (e instanceof DocumentError) throw registryError("MANIFEST_INVALID", e.message, { cause: e });
      throw e;
    }
    const mediaType = doc.kind === "manifest" ? (doc.manifest.mediaType ?? declared ?? doc.mediaType) : (doc.index.mediaType ?? declared ?? doc.mediaType);
    const record = this.#record(digest, mediaType, bytes.length, doc);
    const inline: { desc: Descriptor; bytes: Buffer }[] = [];
    const needed: Descriptor[] = [];
    if (doc.kind === "manifest") {
      for (const desc of [doc.manifest.config, ...doc.manifest.layers]) {
        if (desc.urls && desc.urls.length > 0) continue;
        const data = inlineData(desc);
        if (data) inline.push({ desc, bytes: data });
        else needed.push(desc);
      }
    }
    const repos = this.storage.repositories;
    await this.liveness.use([digest, ...record.blobs, ...record.manifests], async () => {
      const missing: { digest: Digest }[] = [];
      for (const desc of needed) {
        const info = await this.storage.blobs.info(desc.digest).catch((e: unknown) => {
          if (isKind(e, "not-found")) return undefined;
          throw e;
        });
        if (!info) missing.push({ digest: desc.digest });
        else if (info.size !== desc.size) throw registryError("MANIFEST_INVALID", `invalid manifest: blob ${desc.digest} is ${info.size} bytes, the manifest says ${desc.size}`);
      }
      for (const child of record.manifests) if (!(await repos.manifest(repo, child))) missing.push({ digest: child });
      if (missing.length > 0) {
        const first = missing[0]!.digest;
        throw registryError("MANIFEST_BLOB_UNKNOWN", `manifest references ${missing.length === 1 ? `${first}, which is` : `${missing.length} blobs or manifests (first ${first}), which are`} unknown to the registry`, { detail: missing.length === 1 ? missing[0] : missing });
      }
      for (const { desc, bytes: data } of inline) {
        if (!(await this.storage.blobs.has(desc.digest))) await writeBlob(this.storage.blobs, oneShotRef(repo), Readable.from([data]), { digest: desc.digest, size: desc.size }, undefined, ONE_GO);
      }
      if (!(await this.storage.blobs.has(digest))) await writeBlob(this.storage.blobs, oneShotRef(repo), Readable.from([bytes]), { digest, size: bytes.length }, undefined, ONE_GO);
      for (const d of record.blobs) await repos.linkBlob(repo, d);
      await repos.putManifest(repo, record);
      if (ref.kind === "tag") await repos.setTag(repo, ref.tag, digest);
    });
    this.#cache.set(digest, bytes);
    if (ref.kind === "tag" && this.#onTagged) await this.#onTagged(repo, ref.tag, digest);
    return record;
  }

  #record(digest: Digest, mediaType: string, size: number, doc: ParsedDocument): ManifestRecord {
    if (doc.kind === "manifest") {
      const m = doc.manifest;
      const artifactType = m.artifactType ?? m.config.mediaType;
      return {
        digest,
        mediaType,
        size,
        artifactType,
        ...(m.annotations ? { annotations: m.annotations } : {}),
        ...(m.subject ? { subject: m.subject.digest } : {}),
        blobs: [...new Set([m.config, ...m.layers].filter((d) => !(d.urls && d.urls.length > 0)).map((d) => d.digest))],
        manifests: [],
      };
    }
    const x = doc.index;
    return {
      digest,
      mediaType,
      size,
      ...(x.artifactType ? { artifactType: x.artifactType } : {}),
      ...(x.annotations ? { annotations: x.annotations } : {}),
      ...(x.subject ? { subject: x.subject.digest } : {}),
      blobs: [],
      manifests: [...new Set(x.manifests.filter((d) => isManifestType(d.mediaType) || isIndexType(d.mediaType)).map((d) => d.digest))],
    };
  }

  /** By tag: untags (the manifest stays). By digest: removes the manifest and its tags. */
  async deleteManifest(repo: RepositoryName, ref: ManifestReference): Promise<void> {
    this.#requireDelete("delete manifest");
    const repos = this.storage.repositories;
    if (ref.kind === "tag") {
      if (!(await repos.deleteTag(repo, ref.tag))) {
        if (!(await repos.exists(repo))) throw registryError("NAME_UNKNOWN", `repository ${repo} is not known to the registry`, { detail: { name: repo } });
        throw registryError("MANIFEST_UNKNOWN", `tag ${ref.tag} is not in repository ${repo}`, { detail: { tag: ref.tag } });
      }
      return;
    }
    if (!(await repos.deleteManifest(repo, ref.digest))) {
      if (!(await repos.exists(repo))) throw registryError("NAME_UNKNOWN", `repository ${repo} is not known to the registry`, { detail: { name: repo } });
      throw registryError("MANIFEST_UNKNOWN", `manifest ${ref.digest} is not in repository ${repo}`, { detail: { digest: ref.digest } });
    }
  }

  // ---- discovery -----------------------------------------------------------

  #page<T extends string>(all: readonly T[], n: number | undefined, last: string | undefined): Page<T> {
    const limit = Math.min(n ?? this.limits.maxListEntries, this.limits.maxListEntries);
    const start = last === undefined ? 0 : all.findIndex((x) => compareNames(x, last) > 0);
    const from = start === -1 ? all.length : start;
    const items = all.slice(from, from + limit);
    const more = from + limit < all.length && limit > 0;
    return more ? { items, next: items[items.length - 1]! } : { items };
  }

  /** Checks `n` against the bounds: 0..maxListEntries. */
  checkListSize(n: number): void {
    if (n > this.limits.maxListEntries) throw registryError("PAGINATION_NUMBER_INVALID", `n=${n} exceeds the page limit of ${this.limits.maxListEntries}`);
  }

  async tags(repo: RepositoryName, n: number | undefined, last: string | undefined): Promise<Page<Tag>> {
    const repos = this.storage.repositories;
    const tags = await repos.tags(repo);
    if (tags.length === 0 && !(await repos.exists(repo))) throw registryError("NAME_UNKNOWN", `repository ${repo} is not known to the registry`, { detail: { name: repo } });
    return this.#page(tags, n, last);
  }

  async catalog(n: number | undefined, last: string | undefined): Promise<Page<RepositoryName>> {
    return this.#page(await this.storage.repositories.repositories(), n, last);
  }

  /** Manifests of `repo` whose subject is `digest`, as descriptors, optionally of one artifactType. */
  async referrers(repo: RepositoryName, digest: Digest, artifactType: string | undefined): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const r of await this.storage.repositories.manifests(repo)) {
      if (r.subject !== digest) continue;
      if (artifactType !== undefined && r.artifactType !== artifactType) continue;
      out.push({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: { ...r.annotations } } : {}),
      });
    }
    return out.sort((a, b) => compareNames(a.digest, b.digest));
  }

  /** Forgets cached bytes of a manifest GC removed. */
  forget(digest: Digest): void {
    this.#cache.delete(digest);
  }
}


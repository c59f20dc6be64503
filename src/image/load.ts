// `load`: images from a docker-archive (what `docker save` writes, old and
// new style) or an OCI image layout, read as one stream.
//
// The archive is read once: every file that may be a blob goes straight into
// the content store (hashed as it streams); small JSON documents are kept in
// memory (capped). Which files are layers is only known once manifest.json
// or index.json has been read, which may come last, so unpacking follows the
// read. Nothing is recorded until every layer was verified against its
// image's diffIDs and unpacked.
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import {
  Digester,
  digestOf,
  familiarString,
  hostPlatform,
  layerCompression,
  MAX_DOCUMENT_BYTES,
  parseDigest,
  parseDocument,
  parseImageConfig,
  parseReference,
  selectPlatform,
  type Descriptor,
  type Digest,
  type Manifest,
  type Reference,
} from "../oci/index.js";
import { asWharfError, wharfError } from "../internal/index.js";
import { applyLayer, decompress, detectCompression, readTar, type TarEntry } from "../archive/index.js";
import { writableDir } from "../snapshot/index.js";
import type { Lease } from "./gc.js";
import type { LoadResult } from "./service.js";
import type { EarlyUnpack, EarlyUnpacks, ImageStore } from "./store.js";

interface StoredFile {
  readonly digest: Digest;
  readonly size: number;
  /** Digest of the uncompressed bytes when the file is a compressed tar; the digest itself otherwise. */
  readonly diffId: Digest;
  readonly compressed: boolean;
}

interface ArchiveFiles {
  readonly stored: Map<string, StoredFile>;
  readonly small: Map<string, Buffer>;
  readonly links: Map<string, string>;
  readonly early: Early;
}

/**
 * Files that look like layers are unpacked while they stream into the
 * content store, into snapshots without a parent: which file is which
 * image's layer is only known at the end of the archive, and a layer's own
 * dir does not depend on what lies below it. unpack() then takes each one
 * and commits it in its place in the chain; the rest are removed.
 */
class Early implements EarlyUnpacks {
  readonly #byBlob = new Map<Digest, Promise<EarlyUnpack | undefined>>();
  readonly #store: ImageStore;
  constructor(store: ImageStore) {
    this.#store = store;
  }
  add(blob: Digest, unpacked: Promise<EarlyUnpack | undefined>): void {
    if (this.#byBlob.has(blob)) {
      void unpacked.then((u) => u && this.#store.snapshotter.remove(u.key).catch(() => {}));
      return;
    }
    this.#byBlob.set(blob, unpacked);
  }
  async take(blob: Digest): Promise<EarlyUnpack | undefined> {
    const p = this.#byBlob.get(blob);
    this.#byBlob.delete(blob);
    return p;
  }
  /** Removes what no layer took. */
  async discard(): Promise<void> {
    const left = [...this.#byBlob.values()];
    this.#byBlob.clear();
    for (const p of left) {
      const u = await p;
      if (u) await this.#store.snapshotter.remove(u.key).catch(() => {});
    }
  }
}

const LOAD_BATCH = 1 << 20;

/** Below this size a layer is not worth unpacking early. */
const EARLY_MIN_BYTES = 64 * 1024;

function looksLikeTar(chunk: Buffer): boolean {
  return chunk.length >= 262 && chunk.toString("latin1", 257, 262) === "ustar";
}

async function feed(out: PassThrough | undefined, chunk: Buffer): Promise<void> {
  if (!out || out.destroyed) return;
  if (!out.write(chunk)) await new Promise<void>((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
  });
}

/** A layer unpacked early, before storeFile knows its diffID. */
type EarlyApplied = Omit<EarlyUnpack, "diffId">;

/** Starts unpacking a file that looks like a layer; resolves to undefined when it is not one after all. */
async function startEarly(store: ImageStore, lease: Lease): Promise<{ input: PassThrough; done: Promise<EarlyApplied | undefined> }> {
  const key = `extract-load-${randomBytes(8).toString("hex")}`;
  lease.addSnapshot(key);
  const mounts = await store.snapshotter.prepare(key);
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  // storeFile hashes the same bytes (the file itself, or its decompressed form): no second hash here.
  const done = applyLayer(writableDir(mounts), input, { hash: false }).then(
    (r) => ({ key, ...r }),
    async () => {
      await store.snapshotter.remove(key).catch(() => {});
      return undefined;
    },
  );
  return { input, done };
}

const BLOB_PATH_RE = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/;

function fail(detail: string): never {
  throw wharfError("invalid-argument", `load: ${detail}`);
}

function cleanName(name: string): string {
  const n = posix.normalize(name.replace(/^(\.\/)+/, "")).replace(/\/$/, "");
  if (n.startsWith("../") || n === ".." || n.startsWith("/")) fail(`entry ${JSON.stringify(name)} points outside the archive`);
  return n;
}

/** Top-level JSON documents and legacy per-layer metadata: read into memory. */
function isDocumentName(name: string): boolean {
  return !name.startsWith("blobs/") && (name.endsWith(".json") || name === "repositories" || name === "oci-layout" || name.endsWith("/json") || name.endsWith("/VERSION"));
}

async function readSmall(body: AsyncIterable<Buffer>, max: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) fail(`${JSON.stringify(name)} is larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Streams one archive file into the content store, hashing the uncompressed form too when it is compressed. */
async function storeFile(store: ImageStore, files: ArchiveFiles, entry: TarEntry, name: string, lease: Lease): Promise<{ file: StoredFile; bytes?: Buffer }> {
  const m = BLOB_PATH_RE.exec(name);
  const expected = m ? parseDigest(`${m[1]}:${m[2]}`) : undefined;
  const writer = await store.content.writer(`load-${randomBytes(8).toString("hex")}`, expected ? { digest: expected, size: entry.header.size } : { size: entry.header.size });
  const keep = entry.header.size <= MAX_DOCUMENT_BYTES ? ([] as Buffer[]) : undefined;
  let first = true;
  let compressed = false;
  let inflate: PassThrough | undefined;
  let diffDone: Promise<Digest> | undefined;
  let early: { input: PassThrough; done: Promise<EarlyApplied | undefined> } | undefined;
  // Bytes go on in batches: one disk write of a batch overlaps reading the next.
  let pendingWrite: Promise<void> = Promise.resolve();
  let parts: Buffer[] = [];
  let partsSize = 0;
  const onBatch = async (chunk: Buffer): Promise<void> => {
    if (first) {
      first = false;
      compressed = detectCompression(chunk) !== "none";
      if ((compressed || looksLikeTar(chunk)) && entry.header.size >= EARLY_MIN_BYTES) early = await startEarly(store, lease);
      if (compressed) {
        inflate = new PassThrough();
        const digester = new Digester();
        const plain = decompress(inflate);
        const toApply = early?.input;
        diffDone = (async () => {
          try {
            for await (const c of plain as AsyncIterable<Buffer>) {
              digester.update(c);
              await feed(toApply, c);
            }
          } catch (e) {
            toApply?.destroy(e as Error);
            throw e;
          }
          toApply?.end();
          return digester.digest();
        })();
        diffDone.catch(() => {});
      }
    }
    keep?.push(chunk);
    if (inflate && !inflate.write(chunk)) await new Promise((r) => inflate!.once("drain", r));
    else if (!compressed) await feed(early?.input, chunk);
    await pendingWrite;
    pendingWrite = writer.write(chunk);
    pendingWrite.catch(() => {});
  };
  const flush = async (): Promise<void> => {
    if (partsSize === 0) return;
    const batch = parts.length === 1 ? parts[0]! : Buffer.concat(parts, partsSize);
    parts = [];
    partsSize = 0;
    await onBatch(batch);
  };
  try {
    for await (const chunk of entry.body as AsyncIterable<Buffer>) {
      parts.push(chunk);
      partsSize += chunk.length;
      if (partsSize >= LOAD_BATCH) await flush();
    }
    await flush();
    await pendingWrite;
    inflate?.end();
    if (!compressed) early?.input.end();
    const info = await writer.commit();
    lease.addBlob(info.digest);
    let diffId = info.digest;
    if (diffDone) {
      try {
        diffId = await diffDone;
      } catch {
        // Compressed-looking but not decompressible: not a layer; keep the blob, it may be anything.
        compressed = false;
      }
    }
    if (early) {
      const layerDiffId = diffId;
      files.early.add(info.digest, early.done.then((u) => u && { ...u, diffId: layerDiffId }));
    }
    return { file: { digest: info.digest, size: info.size, diffId, compressed }, ...(keep ? { bytes: Buffer.concat(keep) } : {}) };
  } catch (e) {
    inflate?.destroy();
    early?.input.destroy();
    if (early) void early.done.then((u) => u && store.snapshotter.remove(u.key).catch(() => {}));
    await writer.abort().catch(() => {});
    throw e;
  }
}

async function readArchive(store: ImageStore, source: Readable, lease: Lease, early: Early): Promise<ArchiveFiles> {
  const files: ArchiveFiles = { stored: new Map(), small: new Map(), links: new Map(), early };
  for await (const entry of readTar(source)) {
    const name = cleanName(entry.header.name);
    switch (entry.header.type) {
      case "file": {
        if (isDocumentName(name)) {
          files.small.set(name, await readSmall(entry.body, MAX_DOCUMENT_BYTES, name));
        } else {
          const { file, bytes } = await storeFile(store, files, entry, name, lease);
          files.stored.set(name, file);
          if (bytes) files.small.set(name, bytes);
        }
        break;
      }
      case "symlink":
        files.links.set(name, cleanName(posix.join(posix.dirname(name), entry.header.linkname)));
        break;
      case "hardlink":
        files.links.set(name, cleanName(entry.header.linkname));
        break;
      default:
        break;
    }
  }
  return files;
}

function resolvePath(files: ArchiveFiles, path: string): string {
  let p = cleanName(path);
  for (let i = 0; i < 16 && files.links.has(p); i++) p = files.links.get(p)!;
  return p;
}

function smallFile(files: ArchiveFiles, path: string, what: string): Buffer {
  const bytes = files.small.get(resolvePath(files, path));
  if (!bytes) fail(`${what} ${JSON.stringify(path)} is missing from the archive`);
  return bytes;
}

function blobBytes(files: ArchiveFiles, digest: Digest, what: string): Buffer {
  const bytes = files.small.get(`blobs/${digest.replace(":", "/")}`);
  if (!bytes) fail(`${what} ${digest} is missing from the archive`);
  if (digestOf(bytes, digest.startsWith("sha512:") ? "sha512" : "sha256") !== digest) throw wharfError("data-corrupt", `load: ${what} ${digest} does not match its digest`);
  return bytes;
}

interface PendingImage {
  readonly names: Reference[];
  readonly manifest?: Descriptor;
  readonly configBytes: Buffer;
  readonly layers: { descriptor: Descriptor; diffId: Digest }[];
}

function parseName(text: string): Reference {
  try {
    return parseReference(text);
  } catch (e) {
    fail((e as Error).message);
  }
}

/** docker-archive: manifest.json lists each image's config, layers and tags. */
function fromDockerManifest(files: ArchiveFiles, text: Buffer): PendingImage[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text.toString("utf8"));
  } catch (e) {
    fail(`manifest.json is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(entries)) fail("manifest.json is not a list");
  return entries.map((raw: unknown, i) => {
    const e = raw as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    if (typeof e.Config !== "string" || !Array.isArray(e.Layers)) fail(`manifest.json entry ${i} needs Config and Layers`);
    const configBytes = smallFile(files, e.Config, "config");
    const config = parseImageConfig(configBytes);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== e.Layers.length) fail(`image ${i} has ${e.Layers.length} layers but its config lists ${diffIds.length}`);
    const layers = e.Layers.map((p: unknown, j) => {
      if (typeof p !== "string") fail(`manifest.json entry ${i} has a non-string layer`);
      const file = files.stored.get(resolvePath(files, p));
      if (!file) fail(`layer ${JSON.stringify(p)} is missing from the archive`);
      if (file.diffId !== diffIds[j]) {
        throw wharfError("data-corrupt", `load: layer ${JSON.stringify(p)} has content ${file.diffId}, the image config says ${diffIds[j]}`);
      }
      return {
        descriptor: { mediaType: file.compressed ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar", digest: file.digest, size: file.size },
        diffId: file.diffId,
      };
    });
    const tags = Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === "string") : [];
    return { names: tags.map(parseName), configBytes, layers };
  });
}

/** OCI layout: index.json names manifests (or nested indexes) by digest. */
function fromOciIndex(files: ArchiveFiles, text: Buffer): PendingImage[] {
  const parsed = parseDocument(text);
  if (parsed.kind !== "index") fail("index.json is not an image index");
  const out: PendingImage[] = [];
  for (const desc of parsed.index.manifests) {
    const manifest = resolveManifest(files, desc, 0);
    const configBytes = blobBytes(files, manifest.manifest.config.digest, "config");
    const config = parseImageConfig(configBytes);
    if (config.rootfs.diff_ids.length !== manifest.manifest.layers.length) fail(`manifest ${manifest.descriptor.digest} and its config disagree on the number of layers`);
    const layers = manifest.manifest.layers.map((l, j) => {
      if (layerCompression(l.mediaType) === undefined) fail(`layer ${l.digest} has unsupported media type ${l.mediaType}`);
      const file = files.stored.get(`blobs/${l.digest.replace(":", "/")}`);
      if (!file) fail(`layer ${l.digest} is missing from the archive`);
      return { descriptor: l, diffId: config.rootfs.diff_ids[j]! };
    });
    const names: Reference[] = [];
    const full = desc.annotations?.["io.containerd.image.name"];
    const refName = desc.annotations?.["org.opencontainers.image.ref.name"];
    if (full) names.push(parseName(full));
    else if (refName && /[/:]/.test(refName)) names.push(parseName(refName));
    out.push({ names, manifest: manifest.descriptor, configBytes, layers });
  }
  return out;
}

function resolveManifest(files: ArchiveFiles, desc: Descriptor, depth: number): { descriptor: Descriptor; manifest: Manifest } {
  if (depth > 4) fail("image indexes nest too deeply");
  const bytes = blobBytes(files, desc.digest, "manifest");
  const parsed = parseDocument(bytes, desc.mediaType);
  if (parsed.kind === "manifest") return { descriptor: { mediaType: parsed.mediaType, digest: desc.digest, size: bytes.length }, manifest: parsed.manifest };
  const chosen = selectPlatform(hostPlatform(), parsed.index.manifests) ?? (parsed.index.manifests.length === 1 ? parsed.index.manifests[0] : undefined);
  if (!chosen) fail(`index ${desc.digest} has no manifest for ${hostPlatform().os}/${hostPlatform().architecture}`);
  return resolveManifest(files, chosen, depth + 1);
}

export async function loadArchive(store: ImageStore, source: Readable, lease: Lease, signal?: AbortSignal): Promise<LoadResult> {
  const early = new Early(store);
  try {
    const files = await readArchive(store, source, lease, early);
    const manifestJson = files.small.get("manifest.json");
    const indexJson = files.small.get("index.json");
    let pending: PendingImage[];
    if (manifestJson) pending = fromDockerManifest(files, manifestJson);
    else if (indexJson) pending = fromOciIndex(files, indexJson);
    else fail("archive has neither manifest.json nor index.json: not a docker-archive or OCI layout");
    if (pending.length === 0) fail("archive holds no images");
    // Verify and unpack every image before recording any.
    const ready = [];
    for (const image of pending) {
      const sizes = await store.unpack(image.layers, lease, { ...(signal ? { signal } : {}), early: files.early });
      const config = parseImageConfig(image.configBytes);
      const configDigest = await store.putDocument(image.configBytes, lease);
      let manifest = image.manifest;
      if (!manifest) manifest = (await store.putImageDocuments(config, image.layers.map((l) => l.descriptor), lease)).manifest;
      ready.push({ image, config, configDigest, manifest, sizes });
    }
    const names: string[] = [];
    const ids: Digest[] = [];
    for (const r of ready) {
      await store.commitImage({ manifest: r.manifest, config: r.config, configDigest: r.configDigest, layers: r.sizes, names: r.image.names });
      if (r.image.names.length) names.push(...r.image.names.map((n) => familiarString(n)));
      else ids.push(r.configDigest);
    }
    return { names, ids };
  } catch (e) {
    throw asWharfError(e, "load");
  } finally {
    await early.discard();
  }
}

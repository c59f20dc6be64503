// `save`: images to one tar stream, as a docker-archive or an OCI layout.
//
// Both formats are an OCI image layout (`oci-layout`, `index.json`,
// `blobs/<alg>/<hex>`); the docker format adds `manifest.json` and
// `repositories` (as `docker save` has since Docker 25), which older docker
// versions and skopeo's docker-archive transport read. Docker-archive layers
// must be uncompressed tars, so compressed layers are inflated on the way
// out; the OCI format writes blobs exactly as stored.
import { PassThrough, type Readable } from "node:stream";
import {
  digestHex,
  digestOf,
  familiarName,
  formatReference,
  layerCompression,
  MediaType,
  type Descriptor,
  type Digest,
  type Manifest,
  type Reference,
} from "../oci/index.js";
import { wharfError } from "../internal/index.js";
import type { Provider } from "../content/content.js";
import { decompress, writeTar, type TarInput } from "../archive/index.js";
import type { ImageView, SaveFormat } from "./service.js";

interface BlobSource {
  readonly digest: Digest;
  readonly size: number;
  readonly open: () => Promise<Readable>;
}

interface PlannedImage {
  readonly manifest: Descriptor;
  readonly manifestBytes: Buffer;
  readonly configDigest: Digest;
  readonly layers: readonly Digest[];
  readonly names: readonly Reference[];
}

const DOCKER_TO_OCI: Record<string, string> = {
  [MediaType.DockerLayer]: MediaType.OciLayer,
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerLayerForeign]: MediaType.OciLayerNondistributableGzip,
  [MediaType.DockerConfig]: MediaType.OciConfig,
};

function blobPath(digest: Digest): string {
  return `blobs/${digest.replace(":", "/")}`;
}

/** Blobs are read 1 MiB at a time: a 64 KiB read per chunk costs the stream a turn of the event loop per 64 KiB. */
const SAVE_READ = 1 << 20;

/**
 * Decides every blob and document before the first byte is written, so a
 * missing blob fails the request instead of truncating the archive.
 */
async function plan(content: Provider, images: readonly { view: ImageView; names: readonly Reference[] }[], format: SaveFormat) {
  const blobs = new Map<Digest, BlobSource>();
  const planned: PlannedImage[] = [];
  const addStored = async (digest: Digest) => {
    if (blobs.has(digest)) return;
    const info = await content.info(digest);
    blobs.set(digest, { digest, size: info.size, open: () => content.reader(digest, {}, { bufferSize: SAVE_READ }) });
  };
  for (const { view, names } of images) {
    const m = view.manifest;
    const needsInflate = format === "docker" && view.layers.some((l) => layerCompression(l.descriptor.mediaType) !== "none");
    const dockerTypes = m.mediaType === MediaType.DockerManifest || m.config.mediaType === MediaType.DockerConfig || m.layers.some((l) => l.mediaType in DOCKER_TO_OCI);
    let manifest: Manifest;
    let layers: Digest[];
    if (needsInflate) {
      layers = view.layers.map((l) => l.diffId);
      for (const l of view.layers) {
        if (blobs.has(l.diffId)) continue;
        if (layerCompression(l.descriptor.mediaType) === "none") {
          await addStored(l.descriptor.digest);
          continue;
        }
        await content.info(l.descriptor.digest);
        blobs.set(l.diffId, { digest: l.diffId, size: l.size, open: async () => decompress(await content.reader(l.descriptor.digest, {}, { bufferSize: SAVE_READ })) });
      }
      manifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: m.config.digest, size: m.config.size },
        layers: view.layers.map((l) => ({ mediaType: MediaType.OciLayer, digest: l.diffId, size: l.size })),
      };
    } else {
      layers = view.layers.map((l) => l.descriptor.digest);
      for (const d of layers) await addStored(d);
      manifest = dockerTypes
        ? {
            schemaVersion: 2,
            mediaType: MediaType.OciManifest,
            config: { ...m.config, mediaType: MediaType.OciConfig },
            layers: m.layers.map((l) => ({ ...l, mediaType: DOCKER_TO_OCI[l.mediaType] ?? l.mediaType })),
          }
        : m;
    }
    await addStored(m.config.digest);
    let manifestBytes: Buffer;
    let manifestDesc: Descriptor;
    if (manifest === m) {
      await addStored(view.target.digest);
      manifestBytes = Buffer.alloc(0);
      manifestDesc = { mediaType: view.target.mediaType, digest: view.target.digest, size: view.target.size };
    } else {
      manifestBytes = Buffer.from(JSON.stringify(manifest));
      const digest = digestOf(manifestBytes);
      manifestDesc = { mediaType: MediaType.OciManifest, digest, size: manifestBytes.length };
      if (!blobs.has(digest)) blobs.set(digest, { digest, size: manifestBytes.length, open: async () => bufferStream(manifestBytes) });
    }
    planned.push({ manifest: manifestDesc, manifestBytes, configDigest: m.config.digest, layers, names });
  }
  return { blobs, planned };
}

function bufferStream(bytes: Buffer): Readable {
  const p = new PassThrough();
  p.end(bytes);
  return p;
}

function indexDocument(planned: readonly PlannedImage[]): Buffer {
  const manifests: Descriptor[] = [];
  for (const p of planned) {
    if (p.names.length === 0) manifests.push(p.manifest);
    for (const name of p.names) {
      const annotations: Record<string, string> = { "io.containerd.image.name": formatReference(name) };
      if (name.tag !== undefined) annotations["org.opencontainers.image.ref.name"] = name.tag;
      manifests.push({ ...p.manifest, annotations });
    }
  }
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
}

function dockerManifest(planned: readonly PlannedImage[]): Buffer {
  return Buffer.from(
    JSON.stringify(
      planned.map((p) => ({
        Config: blobPath(p.configDigest),
        RepoTags: p.names.filter((n) => n.tag !== undefined).map((n) => `${familiarName(n)}:${n.tag}`),
        Layers: p.layers.map(blobPath),
      })),
    ),
  );
}

function repositories(planned: readonly PlannedImage[]): Buffer {
  const repos: Record<string, Record<string, string>> = {};
  for (const p of planned) {
    const top = p.layers[p.layers.length - 1];
    for (const n of p.names) if (n.tag !== undefined && top) (repos[familiarName(n)] ??= {})[n.tag] = digestHex(top);
  }
  return Buffer.from(JSON.stringify(repos));
}

/**
 * Plans the archive (a missing blob fails here, before any byte), then
 * streams it; a failure after the first byte destroys the stream.
 */
export async function saveArchive(
  content: Provider,
  images: readonly { view: ImageView; names: readonly Reference[] }[],
  format: SaveFormat,
  signal?: AbortSignal,
): Promise<Readable> {
  const { blobs, planned } = await plan(content, images, format);
  async function* entries(): AsyncGenerator<TarInput> {
    const dir = (name: string): TarInput => ({ header: { name, type: "directory", mode: 0o755, mtime: 0 } });
    const file = (name: string, body: Buffer): TarInput => ({ header: { name, type: "file", mode: 0o644, size: body.length, mtime: 0 }, body });
    yield dir("blobs/");
    const algorithms = new Set([...blobs.keys()].map((d) => d.slice(0, d.indexOf(":"))));
    for (const alg of algorithms) yield dir(`blobs/${alg}/`);
    for (const blob of blobs.values()) {
      signal?.throwIfAborted();
      const body = await blob.open();
      yield { header: { name: blobPath(blob.digest), type: "file", mode: 0o644, size: blob.size, mtime: 0 }, body };
    }
    yield file("index.json", indexDocument(planned));
    yield file("oci-layout", Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    if (format === "docker") {
      yield file("manifest.json", dockerManifest(planned));
      yield file("repositories", repositories(planned));
    }
  }
  return writeTar(entries());
}

// The image store's durable records: which images exist and which names
// point at them. One small JSON document, rewritten atomically on every
// change, so refs and records always move together.
import { readFile } from "node:fs/promises";
import { parseDescriptor, parseDigest, type Descriptor, type Digest } from "../oci/index.js";
import { errnoCode, wharfError, writeJsonAtomic } from "../internal/index.js";

export interface LayerRecord {
  readonly diffId: Digest;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** See LayerView.contentSize. */
  readonly contentSize: number;
}

export interface ImageRecord {
  readonly id: Digest;
  /** The manifest, stored in the content store. */
  readonly target: Descriptor;
  readonly layers: readonly LayerRecord[];
  readonly storedAt: string;
  /** `name@digest` references this image was pulled by. */
  readonly repoDigests: readonly string[];
}

export interface ImageDocument {
  readonly images: ReadonlyMap<Digest, ImageRecord>;
  /** Full tagged name (`docker.io/library/busybox:latest`) → image id. */
  readonly refs: ReadonlyMap<string, Digest>;
  /** When each name was last pointed at its image. */
  readonly tagTimes: ReadonlyMap<string, string>;
}

interface Persisted {
  version: 1;
  images: ImageRecord[];
  refs: Record<string, string>;
  tagTimes?: Record<string, string>;
}

export function emptyDocument(): ImageDocument {
  return { images: new Map(), refs: new Map(), tagTimes: new Map() };
}

export async function readDocument(path: string): Promise<ImageDocument> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return emptyDocument();
    throw e;
  }
  let p: Persisted;
  try {
    p = JSON.parse(text) as Persisted;
    if (p.version !== 1 || !Array.isArray(p.images)) throw new Error("unknown version");
  } catch (e) {
    throw wharfError("data-corrupt", `read image metadata ${path}`, e);
  }
  const images = new Map<Digest, ImageRecord>();
  for (const r of p.images) {
    const id = parseDigest(r.id);
    images.set(id, {
      id,
      target: parseDescriptor(r.target, "image target"),
      layers: r.layers.map((l) => ({ diffId: parseDigest(l.diffId), size: l.size, contentSize: typeof l.contentSize === "number" ? l.contentSize : l.size })),
      storedAt: r.storedAt,
      repoDigests: r.repoDigests ?? [],
    });
  }
  const refs = new Map<string, Digest>();
  for (const [name, id] of Object.entries(p.refs)) {
    const d = parseDigest(id);
    if (images.has(d)) refs.set(name, d);
  }
  return { images, refs, tagTimes: new Map(Object.entries(p.tagTimes ?? {})) };
}

export async function writeDocument(path: string, doc: ImageDocument): Promise<void> {
  const p: Persisted = {
    version: 1,
    images: [...doc.images.values()],
    refs: Object.fromEntries(doc.refs),
    tagTimes: Object.fromEntries(doc.tagTimes),
  };
  await writeJsonAtomic(path, p, { mkdir: true });
}

// distribution/target: the narrow roles pull and push need from the engine's
// image store, declared here so that distribution depends on no module above
// it (the image store satisfies them as they are; the daemon passes it in).
// Progress is data: messages the API turns into docker's JSON stream and the
// CLI into bars.
import type { Readable, Writable } from "node:stream";
import type { Descriptor, Digest, ImageConfig, Manifest, Reference } from "../oci/index.js";
import type { Store } from "../content/index.js";

export interface Lease extends Disposable {
  addBlob(digest: Digest): void;
  addSnapshot(key: string): void;
}

export interface LayerRecord {
  readonly diffId: Digest;
  readonly size: number;
  readonly contentSize: number;
}

/** A layer already unpacked (while it downloaded) into a snapshot without parent. */
export interface EarlyUnpack {
  readonly key: string;
  readonly diffId: Digest;
  readonly size: number;
  readonly contentSize: number;
}

export interface EarlyUnpacks {
  take(blob: Digest): Promise<EarlyUnpack | undefined>;
}

/** A layer unpack fed while its bytes download: write the compressed bytes to `input`, end it; `done` settles with the result (undefined when it failed). */
export interface StartedUnpack {
  readonly input: Writable;
  readonly done: Promise<EarlyUnpack | undefined>;
  /** Removes the snapshot when nobody took it. */
  discard(unpack: EarlyUnpack): Promise<void>;
}

export interface StoredLayer {
  readonly diffId: Digest;
  readonly chainId: Digest;
  readonly descriptor: Descriptor;
  readonly size: number;
  readonly contentSize: number;
}

/** What push reads of a stored image. */
export interface StoredImage {
  readonly id: Digest;
  readonly target: Descriptor;
  readonly manifest: Manifest;
  readonly config: ImageConfig;
  readonly tags: readonly Reference[];
  /** `name@digest` references the image was pulled or pushed by. */
  readonly digests?: readonly Reference[];
  readonly layers: readonly StoredLayer[];
}

export interface NewImageRecord {
  readonly manifest: Descriptor;
  readonly config: ImageConfig;
  readonly configDigest: Digest;
  readonly layers: readonly LayerRecord[];
  readonly names: readonly Reference[];
  readonly repoDigests?: readonly string[];
}

/** The image store as pull and push use it. */
export interface ImageTarget {
  readonly content: Store;
  readonly leases: { create(): Lease };
  get(nameOrId: string): Promise<StoredImage>;
  list(): Promise<StoredImage[]>;
  putDocument(bytes: Buffer, lease: Lease): Promise<Digest>;
  hasSnapshot(name: string): Promise<boolean>;
  unpack(layers: readonly { descriptor: Descriptor; diffId: Digest }[], lease: Lease, options?: { signal?: AbortSignal; early?: EarlyUnpacks }): Promise<LayerRecord[]>;
  commitImage(image: NewImageRecord): Promise<{ readonly id: Digest }>;
  gc(): Promise<unknown>;
}

/** Starts unpacking a layer while it downloads (optional: without it layers unpack after their download). */
export type StartUnpack = (lease: Lease, signal?: AbortSignal) => Promise<StartedUnpack>;

/** One progress message: a line about the whole operation (no id) or about one layer. */
export interface ProgressMessage {
  readonly id?: string;
  readonly status: string;
  readonly current?: number;
  readonly total?: number;
  /** The push result docker reports as `aux`. */
  readonly aux?: { readonly Tag: string; readonly Digest: Digest; readonly Size: number };
}

export type Progress = (message: ProgressMessage) => void;

/** A byte source that may be read more than once (a retried upload opens it again). */
export type Reopenable = () => Promise<Readable>;

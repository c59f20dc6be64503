// image: the engine's image store, as the API sees it.
//
// An image is identified by its config digest (the image ID docker shows);
// names (`docker.io/library/busybox:latest`) point at it. Every image's
// layers are unpacked into committed snapshots keyed by chainID, shared by
// every image that has the same layers below.
import type { Readable } from "node:stream";
import type { Descriptor, Digest, ImageConfig, Manifest, Reference } from "../oci/index.js";

export interface LayerView {
  readonly diffId: Digest;
  readonly chainId: Digest;
  /** The blob as stored (compressed or not). */
  readonly descriptor: Descriptor;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** What the layer puts on disk, as docker counts a layer's size (files once per inode, symlink targets). */
  readonly contentSize: number;
}

/** A read-only view of one stored image. */
export interface ImageView {
  /** The config digest. */
  readonly id: Digest;
  /** The manifest the image was stored with. */
  readonly target: Descriptor;
  readonly manifest: Manifest;
  readonly config: ImageConfig;
  /** Tagged names pointing at this image, fully qualified. */
  readonly tags: readonly Reference[];
  /** `name@digest` references: the manifest digest under each repository the image came from. */
  readonly digests: readonly Reference[];
  readonly layers: readonly LayerView[];
  /** Sum of the uncompressed layer sizes. */
  readonly size: number;
  /** When wharf stored the image. */
  readonly storedAt: Date;
}

export interface ImageFilters {
  /** Glob patterns over familiar names, `busybox*` or `busybox:1.*`. */
  readonly reference?: readonly string[];
  readonly dangling?: boolean;
  /** `key` or `key=value`; every one must match. */
  readonly label?: readonly string[];
  /** Only images created before / since the given image. */
  readonly before?: string;
  readonly since?: string;
}

export type DeleteItem = { readonly Untagged: string } | { readonly Deleted: string };

export interface HistoryItem {
  /** The image id of the layer, or `<missing>` as docker shows for inner steps. */
  readonly id: string;
  readonly created: Date | undefined;
  readonly createdBy: string;
  readonly tags: readonly string[];
  readonly size: number;
  readonly comment: string;
}

export interface ImportOptions {
  /** `repo[:tag]` to name the new image. */
  readonly reference?: string;
  /** Dockerfile instructions applied to the config: `CMD ["sh"]`, `ENV A=b`… */
  readonly changes?: readonly string[];
  readonly message?: string;
  readonly platform?: string;
  readonly signal?: AbortSignal;
}

export interface LoadResult {
  /** Familiar names loaded (`busybox:latest`), and ids of untagged images. */
  readonly names: readonly string[];
  readonly ids: readonly Digest[];
}

export type SaveFormat = "docker" | "oci";

export interface PruneResult {
  readonly deleted: readonly DeleteItem[];
  readonly spaceReclaimed: number;
}

export interface DiskUsage {
  /** Bytes used by all image layers on disk, shared ones once. */
  readonly layersSize: number;
  readonly images: readonly { readonly image: ImageView; readonly sharedSize: number; readonly uniqueSize: number; readonly containers: number }[];
}

export interface ImageService {
  list(filters?: ImageFilters): Promise<ImageView[]>;
  /** By name, full or short id, or `name@digest`. Throws not-found `No such image: X`. */
  get(nameOrId: string): Promise<ImageView>;
  history(nameOrId: string): Promise<HistoryItem[]>;
  /** Points `target` (`repo[:tag]`) at the image `source` names. */
  tag(source: string, target: string): Promise<void>;
  /** Untags a name; deletes the image when no name is left (or by id). */
  remove(nameOrId: string, options?: { force?: boolean; noPrune?: boolean }): Promise<DeleteItem[]>;
  import(source: Readable, options?: ImportOptions): Promise<ImageView>;
  load(source: Readable, options?: { signal?: AbortSignal }): Promise<LoadResult>;
  /** Resolves every name first (not-found before any byte), then streams the archive. */
  save(names: readonly string[], options?: { format?: SaveFormat; signal?: AbortSignal }): Promise<Readable>;
  prune(options?: { all?: boolean; filters?: ImageFilters }): Promise<PruneResult>;
  diskUsage(): Promise<DiskUsage>;
}

// registry/storage: what the registry needs from where it keeps things.
//
// Two roles, so that each backend implements only what it owns:
//   - blobs: the content store (content.Store: read, ingest, manage). Blobs
//     and manifests are stored once for all repositories, by digest, and are
//     visible only once their digest and size were verified.
//   - repositories: a RepositoryIndex, the small mutable records that say
//     what each repository holds: its tags, its manifests (with what the
//     referrers API and GC need to know about them) and its blob links.
//
// The filesystem implementation (fs-storage.ts) keeps both under one root.
// An object store (S3) fits the same seam: blobs as objects named by digest
// (ingests as multipart uploads), repository records as small objects; the
// registry holds no state of its own beyond upload sessions, which are named
// by their ingest ref and so can be resumed by any replica that sees them.
// wharfd's image store implements RepositoryIndex over its own image refs
// (daemon/registry-index.ts), sharing the daemon's content store.
import type { Store } from "../content/index.js";
import type { Digest } from "../oci/index.js";
import type { RepositoryName, Tag } from "./names.js";

/** What the index keeps about a manifest in a repository; the bytes are a blob. */
export interface ManifestRecord {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** The manifest's artifactType, or (for image manifests) its config's media type. */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly subject?: Digest;
  /** Blobs (config, layers) this manifest needs, without non-distributable ones. */
  readonly blobs: readonly Digest[];
  /** Manifests an index needs. */
  readonly manifests: readonly Digest[];
}

export interface RepositoryIndex {
  /** Every repository with at least one manifest or blob link, in lexical order. */
  repositories(): Promise<RepositoryName[]>;
  exists(repo: RepositoryName): Promise<boolean>;

  /** Tags in lexical order. */
  tags(repo: RepositoryName): Promise<Tag[]>;
  resolveTag(repo: RepositoryName, tag: Tag): Promise<Digest | undefined>;
  /** Points `tag` at a manifest the repository already has. */
  setTag(repo: RepositoryName, tag: Tag, digest: Digest): Promise<void>;
  /** False when there was no such tag. */
  deleteTag(repo: RepositoryName, tag: Tag): Promise<boolean>;

  manifest(repo: RepositoryName, digest: Digest): Promise<ManifestRecord | undefined>;
  manifests(repo: RepositoryName): Promise<ManifestRecord[]>;
  putManifest(repo: RepositoryName, record: ManifestRecord): Promise<void>;
  /** Removes the manifest and every tag that points at it; false when absent. */
  deleteManifest(repo: RepositoryName, digest: Digest): Promise<boolean>;

  hasBlob(repo: RepositoryName, digest: Digest): Promise<boolean>;
  linkBlob(repo: RepositoryName, digest: Digest): Promise<void>;
  unlinkBlob(repo: RepositoryName, digest: Digest): Promise<boolean>;
  blobs(repo: RepositoryName): Promise<Digest[]>;
}

export interface RegistryStorage {
  readonly blobs: Store;
  readonly repositories: RepositoryIndex;
  close?(): Promise<void>;
}

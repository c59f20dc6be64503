// The daemon's image store as a registry RepositoryIndex, so `wharfd
// --registry-addr` serves wharfd's own images over the distribution API.
//
// Names map both ways as docker spells them: repository `app` is the local
// image name `app` (docker.io/library/app), `team/app` is docker.io/team/app,
// `quay.io/x/y` stays quay.io/x/y; or, with a prefix configured, repository
// `app` is the local image `<prefix>app` (prefix `localhost:5000/`: the name a
// docker pull from the registry gives it) and only images under the prefix
// are in the registry. Tags of local images are the image
// store's refs: `docker tag` locally shows up in the registry at once, and a
// manifest pushed under a tag becomes a local image at once (its layers are
// unpacked, then the image is committed under `name:tag`).
//
// What the image store cannot hold (indexes, artifacts, untagged manifests,
// blob links of pushes in progress) is kept by a FsRepositoryIndex under
// <data-root>/registry; the blobs it needs are held by a lease of the image
// store, so the daemon's own garbage collection keeps them.
import { familiarName, isConfigType, isManifestType, parseDocument, parseImageConfig, parseReference, referenceName, MAX_DOCUMENT_BYTES, type Digest, type Reference } from "../oci/index.js";
import { isKind, wharfError, type Logger } from "../internal/index.js";
import type { ImageStore, ImageView } from "../image/index.js";
import { compareNames, isRepositoryName, type FsRepositoryIndex, type ManifestRecord, type RepositoryIndex, type RepositoryName, type Tag } from "../registry/index.js";

type Lease = ReturnType<ImageStore["leases"]["create"]>;

/** How the registry's repository names and the local image names map, both ways. */
export class NameMap {
  /** The prefix's normalized form (`docker.io/team/`), "" for docker's own spelling. */
  readonly #prefix: string;

  private constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** Docker's spelling: repository `app` is the local image `app`. */
  static readonly familiar = new NameMap("");

  /**
   * Repository `x` is the local image `<prefix>x`: `prefix` is a name's
   * beginning up to a `/` (`localhost:5000/`, `mirror/team/`).
   */
  static prefixed(prefix: string): NameMap {
    const probe = (() => {
      try {
        return referenceName(parseReference(`${prefix}x`));
      } catch {
        return undefined;
      }
    })();
    if (!prefix.endsWith("/") || probe === undefined || !probe.endsWith("/x")) {
      throw wharfError("invalid-argument", `invalid registry name prefix ${JSON.stringify(prefix)}: expected the beginning of an image name up to a "/" (localhost:5000/, team/)`);
    }
    return new NameMap(probe.slice(0, -1));
  }

  /** The local image name (normalized) of repository `repo`. */
  local(repo: RepositoryName): string {
    return this.#prefix === "" ? referenceName(parseReference(repo)) : `${this.#prefix}${repo}`;
  }

  /** The repository a local reference is in; undefined for one the registry does not show. */
  repository(ref: Reference): RepositoryName | undefined {
    if (this.#prefix === "") {
      const name = familiarName(ref);
      return isRepositoryName(name) ? name : undefined;
    }
    const name = referenceName(ref);
    if (!name.startsWith(this.#prefix)) return undefined;
    const rest = name.slice(this.#prefix.length);
    return isRepositoryName(rest) ? rest : undefined;
  }
}

function recordOf(view: ImageView): ManifestRecord {
  const m = view.manifest;
  return {
    digest: view.target.digest,
    mediaType: view.target.mediaType,
    size: view.target.size,
    artifactType: m.artifactType ?? m.config.mediaType,
    ...(m.annotations ? { annotations: m.annotations } : {}),
    ...(m.subject ? { subject: m.subject.digest } : {}),
    blobs: [m.config.digest, ...m.layers.filter((l) => !(l.urls && l.urls.length > 0)).map((l) => l.digest)],
    manifests: [],
  };
}

export class ImageRepositoryIndex implements RepositoryIndex {
  readonly #images: ImageStore;
  readonly #extra: FsRepositoryIndex;
  readonly #logger: Logger;
  readonly #names: NameMap;
  readonly #held = new Set<Digest>();
  #lease: Lease;

  private constructor(images: ImageStore, extra: FsRepositoryIndex, logger: Logger, names: NameMap) {
    this.#images = images;
    this.#extra = extra;
    this.#logger = logger;
    this.#names = names;
    this.#lease = images.leases.create();
  }

  /** Opens the index, taking the blobs the extra records need into a lease. */
  static async open(images: ImageStore, extra: FsRepositoryIndex, logger: Logger, names: NameMap = NameMap.familiar): Promise<ImageRepositoryIndex> {
    const index = new ImageRepositoryIndex(images, extra, logger, names);
    for (const repo of await extra.repositories()) {
      for (const d of await extra.blobs(repo)) index.#hold(d);
      for (const r of await extra.manifests(repo)) [r.digest, ...r.blobs].forEach((d) => index.#hold(d));
    }
    return index;
  }

  #hold(d: Digest): void {
    if (this.#held.has(d)) return;
    this.#held.add(d);
    this.#lease.addBlob(d);
  }

  /** Rebuilds the lease from the extra records (after unlinks and deletes). */
  async #rehold(): Promise<void> {
    const next = this.#images.leases.create();
    const held = new Set<Digest>();
    for (const repo of await this.#extra.repositories()) {
      for (const d of await this.#extra.blobs(repo)) held.add(d);
      for (const r of await this.#extra.manifests(repo)) [r.digest, ...r.blobs].forEach((d) => held.add(d));
    }
    for (const d of held) next.addBlob(d);
    this.#lease[Symbol.dispose]();
    this.#lease = next;
    this.#held.clear();
    for (const d of held) this.#held.add(d);
  }

  async #views(repo: RepositoryName): Promise<{ view: ImageView; tags: Tag[] }[]> {
    const name = this.#names.local(repo);
    const out: { view: ImageView; tags: Tag[] }[] = [];
    for (const view of await this.#images.list()) {
      const tags = view.tags.filter((t) => referenceName(t) === name && t.tag !== undefined).map((t) => t.tag as Tag);
      const digested = view.digests.some((d) => referenceName(d) === name);
      if (tags.length > 0 || digested) out.push({ view, tags });
    }
    return out;
  }

  async repositories(): Promise<RepositoryName[]> {
    const names = new Set<RepositoryName>(await this.#extra.repositories());
    for (const view of await this.#images.list()) {
      for (const t of [...view.tags, ...view.digests]) {
        const r = this.#names.repository(t);
        if (r) names.add(r);
      }
    }
    return [...names].sort(compareNames);
  }

  async exists(repo: RepositoryName): Promise<boolean> {
    return (await this.#views(repo)).length > 0 || (await this.#extra.exists(repo));
  }

  async tags(repo: RepositoryName): Promise<Tag[]> {
    const tags = new Set<Tag>(await this.#extra.tags(repo));
    for (const { tags: t } of await this.#views(repo)) t.forEach((x) => tags.add(x));
    return [...tags].sort(compareNames);
  }

  async resolveTag(repo: RepositoryName, tag: Tag): Promise<Digest | undefined> {
    for (const { view, tags } of await this.#views(repo)) if (tags.includes(tag)) return view.target.digest;
    return this.#extra.resolveTag(repo, tag);
  }

  /** A tag naming an image manifest becomes a local image; any other stays a registry tag. */
  async setTag(repo: RepositoryName, tag: Tag, digest: Digest): Promise<void> {
    const record = await this.manifest(repo, digest);
    if (record && isManifestType(record.mediaType) && (await this.#commitImage(repo, tag, record))) {
      await this.#extra.deleteTag(repo, tag);
      return;
    }
    await this.#extra.setTag(repo, tag, digest);
  }

  async #commitImage(repo: RepositoryName, tag: Tag, record: ManifestRecord): Promise<boolean> {
    const content = this.#images.content;
    const doc = parseDocument(await content.readAll(record.digest, MAX_DOCUMENT_BYTES), record.mediaType);
    if (doc.kind !== "manifest" || !isConfigType(doc.manifest.config.mediaType)) return false;
    const manifest = doc.manifest;
    let config;
    try {
      config = parseImageConfig(await content.readAll(manifest.config.digest, MAX_DOCUMENT_BYTES));
    } catch (e) {
      this.#logger.warn("pushed image has an unreadable config; kept as a registry tag only", { repository: repo, tag, error: e });
      return false;
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) return false;
    using lease = this.#images.leases.create();
    lease.addBlob(record.digest);
    lease.addBlob(manifest.config.digest);
    const layers = await this.#images.unpack(manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i]! })), lease);
    const name = this.#names.local(repo);
    await this.#images.commitImage({
      manifest: { mediaType: record.mediaType, digest: record.digest, size: record.size },
      config,
      configDigest: manifest.config.digest,
      layers,
      names: [parseReference(`${name}:${tag}`)],
      repoDigests: [`${name}@${record.digest}`],
    });
    this.#logger.info("pushed image stored", { repository: repo, tag, digest: record.digest });
    return true;
  }

  async deleteTag(repo: RepositoryName, tag: Tag): Promise<boolean> {
    for (const { tags } of await this.#views(repo)) {
      if (!tags.includes(tag)) continue;
      await this.#images.remove(`${this.#names.local(repo)}:${tag}`);
      await this.#extra.deleteTag(repo, tag);
      return true;
    }
    return this.#extra.deleteTag(repo, tag);
  }

  async manifest(repo: RepositoryName, digest: Digest): Promise<ManifestRecord | undefined> {
    const extra = await this.#extra.manifest(repo, digest);
    if (extra) return extra;
    for (const { view } of await this.#views(repo)) if (view.target.digest === digest) return recordOf(view);
    return undefined;
  }

  async manifests(repo: RepositoryName): Promise<ManifestRecord[]> {
    const byDigest = new Map((await this.#extra.manifests(repo)).map((r) => [r.digest, r]));
    for (const { view } of await this.#views(repo)) if (!byDigest.has(view.target.digest)) byDigest.set(view.target.digest, recordOf(view));
    return [...byDigest.values()];
  }

  async putManifest(repo: RepositoryName, record: ManifestRecord): Promise<void> {
    for (const d of [record.digest, ...record.blobs]) this.#hold(d);
    await this.#extra.putManifest(repo, record);
  }

  async deleteManifest(repo: RepositoryName, digest: Digest): Promise<boolean> {
    let found = await this.#extra.deleteManifest(repo, digest);
    for (const { view, tags } of await this.#views(repo)) {
      if (view.target.digest !== digest) continue;
      found = true;
      for (const tag of tags) {
        await this.#images.remove(`${this.#names.local(repo)}:${tag}`).catch((e: unknown) => {
          if (!isKind(e, "not-found")) throw e;
        });
      }
    }
    if (found) await this.#rehold();
    return found;
  }

  async hasBlob(repo: RepositoryName, digest: Digest): Promise<boolean> {
    if (await this.#extra.hasBlob(repo, digest)) return true;
    for (const { view } of await this.#views(repo)) if (view.manifest.config.digest === digest || view.manifest.layers.some((l) => l.digest === digest)) return true;
    return false;
  }

  async linkBlob(repo: RepositoryName, digest: Digest): Promise<void> {
    this.#hold(digest);
    await this.#extra.linkBlob(repo, digest);
  }

  async unlinkBlob(repo: RepositoryName, digest: Digest): Promise<boolean> {
    const removed = await this.#extra.unlinkBlob(repo, digest);
    if (removed) await this.#rehold();
    return removed;
  }

  async blobs(repo: RepositoryName): Promise<Digest[]> {
    return this.#extra.blobs(repo);
  }

  close(): void {
    this.#lease[Symbol.dispose]();
  }
}

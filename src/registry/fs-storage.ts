// registry/fs-storage: the registry's storage on a local filesystem.
//
//   <root>/content/                         the content store (blobs and manifests, once each)
//   <root>/repositories/<name>/_tags/<tag>                 the manifest digest the tag names
//   <root>/repositories/<name>/_manifests/<alg>/<hex>      the manifest's ManifestRecord (JSON)
//   <root>/repositories/<name>/_layers/<alg>/<hex>         the blob is linked into the repository
//   <root>/repositories/_link[.<n>]                        the one empty file every _layers entry is a hard link of
//
// A name component never starts with '_' (by the spec's grammar), so the
// `_` folders can never collide with a nested repository. Every path is built
// from a parsed RepositoryName, Tag or Digest. Records are written atomically;
// this process is their only writer, so they are cached in memory once read.
import { link, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { openLocalStore } from "../content/index.js";
import { digestAlgorithm, digestHex, isDigest, parseDigest, type Digest } from "../oci/index.js";
import { asWharfError, errnoCode, pathExists, writeFileAtomic, type Logger } from "../internal/index.js";
import { isRepositoryName, isTag, type RepositoryName, type Tag } from "./names.js";
import type { ManifestRecord, RegistryStorage, RepositoryIndex } from "./storage.js";

const TAGS = "_tags";
const MANIFESTS = "_manifests";
const LAYERS = "_layers";
/** The empty file _layers entries are hard links of; `_link.<n>` once one has as many links as the file system allows. */
const ANCHOR = "_link";
const READ_BUFFER = 128 * 1024;

function missing(e: unknown): boolean {
  const code = errnoCode(e);
  return code === "ENOENT" || code === "ENOTDIR";
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (missing(e)) return [];
    throw asWharfError(e, `list ${dir}`);
  }
}

function recordToJson(r: ManifestRecord): string {
  return JSON.stringify(r);
}

function parseRecord(text: string, where: string): ManifestRecord {
  const o = JSON.parse(text) as Record<string, unknown>;
  const digests = (v: unknown) => (Array.isArray(v) ? v.filter((d): d is string => typeof d === "string").map((d) => parseDigest(d)) : []);
  if (typeof o.digest !== "string" || typeof o.mediaType !== "string" || typeof o.size !== "number") throw new Error(`malformed manifest record ${where}`);
  return {
    digest: parseDigest(o.digest),
    mediaType: o.mediaType,
    size: o.size,
    ...(typeof o.artifactType === "string" ? { artifactType: o.artifactType } : {}),
    ...(o.annotations && typeof o.annotations === "object" ? { annotations: o.annotations as Record<string, string> } : {}),
    ...(typeof o.subject === "string" ? { subject: parseDigest(o.subject) } : {}),
    blobs: digests(o.blobs),
    manifests: digests(o.manifests),
  };
}

interface RepoCache {
  tags?: Map<Tag, Digest>;
  manifests?: Map<Digest, ManifestRecord>;
  links: Set<Digest>;
}

export class FsRepositoryIndex implements RepositoryIndex {
  readonly root: string;
  readonly #logger: Logger;
  readonly #cache = new Map<RepositoryName, RepoCache>();
  /** Which anchor new links go to (0: `_link`, n: `_link.<n>`). */
  #anchor = 0;

  constructor(root: string, logger: Logger) {
    this.root = root;
    this.#logger = logger;
  }

  #dir(repo: RepositoryName): string {
    // Re-checked here: nothing but a valid name becomes a path.
    if (!isRepositoryName(repo)) throw new Error(`internal: unchecked repository name ${JSON.stringify(repo)}`);
    return join(this.root, ...repo.split("/"));
  }

  #repo(repo: RepositoryName): RepoCache {
    let c = this.#cache.get(repo);
    if (!c) {
      c = { links: new Set() };
      this.#cache.set(repo, c);
    }
    return c;
  }

  async repositories(): Promise<RepositoryName[]> {
    const out: RepositoryName[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (missing(e)) return;
        throw asWharfError(e, `list repositories in ${dir}`);
      }
      let isRepo = false;
      for (const entry of entries) {
        if (!entry.isDirectory()) continue;
        if (entry.name === MANIFESTS || entry.name === LAYERS) {
          isRepo ||= (await readdirOrEmpty(join(dir, entry.name))).length > 0 && (await this.#hasAny(join(dir, entry.name)));
          continue;
        }
        if (entry.name.startsWith("_")) continue;
        const name = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
        if (isRepositoryName(name)) await walk(join(dir, entry.name), name);
      }
      if (isRepo && isRepositoryName(prefix)) out.push(prefix);
    };
    await walk(this.root, "");
    return out.sort(compareNames);
  }

  async #hasAny(dir: string): Promise<boolean> {
    for (const alg of await readdirOrEmpty(dir)) if ((await readdirOrEmpty(join(dir, alg))).length > 0) return true;
    return false;
  }

  async exists(repo: RepositoryName): Promise<boolean> {
    const c = this.#cache.get(repo);
    if (c && ((c.manifests?.size ?? 0) > 0 || c.links.size > 0)) return true;
    const dir = this.#dir(repo);
    return (await this.#hasAny(join(dir, MANIFESTS))) || (await this.#hasAny(join(dir, LAYERS)));
  }

  async #tags(repo: RepositoryName): Promise<Map<Tag, Digest>> {
    const c = this.#repo(repo);
    if (c.tags) return c.tags;
    const tags = new Map<Tag, Digest>();
    const dir = join(this.#dir(repo), TAGS);
    for (const name of await readdirOrEmpty(dir)) {
      if (!isTag(name)) continue;
      try {
        const text = (await readFile(join(dir, name), "utf8")).trim();
        if (isDigest(text)) tags.set(name, text);
      } catch (e) {
        if (!missing(e)) throw asWharfError(e, `read tag ${repo}:${name}`);
      }
    }
    c.tags ??= tags;
    return c.tags;
  }

  async tags(repo: RepositoryName): Promise<Tag[]> {
    return [...(await this.#tags(repo)).keys()].sort(compareNames);
  }

  async resolveTag(repo: RepositoryName, tag: Tag): Promise<Digest | undefined> {
    return (await this.#tags(repo)).get(tag);
  }

  async setTag(repo: RepositoryName, tag: Tag, digest: Digest): Promise<void> {
    const tags = await this.#tags(repo);
    if (tags.get(tag) === digest) return;
    await writeFileAtomic(join(this.#dir(repo), TAGS, tag), digest, { mkdir: true });
    tags.set(tag, digest);
  }

  async deleteTag(repo: RepositoryName, tag: Tag): Promise<boolean> {
    const tags = await this.#tags(repo);
    if (!tags.has(tag)) return false;
    try {
      await unlink(join(this.#dir(repo), TAGS, tag));
    } catch (e) {
      if (!missing(e)) throw asWharfError(e, `delete tag ${repo}:${tag}`);
    }
    tags.delete(tag);
    return true;
  }

  #manifestPath(repo: RepositoryName, digest: Digest): string {
    const d = parseDigest(digest);
    return join(this.#dir(repo), MANIFESTS, digestAlgorithm(d), digestHex(d));
  }

  async #manifests(repo: RepositoryName): Promise<Map<Digest, ManifestRecord>> {
    const c = this.#repo(repo);
    if (c.manifests) return c.manifests;
    const map = new Map<Digest, ManifestRecord>();
    const dir = join(this.#dir(repo), MANIFESTS);
    for (const alg of await readdirOrEmpty(dir)) {
      for (const hex of await readdirOrEmpty(join(dir, alg))) {
        const text = `${alg}:${hex}`;
        if (!isDigest(text)) continue;
        try {
          map.set(text, parseRecord(await readFile(join(dir, alg, hex), "utf8"), `${repo}@${text}`));
        } catch (e) {
          if (!missing(e)) this.#logger.warn("skip unreadable manifest record", { repository: repo, digest: text, error: e });
        }
      }
    }
    c.manifests ??= map;
    return c.manifests;
  }

  async manifest(repo: RepositoryName, digest: Digest): Promise<ManifestRecord | undefined> {
    return (await this.#manifests(repo)).get(digest);
  }

  async manifests(repo: RepositoryName): Promise<ManifestRecord[]> {
    return [...(await this.#manifests(repo)).values()];
  }

  async putManifest(repo: RepositoryName, record: ManifestRecord): Promise<void> {
    const map = await this.#manifests(repo);
    if (map.has(record.digest)) return;
    await writeFileAtomic(this.#manifestPath(repo, record.digest), recordToJson(record), { mkdir: true });
    map.set(record.digest, record);
  }

  async deleteManifest(repo: RepositoryName, digest: Digest): Promise<boolean> {
    const map = await this.#manifests(repo);
    if (!map.has(digest)) return false;
    const tags = await this.#tags(repo);
    for (const [tag, d] of tags) if (d === digest) await this.deleteTag(repo, tag);
    try {
      await unlink(this.#manifestPath(repo, digest));
    } catch (e) {
      if (!missing(e)) throw asWharfError(e, `delete manifest ${repo}@${digest}`);
    }
    map.delete(digest);
    return true;
  }

  #linkPath(repo: RepositoryName, digest: Digest): string {
    const d = parseDigest(digest);
    return join(this.#dir(repo), LAYERS, digestAlgorithm(d), digestHex(d));
  }

  async hasBlob(repo: RepositoryName, digest: Digest): Promise<boolean> {
    const c = this.#repo(repo);
    if (c.links.has(digest)) return true;
    try {
      await stat(this.#linkPath(repo, digest));
      c.links.add(digest);
      return true;
    } catch (e) {
      if (missing(e)) return false;
      throw asWharfError(e, `check blob link ${repo}@${digest}`);
    }
  }

  /**
   * A link is a name for an empty file, made without fsync: a crash can only
   * lose the link (the client pushes the blob again, which the content store
   * stores once), never make a link point at bytes that are not there. Every
   * link is a hard link of one empty file, so a link is a directory entry
   * and no new inode: making an inode is the costly part of a small push on
   * a file system with churn (ext4 without a journal scans past every inode
   * freed in the last seconds).
   */
  async linkBlob(repo: RepositoryName, digest: Digest): Promise<void> {
    if (await this.hasBlob(repo, digest)) return;
    const path = this.#linkPath(repo, digest);
    try {
      await this.#hardLink(path);
    } catch (e) {
      throw asWharfError(e, `link blob ${repo}@${digest}`);
    }
    this.#repo(repo).links.add(digest);
  }

  /** Makes `path` a hard link of the anchor: its folder made at the repository's first link, the anchor when missing, the next anchor when one is full. */
  async #hardLink(path: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const anchor = join(this.root, this.#anchor === 0 ? ANCHOR : `${ANCHOR}.${this.#anchor}`);
      try {
        await link(anchor, path);
        return;
      } catch (e) {
        const code = errnoCode(e);
        if (code === "EEXIST") return;
        if (attempt >= 64) throw e;
        if (code === "EMLINK") this.#anchor++;
        else if (code !== "ENOENT") throw e;
        else if (await pathExists(anchor)) await mkdir(dirname(path), { recursive: true });
        else {
          // The index's root too, for an index made before its first link.
          await mkdir(this.root, { recursive: true });
          await writeFile(anchor, "", { flag: "a" });
        }
      }
    }
  }

  async unlinkBlob(repo: RepositoryName, digest: Digest): Promise<boolean> {
    this.#repo(repo).links.delete(digest);
    try {
      await unlink(this.#linkPath(repo, digest));
      return true;
    } catch (e) {
      if (missing(e)) return false;
      throw asWharfError(e, `unlink blob ${repo}@${digest}`);
    }
  }

  async blobs(repo: RepositoryName): Promise<Digest[]> {
    const out: Digest[] = [];
    const dir = join(this.#dir(repo), LAYERS);
    for (const alg of await readdirOrEmpty(dir)) {
      for (const hex of await readdirOrEmpty(join(dir, alg))) {
        const text = `${alg}:${hex}`;
        if (isDigest(text)) out.push(text);
      }
    }
    return out;
  }

  /** Removes a repository's folder once it holds nothing (after GC or deletes). */
  async pruneEmpty(repo: RepositoryName): Promise<void> {
    if (await this.exists(repo)) return;
    if ((await this.tags(repo)).length > 0) return;
    this.#cache.delete(repo);
    const dir = this.#dir(repo);
    for (const sub of [MANIFESTS, LAYERS, TAGS]) await rm(join(dir, sub), { recursive: true, force: true });
  }
}

/** Lexical order as the spec asks for tags and the catalog (plain code-point order, as Distribution sorts). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Opens (creating) the filesystem storage under `root`. */
export async function openFsStorage(root: string, logger: Logger): Promise<RegistryStorage & { repositories: FsRepositoryIndex }> {
  const repoRoot = join(root, "repositories");
  try {
    await mkdir(repoRoot, { recursive: true });
  } catch (e) {
    throw asWharfError(e, `open registry storage ${JSON.stringify(root)}`);
  }
  // 128 KiB reads: large blobs stream faster than with 64 KiB reads, and 16 pulls still fit in well under 100 MB.
  const blobs = await openLocalStore(join(root, "content"), { logger: logger.with({ module: "content" }), readBufferSize: READ_BUFFER });
  return { blobs, repositories: new FsRepositoryIndex(repoRoot, logger) };
}

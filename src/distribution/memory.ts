// distribution/memory: what wharf remembers between pulls and pushes — the
// compressed form of each uncompressed layer it pushed (so a second push
// neither compresses nor uploads again), and which repositories of which
// registry are known to hold a blob (so a push can mount instead of upload).
// One small JSON document, written atomically after each change.
import { readFile } from "node:fs/promises";
import { isDigest, type Descriptor, type Digest } from "../oci/index.js";
import { errnoCode, nullLogger, writeJsonAtomic, type Logger } from "../internal/index.js";

interface Persisted {
  version: 1;
  compressed: Record<string, { mediaType: string; digest: string; size: number }>;
  repositories: Record<string, string[]>;
}

const MAX_REPOS_PER_BLOB = 16;

export class DistributionMemory {
  readonly #path: string | undefined;
  readonly #logger: Logger;
  readonly #compressed = new Map<Digest, Descriptor>();
  /** blob digest → `domain/path` names known to hold it, newest first. */
  readonly #repos = new Map<Digest, string[]>();
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;

  private constructor(path: string | undefined, logger: Logger) {
    this.#path = path;
    this.#logger = logger;
  }

  /** Opens the document at `path` (a missing or unreadable one starts empty); without a path it lives in memory only. */
  static async open(path: string | undefined, logger: Logger = nullLogger): Promise<DistributionMemory> {
    const m = new DistributionMemory(path, logger);
    if (!path) return m;
    try {
      const p = JSON.parse(await readFile(path, "utf8")) as Persisted;
      for (const [diffId, d] of Object.entries(p.compressed ?? {})) {
        if (isDigest(diffId) && isDigest(d.digest) && Number.isSafeInteger(d.size)) m.#compressed.set(diffId, { mediaType: d.mediaType, digest: d.digest, size: d.size });
      }
      for (const [digest, repos] of Object.entries(p.repositories ?? {})) {
        if (isDigest(digest) && Array.isArray(repos)) m.#repos.set(digest, repos.filter((r) => typeof r === "string").slice(0, MAX_REPOS_PER_BLOB));
      }
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") logger.warn("ignoring unreadable distribution memory", { path, error: e });
    }
    return m;
  }

  compressedOf(diffId: Digest): Descriptor | undefined {
    return this.#compressed.get(diffId);
  }

  rememberCompressed(diffId: Digest, descriptor: Descriptor): void {
    this.#compressed.set(diffId, { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size });
    this.#changed();
  }

  /** Repositories (`domain/path`) known to hold the blob. */
  repositoriesOf(digest: Digest): readonly string[] {
    return this.#repos.get(digest) ?? [];
  }

  rememberRepository(digest: Digest, repository: string): void {
    const list = this.#repos.get(digest) ?? [];
    if (list[0] === repository) return;
    this.#repos.set(digest, [repository, ...list.filter((r) => r !== repository)].slice(0, MAX_REPOS_PER_BLOB));
    this.#changed();
  }

  #changed(): void {
    if (!this.#path || this.#dirty) return;
    this.#dirty = true;
    const path = this.#path;
    this.#writing = this.#writing.then(async () => {
      await new Promise((r) => setImmediate(r));
      this.#dirty = false;
      const doc: Persisted = {
        version: 1,
        compressed: Object.fromEntries([...this.#compressed].map(([k, d]) => [k, { mediaType: d.mediaType, digest: d.digest, size: d.size }])),
        repositories: Object.fromEntries(this.#repos),
      };
      await writeJsonAtomic(path, doc, { mkdir: true }).catch((e: unknown) => this.#logger.warn("write distribution memory", { path, error: e }));
    });
  }

  /** Waits for pending writes. */
  flush(): Promise<void> {
    return this.#writing;
  }
}

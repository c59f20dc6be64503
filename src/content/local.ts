// content/local: the content store on a local filesystem (layout in layout.ts).
// Reads go straight to committed blob files; writes go through ingests
// (ingest.ts), one writer per ref at a time.
import { mkdir, open, readdir, rm, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { isDigest, type Digest } from "../oci/index.js";
import { KeyedMutex, asWharfError, errnoCode, nullLogger, sys, wharfError, type Logger } from "../internal/index.js";
import type { BlobInfo, Expected, FileProvider, IngestStatus, ReaderOptions, Store, Writer, WriterOptions } from "./content.js";
import { DATA_FILE, blobPath, blobsDir, checkDigest, checkExpected, checkRef, checkSize, ingestDir, ingestRoot } from "./layout.js";
import { openIngest, openTransient, readRecord } from "./ingest.js";

const ALGORITHMS = ["sha256", "sha512"] as const;

export interface LocalStoreOptions {
  readonly logger?: Logger;
  /** Bytes per read of a blob reader (Node's default, 64 KiB, when absent); the registry serves large blobs with larger reads. */
  readonly readBufferSize?: number;
}

/** Opens (creating if needed) the store under `root`. Run `cleanupIngests` at startup to repair leftovers. */
export async function openLocalStore(root: string, options: LocalStoreOptions = {}): Promise<LocalStore> {
  try {
    for (const alg of ALGORITHMS) await mkdir(join(blobsDir(root), alg), { recursive: true });
    await mkdir(ingestRoot(root), { recursive: true });
  } catch (e) {
    throw asWharfError(e, `open content store ${JSON.stringify(root)}`);
  }
  return new LocalStore(root, options.logger ?? nullLogger, options.readBufferSize);
}

function notFound(digest: Digest, action: string, cause: unknown): never {
  if (errnoCode(cause) === "ENOENT") throw wharfError("not-found", `${action}: blob ${digest} not found`, cause);
  throw asWharfError(cause, action);
}

export class LocalStore implements Store, FileProvider {
  readonly root: string;
  readonly #logger: Logger;
  readonly #locks = new KeyedMutex();
  /** Refs whose writer is open in this process: cleanup and abortIngest leave them alone. */
  readonly #held = new Set<string>();
  readonly #readBufferSize: number | undefined;

  constructor(root: string, logger: Logger, readBufferSize?: number) {
    this.root = root;
    this.#logger = logger;
    this.#readBufferSize = readBufferSize;
  }

  // ---- Provider ----------------------------------------------------------

  async info(digest: Digest): Promise<BlobInfo> {
    const action = `stat blob ${JSON.stringify(digest)}`;
    const d = checkDigest(digest, action);
    try {
      const st = await stat(blobPath(this.root, d));
      return { digest: d, size: st.size, createdAt: st.mtime };
    } catch (e) {
      return notFound(d, action, e);
    }
  }

  async has(digest: Digest): Promise<boolean> {
    const d = checkDigest(digest, `check blob ${JSON.stringify(digest)}`);
    try {
      await stat(blobPath(this.root, d));
      return true;
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return false;
      throw asWharfError(e, `check blob ${d}`);
    }
  }

  async reader(digest: Digest, range: { start?: number; end?: number } = {}, options: ReaderOptions = {}): Promise<Readable> {
    const action = `read blob ${JSON.stringify(digest)}`;
    const d = checkDigest(digest, action);
    const start = range.start === undefined ? 0 : checkSize(range.start, `${action}: range start`);
    const end = range.end === undefined ? undefined : checkSize(range.end, `${action}: range end`);
    if (end !== undefined && end < start) throw wharfError("invalid-argument", `${action}: range end ${end} is before start ${start}`);
    let fh;
    try {
      fh = await open(blobPath(this.root, d), "r");
    } catch (e) {
      return notFound(d, action, e);
    }
    try {
      const { size } = await fh.stat();
      if (start > size) throw wharfError("invalid-argument", `${action}: range start ${start} is past the end (${size} bytes)`);
    } catch (e) {
      await fh.close();
      throw asWharfError(e, action);
    }
    // The stream owns the handle from here (autoClose), so a delete cannot cut a read short.
    const size = options.bufferSize ?? this.#readBufferSize;
    const buffer = size === undefined ? {} : { highWaterMark: size };
    return fh.createReadStream(end === undefined ? { start, ...buffer } : { start, end, ...buffer });
  }

  async openFile(digest: Digest): Promise<{ handle: FileHandle; size: number }> {
    const action = `read blob ${JSON.stringify(digest)}`;
    const d = checkDigest(digest, action);
    let handle;
    try {
      handle = await open(blobPath(this.root, d), "r");
    } catch (e) {
      return notFound(d, action, e);
    }
    try {
      return { handle, size: (await handle.stat()).size };
    } catch (e) {
      await handle.close();
      throw asWharfError(e, action);
    }
  }

  async readAll(digest: Digest, maxBytes: number): Promise<Buffer> {
    const action = `read blob ${JSON.stringify(digest)}`;
    const d = checkDigest(digest, action);
    let fh;
    try {
      fh = await open(blobPath(this.root, d), "r");
    } catch (e) {
      return notFound(d, action, e);
    }
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) throw wharfError("invalid-argument", `${action}: ${size} bytes exceed the limit of ${maxBytes}`);
      return await fh.readFile();
    } catch (e) {
      throw asWharfError(e, action);
    } finally {
      await fh.close();
    }
  }

  // ---- Ingester ----------------------------------------------------------

  async writer(ref: string, expected?: Expected, options: WriterOptions = {}): Promise<Writer> {
    const action = `open ingest ${JSON.stringify(ref)}`;
    checkRef(ref, action);
    const want = checkExpected(expected, action);
    const lock = await this.#locks.acquire(ref);
    this.#held.add(ref);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#held.delete(ref);
      lock[Symbol.dispose]();
    };
    const o = {
      root: this.root,
      ref,
      expected: want,
      logger: this.#logger,
      release,
      abortLater: async (r: string) => {
        await this.#locks.run(r, () => this.#removeIngest(r));
      },
    };
    try {
      return (options.resumable === false ? await openTransient(o) : undefined) ?? (await openIngest(o));
    } catch (e) {
      release();
      throw asWharfError(e, action);
    }
  }

  // ---- Manager -----------------------------------------------------------

  async delete(digest: Digest): Promise<void> {
    const action = `delete blob ${JSON.stringify(digest)}`;
    const d = checkDigest(digest, action);
    const path = blobPath(this.root, d);
    try {
      await sys().unlinkSynced(path);
    } catch (e) {
      notFound(d, action, e);
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const alg of ALGORITHMS) {
      const dir = join(blobsDir(this.root), alg);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if (errnoCode(e) === "ENOENT") continue;
        throw asWharfError(e, `list blobs in ${dir}`);
      }
      for (const name of names.sort()) {
        const text = `${alg}:${name}`;
        if (!isDigest(text)) continue;
        try {
          const st = await stat(join(dir, name));
          yield { digest: text as Digest, size: st.size, createdAt: st.mtime };
        } catch (e) {
          // Deleted while we listed: it is simply gone.
          if (errnoCode(e) !== "ENOENT") throw asWharfError(e, `list blob ${text}`);
        }
      }
    }
  }

  async ingests(): Promise<IngestStatus[]> {
    const out: IngestStatus[] = [];
    for (const name of await this.#ingestNames()) {
      const status = await this.#status(join(ingestRoot(this.root), name)).catch((e: unknown) => {
        this.#logger.warn("skip unreadable ingest", { dir: name, error: e });
        return undefined;
      });
      if (status) out.push(status);
    }
    return out.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }

  /** Discards the ingest of `ref`; conflict while a writer holds it, not-found when there is none. */
  async abortIngest(ref: string): Promise<void> {
    const action = `abort ingest ${JSON.stringify(ref)}`;
    checkRef(ref, action);
    if (this.#held.has(ref)) throw wharfError("conflict", `${action}: a writer holds it`);
    await this.#locks.run(ref, async () => {
      if (!(await this.#removeIngest(ref))) throw wharfError("not-found", `${action}: no such ingest`);
    });
  }

  /**
   * Startup recovery: removes ingests not written to for `olderThanMs`, and
   * half-created ingest dirs and temp files as old (or, with
   * `halfCreatedOlderThanMs`, older than that: at startup, when no writer of
   * this process can be creating one, 0). Ingests held by a writer in this
   * process are kept. Returns how many entries were removed.
   */
  async cleanupIngests(olderThanMs: number, options: { halfCreatedOlderThanMs?: number } = {}): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    const halfCutoff = Date.now() - (options.halfCreatedOlderThanMs ?? olderThanMs);
    const root = ingestRoot(this.root);
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(root);
    } catch (e) {
      throw asWharfError(e, `clean up ingests in ${root}`);
    }
    for (const name of names) {
      const dir = join(root, name);
      try {
        if (name.startsWith(".")) {
          if ((await stat(dir)).mtimeMs <= halfCutoff) {
            await rm(dir, { recursive: true, force: true });
            removed++;
          }
          continue;
        }
        const status = await this.#status(dir).catch(() => undefined);
        if (status && this.#held.has(status.ref)) continue;
        // A dir without a readable record can never be resumed: it goes regardless of age.
        if (!status || status.updatedAt.getTime() <= cutoff) {
          await rm(dir, { recursive: true, force: true });
          removed++;
          continue;
        }
        for (const inner of await readdir(dir)) {
          if (inner.startsWith(".") && inner.endsWith(".tmp") && (await stat(join(dir, inner))).mtimeMs <= halfCutoff) await rm(join(dir, inner), { force: true });
        }
      } catch (e) {
        if (errnoCode(e) !== "ENOENT") this.#logger.warn("clean up ingest", { dir, error: e });
      }
    }
    if (removed > 0) this.#logger.info("removed stale ingests", { count: removed });
    return removed;
  }

  async #ingestNames(): Promise<string[]> {
    try {
      return (await readdir(ingestRoot(this.root))).filter((n) => !n.startsWith("."));
    } catch (e) {
      throw asWharfError(e, `list ingests in ${ingestRoot(this.root)}`);
    }
  }

  async #status(dir: string): Promise<IngestStatus | undefined> {
    const record = await readRecord(dir);
    if (!record) return undefined;
    const st = await stat(join(dir, DATA_FILE)).catch((e: unknown) => {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw e;
    });
    const status: { -readonly [K in keyof IngestStatus]: IngestStatus[K] } = {
      ref: record.ref,
      offset: st?.size ?? 0,
      startedAt: record.startedAt,
      updatedAt: st?.mtime ?? record.startedAt,
    };
    if (record.expected.digest !== undefined || record.expected.size !== undefined) status.expected = record.expected;
    return status;
  }

  /** Removes the ingest dir of `ref` (caller holds its lock); false when there was none. */
  async #removeIngest(ref: string): Promise<boolean> {
    const dir = ingestDir(this.root, ref);
    try {
      await stat(dir);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return false;
      throw asWharfError(e, `abort ingest ${JSON.stringify(ref)}`);
    }
    await rm(dir, { recursive: true, force: true });
    return true;
  }
}

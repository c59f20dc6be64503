// content/ingest: one write in the local store — a resumable ingest's on-disk
// record, opening or resuming it (rebuilding the hash from the bytes already
// there), a transient one in an unnamed file, and the Writer that appends,
// verifies and publishes either as a blob.
import { constants, createReadStream } from "node:fs";
import { open, readFile, rm, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { digestAlgorithm, type Digest, type DigestAlgorithm } from "../oci/index.js";
import { asWharfError, errnoCode, isKind, sys, wharfError, writeJsonAtomic, type Logger } from "../internal/index.js";
import type { BlobInfo, Expected, Writer } from "./content.js";
import { DATA_FILE, RECORD_FILE, blobPath, checkDigest, checkExpected, ingestDir, ingestRoot } from "./layout.js";
import { MAX_WRITE_PARTS, WriteHash, chunkLength } from "./write-hash.js";

/** What ingest.json holds. */
export interface IngestRecord {
  readonly ref: string;
  readonly expected: Expected;
  readonly startedAt: Date;
}

interface RecordJson {
  ref: string;
  expected?: { digest?: string; size?: number };
  startedAt: string;
}

function recordToJson(r: IngestRecord): RecordJson {
  const expected: { digest?: string; size?: number } = {};
  if (r.expected.digest !== undefined) expected.digest = r.expected.digest;
  if (r.expected.size !== undefined) expected.size = r.expected.size;
  return { ref: r.ref, expected, startedAt: r.startedAt.toISOString() };
}

/** Reads an ingest's record; undefined when the ingest does not exist. Malformed records are data-corrupt. */
export async function readRecord(dir: string): Promise<IngestRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, RECORD_FILE), "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw asWharfError(e, `read ingest record ${dir}`);
  }
  try {
    const json = JSON.parse(text) as Partial<RecordJson>;
    const startedAt = new Date(String(json.startedAt));
    if (typeof json.ref !== "string" || Number.isNaN(startedAt.getTime())) throw new Error("missing ref or startedAt");
    const expected = checkExpected((json.expected ?? {}) as Expected, `read ingest record ${dir}`);
    return { ref: json.ref, expected, startedAt };
  } catch (e) {
    throw wharfError("data-corrupt", `read ingest record ${dir}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** Hashes the first `length` bytes of a file (to resume, or to check against another algorithm). */
export async function hashFile(path: string, algorithm: DigestAlgorithm, length: number): Promise<WriteHash> {
  const digester = new WriteHash(algorithm);
  if (length === 0) return digester;
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1 << 20 })) await digester.update(chunk as Buffer);
  return digester;
}

/**
 * Creates the ingest directory whole: record and empty data are written in a
 * temp dir that is then renamed into place, so an ingest dir without a record
 * never exists while the machine runs. Nothing is synced: an ingest becomes
 * durable only as the blob its commit publishes (data fsync, rename,
 * directory fsync). A power loss may take a fresh ingest, or leave its
 * record torn; openIngest then starts it over.
 */
async function createIngest(root: string, dir: string, record: IngestRecord): Promise<FileHandle> {
  const tmp = () => join(ingestRoot(root), `.${basename(dir)}.${randomBytes(6).toString("hex")}.tmp`);
  const files = [RECORD_FILE, DATA_FILE];
  const contents = [Buffer.from(JSON.stringify(recordToJson(record))), Buffer.alloc(0)];
  try {
    await sys().makeDir(tmp(), dir, files, contents);
  } catch (e) {
    const code = errnoCode(e);
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    // What a power loss may leave of an earlier one: a directory without its record.
    await rm(dir, { recursive: true, force: true });
    await sys().makeDir(tmp(), dir, files, contents);
  }
  return open(join(dir, DATA_FILE), "a");
}

function sameExpected(a: Expected, b: Expected): boolean {
  return a.digest === b.digest && a.size === b.size;
}

export interface OpenIngest {
  readonly root: string;
  readonly ref: string;
  readonly expected: Expected;
  readonly logger: Logger;
  /** Frees the ref for the next writer. Called exactly once. */
  readonly release: () => void;
  /** Discards the ingest of `ref` after this writer has let it go (takes the ref's lock again). */
  readonly abortLater: (ref: string) => Promise<void>;
}

/**
 * Opens the ingest of `ref` (the caller holds its lock): creates it, or
 * resumes it with the hash rebuilt from the bytes already in `data`.
 */
export async function openIngest(o: OpenIngest): Promise<LocalWriter> {
  const action = `open ingest ${JSON.stringify(o.ref)}`;
  const dir = ingestDir(o.root, o.ref);
  let record: IngestRecord | undefined;
  try {
    record = await readRecord(dir);
  } catch (e) {
    if (!isKind(e, "data-corrupt")) throw e;
    // A record torn by a power loss: the bytes cannot be trusted to resume from.
    o.logger.warn("restart ingest: its record is unreadable", { ref: o.ref, error: e.message });
    await rm(dir, { recursive: true, force: true });
  }
  if (record && record.ref !== o.ref) throw wharfError("internal", `${action}: directory ${dir} holds ref ${JSON.stringify(record.ref)}`);
  let expected = record?.expected ?? {};
  if (o.expected.digest !== undefined || o.expected.size !== undefined) {
    // Bytes written towards another digest cannot become this one: start over.
    if (record && record.expected.digest !== undefined && o.expected.digest !== undefined && record.expected.digest !== o.expected.digest) {
      o.logger.info("restart ingest: expected digest changed", { ref: o.ref, was: record.expected.digest, now: o.expected.digest });
      await rm(dir, { recursive: true, force: true });
      record = undefined;
    }
    expected = { ...expected, ...o.expected };
  }
  const algorithm: DigestAlgorithm = expected.digest ? digestAlgorithm(expected.digest) : "sha256";
  if (!record) {
    record = { ref: o.ref, expected, startedAt: new Date() };
    const fh = await createIngest(o.root, dir, record);
    return new LocalWriter({ ...o, expected, dir, fh, digester: new WriteHash(algorithm) });
  }
  if (!sameExpected(record.expected, expected)) {
    record = { ...record, expected };
    await writeJsonAtomic(join(dir, RECORD_FILE), recordToJson(record));
  }

  const dataPath = join(dir, DATA_FILE);
  const existing = await stat(dataPath).catch((e: unknown) => {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  });
  // A data file with other links was published already (a crash between link
  // and cleanup): appending would change a committed blob, so start afresh.
  if (existing && existing.nlink > 1) await unlink(dataPath);
  const fh = await open(dataPath, "a", 0o644);
  try {
    let offset = (await fh.stat()).size;
    if (expected.size !== undefined && offset > expected.size) {
      o.logger.warn("restart ingest: more bytes than expected", { ref: o.ref, offset, expected: expected.size });
      await fh.truncate(0);
      offset = 0;
    }
    const digester = await hashFile(dataPath, algorithm, offset);
    return new LocalWriter({ ...o, expected, dir, fh, digester });
  } catch (e) {
    await fh.close().catch(() => {});
    throw e;
  }
}

/** Linux's O_TMPFILE (its value holds O_DIRECTORY): an unnamed file in a directory. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/**
 * Opens a writer that cannot be resumed (the caller holds the ref's lock):
 * its bytes go to an unnamed file in the ingest root, which the commit links
 * into place. Nothing is on disk by name until then, so there is no record
 * to write or remove and nothing is left behind if the process dies; a close
 * discards the bytes. undefined where the file system has no unnamed files.
 */
export async function openTransient(o: OpenIngest): Promise<LocalWriter | undefined> {
  const algorithm: DigestAlgorithm = o.expected.digest ? digestAlgorithm(o.expected.digest) : "sha256";
  let fh: FileHandle;
  try {
    fh = await open(ingestRoot(o.root), O_TMPFILE | constants.O_RDWR | constants.O_APPEND, 0o644);
  } catch (e) {
    const code = errnoCode(e);
    if (code === "EOPNOTSUPP" || code === "EISDIR" || code === "EINVAL") return undefined;
    throw e;
  }
  return new LocalWriter({ ...o, dir: undefined, fh, digester: new WriteHash(algorithm) });
}

interface WriterState extends OpenIngest {
  /** The ingest's directory; undefined for a transient writer (an unnamed file, see openTransient). */
  readonly dir: string | undefined;
  readonly fh: FileHandle;
  readonly digester: WriteHash;
}

type Phase = "open" | "closed" | "committed" | "discarded";

export class LocalWriter implements Writer {
  readonly ref: string;
  #s: WriterState;
  #offset: number;
  #phase: Phase = "open";
  /** Calls run one after another in call order, so unawaited writes still land in sequence. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(s: WriterState) {
    this.#s = s;
    this.ref = s.ref;
    this.#offset = s.digester.size;
  }

  get offset(): number {
    return this.#offset;
  }

  write(chunk: Uint8Array | readonly Uint8Array[]): Promise<void> {
    return this.#serial(() => this.#write(chunk));
  }

  commit(expected?: Expected): Promise<BlobInfo> {
    return this.#serial(() => this.#commit(expected));
  }

  close(): Promise<void> {
    return this.#serial(() => this.#end("closed"));
  }

  abort(): Promise<void> {
    return this.#serial(async () => {
      if (this.#phase === "open") return this.#discard();
      // Closed, or failed to commit and kept: discard it under the lock again.
      if (this.#phase === "closed") await this.#s.abortLater(this.ref).catch(() => {});
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  #action(verb: string): string {
    return `${verb} ingest ${JSON.stringify(this.ref)}`;
  }

  #requireOpen(verb: string): void {
    if (this.#phase !== "open") throw wharfError("precondition", `${this.#action(verb)}: the writer is ${this.#phase}`);
  }

  async #write(chunk: Uint8Array | readonly Uint8Array[]): Promise<void> {
    this.#requireOpen("write");
    const length = chunkLength(chunk);
    if (Array.isArray(chunk) && chunk.length > MAX_WRITE_PARTS) throw wharfError("invalid-argument", `${this.#action("write")}: ${chunk.length} parts in one write, at most ${MAX_WRITE_PARTS}`);
    const limit = this.#s.expected.size;
    if (limit !== undefined && this.#offset + length > limit) {
      await this.#discard();
      throw wharfError("invalid-argument", `${this.#action("write")}: ${this.#offset + length} bytes exceed the expected size ${limit}`);
    }
    try {
      // Written and hashed in one job off the main thread.
      await this.#s.digester.write(this.#s.fh.fd, chunk);
    } catch (e) {
      // Keep data and hash in step: drop whatever part of the chunk made it to disk.
      await this.#s.fh.truncate(this.#offset).catch(() => {});
      throw asWharfError(e, this.#action("write"));
    }
    this.#offset += length;
  }

  async #commit(given: Expected | undefined): Promise<BlobInfo> {
    const action = this.#action("commit");
    this.#requireOpen("commit");
    let wanted: Expected;
    try {
      wanted = checkExpected(given, action);
    } catch (e) {
      await this.#end("closed");
      throw e;
    }
    const sizes = [this.#s.expected.size, wanted.size].filter((s): s is number => s !== undefined);
    const digests = [this.#s.expected.digest, wanted.digest].filter((d): d is Digest => d !== undefined);
    for (const size of sizes) {
      if (size !== this.#offset) {
        await this.#discard();
        throw wharfError("data-corrupt", `${action}: size is ${this.#offset} bytes, expected ${size}`);
      }
    }
    const dir = this.#s.dir;
    const dataPath = dir === undefined ? `/proc/self/fd/${this.#s.fh.fd}` : join(dir, DATA_FILE);
    try {
      const own = this.#s.digester.digest();
      for (const want of digests) {
        const actual = digestAlgorithm(want) === this.#s.digester.algorithm ? own : (await hashFile(dataPath, digestAlgorithm(want), this.#offset)).digest();
        if (actual !== want) {
          await this.#discard();
          throw wharfError("data-corrupt", `${action}: content is ${actual}, expected ${want}`);
        }
      }
      const digest = checkDigest(digests[0] ?? own, action);
      // Read-only, synced, renamed into place, the directory synced, the ingest removed: one job.
      const target = blobPath(this.#s.root, digest);
      const done = dir === undefined ? await sys().publishBlob(this.#s.fh.fd, "", target, "", "") : await sys().publishBlob(this.#s.fh.fd, dataPath, target, join(dir, RECORD_FILE), dir);
      await this.#s.fh.close();
      if (!done.clean && dir !== undefined) await rm(dir, { recursive: true, force: true });
      this.#phase = "committed";
      this.#s.release();
      return { digest, size: done.size, createdAt: new Date(done.mtimeMs) };
    } catch (e) {
      // Anything but a mismatch keeps the ingest for a later resume (a transient one goes with its file).
      await this.#end("closed");
      throw asWharfError(e, action);
    }
  }

  /** Ends the writer; the ingest stays on disk (a transient one's bytes go with its file). No-op when already ended. */
  async #end(phase: "closed" | "discarded"): Promise<void> {
    if (this.#phase !== "open") return;
    this.#phase = phase;
    try {
      await this.#s.fh.close();
    } catch (e) {
      // Already closed by commit before it failed: nothing left to release.
      if (errnoCode(e) !== "EBADF") this.#s.logger.warn("close ingest data", { ref: this.ref, error: e });
    } finally {
      this.#s.release();
    }
  }

  async #discard(): Promise<void> {
    if (this.#phase !== "open") return;
    this.#phase = "discarded";
    try {
      await this.#s.fh.close().catch(() => {});
      if (this.#s.dir !== undefined) await rm(this.#s.dir, { recursive: true, force: true });
    } finally {
      this.#s.release();
    }
  }
}


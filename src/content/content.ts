// content: the content-addressed blob store, split by role.
//
// A blob is named by its digest and is immutable. Bytes enter through an
// ingest: a named, resumable write (`ref`) that hashes as it goes. `commit`
// checks size and digest against what the caller expected, fsyncs, renames
// the data into `blobs/<alg>/<hex>` and fsyncs the directory; only then is
// the blob visible to `info`/`reader`. Two ingests of the same digest both
// commit successfully and the blob is stored once. An ingest that is never
// committed stays resumable (its `offset` says how much is already there)
// until it is aborted or cleaned up as stale.
//
// Helpers take the narrowest role they need: a reader takes a Provider, an
// import takes an Ingester.
import type { FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { Digest } from "../oci/index.js";

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
  readonly createdAt: Date;
}

export interface Expected {
  readonly digest?: Digest;
  readonly size?: number;
}

export interface ReaderOptions {
  /** Bytes per read; larger reads stream faster and hold more memory per reader. */
  readonly bufferSize?: number;
}

/** Reads committed blobs. */
export interface Provider {
  /** Throws WharfError not-found when absent. */
  info(digest: Digest): Promise<BlobInfo>;
  has(digest: Digest): Promise<boolean>;
  /** A stream of the blob's bytes, optionally from `start` to `end` (inclusive). Throws not-found. */
  reader(digest: Digest, range?: { start?: number; end?: number }, options?: ReaderOptions): Promise<Readable>;
  /** The whole blob; refuses blobs larger than `maxBytes` (invalid-argument). For JSON documents. */
  readAll(digest: Digest, maxBytes: number): Promise<Buffer>;
}

/**
 * A provider whose blobs are local files, which the kernel can send to a
 * socket without the bytes passing through the process.
 */
export interface FileProvider {
  /** The blob's file, open for reading, and its size; the caller closes it. Throws not-found. */
  openFile(digest: Digest): Promise<{ readonly handle: FileHandle; readonly size: number }>;
}

export function isFileProvider(p: object): p is FileProvider {
  return typeof (p as Partial<FileProvider>).openFile === "function";
}

/** An in-progress write. Exactly one caller owns a Writer at a time. */
export interface Writer {
  readonly ref: string;
  /** Bytes already written (resume point). */
  readonly offset: number;
  /**
   * Appends bytes: one chunk, or several (at most 256) in order as one write.
   * Fails at once (invalid-argument) when they exceed the expected size. The
   * bytes must not change until the write settles.
   */
  write(chunk: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /**
   * Verifies size and digest (against `expected` given here or at open),
   * then makes the blob visible. A mismatch discards the ingest and throws
   * data-corrupt. Committing a digest that already exists succeeds.
   */
  commit(expected?: Expected): Promise<BlobInfo>;
  /** Releases the writer and keeps the ingest for a later resume. */
  close(): Promise<void>;
  /** Discards the ingest. */
  abort(): Promise<void>;
}

export interface WriterOptions {
  /**
   * false: a write that finishes in one go, never resumed. Its bytes are not
   * kept by name before the commit (nothing to clean up after a crash, and
   * less for the disk to do); a close discards them, and it is not among
   * `ingests()`. Default true.
   */
  readonly resumable?: boolean;
}

export interface Ingester {
  /**
   * Opens the ingest `ref`, creating it or resuming it where it stopped.
   * A second open of a ref that is held waits until the holder releases it.
   */
  writer(ref: string, expected?: Expected, options?: WriterOptions): Promise<Writer>;
}

export interface IngestStatus {
  readonly ref: string;
  readonly offset: number;
  readonly startedAt: Date;
  readonly updatedAt: Date;
  readonly expected?: Expected;
}

export interface Manager {
  delete(digest: Digest): Promise<void>;
  list(): AsyncIterable<BlobInfo>;
  ingests(): Promise<IngestStatus[]>;
  abortIngest(ref: string): Promise<void>;
}

export interface Store extends Provider, Ingester, Manager {}

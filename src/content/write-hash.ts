// The running digest of an ingest, updated on the thread pool in the same job
// as the write of the same bytes: the daemon's main thread neither hashes
// (SHA-256 of a 100 MB push is ~0.1 s of CPU) nor waits for the disk, so
// many concurrent uploads hash on every core.
import { sys, type NativeHasher } from "../internal/index.js";
import type { Digest, DigestAlgorithm } from "../oci/index.js";

/** The most parts one write takes. */
export const MAX_WRITE_PARTS = 256;

export function chunkLength(chunk: Uint8Array | readonly Uint8Array[]): number {
  if (!Array.isArray(chunk)) return (chunk as Uint8Array).length;
  let n = 0;
  for (const c of chunk as readonly Uint8Array[]) n += c.length;
  return n;
}

export class WriteHash {
  readonly algorithm: DigestAlgorithm;
  #hasher: NativeHasher;
  #size = 0;

  constructor(algorithm: DigestAlgorithm = "sha256") {
    this.algorithm = algorithm;
    this.#hasher = sys().hasherCreate(algorithm);
  }

  /**
   * Appends `chunk` (or its parts, in order, at most MAX_WRITE_PARTS) to the file open at `fd` (opened for appending) and adds
   * it to the hash. On a failed write the hash is unchanged: the caller cuts
   * the file back to `size`. One call at a time; `chunk` must not change
   * until it settles.
   */
  async write(fd: number, chunk: Uint8Array | readonly Uint8Array[]): Promise<void> {
    await sys().hasherWrite(this.#hasher, fd, chunk);
    this.#size += chunkLength(chunk);
  }

  /** Adds `chunk` to the hash only. */
  update(chunk: Uint8Array): Promise<void> {
    return this.write(-1, chunk);
  }

  /** Bytes hashed so far. */
  get size(): number {
    return this.#size;
  }

  /** Finishes the hash; no more data after it. */
  digest(): Digest {
    return `${this.algorithm}:${sys().hasherDigest(this.#hasher)}` as Digest;
  }
}

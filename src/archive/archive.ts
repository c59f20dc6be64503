// archive: layer tars as streams.
//
// The OCI/Docker layer format is a tar (plain, gzip or zstd) whose deletions
// are whiteout entries: `dir/.wh.NAME` removes NAME from lower layers, and
// `dir/.wh..wh..opq` hides everything the lower layers have in dir. On disk,
// overlayfs writes the same facts as a 0:0 character device (whiteout) and a
// `trusted.overlay.opaque=y` xattr (opaque dir). This module converts between
// the two, in both directions, as bytes stream.
//
// Contract (implemented in apply.ts, diff.ts, tar.ts, compression.ts):
//
//   applyLayer(dir, source, options) → Promise<ApplyResult>
//     Reads a layer (compression detected from its first bytes), writes it
//     into `dir` (an empty directory: a snapshot's upper dir) with overlay
//     whiteouts, and returns the digest and size of the *uncompressed* tar
//     (the diffID; with `hash: false`, for a caller that hashes the very bytes
//     it passes, the sizes only). Hostile entries reject the whole layer with WharfError
//     invalid-argument, naming the entry; the caller then discards `dir`.
//
//   diffDirectory(dir, options) → Readable
//     The tar of an overlay upper dir as an OCI layer: whiteouts and opaque
//     dirs converted back, hardlinks kept, entries in a stable order.
//
//   decompress(source) → Readable, detectCompression(bytes) → Compression
import type { Digest } from "../oci/index.js";

export interface ApplySizes {
  /** Bytes of the uncompressed tar stream. */
  readonly size: number;
  /**
   * Bytes of what the layer puts on disk, counted as docker counts a layer's
   * size: regular files once per inode, symlinks by their target's length.
   */
  readonly contentSize: number;
}

export interface ApplyResult extends ApplySizes {
  /** sha256 of the uncompressed tar stream. */
  readonly diffId: Digest;
}

export interface ApplyOptions {
  readonly signal?: AbortSignal;
  /**
   * false: the caller hashes the same uncompressed bytes on its own (an
   * import or load writing them to the content store), so the apply does
   * not hash them a second time and returns the sizes only.
   */
  readonly hash?: boolean;
  /**
   * Given each batch of the uncompressed tar, in order, before the apply
   * takes it (an import writing the layer to the content store on the way):
   * the apply waits for each promise, and its bytes are never changed before
   * that. A rejection fails the apply; once the apply settles, no call is
   * still running.
   */
  readonly tee?: (batch: Buffer) => Promise<void>;
}

// content/layout: where the local store keeps things on disk, and the checks
// that run before any caller-supplied value becomes part of a path.
//
//   <root>/blobs/<alg>/<hex>          committed blobs, read-only
//   <root>/ingest/<name>/data         bytes of an in-progress write
//   <root>/ingest/<name>/ingest.json  its ref, expected digest/size, start time
//   <root>/ingest/.<name>.<rand>.tmp  an ingest being created (removed by cleanup)
//
// <name> is the sha256 of the ref, so any ref string is safe and fixed-length.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DigestError, digestAlgorithm, digestHex, parseDigest, type Digest } from "../oci/index.js";
import { wharfError } from "../internal/index.js";
import type { Expected } from "./content.js";

export const DATA_FILE = "data";
export const RECORD_FILE = "ingest.json";

export function blobsDir(root: string): string {
  return join(root, "blobs");
}

export function ingestRoot(root: string): string {
  return join(root, "ingest");
}

/** The path of a blob; the digest is re-parsed here so that no unchecked text reaches the filesystem. */
export function blobPath(root: string, digest: Digest): string {
  const d = parseDigest(digest);
  return join(blobsDir(root), digestAlgorithm(d), digestHex(d));
}

export function ingestDir(root: string, ref: string): string {
  return join(ingestRoot(root), createHash("sha256").update(ref).digest("hex"));
}

/** Parses a digest given by a caller; invalid-argument names the action and the value. */
export function checkDigest(value: string, action: string): Digest {
  try {
    return parseDigest(value);
  } catch (e) {
    if (e instanceof DigestError) throw wharfError("invalid-argument", `${action}: ${e.message}`, e);
    throw e;
  }
}

export function checkRef(ref: unknown, action: string): string {
  if (typeof ref !== "string" || ref.length === 0) throw wharfError("invalid-argument", `${action}: ref must be a non-empty string, got ${JSON.stringify(ref)}`);
  return ref;
}

export function checkSize(size: unknown, action: string): number {
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw wharfError("invalid-argument", `${action}: size must be a non-negative integer, got ${JSON.stringify(size)}`);
  }
  return size;
}

/** Validates an Expected given by a caller (its fields may come from untrusted JSON). */
export function checkExpected(expected: Expected | undefined, action: string): Expected {
  if (expected === undefined) return {};
  const out: { digest?: Digest; size?: number } = {};
  if (expected.digest !== undefined) out.digest = checkDigest(expected.digest, action);
  if (expected.size !== undefined) out.size = checkSize(expected.size, action);
  return out;
}

// Content digests: parsed once into a branded string, so that no unchecked
// text ever becomes a path or a URL.
import { createHash, type Hash } from "node:crypto";

export type Digest = string & { readonly __brand: "Digest" };
export type DigestAlgorithm = "sha256" | "sha512";

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export class DigestError extends Error {
  override name = "DigestError";
}

/** Parses `algorithm:hex`; throws DigestError on anything else. */
export function parseDigest(text: string): Digest {
  const m = DIGEST_RE.exec(text);
  if (!m) throw new DigestError(`invalid digest ${JSON.stringify(text)}: expected sha256:<64 hex> or sha512:<128 hex>`);
  const algorithm = m[1] as DigestAlgorithm;
  if (m[2]!.length !== ENCODED_LENGTH[algorithm]) {
    throw new DigestError(`invalid digest ${JSON.stringify(text)}: ${algorithm} needs ${ENCODED_LENGTH[algorithm]} hex characters`);
  }
  return text as Digest;
}

export function isDigest(text: string): text is Digest {
  try {
    parseDigest(text);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(":")) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1);
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}` as Digest;
}

/** A running digest over bytes as they stream. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  #hash: Hash;
  #size = 0;
  constructor(algorithm: DigestAlgorithm = "sha256") {
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
  }
  get size(): number {
    return this.#size;
  }
  /** Finishes the hash; the digester cannot be updated afterwards. */
  digest(): Digest {
    return `${this.algorithm}:${this.#hash.digest("hex")}` as Digest;
  }
}

/** chainID(L0) = diffID(L0); chainID(L0..n) = sha256(chainID(L0..n-1) + " " + diffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : digestOf(`${prev} ${diffId}`));
  }
  return out;
}

export function shortId(digest: Digest | string, length = 12): string {
  const hex = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1) : digest;
  return hex.slice(0, length);
}

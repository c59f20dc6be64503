// registry/names: the spec's grammar for repository names, tags and
// references, checked before any of them reaches storage or a path.
import { DigestError, parseDigest, type Digest } from "../oci/index.js";
import { registryError } from "./errors.js";

/** A repository name that matched the spec's grammar. */
export type RepositoryName = string & { readonly __brand: "RepositoryName" };
/** A tag that matched the spec's grammar. */
export type Tag = string & { readonly __brand: "Tag" };

export type ManifestReference = { readonly kind: "tag"; readonly tag: Tag } | { readonly kind: "digest"; readonly digest: Digest };

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Clients limit host + "/" + name to 255 characters; the name alone gets the same bound. */
export const MAX_NAME_LENGTH = 255;

export function isRepositoryName(text: string): text is RepositoryName {
  return text.length <= MAX_NAME_LENGTH && NAME_RE.test(text);
}

export function parseRepositoryName(text: string): RepositoryName {
  if (!isRepositoryName(text)) throw registryError("NAME_INVALID", `invalid repository name ${JSON.stringify(text.slice(0, 300))}: expected lowercase components [a-z0-9] joined by '.', '_', '__' or '-', separated by '/', at most ${MAX_NAME_LENGTH} characters`);
  return text;
}

export function isTag(text: string): text is Tag {
  return TAG_RE.test(text);
}

export function parseTag(text: string): Tag {
  if (!isTag(text)) throw registryError("MANIFEST_INVALID", `invalid tag ${JSON.stringify(text.slice(0, 200))}: expected [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`);
  return text;
}

/** Parses a digest from a request; DIGEST_INVALID names the value. */
export function parseRequestDigest(text: string, what = "digest"): Digest {
  try {
    return parseDigest(text);
  } catch (e) {
    if (e instanceof DigestError) throw registryError("DIGEST_INVALID", `invalid ${what}: ${e.message}`);
    throw e;
  }
}

/** A manifest `<reference>`: a digest when it has a colon, a tag otherwise. */
export function parseManifestReference(text: string): ManifestReference {
  if (text.includes(":")) return { kind: "digest", digest: parseRequestDigest(text, "manifest reference") };
  if (!isTag(text)) throw registryError("MANIFEST_INVALID", `invalid manifest reference ${JSON.stringify(text.slice(0, 200))}: neither a tag nor a digest`);
  return { kind: "tag", tag: text };
}

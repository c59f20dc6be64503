// Image references, parsed as Docker parses them: `busybox` is
// `docker.io/library/busybox:latest`; `host:port/a/b:tag@sha256:…` keeps its host.
import { parseDigest, type Digest } from "./digest.js";

export interface Reference {
  /** Registry host, with port when given (`docker.io` for familiar names). */
  readonly domain: string;
  /** Repository path inside the registry (`library/busybox`). */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export class ReferenceError extends Error {
  override name = "ReferenceError";
}

export const DEFAULT_DOMAIN = "docker.io";
export const DEFAULT_TAG = "latest";
const LEGACY_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const MAX_NAME = 255;

function fail(text: string, detail: string): never {
  throw new ReferenceError(`invalid reference format ${JSON.stringify(text)}: ${detail}`);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Splits a name into domain and path, applying Docker's defaults. */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf("/");
  let domain: string;
  let path: string;
  const first = i === -1 ? "" : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    domain = first;
    path = name.slice(i + 1);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_PREFIX + path;
  return { domain, path };
}

/**
 * Parses a reference as `docker pull` takes it. Without tag or digest the
 * result has neither; `withDefaultTag` adds `latest` where that is wanted.
 */
export function parseReference(text: string): Reference {
  if (text === "") fail(text, "empty");
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch (e) {
      fail(text, (e as Error).message);
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) fail(text, `invalid tag ${JSON.stringify(tag)}`);
  }
  if (rest === "") fail(text, "missing repository name");
  if (HEX64_RE.test(rest)) fail(text, "repository name cannot be a 64-character hexadecimal string");
  const { domain, path } = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) fail(text, `invalid registry host ${JSON.stringify(domain)}`);
  if (path !== path.toLowerCase()) fail(text, "repository name must be lowercase");
  if (!PATH_RE.test(path)) fail(text, `invalid repository name ${JSON.stringify(path)}`);
  if (domain.length + 1 + path.length > MAX_NAME) fail(text, `repository name longer than ${MAX_NAME} characters`);
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Adds `latest` when the reference has neither tag nor digest. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

export function referenceName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The short form users type: `busybox` for `docker.io/library/busybox`. */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return referenceName(ref);
  return ref.path.startsWith(OFFICIAL_PREFIX) && ref.path.indexOf("/", OFFICIAL_PREFIX.length) === -1 ? ref.path.slice(OFFICIAL_PREFIX.length) : ref.path;
}

function suffix(ref: Reference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}

export function formatReference(ref: Reference): string {
  return referenceName(ref) + suffix(ref);
}

export function familiarString(ref: Reference): string {
  return familiarName(ref) + suffix(ref);
}

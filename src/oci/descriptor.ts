// Content descriptors and the manifest/index documents built from them.
import { parseDigest, type Digest } from "./digest.js";
import { isIndexType, isManifestType, MediaType } from "./mediatype.js";
import { parsePlatform, type Platform } from "./platform.js";

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ParsedDocument = { kind: "manifest"; mediaType: string; manifest: Manifest } | { kind: "index"; mediaType: string; index: Index };

export class DocumentError extends Error {
  override name = "DocumentError";
}

/** The largest manifest, index or config wharf reads. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

function fail(what: string, detail: string): never {
  throw new DocumentError(`invalid ${what}: ${detail}`);
}

export function asObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(what, "not a JSON object");
  return v as Record<string, unknown>;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const o = asObject(v, what);
  for (const [k, val] of Object.entries(o)) if (typeof val !== "string") fail(what, `value of ${JSON.stringify(k)} is not a string`);
  return o as Record<string, string>;
}

export function parseDescriptor(v: unknown, what = "descriptor"): Descriptor {
  const o = asObject(v, what);
  if (typeof o.mediaType !== "string" || o.mediaType === "") fail(what, "mediaType missing");
  if (typeof o.digest !== "string") fail(what, "digest missing");
  let digest: Digest;
  try {
    digest = parseDigest(o.digest);
  } catch (e) {
    fail(what, (e as Error).message);
  }
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) fail(what, "size must be a non-negative integer");
  const d: Descriptor = { mediaType: o.mediaType, digest, size: o.size };
  if (o.urls !== undefined && o.urls !== null) {
    if (!Array.isArray(o.urls) || !o.urls.every((u) => typeof u === "string")) fail(what, "urls must be strings");
    d.urls = o.urls as string[];
  }
  const ann = stringMap(o.annotations, `${what} annotations`);
  if (ann) d.annotations = ann;
  if (typeof o.data === "string") d.data = o.data;
  if (o.platform !== undefined && o.platform !== null) d.platform = parsePlatform(o.platform);
  if (typeof o.artifactType === "string") d.artifactType = o.artifactType;
  return d;
}

function parseJson(bytes: Uint8Array | string, what: string): Record<string, unknown> {
  if (bytes.length > MAX_DOCUMENT_BYTES) fail(what, `larger than ${MAX_DOCUMENT_BYTES} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === "string" ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (e) {
    fail(what, `not JSON: ${(e as Error).message}`);
  }
  return asObject(v, what);
}

/**
 * Parses a manifest or an index. The media type comes from the document, or
 * from the transport (`declared`) when the document has none; documents whose
 * fields contradict their type (a manifest with `manifests`) are refused.
 */
export function parseDocument(bytes: Uint8Array | string, declared?: string): ParsedDocument {
  const o = parseJson(bytes, "manifest");
  if (o.schemaVersion !== 2) fail("manifest", `schemaVersion ${JSON.stringify(o.schemaVersion)} is not supported`);
  const mediaType = typeof o.mediaType === "string" ? o.mediaType : declared;
  if (o.mediaType !== undefined && typeof o.mediaType !== "string") fail("manifest", "mediaType must be a string");
  if (declared && typeof o.mediaType === "string" && declared !== o.mediaType && (isManifestType(declared) || isIndexType(declared))) {
    fail("manifest", `media type ${o.mediaType} differs from ${declared}`);
  }
  const hasManifests = "manifests" in o;
  const hasLayers = "layers" in o || "config" in o;
  if (hasManifests && hasLayers) fail("manifest", "ambiguous: has both manifests and config/layers");
  const isIndex = mediaType ? isIndexType(mediaType) : hasManifests;
  const isManifest = mediaType ? isManifestType(mediaType) : hasLayers;
  const common = {
    ...(typeof o.artifactType === "string" ? { artifactType: o.artifactType } : {}),
    ...(o.subject !== undefined && o.subject !== null ? { subject: parseDescriptor(o.subject, "subject") } : {}),
    ...(stringMap(o.annotations, "annotations") ? { annotations: stringMap(o.annotations, "annotations")! } : {}),
  };
  if (isIndex) {
    if (hasLayers) fail("index", "has config or layers");
    if (!Array.isArray(o.manifests)) fail("index", "manifests must be an array");
    const index: Index = {
      schemaVersion: 2,
      ...(typeof o.mediaType === "string" ? { mediaType: o.mediaType } : {}),
      manifests: o.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`)),
      ...common,
    };
    return { kind: "index", mediaType: mediaType ?? MediaType.OciIndex, index };
  }
  if (isManifest) {
    if (hasManifests) fail("manifest", "has manifests");
    const layers = o.layers ?? [];
    if (!Array.isArray(layers)) fail("manifest", "layers must be an array");
    const manifest: Manifest = {
      schemaVersion: 2,
      ...(typeof o.mediaType === "string" ? { mediaType: o.mediaType } : {}),
      config: parseDescriptor(o.config, "config"),
      layers: layers.map((l, i) => parseDescriptor(l, `layers[${i}]`)),
      ...common,
    };
    return { kind: "manifest", mediaType: mediaType ?? MediaType.OciManifest, manifest };
  }
  fail("manifest", `unknown media type ${JSON.stringify(mediaType ?? "")}`);
}

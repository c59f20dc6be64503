// The image configuration: OCI's image config plus the fields Docker adds.
import { parseDigest, type Digest } from "./digest.js";
import { asObject, DocumentError, MAX_DOCUMENT_BYTES } from "./descriptor.js";

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The `config` member: how a container of this image runs. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  [extra: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: Digest[] };
  history?: HistoryEntry[];
  // Docker-only members kept as they come.
  [extra: string]: unknown;
}

function fail(detail: string): never {
  throw new DocumentError(`invalid image config: ${detail}`);
}

export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  if (bytes.length > MAX_DOCUMENT_BYTES) fail(`larger than ${MAX_DOCUMENT_BYTES} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === "string" ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (e) {
    fail(`not JSON: ${(e as Error).message}`);
  }
  const o = asObject(v, "image config");
  if (typeof o.architecture !== "string") fail("architecture missing");
  if (typeof o.os !== "string") fail("os missing");
  const rootfs = asObject(o.rootfs, "image config rootfs");
  if (rootfs.type !== "layers") fail(`rootfs.type ${JSON.stringify(rootfs.type)} is not "layers"`);
  const diffIds = rootfs.diff_ids ?? [];
  if (!Array.isArray(diffIds)) fail("rootfs.diff_ids must be an array");
  const parsed = diffIds.map((d) => {
    if (typeof d !== "string") fail("rootfs.diff_ids must be digests");
    try {
      return parseDigest(d);
    } catch (e) {
      fail((e as Error).message);
    }
  });
  if (o.config !== undefined && o.config !== null) asObject(o.config, "image config config");
  if (o.history !== undefined && o.history !== null && !Array.isArray(o.history)) fail("history must be an array");
  return { ...o, architecture: o.architecture, os: o.os, rootfs: { ...rootfs, type: "layers", diff_ids: parsed } } as ImageConfig;
}

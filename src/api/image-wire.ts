// ImageView → the JSON dockerd sends for images, field for field: familiar
// names, Go's zero time where the image has no date, `null` where Go has a nil
// list or map, and member order as dockerd writes it.
import { familiarString, type ContainerConfig, type ImageConfig, type Reference } from "../oci/index.js";
import type { ResolvedImage } from "../distribution/index.js";
import type { DiskUsage, HistoryItem, ImageView } from "../image/index.js";
import type { HistoryResponseItem, ImageInspect, ImageSummary, WireContainerConfig } from "./wire.js";

/** The driver name wharf reports: its snapshotter is overlayfs, as overlay2 is dockerd's. */
export const GRAPH_DRIVER = "overlayfs";

/** Go's zero `time.Time`, which dockerd prints for an image without a creation date. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";
export const GO_ZERO_UNIX = -62135596800;

function createdMs(created: string | undefined): number | undefined {
  if (!created) return undefined;
  const t = Date.parse(created);
  return Number.isNaN(t) ? undefined : t;
}

export function unixSeconds(date: Date | string | undefined): number {
  const ms = date instanceof Date ? date.getTime() : createdMs(date);
  return ms === undefined || Number.isNaN(ms) ? GO_ZERO_UNIX : Math.floor(ms / 1000);
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const bool = (v: unknown): boolean => v === true;
const list = (v: unknown): string[] | null => (Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null);
const map = <T>(v: unknown): Record<string, T> | null => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, T>) : null);

/** A container config with every member dockerd always writes, and the omitempty ones when set. */
export function wireContainerConfig(c: ContainerConfig | undefined): WireContainerConfig {
  const src: Record<string, unknown> = c ?? {};
  const exposed = map<object>(src["ExposedPorts"]);
  const health = map<unknown>(src["Healthcheck"]);
  const shell = list(src["Shell"]);
  const stopTimeout = src["StopTimeout"];
  return {
    Hostname: str(src["Hostname"]),
    Domainname: str(src["Domainname"]),
    User: str(src["User"]),
    AttachStdin: bool(src["AttachStdin"]),
    AttachStdout: bool(src["AttachStdout"]),
    AttachStderr: bool(src["AttachStderr"]),
    ...(exposed && Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    Tty: bool(src["Tty"]),
    OpenStdin: bool(src["OpenStdin"]),
    StdinOnce: bool(src["StdinOnce"]),
    Env: list(src["Env"]),
    Cmd: list(src["Cmd"]),
    ...(health ? { Healthcheck: health } : {}),
    ...(src["ArgsEscaped"] === true ? { ArgsEscaped: true } : {}),
    Image: str(src["Image"]),
    Volumes: map<object>(src["Volumes"]),
    WorkingDir: str(src["WorkingDir"]),
    Entrypoint: list(src["Entrypoint"]),
    OnBuild: list(src["OnBuild"]),
    Labels: map<string>(src["Labels"]),
    ...(str(src["StopSignal"]) ? { StopSignal: str(src["StopSignal"]) } : {}),
    ...(typeof stopTimeout === "number" ? { StopTimeout: stopTimeout } : {}),
    ...(shell && shell.length > 0 ? { Shell: shell } : {}),
  };
}

function labelsOf(config: ImageConfig): Record<string, string> | null {
  const labels = config.config?.Labels;
  return labels && Object.keys(labels).length > 0 ? labels : null;
}

/**
 * A row of the image list. An image with neither tags nor digests shows as
 * `<none>:<none>` / `<none>@<none>`, which dockerd does for API versions below 1.43.
 */
export function imageSummary(image: ImageView, usage?: { sharedSize: number; containers: number }): ImageSummary {
  const tags = image.tags.map(familiarString);
  const digests = image.digests.map(familiarString);
  const untagged = tags.length === 0 && digests.length === 0;
  return {
    Containers: usage?.containers ?? -1,
    Created: unixSeconds(image.config.created),
    Id: image.id,
    Labels: labelsOf(image.config),
    ParentId: "",
    RepoDigests: untagged ? ["<none>@<none>"] : digests.length > 0 ? digests : null,
    RepoTags: untagged ? ["<none>:<none>"] : tags.length > 0 ? tags : null,
    SharedSize: usage?.sharedSize ?? -1,
    Size: image.size,
    VirtualSize: image.size,
  };
}

/** What an inspect shows of an image: a stored one's view, or one described by its registry. */
export type InspectedImage = Pick<ImageView, "id" | "tags" | "digests" | "config" | "size" | "storedAt">;

/**
 * An image in a registry as `image inspect` shows a stored one: its config digest as Id, its
 * `name@digest` as the repo digest, no tags, and as Size the layers as the registry holds them
 * (compressed; unpacked sizes are known only after a pull).
 */
export function remoteImageInspect(reference: Reference, image: ResolvedImage): ImageInspect {
  // As a pull records it: the digest of what the reference named, the first document (an index, for a multi-platform image).
  const digest = { domain: reference.domain, path: reference.path, digest: image.documents[0]!.digest };
  return imageInspect({
    id: image.manifest.config.digest,
    tags: [],
    digests: [digest],
    config: image.config,
    size: image.manifest.layers.reduce((n, l) => n + l.size, 0),
    storedAt: new Date(0),
  });
}

export function imageInspect(image: InspectedImage): ImageInspect {
  const c = image.config;
  const diffIds = c.rootfs.diff_ids;
  return {
    Id: image.id,
    RepoTags: image.tags.map(familiarString),
    RepoDigests: image.digests.map(familiarString),
    Parent: "",
    Comment: str(c["comment"]),
    Created: createdMs(c.created) === undefined ? GO_ZERO_TIME : c.created!,
    Container: str(c["container"]),
    ContainerConfig: wireContainerConfig(map<unknown>(c["container_config"]) ?? undefined),
    DockerVersion: str(c["docker_version"]),
    Author: c.author ?? "",
    Config: c.config ? wireContainerConfig(c.config) : null,
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    ...(c["os.version"] ? { OsVersion: c["os.version"] } : {}),
    Size: image.size,
    VirtualSize: image.size,
    // The snapshot directories are the snapshotter's to know; dockerd's vfs driver sends null likewise.
    GraphDriver: { Data: null, Name: GRAPH_DRIVER },
    RootFS: { Type: "layers", ...(diffIds.length > 0 ? { Layers: [...diffIds] } : {}) },
    // The view has no tag time; a named image was tagged when it was stored (import, load).
    Metadata: { LastTagTime: image.tags.length > 0 ? image.storedAt.toISOString() : GO_ZERO_TIME },
  };
}

export function historyItem(item: HistoryItem): HistoryResponseItem {
  return {
    Comment: item.comment,
    Created: unixSeconds(item.created),
    CreatedBy: item.createdBy,
    Id: item.id,
    Size: item.size,
    Tags: item.tags.length > 0 ? [...item.tags] : null,
  };
}

export function diskUsageImages(usage: DiskUsage): ImageSummary[] {
  return usage.images.map((u) => imageSummary(u.image, { sharedSize: u.sharedSize, containers: u.containers }));
}

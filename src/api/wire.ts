// Wire types of the Docker Engine API v1.41 that wharf serves: the JSON the
// daemon sends and the CLI reads. Field names and casing are the API's.
export const API_VERSION = "1.41";
export const MIN_API_VERSION = "1.22";

export interface ErrorResponse {
  message: string;
}

/**
 * One row of `GET /images/json` and of `/system/df`. dockerd sends `null` for
 * an image without tags, digests or labels, and `<none>:<none>` /
 * `<none>@<none>` for an image with neither (API < 1.43).
 */
export interface ImageSummary {
  Containers: number;
  /** Seconds since the epoch. */
  Created: number;
  Id: string;
  Labels: Record<string, string> | null;
  ParentId: string;
  RepoDigests: string[] | null;
  RepoTags: string[] | null;
  /** -1 when not computed (image list); computed by `/system/df`. */
  SharedSize: number;
  Size: number;
  VirtualSize: number;
}

/**
 * A container config as dockerd writes it in image inspect: every member
 * present, Go's `null` for unset lists and maps, and the `omitempty` members
 * only when set.
 */
export interface WireContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  Healthcheck?: Record<string, unknown>;
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  /** RFC 3339 with nanoseconds, as the image config has it. */
  Created: string;
  Container: string;
  ContainerConfig: WireContainerConfig;
  DockerVersion: string;
  Author: string;
  /** `null` when the image config has no `config` member, as dockerd sends. */
  Config: WireContainerConfig | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  Size: number;
  VirtualSize: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  /** `Layers` is left out when the image has none (Go's omitempty). */
  RootFS: { Type: string; Layers?: string[] };
  Metadata: { LastTagTime: string };
}

export interface HistoryResponseItem {
  Id: string;
  /** Seconds since the epoch. */
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export type ImageDeleteResponseItem = { Untagged: string } | { Deleted: string };

export interface ImagePruneResponse {
  ImagesDeleted: ImageDeleteResponseItem[] | null;
  SpaceReclaimed: number;
}

export interface SystemVersion {
  Platform: { Name: string };
  Components: { Name: string; Version: string; Details?: Record<string, string> }[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  GitCommit: string;
  GoVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
  Experimental?: boolean;
  BuildTime: string;
}

/** The parts of /info that wharf fills; docker's CLI tolerates the rest absent. */
export interface SystemInfo {
  ID: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  DriverStatus: [string, string][];
  Plugins: { Volume: string[]; Network: string[]; Authorization: string[] | null; Log: string[] };
  MemoryLimit: boolean;
  SwapLimit: boolean;
  CpuCfsPeriod: boolean;
  CpuCfsQuota: boolean;
  CPUShares: boolean;
  CPUSet: boolean;
  PidsLimit: boolean;
  IPv4Forwarding: boolean;
  Debug: boolean;
  NFd: number;
  NGoroutines: number;
  SystemTime: string;
  LoggingDriver: string;
  CgroupDriver: string;
  CgroupVersion: string;
  NEventsListener: number;
  KernelVersion: string;
  OperatingSystem: string;
  OSVersion: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  IndexServerAddress: string;
  RegistryConfig: { IndexConfigs: Record<string, unknown>; InsecureRegistryCIDRs: string[]; Mirrors: string[] } | null;
  GenericResources: null;
  DockerRootDir: string;
  HttpProxy: string;
  HttpsProxy: string;
  NoProxy: string;
  Name: string;
  Labels: string[];
  ExperimentalBuild: boolean;
  ServerVersion: string;
  Runtimes: Record<string, { path: string }>;
  DefaultRuntime: string;
  Swarm: { LocalNodeState: string; NodeID: string; NodeAddr: string; ControlAvailable: boolean; Error: string; RemoteManagers: null };
  LiveRestoreEnabled: boolean;
  Isolation: string;
  InitBinary: string;
  SecurityOptions: string[];
  Warnings: string[] | null;
}

export interface DiskUsageResponse {
  LayersSize: number;
  Images: ImageSummary[];
  Containers: unknown[];
  Volumes: unknown[];
  BuildCache: unknown[] | null;
  BuilderSize?: number;
}

/** One line of a JSON progress stream (load, import, pull, push). */
export interface JsonMessage {
  status?: string;
  stream?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { code?: number; message: string };
  aux?: unknown;
}

/** go-units `HumanDuration` of a span in milliseconds (`About a minute`, `3 weeks`). */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const exactHours = ms / 3_600_000;
  const hours = Math.trunc(exactHours + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(exactHours) / 24 / 365)} years`;
}

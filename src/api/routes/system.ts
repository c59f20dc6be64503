// System routes: `/_ping` (what every docker CLI command asks first), `/version`,
// `/info` and `/system/df`, with the headers and members dockerd sends.
import type { ImageService } from "../../image/index.js";
import { GRAPH_DRIVER } from "../image-wire.js";
import { sendJson } from "../respond.js";
import type { Handler, Router } from "../router.js";
import { API_VERSION, MIN_API_VERSION, type SystemInfo, type SystemVersion } from "../wire.js";
import type { ContainerRecord } from "../../container/index.js";
import { summary, type ContainerDeps } from "./containers.js";
import { diskUsage } from "./images.js";
import { volumesUsage } from "./volumes.js";

/** What the engine knows about itself; fixed for the daemon's life. */
export interface EngineFacts {
  /** wharf's version in docker's shape (`0.1.0`), shown as the Engine version. */
  readonly version: string;
  readonly gitCommit: string;
  /** The runtime, in the place of dockerd's `GoVersion` (`node20.11.0`). */
  readonly runtimeVersion: string;
  /** RFC 3339. */
  readonly buildTime: string;
  /** A stable id of this engine's data root. */
  readonly id: string;
  readonly dataRoot: string;
  readonly debug: boolean;
}

/** What the engine learns from the host; read again for every `/info`. */
export interface HostFacts {
  readonly hostname: string;
  readonly kernelVersion: string;
  /** `PRETTY_NAME` of /etc/os-release. */
  readonly operatingSystem: string;
  readonly osVersion: string;
  /** Go's name for the architecture (`amd64`), as `/version` reports it. */
  readonly arch: string;
  /** uname's machine (`x86_64`), as `/info` reports it. */
  readonly machine: string;
  readonly ncpu: number;
  readonly memTotal: number;
  readonly cgroupVersion: "1" | "2";
  readonly cgroup: { readonly memory: boolean; readonly swap: boolean; readonly cpuCfs: boolean; readonly cpuShares: boolean; readonly cpuSet: boolean; readonly pids: boolean };
  readonly ipv4Forwarding: boolean;
  /** The data root's file system, as dockerd names it (`extfs`, `xfs`…). */
  readonly backingFilesystem: string;
  readonly openFiles: number;
  /** Open handles of the event loop, in the place of dockerd's goroutine count. */
  readonly activeHandles: number;
}

export interface SystemDeps {
  readonly images: ImageService;
  readonly containers?: ContainerDeps;
  readonly engine: EngineFacts;
  readonly host: () => Promise<HostFacts>;
}

export function versionBody(engine: EngineFacts, host: HostFacts): SystemVersion {
  return {
    Platform: { Name: "wharf" },
    Components: [
      {
        Name: "Engine",
        Version: engine.version,
        Details: {
          ApiVersion: API_VERSION,
          Arch: host.arch,
          BuildTime: engine.buildTime,
          Experimental: "false",
          GitCommit: engine.gitCommit,
          GoVersion: engine.runtimeVersion,
          KernelVersion: host.kernelVersion,
          MinAPIVersion: MIN_API_VERSION,
          Os: "linux",
        },
      },
    ],
    Version: engine.version,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: engine.gitCommit,
    GoVersion: engine.runtimeVersion,
    Os: "linux",
    Arch: host.arch,
    KernelVersion: host.kernelVersion,
    BuildTime: engine.buildTime,
  };
}

/** How many containers there are in each state, as `docker info` counts them. */
export interface ContainerCounts {
  readonly total: number;
  readonly running: number;
  readonly paused: number;
  readonly stopped: number;
}

const NO_CONTAINERS: ContainerCounts = { total: 0, running: 0, paused: 0, stopped: 0 };

export function infoBody(
  engine: EngineFacts,
  host: HostFacts,
  imageCount: number,
  now = new Date(),
  counts: ContainerCounts = NO_CONTAINERS,
  runtimes?: Record<string, { path: string }>,
  defaultRuntime?: string,
): SystemInfo {
  return {
    ID: engine.id,
    Containers: counts.total,
    ContainersRunning: counts.running,
    ContainersPaused: counts.paused,
    ContainersStopped: counts.stopped,
    Images: imageCount,
    Driver: GRAPH_DRIVER,
    DriverStatus: [
      ["Backing Filesystem", host.backingFilesystem],
      ["Supports d_type", "true"],
    ],
    // Only what exists: no volume, network or log plugins are served yet.
    Plugins: { Volume: [], Network: [], Authorization: null, Log: [] },
    MemoryLimit: host.cgroup.memory,
    SwapLimit: host.cgroup.swap,
    CpuCfsPeriod: host.cgroup.cpuCfs,
    CpuCfsQuota: host.cgroup.cpuCfs,
    CPUShares: host.cgroup.cpuShares,
    CPUSet: host.cgroup.cpuSet,
    PidsLimit: host.cgroup.pids,
    IPv4Forwarding: host.ipv4Forwarding,
    Debug: engine.debug,
    NFd: host.openFiles,
    NGoroutines: host.activeHandles,
    SystemTime: now.toISOString(),
    LoggingDriver: "json-file",
    CgroupDriver: "cgroupfs",
    CgroupVersion: host.cgroupVersion,
    NEventsListener: 0,
    KernelVersion: host.kernelVersion,
    OperatingSystem: host.operatingSystem,
    OSVersion: host.osVersion,
    OSType: "linux",
    Architecture: host.machine,
    NCPU: host.ncpu,
    MemTotal: host.memTotal,
    IndexServerAddress: "https://index.docker.io/v1/",
    RegistryConfig: {
      IndexConfigs: { "docker.io": { Name: "docker.io", Mirrors: [], Secure: true, Official: true } },
      InsecureRegistryCIDRs: ["127.0.0.0/8"],
      Mirrors: [],
    },
    GenericResources: null,
    DockerRootDir: engine.dataRoot,
    HttpProxy: process.env["HTTP_PROXY"] ?? process.env["http_proxy"] ?? "",
    HttpsProxy: process.env["HTTPS_PROXY"] ?? process.env["https_proxy"] ?? "",
    NoProxy: process.env["NO_PROXY"] ?? process.env["no_proxy"] ?? "",
    Name: host.hostname,
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: engine.version,
    Runtimes: runtimes ?? { runc: { path: "runc" } },
    DefaultRuntime: defaultRuntime ?? "runc",
    Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: "",
    InitBinary: "",
    SecurityOptions: [],
    Warnings: host.ipv4Forwarding ? null : ["WARNING: IPv4 forwarding is disabled"],
  };
}

export function systemRoutes(router: Router, deps: SystemDeps): void {
  const ping: Handler = async (ctx) => {
    const res = ctx.res;
    res.setHeader("Cache-Control", "no-cache, no-store, must-revalidate");
    res.setHeader("Pragma", "no-cache");
    // No `Builder-Version: 2`: the CLI must use `POST /build`, not BuildKit's session.
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": ctx.req.method === "HEAD" ? 0 : 2 });
    res.end(ctx.req.method === "HEAD" ? undefined : "OK");
  };
  router.on(["GET", "HEAD"], "/_ping", ping);

  router.on("GET", "/version", async (ctx) => {
    sendJson(ctx.res, 200, versionBody(deps.engine, await deps.host()));
  });

  router.on("GET", "/info", async (ctx) => {
    const [host, images] = await Promise.all([deps.host(), deps.images.list()]);
    const containers = deps.containers?.containers;
    const runtimes = containers ? Object.fromEntries(Object.entries(containers.runtimes).map(([name, r]) => [name, { path: r.binary }])) : undefined;
    sendJson(ctx.res, 200, infoBody(deps.engine, host, images.length, new Date(), containerCounts(containers?.list() ?? []), runtimes, containers?.defaultRuntime));
  });

  router.on("GET", "/system/df", async (ctx) => {
    const usage = await diskUsage(deps.images);
    const engine = deps.containers?.containers;
    if (engine) {
      const list = engine.list();
      const out: ReturnType<typeof summary>[] = [];
      for (const r of list) out.push(summary(r, await engine.sizes(r.Id).catch(() => ({ rw: 0, rootFs: 0 }))));
      usage.Containers = out;
    }
    if (deps.containers?.volumes) usage.Volumes = await volumesUsage(deps.containers.volumes);
    sendJson(ctx.res, 200, usage);
  });
}

function containerCounts(list: readonly ContainerRecord[]): ContainerCounts {
  let running = 0;
  let paused = 0;
  for (const r of list) {
    if (r.State.Paused) paused++;
    else if (r.State.Running) running++;
  }
  return { total: list.length, running, paused, stopped: list.length - running - paused };
}

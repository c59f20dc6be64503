// A create request made whole: defaults filled in as dockerd fills them, the
// image's config merged under the caller's (Entrypoint/Cmd, Env, WorkingDir,
// User, Labels, Volumes, ExposedPorts, StopSignal, Healthcheck), and the
// values the daemon acts on checked before anything is made.
import { cpus } from "node:os";
import type { ContainerConfig as ImageContainerConfig } from "../oci/index.js";
import { wharfError } from "../internal/index.js";
import type { ContainerConfig, HostConfig, RestartPolicy } from "./types.js";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function strings(v: unknown, what: string): string[] | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return [v];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw wharfError("invalid-argument", `invalid ${what}: expected a list of strings`);
  return v as string[];
}

function str(v: unknown, what: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw wharfError("invalid-argument", `invalid ${what}: expected a string`);
  return v;
}

function num(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isFinite(v)) throw wharfError("invalid-argument", `invalid ${what}: expected a number`);
  return v;
}

function bool(v: unknown): boolean {
  return v === true;
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== "string")) throw wharfError("invalid-argument", `invalid ${what}: expected an object of strings`);
  return { ...(v as Record<string, string>) };
}

/** The caller's `Config`, typed; nothing merged yet. */
export function parseConfig(body: Json): ContainerConfig {
  const image = str(body["Image"], "Image");
  if (!image) throw wharfError("invalid-argument", "config error: no image given (Image is empty)");
  const cfg: ContainerConfig = {
    Hostname: str(body["Hostname"], "Hostname"),
    Domainname: str(body["Domainname"], "Domainname"),
    User: str(body["User"], "User"),
    AttachStdin: bool(body["AttachStdin"]),
    AttachStdout: bool(body["AttachStdout"]),
    AttachStderr: bool(body["AttachStderr"]),
    Tty: bool(body["Tty"]),
    OpenStdin: bool(body["OpenStdin"]),
    StdinOnce: bool(body["StdinOnce"]),
    Env: strings(body["Env"], "Env") ?? [],
    Cmd: strings(body["Cmd"], "Cmd"),
    Image: image,
    Volumes: isObject(body["Volumes"]) ? (body["Volumes"] as Record<string, object>) : null,
    WorkingDir: str(body["WorkingDir"], "WorkingDir"),
    Entrypoint: strings(body["Entrypoint"], "Entrypoint"),
    OnBuild: strings(body["OnBuild"], "OnBuild"),
    Labels: stringMap(body["Labels"], "Labels"),
  };
  if (isObject(body["ExposedPorts"])) cfg.ExposedPorts = body["ExposedPorts"] as Record<string, object>;
  if (isObject(body["Healthcheck"])) cfg.Healthcheck = body["Healthcheck"] as ContainerConfig["Healthcheck"] & object;
  if (typeof body["StopSignal"] === "string" && body["StopSignal"]) cfg.StopSignal = body["StopSignal"];
  if (typeof body["StopTimeout"] === "number") cfg.StopTimeout = body["StopTimeout"];
  if (typeof body["ArgsEscaped"] === "boolean") cfg.ArgsEscaped = body["ArgsEscaped"];
  for (const e of cfg.Env) if (e === "" || e.startsWith("=")) throw wharfError("invalid-argument", `invalid environment variable ${JSON.stringify(e)}`);
  if (cfg.Hostname && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252})?$/.test(cfg.Hostname)) throw wharfError("invalid-argument", `invalid hostname ${JSON.stringify(cfg.Hostname)}`);
  return cfg;
}

export function parseRestartPolicy(v: unknown): RestartPolicy {
  if (!isObject(v)) return { Name: "no", MaximumRetryCount: 0 };
  const name = str(v["Name"], "RestartPolicy.Name");
  const count = num(v["MaximumRetryCount"], "RestartPolicy.MaximumRetryCount");
  if (!["", "no", "always", "unless-stopped", "on-failure"].includes(name)) throw wharfError("invalid-argument", `invalid restart policy ${JSON.stringify(name)}`);
  if (count < 0) throw wharfError("invalid-argument", "invalid restart policy: maximum retry count cannot be negative");
  if (count > 0 && name !== "on-failure") throw wharfError("invalid-argument", `invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  return { Name: (name || "no") as RestartPolicy["Name"], MaximumRetryCount: count };
}

/** The caller's `HostConfig` with dockerd's defaults for what it left out. */
export function parseHostConfig(v: unknown): HostConfig {
  const h: Json = isObject(v) ? v : {};
  const log = isObject(h["LogConfig"]) ? h["LogConfig"] : {};
  const hc: HostConfig = {
    ...h,
    Binds: strings(h["Binds"], "Binds"),
    ContainerIDFile: str(h["ContainerIDFile"], "ContainerIDFile"),
    LogConfig: { Type: str(log["Type"], "LogConfig.Type") || "json-file", Config: stringMap(log["Config"], "LogConfig.Config") },
    NetworkMode: str(h["NetworkMode"], "NetworkMode") || "default",
    PortBindings: isObject(h["PortBindings"]) ? (h["PortBindings"] as HostConfig["PortBindings"]) : {},
    RestartPolicy: parseRestartPolicy(h["RestartPolicy"]),
    AutoRemove: bool(h["AutoRemove"]),
    VolumeDriver: str(h["VolumeDriver"], "VolumeDriver"),
    VolumesFrom: strings(h["VolumesFrom"], "VolumesFrom"),
    CapAdd: strings(h["CapAdd"], "CapAdd"),
    CapDrop: strings(h["CapDrop"], "CapDrop"),
    CgroupnsMode: str(h["CgroupnsMode"], "CgroupnsMode") || "host",
    Dns: strings(h["Dns"], "Dns") ?? [],
    DnsOptions: strings(h["DnsOptions"], "DnsOptions") ?? [],
    DnsSearch: strings(h["DnsSearch"], "DnsSearch") ?? [],
    ExtraHosts: strings(h["ExtraHosts"], "ExtraHosts"),
    GroupAdd: strings(h["GroupAdd"], "GroupAdd"),
    IpcMode: str(h["IpcMode"], "IpcMode") || "private",
    Cgroup: str(h["Cgroup"], "Cgroup"),
    Links: strings(h["Links"], "Links"),
    OomScoreAdj: num(h["OomScoreAdj"], "OomScoreAdj"),
    PidMode: str(h["PidMode"], "PidMode"),
    Privileged: bool(h["Privileged"]),
    PublishAllPorts: bool(h["PublishAllPorts"]),
    ReadonlyRootfs: bool(h["ReadonlyRootfs"]),
    SecurityOpt: strings(h["SecurityOpt"], "SecurityOpt"),
    UTSMode: str(h["UTSMode"], "UTSMode"),
    UsernsMode: str(h["UsernsMode"], "UsernsMode"),
    ShmSize: num(h["ShmSize"], "ShmSize") || DEFAULT_SHM_SIZE,
    ...consoleSize(h["ConsoleSize"]),
    // Empty: the daemon's default runtime, filled in by the engine.
    Runtime: str(h["Runtime"], "Runtime"),
    Isolation: str(h["Isolation"], "Isolation"),
    CpuShares: num(h["CpuShares"], "CpuShares"),
    Memory: num(h["Memory"], "Memory"),
    NanoCpus: num(h["NanoCpus"], "NanoCpus"),
    CgroupParent: str(h["CgroupParent"], "CgroupParent"),
    BlkioWeight: num(h["BlkioWeight"], "BlkioWeight"),
    CpuPeriod: num(h["CpuPeriod"], "CpuPeriod"),
    CpuQuota: num(h["CpuQuota"], "CpuQuota"),
    CpuRealtimePeriod: num(h["CpuRealtimePeriod"], "CpuRealtimePeriod"),
    CpuRealtimeRuntime: num(h["CpuRealtimeRuntime"], "CpuRealtimeRuntime"),
    CpusetCpus: str(h["CpusetCpus"], "CpusetCpus"),
    CpusetMems: str(h["CpusetMems"], "CpusetMems"),
    Devices: Array.isArray(h["Devices"]) ? (h["Devices"] as unknown[]) : [],
    DeviceCgroupRules: strings(h["DeviceCgroupRules"], "DeviceCgroupRules"),
    KernelMemory: num(h["KernelMemory"], "KernelMemory"),
    KernelMemoryTCP: num(h["KernelMemoryTCP"], "KernelMemoryTCP"),
    MemoryReservation: num(h["MemoryReservation"], "MemoryReservation"),
    MemorySwap: num(h["MemorySwap"], "MemorySwap"),
    MemorySwappiness: typeof h["MemorySwappiness"] === "number" ? h["MemorySwappiness"] : null,
    OomKillDisable: typeof h["OomKillDisable"] === "boolean" ? h["OomKillDisable"] : false,
    PidsLimit: typeof h["PidsLimit"] === "number" ? h["PidsLimit"] : null,
    Ulimits: Array.isArray(h["Ulimits"]) ? (h["Ulimits"] as HostConfig["Ulimits"]) : null,
    MaskedPaths: strings(h["MaskedPaths"], "MaskedPaths"),
    ReadonlyPaths: strings(h["ReadonlyPaths"], "ReadonlyPaths"),
    Init: typeof h["Init"] === "boolean" ? h["Init"] : null,
  };
  if (isObject(h["Tmpfs"])) hc.Tmpfs = stringMap(h["Tmpfs"], "Tmpfs");
  if (isObject(h["Sysctls"])) hc.Sysctls = stringMap(h["Sysctls"], "Sysctls");
  if (Array.isArray(h["Mounts"])) hc.Mounts = h["Mounts"] as HostConfig["Mounts"] & object;
  if (hc.Memory < 0 || hc.NanoCpus < 0 || hc.CpuShares < 0) throw wharfError("invalid-argument", "invalid resources: limits cannot be negative");
  if (hc.Memory > 0 && hc.Memory < 6 * 1024 * 1024) throw wharfError("invalid-argument", "Minimum memory limit allowed is 6MB");
  if (hc.MemorySwap > 0 && hc.Memory > 0 && hc.MemorySwap < hc.Memory) throw wharfError("invalid-argument", "Minimum memoryswap limit should be larger than memory limit, see usage");
  if (hc.NanoCpus > 0 && hc.CpuQuota > 0) throw wharfError("invalid-argument", "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (hc.NanoCpus > 0 && hc.NanoCpus > ncpu() * 1e9) throw wharfError("invalid-argument", `Range of CPUs is from 0.01 to ${ncpu()}.00, as there are only ${ncpu()} CPUs available`);
  if (hc.AutoRemove && hc.RestartPolicy.Name !== "no") throw wharfError("invalid-argument", "conflicting options: cannot specify both --restart and --rm");
  for (const u of hc.Ulimits ?? []) {
    if (!u || typeof u.Name !== "string" || typeof u.Soft !== "number" || typeof u.Hard !== "number") throw wharfError("invalid-argument", "invalid ulimit: expected Name, Soft and Hard");
    if (u.Soft > u.Hard) throw wharfError("invalid-argument", `invalid ulimit ${u.Name}: soft limit ${u.Soft} is above hard limit ${u.Hard}`);
  }
  return hc;
}

function ncpu(): number {
  return cpus().length || 1;
}

/**
 * The caller's config over the image's, as dockerd merges them: an
 * Entrypoint given by the caller drops the image's Cmd; Env keys the caller
 * sets replace the image's; the rest fills in what the caller left empty.
 */
export function mergeImageConfig(user: ContainerConfig, image: ImageContainerConfig | undefined): ContainerConfig {
  const img = image ?? {};
  const out: ContainerConfig = { ...user };
  // `--entrypoint ""` arrives as [""]: it clears the image's entrypoint.
  const clearedEntrypoint = user.Entrypoint !== null && user.Entrypoint.length === 1 && user.Entrypoint[0] === "";
  if (clearedEntrypoint) out.Entrypoint = null;
  if (user.Entrypoint === null || user.Entrypoint.length === 0) {
    if (user.Cmd === null || user.Cmd.length === 0) {
      out.Cmd = img.Cmd ?? null;
      if (img.ArgsEscaped !== undefined) out.ArgsEscaped = img.ArgsEscaped;
    }
    out.Entrypoint = img.Entrypoint ?? null;
  }
  const env = new Map<string, string>();
  for (const e of img.Env ?? []) env.set(e.split("=", 1)[0]!, e);
  for (const e of user.Env) env.set(e.split("=", 1)[0]!, e);
  out.Env = [...env.values()];
  if (!out.WorkingDir) out.WorkingDir = img.WorkingDir ?? "";
  if (!out.User) out.User = img.User ?? "";
  out.Labels = { ...(img.Labels ?? {}), ...user.Labels };
  const volumes = { ...(img.Volumes ?? {}), ...(user.Volumes ?? {}) };
  out.Volumes = Object.keys(volumes).length > 0 ? volumes : null;
  const ports = { ...(img.ExposedPorts ?? {}), ...(user.ExposedPorts ?? {}) };
  if (Object.keys(ports).length > 0) out.ExposedPorts = ports;
  if (!out.StopSignal && img.StopSignal) out.StopSignal = img.StopSignal;
  if (!out.Healthcheck && img.Healthcheck) out.Healthcheck = img.Healthcheck;
  else if (out.Healthcheck && img.Healthcheck) {
    const h = { ...out.Healthcheck };
    if (!h.Test || h.Test.length === 0) h.Test = img.Healthcheck.Test ?? [];
    for (const k of ["Interval", "Timeout", "StartPeriod", "Retries"] as const) if (!h[k] && img.Healthcheck[k]) h[k] = img.Healthcheck[k]!;
    out.Healthcheck = h;
  }
  if (img.OnBuild && !out.OnBuild) out.OnBuild = img.OnBuild;
  return out;
}

/** The process to run: the entrypoint followed by the command; engine error when there is none. */
export function processArgs(config: ContainerConfig): { path: string; args: string[] } {
  const all = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (all.length === 0 || all[0] === "") throw wharfError("invalid-argument", "No command specified");
  return { path: all[0]!, args: all.slice(1) };
}

/** The process's environment: PATH when the image has none, HOSTNAME, TERM for a terminal, then the config's. */
export function processEnv(config: ContainerConfig, hostname: string, home: string): string[] {
  const keys = new Set(config.Env.map((e) => e.split("=", 1)[0]));
  const env: string[] = [];
  if (!keys.has("PATH")) env.push(`PATH=${DEFAULT_PATH}`);
  if (!keys.has("HOSTNAME")) env.push(`HOSTNAME=${hostname}`);
  if (config.Tty && !keys.has("TERM")) env.push("TERM=xterm");
  env.push(...config.Env);
  if (!keys.has("HOME")) env.push(`HOME=${home}`);
  return env;
}

function consoleSize(v: unknown): { ConsoleSize?: [number, number] } {
  if (!Array.isArray(v) || v.length !== 2) return {};
  const [h, w] = v as unknown[];
  if (typeof h !== "number" || typeof w !== "number" || !Number.isInteger(h) || !Number.isInteger(w) || h <= 0 || w <= 0 || h > 65535 || w > 65535) return {};
  return { ConsoleSize: [h, w] };
}

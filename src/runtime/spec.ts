// The OCI runtime spec of a container, built by pure functions from values
// the container module resolved (user, command, mounts, limits). What docker
// gives a container by default is here as data: the mounts of /proc, /sys and
// /dev, the masked and read-only kernel paths, the device allow-list, the
// capability set and the seccomp profile.
import type { LinuxDeviceCgroup, LinuxResources, LinuxSeccomp, RuntimeMount, RuntimeRlimit, RuntimeSpec } from "../oci/index.js";
import { wharfError } from "../internal/index.js";
import { defaultSeccompProfile } from "./seccomp.js";

/** Paths under /proc and /sys a container must not see (bind of /dev/null or an empty tmpfs). */
export const MASKED_PATHS = [
  "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
];

/** Paths under /proc a container may read but not write. */
export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** The devices a container may use (the cgroup device controller): docker's list. */
export const DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  { allow: false, access: "rwm" },
  { allow: false, type: "c", major: -1, minor: -1, access: "m" },
  { allow: false, type: "b", major: -1, minor: -1, access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // null
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" }, // random
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" }, // full
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // tty
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // zero
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // urandom
  { allow: true, type: "c", major: 136, minor: -1, access: "rwm" }, // /dev/pts/*
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // ptmx
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // tun
];

// The cgroup device rules want "all majors" as a wildcard, which the JSON spec spells by omission.
function deviceRules(privileged: boolean): LinuxDeviceCgroup[] {
  if (privileged) return [{ allow: true, access: "rwm" }];
  return DEFAULT_DEVICE_RULES.map((r) => {
    const out: LinuxDeviceCgroup = { allow: r.allow, access: r.access ?? "rwm" };
    if (r.type) out.type = r.type;
    if (r.major !== undefined && r.major >= 0) out.major = r.major;
    if (r.minor !== undefined && r.minor >= 0) out.minor = r.minor;
    return out;
  });
}

export interface SpecUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
}

export interface SpecResources {
  /** Bytes; 0 for no limit. */
  readonly memory?: number;
  /** Memory plus swap in bytes; -1 unlimited; 0 means twice the memory limit, as docker. */
  readonly memorySwap?: number;
  readonly memoryReservation?: number;
  /** CPUs in units of 1e-9 (`--cpus 1.5` → 1.5e9). */
  readonly nanoCpus?: number;
  readonly cpuShares?: number;
  readonly cpuQuota?: number;
  readonly cpuPeriod?: number;
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  /** 0 or negative: no limit. */
  readonly pidsLimit?: number;
  readonly oomKillDisable?: boolean;
}

export type SeccompChoice = { readonly kind: "default"; readonly compat?: boolean } | { readonly kind: "unconfined" } | { readonly kind: "profile"; readonly profile: LinuxSeccomp };

export type NetworkNamespace = { readonly kind: "new" } | { readonly kind: "host" } | { readonly kind: "path"; readonly path: string };

export interface ContainerSpecInput {
  /** Absolute path of the mounted root filesystem. */
  readonly rootfs: string;
  readonly readonlyRootfs: boolean;
  readonly hostname: string;
  readonly domainname?: string;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: SpecUser;
  readonly terminal: boolean;
  /** The terminal's first size, when the client told it at create (rows, columns). */
  readonly consoleSize?: { readonly height: number; readonly width: number };
  readonly capabilities: readonly string[];
  readonly noNewPrivileges: boolean;
  readonly privileged: boolean;
  readonly seccomp: SeccompChoice;
  /** Extra mounts (hosts, hostname, resolv.conf, volumes, binds, tmpfs), in the order given; each replaces a default at the same destination. */
  readonly mounts: readonly RuntimeMount[];
  /** Bytes of /dev/shm. */
  readonly shmSize: number;
  /** Only those asked for: everything else is inherited, never raised. */
  readonly rlimits: readonly RuntimeRlimit[];
  readonly resources: SpecResources;
  readonly cgroupsPath: string;
  readonly network: NetworkNamespace;
  readonly oomScoreAdj?: number;
  readonly sysctls?: Readonly<Record<string, string>>;
  /** Host device nodes given to a privileged container. */
  readonly devices?: RuntimeSpec["linux"]["devices"];
}

const CPU_PERIOD = 100_000;

export function linuxResources(r: SpecResources, privileged: boolean): LinuxResources {
  const out: LinuxResources = { devices: deviceRules(privileged) };
  if (r.memory && r.memory > 0) {
    const memory: NonNullable<LinuxResources["memory"]> = { limit: r.memory };
    // docker: no swap setting means swap equal to memory (a total of twice the limit).
    if (r.memorySwap === undefined || r.memorySwap === 0) memory.swap = r.memory * 2;
    else memory.swap = r.memorySwap;
    out.memory = memory;
  }
  if (r.memoryReservation && r.memoryReservation > 0) out.memory = { ...out.memory, reservation: r.memoryReservation };
  if (r.oomKillDisable) out.memory = { ...out.memory, disableOOMKiller: true };
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  if (r.nanoCpus && r.nanoCpus > 0) {
    cpu.period = CPU_PERIOD;
    cpu.quota = Math.round((r.nanoCpus * CPU_PERIOD) / 1e9);
  } else {
    if (r.cpuPeriod && r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
    if (r.cpuQuota && r.cpuQuota > 0) cpu.quota = r.cpuQuota;
  }
  if (r.cpuShares && r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  return out;
}

/**
 * A working directory the container is started in must be a plain absolute
 * path that does not lead into the process's own file descriptors: a cwd of
 * /proc/self/fd/N would hand the container a directory of the host.
 */
export function checkWorkingDir(cwd: string): void {
  if (!cwd.startsWith("/")) throw wharfError("invalid-argument", `invalid working directory ${JSON.stringify(cwd)}: the path must be absolute`);
  const parts = cwd.split("/").filter((p) => p !== "" && p !== ".");
  if (parts[0] === "proc" && parts.length >= 2 && /^(self|thread-self|[0-9]+)$/.test(parts[1]!) && parts.slice(2).some((p) => p === "fd" || p === "fdinfo" || p === "cwd" || p === "root")) {
    throw wharfError("invalid-argument", `invalid working directory ${JSON.stringify(cwd)}: a process's file descriptors are not a working directory`);
  }
}

function defaultMounts(input: ContainerSpecInput): RuntimeMount[] {
  const sysOptions = input.privileged ? ["nosuid", "noexec", "nodev"] : ["nosuid", "noexec", "nodev", "ro"];
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: sysOptions },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [...sysOptions.filter((o) => o !== "ro"), "relatime", input.privileged ? "rw" : "ro"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${input.shmSize}`] },
  ];
}

/** The whole config.json of a container. */
export function buildSpec(input: ContainerSpecInput): RuntimeSpec {
  checkWorkingDir(input.cwd);
  const caps = [...input.capabilities];
  const extra = new Set(input.mounts.map((m) => m.destination));
  const mounts = [...defaultMounts(input).filter((m) => !extra.has(m.destination)), ...input.mounts];
  let seccomp: LinuxSeccomp | undefined;
  if (!input.privileged) {
    if (input.seccomp.kind === "default") seccomp = defaultSeccompProfile(caps, process.arch, { compat: input.seccomp.compat ?? false });
    else if (input.seccomp.kind === "profile") seccomp = input.seccomp.profile;
  }
  const namespaces: RuntimeSpec["linux"]["namespaces"] = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  if (input.network.kind === "new") namespaces.push({ type: "network" });
  else if (input.network.kind === "path") namespaces.push({ type: "network", path: input.network.path });
  const spec: RuntimeSpec = {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: input.terminal,
      ...(input.terminal && input.consoleSize ? { consoleSize: { ...input.consoleSize } } : {}),
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids.length > 0 ? { additionalGids: [...input.user.additionalGids] } : {}) },
      args: [...input.args],
      env: [...input.env],
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: input.noNewPrivileges,
      ...(input.rlimits.length > 0 ? { rlimits: input.rlimits.map((r) => ({ ...r })) } : {}),
      ...(input.oomScoreAdj !== undefined ? { oomScoreAdj: input.oomScoreAdj } : {}),
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    ...(input.domainname ? { domainname: input.domainname } : {}),
    mounts,
    linux: {
      namespaces,
      resources: linuxResources(input.resources, input.privileged),
      cgroupsPath: input.cgroupsPath,
      ...(input.privileged ? {} : { maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS] }),
      ...(seccomp ? { seccomp } : {}),
      ...(input.sysctls && Object.keys(input.sysctls).length > 0 ? { sysctl: { ...input.sysctls } } : {}),
      ...(input.devices && input.devices.length > 0 ? { devices: input.devices } : {}),
    },
  };
  return spec;
}

// What the daemon reports about its host in /version and /info: kernel,
// distribution, CPUs, memory, cgroup version and controllers, and the data
// root's file system. Read from /proc, /sys and /etc; nothing is assumed.
import { readFile, readdir, statfs } from "node:fs/promises";
import { availableParallelism, hostname, machine, release, totalmem } from "node:os";
import type { HostFacts } from "../api/index.js";
import { pathExists } from "../internal/index.js";

/** `/etc/os-release` → its variables, quotes removed. */
export function parseOsRelease(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["'$`\\])/g, "$1");
    vars[m[1]!] = v;
  }
  return vars;
}

/** Node's architecture name → Go's, which docker clients compare against. */
export function goArch(nodeArch: string): string {
  const names: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" };
  return names[nodeArch] ?? nodeArch;
}

/** statfs magic numbers → the names dockerd prints for `Backing Filesystem`. */
export function filesystemName(magic: number): string {
  const names: Record<number, string> = {
    0xef53: "extfs",
    0x58465342: "xfs",
    0x9123683e: "btrfs",
    0x01021994: "tmpfs",
    0x794c7630: "overlayfs",
    0x2fc12fc1: "zfs",
    0xf2f52010: "f2fs",
    0x6969: "nfs",
    0x65735546: "fuse",
    0x858458f6: "ramfs",
  };
  return names[magic >>> 0] ?? `unknown (0x${(magic >>> 0).toString(16)})`;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function cgroupFacts(): Promise<Pick<HostFacts, "cgroupVersion" | "cgroup">> {
  const controllers = await readText("/sys/fs/cgroup/cgroup.controllers");
  if (controllers !== undefined) {
    const have = new Set(controllers.trim().split(/\s+/));
    const cpu = have.has("cpu");
    return { cgroupVersion: "2", cgroup: { memory: have.has("memory"), swap: have.has("memory"), cpuCfs: cpu, cpuShares: cpu, cpuSet: have.has("cpuset"), pids: have.has("pids") } };
  }
  const [memory, swap, cpuCfs, cpuShares, cpuSet, pids] = await Promise.all([
    pathExists("/sys/fs/cgroup/memory"),
    pathExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    pathExists("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    pathExists("/sys/fs/cgroup/cpu/cpu.shares"),
    pathExists("/sys/fs/cgroup/cpuset"),
    pathExists("/sys/fs/cgroup/pids"),
  ]);
  return { cgroupVersion: "1", cgroup: { memory, swap, cpuCfs, cpuShares, cpuSet, pids } };
}

export async function probeHost(dataRoot: string): Promise<HostFacts> {
  const [osRelease, forward, cgroups, fs, fds] = await Promise.all([
    readText("/etc/os-release"),
    readText("/proc/sys/net/ipv4/ip_forward"),
    cgroupFacts(),
    statfs(dataRoot).catch(() => undefined),
    readdir("/proc/self/fd").catch(() => []),
  ]);
  const os = parseOsRelease(osRelease ?? "");
  return {
    hostname: hostname(),
    kernelVersion: release(),
    operatingSystem: os["PRETTY_NAME"] ?? os["NAME"] ?? "Linux",
    osVersion: os["VERSION_ID"] ?? "",
    arch: goArch(process.arch),
    machine: machine(),
    ncpu: availableParallelism(),
    memTotal: totalmem(),
    ...cgroups,
    ipv4Forwarding: forward?.trim() === "1",
    backingFilesystem: fs ? filesystemName(fs.type) : "unknown",
    openFiles: fds.length,
    activeHandles: process.getActiveResourcesInfo().length,
  };
}

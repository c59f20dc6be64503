// Linux capabilities: docker's default set, and `--cap-add`/`--cap-drop` over it.
import { readFile } from "node:fs/promises";
import { wharfError } from "../internal/index.js";

/** Every capability the kernel knows, in number order (CAP_CHOWN = 0). */
export const ALL_CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

/** What a container may do without `--cap-add`: docker's default set. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

const KNOWN = new Set<string>(ALL_CAPABILITIES);

/** `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all name CAP_NET_ADMIN; `ALL` stays `ALL`. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!KNOWN.has(full)) throw wharfError("invalid-argument", `invalid capability ${JSON.stringify(name)}: unknown capability`);
  return full;
}

/**
 * The capability set of a container: the defaults (or all, when privileged),
 * minus `drop`, plus `add`. As docker: an explicit add wins over a drop of
 * the same name, and `ALL` in either list means every capability.
 */
export function resolveCapabilities(options: { add?: readonly string[]; drop?: readonly string[]; privileged?: boolean; bounding?: ReadonlySet<string> | undefined }): string[] {
  // "All" means all this host lets us hand out: a capability outside the
  // daemon's own bounding set cannot be given, and asking makes runc fail.
  const all = options.bounding ? ALL_CAPABILITIES.filter((c) => options.bounding!.has(c)) : [...ALL_CAPABILITIES];
  if (options.privileged) return all;
  const add = (options.add ?? []).map(normalizeCapability);
  const drop = (options.drop ?? []).map(normalizeCapability);
  if (add.includes("ALL")) return all.filter((c) => !drop.includes(c));
  const set = new Set(drop.includes("ALL") ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)));
  for (const c of add) set.add(c);
  return ALL_CAPABILITIES.filter((c) => set.has(c));
}

/** The capabilities of a `CapBnd:` mask from /proc/<pid>/status. */
export function capabilitiesOfMask(hex: string): Set<string> {
  const mask = BigInt(`0x${hex.trim()}`);
  return new Set(ALL_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n));
}

let bounding: Promise<Set<string> | undefined> | undefined;

/** This process's capability bounding set: all that "every capability" can mean on this host. Read once. */
export function hostBoundingCapabilities(): Promise<Set<string> | undefined> {
  bounding ??= readFile("/proc/self/status", "utf8").then(
    (text) => {
      const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(text)?.[1];
      return hex ? capabilitiesOfMask(hex) : undefined;
    },
    () => undefined,
  );
  return bounding;
}

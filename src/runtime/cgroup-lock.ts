// The kernel's lock for moves between cgroups, kept ready while a move is
// coming. A process moved into a cgroup takes cgroup_threadgroup_rwsem for
// writing, and the first writer after a quiet spell waits for a whole RCU
// grace period (the lock leaves its per-CPU fast mode): 8–16 ms on a 2-core
// machine, at every container start (runc moves its init into the container's
// cgroups ~8 ms after it is run) and at every direct exec (the helper moves
// itself). A writer less than about a grace period after the last one does not
// wait. So at a start or an exec the daemon moves itself into the cgroup it is
// already in (nothing changes) from a thread of its own, at once and every few
// ms for a while: that thread waits the grace period out while runc starts up.
import { readFileSync } from "node:fs";
import { sys } from "../internal/index.js";

/** How long a call keeps the lock ready: a create under load reaches its moves well within it. */
const WARM_MS = 250;

interface CgroupMount {
  readonly version: 1 | 2;
  /** The super block's options: a v1 hierarchy's controllers and name= are among them. */
  readonly options: ReadonlySet<string>;
  /** The cgroup path at the mount's root. */
  readonly root: string;
  readonly mountPoint: string;
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** The cgroup file systems of a /proc/<pid>/mountinfo. */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const [fstype, , superOptions = ""] = line.slice(sep + 3).split(" ");
    if (left.length < 5) continue;
    const root = unescapeMountField(left[3]!);
    const mountPoint = unescapeMountField(left[4]!);
    if (fstype === "cgroup2" || fstype === "cgroup") mounts.push({ version: fstype === "cgroup2" ? 2 : 1, options: new Set(superOptions.split(",")), root, mountPoint });
  }
  return mounts;
}

/**
 * The cgroup.procs of the cgroup a process is in (its /proc/<pid>/cgroup),
 * in one hierarchy it can reach through `mounts`: cgroup2 when mounted, else
 * the first v1 hierarchy; undefined when none is.
 */
export function ownCgroupProcs(procCgroup: string, mounts: readonly CgroupMount[]): string | undefined {
  const candidates: string[] = [];
  for (const line of procCgroup.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const v2 = line.slice(0, first) === "0" && second === first + 1;
    const controllers = line.slice(first + 1, second).split(",");
    const path = line.slice(second + 1);
    for (const m of mounts) {
      if (v2 ? m.version !== 2 : m.version !== 1 || !controllers.every((c) => m.options.has(c))) continue;
      if (path !== m.root && !path.startsWith(m.root === "/" ? "/" : `${m.root}/`)) continue;
      const rel = m.root === "/" ? path : path.slice(m.root.length);
      const procs = `${m.mountPoint}${rel === "/" ? "" : rel}/cgroup.procs`;
      if (v2) return procs;
      candidates.push(procs);
      break;
    }
  }
  return candidates[0];
}

let mounts: CgroupMount[] | undefined;
let disabled = false;
/** When the last call's warming ends (Date.now() time). */
let warmUntil = 0;

/** After the thread's last move, about two grace periods pass before a mover waits again. */
const COOL_MS = 50;

/**
 * Keeps the cgroup lock ready for the moves of a start or an exec about to
 * happen; nothing where this process's cgroup cannot be found or written.
 */
export function warmCgroupLock(): void {
  if (disabled) return;
  try {
    mounts ??= cgroupMounts(readFileSync("/proc/self/mountinfo", "utf8"));
    // Read at each call: the daemon is moved into the cgroup it is in now.
    const procs = ownCgroupProcs(readFileSync("/proc/self/cgroup", "utf8"), mounts);
    if (!procs) {
      disabled = true;
      return;
    }
    sys().cgroupWarm(procs, WARM_MS);
    warmUntil = Date.now() + WARM_MS;
  } catch {
    disabled = true;
  }
}

/**
 * Resolves once the lock is no longer kept ready. For `runc exec` of a
 * process whose RLIMIT_NOFILE soft limit is below its hard one: runc 1.1
 * before 1.1.13 (Debian 12's is 1.1.5) sets the limits of its `runc init`
 * child from outside, racing with the child's Go runtime, which raises the
 * soft limit to the hard one as it starts (runc issue 4195). runc's own wait
 * for the lock is what usually lets the child win; with the lock ready, the
 * process would get the hard limit as its soft one.
 */
export async function cgroupLockCooled(): Promise<void> {
  const left = warmUntil + COOL_MS - Date.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
}

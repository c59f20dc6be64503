// snapshot/mount: performs mounts described as data (Mount[]), undoes them,
// and reads the mount table. The only place in snapshot/ that calls mount(2).
import { mkdtemp, open, rmdir, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { MountFlags, UmountFlags, asWharfError, errnoCode, sys, wharfError } from "../internal/index.js";
import { MOUNT_DATA_MAX, splitMountOptions } from "./options.js";
import type { Mount } from "./snapshotter.js";

function describe(m: Mount): string {
  return `${m.type} ${m.source} (${m.options.join(",")})${m.cwd ? ` from ${m.cwd}` : ""}`;
}

function mountOne(m: Mount, target: string): void {
  const { flags, data } = splitMountOptions(m.options);
  if (Buffer.byteLength(data) > MOUNT_DATA_MAX) {
    throw wharfError("invalid-argument", `mount ${m.type} on ${target}: ${Buffer.byteLength(data)} bytes of options exceed the kernel's ${MOUNT_DATA_MAX}`);
  }
  const s = sys();
  if (flags & MountFlags.BIND) {
    s.mount(m.source, target, null, flags & ~MountFlags.RDONLY, data || null);
    // A bind ignores MS_RDONLY on creation; read-only takes a remount.
    if (flags & MountFlags.RDONLY) {
      try {
        s.mount(null, target, null, MountFlags.REMOUNT | MountFlags.BIND | (flags & ~MountFlags.REC), null);
      } catch (e) {
        s.umount2(target, UmountFlags.DETACH);
        throw e;
      }
    }
    return;
  }
  if (m.cwd !== undefined) s.mountIn(m.cwd, m.source, target, m.type, flags, data);
  else s.mount(m.source, target, m.type, flags, data || null);
}

/** Mounts each of `mounts` on `target`, in order; on failure the ones already made are undone. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  for (const m of mounts) {
    try {
      mountOne(m, target);
      done++;
    } catch (e) {
      for (; done > 0; done--) {
        try {
          sys().umount2(target, UmountFlags.DETACH);
        } catch {
          break;
        }
      }
      throw asWharfError(e, `mount ${describe(m)} on ${target}`);
    }
  }
}

/**
 * Unmounts everything stacked on `target`. A busy mount is retried for a
 * while, then detached (it goes once its last user leaves). Not mounted is fine.
 */
export async function unmount(target: string, options: { retries?: number; delayMs?: number } = {}): Promise<void> {
  const retries = options.retries ?? 10;
  const delayMs = options.delayMs ?? 50;
  let busy = 0;
  // Bounded: a target has few stacked mounts; the bound stops a kernel surprise from spinning forever.
  for (let layers = 0; layers < 64; ) {
    try {
      sys().umount2(target, busy > retries ? UmountFlags.DETACH : 0);
      layers++;
      busy = 0;
    } catch (e) {
      const code = errnoCode(e);
      if (code === "EINVAL" || code === "ENOENT") return;
      if (code !== "EBUSY") throw asWharfError(e, `unmount ${target}`);
      busy++;
      await sleep(delayMs);
    }
  }
  throw wharfError("internal", `unmount ${target}: still mounted after 64 unmounts`);
}

/** Mounts on a fresh temp dir, runs fn(dir), and always unmounts and removes the dir. */
export async function withTempMount<T>(mounts: readonly Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-mount-"));
  try {
    await mountAll(mounts, dir);
    try {
      return await fn(dir);
    } finally {
      await unmount(dir);
    }
  } finally {
    // rmdir, never a recursive remove: if the unmount failed, the layers below must survive.
    await rmdir(dir).catch(() => {});
  }
}

/** Unescapes the octal escapes (\040 for space…) of /proc mount fields. */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

let mountinfo: Promise<FileHandle> | undefined;

/**
 * /proc/self/mountinfo as it is now. The file stays open and is read from
 * offset 0 each time (the kernel makes it afresh for each read from the
 * start): one read on the thread pool instead of an open, a stat, a read and
 * a close, for a check every container start and removal makes. The file
 * shows the mount namespace it was opened in, and no process of wharf's that
 * reads it ever leaves its own.
 */
async function readMountinfo(): Promise<string> {
  mountinfo ??= open("/proc/self/mountinfo", "r");
  let handle: FileHandle;
  try {
    handle = await mountinfo;
  } catch (e) {
    mountinfo = undefined;
    throw e;
  }
  let buf = Buffer.allocUnsafe(64 << 10);
  let length = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
    if (length === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
  }
  return buf.toString("utf8", 0, length);
}

/** One line of /proc/self/mountinfo; undefined for a line that is not an entry. */
function parseMountLine(line: string): MountEntry | undefined {
  const [head, tail] = line.split(" - ");
  if (head === undefined || tail === undefined) return undefined;
  const mountPoint = head.split(" ")[4];
  const [fsType, , superOpts] = tail.split(" ");
  if (mountPoint === undefined || fsType === undefined) return undefined;
  return { mountPoint: unescapeField(mountPoint), fsType, superOptions: (superOpts ?? "").split(",").map(unescapeField) };
}

/** This process's mount table (/proc/self/mountinfo). */
export async function mountTable(): Promise<MountEntry[]> {
  const out: MountEntry[] = [];
  for (const line of (await readMountinfo()).split("\n")) {
    const entry = parseMountLine(line);
    if (entry) out.push(entry);
  }
  return out;
}

/** A path as mountinfo writes it: space, tab, newline and backslash as octal escapes. */
function escapeField(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * What keeps `dir` busy: mount points at or under it, and overlays whose
 * upper dir lies under it. Deepest mount points first, so they unmount in order.
 */
export async function mountsUsing(dir: string): Promise<string[]> {
  const abs = resolve(dir);
  // Only lines that name the path (as a mount point or an upper dir) can matter: the rest,
  // hundreds of long overlay lines with many containers running, are never parsed.
  const needle = escapeField(abs);
  const out: string[] = [];
  for (const line of (await readMountinfo()).split("\n")) {
    if (!line.includes(needle)) continue;
    const m = parseMountLine(line);
    if (!m) continue;
    if (isUnder(m.mountPoint, abs)) out.push(m.mountPoint);
    else if (m.fsType === "overlay" && m.superOptions.some((o) => o.startsWith("upperdir=") && isUnder(o.slice("upperdir=".length), abs))) out.push(m.mountPoint);
  }
  return out.sort((a, b) => b.length - a.length);
}

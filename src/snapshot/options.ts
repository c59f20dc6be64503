// snapshot/options: how a Mount's option words split into mount(2) flags and
// the filesystem's data string — shared by mount.ts, which performs mounts,
// and the overlay snapshotter, which must know the data fits in one page.
import { MountFlags } from "../internal/index.js";

/** The kernel copies at most one page of mount data, its NUL included. */
export const MOUNT_DATA_MAX = 4095;

const SET: Readonly<Record<string, number>> = {
  ro: MountFlags.RDONLY,
  nosuid: MountFlags.NOSUID,
  nodev: MountFlags.NODEV,
  noexec: MountFlags.NOEXEC,
  bind: MountFlags.BIND,
  rbind: MountFlags.BIND | MountFlags.REC,
  remount: MountFlags.REMOUNT,
  sync: 16,
  dirsync: 128,
  noatime: 1024,
  nodiratime: 2048,
  relatime: 1 << 21,
  strictatime: 1 << 24,
};

const CLEAR: Readonly<Record<string, number>> = {
  rw: MountFlags.RDONLY,
  suid: MountFlags.NOSUID,
  dev: MountFlags.NODEV,
  exec: MountFlags.NOEXEC,
  async: 16,
  atime: 1024,
  diratime: 2048,
};

export interface SplitOptions {
  readonly flags: number;
  /** The words the filesystem itself reads, comma-joined ("" when none). */
  readonly data: string;
}

export function splitMountOptions(options: readonly string[]): SplitOptions {
  let flags = 0;
  const data: string[] = [];
  for (const word of options) {
    const set = SET[word];
    const clear = CLEAR[word];
    if (set !== undefined) flags |= set;
    else if (clear !== undefined) flags &= ~clear;
    else data.push(word);
  }
  return { flags, data: data.join(",") };
}

export function mountDataBytes(options: readonly string[]): number {
  return Buffer.byteLength(splitMountOptions(options).data);
}

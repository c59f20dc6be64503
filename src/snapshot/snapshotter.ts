// snapshot: filesystem trees stacked as layers.
//
// Vocabulary (as containerd's):
// - key: the name of an active snapshot, chosen by the caller (a container id,
//   or a temporary key while a layer is unpacked).
// - name: the name of a committed snapshot; for image layers, the chainID.
// - parent: the committed snapshot a new one stacks on.
// - active: writable; `mounts(key)` gives an overlay with its own upper dir
//   on top of its parents (or a bind of its dir when it has no parent).
// - committed: read-only and shared by every child; never changes again.
// - view: a read-only mount of a committed chain, for looking without writing.
//
// Unpacking a layer: prepare(tmpKey, parentChainId) → apply the layer tar into
// writableDir(mounts) without mounting → commit(chainId, tmpKey).
// Running a container: prepare(containerId, topChainId) → perform the mounts →
// run → unmount → remove(containerId).
//
// Snapshotters never mount anything themselves: they return mounts as data,
// and snapshot/mount.ts performs them.
export type SnapshotKind = "active" | "committed" | "view";

export interface SnapshotInfo {
  readonly key: string;
  readonly kind: SnapshotKind;
  readonly parent?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: Date;
}

/** One mount, described as data: `mount -t type -o options source <target>`. */
export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
  /**
   * The directory relative paths in `options` resolve from. Overlay lowerdirs
   * are given relative to it when absolute ones would not fit in the one page
   * the kernel reads mount options from.
   */
  readonly cwd?: string;
}

export interface Usage {
  readonly size: number;
  readonly inodes: number;
}

export interface Snapshotter {
  /** Throws WharfError not-found when absent. */
  stat(key: string): Promise<SnapshotInfo>;
  /** Creates an active snapshot on `parent` (a committed name); conflict when `key` exists. */
  prepare(key: string, parent?: string, options?: { labels?: Record<string, string> }): Promise<Mount[]>;
  /** A read-only view of `parent`. */
  view(key: string, parent: string, options?: { labels?: Record<string, string> }): Promise<Mount[]>;
  /**
   * The mounts of an active snapshot or view. `volatile`, for an active
   * snapshot whose upper dir is thrown away when its user stops (a `--rm`
   * container): the upper filesystem is never synced for it, so its unmount
   * costs nothing, and after a crash of the machine its contents are not to
   * be trusted (such a user is removed then anyway).
   */
  mounts(key: string, options?: { volatile?: boolean }): Promise<Mount[]>;
  /**
   * Turns active `key` into committed `name`; conflict when `name` exists (the active one is kept).
   * `parent` stacks a snapshot prepared without a parent on a committed one: a layer unpacked
   * before its place in a chain was known (a layer's own dir does not depend on what is below it).
   */
  commit(name: string, key: string, options?: { labels?: Record<string, string>; parent?: string }): Promise<void>;
  /** Removes a snapshot; conflict when committed children still use it. */
  remove(key: string): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
  usage(key: string): Promise<Usage>;
}

/** The directory a layer may be written into directly: the upper dir of an overlay, or the source of a bind. */
export function writableDir(mounts: readonly Mount[]): string {
  const m = mounts[0];
  if (!m) throw new Error("no mounts");
  if (m.type === "bind") return m.source;
  const upper = m.options.find((o) => o.startsWith("upperdir="));
  if (!upper) throw new Error("mount has no writable layer");
  return upper.slice("upperdir=".length);
}

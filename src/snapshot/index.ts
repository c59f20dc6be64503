// snapshot: the public entry of the snapshotter module — the contract, the
// overlay implementation, and the code that performs its mounts.
export { writableDir, type Mount, type SnapshotInfo, type SnapshotKind, type Snapshotter, type Usage } from "./snapshotter.js";
export { OverlaySnapshotter, openOverlaySnapshotter, type OverlayOptions } from "./overlay.js";
export { mountAll, mountTable, mountsUsing, unmount, withTempMount, type MountEntry } from "./mount.js";
export { MAX_LOWER_LAYERS } from "./layers.js";
export { MOUNT_DATA_MAX, splitMountOptions } from "./options.js";

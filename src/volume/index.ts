// volume: named and anonymous volumes (local driver), the mounts a container
// is given, and in-root path resolution.
export * from "./types.js";
export { VolumeStore, VOLUME_NAME_RE, type VolumeStoreOptions } from "./store.js";
export { planMounts, discardPlanned, type MountHostConfig, type MountRequest } from "./plan.js";
export { resolveInRoot, type ResolvedPath } from "./resolve.js";

// container: the engine objects users run: records, lifecycle, stdio and exec.
export * from "./types.js";
export * from "./engine.js";
export * from "./merge.js";
export * from "./files.js";
export { ContainerPaths } from "./paths.js";
export * from "./exec.js";
export { ContainerFiles, type PathStat } from "./copy.js";
export { ContainerCommits, PendingUnpacks, type Change, type ChangeKind, type CommitOptions } from "./commit.js";
export { HealthMonitor, healthPlan, type HealthPlan } from "./health.js";

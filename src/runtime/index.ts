// runtime: OCI runtime specs built as data, the runtime binary (runc) and the
// container monitor (conmon) that runs each process, and the log format.
export * from "./caps.js";
export * from "./seccomp.js";
export * from "./spec.js";
export * from "./user.js";
export * from "./runc.js";
export * from "./monitor.js";
export * from "./gate.js";
export * from "./direct-exec.js";
export * from "./logs.js";
export * from "./cgroup-lock.js";

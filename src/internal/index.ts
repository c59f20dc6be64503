// internal: errors, logging, durable writes, locks and system calls shared by every module.
export * from "./errors.js";
export * from "./atomic.js";
export * from "./logger.js";
export * from "./lock.js";
export * from "./sys.js";
export * from "./spawn.js";
export * from "./files.js";
export * from "./events.js";

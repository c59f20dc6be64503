// registry: the OCI distribution server — the API over a RegistryStorage
// (filesystem here; the daemon's image store in wharfd), auth, GC, and the
// standalone `wharf registry serve`.
export * from "./errors.js";
export * from "./names.js";
export * from "./storage.js";
export { FsRepositoryIndex, openFsStorage, compareNames } from "./fs-storage.js";
export { Registry, DEFAULT_LIMITS, type RegistryLimits, type RegistryOptions, type StoredManifest, type Page } from "./registry.js";
export { registryHandler, createRegistryServer, type ServerOptions } from "./server.js";
export { basicAuthorizer, Htpasswd, openAuthorizer, TokenAuthorizer, parseScope, type Access, type Authorizer, type Grant, type AccessRule } from "./auth.js";
export { collectGarbage, scheduleGc, type GcPolicy, type GcResult } from "./gc.js";
export { startRegistry, makeAuthorizer, type RunningRegistry } from "./serve.js";
export { buildConfig, parseServe, parseAddr, isLoopback, readConfigFile, type FlagValues, type RegistryConfig } from "./config.js";
export { UploadSessions, DEFAULT_UPLOAD_LIMITS, type UploadLimits } from "./uploads.js";

// distribution: the registry client (OCI distribution API, auth, retries) and
// the engine's pull and push over the image store's roles.
export { Authorizer, parseChallenges, repositoryScope, type Challenge, type Credentials } from "./auth.js";
export { RegistryClient, Repository, MANIFEST_ACCEPT, type FetchedManifest, type OpenedBlob } from "./client.js";
export { RegistryHosts, DEFAULT_CERTS_DIR, DOCKER_HUB_HOST, isLoopback, parseInsecureEntry, parseMirror, type Endpoint, type RegistryConfig } from "./hosts.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./http.js";
export { DistributionMemory } from "./memory.js";
export { Puller, type PullOptions, type PulledImage, type ResolvedImage } from "./pull.js";
export { Pusher, type PushOptions, type PushedImage } from "./push.js";
export { Distribution, registryDomain, type DistributionOptions, type RemoteInspect } from "./service.js";
export type * from "./target.js";

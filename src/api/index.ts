// api: the Docker Engine API that wharfd serves — router, server, the one
// error → status map, wire types — and the client the CLI uses (client.ts).
import type { Logger } from "../internal/index.js";
import type { BuildService } from "../build/index.js";
import { buildRoutes } from "./routes/build.js";
import { containerRoutes, type ContainerDeps } from "./routes/containers.js";
import { eventRoutes } from "./routes/events.js";
import { imageRoutes } from "./routes/images.js";
import { networkRoutes } from "./routes/networks.js";
import { distributionRoutes, pullHandler, type DistributionDeps } from "./routes/distribution.js";
import { systemRoutes, type SystemDeps } from "./routes/system.js";
import { volumeRoutes } from "./routes/volumes.js";
import { archiveRoutes } from "./routes/archive.js";
import { Router } from "./router.js";
import { ApiServer } from "./server.js";

export { ApiServer, checkVersion, compareVersions, parseTarget, type ApiServerOptions } from "./server.js";
export { Router, type Handler, type Match, type Method, type RequestContext, type Route, type UpgradeContext, type UpgradeHandler } from "./router.js";
export { Filters, parseBool, Query } from "./query.js";
export { httpError, logHandledError, statusOfKind, type HttpError } from "./status.js";
export type { EngineFacts, HostFacts, SystemDeps } from "./routes/system.js";
export type { ContainerDeps } from "./routes/containers.js";
export type { DistributionDeps } from "./routes/distribution.js";
export * from "./wire.js";

/** Every route wharfd serves today. */
export function engineRouter(deps: SystemDeps & { readonly containers?: ContainerDeps; readonly builds?: BuildService; readonly distribution?: DistributionDeps }): Router {
  const router = new Router();
  systemRoutes(router, deps);
  // Registered before the image routes: its push route takes the place of their not-implemented one.
  if (deps.distribution) distributionRoutes(router, deps.distribution);
  imageRoutes(router, deps.images, deps.distribution ? pullHandler(deps.distribution) : undefined);
  if (deps.containers) {
    containerRoutes(router, deps.containers);
    eventRoutes(router, deps.containers.events);
    if (deps.containers.networks) networkRoutes(router, { networks: deps.containers.networks, containers: deps.containers.containers });
    if (deps.containers.volumes) volumeRoutes(router, deps.containers.volumes);
    if (deps.containers.archive) archiveRoutes(router, deps.containers.archive);
  }
  if (deps.builds) buildRoutes(router, deps.builds, deps.distribution);
  return router;
}

/** The Engine API server for the given engine parts. */
export function engineServer(deps: SystemDeps & { readonly logger: Logger; readonly containers?: ContainerDeps; readonly builds?: BuildService; readonly distribution?: DistributionDeps }): ApiServer {
  return new ApiServer({ router: engineRouter(deps), logger: deps.logger, serverVersion: deps.engine.version });
}

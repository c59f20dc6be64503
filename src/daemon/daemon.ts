// The running engine's lifecycle: roots, pid file, sockets, the API server over
// the engine's parts, and a stop that undoes all of it in reverse order. The
// parts come from `openImages` (stores.ts in production), so the lifecycle is
// tested without the storage stack.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { engineServer, type ApiServer, type ContainerDeps, type DistributionDeps, type EngineFacts } from "../api/index.js";
import type { BuildService } from "../build/index.js";
import type { ImageService } from "../image/index.js";
import { asWharfError, errnoCode, writeFileAtomic, type Logger } from "../internal/index.js";
import type { DaemonConfig } from "./config.js";
import { probeHost } from "./host.js";
import { acquirePidfile, clearStaleSocket, type Pidfile } from "./pidfile.js";
import { loadDaemonRegistryConfig, type DaemonRegistryConfig } from "./registry.js";

/** The build's identity, shown by /version and `Server:` headers. */
export interface BuildInfo {
  readonly version: string;
  readonly gitCommit: string;
  readonly buildTime: string;
}

export interface RunningDaemon {
  readonly config: DaemonConfig;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, closes, removes sockets and the pid file. */
  stop(graceMs?: number): Promise<void>;
}

/** A stable id for this data root, as dockerd keeps its `engine-id`. */
async function engineId(dataRoot: string): Promise<string> {
  const path = join(dataRoot, "engine-id");
  try {
    const id = (await readFile(path, "utf8")).trim();
    if (id) return id;
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw asWharfError(e, `reading ${path}`);
  }
  const id = randomUUID();
  await writeFileAtomic(path, id, { mode: 0o600 });
  return id;
}

/** The image service the engine serves, and how to close what backs it. */
export interface OpenedImages {
  readonly images: ImageService;
  /** The container engine, when the parts include one. */
  readonly containers?: ContainerDeps;
  /** The builder (POST /build), when the parts include one. */
  readonly builds?: BuildService;
  /** Pull, push and login, when the parts include a registry client. */
  readonly distribution?: DistributionDeps;
  /** Serves the image store over the OCI distribution API (`--registry-addr`), when the parts can. */
  serveRegistry?(served: DaemonRegistryConfig): Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface DaemonParts {
  readonly build: BuildInfo;
  readonly logger: Logger;
  openImages(dataRoot: string, logger: Logger, execRoot: string, config?: DaemonConfig): Promise<OpenedImages>;
}

export async function startDaemon(config: DaemonConfig, parts: DaemonParts): Promise<RunningDaemon> {
  const { build, logger } = parts;
  // A registry config that cannot be used stops the start before anything is made.
  const served = config.registry ? await loadDaemonRegistryConfig(config.registry) : undefined;
  // The data root is private (images are root's); the exec root holds the socket, so others may traverse it and the socket's own mode decides.
  await mkdir(config.dataRoot, { recursive: true, mode: 0o700 });
  await mkdir(config.execRoot, { recursive: true, mode: 0o711 });
  const pidfile: Pidfile = await acquirePidfile(config.pidfile);
  const cleanups: (() => Promise<void>)[] = [() => pidfile.release()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => logger.warn("cleanup failed", { error: asWharfError(e, "cleanup").message }));
  };
  let server: ApiServer | undefined;
  try {
    for (const socket of config.sockets) {
      await mkdir(dirname(socket), { recursive: true, mode: 0o711 });
      await clearStaleSocket(socket);
    }
    const opened = await parts.openImages(config.dataRoot, logger, config.execRoot, config);
    cleanups.push(() => opened.close());
    const images = opened.images;
    const engine: EngineFacts = {
      version: build.version,
      gitCommit: build.gitCommit,
      runtimeVersion: `node${process.versions.node}`,
      buildTime: build.buildTime,
      id: await engineId(config.dataRoot),
      dataRoot: config.dataRoot,
      debug: config.debug,
    };
    server = engineServer({
      images,
      engine,
      host: () => probeHost(config.dataRoot),
      logger: logger.with({ module: "api" }),
      ...(opened.containers ? { containers: opened.containers } : {}),
      ...(opened.builds ? { builds: opened.builds } : {}),
      ...(opened.distribution ? { distribution: opened.distribution } : {}),
    });
    for (const socket of config.sockets) {
      await server.listen(socket);
      cleanups.push(() => rm(socket, { force: true }));
      logger.info("API listening", { socket });
    }
    if (served) {
      if (!opened.serveRegistry) throw asWharfError(new Error("this image store cannot be served as a registry"), "--registry-addr");
      const registry = await opened.serveRegistry(served);
      cleanups.push(() => registry.close());
    }
  } catch (e) {
    await server?.close(0);
    await cleanup();
    throw e;
  }
  const running = server;
  let stopping: Promise<void> | undefined;
  return {
    config,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        await running.close(graceMs);
        await cleanup();
      })();
      return stopping;
    },
  };
}

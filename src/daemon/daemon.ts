// The running engine: the one place where the concrete parts (content store,
// snapshotter, image store, API server) are made and wired together, and
// where they are stopped in order.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { engineServer, type ApiServer, type EngineFacts } from "../api/index.js";
import { openLocalStore } from "../content/index.js";
import { openImageStore } from "../image/index.js";
import { asWharfError, errnoCode, writeFileAtomic, type Logger } from "../internal/index.js";
import { openOverlaySnapshotter } from "../snapshot/index.js";
import type { DaemonConfig } from "./config.js";
import { probeHost } from "./host.js";
import { acquirePidfile, clearStaleSocket, type Pidfile } from "./pidfile.js";

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

interface Closable {
  close(): Promise<void> | void;
}
const canClose = (v: object): v is Closable => typeof (v as Partial<Closable>).close === "function";

export async function startDaemon(config: DaemonConfig, build: BuildInfo, logger: Logger): Promise<RunningDaemon> {
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
    const content = await openLocalStore(join(config.dataRoot, "content"));
    const snapshotter = await openOverlaySnapshotter(join(config.dataRoot, "snapshots"));
    const images = await openImageStore({ root: config.dataRoot, content, snapshotter, logger: logger.with({ module: "image" }) });
    for (const part of [images, snapshotter, content]) if (canClose(part)) cleanups.push(async () => void (await part.close()));
    const engine: EngineFacts = {
      version: build.version,
      gitCommit: build.gitCommit,
      runtimeVersion: `node${process.versions.node}`,
      buildTime: build.buildTime,
      id: await engineId(config.dataRoot),
      dataRoot: config.dataRoot,
      debug: config.debug,
    };
    server = engineServer({ images, engine, host: () => probeHost(config.dataRoot), logger: logger.with({ module: "api" }) });
    for (const socket of config.sockets) {
      await server.listen(socket);
      cleanups.push(() => rm(socket, { force: true }));
      logger.info("API listening", { socket });
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

// The storage stack under the data root: content store, overlay snapshotter
// and the image store over them.
import { join } from "node:path";
import { BuildService } from "../build/index.js";
import { openLocalStore } from "../content/index.js";
import { ContainerEngine, ExecManager } from "../container/index.js";
import { openImageStore } from "../image/index.js";
import { EventBus, type Logger } from "../internal/index.js";
import { openOverlaySnapshotter } from "../snapshot/index.js";
import type { OpenedImages } from "./daemon.js";

interface Closable {
  close(): Promise<void> | void;
}
const canClose = (v: object): v is Closable => typeof (v as Partial<Closable>).close === "function";

const STALE_INGEST_MS = 24 * 60 * 60 * 1000;

export async function openStores(dataRoot: string, logger: Logger, execRoot?: string): Promise<OpenedImages> {
  const content = await openLocalStore(join(dataRoot, "content"), { logger: logger.with({ module: "content" }) });
  // Resumable ingests (pulls) keep a day to be resumed; older ones and broken ones go.
  await content.cleanupIngests(STALE_INGEST_MS, { halfCreatedOlderThanMs: 0 });
  const snapshotter = await openOverlaySnapshotter(join(dataRoot, "snapshots"));
  // The container engine opens after the image store; until then no image is in use.
  let containers: ContainerEngine | undefined;
  const images = await openImageStore({ root: dataRoot, content, snapshotter, logger: logger.with({ module: "image" }), usage: (id) => containers?.usingImage(id) ?? [] });
  const events = new EventBus();
  if (execRoot !== undefined) {
    containers = await ContainerEngine.open({ dataRoot, execRoot, images, snapshotter, events, logger: logger.with({ module: "container" }) });
  }
  const engine = containers;
  const builds = execRoot !== undefined ? new BuildService({ images, root: join(dataRoot, "build"), execRoot: join(execRoot, "build"), logger: logger.with({ module: "build" }) }) : undefined;
  await builds?.recover();
  return {
    images,
    ...(builds ? { builds } : {}),
    ...(engine ? { containers: { containers: engine, execs: new ExecManager(engine), events } } : {}),
    async close() {
      // Top down: the image store may still write through the others.
      for (const part of [engine, images, snapshotter, content]) if (part && canClose(part)) await part.close();
    },
  };
}

// The storage stack under the data root: content store, overlay snapshotter
// and the image store over them.
import { join } from "node:path";
import { openLocalStore } from "../content/index.js";
import { openImageStore } from "../image/index.js";
import type { Logger } from "../internal/index.js";
import { openOverlaySnapshotter } from "../snapshot/index.js";
import type { OpenedImages } from "./daemon.js";

interface Closable {
  close(): Promise<void> | void;
}
const canClose = (v: object): v is Closable => typeof (v as Partial<Closable>).close === "function";

const STALE_INGEST_MS = 24 * 60 * 60 * 1000;

export async function openStores(dataRoot: string, logger: Logger): Promise<OpenedImages> {
  const content = await openLocalStore(join(dataRoot, "content"), { logger: logger.with({ module: "content" }) });
  // Resumable ingests (pulls) keep a day to be resumed; older ones and broken ones go.
  await content.cleanupIngests(STALE_INGEST_MS, { halfCreatedOlderThanMs: 0 });
  const snapshotter = await openOverlaySnapshotter(join(dataRoot, "snapshots"));
  const images = await openImageStore({ root: dataRoot, content, snapshotter, logger: logger.with({ module: "image" }) });
  return {
    images,
    async close() {
      // Top down: the image store may still write through the others.
      for (const part of [images, snapshotter, content]) if (canClose(part)) await part.close();
    },
  };
}

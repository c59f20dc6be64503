// Unpacking a layer while it downloads: the wiring distribution's puller
// cannot do itself (it imports neither archive nor snapshot). The layer goes
// into a snapshot without a parent; the image store commits it in its place
// in the chain once the chain below it is in place.
import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { applyLayer, decompress } from "../archive/index.js";
import type { StartUnpack } from "../distribution/index.js";
import { writableDir, type Snapshotter } from "../snapshot/index.js";

/** The image store's prefix for extraction snapshots, which its collector sweeps when no lease holds them. */
const EXTRACT_PREFIX = "extract-pull-";

export function unpackWhileDownloading(snapshotter: Snapshotter): StartUnpack {
  return async (lease, signal) => {
    const key = `${EXTRACT_PREFIX}${randomBytes(8).toString("hex")}`;
    lease.addSnapshot(key);
    const mounts = await snapshotter.prepare(key);
    const input = new PassThrough({ highWaterMark: 1 << 20 });
    const done = applyLayer(writableDir(mounts), decompress(input), signal ? { signal } : {}).then(
      (r) => ({ key, diffId: r.diffId, size: r.size, contentSize: r.contentSize }),
      async () => {
        input.destroy();
        await snapshotter.remove(key).catch(() => {});
        return undefined;
      },
    );
    return { input, done, discard: (u) => snapshotter.remove(u.key) };
  };
}

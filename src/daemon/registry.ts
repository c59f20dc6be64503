// `wharfd --registry-addr`: the registry module over the daemon's own
// content store and image store (registry-index.ts), on a loopback listener.
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { ImageStore } from "../image/index.js";
import type { Logger } from "../internal/index.js";
import { asWharfError } from "../internal/index.js";
import { createRegistryServer, FsRepositoryIndex, Registry } from "../registry/index.js";
import { ImageRepositoryIndex } from "./registry-index.js";

export interface DaemonRegistry {
  readonly url: string;
  close(): Promise<void>;
}

export async function serveImageRegistry(images: ImageStore, dataRoot: string, addr: { host: string; port: number }, logger: Logger): Promise<DaemonRegistry> {
  const extra = new FsRepositoryIndex(join(dataRoot, "registry", "repositories"), logger);
  const index = await ImageRepositoryIndex.open(images, extra, logger);
  const registry = await Registry.open({ blobs: images.content, repositories: index }, { logger });
  const server = createRegistryServer(registry, { logger });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(addr.port, addr.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (e) {
    await registry.uploads.close();
    index.close();
    throw asWharfError(e, `registry: listen on ${addr.host}:${addr.port}`);
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:${port}`;
  logger.info("registry listening", { url });
  return {
    url,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), 3000);
      await closed;
      clearTimeout(timer);
      await registry.uploads.close();
      index.close();
    },
  };
}

// The storage stack under the data root: content store, overlay snapshotter
// and the image store over them.
import { join } from "node:path";
import { openLocalStore } from "../content/index.js";
import { ContainerEngine, ExecManager } from "../container/index.js";
import { openImageStore } from "../image/index.js";
import { EventBus, type Logger } from "../internal/index.js";
import { NetworkManager, parseAddressPool } from "../network/index.js";
import { openOverlaySnapshotter } from "../snapshot/index.js";
import type { DaemonConfig } from "./config.js";
import type { OpenedImages } from "./daemon.js";

interface Closable {
  close(): Promise<void> | void;
}
const canClose = (v: object): v is Closable => typeof (v as Partial<Closable>).close === "function";

const STALE_INGEST_MS = 24 * 60 * 60 * 1000;

export async function openStores(dataRoot: string, logger: Logger, execRoot?: string, config?: DaemonConfig): Promise<OpenedImages> {
  const content = await openLocalStore(join(dataRoot, "content"), { logger: logger.with({ module: "content" }) });
  // Resumable ingests (pulls) keep a day to be resumed; older ones and broken ones go.
  await content.cleanupIngests(STALE_INGEST_MS, { halfCreatedOlderThanMs: 0 });
  const snapshotter = await openOverlaySnapshotter(join(dataRoot, "snapshots"));
  // The container engine opens after the image store; until then no image is in use.
  let containers: ContainerEngine | undefined;
  const images = await openImageStore({ root: dataRoot, content, snapshotter, logger: logger.with({ module: "image" }), usage: (id) => containers?.usingImage(id) ?? [] });
  const events = new EventBus();
  let network: NetworkManager | undefined;
  if (execRoot !== undefined) {
    const flags = config?.network;
    network = await NetworkManager.open({
      dataRoot,
      execRoot,
      events,
      logger: logger.with({ module: "network" }),
      ...(flags?.bridge ? { bridge: flags.bridge } : {}),
      ...(flags?.bip ? { bip: flags.bip } : {}),
      ...(flags && flags.pools.length > 0 ? { pools: flags.pools.map(parseAddressPool) } : {}),
      ...(flags?.mtu ? { mtu: flags.mtu } : {}),
      ipForward: flags?.ipForward ?? false,
    });
    const net = network;
    const lookup = { get: (ref: string) => { try { return containers?.get(ref); } catch { return undefined; } }, list: () => containers?.list() ?? [] };
    net.setContainers(lookup);
    containers = await ContainerEngine.open({
      dataRoot,
      execRoot,
      images,
      snapshotter,
      events,
      logger: logger.with({ module: "container" }),
      network: net,
      ...(config ? { runtimes: config.runtimes, defaultRuntime: config.defaultRuntime } : {}),
    });
    await net.sweep().catch((e: unknown) => logger.warn("network sweep failed", { error: e instanceof Error ? e.message : String(e) }));
  }
  const engine = containers;
  return {
    images,
    ...(engine ? { containers: { containers: engine, execs: new ExecManager(engine), events, ...(network ? { networks: network } : {}) } } : {}),
    async close() {
      // Top down: the image store may still write through the others.
      for (const part of [engine, network, images, snapshotter, content]) if (part && canClose(part)) await part.close();
    },
  };
}

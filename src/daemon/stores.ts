// The storage stack under the data root: content store, overlay snapshotter
// and the image store over them.
import { join } from "node:path";
import { BuildService } from "../build/index.js";
import { openLocalStore } from "../content/index.js";
import { ContainerCommits, ContainerEngine, ContainerFiles, ExecManager, HealthMonitor, PendingUnpacks } from "../container/index.js";
import { openImageStore } from "../image/index.js";
import { EventBus, type Logger } from "../internal/index.js";
import { NetworkManager, parseAddressPool } from "../network/index.js";
import { openOverlaySnapshotter } from "../snapshot/index.js";
import type { DaemonConfig } from "./config.js";
import { VolumeStore } from "../volume/index.js";
import type { OpenedImages } from "./daemon.js";
import { Distribution } from "../distribution/index.js";
import { unpackWhileDownloading } from "./pull-unpack.js";
import { serveImageRegistry } from "./registry.js";

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
  let volumes: VolumeStore | undefined;
  const images = await openImageStore({ root: dataRoot, content, snapshotter, logger: logger.with({ module: "image" }), usage: (id) => containers?.usingImage(id) ?? [] });
  const events = new EventBus();
  // Committed images are unpacked after commit answers; containers wait for their snapshots.
  const unpacks = new PendingUnpacks(images, logger.with({ module: "image" }));
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
      ...(flags?.defaultBindIp ? { defaultBindIp: flags.defaultBindIp } : {}),
    });
    const net = network;
    const lookup = { get: (ref: string) => { try { return containers?.get(ref); } catch { return undefined; } }, list: () => containers?.list() ?? [] };
    net.setContainers(lookup);
    const usage = (name: string) => containers?.list().filter((r) => r.Mounts.some((m) => m.Type === "volume" && m.Name === name)).map((r) => r.Id) ?? [];
    volumes = await VolumeStore.open({ dataRoot, events, logger: logger.with({ module: "volume" }), usage });
    containers = await ContainerEngine.open({
      dataRoot,
      execRoot,
      images: unpacks.guard(images),
      snapshotter,
      events,
      logger: logger.with({ module: "container" }),
      network: net,
      volumes,
      ...(config ? { runtimes: config.runtimes, defaultRuntime: config.defaultRuntime } : {}),
    });
    await net.sweep().catch((e: unknown) => logger.warn("network sweep failed", { error: e instanceof Error ? e.message : String(e) }));
  }
  const engine = containers;
  const execs = engine ? new ExecManager(engine) : undefined;
  const health = engine && execs ? new HealthMonitor(engine, execs, events, logger.with({ module: "health" })) : undefined;
  health?.start();
  const builds = execRoot !== undefined ? new BuildService({ images, root: join(dataRoot, "build"), execRoot: join(execRoot, "build"), logger: logger.with({ module: "build" }) }) : undefined;
  const distribution = await Distribution.open({
    target: images,
    ...(config?.registries ? { registries: config.registries } : {}),
    memoryPath: join(dataRoot, "metadata", "distribution.json"),
    startUnpack: unpackWhileDownloading(snapshotter),
    logger: logger.with({ module: "distribution" }),
  });
  await builds?.recover();
  return {
    images,
    distribution,
    ...(builds ? { builds } : {}),
    ...(engine && execs
      ? {
          containers: {
            containers: engine,
            execs,
            events,
            ...(network ? { networks: network } : {}),
            ...(volumes ? { volumes } : {}),
            archive: { files: new ContainerFiles(engine, snapshotter), commits: new ContainerCommits(engine, snapshotter, images, unpacks) },
          },
        }
      : {}),
    serveRegistry: (served) => serveImageRegistry(images, dataRoot, served, logger.with({ module: "registry" })),
    async close() {
      health?.close();
      // Top down: the image store may still write through the others.
      for (const part of [engine, network, images, snapshotter, content]) if (part && canClose(part)) await part.close();
    },
  };
}

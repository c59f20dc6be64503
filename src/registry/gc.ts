// registry/gc: online garbage collection, mark and sweep, while pushes go on.
//
// Mark: a manifest is kept when a tag names it, when a kept index lists it,
// when its subject is kept (signatures, SBOMs), when it is younger than the
// grace period, or always when `deleteUntagged` is off. Kept manifests keep
// their blobs. Sweep: every other manifest record is removed (policy), then
// every blob no kept manifest needs, older than the grace period, is unlinked
// and deleted, each under the Liveness lock, and only if no push used it
// since the collection began (liveness.ts says why that is enough).
import type { Digest } from "../oci/index.js";
import { isKind, nullLogger, type Logger } from "../internal/index.js";
import type { Registry } from "./registry.js";
import type { RepositoryName } from "./names.js";

export interface GcPolicy {
  /** Blobs and manifests younger than this are never removed (ms). */
  readonly gracePeriodMs: number;
  /** Remove manifests no tag (directly or through an index or subject) keeps. */
  readonly deleteUntagged: boolean;
}

export interface GcResult {
  readonly manifests: number;
  readonly blobs: number;
  readonly bytes: number;
}

export async function collectGarbage(registry: Registry, policy: GcPolicy, logger: Logger = nullLogger): Promise<GcResult> {
  const { storage, liveness } = registry;
  const repos = storage.repositories;
  liveness.begin();
  try {
    const startedAt = Date.now();
    const cutoff = startedAt - policy.gracePeriodMs;
    const keptBlobs = new Set<Digest>();
    let manifestsRemoved = 0;
    const names: RepositoryName[] = await repos.repositories();
    for (const repo of names) {
      const records = new Map((await repos.manifests(repo)).map((r) => [r.digest, r]));
      const kept = new Set<Digest>();
      const keep = (d: Digest) => {
        if (kept.has(d) || !records.has(d)) return;
        kept.add(d);
        for (const child of records.get(d)!.manifests) keep(child);
      };
      if (!policy.deleteUntagged) for (const d of records.keys()) keep(d);
      for (const tag of await repos.tags(repo)) {
        const d = await repos.resolveTag(repo, tag);
        if (d) keep(d);
      }
      // Young manifests may be children of an index not pushed yet.
      for (const [d] of records) {
        const info = await storage.blobs.info(d).catch(() => undefined);
        if (info && info.createdAt.getTime() > cutoff) keep(d);
      }
      // Referrers of kept manifests, until nothing changes (a signature of a signature).
      for (let changed = true; changed; ) {
        changed = false;
        for (const r of records.values()) {
          if (!kept.has(r.digest) && r.subject !== undefined && kept.has(r.subject)) {
            keep(r.digest);
            changed = true;
          }
        }
      }
      for (const r of records.values()) {
        if (kept.has(r.digest)) continue;
        const removed = await liveness.unlessUsed(r.digest, async () => {
          await repos.deleteManifest(repo, r.digest);
          registry.forget(r.digest);
        });
        if (removed) manifestsRemoved++;
        else kept.add(r.digest);
      }
      for (const d of kept) {
        keptBlobs.add(d);
        const r = records.get(d);
        if (r) for (const b of r.blobs) keptBlobs.add(b);
      }
    }
    // Manifests of every repository count: the same bytes may be kept elsewhere.
    for (const repo of names) for (const r of await repos.manifests(repo)) keptBlobs.add(r.digest);

    let blobs = 0;
    let bytes = 0;
    const unlinked = new Set<Digest>();
    for await (const info of storage.blobs.list()) {
      if (keptBlobs.has(info.digest) || info.createdAt.getTime() > cutoff) continue;
      const removed = await liveness.unlessUsed(info.digest, async () => {
        for (const repo of names) if (await repos.unlinkBlob(repo, info.digest)) unlinked.add(info.digest);
        try {
          await storage.blobs.delete(info.digest);
        } catch (e) {
          if (!isKind(e, "not-found")) throw e;
        }
      });
      if (removed) {
        blobs++;
        bytes += info.size;
      }
    }
    // Links to blobs that no longer exist (deleted by an earlier run that crashed midway).
    for (const repo of names) {
      for (const d of await repos.blobs(repo)) {
        if (unlinked.has(d) || keptBlobs.has(d)) continue;
        if (!(await storage.blobs.has(d))) await liveness.unlessUsed(d, async () => void (await repos.unlinkBlob(repo, d)));
      }
    }
    const result = { manifests: manifestsRemoved, blobs, bytes };
    logger.info("garbage collected", { ...result, ms: Date.now() - startedAt });
    return result;
  } finally {
    liveness.end();
  }
}

/** Runs a collection every `intervalMs`, one at a time; `stop` waits for a running one. */
export function scheduleGc(registry: Registry, policy: GcPolicy, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => collectGarbage(registry, policy, logger).catch((e: unknown) => logger.error("garbage collection failed", { error: e })));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

// Garbage collection, mark and sweep. The plan is a pure function of what
// exists and what is referenced, so it can be tested without a disk; the
// store then deletes what the plan names, children before parents.
import type { Digest } from "../oci/index.js";
import type { SnapshotInfo } from "../snapshot/snapshotter.js";

export interface Roots {
  /** Blobs referenced by image records (manifests, configs, layers) and by leases. */
  readonly blobs: ReadonlySet<Digest>;
  /** Snapshot keys referenced by images (chainIDs), containers and leases. */
  readonly snapshots: ReadonlySet<string>;
}

export interface CollectionPlan {
  readonly blobs: Digest[];
  /** In an order that removes every child before its parent. */
  readonly snapshots: string[];
}

export function planCollection(roots: Roots, blobs: Iterable<Digest>, snapshots: readonly SnapshotInfo[]): CollectionPlan {
  const byKey = new Map(snapshots.map((s) => [s.key, s]));
  const live = new Set<string>();
  for (const key of roots.snapshots) {
    // A live snapshot keeps its whole parent chain alive.
    for (let cur = byKey.get(key); cur && !live.has(cur.key); cur = cur.parent ? byKey.get(cur.parent) : undefined) live.add(cur.key);
  }
  const dead = snapshots.filter((s) => !live.has(s.key));
  // Children first: a snapshot goes after every dead snapshot below it.
  const depth = (s: SnapshotInfo): number => {
    let d = 0;
    for (let cur = s; cur.parent && byKey.has(cur.parent) && d < 1000; cur = byKey.get(cur.parent)!) d++;
    return d;
  };
  dead.sort((a, b) => depth(b) - depth(a));
  const deadBlobs: Digest[] = [];
  for (const b of blobs) if (!roots.blobs.has(b)) deadBlobs.push(b);
  return { blobs: deadBlobs, snapshots: dead.map((s) => s.key) };
}

/** What in-progress operations hold: GC never collects it. */
export class Leases {
  #next = 0;
  #held = new Map<number, { blobs: Set<Digest>; snapshots: Set<string> }>();

  create(): Lease {
    const id = this.#next++;
    const entry = { blobs: new Set<Digest>(), snapshots: new Set<string>() };
    this.#held.set(id, entry);
    return {
      addBlob: (d) => void entry.blobs.add(d),
      addSnapshot: (k) => void entry.snapshots.add(k),
      [Symbol.dispose]: () => void this.#held.delete(id),
    };
  }

  /** Whether any lease holds a snapshot key (or any ingest while held). */
  get active(): boolean {
    return this.#held.size > 0;
  }

  addRoots(blobs: Set<Digest>, snapshots: Set<string>): void {
    for (const e of this.#held.values()) {
      for (const b of e.blobs) blobs.add(b);
      for (const s of e.snapshots) snapshots.add(s);
    }
  }
}

export interface Lease extends Disposable {
  addBlob(digest: Digest): void;
  addSnapshot(key: string): void;
}

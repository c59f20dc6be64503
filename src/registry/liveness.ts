// registry/liveness: how pushes and the online garbage collector stay out of
// each other's way without a read-only window.
//
// Every operation that makes a blob or manifest needed again (a manifest
// PUT that references it, a mount, a HEAD that lets a client skip an upload,
// an upload that commits it) calls `use(digests, fn)`: under each digest's
// lock it marks the digest as used, then checks that it exists. The
// collector deletes a candidate only under the same lock and only if it was
// not used since the collection began. So either the delete happens first
// (and the push sees the blob missing and says so), or the use does (and the
// blob is kept): never a manifest that points at a deleted blob. A use still
// under way when a collection begins counts as a use in it: that collection
// may have read the manifests before the use writes its own.
import { KeyedMutex } from "../internal/index.js";
import type { Digest } from "../oci/index.js";

export class Liveness {
  readonly #locks = new KeyedMutex();
  /** Digests used since the current collection began; undefined while none runs. */
  #used: Set<Digest> | undefined;
  /** Digests held by uses under way, with how many hold each. */
  readonly #held = new Map<Digest, number>();

  /** Runs `fn` holding the locks of `digests` (in a fixed order), marking them used. */
  async use<T>(digests: Iterable<Digest>, fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(digests)].sort();
    const held: Disposable[] = [];
    try {
      for (const d of sorted) {
        held.push(await this.#locks.acquire(d));
        this.#held.set(d, (this.#held.get(d) ?? 0) + 1);
        this.#used?.add(d);
      }
      return await fn();
    } finally {
      // The digests whose locks were taken: the first held.length of them.
      for (const d of sorted.slice(0, held.length)) {
        const n = this.#held.get(d)! - 1;
        if (n === 0) this.#held.delete(d);
        else this.#held.set(d, n);
      }
      for (const h of held.reverse()) h[Symbol.dispose]();
    }
  }

  /** Marks digests used without holding them (the blob was just written). */
  touch(digests: Iterable<Digest>): void {
    if (this.#used) for (const d of digests) this.#used.add(d);
  }

  /** Starts a collection: from now on uses are recorded, and the uses under way count as made in it. */
  begin(): void {
    this.#used = new Set(this.#held.keys());
  }

  end(): void {
    this.#used = undefined;
  }

  /** Under the digest's lock: runs `fn` unless the digest was used since `begin`. Returns whether it ran. */
  async unlessUsed(digest: Digest, fn: () => Promise<void>): Promise<boolean> {
    return this.#locks.run(digest, async () => {
      if (this.#used?.has(digest)) return false;
      await fn();
      return true;
    });
  }
}

// cache: the build cache. A step's key is the digest of its parent's key and
// everything the step reads (the instruction as expanded, the build args and
// env a RUN sees, the content of the files a COPY reads); its record is the
// image state the step produced. Records also keep their named inputs, so a
// miss can say which input changed against the last build of the same step.
//
// Only completed steps are recorded, so a failed step never poisons the
// cache. The records are one JSON document written atomically.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Descriptor, Digest, ImageConfig } from "../oci/index.js";
import { errnoCode, writeFileAtomic, type Logger } from "../internal/index.js";

export interface CachedLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly size: number;
  readonly contentSize: number;
}

export interface CacheRecord {
  readonly key: string;
  readonly parent: string;
  /** The instruction's keyword and its line in the Dockerfile, to find "the same step" of an earlier build. */
  readonly slot: string;
  readonly inputs: Readonly<Record<string, string>>;
  /** Digests of the context files a COPY read, kept on the latest record of each slot only (for explanations). */
  readonly files?: Readonly<Record<string, string>>;
  readonly config: ImageConfig;
  /** The layer the step added, if it added one. */
  readonly layer?: CachedLayer;
  readonly createdAt: string;
}

const MAX_RECORDS = 20_000;

export function cacheKey(parent: string, inputs: Readonly<Record<string, string>>): string {
  const h = createHash("sha256");
  h.update(parent);
  for (const k of Object.keys(inputs).sort()) h.update(`\0${k}\0${inputs[k]}`);
  return h.digest("hex");
}

export class BuildCache {
  readonly #path: string;
  readonly #logger: Logger;
  #records = new Map<string, CacheRecord>();
  /** Latest record per slot, for explanations. */
  #bySlot = new Map<string, CacheRecord>();
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;

  private constructor(path: string, logger: Logger) {
    this.#path = path;
    this.#logger = logger;
  }

  static async open(path: string, logger: Logger): Promise<BuildCache> {
    const cache = new BuildCache(path, logger);
    try {
      const doc = JSON.parse(await readFile(path, "utf8")) as { records?: CacheRecord[] };
      for (const r of doc.records ?? []) cache.#add(r);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") logger.warn("build cache unreadable; starting empty", { path, error: (e as Error).message });
    }
    return cache;
  }

  #add(r: CacheRecord): void {
    const before = this.#bySlot.get(r.slot);
    if (before && before.key !== r.key && before.files && this.#records.has(before.key)) {
      const { files: _files, ...lean } = before;
      this.#records.set(before.key, lean);
    }
    this.#records.delete(r.key);
    this.#records.set(r.key, r);
    this.#bySlot.set(r.slot, r);
    while (this.#records.size > MAX_RECORDS) {
      const oldest = this.#records.keys().next().value as string;
      this.#records.delete(oldest);
    }
  }

  get(key: string): CacheRecord | undefined {
    return this.#records.get(key);
  }

  /** The last record of the same step (same slot), to explain a miss. */
  previous(slot: string): CacheRecord | undefined {
    return this.#bySlot.get(slot);
  }

  /** Every record (for holding their layers against collection). */
  all(): IterableIterator<CacheRecord> {
    return this.#records.values();
  }

  put(r: CacheRecord): void {
    this.#add(r);
    this.#dirty = true;
  }

  /** Drops every record; returns them. */
  clear(): CacheRecord[] {
    const all = [...this.#records.values()];
    this.#records.clear();
    this.#bySlot.clear();
    this.#dirty = true;
    return all;
  }

  forget(key: string): void {
    if (this.#records.delete(key)) this.#dirty = true;
  }

  /** Writes the records if they changed. */
  async flush(): Promise<void> {
    if (!this.#dirty) return this.#writing;
    this.#dirty = false;
    const text = JSON.stringify({ records: [...this.#records.values()] });
    this.#writing = this.#writing.then(() => writeFileAtomic(this.#path, text)).catch((e: unknown) => this.#logger.warn("write build cache", { error: (e as Error).message }));
    return this.#writing;
  }
}

/** Why a step missed the cache, in words: which input differs from the last build of the same step. */
export function explainMiss(previous: CacheRecord | undefined, parent: string, inputs: Readonly<Record<string, string>>, parentWasHit: boolean, files?: Readonly<Record<string, string>>): string {
  if (!previous) return "no earlier build of this step";
  if (previous.parent !== parent && !parentWasHit) return "an earlier step was rebuilt";
  const changed: string[] = [];
  const keys = new Set([...Object.keys(previous.inputs), ...Object.keys(inputs)]);
  for (const k of [...keys].sort()) {
    if (previous.inputs[k] === inputs[k]) continue;
    if (k === "files") {
      const before = previous.files ?? {};
      const now = files ?? {};
      const names = new Set([...Object.keys(before), ...Object.keys(now)]);
      const fileChanges: string[] = [];
      for (const name of [...names].sort()) {
        if (before[name] === now[name]) continue;
        fileChanges.push(before[name] === undefined ? `file ${name} added` : now[name] === undefined ? `file ${name} removed` : `file ${name} changed`);
      }
      changed.push(...(fileChanges.length > 0 ? fileChanges : ["the copied files changed"]));
    } else if (k.startsWith("arg:")) changed.push(`build arg ${k.slice(4)} changed`);
    else if (k.startsWith("env:")) changed.push(`env ${k.slice(4)} changed`);
    else changed.push(`${k} changed`);
  }
  if (changed.length === 0) return previous.parent !== parent ? "an earlier step changed (a base image or a metadata instruction before this one)" : "the cached result is gone (collected)";
  const shown = changed.slice(0, 5).join(", ");
  return changed.length > 5 ? `${shown} and ${changed.length - 5} more` : shown;
}

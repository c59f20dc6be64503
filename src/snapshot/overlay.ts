// snapshot/overlay: the overlayfs snapshotter. Each snapshot owns
// <root>/<id>/{fs,work,snapshot.json} under a short numeric id (short ids keep
// overlay option strings short); the records are loaded into memory at open.
//
// Crash safety: a snapshot exists exactly when its snapshot.json does.
// Create = mkdir dirs → write the record atomically; commit = rewrite the
// record atomically; remove = delete the record → remove the dirs. `open`
// removes every id dir without a record, so a crash at any point leaves the
// old state or the new one.
import { existsSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Semaphore, asWharfError, errnoCode, fsyncDir, nullLogger, sys, wharfError, type Logger } from "../internal/index.js";
import type { Mount, SnapshotInfo, Snapshotter, Usage } from "./snapshotter.js";
import { checkDepth, fsDir, layerMounts, snapshotDir, workDir } from "./layers.js";
import { RECORD_FILE, deleteRecord, readRecord, recordInfo, writeRecord, type SnapshotRecord } from "./record.js";
import { diskUsage } from "./usage.js";
import { mountsUsing } from "./mount.js";

export interface OverlayOptions {
  readonly logger?: Logger;
}

const ID_RE = /^[1-9][0-9]*$/;

/** Opens (creating if needed) the snapshotter under `root`, repairing what a crash left behind. */
export async function openOverlaySnapshotter(root: string, options: OverlayOptions = {}): Promise<OverlaySnapshotter> {
  const abs = resolve(root);
  const action = `open overlay snapshotter ${JSON.stringify(abs)}`;
  // Overlay options separate with "," and lowerdirs with ":": such a root could not be mounted.
  if (/[,:]/.test(abs)) throw wharfError("invalid-argument", `${action}: the path may not contain "," or ":"`);
  const logger = options.logger ?? nullLogger;
  const records: SnapshotRecord[] = [];
  let maxId = 0;
  try {
    await mkdir(abs, { recursive: true });
    spreadSnapshots(abs, logger);
    for (const name of await readdir(abs)) {
      if (!ID_RE.test(name)) continue;
      const id = Number(name);
      maxId = Math.max(maxId, id);
      let record: SnapshotRecord | undefined;
      try {
        record = await readRecord(abs, id);
      } catch (e) {
        // Records are written atomically, so this is damage, not a crash: keep the data for a human.
        logger.error("skip unreadable snapshot record", { id, error: e });
        continue;
      }
      if (!record) {
        logger.info("remove half-created or half-removed snapshot", { id });
        await rm(snapshotDir(abs, id), { recursive: true, force: true });
        continue;
      }
      for (const inner of await readdir(snapshotDir(abs, id))) {
        if (inner.startsWith(`.${RECORD_FILE}.`) && inner.endsWith(".tmp")) await rm(join(snapshotDir(abs, id), inner), { force: true });
      }
      records.push(record);
    }
  } catch (e) {
    throw asWharfError(e, action);
  }
  const indexOff = existsSync("/sys/module/overlay/parameters/index");
  return new OverlaySnapshotter(abs, records, maxId, indexOff, logger);
}

/**
 * Asks the file system to place each snapshot's directory where it sees fit
 * (ext4's Orlov allocator, as for top-level directories) instead of next to
 * the snapshots before it. Without a journal, ext4 passes over every inode
 * freed in the last minute while it looks for a free one; a layer unpacked
 * where another was just removed then pays ~0.4 s of system time more for
 * ~7,000 files. Advisory: a file system without the flag loses nothing.
 */
function spreadSnapshots(root: string, logger: Logger): void {
  try {
    sys().markTopDir(root);
  } catch (e) {
    logger.debug("snapshot root keeps its allocation policy", { error: e });
  }
}

function checkKey(key: unknown, action: string, what = "key"): string {
  if (typeof key !== "string" || key.length === 0) throw wharfError("invalid-argument", `${action}: ${what} must be a non-empty string, got ${JSON.stringify(key)}`);
  return key;
}

function checkLabels(labels: unknown, action: string): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== "object" || labels === null) throw wharfError("invalid-argument", `${action}: labels must be an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== "string") throw wharfError("invalid-argument", `${action}: label ${JSON.stringify(k)} must be a string, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

export class OverlaySnapshotter implements Snapshotter {
  readonly root: string;
  readonly #byKey = new Map<string, SnapshotRecord>();
  readonly #lock = new Semaphore(1);
  readonly #indexOff: boolean;
  readonly #logger: Logger;
  #lastId: number;

  constructor(root: string, records: readonly SnapshotRecord[], lastId: number, indexOff: boolean, logger: Logger) {
    this.root = root;
    this.#lastId = lastId;
    this.#indexOff = indexOff;
    this.#logger = logger;
    for (const r of [...records].sort((a, b) => a.id - b.id)) {
      if (this.#byKey.has(r.key)) {
        logger.error("ignore snapshot with a duplicate key", { key: r.key, id: r.id });
        continue;
      }
      this.#byKey.set(r.key, r);
    }
    for (const r of this.#byKey.values()) {
      if (r.parent !== undefined && !this.#byKey.has(r.parent)) logger.error("snapshot parent is missing", { key: r.key, parent: r.parent });
    }
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return recordInfo(this.#get(key, `stat snapshot ${JSON.stringify(key)}`));
  }

  prepare(key: string, parent?: string, options: { labels?: Record<string, string> } = {}): Promise<Mount[]> {
    return this.#create("active", key, parent, options.labels);
  }

  view(key: string, parent: string, options: { labels?: Record<string, string> } = {}): Promise<Mount[]> {
    checkKey(parent, `view snapshot ${JSON.stringify(key)}`, "parent");
    return this.#create("view", key, parent, options.labels);
  }

  async mounts(key: string, options: { volatile?: boolean } = {}): Promise<Mount[]> {
    const action = `mounts of snapshot ${JSON.stringify(key)}`;
    const r = this.#get(key, action);
    if (r.kind === "committed") throw wharfError("precondition", `${action}: it is committed; make a view of it to look inside`);
    const mounts = this.#mountsOf(r, action);
    if (r.kind !== "active") return mounts;
    // A volatile mount leaves a mark in the work dir (work/incompat/volatile)
    // that makes the kernel refuse every later mount of it. The mark goes
    // before each mount: a snapshot mounted volatile belongs to a user that
    // is removed when it ends, also after a crash, so it is mounted again
    // only after a clean unmount.
    await rm(join(workDir(this.root, r.id), "work", "incompat"), { recursive: true, force: true });
    if (!options.volatile) return mounts;
    return mounts.map((m) => (m.type === "overlay" ? { ...m, options: [...m.options, "volatile"] } : m));
  }

  async commit(name: string, key: string, options: { labels?: Record<string, string>; parent?: string } = {}): Promise<void> {
    const action = `commit snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}`;
    checkKey(name, action, "name");
    const labels = options.labels === undefined ? undefined : checkLabels(options.labels, action);
    await this.#lock.run(async () => {
      const r = this.#get(key, action);
      if (r.kind !== "active") throw wharfError("precondition", `${action}: it is ${r.kind === "view" ? "a view" : "committed"}; only active snapshots can be committed`);
      if (name !== key && this.#byKey.has(name)) throw wharfError("conflict", `${action}: a snapshot named ${JSON.stringify(name)} exists`);
      let parent = r.parent;
      if (options.parent !== undefined) {
        if (r.parent !== undefined) throw wharfError("precondition", `${action}: it already stacks on ${JSON.stringify(r.parent)}`);
        const p = this.#get(options.parent, action);
        if (p.kind !== "committed") throw wharfError("precondition", `${action}: parent ${JSON.stringify(options.parent)} is not committed`);
        parent = options.parent;
      }
      const committed: SnapshotRecord = { ...r, key: name, kind: "committed", labels: labels ?? r.labels, ...(parent !== undefined ? { parent } : {}) };
      try {
        await writeRecord(this.root, committed);
      } catch (e) {
        throw asWharfError(e, action);
      }
      this.#byKey.delete(key);
      this.#byKey.set(name, committed);
    });
  }

  async remove(key: string): Promise<void> {
    const action = `remove snapshot ${JSON.stringify(key)}`;
    await this.#lock.run(async () => {
      const r = this.#get(key, action);
      const children = [...this.#byKey.values()].filter((c) => c.parent === key).map((c) => c.key);
      if (children.length > 0) {
        throw wharfError("conflict", `${action}: ${children.length} snapshot(s) stack on it: ${children.slice(0, 5).map((c) => JSON.stringify(c)).join(", ")}`);
      }
      const dir = snapshotDir(this.root, r.id);
      let busy: string[];
      try {
        busy = await mountsUsing(dir);
      } catch (e) {
        throw asWharfError(e, action);
      }
      if (busy.length > 0) throw wharfError("conflict", `${action}: it is mounted (${busy.join(", ")})`);
      try {
        await deleteRecord(this.root, r.id);
      } catch (e) {
        if (errnoCode(e) !== "ENOENT") throw asWharfError(e, action);
      }
      this.#byKey.delete(key);
      // The record is gone, so the snapshot is: its files go after the answer
      // (a container's removal waits for nothing else), and what a stop of
      // the daemon interrupts, the next open removes, as a dir without a record.
      const removal = rm(dir, { recursive: true, force: true })
        .catch((e: unknown) => this.#logger.warn("remove snapshot dir", { dir, error: e }))
        .finally(() => this.#removals.delete(removal));
      this.#removals.add(removal);
    });
  }

  /** Resolves once the files of every removed snapshot are gone. */
  async settled(): Promise<void> {
    while (this.#removals.size > 0) await Promise.all([...this.#removals]);
  }

  /** Waits for the removals under way: a daemon that stops leaves no snapshot files behind. */
  async close(): Promise<void> {
    await this.settled();
  }

  readonly #removals = new Set<Promise<void>>();

  async list(): Promise<SnapshotInfo[]> {
    return [...this.#byKey.values()].sort((a, b) => a.id - b.id).map(recordInfo);
  }

  async usage(key: string): Promise<Usage> {
    const r = this.#get(key, `usage of snapshot ${JSON.stringify(key)}`);
    return diskUsage(fsDir(this.root, r.id));
  }

  #get(key: string, action: string): SnapshotRecord {
    checkKey(key, action);
    const r = this.#byKey.get(key);
    if (!r) throw wharfError("not-found", `${action}: no snapshot ${JSON.stringify(key)}`);
    return r;
  }

  /** The committed chain below `parent`, nearest first. */
  #chain(parent: string, action: string): SnapshotRecord[] {
    const out: SnapshotRecord[] = [];
    for (let cur: string | undefined = parent; cur !== undefined; ) {
      const r = this.#byKey.get(cur);
      if (!r) throw wharfError("not-found", `${action}: parent ${JSON.stringify(cur)} not found`);
      if (r.kind !== "committed") throw wharfError("precondition", `${action}: parent ${JSON.stringify(cur)} is ${r.kind}, not committed`);
      out.push(r);
      // Deeper than overlay can mount (or a cycle from a damaged record): stop walking.
      checkDepth(out.length, action);
      cur = r.parent;
    }
    return out;
  }

  #mountsOf(r: SnapshotRecord, action: string): Mount[] {
    const lowers = r.parent === undefined ? [] : this.#chain(r.parent, action).map((p) => p.id);
    return layerMounts({ root: this.root, kind: r.kind === "view" ? "view" : "active", id: r.id, lowers, indexOff: this.#indexOff }, action);
  }

  async #create(kind: "active" | "view", key: string, parent: string | undefined, labelsIn: Record<string, string> | undefined): Promise<Mount[]> {
    const action = `${kind === "view" ? "view" : "prepare"} snapshot ${JSON.stringify(key)}`;
    checkKey(key, action);
    if (parent !== undefined) checkKey(parent, action, "parent");
    const labels = checkLabels(labelsIn, action);
    return this.#lock.run(async () => {
      if (this.#byKey.has(key)) throw wharfError("conflict", `${action}: a snapshot with that key exists`);
      const id = this.#lastId + 1;
      const record: SnapshotRecord = { id, key, kind, labels, createdAt: new Date(), ...(parent === undefined ? {} : { parent }) };
      // Computed before anything is created: a chain that cannot be mounted is refused up front.
      const mounts = this.#mountsOf(record, action);
      this.#lastId = id;
      const dir = snapshotDir(this.root, id);
      try {
        await mkdir(dir);
        await Promise.all([mkdir(fsDir(this.root, id), { mode: 0o755 }), mkdir(workDir(this.root, id), { mode: 0o700 })]);
        // The new directory's name in the root is synced while the record is written into it.
        await Promise.all([writeRecord(this.root, record), fsyncDir(this.root)]);
      } catch (e) {
        await rm(dir, { recursive: true, force: true }).catch(() => {});
        throw asWharfError(e, action);
      }
      this.#byKey.set(key, record);
      return mounts;
    });
  }
}

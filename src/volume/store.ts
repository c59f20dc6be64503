// The volume store: named and anonymous volumes of the `local` driver, each a
// directory `<data-root>/volumes/<name>/_data` with its record beside it
// (`volume.json`, written atomically). Whether a volume is in use is derived
// from the container records (the `usage` callback), never counted in
// memory, so it is right after any crash. Startup never deletes a volume: a
// directory without a record (a create cut short) is adopted as a volume.
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { lstat, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { asWharfError, errnoCode, EventBus, KeyedMutex, wharfError, writeJsonAtomic, type Logger } from "../internal/index.js";
import { mountAll, mountTable, unmount } from "../snapshot/index.js";
import { resolveInRoot } from "./resolve.js";
import type { CreateVolumeOptions, PlannedMount, VolumeFilters, VolumeRecord } from "./types.js";

const execFileP = promisify(execFile);

export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** The local driver's options, as docker's local driver takes them. */
const LOCAL_OPTS = new Set(["type", "device", "o", "size"]);

export interface VolumeStoreOptions {
  readonly dataRoot: string;
  readonly events: EventBus;
  readonly logger: Logger;
  /** Ids of the containers whose mounts name the volume. */
  readonly usage: (name: string) => readonly string[];
}

/** RFC 3339 in whole seconds, as Go's time.Time marshals a truncated time. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.[0-9]+Z$/, "Z");
}

export class VolumeStore {
  readonly root: string;
  readonly #o: VolumeStoreOptions;
  readonly #byName = new Map<string, VolumeRecord>();
  readonly #locks = new KeyedMutex();
  /** The containers whose process runs with a volume mounted by its options (see mountsByOptions), by volume: it stays mounted while any does. */
  readonly #holders = new Map<string, Set<string>>();

  private constructor(o: VolumeStoreOptions) {
    this.#o = o;
    this.root = join(o.dataRoot, "volumes");
  }

  static async open(o: VolumeStoreOptions): Promise<VolumeStore> {
    const store = new VolumeStore(o);
    await store.#load();
    return store;
  }

  #dir(name: string): string {
    return join(this.root, name);
  }
  #recordPath(name: string): string {
    return join(this.#dir(name), "volume.json");
  }
  mountpoint(name: string): string {
    return join(this.#dir(name), "_data");
  }

  async #load(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o701 });
    for (const name of await readdir(this.root)) {
      if (!VOLUME_NAME_RE.test(name)) continue;
      try {
        const record = JSON.parse(await readFile(this.#recordPath(name), "utf8")) as VolumeRecord;
        this.#byName.set(name, { ...record, Mountpoint: this.mountpoint(name) });
      } catch (e) {
        if (errnoCode(e) !== "ENOENT" && !(e instanceof SyntaxError)) throw asWharfError(e, `load volume ${name}`);
        // Never deleted: a volume whose record is missing or torn is kept with a fresh one.
        const st = await stat(this.#dir(name)).catch(() => undefined);
        if (!st?.isDirectory()) continue;
        await mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
        const record: VolumeRecord = { Name: name, Driver: "local", Mountpoint: this.mountpoint(name), CreatedAt: rfc3339(st.mtime), Labels: {}, Scope: "local", Options: null, Anonymous: false };
        await writeJsonAtomic(this.#recordPath(name), record);
        this.#byName.set(name, record);
        this.#o.logger.info("adopted a volume without a record", { volume: name });
      }
    }
  }

  list(filters: VolumeFilters = {}): VolumeRecord[] {
    return [...this.#byName.values()].filter((v) => matches(v, filters, this.#o.usage(v.Name).length > 0)).sort((a, b) => (a.Name < b.Name ? -1 : 1));
  }

  get(name: string): VolumeRecord {
    const v = this.#byName.get(name);
    if (!v) throw wharfError("not-found", `get ${name}: no such volume`);
    return v;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  usage(name: string): readonly string[] {
    return this.#o.usage(name);
  }

  /** Creates a volume; an existing one of that name is returned as it is (as dockerd does). */
  async create(options: CreateVolumeOptions = {}): Promise<VolumeRecord> {
    const name = options.name || randomBytes(32).toString("hex");
    const driver = options.driver || "local";
    if (!VOLUME_NAME_RE.test(name)) {
      throw wharfError("invalid-argument", `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    }
    if (driver !== "local") throw wharfError("not-found", `create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const opts = options.driverOpts && Object.keys(options.driverOpts).length > 0 ? { ...options.driverOpts } : null;
    for (const k of Object.keys(opts ?? {})) if (!LOCAL_OPTS.has(k)) throw wharfError("invalid-argument", `create ${name}: invalid option key: ${JSON.stringify(k)}`);
    if (opts && (opts["type"] !== undefined) !== (opts["device"] !== undefined) && !(opts["type"] === "tmpfs")) {
      throw wharfError("invalid-argument", `create ${name}: missing required option: ${opts["type"] === undefined ? '"type"' : '"device"'}`);
    }
    return this.#locks.run(name, async () => {
      const existing = this.#byName.get(name);
      if (existing) return existing;
      const dir = this.#dir(name);
      // Made under a temporary name and renamed: a crash leaves no half-made volume under the real one.
      const tmp = join(this.root, `.tmp-${randomBytes(6).toString("hex")}`);
      await mkdir(join(tmp, "_data"), { recursive: true, mode: 0o755 });
      const record: VolumeRecord = {
        Name: name,
        Driver: "local",
        Mountpoint: this.mountpoint(name),
        CreatedAt: rfc3339(new Date()),
        Labels: { ...(options.labels ?? {}) },
        Scope: "local",
        Options: opts ?? (options.anonymous ? null : {}),
        Anonymous: options.anonymous === true,
      };
      try {
        await writeJsonAtomic(join(tmp, "volume.json"), record);
        await rename(tmp, dir);
      } catch (e) {
        await rm(tmp, { recursive: true, force: true }).catch(() => {});
        throw asWharfError(e, `create volume ${name}`);
      }
      this.#byName.set(name, record);
      this.#o.events.publish("volume", "create", name, { driver: "local" });
      return record;
    });
  }

  /** Removes a volume; conflict while a container uses it; `force` only forgives a missing one. */
  async remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    await this.#locks.run(name, async () => {
      const v = this.#byName.get(name);
      if (!v) {
        if (options.force) return;
        throw wharfError("not-found", `get ${name}: no such volume`);
      }
      const users = this.#o.usage(name);
      if (users.length > 0) throw wharfError("conflict", `remove ${name}: volume is in use - [${users.join(", ")}]`);
      if (v.Options?.["type"] !== undefined) await unmount(this.mountpoint(name));
      // Out of the listing first, then the bytes: a crash in between leaves a hidden dir, not a broken volume.
      const trash = join(this.root, `.rm-${randomBytes(6).toString("hex")}`);
      await rename(this.#dir(name), trash);
      this.#byName.delete(name);
      await rm(trash, { recursive: true, force: true });
      this.#o.events.publish("volume", "destroy", name, { driver: "local" });
    });
  }

  /** Removes every unused volume that `filters` selects; the bytes they held. */
  async prune(filters: VolumeFilters = {}): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.list({ ...filters, dangling: true })) {
      const size = await diskUsage(this.mountpoint(v.Name)).catch(() => 0);
      try {
        await this.remove(v.Name);
        deleted.push(v.Name);
        space += size;
      } catch (e) {
        this.#o.logger.warn("prune volume", { volume: v.Name, error: asWharfError(e, "remove").message });
      }
    }
    return { deleted, spaceReclaimed: space };
  }

  /** Bytes under a volume's data dir. */
  async size(name: string): Promise<number> {
    return diskUsage(this.mountpoint(this.get(name).Name));
  }

  /**
   * Readies a container's volumes just before it starts: mounts those with
   * driver options, and fills each empty one from the image's content at its
   * destination (docker's copy-up) unless the mount says nocopy. `rootfs` is
   * the container's mounted root; nothing runs in it yet.
   */
  async prepareStart(mounts: readonly PlannedMount[], rootfs: string, container: string): Promise<void> {
    for (const m of mounts) {
      if (m.Type !== "volume" || !m.Name) continue;
      const v = this.get(m.Name);
      await this.#locks.run(v.Name, async () => {
        if (mountsByOptions(v)) {
          await this.#mountDriver(v);
          this.#hold(v.Name, container);
        }
        if (!m.NoCopy) await this.#copyUp(v, rootfs, m.Destination);
      });
      this.#o.events.publish("volume", "mount", v.Name, { container, destination: m.Destination, driver: "local", propagation: m.Propagation, "read/write": String(m.RW) });
    }
  }

  /**
   * After a container's process ended (or its start failed): a volume
   * mounted by its options is unmounted once no running container holds it,
   * and each volume gets docker's `unmount` event.
   */
  async releaseStop(mounts: readonly PlannedMount[], container: string): Promise<void> {
    for (const m of mounts) {
      if (m.Type !== "volume" || !m.Name) continue;
      const v = this.#byName.get(m.Name);
      if (v && mountsByOptions(v)) await this.#locks.run(v.Name, () => this.#release(v.Name, container));
      this.#o.events.publish("volume", "unmount", m.Name, { container, driver: "local" });
    }
  }

  /** The volumes of a container recorded as running when the daemon starts, held as at its start. */
  adoptRunning(mounts: readonly PlannedMount[], container: string): void {
    for (const m of mounts) {
      const v = m.Type === "volume" && m.Name ? this.#byName.get(m.Name) : undefined;
      if (v && mountsByOptions(v)) this.#hold(v.Name, container);
    }
  }

  /** Once the daemon's containers are all known: unmounts the volumes mounted by their options that no running container holds. */
  async releaseUnheld(): Promise<void> {
    for (const v of this.#byName.values()) {
      if (!mountsByOptions(v) || this.#holders.has(v.Name)) continue;
      await this.#locks.run(v.Name, async () => {
        if (!this.#holders.has(v.Name)) await this.#unmountIdle(v.Name);
      });
    }
  }

  #hold(name: string, container: string): void {
    let set = this.#holders.get(name);
    if (!set) this.#holders.set(name, (set = new Set()));
    set.add(container);
  }

  /** Under the volume's lock. */
  async #release(name: string, container: string): Promise<void> {
    const set = this.#holders.get(name);
    set?.delete(container);
    if (set && set.size > 0) return;
    this.#holders.delete(name);
    await this.#unmountIdle(name);
  }

  async #unmountIdle(name: string): Promise<void> {
    const target = this.mountpoint(name);
    if (!(await mountTable()).some((e) => e.mountPoint === target)) return;
    await unmount(target).catch((e: unknown) => this.#o.logger.warn("unmount volume", { volume: name, error: e }));
  }

  async #mountDriver(v: VolumeRecord): Promise<void> {
    const target = this.mountpoint(v.Name);
    if ((await mountTable()).some((e) => e.mountPoint === target)) return;
    const o = v.Options ?? {};
    const type = o["type"] ?? "none";
    const options = (o["o"] ?? "").split(",").filter(Boolean);
    if (o["size"]) options.push(`size=${o["size"]}`);
    const source = o["device"] ?? type;
    if (type === "none" && !options.includes("bind") && !options.includes("rbind")) options.push("bind");
    await mountAll([{ type, source, options }], target);
  }

  async #copyUp(v: VolumeRecord, rootfs: string, destination: string): Promise<void> {
    const data = this.mountpoint(v.Name);
    if ((await readdir(data)).length > 0) return;
    const from = await resolveInRoot(rootfs, destination);
    if (!from.exists) return;
    const st = await lstat(from.host);
    if (!st.isDirectory()) return;
    try {
      // cp -a keeps owners, modes, times, links and xattrs, and never follows a symlink inside.
      await execFileP("cp", ["-a", "--", `${from.host}/.`, `${data}/`], { maxBuffer: 1 << 20 });
    } catch (e) {
      throw wharfError("internal", `copy the image's ${destination} into volume ${v.Name}: ${((e as { stderr?: string }).stderr ?? String(e)).trim()}`);
    }
  }

  /** After a container is removed with `-v`: its anonymous volumes go, unless another container uses them. */
  async removeAnonymous(mounts: readonly PlannedMount[]): Promise<void> {
    for (const m of mounts) {
      if (m.Type !== "volume" || !m.Name || !m.Anonymous) continue;
      const v = this.#byName.get(m.Name);
      if (!v || !v.Anonymous) continue;
      if (this.#o.usage(m.Name).length > 0) continue;
      await this.remove(m.Name, { force: true }).catch((e: unknown) => this.#o.logger.warn("remove anonymous volume", { volume: m.Name, error: asWharfError(e, "remove").message }));
    }
  }
}

function labelMatches(labels: Readonly<Record<string, string>>, l: string): boolean {
  const i = l.indexOf("=");
  const key = i < 0 ? l : l.slice(0, i);
  if (!(key in labels)) return false;
  return i < 0 || labels[key] === l.slice(i + 1);
}

function matches(v: VolumeRecord, f: VolumeFilters, used: boolean): boolean {
  if (f.dangling !== undefined && f.dangling === used) return false;
  if (f.name?.length && !f.name.some((n) => v.Name.includes(n))) return false;
  if (f.driver?.length && !f.driver.includes(v.Driver)) return false;
  for (const l of f.label ?? []) if (!labelMatches(v.Labels, l)) return false;
  for (const l of f.labelNot ?? []) if (labelMatches(v.Labels, l)) return false;
  return true;
}

/** Bytes of the files under `dir`, each inode once. */
async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = await lstat(p);
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) total += st.size;
    }
  };
  await walk(dir);
  return total;
}

/** A `local` volume with a file system to mount (`type`, `device`): mounted while a running container uses it. */
function mountsByOptions(v: VolumeRecord): boolean {
  return v.Options?.["type"] !== undefined || v.Options?.["device"] !== undefined;
}

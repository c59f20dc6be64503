// A container's writable layer as docker shows and keeps it: `diff` (the
// changes against the image, A/C/D), and `commit` (the layer as a new image
// on top of the container's image). The layer's tar streams once: into the
// content store, hashed as it goes; the new snapshot is unpacked from the
// blob after the answer (PendingUnpacks), and whatever needs it waits for it.
//
// The files runc makes as mount points (/etc/hostname, /etc/hosts,
// /etc/resolv.conf, empty /proc, /sys, /dev) live in docker's init layer,
// below the container's; here they land in the upper dir, so diff and commit
// leave them out.
import { randomBytes } from "node:crypto";
import { lstat, readdir } from "node:fs/promises";
import type { Stats } from "node:fs";
import { resolve } from "node:path";
import { diffDirectory, TarParser } from "../archive/index.js";
import type { ImageService, ImageStore, ImageView } from "../image/index.js";
import { applyChanges } from "../image/index.js";
import { asWharfError, errnoCode, sys, wharfError, type Logger } from "../internal/index.js";
import { Digester, MediaType, parseReference, withDefaultTag, type ContainerConfig as ImageContainerConfig, type Digest, type ImageConfig, type Reference } from "../oci/index.js";
import { writableDir, type Mount, type Snapshotter } from "../snapshot/index.js";
import type { ContainerEngine } from "./engine.js";
import type { ContainerRecord } from "./types.js";

/** docker's change kinds: 0 modified, 1 added, 2 deleted. */
export type ChangeKind = 0 | 1 | 2;

export interface Change {
  readonly Path: string;
  readonly Kind: ChangeKind;
}

export interface CommitOptions {
  /** `repo` and `tag` as the API takes them; no repo: an untagged image. */
  readonly repo?: string;
  readonly tag?: string;
  readonly comment?: string;
  readonly author?: string;
  /** Freeze a running container while its layer is read (default true, as docker). */
  readonly pause?: boolean;
  /** Dockerfile instructions applied to the new image's config. */
  readonly changes?: readonly string[];
  /** Config members given by the caller, over the container's. */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** Mount-point artifacts of a run, relative to the root. */
const MOUNT_FILES = new Set(["etc/hostname", "etc/hosts", "etc/resolv.conf", "sbin/docker-init", ".dockerenv"]);
const MOUNT_DIRS = new Set(["proc", "sys", "dev"]);

/** The lower dirs of an overlay, top first; none for a bind (a container on no image). */
function lowerDirs(mounts: readonly Mount[]): string[] {
  const m = mounts[0];
  const opt = m?.options.find((o) => o.startsWith("lowerdir="));
  if (!m || !opt) return [];
  return opt
    .slice("lowerdir=".length)
    .split(":")
    .map((d) => (m.cwd ? resolve(m.cwd, d) : d));
}

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/** What the image has at `rel`, looking through the layers top down; undefined when absent or whited out. */
async function inLower(lowers: readonly string[], rel: string): Promise<Stats | undefined> {
  for (const dir of lowers) {
    const st = await lstatOrUndefined(`${dir}/${rel}`);
    if (!st) continue;
    return isWhiteout(st) ? undefined : st;
  }
  return undefined;
}

/** Whether `rel` is only a mount point runc made for this run. */
async function isMountArtifact(upper: string, rel: string, st: Stats): Promise<boolean> {
  if (MOUNT_FILES.has(rel)) return st.isFile() && st.size === 0;
  if (MOUNT_DIRS.has(rel)) return st.isDirectory() && (await readdir(`${upper}/${rel}`)).length === 0;
  return false;
}

export class ContainerCommits {
  constructor(
    readonly engine: ContainerEngine,
    readonly snapshotter: Snapshotter,
    readonly images: ImageStore,
    readonly unpacks: PendingUnpacks,
  ) {}

  /** `GET /containers/{id}/changes`: sorted by path. */
  async changes(nameOrId: string): Promise<Change[]> {
    const r = this.engine.get(nameOrId);
    const mounts = await this.snapshotter.mounts(r.Id);
    const upper = writableDir(mounts);
    const lowers = lowerDirs(mounts);
    const out: Change[] = [];
    /** Walks `rel` in the upper dir; true when anything below it was reported. */
    const walk = async (rel: string): Promise<boolean> => {
      let any = false;
      const names = await readdir(rel ? `${upper}/${rel}` : upper);
      for (const name of names) {
        const path = rel ? `${rel}/${name}` : name;
        const st = await lstat(`${upper}/${path}`);
        if (await isMountArtifact(upper, path, st)) continue;
        if (isWhiteout(st)) {
          out.push({ Path: `/${path}`, Kind: 2 });
          any = true;
          continue;
        }
        const lower = await inLower(lowers, path);
        if (!lower) {
          out.push({ Path: `/${path}`, Kind: 1 });
          any = true;
          if (st.isDirectory()) await walk(path);
          continue;
        }
        if (st.isDirectory() && lower.isDirectory()) {
          const opaque = sys().lgetxattr(`${upper}/${path}`, "trusted.overlay.opaque")?.toString() === "y";
          let below = await walk(path);
          if (opaque) {
            // Everything the image had in it is gone.
            const mine = new Set(await readdir(`${upper}/${path}`));
            for (const dir of lowers) {
              for (const n of await readdir(`${dir}/${path}`).catch(() => [] as string[])) {
                if (mine.has(n)) continue;
                mine.add(n);
                out.push({ Path: `/${path}/${n}`, Kind: 2 });
                below = true;
              }
            }
          }
          const own = st.mode !== lower.mode || st.uid !== lower.uid || st.gid !== lower.gid;
          if (below || own || opaque) {
            out.push({ Path: `/${path}`, Kind: 0 });
            any = true;
          }
          continue;
        }
        out.push({ Path: `/${path}`, Kind: 0 });
        any = true;
        if (st.isDirectory()) await walk(path);
      }
      return any;
    };
    await walk("");
    return out.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
  }

  /** `POST /commit`: the container's layer on top of its image, as a new image; its id. */
  async commit(nameOrId: string, options: CommitOptions = {}): Promise<{ Id: string }> {
    const r = this.engine.get(nameOrId);
    let ref: Reference | undefined;
    if (options.repo) {
      const text = options.tag ? `${options.repo}:${options.tag}` : options.repo;
      try {
        ref = withDefaultTag(parseReference(text));
      } catch (e) {
        throw wharfError("invalid-argument", `invalid reference format: ${(e as Error).message}`);
      }
      if (ref.digest !== undefined) throw wharfError("invalid-argument", "refusing to create a tag with a digest reference");
    } else if (options.tag) {
      throw wharfError("invalid-argument", "tag is specified without a repository");
    }
    const parent = await this.images.get(r.Image);
    // The changes are checked before anything is read or paused.
    const config = applyChanges(imageConfigOf(r, options.config), options.changes ?? []);
    const pause = options.pause !== false && r.State.Running && !r.State.Paused;
    using lease = this.images.leases.create();
    if (pause) await this.engine.pause(r.Id);
    let layer: { diffId: Digest; size: number; contentSize: number; blob: { digest: Digest; size: number } };
    try {
      layer = await this.#storeLayer(r, lease);
    } finally {
      if (pause) await this.engine.unpause(r.Id).catch(() => {});
    }
    const now = new Date().toISOString();
    const imageConfig: ImageConfig = {
      ...structuredClone(parent.config),
      created: now,
      ...(options.author ? { author: options.author } : {}),
      ...(options.comment ? { comment: options.comment } : {}),
      container: r.Id,
      container_config: { ...r.Config },
      config,
      rootfs: { type: "layers", diff_ids: [...parent.layers.map((l) => l.diffId), layer.diffId] },
      history: [...(parent.config.history ?? []), { created: now, created_by: [r.Path, ...r.Args].join(" "), ...(options.author ? { author: options.author } : {}), ...(options.comment ? { comment: options.comment } : {}) }],
    };
    delete imageConfig["parent"];
    lease.addBlob(layer.blob.digest);
    const docs = await this.images.putImageDocuments(imageConfig, [...parent.layers.map((l) => l.descriptor), { mediaType: MediaType.OciLayer, digest: layer.blob.digest, size: layer.blob.size }], lease);
    const view = await this.images.commitImage({
      manifest: docs.manifest,
      config: imageConfig,
      configDigest: docs.configDigest,
      layers: [...parent.layers.map((l) => ({ diffId: l.diffId, size: l.size, contentSize: l.contentSize })), { diffId: layer.diffId, size: layer.size, contentSize: layer.contentSize }],
      names: ref ? [ref] : [],
    });
    void this.unpacks.start(view);
    this.engine.events.publish("container", "commit", r.Id, { comment: options.comment ?? "", imageID: view.id, imageRef: ref ? `${options.repo}:${options.tag || "latest"}` : "", image: r.Config.Image, name: r.Name.slice(1) });
    return { Id: view.id };
  }

  /**
   * The upper dir as a layer blob, hashed and sized as it streams (the diffID
   * and the content size docker counts). Unpacking it into the new image's
   * snapshot is left to `PendingUnpacks`, after the answer.
   */
  async #storeLayer(r: ContainerRecord, lease: { addBlob(d: Digest): void }): Promise<{ diffId: Digest; size: number; contentSize: number; blob: { digest: Digest; size: number } }> {
    const upper = writableDir(await this.snapshotter.mounts(r.Id));
    const writer = await this.images.content.writer(`import-commit-${randomBytes(8).toString("hex")}`);
    try {
      const tar = diffDirectory(upper, { exclude: (path) => MOUNT_FILES.has(path) || MOUNT_DIRS.has(path) });
      const digester = new Digester();
      let contentSize = 0;
      const parser = new TarParser({
        entry: (h) => {
          if (h.type === "file") contentSize += h.size;
          else if (h.type === "symlink") contentSize += Buffer.byteLength(h.linkname);
        },
        data: () => {},
        entryEnd: () => {},
      });
      let pending: Promise<void> = Promise.resolve();
      let parts: Buffer[] = [];
      let batch = 0;
      const flush = async () => {
        if (batch === 0) return;
        const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, batch);
        parts = [];
        batch = 0;
        await pending; // one disk write in flight
        pending = writer.write(bytes);
        pending.catch(() => {});
      };
      for await (const chunk of tar as AsyncIterable<Buffer>) {
        digester.update(chunk);
        parser.push(chunk);
        parts.push(chunk);
        batch += chunk.length;
        if (batch >= 1 << 20) await flush();
      }
      parser.end();
      await flush();
      await pending;
      const diffId = digester.digest();
      const blob = await writer.commit({ digest: diffId, size: digester.size });
      lease.addBlob(blob.digest);
      return { diffId, size: digester.size, contentSize, blob: { digest: blob.digest, size: blob.size } };
    } catch (e) {
      await writer.abort().catch(() => {});
      throw asWharfError(e, `commit container ${r.Id}`);
    }
  }
}

/**
 * Unpacks that run after the answer: a committed image's new layer goes into
 * its snapshot in the background (the blob is stored and verified already).
 * Whatever needs the snapshot (a container create) waits through `wait`; an
 * image whose snapshot is missing for any other reason (the daemon stopped
 * mid-unpack) is unpacked from its blobs then, so nothing is left half done.
 */
export class PendingUnpacks {
  readonly #pending = new Map<string, Promise<void>>();

  constructor(
    readonly images: ImageStore,
    readonly logger: Logger,
  ) {}

  /** Starts unpacking every missing layer of `view` unless that is under way. */
  start(view: ImageView): Promise<void> {
    const top = view.layers.at(-1)?.chainId;
    if (!top) return Promise.resolve();
    const running = this.#pending.get(top);
    if (running) return running;
    const lease = this.images.leases.create();
    for (const l of view.layers) lease.addBlob(l.descriptor.digest);
    const done = this.images
      .unpack(view.layers.map((l) => ({ descriptor: l.descriptor, diffId: l.diffId })), lease)
      .then(
        () => {},
        (e: unknown) => {
          this.logger.warn("unpack committed image", { image: view.id, error: asWharfError(e, "unpack").message });
          throw e;
        },
      )
      .finally(() => {
        lease[Symbol.dispose]();
        this.#pending.delete(top);
      });
    done.catch(() => {});
    this.#pending.set(top, done);
    return done;
  }

  /** Resolves once every layer of `view` has its snapshot. */
  async wait(view: ImageView): Promise<void> {
    const top = view.layers.at(-1)?.chainId;
    if (!top) return;
    const running = this.#pending.get(top);
    if (running) return running;
    if (await this.images.hasSnapshot(top)) return;
    return this.start(view);
  }

  /** `images` whose `get` waits for the image's snapshots: what the container engine is given. */
  guard(images: ImageService): ImageService {
    const wait = (v: ImageView) => this.wait(v);
    return new Proxy(images, {
      get(target, prop, receiver) {
        if (prop === "get") {
          return async (nameOrId: string) => {
            const view = await target.get(nameOrId);
            await wait(view);
            return view;
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}

/** The new image's config: the container's, with the caller's members over it. */
function imageConfigOf(r: ContainerRecord, given: Readonly<Record<string, unknown>> | undefined): ImageContainerConfig {
  const c = r.Config;
  const base: ImageContainerConfig = {
    ...(c.User ? { User: c.User } : {}),
    ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
    Env: [...c.Env],
    Entrypoint: c.Entrypoint,
    Cmd: c.Cmd,
    ...(c.Volumes ? { Volumes: c.Volumes } : {}),
    WorkingDir: c.WorkingDir,
    Labels: { ...c.Labels },
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    OnBuild: c.OnBuild,
    ...(c.ArgsEscaped !== undefined ? { ArgsEscaped: c.ArgsEscaped } : {}),
  };
  for (const [k, v] of Object.entries(given ?? {})) {
    if (v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    base[k] = v;
  }
  return base;
}

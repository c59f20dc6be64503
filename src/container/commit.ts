// A container's writable layer as docker shows and keeps it: `diff` (the
// changes against the image, A/C/D), and `commit` (the layer as a new image
// on top of the container's image). The layer's tar streams once: into the
// content store (hashed as it goes) and into the new image's snapshot.
//
// The files runc makes as mount points (/etc/hostname, /etc/hosts,
// /etc/resolv.conf, empty /proc, /sys, /dev) live in docker's init layer,
// below the container's; here they land in the upper dir, so diff and commit
// leave them out.
import { randomBytes } from "node:crypto";
import { lstat, readdir } from "node:fs/promises";
import type { Stats } from "node:fs";
import { resolve } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { applyLayer, diffDirectory } from "../archive/index.js";
import type { ImageStore } from "../image/index.js";
import { applyChanges } from "../image/index.js";
import { asWharfError, errnoCode, isKind, sys, wharfError } from "../internal/index.js";
import { chainIds, MediaType, parseReference, withDefaultTag, type ContainerConfig as ImageContainerConfig, type ImageConfig, type Reference } from "../oci/index.js";
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
    let layer: { diffId: ImageConfig["rootfs"]["diff_ids"][number]; size: number; contentSize: number; blob: { digest: ImageConfig["rootfs"]["diff_ids"][number]; size: number } };
    try {
      layer = await this.#storeLayer(r, parent.layers.at(-1)?.chainId, parent.layers.map((l) => l.diffId), lease);
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
    const top = chainIds(imageConfig.rootfs.diff_ids).at(-1)!;
    lease.addSnapshot(top);
    const docs = await this.images.putImageDocuments(imageConfig, [...parent.layers.map((l) => l.descriptor), { mediaType: MediaType.OciLayer, digest: layer.blob.digest, size: layer.blob.size }], lease);
    const view = await this.images.commitImage({
      manifest: docs.manifest,
      config: imageConfig,
      configDigest: docs.configDigest,
      layers: [...parent.layers.map((l) => ({ diffId: l.diffId, size: l.size, contentSize: l.contentSize })), { diffId: layer.diffId, size: layer.size, contentSize: layer.contentSize }],
      names: ref ? [ref] : [],
    });
    this.engine.events.publish("container", "commit", r.Id, { comment: options.comment ?? "", imageID: view.id, imageRef: ref ? `${options.repo}:${options.tag || "latest"}` : "", image: r.Config.Image, name: r.Name.slice(1) });
    return { Id: view.id };
  }

  /** The upper dir as a layer: stored as a blob and unpacked as the new top snapshot, in one pass. */
  async #storeLayer(r: ContainerRecord, parentChainId: string | undefined, parentDiffIds: readonly ImageConfig["rootfs"]["diff_ids"][number][], lease: { addBlob(d: ImageConfig["rootfs"]["diff_ids"][number]): void; addSnapshot(k: string): void }) {
    const upper = writableDir(await this.snapshotter.mounts(r.Id));
    const suffix = randomBytes(8).toString("hex");
    const key = `extract-commit-${suffix}`;
    lease.addSnapshot(key);
    const mounts = await this.snapshotter.prepare(key, parentChainId, { labels: { "wharf.layer": "commit" } });
    const writer = await this.images.content.writer(`import-commit-${suffix}`);
    let blobCommitted = false;
    try {
      const tar = diffDirectory(upper, { exclude: (path) => MOUNT_FILES.has(path) || MOUNT_DIRS.has(path) });
      const toApply = new PassThrough({ highWaterMark: 1 << 20 });
      const fed = tee(tar, writer, toApply);
      fed.catch(() => {});
      const applied = await applyLayer(writableDir(mounts), toApply);
      await fed;
      const blob = await writer.commit({ digest: applied.diffId, size: applied.size });
      blobCommitted = true;
      lease.addBlob(blob.digest);
      const chainId = chainIds([...parentDiffIds, applied.diffId]).at(-1)!;
      lease.addSnapshot(chainId);
      try {
        await this.snapshotter.commit(chainId, key, { labels: { "wharf.layer": applied.diffId, "wharf.size": String(applied.size), "wharf.content-size": String(applied.contentSize) } });
      } catch (e) {
        if (!isKind(e, "conflict")) throw e;
        await this.snapshotter.remove(key);
      }
      return { diffId: applied.diffId, size: applied.size, contentSize: applied.contentSize, blob: { digest: blob.digest, size: blob.size } };
    } catch (e) {
      if (!blobCommitted) await writer.abort().catch(() => {});
      await this.snapshotter.remove(key).catch(() => {});
      throw asWharfError(e, `commit container ${r.Id}`);
    }
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

/** Copies `source` to the writer and to `out`; one disk write in flight. Destroys `out` on failure. */
async function tee(source: Readable, writer: { write(chunk: Buffer): Promise<void> }, out: PassThrough): Promise<void> {
  let pending: Promise<void> = Promise.resolve();
  let parts: Buffer[] = [];
  let size = 0;
  const flush = async () => {
    if (size === 0) return;
    const batch = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    parts = [];
    size = 0;
    await pending;
    pending = writer.write(batch);
    pending.catch(() => {});
  };
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= 1 << 20) await flush();
      if (!out.write(chunk)) await new Promise<void>((res) => out.once("drain", res));
    }
    await flush();
    await pending;
    out.end();
  } catch (e) {
    out.destroy(e as Error);
    throw e;
  }
}

// layer-writer: the file system side of applying a layer — a TarSink that
// creates each entry under an empty root with synchronous calls, converting
// whiteouts to overlayfs form.
//
// Safety rests on one invariant: `dir` starts empty and only this writer
// writes into it, so the map `#nodes` (path → kind) is the exact state of
// the tree. Every path in the map has only directories as ancestors (a
// directory that is replaced drops its subtree from the map), so checking
// an entry's parent is one lookup, and "passes through a symlink" is decided
// without asking the disk. Creation never follows a symlink either way:
// files are opened O_EXCL|O_NOFOLLOW, metadata calls are the l* variants.
//
// Every name is created here, in the tar's order, on the calling thread. With
// `deferFiles`, what is left of a small regular file once it is open — its
// bytes, owner, mode, times and the close, all through its fd, none by path —
// goes to the thread pool in groups (sys().finishFiles), so those syscalls run
// on other cores while the next entries are created. A later entry that
// replaces or links the name acts on the name as it would anyway; finish()
// waits for every group before the directory times are set.
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  linkSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  chmodSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { asWharfError, S_IFBLK, S_IFCHR, S_IFIFO, sys, WharfError } from "../internal/index.js";
import type { TarHeader, TarSink } from "./tar.js";
import { MOUNT_POINTS, normalisePath, parentOf, placeEntry, rejectEntry } from "./paths.js";

type NodeKind = "dir" | "file" | "symlink" | "special";

interface LayerNode {
  kind: NodeKind;
  /** A directory's mtime from its entry, set once its contents are written. */
  mtime?: number;
}

export interface Identity {
  readonly uid: number;
  readonly gid: number;
  readonly umask: number;
}

export interface LayerWriterOptions {
  /**
   * Finish small files on the thread pool (see the top of this file). The
   * chunks given to data() are then kept until their group is written: the
   * caller must never reuse their memory.
   */
  readonly deferFiles?: boolean;
}

/** Files up to this size are deferred; larger ones are written here, as they stream. */
const DEFER_MAX_SIZE = 1 << 20;
/** A group is sent to the thread pool at this many files or bytes. */
const GROUP_FILES = 32;
const GROUP_BYTES = 1 << 20;
/** The native job's limits (finishFiles). */
const GROUP_MAX_FILES = 256;
const GROUP_MAX_PARTS = 1024;
/** drained() waits while more groups than this are on the thread pool. */
const PENDING_GROUPS = 4;

/** The small files of one finishFiles job. */
class FileGroup {
  readonly meta: number[] = [];
  readonly parts: Buffer[] = [];
  readonly names: string[] = [];
  bytes = 0;

  add(fd: number, name: string, parts: readonly Buffer[], size: number, uid: number, gid: number, mode: number, mtime: number): void {
    const sec = Math.floor(mtime);
    const nsec = Math.min(999_999_999, Math.floor((mtime - sec) * 1e9));
    this.meta.push(fd, uid, gid, mode, sec, nsec, parts.length);
    for (const p of parts) this.parts.push(p);
    this.names.push(name);
    this.bytes += size;
  }

  get full(): boolean {
    return this.names.length >= GROUP_FILES || this.bytes >= GROUP_BYTES;
  }

  /** Whether a file of `parts` parts still fits in the native job. */
  fits(parts: number): boolean {
    return this.names.length < GROUP_MAX_FILES && this.parts.length + parts <= GROUP_MAX_PARTS;
  }
}

const OPAQUE_XATTR = "trusted.overlay.opaque";
const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export class LayerWriter implements TarSink {
  readonly #root: string;
  readonly #self: Identity;
  readonly #nodes = new Map<string, LayerNode>([["", { kind: "dir" }]]);
  readonly #deferFiles: boolean;
  /** The file whose body is being written; `parts` holds a deferred file's chunks. */
  #file: { fd: number; header: TarHeader; full: string; parts?: Buffer[] } | undefined;
  #name = "";
  /** Deferred files not yet sent, and the groups on the thread pool. */
  #group = new FileGroup();
  #pending = 0;
  #wake: (() => void)[] = [];
  /** The first failure of a group: every later call throws it. */
  #failure: WharfError | undefined;
  /** See ApplyResult.contentSize. */
  contentSize = 0;

  constructor(root: string, self: Identity, options: LayerWriterOptions = {}) {
    this.#root = root.endsWith("/") ? root.slice(0, -1) : root;
    this.#self = self;
    this.#deferFiles = options.deferFiles === true;
  }

  entry(header: TarHeader): void {
    if (this.#failure) throw this.#failure;
    this.#name = header.name;
    try {
      this.#entry(header);
    } catch (e) {
      throw this.#wrap(e);
    }
  }

  data(chunk: Buffer): void {
    const file = this.#file;
    if (file === undefined) return; // a body nobody wants (an ignored root entry)
    if (file.parts) {
      file.parts.push(chunk);
      return;
    }
    try {
      let off = 0;
      while (off < chunk.length) off += writeSync(file.fd, chunk, off, chunk.length - off);
    } catch (e) {
      throw this.#wrap(e);
    }
  }

  entryEnd(): void {
    const file = this.#file;
    if (file === undefined) return;
    this.#file = undefined;
    if (file.parts) {
      this.#defer(file.fd, file.header, file.parts);
      return;
    }
    try {
      const { fd, header } = file;
      const { chown, chmod } = this.#fileMetadata(header);
      if (chown) fchownSync(fd, header.uid, header.gid);
      if (chmod) fchmodSync(fd, header.mode);
      this.#setXattrs(file.full, header);
      futimesSync(fd, header.mtime, header.mtime);
      closeSync(fd);
    } catch (e) {
      closeSync(file.fd);
      throw this.#wrap(e);
    }
  }

  /** Resolves once at most PENDING_GROUPS groups are on the thread pool; rejects with a group's failure. */
  async drained(): Promise<void> {
    await this.#pendingAtMost(PENDING_GROUPS);
    if (this.#failure) throw this.#failure;
  }

  /** Waits for every deferred file, then sets directory mtimes, last, since creating their contents changed them. */
  async finish(): Promise<void> {
    this.#send();
    await this.#pendingAtMost(0);
    if (this.#failure) throw this.#failure;
    for (const [path, node] of this.#nodes) {
      if (node.kind !== "dir" || node.mtime === undefined) continue;
      this.#name = path;
      try {
        lutimesSync(this.#full(path), node.mtime, node.mtime);
      } catch (e) {
        throw this.#wrap(e);
      }
    }
  }

  /** Releases the open files after a failure; resolves once every one is closed. */
  async abort(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    // Deferred files are closed where they would have been (their bytes are written too: the layer is discarded anyway).
    if (file?.parts) this.#defer(file.fd, file.header, file.parts);
    else if (file !== undefined) closeSync(file.fd);
    this.#send();
    await this.#pendingAtMost(0);
  }

  /** Resolves once at most `limit` groups are on the thread pool. */
  async #pendingAtMost(limit: number): Promise<void> {
    while (this.#pending > limit) await new Promise<void>((resolve) => this.#wake.push(resolve));
  }

  /** Adds a small file, open and with all its bytes, to the group; sends the group when full. */
  #defer(fd: number, h: TarHeader, parts: Buffer[]): void {
    if (!this.#group.fits(parts.length)) this.#send();
    const { chown, chmod } = this.#fileMetadata(h);
    this.#group.add(fd, h.name, parts, h.size, chown ? h.uid : -1, chown ? h.gid : -1, chmod ? h.mode : -1, h.mtime);
    if (this.#group.full) this.#send();
  }

  /** Sends the group to the thread pool. */
  #send(): void {
    const group = this.#group;
    if (group.names.length === 0) return;
    this.#group = new FileGroup();
    this.#pending++;
    sys()
      .finishFiles(Float64Array.from(group.meta), group.parts)
      .catch((e: unknown) => {
        const index = (e as { index?: unknown }).index;
        const name = typeof index === "number" ? group.names[index] : undefined;
        this.#failure ??= asWharfError(e, `apply layer: entry ${JSON.stringify(name ?? group.names[0])}`);
      })
      .finally(() => {
        this.#pending--;
        const wake = this.#wake;
        this.#wake = [];
        for (const w of wake) w();
      });
  }

  #wrap(e: unknown): WharfError {
    if (e instanceof WharfError) return e;
    return asWharfError(e, `apply layer: entry ${JSON.stringify(this.#name)}`);
  }

  #full(path: string): string {
    return path === "" ? this.#root : `${this.#root}/${path}`;
  }

  #entry(h: TarHeader): void {
    const place = placeEntry(h.name);
    for (const key of h.xattrs.keys()) {
      if (key.startsWith("trusted.overlay.")) throw rejectEntry(h.name, `xattr ${JSON.stringify(key)} is reserved for overlayfs`);
    }
    switch (place.kind) {
      case "root":
        // The root's metadata belongs to the snapshot, not to a layer (as containerd does).
        return;
      case "opaque": {
        this.#ensureDir(h.name, place.dir);
        sys().lsetxattr(this.#full(place.dir), OPAQUE_XATTR, Buffer.from("y"));
        return;
      }
      case "whiteout": {
        this.#ensureDir(h.name, parentOf(place.path));
        this.#clear(place.path);
        // Mode 0, as overlayfs makes them; owner and mtime from the entry, so a diff of this dir gives the entry back.
        const full = this.#full(place.path);
        sys().mknod(full, S_IFCHR, 0, 0);
        this.#nodes.set(place.path, { kind: "special" });
        if (this.#needsChown(h, true)) lchownSync(full, h.uid, h.gid);
        lutimesSync(full, h.mtime, h.mtime);
        return;
      }
      case "path":
        this.#create(h, place.path);
    }
  }

  #create(h: TarHeader, path: string): void {
    this.#ensureDir(h.name, parentOf(path));
    const full = this.#full(path);
    switch (h.type) {
      case "directory": {
        const existing = this.#nodes.get(path);
        const fresh = existing?.kind !== "dir";
        if (fresh) {
          this.#clear(path);
          mkdirSync(full, 0o700);
        }
        this.#nodes.set(path, { kind: "dir", mtime: h.mtime });
        if (this.#needsChown(h, fresh)) lchownSync(full, h.uid, h.gid);
        chmodSync(full, h.mode);
        this.#setXattrs(full, h);
        return;
      }
      case "file": {
        this.#clear(path);
        // Extended attributes are set by path, after the chown (which clears security.capability): such files stay here.
        const defer = this.#deferFiles && h.size <= DEFER_MAX_SIZE && h.xattrs.size === 0;
        // A deferred file is closed on the thread pool, so it is not opened by fs.openSync: in a worker, Node takes
        // such fds as the worker's, warns when the number comes again and would close it at the worker's exit.
        const fd = defer ? sys().createFile(full, h.mode & 0o777) : openSync(full, OPEN_FLAGS, h.mode & 0o777);
        this.#nodes.set(path, { kind: "file" });
        this.#file = defer ? { fd, header: h, full, parts: [] } : { fd, header: h, full };
        this.contentSize += h.size;
        return;
      }
      case "symlink": {
        if (MOUNT_POINTS.has(path)) throw rejectEntry(h.name, `a symlink at /${path} would redirect a runtime mount`);
        this.#clear(path);
        symlinkSync(h.linkname, full);
        this.contentSize += Buffer.byteLength(h.linkname);
        this.#nodes.set(path, { kind: "symlink" });
        if (this.#needsChown(h, true)) lchownSync(full, h.uid, h.gid);
        this.#setXattrs(full, h);
        lutimesSync(full, h.mtime, h.mtime);
        return;
      }
      case "hardlink": {
        if (h.linkname === "") throw rejectEntry(h.name, "hardlink without a target");
        const target = normalisePath(h.name, h.linkname, "hardlink target");
        const node = this.#nodes.get(target);
        if (target === "" || node === undefined) throw rejectEntry(h.name, `hardlink target ${JSON.stringify(h.linkname)} does not exist earlier in the layer`);
        if (node.kind === "dir") throw rejectEntry(h.name, `hardlink target ${JSON.stringify(h.linkname)} is a directory`);
        if (target === path) throw rejectEntry(h.name, "hardlink to itself");
        if (node.kind === "symlink" && MOUNT_POINTS.has(path)) throw rejectEntry(h.name, `a symlink at /${path} would redirect a runtime mount`);
        this.#clear(path);
        if (!this.#nodes.has(target)) throw rejectEntry(h.name, `hardlink target ${JSON.stringify(h.linkname)} was removed by the entry itself`);
        linkSync(this.#full(target), full);
        this.#nodes.set(path, { kind: node.kind });
        return;
      }
      case "char-device":
      case "block-device":
      case "fifo": {
        const type = h.type === "fifo" ? S_IFIFO : h.type === "char-device" ? S_IFCHR : S_IFBLK;
        this.#clear(path);
        sys().mknod(full, type | (h.mode & 0o777), h.devmajor, h.devminor);
        this.#nodes.set(path, { kind: "special" });
        const chowned = this.#needsChown(h, true);
        if (chowned) lchownSync(full, h.uid, h.gid);
        if (chowned || h.mode !== (h.mode & 0o777 & ~this.#self.umask)) chmodSync(full, h.mode);
        this.#setXattrs(full, h);
        lutimesSync(full, h.mtime, h.mtime);
        return;
      }
    }
  }

  /**
   * Makes `dir` a directory of the layer: missing ancestors are created
   * (0755, as Docker does); a symlink or non-directory on the way rejects
   * the entry.
   */
  #ensureDir(name: string, dir: string): void {
    if (this.#nodes.get(dir)?.kind === "dir") return; // its ancestors are dirs too (the invariant)
    let prefix = "";
    for (const part of dir.split("/")) {
      prefix = prefix === "" ? part : `${prefix}/${part}`;
      const node = this.#nodes.get(prefix);
      if (node === undefined) {
        mkdirSync(this.#full(prefix), 0o755);
        if ((0o755 & ~this.#self.umask) !== 0o755) chmodSync(this.#full(prefix), 0o755);
        this.#nodes.set(prefix, { kind: "dir" });
      } else if (node.kind === "symlink") {
        throw rejectEntry(name, `parent ${JSON.stringify(prefix)} is a symlink`);
      } else if (node.kind !== "dir") {
        throw rejectEntry(name, `parent ${JSON.stringify(prefix)} is not a directory`);
      }
    }
  }

  /** Removes what the layer has at `path` (a later entry replaces an earlier one). */
  #clear(path: string): void {
    const node = this.#nodes.get(path);
    if (node === undefined) return;
    if (node.kind === "dir") {
      rmSync(this.#full(path), { recursive: true });
      const prefix = `${path}/`;
      for (const key of this.#nodes.keys()) if (key.startsWith(prefix)) this.#nodes.delete(key);
    } else {
      unlinkSync(this.#full(path));
    }
    this.#nodes.delete(path);
  }

  /** What a new regular file still needs: its owner (new files belong to this process), and its mode past what open gave it (after a chown, which clears setuid). */
  #fileMetadata(h: TarHeader): { chown: boolean; chmod: boolean } {
    const chown = this.#needsChown(h, true);
    return { chown, chmod: chown || h.mode !== (h.mode & 0o777 & ~this.#self.umask) };
  }

  /** Whether the owner must be set: new nodes already belong to this process. */
  #needsChown(h: TarHeader, fresh: boolean): boolean {
    return !fresh || h.uid !== this.#self.uid || h.gid !== this.#self.gid;
  }

  #setXattrs(full: string, h: TarHeader): void {
    for (const [key, value] of h.xattrs) sys().lsetxattr(full, key, value);
  }
}

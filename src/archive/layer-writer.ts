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

const OPAQUE_XATTR = "trusted.overlay.opaque";
const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export class LayerWriter implements TarSink {
  readonly #root: string;
  readonly #self: Identity;
  readonly #nodes = new Map<string, LayerNode>([["", { kind: "dir" }]]);
  /** The file whose body is being written. */
  #file: { fd: number; header: TarHeader; full: string } | undefined;
  #name = "";
  /** See ApplyResult.contentSize. */
  contentSize = 0;

  constructor(root: string, self: Identity) {
    this.#root = root.endsWith("/") ? root.slice(0, -1) : root;
    this.#self = self;
  }

  entry(header: TarHeader): void {
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
    try {
      const { fd, header } = file;
      const chowned = this.#needsChown(header, true);
      if (chowned) fchownSync(fd, header.uid, header.gid);
      if (chowned || header.mode !== (header.mode & 0o777 & ~this.#self.umask)) fchmodSync(fd, header.mode);
      this.#setXattrs(file.full, header);
      futimesSync(fd, header.mtime, header.mtime);
      closeSync(fd);
    } catch (e) {
      closeSync(file.fd);
      throw this.#wrap(e);
    }
  }

  /** Sets directory mtimes, last, since creating their contents changed them. */
  finish(): void {
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

  /** Releases the open file, if any, after a failure. */
  abort(): void {
    if (this.#file !== undefined) closeSync(this.#file.fd);
    this.#file = undefined;
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
        const fd = openSync(full, OPEN_FLAGS, h.mode & 0o777);
        this.#nodes.set(path, { kind: "file" });
        this.#file = { fd, header: h, full };
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

  /** Whether the owner must be set: new nodes already belong to this process. */
  #needsChown(h: TarHeader, fresh: boolean): boolean {
    return !fresh || h.uid !== this.#self.uid || h.gid !== this.#self.gid;
  }

  #setXattrs(full: string, h: TarHeader): void {
    for (const [key, value] of h.xattrs) sys().lsetxattr(full, key, value);
  }
}

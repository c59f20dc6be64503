// diff: a directory (an overlay upper dir, or any tree) as an OCI layer tar.
//
// Entries come in a stable order — names sorted within each directory, a
// directory before its contents — so that the same tree always gives the
// same bytes and the same digest. Overlay's on-disk facts become the layer
// format's: a 0:0 character device is a whiteout (`.wh.NAME`), a directory
// with `trusted.overlay.opaque=y` is followed by `dir/.wh..wh..opq`. Mtimes
// are whole seconds (as Docker writes layers), so nothing but the tree's
// content decides the digest.
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import type { Readable } from "node:stream";
import { asWharfError, errnoCode, sys } from "../internal/index.js";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "./paths.js";
import { writeTar, type TarHeaderInit, type TarInput } from "./tar.js";

export interface DiffOptions {
  readonly signal?: AbortSignal;
}

const OPAQUE_XATTR = "trusted.overlay.opaque";
const READ_CHUNK = 1 << 20;

/** The tar of `dir` as a layer. File bodies are read as the stream is consumed. */
export function diffDirectory(dir: string, options: DiffOptions = {}): Readable {
  return writeTar(walkLayer(dir.endsWith("/") && dir.length > 1 ? dir.slice(0, -1) : dir, options.signal));
}

async function* walkLayer(root: string, signal: AbortSignal | undefined): AsyncGenerator<TarInput> {
  /** First name of each multiply-linked inode, by "dev:ino". */
  const firstLink = new Map<string, string>();
  const full = (path: string) => `${root}/${path}`;

  async function* visit(dir: string): AsyncGenerator<TarInput> {
    let names: string[];
    try {
      // Synchronous calls: a tree of many small files walks in a fraction of the time the thread pool takes.
      names = readdirSync(dir === "" ? root : full(dir));
    } catch (e) {
      throw asWharfError(e, `diff ${JSON.stringify(root)}: read directory ${JSON.stringify(dir || ".")}`);
    }
    names.sort();
    for (const name of names) {
      signal?.throwIfAborted();
      const path = dir === "" ? name : `${dir}/${name}`;
      let st: BigIntStats;
      try {
        st = lstatSync(full(path), { bigint: true });
      } catch (e) {
        throw asWharfError(e, `diff ${JSON.stringify(root)}: ${JSON.stringify(path)}`);
      }
      const base = baseHeader(st);
      const type = Number(st.mode) & constants.S_IFMT;
      switch (type) {
        case constants.S_IFDIR: {
          const xattrs = readXattrs(full(path));
          const opaque = sys().lgetxattr(full(path), OPAQUE_XATTR)?.toString() === "y";
          yield { header: { ...base, name: `${path}/`, type: "directory", xattrs } };
          if (opaque) {
            // As Docker writes it: a regular file carrying the directory's owner and permissions.
            yield { header: { ...base, name: `${path}/${OPAQUE_MARKER}`, type: "file", size: 0 } };
          }
          yield* visit(path);
          break;
        }
        case constants.S_IFCHR:
          if (st.rdev === 0n) {
            yield { header: { ...base, name: `${dir === "" ? "" : `${dir}/`}${WHITEOUT_PREFIX}${name}`, type: "file", mode: 0o600, size: 0 } };
            break;
          }
          yield { header: { ...base, name: path, type: "char-device", ...device(st.rdev), xattrs: readXattrs(full(path)) } };
          break;
        case constants.S_IFBLK:
          yield { header: { ...base, name: path, type: "block-device", ...device(st.rdev), xattrs: readXattrs(full(path)) } };
          break;
        case constants.S_IFIFO:
        case constants.S_IFLNK:
        case constants.S_IFREG: {
          const link = st.nlink > 1n ? linkOf(st, path) : undefined;
          if (link !== undefined) {
            yield { header: { ...base, name: path, type: "hardlink", linkname: link } };
            break;
          }
          const xattrs = readXattrs(full(path));
          if (type === constants.S_IFIFO) yield { header: { ...base, name: path, type: "fifo", xattrs } };
          else if (type === constants.S_IFLNK) yield { header: { ...base, name: path, type: "symlink", linkname: readlinkSync(full(path)), xattrs } };
          else yield { header: { ...base, name: path, type: "file", size: Number(st.size), xattrs }, body: readBody(full(path), Number(st.size)) };
          break;
        }
        default:
          // Sockets are not part of an image (Docker leaves them out too).
          break;
      }
    }
  }

  function linkOf(st: BigIntStats, path: string): string | undefined {
    const key = `${st.dev}:${st.ino}`;
    const first = firstLink.get(key);
    if (first === undefined) firstLink.set(key, path);
    return first;
  }

  yield* visit("");
}

function baseHeader(st: BigIntStats): Omit<TarHeaderInit, "name" | "type"> {
  return {
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: Number(st.mtimeNs / 1_000_000_000n),
  };
}

/** Linux's dev_t encoding (glibc's gnu_dev_major/minor). */
function device(rdev: bigint): { devmajor: number; devminor: number } {
  return {
    devmajor: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    devminor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

/** Every xattr but overlayfs's own, which describe the upper dir rather than the content. */
function readXattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = sys().llistxattr(path);
  } catch (e) {
    if (errnoCode(e) === "ENOTSUP") return out;
    throw asWharfError(e, `diff: list xattrs of ${JSON.stringify(path)}`);
  }
  for (const name of names.sort()) {
    if (name.startsWith("trusted.overlay.")) continue;
    const value = sys().lgetxattr(path, name);
    if (value !== null) out.set(name, value);
  }
  return out;
}

const SMALL_FILE = 256 << 10;

/** A file's bytes, read as the tar stream asks for them; a small file in one synchronous read. */
async function* readBody(path: string, size: number): AsyncGenerator<Buffer> {
  if (size <= SMALL_FILE) {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const buf = Buffer.allocUnsafeSlow(size);
      let done = 0;
      while (done < size) {
        const n = readSync(fd, buf, done, size - done, done);
        if (n === 0) break; // the file shrank: the tar writer reports the short body
        done += n;
      }
      if (done > 0) yield done === size ? buf : buf.subarray(0, done);
      return;
    } finally {
      closeSync(fd);
    }
  }
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let done = 0;
    while (done < size) {
      const buf = Buffer.allocUnsafeSlow(Math.min(READ_CHUNK, size - done));
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) return; // the file shrank: the tar writer reports the short body
      done += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

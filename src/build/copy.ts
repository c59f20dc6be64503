// copy: COPY and ADD into a mounted root filesystem, as docker's builder
// does them: a directory source copies its contents, a file goes into a
// destination directory (ending in `/`, or existing) or becomes the
// destination, new files and directories belong to 0:0 unless --chown, modes
// and mtimes are kept. Every path in the root is resolved inside it, so a
// symlink in the image can never send a write to the host.
//
// Also the content digest of what a COPY reads, for the cache: paths, types,
// modes, link targets and file contents — never mtimes.
import { createHash } from "node:crypto";
import { chmodSync, closeSync, constants, copyFileSync, createReadStream, fchmodSync, fchownSync, futimesSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeSync, type Stats } from "node:fs";
import { chmod, lchown, lstat, lutimes, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { resolveInRoot } from "../container/index.js";
import { decompress, readTar } from "../archive/index.js";
import { globMatch } from "../image/index.js";
import { errnoCode, wharfError } from "../internal/index.js";
import { type BuildContext, contextPath, resolveInContext, walkContext } from "./context.js";
import { IgnoreMatcher } from "./dockerignore.js";

/** One thing to copy: a path on the host (a context file, or a file of another stage's root) and the name it is copied under. */
export interface CopyItem {
  readonly host: string;
  /** Files: the base name, or with `--parents` the path relative to the context. Directories: "" (their contents are copied), or the relative path with `--parents`. */
  readonly name: string;
  readonly isDir: boolean;
  /** For a directory: which paths below it to take (relative to it); undefined for all. */
  readonly filter?: (rel: string) => boolean;
  /** ADD of a local archive: unpack instead of copying. */
  readonly extract?: boolean;
}

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export interface CopyPlan {
  readonly items: readonly CopyItem[];
  /** Absolute path in the container. */
  readonly dest: string;
  /** The destination was written as a directory (ends in `/`). */
  readonly destIsDir: boolean;
  readonly owner?: Owner;
  readonly mode?: number;
  /** Literal files (heredocs, downloads) to write: name → bytes and mode. */
  readonly literals?: readonly { name: string; data: Buffer; mode: number; mtime?: Date }[];
}

const WILDCARD = /[*?[]/;

export function hasWildcard(path: string): boolean {
  return WILDCARD.test(path);
}

/** Go's filepath.Match of one `/`-separated path: the image filters' matcher. */
export const pathMatch = globMatch;

/**
 * The context paths a COPY source names: a literal path (which must exist
 * and not be ignored; a symlink is followed inside the context), or every
 * context path its wildcards match.
 */
export function matchContext(ctx: BuildContext, source: string, exclude: IgnoreMatcher): { rel: string; isDir: boolean }[] {
  const rel = contextPath(source);
  const out: { rel: string; isDir: boolean }[] = [];
  if (hasWildcard(rel)) {
    for (const p of walkContext(ctx, "")) {
      if (p === "" || !pathMatch(rel, p) || (!exclude.empty && exclude.ignores(p))) continue;
      out.push({ rel: p, isDir: ctx.entries.get(p)!.type === "dir" });
    }
    return out;
  }
  if (rel !== "" && ctx.ignore.ignores(rel)) {
    throw wharfError("not-found", `file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`);
  }
  const real = resolveInContext(ctx, rel);
  out.push({ rel: real, isDir: ctx.entries.get(real)!.type === "dir" });
  return out;
}

/**
 * Digest of what copying the paths (files or whole directories) reads from
 * the context — paths, types, modes, link targets, contents; never mtimes —
 * and per-file digests for explanations. From the context's index: no file
 * is read.
 */
export function hashContextPaths(ctx: BuildContext, paths: readonly { rel: string; isDir: boolean }[], exclude: IgnoreMatcher, files: Map<string, string>): string {
  const all = createHash("sha256");
  for (const p of paths) {
    const entries = p.isDir ? walkContext(ctx, p.rel) : [p.rel];
    for (const path of entries) {
      if (!exclude.empty && path !== p.rel && exclude.ignores(p.rel === "" ? path : path.slice(p.rel.length + 1))) continue;
      const e = ctx.entries.get(path)!;
      const digest = createHash("sha256").update(`${e.type}\0${e.mode.toString(8)}\0${e.linkname}\0${e.digest}`).digest("hex").slice(0, 32);
      files.set(path === "" ? "." : path, digest);
      all.update(`${path}\0${digest}\n`);
    }
  }
  return all.digest("hex");
}

/** Creates the missing directories of `path` (absolute in the container), each 0755 and owned by `owner` (0:0 by default). */
async function mkdirAllInRoot(root: string, path: string, owner: Owner | undefined): Promise<string> {
  const parts = path.split("/").filter(Boolean);
  let cur = "/";
  for (const part of parts) {
    cur = posix.join(cur, part);
    const host = await resolveInRoot(root, cur);
    try {
      const st = await lstat(host);
      if (!st.isDirectory()) throw wharfError("invalid-argument", `cannot copy to ${path}: ${cur} is not a directory`);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
      await mkdir(host, { mode: 0o755 });
      await chmod(host, 0o755);
      if (owner) await lchown(host, owner.uid, owner.gid);
    }
  }
  return resolveInRoot(root, path);
}

export async function isDirInRoot(root: string, path: string): Promise<boolean> {
  try {
    return (await lstat(await resolveInRoot(root, path))).isDirectory();
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return false;
    throw e;
  }
}

/** Performs a COPY/ADD plan into the mounted root `root`. */
export async function performCopy(root: string, plan: CopyPlan): Promise<void> {
  const owner = plan.owner ?? { uid: 0, gid: 0 };
  const intoDir = plan.destIsDir || (await isDirInRoot(root, plan.dest));
  for (const item of plan.items) {
    if (item.isDir) {
      // A directory's contents go into the destination itself; with --parents, under its relative path there.
      const target = item.name === "" ? plan.dest : posix.join(plan.dest, item.name);
      const hostDir = await mkdirAllInRoot(root, target, plan.owner);
      await copyTree(root, item, target, hostDir, owner, plan.mode);
      continue;
    }
    if (item.extract) {
      const hostDir = await mkdirAllInRoot(root, plan.dest, plan.owner);
      await extractArchive(root, item.host, plan.dest, hostDir);
      continue;
    }
    const target = intoDir ? posix.join(plan.dest, item.name) : plan.dest;
    await mkdirAllInRoot(root, posix.dirname(target), plan.owner);
    await copyEntry(root, item.host, target, owner, plan.mode);
  }
  for (const lit of plan.literals ?? []) {
    const target = intoDir ? posix.join(plan.dest, lit.name) : plan.dest;
    await mkdirAllInRoot(root, posix.dirname(target), plan.owner);
    const host = await resolveInRoot(root, target, { noFollow: true });
    await rm(host, { force: true, recursive: false }).catch(() => {});
    await writeFile(host, lit.data, { mode: plan.mode ?? lit.mode });
    await chmod(host, plan.mode ?? lit.mode);
    await lchown(host, owner.uid, owner.gid);
    if (lit.mtime) await lutimes(host, lit.mtime, lit.mtime);
  }
}

const MAX_LINKS = 40;
const ROOT_UID = process.getuid?.() ?? 0;
const ROOT_GID = process.getgid?.() ?? 0;

/** resolveInRoot, synchronously: the host path of `path` inside `root`, symlinks followed inside it. */
function resolveInRootSync(root: string, path: string, noFollow = false): string {
  const pending = posix.normalize(`/${path}`).split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "." || part === "") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    if (noFollow && pending.length === 0) {
      done.push(part);
      break;
    }
    const candidate = posix.join(root, ...done, part);
    let st: Stats | undefined;
    try {
      st = lstatSync(candidate);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT" && errnoCode(e) !== "ENOTDIR") throw e;
    }
    if (!st?.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw wharfError("invalid-argument", `resolve ${path}: too many levels of symbolic links`);
    const target = readlinkSync(candidate);
    if (target.startsWith("/")) done.length = 0;
    pending.unshift(...target.split("/").filter(Boolean));
  }
  return posix.join(root, ...done);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
    throw e;
  }
}

/**
 * Copies the contents of directory `item` into `target` (already a
 * directory at `hostDir`). Each directory descended into is a real
 * directory of the root (a symlink in the way is resolved inside the root),
 * so a child's host path is its parent's plus its name.
 */
async function copyTree(root: string, item: CopyItem, target: string, hostDir: string, owner: Owner, mode: number | undefined): Promise<void> {
  const st = lstatSync(item.host);
  chmodSync(hostDir, mode ?? st.mode & 0o7777);
  lchownSync(hostDir, owner.uid, owner.gid);
  // A directory this copy created is empty: nothing in it needs looking at first.
  const walk = (srcDir: string, destDir: string, containerDir: string, rel: string, fresh: boolean): void => {
    for (const n of readdirSync(srcDir).sort()) {
      const childRel = rel === "" ? n : `${rel}/${n}`;
      if (item.filter && !item.filter(childRel)) continue;
      const src = `${srcDir}/${n}`;
      const s = lstatSync(src);
      const containerPath = `${containerDir === "/" ? "" : containerDir}/${n}`;
      let dest = `${destDir}/${n}`;
      let d = fresh ? undefined : lstatOrUndefined(dest);
      if (s.isDirectory()) {
        if (d?.isSymbolicLink()) {
          dest = resolveInRootSync(root, containerPath);
          d = lstatOrUndefined(dest);
        }
        if (d && !d.isDirectory()) {
          rmSync(dest, { force: true });
          d = undefined;
        }
        if (!d) mkdirSync(dest);
        chmodSync(dest, mode ?? s.mode & 0o7777);
        lchownSync(dest, owner.uid, owner.gid);
        walk(src, dest, containerPath, childRel, !d);
        lutimesSync(dest, s.atime, s.mtime);
        continue;
      }
      if (d?.isDirectory()) throw wharfError("invalid-argument", `cannot overwrite directory ${containerPath} with a non-directory`);
      if (d) rmSync(dest, { force: true });
      placeEntry(src, s, dest, owner, mode);
    }
  };
  walk(item.host, hostDir, target, "", readdirSync(hostDir).length === 0);
  lutimesSync(hostDir, st.atime, st.mtime);
}

/** Creates `dest` (absent) as a copy of the non-directory `src`. */
function placeEntry(src: string, s: Stats, dest: string, owner: Owner, mode: number | undefined): void {
  if (s.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dest);
    lchownSync(dest, owner.uid, owner.gid);
    lutimesSync(dest, s.atime, s.mtime);
    return;
  }
  if (!s.isFile()) throw wharfError("invalid-argument", `cannot copy ${src}: not a regular file, directory or symlink`);
  copyFileSync(src, dest, constants.COPYFILE_FICLONE);
  // A new file is root's already, with the source's permission bits (copyfile sets them); setuid and friends need a chmod after a chown.
  if (owner.uid !== ROOT_UID || owner.gid !== ROOT_GID) lchownSync(dest, owner.uid, owner.gid);
  if (mode !== undefined || (s.mode & 0o7000) !== 0 || owner.uid !== ROOT_UID || owner.gid !== ROOT_GID) chmodSync(dest, mode ?? s.mode & 0o7777);
  lutimesSync(dest, s.atime, s.mtime);
}

/** Copies one non-directory entry (file, symlink) to `dest`, replacing what is there. */
async function copyEntry(root: string, src: string, dest: string, owner: Owner, mode: number | undefined): Promise<void> {
  const s = lstatSync(src);
  const host = resolveInRootSync(root, dest, true);
  const d = lstatOrUndefined(host);
  if (d?.isDirectory()) throw wharfError("invalid-argument", `cannot overwrite directory ${dest} with a non-directory`);
  if (d) rmSync(host, { force: true });
  placeEntry(src, s, host, owner, mode);
}

/** One source of a COPY read straight from the context's tar. */
export interface TarSource {
  /** The context path (a file, or a directory whose contents are copied). */
  readonly rel: string;
  readonly isDir: boolean;
  /** Where it goes in the container: the directory that receives a directory's contents, or the file's path. */
  readonly target: string;
  /** For a directory: which paths below it (relative to it) to take. */
  readonly filter?: (rel: string) => boolean;
}

/**
 * COPY from the context's saved tar in one pass, writing every file once
 * (instead of unpacking the context and copying from there). Same results
 * as performCopy for sources that are plain files, directories and
 * symlinks; the caller falls back to performCopy for contexts with hardlinks.
 */
export async function copyFromTar(root: string, tarPath: string, sources: readonly TarSource[], owner: Owner | undefined, mode: number | undefined): Promise<void> {
  const who = owner ?? { uid: 0, gid: 0 };
  const chownNeeded = who.uid !== ROOT_UID || who.gid !== ROOT_GID;
  /** Host directories made or checked so far, by container path, with whether this copy created them (then nothing in them needs a look first). */
  const dirs = new Map<string, { host: string; fresh: boolean }>();
  const dirTimes: { host: string; mtime: Date }[] = [];
  for (const src of sources) {
    const dir = src.isDir ? src.target : posix.dirname(src.target);
    const host = await mkdirAllInRoot(root, dir, owner);
    dirs.set(dir, { host, fresh: readdirSync(host).length === 0 });
  }
  const dirOf = (containerDir: string): { host: string; fresh: boolean } => {
    const known = dirs.get(containerDir);
    if (known) return known;
    const host = resolveInRootSync(root, containerDir);
    const entry = { host, fresh: false };
    dirs.set(containerDir, entry);
    return entry;
  };
  for await (const entry of readTar(createReadStream(tarPath))) {
    const h = entry.header;
    const path = posix.normalize(`/${h.name}`).slice(1).replace(/\/+$/, "");
    for (const src of sources) {
      let target: string;
      if (src.isDir) {
        if (path === src.rel) {
          const d = dirOf(src.target);
          chmodSync(d.host, mode ?? h.mode & 0o7777);
          lchownSync(d.host, who.uid, who.gid);
          dirTimes.push({ host: d.host, mtime: new Date(h.mtime * 1000) });
          continue;
        }
        const prefix = src.rel === "" ? "" : `${src.rel}/`;
        if (!path.startsWith(prefix) || path === "") continue;
        const within = path.slice(prefix.length);
        if (src.filter && !src.filter(within)) continue;
        target = posix.join(src.target, within);
      } else {
        if (path !== src.rel) continue;
        target = src.target;
      }
      const parent = dirOf(posix.dirname(target));
      let dest = `${parent.host}/${posix.basename(target)}`;
      let d = parent.fresh ? undefined : lstatOrUndefined(dest);
      const mtime = new Date(h.mtime * 1000);
      if (h.type === "directory") {
        if (d?.isSymbolicLink()) {
          dest = resolveInRootSync(root, target);
          d = lstatOrUndefined(dest);
        }
        if (d && !d.isDirectory()) {
          rmSync(dest, { force: true });
          d = undefined;
        }
        if (!d) mkdirSync(dest);
        chmodSync(dest, mode ?? h.mode & 0o7777);
        lchownSync(dest, who.uid, who.gid);
        dirs.set(target, { host: dest, fresh: !d });
        dirTimes.push({ host: dest, mtime });
        continue;
      }
      if (d?.isDirectory()) throw wharfError("invalid-argument", `cannot overwrite directory ${target} with a non-directory`);
      if (d) rmSync(dest, { force: true });
      if (h.type === "symlink") {
        symlinkSync(h.linkname, dest);
        lchownSync(dest, who.uid, who.gid);
        lutimesSync(dest, mtime, mtime);
        continue;
      }
      if (h.type !== "file") throw wharfError("invalid-argument", `cannot copy ${path}: not a regular file, directory or symlink`);
      const fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, h.mode & 0o777);
      try {
        for await (const chunk of entry.body) {
          let off = 0;
          while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        }
        if (chownNeeded) fchownSync(fd, who.uid, who.gid);
        fchmodSync(fd, mode ?? h.mode & 0o7777);
        futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
    }
  }
  for (const t of dirTimes.reverse()) lutimesSync(t.host, t.mtime, t.mtime);
}

/** Whether a local file is an archive ADD unpacks: a tar, plain or compressed. */
export async function isArchive(path: string): Promise<boolean> {
  const fh = await import("node:fs/promises").then((m) => m.open(path, "r"));
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return true; // gzip
    if (bytesRead >= 4 && buf.readUInt32LE(0) === 0xfd2fb528) return true; // zstd
    return bytesRead >= 262 && buf.toString("latin1", 257, 262) === "ustar";
  } finally {
    await fh.close();
  }
}

/** Unpacks a tar into `dest` inside the root (owners and modes from the archive, as docker's ADD). */
async function extractArchive(root: string, archive: string, dest: string, _hostDir: string): Promise<void> {
  const dirTimes: { host: string; mtime: number }[] = [];
  for await (const entry of readTar(decompress(createReadStream(archive)))) {
    const h = entry.header;
    const name = posix.normalize(`/${h.name}`).replace(/\/+$/, "");
    if (name === "/" || name === "") continue;
    const target = posix.join(dest, name);
    await mkdirAllInRoot(root, posix.dirname(target), undefined);
    const host = await resolveInRoot(root, target, { noFollow: true });
    const mtime = new Date(h.mtime * 1000);
    switch (h.type) {
      case "directory": {
        let exists = false;
        try {
          exists = (await lstat(host)).isDirectory();
          if (!exists) await rm(host, { force: true });
        } catch (e) {
          if (errnoCode(e) !== "ENOENT") throw e;
        }
        if (!exists) await mkdir(await resolveInRoot(root, target));
        const real = await resolveInRoot(root, target);
        await chmod(real, h.mode);
        await lchown(real, h.uid, h.gid);
        dirTimes.push({ host: real, mtime: h.mtime });
        break;
      }
      case "file": {
        await rm(host, { force: true });
        const chunks: Buffer[] = [];
        for await (const c of entry.body) chunks.push(c);
        await writeFile(host, Buffer.concat(chunks), { mode: h.mode & 0o777 });
        await lchown(host, h.uid, h.gid);
        await chmod(host, h.mode);
        await lutimes(host, mtime, mtime);
        break;
      }
      case "symlink":
        await rm(host, { force: true });
        await symlink(h.linkname, host);
        await lchown(host, h.uid, h.gid);
        await lutimes(host, mtime, mtime);
        break;
      case "hardlink": {
        const linkTarget = await resolveInRoot(root, posix.join(dest, posix.normalize(`/${h.linkname}`)), { noFollow: true });
        await rm(host, { force: true });
        const { link } = await import("node:fs/promises");
        await link(linkTarget, host);
        break;
      }
      default:
        // Devices and fifos in an ADDed archive are skipped: a build has no business making device nodes.
        break;
    }
  }
  for (const d of dirTimes.reverse()) await lutimes(d.host, d.mtime, d.mtime);
}

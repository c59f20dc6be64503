// The helper process of container/copy.ts: enters a container's root with
// chroot(2) and reads or writes files there, so every path, symlink and `..`
// resolves inside the container as the kernel resolves it — a container that
// swaps a directory for a symlink to `/etc` while a copy runs gets its own
// /etc, never the host's. Everything it needs is loaded before the chroot.
// Run as `node copy-worker.js <request JSON>`; the protocol is copy-protocol.ts.
import { constants } from "node:fs";
import { chmod, link, lchown, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink, utimes } from "node:fs/promises";
import type { Stats } from "node:fs";
import { pipeline } from "node:stream/promises";

import { diffDirectory, readTar, writeTar, type TarEntry, type TarInput } from "../archive/index.js";
import { asWharfError, errnoCode, isKind, S_IFCHR, S_IFBLK, S_IFIFO, sys, wharfError, type WharfError } from "../internal/index.js";
import { mountAll } from "../snapshot/index.js";
import { resolveInRoot } from "../volume/index.js";
import type { PathStat, WorkerHeader, WorkerRequest } from "./copy-protocol.js";

const GO_MODE = { dir: 2 ** 31, symlink: 2 ** 27, device: 2 ** 26, pipe: 2 ** 25, socket: 2 ** 24, setuid: 2 ** 23, setgid: 2 ** 22, charDevice: 2 ** 21, sticky: 2 ** 20 };

/** A unix mode as Go's os.FileMode, which docker's path stat carries. */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  const type = mode & constants.S_IFMT;
  if (type === constants.S_IFDIR) m += GO_MODE.dir;
  else if (type === constants.S_IFLNK) m += GO_MODE.symlink;
  else if (type === constants.S_IFIFO) m += GO_MODE.pipe;
  else if (type === constants.S_IFSOCK) m += GO_MODE.socket;
  else if (type === constants.S_IFBLK) m += GO_MODE.device;
  else if (type === constants.S_IFCHR) m += GO_MODE.device + GO_MODE.charDevice;
  if (mode & 0o4000) m += GO_MODE.setuid;
  if (mode & 0o2000) m += GO_MODE.setgid;
  if (mode & 0o1000) m += GO_MODE.sticky;
  return m;
}

/** Whether a path asks for what is inside a directory (`dir/` or `dir/.`): then the last symlink is followed too. */
function wantsInside(path: string): boolean {
  return path.endsWith("/") || path.endsWith("/.") || path === ".";
}

/** The name docker gives the copied thing: the last element as written, `.` for `dir/.`. */
function baseName(path: string): string {
  if (path.endsWith("/.") || path === ".") return ".";
  const parts = path.split("/").filter(Boolean);
  return parts.at(-1) ?? ".";
}

function notFound(path: string, container: string): WharfError {
  return wharfError("not-found", `Could not find the file ${path} in container ${container}`);
}

interface Located {
  readonly path: string;
  readonly st: Stats;
}

async function locate(path: string, container: string, followLast: boolean): Promise<Located> {
  const r = await resolveInRoot("/", path, { keepLast: !followLast });
  if (!r.exists) throw notFound(path, container);
  let st: Stats;
  try {
    st = await lstat(r.host);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") throw notFound(path, container);
    throw e;
  }
  if (wantsInside(path) && !st.isDirectory()) throw wharfError("invalid-argument", `lstat ${path}: not a directory`);
  return { path: r.host, st };
}

async function pathStat(path: string, l: Located): Promise<PathStat> {
  const linkTarget = l.st.isSymbolicLink() ? (await resolveInRoot("/", l.path)).inContainer : "";
  return { name: baseName(path), size: l.st.size, mode: goFileMode(l.st.mode), mtime: l.st.mtime.toISOString(), linkTarget };
}

/** The tar `docker cp` reads: the resource under its own name, its contents below it. */
async function* walkResource(top: string, name: string, st: Stats): AsyncGenerator<TarInput> {
  const links = new Map<string, string>();
  const header = (s: Stats, entry: string) => ({ name: entry, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, mtime: Math.floor(s.mtimeMs / 1000) });
  async function* one(full: string, entry: string, s: Stats): AsyncGenerator<TarInput> {
    if (s.isDirectory()) {
      yield { header: { ...header(s, `${entry}/`), type: "directory" } };
      const names = (await readdir(full)).sort();
      for (const n of names) {
        const child = full === "/" ? `/${n}` : `${full}/${n}`;
        let cs: Stats;
        try {
          cs = await lstat(child);
        } catch (e) {
          if (errnoCode(e) === "ENOENT") continue; // gone while we looked
          throw e;
        }
        yield* one(child, `${entry}/${n}`, cs);
      }
    } else if (s.isSymbolicLink()) {
      yield { header: { ...header(s, entry), type: "symlink", linkname: await readlink(full) } };
    } else if (s.isFile()) {
      if (s.nlink > 1) {
        const key = `${s.dev}:${s.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          yield { header: { ...header(s, entry), type: "hardlink", linkname: first } };
          return;
        }
        links.set(key, entry);
      }
      yield { header: { ...header(s, entry), type: "file", size: s.size }, body: fileBody(full, s.size) };
    } else if (s.isFIFO()) {
      yield { header: { ...header(s, entry), type: "fifo" } };
    } else if (s.isCharacterDevice() || s.isBlockDevice()) {
      yield { header: { ...header(s, entry), type: s.isCharacterDevice() ? "char-device" : "block-device", devmajor: Math.floor(s.rdev / 256) & 0xfff, devminor: (s.rdev & 0xff) | ((s.rdev >> 12) & ~0xff) } };
    }
    // sockets are left out, as docker leaves them out
  }
  yield* one(top, name, st);
}

/** A file's bytes, exactly `size` of them: a file that shrank is padded, one that grew cut, so the tar stays well formed. */
async function* fileBody(path: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let done = 0;
    while (done < size) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, size - done));
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) {
        yield Buffer.alloc(size - done);
        return;
      }
      done += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** An entry's path below the extraction point; invalid-argument when it would leave it. */
function entryPath(name: string): string[] {
  const out: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (out.length === 0) throw wharfError("invalid-argument", `invalid tar entry ${JSON.stringify(name)}: it is outside of the destination`);
      out.pop();
    } else out.push(p);
  }
  return out;
}

async function extract(dest: string, entries: AsyncIterable<TarEntry>, options: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
  const base = dest === "/" ? "" : dest;
  const dirTimes: { path: string; mtime: number }[] = [];
  for await (const { header: h, body } of entries) {
    const parts = entryPath(h.name);
    if (parts.length === 0) {
      // The extraction point itself (`./`): its permissions and times, as docker applies them.
      if (h.type === "directory") {
        await chmod(dest, h.mode & 0o7777);
        dirTimes.push({ path: dest, mtime: h.mtime });
      }
      continue;
    }
    const full = `${base}/${parts.join("/")}`;
    await mkdir(full.slice(0, full.lastIndexOf("/")) || "/", { recursive: true, mode: 0o755 });
    const existing = await lstat(full).catch(() => undefined);
    if (existing) {
      const isDir = h.type === "directory";
      if (options.noOverwriteDirNonDir && existing.isDirectory() && !isDir) throw wharfError("invalid-argument", `cannot overwrite directory ${JSON.stringify(full)} with non-directory ${JSON.stringify(h.name)}`);
      if (options.noOverwriteDirNonDir && !existing.isDirectory() && isDir) throw wharfError("invalid-argument", `cannot overwrite non-directory ${JSON.stringify(full)} with directory ${JSON.stringify(h.name)}`);
      if (!(existing.isDirectory() && isDir)) await rm(full, { recursive: true, force: true });
    }
    switch (h.type) {
      case "directory":
        if (!existing?.isDirectory()) await mkdir(full, { mode: 0o755 });
        break;
      case "file": {
        const fh = await open(full, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) await fh.write(chunk);
        } finally {
          await fh.close();
        }
        break;
      }
      case "symlink":
        await symlink(h.linkname, full);
        break;
      case "hardlink":
        await link(`${base}/${entryPath(h.linkname).join("/")}`, full);
        break;
      case "fifo":
        sys().mknod(full, S_IFIFO | (h.mode & 0o7777), 0, 0);
        break;
      case "char-device":
      case "block-device":
        sys().mknod(full, (h.type === "char-device" ? S_IFCHR : S_IFBLK) | (h.mode & 0o7777), h.devmajor, h.devminor);
        break;
    }
    if (h.type === "hardlink") continue;
    await lchown(full, options.copyUIDGID ? h.uid : 0, options.copyUIDGID ? h.gid : 0);
    if (h.type !== "symlink") await chmod(full, h.mode & 0o7777);
    if (h.type === "directory") dirTimes.push({ path: full, mtime: h.mtime });
    else await lutimes(full, h.mtime, h.mtime);
  }
  // Directories last: writing into them changed their times.
  for (const d of dirTimes.reverse()) await utimes(d.path, d.mtime, d.mtime).catch(() => {});
}

function writeLine(h: WorkerHeader): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(JSON.stringify(h) + "\n", (e) => (e ? reject(e) : resolve())));
}

function failure(e: unknown): WorkerHeader {
  const w = isKind(e, "not-found") || isKind(e, "invalid-argument") ? (e as WharfError) : asWharfError(e, "copy");
  const code = errnoCode(e);
  const kind = code === "EROFS" || code === "EACCES" || code === "EPERM" ? "forbidden" : code === "ENOTDIR" || code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST" ? "invalid-argument" : w.kind;
  return { ok: false, kind, message: w.message };
}

async function enterRoot(req: WorkerRequest): Promise<void> {
  const root = req.root;
  if (root.kind === "mount") {
    await mountAll(root.rootfs, root.target);
    for (const b of root.binds) {
      const at = await resolveInRoot(root.target, b.destination);
      if (!at.exists) {
        const st = await lstat(b.source);
        if (st.isDirectory()) await mkdir(at.host, { recursive: true });
        else {
          await mkdir(at.host.slice(0, at.host.lastIndexOf("/")), { recursive: true });
          await (await open(at.host, "a")).close();
        }
      }
      await mountAll([{ type: "bind", source: b.source, options: ["rbind", ...(b.readonly ? ["ro"] : [])] }], at.host);
    }
  }
  sys().chroot(root.kind === "mount" ? root.target : root.path);
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? "{}") as WorkerRequest & { container: string };
  let headerSent = false;
  try {
    await enterRoot(req);
    switch (req.op) {
      case "stat": {
        const l = await locate(req.path, req.container, wantsInside(req.path));
        await writeLine({ ok: true, stat: await pathStat(req.path, l) });
        headerSent = true;
        break;
      }
      case "get": {
        const l = await locate(req.path, req.container, wantsInside(req.path));
        await writeLine({ ok: true, stat: await pathStat(req.path, l) });
        headerSent = true;
        await pipeline(writeTar(walkResource(l.path, baseName(req.path), l.st)), process.stdout);
        break;
      }
      case "put": {
        const l = await locate(req.path, req.container, true);
        if (!l.st.isDirectory()) throw wharfError("invalid-argument", "extraction point is not a directory");
        await writeLine({ ok: true });
        headerSent = true;
        try {
          await extract(l.path, readTar(process.stdin), req);
          await writeLine({ ok: true });
        } catch (e) {
          await writeLine(failure(e));
        }
        break;
      }
      case "export":
        await writeLine({ ok: true });
        headerSent = true;
        await pipeline(diffDirectory("/"), process.stdout);
        break;
    }
  } catch (e) {
    if (!headerSent) await writeLine(failure(e));
    else {
      process.stderr.write(`${asWharfError(e, req.op).message}\n`);
      process.exitCode = 1;
    }
  }
}


await main();

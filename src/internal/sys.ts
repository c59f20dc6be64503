// The system calls Node lacks (mount, mknod, xattrs, renameat2, unshare, posix_spawn), from the
// native addon built at install (native/wharf_sys.c). The only module that loads it.
import { createRequire } from "node:module";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export interface NetnsLink {
  readonly ifName: string;
  readonly hostIf: string;
  readonly bridge: string;
  readonly address: string;
  readonly prefix: number;
  readonly mac: string;
  readonly mtu: number;
}

export interface Sys {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** mount() run with `dir` as working directory, so `data` may use relative paths. */
  mountIn(dir: string, source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
  /** mode includes the type bits (S_IFCHR…). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** null when the attribute is absent. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
  /** A blocking, write-only fd connected to a SOCK_SEQPACKET unix socket. */
  seqpacketConnect(path: string): number;
  /** Makes `path` the process's root and working directory (for a short-lived helper process only). */
  chroot(path: string): void;
  /**
   * Sets the directory's "top of a hierarchy" flag (chattr +T): ext4 then
   * places each directory made in it in a block group of its own choosing
   * rather than next to its siblings. false where the file system has none.
   */
  markTopDir(path: string): boolean;
  /** On the thread pool: a new, empty network namespace bound at `path` (a file, made when missing; its directory must exist). */
  netnsCreate(path: string): Promise<void>;
  /**
   * On the thread pool, in one job over rtnetlink: the namespace bound at
   * `path` wired. `lo` up when `loopback`; per link a veth pair (`ifName`
   * inside, `hostIf` sent to the daemon's namespace) with its MAC, MTU and
   * IPv4 address, up, then `hostIf` onto `bridge`, up; the default route via
   * `gateway` (null: none). At most 16 links.
   */
  netnsWire(path: string, links: readonly NetnsLink[], gateway: string | null, loopback: boolean): Promise<void>;
  /**
   * On the thread pool, in one job: `data` into `tmp` (created, mode `mode`),
   * fsynced with `flags & 1`, renamed over `path`, its directory fsynced with
   * `flags & 2`; `tmp` is removed on failure.
   */
  writeFileAtomic(path: string, tmp: string, data: Buffer, mode: number, flags: number): Promise<void>;
  /**
   * On the thread pool, in one job: a directory that appears whole. `tmp`
   * is made holding `files` (plain names, 0644, each with the buffer of the
   * same index in `contents`; at most 4), then renamed to `dir` — over an
   * empty directory, never over one with entries (ENOTEMPTY or EEXIST, and
   * nothing is left of `tmp`).
   */
  makeDir(tmp: string, dir: string, files: readonly string[], contents: readonly Buffer[]): Promise<void>;
  /**
   * On the thread pool, in one job: regular files of the root file system at
   * `root` (at most 8), each path resolved as inside a chroot there (symlinks
   * and `..` never leave it). null for a path that is absent or not a regular
   * file (nothing else is opened for reading); EFBIG when one is larger than
   * `maxBytes`.
   */
  readInRoot(root: string, paths: readonly string[], maxBytes: number): Promise<(Buffer | null)[]>;
  /**
   * On the thread pool, in one job: `runc start` for a created container.
   * Opens the init's exec FIFO for reading (which lets the init go), reads
   * it to the end and removes it. Resolves with the bytes read (0: the init
   * left without writing), -1 when `fifo` is no FIFO (left alone). Rejects
   * with ESRCH when the init `pid` (> 0) dies before it opens its end,
   * ETIMEDOUT after `timeoutMs`.
   */
  releaseInit(fifo: string, pid: number, timeoutMs: number): Promise<number>;
  /** On the thread pool, in one job: removes the file at `path` (absolute) and fsyncs its directory. */
  unlinkSynced(path: string): Promise<void>;
  /**
   * On the thread pool, in one job: the commit of a content-store ingest.
   * Unless something is at `target` already (these bytes are then dropped,
   * unsynced), the file open at `fd` (at path `data`) is made read-only,
   * fsynced, renamed to `target` without replacing anything (its directory
   * made when missing) and `target`'s directory fsynced. Then `record`,
   * `data` when it was not published, and `dir` are removed (`clean` false
   * when `dir` held more). `fd` stays open. A failure before the rename
   * leaves `data` in place and writable. With `data`, `record` and `dir` all
   * "", `fd` is an unnamed file (O_TMPFILE), linked to `target` instead.
   */
  publishBlob(fd: number, data: string, target: string, record: string, dir: string): Promise<{ published: boolean; clean: boolean; size: number; mtimeMs: number }>;
  /**
   * The seccomp programs of process `pid`, oldest first, without the `skip`
   * oldest: each a u32 instruction count then its instructions. The process
   * is stopped (ptrace) for the moment it takes. null when the kernel will
   * not tell.
   */
  seccompFilters(pid: number, skip: number): Promise<Buffer | null>;
  /** A descriptor of a memfd holding the file's bytes, sealed against any change (close-on-exec). */
  sealedCopy(path: string): number;
  /**
   * Runs `file` (a path, never looked up) from a thread of its own and waits
   * for it: stdin from `input` or /dev/null, stdout and stderr captured with
   * `flags & 2`, `fds` as its 3, 4, … (duplicated at the call), a session of
   * its own with `flags & 1`, killed after `timeoutMs` (> 0). Rejects only
   * when it could not be started. Use internal/spawn's runProgram.
   */
  spawn(
    file: string,
    argv: readonly string[],
    env: readonly string[] | null,
    cwd: string | null,
    input: Buffer | null,
    fds: readonly number[],
    flags: number,
    timeoutMs: number,
  ): Promise<{ pid: number; status: number | null; signal: number | null; timedOut: boolean; stdout: Buffer; stderr: Buffer }>;
  /** A pipe, [read end, write end], both close-on-exec. */
  pipe(): [number, number];
  /** A streaming hash whose updates run on the thread pool (see hasherWrite). */
  hasherCreate(algorithm: "sha256" | "sha512"): NativeHasher;
  /**
   * On the thread pool: all of `data` (one array, or up to 256 in order)
   * written to `fd` (none when fd < 0),
   * then added to the hash; on a failed write the hash is unchanged. One at
   * a time per hasher (EBUSY otherwise); `data` must not change meanwhile.
   */
  hasherWrite(hasher: NativeHasher, fd: number, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /**
   * On the thread pool, in one job: the rest of several files a layer apply
   * created. Per file, 7 numbers in `meta` — fd, uid, gid (uid < 0: no
   * chown), mode (< 0: no chmod), mtime seconds, mtime nanoseconds, and how
   * many of `parts` (in order) are its bytes; each gets its bytes, chown,
   * chmod, both times set to mtime, and is closed (every fd is closed, even
   * after a failure). At most 256 files and 1024 parts, which must not change
   * meanwhile. A failure rejects with an errno error whose `index` is the file's.
   */
  finishFiles(meta: Float64Array, parts: readonly Uint8Array[]): Promise<void>;
  /**
   * A new regular file at `path`, opened write-only: never an existing name,
   * never through a final symlink, close-on-exec. Unlike fs.openSync in a
   * worker thread, the fd is not taken as the worker's own, so finishFiles may close it.
   */
  createFile(path: string, mode: number): number;
  /** The hash's hex digest; the hasher takes no more data. */
  hasherDigest(hasher: NativeHasher): string;
  /**
   * From a thread of its own, `length` bytes of the file at `fileFd` from
   * `offset` sent to the (non-blocking) socket at `socketFd` by sendfile,
   * waiting while the peer reads; both are duplicated at the call. The
   * promise resolves with the bytes sent, or rejects: ETIMEDOUT when the
   * peer took nothing for `idleMs`, ECANCELED after sendFileCancel,
   * ENODATA when the file ended early, else the socket's error.
   */
  sendFile(socketFd: number, fileFd: number, offset: number, length: number, idleMs: number): [Promise<number>, SendFileJob];
  /** Stops a sendFile that is still under way (no-op once it ended). */
  sendFileCancel(job: SendFileJob): void;
  /**
   * Keeps the kernel's lock for moves between cgroups ready for at least `ms`
   * more: from a thread of its own, this process is moved into the cgroup it
   * is in (through `procs`, that cgroup's cgroup.procs, opened when the thread
   * starts) at once and every few ms until then, so that other moves meanwhile
   * do not wait for an RCU grace period first (see runtime/cgroup-lock). A
   * call while the thread runs only moves its end.
   */
  cgroupWarm(procs: string, ms: number): void;
}

/** A running sendFile (see Sys.sendFile). */
export type SendFileJob = { readonly __brand: "SendFileJob" };

/** A native hash state (see Sys.hasherCreate). */
export type NativeHasher = { readonly __brand: "NativeHasher" };

export const MountFlags = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  REMOUNT: 32,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
} as const;

export const UmountFlags = { FORCE: 1, DETACH: 2 } as const;

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/**
 * One of wharf's own files, by its path from the project root (`build/Release/wharf-exec`,
 * `dist/src/archive/apply-worker.js` is found as `src/archive/apply-worker.js`): looked up from the
 * directory of `fromUrl` upwards, so it is found alike from a module's own file in dist/ and from
 * the daemon's bundle (dist/wharfd.mjs).
 */
export function installedFile(fromUrl: string, relative: string): string | undefined {
  let dir = dirname(fileURLToPath(fromUrl));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** A file the native build made (`build/Release/<name>`): the addon, or the exec helper. */
export function nativeFile(name: string): string {
  const found = installedFile(import.meta.url, join("build", "Release", name));
  if (found === undefined) throw new Error(`native build/Release/${name} not found: run \`npm run build\``);
  return found;
}

const workerScripts = new Map<string, string>();

/**
 * A module's worker or helper script (`archive/apply-worker.js`): its bundle
 * in dist/bundled (one file to load) when the build made one from the
 * compiled module in dist/src as it is now, else that module; looked up once.
 */
export function workerScript(fromUrl: string, relative: string): string {
  const key = `${fromUrl}\0${relative}`;
  let found = workerScripts.get(key);
  if (found === undefined) {
    const compiled = installedFile(fromUrl, join("src", relative));
    const bundled = installedFile(fromUrl, join("bundled", relative));
    found = bundled !== undefined && (compiled === undefined || statSync(bundled).mtimeMs >= statSync(compiled).mtimeMs) ? bundled : compiled;
    if (found === undefined) throw new Error(`dist/src/${relative} not found: run \`npm run build\``);
    workerScripts.set(key, found);
  }
  return found;
}

function findAddon(): string {
  return nativeFile("wharf_sys.node");
}

let loaded: Sys | undefined;

export function sys(): Sys {
  loaded ??= createRequire(import.meta.url)(findAddon()) as Sys;
  return loaded;
}

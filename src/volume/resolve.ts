// Paths inside a container's root, resolved as the container would see them:
// symlinks are followed relative to the root (an absolute target starts over
// at the root, `..` stops at it), never out onto the host. Step by step with
// lstat, so it is safe while nothing inside the root changes (a container that
// is not running); a running container's files are reached through a process
// chrooted into it instead (container/copy.ts).
import { lstat, readlink } from "node:fs/promises";
import { errnoCode, wharfError } from "../internal/index.js";

const MAX_LINKS = 40;

/** The components of a container path, `.` and empty parts dropped. */
function components(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

export interface ResolvedPath {
  /** The path on the host. */
  readonly host: string;
  /** The same place as the container names it, every symlink followed: `/etc/passwd`. */
  readonly inContainer: string;
  /** Whether it exists (the missing tail is kept as given). */
  readonly exists: boolean;
}

/**
 * Resolves `path` in `root`, following every symlink, also the last one
 * unless `keepLast`. A missing component ends the walk: the rest is appended
 * as given.
 */
export async function resolveInRoot(root: string, path: string, options: { keepLast?: boolean } = {}): Promise<ResolvedPath> {
  const base = root.endsWith("/") ? root.slice(0, -1) : root;
  let pending = components(path);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const here = `${base}/${[...done, part].join("/")}`;
    let st;
    try {
      st = await lstat(here);
    } catch (e) {
      const code = errnoCode(e);
      if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
      const rest = [part, ...pending].filter((p) => p !== "..");
      return { host: `${base}/${[...done, ...rest].join("/")}`, inContainer: `/${[...done, ...rest].join("/")}`, exists: false };
    }
    if (st.isSymbolicLink() && !(options.keepLast && pending.length === 0)) {
      if (++links > MAX_LINKS) throw wharfError("invalid-argument", `resolve ${JSON.stringify(path)}: too many levels of symbolic links`);
      const target = await readlink(here);
      if (target.startsWith("/")) done.length = 0;
      pending = [...components(target), ...pending];
      continue;
    }
    done.push(part);
  }
  return { host: done.length ? `${base}/${done.join("/")}` : base || "/", inContainer: `/${done.join("/")}`, exists: true };
}

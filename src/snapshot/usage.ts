// snapshot/usage: disk usage of one directory tree, counting each inode once
// (hardlinks share an inode) and never following symlinks or crossing mounts.
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { asWharfError } from "../internal/index.js";
import type { Usage } from "./snapshotter.js";

/**
 * `size` is the sum of the apparent sizes of regular files and symlinks
 * (directory sizes differ between filesystems, so they are left out);
 * `inodes` counts every inode in the tree, the root included.
 */
export async function diskUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  const pending: string[] = [root];
  try {
    const rootDev = (await lstat(root, { bigint: true })).dev;
    for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
      const st = await lstat(dir, { bigint: true });
      if (st.dev !== rootDev) continue;
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.add(id);
      if (!st.isDirectory()) {
        if (st.isFile() || st.isSymbolicLink()) size += Number(st.size);
        continue;
      }
      for (const name of await readdir(dir)) pending.push(join(dir, name));
    }
  } catch (e) {
    throw asWharfError(e, `measure disk usage of ${root}`);
  }
  return { size, inodes: seen.size };
}

// testing: helpers for the archive tests — temp dirs that clean up, a
// canary beside the layer dir, and a comparable description of a tree.
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { Readable } from "node:stream";
import { sys } from "../internal/index.js";
import { encodeTar, type TarInput } from "./tar.js";

/** A temp dir removed when the test ends, pass or fail. */
export async function tempDir(t: TestContext, prefix = "wharf-archive-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A root with an empty `layer/` to apply into and a `canary/` beside it that no layer may touch. */
export async function layerRoot(t: TestContext): Promise<{ root: string; layer: string; canary: string }> {
  const root = await tempDir(t);
  const layer = join(root, "layer");
  const canary = join(root, "canary");
  mkdirSync(layer);
  mkdirSync(canary);
  writeFileSync(join(canary, "file"), "canary\n");
  return { root, layer, canary };
}

/** Asserts that the canary and the layer's siblings are as layerRoot made them. */
export function canaryIntact(root: string): boolean {
  const siblings = readdirSync(root).sort();
  const canary = readdirSync(join(root, "canary"));
  return (
    JSON.stringify(siblings) === JSON.stringify(["canary", "layer"]) &&
    JSON.stringify(canary) === JSON.stringify(["file"]) &&
    readFileSync(join(root, "canary", "file"), "utf8") === "canary\n" &&
    lstatSync(join(root, "canary", "file")).nlink === 1
  );
}

/** A tar stream of the given entries, made with our writer. */
export function tarOf(entries: TarInput[]): Readable {
  return Readable.from(encodeTar(entries), { objectMode: false });
}

export async function bytesOf(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Everything observable about one node of a tree, as plain data for deepEqual. */
export interface NodeRecord {
  readonly path: string;
  readonly type: string;
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly content?: string;
  readonly link?: string;
  readonly rdev?: number;
  /** For the second and later names of an inode: the first name. */
  readonly hardlinkOf?: string;
  readonly xattrs: Record<string, string>;
}

/** The tree under `root` (the root itself excluded), sorted by path. */
export function describeTree(root: string, options: { mtimes?: boolean; dirMtimes?: boolean } = {}): NodeRecord[] {
  const out: NodeRecord[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const full = join(root, path);
      const st = lstatSync(full);
      const type = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : st.isFIFO() ? "fifo" : "other";
      const xattrs: Record<string, string> = {};
      for (const x of sys().llistxattr(full).sort()) xattrs[x] = sys().lgetxattr(full, x)?.toString("hex") ?? "";
      const first = type !== "dir" && st.nlink > 1 ? inodes.get(st.ino) : undefined;
      if (type !== "dir" && st.nlink > 1 && first === undefined) inodes.set(st.ino, path);
      const withMtime = type === "dir" ? (options.dirMtimes ?? options.mtimes ?? true) : (options.mtimes ?? true);
      out.push({
        path,
        type,
        mode: (st.mode & 0o7777).toString(8),
        uid: st.uid,
        gid: st.gid,
        mtime: withMtime ? Math.floor(st.mtimeMs / 1000) : 0,
        ...(type === "file" ? { content: createHash("sha256").update(readFileSync(full)).digest("hex") } : {}),
        ...(type === "symlink" ? { link: readlinkSync(full) } : {}),
        ...(type === "char" || type === "block" ? { rdev: st.rdev } : {}),
        ...(first !== undefined ? { hardlinkOf: first } : {}),
        xattrs,
      });
      if (type === "dir") walk(path);
    }
  };
  walk("");
  return out;
}

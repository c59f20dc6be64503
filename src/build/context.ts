// context: the build context — a directory of files the Dockerfile's COPY and
// ADD read, with `.dockerignore` applied. A context sent as a tar (POST
// /build) is unpacked into a private directory first, with the same safe
// apply as image layers: no entry lands outside it.
import { lstat, readFile, readdir, realpath } from "node:fs/promises";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { applyLayer } from "../archive/index.js";
import { errnoCode, wharfError } from "../internal/index.js";
import { IgnoreMatcher, ignoreLines } from "./dockerignore.js";

export interface BuildContext {
  /** The directory holding the context's files. */
  readonly dir: string;
  readonly ignore: IgnoreMatcher;
}

/** Unpacks a context tar (plain or compressed) into the empty directory `dir`. */
export async function unpackContext(source: Readable, dir: string, signal?: AbortSignal): Promise<void> {
  try {
    await applyLayer(dir, source, signal ? { signal } : {});
  } catch (e) {
    throw wharfError("invalid-argument", `read build context: ${(e as Error).message}`, e);
  }
}

/**
 * The context over `dir`, ignoring what `<dockerfile>.dockerignore` (next
 * to the Dockerfile) or else `.dockerignore` excludes.
 */
export async function openContext(dir: string, dockerfile: string): Promise<BuildContext> {
  const candidates = [`${dockerfile}.dockerignore`, ".dockerignore"];
  for (const name of candidates) {
    try {
      const text = await readFile(posix.join(dir, name), "utf8");
      return { dir, ignore: new IgnoreMatcher(ignoreLines(text)) };
    } catch (e) {
      if (errnoCode(e) !== "ENOENT" && errnoCode(e) !== "ENOTDIR") throw e;
    }
  }
  return { dir, ignore: new IgnoreMatcher([]) };
}

/** A path inside the context from a COPY source: cleaned, and refused when it leaves the context. */
export function contextPath(source: string): string {
  const cleaned = posix.normalize(`/${source}`).replace(/^\/+/, "");
  if (posix.normalize(source).startsWith("../") || posix.normalize(source) === "..") {
    throw wharfError("invalid-argument", `forbidden path outside the build context: ${source}`);
  }
  return cleaned === "." ? "" : cleaned.replace(/\/+$/, "");
}

/** Every path below `rel` (itself included), files and directories, that the ignore rules let through; sorted. */
export async function walkContext(ctx: BuildContext, rel: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const full = path === "" ? ctx.dir : `${ctx.dir}/${path}`;
    let st;
    try {
      st = await lstat(full);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw e;
    }
    const ignored = path !== "" && ctx.ignore.ignores(path);
    if (!ignored) out.push(path);
    if (st.isDirectory() && (!ignored || ctx.ignore.mayIncludeBelow(path))) {
      const names = (await readdir(full)).sort();
      for (const n of names) await visit(path === "" ? n : `${path}/${n}`);
    }
  };
  await visit(rel);
  return out;
}

/** Follows a symlink inside the context, staying inside it. */
export async function resolveInContext(ctx: BuildContext, rel: string): Promise<string> {
  const real = await realpath(rel === "" ? ctx.dir : `${ctx.dir}/${rel}`).catch((e: unknown) => {
    if (errnoCode(e) === "ENOENT") throw wharfError("not-found", `file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`);
    throw e;
  });
  const root = await realpath(ctx.dir);
  if (real !== root && !real.startsWith(root + "/")) throw wharfError("invalid-argument", `forbidden path outside the build context: ${rel}`);
  return real === root ? "" : real.slice(root.length + 1);
}

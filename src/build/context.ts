// context: the build context — the files the Dockerfile's COPY and ADD read,
// with `.dockerignore` applied.
//
// A context arrives as a tar (POST /build). As it streams in, it is saved
// (decompressed) to a private file and indexed: every path with its type,
// mode, link target and content digest. The cache needs only the index, so
// a build whose steps all hit the cache never writes the context's files;
// the first step that must copy files unpacks the saved tar once, with the
// same safe apply as image layers (no entry lands outside the directory).
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { once } from "node:events";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { applyLayer, decompress, TarParser, type TarHeader } from "../archive/index.js";
import { wharfError } from "../internal/index.js";
import { IgnoreMatcher, ignoreLines } from "./dockerignore.js";

export interface ContextEntry {
  readonly type: "file" | "dir" | "symlink" | "other";
  /** Permission bits (0o7777). */
  readonly mode: number;
  readonly linkname: string;
  /** sha256 of a file's content (hex). */
  readonly digest: string;
}

const CAPTURE_MAX = 4 << 20;

/** Normalises a tar entry name or a COPY source to a context path: no leading `./` or `/`, no trailing `/`; the root is "". */
function clean(name: string): string {
  const n = posix.normalize(`/${name}`);
  return n === "/" ? "" : n.slice(1).replace(/\/+$/, "");
}

export class BuildContext {
  readonly entries = new Map<string, ContextEntry>([["", { type: "dir", mode: 0o755, linkname: "", digest: "" }]]);
  readonly #children = new Map<string, string[]>();
  readonly #captured = new Map<string, Buffer>();
  ignore = new IgnoreMatcher([]);
  /** Whether the tar has hardlinks (COPY then reads unpacked files rather than the tar). */
  hasHardlinks = false;
  readonly #tar: string | undefined;
  readonly #dir: string;
  #unpacked: Promise<string> | undefined;

  /** `tar`: the saved context to unpack into `dir` when files are needed; without it, `dir` already holds them. */
  constructor(dir: string, tar?: string) {
    this.#dir = dir;
    this.#tar = tar;
  }

  add(path: string, entry: ContextEntry): void {
    // Parents a tar leaves out exist all the same.
    for (let p = posix.dirname(path); p !== "." && p !== "" && !this.entries.has(p); p = posix.dirname(p)) {
      this.entries.set(p, { type: "dir", mode: 0o755, linkname: "", digest: "" });
    }
    this.entries.set(path, entry);
  }

  capture(path: string, data: Buffer): void {
    this.#captured.set(path, data);
  }

  /** A captured small file's bytes (the Dockerfile, .dockerignore). */
  captured(path: string): Buffer | undefined {
    return this.#captured.get(clean(path));
  }

  /** Builds the child lists once every entry is in. */
  seal(): void {
    for (const path of this.entries.keys()) {
      if (path === "") continue;
      const parent = posix.dirname(path) === "." ? "" : posix.dirname(path);
      const list = this.#children.get(parent) ?? [];
      list.push(posix.basename(path));
      this.#children.set(parent, list);
    }
    for (const list of this.#children.values()) list.sort();
  }

  children(dir: string): readonly string[] {
    return this.#children.get(dir) ?? [];
  }

  /** The saved tar, when the context came as one. */
  get tar(): string | undefined {
    return this.#tar;
  }

  /** Resolves once no unpack is in progress (before the directory is removed). */
  async settled(): Promise<void> {
    await this.#unpacked?.catch(() => {});
  }

  /** The directory with the context's files, unpacked on first use. */
  files(signal?: AbortSignal): Promise<string> {
    if (this.#tar === undefined) return Promise.resolve(this.#dir);
    const tar = this.#tar;
    this.#unpacked ??= (async () => {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      try {
        await applyLayer(this.#dir, createReadStream(tar), signal ? { signal } : {});
      } catch (e) {
        throw wharfError("invalid-argument", `read build context: ${(e as Error).message}`, e);
      }
      return this.#dir;
    })();
    return this.#unpacked;
  }
}

/**
 * Receives a context tar (plain or compressed): saved to `tarPath`, indexed
 * with content digests; the small files named in `capture` are kept in memory.
 */
export async function receiveContext(source: Readable, tarPath: string, dir: string, capture: readonly string[], signal?: AbortSignal): Promise<BuildContext> {
  const ctx = new BuildContext(dir, tarPath);
  const wanted = new Set(capture.map(clean));
  let current: { path: string; header: TarHeader; hash: ReturnType<typeof createHash>; parts: Buffer[] | undefined; size: number } | undefined;
  const parser = new TarParser({
    entry(header) {
      const path = clean(header.name);
      current = { path, header, hash: createHash("sha256"), parts: wanted.has(path) && header.size <= CAPTURE_MAX ? [] : undefined, size: 0 };
    },
    data(chunk) {
      if (!current) return;
      current.hash.update(chunk);
      current.parts?.push(Buffer.from(chunk));
    },
    entryEnd() {
      const c = current;
      current = undefined;
      if (!c || c.path === "") return;
      const h = c.header;
      const mode = h.mode & 0o7777;
      switch (h.type) {
        case "directory":
          ctx.add(c.path, { type: "dir", mode, linkname: "", digest: "" });
          break;
        case "file":
          ctx.add(c.path, { type: "file", mode, linkname: "", digest: c.hash.digest("hex") });
          if (c.parts) ctx.capture(c.path, Buffer.concat(c.parts));
          break;
        case "symlink":
          ctx.add(c.path, { type: "symlink", mode, linkname: h.linkname, digest: "" });
          break;
        case "hardlink": {
          ctx.hasHardlinks = true;
          const target = ctx.entries.get(clean(h.linkname));
          ctx.add(c.path, { type: "file", mode: target?.mode ?? mode, linkname: "", digest: target?.digest ?? "" });
          break;
        }
        default:
          ctx.add(c.path, { type: "other", mode, linkname: "", digest: "" });
      }
    },
  });
  await mkdir(posix.dirname(tarPath), { recursive: true });
  const out = createWriteStream(tarPath);
  const failed = new Promise<never>((_, reject) => out.once("error", reject));
  failed.catch(() => {});
  try {
    for await (const chunk of decompress(source) as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      parser.push(chunk);
      if (!out.write(chunk)) await Promise.race([once(out, "drain"), failed]);
    }
    parser.end();
    out.end();
    await Promise.race([once(out, "finish"), failed]);
  } catch (e) {
    out.destroy();
    throw wharfError("invalid-argument", `read build context: ${(e as Error).message}`, e);
  }
  ctx.seal();
  return ctx;
}

/** Applies `<dockerfile>.dockerignore` (next to the Dockerfile) or else `.dockerignore`. */
export function applyIgnoreFile(ctx: BuildContext, dockerfile: string, read: (path: string) => Buffer | undefined): void {
  for (const name of [`${dockerfile}.dockerignore`, ".dockerignore"]) {
    const data = read(name);
    if (data !== undefined) {
      ctx.ignore = new IgnoreMatcher(ignoreLines(data.toString("utf8")));
      return;
    }
  }
}

/** A path inside the context from a COPY source: cleaned, and refused when it leaves the context. */
export function contextPath(source: string): string {
  const n = posix.normalize(source);
  if (n === ".." || n.startsWith("../")) throw wharfError("invalid-argument", `forbidden path outside the build context: ${source}`);
  return clean(source);
}

/** Every path below `rel` (itself included) that the ignore rules let through, in order. */
export function walkContext(ctx: BuildContext, rel: string): string[] {
  const out: string[] = [];
  const visit = (path: string): void => {
    const e = ctx.entries.get(path);
    if (!e) return;
    const ignored = path !== "" && !ctx.ignore.empty && ctx.ignore.ignores(path);
    if (!ignored) out.push(path);
    if (e.type === "dir" && (!ignored || ctx.ignore.mayIncludeBelow(path))) {
      for (const n of ctx.children(path)) visit(path === "" ? n : `${path}/${n}`);
    }
  };
  visit(rel);
  return out;
}

/** Follows symlinks of the context, staying inside it; the path of what `rel` names. */
export function resolveInContext(ctx: BuildContext, rel: string): string {
  const pending = rel.split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      if (done.length === 0) throw wharfError("invalid-argument", `forbidden path outside the build context: ${rel}`);
      done.pop();
      continue;
    }
    const path = [...done, part].join("/");
    const e = ctx.entries.get(path);
    if (e?.type !== "symlink") {
      done.push(part);
      continue;
    }
    if (++links > 40) throw wharfError("invalid-argument", `${rel}: too many levels of symbolic links`);
    if (e.linkname.startsWith("/")) throw wharfError("invalid-argument", `forbidden path outside the build context: ${rel} (a link to ${e.linkname})`);
    pending.unshift(...e.linkname.split("/").filter(Boolean));
  }
  const out = done.join("/");
  if (!ctx.entries.has(out)) throw wharfError("not-found", `file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`);
  return out;
}

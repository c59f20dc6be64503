// service: a build from a context tar, as POST /build receives it — the tar
// unpacked into a private directory for the build's length, then removed.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Builder, type BuildLog, type BuildRequest, type BuildResult, type BuilderOptions } from "./executor.js";
import { unmount } from "../snapshot/index.js";
import { applyIgnoreFile, receiveContext } from "./context.js";

export type BuildOptions = Omit<BuildRequest, "context">;

export class BuildService {
  readonly builder: Builder;
  readonly #root: string;
  readonly #execRoot: string;

  constructor(options: BuilderOptions) {
    this.builder = new Builder(options);
    this.#root = options.root;
    this.#execRoot = options.execRoot;
  }

  /**
   * After a crash: what builds in flight left — mounted roots, bundles,
   * received contexts — is undone. Their snapshots and ingests are the image
   * store's to collect. Call before the first build.
   */
  async recover(): Promise<void> {
    const mnt = join(this.#execRoot, "mnt");
    for (const name of await readdir(mnt).catch(() => [] as string[])) {
      await unmount(join(mnt, name)).catch(() => {});
      await rmdir(join(mnt, name)).catch(() => {});
    }
    await rm(join(this.#execRoot, "bundles"), { recursive: true, force: true });
    await rm(join(this.#root, "contexts"), { recursive: true, force: true });
  }

  prune(): Promise<{ cachesDeleted: string[]; spaceReclaimed: number }> {
    return this.builder.prune();
  }

  /** Receives `context` (a tar, plain or compressed) and builds it. */
  async build(context: Readable, options: BuildOptions, log: BuildLog): Promise<BuildResult> {
    const dir = join(this.#root, "contexts", randomBytes(8).toString("hex"));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const wanted = [options.dockerfile, `${options.dockerfile}.dockerignore`, ".dockerignore"];
      const ctx = await receiveContext(context, join(dir, "context.tar"), join(dir, "files"), wanted, options.signal);
      applyIgnoreFile(ctx, options.dockerfile, (p) => ctx.captured(p));
      try {
        return await this.builder.build({ ...options, context: ctx }, log);
      } finally {
        await ctx.settled();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

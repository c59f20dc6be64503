// service: a build from a context tar, as POST /build receives it — the tar
// unpacked into a private directory for the build's length, then removed.
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Builder, type BuildLog, type BuildRequest, type BuildResult, type BuilderOptions } from "./executor.js";
import { unpackContext } from "./context.js";

export type BuildOptions = Omit<BuildRequest, "contextDir">;

export class BuildService {
  readonly builder: Builder;
  readonly #root: string;

  constructor(options: BuilderOptions) {
    this.builder = new Builder(options);
    this.#root = options.root;
  }

  /** Unpacks `context` (a tar, plain or compressed) and builds it. */
  async build(context: Readable, options: BuildOptions, log: BuildLog): Promise<BuildResult> {
    const dir = join(this.#root, "contexts", randomBytes(8).toString("hex"));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      await unpackContext(context, dir, options.signal);
      return await this.builder.build({ ...options, contextDir: dir }, log);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

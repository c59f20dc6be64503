// `docker cp` and `docker export` on the engine's side: the container's files
// read and written by a helper process chrooted into the container's root
// (copy-worker.ts), never by wharfd walking paths on the host. A running
// container is entered through `/proc/<pid>/root`, which shows exactly its
// mounts (volumes, binds); a stopped one is mounted for the copy in a mount
// namespace of the helper's own (`unshare -m`), rootfs plus volumes and
// binds, which the kernel takes down when the helper ends.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { wharfError, workerScript } from "../internal/index.js";
import { mountsUsing, type Snapshotter } from "../snapshot/index.js";
import type { ContainerEngine } from "./engine.js";
import type { PathStat, WorkerHeader, WorkerOp, WorkerRequest, WorkerRoot } from "./copy-protocol.js";
import type { ContainerRecord } from "./types.js";

export type { PathStat } from "./copy-protocol.js";

const HEADER_MAX = 64 * 1024;

interface Started {
  readonly child: ChildProcess;
  readonly header: WorkerHeader;
  /** The child's stdout after the header line. */
  readonly rest: Readable;
  /** Resolves when the child is gone and its temporary mount point removed. */
  readonly done: Promise<number>;
}

/** Reads stdout up to the first newline; the remainder is pushed to `rest`. */
function readHeader(child: ChildProcess, rest: PassThrough): Promise<WorkerHeader> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString();
    });
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > HEADER_MAX) reject(wharfError("internal", "copy helper: header too long"));
        return;
      }
      child.stdout!.off("data", onData);
      child.stdout!.off("end", onEnd);
      const after = buf.subarray(nl + 1);
      if (after.length) rest.write(after);
      child.stdout!.pipe(rest);
      try {
        resolve(JSON.parse(buf.subarray(0, nl).toString("utf8")) as WorkerHeader);
      } catch {
        reject(wharfError("internal", `copy helper: bad header ${JSON.stringify(buf.subarray(0, 80).toString())}`));
      }
    };
    const onEnd = () => reject(wharfError("internal", `copy helper ended without an answer${stderr ? `: ${stderr.trim()}` : ""}`));
    child.stdout!.on("data", onData);
    child.stdout!.once("end", onEnd);
    child.once("error", reject);
  });
}

export class ContainerFiles {
  constructor(
    readonly engine: ContainerEngine,
    readonly snapshotter: Snapshotter,
  ) {}

  async #root(r: ContainerRecord, purpose: "files" | "export"): Promise<{ root: WorkerRoot; cleanup: () => Promise<void> }> {
    if (r.State.Running && r.State.Pid > 0) {
      if (purpose === "files") return { root: { kind: "chroot", path: `/proc/${r.State.Pid}/root` }, cleanup: async () => {} };
      const rootfs = this.engine.paths.rootfs(r.Id);
      if ((await mountsUsing(rootfs)).includes(rootfs)) return { root: { kind: "chroot", path: rootfs }, cleanup: async () => {} };
    }
    const target = join(this.engine.paths.dir(r.Id), `copy-${randomBytes(6).toString("hex")}`);
    await mkdir(target, { mode: 0o700 });
    const binds = purpose === "export" ? [] : r.Mounts.filter((m) => m.Type === "bind" || m.Type === "volume").map((m) => ({ source: m.Source, destination: m.Destination, readonly: !m.RW }));
    return {
      root: { kind: "mount", target, rootfs: await this.snapshotter.mounts(r.Id), binds },
      // The namespace died with the helper, taking its mounts; only the empty dir is left.
      cleanup: () => rmdir(target).catch(() => {}),
    };
  }

  async #start(nameOrId: string, op: WorkerOp, purpose: "files" | "export" = "files"): Promise<Started> {
    const r = this.engine.get(nameOrId);
    const { root, cleanup } = await this.#root(r, purpose);
    const request: WorkerRequest & { container: string } = { ...op, root, container: nameOrId };
    const argv = [workerScript(import.meta.url, "container/copy-worker.js"), JSON.stringify(request)];
    const child =
      root.kind === "mount"
        ? spawn("unshare", ["--mount", "--propagation", "private", process.execPath, ...argv], { stdio: ["pipe", "pipe", "pipe"] })
        : spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "pipe"] });
    const done = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? 1))).then(async (code) => {
      await cleanup();
      return code;
    });
    const rest = new PassThrough();
    try {
      const header = await readHeader(child, rest);
      if (!header.ok) throw wharfError(header.kind, header.message);
      return { child, header, rest, done };
    } catch (e) {
      child.kill("SIGKILL");
      await done;
      throw e;
    }
  }

  /** `HEAD /containers/{id}/archive`: what is at `path`, the last symlink not followed. */
  async stat(nameOrId: string, path: string): Promise<PathStat> {
    const s = await this.#start(nameOrId, { op: "stat", path: absolute(path) });
    s.child.stdin!.end();
    await s.done;
    if (!s.header.ok || !s.header.stat) throw wharfError("internal", "copy helper: no stat");
    return s.header.stat;
  }

  /** `GET /containers/{id}/archive`: the resource at `path` as a tar, named by its last element. */
  async get(nameOrId: string, path: string): Promise<{ stat: PathStat; tar: Readable }> {
    const s = await this.#start(nameOrId, { op: "get", path: absolute(path) });
    s.child.stdin!.end();
    if (!s.header.ok || !s.header.stat) throw wharfError("internal", "copy helper: no stat");
    void s.done.then((code) => {
      if (code !== 0) s.rest.destroy(wharfError("internal", "copy from container failed"));
    });
    return { stat: s.header.stat, tar: s.rest };
  }

  /** `PUT /containers/{id}/archive`: extracts `tar` into the directory at `path`. */
  async put(nameOrId: string, path: string, tar: Readable, options: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    const r = this.engine.get(nameOrId);
    const abs = absolute(path);
    if (r.HostConfig.ReadonlyRootfs && !r.Mounts.some((m) => m.RW && (abs === m.Destination || abs.startsWith(`${m.Destination}/`)))) {
      throw wharfError("forbidden", "container rootfs is marked read-only");
    }
    const under = r.Mounts.filter((m) => m.Type !== "tmpfs" && (abs === m.Destination || abs.startsWith(`${m.Destination}/`))).sort((a, b) => b.Destination.length - a.Destination.length)[0];
    if (under && !under.RW) throw wharfError("forbidden", "mounted volume is marked read-only");
    const s = await this.#start(nameOrId, { op: "put", path: abs, noOverwriteDirNonDir: options.noOverwriteDirNonDir === true, copyUIDGID: options.copyUIDGID === true });
    const result = readHeader2(s.rest);
    tar.pipe(s.child.stdin!);
    s.child.stdin!.on("error", () => {});
    const header = await result;
    tar.unpipe(s.child.stdin!);
    s.child.stdin!.destroy();
    await s.done;
    if (!header.ok) throw wharfError(header.kind, header.message);
  }

  /** `GET /containers/{id}/export`: the container's filesystem, flattened, as a tar. */
  async export(nameOrId: string): Promise<Readable> {
    const s = await this.#start(nameOrId, { op: "export" }, "export");
    s.child.stdin!.end();
    void s.done.then((code) => {
      if (code !== 0) s.rest.destroy(wharfError("internal", "export failed"));
    });
    return s.rest;
  }
}

/** The result line after a put. */
function readHeader2(rest: Readable): Promise<WorkerHeader> {
  return new Promise((resolve, reject) => {
    let text = "";
    rest.setEncoding("utf8");
    rest.on("data", (c: string) => {
      text += c;
      const nl = text.indexOf("\n");
      if (nl >= 0) {
        try {
          resolve(JSON.parse(text.slice(0, nl)) as WorkerHeader);
        } catch {
          reject(wharfError("internal", "copy helper: bad result"));
        }
      }
    });
    rest.once("end", () => reject(wharfError("internal", "copy into container: the helper ended without a result")));
  });
}

/** The path as docker takes it: relative to `/`, its trailing `/` or `/.` kept. */
function absolute(path: string): string {
  if (!path) throw wharfError("invalid-argument", "path cannot be empty");
  return path.startsWith("/") ? path : `/${path}`;
}

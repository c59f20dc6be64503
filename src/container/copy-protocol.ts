// What container/copy.ts asks of its helper process (copy-worker.ts) and what
// the helper answers. The helper gets one request as JSON in its argv, puts
// itself into the container's root with chroot(2), and answers on stdout: a
// JSON header line, then the bytes (a tar) when there are any. For `put` it
// reads the tar on stdin after a ready header, and ends with a result line.
import type { ErrorKind } from "../internal/index.js";
import type { Mount } from "../snapshot/index.js";

/** Where the helper's root comes from. */
export type WorkerRoot =
  /** A tree that is there already: a running container's `/proc/<pid>/root`, or its mounted rootfs. */
  | { readonly kind: "chroot"; readonly path: string }
  /**
   * A stopped container: the helper, in a mount namespace of its own (so
   * nothing it mounts outlives it), mounts the rootfs on `target` and the
   * container's volumes and binds inside it, then enters it.
   */
  | { readonly kind: "mount"; readonly target: string; readonly rootfs: readonly Mount[]; readonly binds: readonly { readonly source: string; readonly destination: string; readonly readonly: boolean }[] };

export type WorkerOp =
  | { readonly op: "stat"; readonly path: string }
  | { readonly op: "get"; readonly path: string }
  | { readonly op: "put"; readonly path: string; readonly noOverwriteDirNonDir: boolean; readonly copyUIDGID: boolean }
  | { readonly op: "export" };

export type WorkerRequest = WorkerOp & { readonly root: WorkerRoot };

/** docker's `container.PathStat`: Mode is a Go os.FileMode. */
export interface PathStat {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: string;
  readonly linkTarget: string;
}

export type WorkerHeader = { readonly ok: true; readonly stat?: PathStat } | { readonly ok: false; readonly kind: ErrorKind; readonly message: string };

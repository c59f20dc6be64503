// apply-protocol: the messages between applyLayer and its worker thread.
import type { Digest } from "../oci/index.js";
import type { ErrorKind } from "../internal/index.js";
import type { Identity } from "./layer-writer.js";

export interface WorkerConfig {
  readonly root: string;
  readonly identity: Identity;
  readonly hashInWorker: boolean;
}

export type ToWorker =
  /** Begins an apply; one at a time per worker, each after the last one's "done". */
  | { readonly type: "start"; readonly config: WorkerConfig }
  /** `buffer` is transferred; its first `length` bytes are tar. */
  | { readonly type: "chunk"; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly type: "end" };

export type ToMain =
  | { readonly type: "ack"; readonly length: number }
  | { readonly type: "done"; readonly diffId?: Digest; readonly size?: number; readonly contentSize: number }
  | { readonly type: "error"; readonly kind: ErrorKind; readonly message: string };

// apply: a layer tar (plain, gzip or zstd) written into an empty directory
// with overlay whiteouts, returning its diffID.
//
// The file system work runs in a worker thread with synchronous fs calls.
// A layer is thousands of small files, each several syscalls; through
// fs/promises every syscall is a libuv thread-pool round trip plus a
// promise: creating 6.7k files of 20 KB (open, write, futimes, close) on
// tmpfs took 940 ms that way against 70 ms with the synchronous calls.
// Synchronous calls on the main thread would stall the daemon's event loop
// for the whole layer, hence the worker. The main thread decompresses (zlib
// runs off-thread anyway) and hashes while the worker writes (see
// HASH_IN_WORKER for that measurement).
import { readdir } from "node:fs/promises";
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import { Digester, type Digest } from "../oci/index.js";
import { asWharfError, errorChain, wharfError, WharfError, workerScript } from "../internal/index.js";
import type { ApplyOptions, ApplyResult, ApplySizes } from "./archive.js";
import type { ToMain, ToWorker, WorkerConfig } from "./apply-protocol.js";
import { decompress } from "./compression.js";

/** Chunks are copied into batches this big, so that each message carries a buffer the worker may own. */
const BATCH = 1 << 20;
/** Bytes sent but not yet written; the stream is not read further beyond this. */
const IN_FLIGHT = 8 << 20;
/**
 * Where the diffID is hashed. Measured with apply.bench.ts on the Debian
 * rootfs tar (172 MB, 6.7k entries, 2 CPUs), median of 5: hashing in the main
 * thread took 292 ms into tmpfs and 1.78 s into ext4, in the worker 341 ms
 * and 1.94 s — in the worker the hash adds to the critical path, in the main
 * thread it overlaps with the writes.
 */
const HASH_IN_WORKER = false;

export interface ApplyTuning {
  readonly hashInWorker: boolean;
}

/**
 * Applies a layer to `dir`, which must be an empty directory (the upper dir
 * of a new snapshot). Returns the diffID (sha256 of the uncompressed tar)
 * and its size.
 *
 * A hostile entry — a name with "..", an absolute name, a write through a
 * symlink, a hardlink to anything outside the layer, a bad whiteout, a
 * symlink over a runtime mount point, a `trusted.overlay.*` xattr — rejects
 * the whole layer with WharfError invalid-argument naming the entry; nothing
 * outside `dir` was touched. After any failure `dir` holds a partial layer:
 * the caller must discard it.
 */
export function applyLayer(dir: string, source: Readable, options: ApplyOptions & { readonly hash: false }): Promise<ApplySizes>;
export function applyLayer(dir: string, source: Readable, options?: ApplyOptions): Promise<ApplyResult>;
export function applyLayer(dir: string, source: Readable, options: ApplyOptions = {}): Promise<ApplySizes | ApplyResult> {
  return applyLayerTuned(dir, source, options, { hashInWorker: HASH_IN_WORKER });
}

/** applyLayer with its internal choices open, for benchmarks. */
export async function applyLayerTuned(dir: string, source: Readable, options: ApplyOptions & { readonly hash: false }, tuning: ApplyTuning): Promise<ApplySizes>;
export async function applyLayerTuned(dir: string, source: Readable, options: ApplyOptions, tuning: ApplyTuning): Promise<ApplyResult>;
export async function applyLayerTuned(dir: string, source: Readable, options: ApplyOptions, tuning: ApplyTuning): Promise<ApplySizes | ApplyResult> {
  const hash = options.hash !== false;
  const { signal } = options;
  try {
    signal?.throwIfAborted();
    await assertEmpty(dir);
  } catch (e) {
    source.destroy();
    throw asWharfError(e, `apply layer to ${JSON.stringify(dir)}`);
  }
  const config: WorkerConfig = {
    root: dir,
    identity: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, umask: currentUmask() },
    hashInWorker: hash && tuning.hashInWorker,
  };
  const worker = workers.acquire();
  // A failure stops the reading too, even while it waits for the source.
  const run = new WorkerRun(worker, () => source.destroy());
  run.send({ type: "start", config });
  const onAbort = () => run.fail(wharfError("cancelled", `apply layer to ${JSON.stringify(dir)}: cancelled`));
  let teeing: { buffer: Buffer; length: number; done: Promise<void> } | undefined;
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const digester = hash && !tuning.hashInWorker ? new Digester() : undefined;
    let size = 0;
    let batch = Buffer.allocUnsafeSlow(BATCH);
    let fill = 0;
    const send = async (buffer: Buffer, length: number): Promise<void> => {
      run.send({ type: "chunk", buffer: buffer.buffer as ArrayBuffer, length }, [buffer.buffer as ArrayBuffer]);
      await run.drained(IN_FLIGHT);
    };
    // With a tee, a batch goes to the worker (which takes its buffer) once the tee is done with it; meanwhile the next one fills.
    const release = async (): Promise<void> => {
      const held = teeing;
      if (held === undefined) return;
      teeing = undefined;
      await held.done;
      await send(held.buffer, held.length);
    };
    const flush = async (): Promise<void> => {
      if (fill === 0) return;
      const full = batch;
      const length = fill;
      batch = Buffer.allocUnsafeSlow(BATCH);
      fill = 0;
      if (options.tee === undefined) return send(full, length);
      await release();
      teeing = { buffer: full, length, done: options.tee(full.subarray(0, length)) };
      teeing.done.catch(() => {});
    };
    for await (const chunk of decompress(source) as AsyncIterable<Buffer>) {
      run.throwIfFailed();
      digester?.update(chunk);
      size += chunk.length;
      let off = 0;
      while (off < chunk.length) {
        const n = chunk.copy(batch, fill, off);
        off += n;
        fill += n;
        if (fill === BATCH) await flush();
      }
    }
    await flush();
    await release();
    run.send({ type: "end" });
    const done = await run.done;
    if (!hash) return { size, contentSize: done.contentSize };
    if (digester) return { diffId: digester.digest(), size: digester.size, contentSize: done.contentSize };
    if (done.diffId === undefined || done.size === undefined) throw wharfError("internal", "apply layer: the worker returned no diffID");
    return { diffId: done.diffId, size: done.size, contentSize: done.contentSize };
  } catch (e) {
    source.destroy();
    await teeing?.done.catch(() => {});
    // The worker's verdict explains a failure better than the stream error it caused.
    throw run.failure ?? asWharfError(e, `apply layer to ${JSON.stringify(dir)}`);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // Only a worker whose apply succeeded is used again: after a failure its state is not worth trusting.
    if (run.succeeded) {
      run.detach();
      workers.release(worker);
    } else {
      await worker.terminate();
    }
  }
}

/** Idle workers kept for the next apply, and for how long: a worker's start (~60 ms here) and the warm-up of its code are paid once per burst of applies (the layers of a pull or load, a run of imports), not per layer. */
const IDLE_WORKERS = 2;
const IDLE_MS = 15_000;

/** The apply workers not in use. An idle one holds no file and keeps no process alive. */
class WorkerPool {
  readonly #idle: { worker: Worker; timer: NodeJS.Timeout; onExit: () => void }[] = [];

  acquire(): Worker {
    const kept = this.#idle.pop();
    if (kept === undefined) return new Worker(workerScript(import.meta.url, "archive/apply-worker.js"));
    clearTimeout(kept.timer);
    kept.worker.off("exit", kept.onExit);
    kept.worker.ref();
    return kept.worker;
  }

  release(worker: Worker): void {
    if (this.#idle.length >= IDLE_WORKERS) {
      void worker.terminate();
      return;
    }
    const drop = () => {
      const i = this.#idle.indexOf(entry);
      if (i >= 0) this.#idle.splice(i, 1);
    };
    const entry = {
      worker,
      timer: setTimeout(() => {
        drop();
        void worker.terminate();
      }, IDLE_MS).unref(),
      onExit: drop,
    };
    worker.once("exit", drop);
    worker.unref();
    this.#idle.push(entry);
  }
}

const workers = new WorkerPool();

async function assertEmpty(dir: string): Promise<void> {
  const names = await readdir(dir);
  if (names.length > 0) throw wharfError("invalid-argument", `apply layer to ${JSON.stringify(dir)}: the directory is not empty`);
}

function currentUmask(): number {
  // process.umask() with no argument is deprecated as racy; setting it back at once is the supported read.
  const mask = process.umask(0o022);
  process.umask(mask);
  return mask;
}

/** The main thread's view of one worker: flow control and its outcome. */
class WorkerRun {
  readonly #worker: Worker;
  #inFlight = 0;
  #wake: (() => void) | undefined;
  failure: WharfError | undefined;
  #settled = false;
  readonly done: Promise<{ diffId?: Digest; size?: number; contentSize: number }>;
  #resolve!: (v: { diffId?: Digest; size?: number; contentSize: number }) => void;
  #reject!: (e: WharfError) => void;

  readonly #onFail: () => void;

  readonly #listeners: { message: (msg: ToMain) => void; error: (e: Error) => void; exit: (code: number) => void };

  constructor(worker: Worker, onFail: () => void) {
    this.#worker = worker;
    this.#onFail = onFail;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // observed through `failure` when nobody awaits yet
    this.#listeners = {
      message: (msg) => this.#onMessage(msg),
      error: (e) => this.fail(wharfError("internal", `apply layer: worker failed: ${errorChain(e)}`, e)),
      exit: (code) => this.fail(wharfError("internal", `apply layer: worker exited with ${code}`)),
    };
    worker.on("message", this.#listeners.message);
    worker.on("error", this.#listeners.error);
    worker.on("exit", this.#listeners.exit);
  }

  /** The worker said "done" and nothing failed. */
  get succeeded(): boolean {
    return this.#settled && this.failure === undefined;
  }

  /** Stops listening to the worker, so that another run may use it. */
  detach(): void {
    this.#worker.off("message", this.#listeners.message);
    this.#worker.off("error", this.#listeners.error);
    this.#worker.off("exit", this.#listeners.exit);
  }

  #onMessage(msg: ToMain): void {
    switch (msg.type) {
      case "ack":
        this.#inFlight -= msg.length;
        this.#wakeUp();
        return;
      case "done":
        this.#settled = true;
        this.#resolve(msg.diffId !== undefined && msg.size !== undefined ? { diffId: msg.diffId, size: msg.size, contentSize: msg.contentSize } : { contentSize: msg.contentSize });
        return;
      case "error":
        this.fail(new WharfError(msg.kind, msg.message));
    }
  }

  fail(e: WharfError): void {
    if (this.failure !== undefined || this.#settled) return;
    this.failure = e;
    this.#reject(e);
    this.#wakeUp();
    this.#onFail();
    void this.#worker.terminate();
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  send(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    this.throwIfFailed();
    if (msg.type === "chunk") this.#inFlight += msg.length;
    this.#worker.postMessage(msg, transfer);
  }

  /** Resolves once no more than `limit` bytes are unacknowledged. */
  async drained(limit: number): Promise<void> {
    while (this.#inFlight > limit) {
      this.throwIfFailed();
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    this.throwIfFailed();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

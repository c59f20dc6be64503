// apply-worker: the worker thread of applyLayer. It receives the
// uncompressed tar in transferred chunks, parses it and writes the entries
// with synchronous fs calls (see apply.ts for why) and its small files'
// remaining work on the thread pool (see layer-writer.ts), acknowledging each
// chunk so the main thread can bound what is in flight. A worker applies one
// layer after another (applyLayer keeps idle ones for a while).
import { parentPort } from "node:worker_threads";
import { Digester } from "../oci/index.js";
import { errorChain, WharfError } from "../internal/index.js";
import { LayerWriter } from "./layer-writer.js";
import { TarParser } from "./tar.js";
import type { ToMain, ToWorker, WorkerConfig } from "./apply-protocol.js";

const port = parentPort;
if (port === null) throw new Error("apply-worker must run as a worker thread");

/** The apply under way: from a "start" to its "done" or error. */
class Job {
  // Each message's buffer is transferred and never reused: the writer may keep its chunks.
  readonly writer: LayerWriter;
  readonly parser: TarParser;
  readonly digester: Digester | undefined;
  constructor(config: WorkerConfig) {
    this.writer = new LayerWriter(config.root, config.identity, { deferFiles: true });
    this.parser = new TarParser(this.writer);
    this.digester = config.hashInWorker ? new Digester() : undefined;
  }
}

let job: Job | undefined;
/** After a failure nothing more is done: the main thread ends this worker. */
let failed = false;

function send(msg: ToMain): void {
  port!.postMessage(msg);
}

async function handle(msg: ToWorker): Promise<void> {
  if (failed) return;
  try {
    switch (msg.type) {
      case "start": {
        if (job !== undefined) throw new WharfError("internal", "apply layer: a worker got a second layer before the first was done");
        job = new Job(msg.config);
        return;
      }
      case "chunk": {
        const { parser, writer, digester } = current();
        const chunk = Buffer.from(msg.buffer, 0, msg.length);
        digester?.update(chunk);
        parser.push(chunk);
        // Acknowledged once the files it finished are mostly written: the main thread's bound covers them too.
        await writer.drained();
        send({ type: "ack", length: msg.length });
        return;
      }
      case "end": {
        const { parser, writer, digester } = current();
        parser.end();
        await writer.finish();
        job = undefined;
        send(digester ? { type: "done", diffId: digester.digest(), size: digester.size, contentSize: writer.contentSize } : { type: "done", contentSize: writer.contentSize });
        return;
      }
    }
  } catch (e) {
    failed = true;
    try {
      await job?.writer.abort();
    } catch {
      // the failure being reported matters more than a close error
    }
    send({ type: "error", kind: e instanceof WharfError ? e.kind : "internal", message: e instanceof WharfError ? e.message : `apply layer: ${errorChain(e)}` });
  }
}

function current(): Job {
  if (job === undefined) throw new WharfError("internal", "apply layer: tar bytes came before the layer started");
  return job;
}

// One message at a time, in order, each after the one before has settled.
let queue = Promise.resolve();
port.on("message", (msg: ToWorker) => {
  queue = queue.then(() => handle(msg));
});

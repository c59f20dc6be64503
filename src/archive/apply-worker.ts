// apply-worker: the worker thread of applyLayer. It receives the
// uncompressed tar in transferred chunks, parses it and writes the entries
// with synchronous fs calls (see apply.ts for why) and its small files'
// remaining work on the thread pool (see layer-writer.ts), acknowledging each
// chunk so the main thread can bound what is in flight.
import { parentPort, workerData } from "node:worker_threads";
import { Digester } from "../oci/index.js";
import { errorChain, WharfError } from "../internal/index.js";
import { LayerWriter } from "./layer-writer.js";
import { TarParser } from "./tar.js";
import type { ToMain, ToWorker, WorkerConfig } from "./apply-protocol.js";

const port = parentPort;
if (port === null) throw new Error("apply-worker must run as a worker thread");
const config = workerData as WorkerConfig;
// Each message's buffer is transferred and never reused: the writer may keep its chunks.
const writer = new LayerWriter(config.root, config.identity, { deferFiles: true });
const parser = new TarParser(writer);
const digester = config.hashInWorker ? new Digester() : undefined;
let failed = false;

function send(msg: ToMain): void {
  port!.postMessage(msg);
}

async function handle(msg: ToWorker): Promise<void> {
  if (failed) return;
  try {
    switch (msg.type) {
      case "chunk": {
        const chunk = Buffer.from(msg.buffer, 0, msg.length);
        digester?.update(chunk);
        parser.push(chunk);
        // Acknowledged once the files it finished are mostly written: the main thread's bound covers them too.
        await writer.drained();
        send({ type: "ack", length: msg.length });
        return;
      }
      case "end": {
        parser.end();
        await writer.finish();
        send(digester ? { type: "done", diffId: digester.digest(), size: digester.size, contentSize: writer.contentSize } : { type: "done", contentSize: writer.contentSize });
        return;
      }
    }
  } catch (e) {
    failed = true;
    try {
      await writer.abort();
    } catch {
      // the failure being reported matters more than a close error
    }
    send({ type: "error", kind: e instanceof WharfError ? e.kind : "internal", message: e instanceof WharfError ? e.message : `apply layer: ${errorChain(e)}` });
  }
}

// One message at a time, in order, each after the one before has settled.
let queue = Promise.resolve();
port.on("message", (msg: ToWorker) => {
  queue = queue.then(() => handle(msg));
});

// Measures applyLayer on a large layer tar, with the diffID hashed in the
// main thread or in the worker, next to GNU tar extracting the same tar.
//
//   node dist/src/archive/apply.bench.js --tar /var/cache/wharf-bench/debian.tar [--dir /tmp] [--runs 5]
//
// Each run writes into a fresh directory after `sync` and a drop of the
// kernel's caches, so the previous run weighs nothing on the next one.
import { execFileSync } from "node:child_process";
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { applyLayerTuned } from "./apply.js";
import { readTar } from "./tar.js";

const { values } = parseArgs({ options: { tar: { type: "string" }, dir: { type: "string", default: "/tmp" }, runs: { type: "string", default: "5" } } });
if (!values.tar) throw new Error("--tar <layer tar> is required (bench/make-debian.sh makes one)");
const tar = values.tar;
const base = values.dir;
const runs = Number(values.runs);

let entries = 0;
for await (const _ of readTar(createReadStream(tar))) entries++;
const bytes = statSync(tar).size;

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

async function timed(fn: (dir: string) => Promise<void> | void): Promise<number> {
  const dir = mkdtempSync(join(base, "wharf-apply-bench-"));
  try {
    // Dropping the caches too: on ext4 without a journal, inodes deleted by
    // the run before make every file creation scan their cached blocks.
    execFileSync("sync");
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    const start = process.hrtime.bigint();
    await fn(dir);
    return Number(process.hrtime.bigint() - start) / 1e6;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    execFileSync("sync");
  }
}

const results: Record<string, number[]> = { "applyLayer (hash in main)": [], "applyLayer (hash in worker)": [], "tar -x": [] };
for (let i = 0; i < runs; i++) {
  results["applyLayer (hash in main)"]!.push(await timed(async (dir) => void (await applyLayerTuned(dir, createReadStream(tar, { highWaterMark: 1 << 20 }), {}, { hashInWorker: false }))));
  results["applyLayer (hash in worker)"]!.push(await timed(async (dir) => void (await applyLayerTuned(dir, createReadStream(tar, { highWaterMark: 1 << 20 }), {}, { hashInWorker: true }))));
  results["tar -x"]!.push(await timed((dir) => void execFileSync("tar", ["-C", dir, "-xf", tar])));
}
console.log(`${tar}: ${(bytes / 1e6).toFixed(0)} MB, ${entries} entries, into ${base}, median of ${runs}`);
for (const [name, times] of Object.entries(results)) {
  const ms = median(times);
  console.log(`${name.padEnd(30)} ${ms.toFixed(0).padStart(6)} ms  ${(bytes / 1e6 / (ms / 1000)).toFixed(0).padStart(5)} MB/s  ${(entries / (ms / 1000)).toFixed(0).padStart(6)} entries/s`);
}

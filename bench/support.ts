// What every benchmark measures with: wall time of a step, medians, and the
// settling that puts both peers in the same state before a timed step.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Milliseconds `fn` took, on the monotonic clock. */
export function timed(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The middle value (the upper one of an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/**
 * Waits until a wharfd under `root` has finished deleting the files of removed
 * snapshots (it does so after answering an rmi): every directory in its
 * snapshot store has its record again.
 */
export async function snapshotsSettled(root: string, timeoutMs = 120_000): Promise<void> {
  const dir = join(root, "data", "snapshots");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = existsSync(dir) ? readdirSync(dir).filter((id) => /^\d+$/.test(id) && !existsSync(join(dir, id, "snapshot.json"))) : [];
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${dir}: ${pending.length} removed snapshot(s) still being deleted after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Writes back dirty data and drops the kernel's caches, so that the step that
 * follows starts from the same state whichever peer ran before it.
 *
 * On ext4 without a journal (this machine's root filesystem) every new inode
 * is checked against inode-table blocks still cached from recent deletions;
 * right after a peer deleted ~10,000 files, creating as many costs 2-5 s of
 * system time in any process (GNU tar too) instead of ~0.3 s. Without the drop
 * a step pays for whatever the step before it deleted.
 */
export function dropCaches(): void {
  execFileSync("sync");
  writeFileSync("/proc/sys/vm/drop_caches", "3\n");
}

function cpuTimes(): { idle: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
}

/**
 * Waits until the CPUs were at least `idle` idle over a 250 ms window (at
 * most `timeoutMs`), so that a timed step does not share the cores with work
 * the peer before it left going (a daemon still settling its containers).
 * Returns the milliseconds waited.
 */
export function quiet(idle = 0.9, timeoutMs = 15_000): number {
  const start = Date.now();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const a = cpuTimes();
    Atomics.wait(pause, 0, 0, 250);
    const b = cpuTimes();
    const share = (b.idle - a.idle) / Math.max(1, b.total - a.total);
    if (share >= idle || Date.now() - start > timeoutMs) return Date.now() - start;
  }
}

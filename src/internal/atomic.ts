// Durable writes: temp file → fsync → rename → fsync directory, so a crash
// leaves either the old file or the new one, never a torn one. The whole
// sequence is one job of the native addon on the thread pool.
import { open, mkdir } from "node:fs/promises";
import { dirname, join, basename } from "node:path";
import { randomBytes } from "node:crypto";
import { sys } from "./sys.js";

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

export interface AtomicWriteOptions {
  readonly mode?: number;
  readonly mkdir?: boolean;
  /**
   * false for state that describes what does not outlive the machine (a
   * running process, a network namespace): the write is still atomic (a crash
   * of the daemon leaves the old file or the new one) but is not synced, as a
   * power loss takes what it describes with it.
   */
  readonly durable?: boolean;
  /**
   * The file exists and this write replaces it: its data is synced, its
   * directory is not, so a power loss leaves the old version or the new one
   * (the rename is in the journal or it is not), never neither.
   */
  readonly replaces?: boolean;
}

const SYNC_FILE = 1;
const SYNC_DIR = 2;

export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  if (options.mkdir) await mkdir(dirname(path), { recursive: true });
  const durable = options.durable ?? true;
  const flags = durable ? SYNC_FILE | (options.replaces ? 0 : SYNC_DIR) : 0;
  const bytes = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  await sys().writeFileAtomic(path, tempName(path), bytes, options.mode ?? 0o644, flags);
}

export async function writeJsonAtomic(path: string, value: unknown, options: Omit<AtomicWriteOptions, "mode"> = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value), options);
}

// Durable writes: temp file → fsync → rename → fsync directory, so a crash
// leaves either the old file or the new one, never a torn one.
import { open, rename, rm, mkdir } from "node:fs/promises";
import { dirname, join, basename } from "node:path";
import { randomBytes } from "node:crypto";

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

export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number; mkdir?: boolean } = {}): Promise<void> {
  if (options.mkdir) await mkdir(dirname(path), { recursive: true });
  const tmp = tempName(path);
  const fh = await open(tmp, "wx", options.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}

export async function writeJsonAtomic(path: string, value: unknown, options: { mkdir?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value), options);
}

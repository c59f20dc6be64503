// Small file operations used on hot paths.
import { stat, unlink } from "node:fs/promises";
import { errnoCode } from "./errors.js";

/** Removes a file (never a directory) if it is there: one unlink, where `rm({force})` costs an lstat first. */
export async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
  }
}

/** Whether something is at `path` that this process can reach (any failure to stat it: no). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

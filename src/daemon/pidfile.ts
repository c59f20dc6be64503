// The pid file and the socket files: what keeps two daemons off the same data
// and what a crashed daemon leaves behind.
import { lstat, mkdir, open, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { errnoCode, wharfError } from "../internal/index.js";

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}

export interface Pidfile {
  readonly path: string;
  /** Removes the file if it still names this process. */
  release(): Promise<void>;
}

/**
 * Writes this process's pid, refusing when the file names a live process.
 * A stale file (dead pid, garbage) is replaced; the exclusive create means
 * two daemons starting at once cannot both win.
 */
export async function acquirePidfile(path: string, pid = process.pid): Promise<Pidfile> {
  let previous: string | undefined;
  try {
    previous = await readFile(path, "utf8");
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw wharfError("internal", `reading pid file ${path}: ${(e as Error).message}`, e);
  }
  if (previous !== undefined) {
    const other = Number(previous.trim());
    if (Number.isInteger(other) && other > 0 && other !== pid && processAlive(other)) {
      throw wharfError("conflict", `pid file found, ensure wharfd is not running or delete ${path} (process ${other} is alive)`);
    }
    await rm(path, { force: true });
  }
  await mkdir(dirname(path), { recursive: true });
  let fh;
  try {
    fh = await open(path, "wx", 0o644);
  } catch (e) {
    if (errnoCode(e) === "EEXIST") throw wharfError("conflict", `pid file ${path} was created by another wharfd starting at the same time`);
    throw wharfError("internal", `creating pid file ${path}: ${(e as Error).message}`, e);
  }
  try {
    await fh.writeFile(String(pid));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return {
    path,
    async release() {
      const now = await readFile(path, "utf8").catch(() => undefined);
      if (now?.trim() === String(pid)) await rm(path, { force: true });
    },
  };
}

/** Whether something accepts connections on a unix socket. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const done = (answer: boolean) => {
      s.destroy();
      resolve(answer);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/**
 * Makes `path` free for a new socket: a socket nobody answers on is what a
 * crashed daemon left and is removed; a live one, or any other file, is refused.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw wharfError("internal", `checking socket ${path}: ${(e as Error).message}`, e);
  }
  if (!st.isSocket()) throw wharfError("conflict", `cannot listen on ${path}: the path exists and is not a socket`);
  if (await socketAnswers(path)) throw wharfError("conflict", `cannot listen on ${path}: another daemon is serving it`);
  await rm(path, { force: true });
}

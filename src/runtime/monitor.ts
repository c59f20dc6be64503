// The container monitor: conmon, one per container and per exec session. It
// runs the OCI runtime's create (or exec), holds the process's stdio, writes
// every output line to the log file, serves the attach socket (stdin) and the
// control fifo (terminal size, log reopen), and writes the exit code to a file
// when the process ends. It double-forks, so it is never wharfd's child and
// the container outlives the daemon.
//
// Lifecycle: spawnMonitor → (container: runtime start) → the process runs →
// conmon writes `<exitDir>/<id>` (and `<persistDir>/exit`, `oom`) → the
// engine reads them, from a watch while it runs or at its next start.
import { Socket } from "node:net";
import { closeSync, constants as fsConstants, openSync, readFileSync, write as fsWrite } from "node:fs";
import { basename, dirname } from "node:path";
import { open, readFile } from "node:fs/promises";
import { asWharfError, errnoCode, runProgram, sys, wharfError, type ProgramResult, type WharfError } from "../internal/index.js";
import type { StartGate } from "./gate.js";
import type { Runc } from "./runc.js";

export interface MonitorOptions {
  readonly conmon: string;
  readonly runtime: Runc;
  /** The container's id in the runtime. */
  readonly containerId: string;
  /** The session's id: the container id, or the exec id. */
  readonly sessionId: string;
  /** Where the runtime finds config.json; conmon's attach socket and fifos are made here too. */
  readonly bundle: string;
  readonly pidFile: string;
  readonly conmonPidFile: string;
  /** conmon writes `<exitDir>/<containerId>` with the exit code. */
  readonly exitDir: string;
  /** conmon writes `exit` and `oom` here. */
  readonly persistDir?: string;
  readonly logPath: string;
  /** Bytes after which conmon starts the log over: the last resort when nobody rotates it. */
  readonly logSizeMax?: number;
  readonly terminal: boolean;
  readonly stdin: boolean;
  /** Keep the process's stdin open when the attached client leaves (no StdinOnce). */
  readonly leaveStdinOpen?: boolean;
  /** For an exec session: the process spec (JSON file) to run in the container. */
  readonly execProcessSpec?: string;
  /** For a container: the gate its create waits at until the bundle is ready (see gate.ts). */
  readonly gate?: StartGate;
}

export interface MonitorStarted {
  /** The process's pid on the host. */
  readonly pid: number;
  /** For an exec session: resolves with its exit code once it ends (only while this daemon runs). */
  readonly exited?: Promise<number>;
}

interface SyncMessage {
  readonly data: number;
  readonly message?: string;
}

function conmonArgs(o: MonitorOptions): string[] {
  const args = [
    "--api-version", "1",
    "-c", o.containerId,
    "-u", o.sessionId,
    "-r", o.gate ? o.gate.binary : o.runtime.binary,
    "-b", o.bundle,
    "-p", o.pidFile,
    "-n", o.containerId,
    "--exit-dir", o.exitDir,
    "-l", `k8s-file:${o.logPath}`,
    "--full-attach",
    "--socket-dir-path", o.bundle,
    "--conmon-pidfile", o.conmonPidFile,
    "--log-level", "error",
    "--syslog",
  ];
  if (o.persistDir) args.push("--persist-dir", o.persistDir);
  if (o.logSizeMax && o.logSizeMax > 0) args.push("--log-size-max", String(o.logSizeMax));
  if (o.terminal) args.push("-t");
  if (o.stdin) args.push("-i");
  if (o.leaveStdinOpen) args.push("--leave-stdin-open");
  if (o.execProcessSpec) args.push("-e", "--exec-process-spec", o.execProcessSpec);
  for (const a of o.runtime.globalArgs) args.push("--runtime-arg", a);
  return args;
}

/** What the runtime said when it could not run the process, made into docker's classes of failure. */
export function monitorFailure(action: string, message: string): WharfError {
  const detail = message.trim() || "the runtime failed without a message";
  return wharfError("unavailable", `${action}: ${detail}`);
}

/**
 * Starts conmon and waits until the runtime created the container (or
 * started the exec process): resolves with its pid, rejects with the
 * runtime's message.
 */
export function spawnMonitor(o: MonitorOptions): Promise<MonitorStarted> {
  const action = o.execProcessSpec ? `exec in container ${o.containerId}` : `create container ${o.containerId}`;
  return new Promise<MonitorStarted>((resolve, reject) => {
    // conmon reports on its fd 3: the runtime's pid (or failure), and for an exec its exit code.
    const [readEnd, writeEnd] = sys().pipe();
    let launched: Promise<ProgramResult>;
    try {
      launched = runProgram(o.conmon, conmonArgs(o), {
        fds: [writeEnd],
        detached: true,
        capture: false,
        // Anything conmon writes by a relative path lands in the bundle, never in the daemon's directory.
        cwd: o.bundle,
        env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", _OCI_SYNCPIPE: "3", ...o.gate?.env(o.runtime.binary) },
        timeoutMs: 60_000,
      });
    } finally {
      closeSync(writeEnd);
    }
    const sync = new Socket({ fd: readEnd, readable: true, writable: false });
        let buffered = "";
    let started = false;
    let exitResolve: ((code: number) => void) | undefined;
    let exitReject: ((e: unknown) => void) | undefined;
    const exited = o.execProcessSpec
      ? new Promise<number>((res, rej) => {
          exitResolve = res;
          exitReject = rej;
        })
      : undefined;
    exited?.catch(() => {});
    // conmon's first process leaves once its monitor runs on: only a failure to start it matters here.
    launched.catch((e: unknown) => {
      if (started) return;
      started = true;
      sync.destroy();
      reject(asWharfError(e, `${action}: starting ${o.conmon}`));
    });
    const onMessage = (m: SyncMessage): void => {
      if (!started) {
        started = true;
        if (m.data < 0) {
          sync.destroy();
          reject(monitorFailure(action, m.message ?? ""));
          return;
        }
        resolve(exited ? { pid: m.data, exited } : { pid: m.data });
        if (!exited) sync.destroy();
        return;
      }
      if (m.data < 0) exitReject?.(monitorFailure(action, m.message ?? ""));
      else exitResolve?.(m.data);
      sync.destroy();
    };
    sync.setEncoding("utf8");
    sync.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        try {
          onMessage(JSON.parse(line) as SyncMessage);
        } catch {
          // conmon only writes JSON here; anything else is noise
        }
      }
    });
    sync.on("error", () => {});
    sync.on("close", () => {
      if (!started) {
        started = true;
        reject(monitorFailure(action, `the monitor ended before the runtime reported (${buffered.trim() || "no message"})`));
      } else {
        exitReject?.(wharfError("unavailable", `${action}: the monitor ended without an exit code`));
      }
    });
  });
}

/** Whether a process is alive (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}

/** The pid in a pid file; undefined when absent or empty. */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, "utf8")).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw asWharfError(e, `reading ${path}`);
  }
}

/**
 * The exit code conmon wrote; undefined while the process runs. Read at once
 * on the calling thread: a few bytes in the exec root (a tmpfs), where a
 * trip to the thread pool and back would cost an exit ~1 ms under load.
 */
export async function readExitFile(path: string): Promise<number | undefined> {
  try {
    const text = readFileSync(path, "utf8").trim();
    const n = Number(text);
    return text !== "" && Number.isInteger(n) ? n : undefined;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw asWharfError(e, `reading ${path}`);
  }
}

/**
 * A session's control fifo: `1 h w` resizes the terminal, `2 0 0` makes
 * conmon reopen its log file (after the engine rotated it). Writing never
 * blocks: a fifo nobody reads (the monitor is gone) is an error.
 */
export async function sendControl(ctlPath: string, message: "resize" | "reopen-log", size?: { height: number; width: number }): Promise<void> {
  const line = message === "resize" ? `1 ${size?.height ?? 24} ${size?.width ?? 80}\n` : "2 0 0\n";
  let handle;
  try {
    // Never a blocking open: with conmon gone (the process just ended) it
    // would wait forever and hold a thread of the pool that every file
    // operation of the daemon shares. Without a reader this fails at once.
    handle = await open(ctlPath, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    const code = errnoCode(e);
    if (code === "ENXIO" || code === "ENOENT") throw wharfError("conflict", `the container's monitor is gone: ${ctlPath}`);
    throw asWharfError(e, `control fifo ${ctlPath}`);
  }
  try {
    await handle.write(line);
  } finally {
    await handle.close();
  }
}

/**
 * The write end of a session's stdin, through conmon's attach socket.
 * Closing it closes the process's stdin (unless conmon was told to keep it).
 */
export class StdinWriter {
  #fd: number | undefined;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static connect(attachSocket: string): StdinWriter {
    // A unix socket path holds at most 107 bytes, and a bundle under a deep
    // exec root is longer: connect through the directory's descriptor.
    let dir: number | undefined;
    try {
      dir = openSync(dirname(attachSocket), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
      return new StdinWriter(sys().seqpacketConnect(`/proc/self/fd/${dir}/${basename(attachSocket)}`));
    } catch (e) {
      throw asWharfError(e, `attach to ${attachSocket}`);
    } finally {
      if (dir !== undefined) closeSync(dir);
    }
  }

  /**
   * Writes all of `chunk` in packets conmon reads whole (it reads 8 KiB at a
   * time). The socket blocks when the process does not read its stdin, so
   * writes run on the thread pool, never on the event loop. Writes and the
   * close run one after another: the descriptor is never closed under a
   * write in flight. A process that has gone makes the rest a no-op.
   */
  write(chunk: Uint8Array): Promise<void> {
    const next = this.#tail.then(() => this.#writeNow(chunk));
    this.#tail = next.catch(() => {});
    return next;
  }

  /** Closes the stream once the writes before it are done. */
  close(): Promise<void> {
    const next = this.#tail.then(() => this.#closeNow());
    this.#tail = next;
    return next;
  }

  #tail: Promise<void> = Promise.resolve();

  async #writeNow(chunk: Uint8Array): Promise<void> {
    for (let off = 0; off < chunk.length; off += 8192) {
      const fd = this.#fd;
      if (fd === undefined) return;
      const part = chunk.subarray(off, Math.min(chunk.length, off + 8192));
      try {
        await new Promise<void>((resolve, reject) => fsWrite(fd, part, (err) => (err ? reject(err) : resolve())));
      } catch (e) {
        if (errnoCode(e) === "EPIPE" || errnoCode(e) === "ECONNRESET") {
          this.#closeNow();
          return;
        }
        throw asWharfError(e, "write to the container's stdin");
      }
    }
  }

  #closeNow(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // already gone
    }
    this.#fd = undefined;
  }
}

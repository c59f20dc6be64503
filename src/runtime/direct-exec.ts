// Direct exec: a process without a terminal run in a running runc container
// by wharf's own helper (native/wharf_exec.c) instead of conmon + `runc exec`.
// The helper joins what `runc exec` joins (the init's namespaces through a
// pidfd, its cgroups, a session keyring of the container's) and sets up what
// it sets up, in its order (rlimits, oom_score_adj, no_new_privs, the
// container's seccomp programs, bounding set, user, groups, capabilities,
// working directory), then execs the program found on the process's PATH.
// The seccomp programs are the very ones runc loaded into the container's
// init, read from it (ptrace) while it waits to be started.
//
// The process's stdout and stderr come through the helper, which copies them
// to the daemon while the daemon is there and drops them if it goes, so the
// process outlives a daemon that dies; its exit comes as a status line.
// Anything the helper does not do (a terminal, a user namespace, AppArmor or
// SELinux labels, a umask, seccomp flags) leaves the exec to the runtime.
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import type { Readable, Writable } from "node:stream";
import { nativeFile, sys, wharfError } from "../internal/index.js";
import type { LinuxSeccomp, RuntimeProcess } from "../oci/index.js";
import { ALL_CAPABILITIES } from "./caps.js";
import type { LogEntry } from "./logs.js";
import type { JoinTarget } from "./runc.js";

/** The file in a container's bundle that holds its init's seccomp programs, as captureSeccomp read them. */
export const SECCOMP_FILE = "seccomp.bpf";

/** Where a process's stdin goes: conmon's attach socket, or a pipe. */
export interface ProcessStdin {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface DirectExecPlan {
  readonly containerId: string;
  readonly target: JoinTarget;
  readonly process: RuntimeProcess;
  /** The container's seccomp programs as captureSeccomp wrote them; absent when it runs without seccomp. */
  readonly seccompFile?: string;
  readonly stdin: boolean;
}

export interface DirectProcess {
  /** The process's pid on the host. */
  readonly pid: number;
  readonly output: AsyncIterable<LogEntry>;
  readonly stdin: ProcessStdin | undefined;
  /** Its exit code, 128 + signal for a signal. */
  readonly exited: Promise<number>;
}

/** A process that could not start: docker's exit code for it (126, 127) and the runtime's words. */
export class ExecStartFailure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

const NAMESPACE_FLAGS: Readonly<Record<string, number>> = {
  NEWNS: 0x00020000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
};

/** Linux's generic rlimit numbers (every architecture wharf runs on). */
const RLIMITS: Readonly<Record<string, number>> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5, RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10, RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

const GENERIC_RLIMIT_ARCHES = new Set(["x64", "ia32", "arm", "arm64", "ppc64", "s390x", "riscv64"]);

/**
 * Why a process in a container made from `seccomp` cannot be run directly;
 * undefined when it can. Then the runtime's own exec runs it.
 */
export function directExecBlocker(process: RuntimeProcess, target: JoinTarget, seccomp: LinuxSeccomp | undefined): string | undefined {
  if (process.terminal) return "a terminal";
  if (target.namespaces.some((n) => NAMESPACE_FLAGS[n] === undefined)) return "a user namespace";
  if (process.apparmorProfile || process.selinuxLabel) return "a security label";
  if (process.user.umask !== undefined) return "a umask";
  if (seccomp && ((seccomp.flags?.length ?? 0) > 0 || (seccomp as { listenerPath?: string }).listenerPath)) return "seccomp flags";
  if ((process.rlimits ?? []).some((r) => RLIMITS[r.type] === undefined) || !GENERIC_RLIMIT_ARCHES.has(globalThis.process.arch)) return "an rlimit";
  const caps = process.capabilities ?? {};
  for (const set of [caps.bounding, caps.effective, caps.permitted, caps.inheritable, caps.ambient]) {
    if ((set ?? []).some((c) => !(ALL_CAPABILITIES as readonly string[]).includes(c))) return "an unknown capability";
  }
  return undefined;
}

function capMask(names: readonly string[] | undefined): string {
  let mask = 0n;
  for (const n of names ?? []) mask |= 1n << BigInt((ALL_CAPABILITIES as readonly string[]).indexOf(n));
  return mask.toString(16);
}

/** The helper's plan: NUL-separated fields (see native/wharf_exec.c). */
export function encodePlan(plan: DirectExecPlan): Buffer {
  const p = plan.process;
  const t = plan.target;
  const fields: string[] = ["pid", String(t.pid), "start", String(t.start)];
  fields.push("ns", String(t.namespaces.reduce((flags, n) => flags | NAMESPACE_FLAGS[n]!, 0)));
  for (const dir of t.cgroupDirs) fields.push("cgroup", `${dir}/cgroup.procs`);
  if (p.oomScoreAdj !== undefined) fields.push("oom", String(p.oomScoreAdj));
  for (const r of p.rlimits ?? []) fields.push("rlimit", String(RLIMITS[r.type]), BigInt(r.soft).toString(), BigInt(r.hard).toString());
  fields.push("nnp", p.noNewPrivileges ? "1" : "0", "uid", String(p.user.uid), "gid", String(p.user.gid));
  for (const g of p.user.additionalGids ?? []) fields.push("group", String(g));
  const c = p.capabilities ?? {};
  fields.push("caps", capMask(c.bounding), capMask(c.effective), capMask(c.permitted), capMask(c.inheritable), capMask(c.ambient));
  if (plan.seccompFile) fields.push("seccomp", plan.seccompFile);
  // runc's name for the session keyring of a container's processes.
  fields.push("keyring", `_ses.${plan.containerId}`, "cwd", p.cwd);
  for (const e of p.env) fields.push("env", e);
  for (const a of p.args) fields.push("arg", a);
  for (const f of fields) if (f.includes("\0")) throw wharfError("invalid-argument", `exec: a NUL byte in ${JSON.stringify(f.slice(0, 40))}`);
  return Buffer.from(`${fields.join("\0")}\0`);
}

let ownFilters: Promise<number> | undefined;

/** How many seccomp programs this daemon runs under (inherited by every process it starts). */
function ownFilterCount(): Promise<number> {
  ownFilters ??= readFile("/proc/self/status", "utf8").then(
    (text) => Number(/^Seccomp_filters:\s*(\d+)$/m.exec(text)?.[1] ?? "0"),
    () => 0,
  );
  return ownFilters;
}

/**
 * The seccomp programs runc loaded into a container's init, read while the
 * init waits to be started; undefined when the kernel will not tell, or when
 * none is there yet (with no_new_privs runc loads them after that wait).
 */
export async function captureSeccomp(pid: number): Promise<Buffer | undefined> {
  const filters = await sys().seccompFilters(pid, await ownFilterCount());
  return filters && filters.length > 0 ? filters : undefined;
}

let helperFd: number | undefined;

/** The helper, run from a sealed copy: nothing in a container can write to what it executes. */
function helperPath(): string {
  helperFd ??= sys().sealedCopy(nativeFile("wharf-exec"));
  return `/proc/${process.pid}/fd/${helperFd}`;
}

/** Starts the process; rejects with ExecStartFailure when it could not start. */
export function startDirect(plan: DirectExecPlan): Promise<DirectProcess> {
  const encoded = encodePlan(plan);
  const child = spawn(helperPath(), [], {
    argv0: "wharf-exec",
    stdio: [plan.stdin ? "pipe" : "ignore", "pipe", "pipe", "pipe", "pipe"],
    env: {},
  });
  const planPipe = child.stdio[3] as Writable;
  const statusPipe = child.stdio[4] as Readable;
  planPipe.on("error", () => {});
  planPipe.end(encoded);
  // The helper's `exit` line comes when the program ends; the helper itself
  // ends once the program's output has (a background child may hold it).
  let reportExit: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    reportExit = resolve;
    child.on("exit", (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    child.on("error", () => resolve(126));
  });
  const output = outputOf(child, exited);
  return new Promise<DirectProcess>((resolve, reject) => {
    let status = "";
    let settled = false;
    const settle = (line: string): void => {
      if (settled) return;
      settled = true;
      const ok = /^ok (\d+)$/.exec(line);
      if (ok) {
        resolve({ pid: Number(ok[1]), output, stdin: plan.stdin && child.stdin ? pipeStdin(child.stdin) : undefined, exited });
        return;
      }
      const err = /^error (\d+) (.*)$/.exec(line);
      child.stdin?.destroy();
      reject(new ExecStartFailure(err ? Number(err[1]) : 126, err ? err[2]! : `the exec helper ended without a status${line ? `: ${line}` : ""}`));
    };
    statusPipe.setEncoding("utf8");
    statusPipe.on("data", (chunk: string) => {
      status += chunk;
      for (let nl = status.indexOf("\n"); nl >= 0; nl = status.indexOf("\n")) {
        const line = status.slice(0, nl);
        status = status.slice(nl + 1);
        const exit = settled ? /^exit (\d+)$/.exec(line) : null;
        if (exit) reportExit(Number(exit[1]));
        settle(line);
      }
    });
    statusPipe.on("error", () => {});
    statusPipe.on("close", () => settle(status.trim()));
    child.on("error", (e) => settle(`error 126 ${e.message}`));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (osConstants.signals[signal] ?? 0) : 0;
}

/** How long output may still come once the process has exited (a background child holding its pipes is cut). */
const DRAIN_MS = 200;

/**
 * The process's stdout and stderr as entries in the order they come, until
 * both end. Listening starts at once, not at the first read: a process that
 * is done before its reader comes loses nothing.
 */
function outputOf(child: ChildProcess, exited: Promise<number>): AsyncIterable<LogEntry> {
  const streams: Array<[Readable, LogEntry["stream"]]> = [
    [child.stdout!, "stdout"],
    [child.stderr!, "stderr"],
  ];
  const queue: LogEntry[] = [];
  let open = streams.length;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  for (const [stream, name] of streams) {
    stream.on("data", (data: Buffer) => {
      queue.push({ stream: name, timeNs: BigInt(Date.now()) * 1_000_000n, data, full: data[data.length - 1] === 0x0a });
      if (queue.length > 64) for (const [s] of streams) s.pause();
      poke();
    });
    stream.on("close", () => {
      open--;
      poke();
    });
    stream.on("error", () => {});
  }
  void exited.then(() => {
    setTimeout(() => {
      for (const [s] of streams) s.destroy();
    }, DRAIN_MS).unref();
  });
  return (async function* () {
    try {
      for (;;) {
        while (queue.length > 0) {
          const e = queue.shift()!;
          if (queue.length < 16) for (const [s] of streams) if (!s.destroyed) s.resume();
          yield e;
        }
        if (open === 0) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      for (const [s] of streams) s.destroy();
    }
  })();
}

function pipeStdin(stdin: Writable): ProcessStdin {
  stdin.on("error", () => {});
  return {
    write: (chunk) =>
      new Promise<void>((resolve) => {
        if (stdin.destroyed || stdin.writableEnded) return resolve();
        // A process that stopped reading makes the rest a no-op, as conmon's socket does.
        if (stdin.write(chunk)) resolve();
        else stdin.once("drain", resolve).once("close", resolve);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (stdin.destroyed || stdin.writableEnded) return resolve();
        stdin.end(resolve);
      }),
  };
}

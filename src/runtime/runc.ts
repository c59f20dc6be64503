// The OCI runtime binary (runc by default, any runc-compatible one by
// `--runtime`), driven through its command line with its state under our own
// `--root`. Each call is one short-lived process; its stderr becomes the
// error's detail, with runc's log prefix stripped.
import { readFileSync } from "node:fs";
import { access, readFile, rm, rmdir } from "node:fs/promises";
import { errnoCode, failureDetail, resolveProgram, runProgram, sys, wharfError, type WharfError } from "../internal/index.js";

export interface RuntimeState {
  readonly id: string;
  readonly pid: number;
  /** `creating`, `created`, `running`, `paused`, `stopped`. */
  readonly status: string;
  readonly bundle: string;
}

/** A running container as a process joins it: see Runc.joinTarget. */
export interface JoinTarget {
  readonly pid: number;
  /** The init's start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  readonly start: number;
  /** runc's names: NEWPID, NEWNS, NEWNET, NEWIPC, NEWUTS, NEWCGROUP, NEWUSER. */
  readonly namespaces: readonly string[];
  /** The cgroup directories, one per hierarchy, without repeats. */
  readonly cgroupDirs: readonly string[];
}

/** runc's state.json → JoinTarget; undefined for anything unexpected. */
export function parseJoinTarget(state: unknown): JoinTarget | undefined {
  if (typeof state !== "object" || state === null) return undefined;
  const s = state as Record<string, unknown>;
  const pid = s["init_process_pid"];
  const start = s["init_process_start"];
  const config = s["config"] as Record<string, unknown> | undefined;
  const paths = s["cgroup_paths"];
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0 || typeof start !== "number" || typeof config !== "object" || config === null) return undefined;
  if (typeof paths !== "object" || paths === null) return undefined;
  const nss = config["namespaces"];
  if (!Array.isArray(nss)) return undefined;
  const namespaces: string[] = [];
  for (const n of nss) {
    const type = (n as Record<string, unknown> | null)?.["type"];
    if (typeof type !== "string") return undefined;
    namespaces.push(type);
  }
  const dirs = new Set<string>();
  for (const v of Object.values(paths as Record<string, unknown>)) {
    if (typeof v !== "string" || !v.startsWith("/")) return undefined;
    dirs.add(v);
  }
  return { pid, start, namespaces, cgroupDirs: [...dirs] };
}

export interface RuntimeStats {
  readonly cpu?: { usage?: { total?: number; percpu?: number[]; kernel?: number; user?: number }; throttling?: Record<string, number> };
  readonly memory?: { usage?: { usage?: number; max?: number; limit?: number; failcnt?: number }; cache?: number; raw?: Record<string, number> };
  readonly pids?: { current?: number; limit?: number };
  readonly blkio?: Record<string, { major: number; minor: number; op: string; value: number }[] | undefined>;
  readonly network_interfaces?: unknown;
}

/** The part of runc's message worth showing: `time="…" level=error msg="X"` → X. */
export function runtimeMessage(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  const msgs = lines.map((l) => {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(l);
    return m ? m[1]!.replace(/\\"/g, '"').replace(/\\\\/g, "\\") : l.replace(/^ERRO\[\d+\]\s*/, "");
  });
  return msgs.join("; ");
}

/** The absolute path of a command, searched in PATH as a shell would; the name itself when not found. */
export function which(command: string): string {
  try {
    return resolveProgram(command);
  } catch {
    return command;
  }
}

/** How long a start waits for a created container's init to reach its exec FIFO. */
const START_WAIT_MS = 30_000;

export class Runc {
  readonly binary: string;

  constructor(
    /** The runtime binary: a path, or a name looked up in PATH. */
    binary: string,
    /** Its state directory (`--root`), under wharf's exec root. */
    readonly root: string,
  ) {
    // conmon wants an absolute path.
    this.binary = which(binary);
    this.#startsByFifo = this.binary.slice(this.binary.lastIndexOf("/") + 1) === "runc";
  }

  /** runc itself (not another runtime, nor a wrapper): its start is reading the exec FIFO. */
  readonly #startsByFifo: boolean;

  /** Whether this is runc itself, whose state (`<root>/<id>/state.json`) wharf reads for a direct exec. */
  get isRunc(): boolean {
    return this.#startsByFifo;
  }

  /**
   * What joining a running container takes, from runc's state: its init
   * (pid and start time), the namespaces it was made with, and the cgroup
   * directories it runs in. undefined when runc keeps no such state (not
   * runc, not running, a format this code does not know).
   */
  async joinTarget(id: string): Promise<JoinTarget | undefined> {
    if (!this.#startsByFifo) return undefined;
    let state: unknown;
    try {
      state = JSON.parse(await readFile(`${this.root}/${id}/state.json`, "utf8"));
    } catch {
      return undefined;
    }
    return parseJoinTarget(state);
  }

  /** Arguments for the runtime that every call (and conmon's calls) carries. */
  get globalArgs(): string[] {
    return ["--root", this.root];
  }

  async #run(args: readonly string[], action: string, options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    let r;
    try {
      r = await runProgram(this.binary, [...this.globalArgs, ...args], { ...(options.input !== undefined ? { input: options.input } : {}), timeoutMs: options.timeoutMs ?? 60_000 });
    } catch (e) {
      throw classify(action, e instanceof Error ? e.message : String(e));
    }
    if (r.status !== 0) throw classify(action, runtimeMessage(r.stderr.toString("utf8")) || failureDetail(r));
    return r.stdout.toString("utf8");
  }

  /**
   * Lets a created container's process run. A created runc container's init
   * waits to open its exec FIFO for writing; `runc start` reads that FIFO
   * and removes it. Doing the same here saves starting the runtime's binary
   * (~10 ms). Any other runtime, and a runc whose state holds no such
   * FIFO, gets its own `start`.
   * `pid` is the init's: should it die before it opens its end, the wait ends.
   * One job on the thread pool (`sys().releaseInit`) instead of six file operations.
   */
  async start(id: string, pid?: number): Promise<void> {
    if (!(await this.#release(id, pid ?? 0))) await this.#run(["start", id], `start container ${id}`);
  }

  /**
   * Lets the process of a created container run when it still waits at its
   * start; nothing for one that runs (or a runtime that keeps no exec FIFO).
   */
  async startHeld(id: string, pid: number): Promise<void> {
    await this.#release(id, pid);
  }

  /** Reads runc's exec FIFO (see start); false, and nothing done, when there is none. */
  async #release(id: string, pid: number): Promise<boolean> {
    if (!this.#startsByFifo) return false;
    const action = `start container ${id}`;
    let read: number;
    try {
      // The FIFO's open, read and removal in one trip to the thread pool (the init usually waits there already).
      read = await sys().releaseInit(`${this.root}/${id}/exec.fifo`, pid, START_WAIT_MS);
    } catch (e) {
      if (errnoCode(e) === "ESRCH") throw classify(action, "container process is already dead");
      throw classify(action, (e as Error).message);
    }
    if (read === 0) throw classify(action, "container process is already dead");
    return read > 0;
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    await this.#run(["kill", ...(all ? ["--all"] : []), id, String(signal)], `kill container ${id}`);
  }

  /** undefined when the runtime does not know the container. */
  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      const out = await this.#run(["state", id], `state of container ${id}`);
      return JSON.parse(out) as RuntimeState;
    } catch (e) {
      if ((e as WharfError).kind === "not-found") return undefined;
      throw e;
    }
  }

  /** Whether the runtime keeps state for `id` (runc and crun: a `<root>/<id>` directory): what `delete` would act on. */
  async hasState(id: string): Promise<boolean> {
    try {
      await access(`${this.root}/${id}`);
      return true;
    } catch {
      return false;
    }
  }

  async delete(id: string, force = false): Promise<void> {
    if (this.#startsByFifo && (await this.#deleteStopped(id))) return;
    try {
      await this.#run(["delete", ...(force ? ["--force"] : []), id], `delete container ${id}`);
    } catch (e) {
      if ((e as WharfError).kind !== "not-found") throw e;
    }
  }

  /**
   * What `runc delete` does for a container whose init is gone (a private pid
   * namespace ends with its init, so nothing of it runs): its cgroup
   * directories and its state go, without starting runc (~20 ms of CPU, at
   * every exit). false, and nothing done, when the init still runs, a cgroup
   * is busy or the state is not what this code knows: then runc deletes it.
   */
  async #deleteStopped(id: string): Promise<boolean> {
    const target = await this.joinTarget(id);
    if (!target || !target.namespaces.includes("NEWPID") || initRuns(target)) return false;
    for (const dir of target.cgroupDirs) {
      try {
        await rmdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") return false;
      }
    }
    await rm(`${this.root}/${id}`, { recursive: true, force: true });
    return true;
  }

  async pause(id: string): Promise<void> {
    await this.#run(["pause", id], `pause container ${id}`);
  }

  async resume(id: string): Promise<void> {
    await this.#run(["resume", id], `unpause container ${id}`);
  }

  /** The host pids of every process in the container. */
  async ps(id: string): Promise<number[]> {
    const out = await this.#run(["ps", "--format", "json", id], `list processes of container ${id}`);
    const pids = JSON.parse(out) as number[] | null;
    return pids ?? [];
  }

  async stats(id: string): Promise<RuntimeStats> {
    const out = await this.#run(["events", "--stats", id], `stats of container ${id}`);
    const event = JSON.parse(out) as { data?: RuntimeStats };
    return event.data ?? {};
  }

  /** Changes the resource limits of a running container; `resources` in the spec's shape, given on stdin. */
  async update(id: string, resources: object): Promise<void> {
    await this.#run(["update", "--resources", "-", id], `update container ${id}`, { input: JSON.stringify(resources) });
  }
}

/** Whether the init of a runc state still runs: alive, not a zombie, and started when the state says. */
function initRuns(t: JoinTarget): boolean {
  const st = procStat(t.pid);
  return st !== undefined && st.state !== "Z" && st.start === t.start;
}

/** A process's state letter and start time (fields 3 and 22 of /proc/<pid>/stat); undefined when it is gone. */
function procStat(pid: number): { state: string; start: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name (field 2) may hold spaces and parentheses: the fields after it start past its last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", start: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

function classify(action: string, detail: string): WharfError {
  if (/does not exist|not exist|container not found/i.test(detail)) return wharfError("not-found", `${action}: ${detail}`);
  if (/not running|is paused|is not paused|not paused|cannot (kill|start|pause)|container is stopped|already/i.test(detail)) return wharfError("precondition", `${action}: ${detail}`);
  return wharfError("unavailable", `${action}: ${detail}`);
}

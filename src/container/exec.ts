// Exec sessions: a second process in a running container, run by the OCI
// runtime's exec under its own conmon (so its output goes to its own log and
// its stdin through its own attach socket), with docker's exec config:
// Cmd, Env on top of the container's, User, WorkingDir, Tty, Privileged.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { asWharfError, wharfError } from "../internal/index.js";
import type { RuntimeProcess, RuntimeSpec } from "../oci/index.js";
import { checkWorkingDir, directExecBlocker, ExecStartFailure, hostBoundingCapabilities, resolveCapabilities, readLogs, resolveUser, SECCOMP_FILE, sendControl, spawnMonitor, startDirect, StdinWriter, type DirectExecPlan, type MonitorStarted, type DirectProcess, type LogEntry, type ProcessStdin, type Runc, cgroupLockCooled, warmCgroupLock } from "../runtime/index.js";
import type { ContainerEngine } from "./engine.js";
import type { ContainerRecord } from "./types.js";
import { readFilesInRoot } from "./files.js";

export interface ExecConfig {
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  DetachKeys: string;
  Tty: boolean;
  Env: string[];
  Cmd: string[];
  Privileged: boolean;
  User: string;
  WorkingDir: string;
}

export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user?: string };
  OpenStdin: boolean;
  OpenStderr: boolean;
  OpenStdout: boolean;
  CanRemove: boolean;
  ContainerID: string;
  DetachKeys: string;
  Pid: number;
}

interface Session {
  readonly id: string;
  readonly containerId: string;
  readonly config: ExecConfig;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  dir: string;
  createdAt: number;
}

/** What a started session gives its client: output to stream, stdin to feed, the exit to wait for. */
export interface ExecStream {
  readonly tty: boolean;
  readonly output: AsyncIterable<LogEntry>;
  readonly stdin: ProcessStdin | undefined;
  readonly exited: Promise<number>;
}

const MAX_SESSIONS_KEPT = 1000;

export class ExecManager {
  readonly #sessions = new Map<string, Session>();

  constructor(readonly engine: ContainerEngine) {}

  create(containerNameOrId: string, body: Record<string, unknown>): { Id: string } {
    const r = this.engine.get(containerNameOrId);
    if (!r.State.Running) throw wharfError("conflict", `Container ${r.Id} is not running`);
    if (r.State.Paused) throw wharfError("conflict", `Container ${r.Id} is paused, unpause the container before exec`);
    const cmd = body["Cmd"];
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((c) => typeof c !== "string")) throw wharfError("invalid-argument", "No exec command specified");
    const env = Array.isArray(body["Env"]) ? (body["Env"] as unknown[]).filter((e): e is string => typeof e === "string") : [];
    const wd = typeof body["WorkingDir"] === "string" ? body["WorkingDir"] : "";
    if (wd) checkWorkingDir(wd);
    const config: ExecConfig = {
      AttachStdin: body["AttachStdin"] === true,
      AttachStdout: body["AttachStdout"] === true,
      AttachStderr: body["AttachStderr"] === true,
      DetachKeys: typeof body["DetachKeys"] === "string" ? body["DetachKeys"] : "",
      Tty: body["Tty"] === true,
      Env: env,
      Cmd: cmd as string[],
      Privileged: body["Privileged"] === true,
      User: typeof body["User"] === "string" ? body["User"] : "",
      WorkingDir: wd,
    };
    // An exec without a terminal is usually the helper's, which moves itself into the
    // container's cgroups at its start: the lock is made ready now (see runtime/cgroup-lock).
    if (!config.Tty) warmCgroupLock();
    const id = randomBytes(32).toString("hex");
    this.#sessions.set(id, { id, containerId: r.Id, config, running: false, started: false, exitCode: null, pid: 0, dir: this.engine.paths.execDir(r.Id, id), createdAt: Date.now() });
    this.#trim();
    this.engine.events.publish("container", `exec_create: ${config.Cmd.join(" ")}`, r.Id, { execID: id, image: r.Config.Image, name: r.Name.slice(1) });
    return { Id: id };
  }

  #trim(): void {
    if (this.#sessions.size <= MAX_SESSIONS_KEPT) return;
    for (const [id, s] of this.#sessions) {
      if (!s.running) this.#sessions.delete(id);
      if (this.#sessions.size <= MAX_SESSIONS_KEPT) return;
    }
  }

  #get(id: string): Session {
    const s = this.#sessions.get(id);
    if (!s) throw wharfError("not-found", `No such exec instance: ${id}`);
    return s;
  }

  /** The ids of a container's sessions, for inspect's ExecIDs. */
  idsOf(containerId: string): string[] {
    return [...this.#sessions.values()].filter((s) => s.containerId === containerId && s.running).map((s) => s.id);
  }

  inspect(id: string): ExecInspect {
    const s = this.#get(id);
    const c = s.config;
    return {
      ID: s.id,
      Running: s.running,
      ExitCode: s.exitCode,
      ProcessConfig: { tty: c.Tty, entrypoint: c.Cmd[0]!, arguments: c.Cmd.slice(1), privileged: c.Privileged, ...(c.User ? { user: c.User } : {}) },
      OpenStdin: c.AttachStdin,
      OpenStderr: c.AttachStderr,
      OpenStdout: c.AttachStdout,
      CanRemove: false,
      ContainerID: s.containerId,
      DetachKeys: c.DetachKeys,
      Pid: s.pid,
    };
  }

  /** Starts the session's process; its output is followed from its log until it exits. */
  async start(id: string, options: { tty?: boolean; signal?: AbortSignal } = {}): Promise<ExecStream> {
    const s = this.#get(id);
    if (s.started) throw wharfError("conflict", `Error: Exec command ${id} has already run`);
    const r = this.engine.get(s.containerId);
    if (!r.State.Running) throw wharfError("conflict", `Container ${r.Id} is not running`);
    s.started = true;
    const runtime = this.engine.runtimes[r.HostConfig.Runtime] ?? this.engine.runtimes["runc"]!;
    const bundle = this.engine.paths.bundle(r.Id);
    const spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as RuntimeSpec;
    const rootfs = this.engine.paths.rootfs(r.Id);
    const c = s.config;
    const tty = options.tty ?? c.Tty;
    const process: RuntimeProcess = { ...spec.process, terminal: tty, args: [...c.Cmd] };
    if (c.User) {
      const [passwd, group] = await readFilesInRoot(rootfs, ["/etc/passwd", "/etc/group"]);
      const user = resolveUser(c.User, passwd, group);
      process.user = { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: [...user.additionalGids] } : {}) };
      process.env = process.env.map((e) => (e.startsWith("HOME=") ? `HOME=${user.home}` : e));
    }
    if (c.WorkingDir) process.cwd = c.WorkingDir;
    if (c.Env.length) {
      const env = new Map(process.env.map((e) => [e.split("=", 1)[0]!, e]));
      for (const e of c.Env) env.set(e.split("=", 1)[0]!, e);
      process.env = [...env.values()];
    }
    if (tty && !process.env.some((e) => e.startsWith("TERM="))) process.env.push("TERM=xterm");
    if (c.Privileged) {
      const all = resolveCapabilities({ privileged: true, bounding: await hostBoundingCapabilities() });
      process.capabilities = { bounding: all, effective: all, permitted: all };
    }
    delete process.consoleSize;
    const direct = await this.#direct(r.Id, runtime, bundle, spec, process);
    if (direct) {
      // The helper moves itself into the container's cgroups (see runtime/cgroup-lock).
      warmCgroupLock();
      return this.#startDirect(s, r, direct);
    }
    const nofile = process.rlimits?.find((l) => l.type === "RLIMIT_NOFILE");
    if (nofile && nofile.soft < nofile.hard) await cgroupLockCooled();
    await mkdir(join(s.dir, "exits"), { recursive: true, mode: 0o700 });
    const specPath = join(s.dir, "process.json");
    // Read once by the runtime, right now, and never again: no fsync needed.
    await writeFile(specPath, JSON.stringify(process), { mode: 0o600 });
    const logPath = join(s.dir, "exec.log");
    let started: MonitorStarted;
    try {
      started = await spawnMonitor({
        conmon: this.engine.conmonBinary,
        runtime,
        containerId: r.Id,
        sessionId: s.id,
        bundle: s.dir,
        pidFile: join(s.dir, "pid"),
        conmonPidFile: join(s.dir, "conmon.pid"),
        exitDir: join(s.dir, "exits"),
        // conmon writes its oom and exit marks here; without it, in its working directory.
        persistDir: s.dir,
        logPath,
        terminal: tty,
        stdin: c.AttachStdin,
        execProcessSpec: specPath,
      });
    } catch (e) {
      s.exitCode = 126;
      await rm(s.dir, { recursive: true, force: true }).catch(() => {});
      const message = asWharfError(e, `exec in ${r.Id}`).message;
      s.exitCode = /executable file not found|no such file or directory/i.test(message) ? 127 : 126;
      throw wharfError("invalid-argument", `OCI runtime exec failed: ${message}: unknown`);
    }
    const done = this.#running(s, r, started.pid, started.exited!);
    let stdin: StdinWriter | undefined;
    if (c.AttachStdin) {
      try {
        stdin = StdinWriter.connect(join(s.dir, "attach"));
      } catch {
        stdin = undefined;
      }
    }
    const output = readLogs(logPath, { follow: true, stopped: done, ...(options.signal ? { signal: options.signal } : {}) });
    // The session's files go once the process is gone and its output read.
    void done.then(() => sleepThenRemove(s.dir));
    return { tty, output, stdin, exited: done };
  }

  /** The plan for running the process with wharf's own helper; undefined when the runtime's exec must run it. */
  async #direct(containerId: string, runtime: Runc, bundle: string, spec: RuntimeSpec, process: RuntimeProcess): Promise<DirectExecPlan | undefined> {
    if (!runtime.isRunc || process.terminal) return undefined;
    const target = await runtime.joinTarget(containerId);
    if (!target || directExecBlocker(process, target, spec.linux.seccomp)) return undefined;
    const seccompFile = join(bundle, SECCOMP_FILE);
    // The programs runc loaded into the init, read at its start: without them the runtime's exec loads its own.
    if (spec.linux.seccomp && !(await stat(seccompFile).then((st) => st.isFile() && st.size > 0, () => false))) return undefined;
    return { containerId, target, process, stdin: false, ...(spec.linux.seccomp ? { seccompFile } : {}) };
  }

  async #startDirect(s: Session, r: ContainerRecord, plan: DirectExecPlan): Promise<ExecStream> {
    const c = s.config;
    let started: DirectProcess;
    try {
      started = await startDirect({ ...plan, stdin: c.AttachStdin });
    } catch (e) {
      s.exitCode = e instanceof ExecStartFailure ? e.exitCode : 126;
      s.running = false;
      const message = e instanceof ExecStartFailure ? e.message : asWharfError(e, `exec in ${r.Id}`).message;
      throw wharfError("invalid-argument", `OCI runtime exec failed: exec failed: ${message}: unknown`);
    }
    return { tty: false, output: started.output, stdin: started.stdin, exited: this.#running(s, r, started.pid, started.exited) };
  }

  /** A session whose process runs: its start and (once `exited` settles) its end are recorded and published; resolves with the exit code. */
  #running(s: Session, r: ContainerRecord, pid: number, exited: Promise<number>): Promise<number> {
    s.pid = pid;
    s.running = true;
    this.engine.events.publish("container", `exec_start: ${s.config.Cmd.join(" ")}`, r.Id, { execID: s.id, image: r.Config.Image, name: r.Name.slice(1) });
    const done = exited.then(
      (code) => code,
      () => 126,
    ).then((code) => {
      s.exitCode = code;
      s.running = false;
      this.engine.events.publish("container", "exec_die", r.Id, { execID: s.id, exitCode: String(code), image: r.Config.Image, name: r.Name.slice(1) });
      return code;
    });
    return done;
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const s = this.#get(id);
    if (!s.running) throw wharfError("conflict", `Exec ${id} is not running`);
    if (!s.config.Tty) return;
    await sendControl(join(s.dir, "ctl"), "resize", { height, width });
  }
}

async function sleepThenRemove(dir: string): Promise<void> {
  // A follower may still be draining the log: give it a moment.
  await new Promise((r) => setTimeout(r, 5000).unref());
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}

// Health checks: the image's HEALTHCHECK (or `--health-*` of create) run as
// an exec in the container on its schedule, as dockerd runs them. The first
// probe runs one interval after the start; a probe that fails during the
// start period does not count; `retries` failures in a row make the
// container unhealthy, one success makes it healthy. The status, the streak
// and the last five results are kept in the record (inspect's State.Health,
// the ps status text), and each change of status is a `health_status` event.
import type { EventBus, Logger } from "../internal/index.js";
import { asWharfError } from "../internal/index.js";
import type { HealthConfig } from "../oci/index.js";
import type { ContainerEngine } from "./engine.js";
import type { ExecManager } from "./exec.js";
import type { ContainerRecord, HealthLog, HealthStatus } from "./types.js";

const NS_PER_MS = 1_000_000;
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;

/** The schedule of a health check; undefined when the container has none (or NONE). */
export interface HealthPlan {
  readonly cmd: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly startPeriodMs: number;
  readonly retries: number;
}

export function healthPlan(h: HealthConfig | undefined): HealthPlan | undefined {
  const test = h?.Test ?? [];
  if (test.length === 0 || test[0] === "NONE") return undefined;
  let cmd: string[];
  if (test[0] === "CMD") cmd = test.slice(1);
  else if (test[0] === "CMD-SHELL") cmd = ["/bin/sh", "-c", test.slice(1).join(" ")];
  else cmd = ["/bin/sh", "-c", test.join(" ")];
  if (cmd.length === 0) return undefined;
  const ms = (ns: number | undefined, fallback: number) => (ns && ns > 0 ? Math.max(1, Math.round(ns / NS_PER_MS)) : fallback);
  return { cmd, intervalMs: ms(h?.Interval, DEFAULT_INTERVAL_MS), timeoutMs: ms(h?.Timeout, DEFAULT_TIMEOUT_MS), startPeriodMs: ms(h?.StartPeriod, 0), retries: h?.Retries && h.Retries > 0 ? h.Retries : DEFAULT_RETRIES };
}

interface Watch {
  readonly startedAt: string;
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

export class HealthMonitor {
  readonly #watches = new Map<string, Watch>();
  #unsubscribe: (() => void) | undefined;

  constructor(
    readonly engine: ContainerEngine,
    readonly execs: ExecManager,
    readonly events: EventBus,
    readonly logger: Logger,
  ) {}

  /** Watches every running container with a check, and every one that starts from now on. */
  start(): void {
    this.#unsubscribe = this.events.subscribe((e) => {
      if (e.Type !== "container") return;
      if (e.Action === "start" || e.Action === "restart" || e.Action === "unpause") this.#arm(e.Actor.ID);
      else if (e.Action === "die" || e.Action === "destroy" || e.Action === "pause") this.#disarm(e.Actor.ID);
    });
    for (const r of this.engine.list()) if (r.State.Running && !r.State.Paused) this.#arm(r.Id);
  }

  close(): void {
    this.#unsubscribe?.();
    for (const id of [...this.#watches.keys()]) this.#disarm(id);
  }

  #arm(id: string): void {
    let r: ContainerRecord;
    try {
      r = this.engine.get(id);
    } catch {
      return;
    }
    const plan = healthPlan(r.Config.Healthcheck);
    if (!plan || !r.State.Running) return;
    const existing = this.#watches.get(id);
    if (existing && existing.startedAt === r.State.StartedAt && !existing.stopped) return;
    this.#disarm(id);
    const watch: Watch = { startedAt: r.State.StartedAt, stopped: false };
    this.#watches.set(id, watch);
    const next = () => {
      if (watch.stopped) return;
      watch.timer = setTimeout(() => {
        void this.#probe(id, plan, watch).finally(next);
      }, plan.intervalMs);
      watch.timer.unref();
    };
    next();
  }

  #disarm(id: string): void {
    const w = this.#watches.get(id);
    if (!w) return;
    w.stopped = true;
    if (w.timer) clearTimeout(w.timer);
    this.#watches.delete(id);
  }

  /** Runs the check once and records its result. */
  async #probe(id: string, plan: HealthPlan, watch: Watch): Promise<void> {
    let r: ContainerRecord;
    try {
      r = this.engine.get(id);
    } catch {
      this.#disarm(id);
      return;
    }
    if (!r.State.Running || r.State.Paused || watch.stopped) return;
    const start = new Date();
    const result = await this.#run(id, plan).catch((e: unknown) => ({ exitCode: -1, output: asWharfError(e, "health check").message }));
    if (watch.stopped) return;
    r = this.engine.get(id);
    const prev = r.State.Health ?? { Status: "starting" as HealthStatus, FailingStreak: 0, Log: [] };
    const entry: HealthLog = { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: result.exitCode, Output: result.output };
    const log = [...prev.Log, entry].slice(-MAX_LOG_ENTRIES);
    let status: HealthStatus = prev.Status;
    let streak = prev.FailingStreak;
    if (result.exitCode === 0) {
      status = "healthy";
      streak = 0;
    } else {
      const inStartPeriod = Date.now() - Date.parse(watch.startedAt) < plan.startPeriodMs;
      if (!(inStartPeriod && prev.Status === "starting")) {
        streak++;
        if (streak >= plan.retries) status = "unhealthy";
      }
    }
    await this.engine.setHealth(id, { Status: status, FailingStreak: streak, Log: log });
    if (status !== prev.Status) this.events.publish("container", `health_status: ${status}`, id, { ...r.Config.Labels, image: r.Config.Image, name: r.Name.slice(1) });
  }

  /** One exec of the check, cut at its timeout (exit code -1, as dockerd records it). */
  async #run(id: string, plan: HealthPlan): Promise<{ exitCode: number; output: string }> {
    const { Id } = this.execs.create(id, { Cmd: [...plan.cmd], AttachStdout: true, AttachStderr: true });
    const abort = new AbortController();
    const started = await this.execs.start(Id, { tty: false, signal: abort.signal });
    let output = "";
    const collect = (async () => {
      for await (const e of started.output) {
        if (output.length < MAX_OUTPUT) output += e.data.toString("utf8");
      }
    })().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), plan.timeoutMs);
    });
    const code = await Promise.race([started.exited, timedOut]);
    clearTimeout(timer);
    if (code === "timeout") {
      const pid = this.execs.inspect(Id).Pid;
      if (pid > 0) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      abort.abort();
      return { exitCode: -1, output: `Health check exceeded timeout (${formatSeconds(plan.timeoutMs)})` };
    }
    await Promise.race([collect, new Promise((r) => setTimeout(r, 1000))]);
    return { exitCode: code, output: output.slice(0, MAX_OUTPUT) };
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms / 1000}s`;
}

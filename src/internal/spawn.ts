// Running other programs (ip, nft, runc, conmon, …) without forking the
// daemon: the native addon's posix_spawn runs on a thread of its own, which
// also waits for the program, so the daemon's main thread never copies its
// page tables or blocks until the child's exec (child_process.spawn does
// both: 1–3 ms per program at the daemon's size).
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { sys } from "./sys.js";

export interface ProgramOptions {
  /** The program's stdin; /dev/null without it. */
  readonly input?: string | Buffer;
  /** The whole environment; the daemon's own without it. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Killed (SIGKILL) when still running after this long; 0 for never. */
  readonly timeoutMs?: number;
  /** Descriptors the program gets as 3, 4, …; the caller keeps (and closes) its own. */
  readonly fds?: readonly number[];
  /** The program starts a session of its own (for a program that outlives the daemon). */
  readonly detached?: boolean;
  /** Whether stdout and stderr are kept (up to 16 MiB each); /dev/null otherwise. */
  readonly capture?: boolean;
}

export interface ProgramResult {
  readonly pid: number;
  /** The exit status; null when a signal ended it. */
  readonly status: number | null;
  readonly signal: number | null;
  readonly timedOut: boolean;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

const SETSID = 1;
const CAPTURE = 2;

const resolved = new Map<string, string>();

/** The file `name` names: itself when it holds a slash, else its first executable match on PATH (cached). */
export function resolveProgram(name: string, path = process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"): string {
  if (name.includes("/")) return name;
  const key = `${name}\0${path}`;
  const hit = resolved.get(key);
  if (hit) return hit;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    resolved.set(key, candidate);
    return candidate;
  }
  throw Object.assign(new Error(`spawn ${name} ENOENT: not found on PATH`), { code: "ENOENT", syscall: "spawn", path: name });
}

/** Runs `cmd` with `args` until it ends; a non-zero exit is the caller's to judge (see `status`). */
export function runProgram(cmd: string, args: readonly string[], o: ProgramOptions = {}): Promise<ProgramResult> {
  let file: string;
  try {
    file = resolveProgram(cmd, o.env?.["PATH"]);
  } catch (e) {
    return Promise.reject(e);
  }
  const env = o.env ? Object.entries(o.env).map(([k, v]) => `${k}=${v}`) : null;
  const input = o.input === undefined ? null : typeof o.input === "string" ? Buffer.from(o.input) : o.input;
  const flags = (o.detached ? SETSID : 0) | (o.capture === false ? 0 : CAPTURE);
  return sys().spawn(file, [cmd, ...args], env, o.cwd ?? null, input, [...(o.fds ?? [])], flags, o.timeoutMs ?? 0);
}

/** How a program that failed ended, for an error message: its stderr's first lines, or its status. */
export function failureDetail(r: ProgramResult, lines = 3): string {
  const text = r.stderr.toString("utf8").trim();
  if (text) return text.split("\n").slice(0, lines).join(" ");
  if (r.timedOut) return "timed out";
  return r.signal !== null ? `killed by signal ${r.signal}` : `exit status ${r.status}`;
}

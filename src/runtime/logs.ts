// Container logs as conmon writes them (the CRI "k8s-file" format: one entry
// per line, `<RFC 3339 time> <stdout|stderr> <P|F> <bytes>`, P for a piece
// of a longer line), read back as docker's `logs` serves them: stdout and
// stderr apart, since/until/tail, follow, and rotation into numbered files
// (`log`, `log.1`, … oldest last) that the engine performs and conmon is told
// to reopen after.
import { createReadStream, watch, type FSWatcher } from "node:fs";
import { readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { errnoCode } from "../internal/index.js";

export type LogStream = "stdout" | "stderr";

export interface LogEntry {
  readonly stream: LogStream;
  /** Unix time in nanoseconds. */
  readonly timeNs: bigint;
  /** The bytes the process wrote; ends with `\n` unless it was a partial line. */
  readonly data: Buffer;
  /** Whether this entry ends a line. */
  readonly full: boolean;
}

/** Parses one log line (without its `\n`); undefined when it is not an entry. */
export function parseLogLine(line: Buffer): LogEntry | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const s3 = line.indexOf(0x20, s2 + 1);
  const tag = line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString("latin1");
  const stream = line.subarray(s1 + 1, s2).toString("latin1");
  if (stream !== "stdout" && stream !== "stderr") return undefined;
  const timeNs = parseTimeNs(line.subarray(0, s1).toString("latin1"));
  if (timeNs === undefined) return undefined;
  const full = !tag.startsWith("P");
  const content = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
  return { stream, timeNs, full, data: full ? Buffer.concat([content, Buffer.from("\n")]) : Buffer.from(content) };
}

/** RFC 3339 with up to nine fraction digits → unix nanoseconds. */
export function parseTimeNs(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = BigInt((m[2] ?? "").padEnd(9, "0"));
  return BigInt(ms) * 1_000_000n + frac;
}

/** docker's timestamp for `logs -t`: UTC with nine fraction digits. */
export function formatTimeNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${base}.${frac}Z`;
}

export interface ReadLogsOptions {
  /** Unix nanoseconds; entries before are skipped. */
  readonly sinceNs?: bigint;
  /** Unix nanoseconds; entries after are skipped (and following stops). */
  readonly untilNs?: bigint;
  /** Only the last N lines; undefined for all. */
  readonly tail?: number;
  /** Keep reading as the log grows, until `stopped` resolves and the log is drained. */
  readonly follow?: boolean;
  readonly stopped?: Promise<unknown>;
  readonly signal?: AbortSignal;
}

/** The log's files, oldest first: `log.N … log.1, log`. */
export async function logFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return [];
    throw e;
  }
  const rotated = names
    .map((n) => ({ n, m: new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(\\d+)$`).exec(n) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]))
    .map((x) => `${dir}/${x.n}`);
  return names.includes(base) ? [...rotated, path] : rotated;
}

/** Reads `file` from `offset`, calling `onLine` for each complete line; returns the offset after the last complete line. */
async function readLines(file: string, offset: number, onLine: (line: Buffer) => void): Promise<number> {
  let pos = offset;
  let rest: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of createReadStream(file, { start: offset, highWaterMark: 256 * 1024 })) {
      let buf = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
      let start = 0;
      let nl: number;
      while ((nl = buf.indexOf(0x0a, start)) !== -1) {
        onLine(buf.subarray(start, nl));
        pos += nl + 1 - start;
        start = nl + 1;
      }
      rest = Buffer.from(buf.subarray(start));
      buf = rest;
    }
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
  }
  return pos;
}

/**
 * The log's entries in order. With `tail`, only the last lines of what is
 * there when reading starts; with `follow`, then every new entry until
 * `stopped` resolves (the container ended) and the file is drained.
 */
export async function* readLogs(path: string, options: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const keep = (e: LogEntry): boolean => (options.sinceNs === undefined || e.timeNs >= options.sinceNs) && (options.untilNs === undefined || e.timeNs <= options.untilNs);
  const files = await logFiles(path);
  let tailBuf: LogEntry[][] | undefined = options.tail !== undefined ? [] : undefined;
  let current: LogEntry[] = [];
  const pending: LogEntry[] = [];
  const take = (line: Buffer): void => {
    const e = parseLogLine(line);
    if (!e || !keep(e)) return;
    if (!tailBuf) {
      pending.push(e);
      return;
    }
    // A line for tail's count is a run of partial entries closed by a full one.
    current.push(e);
    if (e.full) {
      tailBuf.push(current);
      current = [];
      if (tailBuf.length > (options.tail ?? 0)) tailBuf.shift();
    }
  };
  let offset = 0;
  let currentIno: number | undefined;
  for (const f of files) {
    const end = await readLines(f, 0, take);
    if (f === path) {
      offset = end;
      currentIno = await inode(path);
    }
    if (!tailBuf) {
      yield* pending.splice(0);
    }
  }
  if (tailBuf) {
    if (current.length) tailBuf.push(current);
    const lines = options.tail === 0 ? [] : tailBuf.slice(-(options.tail ?? 0));
    for (const l of lines) yield* l;
    tailBuf = undefined;
    current = [];
  }
  if (!options.follow) return;
  let stopped = false;
  void options.stopped?.then(() => {
    stopped = true;
    wake();
  });
  let wakeUp: (() => void) | undefined;
  // A change seen while no pass was waiting: the next wait returns at once.
  let woken = false;
  const wake = (): void => {
    const w = wakeUp;
    wakeUp = undefined;
    if (w) w();
    else woken = true;
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), () => wake());
    watcher.on("error", () => wake());
  } catch {
    watcher = undefined;
  }
  options.signal?.addEventListener("abort", wake, { once: true });
  try {
    for (;;) {
      if (options.signal?.aborted) return;
      const ino = await inode(path);
      if (ino !== undefined && currentIno !== undefined && ino !== currentIno) {
        // Rotated: finish the old file (now `.1`), then start the new one from the top.
        const old = `${path}.1`;
        if ((await inode(old)) === currentIno) await readLines(old, offset, take);
        yield* pending.splice(0);
        offset = 0;
      }
      currentIno = ino ?? currentIno;
      const wasStopped = stopped;
      offset = await readLines(path, offset, take);
      for (const e of pending.splice(0)) {
        if (options.untilNs !== undefined && e.timeNs > options.untilNs) return;
        yield e;
      }
      if (wasStopped) return;
      if (woken) {
        // The file changed (or the process stopped) during this pass: read again.
        woken = false;
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        // inotify misses nothing, but a timer keeps a lost event from hanging a follower.
        timer = setTimeout(wake, 1000).unref();
      });
      clearTimeout(timer);
    }
  } finally {
    watcher?.close();
    options.signal?.removeEventListener("abort", wake);
  }
}

async function inode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
}

/**
 * Rotates `path` when it has reached `maxSize`: `log.(N-1)` is dropped,
 * the others shift up, `log` becomes `log.1`. Returns whether it rotated; the
 * caller then tells conmon to reopen the log.
 */
export async function rotateLog(path: string, maxSize: number, maxFiles: number): Promise<boolean> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return false;
  }
  if (size < maxSize) return false;
  if (maxFiles <= 1) {
    // One file: conmon starts it over on reopen when the engine removes it.
    await rm(path, { force: true });
    return true;
  }
  await rm(`${path}.${maxFiles - 1}`, { force: true });
  for (let i = maxFiles - 2; i >= 1; i--) {
    await rename(`${path}.${i}`, `${path}.${i + 1}`).catch((e: unknown) => {
      if (errnoCode(e) !== "ENOENT") throw e;
    });
  }
  await rename(path, `${path}.1`);
  return true;
}

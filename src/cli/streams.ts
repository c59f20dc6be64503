// A container's streams on the CLI's side of a hijacked connection: stdin
// copied up (the write side half-closed when it ends, output still read
// until the daemon closes), output demultiplexed from the 8-byte frames
// when there is no terminal, the local terminal in raw mode while a tty is
// attached, and its size forwarded on SIGWINCH.
import type { Readable, Writable } from "node:stream";
import type { Socket } from "node:net";
import type { Hijacked } from "../api/client.js";

const RAW = "application/vnd.docker.raw-stream";

/**
 * Splits a multiplexed stream into stdout and stderr: each frame is
 * `[stream, 0, 0, 0, size (big-endian uint32)]` then `size` bytes.
 */
export class Demuxer {
  #pending: Buffer = Buffer.alloc(0);
  constructor(
    readonly stdout: Writable,
    readonly stderr: Writable,
  ) {}

  /** Feeds bytes; returns false when a destination asked to slow down. */
  push(chunk: Buffer): boolean {
    let buf = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    let ok = true;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const kind = buf[0];
      const data = buf.subarray(8, 8 + size);
      if (size > 0) {
        // 0 is stdin echoed back, 3 the daemon's own error text: both go where docker puts them.
        const dest = kind === 2 || kind === 3 ? this.stderr : this.stdout;
        if (!dest.write(data)) ok = false;
      }
      buf = buf.subarray(8 + size);
    }
    this.#pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
    return ok;
  }
}

export interface StreamOptions {
  /** Copied to the container until it ends; then the write side is half-closed. Absent: half-closed at once. */
  stdin?: Readable | undefined;
  stdout?: Writable | undefined;
  stderr?: Writable | undefined;
}

function waitDrain(streams: (Writable | undefined)[]): Promise<void> {
  const waiting = streams.filter((s): s is Writable => !!s && s.writableNeedDrain);
  return Promise.all(waiting.map((s) => new Promise<void>((r) => s.once("drain", () => r())))).then(() => {});
}

/**
 * Runs the streams of a hijacked connection; resolves when the daemon has
 * closed it (all output delivered). stdin's end half-closes the connection.
 */
export function pumpHijacked(h: Hijacked, o: StreamOptions): { done: Promise<void>; stopStdin: () => void } {
  const socket: Socket = h.socket;
  const tty = h.contentType === RAW;
  const out = o.stdout;
  const err = o.stderr ?? o.stdout;
  const demux = !tty && out && err ? new Demuxer(out, err) : undefined;
  socket.setNoDelay?.(true);
  let stdinDone = false;
  const onStdin = (c: Buffer) => {
    if (!socket.write(c)) {
      o.stdin!.pause();
      socket.once("drain", () => o.stdin!.resume());
    }
  };
  const endStdin = () => {
    if (stdinDone) return;
    stdinDone = true;
    if (o.stdin) {
      o.stdin.off("data", onStdin);
      o.stdin.off("end", endStdin);
      o.stdin.pause();
    }
    if (!socket.destroyed) socket.end();
  };
  const done = new Promise<void>((resolve, reject) => {
    const handle = (c: Buffer) => {
      let ok: boolean;
      if (demux) ok = demux.push(c);
      else ok = out ? out.write(c) : true;
      if (!ok) {
        socket.pause();
        void waitDrain([out, err]).then(() => socket.resume());
      }
    };
    if (h.head.length) handle(h.head);
    socket.on("data", handle);
    socket.once("end", () => resolve());
    socket.once("close", () => resolve());
    socket.once("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" || e.code === "EPIPE" ? resolve() : reject(e)));
  });
  if (o.stdin) {
    o.stdin.on("data", onStdin);
    o.stdin.once("end", endStdin);
    o.stdin.resume();
  } else endStdin();
  void done.finally(() => {
    if (o.stdin && !stdinDone) {
      stdinDone = true;
      o.stdin.off("data", onStdin);
      o.stdin.off("end", endStdin);
      o.stdin.pause();
    }
    socket.destroy();
  });
  return { done, stopStdin: endStdin };
}

interface TtyIn extends Readable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  isRaw?: boolean;
}

/** Puts a terminal stdin in raw mode; the function returned restores it (also on process exit). */
export function rawMode(stdin: Readable): () => void {
  const t = stdin as TtyIn;
  if (!t.isTTY || typeof t.setRawMode !== "function") return () => {};
  const was = t.isRaw === true;
  t.setRawMode(true);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      t.setRawMode!(was);
    } catch {
      // the terminal is gone
    }
  };
  process.once("exit", restore);
  return () => {
    process.off("exit", restore);
    restore();
  };
}

interface TtyOut extends Writable {
  isTTY?: boolean;
  rows?: number;
  columns?: number;
}

/**
 * Tells the daemon the local terminal's size now and on every SIGWINCH;
 * the function returned stops listening.
 */
export function forwardResize(stdout: Writable, resize: (h: number, w: number) => Promise<void>): () => void {
  const t = stdout as TtyOut;
  if (!t.isTTY) return () => {};
  const send = () => {
    const h = t.rows ?? 0;
    const w = t.columns ?? 0;
    if (h > 0 && w > 0) void resize(h, w).catch(() => {});
  };
  send();
  t.on("resize", send);
  process.on("SIGWINCH", send);
  return () => {
    t.off("resize", send);
    process.off("SIGWINCH", send);
  };
}

const PROXIED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGCONT", "SIGTSTP"];

/** docker's sig-proxy: signals the CLI receives are sent to the container; the function returned stops. */
export function proxySignals(kill: (signal: string) => Promise<void>): () => void {
  const handlers = PROXIED.map((s) => {
    const h = () => void kill(s).catch(() => {});
    process.on(s, h);
    return [s, h] as const;
  });
  return () => {
    for (const [s, h] of handlers) process.off(s, h);
  };
}

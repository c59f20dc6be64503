// Process streams over HTTP as dockerd sends them: stdout and stderr
// multiplexed in frames (an 8-byte header: stream, three zero bytes, length
// as big-endian uint32) unless the process has a terminal, and the hijacked
// connection of attach and exec start: `101 UPGRADED`, then raw bytes both
// ways, where the client's half-close ends stdin but never the output.
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { LogEntry } from "../runtime/index.js";

export const RAW_STREAM = "application/vnd.docker.raw-stream";
export const MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream";

/** One frame of a multiplexed stream. */
export function frame(stream: "stdout" | "stderr" | "stdin", data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream === "stdin" ? 0 : stream === "stdout" ? 1 : 2;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** Where output goes: an upgraded socket or a response body. */
export interface OutputSink {
  write(chunk: Buffer): boolean;
  readonly destroyed: boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
}

export interface PumpOptions {
  readonly tty: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  /** `logs -t`: each line prefixed with its time. */
  readonly timestamps?: (e: LogEntry) => string;
}

/** Writes entries to `sink` (framed unless tty), with backpressure; stops when the sink closes. */
export async function pumpOutput(entries: AsyncIterable<LogEntry>, sink: OutputSink, o: PumpOptions): Promise<void> {
  let lineStart = true;
  for await (const e of entries) {
    if (sink.destroyed) return;
    if ((e.stream === "stdout" && !o.stdout) || (e.stream === "stderr" && !o.stderr)) continue;
    let data = e.data;
    if (o.timestamps && lineStart) data = Buffer.concat([Buffer.from(`${o.timestamps(e)} `), data]);
    lineStart = e.full;
    const chunk = o.tty ? data : frame(e.stream, data);
    if (!sink.write(chunk)) {
      await Promise.race([once(sink as unknown as NodeJS.EventEmitter, "drain"), once(sink as unknown as NodeJS.EventEmitter, "close")]);
    }
  }
}

/** Answers an upgrade request with docker's `101 UPGRADED` head. */
export function writeUpgradeHead(socket: Duplex, contentType: string): void {
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
}

/** The response head of a plain (not upgraded) POST that streams, as dockerode's attach expects. */
export function writeStreamHead(res: ServerResponse, contentType: string): void {
  res.writeHead(200, { "Content-Type": contentType });
  res.flushHeaders();
}

/** Whether a request asked for a hijacked connection. */
export function wantsUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? "").toLowerCase() === "tcp";
}

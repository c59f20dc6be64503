// compression: layer compression detected from magic bytes, and gzip/zstd
// in both directions as byte streams. gzip is node:zlib; zstd is Debian's
// `zstd` command, since Node 20 has no zstd binding.
import { spawn } from "node:child_process";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import type { Compression } from "../oci/index.js";
import { errnoCode, wharfError } from "../internal/index.js";

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** How many leading bytes detectCompression needs to decide. */
export const MAGIC_LENGTH = 4;

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** The compression of a stream that starts with `firstBytes`; "none" when neither magic matches. */
export function detectCompression(firstBytes: Uint8Array): Compression {
  if (startsWith(firstBytes, GZIP_MAGIC)) return "gzip";
  if (startsWith(firstBytes, ZSTD_MAGIC)) return "zstd";
  return "none";
}

/** Runs bytes through a child process's stdin → stdout; a non-zero exit fails the stream. */
async function* throughCommand(command: string, args: readonly string[], source: AsyncIterable<Uint8Array>, action: string): AsyncGenerator<Buffer> {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  const stderr: Buffer[] = [];
  child.stderr.on("data", (c: Buffer) => {
    if (stderr.length < 64) stderr.push(c);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", (e) => reject(wharfError("unavailable", `${action}: cannot run ${command}: ${e.message}`, e)));
    child.once("close", (code) => resolve(code));
  });
  exited.catch(() => {}); // awaited below; never unhandled
  // The child may exit early (bad input) and close its stdin: the exit status then tells why.
  let feedError: unknown;
  const fed = pipeline(Readable.from(source, { objectMode: false }), child.stdin).catch((e: unknown) => {
    feedError = e;
  });
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) yield chunk;
    const code = await exited;
    await fed;
    // A failing source cuts the child's input short: its error is the one that explains.
    if (feedError !== undefined && errnoCode(feedError) !== "EPIPE") throw feedError;
    if (code !== 0) {
      const detail = Buffer.concat(stderr).toString("utf8").trim().replace(/\s+/g, " ");
      throw wharfError("data-corrupt", `${action}: ${command} exited with ${code}${detail ? `: ${detail}` : ""}`);
    }
    finished = true;
  } finally {
    if (!finished && child.exitCode === null) child.kill("SIGKILL");
  }
}

/** Reads the first bytes of a stream, then hands back them plus the rest. */
async function sniff(source: AsyncIterable<Uint8Array>): Promise<{ head: Buffer; rest: AsyncIterable<Uint8Array> }> {
  const it = source[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < MAGIC_LENGTH) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    parts.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(parts);
  const rest: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      if (head.length > 0) yield head;
      if (done) return;
      let finished = false;
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) {
            finished = true;
            return;
          }
          yield r.value;
        }
      } finally {
        // A consumer that stops early releases the source too.
        if (!finished) await it.return?.();
      }
    },
  };
  return { head, rest };
}

async function* decompressed(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const { head, rest } = await sniff(source);
  const compression = detectCompression(head);
  switch (compression) {
    case "none":
      for await (const chunk of rest) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      return;
    case "gzip":
      yield* gunzipped(rest);
      return;
    case "zstd":
      yield* throughCommand("zstd", ["-d", "-c", "-q"], rest, "decompress zstd layer");
      return;
  }
}

async function* gunzipped(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  yield* throughZlib(createGunzip({ chunkSize: 256 << 10 }), source, "decompress gzip layer");
}

/** Runs bytes through a zlib transform; zlib's own errors (bad data, early end) are data-corrupt. */
async function* throughZlib(transform: Transform, source: AsyncIterable<Uint8Array>, action: string): AsyncGenerator<Buffer> {
  const fed = pipeline(Readable.from(source, { objectMode: false }), transform).catch((e: unknown) => {
    transform.destroy(e instanceof Error ? e : new Error(String(e)));
  });
  try {
    for await (const chunk of transform as AsyncIterable<Buffer>) yield chunk;
  } catch (e) {
    const code = errnoCode(e);
    if (code !== undefined && code.startsWith("Z_")) throw wharfError("data-corrupt", `${action}: ${(e as Error).message}`, e);
    throw e;
  } finally {
    transform.destroy();
  }
  await fed;
}

/** The bytes of a layer with its compression (detected from magic bytes) removed. */
export function decompress(source: AsyncIterable<Uint8Array>): Readable {
  return Readable.from(decompressed(source), { objectMode: false });
}

async function* compressed(source: AsyncIterable<Uint8Array>, compression: "gzip" | "zstd"): AsyncGenerator<Buffer> {
  if (compression === "zstd") {
    yield* throughCommand("zstd", ["-c", "-q", "-3"], source, "compress zstd layer");
    return;
  }
  yield* throughZlib(createGzip({ chunkSize: 256 << 10 }), source, "compress gzip layer");
}

/** `source` compressed with gzip (node:zlib, default level) or zstd (level 3). */
export function compress(source: AsyncIterable<Uint8Array>, compression: "gzip" | "zstd"): Readable {
  return Readable.from(compressed(source, compression), { objectMode: false });
}

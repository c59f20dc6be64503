// tar: streaming tar reading and writing.
//
// TarParser is the one parser: a push state machine fed chunks of any size
// (block boundaries need not align with chunk boundaries) that reports
// entries and body slices to a sink synchronously. `readTar` wraps it as
// async iteration for general use; the layer applier drives it directly from
// its worker thread, where synchronous callbacks are what the file system
// calls want.
import { Readable } from "node:stream";
import { wharfError } from "../internal/index.js";
import {
  BLOCK,
  END_OF_ARCHIVE,
  bodySize,
  completeHeader,
  decodeBlock,
  encodeHeader,
  isZeroBlock,
  padding,
  parsePax,
  resolveHeader,
  type Pending,
  type RawHeader,
  type TarHeader,
  type TarHeaderInit,
} from "./tar-format.js";

export type { EntryType, TarHeader, TarHeaderInit } from "./tar-format.js";

/** Receives a parsed archive: entry, its body slices, its end; in order. */
export interface TarSink {
  entry(header: TarHeader): void;
  /** A slice of the caller's chunk: copy it if it must outlive the call. */
  data(chunk: Buffer): void;
  entryEnd(): void;
}

/** Extension headers (PAX, GNU long names) are read whole; this bounds them. */
const MAX_EXTENSION = 16 << 20;

type State = "header" | "body" | "extension" | "padding" | "ended";

export class TarParser {
  readonly #sink: TarSink;
  #state: State = "header";
  readonly #block = Buffer.alloc(BLOCK);
  #blockFill = 0;
  #remaining = 0;
  #pad = 0;
  #zeroBlocks = 0;
  #pending: Pending = {};
  #extension: { flag: string; buf: Buffer; fill: number } | undefined;
  #entryName = "";
  #offset = 0;

  constructor(sink: TarSink) {
    this.#sink = sink;
  }

  /** True once the end-of-archive marker was read; later bytes are ignored. */
  get ended(): boolean {
    return this.#state === "ended";
  }

  push(input: Uint8Array): void {
    const chunk = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let pos = 0;
    while (pos < chunk.length) {
      const avail = chunk.length - pos;
      switch (this.#state) {
        case "header": {
          if (this.#blockFill === 0 && avail >= BLOCK) {
            const block = chunk.subarray(pos, pos + BLOCK);
            pos += BLOCK;
            this.#offset += BLOCK;
            this.#onBlock(block);
          } else {
            const n = Math.min(BLOCK - this.#blockFill, avail);
            chunk.copy(this.#block, this.#blockFill, pos, pos + n);
            this.#blockFill += n;
            pos += n;
            this.#offset += n;
            if (this.#blockFill === BLOCK) {
              this.#blockFill = 0;
              this.#onBlock(this.#block);
            }
          }
          break;
        }
        case "body": {
          const n = Math.min(this.#remaining, avail);
          this.#sink.data(chunk.subarray(pos, pos + n));
          pos += n;
          this.#offset += n;
          this.#remaining -= n;
          if (this.#remaining === 0) {
            this.#state = this.#pad > 0 ? "padding" : "header";
            this.#sink.entryEnd();
          }
          break;
        }
        case "extension": {
          const ext = this.#extension!;
          const n = Math.min(ext.buf.length - ext.fill, avail);
          chunk.copy(ext.buf, ext.fill, pos, pos + n);
          ext.fill += n;
          pos += n;
          this.#offset += n;
          if (ext.fill === ext.buf.length) {
            this.#extension = undefined;
            this.#onExtension(ext.flag, ext.buf);
            this.#state = this.#pad > 0 ? "padding" : "header";
          }
          break;
        }
        case "padding": {
          const n = Math.min(this.#pad, avail);
          pos += n;
          this.#offset += n;
          this.#pad -= n;
          if (this.#pad === 0) this.#state = "header";
          break;
        }
        case "ended":
          return;
      }
    }
  }

  /**
   * The source ended. Stopping inside a header or a body is a truncated
   * archive. Stopping at an entry boundary without the end-of-archive
   * marker is accepted, as Go's archive/tar (and so Docker) accepts it; a
   * layer cut exactly there still fails its diffID check.
   */
  end(): void {
    if (this.#state === "ended") return;
    if (this.#state === "header" && this.#blockFill === 0 && this.#extension === undefined && Object.keys(this.#pending).length === 0) {
      this.#state = "ended";
      return;
    }
    const where = this.#state === "header" ? "inside a header" : `inside entry ${JSON.stringify(this.#entryName)}`;
    throw wharfError("data-corrupt", `read tar: archive truncated ${where} at byte ${this.#offset}`);
  }

  #onBlock(block: Buffer): void {
    if (isZeroBlock(block)) {
      // Two zero blocks end the archive; a lone one is tolerated as GNU tar does.
      if (++this.#zeroBlocks === 2) this.#state = "ended";
      return;
    }
    this.#zeroBlocks = 0;
    let raw: RawHeader;
    try {
      raw = decodeBlock(block);
    } catch (e) {
      throw wharfError("data-corrupt", `read tar: bad header at byte ${this.#offset - BLOCK}${this.#entryName ? ` (after entry ${JSON.stringify(this.#entryName)})` : ""}: ${(e as Error).message}`, e);
    }
    switch (raw.typeflag) {
      case "x":
      case "g":
      case "L":
      case "K": {
        if (raw.size > MAX_EXTENSION) {
          throw wharfError("data-corrupt", `read tar: extension header ${JSON.stringify(raw.typeflag)} of ${raw.size} bytes exceeds ${MAX_EXTENSION}`);
        }
        this.#pad = padding(raw.size);
        if (raw.size === 0) {
          this.#onExtension(raw.typeflag, Buffer.alloc(0));
          return;
        }
        this.#extension = { flag: raw.typeflag, buf: Buffer.allocUnsafe(raw.size), fill: 0 };
        this.#state = "extension";
        return;
      }
    }
    const pending = this.#pending;
    this.#pending = {};
    const header = resolveHeader(raw, pending);
    this.#entryName = header.name;
    const size = bodySize(raw, pending);
    this.#sink.entry(header);
    this.#remaining = size;
    this.#pad = padding(size);
    if (size === 0) this.#sink.entryEnd();
    else this.#state = "body";
  }

  #onExtension(flag: string, data: Buffer): void {
    switch (flag) {
      case "x":
        this.#pending.pax = parsePax(data);
        break;
      case "g":
        // Global PAX headers (e.g. git archive's comment) carry nothing a layer uses.
        parsePax(data);
        break;
      case "L":
        this.#pending.longName = cString(data);
        break;
      case "K":
        this.#pending.longLink = cString(data);
        break;
    }
  }
}

function cString(data: Buffer): string {
  const end = data.indexOf(0);
  return data.toString("utf8", 0, end === -1 ? data.length : end);
}

/** One entry of `readTar`. Consume `body` before asking for the next entry, or it is skipped. */
export interface TarEntry {
  readonly header: TarHeader;
  readonly body: AsyncIterable<Buffer>;
}

type Event = { readonly kind: "entry"; readonly header: TarHeader } | { readonly kind: "data"; readonly chunk: Buffer } | { readonly kind: "end" };

/** Reads a tar stream entry by entry. */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  let queue: Event[] = [];
  let head = 0;
  const parser = new TarParser({
    entry: (header) => queue.push({ kind: "entry", header }),
    data: (chunk) => queue.push({ kind: "data", chunk }),
    entryEnd: () => queue.push({ kind: "end" }),
  });
  const it = source[Symbol.asyncIterator]();
  let sourceDone = false;
  const next = async (): Promise<Event | undefined> => {
    while (head === queue.length) {
      queue = [];
      head = 0;
      if (sourceDone || parser.ended) return undefined;
      const r = await it.next();
      if (r.done) {
        sourceDone = true;
        parser.end();
      } else parser.push(r.value);
    }
    return queue[head++];
  };
  try {
    for (;;) {
      const ev = await next();
      if (ev === undefined) return;
      if (ev.kind !== "entry") throw wharfError("internal", `read tar: unexpected ${ev.kind} event`);
      let bodyDone = false;
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          while (!bodyDone) {
            const e = await next();
            if (e === undefined || e.kind === "end") bodyDone = true;
            else if (e.kind === "data") yield e.chunk;
          }
        },
      };
      yield { header: ev.header, body };
      while (!bodyDone) {
        const e = await next();
        if (e === undefined || e.kind === "end") bodyDone = true;
      }
    }
  } finally {
    if (!sourceDone) await it.return?.();
  }
}

/** One entry to write. A file's body must have exactly `header.size` bytes. */
export interface TarInput {
  readonly header: TarHeaderInit;
  readonly body?: Uint8Array | AsyncIterable<Uint8Array>;
}

/** Encodes entries as tar bytes, ending with the two zero blocks. */
export async function* encodeTar(entries: AsyncIterable<TarInput> | Iterable<TarInput>): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    const header = completeHeader(entry.header);
    yield encodeHeader(header);
    if (header.type !== "file") continue;
    let written = 0;
    const body = entry.body ?? new Uint8Array(0);
    const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = body instanceof Uint8Array ? [body] : body;
    for await (const chunk of chunks) {
      written += chunk.length;
      if (written > header.size) break;
      yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    if (written !== header.size) {
      throw wharfError("invalid-argument", `write tar: entry ${JSON.stringify(header.name)}: body has ${written > header.size ? "more than " : ""}${written} bytes, header says ${header.size}`);
    }
    const pad = padding(header.size);
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield END_OF_ARCHIVE;
}

/** `encodeTar` as a byte stream. */
export function writeTar(entries: AsyncIterable<TarInput> | Iterable<TarInput>): Readable {
  return Readable.from(encodeTar(entries), { objectMode: false });
}

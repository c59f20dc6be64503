// content/helpers: operations built on the narrowest role they need —
// streaming a whole blob into an Ingester, reading a JSON document from a Provider.
import { addAbortSignal, Readable } from "node:stream";
import type { Digest } from "../oci/index.js";
import { asWharfError, wharfError } from "../internal/index.js";
import type { BlobInfo, Expected, Ingester, Provider, Writer, WriterOptions } from "./content.js";

function cancelled(ref: string, signal: AbortSignal): never {
  throw wharfError("cancelled", `write blob ${JSON.stringify(ref)}: cancelled`, signal.reason);
}

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  throw wharfError("invalid-argument", `write blob: the source yielded ${typeof chunk}, not bytes`);
}

/**
 * Streams `source` into the ingest `ref` and commits it, verified against
 * `expected`. When the ingest already holds bytes and the digest is known,
 * the same-length prefix of the source is skipped (the digest check catches a
 * source that differs); without a digest nothing would catch it, so the
 * ingest starts over. A cancelled or failed write keeps the ingest for a resume
 * (with `options.resumable` false nothing is kept).
 */
export async function writeBlob(
  ingester: Ingester,
  ref: string,
  source: AsyncIterable<Uint8Array> | Readable,
  expected?: Expected,
  signal?: AbortSignal,
  options?: WriterOptions,
): Promise<BlobInfo> {
  if (signal?.aborted) cancelled(ref, signal);
  let writer: Writer = await ingester.writer(ref, expected, options);
  try {
    let skip = writer.offset;
    if (skip > 0 && expected?.digest === undefined) {
      await writer.abort();
      writer = await ingester.writer(ref, expected, options);
      skip = 0;
    }
    const input = signal && source instanceof Readable ? addAbortSignal(signal, source) : source;
    for await (const raw of input as AsyncIterable<unknown>) {
      if (signal?.aborted) cancelled(ref, signal);
      let chunk = toBytes(raw);
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(skip);
        skip = 0;
      }
      await writer.write(chunk);
    }
    if (signal?.aborted) cancelled(ref, signal);
    return await writer.commit();
  } catch (e) {
    await writer.close().catch(() => {});
    if (signal?.aborted) cancelled(ref, signal);
    throw asWharfError(e, `write blob ${JSON.stringify(ref)}`);
  }
}

/** Reads and parses a JSON document of at most `maxBytes`; the caller validates its shape. */
export async function readJson(provider: Provider, digest: Digest, maxBytes: number): Promise<unknown> {
  const bytes = await provider.readAll(digest, maxBytes);
  try {
    return JSON.parse(bytes.toString("utf8")) as unknown;
  } catch (e) {
    throw wharfError("data-corrupt", `read JSON document ${digest}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

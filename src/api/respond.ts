// Writing answers: JSON documents, empty statuses, raw byte streams and JSON
// progress streams. Bytes are piped with backpressure, never collected.
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { RequestContext } from "./router.js";
import { logHandledError } from "./status.js";
import type { JsonMessage } from "./wire.js";

/** A JSON document, with the trailing newline Go's encoder writes. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Length": 0 });
  res.end();
}

/**
 * Streams `source` as the body. Once the first byte is out the status can no
 * longer change, so a later failure destroys the connection: the client sees
 * a truncated chunked body rather than a complete-looking archive.
 */
export async function sendStream(ctx: RequestContext, contentType: string, source: Readable): Promise<void> {
  ctx.res.writeHead(200, { "Content-Type": contentType });
  await pipeline(source, ctx.res);
}

/**
 * A JSON progress stream: one message per line. The status line is sent with
 * the first message, so a failure before it still gets its proper status.
 */
export class JsonLineWriter {
  readonly #res: ServerResponse;
  #started = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  get started(): boolean {
    return this.#started;
  }

  async write(message: JsonMessage): Promise<void> {
    if (this.#res.destroyed) return;
    if (!this.#started) {
      this.#res.writeHead(200, { "Content-Type": "application/json" });
      this.#started = true;
    }
    // dockerd's stream formatter ends each message with CRLF.
    if (!this.#res.write(JSON.stringify(message) + "\r\n")) {
      await Promise.race([once(this.#res, "drain"), once(this.#res, "close")]);
    }
  }

  end(): void {
    if (!this.#started) this.#res.writeHead(200, { "Content-Type": "application/json" });
    this.#started = true;
    this.#res.end();
  }
}

/**
 * Runs `body` with a JSON line writer. An error before the first line is
 * rethrown (the server answers with its status); after it, the error becomes
 * the last line, `{"errorDetail":{"message":…},"error":…}`, as dockerd writes it.
 */
export async function respondWithJsonStream(ctx: RequestContext, body: (out: JsonLineWriter) => Promise<void>): Promise<void> {
  const out = new JsonLineWriter(ctx.res);
  try {
    await body(out);
  } catch (e) {
    if (!out.started) throw e;
    const answer = logHandledError(ctx.logger, e, {});
    await out.write({ errorDetail: { message: answer.body.message }, error: answer.body.message });
  }
  out.end();
}

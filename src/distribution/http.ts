// distribution/http: one HTTP exchange over node:http/https with the TLS
// settings of the target host, cancellable by signal, and the retry policy:
// which answers and failures are worth another attempt, and how long to wait.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import { errnoCode, wharfError } from "../internal/index.js";
import type { TlsMaterial } from "./hosts.js";

export interface HttpExchange {
  readonly method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  readonly url: URL;
  readonly headers?: OutgoingHttpHeaders;
  /** A body sent whole, or a stream (sent chunked unless Content-Length is set). */
  readonly body?: Buffer | Readable;
  readonly tls?: TlsMaterial & { readonly skipVerify?: boolean };
  readonly signal?: AbortSignal;
  /** Gives up when no response headers arrived in this time. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Sends one request; resolves with the response (its body not yet read). Network failures reject with the Node error. */
export function exchange(x: HttpExchange): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const isHttps = x.url.protocol === "https:";
    const options = {
      method: x.method,
      host: x.url.hostname.replace(/^\[|\]$/g, ""),
      port: x.url.port || (isHttps ? 443 : 80),
      path: x.url.pathname + x.url.search,
      headers: { "User-Agent": "wharf/0.1", ...x.headers },
      ...(x.signal ? { signal: x.signal } : {}),
      ...(isHttps
        ? {
            ...(isIP(x.url.hostname.replace(/^\[|\]$/g, "")) ? {} : { servername: x.url.hostname }),
            rejectUnauthorized: !x.tls?.skipVerify,
            ...(x.tls?.ca ? { ca: x.tls.ca } : {}),
            ...(x.tls?.cert ? { cert: x.tls.cert } : {}),
            ...(x.tls?.key ? { key: x.tls.key } : {}),
          }
        : {}),
    };
    const req = (isHttps ? httpsRequest : httpRequest)(options, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer from ${x.url.host} within ${x.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`), { code: "ETIMEDOUT" })), x.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const body = x.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on("error", (e) => req.destroy(e));
      body.pipe(req);
    }
  });
}

/** Reads a small body whole; refuses one larger than `max` bytes. */
export async function readBody(res: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) {
    res.destroy();
    throw wharfError("invalid-argument", `${what}: ${declared} bytes is more than the limit of ${max}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.destroy();
      throw wharfError("invalid-argument", `${what}: more than the limit of ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

export function drain(res: IncomingMessage): void {
  res.resume();
  res.on("error", () => {});
}

/** Statuses a retry may cure: server trouble and rate limits. */
export function isRetriableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

const NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND", "UND_ERR_SOCKET", "ERR_STREAM_PREMATURE_CLOSE"]);

/** Whether a thrown error is a dropped or refused connection (as opposed to a bug or a cancel). */
export function isNetworkError(e: unknown): boolean {
  const code = errnoCode(e);
  if (code && NETWORK_CODES.has(code)) return true;
  return e instanceof Error && (e.message === "aborted" || e.message === "socket hang up");
}

/** Whether the error comes from TLS (wrong protocol, bad certificate): an insecure registry may then be tried over HTTP. */
export function isTlsError(e: unknown): boolean {
  const code = errnoCode(e) ?? "";
  return code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code) || (e instanceof Error && /SSL|TLS|wrong version number|socket disconnected before secure/i.test(e.message));
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Delay before the second attempt; doubles each time. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8000 };

/** The wait before attempt `n` (1-based retry count), honouring Retry-After (seconds) when the server gave one. */
export function backoffMs(policy: RetryPolicy, retry: number, retryAfter?: string | string[]): number {
  const after = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  if (Number.isFinite(after) && after >= 0) return Math.min(after * 1000, policy.maxDelayMs);
  const base = Math.min(policy.baseDelayMs * 2 ** (retry - 1), policy.maxDelayMs);
  return base / 2 + Math.random() * (base / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

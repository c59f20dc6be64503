// distribution/client: the OCI distribution API of one repository — manifests,
// blobs, uploads, mounts, tags — over the endpoints RegistryHosts gives.
//
// Every request goes through #send, which owns the policies:
// - authorization: anonymous first; a 401 challenge makes the Authorizer
//   fetch a token (or use Basic), then the request is sent again;
// - credentials only to the registry's own host: a redirect elsewhere (blob
//   storage) and a foreign layer URL get no Authorization header;
// - retries with backoff for answers and failures a retry may cure, only
//   for requests that are safe to repeat;
// - an insecure registry that does not speak TLS is used over HTTP.
// Digests are parsed types before they get here, so no unchecked text
// becomes a URL.
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { digestOf, isIndexType, isValidTag, isManifestType, MAX_DOCUMENT_BYTES, MediaType, parseDigest, type Descriptor, type Digest } from "../oci/index.js";
import { isKind, nullLogger, wharfError, type Logger } from "../internal/index.js";
import { Authorizer, MAX_TOKEN_BYTES, repositoryScope, type Credentials, type TokenFetcher } from "./auth.js";
import { backoffMs, DEFAULT_RETRY, drain, exchange, isNetworkError, isRetriableStatus, isTlsError, readBody, sleep, type HttpExchange, type RetryPolicy } from "./http.js";
import type { Endpoint, RegistryHosts } from "./hosts.js";

/** What wharf accepts as a manifest, best first. */
export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest].join(", ");

const MAX_REDIRECTS = 5;

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
}

export interface OpenedBlob {
  readonly body: IncomingMessage;
  /** The offset the body starts at (the Range start when the server honoured it, else 0). */
  readonly start: number;
}

export interface ClientOptions {
  readonly hosts: RegistryHosts;
  readonly logger?: Logger;
  readonly retry?: RetryPolicy;
}

interface SendOptions {
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | (() => Readable);
  readonly scopes: readonly string[];
  /** Repeat on a retriable answer or a dropped connection (idempotent requests). */
  readonly retry: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Follow redirects (GET/HEAD of blobs and manifests). */
  readonly follow?: boolean;
}

/** The registry's error document (`{"errors":[{"code","message"}]}`) as one line, when there is one. */
async function registryErrorText(res: IncomingMessage): Promise<string> {
  try {
    const text = (await readBody(res, 64 * 1024, "error")).toString("utf8");
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    const first = doc.errors?.[0];
    if (first) return [first.code?.toLowerCase().replace(/_/g, " "), first.message].filter((s) => s).join(": ");
    return text.trim().slice(0, 200);
  } catch {
    return "";
  }
}

function statusKind(status: number): "unauthorized" | "forbidden" | "not-found" | "invalid-argument" | "unavailable" | "conflict" {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not-found";
  if (status === 409) return "conflict";
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return "invalid-argument";
  return "unavailable";
}

/** A failed answer as a WharfError naming the action; the registry's own words follow. */
export async function answerError(res: IncomingMessage, action: string): Promise<Error> {
  const detail = await registryErrorText(res);
  const status = res.statusCode ?? 0;
  return wharfError(statusKind(status), `${action}: ${detail || `status ${status}`}`);
}

/** A tag or digest, checked before it becomes part of a URL. */
function checkedReference(reference: string): string {
  if (reference.includes(":")) return parseDigest(reference);
  if (!isValidTag(reference)) throw wharfError("invalid-argument", `invalid tag ${JSON.stringify(reference)}`);
  return reference;
}

export class RegistryClient {
  readonly hosts: RegistryHosts;
  readonly logger: Logger;
  readonly retry: RetryPolicy;
  /** The scheme that last answered on each host, so the next operation does not probe HTTPS again on a plain-HTTP registry. */
  readonly #working = new Map<string, Endpoint["scheme"]>();
  readonly #authorizers = new Map<string, Authorizer>();

  constructor(options: ClientOptions) {
    this.hosts = options.hosts;
    this.logger = options.logger ?? nullLogger;
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  repository(domain: string, path: string, options: { credentials?: Credentials | undefined; purpose: "pull" | "push" }): Repository {
    const endpoints = this.hosts.endpoints(domain, options.purpose);
    // Within one host, the scheme that answered last goes first; hosts keep their order (mirrors before the registry).
    const rank = (e: Endpoint) => (this.#working.get(e.host) === e.scheme ? 0 : 1);
    const firstOfHost = new Map<string, number>();
    endpoints.forEach((e, i) => firstOfHost.has(e.host) || firstOfHost.set(e.host, i));
    endpoints.sort((a, b) => firstOfHost.get(a.host)! - firstOfHost.get(b.host)! || rank(a) - rank(b));
    return new Repository(this, domain, path, endpoints, options.credentials, (e) => this.#working.set(e.host, e.scheme));
  }

  /**
   * The authorizer of a host for given credentials, shared by every
   * operation with the same ones, so the next pull reuses the tokens (and the
   * challenge) of the last. Bounded: the oldest is dropped past 64.
   */
  authorizerFor(host: string, credentials: Credentials | undefined, fetcher: () => TokenFetcher): Authorizer {
    const key = `${host}\0${credentials ? createHash("sha256").update(JSON.stringify(credentials)).digest("hex") : ""}`;
    let a = this.#authorizers.get(key);
    if (!a) {
      a = new Authorizer(host, credentials, fetcher());
      this.#authorizers.set(key, a);
      if (this.#authorizers.size > 64) this.#authorizers.delete(this.#authorizers.keys().next().value!);
    }
    return a;
  }

  /** Checks credentials against a registry (`docker login`): resolves when it accepts them. */
  async login(domain: string, credentials: Credentials, signal?: AbortSignal): Promise<void> {
    const repo = new Repository(this, domain, "", this.hosts.endpoints(domain, "push"), credentials, () => {});
    await repo.ping(signal);
  }
}

export class Repository {
  readonly client: RegistryClient;
  readonly domain: string;
  readonly path: string;
  readonly #endpoints: Endpoint[];
  #index = 0;
  #settled = false;
  readonly #authorizers = new Map<string, Authorizer>();
  readonly #credentials: Credentials | undefined;
  readonly #onSettled: (e: Endpoint) => void;

  constructor(client: RegistryClient, domain: string, path: string, endpoints: Endpoint[], credentials: Credentials | undefined, onSettled: (e: Endpoint) => void) {
    this.client = client;
    this.domain = domain;
    this.path = path;
    this.#endpoints = endpoints;
    this.#credentials = credentials;
    this.#onSettled = onSettled;
  }

  get endpoint(): Endpoint {
    return this.#endpoints[this.#index]!;
  }

  get pullScope(): string {
    return repositoryScope(this.path, ["pull"]);
  }

  get pushScope(): string {
    return repositoryScope(this.path, ["pull", "push"]);
  }

  #authorizer(host: string): Authorizer {
    let a = this.#authorizers.get(host);
    if (!a) {
      // Mirrors get no credentials: they are meant for the hub.
      const credentials = this.endpoint.mirror ? undefined : this.#credentials;
      a = this.client.authorizerFor(host, credentials, () => this.#tokenFetcher(host));
      this.#authorizers.set(host, a);
    }
    return a;
  }

  #tokenFetcher(host: string): TokenFetcher {
    return async ({ url, method, headers, body }) => {
      // The realm is where the registry sends us for tokens; it may be another host, and gets the credentials by design.
      const tls = { ...(await this.client.hosts.tls(url.host)), skipVerify: this.client.hosts.isInsecure(url.host) };
      const res = await exchange({ method, url, headers, ...(body ? { body } : {}), tls });
      const text = (await readBody(res, MAX_TOKEN_BYTES, `token from ${url.host} for ${host}`)).toString("utf8");
      return { status: res.statusCode ?? 0, body: text };
    };
  }

  #url(path: string): URL {
    const url = new URL(`${this.endpoint.scheme}://${this.endpoint.host}${path}`);
    if (this.endpoint.namespace !== undefined) url.searchParams.set("ns", this.endpoint.namespace);
    return url;
  }

  /** Sends one request with the auth, redirect, retry and endpoint policies; resolves with a response whose status the caller judges. */
  async send(method: HttpExchange["method"], path: string, options: SendOptions): Promise<IncomingMessage> {
    for (;;) {
      const tried = this.#index;
      try {
        const res = await this.#sendOn(method, this.#url(path), options);
        if (!this.#settled) {
          this.#settled = true;
          this.#onSettled(this.endpoint);
        }
        return res;
      } catch (e) {
        // Before any endpoint answered, a TLS or connection failure moves to the next one (mirrors, then HTTP for insecure registries).
        if (!this.#settled && (isTlsError(e) || isNetworkError(e)) && this.#index > tried) continue; // a parallel request moved on already
        if (!this.#settled && (isTlsError(e) || isNetworkError(e)) && this.#index + 1 < this.#endpoints.length) {
          this.client.logger.debug("registry endpoint failed, trying the next", { endpoint: `${this.endpoint.scheme}://${this.endpoint.host}`, error: e });
          this.#index++;
          continue;
        }
        if (isTlsError(e)) throw wharfError("unavailable", `${method} ${this.#url(path).href}: ${(e as Error).message}`, e);
        throw e;
      }
    }
  }

  async #sendOn(method: HttpExchange["method"], start: URL, options: SendOptions): Promise<IncomingMessage> {
    const policy = this.client.retry;
    const ownHost = this.endpoint.host;
    let url = start;
    let redirects = 0;
    let retries = 0;
    let authRetries = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const sameHost = url.host === ownHost;
      const headers: Record<string, string> = { ...options.headers };
      const authorization = sameHost ? await this.#authorizer(ownHost).header(options.scopes, options.signal) : undefined;
      if (authorization) headers["Authorization"] = authorization;
      const tls = { ...(await this.client.hosts.tls(url.host, sameHost ? this.endpoint.ca : undefined)), skipVerify: sameHost ? this.endpoint.skipVerify : this.client.hosts.isInsecure(url.host) };
      let res: IncomingMessage;
      try {
        const body = typeof options.body === "function" ? options.body() : options.body;
        res = await exchange({ method, url, headers, ...(body ? { body } : {}), tls, ...(options.signal ? { signal: options.signal } : {}) });
      } catch (e) {
        if (options.signal?.aborted) throw wharfError("cancelled", `${method} ${url.href}: cancelled`, options.signal.reason);
        if (options.retry && isNetworkError(e) && ++retries < policy.attempts) {
          this.client.logger.debug("registry request failed, retrying", { url: url.href, error: e, retry: retries });
          await sleep(backoffMs(policy, retries), options.signal);
          continue;
        }
        if (isNetworkError(e)) throw wharfError("unavailable", `${method} ${url.href}: ${(e as Error).message}`, e);
        throw e;
      }
      const status = res.statusCode ?? 0;
      if (options.follow && (status === 301 || status === 302 || status === 303 || status === 307 || status === 308) && res.headers.location) {
        drain(res);
        if (++redirects > MAX_REDIRECTS) throw wharfError("unavailable", `${method} ${start.href}: more than ${MAX_REDIRECTS} redirects`);
        url = new URL(res.headers.location, url);
        continue;
      }
      if (status === 401 && sameHost && authRetries < 2) {
        const again = this.#authorizer(ownHost).onUnauthorized(res.headers["www-authenticate"], options.scopes, authorization !== undefined);
        if (again) {
          drain(res);
          authRetries++;
          continue;
        }
      }
      if (options.retry && isRetriableStatus(status) && ++retries < policy.attempts) {
        const wait = backoffMs(policy, retries, res.headers["retry-after"]);
        drain(res);
        this.client.logger.debug("registry answered with a retriable status", { url: url.href, status, retry: retries, waitMs: Math.round(wait) });
        await sleep(wait, options.signal);
        continue;
      }
      return res;
    }
  }

  /** `GET /v2/`: checks the registry answers and accepts our credentials. */
  async ping(signal?: AbortSignal): Promise<void> {
    const res = await this.send("GET", "/v2/", { scopes: [], retry: true, signal });
    if (res.statusCode === 200) return drain(res);
    if (res.statusCode === 401) {
      drain(res);
      throw wharfError("unauthorized", `login to ${this.domain}: unauthorized: incorrect username or password`);
    }
    throw await answerError(res, `ping registry ${this.domain}`);
  }

  #refusal(status: number, action: string, detail: string): Error {
    if (status === 401 || status === 403) {
      return wharfError("unauthorized", `${action}: ${detail || "denied"}`);
    }
    return wharfError(statusKind(status), `${action}: ${detail || `status ${status}`}`);
  }

  /**
   * Fetches a manifest or index by tag or digest, at most 4 MiB; a digest
   * reference is checked against the bytes. A mirror that fails or lacks it
   * hands over to the next endpoint (the registry itself) for good; a tag
   * skips the mirrors that may not resolve tags.
   */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const byTag = !reference.includes(":");
    for (;;) {
      // A mirror that may not resolve tags serves pulls by digest only.
      if (byTag && !this.endpoint.resolve && this.#index + 1 < this.#endpoints.length) {
        this.#handOver();
        continue;
      }
      try {
        return await this.#getManifest(reference, signal);
      } catch (e) {
        if (!this.endpoint.mirror || this.#index + 1 >= this.#endpoints.length || signal?.aborted) throw e;
        this.client.logger.debug("registry mirror failed, using the next endpoint", { mirror: this.endpoint.host, error: e });
        this.#handOver();
      }
    }
  }

  /** Leaves a mirror for the next endpoint, which has not answered yet (so its own HTTPS-then-HTTP probing applies). */
  #handOver(): void {
    this.#index++;
    this.#settled = false;
  }

  async #getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const expected = reference.includes(":") ? parseDigest(reference) : undefined;
    checkedReference(reference);
    const name = `${this.domain}/${this.path}`;
    const denied = (detail: string) => wharfError("unauthorized", `pull access denied for ${name}, repository does not exist or may require 'docker login': ${detail || "denied: requested access to the resource is denied"}`);
    let res: IncomingMessage;
    try {
      res = await this.send("GET", `/v2/${this.path}/manifests/${checkedReference(reference)}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [this.pullScope], retry: true, follow: true, signal });
    } catch (e) {
      // The token server refusing us is, to the user, the registry refusing the pull.
      if (isKind(e, "unauthorized")) throw denied((e as Error).message);
      throw e;
    }
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const detail = await registryErrorText(res);
      if (status === 404) throw wharfError("not-found", `manifest for ${name}:${reference} not found: ${detail || "manifest unknown"}`.replace(`${name}:sha256`, `${name}@sha256`));
      if (status === 401 || status === 403) throw denied(detail);
      throw this.#refusal(status, `fetch manifest ${name}:${reference}`, detail);
    }
    const bytes = await readBody(res, MAX_DOCUMENT_BYTES, `manifest ${this.path}:${reference}`);
    const digest = digestOf(bytes, expected ? (expected.slice(0, expected.indexOf(":")) as "sha256" | "sha512") : "sha256");
    if (expected && digest !== expected) throw wharfError("data-corrupt", `manifest ${this.path}@${expected}: the registry sent content with digest ${digest}`);
    const header = res.headers["docker-content-digest"];
    if (!expected && typeof header === "string" && header.startsWith("sha256:") && header !== digest) {
      throw wharfError("data-corrupt", `manifest ${this.path}:${reference}: the registry says ${header}, the content is ${digest}`);
    }
    const declared = (res.headers["content-type"] ?? "").split(";")[0]!.trim();
    return { bytes, mediaType: isManifestType(declared) || isIndexType(declared) ? declared : "", digest };
  }

  /** `HEAD` of a manifest: its descriptor, or undefined when the registry does not have it. */
  async headManifest(reference: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
    const res = await this.send("HEAD", `/v2/${this.path}/manifests/${checkedReference(reference)}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [this.pullScope], retry: true, follow: true, signal });
    drain(res);
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw this.#refusal(res.statusCode ?? 0, `check manifest ${this.path}:${reference}`, "");
    const digest = res.headers["docker-content-digest"];
    const size = Number(res.headers["content-length"]);
    if (typeof digest !== "string" || !Number.isSafeInteger(size)) return undefined;
    return { mediaType: (res.headers["content-type"] ?? "").split(";")[0]!.trim(), digest: parseDigest(digest), size };
  }

  /** Whether the registry has the blob (`HEAD`), with the size it reports. */
  async hasBlob(digest: Digest, signal?: AbortSignal, scopes?: readonly string[]): Promise<boolean> {
    const res = await this.send("HEAD", `/v2/${this.path}/blobs/${digest}`, { scopes: scopes ?? [this.pullScope], retry: true, follow: true, signal });
    drain(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw this.#refusal(res.statusCode ?? 0, `check blob ${digest} in ${this.path}`, "");
  }

  /**
   * Opens a blob's bytes from `offset` on. Foreign layers are fetched from
   * their URLs first, without credentials; then from the registry (which may
   * redirect to blob storage, again without credentials).
   */
  async openBlob(descriptor: Descriptor, offset: number, signal?: AbortSignal): Promise<OpenedBlob> {
    const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
    for (const raw of descriptor.urls ?? []) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        continue;
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") continue;
      try {
        const tls = { ...(await this.client.hosts.tls(url.host)), skipVerify: this.client.hosts.isInsecure(url.host) };
        const res = await exchange({ method: "GET", url, headers, tls, ...(signal ? { signal } : {}) });
        if (res.statusCode === 200 || res.statusCode === 206) return { body: res, start: res.statusCode === 206 ? offset : 0 };
        drain(res);
      } catch (e) {
        if (signal?.aborted) throw wharfError("cancelled", `fetch blob ${descriptor.digest}: cancelled`, signal.reason);
        this.client.logger.debug("foreign layer URL failed", { url: url.href, error: e });
      }
    }
    const res = await this.send("GET", `/v2/${this.path}/blobs/${descriptor.digest}`, { headers, scopes: [this.pullScope], retry: true, follow: true, signal });
    const status = res.statusCode ?? 0;
    if (status === 200) return { body: res, start: 0 };
    if (status === 206) {
      const m = /^bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
      const start = m ? Number(m[1]) : offset;
      if (start !== offset) {
        drain(res);
        throw wharfError("unavailable", `fetch blob ${descriptor.digest}: asked for bytes from ${offset}, the registry sent from ${start}`);
      }
      return { body: res, start };
    }
    if (status === 416 && offset > 0) {
      drain(res);
      return this.openBlob(descriptor, 0, signal);
    }
    const detail = await registryErrorText(res);
    throw this.#refusal(status, `fetch blob ${descriptor.digest} from ${this.domain}/${this.path}`, detail);
  }

  /** A small blob (a config) read whole and verified. */
  async getDocumentBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    if (descriptor.size > MAX_DOCUMENT_BYTES) throw wharfError("invalid-argument", `config ${descriptor.digest}: ${descriptor.size} bytes is more than the limit of ${MAX_DOCUMENT_BYTES}`);
    for (let attempt = 1; ; attempt++) {
      const { body } = await this.openBlob(descriptor, 0, signal);
      try {
        const bytes = await readBody(body, Math.min(descriptor.size, MAX_DOCUMENT_BYTES), `blob ${descriptor.digest}`);
        if (bytes.length !== descriptor.size) throw wharfError("data-corrupt", `blob ${descriptor.digest}: expected ${descriptor.size} bytes, the registry sent ${bytes.length}`);
        const digest = digestOf(bytes, descriptor.digest.startsWith("sha512:") ? "sha512" : "sha256");
        if (digest !== descriptor.digest) throw wharfError("data-corrupt", `blob ${descriptor.digest}: the registry sent content with digest ${digest}`);
        return bytes;
      } catch (e) {
        if (isNetworkError(e) && attempt < this.client.retry.attempts) {
          await sleep(backoffMs(this.client.retry, attempt), signal);
          continue;
        }
        if (isKind(e, "invalid-argument")) throw wharfError("data-corrupt", (e as Error).message);
        throw e;
      }
    }
  }

  /** Cross-repository mount (`POST ?mount=&from=`): true when the registry linked the blob, false when an upload is needed. */
  async mountBlob(digest: Digest, fromPath: string, signal?: AbortSignal): Promise<boolean> {
    const scopes = [this.pushScope, repositoryScope(fromPath, ["pull"])];
    const res = await this.send("POST", `/v2/${this.path}/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(fromPath)}`, { headers: { "Content-Length": "0" }, scopes, retry: true, signal });
    drain(res);
    if (res.statusCode === 201) return true;
    if (res.statusCode === 202) {
      // The registry started an upload instead; cancel it, the caller uploads anew.
      const loc = res.headers.location;
      if (loc) await this.#cancelUpload(loc, signal);
      return false;
    }
    if (res.statusCode === 404 || res.statusCode === 401 || res.statusCode === 403) return false;
    throw this.#refusal(res.statusCode ?? 0, `mount blob ${digest} from ${fromPath}`, "");
  }

  async #cancelUpload(location: string, signal?: AbortSignal): Promise<void> {
    try {
      const url = new URL(location, this.#url("/"));
      const res = await this.send("DELETE", url.pathname + url.search, { scopes: [this.pushScope], retry: false, signal });
      drain(res);
    } catch {
      // The registry expires abandoned uploads itself.
    }
  }

  /**
   * Uploads a blob whose digest and size are known: `POST` for a session,
   * then one `PUT ?digest=` with the bytes. The source is opened anew for
   * each attempt, so a failed upload starts over in a fresh session.
   */
  async uploadBlob(descriptor: Descriptor, open: () => Readable, signal?: AbortSignal): Promise<void> {
    const action = `upload blob ${descriptor.digest} to ${this.domain}/${this.path}`;
    const policy = this.client.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        const location = await this.startUpload(signal);
        const url = new URL(location, this.#url("/"));
        url.searchParams.set("digest", descriptor.digest);
        const res = await this.send("PUT", url.pathname + url.search, {
          headers: { "Content-Type": "application/octet-stream", "Content-Length": String(descriptor.size) },
          body: open,
          scopes: [this.pushScope],
          retry: false,
          signal,
        });
        if (res.statusCode === 201 || res.statusCode === 204) return drain(res);
        if (isRetriableStatus(res.statusCode ?? 0) && attempt < policy.attempts) {
          drain(res);
          await sleep(backoffMs(policy, attempt, res.headers["retry-after"]), signal);
          continue;
        }
        throw await answerError(res, action);
      } catch (e) {
        if (isNetworkError(e) && attempt < policy.attempts && !signal?.aborted) {
          await sleep(backoffMs(policy, attempt), signal);
          continue;
        }
        if (isNetworkError(e)) throw wharfError("unavailable", `${action}: ${(e as Error).message}`, e);
        throw e;
      }
    }
  }

  /** Starts an upload session; returns its location. */
  async startUpload(signal?: AbortSignal): Promise<string> {
    const res = await this.send("POST", `/v2/${this.path}/blobs/uploads/`, { headers: { "Content-Length": "0" }, scopes: [this.pushScope], retry: true, signal });
    if (res.statusCode !== 202 || !res.headers.location) {
      if (res.statusCode === 401 || res.statusCode === 403) {
        drain(res);
        throw wharfError("unauthorized", "denied: requested access to the resource is denied");
      }
      throw await answerError(res, `start upload to ${this.domain}/${this.path}`);
    }
    drain(res);
    return res.headers.location;
  }

  /**
   * Streams a blob whose digest is only known at the end: one chunked
   * `PATCH` with the bytes, then `PUT ?digest=`. Not retried (the source is
   * consumed); the caller retries with the then known digest.
   */
  async streamBlob(source: Readable, digestWhenDone: () => Digest, signal?: AbortSignal): Promise<void> {
    const action = `upload blob to ${this.domain}/${this.path}`;
    const location = await this.startUpload(signal);
    let url = new URL(location, this.#url("/"));
    const patched = await this.send("PATCH", url.pathname + url.search, { headers: { "Content-Type": "application/octet-stream" }, body: () => source, scopes: [this.pushScope], retry: false, signal });
    if (patched.statusCode !== 202 && patched.statusCode !== 204) throw await answerError(patched, action);
    drain(patched);
    if (patched.headers.location) url = new URL(patched.headers.location, url);
    url.searchParams.set("digest", digestWhenDone());
    const res = await this.send("PUT", url.pathname + url.search, { headers: { "Content-Length": "0" }, scopes: [this.pushScope], retry: true, signal });
    if (res.statusCode !== 201 && res.statusCode !== 204) throw await answerError(res, action);
    drain(res);
  }

  /** Puts a manifest under a tag or its digest; returns the digest the registry reports (checked against ours). */
  async putManifest(reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<Digest> {
    const digest = digestOf(bytes);
    const res = await this.send("PUT", `/v2/${this.path}/manifests/${checkedReference(reference)}`, {
      headers: { "Content-Type": mediaType, "Content-Length": String(bytes.length) },
      body: bytes,
      scopes: [this.pushScope],
      retry: true,
      signal,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200 && res.statusCode !== 202) {
      if (res.statusCode === 401 || res.statusCode === 403) {
        drain(res);
        throw wharfError("unauthorized", "denied: requested access to the resource is denied");
      }
      throw await answerError(res, `put manifest ${this.domain}/${this.path}:${reference}`);
    }
    drain(res);
    const reported = res.headers["docker-content-digest"];
    if (typeof reported === "string" && reported !== digest) throw wharfError("data-corrupt", `put manifest ${this.path}:${reference}: the registry stored ${reported}, we sent ${digest}`);
    return digest;
  }

  /** Every tag of the repository, following `Link` pagination. */
  async tags(signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = `/v2/${this.path}/tags/list?n=1000`;
    for (let page = 0; path && page < 100; page++) {
      const res = await this.send("GET", path, { scopes: [this.pullScope], retry: true, follow: true, signal });
      if (res.statusCode !== 200) {
        if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 404) {
          drain(res);
          throw wharfError(res.statusCode === 404 ? "not-found" : "unauthorized", `list tags of ${this.domain}/${this.path}: repository does not exist or may require 'docker login'`);
        }
        throw await answerError(res, `list tags of ${this.domain}/${this.path}`);
      }
      const doc = JSON.parse((await readBody(res, MAX_DOCUMENT_BYTES, "tag list")).toString("utf8")) as { tags?: unknown };
      if (Array.isArray(doc.tags)) for (const t of doc.tags) if (typeof t === "string") out.push(t);
      const link = /<([^>]+)>;\s*rel="?next"?/.exec(String(res.headers.link ?? ""));
      path = link ? new URL(link[1]!, this.#url("/")).pathname + new URL(link[1]!, this.#url("/")).search : undefined;
    }
    return out;
  }
}

// The CLI's side of the Engine API: one client over the daemon's unix socket,
// a method per endpoint the CLI uses, JSON progress streams read as async
// iterators, and failures turned into WharfErrors whose kind follows the
// HTTP status. The CLI talks to wharfd through this module and nothing else.
import { Agent, request, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createInterface } from "node:readline";
import { WharfError, errnoCode, errorChain, type ErrorKind } from "../internal/errors.js";
import { API_VERSION, type DiskUsageResponse, type HistoryResponseItem, type ImageDeleteResponseItem, type ImageInspect, type ImagePruneResponse, type ImageSummary, type JsonMessage, type SystemInfo, type SystemVersion } from "./wire.js";

export { WharfError, errorChain, type ErrorKind };

export const DEFAULT_HOST = "unix:///run/wharf/wharf.sock";

/** Filters as the API takes them: `{"dangling":{"true":true}}`, docker's filters.Args. */
export type Filters = Record<string, string[]>;

/** An error response of the daemon: its message is the daemon's own. */
export class DaemonError extends WharfError {
  override name = "DaemonError";
  constructor(
    kind: ErrorKind,
    message: string,
    readonly status: number,
  ) {
    super(kind, message);
  }
}

/** The daemon could not be reached at all. */
export class ConnectionError extends WharfError {
  override name = "ConnectionError";
}

/** An `error` line in a JSON progress stream. */
export class StreamError extends WharfError {
  override name = "StreamError";
}

/** The error kind an HTTP status stands for (the inverse of the daemon's status map). */
export function kindFromStatus(status: number): ErrorKind {
  switch (status) {
    case 400:
      return "invalid-argument";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not-found";
    case 409:
      return "conflict";
    case 412:
      return "precondition";
    case 499:
      return "cancelled";
    case 501:
      return "not-implemented";
    case 502:
    case 503:
    case 504:
      return "unavailable";
    case 507:
      return "no-space";
    default:
      return status >= 400 && status < 500 ? "invalid-argument" : "internal";
  }
}

/** `unix:///path` → the socket path; other schemes are refused. */
export function socketPathOf(host: string): string {
  const m = /^unix:\/\/(\/.*)$/.exec(host);
  if (!m) {
    if (/^(tcp|http|https|ssh|npipe|fd):\/\//.test(host)) throw new WharfError("not-implemented", `unsupported host ${JSON.stringify(host)}: only unix sockets are supported`);
    throw new WharfError("invalid-argument", `invalid host ${JSON.stringify(host)}: expected unix:///path/to/socket`);
  }
  return m[1]!;
}

/** The host the CLI talks to: `-H`, else `WHARF_HOST`, else the default socket. */
export function resolveHost(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  const fromEnv = env["WHARF_HOST"];
  return fromEnv ? fromEnv : DEFAULT_HOST;
}

/** A path segment as Go's net/url escapes it: `/`, `:` and `@` stay readable (image names carry them). */
function escapeName(name: string): string {
  return encodeURIComponent(name).replace(/%2F/gi, "/").replace(/%3A/gi, ":").replace(/%40/g, "@");
}

export type Query = Record<string, string | string[] | undefined>;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) params.append(k, x);
    else params.set(k, v);
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

export function filtersParam(filters: Filters | undefined): string | undefined {
  if (!filters) return undefined;
  const entries = Object.entries(filters).filter(([, v]) => v.length > 0);
  if (entries.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const [k, values] of entries) out[k] = Object.fromEntries(values.map((v) => [v, true]));
  return JSON.stringify(out);
}

async function readAll(res: IncomingMessage, limit = 64 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      res.destroy();
      throw new WharfError("internal", `reading the daemon's response: larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Lines of a JSON progress stream; an `error` line ends it with a StreamError. */
export async function* jsonMessages(body: Readable): AsyncGenerator<JsonMessage> {
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let msg: JsonMessage;
    try {
      msg = JSON.parse(line) as JsonMessage;
    } catch (e) {
      throw new WharfError("internal", `reading the daemon's progress stream: ${JSON.stringify(line.slice(0, 80))} is not JSON`, { cause: e });
    }
    if (msg.error !== undefined || msg.errorDetail !== undefined) {
      throw new StreamError("internal", msg.errorDetail?.message ?? msg.error ?? "unknown error");
    }
    yield msg;
  }
}

/** A hijacked connection: after `101 UPGRADED`, raw bytes both ways. */
export interface Hijacked {
  socket: Socket;
  /** `application/vnd.docker.raw-stream` (tty) or `…multiplexed-stream`. */
  contentType: string;
  /** Bytes that arrived with the response head. */
  head: Buffer;
}

export interface ClientOptions {
  host?: string;
  /** The API version prefix used on every path. */
  apiVersion?: string;
}

export interface ImportOptions {
  repo?: string;
  tag?: string;
  message?: string;
  changes?: readonly string[];
  platform?: string;
}

export interface LoadResponse {
  /** true when the body is a JSON progress stream; plain text otherwise. */
  json: boolean;
  body: IncomingMessage;
}

/** What `wharf build` asks of POST /build. */
export interface BuildQuery {
  readonly tags: readonly string[];
  readonly dockerfile: string;
  readonly quiet: boolean;
  readonly noCache: boolean;
  readonly pull: boolean;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly platform?: string;
  readonly cacheFrom: readonly string[];
  readonly noCacheFilter: readonly string[];
}

/**
 * No TLS server name: the keep-alive agent would otherwise work one out of
 * the Host header, and Node's first check of it costs ~5 ms of a command.
 */
const NO_SERVERNAME: object = { servername: "" };

export class EngineClient {
  readonly host: string;
  readonly #socketPath: string;
  readonly #agent: Agent;
  readonly #prefix: string;

  constructor(options: ClientOptions = {}) {
    this.host = options.host ?? DEFAULT_HOST;
    this.#socketPath = socketPathOf(this.host);
    this.#agent = new Agent({ keepAlive: true });
    this.#prefix = `/v${options.apiVersion ?? API_VERSION}`;
  }

  /** Releases kept-alive connections so the process can exit. */
  close(): void {
    this.#agent.destroy();
  }

  #connectionError(e: unknown): WharfError {
    const code = errnoCode(e);
    if (code === "ECONNREFUSED" || code === "ENOENT" || code === "EACCES" || code === "ENOTSOCK") {
      const detail = code === "EACCES" ? `permission denied while trying to connect to the wharf daemon socket at ${this.host}` : `Cannot connect to the wharf daemon at ${this.host}. Is wharfd running?`;
      return new ConnectionError("unavailable", detail, { cause: e });
    }
    return new ConnectionError("unavailable", `error during connect: ${errorChain(e)}`, { cause: e });
  }

  /**
   * Sends one request; resolves with the response once its status is known.
   * A non-2xx status becomes a DaemonError carrying the daemon's message.
   */
  async #send(method: string, path: string, options: { query?: Query; body?: Readable | string; headers?: OutgoingHttpHeaders; versioned?: boolean } = {}): Promise<IncomingMessage> {
    const fullPath = (options.versioned === false ? "" : this.#prefix) + path + queryString(options.query ?? {});
    // Host given, as Node would make it for a socket (and see NO_SERVERNAME).
    const headers: OutgoingHttpHeaders = { Host: "localhost", "User-Agent": "wharf-cli", ...options.headers };
    if (typeof options.body === "string") {
      headers["Content-Type"] ??= "application/json";
      headers["Content-Length"] = Buffer.byteLength(options.body);
    }
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ socketPath: this.#socketPath, agent: this.#agent, ...NO_SERVERNAME, method, path: fullPath, headers }, resolve);
      req.on("error", (e) => reject(this.#connectionError(e)));
      const body = options.body;
      if (body === undefined) req.end();
      else if (typeof body === "string") req.end(body);
      else {
        pipeline(body, req).catch((e: unknown) => {
          req.destroy();
          reject(errnoCode(e) === "ECONNREFUSED" || errnoCode(e) === "ENOENT" ? this.#connectionError(e) : new WharfError("internal", `sending the request body: ${errorChain(e)}`, { cause: e }));
        });
      }
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const text = await readAll(res, 1 << 20).catch(() => "");
    let message = text.trim();
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === "string") message = parsed.message;
    } catch {
      // Not JSON: the body itself is the message, as docker's client treats it.
    }
    if (message === "") message = `${status} ${res.statusMessage ?? ""}`.trim();
    throw new DaemonError(kindFromStatus(status), message, status);
  }

  async #json<T>(method: string, path: string, options: { query?: Query; body?: string; headers?: Record<string, string> } = {}): Promise<T> {
    const res = await this.#send(method, path, options);
    const text = await readAll(res);
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new WharfError("internal", `reading the daemon's answer to ${method} ${path}: not JSON`, { cause: e });
    }
  }

  async #discard(method: string, path: string, options: { query?: Query } = {}): Promise<void> {
    const res = await this.#send(method, path, options);
    res.resume();
    await new Promise<void>((resolve, reject) => {
      res.on("end", resolve);
      res.on("error", reject);
    });
  }

  /** Any endpoint: the response once its status is known; a non-2xx status is a DaemonError. */
  request(method: string, path: string, options: { query?: Query; body?: Readable | string; headers?: OutgoingHttpHeaders } = {}): Promise<IncomingMessage> {
    return this.#send(method, path, options);
  }

  /** Any endpoint whose answer is one JSON document. */
  requestJson<T>(method: string, path: string, options: { query?: Query; body?: string } = {}): Promise<T> {
    return this.#json<T>(method, path, options);
  }

  /** Any endpoint whose answer carries nothing the caller needs. */
  requestEmpty(method: string, path: string, options: { query?: Query } = {}): Promise<void> {
    return this.#discard(method, path, options);
  }

  /**
   * `POST` with `Connection: Upgrade`, `Upgrade: tcp`, as the docker CLI's
   * attach and exec start: resolves with the connection once the daemon
   * answered 101; any other answer is a DaemonError. The connection is its
   * own, never one of the kept-alive ones.
   */
  hijack(path: string, options: { query?: Query; body?: string } = {}): Promise<Hijacked> {
    const fullPath = this.#prefix + path + queryString(options.query ?? {});
    const headers: OutgoingHttpHeaders = { Host: "localhost", "User-Agent": "wharf-cli", Connection: "Upgrade", Upgrade: "tcp" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = Buffer.byteLength(options.body);
    }
    return new Promise<Hijacked>((resolve, reject) => {
      const req = request({ socketPath: this.#socketPath, agent: false, ...NO_SERVERNAME, method: "POST", path: fullPath, headers });
      req.on("error", (e) => reject(this.#connectionError(e)));
      req.on("upgrade", (res, socket, head) => {
        const type = res.headers["content-type"];
        resolve({ socket: socket as Socket, contentType: Array.isArray(type) ? (type[0] ?? "") : (type ?? ""), head });
      });
      req.on("response", (res) => {
        void readAll(res, 1 << 20)
          .catch(() => "")
          .then((text) => {
            const status = res.statusCode ?? 0;
            let message = text.trim();
            try {
              const parsed = JSON.parse(text) as { message?: unknown };
              if (typeof parsed.message === "string") message = parsed.message;
            } catch {
              // plain text
            }
            if (status >= 200 && status < 300) message = `the daemon answered ${status} instead of upgrading the connection`;
            reject(new DaemonError(kindFromStatus(status >= 200 && status < 300 ? 500 : status), message || `${status}`, status));
          });
      });
      req.end(options.body);
    });
  }

  /** `GET /_ping`: the API version the daemon speaks. */
  async ping(): Promise<{ apiVersion: string | undefined; osType: string | undefined }> {
    const res = await this.#send("GET", "/_ping", { versioned: false });
    await readAll(res);
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    return { apiVersion: header("api-version"), osType: header("ostype") };
  }

  version(): Promise<SystemVersion> {
    return this.#json("GET", "/version");
  }

  info(): Promise<SystemInfo> {
    return this.#json("GET", "/info");
  }

  systemDf(): Promise<DiskUsageResponse> {
    return this.#json("GET", "/system/df");
  }

  listImages(options: { all?: boolean; filters?: Filters } = {}): Promise<ImageSummary[]> {
    return this.#json("GET", "/images/json", { query: { all: options.all ? "1" : undefined, filters: filtersParam(options.filters) } });
  }

  inspectImage(name: string): Promise<ImageInspect> {
    return this.#json("GET", `/images/${escapeName(name)}/json`);
  }

  /** The raw JSON of an image's inspect, so fields the wire types omit survive to `inspect`. */
  inspectImageRaw(name: string): Promise<Record<string, unknown>> {
    return this.#json("GET", `/images/${escapeName(name)}/json`);
  }

  imageHistory(name: string): Promise<HistoryResponseItem[]> {
    return this.#json("GET", `/images/${escapeName(name)}/history`);
  }

  /** `POST /images/{source}/tag?repo=&tag=`; `repo` is the full repository name. */
  tagImage(source: string, target: { repo: string; tag?: string }): Promise<void> {
    return this.#discard("POST", `/images/${escapeName(source)}/tag`, { query: { repo: target.repo, tag: target.tag } });
  }

  removeImage(name: string, options: { force?: boolean; noPrune?: boolean } = {}): Promise<ImageDeleteResponseItem[]> {
    return this.#json("DELETE", `/images/${escapeName(name)}`, { query: { force: options.force ? "1" : undefined, noprune: options.noPrune ? "1" : undefined } });
  }

  pruneImages(filters: Filters = {}): Promise<ImagePruneResponse> {
    return this.#json("POST", "/images/prune", { query: { filters: filtersParam(filters) } });
  }

  /** `GET /images/get?names=...`: the archive as a stream, to be piped wherever it goes. */
  saveImages(names: readonly string[], options: { format?: string } = {}): Promise<IncomingMessage> {
    return this.#send("GET", "/images/get", { query: { names: [...names], format: options.format } });
  }

  /** `POST /images/load`: uploads the archive; the answer is a progress stream or text. */
  async loadImages(archive: Readable, options: { quiet?: boolean } = {}): Promise<LoadResponse> {
    const body = await this.#send("POST", "/images/load", { query: { quiet: options.quiet ? "1" : "0" }, body: archive, headers: { "Content-Type": "application/x-tar" } });
    return { json: (body.headers["content-type"] ?? "").startsWith("application/json"), body };
  }

  /**
   * `POST /images/create?fromSrc=...`: a root filesystem tar (or a URL the
   * daemon fetches) becomes an image; the answer is a progress stream whose
   * last status is the new image id.
   */
  importImage(source: { stream: Readable } | { url: string }, options: ImportOptions = {}): Promise<IncomingMessage> {
    const query: Query = {
      fromSrc: "stream" in source ? "-" : source.url,
      repo: options.repo || undefined,
      tag: options.tag || undefined,
      message: options.message || undefined,
      platform: options.platform ? options.platform.toLowerCase() : undefined,
      changes: options.changes && options.changes.length > 0 ? [...options.changes] : undefined,
    };
    return this.#send("POST", "/images/create", "stream" in source ? { query, body: source.stream, headers: { "Content-Type": "application/x-tar" } } : { query });
  }

  /**
   * `POST /build`: the context tar as the body, the options as docker's
   * legacy builder sends them; secrets go in a header, never in the URL, and
   * so do the registry credentials for the images the build pulls.
   * The answer is a JSON line stream.
   */
  build(context: Readable, options: BuildQuery, secrets?: Record<string, string>, registryConfig?: string): Promise<IncomingMessage> {
    const headers: OutgoingHttpHeaders = { "Content-Type": "application/x-tar" };
    if (registryConfig) headers["X-Registry-Config"] = registryConfig;
    if (secrets && Object.keys(secrets).length > 0) headers["X-Wharf-Build-Secrets"] = Buffer.from(JSON.stringify(secrets)).toString("base64");
    const query: Query = {
      t: options.tags.length > 0 ? [...options.tags] : undefined,
      dockerfile: options.dockerfile,
      q: options.quiet ? "1" : undefined,
      nocache: options.noCache ? "1" : undefined,
      pull: options.pull ? "1" : undefined,
      rm: "1",
      buildargs: Object.keys(options.buildArgs).length > 0 ? JSON.stringify(options.buildArgs) : undefined,
      labels: Object.keys(options.labels).length > 0 ? JSON.stringify(options.labels) : undefined,
      target: options.target || undefined,
      platform: options.platform || undefined,
      cachefrom: options.cacheFrom.length > 0 ? JSON.stringify(options.cacheFrom) : undefined,
      nocachefilter: options.noCacheFilter.length > 0 ? JSON.stringify(options.noCacheFilter) : undefined,
    };
    return this.#send("POST", "/build", { query, body: context, headers });
  }

  // ---- registry (pull, push, login): X-Registry-Auth is base64url of docker's AuthConfig, `{}` when anonymous.

  /** `POST /images/create?fromImage=&tag=`: the answer is a progress stream. An empty tag pulls every tag. */
  pullImage(fromImage: string, options: { tag?: string; platform?: string; registryAuth?: string } = {}): Promise<IncomingMessage> {
    return this.#send("POST", "/images/create", {
      query: { fromImage, tag: options.tag ?? "", platform: options.platform || undefined },
      headers: { "X-Registry-Auth": options.registryAuth ?? "e30=" },
    });
  }

  /** `POST /images/{name}/push?tag=`: an empty tag pushes every tag of the repository. */
  pushImage(name: string, options: { tag?: string; registryAuth?: string } = {}): Promise<IncomingMessage> {
    return this.#send("POST", `/images/${escapeName(name)}/push`, { query: { tag: options.tag ?? "" }, headers: { "X-Registry-Auth": options.registryAuth ?? "e30=" } });
  }

  /** `POST /auth`: checks credentials against a registry. */
  login(auth: { username: string; password: string; serveraddress: string }): Promise<{ Status: string; IdentityToken?: string }> {
    return this.#json("POST", "/auth", { body: JSON.stringify(auth) });
  }

  /** `GET /distribution/{name}/json`: the descriptor and platforms of a remote image. */
  async distributionInspect(name: string, registryAuth?: string): Promise<{ Descriptor: { mediaType: string; digest: string; size: number }; Platforms: unknown[] }> {
    const res = await this.#send("GET", `/distribution/${escapeName(name)}/json`, { headers: { "X-Registry-Auth": registryAuth ?? "e30=" } });
    return JSON.parse(await readAll(res)) as { Descriptor: { mediaType: string; digest: string; size: number }; Platforms: unknown[] };
  }

  /** `GET /distribution/{name}/manifest` (wharf's): the manifest or index the registry holds, as it sent it. */
  async distributionManifest(name: string, registryAuth?: string): Promise<string> {
    const res = await this.#send("GET", `/distribution/${escapeName(name)}/manifest`, { headers: { "X-Registry-Auth": registryAuth ?? "e30=" } });
    return readAll(res, 8 << 20);
  }

  /** `GET /distribution/{name}/image` (wharf's): the image a reference names in its registry, as image inspect shows it. */
  remoteImageRaw(name: string, options: { platform?: string; registryAuth?: string } = {}): Promise<Record<string, unknown>> {
    return this.#json("GET", `/distribution/${escapeName(name)}/image`, {
      ...(options.platform ? { query: { platform: options.platform } } : {}),
      headers: { "X-Registry-Auth": options.registryAuth ?? "e30=" },
    });
  }

  /** `POST /build/prune`: drops the build cache. */
  pruneBuildCache(): Promise<{ CachesDeleted: string[] | null; SpaceReclaimed: number }> {
    return this.#json("POST", "/build/prune");
  }
}

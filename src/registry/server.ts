// registry/server: the OCI distribution API over HTTP(S). Parses each request
// into a route with checked values (name, reference, digest, ranges), asks
// the authorizer for the access the route needs, and maps it onto Registry.
// Errors become the spec's JSON body in one place (errors.ts).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { createServer as createHttpsServer } from "node:https";
import { pipeline } from "node:stream/promises";
import { MediaType, type Digest } from "../oci/index.js";
import { isFileProvider, type FileProvider } from "../content/index.js";
import { errnoCode, nullLogger, sys, type Logger } from "../internal/index.js";
import { openAuthorizer, type Access, type Authorizer } from "./auth.js";
import { errorResponse, registryError } from "./errors.js";
import { parseManifestReference, parseRepositoryName, parseRequestDigest, type ManifestReference, type RepositoryName } from "./names.js";
import type { Registry } from "./registry.js";

type Route =
  | { kind: "ping" }
  | { kind: "catalog" }
  | { kind: "token" }
  | { kind: "tags"; repo: RepositoryName }
  | { kind: "manifest"; repo: RepositoryName; ref: ManifestReference }
  | { kind: "blob"; repo: RepositoryName; digest: Digest }
  | { kind: "uploads"; repo: RepositoryName }
  | { kind: "upload"; repo: RepositoryName; id: string }
  | { kind: "referrers"; repo: RepositoryName; digest: Digest };

const ROUTES: readonly [RegExp, (m: RegExpExecArray) => Route][] = [
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: "uploads", repo: parseRepositoryName(m[1]!) })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: "upload", repo: parseRepositoryName(m[1]!), id: decode(m[2]!) })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: "blob", repo: parseRepositoryName(m[1]!), digest: parseRequestDigest(decode(m[2]!)) })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: "manifest", repo: parseRepositoryName(m[1]!), ref: parseManifestReference(decode(m[2]!)) })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: "tags", repo: parseRepositoryName(m[1]!) })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: "referrers", repo: parseRepositoryName(m[1]!), digest: parseRequestDigest(decode(m[2]!)) })],
];

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const METHODS: Record<Route["kind"], readonly string[]> = {
  ping: ["GET", "HEAD"],
  catalog: ["GET"],
  token: ["GET", "POST"],
  tags: ["GET"],
  manifest: ["GET", "HEAD", "PUT", "DELETE"],
  blob: ["GET", "HEAD", "DELETE"],
  uploads: ["POST"],
  upload: ["GET", "PATCH", "PUT", "DELETE"],
  referrers: ["GET"],
};

const FEW_PULLS = 4;
const BIG_READ = 1 << 20;

export interface ServerOptions {
  readonly authorizer?: Authorizer;
  readonly logger?: Logger;
  readonly tls?: { readonly cert: Buffer | string; readonly key: Buffer | string };
}

function parseRoute(path: string, tokenPath: string | undefined): Route | undefined {
  if (path === "/v2/" || path === "/v2") return { kind: "ping" };
  if (path === "/v2/_catalog") return { kind: "catalog" };
  if (tokenPath !== undefined && path === tokenPath) return { kind: "token" };
  if (!path.startsWith("/v2/")) return undefined;
  for (const [re, make] of ROUTES) {
    const m = re.exec(path);
    if (m) return make(m);
  }
  return undefined;
}

function accessFor(route: Route, method: string, query: URLSearchParams): Access[] {
  const read = method === "GET" || method === "HEAD";
  switch (route.kind) {
    case "ping":
    case "token":
      return [];
    case "catalog":
      return [{ type: "registry", name: "catalog", actions: ["*"] }];
    case "uploads": {
      const out: Access[] = [{ type: "repository", name: route.repo, actions: ["pull", "push"] }];
      const from = query.get("from");
      if (query.has("mount") && from !== null && from !== route.repo) out.push({ type: "repository", name: from, actions: ["pull"] });
      return out;
    }
    case "upload":
      return [{ type: "repository", name: route.repo, actions: ["pull", "push"] }];
    case "blob":
    case "manifest":
      if (method === "DELETE") return [{ type: "repository", name: route.repo, actions: ["delete"] }];
      return [{ type: "repository", name: route.repo, actions: read ? ["pull"] : ["pull", "push"] }];
    case "tags":
    case "referrers":
      return [{ type: "repository", name: route.repo, actions: ["pull"] }];
  }
}

/** `start-end` or `bytes start-end[/total]` of an upload chunk. */
function parseContentRange(text: string | undefined): { start: number; end: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(text.trim());
  if (!m) throw registryError("RANGE_INVALID", `invalid Content-Range ${JSON.stringify(text.slice(0, 100))}: expected <start>-<end>`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) throw registryError("RANGE_INVALID", `invalid Content-Range ${JSON.stringify(text)}: end before start`);
  return { start, end };
}

type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/** An RFC 9110 single byte range against a blob of `size` bytes; multiple ranges are ignored (whole body). */
function parseRange(text: string | undefined, size: number): ByteRange {
  if (text === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(text.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== "" && Number(m[2]) < start)) return "unsatisfiable";
  return { start, end };
}

function contentLength(req: IncomingMessage): number | undefined {
  const h = req.headers["content-length"];
  if (h === undefined) return undefined;
  const n = Number(h);
  if (!/^\d+$/.test(h) || !Number.isSafeInteger(n)) throw registryError("SIZE_INVALID", `invalid Content-Length ${JSON.stringify(h)}`);
  return n;
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers["content-length"];
  return (len !== undefined && len !== "0") || req.headers["transfer-encoding"] !== undefined;
}

function listSize(query: URLSearchParams, registry: Registry): number | undefined {
  const text = query.get("n");
  if (text === null) return undefined;
  if (!/^\d+$/.test(text)) throw registryError("PAGINATION_NUMBER_INVALID", `invalid n ${JSON.stringify(text.slice(0, 50))}: expected a non-negative integer`);
  const n = Number(text);
  registry.checkListSize(n);
  return n;
}

function linkHeader(path: string, n: number | undefined, next: string): string {
  const q = new URLSearchParams();
  if (n !== undefined) q.set("n", String(n));
  q.set("last", next);
  return `<${path}?${q.toString()}>; rel="next"`;
}

/** Reads a body of at most `max` bytes; MANIFEST_TOO_LARGE (413) beyond. */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > max) throw registryError("MANIFEST_TOO_LARGE", `manifest of ${declared} bytes exceeds the limit of ${max}`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) throw registryError("MANIFEST_TOO_LARGE", `manifest exceeds the limit of ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

function uploadPath(repo: RepositoryName, id: string): string {
  return `/v2/${repo}/blobs/uploads/${id}`;
}

function blobPath(repo: RepositoryName, digest: Digest): string {
  return `/v2/${repo}/blobs/${digest}`;
}

function rangeHeader(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

/** The descriptor of a plain TCP or unix socket the kernel may send a file to; undefined under TLS. */
function socketFd(req: IncomingMessage): number | undefined {
  const socket = req.socket as typeof req.socket & { encrypted?: boolean; _handle?: { fd?: unknown } };
  if (socket.encrypted) return undefined;
  const fd = socket._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

const EMPTY = Buffer.alloc(0);

/** The socket a response writes to; waits for it while earlier responses on the connection are still going. Undefined once the response closed. */
function responseSocket(res: ServerResponse): Promise<Socket | undefined> {
  if (res.socket) return Promise.resolve(res.socket);
  if (res.destroyed) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const done = () => {
      res.off("socket", done);
      res.off("close", done);
      resolve(res.socket && !res.destroyed ? res.socket : undefined);
    };
    res.on("socket", done);
    res.on("close", done);
  });
}

/** A peer that takes no byte of a blob for this long is dropped. */
const SEND_IDLE_MS = 120_000;

/**
 * Sends a blob's bytes with sendfile: the headers go out through the
 * response, then the kernel copies the file to the socket (no read into the
 * process, no main-thread work), and the response ends with no body of its
 * own. A peer that goes away, or a response closed meanwhile, stops it.
 */
async function sendBlobFile(store: FileProvider, digest: Digest, range: { start: number; end: number }, fd: number, head: () => void, res: ServerResponse): Promise<void> {
  const { handle } = await store.openFile(digest);
  try {
    head();
    res.flushHeaders();
    // A pipelined request's response gets the socket once the ones before it ended.
    const socket = await responseSocket(res);
    if (!socket) return;
    // The kernel's bytes must follow the headers: an empty write calls back once every byte before it is out.
    if (socket.writableLength > 0) await new Promise<void>((resolve) => socket.write(EMPTY, () => resolve()));
    if (res.destroyed || socket.destroyed) return;
    const length = range.end - range.start + 1;
    const [sent, job] = sys().sendFile(fd, handle.fd, range.start, length, SEND_IDLE_MS);
    const stop = () => sys().sendFileCancel(job);
    res.once("close", stop);
    try {
      await sent;
    } catch (e) {
      // The bytes promised by Content-Length cannot all come: the connection must end.
      res.destroy();
      if (["EPIPE", "ECONNRESET", "ECANCELED", "ETIMEDOUT"].includes(errnoCode(e) ?? "")) return;
      throw e;
    } finally {
      res.off("close", stop);
    }
    res.end();
  } finally {
    await handle.close();
  }
}

/** The request handler: usable on any http.Server (the daemon mounts it on its own listener). */
export function registryHandler(registry: Registry, options: Omit<ServerOptions, "tls"> = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const authorizer = options.authorizer ?? openAuthorizer;
  /** Blob bodies being sent now. */
  let pulls = 0;
  const logger = options.logger ?? nullLogger;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://registry");
    res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    const route = parseRoute(url.pathname, authorizer.tokenPath);
    if (!route) throw registryError("NAME_UNKNOWN", `no such endpoint ${JSON.stringify(url.pathname.slice(0, 200))}`);
    if (!METHODS[route.kind].includes(method)) {
      res.setHeader("Allow", METHODS[route.kind].join(", "));
      throw registryError("UNSUPPORTED", `${method} is not supported on ${url.pathname.slice(0, 200)}`);
    }
    if (route.kind === "token") {
      let query = url.searchParams;
      if (method === "POST") query = new URLSearchParams((await readBody(req, 64 * 1024)).toString("utf8"));
      const t = await authorizer.issueToken!(req.headers, query);
      return json(res, 200, { token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt });
    }
    const grant = await authorizer.authorize(req.headers, accessFor(route, method, url.searchParams));
    const client = grant.user !== undefined ? `user:${grant.user}` : `addr:${req.socket.remoteAddress ?? ""}`;
    switch (route.kind) {
      case "ping":
        return json(res, 200, {}, method === "HEAD");
      case "catalog": {
        const n = listSize(url.searchParams, registry);
        const page = await registry.catalog(n, url.searchParams.get("last") ?? undefined);
        if (page.next !== undefined) res.setHeader("Link", linkHeader("/v2/_catalog", n, page.next));
        return json(res, 200, { repositories: page.items });
      }
      case "tags": {
        const n = listSize(url.searchParams, registry);
        const page = await registry.tags(route.repo, n, url.searchParams.get("last") ?? undefined);
        if (page.next !== undefined) res.setHeader("Link", linkHeader(`/v2/${route.repo}/tags/list`, n, page.next));
        return json(res, 200, { name: route.repo, tags: page.items });
      }
      case "referrers": {
        const artifactType = url.searchParams.get("artifactType") ?? undefined;
        const manifests = await registry.referrers(route.repo, route.digest, artifactType);
        if (artifactType !== undefined) res.setHeader("OCI-Filters-Applied", "artifactType");
        return json(res, 200, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, false, MediaType.OciIndex);
      }
      case "manifest":
        return manifest(route.repo, route.ref, method, req, res);
      case "blob":
        return blob(route.repo, route.digest, method, req, res);
      case "uploads":
        return startUpload(route.repo, url.searchParams, client, req, res);
      case "upload":
        return upload(route.repo, route.id, method, url.searchParams, req, res);
    }
  };

  const manifest = async (repo: RepositoryName, ref: ManifestReference, method: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (method === "PUT") {
      const bytes = await readBody(req, registry.limits.maxManifestBytes);
      const contentType = req.headers["content-type"]?.split(";")[0]?.trim();
      const record = await registry.putManifest(repo, ref, contentType, bytes);
      res.setHeader("Location", `/v2/${repo}/manifests/${record.digest}`);
      res.setHeader("Docker-Content-Digest", record.digest);
      if (record.subject !== undefined) res.setHeader("OCI-Subject", record.subject);
      return empty(res, 201);
    }
    if (method === "DELETE") {
      await registry.deleteManifest(repo, ref);
      return empty(res, 202);
    }
    if (method === "HEAD") {
      const record = await registry.manifestInfo(repo, ref);
      res.writeHead(200, { "Content-Type": record.mediaType, "Content-Length": record.size, "Docker-Content-Digest": record.digest, ETag: `"${record.digest}"` });
      res.end();
      return;
    }
    const { record, bytes } = await registry.getManifest(repo, ref);
    res.writeHead(200, { "Content-Type": record.mediaType, "Content-Length": bytes.length, "Docker-Content-Digest": record.digest, ETag: `"${record.digest}"` });
    res.end(bytes);
  };

  const blob = async (repo: RepositoryName, digest: Digest, method: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (method === "DELETE") {
      await registry.deleteBlob(repo, digest);
      return empty(res, 202);
    }
    if (method === "HEAD") {
      const info = await registry.checkBlob(repo, digest);
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": info.size, "Docker-Content-Digest": digest, "Accept-Ranges": "bytes", ETag: `"${digest}"` });
      res.end();
      return;
    }
    // Counted before the first await, so that pulls arriving together see each other.
    const others = pulls++;
    res.once("close", () => pulls--);
    const info = await registry.blob(repo, digest);
    const range = parseRange(req.headers.range, info.size);
    if (range === "unsatisfiable") {
      res.setHeader("Content-Range", `bytes */${info.size}`);
      throw registryError("RANGE_INVALID", `range ${JSON.stringify(req.headers.range)} is outside the blob's ${info.size} bytes`);
    }
    const headers: Record<string, string | number> = { "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest, "Accept-Ranges": "bytes", ETag: `"${digest}"` };
    const head = () => {
      if (range) res.writeHead(206, { ...headers, "Content-Length": range.end - range.start + 1, "Content-Range": `bytes ${range.start}-${range.end}/${info.size}` });
      else res.writeHead(200, { ...headers, "Content-Length": info.size });
    };
    const store = registry.storage.blobs;
    const fd = socketFd(req);
    if (fd !== undefined && isFileProvider(store)) {
      await sendBlobFile(store, digest, range ?? { start: 0, end: info.size - 1 }, fd, head, res);
      return;
    }
    // Few pulls at once read 1 MiB at a time (twice the rate of small reads); many share memory with the store's smaller reads.
    const stream = await store.reader(digest, range ?? {}, others < FEW_PULLS ? { bufferSize: BIG_READ } : {});
    head();
    await pipeline(stream, res);
  };

  const startUpload = async (repo: RepositoryName, query: URLSearchParams, client: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const mount = query.get("mount");
    if (mount !== null) {
      const digest = parseRequestDigest(mount, "mount digest");
      const fromText = query.get("from");
      const from = fromText === null ? undefined : parseRepositoryName(fromText);
      const info = await registry.mount(repo, digest, from);
      if (info) {
        res.setHeader("Location", blobPath(repo, info.digest));
        res.setHeader("Docker-Content-Digest", info.digest);
        return empty(res, 201);
      }
    }
    const digestText = query.get("digest");
    if (digestText !== null) {
      const digest = parseRequestDigest(digestText);
      const info = await registry.putBlob(repo, digest, req, contentLength(req));
      res.setHeader("Location", blobPath(repo, info.digest));
      res.setHeader("Docker-Content-Digest", info.digest);
      return empty(res, 201);
    }
    const status = await registry.startUpload(repo, client);
    res.setHeader("Location", uploadPath(repo, status.id));
    res.setHeader("Docker-Upload-UUID", status.id);
    res.setHeader("Range", rangeHeader(0));
    return empty(res, 202);
  };

  const upload = async (repo: RepositoryName, id: string, method: string, query: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (method === "DELETE") {
      await registry.uploads.cancel(repo, id);
      return empty(res, 204);
    }
    if (method === "GET") {
      const status = await registry.uploads.status(repo, id);
      res.setHeader("Location", uploadPath(repo, id));
      res.setHeader("Docker-Upload-UUID", id);
      res.setHeader("Range", rangeHeader(status.offset));
      return empty(res, 204);
    }
    const range = parseContentRange(req.headers["content-range"]);
    const length = contentLength(req);
    const options = { ...(range ? { range } : {}), ...(length !== undefined ? { length } : {}) };
    if (method === "PATCH") {
      const status = await registry.appendUpload(repo, id, req, options);
      res.setHeader("Location", uploadPath(repo, id));
      res.setHeader("Docker-Upload-UUID", id);
      res.setHeader("Range", rangeHeader(status.offset));
      return empty(res, 202);
    }
    const digestText = query.get("digest");
    if (digestText === null) throw registryError("DIGEST_INVALID", "finish upload: the digest query parameter is missing");
    const digest = parseRequestDigest(digestText);
    const info = await registry.finishUpload(repo, id, digest, hasBody(req) ? req : undefined, options);
    res.setHeader("Location", blobPath(repo, info.digest));
    res.setHeader("Docker-Content-Digest", info.digest);
    return empty(res, 201);
  };

  return (req, res) => {
    const started = Date.now();
    handle(req, res).then(
      () => {
        logger.debug("request", { method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - started });
      },
      (e: unknown) => {
        const r = errorResponse(e);
        // A client that goes away mid-transfer is not the registry's failure.
        const gone = req.destroyed || res.destroyed || errnoCode(e) === "ERR_STREAM_PREMATURE_CLOSE" || errnoCode(e) === "ECONNRESET";
        if (r.status >= 500 && !gone) logger.error("request failed", { method: req.method, path: req.url, error: e });
        else logger.debug("request refused", { method: req.method, path: req.url, status: r.status, code: r.code });
        if (res.headersSent) {
          res.destroy();
          return;
        }
        // A body we did not read must not be taken for the next request.
        if (!req.complete) res.setHeader("Connection", "close");
        if (r.challenge !== undefined) res.setHeader("WWW-Authenticate", r.challenge);
        const body = req.method === "HEAD" ? undefined : r.body;
        res.writeHead(r.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(r.body) });
        res.end(body);
        if (!req.complete) res.once("finish", () => req.destroy());
      },
    );
  };
}

function json(res: ServerResponse, status: number, value: unknown, headOnly = false, contentType = "application/json"): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}

function empty(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Length": 0 });
  res.end();
}

/** An HTTP or HTTPS server around the handler. */
export function createRegistryServer(registry: Registry, options: ServerOptions = {}): Server {
  const handler = registryHandler(registry, options);
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  server.keepAliveTimeout = 30_000;
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  return server as Server;
}

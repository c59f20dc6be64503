// distribution/testing: a small OCI registry for tests of the client, in
// memory, on a loopback port — with the knobs a real registry does not have:
// auth challenges (Basic, Bearer with scopes), an intercept hook that can
// answer any request itself (500, 429, dropped connections, short or long
// bodies, wrong bytes, redirects), and a log of every request it saw.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { digestOf, MediaType, type Digest } from "../oci/index.js";

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly range: string | undefined;
}

export interface TestAuth {
  readonly kind: "basic" | "bearer";
  readonly username: string;
  readonly password: string;
  /** Bearer: tokens live this long (seconds). */
  readonly expiresIn?: number;
  /** Bearer: allow anonymous tokens for pull. */
  readonly anonymousPull?: boolean;
}

/** Returns true when it answered the request itself. */
export type Intercept = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

interface StoredManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function error(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  json(res, status, { errors: [{ code, message }] }, headers);
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

export class TestRegistry {
  readonly blobs = new Map<Digest, Buffer>();
  /** repository → reference (tag or digest) → manifest */
  readonly manifests = new Map<string, Map<string, StoredManifest>>();
  /** repository → blobs linked into it (for mounts and HEAD) */
  readonly links = new Map<string, Set<Digest>>();
  readonly seen: SeenRequest[] = [];
  readonly tokens = new Map<string, { scopes: string[]; expiresAt: number }>();
  /** Scopes asked for at the token endpoint, in order. */
  readonly tokenRequests: string[][] = [];
  auth: TestAuth | undefined;
  intercept: Intercept | undefined;
  #server: Server | undefined;
  #scheme = "http";
  #uploads = new Map<string, Buffer[]>();
  host = "";

  /** Listens on a loopback port, over HTTPS when given a key and certificate. */
  async start(options: { tls?: { key: Buffer; cert: Buffer } } = {}): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      void this.#handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) error(res, 500, "UNKNOWN", String(e));
        else res.destroy();
      });
    };
    const server = options.tls ? createHttpsServer(options.tls, handler) : createServer(handler);
    this.#scheme = options.tls ? "https" : "http";
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#server = server;
    this.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.host;
  }

  async close(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Stores a blob and links it into `repository`. */
  addBlob(repository: string, bytes: Buffer): Digest {
    const d = digestOf(bytes);
    this.blobs.set(d, bytes);
    this.#link(repository, d);
    return d;
  }

  addManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Digest {
    const d = digestOf(bytes);
    let m = this.manifests.get(repository);
    if (!m) this.manifests.set(repository, (m = new Map()));
    m.set(reference, { bytes, mediaType });
    m.set(d, { bytes, mediaType });
    return d;
  }

  /**
   * Adds an image made of the given layer tars (gzipped here) under
   * `repository:tag`; returns its manifest digest, config digest and layer blobs.
   */
  addImage(repository: string, tag: string, layerTars: readonly Buffer[], options: { architecture?: string; mediaType?: string } = {}): { manifest: Digest; config: Digest; layers: { digest: Digest; bytes: Buffer; diffId: Digest }[] } {
    const layers = layerTars.map((tar) => {
      const gz = gzipSync(tar);
      return { digest: this.addBlob(repository, gz), bytes: gz, diffId: digestOf(tar) };
    });
    const config = Buffer.from(
      JSON.stringify({
        architecture: options.architecture ?? (process.arch === "x64" ? "amd64" : process.arch),
        os: "linux",
        config: { Cmd: ["sh"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created_by: "test" })),
      }),
    );
    const configDigest = this.addBlob(repository, config);
    const mediaType = options.mediaType ?? MediaType.OciManifest;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: { mediaType: mediaType === MediaType.DockerManifest ? MediaType.DockerConfig : MediaType.OciConfig, digest: configDigest, size: config.length },
        layers: layers.map((l) => ({ mediaType: mediaType === MediaType.DockerManifest ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip, digest: l.digest, size: l.bytes.length })),
      }),
    );
    return { manifest: this.addManifest(repository, tag, manifest, mediaType), config: configDigest, layers };
  }

  #link(repository: string, d: Digest): void {
    let s = this.links.get(repository);
    if (!s) this.links.set(repository, (s = new Set()));
    s.add(d);
  }

  #challenge(res: ServerResponse, scope: string | undefined): void {
    const a = this.auth!;
    if (a.kind === "basic") return error(res, 401, "UNAUTHORIZED", "authentication required", { "WWW-Authenticate": 'Basic realm="test"' });
    const scopePart = scope ? `,scope="${scope}"` : "";
    error(res, 401, "UNAUTHORIZED", "authentication required", { "WWW-Authenticate": `Bearer realm="${this.#scheme}://${this.host}/token",service="test-registry"${scopePart}` });
  }

  /** Whether the request may go on; answers the challenge itself otherwise. */
  #authorized(req: IncomingMessage, res: ServerResponse, scope: string | undefined, action: "pull" | "push" | undefined): boolean {
    const a = this.auth;
    if (!a) return true;
    const header = req.headers.authorization ?? "";
    if (a.kind === "basic") {
      if (header === "Basic " + Buffer.from(`${a.username}:${a.password}`).toString("base64")) return true;
      this.#challenge(res, scope);
      return false;
    }
    const token = header.startsWith("Bearer ") ? this.tokens.get(header.slice(7)) : undefined;
    if (token && token.expiresAt > Date.now()) {
      if (!scope || !action) return true;
      const [, name] = scope.split(":");
      if (token.scopes.some((s) => s.startsWith(`repository:${name}:`) && s.split(":")[2]!.split(",").includes(action))) return true;
    }
    this.#challenge(res, scope);
    return false;
  }

  #token(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const a = this.auth!;
    const scopes = url.searchParams.getAll("scope");
    this.tokenRequests.push(scopes);
    const header = req.headers.authorization ?? "";
    const user = header === "Basic " + Buffer.from(`${a.username}:${a.password}`).toString("base64");
    if (header && !user) return error(res, 401, "UNAUTHORIZED", "bad credentials");
    if (!user && !a.anonymousPull) return error(res, 401, "UNAUTHORIZED", "authentication required");
    const granted = scopes.map((s) => (user ? s : s.replace(/:[^:]*$/, (acts) => (acts.includes("pull") ? ":pull" : ":"))));
    const token = randomBytes(12).toString("hex");
    this.tokens.set(token, { scopes: granted, expiresAt: Date.now() + (a.expiresIn ?? 300) * 1000 });
    json(res, 200, { token, expires_in: a.expiresIn ?? 300 });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${this.host}`);
    this.seen.push({ method: req.method ?? "", url: url.pathname + url.search, authorization: req.headers.authorization, range: req.headers.range });
    if (this.intercept && (await this.intercept(req, res, url))) return;
    if (url.pathname === "/token" && this.auth) return this.#token(req, res, url);
    if (url.pathname === "/v2/" || url.pathname === "/v2") {
      if (!this.#authorized(req, res, undefined, undefined)) return;
      return json(res, 200, {});
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/(.*)$/.exec(url.pathname);
    if (!m) return error(res, 404, "NOT_FOUND", "not found");
    const repository = m[1]!;
    const kind = m[2]!;
    const rest = decodeURIComponent(m[3]!);
    const write = req.method === "PUT" || req.method === "POST" || req.method === "PATCH" || req.method === "DELETE";
    const scope = `repository:${repository}:${write ? "pull,push" : "pull"}`;
    if (!this.#authorized(req, res, scope, write ? "push" : "pull")) return;
    if (kind === "tags") {
      const refs = [...(this.manifests.get(repository)?.keys() ?? [])].filter((r) => !r.includes(":"));
      if (refs.length === 0) return error(res, 404, "NAME_UNKNOWN", "repository name not known to registry");
      return json(res, 200, { name: repository, tags: refs.sort() });
    }
    if (kind === "manifests") {
      if (req.method === "PUT") {
        const bytes = await body(req);
        const d = this.addManifest(repository, rest, bytes, String(req.headers["content-type"] ?? MediaType.OciManifest));
        res.writeHead(201, { "Docker-Content-Digest": d, Location: `/v2/${repository}/manifests/${d}`, "Content-Length": 0 });
        return void res.end();
      }
      const stored = this.manifests.get(repository)?.get(rest);
      if (!stored) return error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown");
      res.writeHead(200, { "Content-Type": stored.mediaType, "Content-Length": stored.bytes.length, "Docker-Content-Digest": digestOf(stored.bytes) });
      return void res.end(req.method === "HEAD" ? undefined : stored.bytes);
    }
    // blobs
    if (rest.startsWith("uploads")) return this.#upload(req, res, url, repository, rest.slice("uploads".length).replace(/^\//, ""));
    const digest = rest as Digest;
    const blob = this.links.get(repository)?.has(digest) ? this.blobs.get(digest) : undefined;
    if (!blob) return error(res, 404, "BLOB_UNKNOWN", "blob unknown to registry");
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    if (range && req.method === "GET") {
      const start = Number(range[1]);
      if (start >= blob.length) return error(res, 416, "RANGE", "range not satisfiable");
      res.writeHead(206, { "Content-Length": blob.length - start, "Content-Range": `bytes ${start}-${blob.length - 1}/${blob.length}`, "Docker-Content-Digest": digest });
      return void res.end(blob.subarray(start));
    }
    res.writeHead(200, { "Content-Length": blob.length, "Docker-Content-Digest": digest, "Content-Type": "application/octet-stream" });
    res.end(req.method === "HEAD" ? undefined : blob);
  }

  async #upload(req: IncomingMessage, res: ServerResponse, url: URL, repository: string, id: string): Promise<void> {
    if (req.method === "POST" && id === "") {
      const mount = url.searchParams.get("mount");
      const from = url.searchParams.get("from");
      if (mount && from && this.links.get(from)?.has(mount as Digest)) {
        this.#link(repository, mount as Digest);
        res.writeHead(201, { Location: `/v2/${repository}/blobs/${mount}`, "Docker-Content-Digest": mount, "Content-Length": 0 });
        return void res.end();
      }
      await body(req);
      const uuid = randomBytes(8).toString("hex");
      this.#uploads.set(uuid, []);
      res.writeHead(202, { Location: `/v2/${repository}/blobs/uploads/${uuid}?state=x`, "Docker-Upload-UUID": uuid, Range: "0-0", "Content-Length": 0 });
      return void res.end();
    }
    const parts = this.#uploads.get(id);
    if (!parts) return error(res, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
    if (req.method === "PATCH") {
      parts.push(await body(req));
      const size = parts.reduce((n, p) => n + p.length, 0);
      res.writeHead(202, { Location: `/v2/${repository}/blobs/uploads/${id}?state=y`, Range: `0-${Math.max(0, size - 1)}`, "Content-Length": 0 });
      return void res.end();
    }
    if (req.method === "DELETE") {
      this.#uploads.delete(id);
      res.writeHead(204);
      return void res.end();
    }
    if (req.method === "PUT") {
      parts.push(await body(req));
      const bytes = Buffer.concat(parts);
      const digest = url.searchParams.get("digest");
      if (digest !== digestOf(bytes)) return error(res, 400, "DIGEST_INVALID", "provided digest did not match uploaded content");
      this.#uploads.delete(id);
      this.blobs.set(digest as Digest, bytes);
      this.#link(repository, digest as Digest);
      res.writeHead(201, { Location: `/v2/${repository}/blobs/${digest}`, "Docker-Content-Digest": digest, "Content-Length": 0 });
      return void res.end();
    }
    error(res, 405, "UNSUPPORTED", "method not allowed");
  }
}

// registry/testing: what the registry's tests share — a registry on a
// loopback port over a temp root, a small HTTP client that shows statuses
// and headers as they are, and OCI layouts made from bytes.
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { nullLogger, type Logger } from "../internal/index.js";
import { buildConfig, type RegistryConfig } from "./config.js";
import { startRegistry, type RunningRegistry } from "./serve.js";

export interface TestRegistry extends RunningRegistry {
  readonly root: string;
  stop(): Promise<void>;
}

/** A registry on 127.0.0.1:<free port> over a fresh temp root; `file` is config-file JSON. */
export async function startTestRegistry(file: Record<string, unknown> = {}, options: { logger?: Logger; root?: string } = {}): Promise<TestRegistry> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), "wharf-registry-test-")));
  const config: RegistryConfig = buildConfig({ addr: "127.0.0.1:0", root: join(root, "data"), ...file }, { tokenAuth: false, anonymousPull: false, insecureHttp: false, help: false });
  const running = await startRegistry(config, options.logger ?? nullLogger);
  return {
    ...running,
    root,
    async stop() {
      await running.close();
      if (!options.root) await rm(root, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  json(): any;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | number>;
  readonly body?: Buffer | string;
  /** Send the body with this Content-Length even if it differs (then the connection is cut). */
  readonly ca?: Buffer;
}

/** One HTTP request to `base` + `path`, body read whole. */
export function call(base: string, path: string, o: RequestOptions = {}): Promise<Reply> {
  const url = new URL(path, base);
  const body = o.body === undefined ? undefined : Buffer.from(o.body);
  const headers: Record<string, string | number> = { ...(body !== undefined ? { "Content-Length": body.length } : {}), ...o.headers };
  const make = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = make(url, { method: o.method ?? "GET", headers, agent: false, ...(o.ca ? { ca: o.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b.toString("utf8")) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

export function sha512(b: Buffer | string): string {
  return `sha512:${createHash("sha512").update(b).digest("hex")}`;
}

/** A config, a layer and the manifest naming them, as bytes with their digests. */
export function sampleImage(options: { layerBytes?: Buffer; extra?: Record<string, unknown> } = {}) {
  const layer = options.layerBytes ?? gzipSync(randomBytes(1024));
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(randomBytes(8))] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length }],
      ...options.extra,
    }),
  );
  return { layer, config, manifest, layerDigest: sha256(layer), configDigest: sha256(config), manifestDigest: sha256(manifest) };
}

/** Writes an OCI image layout holding one image under `tag`. */
export async function writeOciLayout(dir: string, tag: string, blobs: readonly Buffer[], manifest: Buffer): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const b of [...blobs, manifest]) await writeFile(join(dir, "blobs", "sha256", sha256(b).slice(7)), b);
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(manifest), size: manifest.length, annotations: { "org.opencontainers.image.ref.name": tag } }] };
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
}

// The registry routes of the Engine API: pull (`POST /images/create?fromImage=`),
// push, `/auth` and `/distribution/{name}/json`, answering as dockerd does —
// the same JSON progress messages, so the docker CLI draws its usual bars.
import { registryDomain, type Credentials, type Distribution, type ProgressMessage } from "../../distribution/index.js";
import { wharfError } from "../../internal/index.js";
import { isDigest } from "../../oci/index.js";
import { readJsonBody } from "../body.js";
import { remoteImageInspect } from "../image-wire.js";
import { respondWithJsonStream, sendJson, type JsonLineWriter } from "../respond.js";
import type { RequestContext, Router } from "../router.js";
import type { JsonMessage } from "../wire.js";

/** The registry operations the routes need. */
export type DistributionDeps = Pick<Distribution, "pull" | "push" | "login" | "inspect" | "manifest" | "remoteImage">;

/**
 * `X-Registry-Auth`: base64url of docker's AuthConfig JSON (`{}` when
 * anonymous). `auth` is base64 of `user:password`.
 */
export function decodeRegistryAuth(header: string | string[] | undefined): Credentials | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (!text) return undefined;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    // dockerd ignores an unreadable header and goes on anonymously.
    return undefined;
  }
  return credentialsOf(doc);
}

/**
 * `X-Registry-Config` (what the docker CLI sends with a build): base64url of a JSON map from
 * registry address (`https://index.docker.io/v1/`, `host:5000`) to AuthConfig; the credentials by
 * registry domain (`docker.io`, `host:5000`). Unreadable or empty: none, as dockerd goes on.
 */
export function decodeRegistryConfig(header: string | string[] | undefined): ReadonlyMap<string, Credentials> {
  const out = new Map<string, Credentials>();
  const text = Array.isArray(header) ? header[0] : header;
  if (!text) return out;
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return out;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return out;
  for (const [server, value] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) continue;
    const credentials = credentialsOf(value as Record<string, unknown>);
    if (credentials) out.set(registryDomain(server), credentials);
  }
  return out;
}

function credentialsOf(doc: Record<string, unknown>): Credentials | undefined {
  const str = (k: string) => (typeof doc[k] === "string" && doc[k] !== "" ? (doc[k] as string) : undefined);
  let username = str("username");
  let password = str("password");
  const auth = str("auth");
  if (!username && auth) {
    const plain = Buffer.from(auth, "base64").toString("utf8");
    const i = plain.indexOf(":");
    if (i > 0) {
      username = plain.slice(0, i);
      password = plain.slice(i + 1);
    }
  }
  const identityToken = str("identitytoken");
  const registryToken = str("registrytoken");
  if (!username && !identityToken && !registryToken) return undefined;
  return { ...(username ? { username } : {}), ...(password ? { password } : {}), ...(identityToken ? { identityToken } : {}), ...(registryToken ? { registryToken } : {}) };
}

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB"];

/** go-units HumanSize: decimal units, four significant digits (`1.23MB`). */
export function humanSize(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${UNITS[i]}`;
}

/** The `progress` text dockerd puts beside `progressDetail`, for clients that print it as is. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return humanSize(current);
  // As docker's JSONProgress draws it: `[` n×`=` `>` (50−n)×` ` `] `, then `%8v/%v`.
  const width = 50;
  const filled = Math.max(0, Math.min(width, Math.floor((current / total) * width)));
  return `[${"=".repeat(filled)}>${" ".repeat(width - filled)}] ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/** A progress message as dockerd writes it. */
export function progressJson(m: ProgressMessage): JsonMessage {
  if (m.aux) return { progressDetail: {}, aux: m.aux };
  if (m.id === undefined) return { status: m.status };
  if (m.current !== undefined && m.total !== undefined) {
    return { status: m.status, progressDetail: { current: m.current, total: m.total }, progress: progressBar(m.current, m.total), id: m.id };
  }
  return { status: m.status, progressDetail: {}, id: m.id };
}

/** Writes progress messages in order with backpressure, from a synchronous callback. */
function progressWriter(out: JsonLineWriter): { progress: (m: ProgressMessage) => void; flush: () => Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  return {
    progress: (m) => {
      const json = progressJson(m);
      chain = chain.then(() => out.write(json)).catch(() => {});
    },
    flush: () => chain,
  };
}

/** `fromImage` and `tag` → the reference to pull; an empty tag on a bare name pulls every tag, as dockerd does. */
export function pullReference(fromImage: string, tag: string | undefined): { name: string; allTags: boolean } {
  if (!tag) {
    const last = fromImage.slice(fromImage.lastIndexOf("/") + 1);
    return { name: fromImage, allTags: !fromImage.includes("@") && !last.includes(":") };
  }
  return { name: isDigest(tag) ? `${fromImage}@${tag}` : `${fromImage}:${tag}`, allTags: false };
}

async function streamed(ctx: RequestContext, run: (progress: (m: ProgressMessage) => void) => Promise<void>): Promise<void> {
  await respondWithJsonStream(ctx, async (out) => {
    const w = progressWriter(out);
    try {
      await run(w.progress);
    } finally {
      await w.flush();
    }
  });
}

/** The pull behind `POST /images/create?fromImage=…` (images.ts hands it the request). */
export function pullHandler(distribution: DistributionDeps): (ctx: RequestContext) => Promise<void> {
  return async (ctx) => {
    const q = ctx.query;
    const { name, allTags } = pullReference(q.string("fromImage")!, q.string("tag"));
    const platform = q.string("platform");
    const credentials = decodeRegistryAuth(ctx.req.headers["x-registry-auth"]);
    await streamed(ctx, async (progress) => {
      await distribution.pull(name, { credentials, ...(platform ? { platform } : {}), allTags, progress, signal: ctx.signal });
    });
  };
}

export function distributionRoutes(router: Router, distribution: DistributionDeps): void {
  router.on("POST", "/images/{name*}/push", async (ctx) => {
    const tag = ctx.query.string("tag");
    const base = ctx.params["name"]!;
    const name = tag ? `${base}:${tag}` : base;
    const credentials = decodeRegistryAuth(ctx.req.headers["x-registry-auth"]);
    await streamed(ctx, async (progress) => {
      await distribution.push(name, { credentials, allTags: !tag, progress, signal: ctx.signal });
    });
  });

  router.on("POST", "/auth", async (ctx) => {
    const body = await readJsonBody(ctx.req);
    const credentials = credentialsOf(body);
    const server = typeof body["serveraddress"] === "string" ? body["serveraddress"] : "";
    if (!credentials) throw wharfError("invalid-argument", "login: username and password are required");
    await distribution.login(server, credentials, ctx.signal);
    sendJson(ctx.res, 200, { Status: "Login Succeeded", IdentityToken: "" });
  });

  router.on("GET", "/distribution/{name*}/json", async (ctx) => {
    const credentials = decodeRegistryAuth(ctx.req.headers["x-registry-auth"]);
    const info = await distribution.inspect(ctx.params["name"]!, credentials, ctx.signal);
    sendJson(ctx.res, 200, { Descriptor: info.descriptor, Platforms: info.platforms });
  });

  // Not in docker's API: the manifest itself, for `wharf manifest inspect` (the docker CLI asks the registry directly).
  router.on("GET", "/distribution/{name*}/manifest", async (ctx) => {
    const credentials = decodeRegistryAuth(ctx.req.headers["x-registry-auth"]);
    const m = await distribution.manifest(ctx.params["name"]!, credentials, ctx.signal);
    ctx.res.writeHead(200, { "Content-Type": m.mediaType || "application/json", "Content-Length": m.bytes.length, "Docker-Content-Digest": m.digest });
    ctx.res.end(m.bytes);
  });

  // Not in docker's API: the image a reference names in its registry, as `image inspect` shows a stored one (`wharf image inspect --remote`).
  router.on("GET", "/distribution/{name*}/image", async (ctx) => {
    const credentials = decodeRegistryAuth(ctx.req.headers["x-registry-auth"]);
    const platform = ctx.query.string("platform");
    const { reference, image } = await distribution.remoteImage(ctx.params["name"]!, { credentials, ...(platform ? { platform } : {}), signal: ctx.signal });
    sendJson(ctx.res, 200, remoteImageInspect(reference, image));
  });
}

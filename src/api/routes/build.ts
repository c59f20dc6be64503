// POST /build: a tar context in the body, the options in query parameters as
// the docker CLI's legacy builder sends them, and the answer a JSON line
// stream as dockerd writes it (`stream` text, `aux` with the image ID, and an
// `error` line when the build fails).
import type { BuildOptions, BuildService, ImageFetcher } from "../../build/index.js";
import { wharfError } from "../../internal/index.js";
import { parseReference } from "../../oci/index.js";
import { decodeRegistryConfig, type DistributionDeps } from "./distribution.js";
import type { Query } from "../query.js";
import { respondWithJsonStream, sendJson } from "../respond.js";
import type { RequestContext, Router } from "../router.js";

function jsonParam<T>(q: Query, name: string, check: (v: unknown) => v is T, fallback: T): T {
  const text = q.string(name);
  if (text === undefined || text === "") return fallback;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw wharfError("invalid-argument", `invalid ${name} parameter: not JSON: ${text}`);
  }
  if (v === null) return fallback;
  if (!check(v)) throw wharfError("invalid-argument", `invalid ${name} parameter: ${text}`);
  return v;
}

const isStringMap = (v: unknown): v is Record<string, string | null> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((x) => x === null || typeof x === "string");
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

/** Secrets for RUN --mount=type=secret come in a header (never in the URL, which gets logged): base64 of `{"id":"<base64>"}`. */
export const SECRETS_HEADER = "x-wharf-build-secrets";

export function parseBuildQuery(ctx: RequestContext): Omit<BuildOptions, "signal"> {
  const q = ctx.query;
  if (q.string("remote")) throw wharfError("not-implemented", "remote build contexts (remote=) are not supported; send the context as a tar");
  const labels = jsonParam(q, "labels", isStringMap, {});
  const secrets = new Map<string, Buffer>();
  const header = ctx.req.headers[SECRETS_HEADER];
  if (typeof header === "string" && header !== "") {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
    } catch {
      throw wharfError("invalid-argument", "invalid build secrets header");
    }
    if (!isStringMap(decoded)) throw wharfError("invalid-argument", "invalid build secrets header");
    for (const [id, data] of Object.entries(decoded)) secrets.set(id, Buffer.from(data ?? "", "base64"));
  }
  const target = q.string("target");
  const platform = q.string("platform");
  return {
    dockerfile: q.string("dockerfile") || "Dockerfile",
    tags: q.strings("t").filter((t) => t !== ""),
    buildArgs: jsonParam(q, "buildargs", isStringMap, {}),
    labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, v ?? ""])),
    ...(target ? { target } : {}),
    noCache: q.bool("nocache"),
    noCacheFilter: jsonParam(q, "nocachefilter", isStringList, []),
    cacheFrom: jsonParam(q, "cachefrom", isStringList, []),
    pull: q.bool("pull"),
    ...(platform ? { platform } : {}),
    secrets,
  };
}

/**
 * How a build fetches the images it names: a pull with the credentials the client sent for that
 * image's registry (`X-Registry-Config`), its status lines in the build log as dockerd's legacy
 * builder prints them (no byte counts: the build log is text).
 */
export function buildImageFetcher(distribution: Pick<DistributionDeps, "pull">, registryConfig: string | string[] | undefined): ImageFetcher {
  const credentials = decodeRegistryConfig(registryConfig);
  return async (name, { platform, log, signal }) => {
    let domain: string;
    try {
      domain = parseReference(name).domain;
    } catch (e) {
      throw wharfError("invalid-argument", `${name}: ${(e as Error).message}`);
    }
    let last = "";
    await distribution.pull(name, {
      credentials: credentials.get(domain),
      ...(platform ? { platform } : {}),
      signal,
      progress: (m) => {
        if (m.current !== undefined || m.aux !== undefined) return;
        const line = m.id ? `${m.id}: ${m.status}\n` : `${m.status}\n`;
        if (line !== last) log(line);
        last = line;
      },
    });
  };
}

export function buildRoutes(router: Router, builds: BuildService, distribution?: Pick<DistributionDeps, "pull">): void {
  router.on("POST", "/build/prune", async (ctx) => {
    // Every record is one kind of cache here; `all`, `keep-storage` and filters narrow nothing yet.
    const result = await builds.prune();
    sendJson(ctx.res, 200, { CachesDeleted: result.cachesDeleted, SpaceReclaimed: result.spaceReclaimed });
  });

  router.on("POST", "/build", async (ctx) => {
    const options = { ...parseBuildQuery(ctx), ...(distribution ? { fetchImage: buildImageFetcher(distribution, ctx.req.headers["x-registry-config"]) } : {}) };
    const quiet = ctx.query.bool("q");
    await respondWithJsonStream(ctx, async (out) => {
      let pending: Promise<void> = Promise.resolve();
      const send = (m: Parameters<typeof out.write>[0]) => {
        pending = pending.then(() => out.write(m));
      };
      let result;
      try {
        result = await builds.build(
        ctx.req,
        { ...options, signal: ctx.signal },
        {
          text: (line) => {
            if (!quiet) send({ stream: line });
          },
          aux: (value) => send({ aux: value }),
        },
        );
      } finally {
        // Every line of the log goes out before the error line, if there is one.
        await pending;
      }
      for (const w of result.warnings) send({ stream: `${w}\n` });
      if (!quiet) for (const t of options.tags) send({ stream: `Successfully tagged ${t.includes(":") && !t.endsWith("]") && t.lastIndexOf(":") > t.lastIndexOf("/") ? t : `${t}:latest`}\n` });
      await pending;
    });
  });
}

// The image routes of the Engine API over an ImageService, answering as
// dockerd 20.10 (API 1.41) answers: statuses, query parameters, filters and
// the JSON it writes.
import { isKind, wharfError } from "../../internal/index.js";
import type { DeleteItem, ImageFilters, ImageService, ImageView, PruneResult, SaveFormat } from "../../image/index.js";
import { diskUsageImages, historyItem, imageInspect, imageSummary } from "../image-wire.js";
import type { Filters, Query } from "../query.js";
import { respondWithJsonStream, sendEmpty, sendJson, sendStream } from "../respond.js";
import type { RequestContext, Router } from "../router.js";
import { compareVersions } from "../server.js";
import { parseTimestamp } from "../timestamp.js";
import type { DiskUsageResponse, ImagePruneResponse } from "../wire.js";

const LIST_FILTERS = ["before", "dangling", "label", "reference", "since"] as const;
const PRUNE_FILTERS = ["dangling", "label", "label!", "until"] as const;

/** `GET /images/json` query, parsed. */
export interface ListQuery {
  /** Also intermediate images; wharf keeps none, so it changes nothing yet. */
  readonly all: boolean;
  readonly filters: ImageFilters;
}

export function parseListQuery(q: Query, apiVersion: string): ListQuery {
  const f = q.filters();
  f.validate(LIST_FILTERS);
  const reference = [...f.values("reference")];
  // Before 1.41 a bare `filter=` parameter was a reference filter.
  const legacy = q.string("filter");
  if (legacy && compareVersions(apiVersion, "1.41") < 0) reference.push(legacy);
  // dockerd's list takes only `true` and `false` for dangling (prune also takes 1 and 0).
  const dangling = f.bool("dangling", { true: ["true"], false: ["false"] });
  const label = f.values("label");
  const before = f.single("before");
  const since = f.single("since");
  return {
    all: q.bool("all"),
    filters: {
      ...(reference.length > 0 ? { reference } : {}),
      ...(dangling !== undefined ? { dangling } : {}),
      ...(label.length > 0 ? { label } : {}),
      ...(before ? { before } : {}),
      ...(since ? { since } : {}),
    },
  };
}

/** `POST /images/prune` filters, parsed. */
export interface PruneQuery {
  /** Untagged images only (the default), or every image no container uses. */
  readonly danglingOnly: boolean;
  readonly labels: readonly string[];
  readonly notLabels: readonly string[];
  /** Only images created before this time (ms since the epoch). */
  readonly until: number | undefined;
}

export function parsePruneQuery(f: Filters, now = Date.now()): PruneQuery {
  f.validate(PRUNE_FILTERS);
  const until = f.single("until");
  return {
    danglingOnly: f.bool("dangling") ?? true,
    labels: f.values("label"),
    notLabels: f.values("label!"),
    until: until === undefined ? undefined : parseTimestamp(until, now),
  };
}

function hasLabel(image: ImageView, spec: string): boolean {
  const labels = image.config.config?.Labels ?? {};
  const eq = spec.indexOf("=");
  return eq === -1 ? spec in labels : labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

function createdMs(image: ImageView): number {
  const t = image.config.created ? Date.parse(image.config.created) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/**
 * Prune with the filters the service does not take (`until`, `label!`): pick
 * the images here and remove each by id. Removal by id with force takes every
 * name; an image a container still uses is refused and kept, as prune keeps it.
 */
async function pruneSelected(images: ImageService, p: PruneQuery): Promise<PruneResult> {
  const candidates = (await images.list({ ...(p.danglingOnly ? { dangling: true } : {}), ...(p.labels.length > 0 ? { label: p.labels } : {}) }))
    .filter((v) => p.until === undefined || createdMs(v) < p.until)
    .filter((v) => !p.notLabels.some((l) => hasLabel(v, l)));
  const layerSizes = new Map<string, number>();
  for (const v of candidates) for (const l of v.layers) layerSizes.set(l.chainId, l.size);
  const deleted: DeleteItem[] = [];
  let spaceReclaimed = 0;
  for (const v of candidates) {
    let items: DeleteItem[];
    try {
      items = await images.remove(v.id, { force: true });
    } catch (e) {
      if (isKind(e, "conflict") || isKind(e, "not-found")) continue;
      throw e;
    }
    for (const item of items) {
      deleted.push(item);
      if ("Deleted" in item) spaceReclaimed += layerSizes.get(item.Deleted) ?? 0;
    }
  }
  return { deleted, spaceReclaimed };
}

function saveFormat(q: Query): SaveFormat | undefined {
  const format = q.string("format");
  if (format === undefined || format === "") return undefined;
  if (format === "docker" || format === "oci") return format;
  throw wharfError("invalid-argument", `invalid archive format ${JSON.stringify(format)}: expected "docker" or "oci"`);
}

async function save(ctx: RequestContext, images: ImageService, names: readonly string[]): Promise<void> {
  const format = saveFormat(ctx.query);
  // The service resolves every name before the first byte, so a missing image is still a 404.
  const archive = await images.save(names, { ...(format ? { format } : {}), signal: ctx.signal });
  await sendStream(ctx, "application/x-tar", archive);
}

/** `repo` and `tag` query parameters → `repo[:tag]`. */
function targetName(repo: string | undefined, tag: string | undefined, action: string): string {
  if (!repo) throw wharfError("invalid-argument", `${action}: repository name must be given (repo=)`);
  return tag ? `${repo}:${tag}` : repo;
}

/** `pull` serves `POST /images/create?fromImage=`; without it pulls answer not implemented. */
export function imageRoutes(router: Router, images: ImageService, pull?: (ctx: RequestContext) => Promise<void>): void {
  router.on("GET", "/images/json", async (ctx) => {
    const { filters } = parseListQuery(ctx.query, ctx.apiVersion);
    sendJson(ctx.res, 200, (await images.list(filters)).map((v) => imageSummary(v)));
  });

  router.on("GET", "/images/get", (ctx) => save(ctx, images, ctx.query.strings("names")));

  router.on("POST", "/images/load", async (ctx) => {
    // `quiet` only silences per-layer progress, which wharf does not report; the result lines are the same.
    await respondWithJsonStream(ctx, async (out) => {
      const result = await images.load(ctx.req, { signal: ctx.signal });
      for (const name of result.names) await out.write({ stream: `Loaded image: ${name}\n` });
      for (const id of result.ids) await out.write({ stream: `Loaded image ID: ${id}\n` });
    });
  });

  router.on("POST", "/images/create", async (ctx) => {
    const q = ctx.query;
    const fromImage = q.string("fromImage");
    const fromSrc = q.string("fromSrc");
    if (fromImage && pull) return pull(ctx);
    if (fromImage) throw wharfError("not-implemented", `pull is not available yet: cannot pull ${JSON.stringify(fromImage)}`);
    if (!fromSrc) throw wharfError("invalid-argument", "images/create: fromImage or fromSrc must be given");
    if (fromSrc !== "-") throw wharfError("not-implemented", `import from a URL is not available yet: ${fromSrc}: send the archive as the request body with fromSrc=-`);
    const repo = q.string("repo");
    const reference = repo ? targetName(repo, q.string("tag"), "import") : undefined;
    const message = q.string("message");
    const platform = q.string("platform");
    await respondWithJsonStream(ctx, async (out) => {
      const image = await images.import(ctx.req, {
        ...(reference ? { reference } : {}),
        changes: q.strings("changes"),
        ...(message ? { message } : {}),
        ...(platform ? { platform } : {}),
        signal: ctx.signal,
      });
      await out.write({ status: image.id });
    });
  });

  router.on("POST", "/images/prune", async (ctx) => {
    const p = parsePruneQuery(ctx.query.filters());
    const result =
      p.until === undefined && p.notLabels.length === 0
        ? await images.prune({ all: !p.danglingOnly, ...(p.labels.length > 0 ? { filters: { label: p.labels } } : {}) })
        : await pruneSelected(images, p);
    const body: ImagePruneResponse = { ImagesDeleted: result.deleted.length > 0 ? [...result.deleted] : null, SpaceReclaimed: result.spaceReclaimed };
    sendJson(ctx.res, 200, body);
  });

  router.on("GET", "/images/{name*}/json", async (ctx) => {
    sendJson(ctx.res, 200, imageInspect(await images.get(ctx.params["name"]!)));
  });

  router.on("GET", "/images/{name*}/history", async (ctx) => {
    sendJson(ctx.res, 200, (await images.history(ctx.params["name"]!)).map(historyItem));
  });

  router.on("GET", "/images/{name*}/get", (ctx) => save(ctx, images, [ctx.params["name"]!]));

  router.on("POST", "/images/{name*}/tag", async (ctx) => {
    await images.tag(ctx.params["name"]!, targetName(ctx.query.string("repo"), ctx.query.string("tag"), "tag"));
    sendEmpty(ctx.res, 201);
  });

  // Registered so that `docker push` gets a clear answer instead of "page not found".
  router.on("POST", "/images/{name*}/push", async (ctx) => {
    throw wharfError("not-implemented", `push is not available yet: cannot push ${JSON.stringify(ctx.params["name"])}`);
  });

  router.on("DELETE", "/images/{name*}", async (ctx) => {
    const items = await images.remove(ctx.params["name"]!, { force: ctx.query.bool("force"), noPrune: ctx.query.bool("noprune") });
    sendJson(ctx.res, 200, items);
  });
}

/** `/system/df`'s answer from the image store's disk usage; containers, volumes and build cache come later. */
export async function diskUsage(images: ImageService): Promise<DiskUsageResponse> {
  const usage = await images.diskUsage();
  return { LayersSize: usage.layersSize, Images: diskUsageImages(usage), Containers: [], Volumes: [], BuildCache: [], BuilderSize: 0 };
}

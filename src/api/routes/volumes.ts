// Volume routes of the Engine API v1.41: list (filters dangling, name,
// label, driver), create, inspect, remove (force), prune (filters label,
// label!).
import type { VolumeFilters, VolumeRecord, VolumeStore } from "../../volume/index.js";
import { wharfError } from "../../internal/index.js";
import { readJsonBody } from "../body.js";
import type { Filters } from "../query.js";
import { sendEmpty, sendJson } from "../respond.js";
import type { Router } from "../router.js";

/** A volume as `GET /volumes/{name}` answers. */
export function volumeBody(v: VolumeRecord) {
  return { CreatedAt: v.CreatedAt, Driver: v.Driver, Labels: v.Labels, Mountpoint: v.Mountpoint, Name: v.Name, Options: v.Options, Scope: v.Scope };
}

/** The `Volumes` member of `/system/df`: each volume with its size and how many containers use it. */
export async function volumesUsage(volumes: VolumeStore): Promise<object[]> {
  const out: object[] = [];
  for (const v of volumes.list()) out.push({ ...volumeBody(v), UsageData: { Size: await volumes.size(v.Name).catch(() => -1), RefCount: volumes.usage(v.Name).length } });
  return out;
}

function listFilters(f: Filters): VolumeFilters {
  f.validate(["dangling", "name", "label", "driver"]);
  const dangling = f.bool("dangling");
  return {
    ...(dangling !== undefined ? { dangling } : {}),
    name: f.values("name"),
    label: f.values("label"),
    driver: f.values("driver"),
  };
}

const stringMap = (v: unknown, what: string): Record<string, string> | null => {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) throw wharfError("invalid-argument", `invalid ${what}: expected an object of strings`);
  return v as Record<string, string>;
};

export function volumeRoutes(router: Router, volumes: VolumeStore): void {
  router.on("GET", "/volumes", async (ctx) => {
    const list = volumes.list(listFilters(ctx.query.filters()));
    sendJson(ctx.res, 200, { Volumes: list.map(volumeBody), Warnings: null });
  });

  router.on("POST", "/volumes/create", async (ctx) => {
    const body = await readJsonBody(ctx.req, { allowEmpty: true });
    const name = body["Name"];
    const driver = body["Driver"];
    if (name !== undefined && typeof name !== "string") throw wharfError("invalid-argument", "invalid Name: expected a string");
    if (driver !== undefined && typeof driver !== "string") throw wharfError("invalid-argument", "invalid Driver: expected a string");
    const v = await volumes.create({ ...(name ? { name } : {}), ...(driver ? { driver } : {}), driverOpts: stringMap(body["DriverOpts"], "DriverOpts"), labels: stringMap(body["Labels"], "Labels") });
    sendJson(ctx.res, 201, volumeBody(v));
  });

  router.on("POST", "/volumes/prune", async (ctx) => {
    const f = ctx.query.filters();
    f.validate(["label", "label!", "all"]);
    const result = await volumes.prune({ label: f.values("label"), labelNot: f.values("label!") });
    sendJson(ctx.res, 200, { VolumesDeleted: result.deleted.length ? result.deleted : null, SpaceReclaimed: result.spaceReclaimed });
  });

  router.on("GET", "/volumes/{name}", async (ctx) => {
    sendJson(ctx.res, 200, volumeBody(volumes.get(ctx.params["name"]!)));
  });

  router.on("DELETE", "/volumes/{name}", async (ctx) => {
    await volumes.remove(ctx.params["name"]!, { force: ctx.query.bool("force") });
    sendEmpty(ctx.res, 204);
  });
}

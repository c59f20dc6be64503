// The container's files over the Engine API v1.41: `changes` (docker diff),
// `export`, the `archive` endpoints `docker cp` uses in both directions
// (HEAD for a path's stat, GET to read, PUT to extract), and `POST /commit`.
import { pipeline } from "node:stream/promises";
import type { ContainerCommits, ContainerFiles, PathStat } from "../../container/index.js";
import { wharfError } from "../../internal/index.js";
import { readJsonBody } from "../body.js";
import { sendEmpty, sendJson } from "../respond.js";
import type { RequestContext, Router } from "../router.js";

export interface ArchiveDeps {
  readonly files: ContainerFiles;
  readonly commits: ContainerCommits;
}

const STAT_HEADER = "X-Docker-Container-Path-Stat";

function statHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString("base64");
}

function pathParam(ctx: RequestContext): string {
  const path = ctx.query.string("path");
  if (!path) throw wharfError("invalid-argument", "path cannot be empty");
  return path;
}

export function archiveRoutes(router: Router, deps: ArchiveDeps): void {
  const { files, commits } = deps;

  router.on("GET", "/containers/{id}/changes", async (ctx) => {
    const changes = await commits.changes(ctx.params["id"]!);
    sendJson(ctx.res, 200, changes.length ? changes : null);
  });

  router.on("GET", "/containers/{id}/export", async (ctx) => {
    const tar = await files.export(ctx.params["id"]!);
    ctx.res.writeHead(200, { "Content-Type": "application/x-tar" });
    await pipeline(tar, ctx.res);
  });

  router.on("HEAD", "/containers/{id}/archive", async (ctx) => {
    const stat = await files.stat(ctx.params["id"]!, pathParam(ctx));
    ctx.res.writeHead(200, { [STAT_HEADER]: statHeader(stat), "Content-Type": "application/json" });
    ctx.res.end();
  });

  router.on("GET", "/containers/{id}/archive", async (ctx) => {
    const { stat, tar } = await files.get(ctx.params["id"]!, pathParam(ctx));
    ctx.res.writeHead(200, { [STAT_HEADER]: statHeader(stat), "Content-Type": "application/x-tar" });
    await pipeline(tar, ctx.res);
  });

  router.on("PUT", "/containers/{id}/archive", async (ctx) => {
    await files.put(ctx.params["id"]!, pathParam(ctx), ctx.req, { noOverwriteDirNonDir: ctx.query.bool("noOverwriteDirNonDir"), copyUIDGID: ctx.query.bool("copyUIDGID") });
    sendEmpty(ctx.res, 200);
  });

  router.on("POST", "/commit", async (ctx) => {
    const q = ctx.query;
    const container = q.string("container");
    if (!container) throw wharfError("invalid-argument", "no container given: the container parameter is required");
    const config = await readJsonBody(ctx.req, { allowEmpty: true });
    const repo = q.string("repo");
    const tag = q.string("tag");
    const comment = q.string("comment");
    const author = q.string("author");
    const result = await commits.commit(container, {
      ...(repo ? { repo } : {}),
      ...(tag ? { tag } : {}),
      ...(comment ? { comment } : {}),
      ...(author ? { author } : {}),
      // Absent means pause, as dockerd has it since API 1.13.
      pause: q.string("pause") === undefined || q.string("pause") === "" ? true : q.bool("pause"),
      changes: q.strings("changes").flatMap((c) => c.split("\n")).filter((c) => c.trim() !== ""),
      config,
    });
    sendJson(ctx.res, 201, result);
  });
}

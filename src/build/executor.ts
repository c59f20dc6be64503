// executor: a Dockerfile's stages built into an image, step by step, on the
// image store. Each stage is a chain of states (image config + layers);
// a step that changes the filesystem runs on an active snapshot stacked on
// its parent's layers, and its diff becomes one layer (blob in the content
// store, committed snapshot named by its chainID); a metadata step changes
// only the config and adds a history entry. Every step is looked up in the
// cache first (cache.ts). Stages that do not depend on each other run at
// once; `target` builds only what it needs. Nothing is tagged until every
// step succeeded.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, lstat, writeFile } from "node:fs/promises";
import { lstatSync, readdirSync } from "node:fs";
import { join, posix } from "node:path";
import { diffDirectory } from "../archive/index.js";
import { hostsFile, readFilesInRoot, resolvConf, resolveInRoot } from "../container/index.js";
import type { ImageStore, ImageView } from "../image/index.js";
import { errnoCode, isKind, KeyedMutex, wharfError, WharfError, type Logger } from "../internal/index.js";
import { chainIds, digestOf, formatReference, hostPlatform, withDefaultTag, MediaType, parsePlatformSpec, parseReference, shortId, type ContainerConfig, type Digest, type HistoryEntry, type ImageConfig, type Reference, type RuntimeMount } from "../oci/index.js";
import { resolveUser } from "../runtime/index.js";
import { mountAll, unmount, writableDir } from "../snapshot/index.js";
import { BuildCache, cacheKey, explainMiss, type CachedLayer, type CacheRecord } from "./cache.js";
import { resolveInContext, type BuildContext } from "./context.js";
import { copyFromTar, hashContextPaths, isArchive, isDirInRoot, matchContext, performCopy, type CopyItem, type CopyPlan, type Owner, type TarSource } from "./copy.js";
import { IgnoreMatcher } from "./dockerignore.js";
import { expand, instructionError, readDockerfile, readInstruction, type ArgDecl, type Dockerfile, type Instruction, type Stage } from "./instructions.js";
import { parseDockerfile } from "./parser.js";
import { Runner } from "./run.js";
import { processWord, processWords, type Env } from "./shell.js";

export interface BuilderOptions {
  readonly images: ImageStore;
  /** `<data-root>/build`: the cache document and cache mounts. */
  readonly root: string;
  /** `<exec-root>/build`: mount points, bundles, runtime state. */
  readonly execRoot: string;
  /** The OCI runtime binary; runc by default. */
  readonly runtime?: string;
  readonly logger: Logger;
}

export interface BuildRequest {
  /** The context, indexed (its files are unpacked when a step needs them). */
  readonly context: BuildContext;
  /** Path of the Dockerfile inside the context. */
  readonly dockerfile: string;
  /** The Dockerfile's text when it does not come from the context. */
  readonly dockerfileText?: string;
  readonly tags: readonly string[];
  /** `--build-arg`: a value, or null to take it from the environment of the client (already resolved by it). */
  readonly buildArgs: Readonly<Record<string, string | null>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly noCache: boolean;
  /** Stage names whose steps skip the cache. */
  readonly noCacheFilter: readonly string[];
  /** Images whose configs seed the cache: a step matching one of their history entries reuses that layer. */
  readonly cacheFrom: readonly string[];
  readonly pull: boolean;
  readonly platform?: string;
  /**
   * Fetches an image the build names (FROM, COPY --from, RUN --mount from=) from its registry
   * into the image store, with the client's credentials, reporting progress as lines of text.
   * Without it, images must be local and `pull` is refused.
   */
  readonly fetchImage?: ImageFetcher;
  /** `--secret id=…`: the bytes, by id. */
  readonly secrets: ReadonlyMap<string, Buffer>;
  readonly signal?: AbortSignal;
}

export type ImageFetcher = (name: string, options: { readonly platform?: string; readonly log: (line: string) => void; readonly signal: AbortSignal }) => Promise<void>;

/** Where the step log goes: text lines, and the aux messages docker's stream carries. */
export interface BuildLog {
  text(line: string): void;
  aux(value: Record<string, unknown>): void;
}

export interface BuildResult {
  readonly image: ImageView;
  readonly warnings: readonly string[];
}

interface State {
  readonly config: ImageConfig;
  readonly layers: readonly CachedLayer[];
  /** The cache key chain up to here. */
  readonly key: string;
}

const PROXY_ARGS = new Set(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]);
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_SHELL = ["/bin/sh", "-c"];
const ACTIVE_PREFIX = "extract-build-";
const WRITE_BATCH = 1 << 20;
/** Paths the runtime creates in a root as mount points; removed again from a step's diff when the step did not make them. */
const RUNTIME_STUBS = ["/proc", "/sys", "/dev", "/etc/resolv.conf", "/etc/hosts", "/etc"];

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function now(): string {
  return new Date().toISOString();
}

/** The image id a state would have: the digest of its config. */
function stateId(state: State): Digest {
  return digestOf(JSON.stringify(state.config));
}

function envGet(list: readonly string[] | undefined, name: string): string | undefined {
  if (!list) return undefined;
  for (let i = list.length - 1; i >= 0; i--) {
    const e = list[i]!;
    const eq = e.indexOf("=");
    if ((eq === -1 ? e : e.slice(0, eq)) === name) return eq === -1 ? "" : e.slice(eq + 1);
  }
  return undefined;
}

/** The env list with `name` set to `value`: replaced in place, or appended. */
function envSet(list: readonly string[], name: string, value: string): string[] {
  const nameOf = (e: string) => (e.indexOf("=") === -1 ? e : e.slice(0, e.indexOf("=")));
  const idx = list.findIndex((e) => nameOf(e) === name);
  if (idx === -1) return [...list, `${name}=${value}`];
  const copy = [...list];
  copy[idx] = `${name}=${value}`;
  return copy;
}

/** Writes stage logs in stage order: the first unfinished stage streams, later ones wait in a buffer. */
class OrderedLog {
  readonly #out: BuildLog;
  readonly #order: number[];
  readonly #buffers = new Map<number, string[]>();
  readonly #done = new Set<number>();
  #current = 0;

  constructor(out: BuildLog, order: number[]) {
    this.#out = out;
    this.#order = order;
  }

  write(stage: number, line: string): void {
    if (this.#order[this.#current] === stage) this.#out.text(line);
    else {
      const b = this.#buffers.get(stage) ?? [];
      b.push(line);
      this.#buffers.set(stage, b);
    }
  }

  finish(stage: number): void {
    this.#done.add(stage);
    while (this.#current < this.#order.length && this.#done.has(this.#order[this.#current]!)) {
      this.#current++;
      const next = this.#order[this.#current];
      if (next === undefined) break;
      for (const line of this.#buffers.get(next) ?? []) this.#out.text(line);
      this.#buffers.delete(next);
    }
  }

  /** After a failure: everything buffered, in order. */
  flushAll(): void {
    for (const s of this.#order.slice(this.#current + 1)) for (const line of this.#buffers.get(s) ?? []) this.#out.text(line);
    this.#buffers.clear();
  }
}

export class Builder {
  readonly #o: BuilderOptions;
  readonly #runner: Runner;
  #cache: BuildCache | undefined;
  #cacheLease;
  readonly #locks = new KeyedMutex();
  #files: { hosts: string; resolv: string } | undefined;

  constructor(options: BuilderOptions) {
    this.#o = options;
    this.#runner = new Runner({ runtime: options.runtime ?? "runc", stateDir: join(options.execRoot, "runc"), bundleDir: join(options.execRoot, "bundles") });
    // The cache's layers are held for as long as the daemon runs; a record whose layer was collected anyway (after a restart) is a miss.
    this.#cacheLease = options.images.leases.create();
  }

  async #openCache(): Promise<BuildCache> {
    if (!this.#cache) {
      this.#cache = await BuildCache.open(join(this.#o.root, "cache.json"), this.#o.logger);
      for (const r of this.#cache.all()) this.#holdRecord(r);
    }
    return this.#cache;
  }

  #holdRecord(r: CacheRecord): void {
    if (!r.layer) return;
    this.#cacheLease.addBlob(r.layer.descriptor.digest);
    this.#cacheLease.addSnapshot(chainIds(r.config.rootfs.diff_ids).at(-1)!);
  }

  /**
   * `builder prune`: forgets every cache record and cache mount, then lets
   * the image store collect the layers no image uses. Answers the records
   * dropped and the bytes of their layers that are gone now.
   */
  async prune(): Promise<{ cachesDeleted: string[]; spaceReclaimed: number }> {
    const cache = await this.#openCache();
    const records = cache.clear();
    await cache.flush();
    const old = this.#cacheLease;
    this.#cacheLease = this.#o.images.leases.create();
    old[Symbol.dispose]();
    let reclaimed = 0;
    const mounts = join(this.#o.root, "cache-mounts");
    for (const name of await readdir(mounts).catch(() => [] as string[])) {
      reclaimed += treeSizeOrZero(join(mounts, name));
      await rm(join(mounts, name), { recursive: true, force: true });
    }
    const collected = new Set((await this.#o.images.gc()).snapshots);
    for (const r of records) {
      if (!r.layer) continue;
      if (collected.has(chainIds(r.config.rootfs.diff_ids).at(-1)!)) reclaimed += r.layer.contentSize;
    }
    return { cachesDeleted: records.map((r) => r.key), spaceReclaimed: reclaimed };
  }

  async #runtimeFiles(): Promise<{ hosts: string; resolv: string }> {
    if (!this.#files) {
      const dir = join(this.#o.execRoot, "files");
      await mkdir(dir, { recursive: true });
      const hosts = join(dir, "hosts");
      const resolv = join(dir, "resolv.conf");
      await writeFile(hosts, hostsFile("buildkitsandbox", "", []));
      await writeFile(resolv, resolvConf(await readFile("/etc/resolv.conf", "utf8").catch(() => "")));
      this.#files = { hosts, resolv };
    }
    return this.#files;
  }

  /** Builds the request; the image is tagged only when every step succeeded. */
  async build(req: BuildRequest, log: BuildLog): Promise<BuildResult> {
    const file = posix.basename(req.dockerfile) || "Dockerfile";
    const text = req.dockerfileText ?? req.context.captured(req.dockerfile)?.toString("utf8");
    if (text === undefined) throw wharfError("invalid-argument", `Cannot locate specified Dockerfile: ${req.dockerfile}`);
    const df = readDockerfile(parseDockerfile(text), file);
    const names: Reference[] = req.tags.map((t) => {
      try {
        const ref = parseReference(t);
        if (ref.digest !== undefined) throw new Error("a tag cannot name a digest");
        return ref;
      } catch (e) {
        throw wharfError("invalid-argument", `invalid tag ${JSON.stringify(t)}: ${(e as Error).message}`);
      }
    });
    if (req.platform) parsePlatformSpec(req.platform);
    const ctx = req.context;
    const cache = await this.#openCache();
    const run = new BuildRun(this, df, file, req, ctx, cache, log);
    try {
      const state = await run.execute();
      const image = await this.#commit(state, names);
      log.aux({ ID: image.id });
      log.text(`Successfully built ${shortId(image.id)}\n`);
      const unused = run.unusedArgs();
      const warnings = unused.length > 0 ? [`[Warning] One or more build-args [${unused.join(" ")}] were not consumed`] : [];
      return { image, warnings };
    } finally {
      await cache.flush();
    }
  }

  async #commit(state: State, names: readonly Reference[]): Promise<ImageView> {
    const images = this.#o.images;
    using lease = images.leases.create();
    const config = state.config;
    // A rebuild that changed nothing gives the image that is there, under the names it has: no write at all.
    const existing = await images.get(stateId(state)).catch(() => undefined);
    if (existing && names.every((n) => existing.tags.some((t) => formatReference(t) === formatReference(withDefaultTag(n))))) return existing;
    const docs = await images.putImageDocuments(config, state.layers.map((l) => l.descriptor), lease);
    return images.commitImage({
      manifest: docs.manifest,
      config,
      configDigest: docs.configDigest,
      layers: state.layers.map((l) => ({ diffId: l.diffId, size: l.size, contentSize: l.contentSize })),
      names,
    });
  }

  // ---- parts the run uses -------------------------------------------

  get images(): ImageStore {
    return this.#o.images;
  }

  get runner(): Runner {
    return this.#runner;
  }

  get root(): string {
    return this.#o.root;
  }

  get execRoot(): string {
    return this.#o.execRoot;
  }

  get locks(): KeyedMutex {
    return this.#locks;
  }

  runtimeFiles(): Promise<{ hosts: string; resolv: string }> {
    return this.#runtimeFiles();
  }

  hold(r: CacheRecord): void {
    this.#holdRecord(r);
  }

  /** Whether a record's layer is still stored (blob and snapshot). */
  async usable(r: CacheRecord): Promise<boolean> {
    if (!r.layer) return true;
    const chain = chainIds(r.config.rootfs.diff_ids).at(-1)!;
    return (await this.#o.images.content.has(r.layer.descriptor.digest)) && (await this.#o.images.hasSnapshot(chain));
  }
}

interface StageRun {
  readonly stage: Stage;
  promise?: Promise<State>;
}

type FromInstruction = Extract<Instruction, { kind: "from" }>;

class BuildRun {
  readonly #b: Builder;
  readonly #df: Dockerfile;
  readonly #file: string;
  readonly #req: BuildRequest;
  readonly #ctx: BuildContext;
  readonly #cache: BuildCache;
  readonly #log: BuildLog;
  readonly #globalArgs = new Map<string, string | undefined>();
  readonly #usedArgs = new Set<string>();
  readonly #stages: StageRun[];
  readonly #abort = new AbortController();
  /** Images fetched from their registries by this build, by name and platform. */
  readonly #fetched = new Map<string, Promise<void>>();
  #ordered: OrderedLog | undefined;
  #totalSteps = 0;

  constructor(b: Builder, df: Dockerfile, file: string, req: BuildRequest, ctx: BuildContext, cache: BuildCache, log: BuildLog) {
    this.#b = b;
    this.#df = df;
    this.#file = file;
    this.#req = req;
    this.#ctx = ctx;
    this.#cache = cache;
    this.#log = log;
    this.#stages = df.stages.map((stage) => ({ stage }));
    req.signal?.addEventListener("abort", () => this.#abort.abort(), { once: true });
  }

  get #signal(): AbortSignal {
    return this.#abort.signal;
  }

  unusedArgs(): string[] {
    return Object.keys(this.#req.buildArgs).filter((k) => !this.#usedArgs.has(k) && !PROXY_ARGS.has(k)).sort();
  }

  #buildArg(name: string): string | undefined {
    if (!(name in this.#req.buildArgs)) return undefined;
    this.#usedArgs.add(name);
    return this.#req.buildArgs[name] ?? undefined;
  }

  /** Values of the automatic platform args, when declared. */
  #automatic(name: string): string | undefined {
    const p = this.#req.platform ? parsePlatformSpec(this.#req.platform) : hostPlatform();
    const h = hostPlatform();
    const fmt = (x: typeof p) => `${x.os}/${x.architecture}${x.variant ? `/${x.variant}` : ""}`;
    switch (name) {
      case "TARGETPLATFORM":
        return fmt(p);
      case "TARGETOS":
        return p.os;
      case "TARGETARCH":
        return p.architecture;
      case "TARGETVARIANT":
        return p.variant ?? "";
      case "BUILDPLATFORM":
        return fmt(h);
      case "BUILDOS":
        return h.os;
      case "BUILDARCH":
        return h.architecture;
      case "BUILDVARIANT":
        return h.variant ?? "";
      default:
        return undefined;
    }
  }

  #stageByName(ref: string, before: number): number | undefined {
    const lower = ref.toLowerCase();
    for (const s of this.#df.stages) {
      if (s.index >= before) break;
      if (s.name === lower) return s.index;
    }
    if (/^\d+$/.test(ref)) {
      const n = Number(ref);
      if (n < before) return n;
    }
    return undefined;
  }

  #globalEnv: Env = (name) => this.#globalArgs.get(name);

  /** The stages each stage needs before it can run (its base, COPY --from and RUN --mount from). */
  #deps(stage: Stage): number[] {
    const out = new Set<number>();
    const base = this.#stageByName(this.#fromImage(stage.from), stage.index);
    if (base !== undefined) out.add(base);
    for (const ins of stage.instructions) {
      const refs: string[] = [];
      if ((ins.kind === "copy" || ins.kind === "add") && ins.from !== undefined) refs.push(ins.from);
      if (ins.kind === "run") for (const m of ins.mounts) if ((m.type === "bind" || m.type === "cache") && m.from !== undefined) refs.push(m.from);
      for (const r of refs) {
        const idx = this.#stageByName(safeExpand(r, this.#globalEnv), stage.index);
        if (idx !== undefined) out.add(idx);
      }
    }
    return [...out];
  }

  #fromImage(from: FromInstruction): string {
    return expand(this.#file, from.node, from.image, this.#globalEnv, this.#df.escape);
  }

  async execute(): Promise<State> {
    // Global ARGs: defaults, overridden by --build-arg.
    for (const ins of this.#df.globalArgs) {
      for (const a of ins.args) {
        const given = this.#buildArg(a.name);
        const value = given ?? (a.value !== undefined ? expand(this.#file, ins.node, a.value, this.#globalEnv, this.#df.escape) : this.#automatic(a.name));
        this.#globalArgs.set(a.name, value);
      }
    }
    let target = this.#df.stages[this.#df.stages.length - 1]!;
    if (this.#req.target !== undefined) {
      const idx = this.#stageByName(this.#req.target, this.#df.stages.length);
      if (idx === undefined) throw wharfError("invalid-argument", `failed to reach build target ${this.#req.target} in Dockerfile`);
      target = this.#df.stages[idx]!;
    }
    // Only what the target needs.
    const needed = new Set<number>();
    const visit = (i: number) => {
      if (needed.has(i)) return;
      needed.add(i);
      for (const d of this.#deps(this.#df.stages[i]!)) visit(d);
    };
    visit(target.index);
    const order = [...needed].sort((a, b) => a - b);
    this.#totalSteps = order.reduce((n, i) => n + 1 + this.#df.stages[i]!.instructions.length, 0) + (Object.keys(this.#req.labels).length > 0 ? 1 : 0);
    this.#ordered = new OrderedLog(this.#log, order);
    const stepBase = new Map<number, number>();
    let n = 0;
    for (const i of order) {
      stepBase.set(i, n);
      n += 1 + this.#df.stages[i]!.instructions.length;
    }
    for (const i of order) {
      const sr = this.#stages[i]!;
      const deps = this.#deps(sr.stage);
      sr.promise = (async () => {
        await Promise.all(deps.map((d) => this.#stages[d]!.promise));
        try {
          return await this.#runStage(sr.stage, stepBase.get(i)!, i === target.index);
        } finally {
          this.#ordered!.finish(i);
        }
      })();
      sr.promise.catch(() => this.#abort.abort());
    }
    try {
      return await this.#stages[target.index]!.promise!;
    } catch (e) {
      this.#ordered.flushAll();
      // Let the other stages stop before the caller cleans up.
      await Promise.allSettled(order.map((i) => this.#stages[i]!.promise));
      throw e;
    }
  }

  async #stageState(ref: string, before: number): Promise<State | undefined> {
    const idx = this.#stageByName(ref, before);
    if (idx === undefined) return undefined;
    const p = this.#stages[idx]!.promise;
    if (!p) throw wharfError("internal", `stage ${ref} was not scheduled`);
    return p;
  }

  /**
   * The state an image gives a stage: a local one, or one fetched from its registry when it is
   * missing (and always with `--pull`), once per build for each name and platform.
   */
  async #imageState(name: string, node: Instruction["node"], log: (line: string) => void, platform?: string): Promise<State> {
    const fetch = this.#req.fetchImage;
    const wanted = platform ?? this.#req.platform;
    const key = `${name}\0${wanted ?? ""}`;
    let view: ImageView | undefined;
    if (!this.#req.pull) {
      try {
        view = await this.#b.images.get(name);
      } catch (e) {
        if (!isKind(e, "not-found")) throw e;
        if (!fetch) throw instructionError(this.#file, node, `pull access denied for ${name}: the image is not here and this daemon cannot pull (load or import it first)`, "not-found");
      }
    } else if (!fetch) {
      throw instructionError(this.#file, node, `--pull: this daemon cannot pull ${name}`, "unavailable");
    }
    if (view === undefined) {
      let fetched = this.#fetched.get(key);
      if (!fetched) {
        fetched = fetch!(name, { ...(wanted ? { platform: wanted } : {}), log, signal: this.#signal });
        this.#fetched.set(key, fetched);
      }
      try {
        await fetched;
      } catch (e) {
        const kind = e instanceof WharfError ? e.kind : "unavailable";
        throw instructionError(this.#file, node, (e as Error).message, kind);
      }
      view = await this.#b.images.get(name);
    }
    return {
      config: clone(view.config),
      layers: view.layers.map((l) => ({ descriptor: l.descriptor, diffId: l.diffId, size: l.size, contentSize: l.contentSize })),
      key: `image:${view.id}`,
    };
  }

  #emit(stage: number, line: string): void {
    this.#ordered!.write(stage, line);
  }

  async #runStage(stage: Stage, stepBase: number, isTarget: boolean): Promise<State> {
    const log = (line: string) => this.#emit(stage.index, line);
    let step = stepBase;
    const header = (ins: Instruction) => {
      step++;
      log(`Step ${step}/${this.#totalSteps} : ${stepText(ins)}\n`);
    };
    // FROM
    header(stage.from);
    const imageName = this.#fromImage(stage.from);
    if (stage.from.platform !== undefined) parsePlatformSpec(safeExpand(stage.from.platform, this.#globalEnv));
    let state: State;
    const fromStage = await this.#stageState(imageName, stage.index);
    if (fromStage) state = { ...fromStage, config: clone(fromStage.config) };
    else if (imageName.toLowerCase() === "scratch") {
      const p = this.#req.platform ? parsePlatformSpec(this.#req.platform) : hostPlatform();
      state = { config: { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}), config: {}, rootfs: { type: "layers", diff_ids: [] }, history: [] }, layers: [], key: "scratch" };
    } else state = await this.#imageState(imageName, stage.from.node, log, stage.from.platform !== undefined ? safeExpand(stage.from.platform, this.#globalEnv) : undefined);
    const c: ContainerConfig = state.config.config ?? {};
    if (envGet(c.Env, "PATH") === undefined) c.Env = [...(c.Env ?? []), `PATH=${DEFAULT_PATH}`];
    const triggers = c.OnBuild ?? [];
    c.OnBuild = null;
    state = { ...state, config: { ...state.config, config: c } };
    log(` ---> ${shortId(stateId(state))}\n`);
    const scope = new StageScope({
      buildArgFor: (n) => this.#buildArg(n),
      globalFor: (n) => this.#globalArgs.get(n),
      automaticFor: (n) => this.#automatic(n),
      expandFor: (ins, word, env) => expand(this.#file, ins.node, word, env, this.#df.escape),
      proxyArg: (n) => this.#buildArg(n),
    });
    const noCache = this.#req.noCache || (stage.name !== undefined && this.#req.noCacheFilter.includes(stage.name)) || this.#req.noCacheFilter.includes(String(stage.index));
    let cmdSet = false;
    let parentHit = true;
    const runOne = async (ins: Instruction) => {
      const result = await this.#step(stage, ins, state, scope, noCache, parentHit, log, { cmdSet });
      state = result.state;
      parentHit = result.hit;
      if (ins.kind === "cmd") cmdSet = true;
    };
    // ONBUILD triggers of the base run first, as docker runs them.
    for (const trigger of triggers) {
      const parsed = parseDockerfile(trigger);
      for (const node of parsed.nodes) {
        const ins = readInstruction({ ...node, startLine: stage.from.node.startLine, endLine: stage.from.node.endLine }, this.#file);
        log(`# Executing 1 build trigger\n`);
        await runOne(ins);
      }
    }
    for (const ins of stage.instructions) {
      this.#signal.throwIfAborted();
      header(ins);
      await runOne(ins);
      log(` ---> ${shortId(stateId(state))}\n`);
    }
    if (isTarget && Object.keys(this.#req.labels).length > 0) {
      step++;
      const labels = this.#req.labels;
      log(`Step ${step}/${this.#totalSteps} : LABEL ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(" ")}\n`);
      const inputs = { kind: "label", labels: JSON.stringify(Object.entries(labels).sort()) };
      state = this.#metaStep(state, inputs, `LABEL ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(" ")}`, (cfg) => ({ ...cfg, Labels: { ...(cfg.Labels ?? {}), ...labels } }));
      log(` ---> ${shortId(stateId(state))}\n`);
    }
    return state;
  }

  /** A metadata-only step: a new config and a history entry without a layer. Never worth caching: it costs nothing. */
  #metaStep(state: State, inputs: Record<string, string>, createdBy: string, change: (c: ContainerConfig) => ContainerConfig, extra?: (cfg: ImageConfig) => ImageConfig): State {
    const key = cacheKey(state.key, inputs);
    let config: ImageConfig = { ...state.config, config: change({ ...(state.config.config ?? {}) }) };
    if (extra) config = extra(config);
    const history: HistoryEntry[] = [...(state.config.history ?? []), { created: stableTime(state, key), created_by: `/bin/sh -c #(nop)  ${createdBy}`, empty_layer: true }];
    config = { ...config, created: history[history.length - 1]!.created!, history };
    return { config, layers: state.layers, key };
  }

  async #step(stage: Stage, ins: Instruction, state: State, scope: StageScope, noCache: boolean, parentHit: boolean, log: (l: string) => void, flags: { cmdSet: boolean }): Promise<{ state: State; hit: boolean }> {
    const env = scope.env(state);
    const x = (word: string) => expand(this.#file, ins.node, word, env, this.#df.escape);
    const cfg = state.config.config ?? {};
    const shell = cfg.Shell && cfg.Shell.length > 0 ? cfg.Shell : DEFAULT_SHELL;
    const meta = (inputs: Record<string, string>, createdBy: string, change: (c: ContainerConfig) => ContainerConfig, extra?: (cfg: ImageConfig) => ImageConfig) => ({ state: this.#metaStep(state, { kind: ins.kind, ...inputs }, createdBy, change, extra), hit: parentHit });
    switch (ins.kind) {
      case "from":
        throw instructionError(this.#file, ins.node, "FROM inside a stage");
      case "arg": {
        for (const a of ins.args) scope.declare(a, state, ins);
        const text = ins.args.map((a) => (a.value !== undefined ? `${a.name}=${a.value}` : a.name)).join(" ");
        // The values stay out of the key: every step that reads one has it among its own inputs.
        return meta({ args: JSON.stringify(ins.args.map((a) => [a.name, a.value ?? null])) }, `ARG ${text}`, (c) => c);
      }
      case "env": {
        let list = [...(cfg.Env ?? [])];
        const pairs: string[] = [];
        for (const p of ins.pairs) {
          const k = x(p.key);
          const v = x(p.value);
          if (k === "") throw instructionError(this.#file, ins.node, "ENV names can not be blank");
          list = envSet(list, k, v);
          pairs.push(`${k}=${v}`);
        }
        return meta({ env: JSON.stringify(pairs) }, `ENV ${pairs.join(" ")}`, (c) => ({ ...c, Env: list }));
      }
      case "label": {
        const labels: Record<string, string> = {};
        for (const p of ins.pairs) labels[x(p.key)] = x(p.value);
        return meta({ labels: JSON.stringify(labels) }, `LABEL ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(" ")}`, (c) => ({ ...c, Labels: { ...(c.Labels ?? {}), ...labels } }));
      }
      case "maintainer":
        return meta({ author: ins.name }, `MAINTAINER ${ins.name}`, (c) => c, (image) => ({ ...image, author: ins.name }));
      case "cmd":
      case "entrypoint": {
        const value = ins.json ? [...ins.args] : [...shell, ins.args[0] ?? ""];
        const field = ins.kind === "cmd" ? "Cmd" : "Entrypoint";
        return meta({ value: JSON.stringify(value) }, `${field.toUpperCase()} ${JSON.stringify(value)}`, (c) => {
          const next: ContainerConfig = { ...c, [field]: value };
          // An ENTRYPOINT resets a CMD the stage inherited (not one it set itself).
          if (ins.kind === "entrypoint" && !flags.cmdSet) next.Cmd = null;
          return next;
        });
      }
      case "shell":
        return meta({ value: JSON.stringify(ins.args) }, `SHELL ${JSON.stringify(ins.args)}`, (c) => ({ ...c, Shell: [...ins.args] }));
      case "user": {
        const user = x(ins.user);
        return meta({ user }, `USER ${user}`, (c) => ({ ...c, User: user }));
      }
      case "expose": {
        const ports: string[] = [];
        for (const raw of ins.ports) for (const word of processWords(raw, env, { escape: this.#df.escape })) ports.push(...exposedPorts(word, this.#file, ins.node));
        return meta({ ports: JSON.stringify(ports) }, `EXPOSE ${ports.join(" ")}`, (c) => ({ ...c, ExposedPorts: { ...(c.ExposedPorts ?? {}), ...Object.fromEntries(ports.map((p) => [p, {}])) } }));
      }
      case "volume": {
        const paths = ins.paths.map(x);
        for (const p of paths) if (p.trim() === "") throw instructionError(this.#file, ins.node, "VOLUME specified can not be an empty string");
        return meta({ paths: JSON.stringify(paths) }, `VOLUME ${JSON.stringify(paths)}`, (c) => ({ ...c, Volumes: { ...(c.Volumes ?? {}), ...Object.fromEntries(paths.map((p) => [p, {}])) } }));
      }
      case "stopsignal": {
        const signal = x(ins.signal);
        if (!/^(SIG)?[A-Z0-9+-]+$/i.test(signal)) throw instructionError(this.#file, ins.node, `invalid signal: ${signal}`);
        return meta({ signal }, `STOPSIGNAL ${signal}`, (c) => ({ ...c, StopSignal: signal }));
      }
      case "healthcheck": {
        const h = ins.check;
        const hc = { Test: [...h.test], ...(h.interval ? { Interval: h.interval } : {}), ...(h.timeout ? { Timeout: h.timeout } : {}), ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}), ...(h.startInterval ? { StartInterval: h.startInterval } : {}), ...(h.retries ? { Retries: h.retries } : {}) };
        return meta({ check: JSON.stringify(hc) }, `HEALTHCHECK &${JSON.stringify(hc)}`, (c) => ({ ...c, Healthcheck: hc }));
      }
      case "onbuild":
        return meta({ trigger: ins.expression }, `ONBUILD ${ins.expression}`, (c) => ({ ...c, OnBuild: [...(c.OnBuild ?? []), ins.expression] }));
      case "workdir": {
        const raw = x(ins.path);
        const dir = posix.isAbsolute(raw) ? posix.normalize(raw) : posix.join(cfg.WorkingDir || "/", raw);
        const inputs = { kind: "workdir", dir };
        return this.#cached(stage, ins, state, inputs, noCache, parentHit, log, `WORKDIR ${dir}`, undefined, async () => {
          const layer = await this.#fsStep(state, async (rootfs) => {
            const parts = dir.split("/").filter(Boolean);
            let cur = "/";
            for (const part of parts) {
              cur = posix.join(cur, part);
              const host = await resolveInRoot(rootfs, cur);
              try {
                const st = await lstat(host);
                if (!st.isDirectory()) throw instructionError(this.#file, ins.node, `cannot make ${dir}: ${cur} is not a directory`);
              } catch (e) {
                if (errnoCode(e) !== "ENOENT") throw e;
                await mkdir(host, { mode: 0o755 });
              }
            }
            return [];
          });
          return { layer, change: (c: ContainerConfig) => ({ ...c, WorkingDir: dir }) };
        });
      }
      case "run":
        return this.#run(stage, ins, state, scope, noCache, parentHit, log, shell);
      case "copy":
      case "add":
        return this.#copy(stage, ins, state, scope, noCache, parentHit, log);
    }
  }

  /** A filesystem step through the cache: a hit reuses the recorded state; a miss runs `exec` and records what it made. */
  async #cached(
    stage: Stage,
    ins: Instruction,
    state: State,
    inputs: Record<string, string>,
    noCache: boolean,
    parentHit: boolean,
    log: (l: string) => void,
    createdBy: string,
    files: Readonly<Record<string, string>> | undefined,
    exec: () => Promise<{ layer: CachedLayer | undefined; change?: (c: ContainerConfig) => ContainerConfig }>,
  ): Promise<{ state: State; hit: boolean }> {
    const key = cacheKey(state.key, inputs);
    const slot = `${stage.name ?? stage.index}:${ins.node.startLine}:${ins.kind}`;
    if (!noCache) {
      const record = this.#cache.get(key);
      if (record && (await this.#b.usable(record))) {
        log(" ---> Using cache\n");
        this.#b.hold(record);
        return { state: { config: record.config, layers: record.layer ? [...state.layers, record.layer] : state.layers, key }, hit: true };
      }
      const fromImage = await this.#fromCacheImages(state, createdBy);
      if (fromImage) {
        log(" ---> Using cache (from --cache-from)\n");
        return { state: { ...fromImage, key }, hit: true };
      }
      log(` ---> Cache miss: ${record ? "the cached layer was collected" : explainMiss(this.#cache.previous(slot), state.key, inputs, parentHit, files)}\n`);
    } else {
      log(" ---> Cache disabled for this step (--no-cache)\n");
    }
    const { layer, change } = await exec();
    const created = now();
    const diffIds = layer ? [...state.config.rootfs.diff_ids, layer.diffId] : state.config.rootfs.diff_ids;
    const history: HistoryEntry[] = [...(state.config.history ?? []), { created, created_by: createdBy.startsWith("|") || createdBy.startsWith("/") ? createdBy : `/bin/sh -c #(nop) ${createdBy}`, ...(layer ? {} : { empty_layer: true }) }];
    const config: ImageConfig = { ...state.config, created, config: change ? change({ ...(state.config.config ?? {}) }) : state.config.config ?? {}, rootfs: { type: "layers", diff_ids: diffIds }, history };
    const record: CacheRecord = { key, parent: state.key, slot, inputs, ...(files ? { files } : {}), config, ...(layer ? { layer } : {}), createdAt: created };
    this.#cache.put(record);
    this.#b.hold(record);
    return { state: { config, layers: layer ? [...state.layers, layer] : state.layers, key }, hit: false };
  }

  /** `--cache-from`: an image whose history continues this state's with the same step reuses its layer. */
  async #fromCacheImages(state: State, createdBy: string): Promise<Omit<State, "key"> | undefined> {
    for (const name of this.#req.cacheFrom) {
      let view: ImageView;
      try {
        view = await this.#b.images.get(name);
      } catch {
        continue;
      }
      const mine = state.config.history ?? [];
      const theirs = view.config.history ?? [];
      if (theirs.length <= mine.length) continue;
      let same = true;
      for (let i = 0; i < mine.length; i++) if (mine[i]!.created_by !== theirs[i]!.created_by) same = false;
      const next = theirs[mine.length]!;
      const wanted = createdBy.startsWith("|") || createdBy.startsWith("/") ? createdBy : `/bin/sh -c #(nop) ${createdBy}`;
      if (!same || next.created_by !== wanted) continue;
      const layerCount = mine.filter((h) => !h.empty_layer).length;
      if (layerCount !== state.layers.length) continue;
      const layers = next.empty_layer ? state.layers : [...state.layers, ...view.layers.slice(layerCount, layerCount + 1).map((l) => ({ descriptor: l.descriptor, diffId: l.diffId, size: l.size, contentSize: l.contentSize }))];
      for (let i = 0; i < state.layers.length; i++) if (state.layers[i]!.diffId !== view.layers[i]?.diffId) same = false;
      if (!same) continue;
      const config: ImageConfig = { ...clone(view.config), rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) }, history: theirs.slice(0, mine.length + 1) };
      return { config, layers };
    }
    return undefined;
  }

  /**
   * Runs `fn` on the state's root mounted read-write (an active snapshot on
   * its layers) and turns what changed into a layer; undefined when nothing
   * changed. `fn` returns extra mount points it made, to drop from the diff.
   */
  async #fsStep(state: State, fn: (rootfs: string) => Promise<string[]>): Promise<CachedLayer | undefined> {
    const images = this.#b.images;
    using lease = images.leases.create();
    const key = `${ACTIVE_PREFIX}${randomBytes(8).toString("hex")}`;
    lease.addSnapshot(key);
    const diffIds = state.layers.map((l) => l.diffId);
    const parent = diffIds.length > 0 ? chainIds(diffIds).at(-1)! : undefined;
    const mounts = await images.snapshotter.prepare(key, parent, { labels: { "wharf.build": "step" } });
    const rootfs = join(this.#b.execRoot, "mnt", key);
    let committed = false;
    try {
      await mkdir(rootfs, { recursive: true });
      const before = new Map<string, boolean>();
      await mountAll(mounts, rootfs);
      let stubs: string[];
      try {
        for (const p of RUNTIME_STUBS) before.set(p, await existsInRoot(rootfs, p));
        stubs = await fn(rootfs);
        for (const p of stubs) if (!before.has(p)) before.set(p, false);
      } finally {
        await unmount(rootfs);
      }
      const upper = writableDir(mounts);
      await dropStubs(upper, [...before].filter(([, existed]) => !existed).map(([p]) => p));
      if ((await readdir(upper)).length === 0) return undefined;
      const writer = await images.content.writer(`build-${key}`);
      let size = 0;
      try {
        // Tar headers come 512 bytes at a time: written in batches, they cost one disk write per megabyte.
        let parts: Buffer[] = [];
        let batched = 0;
        for await (const chunk of diffDirectory(upper, { signal: this.#signal }) as AsyncIterable<Buffer>) {
          size += chunk.length;
          parts.push(chunk);
          batched += chunk.length;
          if (batched >= WRITE_BATCH) {
            await writer.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, batched));
            parts = [];
            batched = 0;
          }
        }
        if (batched > 0) await writer.write(Buffer.concat(parts, batched));
      } catch (e) {
        await writer.abort().catch(() => {});
        throw e;
      }
      const blob = await writer.commit();
      lease.addBlob(blob.digest);
      const diffId = blob.digest;
      const chain = chainIds([...diffIds, diffId]).at(-1)!;
      const contentSize = treeSize(upper);
      try {
        await images.snapshotter.commit(chain, key, { labels: { "wharf.layer": diffId, "wharf.size": String(size), "wharf.content-size": String(contentSize) } });
        committed = true;
      } catch (e) {
        if (!isKind(e, "conflict")) throw e;
      }
      lease.addSnapshot(chain);
      return { descriptor: { mediaType: MediaType.OciLayer, digest: blob.digest, size: blob.size }, diffId, size, contentSize };
    } finally {
      if (!committed) await images.snapshotter.remove(key).catch(() => {});
      await rmdir(rootfs).catch(() => {});
    }
  }

  /** Mounts a state's root read-only at a temporary directory for `fn` (COPY --from). */
  async #withView<T>(state: State, fn: (root: string) => Promise<T>): Promise<T> {
    const view = await this.#openView(state);
    try {
      return await fn(view.dir);
    } finally {
      await view.close();
    }
  }

  /** A state's root mounted read-only until `close` (RUN --mount=type=bind,from=…, COPY --from). */
  async #openView(state: State): Promise<{ dir: string; close: () => Promise<void> }> {
    const images = this.#b.images;
    const diffIds = state.layers.map((l) => l.diffId);
    await mkdir(this.#b.execRoot, { recursive: true });
    if (diffIds.length === 0) {
      const empty = await mkdtemp(join(this.#b.execRoot, "empty-"));
      return { dir: empty, close: () => rm(empty, { recursive: true, force: true }) };
    }
    const lease = images.leases.create();
    const key = `${ACTIVE_PREFIX}view-${randomBytes(8).toString("hex")}`;
    lease.addSnapshot(key);
    const dir = join(this.#b.execRoot, "mnt", key);
    const close = async () => {
      await unmount(dir).catch(() => {});
      await images.snapshotter.remove(key).catch(() => {});
      await rmdir(dir).catch(() => {});
      lease[Symbol.dispose]();
    };
    try {
      const mounts = await images.snapshotter.view(key, chainIds(diffIds).at(-1)!);
      await mkdir(dir, { recursive: true });
      await mountAll(mounts, dir);
      return { dir, close };
    } catch (e) {
      await close();
      throw e;
    }
  }

  async #sourceState(ref: string, stage: Stage, node: Instruction["node"], log: (line: string) => void): Promise<State> {
    const s = await this.#stageState(ref, stage.index);
    if (s) return s;
    if (this.#stageByName(ref, this.#df.stages.length) !== undefined) throw instructionError(this.#file, node, `stage ${ref} is not defined before this one`);
    return this.#imageState(ref, node, log);
  }

  async #run(stage: Stage, ins: Extract<Instruction, { kind: "run" }>, state: State, scope: StageScope, noCache: boolean, parentHit: boolean, log: (l: string) => void, shell: readonly string[]): Promise<{ state: State; hit: boolean }> {
    const cfg = state.config.config ?? {};
    const env = [...(cfg.Env ?? [])];
    const argEnv = scope.runArgs(state);
    for (const [k, v] of argEnv) if (envGet(env, k) === undefined) env.push(`${k}=${v}`);
    let args: string[];
    let display: string;
    if (ins.json) {
      args = [...ins.args];
      display = JSON.stringify(args);
    } else {
      let script = ins.args[0] ?? "";
      if (ins.heredocs.length === 1 && /^\s*\d*<<-?\S+\s*$/.test(script)) script = ins.heredocs[0]!.content;
      else for (const h of ins.heredocs) script += `\n${h.content}${h.name}`;
      args = [...shell, script];
      display = [...shell, script].join(" ");
    }
    // The history and cache see the build args the command gets, as docker's `|N K=V` prefix; proxy args stay out of both.
    const visibleArgs = argEnv.filter(([k]) => !PROXY_ARGS.has(k) || scope.declared(k));
    const createdBy = visibleArgs.length > 0 ? `|${visibleArgs.length} ${visibleArgs.map(([k, v]) => `${k}=${v}`).join(" ")} ${display}` : display.startsWith("/") ? display : `/bin/sh -c ${display}`;
    const inputs: Record<string, string> = {
      kind: "run",
      command: JSON.stringify(args),
      user: cfg.User ?? "",
      workdir: cfg.WorkingDir ?? "",
      network: ins.network,
      mounts: JSON.stringify(ins.mounts.map((m) => (m.type === "secret" ? { type: m.type, id: m.id, target: m.target } : m))),
    };
    for (const e of cfg.Env ?? []) {
      const eq = e.indexOf("=");
      inputs[`env:${eq === -1 ? e : e.slice(0, eq)}`] = eq === -1 ? "" : e.slice(eq + 1);
    }
    for (const [k, v] of visibleArgs) inputs[`arg:${k}`] = v;
    // What a bind mount from another stage or image reads is that state: its key is an input.
    const mountSources = new Map<string, State>();
    for (const m of ins.mounts) {
      if (m.type !== "bind" || m.from === undefined || mountSources.has(m.from)) continue;
      const from = await this.#sourceState(m.from, stage, ins.node, log);
      mountSources.set(m.from, from);
      inputs[`mount-from:${m.from}`] = from.key;
    }
    return this.#cached(stage, ins, state, inputs, noCache, parentHit, log, createdBy, undefined, async () => {
      const id = randomBytes(6).toString("hex");
      log(` ---> Running in ${id}\n`);
      const cleanups: (() => Promise<void>)[] = [];
      try {
        const layer = await this.#fsStep(state, async (rootfs) => {
          const files = await this.#b.runtimeFiles();
          const [passwd, group] = await readFilesInRoot(rootfs, ["/etc/passwd", "/etc/group"]);
          let user;
          try {
            user = resolveUser(cfg.User ?? "", passwd, group);
          } catch (e) {
            throw instructionError(this.#file, ins.node, (e as Error).message);
          }
          const mounts: RuntimeMount[] = [
            { destination: "/etc/resolv.conf", type: "bind", source: files.resolv, options: ["rbind", "ro"] },
            { destination: "/etc/hosts", type: "bind", source: files.hosts, options: ["rbind", "ro"] },
          ];
          const stubs: string[] = [];
          const extraEnv: string[] = [];
          for (const m of ins.mounts) {
            const target = posix.isAbsolute(m.target) ? m.target : posix.join(cfg.WorkingDir || "/", m.target);
            if (!(await existsInRoot(rootfs, target))) stubs.push(...stubPaths(target));
            switch (m.type) {
              case "cache": {
                const dir = join(this.#b.root, "cache-mounts", createHash("sha256").update(m.id).digest("hex").slice(0, 32));
                let created = false;
                try {
                  await lstat(dir);
                } catch {
                  await mkdir(dir, { recursive: true, mode: m.mode ?? 0o755 });
                  created = true;
                }
                if (created) await import("node:fs/promises").then((f) => f.chown(dir, m.uid, m.gid));
                if (m.sharing === "locked") {
                  const release = await lockFor(this.#b.locks, `cache:${m.id}`);
                  cleanups.push(async () => release());
                }
                mounts.push({ destination: target, type: "bind", source: dir, options: ["rbind", m.readonly ? "ro" : "rw"] });
                break;
              }
              case "tmpfs":
                mounts.push({ destination: target, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", ...(m.size ? [`size=${m.size}`] : [])] });
                break;
              case "secret": {
                const data = this.#req.secrets.get(m.id);
                if (!data) {
                  if (m.required) throw instructionError(this.#file, ins.node, `secret ${m.id}: not provided (--secret id=${m.id},src=…)`);
                  break;
                }
                if (m.env !== undefined) extraEnv.push(`${m.env}=${data.toString("utf8")}`);
                const dir = await mkdtemp(join(this.#b.execRoot, "secret-"));
                cleanups.push(() => rm(dir, { recursive: true, force: true }));
                const path = join(dir, "secret");
                await writeFile(path, data, { mode: m.mode });
                await import("node:fs/promises").then((f) => f.chown(path, m.uid, m.gid));
                mounts.push({ destination: target, type: "bind", source: path, options: ["rbind", "ro"] });
                break;
              }
              case "bind": {
                if (m.from !== undefined) {
                  const from = mountSources.get(m.from)!;
                  const view = await this.#openView(from);
                  cleanups.push(view.close);
                  const host = await resolveInRoot(view.dir, m.source || "/");
                  if (!(await existsInRoot(view.dir, m.source || "/"))) throw instructionError(this.#file, ins.node, `--mount=type=bind,from=${m.from},source=${m.source}: not found`, "not-found");
                  mounts.push({ destination: target, type: "bind", source: host, options: ["rbind", "ro"] });
                  break;
                }
                let rel: string;
                try {
                  rel = resolveInContext(this.#ctx, m.source.replace(/^\/+/, ""));
                } catch (e) {
                  throw instructionError(this.#file, ins.node, `--mount=type=bind,source=${m.source}: ${(e as Error).message}`, "not-found");
                }
                const files = await this.#ctx.files(this.#signal);
                const src = rel === "" ? files : join(files, rel);
                mounts.push({ destination: target, type: "bind", source: src, options: ["rbind", m.rw ? "rw" : "ro"] });
                break;
              }
              case "ssh":
                if (m.required) throw instructionError(this.#file, ins.node, "ssh mounts are not supported");
                break;
            }
          }
          const outcome = await this.#b.runner.run(
            {
              rootfs,
              args,
              env: [...env, ...extraEnv],
              cwd: cfg.WorkingDir || "/",
              user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
              mounts,
              network: ins.network === "none" ? "none" : "host",
              hostname: "buildkitsandbox",
            },
            (chunk) => log(chunk.toString("utf8")),
            this.#signal,
          );
          if (outcome.exitCode !== 0) {
            const tail = outcome.tail.trim().split("\n").slice(-3).join(" | ");
            throw instructionError(this.#file, ins.node, `The command '${display}' returned a non-zero code: ${outcome.exitCode}${tail ? ` (last output: ${tail})` : ""}`, "invalid-argument");
          }
          return stubs;
        });
        log(`Removing intermediate container ${id}\n`);
        return { layer };
      } finally {
        for (const c of cleanups.reverse()) await c().catch(() => {});
      }
    });
  }

  async #copy(stage: Stage, ins: Extract<Instruction, { kind: "copy" | "add" }>, state: State, scope: StageScope, noCache: boolean, parentHit: boolean, log: (l: string) => void): Promise<{ state: State; hit: boolean }> {
    const env = scope.env(state);
    const x = (word: string) => expand(this.#file, ins.node, word, env, this.#df.escape);
    const cfg = state.config.config ?? {};
    const rawDest = x(ins.dest);
    const destIsDir = rawDest.endsWith("/") || rawDest === "." || rawDest.endsWith("/.") || ins.parents;
    let dest = posix.isAbsolute(rawDest) ? rawDest : posix.join(cfg.WorkingDir || "/", rawDest);
    dest = posix.normalize(dest);
    if (dest.length > 1) dest = dest.replace(/\/+$/, "");
    const exclude = new IgnoreMatcher(ins.exclude.map(x));
    const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
    const chown = ins.chown !== undefined ? x(ins.chown) : undefined;
    const chmod = ins.chmod !== undefined ? x(ins.chmod) : undefined;
    let mode: number | undefined;
    if (chmod !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmod)) throw instructionError(this.#file, ins.node, `invalid --chmod ${JSON.stringify(chmod)}: only octal modes are supported`);
      mode = parseInt(chmod, 8);
    }
    const from = ins.from !== undefined ? x(ins.from) : undefined;
    const inputs: Record<string, string> = { kind: ins.kind, dest, destIsDir: String(destIsDir), chown: chown ?? "", chmod: chmod ?? "", exclude: JSON.stringify(ins.exclude), parents: String(ins.parents) };
    const literals: { name: string; data: Buffer; mode: number; mtime?: Date }[] = [];
    let fileDigests: Record<string, string> | undefined;
    const contextSources: { rel: string; isDir: boolean; source: string }[] = [];
    const urls: string[] = [];
    const sources: string[] = [];
    for (const raw of ins.sources) {
      const m = /^\d*<<-?(.+)$/.exec(raw);
      const doc = m ? heredocs.get(processWord(m[1]!, () => undefined)) : undefined;
      if (doc) {
        let content = doc.chomp ? doc.content.replace(/^\t+/gm, "") : doc.content;
        if (doc.expand) content = safeExpandHeredoc(content, env);
        literals.push({ name: doc.name, data: Buffer.from(content), mode: 0o644 });
        inputs[`heredoc:${doc.name}`] = digestOf(content);
        continue;
      }
      sources.push(x(raw));
    }
    if (sources.length + literals.length > 1 && !destIsDir) {
      throw instructionError(this.#file, ins.node, `When using ${ins.kind.toUpperCase()} with more than one source file, the destination must be a directory and end with a /`);
    }
    let fromState: State | undefined;
    if (from !== undefined) {
      fromState = await this.#sourceState(from, stage, ins.node, log);
      inputs["from"] = fromState.key;
      inputs["sources"] = JSON.stringify(sources);
    } else {
      const files = new Map<string, string>();
      for (const src of sources) {
        if (ins.kind === "add" && /^https?:\/\//.test(src)) {
          urls.push(src);
          continue;
        }
        let matched: { rel: string; isDir: boolean }[];
        try {
          matched = matchContext(this.#ctx, src, exclude);
        } catch (e) {
          if (e instanceof WharfError) throw instructionError(this.#file, ins.node, e.message, e.kind);
          throw e;
        }
        if (matched.length === 0) throw instructionError(this.#file, ins.node, `no source files were specified (nothing matches ${JSON.stringify(src)})`, "not-found");
        for (const mm of matched) contextSources.push({ ...mm, source: src });
        hashContextPaths(this.#ctx, matched, exclude, files);
      }
      if (contextSources.length + urls.length + literals.length > 1 && !destIsDir) {
        throw instructionError(this.#file, ins.node, `When using ${ins.kind.toUpperCase()} with more than one source file, the destination must be a directory and end with a /`);
      }
      // The key takes one digest of every file read; the per-file digests go with the record, for explanations only.
      if (files.size > 0) {
        const h = createHash("sha256");
        for (const [p, d] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) h.update(`${p}\0${d}\n`);
        inputs["files"] = h.digest("hex");
        fileDigests = Object.fromEntries(files);
      }
      for (const u of urls) {
        const fetched = await download(u, this.#signal).catch((e: unknown) => {
          throw instructionError(this.#file, ins.node, `download ${u}: ${(e as Error).message}`, "unavailable");
        });
        if (ins.checksum !== undefined && ins.checksum !== digestOf(fetched.data)) throw instructionError(this.#file, ins.node, `checksum of ${u} is ${digestOf(fetched.data)}, expected ${ins.checksum}`);
        literals.push({ name: fetched.name, data: fetched.data, mode: 0o600, ...(fetched.mtime ? { mtime: fetched.mtime } : {}) });
        inputs[`url:${u}`] = digestOf(fetched.data);
      }
    }
    const createdBy = `${ins.kind.toUpperCase()} ${[...(from !== undefined ? [`--from=${from}`] : []), ...(chown !== undefined ? [`--chown=${chown}`] : []), ...sources, ...literals.map((l) => l.name)].join(" ")} ${rawDest}`;
    return this.#cached(stage, ins, state, inputs, noCache, parentHit, log, createdBy, fileDigests, async () => {
      const perform = async (items: CopyItem[]) =>
        this.#fsStep(state, async (rootfs) => {
          const owner = chown !== undefined ? await resolveOwner(rootfs, chown, this.#file, ins.node) : undefined;
          const plan: CopyPlan = { items, dest, destIsDir, ...(owner ? { owner } : {}), ...(mode !== undefined ? { mode } : {}), literals };
          await performCopy(rootfs, plan);
          return [];
        });
      let layer: CachedLayer | undefined;
      if (fromState) {
        layer = await this.#withView(fromState, async (root) => {
          const items: CopyItem[] = [];
          for (const src of sources) {
            const host = await resolveInRoot(root, src);
            let st;
            try {
              st = await lstat(host);
            } catch {
              throw instructionError(this.#file, ins.node, `${src}: not found in ${from}`, "not-found");
            }
            const rel = posix.normalize(src).replace(/^\/+/, "");
            items.push({ host, name: st.isDirectory() ? (ins.parents ? rel : "") : ins.parents ? rel : posix.basename(rel), isDir: st.isDirectory() });
          }
          return perform(items);
        });
      } else if (ins.kind === "copy" && this.#ctx.tar !== undefined && !this.#ctx.hasHardlinks) {
        // Straight from the saved tar: each file written once, the context never unpacked.
        const tar = this.#ctx.tar;
        layer = await this.#fsStep(state, async (rootfs) => {
          const owner = chown !== undefined ? await resolveOwner(rootfs, chown, this.#file, ins.node) : undefined;
          const intoDir = destIsDir || (await isDirInRoot(rootfs, dest));
          const tarSources: TarSource[] = contextSources.map((s) => ({
            rel: s.rel,
            isDir: s.isDir,
            target: s.isDir ? (ins.parents && s.rel !== "" ? posix.join(dest, s.rel) : dest) : intoDir ? posix.join(dest, ins.parents ? s.rel : posix.basename(s.rel)) : dest,
            ...(s.isDir
              ? {
                  filter: (rel: string) => {
                    const full = s.rel === "" ? rel : `${s.rel}/${rel}`;
                    return !this.#ctx.ignore.ignores(full) && (exclude.empty || !exclude.ignores(rel));
                  },
                }
              : {}),
          }));
          await copyFromTar(rootfs, tar, tarSources, owner, mode);
          if (literals.length > 0) await performCopy(rootfs, { items: [], dest, destIsDir, ...(owner ? { owner } : {}), ...(mode !== undefined ? { mode } : {}), literals });
          return [];
        });
      } else {
        const items: CopyItem[] = [];
        const dir = await this.#ctx.files(this.#signal);
        for (const s of contextSources) {
          const host = s.rel === "" ? dir : `${dir}/${s.rel}`;
          const filter = (rel: string) => {
            const full = s.rel === "" ? rel : `${s.rel}/${rel}`;
            // --exclude patterns are relative to the source being copied, as BuildKit reads them.
            return !this.#ctx.ignore.ignores(full) && (exclude.empty || !exclude.ignores(rel));
          };
          const extract = ins.kind === "add" && !s.isDir && (await isArchive(host));
          items.push({ host, name: s.isDir ? (ins.parents ? s.rel : "") : ins.parents ? s.rel : posix.basename(s.rel), isDir: s.isDir, filter, ...(extract ? { extract } : {}) });
        }
        layer = await perform(items);
      }
      return { layer };
    });
  }
}

/** A stage's ARG scope: what it declared and the values. */
class StageScope {
  readonly #run: BuildRunArgs;
  readonly #values = new Map<string, string | undefined>();

  constructor(run: BuildRunArgs) {
    this.#run = run;
  }

  declare(a: ArgDecl, state: State, ins: Instruction): void {
    const given = this.#run.buildArgFor(a.name);
    let value: string | undefined;
    if (given !== undefined) value = given;
    else if (a.value !== undefined) value = this.#run.expandFor(ins, a.value, this.env(state));
    else value = this.#run.globalFor(a.name) ?? this.#run.automaticFor(a.name);
    this.#values.set(a.name, value);
  }

  declared(name: string): boolean {
    return this.#values.has(name);
  }

  value(name: string): string | undefined {
    return this.#values.get(name);
  }

  /** Names for expansion: the config's Env first (ENV wins over ARG), then the stage's ARGs. */
  env(state: State): Env {
    const list = state.config.config?.Env;
    return (name) => envGet(list, name) ?? this.#values.get(name);
  }

  /** What a RUN gets as environment from build args: declared ones with a value, and the proxy args given. */
  runArgs(_state: State): [string, string][] {
    const out: [string, string][] = [];
    for (const [k, v] of this.#values) if (v !== undefined) out.push([k, v]);
    for (const k of PROXY_ARGS) {
      if (this.#values.has(k)) continue;
      const v = this.#run.proxyArg(k);
      if (v !== undefined) out.push([k, v]);
    }
    return out;
  }
}

interface BuildRunArgs {
  buildArgFor(name: string): string | undefined;
  globalFor(name: string): string | undefined;
  automaticFor(name: string): string | undefined;
  expandFor(ins: Instruction, word: string, env: Env): string;
  proxyArg(name: string): string | undefined;
}


function safeExpand(word: string, env: Env): string {
  try {
    return processWord(word, env);
  } catch {
    return word;
  }
}

function safeExpandHeredoc(content: string, env: Env): string {
  // Only variables are expanded in a heredoc body; quotes stay as written.
  return content.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, name: string) => env(name) ?? (m.startsWith("${") || m.startsWith("$") ? "" : m));
}

function stepText(ins: Instruction): string {
  return ins.node.original.trim().replace(/^(\S+)/, (k) => k.toUpperCase());
}

/** A metadata step's time: fixed by its key, so the same build gives the same image id. */
function stableTime(state: State, _key: string): string {
  return state.config.created ?? new Date(0).toISOString();
}

function exposedPorts(word: string, file: string, node: Instruction["node"]): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
  if (!m) throw instructionError(file, node, `invalid containerPort: ${word}`);
  const start = Number(m[1]);
  const end = m[2] ? Number(m[2]) : start;
  const proto = (m[3] ?? "tcp").toLowerCase();
  if (end < start || end > 65535) throw instructionError(file, node, `invalid port range: ${word}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

async function existsInRoot(root: string, path: string): Promise<boolean> {
  try {
    await lstat(await resolveInRoot(root, path, { noFollow: true }));
    return true;
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return false;
    throw e;
  }
}

/** `/a/b/c` → `/a/b/c`, `/a/b`, `/a`: the paths a mount point at it may have created. */
function stubPaths(path: string): string[] {
  const out: string[] = [];
  for (let p = posix.normalize(path); p !== "/" && p !== "."; p = posix.dirname(p)) out.push(p);
  return out;
}

/** Removes mount points the runtime left in an upper dir (empty files and directories only), deepest first. */
async function dropStubs(upper: string, paths: readonly string[]): Promise<void> {
  const sorted = [...new Set(paths)].sort((a, b) => b.length - a.length);
  for (const p of sorted) {
    const host = join(upper, p);
    try {
      const st = await lstat(host);
      if (st.isDirectory()) {
        if ((await readdir(host)).length === 0) await rmdir(host);
      } else if (st.isFile() && st.size === 0) await rm(host);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT" && errnoCode(e) !== "ENOTDIR") throw e;
    }
  }
}

function treeSizeOrZero(dir: string): number {
  try {
    return treeSize(dir);
  } catch {
    return 0;
  }
}

/** Bytes a layer's tree puts on disk, as docker counts them (files once per inode, symlink targets); synchronous, as the diff walks. */
function treeSize(dir: string): number {
  let total = 0;
  const seen = new Set<string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = `${d}/${n}`;
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const id = `${st.dev}:${st.ino}`;
        if (!seen.has(id)) {
          seen.add(id);
          total += st.size;
        }
      } else if (st.isSymbolicLink()) total += st.size;
    }
  };
  walk(dir);
  return total;
}

async function resolveOwner(rootfs: string, spec: string, file: string, node: Instruction["node"]): Promise<Owner> {
  const [u = "", g] = spec.split(":", 2) as [string, string | undefined];
  const [passwd, group] = await readFilesInRoot(rootfs, ["/etc/passwd", "/etc/group"]);
  try {
    // A user alone means the group of the same name (or number), as docker's --chown reads it.
    const user = resolveUser(`${u}:${g ?? u}`, passwd, group);
    return { uid: user.uid, gid: user.gid };
  } catch (e) {
    throw instructionError(file, node, `unable to convert uid/gid chown string to host mapping: ${(e as Error).message}`);
  }
}

async function lockFor(locks: KeyedMutex, key: string): Promise<() => void> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let acquired!: () => void;
  const ready = new Promise<void>((r) => (acquired = r));
  void locks.run(key, async () => {
    acquired();
    await held;
  });
  await ready;
  return release;
}

async function download(url: string, signal: AbortSignal): Promise<{ name: string; data: Buffer; mtime?: Date }> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
  const data = Buffer.from(await res.arrayBuffer());
  const lm = res.headers.get("last-modified");
  const name = posix.basename(new URL(url).pathname) || "__unnamed__";
  return { name, data, ...(lm ? { mtime: new Date(lm) } : {}) };
}


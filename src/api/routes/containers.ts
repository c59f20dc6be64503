// Container routes of the Engine API v1.41: create, list, inspect, the
// lifecycle verbs, wait, logs, attach (hijacked, or a plain POST as dockerode
// sends it), resize, top, stats, rename, update, prune, and exec.
import { execFile } from "node:child_process";
import { totalmem } from "node:os";
import type { Duplex } from "node:stream";
import { promisify } from "node:util";
import type { ContainerEngine, ContainerRecord, ExecManager } from "../../container/index.js";
import { asWharfError, isKind, wharfError, type EventBus } from "../../internal/index.js";
import { formatTimeNs, parseTimeNs, readLogs, type LogEntry, type RuntimeStats } from "../../runtime/index.js";
import { readJsonBody } from "../body.js";
import type { Filters, Query } from "../query.js";
import { sendEmpty, sendJson } from "../respond.js";
import type { RequestContext, Router, UpgradeContext } from "../router.js";
import { frame, MULTIPLEXED_STREAM, pumpOutput, RAW_STREAM, wantsUpgrade, writeStreamHead, writeUpgradeHead, type OutputSink } from "../stdio.js";
import { humanDuration } from "../wire.js";
import type { NetworkManager } from "../../network/index.js";
import { networkSettings, summaryPorts } from "./networks.js";
import type { VolumeStore } from "../../volume/index.js";
import type { ArchiveDeps } from "./archive.js";

export interface ContainerDeps {
  readonly containers: ContainerEngine;
  readonly execs: ExecManager;
  readonly events: EventBus;
  readonly networks?: NetworkManager;
  /** Volumes (`/volumes`), when the engine has them. */
  readonly volumes?: VolumeStore;
  /** `docker cp`, export, diff and commit, when the engine has them. */
  readonly archive?: ArchiveDeps;
}

const ZERO = "0001-01-01T00:00:00Z";

/** The STATUS column: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`. */
export function statusText(r: ContainerRecord, now = Date.now()): string {
  const s = r.State;
  if (s.Status === "removing") return "Removal In Progress";
  if (s.Dead) return "Dead";
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  if (s.Running) {
    let text = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    if (s.Paused) text += " (Paused)";
    else if (s.Health) text += s.Health.Status === "starting" ? " (health: starting)" : ` (${s.Health.Status})`;
    return text;
  }
  if (s.StartedAt === ZERO || s.FinishedAt === ZERO) return "Created";
  return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
}

function command(r: ContainerRecord): string {
  return [r.Path, ...r.Args].map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ");
}

function ports(r: ContainerRecord): { PrivatePort: number; Type: string }[] {
  return Object.keys(r.Config.ExposedPorts ?? {}).map((p) => {
    const [port, proto = "tcp"] = p.split("/");
    return { PrivatePort: Number(port), Type: proto };
  });
}

function networkSettingsSummary(r: ContainerRecord) {
  return { Networks: r.HostConfig.NetworkMode === "host" ? { host: endpoint() } : { none: endpoint() } };
}

function endpoint() {
  return { IPAMConfig: null, Links: null, Aliases: null, NetworkID: "", EndpointID: "", Gateway: "", IPAddress: "", IPPrefixLen: 0, IPv6Gateway: "", GlobalIPv6Address: "", GlobalIPv6PrefixLen: 0, MacAddress: "", DriverOpts: null };
}

const LIST_FILTERS = ["id", "name", "label", "status", "exited", "ancestor", "before", "since", "health", "is-task", "volume", "network", "publish", "expose"];

function matchesList(r: ContainerRecord, f: Filters, lookup: (ref: string) => ContainerRecord | undefined): boolean {
  const any = (key: string, test: (v: string) => boolean): boolean => {
    const vs = f.values(key);
    return vs.length === 0 || vs.some(test);
  };
  if (!any("id", (v) => r.Id.startsWith(v))) return false;
  if (!any("name", (v) => new RegExp(v).test(r.Name.slice(1)) || new RegExp(v).test(r.Name))) return false;
  if (!any("status", (v) => v === r.State.Status)) return false;
  if (!any("exited", (v) => !r.State.Running && String(r.State.ExitCode) === v && r.State.Status === "exited")) return false;
  if (!any("ancestor", (v) => r.Config.Image === v || r.Image === v || r.Image.startsWith(`sha256:${v}`) || r.Config.Image === `${v}:latest`)) return false;
  if (!any("health", (v) => (r.State.Health?.Status ?? "none") === v)) return false;
  if (!any("volume", (v) => r.Mounts.some((m) => m.Name === v || m.Source === v || m.Destination === v))) return false;
  for (const l of f.values("label")) {
    const i = l.indexOf("=");
    const key = i < 0 ? l : l.slice(0, i);
    if (!(key in r.Config.Labels)) return false;
    if (i >= 0 && r.Config.Labels[key] !== l.slice(i + 1)) return false;
  }
  const before = f.single("before");
  if (before) {
    const b = lookup(before);
    if (!b) throw wharfError("not-found", `No such container: ${before}`);
    if (!(r.Created < b.Created)) return false;
  }
  const since = f.single("since");
  if (since) {
    const s = lookup(since);
    if (!s) throw wharfError("not-found", `No such container: ${since}`);
    if (!(r.Created > s.Created)) return false;
  }
  return true;
}

function graphDriver(engine: ContainerEngine, r: ContainerRecord) {
  return { Data: { MergedDir: engine.paths.rootfs(r.Id) }, Name: "overlay2" };
}

export function inspectBody(engine: ContainerEngine, execs: ExecManager, r: ContainerRecord, sizes?: { rw: number; rootFs: number }, network?: object) {
  const execIds = execs.idsOf(r.Id);
  return {
    Id: r.Id,
    Created: r.Created,
    Path: r.Path,
    Args: r.Args,
    State: r.State,
    Image: r.Image,
    ResolvConfPath: r.ResolvConfPath,
    HostnamePath: r.HostnamePath,
    HostsPath: r.HostsPath,
    LogPath: r.LogPath,
    Name: r.Name,
    RestartCount: r.RestartCount,
    Driver: "overlay2",
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: execIds.length ? execIds : null,
    HostConfig: r.HostConfig,
    GraphDriver: graphDriver(engine, r),
    ...(sizes ? { SizeRw: sizes.rw, SizeRootFs: sizes.rootFs } : {}),
    Mounts: r.Mounts.map((m) => ({ Type: m.Type, ...(m.Name ? { Name: m.Name } : {}), Source: m.Source, Destination: m.Destination, ...(m.Driver ? { Driver: m.Driver } : {}), Mode: m.Mode, RW: m.RW, Propagation: m.Propagation })),
    Config: r.Config,
    NetworkSettings: {
      Bridge: "",
      SandboxID: "",
      HairpinMode: false,
      LinkLocalIPv6Address: "",
      LinkLocalIPv6PrefixLen: 0,
      Ports: {},
      SandboxKey: "",
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: "",
      Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      IPAddress: "",
      IPPrefixLen: 0,
      IPv6Gateway: "",
      MacAddress: "",
      ...networkSettingsSummary(r),
      ...network,
    },
  };
}

export function summary(r: ContainerRecord, sizes?: { rw: number; rootFs: number }, networks?: NetworkManager) {
  return {
    Id: r.Id,
    Names: [r.Name],
    Image: r.Config.Image,
    ImageID: r.Image,
    Command: command(r),
    Created: Math.floor(Date.parse(r.Created) / 1000),
    Ports: networks ? summaryPorts(r, networks.sandboxOf(r.Id)) : ports(r),
    ...(sizes ? { SizeRw: sizes.rw, SizeRootFs: sizes.rootFs } : {}),
    Labels: r.Config.Labels,
    State: r.State.Status,
    Status: statusText(r),
    HostConfig: { NetworkMode: r.HostConfig.NetworkMode },
    NetworkSettings: networkSettingsSummary(r) as { Networks: Record<string, unknown> },
    Mounts: r.Mounts.map((m) => ({ Type: m.Type, ...(m.Name ? { Name: m.Name } : {}), Source: m.Source, Destination: m.Destination, ...(m.Driver ? { Driver: m.Driver } : {}), Mode: m.Mode, RW: m.RW, Propagation: m.Propagation })),
  };
}

/** `since`/`until` as docker takes them: unix seconds with an optional fraction, or RFC 3339. */
export function parseTimeParam(value: string | undefined, name: string): bigint | undefined {
  if (value === undefined || value === "" || value === "0") return undefined;
  if (/^[0-9]+(\.[0-9]{1,9})?$/.test(value)) {
    const [s, f = ""] = value.split(".");
    return BigInt(s!) * 1_000_000_000n + BigInt(f.padEnd(9, "0"));
  }
  const t = parseTimeNs(value);
  if (t === undefined) throw wharfError("invalid-argument", `invalid value for ${name}: ${JSON.stringify(value)}`);
  return t;
}

function sinkOfSocket(socket: Duplex): OutputSink {
  return socket as unknown as OutputSink;
}

export function containerRoutes(router: Router, deps: ContainerDeps): void {
  const { containers, execs } = deps;

  router.on("POST", "/containers/create", async (ctx) => {
    const body = await readJsonBody(ctx.req);
    const name = ctx.query.string("name");
    const created = await containers.create({ body, ...(name ? { name } : {}) });
    sendJson(ctx.res, 201, created);
  });

  router.on("GET", "/containers/json", async (ctx) => {
    const f = ctx.query.filters();
    f.validate(LIST_FILTERS);
    const all = ctx.query.bool("all");
    const limit = ctx.query.int("limit") ?? -1;
    const size = ctx.query.bool("size");
    const lookup = (ref: string): ContainerRecord | undefined => {
      try {
        return containers.get(ref);
      } catch {
        return undefined;
      }
    };
    let list = containers
      .list()
      .filter((r) => all || limit > 0 || f.has("status") || f.has("exited") || r.State.Running)
      .filter((r) => matchesList(r, f, lookup))
      .sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    if (limit > 0) list = list.slice(0, limit);
    const out = [];
    for (const r of list) {
      const s = summary(r, size ? await containers.sizes(r.Id).catch(() => ({ rw: 0, rootFs: 0 })) : undefined, deps.networks);
      if (deps.networks) s.NetworkSettings = { Networks: (await networkSettings(deps.networks, r)).Networks };
      out.push(s);
    }
    sendJson(ctx.res, 200, out);
  });

  router.on("GET", "/containers/{id}/json", async (ctx) => {
    const r = containers.get(ctx.params["id"]!);
    const sizes = ctx.query.bool("size") ? await containers.sizes(r.Id) : undefined;
    sendJson(ctx.res, 200, inspectBody(containers, execs, r, sizes, deps.networks ? await networkSettings(deps.networks, r) : undefined));
  });

  router.on("POST", "/containers/{id}/start", async (ctx) => {
    sendEmpty(ctx.res, (await containers.start(ctx.params["id"]!)) ? 204 : 304);
  });

  router.on("POST", "/containers/{id}/stop", async (ctx) => {
    const t = ctx.query.int("t");
    const signal = ctx.query.string("signal");
    sendEmpty(ctx.res, (await containers.stop(ctx.params["id"]!, { ...(t !== undefined ? { timeoutSeconds: t } : {}), ...(signal ? { signal } : {}) })) ? 204 : 304);
  });

  router.on("POST", "/containers/{id}/restart", async (ctx) => {
    const t = ctx.query.int("t");
    await containers.restart(ctx.params["id"]!, t !== undefined ? { timeoutSeconds: t } : {});
    sendEmpty(ctx.res, 204);
  });

  router.on("POST", "/containers/{id}/kill", async (ctx) => {
    await containers.kill(ctx.params["id"]!, ctx.query.string("signal") || "SIGKILL");
    sendEmpty(ctx.res, 204);
  });

  router.on("POST", "/containers/{id}/pause", async (ctx) => {
    await containers.pause(ctx.params["id"]!);
    sendEmpty(ctx.res, 204);
  });

  router.on("POST", "/containers/{id}/unpause", async (ctx) => {
    await containers.unpause(ctx.params["id"]!);
    sendEmpty(ctx.res, 204);
  });

  router.on("POST", "/containers/{id}/wait", async (ctx) => {
    const condition = ctx.query.string("condition") || "not-running";
    if (!["not-running", "next-exit", "removed"].includes(condition)) throw wharfError("invalid-argument", `invalid condition: "${condition}"`);
    const id = ctx.params["id"]!;
    containers.get(id); // not-found before the status line goes out
    const waiting = containers.wait(id, condition as "not-running", ctx.signal);
    // The status line goes out at once, as dockerd's: the client knows the wait is in place.
    ctx.res.writeHead(200, { "Content-Type": "application/json" });
    ctx.res.flushHeaders();
    const result = await waiting;
    ctx.res.end(JSON.stringify(result) + "\n");
  });

  router.on("DELETE", "/containers/{id}", async (ctx) => {
    await containers.remove(ctx.params["id"]!, { force: ctx.query.bool("force"), volumes: ctx.query.bool("v") });
    sendEmpty(ctx.res, 204);
  });

  router.on("POST", "/containers/{id}/rename", async (ctx) => {
    await containers.rename(ctx.params["id"]!, ctx.query.string("name") ?? "");
    sendEmpty(ctx.res, 204);
  });

  router.on("POST", "/containers/{id}/update", async (ctx) => {
    const body = await readJsonBody(ctx.req, { allowEmpty: true });
    sendJson(ctx.res, 200, await containers.update(ctx.params["id"]!, body));
  });

  router.on("POST", "/containers/prune", async (ctx) => {
    const f = ctx.query.filters();
    f.validate(["until", "label", "label!"]);
    const until = parseTimeParam(f.single("until"), "until");
    const result = await containers.prune((r) => {
      if (until !== undefined && BigInt(Date.parse(r.Created)) * 1_000_000n > until) return false;
      for (const l of f.values("label")) {
        const [k, v] = l.split("=", 2) as [string, string?];
        if (!(k in r.Config.Labels) || (v !== undefined && r.Config.Labels[k] !== v)) return false;
      }
      for (const l of f.values("label!")) {
        const [k, v] = l.split("=", 2) as [string, string?];
        if (k in r.Config.Labels && (v === undefined || r.Config.Labels[k] === v)) return false;
      }
      return true;
    });
    sendJson(ctx.res, 200, { ContainersDeleted: result.ContainersDeleted.length ? result.ContainersDeleted : null, SpaceReclaimed: result.SpaceReclaimed });
  });

  router.on("GET", "/containers/{id}/logs", async (ctx) => {
    const r = containers.get(ctx.params["id"]!);
    const q = ctx.query;
    const stdout = q.bool("stdout");
    const stderr = q.bool("stderr");
    if (!stdout && !stderr) throw wharfError("invalid-argument", "You must choose at least one stream");
    const tailText = q.string("tail") ?? "all";
    const tail = tailText === "all" || tailText === "" ? undefined : Number.parseInt(tailText, 10);
    if (tail !== undefined && (Number.isNaN(tail) || tail < 0)) throw wharfError("invalid-argument", `invalid value for tail: ${JSON.stringify(tailText)}`);
    const follow = q.bool("follow") && r.State.Running;
    const sinceNs = parseTimeParam(q.string("since"), "since");
    const untilNs = parseTimeParam(q.string("until"), "until");
    const entries = readLogs(r.LogPath, {
      ...(sinceNs !== undefined ? { sinceNs } : {}),
      ...(untilNs !== undefined ? { untilNs } : {}),
      ...(tail !== undefined ? { tail } : {}),
      follow,
      stopped: follow ? containers.nextExit(r.Id) : Promise.resolve(),
      signal: ctx.signal,
    });
    ctx.res.writeHead(200, { "Content-Type": r.Config.Tty ? RAW_STREAM : MULTIPLEXED_STREAM });
    ctx.res.flushHeaders();
    await pumpOutput(entries, ctx.res as unknown as OutputSink, { tty: r.Config.Tty, stdout, stderr, ...(q.bool("timestamps") ? { timestamps: (e: LogEntry) => formatTimeNs(e.timeNs) } : {}) });
    ctx.res.end();
  });

  const attachOutput = (r: ContainerRecord, q: Query, signal: AbortSignal): AsyncIterable<LogEntry> | undefined => {
    const wantOutput = q.bool("stdout") || q.bool("stderr");
    if (!wantOutput) return undefined;
    const stream = q.bool("stream");
    return readLogs(r.LogPath, {
      ...(q.bool("logs") ? {} : { tail: 0 }),
      follow: stream,
      stopped: containers.nextExit(r.Id),
      signal,
    });
  };

  const attachUpgrade = async (ctx: UpgradeContext): Promise<void> => {
    const r = containers.get(ctx.params["id"]!);
    const q = ctx.query;
    const output = attachOutput(r, q, ctx.signal);
    const socket = ctx.socket;
    writeUpgradeHead(socket, r.Config.Tty ? RAW_STREAM : MULTIPLEXED_STREAM);
    if (q.bool("stdin")) void feedStdin(socket, ctx.head, containers.stdin(r.Id));
    if (output) await pumpOutput(output, sinkOfSocket(socket), { tty: r.Config.Tty, stdout: q.bool("stdout"), stderr: q.bool("stderr") });
    else await containers.wait(r.Id, "not-running", ctx.signal).catch(() => {});
    socket.end();
  };

  router.add({
    method: "POST",
    pattern: "/containers/{id}/attach",
    upgrade: attachUpgrade,
    // dockerode's attach: a plain POST whose 200 body is the stream.
    handler: async (ctx) => {
      const r = containers.get(ctx.params["id"]!);
      const output = attachOutput(r, ctx.query, ctx.signal);
      writeStreamHead(ctx.res, r.Config.Tty ? RAW_STREAM : MULTIPLEXED_STREAM);
      if (wantsUpgrade(ctx.req)) throw wharfError("invalid-argument", "upgrade expected");
      if (output) await pumpOutput(output, ctx.res as unknown as OutputSink, { tty: r.Config.Tty, stdout: ctx.query.bool("stdout"), stderr: ctx.query.bool("stderr") });
      ctx.res.end();
    },
  });

  router.on("POST", "/containers/{id}/resize", async (ctx) => {
    const h = ctx.query.int("h") ?? 0;
    const w = ctx.query.int("w") ?? 0;
    await containers.resize(ctx.params["id"]!, h, w);
    sendEmpty(ctx.res, 200);
  });

  router.on("GET", "/containers/{id}/top", async (ctx) => {
    const r = containers.get(ctx.params["id"]!);
    if (!r.State.Running) throw wharfError("conflict", `Container ${r.Id} is not running`);
    const runtime = containers.runtimes[r.HostConfig.Runtime] ?? containers.runtimes["runc"]!;
    const pids = new Set(await runtime.ps(r.Id));
    const psArgs = (ctx.query.string("ps_args") || "-ef").split(/\s+/).filter(Boolean);
    sendJson(ctx.res, 200, await top(psArgs, pids));
  });

  router.on("GET", "/containers/{id}/stats", async (ctx) => {
    const r = containers.get(ctx.params["id"]!);
    const stream = ctx.query.has("stream") ? ctx.query.bool("stream") : true;
    const oneShot = ctx.query.bool("one-shot");
    const runtime = containers.runtimes[r.HostConfig.Runtime] ?? containers.runtimes["runc"]!;
    let previous: StatsSample | undefined;
    const sample = async (): Promise<StatsSample> => {
      const now = new Date();
      const data = r.State.Running ? await runtime.stats(r.Id).catch(() => ({}) as RuntimeStats) : ({} as RuntimeStats);
      const system = await systemCpuNs();
      return { time: now, data, system };
    };
    ctx.res.writeHead(200, { "Content-Type": "application/json" });
    if (!stream || oneShot) {
      const first = await sample();
      sendStatsLine(ctx, r, first, undefined);
      ctx.res.end();
      return;
    }
    while (!ctx.signal.aborted && !ctx.res.destroyed) {
      const s = await sample();
      sendStatsLine(ctx, r, s, previous);
      previous = s;
      await new Promise((res) => setTimeout(res, 1000));
      if (!r.State.Running) {
        const last = await sample();
        sendStatsLine(ctx, r, last, previous);
        break;
      }
    }
    ctx.res.end();
  });

  // ---- exec ----

  router.on("POST", "/containers/{id}/exec", async (ctx) => {
    const body = await readJsonBody(ctx.req);
    sendJson(ctx.res, 201, execs.create(ctx.params["id"]!, body));
  });

  router.on("GET", "/exec/{id}/json", async (ctx) => {
    sendJson(ctx.res, 200, execs.inspect(ctx.params["id"]!));
  });

  router.on("POST", "/exec/{id}/resize", async (ctx) => {
    await execs.resize(ctx.params["id"]!, ctx.query.int("h") ?? 0, ctx.query.int("w") ?? 0);
    sendEmpty(ctx.res, 201);
  });

  const execStart = async (id: string, body: Record<string, unknown>, signal: AbortSignal) => {
    const info = execs.inspect(id);
    const started = await execs.start(id, { tty: body["Tty"] === true || info.ProcessConfig.tty, signal });
    return { info, started };
  };

  router.add({
    method: "POST",
    pattern: "/exec/{id}/start",
    upgrade: async (ctx) => {
      const body = await readUpgradeBody(ctx);
      const id = ctx.params["id"]!;
      const socket = ctx.socket;
      let opened: Awaited<ReturnType<typeof execStart>>;
      try {
        opened = await execStart(id, body, ctx.signal);
      } catch (e) {
        // As dockerd: what is wrong with the request is an HTTP error; a
        // process the runtime could not start is told on the stream, and
        // the exit code (126, 127) is the exec's for the client to inspect.
        if (isKind(e, "not-found") || isKind(e, "conflict")) throw e;
        const tty = body["Tty"] === true || execs.inspect(id).ProcessConfig.tty;
        writeUpgradeHead(socket, tty ? RAW_STREAM : MULTIPLEXED_STREAM);
        const text = Buffer.from(`${asWharfError(e, "exec").message}\r\n`);
        socket.end(tty ? text : frame("stdout", text));
        return;
      }
      const { info, started } = opened;
      writeUpgradeHead(socket, started.tty ? RAW_STREAM : MULTIPLEXED_STREAM);
      if (started.stdin) void feedStdin(socket, Buffer.alloc(0), Promise.resolve(started.stdin));
      await pumpOutput(started.output, sinkOfSocket(socket), { tty: started.tty, stdout: info.OpenStdout, stderr: info.OpenStderr });
      await started.exited;
      socket.end();
    },
    handler: async (ctx) => {
      const body = await readJsonBody(ctx.req, { allowEmpty: true });
      const id = ctx.params["id"]!;
      if (body["Detach"] === true) {
        const { started } = await execStart(id, body, new AbortController().signal);
        started.stdin?.close();
        void (async () => {
          for await (const _ of started.output) void _;
        })().catch(() => {});
        sendEmpty(ctx.res, 200);
        return;
      }
      const { info, started } = await execStart(id, body, ctx.signal);
      started.stdin?.close();
      writeStreamHead(ctx.res, started.tty ? RAW_STREAM : MULTIPLEXED_STREAM);
      await pumpOutput(started.output, ctx.res as unknown as OutputSink, { tty: started.tty, stdout: info.OpenStdout, stderr: info.OpenStderr });
      ctx.res.end();
    },
  });
}

/** The JSON body of an upgraded request: what came with the head, then the rest up to Content-Length. */
async function readUpgradeBody(ctx: UpgradeContext): Promise<Record<string, unknown>> {
  const length = Number(ctx.req.headers["content-length"] ?? "0");
  let buf = ctx.head;
  if (length > 4 << 20) throw wharfError("invalid-argument", "request body too large");
  while (buf.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (c: Buffer) => {
        cleanup();
        resolve(c);
      };
      const onEnd = () => {
        cleanup();
        resolve(null);
      };
      const cleanup = () => {
        ctx.socket.off("data", onData);
        ctx.socket.off("end", onEnd);
        ctx.socket.pause();
      };
      ctx.socket.on("data", onData);
      ctx.socket.once("end", onEnd);
      ctx.socket.resume();
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  const text = buf.subarray(0, length).toString("utf8").trim();
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw wharfError("invalid-argument", "invalid JSON body");
  }
}

/**
 * Copies what the client sends to the process's stdin; the client's
 * half-close (or hang-up) closes stdin while output keeps flowing.
 */
async function feedStdin(socket: Duplex, head: Buffer, writer: Promise<import("../../runtime/index.js").ProcessStdin | undefined>): Promise<void> {
  const queued: Buffer[] = head.length ? [head] : [];
  let ended = false;
  const onData = (c: Buffer) => queued.push(c);
  const onEnd = () => {
    ended = true;
  };
  socket.on("data", onData);
  socket.once("end", onEnd);
  socket.once("close", onEnd);
  const w = await writer.catch(() => undefined);
  socket.off("data", onData);
  if (!w) {
    socket.resume();
    return;
  }
  // A write that fails (the process is gone) ends the feed; the output side reports the rest.
  const failed = () => {
    socket.off("data", onInput);
    socket.resume();
    void w.close();
  };
  const onInput = (c: Buffer) => {
    socket.pause();
    w.write(c).then(() => socket.resume(), failed);
  };
  try {
    for (const c of queued.splice(0)) await w.write(c);
  } catch {
    failed();
    return;
  }
  if (ended) {
    await w.close();
    return;
  }
  socket.on("data", onInput);
  const close = () => void w.close();
  socket.once("end", close);
  socket.once("close", close);
  socket.resume();
}

const execFileP = promisify(execFile);

/** `docker top`: the host's `ps` with the caller's arguments, rows of the container's pids only. */
async function top(psArgs: string[], pids: Set<number>): Promise<{ Titles: string[]; Processes: string[][] }> {
  for (const a of psArgs) if (!/^[-a-zA-Z0-9,=_:%]+$/.test(a)) throw wharfError("invalid-argument", `invalid ps argument ${JSON.stringify(a)}`);
  let stdout: string;
  try {
    ({ stdout } = await execFileP("ps", psArgs, { maxBuffer: 16 << 20 }));
  } catch (e) {
    throw wharfError("invalid-argument", `Error running ps: ${(e as Error).message.split("\n")[0]}`);
  }
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  const titles = lines[0]!.trim().split(/\s+/);
  const pidCol = titles.indexOf("PID");
  if (pidCol < 0) throw wharfError("invalid-argument", `Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const pid = Number(fields[pidCol]);
    if (!pids.has(pid)) continue;
    // The last column (the command) may hold spaces: everything past the titles joins it.
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(" "));
    processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}

interface StatsSample {
  time: Date;
  data: RuntimeStats;
  system: number;
}

async function systemCpuNs(): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const stat = await readFile("/proc/stat", "utf8");
  const cpu = stat.split("\n")[0]!.trim().split(/\s+/).slice(1, 8).map(Number);
  const ticks = cpu.reduce((a, b) => a + b, 0);
  return ticks * 1e7; // USER_HZ is 100 on Linux: 1 tick = 10 ms
}

function statsBody(r: ContainerRecord, s: StatsSample, prev: StatsSample | undefined) {
  const cpuStats = (x: StatsSample | undefined) => ({
    cpu_usage: { total_usage: x?.data.cpu?.usage?.total ?? 0, percpu_usage: x?.data.cpu?.usage?.percpu ?? [], usage_in_kernelmode: x?.data.cpu?.usage?.kernel ?? 0, usage_in_usermode: x?.data.cpu?.usage?.user ?? 0 },
    system_cpu_usage: x?.system ?? 0,
    online_cpus: Math.max(1, x?.data.cpu?.usage?.percpu?.filter((v) => v > 0).length ?? 1),
    throttling_data: { periods: x?.data.cpu?.throttling?.["periods"] ?? 0, throttled_periods: x?.data.cpu?.throttling?.["throttledPeriods"] ?? 0, throttled_time: x?.data.cpu?.throttling?.["throttledTime"] ?? 0 },
  });
  const mem = s.data.memory;
  return {
    read: s.time.toISOString(),
    preread: prev ? prev.time.toISOString() : ZERO,
    pids_stats: { current: s.data.pids?.current ?? 0, ...(s.data.pids?.limit ? { limit: s.data.pids.limit } : {}) },
    blkio_stats: { io_service_bytes_recursive: s.data.blkio?.["ioServiceBytesRecursive"] ?? null, io_serviced_recursive: null, io_queue_recursive: null, io_service_time_recursive: null, io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(s),
    precpu_stats: cpuStats(prev),
    memory_stats: r.State.Running ? { usage: mem?.usage?.usage ?? 0, max_usage: mem?.usage?.max ?? 0, stats: { ...(mem?.raw ?? {}) }, failcnt: mem?.usage?.failcnt ?? 0, limit: mem?.usage?.limit && mem.usage.limit < 2 ** 62 ? mem.usage.limit : totalMemory() } : {},
    name: r.Name,
    id: r.Id,
  };
}

/** The host's memory: what a container without a limit may use. */
function totalMemory(): number {
  return totalmem();
}

function sendStatsLine(ctx: RequestContext, r: ContainerRecord, s: StatsSample, prev: StatsSample | undefined): void {
  ctx.res.write(JSON.stringify(statsBody(r, s, prev)) + "\n");
}


// The container engine: records, names and the lifecycle (create, start,
// stop, kill, restart, pause, wait, remove, rename, update), driving conmon
// and the OCI runtime, and the recovery that lets containers outlive the
// daemon (live-restore): state comes back from records, exit files and the
// runtime, never from memory alone.
//
// Every change to one container runs under that container's lock; records
// are written atomically before an action is reported done.
import { randomBytes } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { ImageService } from "../image/index.js";
import { asWharfError, errnoCode, EventBus, isKind, KeyedMutex, unlinkIfPresent, wharfError, writeFileAtomic, writeJsonAtomic, type Logger } from "../internal/index.js";
import type { RuntimeMount, RuntimeRlimit } from "../oci/index.js";
import type { ContainerNetwork } from "../network/index.js";
import { buildSpec, captureSeccomp, GATE_FILE, SECCOMP_FILE, StartGate, hostBoundingCapabilities, needsCompatAbi, processAlive, readExitFile, runtimeMessage, readPidFile, resolveCapabilities, resolveUser, Runc, rotateLog, sendControl, spawnMonitor, StdinWriter, which, type MonitorStarted, type NetworkNamespace, type SeccompChoice, warmCgroupLock } from "../runtime/index.js";
import { mountAll, mountsUsing, unmount, type Snapshotter } from "../snapshot/index.js";
import { hostnameFile, hostsFile, readFilesInRoot, resolvConf } from "./files.js";
import { mergeImageConfig, parseConfig, parseHostConfig, processArgs, processEnv } from "./merge.js";
import { ContainerPaths } from "./paths.js";
import { freshStatus, ZERO_TIME, type ContainerRecord, type ContainerStatus, type HostConfig, type MountPoint } from "./types.js";
import { discardPlanned, planMounts as planVolumeMounts, type VolumeStore } from "../volume/index.js";

export interface ContainerEngineOptions {
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly images: ImageService;
  readonly snapshotter: Snapshotter;
  readonly events: EventBus;
  readonly logger: Logger;
  /** conmon's binary. */
  readonly conmon?: string;
  /** OCI runtimes by name; `runc` is the default. */
  readonly runtimes?: Readonly<Record<string, string>>;
  readonly defaultRuntime?: string;
  /** The host's resolv.conf, the base of every container's. */
  readonly hostResolvConf?: string;
  /** The init process for `--init` (tini). */
  readonly initBinary?: string;
  /** Namespaces, addresses and ports of containers; without it a container gets a fresh namespace with loopback only. */
  readonly network?: ContainerNetwork;
  /** Named and anonymous volumes; without it only binds and tmpfs mounts are planned. */
  readonly volumes?: VolumeStore;
}

/** Log rotation when the create request sets none: docker's json-file knobs, with a bound by default. */
const DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024;
const DEFAULT_LOG_MAX_FILES = 5;

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPOLL: 29, SIGPWR: 30, SIGSYS: 31,
};

/** `TERM`, `SIGTERM`, `15` and `SIGRTMIN+3` → a signal number; invalid-argument otherwise. */
export function parseSignal(text: string): number {
  const t = text.trim().toUpperCase();
  if (/^[0-9]+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = t.startsWith("SIG") ? t : `SIG${t}`;
    const known = SIGNALS[name];
    if (known) return known;
    const rt = /^SIGRTMIN(?:\+([0-9]+))?$/.exec(name) ?? /^SIGRTMAX(?:-([0-9]+))?$/.exec(name);
    if (rt) {
      const off = Number(rt[1] ?? "0");
      const n = name.startsWith("SIGRTMIN") ? 34 + off : 64 - off;
      if (n >= 34 && n <= 64) return n;
    }
  }
  throw wharfError("invalid-argument", `Invalid signal: ${text}`);
}

export interface WaitResult {
  readonly StatusCode: number;
  readonly Error: { Message: string } | null;
}

export interface CreateRequest {
  readonly name?: string;
  /** The create body: `Config` members at the top, `HostConfig` and `NetworkingConfig` inside. */
  readonly body: Record<string, unknown>;
}

/** How long a start waits for the seccomp programs of its init (see #captureSeccomp). */
const CAPTURE_WAIT_MS = 2000;

interface SpecInputs {
  readonly passwd: string | undefined;
  readonly group: string | undefined;
  readonly bounding: Set<string> | undefined;
  readonly architecture: string | undefined;
}

interface Live {
  record: ContainerRecord;
  /** Resolved on the next handled exit. */
  exitWaiters: Array<() => void>;
  removedWaiters: Array<() => void>;
  /** Stdin writers waiting for the process to start. */
  pendingStdin: Array<(w: StdinWriter | undefined) => void>;
  restartTimer?: NodeJS.Timeout | undefined;
  rotateTimer?: NodeJS.Timeout | undefined;
  removed?: boolean;
  /** Made by this daemon and never started since: no earlier run can have left state, mounts or files. */
  fresh?: boolean;
}

export class ContainerEngine {
  readonly paths: ContainerPaths;
  readonly runtimes: Readonly<Record<string, Runc>>;
  readonly events: EventBus;
  readonly #o: ContainerEngineOptions;
  readonly #byId = new Map<string, Live>();
  readonly #names = new Map<string, string>();
  readonly #locks = new KeyedMutex();
  readonly #cleanups = new Set<Promise<void>>();
  readonly #logger: Logger;
  #watcher: FSWatcher | undefined;
  #closed = false;

  private constructor(o: ContainerEngineOptions) {
    this.#o = o;
    this.paths = new ContainerPaths(o.dataRoot, o.execRoot);
    const bins = { runc: "runc", ...(o.runtimes ?? {}) };
    const runtimes: Record<string, Runc> = {};
    for (const [name, bin] of Object.entries(bins)) runtimes[name] = new Runc(bin, this.paths.runtimeRoot);
    this.runtimes = runtimes;
    this.events = o.events;
    this.#logger = o.logger;
  }

  /** Loads every record, reconciles it with what runs, repairs leftovers, and starts watching exits. */
  static async open(o: ContainerEngineOptions): Promise<ContainerEngine> {
    const engine = new ContainerEngine(o);
    await engine.#restore();
    return engine;
  }

  /** The runtime of containers created without naming one. */
  get defaultRuntime(): string {
    return this.#o.defaultRuntime ?? "runc";
  }

  get conmonBinary(): string {
    return which(this.#o.conmon ?? "conmon");
  }

  #runtime(record: ContainerRecord): Runc {
    const r = this.runtimes[record.HostConfig.Runtime] ?? this.runtimes[this.#o.defaultRuntime ?? "runc"];
    if (!r) throw wharfError("invalid-argument", `unknown runtime ${JSON.stringify(record.HostConfig.Runtime)}`);
    return r;
  }

  // ---- lookup -------------------------------------------------------------

  /** By full id, name (with or without `/`), or unique id prefix; not-found `No such container: X`. */
  #find(nameOrId: string): Live {
    const exact = this.#byId.get(nameOrId);
    if (exact && !exact.removed) return exact;
    const byName = this.#names.get(nameOrId.startsWith("/") ? nameOrId.slice(1) : nameOrId);
    if (byName) {
      const l = this.#byId.get(byName);
      if (l && !l.removed) return l;
    }
    if (/^[0-9a-f]{1,64}$/.test(nameOrId)) {
      const hits = [...this.#byId.values()].filter((l) => !l.removed && l.record.Id.startsWith(nameOrId));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw wharfError("invalid-argument", `multiple containers found with provided prefix: ${nameOrId}`);
    }
    throw wharfError("not-found", `No such container: ${nameOrId}`);
  }

  get(nameOrId: string): ContainerRecord {
    return this.#find(nameOrId).record;
  }

  list(): ContainerRecord[] {
    return [...this.#byId.values()].filter((l) => !l.removed).map((l) => l.record);
  }

  /** Containers made from an image: image removal refuses while there are any. */
  usingImage(imageId: string): string[] {
    return this.list().filter((r) => r.Image === imageId).map((r) => r.Id);
  }

  // ---- persistence --------------------------------------------------------

  /** Writes the record over the one that create wrote: a power loss leaves one of the two. */
  async #save(record: ContainerRecord): Promise<void> {
    await writeJsonAtomic(this.paths.record(record.Id), record, { replaces: true, durable: durableRecord(record) });
  }

  #event(action: string, record: ContainerRecord, extra: Record<string, string> = {}): void {
    this.events.publish("container", action, record.Id, { ...record.Config.Labels, image: record.Config.Image, name: record.Name.slice(1), ...extra });
  }

  // ---- create -------------------------------------------------------------

  #reserveName(name: string, id: string): void {
    const bare = name.startsWith("/") ? name.slice(1) : name;
    const holder = this.#names.get(bare);
    if (holder !== undefined) {
      throw wharfError("conflict", `Conflict. The container name "/${bare}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    this.#names.set(bare, id);
  }

  #generatedName(): string {
    for (;;) {
      const name = `${ADJECTIVES[randomBytes(1)[0]! % ADJECTIVES.length]}_${SURNAMES[randomBytes(1)[0]! % SURNAMES.length]}`;
      if (!this.#names.has(name)) return name;
      const numbered = `${name}${randomBytes(1)[0]! % 10}`;
      if (!this.#names.has(numbered)) return numbered;
    }
  }

  async create(request: CreateRequest): Promise<{ Id: string; Warnings: string[] }> {
    if (this.#closed) throw wharfError("unavailable", "the engine is shutting down");
    const name = request.name ?? "";
    if (name && !NAME_RE.test(name)) throw wharfError("invalid-argument", `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const user = parseConfig(request.body);
    const host = parseHostConfig(request.body["HostConfig"]);
    if (host.Runtime === "") host.Runtime = this.defaultRuntime;
    if (!this.runtimes[host.Runtime]) throw wharfError("invalid-argument", `unknown or invalid runtime name: ${host.Runtime}`);
    // A start usually follows: its runtime's cgroup moves find the lock ready (see runtime/cgroup-lock).
    warmCgroupLock();
    const id = randomBytes(32).toString("hex");
    const finalName = name ? (name.startsWith("/") ? name.slice(1) : name) : this.#generatedName();
    // Reserved before the first await: of many creates with one name, exactly one gets it.
    this.#reserveName(finalName, id);
    let snapshotMade = false;
    let mounts: MountPoint[] = [];
    try {
      const image = await this.#o.images.get(user.Image);
      const config = mergeImageConfig(user, image.config.config);
      processArgs(config);
      validateSecurityOpts(host.SecurityOpt ?? []);
      resolveCapabilities({ add: host.CapAdd ?? [], drop: host.CapDrop ?? [], privileged: host.Privileged });
      mounts = this.#o.volumes ? await planVolumeMounts(this.#o.volumes, host, config.Volumes) : planMounts(host, config);
      if (!config.Hostname) config.Hostname = id.slice(0, 12);
      const { path, args } = processArgs(config);
      const record: ContainerRecord = {
        Id: id,
        Created: new Date().toISOString(),
        Path: path,
        Args: args,
        Name: `/${finalName}`,
        Image: image.id,
        Config: config,
        HostConfig: host,
        State: freshStatus(),
        RestartCount: 0,
        Mounts: mounts,
        LogPath: this.paths.log(id),
        HostnamePath: this.paths.hostname(id),
        HostsPath: this.paths.hosts(id),
        ResolvConfPath: this.paths.resolvConf(id),
        ManuallyStopped: false,
      };
      // The record is written last: a container dir without one is a create
      // that did not finish, which the next start of the daemon removes.
      await mkdir(this.paths.dir(id), { recursive: true, mode: 0o710 });
      const top = image.layers.at(-1)?.chainId;
      const steps = await Promise.allSettled([
        this.#o.snapshotter.prepare(id, top, { labels: { "wharf.container": id } }).then(() => {
          snapshotMade = true;
        }),
        readFile(this.#o.hostResolvConf ?? "/etc/resolv.conf", "utf8")
          .catch(() => "")
          .then((hostResolv) => writeFile(record.ResolvConfPath, resolvConf(hostResolv, { dns: host.Dns, search: host.DnsSearch, options: host.DnsOptions }))),
        writeFile(record.HostnamePath, hostnameFile(config.Hostname)),
        // The network rewrites the hosts file for --add-host host-gateway: it comes after.
        writeFile(record.HostsPath, hostsFile(config.Hostname, config.Domainname, host.ExtraHosts ?? [])).then(() => this.#o.network?.prepare(record, request.body)),
      ]);
      for (const step of steps) if (step.status === "rejected") throw step.reason;
      await writeJsonAtomic(this.paths.record(id), record, { durable: durableRecord(record) });
      this.#byId.set(id, { record, exitWaiters: [], removedWaiters: [], pendingStdin: [], fresh: true });
      this.#event("create", record);
      return { Id: id, Warnings: [] };
    } catch (e) {
      this.#names.delete(finalName);
      if (this.#o.volumes) await discardPlanned(this.#o.volumes, mounts);
      if (snapshotMade) await this.#o.snapshotter.remove(id).catch(() => {});
      await rm(this.paths.dir(id), { recursive: true, force: true }).catch(() => {});
      throw e;
    }
  }

  // ---- start --------------------------------------------------------------

  /** Starts a container; false when it was running already (HTTP 304). */
  async start(nameOrId: string): Promise<boolean> {
    const live = this.#find(nameOrId);
    try {
      return await this.#start(live, nameOrId);
    } catch (e) {
      // As dockerd: a container that was to be removed when it ends is removed when it cannot start.
      if (live.record.HostConfig.AutoRemove && !live.record.State.Running) await this.remove(live.record.Id, { force: true }).catch(() => {});
      throw e;
    }
  }

  async #start(live: Live, nameOrId: string): Promise<boolean> {
    return this.#locks.run(live.record.Id, async () => {
      if (live.removed) throw wharfError("not-found", `No such container: ${nameOrId}`);
      const s = live.record.State;
      if (s.Paused) throw wharfError("conflict", "cannot start a paused container, try unpause instead");
      if (s.Running) return false;
      if (s.Status === "removing" || s.Status === "dead") throw wharfError("conflict", `container is marked for removal and cannot be started`);
      live.record.ManuallyStopped = false;
      await this.#startLocked(live);
      return true;
    });
  }

  async #startLocked(live: Live): Promise<void> {
    const r = live.record;
    const id = r.Id;
    const runtime = this.#runtime(r);
    const rootfs = this.paths.rootfs(id);
    const bundle = this.paths.bundle(id);
    const t0 = performance.now();
    warmCgroupLock();
    const phases: Record<string, number> = {};
    const mark = (name: string) => (phases[name] = Math.round((performance.now() - t0) * 10) / 10);
    let monitorUp = false;
    let networkFailure: unknown;
    let gate: StartGate | undefined;
    let monitoring: Promise<MonitorStarted> | undefined;
    // The network needs nothing of the rootfs: it is attached while the rootfs is mounted.
    const attaching = this.#o.network ? this.#o.network.attach(r) : Promise.resolve(undefined);
    attaching.catch(() => {});
    try {
      // Independent looks and makes, side by side: each is a trip to the thread pool.
      // A container this daemon made and has never tried to start has nothing of an earlier run to look for.
      const fresh = live.fresh === true;
      live.fresh = false;
      const [stale, mounted] = await Promise.all([
        // State left by an earlier run of this container; a fresh one has none, and runc costs ~10 ms to say so.
        fresh ? false : runtime.hasState(id),
        fresh ? [] : mountsUsing(rootfs),
        mkdir(rootfs, { recursive: true }),
        mkdir(bundle, { recursive: true, mode: 0o700 }),
        mkdir(this.paths.exitDir, { recursive: true, mode: 0o700 }),
        // What an earlier run left for the monitor and the runtime to write again.
        ...(fresh ? [] : [this.paths.exitFile(id), `${this.paths.persist(id)}/exit`, `${this.paths.persist(id)}/oom`, `${bundle}/conmon.pid`, `${bundle}/pidfile`, `${bundle}/${SECCOMP_FILE}`, `${bundle}/${GATE_FILE}`].map((f) => unlinkIfPresent(f))),
      ]);
      mark("looked");
      if (stale) await runtime.delete(id, true);
      // The monitor starts now (~5 ms before it runs the runtime) and its
      // runtime waits at the gate until the rootfs and the spec are ready.
      gate = StartGate.create(`${bundle}/${GATE_FILE}`);
      monitoring = this.#spawnMonitor(r, runtime, gate);
      monitoring.catch(() => {});
      if (mounted.length === 0) await this.#mountRootfs(r, rootfs);
      mark("mounted");
      // Volumes and the network are independent: prepared side by side, and
      // both settled before a failure of either undoes the start.
      // What the spec reads from the image and the host is read meanwhile.
      const inputs = this.#specInputs(r, rootfs);
      inputs.catch(() => {});
      const [volumes, network] = await Promise.allSettled([this.#o.volumes?.prepareStart(r.Mounts, rootfs, id), attaching]);
      if (network.status === "rejected") {
        networkFailure = network.reason;
        throw network.reason;
      }
      if (volumes.status === "rejected") throw volumes.reason;
      const attachment = network.value;
      mark("prepared");
      const spec = this.#spec(r, rootfs, await inputs, attachment?.netns);
      // The bundle is made again at every start and read at once by the
      // runtime: it needs no fsync to survive a crash. One job, and readers
      // (an exec) never see half of it.
      await writeJsonAtomic(`${bundle}/config.json`, spec, { durable: false });
      mark("specified");
      // The runtime creates the container while the network is wired; the process runs once both are done.
      gate.open();
      const monitor = await monitoring;
      monitorUp = true;
      mark("created");
      // While the init waits to be started, its seccomp programs are read for direct execs (see runtime/direct-exec).
      const captured = runtime.isRunc && spec.linux.seccomp && !spec.process.noNewPrivileges ? this.#captureSeccomp(id, monitor.pid, bundle) : undefined;
      if (attachment) {
        try {
          await attachment.ready;
        } catch (e) {
          networkFailure = e;
          throw e;
        }
        mark("wired");
      }
      await captured;
      // Attachers waiting for stdin connect before the process runs, so no input is lost.
      const waiting = live.pendingStdin.splice(0);
      for (const w of waiting) {
        try {
          w(r.Config.OpenStdin ? StdinWriter.connect(`${bundle}/attach`) : undefined);
        } catch {
          w(undefined);
        }
      }
      const pid = monitor.pid;
      const before = r.State;
      r.State = { ...freshStatus(), Status: "running", Running: true, Pid: pid, StartedAt: new Date().toISOString(), ...(r.State.Health ? { Health: { Status: "starting", FailingStreak: 0, Log: [] } } : {}) };
      if (r.Config.Healthcheck?.Test && r.Config.Healthcheck.Test[0] !== "NONE" && r.Config.Healthcheck.Test.length > 0) r.State.Health = { Status: "starting", FailingStreak: 0, Log: [] };
      // The record says running while the process is let go, side by side; a
      // daemon that stops between the two finds the process still held at its
      // start and lets it go then (see #reconcile).
      const [released, saved] = await Promise.allSettled([runtime.start(id, pid), this.#save(r)]);
      if (released.status === "rejected") {
        r.State = before;
        throw released.reason;
      }
      if (saved.status === "rejected") throw saved.reason;
      mark("started");
      this.#logger.debug("container started", { container: id, ...phases });
      this.#event("start", r);
      this.#armRotation(live);
      // A process that ended before the watch saw it is caught here.
      void this.#checkExit(id);
    } catch (e) {
      // A create still held at its gate is called off; its monitor then ends on its own.
      gate?.cancel();
      await monitoring?.catch(() => {});
      const message = asWharfError(e, `start container ${id}`).message;
      const code = startFailureCode(message);
      if (monitorUp) await runtime.kill(id, "KILL").catch(() => {});
      await runtime.delete(id, true).catch(() => {});
      // A start that failed before its attach settled detaches what the attach made.
      await attaching.catch(() => {});
      await this.#o.network?.detach(id).catch(() => {});
      await unmount(rootfs).catch(() => {});
      await this.#o.volumes?.releaseStop(r.Mounts, id).catch(() => {});
      for (const w of live.pendingStdin.splice(0)) w(undefined);
      r.State = { ...r.State, Status: r.State.StartedAt === ZERO_TIME ? "created" : "exited", Running: false, Pid: 0, ExitCode: code, Error: message };
      await this.#save(r);
      this.#resolveExit(live);
      // The network's refusals (a port in use) are the caller's to read as they are.
      if (networkFailure) throw networkFailure;
      throw startError(message, code);
    } finally {
      // The create has settled (or was never let go): nothing reads the gate any more.
      gate?.close();
    }
  }

  /** Starts the container's monitor; its create waits at `gate`. */
  #spawnMonitor(r: ContainerRecord, runtime: Runc, gate: StartGate): Promise<MonitorStarted> {
    const id = r.Id;
    const bundle = this.paths.bundle(id);
    const log = logLimits(r.HostConfig);
    return spawnMonitor({
      conmon: this.conmonBinary,
      runtime,
      containerId: id,
      sessionId: id,
      bundle,
      pidFile: `${bundle}/pidfile`,
      conmonPidFile: `${bundle}/conmon.pid`,
      exitDir: this.paths.exitDir,
      persistDir: this.paths.persist(id),
      logPath: r.LogPath,
      // conmon's own cut (it starts the file over) is the bound while nobody rotates: the whole budget.
      logSizeMax: log.maxSize * log.maxFiles,
      terminal: r.Config.Tty,
      stdin: r.Config.OpenStdin,
      leaveStdinOpen: r.Config.OpenStdin && !r.Config.StdinOnce,
      gate,
    });
  }

  /** The architecture the container's image was built for; undefined once the image is gone. */
  async #imageArchitecture(imageId: string): Promise<string | undefined> {
    try {
      return (await this.#o.images.get(imageId)).config.architecture;
    } catch {
      return undefined;
    }
  }

  /**
   * Mounts the container's snapshot on its rootfs. A container removed when
   * it ends gets a volatile overlay (never synced: its unmount, which
   * otherwise syncs the whole upper filesystem, costs nothing); a kernel
   * without the option gets the plain mount.
   */
  async #mountRootfs(r: ContainerRecord, rootfs: string): Promise<void> {
    if (r.HostConfig.AutoRemove) {
      try {
        await mountAll(await this.#o.snapshotter.mounts(r.Id, { volatile: true }), rootfs);
        return;
      } catch (e) {
        this.#logger.debug("volatile mount refused", { container: r.Id, error: asWharfError(e, "mount").message });
      }
    }
    await mountAll(await this.#o.snapshotter.mounts(r.Id), rootfs);
  }

  /** Keeps the seccomp programs of a created container's init beside its bundle; nothing when they cannot be read. */
  async #captureSeccomp(id: string, pid: number, bundle: string): Promise<void> {
    try {
      // The init stops at once (it waits in an interruptible open); should it not, the start does
      // not wait: the capture ends on its own thread when the stop comes, and execs go through runc.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), CAPTURE_WAIT_MS)));
      const filters = await Promise.race([captureSeccomp(pid), late]);
      clearTimeout(timer);
      if (filters) await writeFile(`${bundle}/${SECCOMP_FILE}`, filters, { mode: 0o600 });
    } catch (e) {
      this.#logger.debug("seccomp capture failed", { container: id, error: asWharfError(e, "capture").message });
    }
  }

  /** What a container's spec needs from its image's files and the host. */
  async #specInputs(r: ContainerRecord, rootfs: string): Promise<SpecInputs> {
    const [[passwd, group], bounding, architecture] = await Promise.all([
      readFilesInRoot(rootfs, ["/etc/passwd", "/etc/group"]),
      hostBoundingCapabilities(),
      this.#imageArchitecture(r.Image),
    ]);
    return { passwd, group, bounding, architecture };
  }

  #spec(r: ContainerRecord, rootfs: string, inputs: SpecInputs, netns?: NetworkNamespace) {
    const h = r.HostConfig;
    const user = resolveUser(r.Config.User, inputs.passwd, inputs.group, h.GroupAdd ?? []);
    let args = [r.Path, ...r.Args];
    const mounts: RuntimeMount[] = [];
    const ro = h.ReadonlyRootfs;
    mounts.push({ destination: "/etc/resolv.conf", type: "bind", source: r.ResolvConfPath, options: ["rbind", "rprivate", ...(ro ? ["ro"] : [])] });
    mounts.push({ destination: "/etc/hostname", type: "bind", source: r.HostnamePath, options: ["rbind", "rprivate", ...(ro ? ["ro"] : [])] });
    mounts.push({ destination: "/etc/hosts", type: "bind", source: r.HostsPath, options: ["rbind", "rprivate", ...(ro ? ["ro"] : [])] });
    if (h.Init) {
      const init = this.#o.initBinary ?? "/usr/bin/tini-static";
      mounts.push({ destination: "/sbin/docker-init", type: "bind", source: init, options: ["bind", "ro"] });
      args = ["/sbin/docker-init", "--", ...args];
    }
    for (const m of r.Mounts) {
      if (m.Type === "tmpfs") {
        const opts = tmpfsOptions(h, m.Destination);
        mounts.push({ destination: m.Destination, type: "tmpfs", source: "tmpfs", options: opts });
      } else {
        mounts.push({ destination: m.Destination, type: "bind", source: m.Source, options: ["rbind", m.RW ? "rw" : "ro", m.Propagation ? `r${m.Propagation.replace(/^r/, "")}` : "rprivate"] });
      }
    }
    const caps = resolveCapabilities({ add: h.CapAdd ?? [], drop: h.CapDrop ?? [], privileged: h.Privileged, bounding: inputs.bounding });
    const sec = securityChoices(h.SecurityOpt ?? []);
    const seccomp: SeccompChoice = sec.seccomp ?? { kind: "default", compat: needsCompatAbi(inputs.architecture) };
    const rlimits: RuntimeRlimit[] = (h.Ulimits ?? []).map((u) => ({ type: `RLIMIT_${u.Name.toUpperCase()}`, soft: u.Soft, hard: u.Hard }));
    return buildSpec({
      rootfs,
      readonlyRootfs: h.ReadonlyRootfs,
      hostname: r.Config.Hostname,
      domainname: r.Config.Domainname,
      args,
      env: processEnv(r.Config, r.Config.Hostname, user.home),
      cwd: r.Config.WorkingDir || "/",
      user,
      terminal: r.Config.Tty,
      ...(h.ConsoleSize ? { consoleSize: { height: h.ConsoleSize[0], width: h.ConsoleSize[1] } } : {}),
      capabilities: caps,
      noNewPrivileges: sec.noNewPrivileges,
      privileged: h.Privileged,
      seccomp,
      mounts,
      shmSize: h.ShmSize,
      rlimits,
      resources: {
        memory: h.Memory,
        memorySwap: h.MemorySwap,
        memoryReservation: h.MemoryReservation,
        nanoCpus: h.NanoCpus,
        cpuShares: h.CpuShares,
        cpuQuota: h.CpuQuota,
        cpuPeriod: h.CpuPeriod,
        cpusetCpus: h.CpusetCpus,
        cpusetMems: h.CpusetMems,
        pidsLimit: h.PidsLimit ?? 0,
        oomKillDisable: h.OomKillDisable === true,
      },
      cgroupsPath: `/wharf/${r.Id}`,
      network: netns ?? (h.NetworkMode === "host" ? { kind: "host" } : { kind: "new" }),
      ...(h.OomScoreAdj ? { oomScoreAdj: h.OomScoreAdj } : {}),
      ...(h.Sysctls ? { sysctls: h.Sysctls } : {}),
    });
  }

  // ---- exits --------------------------------------------------------------

  #watchExits(): void {
    try {
      this.#watcher = watch(this.paths.exitDir, (_event, file) => {
        if (typeof file === "string" && this.#byId.has(file)) void this.#checkExit(file);
      });
      this.#watcher.on("error", (e) => this.#logger.warn("exit watch failed", { error: e.message }));
    } catch (e) {
      this.#logger.warn("exit watch failed", { error: asWharfError(e, "watch exits").message });
    }
  }

  /** Handles the exit of a container whose exit file is there; nothing otherwise. */
  async #checkExit(id: string): Promise<void> {
    const live = this.#byId.get(id);
    if (!live || live.removed) return;
    const code = await readExitFile(this.paths.exitFile(id)).catch(() => undefined);
    if (code === undefined) return;
    await this.#locks.run(id, async () => {
      if (!live.record.State.Running || live.removed) return;
      // Still the exit of this run? A restart removes the file before starting.
      const again = await readExitFile(this.paths.exitFile(id)).catch(() => undefined);
      if (again === undefined) return;
      await this.#exited(live, again);
    });
    await this.#afterExit(live);
  }

  async #exited(live: Live, code: number): Promise<void> {
    const r = live.record;
    const t0 = performance.now();
    // The process is gone: its runtime state, root mount and network go side by side.
    const [oom] = await Promise.all([
      stat(`${this.paths.persist(r.Id)}/oom`).then(() => true, () => false),
      // An auto-removed container's runtime state goes with the rest of it, after the removal.
      r.HostConfig.AutoRemove ? undefined : this.#runtime(r).delete(r.Id, true).catch((e: unknown) => this.#logger.warn("runtime delete failed", { container: r.Id, error: asWharfError(e, "delete").message })),
      unmount(this.paths.rootfs(r.Id)).catch((e: unknown) => this.#logger.warn("unmount failed", { container: r.Id, error: asWharfError(e, "unmount").message })),
      this.#o.network?.detach(r.Id).catch((e: unknown) => this.#logger.warn("network detach failed", { container: r.Id, error: asWharfError(e, "detach").message })),
    ]);
    if (live.rotateTimer) clearInterval(live.rotateTimer);
    const health = r.State.Health ? { Health: { ...r.State.Health, Status: "unhealthy" as const } } : {};
    r.State = { ...r.State, Status: "exited", Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: code, OOMKilled: oom, FinishedAt: new Date().toISOString(), ...health };
    // A container that is removed next needs no exited record: should the
    // daemon stop first, the exit file left in place says what happened.
    if (!r.HostConfig.AutoRemove) {
      await rm(this.paths.exitFile(r.Id), { force: true });
      await this.#save(r);
    }
    this.#logger.debug("container exited", { container: r.Id, exitCode: code, ms: Math.round(performance.now() - t0) });
    // As dockerd: the volumes are let go before the container is said to have died.
    await this.#o.volumes?.releaseStop(r.Mounts, r.Id).catch((e: unknown) => this.#logger.warn("release volumes failed", { container: r.Id, error: asWharfError(e, "release volumes").message }));
    if (oom) this.#event("oom", r);
    this.#event("die", r, { exitCode: String(code) });
  }

  #resolveExit(live: Live): void {
    for (const w of live.exitWaiters.splice(0)) w();
  }

  /** After an exit is recorded: wake waiters, then auto-remove or restart by policy. */
  async #afterExit(live: Live): Promise<void> {
    const r = live.record;
    if (r.State.Running || live.removed) return;
    this.#resolveExit(live);
    if (r.HostConfig.AutoRemove) {
      await this.remove(r.Id, { force: true, volumes: true }).catch((e: unknown) => this.#logger.warn("auto-remove failed", { container: r.Id, error: asWharfError(e, "remove").message }));
      return;
    }
    if (this.#shouldRestart(r)) this.#scheduleRestart(live);
  }

  #shouldRestart(r: ContainerRecord): boolean {
    if (this.#closed || r.ManuallyStopped) return false;
    const p = r.HostConfig.RestartPolicy;
    if (p.Name === "always" || p.Name === "unless-stopped") return true;
    if (p.Name === "on-failure") return r.State.ExitCode !== 0 && (p.MaximumRetryCount === 0 || r.RestartCount < p.MaximumRetryCount);
    return false;
  }

  #scheduleRestart(live: Live): void {
    const r = live.record;
    // docker's back-off: 100 ms doubling, at most a minute; a run of 10 s resets it.
    const ranMs = Date.parse(r.State.FinishedAt) - Date.parse(r.State.StartedAt);
    const attempt = ranMs > 10_000 ? 0 : Math.min(r.RestartCount, 10);
    const delay = Math.min(60_000, 100 * 2 ** attempt);
    r.State = { ...r.State, Status: "restarting", Restarting: true };
    live.restartTimer = setTimeout(() => {
      live.restartTimer = undefined;
      void this.#locks
        .run(r.Id, async () => {
          if (live.removed || r.State.Running || !r.State.Restarting) return;
          r.RestartCount++;
          r.State.Restarting = false;
          await this.#startLocked(live);
          this.#event("restart", r);
        })
        .catch((e: unknown) => {
          r.State = { ...r.State, Status: "exited", Restarting: false };
          void this.#save(r);
          this.#logger.warn("restart failed", { container: r.Id, error: asWharfError(e, "restart").message });
        });
    }, delay);
    live.restartTimer.unref();
  }

  #armRotation(live: Live): void {
    const r = live.record;
    const { maxSize, maxFiles } = logLimits(r.HostConfig);
    if (live.rotateTimer) clearInterval(live.rotateTimer);
    live.rotateTimer = setInterval(() => {
      void rotateLog(r.LogPath, maxSize, maxFiles)
        .then((rotated) => (rotated ? sendControl(`${this.paths.bundle(r.Id)}/ctl`, "reopen-log") : undefined))
        .catch(() => {});
    }, 1000);
    live.rotateTimer.unref();
  }

  /** Resolves once the container's next exit is recorded. */
  nextExit(nameOrId: string): Promise<void> {
    const live = this.#find(nameOrId);
    return new Promise((resolve) => live.exitWaiters.push(resolve));
  }

  // ---- stop, kill, restart, pause ---------------------------------------

  async #signal(live: Live, signal: number): Promise<void> {
    await this.#runtime(live.record).kill(live.record.Id, signal);
  }

  /** Waits up to `ms` for the exit to be recorded; true when it was. */
  async #awaitExit(live: Live, ms: number): Promise<boolean> {
    if (!live.record.State.Running) return true;
    const exited = new Promise<boolean>((resolve) => live.exitWaiters.push(() => resolve(true)));
    const timer = sleep(ms, false);
    // The exit watch is the fast path; the poll covers a lost inotify event.
    const poll = (async () => {
      for (let waited = 0; waited < ms; waited += 200) {
        await sleep(200);
        if (!live.record.State.Running) return true;
        void this.#checkExit(live.record.Id);
      }
      return false;
    })();
    return Promise.race([exited, timer, poll]);
  }

  /** Stops a container; false when it was not running (HTTP 304). */
  async stop(nameOrId: string, options: { timeoutSeconds?: number; signal?: string } = {}): Promise<boolean> {
    const live = this.#find(nameOrId);
    const r = live.record;
    if (live.restartTimer) {
      clearTimeout(live.restartTimer);
      live.restartTimer = undefined;
      r.State = { ...r.State, Status: "exited", Restarting: false };
    }
    r.ManuallyStopped = true;
    if (!r.State.Running) {
      await this.#save(r);
      return false;
    }
    await this.#save(r);
    const signal = parseSignal(options.signal ?? r.Config.StopSignal ?? "SIGTERM");
    const timeout = options.timeoutSeconds ?? r.Config.StopTimeout ?? 10;
    if (r.State.Paused) await this.#runtime(r).resume(r.Id).catch(() => {});
    if (timeout !== 0) await this.#signal(live, signal).catch(() => {});
    if (timeout < 0) {
      await this.#awaitExit(live, 2 ** 31 - 1);
    } else if (!(await this.#awaitExit(live, timeout * 1000))) {
      await this.#signal(live, 9).catch(() => {});
      if (!(await this.#awaitExit(live, 30_000))) throw wharfError("unavailable", `stop container ${r.Id}: the process did not exit after SIGKILL`);
    }
    this.#event("stop", r);
    return true;
  }

  async kill(nameOrId: string, signalText = "SIGKILL"): Promise<void> {
    const live = this.#find(nameOrId);
    const signal = parseSignal(signalText);
    const r = live.record;
    if (!r.State.Running) throw wharfError("conflict", `Cannot kill container: ${nameOrId}: Container ${r.Id} is not running`);
    if (signal === 9) r.ManuallyStopped = false;
    if (r.State.Paused && signal === 9) await this.#runtime(r).resume(r.Id).catch(() => {});
    await this.#signal(live, signal);
    this.#event("kill", r, { signal: String(signal) });
    if (signal === 9) await this.#awaitExit(live, 10_000);
  }

  async restart(nameOrId: string, options: { timeoutSeconds?: number; signal?: string } = {}): Promise<void> {
    const live = this.#find(nameOrId);
    await this.stop(live.record.Id, options);
    await this.#locks.run(live.record.Id, async () => {
      live.record.ManuallyStopped = false;
      if (!live.record.State.Running) await this.#startLocked(live);
    });
    this.#event("restart", live.record);
  }

  async pause(nameOrId: string): Promise<void> {
    const live = this.#find(nameOrId);
    const r = live.record;
    await this.#locks.run(r.Id, async () => {
      if (!r.State.Running) throw wharfError("conflict", `Container ${r.Id} is not running`);
      if (r.State.Paused) throw wharfError("conflict", `Container ${r.Id} is already paused`);
      await this.#runtime(r).pause(r.Id);
      r.State = { ...r.State, Status: "paused", Paused: true };
      await this.#save(r);
      this.#event("pause", r);
    });
  }

  async unpause(nameOrId: string): Promise<void> {
    const live = this.#find(nameOrId);
    const r = live.record;
    await this.#locks.run(r.Id, async () => {
      if (!r.State.Paused) throw wharfError("conflict", `Container ${r.Id} is not paused`);
      await this.#runtime(r).resume(r.Id);
      r.State = { ...r.State, Status: "running", Paused: false };
      await this.#save(r);
      this.#event("unpause", r);
    });
  }

  // ---- wait, remove, rename, update ---------------------------------------

  async wait(nameOrId: string, condition: "not-running" | "next-exit" | "removed" = "not-running", signal?: AbortSignal): Promise<WaitResult> {
    const live = this.#find(nameOrId);
    const r = live.record;
    // dockerd reports a start failure on start itself; wait answers only the code.
    const result = (): WaitResult => ({ StatusCode: r.State.ExitCode, Error: null });
    if (condition === "not-running" && !r.State.Running && !r.State.Restarting) return result();
    const done = new Promise<void>((resolve) => (condition === "removed" ? live.removedWaiters : live.exitWaiters).push(resolve));
    const aborted = new Promise<never>((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason), { once: true }));
    await Promise.race([done, aborted]);
    return result();
  }

  async remove(nameOrId: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const live = this.#find(nameOrId);
    const r = live.record;
    if ((r.State.Running || r.State.Restarting) && !options.force) {
      const what = r.State.Paused ? "paused" : r.State.Restarting ? "restarting" : "running";
      throw wharfError("conflict", `You cannot remove a ${what} container ${r.Id}. Stop the container before attempting removal or force remove`);
    }
    if (live.restartTimer) {
      clearTimeout(live.restartTimer);
      live.restartTimer = undefined;
    }
    r.ManuallyStopped = true;
    if (r.State.Running) {
      if (r.State.Paused) await this.#runtime(r).resume(r.Id).catch(() => {});
      await this.#signal(live, 9).catch(() => {});
      if (!(await this.#awaitExit(live, 15_000))) throw wharfError("unavailable", `remove container ${r.Id}: the process did not exit after SIGKILL`);
    }
    let removedHere = false;
    const t0 = performance.now();
    await this.#locks.run(r.Id, async () => {
      if (live.removed) return;
      removedHere = true;
      r.State = { ...r.State, Status: "removing", Restarting: false };
      await this.#destroy(r);
      live.removed = true;
      this.#byId.delete(r.Id);
      if (this.#names.get(r.Name.slice(1)) === r.Id) this.#names.delete(r.Name.slice(1));
      if (live.rotateTimer) clearInterval(live.rotateTimer);
    });
    // A racing remover (auto-remove and a client's DELETE) waits for the first and reports nothing.
    if (!removedHere) return;
    this.#logger.debug("container removed", { container: r.Id, ms: Math.round(performance.now() - t0) });
    this.#event("destroy", r);
    if (options.volumes) await this.#o.volumes?.removeAnonymous(r.Mounts);
    for (const w of live.removedWaiters.splice(0)) w();
    this.#resolveExit(live);
  }

  /** Removes everything of a container that is not running: runtime state, mounts, snapshot, files. */
  async #destroy(r: ContainerRecord): Promise<void> {
    const runtime = this.#runtime(r);
    for (const m of await mountsUsing(this.paths.dir(r.Id))) await unmount(m);
    try {
      await this.#o.snapshotter.remove(r.Id);
    } catch (e) {
      if (!isKind(e, "not-found")) throw e;
    }
    // Without its record the container is gone: a daemon that stops before
    // the rest is cleared finds a container dir without a record at start,
    // and removes it as a half-created one. The rest is not waited for.
    await rm(this.paths.record(r.Id), { force: true });
    this.#cleanup(r.Id, async () => {
      // The process is gone; what the runtime keeps of it (state, cgroups) goes here.
      if (await runtime.hasState(r.Id)) await runtime.delete(r.Id, true).catch((e: unknown) => this.#logger.warn("runtime delete failed", { container: r.Id, error: asWharfError(e, "delete").message }));
      await this.#o.network?.forget(r.Id).catch((e: unknown) => this.#logger.warn("network cleanup failed", { container: r.Id, error: asWharfError(e, "forget").message }));
      await rm(this.paths.bundle(r.Id), { recursive: true, force: true });
      await rm(this.paths.exitFile(r.Id), { force: true });
      await rm(this.paths.dir(r.Id), { recursive: true, force: true });
    });
  }

  /** Work that follows a removal; close() waits for what is still under way. */
  #cleanup(id: string, work: () => Promise<void>): void {
    const p = work()
      .catch((e: unknown) => this.#logger.warn("cleanup after removal failed", { container: id, error: asWharfError(e, "cleanup").message }))
      .finally(() => this.#cleanups.delete(p));
    this.#cleanups.add(p);
  }

  async rename(nameOrId: string, newName: string): Promise<void> {
    const live = this.#find(nameOrId);
    const r = live.record;
    if (!newName) throw wharfError("invalid-argument", "Neither old nor new names may be empty");
    if (!NAME_RE.test(newName)) throw wharfError("invalid-argument", `Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const bare = newName.startsWith("/") ? newName.slice(1) : newName;
    const old = r.Name.slice(1);
    if (bare === old) throw wharfError("invalid-argument", "Renaming a container with the same name as its current name");
    this.#reserveName(bare, r.Id);
    try {
      r.Name = `/${bare}`;
      await this.#save(r);
    } catch (e) {
      this.#names.delete(bare);
      r.Name = `/${old}`;
      throw e;
    }
    this.#names.delete(old);
    this.#event("rename", r, { oldName: `/${old}` });
  }

  /** `docker update`: new limits and restart policy; applied at once to a running container. */
  async update(nameOrId: string, body: Record<string, unknown>): Promise<{ Warnings: string[] }> {
    const live = this.#find(nameOrId);
    const r = live.record;
    return this.#locks.run(r.Id, async () => {
      const merged = parseHostConfig({ ...r.HostConfig, ...body, RestartPolicy: body["RestartPolicy"] ?? r.HostConfig.RestartPolicy });
      if (merged.RestartPolicy.Name !== "no" && r.HostConfig.AutoRemove) throw wharfError("invalid-argument", "Restart policy cannot be updated because AutoRemove is enabled for the container");
      const h = r.HostConfig;
      for (const k of ["Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod", "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight", "RestartPolicy"] as const) {
        if (body[k] !== undefined) (h as Record<string, unknown>)[k] = merged[k];
      }
      if (r.State.Running) {
        const { linuxResources } = await import("../runtime/index.js");
        const res = linuxResources({ memory: h.Memory, memorySwap: h.MemorySwap, memoryReservation: h.MemoryReservation, nanoCpus: h.NanoCpus, cpuShares: h.CpuShares, cpuQuota: h.CpuQuota, cpuPeriod: h.CpuPeriod, cpusetCpus: h.CpusetCpus, cpusetMems: h.CpusetMems, pidsLimit: h.PidsLimit ?? 0 }, h.Privileged);
        delete res.devices;
        await this.#runtime(r).update(r.Id, res);
      }
      await this.#save(r);
      this.#event("update", r);
      return { Warnings: [] };
    });
  }

  async prune(filter: (r: ContainerRecord) => boolean = () => true): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const r of this.list()) {
      if (r.State.Running || r.State.Restarting || !filter(r)) continue;
      space += await this.sizeRw(r.Id).catch(() => 0);
      await this.remove(r.Id).then(() => deleted.push(r.Id), () => {});
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: space };
  }

  /** Bytes the container wrote to its own layer. */
  async sizeRw(id: string): Promise<number> {
    return (await this.#o.snapshotter.usage(id)).size;
  }

  /** docker's two sizes: the container's own layer, and that plus its image (`SizeRootFs`). */
  async sizes(id: string): Promise<{ rw: number; rootFs: number }> {
    const r = this.get(id);
    const rw = await this.sizeRw(r.Id).catch(() => 0);
    const image = await this.#o.images.get(r.Image).then((i) => i.size, () => 0);
    return { rw, rootFs: rw + image };
  }

  /** A health check's result (container/health.ts), kept with the record while the container runs. */
  async setHealth(id: string, health: NonNullable<ContainerStatus["Health"]>): Promise<void> {
    const live = this.#byId.get(id);
    if (!live || live.removed) return;
    await this.#locks.run(id, async () => {
      if (live.removed || !live.record.State.Running) return;
      live.record.State = { ...live.record.State, Health: health };
      await this.#save(live.record);
    });
  }

  // ---- stdio ---------------------------------------------------------------

  /**
   * A writer to the container's stdin: connected now when the process runs,
   * or when it starts. Resolves undefined when stdin is not open.
   */
  async stdin(nameOrId: string): Promise<StdinWriter | undefined> {
    const live = this.#find(nameOrId);
    const r = live.record;
    if (!r.Config.OpenStdin) return undefined;
    if (r.State.Running) return StdinWriter.connect(`${this.paths.bundle(r.Id)}/attach`);
    return new Promise((resolve) => live.pendingStdin.push(resolve));
  }

  async resize(nameOrId: string, height: number, width: number): Promise<void> {
    const r = this.#find(nameOrId).record;
    if (!r.State.Running) throw wharfError("conflict", `Container ${r.Id} is not running`);
    if (!r.Config.Tty) return;
    await sendControl(`${this.paths.bundle(r.Id)}/ctl`, "resize", { height, width });
  }

  // ---- restore --------------------------------------------------------------

  async #restore(): Promise<void> {
    await mkdir(this.paths.containersDir, { recursive: true, mode: 0o710 });
    await mkdir(this.paths.exitDir, { recursive: true, mode: 0o700 });
    let ids: string[] = [];
    try {
      ids = await readdir(this.paths.containersDir);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
    for (const id of ids) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      let record: ContainerRecord;
      try {
        record = JSON.parse(await readFile(this.paths.record(id), "utf8")) as ContainerRecord;
      } catch {
        // No record written: a create that never got that far.
        await this.#repairHalfCreated(id);
        continue;
      }
      if (record.Creating) {
        await this.#repairHalfCreated(id);
        continue;
      }
      const live: Live = { record, exitWaiters: [], removedWaiters: [], pendingStdin: [] };
      this.#byId.set(id, live);
      this.#names.set(record.Name.slice(1), id);
    }
    this.#watchExits();
    // Every volume a container recorded as running uses is held before any exit found now lets one go.
    for (const live of this.#byId.values()) if (live.record.State.Running) this.#o.volumes?.adoptRunning(live.record.Mounts, live.record.Id);
    for (const live of this.#byId.values()) {
      try {
        await this.#reconcile(live);
      } catch (e) {
        this.#logger.warn("restore container", { container: live.record.Id, error: asWharfError(e, "restore").message });
      }
    }
    await this.#o.volumes?.releaseUnheld().catch((e: unknown) => this.#logger.warn("release volumes", { error: asWharfError(e, "release volumes").message }));
    // As dockerd: a container to be removed when it ends that does not run now goes (its volumes stay).
    for (const live of [...this.#byId.values()]) {
      const r = live.record;
      if (r.HostConfig.AutoRemove && !r.State.Running) await this.remove(r.Id, { force: true }).catch((e: unknown) => this.#logger.warn("auto-remove at startup failed", { container: r.Id, error: asWharfError(e, "remove").message }));
    }
    // Restart policies apply once everything is known.
    for (const live of this.#byId.values()) {
      const r = live.record;
      if (r.State.Running) continue;
      const p = r.HostConfig.RestartPolicy.Name;
      if (p === "always" || (p === "unless-stopped" && !r.ManuallyStopped) || (r.State.Restarting && this.#shouldRestart(r))) {
        await this.#locks.run(r.Id, () => this.#startLocked(live)).catch((e: unknown) => this.#logger.warn("restart at startup failed", { container: r.Id, error: asWharfError(e, "start").message }));
      }
    }
  }

  /** A container dir without a record: a create that never finished, or a removal the daemon did not see through. */
  async #repairHalfCreated(id: string): Promise<void> {
    this.#logger.info("removing what is left of a container", { container: id });
    for (const runtime of Object.values(this.runtimes)) if (await runtime.hasState(id)) await runtime.delete(id, true).catch(() => {});
    for (const m of await mountsUsing(this.paths.dir(id))) await unmount(m).catch(() => {});
    await rm(this.paths.exitFile(id), { force: true });
    await this.#o.snapshotter.remove(id).catch(() => {});
    await rm(this.paths.bundle(id), { recursive: true, force: true });
    await rm(this.paths.dir(id), { recursive: true, force: true });
  }

  /** Brings one record in line with reality after a daemon start. */
  async #reconcile(live: Live): Promise<void> {
    const r = live.record;
    const id = r.Id;
    if (r.State.Running || r.State.Restarting) {
      const code = await readExitFile(this.paths.exitFile(id)).catch(() => undefined);
      if (code !== undefined && r.State.Running) {
        await this.#exited(live, code);
        return;
      }
      const conmonPid = await readPidFile(`${this.paths.bundle(id)}/conmon.pid`).catch(() => undefined);
      if (r.State.Running && conmonPid !== undefined && processAlive(conmonPid)) {
        // Recorded as running by a start that stopped before it let the process go.
        await this.#runtime(r).startHeld(id, r.State.Pid);
        await this.#o.network?.restore(r);
        this.#armRotation(live);
        void this.#checkExit(id);
        return;
      }
      const state = await this.#runtime(r).state(id).catch(() => undefined);
      if (r.State.Running && state && (state.status === "running" || state.status === "paused")) {
        // The monitor is gone but the process runs: keep it, it can still be stopped.
        r.State = { ...r.State, Paused: state.status === "paused", Status: state.status === "paused" ? "paused" : "running" };
        await this.#save(r);
        await this.#o.network?.restore(r);
        return;
      }
      // Gone without a word (a reboot wiped the exec root): exited, code unknown.
      await this.#runtime(r).delete(id, true).catch(() => {});
      const wasRunning = r.State.Running;
      r.State = { ...r.State, Status: "exited", Running: false, Paused: false, Restarting: r.State.Restarting, Pid: 0, ExitCode: r.State.Running ? 255 : r.State.ExitCode, FinishedAt: r.State.Running ? new Date().toISOString() : r.State.FinishedAt };
      await this.#save(r);
      if (wasRunning) await this.#o.volumes?.releaseStop(r.Mounts, id).catch(() => {});
    }
    // Not running: nothing of it may stay mounted.
    for (const m of await mountsUsing(this.paths.rootfs(id))) await unmount(m).catch(() => {});
  }

  /** Stops watching; containers keep running (live-restore). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    for (const live of this.#byId.values()) {
      if (live.restartTimer) clearTimeout(live.restartTimer);
      if (live.rotateTimer) clearInterval(live.rotateTimer);
    }
    await Promise.all(this.#cleanups);
  }
}

/**
 * Whether a container's record is synced to disk. Not for one removed when it
 * ends: a power loss ends it too, and the next start removes what is left of
 * it, with a record or without (then as a create that did not finish).
 */
function durableRecord(r: ContainerRecord): boolean {
  return !r.HostConfig.AutoRemove;
}

function logLimits(h: HostConfig): { maxSize: number; maxFiles: number } {
  const size = h.LogConfig.Config["max-size"];
  const files = h.LogConfig.Config["max-file"];
  return {
    maxSize: size ? parseByteSize(size) : DEFAULT_LOG_MAX_SIZE,
    maxFiles: files ? Math.max(1, Number.parseInt(files, 10) || 1) : size ? 1 : DEFAULT_LOG_MAX_FILES,
  };
}

/** `10m`, `1g`, `512k`, `100` → bytes, as docker's log options read them. */
export function parseByteSize(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw wharfError("invalid-argument", `invalid size: '${text}'`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.floor(Number(m[1]) * mult);
}

/** docker's classes of start failure: 127 not found, 126 not executable, 128 otherwise. */
export function startFailureCode(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file/i.test(message)) return 127;
  if (/permission denied|not executable|exec format error/i.test(message)) return 126;
  return 128;
}

function startError(message: string, code: number) {
  const detail = runtimeMessage(message.replace(/^(start|create) container [0-9a-f]+: /, "").replace(/^(start|create) container [0-9a-f]+: /, ""));
  const text = `failed to create task for container: OCI runtime create failed: ${detail}: unknown`;
  return wharfError(code === 128 ? "unavailable" : "invalid-argument", text);
}

interface SecurityChoices {
  noNewPrivileges: boolean;
  seccomp?: SeccompChoice;
}

function validateSecurityOpts(opts: readonly string[]): void {
  securityChoices(opts);
}

function securityChoices(opts: readonly string[]): SecurityChoices {
  const out: SecurityChoices = { noNewPrivileges: false };
  for (const opt of opts) {
    const [key, value] = opt.includes("=") ? [opt.slice(0, opt.indexOf("=")), opt.slice(opt.indexOf("=") + 1)] : opt.includes(":") ? [opt.slice(0, opt.indexOf(":")), opt.slice(opt.indexOf(":") + 1)] : [opt, ""];
    if (key === "no-new-privileges") {
      if (value !== "" && value !== "true" && value !== "false") throw wharfError("invalid-argument", `invalid --security-opt: ${JSON.stringify(opt)}`);
      out.noNewPrivileges = value !== "false";
    } else if (key === "seccomp") {
      if (value === "unconfined") out.seccomp = { kind: "unconfined" };
      else {
        try {
          out.seccomp = { kind: "profile", profile: JSON.parse(value) as never };
        } catch {
          throw wharfError("invalid-argument", `Decoding seccomp profile failed: ${JSON.stringify(value.slice(0, 40))} is not JSON`);
        }
      }
    } else if (key === "label" || key === "apparmor") {
      // No SELinux or AppArmor on this engine: accepted and ignored, as dockerd does on hosts without them.
    } else {
      throw wharfError("invalid-argument", `invalid --security-opt: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}

function tmpfsOptions(h: HostConfig, dest: string): string[] {
  const fromMap = h.Tmpfs?.[dest];
  const mount = h.Mounts?.find((m) => m.Type === "tmpfs" && m.Target === dest);
  const opts = ["nosuid", "nodev", "noexec"];
  if (fromMap) {
    for (const o of fromMap.split(",").filter(Boolean)) {
      if (o === "exec") opts.splice(opts.indexOf("noexec"), 1);
      else if (o === "suid") opts.splice(opts.indexOf("nosuid"), 1);
      else if (o === "dev") opts.splice(opts.indexOf("nodev"), 1);
      else opts.push(o);
    }
  }
  if (mount?.TmpfsOptions?.SizeBytes) opts.push(`size=${mount.TmpfsOptions.SizeBytes}`);
  if (mount?.TmpfsOptions?.Mode) opts.push(`mode=${mount.TmpfsOptions.Mode.toString(8)}`);
  if (mount?.ReadOnly) opts.push("ro");
  return opts;
}

/**
 * The mounts a container gets from `Binds`, `Mounts` and `Tmpfs`, checked
 * now so that a bad one fails the create, not the start. Named and
 * anonymous volumes are the volume module's.
 */
export function planMounts(h: HostConfig, _config: { Volumes: Record<string, object> | null }): MountPoint[] {
  const out: MountPoint[] = [];
  const seen = new Set<string>();
  const add = (m: MountPoint): void => {
    if (!m.Destination.startsWith("/")) throw wharfError("invalid-argument", `invalid mount config: mount path must be absolute: ${JSON.stringify(m.Destination)}`);
    const dest = m.Destination.replace(/\/+$/, "") || "/";
    if (dest === "/") throw wharfError("invalid-argument", "invalid mount config: destination can't be '/'");
    if (seen.has(dest)) throw wharfError("invalid-argument", `Duplicate mount point: ${dest}`);
    seen.add(dest);
    out.push({ ...m, Destination: dest });
  };
  for (const bind of h.Binds ?? []) {
    const parts = bind.split(":");
    if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw wharfError("invalid-argument", `invalid volume specification: '${bind}'`);
    const [src, dest, mode = ""] = parts as [string, string, string?];
    const modes = mode.split(",").filter(Boolean);
    for (const m of modes) if (!["ro", "rw", "z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave", "nocopy"].includes(m)) throw wharfError("invalid-argument", `invalid mode: ${m}`);
    if (!src.startsWith("/")) throw wharfError("not-implemented", `named volumes are not supported yet: '${bind}'`);
    add({ Type: "bind", Source: src, Destination: dest, Mode: mode, RW: !modes.includes("ro"), Propagation: modes.find((m) => /private|shared|slave/.test(m)) ?? "rprivate" });
  }
  for (const m of h.Mounts ?? []) {
    if (!m || typeof m.Target !== "string") throw wharfError("invalid-argument", "invalid mount config: a mount needs a Target");
    if (m.Type === "bind") {
      if (!m.Source || !m.Source.startsWith("/")) throw wharfError("invalid-argument", `invalid mount config for type "bind": invalid mount path: '${m.Source ?? ""}' mount path must be absolute`);
      add({ Type: "bind", Source: m.Source, Destination: m.Target, Mode: "", RW: !m.ReadOnly, Propagation: m.BindOptions?.Propagation ?? "rprivate" });
    } else if (m.Type === "tmpfs") {
      if (m.Source) throw wharfError("invalid-argument", `invalid mount config for type "tmpfs": Source must not be specified`);
      add({ Type: "tmpfs", Source: "", Destination: m.Target, Mode: "", RW: !m.ReadOnly, Propagation: "" });
    } else if (m.Type === "volume") {
      throw wharfError("not-implemented", `volume mounts are not supported yet: ${m.Target}`);
    } else {
      throw wharfError("invalid-argument", `invalid mount config: mount type unknown: ${JSON.stringify(m.Type)}`);
    }
  }
  for (const dest of Object.keys(h.Tmpfs ?? {})) add({ Type: "tmpfs", Source: "", Destination: dest, Mode: "", RW: true, Propagation: "" });
  return out;
}

// Generated names, docker style: adjective_surname.
const ADJECTIVES = ["admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "brave", "busy", "charming", "clever", "cool", "compassionate", "confident", "crazy", "dazzling", "determined", "eager", "ecstatic", "elastic", "elegant", "epic", "exciting", "fervent", "festive", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "happy", "hopeful", "hungry", "inspiring", "intelligent", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent", "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "suspicious", "sweet", "tender", "thirsty", "trusting", "upbeat", "vibrant", "vigilant", "wizardly", "wonderful", "youthful", "zealous", "zen"];
const SURNAMES = ["albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik", "bell", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar", "curie", "darwin", "davinci", "diffie", "dijkstra", "einstein", "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hopper", "hypatia", "jackson", "jennings", "kalam", "kepler", "knuth", "lamarr", "lamport", "leakey", "lovelace", "lumiere", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "mirzakhani", "montalcini", "morse", "newton", "nobel", "noether", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shannon", "shockley", "sinoussi", "stonebraker", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira", "visvesvaraya", "wilbur", "wiles", "williams", "wozniak", "wright", "yalow", "yonath"];

// Daemons for tests and benchmarks: a wharfd and a reference dockerd, each in
// its own temporary data root and socket, stopped by PID and cleaned up
// (processes, mounts, files) even when the caller fails.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { bareFilterTable, renderFilterRemove } from "../../src/network/nft.js";

/** Kills and deletes every container the runtime knows under this root: they are not children of wharfd. */
export function killContainers(root: string): void {
  const runcRoot = join(root, "exec", "runc");
  let ids: string[] = [];
  try {
    ids = execFileSync("runc", ["--root", runcRoot, "list", "-q"], { encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    return;
  }
  for (const id of ids) {
    try {
      execFileSync("runc", ["--root", runcRoot, "kill", id, "KILL"], { stdio: "ignore" });
    } catch {
      // already stopped
    }
  }
  for (const id of ids) {
    for (let i = 0; i < 20; i++) {
      try {
        execFileSync("runc", ["--root", runcRoot, "delete", "--force", id], { stdio: "ignore" });
        break;
      } catch {
        execFileSync("sleep", ["0.1"]);
      }
    }
  }
}

/** Every mount at or below `dir`, deepest first, detached at once (for a run being interrupted). */
function unmountBelowSync(dir: string): void {
  let text = "";
  try {
    text = readFileSync("/proc/self/mounts", "utf8");
  } catch {
    return;
  }
  const mounts = text
    .split("\n")
    .map((l) => l.split(" ")[1]?.replace(/\\040/g, " "))
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync("umount", ["-l", m], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
}

// Roots of the daemons this process started. A run stopped by a signal
// (a timeout, ^C) runs no after hooks: the containers under those roots
// would outlive it, holding their mounts. They are killed here instead.
const liveRoots = new Map<string, ChildProcess>();
let sweepInstalled = false;

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

const OWNER_FILE = "wharf-test-owner";

/**
 * Roots of test daemons whose test process died without cleaning up (killed
 * by its runner, a timeout, a crash): their containers are killed, their
 * mounts undone and the roots removed. Only roots marked by a test process
 * that no longer runs are touched.
 */
function sweepAbandonedRoots(): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of entries) {
    const root = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(root, OWNER_FILE), "utf8"));
    } catch {
      continue;
    }
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || existsSync(`/proc/${owner}`)) continue;
    killContainers(root);
    unmountBelowSync(root);
    try {
      cleanupNetworkSync(root, JSON.parse(readFileSync(join(root, "test-network.json"), "utf8")) as TestNetwork);
    } catch {
      // a root without networking
    }
    rmSync(root, { recursive: true, force: true });
  }
}

function sweepOnSignal(): void {
  if (sweepInstalled) return;
  sweepInstalled = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      // The daemons first, gone for sure, so none of them mounts or starts anything while the rest goes.
      for (const child of liveRoots.values()) if (child.exitCode === null) child.kill("SIGKILL");
      for (const child of liveRoots.values()) for (let i = 0; i < 100 && child.pid !== undefined && existsSync(`/proc/${child.pid}/status`) && !isZombie(child.pid); i++) pause(10);
      // Twice: a container the runtime was still creating shows up a moment later.
      for (let pass = 0; pass < 2; pass++) {
        if (pass > 0) pause(200);
        for (const root of liveRoots.keys()) {
          killContainers(root);
          unmountBelowSync(root);
        }
      }
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export interface Daemon {
  readonly socket: string;
  readonly host: string;
  readonly root: string;
  readonly pid: number;
  /** Environment for the docker CLI pointed at this daemon. */
  readonly env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export function ping(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePing) => {
    const req = request({ socketPath: socket, path: "/_ping", method: "GET", timeout: timeoutMs }, (res) => {
      res.resume();
      resolvePing(res.statusCode === 200);
    });
    req.on("error", () => resolvePing(false));
    req.on("timeout", () => {
      req.destroy();
      resolvePing(false);
    });
    req.end();
  });
}

async function waitFor(socket: string, child: ChildProcess, what: string, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${log()}`);
    if (await ping(socket, 500)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not answer on ${socket} within ${timeoutMs} ms: ${log()}`);
}

/** Unmounts everything below `dir`, deepest first. */
export async function unmountBelow(dir: string): Promise<void> {
  const mounts = (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[1]?.replace(/\\040/g, " "))
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync("umount", ["-l", m], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
}

async function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

function capture(child: ChildProcess): () => string {
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return () => out;
}

/**
 * Networking of a test daemon: a bridge (and nft table) of its own and a
 * subnet picked at random in 10.128.0.0/9, so daemons of parallel suites and
 * the machine's own wharfd (wharf0) never share one.
 */
export interface TestNetwork {
  readonly bridge: string;
  /** The default bridge's gateway address with its prefix. */
  readonly bip: string;
  readonly pool: string;
}

export function testNetwork(): TestNetwork {
  const r = randomBytes(3);
  const second = 128 + (r[0]! & 0x7f);
  const third = r[1]! & 0xfe;
  return { bridge: `wt${r.toString("hex")}`, bip: `10.${second}.${third}.1/24`, pool: `base=10.${second}.${third + 1}.0/24,size=28` };
}

/** Removes what a test daemon's networking left on the host: its bridges (default and user networks), its nft table and its chain in `ip filter`. */
export async function cleanupNetwork(root: string, net: TestNetwork): Promise<void> {
  cleanupNetworkSync(root, net);
}

function cleanupNetworkSync(root: string, net: TestNetwork): void {
  const bridges = new Set([net.bridge]);
  try {
    const dir = join(root, "data", "network", "networks");
    for (const f of readdirSync(dir)) {
      try {
        const rec = JSON.parse(readFileSync(join(dir, f), "utf8")) as { Bridge?: string };
        if (rec.Bridge) bridges.add(rec.Bridge);
      } catch {
        // half-written
      }
    }
  } catch {
    // no records
  }
  for (const b of bridges) {
    try {
      execFileSync("ip", ["link", "del", b], { stdio: "ignore" });
    } catch {
      // not there
    }
  }
  try {
    execFileSync("nft", ["delete", "table", "ip", net.bridge], { stdio: "ignore" });
  } catch {
    // not there
  }
  removeFilterChain(net.bridge);
}

export async function startWharfd(options: { root?: string; args?: string[]; network?: TestNetwork } = {}): Promise<Daemon & { network: TestNetwork }> {
  sweepAbandonedRoots();
  const root = options.root ?? (await mkdtemp(join(tmpdir(), "wharfd-test-")));
  await mkdir(root, { recursive: true });
  writeFileSync(join(root, OWNER_FILE), String(process.pid));
  const socket = join(root, "wharf.sock");
  // A daemon started again on the same root keeps its network (its containers may still run on it).
  const netFile = join(root, "test-network.json");
  const net = options.network ?? (await readFile(netFile, "utf8").then((t) => JSON.parse(t) as TestNetwork, () => testNetwork()));
  await mkdir(root, { recursive: true });
  await writeFile(netFile, JSON.stringify(net));
  const child = spawn(
    process.execPath,
    [join(projectRoot, "bin", "wharfd"), "--data-root", join(root, "data"), "--exec-root", join(root, "exec"), "-H", `unix://${socket}`, "--pidfile", join(root, "wharfd.pid"), "--bridge", net.bridge, "--bip", net.bip, "--default-address-pool", net.pool, ...(options.args ?? [])],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = capture(child);
  sweepOnSignal();
  liveRoots.set(root, child);
  const stop = async () => {
    await stopChild(child, 10_000);
    await unmountBelow(root);
    await cleanupNetwork(root, net);
    if (!options.root) await rm(root, { recursive: true, force: true });
  };
  try {
    await waitFor(socket, child, "wharfd", 20_000, log);
  } catch (e) {
    await stop();
    throw e;
  }
  return { socket, host: `unix://${socket}`, root, pid: child.pid!, env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, stop, network: net };
}

/**
 * A reference dockerd (Debian's docker.io) on its own socket. Without
 * networking by default; with `networking`, in its default configuration
 * (docker0, iptables, docker-proxy) inside a network namespace of its own, so
 * that its rules (a FORWARD policy of DROP among them) never reach the host's.
 */
export async function startDockerd(options: { root?: string; networking?: boolean } = {}): Promise<Daemon> {
  const root = options.root ?? (await mkdtemp(join(tmpdir(), "dockerd-test-")));
  const socket = join(root, "docker.sock");
  await mkdir(join(root, "exec"), { recursive: true });
  const netns = join(root, "netns");
  if (options.networking) {
    await writeFile(netns, "");
    execFileSync("unshare", [`--net=${netns}`, "ip", "link", "set", "lo", "up"]);
  }
  const argv = [
    "dockerd",
    "--data-root", join(root, "data"),
    "--exec-root", join(root, "exec"),
    "-H", `unix://${socket}`,
    "--pidfile", join(root, "dockerd.pid"),
    ...(options.networking ? [] : ["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false"]),
    "--storage-driver=overlay2",
  ];
  const child = options.networking
    ? spawn("nsenter", [`--net=${netns}`, ...argv], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DOCKER_HOST: "" } })
    : spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DOCKER_HOST: "" } });
  const log = capture(child);
  const stop = async () => {
    await stopChild(child, 20_000);
    await unmountBelow(root);
    if (!options.root) await rm(root, { recursive: true, force: true });
  };
  try {
    await waitFor(socket, child, "dockerd", 60_000, log);
  } catch (e) {
    await stop();
    throw e;
  }
  return { socket, host: `unix://${socket}`, root, pid: child.pid!, env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, stop };
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes a test daemon's chain out of iptables' `ip filter` table (see
 * src/network/nft.ts), and the table itself when what is left is only an
 * empty FORWARD chain that accepts (nothing else on the machine uses it).
 */
export function removeFilterChain(table: string): void {
  const listed = (() => {
    try {
      return execFileSync("nft", ["-j", "list", "chain", "ip", "filter", "FORWARD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return "";
    }
  })();
  const script = renderFilterRemove(table, listed);
  if (script) {
    try {
      execFileSync("nft", ["-f", "-"], { input: script, stdio: ["pipe", "ignore", "ignore"] });
    } catch {
      // another cleanup took it first
    }
  }
  try {
    const table = execFileSync("nft", ["-j", "list", "table", "ip", "filter"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    if (bareFilterTable(table)) execFileSync("nft", ["delete", "table", "ip", "filter"], { stdio: "ignore" });
  } catch {
    // no table
  }
}

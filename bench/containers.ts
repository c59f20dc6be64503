// Container benchmarks, side by side in one run on this machine:
//
//   docker → dockerd    the docker CLI against a reference dockerd in its default
//                       configuration (docker0, iptables, docker-proxy), in a network
//                       namespace of its own: the reference every ratio is taken to
//   docker → dockerd -n the same dockerd stripped of networking (--bridge=none,
//                       --iptables=false): shown for comparison, not a ratio's base
//   docker → wharfd     the docker CLI against wharfd
//   wharf → wharfd      the wharf CLI against wharfd
//   podman              podman with its own storage (runc, cgroupfs), when installed
//   runc                runc alone on a prepared bundle: the floor
//
// for `run --rm busybox true`, `exec CONTAINER true`, 20 `run -d` in a row to each daemon (the
// peers' calls interleaved; `--burst-rounds`, default 1: dockerd here stops answering a `run -d`
// once ~80 containers run), and
// the resident memory of `--containers` running containers (wharfd + conmons
// against dockerd + containerd + shims), then of wharfd with 100 running against
// dockerd's idle memory plus 100 times its measured cost per container (dockerd
// here stops answering near 80). It also times the CLI's own start: node
// alone, `wharf --version`, `wharf run --help`. Runs alternate between the
// peers so that load on the machine falls on all of them alike.
//
// Prints a table and writes bench/results/containers-<time>.json.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { hasCommand, projectRoot, startDockerd, startWharfd, unmountBelow, type Daemon } from "../test/support/daemons.js";
import { timed, median, quiet } from "./support.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    containers: { type: "string", default: "100" },
    burst: { type: "string", default: "20" },
    "burst-rounds": { type: "string", default: "1" },
  },
});
const RUNS = Number(values.runs);
const CONTAINERS = Number(values.containers);
const BURST = Number(values.burst);
const BURST_ROUNDS = Number(values["burst-rounds"]);
const WHARF = join(projectRoot, "bin", "wharf");

interface Peer {
  name: string;
  /** The command line of one CLI call. */
  cmd(args: string[]): [string, string[], NodeJS.ProcessEnv];
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): string {
  const r = spawnSync(cmd, args, { env, maxBuffer: 1 << 26, timeout: timeoutMs, killSignal: "SIGKILL" });
  if (r.status !== 0) throw new Error(`${env["DOCKER_HOST"] ?? ""} ${cmd} ${args.join(" ")} failed (${r.status ?? "timed out"}): ${r.stderr?.toString()}`);
  return r.stdout.toString();
}

/** Pids of processes whose command line contains `needle`. */
async function pidsMatching(needle: string, names?: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8")).replaceAll("\0", " ");
      if (!cmdline.includes(needle)) continue;
      if (names) {
        const comm = (await readFile(`/proc/${entry}/comm`, "utf8")).trim();
        if (!names.some((n) => comm.startsWith(n))) continue;
      }
      out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

async function rssKb(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
      if (m) total += Number(m[1]);
    } catch {
      // gone
    }
  }
  return total;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "wharf-bench-containers-"));
  const tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });
  await writeFile(join(work, "busybox.tar"), tar);
  let wharfd: Daemon | undefined;
  let dockerd: Daemon | undefined;
  let bare: Daemon | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    await mkdir(join(work, "wharfd"), { recursive: true });
    await mkdir(join(work, "dockerd"), { recursive: true });
    await mkdir(join(work, "dockerd-bare"), { recursive: true });
    wharfd = await startWharfd({ root: join(work, "wharfd") });
    dockerd = await startDockerd({ root: join(work, "dockerd"), networking: true });
    bare = await startDockerd({ root: join(work, "dockerd-bare") });
    const w = wharfd;
    const d = dockerd;
    const b = bare;
    for (const daemon of [w, d, b]) execFileSync("docker", ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], { input: tar, env: daemon.env, stdio: ["pipe", "ignore", "inherit"] });
    const dockerEnv = (daemon: Daemon) => ({ ...daemon.env, DOCKER_CONFIG: join(work, "docker-config") });
    const peers: Peer[] = [
      { name: "docker → dockerd", cmd: (args) => ["docker", args, dockerEnv(d)] },
      { name: "docker → dockerd -n", cmd: (args) => ["docker", args, dockerEnv(b)] },
      { name: "docker → wharfd", cmd: (args) => ["docker", args, dockerEnv(w)] },
      { name: "wharf → wharfd", cmd: (args) => [WHARF, [...args], { ...process.env, WHARF_HOST: w.host }] },
    ];
    let podman: Peer | undefined;
    if (hasCommand("podman")) {
      const root = join(work, "podman");
      await mkdir(join(root, "tmp"), { recursive: true });
      // No CAP_SYS_RESOURCE here: podman's default raised rlimits cannot be set.
      await writeFile(join(root, "containers.conf"), "[containers]\ndefault_ulimits = []\n");
      const base = ["--root", join(root, "storage"), "--runroot", join(root, "run"), "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", join(root, "tmp")];
      const env = { ...process.env, CONTAINERS_CONF: join(root, "containers.conf") };
      try {
        sh("podman", [...base, "import", "-c", 'CMD ["sh"]', join(work, "busybox.tar"), "busybox:latest"], env);
        podman = {
          name: "podman",
          cmd: (args) => ["podman", [...base, ...(args[0] === "run" ? ["run", "--network", "none", ...args.slice(1)] : args)], env],
        };
        peers.push(podman);
        cleanups.push(async () => {
          spawnSync("podman", [...base, "rm", "-af", "-t", "0"], { env, timeout: 180_000 });
          spawnSync("podman", [...base, "system", "reset", "-f"], { env, timeout: 60_000 });
          await unmountBelow(root);
        });
      } catch (e) {
        console.error(`podman skipped: ${(e as Error).message.split("\n")[0]}`);
      }
    }

    // runc alone: a bundle of the busybox rootfs, `true` as the process.
    const bundle = join(work, "runc-bundle");
    await mkdir(join(bundle, "rootfs"), { recursive: true });
    execFileSync("tar", ["-x", "-C", join(bundle, "rootfs"), "-f", join(work, "busybox.tar")]);
    execFileSync("runc", ["spec", "-b", bundle]);
    const spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as { process: { terminal: boolean; args: string[]; rlimits?: unknown }; root: { readonly: boolean } };
    spec.process.terminal = false;
    spec.process.args = ["true"];
    delete spec.process.rlimits;
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const runcRoot = join(work, "runc-root");
    let runcN = 0;
    const runcOnce = () => sh("runc", ["--root", runcRoot, "run", "-b", bundle, `bench-${runcN++}`], process.env);

    const progress = (what: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${what}\n`);
    const call = (p: Peer, args: string[]) => {
      const [cmd, argv, env] = p.cmd(args);
      return sh(cmd, argv, env);
    };
    /**
     * Containers started by the run stay until the end: dockerd here never finishes `rm -f` or
     * `kill` of a running container (it waits for an exit it is not told of) and then stops
     * answering, so every long-running container sleeps a bounded time and the final cleanup
     * ends them through runc.
     */
    const SLEEP = "900";
    for (const p of peers) call(p, ["run", "--rm", "busybox", "true"]); // warm caches
    runcOnce();

    // ---- memory of CONTAINERS running containers: the engine's processes only
    const memory = new Map<string, { idleKb: number; loadedKb: number; perContainerKb: number }>();
    const enginePids = async (name: string): Promise<number[]> => {
      if (name === "docker → dockerd") return [...(await pidsMatching(d.root, ["dockerd", "containerd"]))];
      return [...(await pidsMatching(w.root, ["node", "conmon"]))];
    };
    for (const name of ["docker → dockerd", "wharf → wharfd"]) {
      progress(`memory: ${name}`);
      const p = peers.find((x) => x.name === name)!;
      const idleKb = await rssKb(await enginePids(name));
      const ids: string[] = [];
      for (let i = 0; i < CONTAINERS; i++) ids.push(call(p, ["run", "-d", "busybox", "sleep", SLEEP]).trim());
      await new Promise((r) => setTimeout(r, 2000));
      const loadedKb = await rssKb(await enginePids(name));
      // idle counts what earlier phases left (dockerd's shims of killed containers): the delta is per container.
      memory.set(name, { idleKb, loadedKb, perContainerKb: (loadedKb - idleKb) / CONTAINERS });
      progress(`  ${name}: idle ${(idleKb / 1024).toFixed(0)} MB, ${CONTAINERS} running ${(loadedKb / 1024).toFixed(0)} MB`);
    }

    // ---- run --rm busybox true
    progress("run --rm");
    const runTimes = new Map<string, number[]>(peers.map((p) => [p.name, []]));
    const runcTimes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const p of peers) runTimes.get(p.name)!.push(timed(() => call(p, ["run", "--rm", "busybox", "true"])));
      runcTimes.push(timed(runcOnce));
    }

    // ---- exec CONTAINER true
    for (const p of peers) progress(`  ${p.name}: ${median(runTimes.get(p.name)!).toFixed(0)} ms`);
    progress(`  runc: ${median(runcTimes).toFixed(0)} ms`);
    progress("exec");
    const execTimes = new Map<string, number[]>(peers.map((p) => [p.name, []]));
    const execTargets = new Map<string, string>();
    for (const p of peers) execTargets.set(p.name, call(p, ["run", "-d", "busybox", "sleep", SLEEP]).trim());
    for (let i = 0; i < RUNS; i++) for (const p of peers) execTimes.get(p.name)!.push(timed(() => call(p, ["exec", execTargets.get(p.name)!, "true"])));

    // ---- BURST × run -d
    for (const p of peers) progress(`  ${p.name}: ${median(execTimes.get(p.name)!).toFixed(0)} ms`);
    progress(`${BURST}× run -d`);
    // The calls of a round interleave: call i goes to every peer in turn, the order rotated call by
    // call, so that the machine's drift (its speed changes by a third within minutes here) falls on
    // all peers alike; each daemon still answers its BURST `run -d` back to back, nothing else in
    // between. Their containers stay (see above: dockerd cannot remove running ones here).
    const burstTimes = new Map<string, number[]>(peers.map((p) => [p.name, []]));
    for (let round = 0; round < BURST_ROUNDS; round++) {
      const waited = quiet();
      if (waited > 300) progress(`  (waited ${waited} ms for the machine to be quiet)`);
      const sums = new Map<string, number>(peers.map((p) => [p.name, 0]));
      for (let i = 0; i < BURST; i++) {
        const k = (i + round) % peers.length;
        for (const p of [...peers.slice(k), ...peers.slice(0, k)]) sums.set(p.name, sums.get(p.name)! + timed(() => call(p, ["run", "-d", "busybox", "sleep", SLEEP])));
      }
      for (const p of peers) burstTimes.get(p.name)!.push(sums.get(p.name)!);
    }
    const burst = new Map<string, number>(peers.map((p) => [p.name, median(burstTimes.get(p.name)!)]));

    // ---- wharfd with FULL running containers (dockerd here stops answering at ~80, so its side is
    // its idle memory plus FULL times its measured per-container cost: its shims are one per container)
    const FULL = 100;
    let full: { wharfKb: number; dockerKb: number; running: number } | undefined;
    {
      const w2 = peers.find((x) => x.name === "docker → wharfd")!;
      const running = call(w2, ["ps", "-q"]).split("\n").filter(Boolean).length;
      if (running < FULL) {
        progress(`memory: wharfd with ${FULL} running`);
        for (let i = running; i < FULL; i++) call(w2, ["run", "-d", "busybox", "sleep", SLEEP]);
        await new Promise((r) => setTimeout(r, 2000));
        const md0 = memory.get("docker → dockerd")!;
        full = { wharfKb: await rssKb(await enginePids("wharf → wharfd")), dockerKb: md0.idleKb + FULL * md0.perContainerKb, running: FULL };
      }
    }

    // ---- the CLI's own start
    for (const p of peers) progress(`  ${p.name}: ${burst.get(p.name)!.toFixed(0)} ms`);
    progress("start-up");
    const startup = { node: [] as number[], version: [] as number[], runHelp: [] as number[], dockerVersion: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      startup.node.push(timed(() => sh(process.execPath, ["-e", ""], process.env)));
      startup.version.push(timed(() => sh(WHARF, ["--version"], process.env)));
      startup.runHelp.push(timed(() => sh(WHARF, ["run", "--help"], process.env)));
      startup.dockerVersion.push(timed(() => sh("docker", ["--version"], process.env)));
    }

    // ---- report
    const base = (m: Map<string, number[]>) => median(m.get("docker → dockerd")!);
    const rows: string[][] = [["measure", ...peers.map((p) => p.name), "runc", "docker→wharfd / docker", "wharf→wharfd / docker"]];
    const ratio = (x: number, y: number) => (x / y).toFixed(2);
    const line = (label: string, m: Map<string, number[]>, extra: string) => {
      const b = base(m);
      rows.push([label, ...peers.map((p) => `${median(m.get(p.name)!).toFixed(0)} ms`), extra, ratio(median(m.get("docker → wharfd")!), b), ratio(median(m.get("wharf → wharfd")!), b)]);
    };
    line("run --rm busybox true", runTimes, `${median(runcTimes).toFixed(0)} ms`);
    line("exec CONTAINER true", execTimes, "");
    const bd = burst.get("docker → dockerd")!;
    rows.push([`${BURST}× run -d`, ...peers.map((p) => `${burst.get(p.name)!.toFixed(0)} ms`), "", ratio(burst.get("docker → wharfd")!, bd), ratio(burst.get("wharf → wharfd")!, bd)]);
    const md = memory.get("docker → dockerd")!;
    const mw = memory.get("wharf → wharfd")!;
    rows.push([`RSS, ${CONTAINERS} running (engine only)`, `${(md.loadedKb / 1024).toFixed(0)} MB (${(md.perContainerKb / 1024).toFixed(2)} MB each)`, "", `${(mw.loadedKb / 1024).toFixed(0)} MB (${(mw.perContainerKb / 1024).toFixed(2)} MB each)`, "", ...(podman ? [""] : []), "", ratio(mw.loadedKb, md.loadedKb), ""]);
    if (full) rows.push([`RSS, ${full.running} running (engine only)`, `${(full.dockerKb / 1024).toFixed(0)} MB (from its ${CONTAINERS})`, "", `${(full.wharfKb / 1024).toFixed(0)} MB`, "", ...(podman ? [""] : []), "", ratio(full.wharfKb, full.dockerKb), ""]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
    console.log(
      `\nCLI start: node alone ${median(startup.node).toFixed(0)} ms, wharf --version ${median(startup.version).toFixed(0)} ms, wharf run --help ${median(startup.runHelp).toFixed(0)} ms, docker --version ${median(startup.dockerVersion).toFixed(0)} ms`,
    );
    const results = {
      time: new Date().toISOString(),
      runs: RUNS,
      runRm: Object.fromEntries([...runTimes].map(([k, v]) => [k, median(v)])),
      runc: median(runcTimes),
      exec: Object.fromEntries([...execTimes].map(([k, v]) => [k, median(v)])),
      burst: Object.fromEntries(burst),
      memory: Object.fromEntries(memory),
      memoryFull: full,
      startup: Object.fromEntries(Object.entries(startup).map(([k, v]) => [k, median(v)])),
    };
    await mkdir(join(projectRoot, "bench", "results"), { recursive: true });
    await writeFile(join(projectRoot, "bench", "results", `containers-${results.time.replace(/[:.]/g, "-")}.json`), JSON.stringify(results, null, 2) + "\n");
  } finally {
    for (const c of cleanups) await c();
    if (wharfd) spawnSync("sh", ["-c", `docker ps -aq | xargs -r -n 10 docker rm -f`], { env: wharfd.env, stdio: "ignore", timeout: 120_000 });
    for (const dir of ["dockerd", "dockerd-bare"]) killLeftovers(join(work, dir, "exec", "runtime-runc", "moby"));
    for (const daemon of [wharfd, dockerd, bare]) if (daemon) await daemon.stop();
    killLeftovers(join(work, "wharfd", "exec", "runc"));
    for (const dir of ["dockerd", "dockerd-bare"]) killLeftovers(join(work, dir, "exec", "runtime-runc", "moby"));
    // containerd's shims outlive dockerd: end those of this run, found by their socket under `work`.
    for (const pid of await pidsMatching(work, ["containerd-shim"])) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    killLeftovers(join(work, "runc-root"));
    await unmountBelow(work);
    await rm(work, { recursive: true, force: true });
  }
}

/** Kills (and, without `only`, deletes) what runc knows under `root`. */
function killLeftovers(root: string, only?: readonly string[]): void {
  let ids: string[] = [];
  try {
    ids = execFileSync("runc", ["--root", root, "list", "-q"], { encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    return;
  }
  if (only) ids = ids.filter((id) => only.some((o) => id.startsWith(o)));
  for (const id of ids) spawnSync("runc", ["--root", root, "kill", id, "KILL"], { stdio: "ignore" });
  if (only) return;
  for (const id of ids) spawnSync("runc", ["--root", root, "delete", "--force", id], { stdio: "ignore" });
}

await main();

// Network benchmarks: wharfd and a reference dockerd (Debian's docker.io,
// networking on: its own docker0, iptables rules, docker-proxy) side by side
// in one run. Each daemon runs in a network namespace of its own, made here,
// so neither touches the host's interfaces, rules or forwarding, and the two
// cannot collide on a bridge name or subnet; its clients (curl) run in the
// same namespace, so "loopback" is that namespace's 127.0.0.1.
//
//   run -p      `docker run --rm -p 8080:80 busybox true`, wall time of the CLI
//   throughput  curl of a 512 MiB file from busybox httpd in a container,
//               through the published port on 127.0.0.1
//
// Runs alternate between the daemons (wharf first on even runs), medians are
// reported. Prints a table and writes bench/results/network-<time>.json.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ping, projectRoot, unmountBelow } from "../test/support/daemons.js";
import { median } from "./support.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "15" }, transfers: { type: "string", default: "3" } } });
const RUNS = Number(values.runs);
const TRANSFERS = Number(values.transfers);

interface Peer {
  readonly name: string;
  readonly netns: string;
  readonly env: NodeJS.ProcessEnv;
  readonly root: string;
  readonly child: ChildProcess;
}

async function namespace(root: string): Promise<string> {
  const file = join(root, "netns");
  await writeFile(file, "");
  execFileSync("unshare", [`--net=${file}`, "ip", "link", "set", "lo", "up"]);
  return file;
}

async function start(name: string, argv: (root: string) => string[]): Promise<Peer> {
  const root = await mkdtemp(join(tmpdir(), `bench-net-${name}-`));
  const netns = await namespace(root);
  const socket = join(root, "api.sock");
  const [cmd, ...args] = argv(root);
  const child = spawn("nsenter", [`--net=${netns}`, cmd!, ...args, "-H", `unix://${socket}`], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, DOCKER_HOST: "" } });
  let log = "";
  child.stderr?.on("data", (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  for (let i = 0; ; i++) {
    if (await ping(socket, 500)) break;
    if (child.exitCode !== null || i > 600) throw new Error(`${name} did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name, netns, root, child, env: { ...process.env, DOCKER_HOST: `unix://${socket}` } };
}

async function stop(p: Peer): Promise<void> {
  if (p.child.exitCode === null) {
    const exited = new Promise((r) => p.child.once("exit", r));
    p.child.kill("SIGTERM");
    const t = setTimeout(() => p.child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(t);
  }
  await unmountBelow(p.root);
  await rm(p.root, { recursive: true, force: true });
}

function docker(p: Peer, args: string[], input?: Buffer): string {
  const r = spawnSync("docker", args, { env: p.env, input, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")} against ${p.name} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

function timed(fn: () => void): number {
  const s = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - s) / 1e6;
}


/** Bytes per second of one download through the published port, measured by curl in the daemon's namespace. */
function download(p: Peer, port: number): number {
  const out = execFileSync("nsenter", [`--net=${p.netns}`, "curl", "-sf", "-o", "/dev/null", "-w", "%{speed_download}", `http://127.0.0.1:${port}/big`], { encoding: "utf8" });
  return Number(out);
}

async function main(): Promise<void> {
  const busybox = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });
  const wharf = await start("wharf", (root) => [process.execPath, join(projectRoot, "bin", "wharfd"), "--data-root", join(root, "data"), "--exec-root", join(root, "exec"), "--pidfile", join(root, "pid")]);
  let dockerPeer: Peer | undefined;
  try {
    dockerPeer = await start("docker", (root) => ["dockerd", "--data-root", join(root, "data"), "--exec-root", join(root, "exec"), "--pidfile", join(root, "pid"), "--storage-driver=overlay2", "--bip", "10.213.0.1/24"]);
    const peers = [wharf, dockerPeer];
    for (const p of peers) docker(p, ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], busybox);
    // Warm up: first runs pay for caches.
    for (const p of peers) for (let i = 0; i < 2; i++) docker(p, ["run", "--rm", "-p", "8080:80", "busybox", "true"]);
    const runMs: Record<string, number[]> = { wharf: [], docker: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const p of i % 2 === 0 ? peers : [...peers].reverse()) runMs[p.name]!.push(timed(() => docker(p, ["run", "--rm", "-p", "8080:80", "busybox", "true"])));
    }
    for (const p of peers) {
      docker(p, ["run", "-d", "--name", "srv", "-p", "8081:80", "busybox", "sh", "-c", "dd if=/dev/zero of=/tmp/big bs=1M count=512 2>/dev/null; exec httpd -f -p 80 -h /tmp"]);
    }
    for (const p of peers) {
      for (let i = 0; i < 100; i++) {
        try {
          execFileSync("nsenter", [`--net=${p.netns}`, "curl", "-sf", "-o", "/dev/null", "-r", "0-0", "http://127.0.0.1:8081/big"]);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    const bps: Record<string, number[]> = { wharf: [], docker: [] };
    for (let i = 0; i < TRANSFERS; i++) {
      for (const p of i % 2 === 0 ? peers : [...peers].reverse()) bps[p.name]!.push(download(p, 8081));
    }
    const results = {
      runMs: { wharf: median(runMs.wharf!), docker: median(runMs.docker!), ratio: median(runMs.wharf!) / median(runMs.docker!) },
      throughputMBps: { wharf: median(bps.wharf!) / 1e6, docker: median(bps.docker!) / 1e6, ratio: median(bps.wharf!) / median(bps.docker!) },
      raw: { runMs, bps },
    };
    console.log("measure                         wharf        docker       ratio   goal");
    console.log(`run --rm -p 8080:80 true        ${results.runMs.wharf.toFixed(0).padStart(6)} ms    ${results.runMs.docker.toFixed(0).padStart(6)} ms    ${results.runMs.ratio.toFixed(2)}    <= 0.3`);
    console.log(`TCP via published port (lo)    ${results.throughputMBps.wharf.toFixed(0).padStart(6)} MB/s  ${results.throughputMBps.docker.toFixed(0).padStart(6)} MB/s  ${results.throughputMBps.ratio.toFixed(2)}    >= 0.9`);
    await mkdir(join(projectRoot, "bench", "results"), { recursive: true });
    await writeFile(join(projectRoot, "bench", "results", `network-${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify(results, null, 2));
    for (const p of peers) spawnSync("docker", ["rm", "-f", "srv"], { env: p.env });
  } finally {
    if (dockerPeer) await stop(dockerPeer);
    await stop(wharf);
  }
}

await main();

// Image benchmarks: wharfd and a reference dockerd on this machine, side by
// side in one run, driven through the same docker CLI and the same API calls.
//
//   import   `docker import` of the Debian rootfs tar
//   save     `docker save -o` of that image
//   load     `docker load -i` of the saved archive into a daemon without it
//   api      GET /images/json and /images/{name}/json with 200 images
//   idle     resident memory of the idle daemon (dockerd + containerd for docker)
//
// Prints a table and writes bench/results/images-<time>.json.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { request, Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { projectRoot, startDockerd, startWharfd, type Daemon } from "../test/support/daemons.js";
import { dropCaches, median, snapshotsSettled, timed } from "./support.js";

const { values } = parseArgs({
  options: {
    rootfs: { type: "string" },
    runs: { type: "string", default: "3" },
    images: { type: "string", default: "200" },
    requests: { type: "string", default: "300" },
  },
});
if (!values.rootfs) throw new Error("--rootfs <debian rootfs tar> is required (bench/run.sh makes one)");
const rootfs = values.rootfs;
const RUNS = Number(values.runs);
const IMAGES = Number(values.images);
const REQUESTS = Number(values.requests);

function docker(d: Daemon, args: string[], input?: Buffer): string {
  const r = spawnSync("docker", args, { env: d.env, input, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")} against ${d.host} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

function get(socket: string, path: string, agent: Agent): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, agent }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - start) / 1e6) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

function rssKb(pid: number): number {
  try {
    const status = execFileSync("cat", [`/proc/${pid}/status`]).toString();
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out = spawnSync("pgrep", ["-P", String(pid)]).stdout.toString().trim();
  return out ? out.split("\n").map(Number) : [];
}

/** dockerd's RSS plus its containerd's; wharfd's own. */
function daemonRss(d: Daemon): number {
  let total = rssKb(d.pid);
  for (const c of childrenOf(d.pid)) total += rssKb(c);
  return total;
}

interface Side {
  import: number[];
  save: number[];
  load: number[];
  list: number[];
  inspect: number[];
  idleRssKb: number;
}

/** Before a timed step that creates files: no deletion of either daemon still under way, and the kernel's caches dropped (bench/support.ts). */
async function settle(sides: { name: string; d: Daemon }[]): Promise<void> {
  for (const { name, d } of sides) if (name === "wharf") await snapshotsSettled(d.root);
  dropCaches();
}

/**
 * Both daemons run at once and every measure alternates between them run by
 * run (wharf first on even runs, docker first on odd ones), so that a drift in
 * the machine's load weighs on both sides alike.
 */
async function benchBoth(sides: { name: string; d: Daemon; side: Side }[], work: string): Promise<void> {
  const ordered = (i: number) => (i % 2 === 0 ? sides : [...sides].reverse());
  // Idle memory: after start, before any work.
  await new Promise((r) => setTimeout(r, 2000));
  for (const s of sides) s.side.idleRssKb = daemonRss(s.d);
  const archive = (name: string) => join(work, `${name}-debian.tar`);
  for (let i = 0; i < RUNS; i++) {
    for (const { d, side } of ordered(i)) {
      await settle(sides);
      side.import.push(timed(() => docker(d, ["import", rootfs, `bench/debian:${i}`])));
    }
  }
  for (const { d } of sides) for (let i = 1; i < RUNS; i++) docker(d, ["rmi", `bench/debian:${i}`]);
  for (let i = 0; i < RUNS; i++) {
    for (const { name, d, side } of ordered(i)) {
      await rm(archive(name), { force: true });
      side.save.push(timed(() => docker(d, ["save", "-o", archive(name), "bench/debian:0"])));
    }
  }
  for (let i = 0; i < RUNS; i++) {
    for (const { name, d, side } of ordered(i)) {
      docker(d, ["rmi", "bench/debian:0"]);
      await settle(sides);
      side.load.push(timed(() => docker(d, ["load", "-q", "-i", archive(name)])));
    }
  }
  // 200 distinct small images.
  const tiny = execFileSync("tar", ["-cf", "-", "-C", projectRoot, "package.json"]);
  for (const { d } of sides) for (let i = 0; i < IMAGES; i++) docker(d, ["import", "-c", `ENV N=${i}`, "-", `bench/many:${i}`], tiny);
  for (const { d, side } of sides) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 10; i++) await get(d.socket, "/v1.41/images/json", agent);
    for (let i = 0; i < REQUESTS; i++) side.list.push(await get(d.socket, "/v1.41/images/json", agent));
    for (let i = 0; i < REQUESTS; i++) side.inspect.push(await get(d.socket, `/v1.41/images/bench/many:${i % IMAGES}/json`, agent));
    agent.destroy();
  }
}

const emptySide = (): Side => ({ import: [], save: [], load: [], list: [], inspect: [], idleRssKb: 0 });

function fmt(ms: number): string {
  return ms >= 100 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "wharf-bench-"));
  try {
    const sizeMb = (await stat(rootfs)).size / 1e6;
    console.log(`rootfs: ${rootfs} (${sizeMb.toFixed(0)} MB), ${RUNS} runs each, ${IMAGES} images, ${REQUESTS} requests\n`);
    const wharf = emptySide();
    const dockerSide = emptySide();
    const wharfd = await startWharfd();
    try {
      const dockerd = await startDockerd();
      try {
        await benchBoth([{ name: "wharf", d: wharfd, side: wharf }, { name: "docker", d: dockerd, side: dockerSide }], work);
      } finally {
        await dockerd.stop();
      }
    } finally {
      await wharfd.stop();
    }
    const rows: [string, number, number, string][] = [
      ["import (median)", median(wharf.import), median(dockerSide.import), "≤ 0.5"],
      ["save (median)", median(wharf.save), median(dockerSide.save), "≤ 0.5"],
      ["load (median)", median(wharf.load), median(dockerSide.load), "≤ 0.5"],
      ["GET /images/json (p50)", median(wharf.list), median(dockerSide.list), "< 20 ms"],
      ["GET /images/json (p99)", percentile(wharf.list, 99), percentile(dockerSide.list, 99), "< 20 ms"],
      ["GET /images/{name}/json (p50)", median(wharf.inspect), median(dockerSide.inspect), "< 20 ms"],
      ["GET /images/{name}/json (p99)", percentile(wharf.inspect, 99), percentile(dockerSide.inspect, 99), "< 20 ms"],
    ];
    console.log("| measure | wharf | docker | wharf/docker | goal |\n| --- | --- | --- | --- | --- |");
    for (const [what, w, dk, goal] of rows) console.log(`| ${what} | ${fmt(w)} | ${fmt(dk)} | ${(w / dk).toFixed(2)} | ${goal} |`);
    console.log(
      `| idle RSS | ${(wharf.idleRssKb / 1024).toFixed(1)} MB | ${(dockerSide.idleRssKb / 1024).toFixed(1)} MB (dockerd + containerd) | ${(wharf.idleRssKb / dockerSide.idleRssKb).toFixed(2)} | < 60 MB |`,
    );
    const results = join(projectRoot, "bench", "results");
    await mkdir(results, { recursive: true });
    await writeFile(join(results, `images-${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify({ rootfs, runs: RUNS, wharf, docker: dockerSide }, null, 2));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();

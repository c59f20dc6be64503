// Registry benchmarks: wharfd and a reference dockerd on this machine, side by
// side in one run, against the same CNCF Distribution registry on loopback,
// driven through the same Engine API calls (what `docker push`/`docker pull` send).
//
//   push     the ~170 MB Debian image to an empty registry (wharf: its layer
//            not compressed before — a cold push, as docker's always is)
//   push*    the same with wharf's compressed layer remembered (registry still empty)
//   pull     pull + unpack of the same image (the bytes docker pushed) into a store without it
//   present  pull of the image when every layer is present
//
// Every measure alternates which daemon goes first, run by run. Prints a table
// and writes bench/results/distribution-<time>.json.
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { projectRoot, startDockerd, startWharfd, type Daemon } from "../test/support/daemons.js";
import { startRegistry, type Registry } from "../test/support/registry.js";
import { dropCaches, median, snapshotsSettled } from "./support.js";

const { values } = parseArgs({ options: { rootfs: { type: "string" }, runs: { type: "string", default: "3" } } });
if (!values.rootfs) throw new Error("--rootfs <debian rootfs tar> is required (bench/run.sh makes one)");
const rootfs = values.rootfs;
const RUNS = Number(values.runs);

function docker(d: Daemon, args: string[]): string {
  const r = spawnSync("docker", args, { env: d.env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")} against ${d.host} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** One Engine API call whose answer is a JSON progress stream, read to its end; fails on an error line. Resolves with milliseconds. */
function stream(d: Daemon, method: string, path: string): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method, path: `/v1.41${path}`, headers: { "X-Registry-Auth": "e30=" } }, (res) => {
      let tail = "";
      res.on("data", (b: Buffer) => (tail = (tail + b.toString()).slice(-4000)));
      res.on("end", () => {
        if (res.statusCode !== 200 || /"error"/.test(tail)) return reject(new Error(`${method} ${path} on ${d.host}: ${res.statusCode} ${tail}`));
        resolve(Number(process.hrtime.bigint() - start) / 1e6);
      });
    });
    req.on("error", reject);
    req.end();
  });
}

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

interface Side {
  push: number[];
  pushWarm: number[];
  pull: number[];
  present: number[];
}

async function main(): Promise<void> {
  const wharfd = await startWharfd();
  const dockerd = await startDockerd();
  const registries: Registry[] = [];
  const sides = { wharf: { d: wharfd as Daemon, r: { push: [], pushWarm: [], pull: [], present: [] } as Side }, docker: { d: dockerd, r: { push: [], pushWarm: [], pull: [], present: [] } as Side } };
  const order = (i: number) => (i % 2 === 0 ? [sides.wharf, sides.docker] : [sides.docker, sides.wharf]);
  try {
    for (let i = 0; i < RUNS; i++) {
      const registry = await startRegistry();
      registries.push(registry);
      const name = (side: typeof sides.wharf) => `${registry.host}/bench/${side === sides.wharf ? "wharf" : "docker"}`;
      for (const side of order(i)) {
        // A fresh import each run: for wharf the compressed form went with the old image, so this push compresses again.
        for (const image of docker(side.d, ["images", "-q"]).split("\n").filter((x) => x)) spawnSync("docker", ["rmi", "-f", image], { env: side.d.env });
        docker(side.d, ["import", rootfs, `${name(side)}:${i}`]);
      }
      // Cold push to an empty registry.
      for (const side of order(i)) side.r.push.push(await stream(side.d, "POST", `/images/${encodeURIComponent(name(side))}/push?tag=${i}`));
      // Warm push (wharf remembers the compressed layer) to another empty repository of a new registry.
      const second = await startRegistry();
      registries.push(second);
      for (const side of order(i)) {
        const other = `${second.host}/bench/${side === sides.wharf ? "wharf" : "docker"}`;
        docker(side.d, ["tag", `${name(side)}:${i}`, `${other}:${i}`]);
        side.r.pushWarm.push(await stream(side.d, "POST", `/images/${encodeURIComponent(other)}/push?tag=${i}`));
      }
      // Pull + unpack of the image docker pushed, into stores without it.
      const pulled = `${name(sides.docker)}`;
      for (const side of order(i)) {
        for (const image of docker(side.d, ["images", "-q"]).split("\n").filter((x) => x)) spawnSync("docker", ["rmi", "-f", image], { env: side.d.env });
        await snapshotsSettled(wharfd.root);
        dropCaches();
        side.r.pull.push(await stream(side.d, "POST", `/images/create?fromImage=${encodeURIComponent(pulled)}&tag=${i}`));
      }
      for (const side of order(i)) side.r.present.push(await stream(side.d, "POST", `/images/create?fromImage=${encodeURIComponent(pulled)}&tag=${i}`));
      for (const r of registries.splice(0)) await r.stop();
    }
  } finally {
    for (const r of registries) await r.stop();
    await wharfd.stop();
    await dockerd.stop();
  }
  const rows: [string, number, number, string][] = [
    ["push to an empty registry (cold)", median(sides.wharf.r.push), median(sides.docker.r.push), "≤ 0.4"],
    ["push, compressed layer remembered", median(sides.wharf.r.pushWarm), median(sides.docker.r.pushWarm), ""],
    ["pull + unpack into an empty store", median(sides.wharf.r.pull), median(sides.docker.r.pull), "≤ 0.5"],
    ["pull, all layers present", median(sides.wharf.r.present), median(sides.docker.r.present), "< 100 ms"],
  ];
  const lines = [`distribution benchmark, ${RUNS} runs, medians (wharf / docker)`, "", "| measure | wharf | docker | ratio | goal |", "| --- | --- | --- | --- | --- |"];
  for (const [what, w, d, goal] of rows) lines.push(`| ${what} | ${fmt(w)} | ${fmt(d)} | ${(w / d).toFixed(2)} | ${goal} |`);
  console.log(lines.join("\n"));
  const dir = join(projectRoot, "bench", "results");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `distribution-${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify({ runs: RUNS, wharf: sides.wharf.r, docker: sides.docker.r }, null, 2));
}

await main();

// Commit benchmark: `docker commit` of a container that wrote 5,000 files,
// wharfd against a reference dockerd on this machine, side by side in one
// run, both driven by the same docker CLI, with busybox imported into both.
// Each run makes a fresh container on each daemon (untimed), then times the
// commit alone, once wharfd's deletions are done and dirty data is written
// back (the files stay cached, as after a container wrote them); the order
// alternates run by run so drift weighs on both.
//
// Prints the medians and the ratio; writes bench/results/containers-commit-<time>.json.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, rm, writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { projectRoot, startDockerd, startWharfd, unmountBelow, type Daemon } from "../test/support/daemons.js";
import { median, snapshotsSettled, timed } from "./support.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" }, files: { type: "string", default: "5000" } } });
const RUNS = Number(values.runs);
const FILES = Number(values.files);

function docker(d: Daemon, args: string[], input?: Buffer): string {
  const r = spawnSync("docker", args, { env: d.env, input, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")} against ${d.host} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** A stopped container whose layer holds FILES small files in 50 directories. */
function prepare(d: Daemon, name: string): void {
  const script = `i=0; while [ $i -lt ${FILES} ]; do dir=/data/d$((i % 50)); [ -d $dir ] || mkdir -p $dir; echo "file $i" > $dir/f$i; i=$((i+1)); done`;
  docker(d, ["run", "--name", name, "busybox", "sh", "-c", script]);
}

const wharfRoot = await mkdtemp(join(tmpdir(), "bench-commit-wharf-"));
const dockerRoot = await mkdtemp(join(tmpdir(), "bench-commit-docker-"));
const daemons: Daemon[] = [];
try {
  const wharf = await startWharfd({ root: wharfRoot });
  daemons.push(wharf);
  const dockerd = await startDockerd({ root: dockerRoot });
  daemons.push(dockerd);
  const busybox = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });
  for (const d of [wharf, dockerd]) docker(d, ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], busybox);
  const times: Record<"wharf" | "docker", number[]> = { wharf: [], docker: [] };
  for (let run = 0; run < RUNS; run++) {
    const order: ["wharf" | "docker", Daemon][] = run % 2 === 0 ? [["wharf", wharf], ["docker", dockerd]] : [["docker", dockerd], ["wharf", wharf]];
    for (const [, d] of order) prepare(d, `c${run}`);
    for (const [who, d] of order) {
      // Each commit starts from the same state: nothing of the peer's work still being deleted or
      // written back. The files stay cached, as they are for a commit right after a container wrote them.
      await snapshotsSettled(wharf.root);
      execFileSync("sync");
      times[who].push(timed(() => docker(d, ["commit", `c${run}`, `committed:${run}`])));
    }
    // The committed image runs on both: the benchmark measures real commits.
    for (const [, d] of order) {
      const n = docker(d, ["run", "--rm", `committed:${run}`, "sh", "-c", "find /data -type f | wc -l"]).trim();
      if (n !== String(FILES)) throw new Error(`committed image has ${n} files, expected ${FILES}`);
    }
    for (const [, d] of order) docker(d, ["rm", `c${run}`]);
  }
  const w = median(times.wharf);
  const k = median(times.docker);
  const ratio = w / k;
  console.log(`commit of a container with ${FILES} new files, ${RUNS} runs, medians`);
  console.log(`  wharf  ${w.toFixed(0)} ms   (${times.wharf.map((t) => t.toFixed(0)).join(", ")})`);
  console.log(`  docker ${k.toFixed(0)} ms   (${times.docker.map((t) => t.toFixed(0)).join(", ")})`);
  console.log(`  ratio  ${ratio.toFixed(2)} (goal ≤ 0.5)`);
  const dir = join(projectRoot, "bench", "results");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `containers-commit-${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify({ files: FILES, runs: RUNS, times, ratio }, null, 2));
} finally {
  for (const d of daemons.reverse()) await d.stop().catch(() => {});
  for (const root of [wharfRoot, dockerRoot]) {
    await unmountBelow(root).catch(() => {});
    await rm(root, { recursive: true, force: true }).catch(() => {});
  }
}

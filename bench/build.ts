// Build benchmark: the same multi-stage Dockerfile over a Debian base with a
// 2,000-file context, built by wharfd and by a reference dockerd (legacy
// builder) through the same docker CLI, and by buildah when it is installed,
// side by side in one run, builder by builder in an order that rotates each run:
//
//   cold      --no-cache: every step runs
//   cached    nothing changed: every step from the cache
//   one-file  one context file changed: the steps after the COPY that reads it run
//
// Prints a table with wharf/peer ratios and writes bench/results/build-<time>.json.
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { hasCommand, projectRoot, startDockerd, startWharfd, type Daemon } from "../test/support/daemons.js";
import { dropCaches, median } from "./support.js";

const { values } = parseArgs({
  options: {
    rootfs: { type: "string" },
    runs: { type: "string", default: "3" },
    files: { type: "string", default: "2000" },
  },
});
if (!values.rootfs) throw new Error("--rootfs <debian rootfs tar> is required (bench/make-debian.sh makes one)");
const RUNS = Number(values.runs);
const FILES = Number(values.files);

const DOCKERFILE = `FROM debian:bench AS build
RUN mkdir -p /work && seq 1 200000 > /work/numbers && echo built > /work/marker
COPY src /work/src
RUN find /work/src -type f | sort | xargs cat | sha256sum > /work/sum

FROM debian:bench AS tools
RUN mkdir -p /opt/tools && for i in $(seq 1 50); do echo "tool $i" > /opt/tools/t$i; done

FROM debian:bench
ENV APP=/app
RUN mkdir -p /app && useradd -m app
COPY --from=tools /opt/tools /opt/tools
COPY --from=build /work/sum /app/sum
COPY src /app/src
RUN ls -R /app/src | wc -l > /app/count && chown -R app /app
WORKDIR /app
USER app
CMD ["cat", "/app/sum"]
`;

interface Peer {
  readonly name: string;
  build(context: string, extra: string[]): void;
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): string {
  const r = spawnSync(cmd, args, { env, input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr?.toString()}\n${r.stdout?.toString().slice(-2000)}`);
  return r.stdout.toString();
}

function dockerPeer(name: string, d: Daemon): Peer {
  const env = { ...d.env, DOCKER_BUILDKIT: "0" };
  return { name, build: (context, extra) => void sh("docker", ["build", "-q", "-t", "bench:latest", ...extra, context], env) };
}

function wharfCliPeer(d: Daemon): Peer {
  return { name: "wharf-cli", build: (context, extra) => void sh(join(projectRoot, "bin", "wharf"), ["-H", d.host, "build", "-q", "-t", "bench:latest", ...extra, context], process.env) };
}

function buildahPeer(root: string): Peer {
  const base = ["--root", join(root, "storage"), "--runroot", join(root, "run"), "--storage-driver", "overlay"];
  return {
    name: "buildah",
    build: (context, extra) => void sh("buildah", [...base, "bud", "--layers", "--isolation", "chroot", "-q", "-t", "bench:latest", ...extra, context], process.env),
  };
}

function timed(fn: () => void, creates: boolean): number {
  // Dirty pages of the builder before are written back first, outside the timing: each builder pays
  // for its own writes only. Before a build that creates files the caches are dropped too, so it
  // does not pay for the deletions of the one before (support.ts); a cached rebuild creates none and
  // runs warm, as it does for a user right after a build.
  if (creates) dropCaches();
  else spawnSync("sync");
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function makeContext(root: string): Promise<string> {
  const dir = await mkdtemp(join(root, "ctx-"));
  await writeFile(join(dir, "Dockerfile"), DOCKERFILE);
  const perDir = 100;
  for (let i = 0; i < FILES; i++) {
    const d = join(dir, "src", `d${Math.floor(i / perDir)}`);
    if (i % perDir === 0) await mkdir(d, { recursive: true });
    await writeFile(join(d, `f${i}.txt`), `file ${i}\n${"x".repeat(i % 500)}\n`);
  }
  return dir;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "wharf-bench-build-"));
  const daemons: Daemon[] = [];
  try {
    const [wharfd, dockerd] = await Promise.all([startWharfd(), startDockerd()]);
    daemons.push(wharfd, dockerd);
    const tar = await readFile(values.rootfs!);
    for (const d of [wharfd, dockerd]) sh("docker", ["import", "-c", 'CMD ["bash"]', "-", "debian:bench"], d.env, tar);
    // wharf twice: through the docker CLI (the same client as docker's) and through its own CLI.
    const peers: Peer[] = [dockerPeer("wharf", wharfd), wharfCliPeer(wharfd), dockerPeer("docker", dockerd)];
    if (hasCommand("buildah")) {
      const broot = join(work, "buildah");
      const archive = join(work, "debian.tar");
      sh("docker", ["save", "-o", archive, "debian:bench"], dockerd.env);
      const base = ["--root", join(broot, "storage"), "--runroot", join(broot, "run"), "--storage-driver", "overlay"];
      sh("buildah", [...base, "pull", "-q", `docker-archive:${archive}`], process.env);
      sh("buildah", [...base, "tag", "debian:bench", "localhost/debian:bench"], process.env);
      peers.push(buildahPeer(broot));
    }
    const context = await makeContext(work);
    const changed = join(context, "src", "d7", "f700.txt");
    const times = new Map<string, Record<string, number[]>>();
    for (const p of peers) times.set(p.name, { cold: [], cached: [], "one-file": [] });
    for (const p of peers) p.build(context, []); // warm the base and the cache once
    for (let run = 0; run < RUNS; run++) {
      // The order rotates run by run, so no builder always goes first (or after the same one).
      const order = peers.map((_, i) => peers[(i + run) % peers.length]!);
      for (const p of order) {
        const t = times.get(p.name)!;
        t.cold!.push(timed(() => p.build(context, ["--no-cache"]), true));
        t.cached!.push(timed(() => p.build(context, []), false));
        await writeFile(changed, `changed ${run} for ${p.name} ${Date.now()}\n`);
        t["one-file"]!.push(timed(() => p.build(context, []), true));
      }
    }
    const rows: Record<string, Record<string, number>> = {};
    for (const [name, t] of times) rows[name] = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
    const scenarios = ["cold", "cached", "one-file"];
    const others = peers.filter((p) => !p.name.startsWith("wharf"));
    const ratios: [string, string][] = [["wharf", "docker"], ["wharf-cli", "docker"], ...others.filter((p) => p.name !== "docker").map((p): [string, string] => ["wharf", p.name])];
    const header = ["scenario", ...peers.map((p) => p.name), ...ratios.map(([a, b]) => `${a}/${b}`)];
    console.log(header.map((h) => h.padEnd(18)).join(""));
    for (const s of scenarios) {
      const cells = [s, ...peers.map((p) => `${(rows[p.name]![s]! / 1000).toFixed(2)} s`), ...ratios.map(([a, b]) => `${(rows[a]![s]! / rows[b]![s]!).toFixed(2)}×`)];
      console.log(cells.map((c) => c.padEnd(18)).join(""));
    }
    const out = join(projectRoot, "bench", "results");
    await mkdir(out, { recursive: true });
    const file = join(out, `build-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    await writeFile(file, JSON.stringify({ files: FILES, runs: RUNS, medianMs: rows, samplesMs: Object.fromEntries(times) }, null, 2));
    console.log(`\nwritten to ${file}`);
  } finally {
    for (const d of daemons) await d.stop().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

await main();

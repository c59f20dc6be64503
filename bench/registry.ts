// Registry benchmarks: `wharf registry serve` and CNCF Distribution 2.8
// (Debian's docker-registry) on this machine, side by side in one run, both
// over a filesystem store in their own temp roots, driven by the same client.
//
//   push    blobs of 1 MB and 100 MB, 1 and 16 concurrent clients (POST, then PUT with the body)
//   pull    the same blobs, GET, bytes counted and dropped; again with curl as the client, and
//           with bench/pull-client.c (the body spliced to /dev/null, never copied into the client)
//   manifest  GET of one manifest by tag, 16 concurrent keep-alive clients; p50 / p99
//   rss     peak VmRSS of the server while it serves 16 concurrent 100 MB pulls
//
// Each server is warmed up first (pushes and pulls that are not measured), so
// that the first measure of a run finds both in their steady state. Each
// measure alternates which server goes first run by run, after a sync so that
// neither pushes while the other's writes go to disk. Prints a table
// and writes bench/results/registry-<time>.json.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { projectRoot } from "../test/support/daemons.js";
import { median } from "./support.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    "manifest-requests": { type: "string", default: "4000" },
    "big-mb": { type: "string", default: "100" },
  },
});
const RUNS = Number(values.runs);
const MANIFEST_REQUESTS = Number(values["manifest-requests"]);
const BIG = Number(values["big-mb"]) * 1024 * 1024;
const MB = 1024 * 1024;

interface Server {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** Stops and starts the server again over the same root (a fresh process for the memory measure). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitUp(url: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${log()}`);
    const ok = await new Promise<boolean>((r) => {
      const req = request(`${url}/v2/`, { agent: false }, (res) => {
        res.resume();
        r(res.statusCode === 200);
      });
      req.on("error", () => r(false));
      req.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server at ${url} did not come up: ${log()}`);
}

async function startServer(name: string, cmd: string, args: string[], url: string, root: string): Promise<Server> {
  let child: ChildProcess;
  const spawnIt = async () => {
    child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    await waitUp(url, child, () => err);
  };
  const kill = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  };
  await spawnIt();
  return {
    name,
    url,
    get pid() {
      return child.pid!;
    },
    async restart() {
      await kill();
      await spawnIt();
    },
    async stop() {
      await kill();
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function startWharf(): Promise<Server> {
  const root = await mkdtemp(join(tmpdir(), "bench-wharf-registry-"));
  const port = await freePort();
  return startServer("wharf", join(projectRoot, "bin", "wharf"), ["registry", "serve", "--addr", `127.0.0.1:${port}`, "--root", root, "--log-level", "error"], `http://127.0.0.1:${port}`, root);
}

async function startDistribution(): Promise<Server> {
  const root = await mkdtemp(join(tmpdir(), "bench-distribution-"));
  const port = await freePort();
  const config = join(root, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  cache:",
      "    blobdescriptor: inmemory",
      "  filesystem:",
      `    rootdirectory: ${join(root, "data")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  return startServer("distribution", "docker-registry", ["serve", config], `http://127.0.0.1:${port}`, root);
}

/** A blob of `size` bytes sharing one buffer with every other blob of that size: 8 leading bytes differ. */
interface TestBlob {
  readonly head: Buffer;
  readonly body: Buffer;
  readonly digest: string;
  readonly size: number;
}

function makeBlobs(count: number, size: number, body: Buffer): TestBlob[] {
  return Array.from({ length: count }, () => {
    const head = randomBytes(8);
    const rest = body.subarray(0, size - 8);
    const digest = `sha256:${createHash("sha256").update(head).update(rest).digest("hex")}`;
    return { head, body: rest, digest, size };
  });
}

function http(url: string, options: { method: string; headers?: Record<string, string | number>; agent: Agent }, body?: TestBlob | Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers ?? {}, agent: options.agent }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else if (body) {
      req.write(body.head);
      req.end(body.body);
    } else req.end();
  });
}

async function pushBlob(server: Server, repo: string, blob: TestBlob, agent: Agent): Promise<void> {
  const post = await http(`${server.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { "Content-Length": 0 }, agent });
  if (post.status !== 202) throw new Error(`${server.name}: POST upload answered ${post.status}`);
  const loc = new URL(String(post.headers.location), server.url);
  loc.searchParams.set("digest", blob.digest);
  const put = await http(loc.toString(), { method: "PUT", headers: { "Content-Length": blob.size, "Content-Type": "application/octet-stream" }, agent }, blob);
  if (put.status !== 201) throw new Error(`${server.name}: PUT upload answered ${put.status}`);
}

async function pullBlob(server: Server, repo: string, blob: TestBlob, agent: Agent): Promise<void> {
  const r = await http(`${server.url}/v2/${repo}/blobs/${blob.digest}`, { method: "GET", agent });
  if (r.status !== 200 || r.bytes !== blob.size) throw new Error(`${server.name}: GET blob answered ${r.status} with ${r.bytes} bytes`);
}

/** Runs `blobs` through `op` with `clients` concurrent clients; returns MB/s. */
async function throughput(server: Server, clients: number, blobs: readonly TestBlob[], op: (s: Server, b: TestBlob, a: Agent) => Promise<void>): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < blobs.length) await op(server, blobs[next++]!, agent);
    }),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return blobs.reduce((n, b) => n + b.size, 0) / MB / secs;
}

/** A pull client run as one process per concurrent client: the command that fetches `paths` on one kept-alive connection and prints "<status> <bytes>" per path. */
type PullCommand = (server: Server, paths: readonly string[]) => [string, string[]];

/**
 * curl, each body into /dev/null: a C client that does not saturate before
 * the server, as the Node client does near 1.2 GB/s on this machine.
 */
const curl: PullCommand = (server, paths) => ["curl", ["-s", "-w", "%{http_code} %{size_download}\n", ...paths.flatMap((p) => ["-o", "/dev/null", `${server.url}${p}`])]];

/**
 * bench/pull-client.c: the body goes from the socket to /dev/null by splice
 * and never enters the client, so on this shared 2-core machine the servers'
 * own costs decide, as they would with clients on other machines.
 */
function spliceClient(binary: string): PullCommand {
  return (server, paths) => {
    const { hostname, port } = new URL(server.url);
    return [binary, [hostname, port, ...paths]];
  };
}

/** Builds bench/pull-client.c into `dir`; returns the binary's path. */
function buildSpliceClient(dir: string): string {
  const out = join(dir, "pull-client");
  execFileSync("cc", ["-O2", "-Wall", "-Werror", "-o", out, join(projectRoot, "bench", "pull-client.c")], { stdio: "inherit" });
  return out;
}

/** Pull throughput with `command` as the client, one process per concurrent client, each fetching its share; returns MB/s. */
async function processThroughput(server: Server, clients: number, repo: string, blobs: readonly TestBlob[], command: PullCommand): Promise<number> {
  const shares: TestBlob[][] = Array.from({ length: clients }, () => []);
  blobs.forEach((b, i) => shares[i % clients]!.push(b));
  const start = process.hrtime.bigint();
  await Promise.all(
    shares
      .filter((share) => share.length > 0)
      .map(
        (share) =>
          new Promise<void>((resolve, reject) => {
            const [cmd, args] = command(server, share.map((b) => `/v2/${repo}/blobs/${b.digest}`));
            const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
            let out = "";
            child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
            child.on("error", reject);
            child.on("close", (code) => {
              const lines = out.trim().split("\n");
              const bad = lines.findIndex((l, i) => l !== `200 ${share[i]!.size}`);
              if (code !== 0 || lines.length !== share.length || bad !== -1) reject(new Error(`${server.name}: ${cmd} pull answered ${JSON.stringify(out.slice(0, 200))} (exit ${code})`));
              else resolve();
            });
          }),
      ),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return blobs.reduce((n, b) => n + b.size, 0) / MB / secs;
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function pushManifest(server: Server, agent: Agent): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const configBlob: TestBlob = { head: config.subarray(0, 8), body: config.subarray(8), digest: `sha256:${createHash("sha256").update(config).digest("hex")}`, size: config.length };
  await pushBlob(server, "bench/manifest", configBlob, agent);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configBlob.digest, size: config.length }, layers: [] }));
  const r = await http(`${server.url}/v2/bench/manifest/manifests/latest`, { method: "PUT", headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json", "Content-Length": manifest.length }, agent }, manifest);
  if (r.status !== 201) throw new Error(`${server.name}: PUT manifest answered ${r.status}`);
}

async function manifestLatency(server: Server, clients: number, total: number): Promise<{ p50: number; p99: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const times: number[] = [];
  let left = total;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (left-- > 0) {
        const t = process.hrtime.bigint();
        const r = await http(`${server.url}/v2/bench/manifest/manifests/latest`, { method: "GET", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" }, agent });
        if (r.status !== 200) throw new Error(`${server.name}: GET manifest answered ${r.status}`);
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  agent.destroy();
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length * 0.5)]!, p99: times[Math.floor(times.length * 0.99)]! };
}

async function main(): Promise<void> {
  const shared = randomBytes(BIG);
  const tools = await mkdtemp(join(tmpdir(), "wharf-bench-client-"));
  let splice: PullCommand;
  const servers: Server[] = [];
  try {
    splice = spliceClient(buildSpliceClient(tools));
    servers.push(await startWharf());
    servers.push(await startDistribution());
  } catch (e) {
    // A server that started is stopped again when the other cannot start.
    for (const s of servers) await s.stop().catch(() => {});
    await rm(tools, { recursive: true, force: true });
    throw e;
  }
  const results: Record<string, Record<string, number[]>> = { wharf: {}, distribution: {} };
  const add = (server: string, key: string, v: number) => ((results[server]![key] ??= []).push(v));
  try {
    // Not measured: what a server does at its first requests (a JIT compiling its
    // handlers, a heap and its pools growing) is not what it does when it has run a while.
    for (const server of servers) {
      for (const [size, count] of [[MB, 64], [BIG, 2]] as const) {
        const blobs = makeBlobs(count, size, shared);
        await throughput(server, 16, blobs, (s, b, a) => pushBlob(s, "bench/warmup", b, a));
        await throughput(server, 16, blobs, (s, b, a) => pullBlob(s, "bench/warmup", b, a));
      }
    }
    for (let run = 0; run < RUNS; run++) {
      const order = run % 2 === 0 ? servers : [...servers].reverse();
      for (const [label, size, clients, count] of [
        ["1MB×1", MB, 1, 64],
        ["1MB×16", MB, 16, 256],
        ["100MB×1", BIG, 1, 4],
        ["100MB×16", BIG, 16, 16],
      ] as const) {
        for (const server of order) {
          const blobs = makeBlobs(count, size, shared);
          const repo = `bench/r${run}`;
          let peak = 0;
          const sampler = size === BIG && clients === 16 ? setInterval(() => void rssKb(server.pid).then((kb) => (peak = Math.max(peak, kb))), 25) : undefined;
          // What the server before wrote must not be flushed to disk during this one's pushes.
          execFileSync("sync");
          add(server.name, `push ${label}`, await throughput(server, clients, blobs, (s, b, a) => pushBlob(s, repo, b, a)));
          if (sampler) add(server.name, "rss MB, 16×100MB pushes", peak / 1024);
          add(server.name, `pull ${label}`, await throughput(server, clients, blobs, (s, b, a) => pullBlob(s, repo, b, a)));
          add(server.name, `pull ${label}, curl`, await processThroughput(server, clients, repo, blobs, curl));
          add(server.name, `pull ${label}, splice`, await processThroughput(server, clients, repo, blobs, splice));
          if (sampler) {
            // Memory while serving pulls, in a fresh process, so the pushes before do not count.
            clearInterval(sampler);
            await server.restart();
            peak = 0;
            const again = setInterval(() => void rssKb(server.pid).then((kb) => (peak = Math.max(peak, kb))), 25);
            await throughput(server, clients, blobs, (s, b, a) => pullBlob(s, repo, b, a));
            clearInterval(again);
            add(server.name, "rss MB, 16×100MB pulls", peak / 1024);
          }
        }
      }
      for (const server of order) {
        if (run === 0) await pushManifest(server, new Agent());
        const { p50, p99 } = await manifestLatency(server, 16, MANIFEST_REQUESTS);
        add(server.name, "manifest GET p50 ms", p50);
        add(server.name, "manifest GET p99 ms", p99);
      }
      process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
    }
  } finally {
    for (const s of servers) await s.stop();
    await rm(tools, { recursive: true, force: true });
  }
  const rows = Object.keys(results.wharf!).map((key) => {
    const w = median(results.wharf![key]!);
    const d = median(results.distribution![key]!);
    return { key, wharf: w, distribution: d, ratio: w / d };
  });
  const width = Math.max(...rows.map((r) => r.key.length));
  process.stdout.write(`${"measure".padEnd(width)}  ${"wharf".padStart(9)}  ${"distribution".padStart(12)}  ratio (wharf/distribution)\n`);
  for (const r of rows) process.stdout.write(`${r.key.padEnd(width)}  ${r.wharf.toFixed(1).padStart(9)}  ${r.distribution.toFixed(1).padStart(12)}  ${r.ratio.toFixed(2)}\n`);
  process.stdout.write("(throughput in MB/s: higher is better; latency and RSS: lower is better)\n");
  const dir = join(projectRoot, "bench", "results");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `registry-${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify({ runs: RUNS, results, rows }, null, 2));
}

await main();

// Registries for tests and benchmarks: CNCF Distribution (Debian's
// docker-registry) or `wharf registry serve`, each in a process of its own
// with its storage root in a temp dir, on a free loopback port, stopped by PID
// and removed even when the caller fails.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { projectRoot } from "./daemons.js";

export interface Registry {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly root: string;
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

function answers(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`http://${host}/v2/`, { timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** `wharf registry serve` in a child process (so a test may block on a client while it serves). */
export async function startWharfRegistry(): Promise<Registry> {
  const root = await mkdtemp(join(tmpdir(), "wharf-registry-test-"));
  const host = `127.0.0.1:${await freePort()}`;
  const bin = join(projectRoot, "bin", "wharf");
  const child = spawn(bin, ["registry", "serve", "--addr", host, "--root", join(root, "data"), "--log-level", "error"], { stdio: ["ignore", "ignore", "pipe"] });
  return running("wharf registry serve", child, host, root);
}

export async function startRegistry(options: { auth?: { htpasswd: string } } = {}): Promise<Registry> {
  const root = await mkdtemp(join(tmpdir(), "registry-test-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const auth = options.auth ? `auth:\n  htpasswd:\n    realm: test\n    path: ${options.auth.htpasswd}\n` : "";
  await writeFile(
    join(root, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(root, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n${auth}`,
  );
  const child = spawn("docker-registry", ["serve", join(root, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
  return running("docker-registry", child, host, root);
}

/** Waits until the registry answers `/v2/`; its stop ends the process and removes its root. */
async function running(what: string, child: ChildProcess, host: string, root: string): Promise<Registry> {
  let log = "";
  child.stderr?.on("data", (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    await rm(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  while (!(await answers(host))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${what} did not start on ${host}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host, root, stop };
}

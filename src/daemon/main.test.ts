// wharfd's command line as an operator meets it: the real entry point, run as a process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { bareFilterTable, renderFilterRemove } from "../network/nft.js";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { call } from "../api/testing.js";

const wharfd = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "bin", "wharfd");
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [wharfd, ...args], { encoding: "utf8", timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test("an unknown flag exits 1 with one line on stderr", () => {
  const r = run("--bogus");
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "wharfd: unknown flag: --bogus (see 'wharfd --help')\n");
  assert.equal(r.stdout, "");
});

test("a TCP host exits 1 explaining that TLS is needed", () => {
  const r = run("-H", "tcp://0.0.0.0:2375");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^wharfd: invalid host "tcp:\/\/0\.0\.0\.0:2375": TCP is served only with TLS/);
  assert.equal(r.stderr.split("\n").length, 2);
});

test("--help and --version print and exit 0", () => {
  const help = run("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--data-root string/);
  const version = run("--version");
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^wharfd version \d+\.\d+\.\d+, build \S+\n$/);
});

test("wharfd serves, and on SIGTERM stops, removing its socket and pid file and exiting 0", { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "wharfd-main-"));
  const socket = join(dir, "w.sock");
  const pidfile = join(dir, "w.pid");
  // A bridge and subnet of the test's own: the machine's wharfd (wharf0) is never touched.
  const bridge = `wm${process.pid % 100000}`;
  const bip = `10.${200 + (process.pid % 40)}.${process.pid % 250}.1/24`;
  const child = spawn(process.execPath, [wharfd, "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"), "-H", `unix://${socket}`, "--pidfile", pidfile, "--bridge", bridge, "--bip", bip], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    let up = false;
    while (!up && Date.now() < deadline && child.exitCode === null) {
      up = await call(socket, "GET", "/_ping").then((a) => a.status === 200, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(up, `wharfd did not come up: ${log}`);
    assert.equal(Number((await readFile(pidfile, "utf8")).trim()), child.pid);
    child.kill("SIGTERM");
    assert.equal(await exited, 0, log);
    await assert.rejects(stat(socket), { code: "ENOENT" });
    await assert.rejects(stat(pidfile), { code: "ENOENT" });
    for (const line of log.trim().split("\n")) assert.doesNotThrow(() => JSON.parse(line), `log lines are JSON: ${line}`);
  } finally {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    // wharfd keeps its bridge and table when it stops, as dockerd keeps docker0: the test removes its own.
    spawnSync("ip", ["link", "del", bridge], { stdio: "ignore" });
    spawnSync("nft", ["delete", "table", "ip", bridge], { stdio: "ignore" });
    const script = renderFilterRemove(bridge, spawnSync("nft", ["-j", "list", "chain", "ip", "filter", "FORWARD"], { encoding: "utf8" }).stdout ?? "");
    if (script) spawnSync("nft", ["-f", "-"], { input: script, stdio: ["pipe", "ignore", "ignore"] });
    if (bareFilterTable(spawnSync("nft", ["-j", "list", "table", "ip", "filter"], { encoding: "utf8" }).stdout ?? "")) spawnSync("nft", ["delete", "table", "ip", "filter"], { stdio: "ignore" });
  }
});

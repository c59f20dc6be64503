// The daemon's lifecycle over an in-memory image service: roots, pid file,
// socket, engine id, refusal of a second daemon, and a clean stop.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeImages, call } from "../api/testing.js";
import { isKind, nullLogger } from "../internal/index.js";
import type { DaemonConfig } from "./config.js";
import { startDaemon, type DaemonParts } from "./daemon.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "wharfd-daemon-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (name: string): DaemonConfig => ({
  dataRoot: join(dir, name, "data"),
  execRoot: join(dir, name, "exec"),
  sockets: [join(dir, name, "exec", "wharf.sock")],
  pidfile: join(dir, name, "exec", "wharfd.pid"),
  logLevel: "info",
  debug: false,
  runtimes: { runc: "runc" },
  defaultRuntime: "runc",
});

function parts(): DaemonParts & { closed: number } {
  const p = {
    closed: 0,
    build: { version: "9.8.7", gitCommit: "abc1234", buildTime: "2024-01-01T00:00:00.000Z" },
    logger: nullLogger,
    openImages: async () => ({ images: new FakeImages(), close: async () => void p.closed++ }),
  };
  return p;
}

test("a started daemon serves its socket, writes its pid, and removes both when stopped", async () => {
  const c = config("one");
  const p = parts();
  const d = await startDaemon(c, p);
  try {
    assert.equal((await stat(c.dataRoot)).mode & 0o777, 0o700);
    assert.equal((await stat(c.execRoot)).mode & 0o777, 0o711);
    assert.equal((await stat(c.sockets[0]!)).mode & 0o777, 0o660);
    assert.equal(await readFile(c.pidfile, "utf8"), String(process.pid));
    const ping = await call(c.sockets[0]!, "GET", "/_ping");
    assert.equal(ping.headers["server"], "Docker/9.8.7 (linux)");
    const info = (await call(c.sockets[0]!, "GET", "/info")).json<{ ID: string; DockerRootDir: string }>();
    assert.equal(info.DockerRootDir, c.dataRoot);
    assert.equal(info.ID, (await readFile(join(c.dataRoot, "engine-id"), "utf8")).trim());
  } finally {
    await d.stop(100);
  }
  await assert.rejects(stat(c.sockets[0]!), { code: "ENOENT" });
  await assert.rejects(stat(c.pidfile), { code: "ENOENT" });
  assert.equal(p.closed, 1);
});

test("the engine id survives a restart", async () => {
  const c = config("restart");
  const first = await startDaemon(c, parts());
  await first.stop(100);
  const id = await readFile(join(c.dataRoot, "engine-id"), "utf8");
  const second = await startDaemon(c, parts());
  await second.stop(100);
  assert.equal(await readFile(join(c.dataRoot, "engine-id"), "utf8"), id);
});

test("a pid file of a live process refuses the start and leaves the file alone", async () => {
  const c = config("pid");
  await startDaemon(c, parts()).then((d) => d.stop(100));
  await writeFile(c.pidfile, "1");
  await assert.rejects(startDaemon(c, parts()), (e: unknown) => isKind(e, "conflict"));
  assert.equal(await readFile(c.pidfile, "utf8"), "1");
});

test("a socket another daemon serves refuses the start; cleanup leaves the other running", async () => {
  const c = config("busy");
  const p = parts();
  const running = await startDaemon(c, p);
  try {
    const other = { ...c, pidfile: join(dir, "busy", "other.pid"), dataRoot: join(dir, "busy", "data2") };
    const p2 = parts();
    await assert.rejects(startDaemon(other, p2), /another daemon is serving it/);
    await assert.rejects(stat(other.pidfile), { code: "ENOENT" });
    assert.equal((await call(c.sockets[0]!, "GET", "/_ping")).status, 200);
  } finally {
    await running.stop(100);
  }
});

test("a socket left by a crashed daemon is replaced", async () => {
  const c = config("crashed");
  const first = await startDaemon(c, parts());
  // Simulate a crash: the pid file names a dead process, the socket file remains but nobody listens.
  await first.stop(100);
  const { spawnSync } = await import("node:child_process");
  spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(c.sockets[0])}, () => process.exit(0))`]);
  assert.ok((await stat(c.sockets[0]!)).isSocket());
  const d = await startDaemon(c, parts());
  try {
    assert.equal((await call(c.sockets[0]!, "GET", "/_ping")).status, 200);
  } finally {
    await d.stop(100);
  }
});

test("a registry config that cannot be used refuses the start before anything is made", async () => {
  const c = config("regconf");
  const file = join(dir, "regconf.json");
  await writeFile(file, JSON.stringify({ gc: { intervalSeconds: 60 } }));
  const p = parts();
  await assert.rejects(startDaemon({ ...c, registry: { configFile: file } }, p), /"gc" is for wharf registry serve/);
  await assert.rejects(stat(c.dataRoot), (e: unknown) => (e as NodeJS.ErrnoException).code === "ENOENT");
  await writeFile(file, "{ not json");
  await assert.rejects(startDaemon({ ...c, registry: { configFile: file } }, p), /read config/);
  await assert.rejects(startDaemon({ ...c, registry: { configFile: join(dir, "missing.json") } }, p), /read config/);
  assert.equal(p.closed, 0);
});

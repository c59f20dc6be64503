import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKind } from "../internal/index.js";
import { acquirePidfile, clearStaleSocket, processAlive } from "./pidfile.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "wharfd-pidfile-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  const pid = Number(r.stdout.toString());
  assert.equal(processAlive(pid), false);
  return pid;
}

test("the pid file is written with this process's pid and removed on release", async () => {
  const path = join(dir, "a", "wharfd.pid");
  const pf = await acquirePidfile(path);
  assert.equal(await readFile(path, "utf8"), String(process.pid));
  await pf.release();
  await assert.rejects(stat(path), { code: "ENOENT" });
});

test("a pid file naming a live process refuses the start", async () => {
  const path = join(dir, "live.pid");
  await writeFile(path, "1");
  await assert.rejects(acquirePidfile(path), (e: unknown) => isKind(e, "conflict") && /pid file found, ensure wharfd is not running or delete/.test((e as Error).message));
  assert.equal(await readFile(path, "utf8"), "1");
});

test("a stale or garbled pid file is replaced", async () => {
  for (const content of [String(deadPid()), "garbage", ""]) {
    const path = join(dir, "stale.pid");
    await writeFile(path, content);
    const pf = await acquirePidfile(path);
    assert.equal(await readFile(path, "utf8"), String(process.pid));
    await pf.release();
  }
});

test("a stale socket is removed, a live one and a regular file are refused", async () => {
  const stale = join(dir, "stale.sock");
  // A process that exits without closing its server leaves the socket file behind.
  spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
  assert.ok((await stat(stale)).isSocket());
  await clearStaleSocket(stale);
  await assert.rejects(stat(stale), { code: "ENOENT" });

  const live = join(dir, "live.sock");
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(live, r));
  try {
    await assert.rejects(clearStaleSocket(live), (e: unknown) => isKind(e, "conflict") && /another daemon is serving it/.test((e as Error).message));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }

  const file = join(dir, "file.sock");
  await writeFile(file, "");
  await assert.rejects(clearStaleSocket(file), /is not a socket/);
  await clearStaleSocket(join(dir, "absent.sock"));
});

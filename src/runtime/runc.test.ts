import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runc } from "./runc.js";

// runc's created state, as far as start sees it: <root>/<id>/exec.fifo, which
// the container's init opens for writing and writes "0" to before it runs the process.
async function createdState(): Promise<{ root: string; fifo: string }> {
  const root = await mkdtemp(join(tmpdir(), "wharf-runc-"));
  await mkdir(join(root, "c1"));
  const fifo = join(root, "c1", "exec.fifo");
  execFileSync("mkfifo", ["-m", "0622", fifo]);
  return { root, fifo };
}

test("start reads the exec FIFO the init waits on, as runc start does, and removes it", async () => {
  const { root, fifo } = await createdState();
  try {
    // The init's side: blocks opening for writing until start reads, then writes "0".
    const init = spawn("sh", ["-c", `printf 0 > ${fifo}; sleep 30`], { stdio: "ignore" });
    try {
      await new Runc("runc", root).start("c1", init.pid);
      await assert.rejects(stat(fifo), { code: "ENOENT" });
    } finally {
      init.kill("SIGKILL");
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("start of a container whose init died refuses at once instead of waiting on the FIFO", async () => {
  const { root } = await createdState();
  try {
    const gone = spawn("true");
    await new Promise((resolve) => gone.on("exit", resolve));
    const began = Date.now();
    await assert.rejects(new Runc("runc", root).start("c1", gone.pid), /start container c1: container process is already dead/);
    assert.ok(Date.now() - began < 5_000);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("startHeld lets a process still held at its start go, and leaves a started one alone", async () => {
  const { root, fifo } = await createdState();
  try {
    const init = spawn("sh", ["-c", `printf 0 > ${fifo}; sleep 30`], { stdio: "ignore" });
    try {
      const runc = new Runc("runc", root);
      await runc.startHeld("c1", init.pid!);
      await assert.rejects(stat(fifo), { code: "ENOENT" });
      // Started already: no FIFO, nothing to do (runc start would refuse).
      await runc.startHeld("c1", init.pid!);
    } finally {
      init.kill("SIGKILL");
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

// A runc state as state.json holds it, with plain directories for its cgroups, and a stand-in runc that logs its calls.
async function stoppedState(initPid: number, initStart: number): Promise<{ root: string; cgroups: string[]; runc: string; calls: string }> {
  const root = await mkdtemp(join(tmpdir(), "wharf-runc-"));
  const cgroups = [join(root, "cg", "memory", "c1"), join(root, "cg", "pids", "c1")];
  for (const d of cgroups) await mkdir(d, { recursive: true });
  await mkdir(join(root, "state", "c1"), { recursive: true });
  const state = { init_process_pid: initPid, init_process_start: initStart, config: { namespaces: [{ type: "NEWPID", path: "" }, { type: "NEWNS", path: "" }] }, cgroup_paths: { memory: cgroups[0], pids: cgroups[1], "": cgroups[0] } };
  await writeFile(join(root, "state", "c1", "state.json"), JSON.stringify(state));
  const calls = join(root, "calls");
  const runc = join(root, "bin", "runc");
  await mkdir(join(root, "bin"));
  await writeFile(runc, `#!/bin/sh\necho "$@" >> ${calls}\n`, { mode: 0o755 });
  return { root, cgroups, runc, calls };
}

function startTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

test("delete of a container whose init is gone removes its cgroups and state itself, without runc", async () => {
  const gone = spawn("true");
  await new Promise((resolve) => gone.on("exit", resolve));
  const { root, cgroups, runc, calls } = await stoppedState(gone.pid!, 12345);
  try {
    await new Runc(runc, join(root, "state")).delete("c1", true);
    for (const d of cgroups) await assert.rejects(stat(d), { code: "ENOENT" });
    await assert.rejects(stat(join(root, "state", "c1")), { code: "ENOENT" });
    await assert.rejects(stat(calls), { code: "ENOENT" }, "runc was not run");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("delete of a container whose init runs, or whose cgroup is busy, is runc's", async () => {
  const init = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    const live = await stoppedState(init.pid!, startTime(init.pid!));
    try {
      await new Runc(live.runc, join(live.root, "state")).delete("c1", true);
      assert.match(await readFile(live.calls, "utf8"), /delete --force c1/);
      assert.ok((await stat(live.cgroups[0]!)).isDirectory());
    } finally {
      await rm(live.root, { recursive: true, force: true });
    }
    // The same pid with another start time is another process: the container's init is gone.
    const reused = await stoppedState(init.pid!, startTime(init.pid!) + 1);
    try {
      await writeFile(join(reused.cgroups[1]!, "busy"), "");
      await new Runc(reused.runc, join(reused.root, "state")).delete("c1", true);
      assert.match(await readFile(reused.calls, "utf8"), /delete --force c1/, "a cgroup that cannot go leaves it to runc");
    } finally {
      await rm(reused.root, { recursive: true, force: true });
    }
  } finally {
    init.kill("SIGKILL");
  }
});

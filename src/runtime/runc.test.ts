import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
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

import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, createReadStream, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveProgram, runProgram, failureDetail } from "./spawn.js";
import { sys } from "./sys.js";

test("runProgram: exit status, stdout and stderr kept apart, stdin from input", async () => {
  const r = await runProgram("sh", ["-c", "read x; echo out:$x; echo err >&2; exit 3"], { input: "hello\n" });
  assert.equal(r.status, 3);
  assert.equal(r.signal, null);
  assert.equal(r.stdout.toString(), "out:hello\n");
  assert.equal(r.stderr.toString(), "err\n");
  assert.equal(failureDetail(r), "err");
});

test("runProgram: the environment, the working directory and a session of its own", async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "wharf-spawn-")));
  try {
    const r = await runProgram("/bin/sh", ["-c", 'echo "$A $(pwd)"; ps -o sid= -p $$; echo $$'], { env: { A: "b", PATH: "/usr/bin:/bin" }, cwd: dir, detached: true });
    const [line, sid, pid] = r.stdout.toString().trim().split("\n");
    assert.equal(line, `b ${dir}`);
    assert.equal(Number(sid), Number(pid));
    const env = await runProgram("/usr/bin/env", [], { env: { ONLY: "1" } });
    assert.equal(env.stdout.toString(), "ONLY=1\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("runProgram: the given descriptors become 3, 4, …; no other descriptor leaks", async () => {
  const [r, w] = sys().pipe();
  const reading = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of createReadStream("", { fd: r })) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  })();
  const done = runProgram("/bin/sh", ["-c", "echo via3 >&3; ls /proc/self/fd"], { fds: [w] });
  // The child holds a copy: closing ours at once changes nothing.
  closeSync(w);
  const res = await done;
  assert.equal(await reading, "via3\n");
  // 0, 1, 2, 3 and the one ls opens to read the directory.
  const fds = res.stdout.toString().trim().split("\n").map(Number);
  assert.ok(fds.every((fd) => fd <= 4), `leaked descriptors: ${fds.join(" ")}`);
});

test("runProgram: a program past its time is killed; signals start at their defaults", async () => {
  const slow = await runProgram("sleep", ["10"], { timeoutMs: 100 });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 9);
  assert.equal(slow.status, null);
  // SIGPIPE is ignored in Node; the child gets every standard signal back at its
  // default (glibc's two internal real-time signals, 32 and 33, are its own).
  const status = await runProgram("/bin/grep", ["-E", "^Sig(Ign|Blk)", "/proc/self/status"]);
  for (const line of status.stdout.toString().trim().split("\n")) {
    const mask = BigInt(`0x${line.split(/\s+/)[1]}`);
    assert.equal(mask & 0x7fffffffn, 0n, line); // bit n-1 is signal n
  }
});

test("runProgram: a program that is not there is a clear error", async () => {
  await assert.rejects(runProgram("wharf-no-such-program", []), (e: NodeJS.ErrnoException) => e.code === "ENOENT");
  await assert.rejects(runProgram("/nonexistent/prog", []), (e: NodeJS.ErrnoException) => e.code === "ENOENT");
  assert.equal(resolveProgram("sh", "/nonexistent:/bin"), "/bin/sh");
});

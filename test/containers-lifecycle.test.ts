// More of the container lifecycle with the real docker CLI against wharfd:
// image config semantics, restart policies, logs and their rotation,
// terminals, exec, top, stats, prune, signals, and what a container may not
// inherit from the daemon.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { projectRoot, startWharfd, unmountBelow, type Daemon } from "./support/daemons.js";
import { docker, haveTools, importBusybox, killContainers, ok } from "./support/docker.js";

const execFileAsync = promisify(execFile);

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("container lifecycle with the docker CLI", { skip: !haveTools && "needs root, docker CLI, runc and conmon", concurrency: false }, () => {
  let root: string;
  let d: Daemon;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-lifecycle-"));
    d = await startWharfd({ root });
    importBusybox(d);
  });

  after(async () => {
    if (d) await d.stop();
    if (root) {
      killContainers(root);
      await unmountBelow(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  test("entrypoint, cmd, env, workdir and user combine as docker combines them", async () => {
    const envFile = join(root, "env.list");
    await writeFile(envFile, "# a comment\nFROM_FILE=yes\nPATH_LIKE=/a:/b\n");
    const out = await ok(d, ["run", "--rm", "--env-file", envFile, "-e", "X=1", "-w", "/new/dir", "-u", "nobody", "--entrypoint", "sh", "busybox", "-c", "echo $X $FROM_FILE $PATH_LIKE $(pwd) $(id -u):$(id -g) $HOME"]);
    assert.equal(out, "1 yes /a:/b /new/dir 65534:65534 /home\n");
    assert.equal(await ok(d, ["run", "--rm", "-u", "1234:5678", "busybox", "sh", "-c", "echo $(id -u):$(id -g)"]), "1234:5678\n");
    const unknownUser = await docker(d, ["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert.equal(unknownUser.code, 125);
    assert.match(unknownUser.stderr, /unable to find user nosuchuser/);
    const env = await ok(d, ["run", "--rm", "-h", "myhost", "busybox", "env"]);
    assert.match(env, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
    assert.match(env, /^HOSTNAME=myhost$/m);
    assert.match(env, /^HOME=\/root$/m);
  });

  test("exit codes: 128+signal, and the runtime's own failures", async () => {
    // PID 1 is shielded from its own signals; under --init the shell is not PID 1.
    assert.equal((await docker(d, ["run", "--rm", "busybox", "sh", "-c", "kill -9 $$"])).code, 0);
    assert.equal((await docker(d, ["run", "--rm", "--init", "busybox", "sh", "-c", "kill -USR1 $$"])).code, 138);
    const missing = await docker(d, ["run", "--rm", "no-such-image:1"]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /no-such-image/);
    const badFlag = await docker(d, ["run", "--rm", "--memory", "lots", "busybox", "true"]);
    assert.equal(badFlag.code, 125);
    assert.equal((await ok(d, ["ps", "-aq"])).trim(), "", "failed runs leave no container");
  });

  test("a container inherits no descriptor of the daemon", async () => {
    // ls's own directory descriptor is 3; anything more came from outside.
    const fds = (await ok(d, ["run", "--rm", "busybox", "ls", "/proc/self/fd"])).trim().split(/\s+/);
    assert.deepEqual(fds, ["0", "1", "2", "3"]);
    const id = (await ok(d, ["run", "-d", "busybox", "sleep", "30"])).trim();
    const fdsExec = (await ok(d, ["exec", id, "ls", "/proc/1/fd"])).trim().split(/\s+/);
    assert.deepEqual(fdsExec, ["0", "1", "2"]);
    await ok(d, ["rm", "-f", id]);
  });

  test("restart policies: on-failure counts, always restarts, stop is final", async () => {
    await ok(d, ["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3"]);
    await until("on-failure to give up", async () => (await ok(d, ["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "flaky"])).trim() === "exited 2", 20_000);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"])).trim(), "3 on-failure 2");
    await ok(d, ["run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true"]);
    await sleep(800);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "fine"])).trim(), "exited 0", "exit 0 is not a failure");
    await ok(d, ["run", "-d", "--name", "forever", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2"]);
    await until("always to restart", async () => Number((await ok(d, ["inspect", "-f", "{{.RestartCount}}", "forever"])).trim()) >= 2, 20_000);
    await ok(d, ["stop", "-t", "1", "forever"]);
    const count = (await ok(d, ["inspect", "-f", "{{.RestartCount}}", "forever"])).trim();
    await sleep(1000);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Running}} {{.RestartCount}}", "forever"])).trim(), `false ${count}`, "a stopped container stays stopped");
    const conflict = await docker(d, ["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert.equal(conflict.code, 125);
    assert.match(conflict.stderr, /conflicting options/i);
    await ok(d, ["rm", "-f", "flaky", "fine", "forever"]);
  });

  test("logs: tail, since, until, timestamps, follow to the end", async () => {
    await ok(d, ["run", "--name", "talker", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; done"]);
    const all = await docker(d, ["logs", "talker"]);
    assert.equal(all.stdout, "out 1\nout 2\nout 3\nout 4\nout 5\n");
    assert.equal(all.stderr, "err 1\nerr 2\nerr 3\nerr 4\nerr 5\n");
    assert.equal((await docker(d, ["logs", "--tail", "0", "talker"])).stdout, "");
    // How the two streams interleave is the kernel's affair; tail counts lines of both.
    await ok(d, ["run", "--name", "counter", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo $i; done"]);
    assert.equal((await docker(d, ["logs", "--tail", "2", "counter"])).stdout, "4\n5\n");
    await ok(d, ["rm", "counter"]);
    const stamped = (await docker(d, ["logs", "-t", "talker"])).stdout.split("\n")[0]!;
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out 1$/);
    assert.equal((await docker(d, ["logs", "--since", String(Math.floor(Date.now() / 1000) + 60), "talker"])).stdout, "");
    assert.equal((await docker(d, ["logs", "--until", "2000-01-01T00:00:00Z", "talker"])).stdout, "");
    await ok(d, ["rm", "talker"]);
    // -f follows a running container and ends when it exits.
    await ok(d, ["run", "-d", "--name", "slow", "busybox", "sh", "-c", "echo a; sleep 0.5; echo b"]);
    const followed = await docker(d, ["logs", "-f", "slow"]);
    assert.equal(followed.stdout, "a\nb\n");
    await ok(d, ["rm", "slow"]);
  });

  test("logs rotate at --log-opt max-size and keep max-file files", async () => {
    const id = (await ok(d, ["run", "-d", "--log-opt", "max-size=10k", "--log-opt", "max-file=2", "busybox", "sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done; sleep 30"])).trim();
    const dir = join(root, "data", "containers", id);
    await until("the writer to finish", async () => (await docker(d, ["logs", "--tail", "1", id])).stdout.startsWith("line-2999"), 20_000);
    await sleep(1200);
    const logs = (await readdir(dir)).filter((f) => f.startsWith("container.log"));
    assert.ok(logs.length <= 2, `at most max-file files: ${logs.join(" ")}`);
    let total = 0;
    for (const f of logs) total += (await stat(join(dir, f))).size;
    assert.ok(total <= 2 * 10 * 1024 * 2, `bounded by max-size × max-file: ${total} bytes`);
    const tail = (await docker(d, ["logs", "--tail", "1", id])).stdout;
    assert.equal(tail, "line-2999-padding-padding-padding\n");
    await ok(d, ["rm", "-f", id]);
  });

  test("a terminal: -t gives the process a pty and merges its streams", async () => {
    const r = await docker(d, ["run", "--rm", "-t", "busybox", "sh", "-c", "tty; echo err >&2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "/dev/pts/0\r\nerr\r\n");
    const id = (await ok(d, ["run", "-d", "-t", "busybox", "sh"])).trim();
    assert.match(await ok(d, ["exec", "-t", id, "tty"]), /^\/dev\/pts\/\d+\r\n$/);
    await ok(d, ["rm", "-f", id]);
  });

  test("from a user's terminal: -it gets the terminal's size, and every run ends", async () => {
    const pty = (args: string[]) => execFileAsync("python3", [join(projectRoot, "test", "support", "pty-run.py"), "45", "123", "20", "docker", ...args], { env: d.env });
    // The process often ends before the client's resize arrives: that resize must not stall the daemon.
    for (let i = 0; i < 6; i++) {
      const { stdout } = await pty(["run", "-it", "--rm", "busybox", "stty", "size"]);
      assert.match(stdout, /^(45 123|0 0)\r?\n/);
    }
    const sized = await pty(["run", "-it", "--rm", "busybox", "sh", "-c", "sleep 0.3; stty size"]);
    assert.equal(sized.stdout.replace(/\r/g, ""), "45 123\n");
    const id = (await ok(d, ["run", "-d", "-t", "busybox", "sh"])).trim();
    assert.equal((await pty(["exec", "-it", id, "sh", "-c", "sleep 0.3; stty size"])).stdout.replace(/\r/g, ""), "45 123\n");
    await ok(d, ["rm", "-f", id]);
  });

  test("exec: exit codes, detached, environment and working dir; a stopped container refuses", async () => {
    const id = (await ok(d, ["run", "-d", "--name", "host1", "-e", "FROM_RUN=1", "busybox", "sleep", "60"])).trim();
    assert.equal((await docker(d, ["exec", id, "sh", "-c", "exit 4"])).code, 4);
    assert.equal((await docker(d, ["exec", id, "no-such-binary"])).code, 127);
    assert.equal(await ok(d, ["exec", id, "sh", "-c", "echo $FROM_RUN"]), "1\n");
    assert.equal(await ok(d, ["exec", "-d", id, "sh", "-c", "echo detached > /tmp/mark"]), "");
    await until("the detached exec", async () => (await docker(d, ["exec", id, "cat", "/tmp/mark"])).stdout === "detached\n");
    await ok(d, ["stop", "-t", "0", id]);
    const refused = await docker(d, ["exec", id, "true"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /is not running/);
    await ok(d, ["rm", id]);
  });

  test("top, stats, update and container prune", async () => {
    const id = (await ok(d, ["run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 1000"])).trim();
    const top = await ok(d, ["top", "busy"]);
    assert.match(top.split("\n")[0]!, /PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD|UID\s+PID/);
    assert.match(top, /sleep 1000/);
    const stats = await ok(d, ["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "busy"]);
    assert.match(stats, /^busy \d+\n$/);
    await ok(d, ["update", "--memory", "64m", "--memory-swap", "64m", "busy"]);
    assert.equal((await ok(d, ["inspect", "-f", "{{.HostConfig.Memory}}", "busy"])).trim(), String(64 * 1024 * 1024));
    const limit = (await ok(d, ["exec", "busy", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]).catch(() => "")).trim();
    if (limit) assert.equal(limit, String(64 * 1024 * 1024));
    await ok(d, ["create", "--name", "idle", "busybox", "true"]);
    await ok(d, ["run", "--name", "done", "busybox", "true"]);
    const pruned = await ok(d, ["container", "prune", "-f"]);
    assert.match(pruned, /Deleted Containers:/);
    const left = (await ok(d, ["ps", "-a", "--format", "{{.Names}}"])).trim().split("\n").sort();
    assert.deepEqual(left, ["busy"]);
    assert.equal((await ok(d, ["ps", "-q", "--no-trunc"])).trim(), id);
    await ok(d, ["rm", "-f", "busy"]);
  });


  test("stop signal and timeout from the create flags", async () => {
    await ok(d, ["run", "-d", "--name", "usr", "--stop-signal", "USR1", "busybox", "sh", "-c", "trap 'exit 11' USR1; while :; do sleep 0.1; done"]);
    const started = Date.now();
    await ok(d, ["stop", "usr"]);
    assert.ok(Date.now() - started < 5000, "USR1 ended it, no kill after the timeout");
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.ExitCode}} {{.Config.StopSignal}}", "usr"])).trim(), "11 USR1");
    await ok(d, ["run", "-d", "--name", "stubborn", "--stop-timeout", "1", "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]);
    const t0 = Date.now();
    await ok(d, ["stop", "stubborn"]);
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 8000, `killed after the 1 s stop timeout (${took} ms)`);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.ExitCode}}", "stubborn"])).trim(), "137");
    await ok(d, ["rm", "usr", "stubborn"]);
  });

  test("an image in use by a container cannot be removed without force", async () => {
    await ok(d, ["tag", "busybox", "pinned:1"]);
    await ok(d, ["create", "--name", "pin", "pinned:1", "true"]);
    const refused = await docker(d, ["rmi", "pinned:1"]);
    // Only a tag goes: the image stays, the container keeps it.
    assert.equal(refused.code, 0, refused.stderr);
    assert.match(refused.stdout, /Untagged: pinned:1/);
    const id = (await ok(d, ["inspect", "-f", "{{.Image}}", "pin"])).trim();
    const byId = await docker(d, ["rmi", id]);
    assert.notEqual(byId.code, 0);
    assert.match(byId.stderr, /conflict: unable to (delete|remove)/);
    await ok(d, ["rm", "pin"]);
  });

  test("sizes, disk usage and counts include containers", async () => {
    await ok(d, ["run", "-d", "--name", "sized", "busybox", "sh", "-c", "head -c 4096 /dev/zero > /blob; sleep 60"]);
    await ok(d, ["create", "--name", "waiting", "busybox", "true"]);
    await until("the write", async () => (await docker(d, ["exec", "sized", "test", "-s", "/blob"])).code === 0);
    assert.match(await ok(d, ["ps", "-s", "--filter", "name=sized", "--format", "{{.Size}}"]), /^4\.1kB \(virtual \d+(\.\d+)?MB\)\n$/);
    const sizes = (await ok(d, ["inspect", "--size", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "sized"])).trim().split(" ").map(Number);
    assert.equal(sizes[0], 4096);
    assert.ok(sizes[1]! > 1_000_000, "the root fs counts the image");
    const df = await ok(d, ["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
    assert.match(df, /^Containers 2 1$/m);
    await ok(d, ["volume", "create", "counted"]);
    assert.match(await ok(d, ["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]), /^Local Volumes 1$/m);
    await ok(d, ["volume", "rm", "counted"]);
    assert.equal((await ok(d, ["info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}}"])).trim(), "2 1 0 1");
    await ok(d, ["rm", "-f", "sized", "waiting"]);
  });
});

describe("--runtime selects an OCI runtime the daemon was given", { skip: !haveTools && "needs root, docker CLI, runc and conmon", concurrency: false }, () => {
  let root: string;
  let d: Daemon;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-runtimes-"));
    // A runtime that is runc, but leaves a trace of each call.
    await writeFile(join(root, "traced-runc"), `#!/bin/sh\necho "$@" >> ${join(root, "calls")}\nexec runc "$@"\n`, { mode: 0o755 });
    d = await startWharfd({ root, args: ["--add-runtime", `traced=${join(root, "traced-runc")}`] });
    importBusybox(d);
  });

  after(async () => {
    if (d) await d.stop();
    if (root) {
      killContainers(root);
      await unmountBelow(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  test("a container runs with the runtime it names; info lists them; an unknown one is refused", async () => {
    assert.match(await ok(d, ["info", "--format", "{{json .Runtimes}} {{.DefaultRuntime}}"]), /"traced":\{"path":"\/.*traced-runc"\}.* runc\n$/);
    assert.equal(await ok(d, ["run", "--rm", "--runtime", "traced", "busybox", "echo", "traced"]), "traced\n");
    const calls = await readFile(join(root, "calls"), "utf8");
    assert.match(calls, /create/);
    assert.match(calls, /start/);
    assert.equal((await ok(d, ["run", "--rm", "busybox", "echo", "plain"])), "plain\n");
    const unknown = await docker(d, ["run", "--rm", "--runtime", "nope", "busybox", "true"]);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /unknown or invalid runtime name: nope/);
  });
});

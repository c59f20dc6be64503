// Containers end to end with the real docker CLI against wharfd: run and its
// exit codes, stdin, logs, exec, the lifecycle verbs, copy-on-write
// isolation, the security defaults seen from inside, limits, mounts, name
// races, a dockerode-style attach, and live-restore across a SIGKILL of the
// daemon. Containers outlive wharfd by design, so the suite kills what it
// started through the runtime's state at the end.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startWharfd, type Daemon } from "./support/daemons.js";
import { api, docker, haveTools, importBusybox, killContainers, ok } from "./support/docker.js";

describe("containers with the docker CLI", { skip: !haveTools && "needs root, docker CLI, runc and conmon", concurrency: false }, () => {
  let root: string;
  let d: Daemon;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-containers-"));
    d = await startWharfd({ root });
    importBusybox(d);
  });

  after(async () => {
    if (d) await d.stop();
    if (root) {
      killContainers(root);
      const { unmountBelow } = await import("./support/daemons.js");
      await unmountBelow(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  test("run prints the output and exits with the process's code", async () => {
    assert.equal(await ok(d, ["run", "--rm", "busybox", "echo", "hello"]), "hello\n");
    assert.equal((await docker(d, ["run", "--rm", "busybox", "sh", "-c", "exit 42"])).code, 42);
    const notFound = await docker(d, ["run", "--rm", "busybox", "no-such-command"]);
    assert.equal(notFound.code, 127);
    assert.match(notFound.stderr, /executable file not found/);
    assert.equal((await docker(d, ["run", "--rm", "busybox", "/etc/passwd"])).code, 126);
    assert.equal((await docker(d, ["run", "--rm", "busybox", "sh", "-c", "kill -TERM $$; sleep 1"])).code, 0, "PID 1 ignores signals it has no handler for, as in docker");
    // --rm removed them all.
    assert.equal((await ok(d, ["ps", "-aq"])).trim(), "");
  });

  test("stdout and stderr stay apart; -i feeds stdin and its end closes it", async () => {
    const r = await docker(d, ["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2"]);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    assert.equal(await ok(d, ["run", "-i", "--rm", "busybox", "sh", "-c", "read x; echo got $x; cat; echo end"], "first\nsecond\n"), "got first\nsecond\nend\n");
  });

  test("-d, ps, logs, exec, inspect, stop", async () => {
    const id = (await ok(d, ["run", "-d", "--name", "ticker", "busybox", "sh", "-c", "trap 'echo bye; exit 5' TERM; i=0; while true; do echo line $i; echo warn $i >&2; i=$((i+1)); sleep 0.2; done"])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await sleep(700);
    const ps = await ok(d, ["ps", "--format", "{{.ID}} {{.Names}} {{.Status}}"]);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)} ticker Up `, "m"));
    const logs = await docker(d, ["logs", "ticker"]);
    assert.match(logs.stdout, /^line 0\nline 1\n/);
    assert.match(logs.stderr, /^warn 0\n/);
    assert.doesNotMatch(logs.stdout, /warn/);
    const tail = await docker(d, ["logs", "--tail", "1", "ticker"]);
    assert.equal((tail.stdout + tail.stderr).split("\n").filter(Boolean).length, 1);
    const exec = await docker(d, ["exec", "ticker", "sh", "-c", "echo in-exec; echo e >&2; exit 3"]);
    assert.equal(exec.code, 3);
    assert.equal(exec.stdout, "in-exec\n");
    assert.equal(exec.stderr, "e\n");
    assert.equal(await ok(d, ["exec", "-i", "ticker", "cat"], "piped\n"), "piped\n");
    assert.equal(await ok(d, ["exec", "-u", "nobody", "-w", "/tmp", "-e", "A=b", "ticker", "sh", "-c", "echo $(id -un) $PWD $A"]), "nobody /tmp b\n");
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Config.Image}} {{.Name}}", "ticker"])).trim(), "running true busybox /ticker");
    await ok(d, ["stop", "ticker"]);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ticker"])).trim(), "exited 5");
    assert.match((await docker(d, ["logs", "ticker"])).stdout, /bye\n$/);
    assert.match(await ok(d, ["ps", "-a", "--filter", "name=ticker", "--format", "{{.Status}}"]), /^Exited \(5\) /);
    await ok(d, ["rm", "ticker"]);
    assert.equal((await docker(d, ["inspect", "ticker"])).code, 1);
  });

  test("kill, pause, unpause, restart, rename, wait", async () => {
    await ok(d, ["run", "-d", "--name", "sleeper", "busybox", "sleep", "1000"]);
    await ok(d, ["pause", "sleeper"]);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "sleeper"])).trim(), "paused true");
    assert.match(await ok(d, ["ps", "--format", "{{.Status}}", "--filter", "name=sleeper"]), /\(Paused\)/);
    await ok(d, ["unpause", "sleeper"]);
    await ok(d, ["rename", "sleeper", "sleepy"]);
    await ok(d, ["restart", "-t", "1", "sleepy"]);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Running}}", "sleepy"])).trim(), "true");
    const waiting = docker(d, ["wait", "sleepy"]);
    await sleep(200);
    // PID 1 ignores a TERM it has no handler for (sleep has none): KILL ends it, 128+9.
    await ok(d, ["kill", "-s", "TERM", "sleepy"]);
    await sleep(300);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Running}}", "sleepy"])).trim(), "true");
    await ok(d, ["kill", "-s", "KILL", "sleepy"]);
    const w = await waiting;
    assert.equal(w.stdout.trim(), "137");
    const rm = await docker(d, ["rm", "sleepy"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match((await docker(d, ["kill", "nope"])).stderr, /No such container: nope/);
  });

  test("writes land in the container's own layer only", async () => {
    await ok(d, ["run", "--name", "writer", "busybox", "sh", "-c", "echo data > /etc/new-file; rm -f /bin/vi"]);
    assert.equal((await docker(d, ["run", "--rm", "busybox", "cat", "/etc/new-file"])).code, 1);
    assert.equal((await ok(d, ["run", "--rm", "busybox", "sh", "-c", "test -e /bin/vi && echo present"])).trim(), "present");
    await ok(d, ["start", "writer"]);
    assert.equal((await ok(d, ["wait", "writer"])).trim(), "0");
    await ok(d, ["rm", "writer"]);
  });

  test("the container's own hostname, hosts, resolv.conf and kernel file systems", async () => {
    const out = await ok(d, ["run", "--rm", "-h", "box1", "busybox", "sh", "-c", "hostname; cat /etc/hostname; grep -c localhost /etc/hosts; grep -c nameserver /etc/resolv.conf; grep -v '^nameserver 127' /etc/resolv.conf >/dev/null && echo noloop; awk '{print $5}' /proc/self/mountinfo | sort | tr '\\n' ' '"]);
    const lines = out.split("\n");
    assert.equal(lines[0], "box1");
    assert.equal(lines[1], "box1");
    assert.ok(Number(lines[2]) >= 2);
    assert.ok(Number(lines[3]) >= 1);
    assert.equal(lines[4], "noloop");
    for (const m of ["/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]) assert.ok(lines[5]!.split(" ").includes(m), `${m} is mounted: ${lines[5]}`);
    assert.equal(await ok(d, ["run", "--rm", "busybox", "sh", "-c", "test -z \"$(cat /proc/kcore 2>/dev/null | head -c1)\" && echo masked"]), "masked\n");
  });

  test("security defaults: capabilities, seccomp, no-new-privileges, privileged", async () => {
    const status = await ok(d, ["run", "--rm", "busybox", "grep", "-E", "^(CapEff|Seccomp|NoNewPrivs):", "/proc/self/status"]);
    assert.match(status, /CapEff:\s+00000000a80425fb/);
    assert.match(status, /Seccomp:\s+2/);
    assert.match(status, /NoNewPrivs:\s+0/);
    assert.match(await ok(d, ["run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status"]), /NoNewPrivs:\s+1/);
    assert.match(await ok(d, ["run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status"]), /CapEff:\s+0000000000001000/);
    assert.match(await ok(d, ["run", "--rm", "--privileged", "busybox", "grep", "Seccomp:", "/proc/self/status"]), /Seccomp:\s+0/);
    // The default profile refuses what it should: unshare needs CAP_SYS_ADMIN.
    assert.notEqual((await docker(d, ["run", "--rm", "busybox", "unshare", "-n", "true"])).code, 0);
    assert.match(await ok(d, ["run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status"]), /Seccomp:\s+0/);
    const badWorkdir = await docker(d, ["run", "--rm", "-w", "/proc/self/fd/5", "busybox", "true"]);
    assert.notEqual(badWorkdir.code, 0);
    assert.match(badWorkdir.stderr, /file descriptors/);
  });

  test("limits: memory (OOM kill), pids, ulimits, cpus; update", async () => {
    const oom = await docker(d, ["run", "--name", "oom", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "head -c 200m /dev/zero | tail"]);
    assert.equal(oom.code, 137);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"])).trim(), "true 137");
    await ok(d, ["rm", "oom"]);
    assert.equal((await ok(d, ["run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"])).trim(), "100\n200");
    const id = (await ok(d, ["run", "-d", "--pids-limit", "20", "--cpus", "0.5", "busybox", "sleep", "100"])).trim();
    const cg = `/sys/fs/cgroup/pids/wharf/${id}/pids.max`;
    assert.equal((await readFile(cg, "utf8")).trim(), "20");
    assert.equal((await readFile(`/sys/fs/cgroup/cpu,cpuacct/wharf/${id}/cpu.cfs_quota_us`, "utf8").catch(() => readFile(`/sys/fs/cgroup/cpu/wharf/${id}/cpu.cfs_quota_us`, "utf8"))).trim(), "50000");
    await ok(d, ["update", "--pids-limit", "30", id]);
    assert.equal((await readFile(cg, "utf8")).trim(), "30");
    await ok(d, ["rm", "-f", id]);
  });

  test("mounts: bind, read-only bind, tmpfs, read-only root, --init", async () => {
    const host = await mkdtemp(join(tmpdir(), "wharf-bind-"));
    try {
      await writeFile(join(host, "in.txt"), "from host\n");
      assert.equal(await ok(d, ["run", "--rm", "-v", `${host}:/data`, "busybox", "sh", "-c", "cat /data/in.txt; echo from container > /data/out.txt"]), "from host\n");
      assert.equal(await readFile(join(host, "out.txt"), "utf8"), "from container\n");
      assert.notEqual((await docker(d, ["run", "--rm", "-v", `${host}:/data:ro`, "busybox", "touch", "/data/x"])).code, 0);
      assert.notEqual((await docker(d, ["run", "--rm", "--read-only", "busybox", "touch", "/x"])).code, 0);
      assert.equal(await ok(d, ["run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c", "echo ok > /scratch/f && cat /scratch/f"]), "ok\n");
      assert.match(await ok(d, ["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"]), /docker-init/);
      const bad = await docker(d, ["run", "--rm", "-v", "relative:/x:zz", "busybox", "true"]);
      assert.notEqual(bad.code, 0);
    } finally {
      await rm(host, { recursive: true, force: true });
    }
  });

  test("50 parallel creates of one name: exactly one wins", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => api(d, "POST", "/v1.41/containers/create?name=contested", { Image: "busybox", Cmd: ["true"] })));
    assert.equal(results.filter((r) => r.status === 201).length, 1);
    assert.equal(results.filter((r) => r.status === 409).length, 49);
    assert.match(results.find((r) => r.status === 409)!.text, /already in use/);
    await ok(d, ["rm", "contested"]);
    // A create that fails leaves nothing behind.
    assert.equal((await api(d, "POST", "/v1.41/containers/create?name=broken", { Image: "no-such-image" })).status, 404);
    assert.equal((await api(d, "POST", "/v1.41/containers/create?name=broken", { Image: "busybox", HostConfig: { Binds: ["/x:/y:bogus"] } })).status, 400);
    assert.equal((await ok(d, ["ps", "-aq", "--filter", "name=broken"])).trim(), "");
  });

  test("attach without an upgrade, as dockerode does", async () => {
    const created = JSON.parse((await api(d, "POST", "/containers/create", { Image: "busybox", Cmd: ["sh", "-c", "sleep 0.3; echo via-post"] })).text) as { Id: string };
    const body = new Promise<Buffer>((resolve, reject) => {
      const req = request({ socketPath: d.socket, method: "POST", path: `/containers/${created.Id}/attach?stream=true&stdout=true&stderr=true` }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve(Buffer.concat(parts)));
      });
      req.on("error", reject);
      req.end();
    });
    await sleep(100);
    assert.equal((await api(d, "POST", `/containers/${created.Id}/start`)).status, 204);
    const framed = await body;
    assert.equal(framed[0], 1);
    assert.equal(framed.readUInt32BE(4), "via-post\n".length);
    assert.equal(framed.subarray(8).toString(), "via-post\n");
    await ok(d, ["rm", created.Id]);
  });

  test("events stream container lifecycle actions", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(d, ["run", "--rm", "--name", "evt", "busybox", "true"]);
    const out = await ok(d, ["events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=evt", "--format", "{{.Action}}"]);
    assert.deepEqual(out.trim().split("\n"), ["create", "start", "die", "destroy"]);
  });

  test("live-restore: containers outlive a SIGKILL of wharfd and are found again", async () => {
    await ok(d, ["run", "-d", "--name", "survivor", "busybox", "sh", "-c", "trap 'exit 7' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]);
    await ok(d, ["run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; exit 9"]);
    await ok(d, ["run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.5; exit 1"]);
    // Removed when they end: one ends while the daemon is down, one never started.
    await ok(d, ["run", "-d", "--rm", "--name", "brief", "-v", "/scratch", "busybox", "sh", "-c", "sleep 1"]);
    await ok(d, ["create", "--rm", "--name", "unstarted", "busybox", "true"]);
    const scratch = (await ok(d, ["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "brief"])).trim();
    // An exec without a terminal that is writing when the daemon dies runs to its end.
    const execing = docker(d, ["exec", "survivor", "sh", "-c", "i=0; while [ $i -lt 15 ]; do echo exec $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done; touch /exec-done"]);
    await sleep(300);
    process.kill(d.pid, "SIGKILL");
    await execing;
    await sleep(1500);
    d = await startWharfd({ root });
    const status = await ok(d, ["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert.match(status, /^survivor Up /m);
    assert.match(status, /^quitter Exited \(9\) /m);
    assert.doesNotMatch(status, /^(brief|unstarted) /m, "containers to be removed when they end are gone once the daemon is back");
    assert.equal((await ok(d, ["volume", "inspect", "-f", "{{.Name}}", scratch])).trim(), scratch, "their volumes stay");
    await ok(d, ["volume", "rm", scratch]);
    const before = (await docker(d, ["logs", "survivor"])).stdout.split("\n").length;
    await sleep(500);
    const afterLines = (await docker(d, ["logs", "survivor"])).stdout.split("\n").length;
    assert.ok(afterLines > before, "the log keeps growing");
    assert.equal(await ok(d, ["exec", "survivor", "echo", "still-here"]), "still-here\n");
    let execDone = false;
    for (let i = 0; i < 30 && !execDone; i++) {
      execDone = (await docker(d, ["exec", "survivor", "test", "-f", "/exec-done"])).code === 0;
      if (!execDone) await sleep(100);
    }
    assert.ok(execDone, "the exec the daemon's death cut off from its client ran on to its end");
    const waiting = docker(d, ["wait", "survivor"]);
    await ok(d, ["stop", "survivor"]);
    assert.equal((await waiting).stdout.trim(), "7");
    await sleep(1500);
    assert.ok(Number((await ok(d, ["inspect", "-f", "{{.RestartCount}}", "always"])).trim()) >= 1, "restart policy applies after the daemon starts again");
    await ok(d, ["rm", "-f", "survivor", "quitter", "always"]);
  });
});

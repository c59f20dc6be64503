// The wharf CLI's container commands against a real wharfd, side by side
// with the docker CLI against the same daemon: run (exit codes, streams,
// stdin, --rm), ps, logs, exec, inspect, stop, rm — the same output and
// status from both. Containers outlive wharfd by design, so the suite kills
// what it started through the runtime's state at the end.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasCommand, projectRoot, startWharfd, unmountBelow, type Daemon } from "./support/daemons.js";
import { killContainers } from "./support/docker.js";

const haveTools = hasCommand("docker") && hasCommand("runc") && hasCommand("conmon") && process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  if (process.env["CLI_E2E_TRACE"]) process.stderr.write(`${cmd} ${args.join(" ")}\n`);
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env, maxBuffer: 1 << 24, timeout: 20_000, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      if (process.env["CLI_E2E_TRACE"]) process.stderr.write(`-> ${code} ${JSON.stringify(stdout).slice(0, 80)} ${JSON.stringify(stderr).slice(0, 200)}\n`);
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? "");
  });
}


describe("the wharf CLI and the docker CLI against one wharfd", { skip: !haveTools && "needs root, docker CLI, runc and conmon", concurrency: false }, () => {
  let root: string;
  let d: Daemon;
  const wharf = (args: string[], input?: string) => exec(join(projectRoot, "bin", "wharf"), [...args], { ...process.env, WHARF_HOST: d.host }, input);
  const docker = (args: string[], input?: string) => exec("docker", args, { ...d.env, DOCKER_CONFIG: root }, input);
  /** docker's text with its own name swapped for ours (not in `docker.io`). */
  const asWharf = (s: string) => s.replace(/docker(?![.\w])/g, "wharf");

  /** Runs the same command with both CLIs; asserts the same stdout, stderr (names swapped) and status. */
  async function same(args: string[], input?: string): Promise<Run> {
    const w = await wharf(args, input);
    const k = await docker(args, input);
    assert.equal(w.stdout, k.stdout, `${args.join(" ")}: stdout`);
    assert.equal(w.stderr, asWharf(k.stderr), `${args.join(" ")}: stderr`);
    assert.equal(w.code, k.code, `${args.join(" ")}: status`);
    return w;
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-cli-containers-"));
    d = await startWharfd({ root });
    const tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });
    execFileSync("docker", ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], { input: tar, env: d.env });
  });

  after(async () => {
    if (d) await d.stop();
    if (root) {
      killContainers(root);
      await unmountBelow(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  test("run: output, stderr apart, exit codes, stdin, --rm", async () => {
    assert.equal((await same(["run", "--rm", "busybox", "echo", "hello"])).stdout, "hello\n");
    const streams = await same(["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 42"]);
    assert.equal(streams.stderr, "err\n");
    assert.equal(streams.code, 42);
    const missing = await same(["run", "--rm", "busybox", "no-such-command"]);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /^wharf: Error response from daemon: .*executable file not found/);
    assert.equal((await same(["run", "--rm", "busybox", "/etc/passwd"])).code, 126);
    assert.equal((await same(["run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "1:1", "busybox", "sh", "-c", "echo $A $PWD $(id -u):$(id -g)"])).stdout, "1 /tmp 1:1\n");
    assert.equal((await same(["run", "--rm", "busybox:nope", "true"])).code, 125);
    assert.equal((await wharf(["ps", "-aq"])).stdout, "", "--rm removed every container");
  });

  // wharfd sometimes never hands attach stdin to the container (nothing reaches it, stdin never
  // closes) — the docker CLI hits it too; the server side is being fixed in main.
  test("run -i and exec -i feed stdin and its end closes it", async () => {
    const piped = await wharf(["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"], "one\ntwo\n");
    assert.equal(piped.stdout, "one\ntwo\ndone\n");
    assert.equal(piped.code, 0);
    const id = (await wharf(["run", "-d", "busybox", "sleep", "100"])).stdout.trim();
    try {
      assert.equal((await same(["exec", "-i", id, "cat"], "piped\n")).stdout, "piped\n");
    } finally {
      await wharf(["rm", "-f", id]);
    }
  });

  test("run -d, ps, logs, exec, inspect, stop, rm", async () => {
    const script = "echo started; echo warn >&2; while true; do sleep 1; done";
    const a = await wharf(["run", "-d", "--name", "by-wharf", "-l", "suite=cli", "busybox", "sh", "-c", script]);
    const b = await docker(["run", "-d", "--name", "by-docker", "-l", "suite=cli", "busybox", "sh", "-c", script]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(a.stdout, /^[0-9a-f]{64}\n$/);
    // Time-free columns, so both runs see the same text.
    await same(["ps", "--format", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Ports}}\t{{.Names}}\t{{.Labels}}"]);
    await same(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}} {{.Command}}"]);
    await same(["ps", "-q"]);
    await same(["ps", "--filter", "name=by-wharf", "--format", "{{.Names}}"]);
    const ps = await wharf(["ps"]);
    assert.match(ps.stdout, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n/);
    assert.match(ps.stdout, /by-wharf\n/);

    for (const name of ["by-wharf", "by-docker"]) {
      for (let i = 0; i < 50 && !(await wharf(["logs", name])).stdout.includes("started"); i++) await new Promise((r) => setTimeout(r, 100));
      const logs = await same(["logs", name]);
      assert.equal(logs.stdout, "started\n");
      assert.equal(logs.stderr, "warn\n");
      await same(["logs", "-t", name]);
      await same(["logs", "--tail", "1", name]);
      const ex = await same(["exec", name, "sh", "-c", "echo x; echo y >&2; exit 3"]);
      assert.equal(ex.code, 3);
      await same(["exec", "-e", "V=9", "-w", "/etc", name, "sh", "-c", "echo $V $PWD"]);
      const inspected = await same(["inspect", name]);
      assert.equal((JSON.parse(inspected.stdout) as { Name: string }[])[0]!.Name, `/${name}`);
      await same(["inspect", "-f", "{{.State.Status}} {{.Config.Labels}} {{json .Config.Cmd}}", name]);
      await same(["container", "inspect", "--format", "{{.Name}}", name]);
    }
    await same(["inspect", "no-such-thing"]);
    await same(["exec", "no-such-thing", "true"]);
    await same(["logs", "no-such-thing"]);

    // stop prints the name it was given; both take the same route.
    assert.equal((await wharf(["stop", "-t", "1", "by-wharf"])).stdout, "by-wharf\n");
    assert.equal((await docker(["stop", "-t", "1", "by-docker"])).stdout, "by-docker\n");
    await same(["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    await same(["inspect", "-f", "{{.State.ExitCode}}", "by-wharf", "by-docker"]);
    await same(["stop", "no-such-thing"]);
    await same(["rm", "no-such-thing"]);
    assert.equal((await wharf(["rm", "by-wharf"])).stdout, "by-wharf\n");
    assert.equal((await docker(["rm", "by-docker"])).stdout, "by-docker\n");
    await same(["ps", "-a", "--format", "{{.Names}}"]);
  });

  test("rm -f of a running container and the conflict without -f", async () => {
    for (const cli of [wharf, docker]) {
      const r = await cli(["run", "-d", "busybox", "sleep", "100"]);
      const id = r.stdout.trim();
      const refused = await cli(["rm", id]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^Error response from daemon: /);
      assert.equal((await cli(["rm", "-f", id])).stdout, `${id}\n`);
    }
    await same(["ps", "-aq"]);
  });
});

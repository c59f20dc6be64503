// The container, volume, network and event commands against the fake
// engine: the requests wharf sends and what it prints — and, where the
// docker CLI is installed, the same command run by docker against the same
// answers, compared request by request and byte for byte.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { startFakeEngine, type FakeEngine, type RecordedRequest } from "./fake-engine.js";
import { CONTAINER_ID, hostnameTar } from "./fake-containers.js";
import { run } from "./main.js";
import { apiTimestamp, displayablePorts } from "./commands/containers.js";
import { parseDuration, parsePortSpec, ramInBytes } from "./container-opts.js";

interface Result {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

let engine: FakeEngine;
let work: string;

function collect(stream: PassThrough): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => stream.on("end", () => resolve(Buffer.concat(chunks))));
}

async function wharf(args: string[], stdinText = "", tty?: PassThrough): Promise<Result> {
  const stdout = tty ?? new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  stdin.end(stdinText);
  const status = await run(["-H", engine.host, ...args], { stdout, stderr, stdin, stdoutIsTTY: tty !== undefined, stdinIsTTY: false }, {});
  stdout.end();
  stderr.end();
  const stdoutBytes = await out;
  return { status, stdout: stdoutBytes.toString(), stderr: (await err).toString(), stdoutBytes };
}

function docker(args: string[], stdinText = ""): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn("docker", args, { env: { ...process.env, DOCKER_HOST: engine.host, DOCKER_CONFIG: work }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ status: code ?? -1, stdout: stdoutBytes.toString(), stderr: Buffer.concat(err).toString(), stdoutBytes });
    });
    child.stdin.end(stdinText);
  });
}

const haveDocker = (() => {
  try {
    execFileSync("docker", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** The requests that matter for comparison: no pings, no inspects docker makes first to read Tty. */
function significant(reqs: readonly RecordedRequest[]): string[] {
  return reqs
    .filter((r) => !r.url.pathname.endsWith("/_ping") && !(r.method === "GET" && /\/containers\/[^/]+\/json$/.test(r.url.pathname) && !r.url.searchParams.has("size")))
    .map((r) => {
      const params = [...r.url.searchParams.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const query = params.map(([k, v]) => `${k}=${v}`).join("&");
      // Containers the fake made get ids by count; both CLIs' runs made different ones.
      const path = r.url.pathname.replace(/\/containers\/([a-f])\1{63}\//, "/containers/NEW/");
      return `${r.method} ${path}${query ? `?${query}` : ""} ${r.body.toString()}`;
    })
    .reduce<string[]>((out, req) => {
      // A run sends its attach and its wait at once, on two connections: which arrives first is not defined.
      const prev = out[out.length - 1];
      if (prev !== undefined && / \/v[\d.]+\/containers\/[^/]+\/wait\?/.test(prev) && / \/v[\d.]+\/containers\/[^/]+\/attach\?/.test(req)) out.splice(out.length - 1, 0, req);
      else out.push(req);
      return out;
    }, []);
}

async function both(args: string[], stdinText = ""): Promise<{ w: Result; d: Result | undefined; wReqs: string[]; dReqs: string[] }> {
  engine.state.pulled.length = 0;
  let start = engine.requests.length;
  const w = await wharf(args, stdinText);
  const wReqs = significant(engine.requests.slice(start));
  if (!haveDocker) return { w, d: undefined, wReqs, dReqs: [] };
  engine.state.pulled.length = 0;
  start = engine.requests.length;
  const d = await docker(args, stdinText);
  const dReqs = significant(engine.requests.slice(start));
  return { w, d, wReqs, dReqs };
}

/** docker's text with its name swapped for ours. */
const asWharf = (text: string) => text.replace(/docker(?![.\w])/g, "wharf");

/** Runs both CLIs; asserts the same requests, output and status. Returns wharf's result. */
async function sameAsDocker(args: string[], options: { stdin?: string; requests?: boolean | "unordered"; stderr?: boolean } = {}): Promise<Result> {
  const { w, d, wReqs, dReqs } = await both(args, options.stdin ?? "");
  if (d) {
    const what = `wharf ${args.join(" ")}`;
    assert.equal(w.stdout, d.stdout, `${what}: stdout`);
    if (options.stderr !== false) assert.equal(w.stderr, asWharf(d.stderr), `${what}: stderr`);
    assert.equal(w.status, d.status, `${what}: status`);
    // docker acts on several containers in parallel: their requests come in any order.
    if (options.requests === "unordered") assert.deepEqual([...wReqs].sort(), [...dReqs].sort(), `${what}: requests`);
    else if (options.requests !== false) assert.deepEqual(wReqs, dReqs, `${what}: requests`);
  }
  return w;
}

const lastCreate = () => engine.state.created[engine.state.created.length - 1]!;
/** The id the fake gave the last container created (from its start request). */
const lastCreatedId = () => /\/containers\/([0-9a-f]{64})\/start/.exec([...engine.requests].reverse().find((r) => r.url.pathname.endsWith("/start"))!.url.pathname)![1]!;

before(async () => {
  engine = await startFakeEngine();
  work = await mkdtemp(join(tmpdir(), "wharf-cli-run-test-"));
});

after(async () => {
  await engine.close();
  await rm(work, { recursive: true, force: true });
});

describe("wharf run", () => {
  test("attaches, waits for the next exit, starts, prints both streams apart and exits with the code", async () => {
    const r = await sameAsDocker(["run", "busybox", "sh", "-c", "echo hi; echo e >&2; exit 3"]);
    assert.equal(r.stdout, "hello\n");
    assert.equal(r.stderr, "oops\n");
    assert.equal(r.status, 3);
    const id = "a".repeat(64);
    const paths = significant(engine.requests).filter((x) => x.includes("/containers/")).slice(-4);
    void id;
    assert.match(paths[0]!, /^POST \/v1\.41\/containers\/create /);
    assert.match(paths.join("\n"), /attach\?stderr=1&stdout=1&stream=1/);
    assert.match(paths.join("\n"), /wait\?condition=next-exit/);
    assert.match(paths[paths.length - 1]!, /\/start $/);
  });

  test("--rm waits for removal; -i sends stdin and half-closes it when it ends", async () => {
    const r = await sameAsDocker(["run", "--rm", "-i", "busybox", "cat"], { stdin: "abc\n" });
    assert.equal(r.stdout, "abc\n");
    assert.equal(r.status, 0);
    assert.equal(engine.state.stdin.toString(), "abc\n");
    assert.equal(lastCreate().body["StdinOnce"], true);
    assert.equal((lastCreate().body["HostConfig"] as Record<string, unknown>)["AutoRemove"], true);
    assert.ok(significant(engine.requests).some((x) => x.includes("wait?condition=removed")));
  });

  test("-d starts and prints the id without attaching", async () => {
    const r = await wharf(["run", "-d", "--name", "bg", "busybox", "sleep", "9"]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    assert.equal(lastCreate().name, "bg");
    assert.equal(lastCreate().body["AttachStdout"], false);
  });

  test("a missing image is pulled, as docker does, then created again", async () => {
    const r = await sameAsDocker(["run", "missing", "echo", "x"]);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^Unable to find image 'missing:latest' locally\n/);
    assert.ok(engine.state.pulled.includes("docker.io/library/missing"));
  });

  test("a command that is not found exits 127 with the daemon's message", async () => {
    const r = await sameAsDocker(["run", "busybox", "nosuch"]);
    assert.equal(r.status, 127);
    assert.match(r.stderr, /^wharf: Error response from daemon: .*executable file not found/);
  });

  test("conflicting and malformed flags are docker's errors with status 125, and nothing is created", async () => {
    const before = engine.state.created.length;
    for (const args of [
      ["run", "--rm", "--restart", "always", "busybox"],
      ["run", "-d", "-a", "stdout", "busybox"],
      ["run", "--memory", "lots", "busybox"],
      ["run", "--no-such-flag", "busybox"],
      ["run", "--restart", "sometimes", "busybox"],
    ]) {
      const r = await wharf(args);
      assert.equal(r.status, 125, args.join(" "));
      assert.match(r.stderr, /\S/);
    }
    assert.equal(engine.state.created.length, before);
    await sameAsDocker(["run", "--rm", "--restart", "always", "busybox"], { requests: false });
    await sameAsDocker(["run", "--no-such-flag", "busybox"], { requests: false });
  });

  test("a name already in use is the daemon's conflict with status 125", async () => {
    const r = await sameAsDocker(["run", "--name", "taken", "busybox"]);
    assert.equal(r.status, 125);
  });
});

describe("wharf run with a terminal and signals", () => {
  /** A stdout that looks like a 40×120 terminal. */
  function terminal(): PassThrough {
    return Object.assign(new PassThrough(), { isTTY: true, rows: 40, columns: 120 });
  }

  test("-t: the raw stream goes to stdout as it is and the terminal's size reaches the container", async () => {
    engine.state.resizes.length = 0;
    const r = await wharf(["run", "-t", "busybox", "sh", "-c", "echo hi >&2"], "", terminal());
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lastCreate().body["Tty"], true);
    assert.equal(r.stdout, "hello\noops\n", "a tty has one stream: stderr's bytes arrive on stdout too");
    assert.equal(r.stderr, "");
    assert.deepEqual(engine.state.resizes, ["40x120"]);
  });

  test("exec -t sends the console size and resizes the exec", async () => {
    engine.state.resizes.length = 0;
    const r = await wharf(["exec", "-t", "web", "true"], "", terminal());
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(engine.state.execBodies[engine.state.execBodies.length - 1]!["ConsoleSize"], [40, 120]);
    assert.deepEqual(engine.state.resizes, ["exec 40x120"]);
  });

  test("without -t the CLI's signals go to the container (sig-proxy), and its exit is the CLI's", async () => {
    engine.state.signals.length = 0;
    const running = wharf(["run", "busybox", "sleep", "1000"]);
    for (let i = 0; i < 200 && !significant(engine.requests).slice(-1)[0]?.includes("/start "); i++) await new Promise((r) => setTimeout(r, 5));
    process.emit("SIGUSR2", "SIGUSR2");
    const r = await running;
    assert.deepEqual(engine.state.signals, ["SIGUSR2"]);
    assert.equal(r.status, 130);
    assert.equal(process.listenerCount("SIGUSR2"), 0, "the proxy stops with the command");
  });

  test("--sig-proxy=false leaves signals alone", async () => {
    engine.state.signals.length = 0;
    const running = wharf(["run", "--sig-proxy=false", "busybox", "sleep", "1000"]);
    for (let i = 0; i < 200 && !significant(engine.requests).slice(-1)[0]?.includes("/start "); i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(process.listenerCount("SIGUSR2"), 0);
    await wharf(["kill", "-s", "TERM", lastCreatedId()]);
    const r = await running;
    assert.deepEqual(engine.state.signals, ["TERM"]);
    assert.equal(r.status, 130);
  });
});

describe("wharf create: the request body is the docker CLI's, member for member", () => {
  const cases: string[][] = [
    ["busybox"],
    ["-it", "-e", "A=1", "--name", "x", "-p", "8080:80", "-v", "/a:/b:ro", "--mount", "type=tmpfs,target=/t", "-l", "k=v", "--restart", "on-failure:3", "--memory", "64m", "--cpus", "1.5", "--ulimit", "nofile=10:20", "--health-cmd", "true", "--network", "foo", "--network-alias", "al", "--dns", "1.1.1.1", "--add-host", "h:1.2.3.4", "--tmpfs", "/run:size=1m", "--cap-add", "NET_ADMIN", "--security-opt", "no-new-privileges", "--init", "busybox", "echo", "hi"],
    ["-v", "/anon", "-v", "vol:/data", "--ip", "10.1.2.3", "--network", "n1", "--device", "/dev/null:/dev/nul2:r", "--log-driver", "json-file", "--log-opt", "max-size=1m", "--health-interval", "2s", "--health-retries", "3", "--health-timeout", "1s", "--health-start-period", "5s", "--entrypoint", "", "-P", "--expose", "90", "--expose", "100-101/udp", "--stop-timeout", "7", "--pids-limit", "50", "--shm-size", "128m", "--memory-swap", "-1", "--cpu-shares", "512", "--group-add", "audio", "--runtime", "runc", "--read-only", "--privileged", "--stop-signal", "SIGUSR1", "-u", "1000:1000", "-w", "/w", "-h", "myhost", "--platform", "linux/amd64", "-a", "stdout", "--cap-drop", "chown", "--dns-search", "ex.com", "-p", "127.0.0.1:9000-9001:9000-9001/udp", "-p", "5000", "busybox"],
    ["--no-healthcheck", "-e", "NOPE_UNSET_VARIABLE", "-l", "a", "-l", "b=c", "--env-file", "/dev/null", "busybox", "sh"],
    ["--security-opt", "seccomp=unconfined", "--security-opt", "label:disable", "--tmpfs", "/x", "--dns", "8.8.8.8", "--add-host", "a=1.2.3.4", "--add-host", "b:host-gateway", "--mount", "type=bind,src=/tmp,dst=/h,readonly", "--mount", "type=volume,source=v1,target=/v,volume-opt=o=x", "--mount", "type=tmpfs,dst=/tt,tmpfs-size=1m,tmpfs-mode=1777", "--ulimit", "nproc=5", "--memory", "1g", "--memory-swap", "2g", "--cap-add", "ALL", "--cap-add", "sys_admin", "--restart", "unless-stopped", "busybox"],
  ];
  for (const flags of cases) {
    test(`create ${flags.slice(0, 6).join(" ")}${flags.length > 6 ? " …" : ""}`, async () => {
      const r = await sameAsDocker(["create", ...flags]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    });
  }

  test("the body carries what the flags say", async () => {
    await wharf(["create", "--name", "web2", "-e", "A=1", "-p", "127.0.0.1:8080:80/udp", "-m", "64m", "--cpus", "0.5", "busybox", "echo", "hi"]);
    const { name, body } = lastCreate();
    assert.equal(name, "web2");
    assert.deepEqual(body["Env"], ["A=1"]);
    assert.deepEqual(body["Cmd"], ["echo", "hi"]);
    const hc = body["HostConfig"] as Record<string, unknown>;
    assert.deepEqual(hc["PortBindings"], { "80/udp": [{ HostIp: "127.0.0.1", HostPort: "8080" }] });
    assert.equal(hc["Memory"], 64 * 1024 * 1024);
    assert.equal(hc["NanoCpus"], 500_000_000);
  });

  test("--cidfile writes the id and refuses a file that exists", async () => {
    const cid = join(work, "cid");
    const r = await wharf(["create", "--cidfile", cid, "busybox"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(cid, "utf8"), r.stdout.trim());
    const again = await wharf(["create", "--cidfile", cid, "busybox"]);
    assert.equal(again.status, 125);
    assert.match(again.stderr, /container ID file found/);
  });
});

describe("wharf ps and inspect", () => {
  for (const args of [["ps"], ["ps", "-a"], ["ps", "-a", "-s"], ["ps", "-aq"], ["ps", "-a", "--no-trunc"], ["ps", "-a", "--format", "{{.Names}}\t{{.Ports}}\t{{.Labels}}"], ["ps", "-n", "1"], ["ps", "-l"], ["ps", "-a", "--filter", "status=exited"], ["ps", "--format", "table {{.ID}}\t{{.Status}}\t{{.Networks}}"], ["container", "ls", "-a"], ["ps", "-a", "--format", "json"]]) {
    test(args.join(" "), async () => {
      const r = await sameAsDocker(args);
      assert.equal(r.status, 0);
    });
  }

  test("ps prints docker's table", async () => {
    const r = await wharf(["ps"]);
    const lines = r.stdout.split("\n");
    assert.match(lines[0]!, /^CONTAINER ID   IMAGE     COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    assert.match(lines[1]!, /^111111111111   busybox   "sh -c 'while true; …"   About an hour ago   Up About an hour   443\/tcp, 0\.0\.0\.0:8080->80\/tcp, \[::\]:8080->80\/tcp   web$/);
  });

  for (const args of [["inspect", "web"], ["inspect", "-f", "{{.Name}} {{.State.Status}}", "web"], ["inspect", "nope"], ["container", "inspect", "--size", "-f", "{{.SizeRw}}", "web"], ["inspect", "--type", "container", "web"], ["inspect", "busybox"], ["container", "inspect", "nope"]]) {
    test(args.join(" "), async () => {
      await sameAsDocker(args, { requests: args.includes("nope") || args.includes("busybox") ? false : true });
    });
  }
});

describe("wharf logs, exec, attach", () => {
  for (const args of [["logs", "web"], ["logs", "-t", "--tail", "2", "web"], ["logs", "--details", "-f", "web"], ["logs", "nope"]]) {
    test(args.join(" "), async () => {
      await sameAsDocker(args);
    });
  }

  test("logs keeps stdout and stderr apart", async () => {
    const r = await wharf(["logs", "web"]);
    assert.equal(r.stdout, "line one\nline three\n");
    assert.equal(r.stderr, "warning two\n");
  });

  test("exec creates, starts over a hijacked connection, and exits with the command's code", async () => {
    const r = await sameAsDocker(["exec", "web", "sh", "-c", "echo hi; exit 4"]);
    assert.equal(r.stdout, "hello\n");
    assert.equal(r.status, 4);
  });

  test("exec flags reach the exec config", async () => {
    await sameAsDocker(["exec", "-e", "A=1", "-w", "/tmp", "-u", "1", "--privileged", "web", "true"]);
    const body = engine.state.execBodies[engine.state.execBodies.length - 1]!;
    assert.deepEqual(body["Env"], ["A=1"]);
    assert.equal(body["WorkingDir"], "/tmp");
    assert.equal(body["User"], "1");
    assert.equal(body["Privileged"], true);
  });

  test("exec -i streams stdin; exec -d does not attach", async () => {
    const r = await sameAsDocker(["exec", "-i", "web", "cat"], { stdin: "piped\n" });
    assert.equal(r.stdout, "piped\n");
    await sameAsDocker(["exec", "-d", "web", "sleep", "1"]);
  });

  test("exec in a missing container is the daemon's error", async () => {
    const r = await sameAsDocker(["exec", "nope", "true"], { requests: false });
    assert.equal(r.status, 1);
  });

  test("attach without stdin reads the output until the daemon closes", async () => {
    const r = await wharf(["attach", "--no-stdin", "old"]);
    assert.equal(r.stdout, "attached\n");
  });
});

describe("wharf lifecycle verbs", () => {
  for (const args of [
    ["stop", "web"],
    ["stop", "-t", "3", "web", "nope"],
    ["kill", "-s", "HUP", "web"],
    ["kill", "web"],
    ["restart", "-t", "1", "web"],
    ["pause", "web"],
    ["unpause", "web"],
    ["rm", "web"],
    ["rm", "-f", "-v", "web"],
    ["rm", "nope", "old"],
    ["wait", "old"],
    ["rename", "web", "new"],
    ["rename", "nope", "new"],
    ["start", "old"],
    ["start", "nope"],
    ["top", "web"],
    ["top", "web", "aux"],
    ["stats", "--no-stream", "web"],
    ["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}", "web"],
    ["port", "web"],
    ["port", "web", "80/tcp"],
    ["port", "web", "81"],
    ["update", "--memory", "10m", "--cpus", "1", "web"],
    ["update", "--restart", "on-failure:2", "--pids-limit", "5", "web"],
    ["container", "prune", "-f"],
    ["container", "prune", "-f", "--filter", "until=24h"],
    ["diff", "web"],
    ["commit", "-c", "ENV A=1", "-m", "msg", "-a", "me", "-p=false", "web", "img:t"],
    ["commit", "web"],
    ["export", "web"],
  ]) {
    test(args.join(" "), async () => {
      await sameAsDocker(args, { requests: "unordered" });
    });
  }

  test("stop prints each name; failures are listed and exit 1", async () => {
    const r = await wharf(["stop", "web", "nope"]);
    assert.equal(r.stdout, "web\n");
    assert.equal(r.stderr, "Error response from daemon: No such container: nope\n");
    assert.equal(r.status, 1);
  });

  test("stats computes CPU and memory as docker", async () => {
    const r = await wharf(["stats", "--no-stream", "web"]);
    assert.equal(r.stdout.split("\n")[1], "111111111111   web       20.00%    8MiB / 1GiB         0.78%     1.5kB / 700B   4.1kB / 8.19kB   2");
  });

  test("prune asks first and stops on no", async () => {
    const before = engine.requests.length;
    const r = await wharf(["container", "prune"], "n\n");
    assert.equal(r.stdout, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
    assert.ok(!engine.requests.slice(before).some((x) => x.url.pathname.endsWith("/containers/prune")));
  });

  test("export -o writes the archive to a file", async () => {
    const out = join(work, "export.tar");
    const r = await wharf(["export", "-o", out, "web"]);
    assert.equal(r.status, 0);
    assert.equal((await readFile(out)).length, 2048);
  });
});

describe("wharf cp", () => {
  test("from a container to a file, under the new name", async () => {
    const dest = join(work, "copied-hostname");
    const r = await wharf(["cp", "web:/etc/hostname", dest]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(dest, "utf8"), "0123456789ab\n");
    const d = haveDocker ? await docker(["cp", "web:/etc/hostname", dest + ".docker"]) : undefined;
    if (d) assert.equal(await readFile(dest + ".docker", "utf8"), "0123456789ab\n");
  });

  test("from a container to stdout as a tar stream", async () => {
    const r = await wharf(["cp", "web:/etc/hostname", "-"]);
    assert.deepEqual(r.stdoutBytes, hostnameTar());
  });

  test("from the host into a container directory: one PUT of a tar holding the file", async () => {
    const src = join(work, "note.txt");
    await writeFile(src, "note\n");
    const r = await wharf(["cp", src, "web:/tmp"]);
    assert.equal(r.status, 0, r.stderr);
    const up = engine.state.uploads[engine.state.uploads.length - 1]!;
    assert.equal(up.path, "/tmp");
    assert.equal(up.body.subarray(0, 8).toString(), "note.txt");
    assert.match(up.body.toString("latin1"), /note\n/);
  });

  test("a missing source path is the daemon's error", async () => {
    await sameAsDocker(["cp", "web:/nope", join(work, "x")], { requests: false });
  });
});

describe("wharf volume and network", () => {
  for (const args of [
    ["volume", "create", "--label", "a=b", "-o", "type=tmpfs", "data"],
    ["volume", "create"],
    ["volume", "ls"],
    ["volume", "ls", "-q"],
    ["volume", "ls", "--format", "{{.Name}} {{.Labels}}"],
    ["volume", "inspect", "data"],
    ["volume", "inspect", "-f", "{{.Mountpoint}}", "data"],
    ["volume", "inspect", "nope"],
    ["volume", "rm", "data"],
    ["volume", "rm", "nope"],
    ["volume", "prune", "-f"],
    ["network", "create", "--subnet", "10.9.0.0/24", "--gateway", "10.9.0.1", "--internal", "--label", "x=y", "appnet"],
    ["network", "create", "plain"],
    ["network", "ls"],
    ["network", "ls", "-q", "--no-trunc"],
    ["network", "inspect", "appnet"],
    ["network", "inspect", "nope"],
    ["network", "rm", "appnet"],
    ["network", "rm", "nope"],
    ["network", "prune", "-f"],
    ["network", "connect", "--alias", "a1", "--ip", "10.9.0.5", "appnet", "web"],
    ["network", "disconnect", "-f", "appnet", "web"],
  ]) {
    test(args.join(" "), async () => {
      await sameAsDocker(args);
    });
  }
});

describe("wharf events", () => {
  test("prints docker's event lines with every digit of the time", async () => {
    const r = await sameAsDocker(["events", "--since", "1714558830", "--until", "1714558840"]);
    assert.equal(r.stdout.split("\n")[0], `2024-05-01T10:20:30.123456789Z container create ${CONTAINER_ID} (image=busybox, name=web)`);
  });

  test("--format and --filter", async () => {
    await sameAsDocker(["events", "--since", "1714558830", "--until", "1714558840", "--filter", "type=container", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]);
    await sameAsDocker(["events", "--since", "1714558830", "--until", "1714558840", "--format", "json"]);
  });
});

describe("values as docker parses them", () => {
  test("sizes, durations, ports and timestamps", () => {
    assert.equal(ramInBytes("64m"), 64 << 20);
    assert.equal(ramInBytes("1.5g"), 1.5 * 1024 ** 3);
    assert.equal(ramInBytes("100"), 100);
    assert.throws(() => ramInBytes("lots"));
    assert.equal(parseDuration("1m30s"), 90e9);
    assert.equal(parseDuration("500ms"), 5e8);
    assert.throws(() => parseDuration("5"));
    assert.deepEqual(parsePortSpec("8000-8001:80-81/udp"), [
      { port: "80/udp", binding: { HostIp: "", HostPort: "8000" } },
      { port: "81/udp", binding: { HostIp: "", HostPort: "8001" } },
    ]);
    assert.deepEqual(parsePortSpec("[::1]:80:8080"), [{ port: "8080/tcp", binding: { HostIp: "::1", HostPort: "80" } }]);
    assert.equal(apiTimestamp("1714558830"), "1714558830");
    assert.equal(apiTimestamp("10s", 1_000_000_000_000), "999999990.000000000");
    assert.equal(apiTimestamp("2024-05-01T10:20:30.5Z"), "1714558830.500000000");
  });

  test("ports display merged as docker's", () => {
    assert.equal(
      displayablePorts([
        { PrivatePort: 80, Type: "tcp" },
        { PrivatePort: 81, Type: "tcp" },
        { IP: "0.0.0.0", PrivatePort: 90, PublicPort: 90, Type: "tcp" },
        { IP: "0.0.0.0", PrivatePort: 91, PublicPort: 91, Type: "tcp" },
        { IP: "127.0.0.1", PrivatePort: 53, PublicPort: 5353, Type: "udp" },
      ]),
      "80-81/tcp, 0.0.0.0:90-91->90-91/tcp, 127.0.0.1:5353->53/udp",
    );
  });
});

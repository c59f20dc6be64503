// Exec without a terminal runs through wharf's own helper, exec with one
// through conmon and `runc exec`: the process each makes must be the same
// process. The state the kernel shows for it (ids, groups, capabilities,
// no_new_privs, seccomp, cgroups, namespaces, limits, oom score, keyrings,
// open descriptors, environment, directory) is compared between the two for
// the docker CLI's exec flags, and the helper's refusals are docker's.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWharfd, type Daemon } from "./support/daemons.js";
import { docker, haveTools, importBusybox, killContainers, ok } from "./support/docker.js";

// What a process is, as it sees itself (the tty run adds \r; `ls` columns differ, so one name per line).
const PROBE = [
  'grep -E "^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp)" /proc/self/status',
  "cat /proc/self/cgroup /proc/self/oom_score_adj /proc/self/limits",
  'for n in /proc/self/ns/*; do echo "$n $(readlink $n)"; done',
  "for f in /proc/self/fd/*; do echo $f; done",
  "grep -c . /proc/keys",
  "pwd; umask; env | grep -v ^TERM= | sort",
].join("; ");

describe("exec through the helper is the runtime's exec", { skip: !haveTools && "needs root, docker CLI, runc and conmon", concurrency: false }, () => {
  let root: string;
  let d: Daemon;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-exec-direct-"));
    d = await startWharfd({ root });
    importBusybox(d);
    await ok(d, ["run", "-d", "--name", "plain", "busybox", "sleep", "1000"]);
    await ok(d, ["run", "-d", "--name", "tight", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "--ulimit", "nofile=512:1024", "--oom-score-adj", "300", "--memory", "64m", "busybox", "sleep", "1000"]);
    await ok(d, ["run", "-d", "--name", "privileged", "--privileged", "busybox", "sleep", "1000"]);
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

  const probe = async (flags: string[], container: string, tty: boolean): Promise<string> => {
    const r = await docker(d, ["exec", ...(tty ? ["-t"] : []), ...flags, container, "sh", "-c", PROBE]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.replace(/\r/g, "");
  };

  for (const [container, flags] of [
    ["plain", []],
    ["plain", ["-u", "1000:1000"]],
    ["plain", ["-u", "nobody", "-w", "/tmp", "-e", "A=b"]],
    ["plain", ["--privileged"]],
    ["tight", []],
    ["privileged", []],
  ] as const) {
    test(`${container} ${flags.join(" ") || "(no flags)"}: the same process either way`, async () => {
      const direct = await probe([...flags], container, false);
      const runtime = await probe([...flags], container, true);
      assert.equal(direct, runtime);
      assert.match(direct, /^Seccomp:\s+(0|2)$/m);
    });
  }

  test("the container's seccomp programs hold: a namespace cannot be made, and the filter is the init's", async () => {
    const r = await docker(d, ["exec", "plain", "unshare", "-n", "true"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Operation not permitted/);
    const status = await ok(d, ["exec", "plain", "grep", "Seccomp", "/proc/self/status"]);
    assert.match(status, /Seccomp:\s+2\nSeccomp_filters:\s+1/);
    // What the helper loads: the programs read from the init at its start, kept beside its bundle.
    const id = (await ok(d, ["inspect", "-f", "{{.Id}}", "plain"])).trim();
    assert.ok((await readdir(join(root, "exec", "containers", id))).includes("seccomp.bpf"));
  });

  test("what cannot start is refused with docker's words and exit codes", async () => {
    const notFound = await docker(d, ["exec", "plain", "no-such-command"]);
    assert.equal(notFound.code, 127);
    // As dockerd: the failure is told on the stream (stdout), the code is the exec's.
    assert.match(notFound.stdout, /^OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in \$PATH: unknown/);
    assert.equal((await docker(d, ["exec", "plain", "/etc/passwd"])).code, 126);
    assert.equal((await docker(d, ["exec", "plain", "/no/such"])).code, 127);
    const badDir = await docker(d, ["exec", "-w", "/no/such", "plain", "true"]);
    assert.equal(badDir.code, 127);
    assert.match(badDir.stdout, /chdir to cwd \("\/no\/such"\)/);
    // A failed exec leaves the container as it was.
    assert.equal(await ok(d, ["exec", "plain", "echo", "fine"]), "fine\n");
  });

  test("output, stdin, exit codes and signals come through; a background child does not hold the exec", async () => {
    const r = await docker(d, ["exec", "plain", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [7, "out\n", "err\n"]);
    assert.equal(await ok(d, ["exec", "-i", "plain", "wc", "-l"], "a\nb\nc\n"), "3\n");
    assert.equal((await docker(d, ["exec", "plain", "sh", "-c", "kill -9 $$"])).code, 137);
    const big = await docker(d, ["exec", "plain", "head", "-c", "3000000", "/dev/zero"]);
    assert.equal(big.stdout.length, 3_000_000);
    assert.equal(await ok(d, ["exec", "plain", "sh", "-c", "sleep 30 & echo started"]), "started\n");
  });

  test("a container with no-new-privileges (its filter comes after the start) execs through the runtime, the same", async () => {
    await ok(d, ["run", "-d", "--name", "nnp", "--security-opt", "no-new-privileges", "busybox", "sleep", "1000"]);
    const direct = await probe([], "nnp", false);
    assert.match(direct, /^NoNewPrivs:\s+1$/m);
    assert.match(direct, /^Seccomp:\s+2$/m);
    assert.equal(direct, await probe([], "nnp", true));
  });
});

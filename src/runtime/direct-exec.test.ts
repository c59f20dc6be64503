import { test } from "node:test";
import assert from "node:assert/strict";
import type { RuntimeProcess } from "../oci/index.js";
import { directExecBlocker, encodePlan } from "./direct-exec.js";
import { parseJoinTarget, type JoinTarget } from "./runc.js";

const target: JoinTarget = { pid: 42, start: 1234, namespaces: ["NEWPID", "NEWNS", "NEWNET"], cgroupDirs: ["/sys/fs/cgroup/memory/wharf/x", "/sys/fs/cgroup/unified/wharf/x"] };
const proc = (extra: Partial<RuntimeProcess> = {}): RuntimeProcess => ({
  user: { uid: 1000, gid: 100, additionalGids: [10, 20] },
  args: ["sh", "-c", "echo hi"],
  env: ["PATH=/bin", "HOME=/root"],
  cwd: "/work",
  capabilities: { bounding: ["CAP_CHOWN", "CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] },
  noNewPrivileges: true,
  rlimits: [{ type: "RLIMIT_NOFILE", soft: 512, hard: 1024 }],
  oomScoreAdj: -5,
  ...extra,
});

test("runc's state gives the init, its namespaces and its cgroup directories once each", () => {
  const t = parseJoinTarget({
    init_process_pid: 7,
    init_process_start: 99,
    config: { namespaces: [{ type: "NEWPID", path: "" }, { type: "NEWNET", path: "/run/netns/x" }] },
    cgroup_paths: { cpu: "/sys/fs/cgroup/cpu,cpuacct/a", cpuacct: "/sys/fs/cgroup/cpu,cpuacct/a", "": "/sys/fs/cgroup/unified/a" },
  });
  assert.deepEqual(t, { pid: 7, start: 99, namespaces: ["NEWPID", "NEWNET"], cgroupDirs: ["/sys/fs/cgroup/cpu,cpuacct/a", "/sys/fs/cgroup/unified/a"] });
  for (const bad of [null, {}, { init_process_pid: 0, init_process_start: 1, config: { namespaces: [] }, cgroup_paths: {} }, { init_process_pid: 7, init_process_start: 1, config: {}, cgroup_paths: {} }, { init_process_pid: 7, init_process_start: 1, config: { namespaces: [] }, cgroup_paths: { x: "relative" } }]) {
    assert.equal(parseJoinTarget(bad), undefined, JSON.stringify(bad));
  }
});

test("the plan holds every field the helper reads, NUL-separated", () => {
  const fields = encodePlan({ containerId: "abc", target, process: proc(), seccompFile: "/b/seccomp.bpf", stdin: false }).toString().split("\0");
  assert.equal(fields.pop(), "");
  const pairs = (key: string, n = 1): string[][] => fields.flatMap((f, i) => (f === key ? [fields.slice(i + 1, i + 1 + n)] : []));
  assert.deepEqual(pairs("pid"), [["42"]]);
  assert.deepEqual(pairs("start"), [["1234"]]);
  assert.deepEqual(pairs("ns"), [[String(0x20000000 | 0x00020000 | 0x40000000)]]);
  assert.deepEqual(pairs("cgroup"), [["/sys/fs/cgroup/memory/wharf/x/cgroup.procs"], ["/sys/fs/cgroup/unified/wharf/x/cgroup.procs"]]);
  assert.deepEqual(pairs("rlimit", 3), [["7", "512", "1024"]]);
  assert.deepEqual(pairs("caps", 5), [[(1 | (1 << 5)).toString(16), (1 << 5).toString(16), (1 << 5).toString(16), "0", "0"]]);
  assert.deepEqual(pairs("group"), [["10"], ["20"]]);
  assert.deepEqual([pairs("uid"), pairs("gid"), pairs("nnp"), pairs("oom"), pairs("cwd"), pairs("keyring"), pairs("seccomp")], [[["1000"]], [["100"]], [["1"]], [["-5"]], [["/work"]], [["_ses.abc"]], [["/b/seccomp.bpf"]]]);
  assert.deepEqual(pairs("arg"), [["sh"], ["-c"], ["echo hi"]]);
  assert.deepEqual(pairs("env"), [["PATH=/bin"], ["HOME=/root"]]);
  assert.throws(() => encodePlan({ containerId: "abc", target, process: proc({ args: ["a\0b"] }), stdin: false }), /NUL/);
});

test("what the helper does not do leaves the exec to the runtime", () => {
  assert.equal(directExecBlocker(proc(), target, undefined), undefined);
  assert.equal(directExecBlocker(proc({ terminal: true }), target, undefined), "a terminal");
  assert.equal(directExecBlocker(proc(), { ...target, namespaces: [...target.namespaces, "NEWUSER"] }, undefined), "a user namespace");
  assert.equal(directExecBlocker(proc({ apparmorProfile: "docker-default" }), target, undefined), "a security label");
  assert.equal(directExecBlocker(proc({ user: { uid: 0, gid: 0, umask: 0o22 } }), target, undefined), "a umask");
  assert.equal(directExecBlocker(proc(), target, { defaultAction: "SCMP_ACT_ERRNO", flags: ["SECCOMP_FILTER_FLAG_LOG"] }), "seccomp flags");
  assert.equal(directExecBlocker(proc({ rlimits: [{ type: "RLIMIT_BOGUS", soft: 1, hard: 1 }] }), target, undefined), "an rlimit");
});

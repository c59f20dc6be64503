import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { cgroupMounts, ownCgroupProcs, warmCgroupLock } from "./cgroup-lock.js";

const HYBRID = [
  "25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
  "26 25 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755",
  "27 26 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate",
  "28 26 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd",
  "29 26 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct",
  "30 26 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory",
].join("\n");

test("cgroup2 is chosen where it is mounted, the cgroup's path under its mount point", () => {
  const procs = ownCgroupProcs("4:memory:/a/b\n1:name=systemd:/x\n0::/system.slice/wharfd.service\n", cgroupMounts(HYBRID));
  assert.equal(procs, "/sys/fs/cgroup/unified/system.slice/wharfd.service/cgroup.procs");
});

test("without cgroup2, the first v1 hierarchy whose controllers a mount has", () => {
  const v1 = HYBRID.split("\n").filter((l) => !l.includes("cgroup2")).join("\n");
  const mounts = cgroupMounts(v1);
  assert.equal(ownCgroupProcs("3:cpu,cpuacct:/docker/c1\n4:memory:/m\n", mounts), "/sys/fs/cgroup/cpu,cpuacct/docker/c1/cgroup.procs");
  assert.equal(ownCgroupProcs("1:name=systemd:/\n", mounts), "/sys/fs/cgroup/systemd/cgroup.procs");
  assert.equal(ownCgroupProcs("7:pids:/p\n", mounts), undefined, "no mount for the hierarchy");
});

test("a mount of a cgroup below the root maps the path below it; a path outside it is not reachable", () => {
  const mounts = cgroupMounts("40 39 0:24 /kubepods/pod1 /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n");
  assert.equal(ownCgroupProcs("0::/kubepods/pod1/c2\n", mounts), "/sys/fs/cgroup/c2/cgroup.procs");
  assert.equal(ownCgroupProcs("0::/kubepods/pod1\n", mounts), "/sys/fs/cgroup/cgroup.procs");
  assert.equal(ownCgroupProcs("0::/kubepods/pod10\n", mounts), undefined);
  assert.equal(ownCgroupProcs("0::/other\n", mounts), undefined);
});

test("mount points with escaped characters are read as the kernel means them", () => {
  const mounts = cgroupMounts("41 26 0:30 / /mnt/cg\\040v2 rw - cgroup2 none rw\n");
  assert.equal(ownCgroupProcs("0::/\n", mounts), "/mnt/cg v2/cgroup.procs");
});

test("keeping the lock ready leaves this process in its cgroups", async () => {
  const before = readFileSync("/proc/self/cgroup", "utf8");
  warmCgroupLock();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(readFileSync("/proc/self/cgroup", "utf8"), before);
});

// The native side on its own, in a process of its own: it moves the process
// into the cgroup of the file it was given, again and again, until its time
// is up; then its thread ends and the process stays where it is put.
const V1_PIDS = "/sys/fs/cgroup/pids";
test("the warming thread moves the process through the file it was given until its time is up", { skip: !existsSync(`${V1_PIDS}/cgroup.procs`) && "no v1 pids hierarchy" }, () => {
  const dir = `${V1_PIDS}/wharf-test-warm-${process.pid}`;
  mkdirSync(dir);
  try {
    const script = `
      import { readFileSync, writeFileSync, readdirSync } from "node:fs";
      import { setTimeout as sleep } from "node:timers/promises";
      import { sys } from ${JSON.stringify(new URL("../internal/sys.js", import.meta.url).href)};
      const pidsLine = () => readFileSync("/proc/self/cgroup", "utf8").split("\\n").find((l) => /^\\d+:pids:/.test(l));
      const home = pidsLine().split(":")[2];
      const goHome = () => writeFileSync(${JSON.stringify(V1_PIDS)} + home + "/cgroup.procs", String(process.pid));
      const threads = () => readdirSync("/proc/self/task").length;
      const baseline = threads();
      sys().cgroupWarm(${JSON.stringify(`${dir}/cgroup.procs`)}, 60);
      await sleep(20);
      const out = { home, during: pidsLine(), extraThread: threads() - baseline };
      goHome();
      await sleep(150);
      out.threadsAfter = threads() - baseline;
      goHome();
      await sleep(30);
      out.after = pidsLine();
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { during: string; extraThread: number; threadsAfter: number; after: string; home: string };
    assert.match(out.during, new RegExp(`:pids:/wharf-test-warm-${process.pid}$`), "moved while warming");
    assert.equal(out.extraThread, 1, "one thread of its own");
    assert.equal(out.threadsAfter, 0, "the thread ends when its time is up");
    assert.match(out.after, new RegExp(`:pids:${out.home.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`), "no move after the end");
  } finally {
    rmdirSync(dir);
  }
});

// Volumes, copy-on-write tools and health checks end to end with the real
// docker CLI against wharfd: volume create/ls/inspect/rm/prune, `-v name:/path`
// filled from the image, data that outlives its container, read-only binds,
// the --mount forms, diff, commit (-c -m -a -p) and running its image,
// export, cp in both directions (symlinks resolved inside the container, never
// on the host), and health status transitions.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hasCommand, projectRoot, startWharfd, unmountBelow, type Daemon } from "./support/daemons.js";
import { killContainers } from "./support/docker.js";

const haveTools = hasCommand("docker") && hasCommand("runc") && hasCommand("conmon") && hasCommand("unshare") && process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function docker(d: Daemon, args: string[], options: { input?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile("docker", args, { env: d.env, maxBuffer: 1 << 24, timeout: 60_000, ...(options.cwd ? { cwd: options.cwd } : {}) }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.input);
  });
}

async function ok(d: Daemon, args: string[], options: { input?: string; cwd?: string } = {}): Promise<string> {
  const r = await docker(d, args, options);
  assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}


describe("volumes, diff, commit, export, cp and health checks with the docker CLI", { skip: !haveTools && "needs root, docker CLI, runc, conmon and unshare", concurrency: false }, () => {
  let root: string;
  let work: string;
  let d: Daemon;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-volumes-"));
    work = join(root, "work");
    await mkdir(work);
    d = await startWharfd({ root });
    const tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });
    const imported = execFileSync("docker", ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], { input: tar, env: d.env, encoding: "utf8" });
    assert.match(imported, /^sha256:/);
  });

  after(async () => {
    if (d) await d.stop();
    if (root) {
      killContainers(root);
      await unmountBelow(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  test("volume create, ls with filters, inspect, rm, prune", async () => {
    assert.equal((await ok(d, ["volume", "create", "--label", "team=a", "v-one"])).trim(), "v-one");
    await ok(d, ["volume", "create", "v-two"]);
    const inspected = JSON.parse(await ok(d, ["volume", "inspect", "v-one"])) as { Name: string; Driver: string; Labels: Record<string, string>; Mountpoint: string; Scope: string }[];
    assert.equal(inspected[0]!.Name, "v-one");
    assert.equal(inspected[0]!.Driver, "local");
    assert.deepEqual(inspected[0]!.Labels, { team: "a" });
    assert.equal(inspected[0]!.Scope, "local");
    assert.equal(inspected[0]!.Mountpoint, join(root, "data", "volumes", "v-one", "_data"));
    assert.ok(existsSync(inspected[0]!.Mountpoint));
    assert.deepEqual((await ok(d, ["volume", "ls", "-q"])).trim().split("\n").sort(), ["v-one", "v-two"]);
    assert.equal((await ok(d, ["volume", "ls", "-q", "--filter", "label=team=a"])).trim(), "v-one");
    assert.equal((await ok(d, ["volume", "ls", "-q", "--filter", "name=two"])).trim(), "v-two");
    const bad = await docker(d, ["volume", "create", "bad/name"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /includes invalid characters for a local volume name/);
    const missing = await docker(d, ["volume", "inspect", "nope"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no such volume/);
    await ok(d, ["volume", "rm", "v-two"]);
    assert.equal((await ok(d, ["volume", "ls", "-q"])).trim(), "v-one");
    // In use: refused until the container is gone.
    await ok(d, ["create", "--name", "holder", "-v", "v-one:/data", "busybox", "true"]);
    const inUse = await docker(d, ["volume", "rm", "v-one"]);
    assert.notEqual(inUse.code, 0);
    assert.match(inUse.stderr, /volume is in use/);
    assert.equal((await ok(d, ["volume", "ls", "-q", "--filter", "dangling=true"])).trim(), "");
    const prunedWhileUsed = await ok(d, ["volume", "prune", "-f"]);
    assert.doesNotMatch(prunedWhileUsed, /v-one/);
    await ok(d, ["rm", "holder"]);
    assert.equal((await ok(d, ["volume", "ls", "-q", "--filter", "dangling=true"])).trim(), "v-one");
    assert.match(await ok(d, ["volume", "prune", "-f"]), /v-one/);
    assert.equal((await ok(d, ["volume", "ls", "-q"])).trim(), "");
  });

  test("-v name:/path is filled from the image on first use, and its data outlives the container", async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const ls = await ok(d, ["run", "--rm", "-v", "etcvol:/etc", "busybox", "ls", "/etc"]);
    assert.match(ls, /passwd/);
    const data = join(root, "data", "volumes", "etcvol", "_data");
    assert.ok((await readdir(data)).includes("passwd"), "the image's /etc was copied into the volume");
    await ok(d, ["run", "--rm", "-v", "etcvol:/etc", "busybox", "sh", "-c", "echo kept > /etc/marker"]);
    assert.equal(await ok(d, ["run", "--rm", "-v", "etcvol:/other", "busybox", "cat", "/other/marker"]), "kept\n");
    assert.equal(await readFile(join(data, "marker"), "utf8"), "kept\n");
    // Each use of a volume is a mount and then an unmount in the events, as dockerd reports them.
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const uses = await ok(d, ["events", "--since", since, "--until", until, "--filter", "type=volume", "--filter", "volume=etcvol", "--format", "{{.Action}} {{.Actor.Attributes.driver}} {{if .Actor.Attributes.container}}c{{end}}"]);
    assert.deepEqual(uses.trim().split("\n"), ["create local ", ...Array(3).fill(["mount local c", "unmount local c"]).flat()]);
    // nocopy: an empty volume stays empty.
    assert.equal(await ok(d, ["run", "--rm", "-v", "emptyvol:/etc:nocopy", "busybox", "sh", "-c", "ls /etc | wc -l"]), "0\n");
    // Inspect shows the mount as dockerd does.
    await ok(d, ["create", "--name", "mounts", "-v", "etcvol:/etc", "-v", `${work}:/host:ro`, "busybox", "true"]);
    const mounts = JSON.parse(await ok(d, ["inspect", "-f", "{{json .Mounts}}", "mounts"])) as Record<string, unknown>[];
    const vol = mounts.find((m) => m["Destination"] === "/etc");
    assert.deepEqual(vol, { Type: "volume", Name: "etcvol", Source: data, Destination: "/etc", Driver: "local", Mode: "z", RW: true, Propagation: "" });
    const bind = mounts.find((m) => m["Destination"] === "/host");
    assert.deepEqual(bind, { Type: "bind", Source: work, Destination: "/host", Mode: "ro", RW: false, Propagation: "rprivate" });
    await ok(d, ["rm", "mounts"]);
  });

  test("binds: read-only refuses writes, read-write writes reach the host", async () => {
    await writeFile(join(work, "from-host"), "host data\n");
    assert.equal(await ok(d, ["run", "--rm", "-v", `${work}:/h:ro`, "busybox", "cat", "/h/from-host"]), "host data\n");
    const ro = await docker(d, ["run", "--rm", "-v", `${work}:/h:ro`, "busybox", "sh", "-c", "echo x > /h/new"]);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.ok(!existsSync(join(work, "new")));
    await ok(d, ["run", "--rm", "-v", `${work}:/h`, "busybox", "sh", "-c", "echo x > /h/new"]);
    assert.equal(await readFile(join(work, "new"), "utf8"), "x\n");
    // A -v host path that does not exist is made; a --mount bind source must exist.
    await ok(d, ["run", "--rm", "-v", `${join(work, "made")}:/m`, "busybox", "true"]);
    assert.ok(existsSync(join(work, "made")));
    const missing = await docker(d, ["run", "--rm", "--mount", `type=bind,src=${join(work, "absent")},dst=/m`, "busybox", "true"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /bind source path does not exist/);
  });

  test("--mount type=bind|volume|tmpfs with their options; anonymous volumes go with rm -v", async () => {
    const out = await ok(d, [
      "run", "--name", "mnt",
      "--mount", `type=bind,src=${work},dst=/b,readonly`,
      "--mount", "type=volume,src=mvol,dst=/v,volume-nocopy",
      "--mount", "type=volume,dst=/anon",
      "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
      "busybox", "sh", "-c", "grep -E ' /(b|t) ' /proc/mounts; stat -c %a /t; touch /b/x 2>&1 || true",
    ]);
    assert.match(out, / \/b \S+ ro[,\s]/);
    assert.match(out, / \/t tmpfs \S*size=1024k/);
    assert.match(out, /^1770$/m);
    assert.match(out, /Read-only file system/);
    const mounts = JSON.parse(await ok(d, ["inspect", "-f", "{{json .Mounts}}", "mnt"])) as { Type: string; Name?: string; Destination: string }[];
    const anon = mounts.find((m) => m.Destination === "/anon");
    assert.equal(anon?.Type, "volume");
    assert.match(anon?.Name ?? "", /^[0-9a-f]{64}$/);
    assert.ok((await ok(d, ["volume", "ls", "-q"])).includes(anon!.Name!));
    await ok(d, ["rm", "-v", "mnt"]);
    const left = await ok(d, ["volume", "ls", "-q"]);
    assert.ok(!left.includes(anon!.Name!), "rm -v removed the anonymous volume");
    assert.ok(left.includes("mvol"), "rm -v keeps named volumes");
    // An image VOLUME (and -v /path) gets an anonymous volume; --rm takes it away.
    await ok(d, ["commit", "-c", "VOLUME /declared", (await ok(d, ["create", "busybox", "true"])).trim(), "withvol:1"]);
    const id = (await ok(d, ["create", "-v", "/extra", "withvol:1", "true"])).trim();
    const declared = JSON.parse(await ok(d, ["inspect", "-f", "{{json .Mounts}}", id])) as { Destination: string; Type: string }[];
    assert.deepEqual(declared.map((m) => `${m.Type} ${m.Destination}`).sort(), ["volume /declared", "volume /extra"]);
    await ok(d, ["rm", "-v", id]);
    const bad = await docker(d, ["run", "--rm", "--mount", "type=nope,dst=/x", "busybox", "true"]);
    assert.notEqual(bad.code, 0);
  });

  test("diff lists added, changed and deleted paths", async () => {
    await ok(d, ["run", "--name", "differ", "busybox", "sh", "-c", "echo new > /added; rm /etc/group; echo more >> /etc/passwd; mkdir /newdir"]);
    const diff = (await ok(d, ["diff", "differ"])).trim().split("\n");
    assert.deepEqual(diff, ["A /added", "C /etc", "D /etc/group", "C /etc/passwd", "A /newdir"]);
    await ok(d, ["rm", "differ"]);
    // A fresh container has no changes, though runc made its mount points.
    await ok(d, ["run", "--name", "clean", "busybox", "true"]);
    assert.equal((await ok(d, ["diff", "clean"])).trim(), "");
    await ok(d, ["rm", "clean"]);
  });

  test("commit -c -m -a -p makes an image that runs; the original image is untouched", async () => {
    await ok(d, ["run", "-d", "--name", "committer", "busybox", "sh", "-c", "echo committed > /data.txt; rm /etc/group; sleep 300"]);
    await sleep(500);
    const id = (await ok(d, ["commit", "-p", "-a", "Ann Author <ann@example.com>", "-m", "a message", "-c", 'CMD ["cat", "/data.txt"]', "-c", "ENV COMMITTED=yes", "committer", "committed:v1"])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Status}}", "committer"])).trim(), "running", "unpaused after the commit");
    assert.equal(await ok(d, ["run", "--rm", "committed:v1"]), "committed\n");
    assert.equal(await ok(d, ["run", "--rm", "committed:v1", "sh", "-c", "echo $COMMITTED; ls /etc/group 2>&1 || true"]), "yes\nls: /etc/group: No such file or directory\n");
    const meta = (await ok(d, ["image", "inspect", "-f", "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}", "committed:v1"])).trim();
    assert.equal(meta, 'Ann Author <ann@example.com>|a message|["cat","/data.txt"]|2');
    assert.match(await ok(d, ["history", "committed:v1"]), /a message/);
    // The image below does not see the container's writes.
    assert.equal((await docker(d, ["run", "--rm", "busybox", "cat", "/data.txt"])).code, 1);
    const bad = await docker(d, ["commit", "-c", "FROM busybox", "committer", "x:y"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a valid change command/);
    await ok(d, ["rm", "-f", "committer"]);
  });

  test("export writes the flattened filesystem", async () => {
    await ok(d, ["run", "--name", "exporter", "busybox", "sh", "-c", "echo e > /exported; rm /etc/group"]);
    const list = execFileSync("bash", ["-c", "docker export exporter | tar t"], { env: d.env, encoding: "utf8", maxBuffer: 1 << 24 }).split("\n");
    assert.ok(list.includes("exported"));
    assert.ok(list.includes("bin/busybox"));
    assert.ok(list.includes("etc/passwd"));
    assert.ok(!list.includes("etc/group"));
    assert.ok(!list.some((n) => n.includes(".wh.")));
    await ok(d, ["rm", "exporter"]);
  });

  test("cp in both directions, with docker's archive semantics, for running and stopped containers", async () => {
    await ok(d, ["run", "-d", "--name", "cpc", "-v", "cpvol:/vol", "busybox", "sh", "-c", "mkdir -p /d/sub; echo a > /d/a; echo b > /d/sub/b; echo v > /vol/v; sleep 300"]);
    await sleep(500);
    const out = join(work, "cp-out");
    await mkdir(out);
    await ok(d, ["cp", "cpc:/d", join(out, "d1")]);
    assert.equal(await readFile(join(out, "d1", "sub", "b"), "utf8"), "b\n");
    await mkdir(join(out, "existing"));
    await ok(d, ["cp", "cpc:/d", join(out, "existing")]);
    assert.equal(await readFile(join(out, "existing", "d", "a"), "utf8"), "a\n", "a dir into an existing dir lands below it");
    await mkdir(join(out, "contents"));
    await ok(d, ["cp", "cpc:/d/.", join(out, "contents")]);
    assert.deepEqual((await readdir(join(out, "contents"))).sort(), ["a", "sub"], "dir/. copies the contents");
    await ok(d, ["cp", "cpc:/vol/v", join(out, "v")]);
    assert.equal(await readFile(join(out, "v"), "utf8"), "v\n", "volumes are visible to cp");
    // Into the container.
    await writeFile(join(out, "up"), "uploaded\n");
    await ok(d, ["cp", join(out, "up"), "cpc:/d/"]);
    await ok(d, ["cp", join(out, "up"), "cpc:/d/renamed"]);
    await ok(d, ["cp", join(out, "d1"), "cpc:/tree"]);
    assert.equal(await ok(d, ["exec", "cpc", "cat", "/d/up", "/d/renamed", "/tree/sub/b"]), "uploaded\nuploaded\nb\n");
    const missing = await docker(d, ["cp", "cpc:/not-there", out]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Could not find the file \/not-there/);
    // Stopped: the rootfs and the volume are mounted for the copy.
    await ok(d, ["stop", "-t", "0", "cpc"]);
    await ok(d, ["cp", join(out, "up"), "cpc:/vol/while-stopped"]);
    await ok(d, ["cp", "cpc:/d/up", join(out, "from-stopped")]);
    assert.equal(await readFile(join(out, "from-stopped"), "utf8"), "uploaded\n");
    assert.equal(await readFile(join(root, "data", "volumes", "cpvol", "_data", "while-stopped"), "utf8"), "uploaded\n");
    await ok(d, ["rm", "cpc"]);
  });

  test("cp resolves a container's symlinks inside the container, never on the host", async () => {
    await ok(d, ["run", "-d", "--name", "escaper", "busybox", "sh", "-c", "ln -s /etc /escape; ln -s ../../../../../../etc /deep; echo container-passwd > /etc/only-in-container; sleep 300"]);
    await sleep(500);
    const out = join(work, "esc");
    await mkdir(out);
    const marker = join("/etc", `wharf-cp-test-${process.pid}`);
    await writeFile(join(out, "payload"), "payload\n");
    try {
      await ok(d, ["cp", join(out, "payload"), `escaper:/escape/wharf-cp-test-${process.pid}`]);
      await ok(d, ["cp", join(out, "payload"), "escaper:/deep/"]);
      assert.ok(!existsSync(marker), "nothing was written to the host's /etc");
      assert.ok(!existsSync("/etc/payload"), "nothing was written to the host's /etc");
      assert.equal(await ok(d, ["exec", "escaper", "cat", `/etc/wharf-cp-test-${process.pid}`, "/etc/payload"]), "payload\npayload\n");
      // Reading through the links gets the container's files.
      const read = execFileSync("bash", ["-c", "docker cp escaper:/deep/only-in-container - | tar xO"], { env: d.env, encoding: "utf8" });
      assert.equal(read, "container-passwd\n");
      // Without -L the link itself is copied; with -L its target (the container's /etc).
      await ok(d, ["cp", "escaper:/escape", join(out, "link")]);
      assert.equal(execFileSync("readlink", [join(out, "link")], { encoding: "utf8" }).trim(), "/etc");
      await ok(d, ["cp", "-L", "escaper:/escape", join(out, "followed")]);
      assert.ok(existsSync(join(out, "followed", "only-in-container")));
    } finally {
      await rm(marker, { force: true });
      await ok(d, ["rm", "-f", "escaper"]);
    }
  });

  test("cp stays inside the container while the container swaps a directory for a symlink to /", async () => {
    await ok(d, ["run", "-d", "--name", "swapper", "busybox", "sh", "-c", "mkdir /swap; while true; do mv /swap /swap.d; ln -s / /swap; rm /swap; mv /swap.d /swap; done"]);
    const out = join(work, "swap");
    await mkdir(out);
    const name = `wharf-swap-test-${process.pid}`;
    await writeFile(join(out, name), "x\n");
    try {
      for (let i = 0; i < 8; i++) {
        // Either lands in /swap or in the container's own root (or fails when /swap is missing); never on the host.
        await docker(d, ["cp", join(out, name), "swapper:/swap/"]);
        await docker(d, ["cp", join(out, name), "swapper:/swap/etc/"]);
      }
      assert.ok(!existsSync(`/${name}`), "nothing in the host's /");
      assert.ok(!existsSync(`/etc/${name}`), "nothing in the host's /etc");
    } finally {
      await rm(`/${name}`, { force: true });
      await rm(`/etc/${name}`, { force: true });
      await ok(d, ["rm", "-f", "swapper"]);
    }
  });

  test("local driver options: a tmpfs volume and a bind volume are mounted when used", async () => {
    await ok(d, ["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=2m", "tmpvol"]);
    const inspected = JSON.parse(await ok(d, ["volume", "inspect", "tmpvol"])) as { Options: Record<string, string> }[];
    assert.deepEqual(inspected[0]!.Options, { type: "tmpfs", device: "tmpfs", o: "size=2m" });
    assert.match(await ok(d, ["run", "--rm", "-v", "tmpvol:/m", "busybox", "sh", "-c", "grep ' /m ' /proc/mounts"]), /tmpfs \/m tmpfs \S*size=2048k/);
    // Mounted while a running container uses it, unmounted when the last one stops, as dockerd does.
    const tmpMount = join(root, "data", "volumes", "tmpvol", "_data");
    const mountedOnHost = async () => (await readFile("/proc/self/mounts", "utf8")).split("\n").some((l) => l.split(" ")[1] === tmpMount);
    assert.equal(await mountedOnHost(), false, "not mounted once its container ended");
    await ok(d, ["run", "-d", "--name", "holder", "-v", "tmpvol:/m", "busybox", "sleep", "60"]);
    await ok(d, ["run", "--rm", "-v", "tmpvol:/m", "busybox", "sh", "-c", "echo shared > /m/f"]);
    assert.equal(await mountedOnHost(), true, "still mounted for the running holder");
    assert.equal(await ok(d, ["exec", "holder", "cat", "/m/f"]), "shared\n");
    await ok(d, ["rm", "-f", "holder"]);
    assert.equal(await mountedOnHost(), false, "unmounted with its last container");
    const target = join(work, "bound-volume");
    await mkdir(target);
    await ok(d, ["volume", "create", "--opt", "type=none", "--opt", `device=${target}`, "--opt", "o=bind", "bindvol"]);
    await ok(d, ["run", "--rm", "-v", "bindvol:/m", "busybox", "sh", "-c", "echo through > /m/file"]);
    assert.equal(await readFile(join(target, "file"), "utf8"), "through\n");
    await ok(d, ["volume", "rm", "tmpvol", "bindvol"]);
    assert.equal(await readFile(join(target, "file"), "utf8"), "through\n", "removing the volume leaves the bound directory's files");
    const bad = await docker(d, ["volume", "create", "--opt", "colour=red", "badopt"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid option key/);
  });

  test("a daemon killed right after a commit starts again with its volumes and a runnable committed image", async () => {
    await ok(d, ["volume", "create", "survivor"]);
    await ok(d, ["run", "--rm", "-v", "survivor:/s", "busybox", "sh", "-c", "echo still here > /s/f"]);
    await ok(d, ["run", "--name", "pre-crash", "busybox", "sh", "-c", "echo layered > /layer.txt"]);
    await ok(d, ["commit", "pre-crash", "crashed:1"]);
    process.kill(d.pid, "SIGKILL");
    await d.stop();
    d = await startWharfd({ root });
    assert.ok((await ok(d, ["volume", "ls", "-q"])).split("\n").includes("survivor"));
    const user = (await ok(d, ["create", "-v", "survivor:/s", "busybox", "true"])).trim();
    assert.equal((await ok(d, ["ps", "-aq", "--no-trunc", "--filter", "volume=survivor"])).trim(), user);
    await ok(d, ["rm", user]);
    assert.equal(await ok(d, ["run", "--rm", "-v", "survivor:/s", "busybox", "cat", "/s/f"]), "still here\n");
    assert.equal(await ok(d, ["run", "--rm", "crashed:1", "cat", "/layer.txt"]), "layered\n");
    await ok(d, ["rm", "pre-crash"]);
  });

  test("health checks: starting, unhealthy, healthy; in inspect, ps and events", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(d, ["run", "-d", "--name", "checked", "--health-cmd", "test -f /ok", "--health-interval", "200ms", "--health-retries", "2", "--health-timeout", "2s", "busybox", "sleep", "300"]);
    assert.match(await ok(d, ["ps", "--filter", "name=checked", "--format", "{{.Status}}"]), /\(health: starting\)/);
    const waitFor = async (status: string) => {
      for (let i = 0; i < 50; i++) {
        if ((await ok(d, ["inspect", "-f", "{{.State.Health.Status}}", "checked"])).trim() === status) return;
        await sleep(100);
      }
      assert.fail(`health never became ${status}`);
    };
    await waitFor("unhealthy");
    assert.match(await ok(d, ["ps", "--filter", "name=checked", "--format", "{{.Status}}"]), /\(unhealthy\)/);
    await ok(d, ["exec", "checked", "touch", "/ok"]);
    await waitFor("healthy");
    const health = JSON.parse(await ok(d, ["inspect", "-f", "{{json .State.Health}}", "checked"])) as { FailingStreak: number; Log: { ExitCode: number }[] };
    assert.equal(health.FailingStreak, 0);
    assert.equal(health.Log.at(-1)?.ExitCode, 0);
    assert.ok(health.Log.length <= 5);
    assert.match(await ok(d, ["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]), /checked/);
    const events = await ok(d, ["events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=checked", "--format", "{{.Action}}"]);
    assert.match(events, /health_status: unhealthy/);
    assert.match(events, /health_status: healthy/);
    await ok(d, ["rm", "-f", "checked"]);
    // --no-healthcheck turns off an image's check; the image's check runs otherwise.
    await ok(d, ["commit", "-c", 'HEALTHCHECK --interval=200ms CMD ["true"]', (await ok(d, ["create", "busybox"])).trim(), "healthy:1"]);
    await ok(d, ["run", "-d", "--name", "from-image", "healthy:1", "sleep", "300"]);
    await ok(d, ["run", "-d", "--name", "no-check", "--no-healthcheck", "healthy:1", "sleep", "300"]);
    for (let i = 0; i < 50 && (await ok(d, ["inspect", "-f", "{{.State.Health.Status}}", "from-image"])).trim() !== "healthy"; i++) await sleep(100);
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Health.Status}}", "from-image"])).trim(), "healthy");
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Health}}", "no-check"])).trim(), "<nil>");
    await ok(d, ["rm", "-f", "from-image", "no-check"]);
  });
});

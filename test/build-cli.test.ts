// `wharf build` end to end against a wharfd: the flags beyond docker's legacy
// builder — secrets, cache mounts, heredocs, --target, --output, contexts and
// Dockerfiles from stdin — and the cache explanations of --progress=plain.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot, startWharfd, type Daemon } from "./support/daemons.js";

const busyboxTar = () => execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });

describe("wharf build", () => {
  let wharfd: Daemon;
  let work: string;
  const wharf = (args: string[], options: { input?: Buffer | string; cwd?: string } = {}) => {
    const r = spawnSync(join(projectRoot, "bin", "wharf"), ["-H", wharfd.host, ...args], { input: options.input, cwd: options.cwd, maxBuffer: 1 << 28 });
    return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString(), raw: r.stdout };
  };
  const ok = (args: string[], options: { input?: Buffer | string; cwd?: string } = {}) => {
    const r = wharf(args, options);
    assert.equal(r.status, 0, `wharf ${args.join(" ")}: ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const context = async (dockerfile: string, files: Record<string, string> = {}) => {
    const dir = await mkdtemp(join(work, "ctx-"));
    await writeFile(join(dir, "Dockerfile"), dockerfile);
    for (const [name, body] of Object.entries(files)) {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), body);
    }
    return dir;
  };

  before(async () => {
    wharfd = await startWharfd();
    work = await mkdtemp(join(tmpdir(), "wharf-build-cli-"));
    ok(["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], { input: busyboxTar() });
  });
  after(async () => {
    await wharfd?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("a secret is visible to the RUN that mounts it and in no layer, history entry or log", async () => {
    const digest = createHash("sha256").update("s3cr3t-value").digest("hex");
    const dir = await context(`FROM busybox\nRUN --mount=type=secret,id=tok test "$(sha256sum < /run/secrets/tok | cut -d' ' -f1)" = "${digest}" && echo verified > /verified\nRUN test ! -e /run/secrets/tok && echo absent > /absent\n`);
    await writeFile(join(work, "tok"), "s3cr3t-value");
    const log = ok(["build", "--progress=plain", "--secret", `id=tok,src=${join(work, "tok")}`, "-t", "secret:1", dir]);
    assert.doesNotMatch(log, /s3cr3t-value/);
    const archive = wharf(["save", "secret:1"]).raw;
    assert.equal(archive.includes(Buffer.from("s3cr3t-value")), false);
    const out = join(work, "secret-out");
    ok(["build", "-q", "--secret", `id=tok,src=${join(work, "tok")}`, "-o", `type=local,dest=${out}`, dir]);
    assert.equal(await readFile(join(out, "verified"), "utf8"), "verified\n");
    assert.equal(await readFile(join(out, "absent"), "utf8"), "absent\n");
    await assert.rejects(stat(join(out, "run", "secrets")));
    const missing = wharf(["build", "--no-cache", dir]);
    assert.notEqual(missing.status, 0, "without the secret the test in RUN fails");
  });

  test("a cache mount persists between builds and never enters the image", async () => {
    const dir = await context("FROM busybox\nRUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /count\n");
    const out1 = join(work, "cache-1");
    const out2 = join(work, "cache-2");
    ok(["build", "-q", "--no-cache", "-o", `type=local,dest=${out1}`, dir]);
    ok(["build", "-q", "--no-cache", "-o", `type=local,dest=${out2}`, dir]);
    const first = Number((await readFile(join(out1, "count"), "utf8")).trim());
    assert.equal(Number((await readFile(join(out2, "count"), "utf8")).trim()), first + 1);
    await assert.rejects(stat(join(out2, "var", "cache", "app")));
  });

  test("heredocs: a RUN script and a COPY file, expanded unless the word is quoted", async () => {
    const dir = await context('FROM busybox\nARG NAME=world\nRUN <<EOF\necho "hello $NAME" > /greeting\necho second >> /greeting\nEOF\nCOPY <<EOT /expanded\nname=${NAME}\nEOT\nCOPY <<"EOT" /literal\nname=${NAME}\nEOT\n');
    const out = join(work, "heredoc");
    ok(["build", "-q", "-o", `type=local,dest=${out}`, dir]);
    assert.equal(await readFile(join(out, "greeting"), "utf8"), "hello world\nsecond\n");
    assert.equal(await readFile(join(out, "expanded"), "utf8"), "name=world\n");
    assert.equal(await readFile(join(out, "literal"), "utf8"), "name=${NAME}\n");
  });

  test("--target builds only the stages the target needs", async () => {
    const dir = await context("FROM busybox AS base\nRUN echo base > /base\nFROM busybox AS broken\nRUN exit 7\nFROM base AS wanted\nRUN echo wanted > /wanted\nFROM broken\n");
    const log = ok(["build", "--target", "wanted", "-t", "target:1", dir]);
    assert.doesNotMatch(log, /exit 7/);
    const failed = wharf(["build", dir]);
    assert.notEqual(failed.status, 0);
    assert.match(failed.stderr + failed.stdout, /Dockerfile:4: RUN: The command '\/bin\/sh -c exit 7' returned a non-zero code: 7/);
    assert.match(wharf(["build", "--target", "nope", dir]).stderr, /failed to reach build target nope/);
  });

  test("independent stages both reach the final image", async () => {
    const dir = await context("FROM busybox AS a\nRUN sleep 1 && echo a > /a\nFROM busybox AS b\nRUN sleep 1 && echo b > /b\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n");
    const out = join(work, "parallel");
    ok(["build", "-q", "-o", `type=local,dest=${out}`, dir]);
    assert.equal(await readFile(join(out, "a"), "utf8"), "a\n");
    assert.equal(await readFile(join(out, "b"), "utf8"), "b\n");
  });

  test("Dockerfile and context from stdin, several tags, labels, iidfile, docker output", async () => {
    const dir = await context("", { "f.txt": "from the context\n" });
    const iid = join(work, "iid");
    ok(["build", "-f", "-", "-t", "multi:1", "-t", "multi:2", "--label", "team=wharf", "--iidfile", iid, dir], { input: "FROM busybox\nCOPY f.txt /f.txt\n" });
    const id = await readFile(iid, "utf8");
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const inspect = JSON.parse(ok(["image", "inspect", "multi:1"])) as { Id: string; RepoTags: string[]; Config: { Labels: Record<string, string> } }[];
    assert.equal(inspect[0]!.Id, id);
    assert.deepEqual([...inspect[0]!.RepoTags].sort(), ["multi:1", "multi:2"]);
    assert.equal(inspect[0]!.Config.Labels["team"], "wharf");
    // A tarball context on stdin.
    const tar = execFileSync("tar", ["-C", dir, "-cf", "-", "."]);
    const withDockerfile = await context("FROM busybox\nCOPY f.txt /g.txt\n", { "f.txt": "tarred\n" });
    const q = ok(["build", "-q", "-"], { input: execFileSync("tar", ["-C", withDockerfile, "-cf", "-", "."]) }).trim();
    assert.match(q, /^sha256:/);
    assert.ok(tar.length > 0);
    const archive = join(work, "image.tar");
    ok(["build", "-q", "-o", `type=docker,dest=${archive}`, withDockerfile]);
    const listing = execFileSync("tar", ["-tf", archive]).toString();
    assert.match(listing, /manifest\.json/);
  });

  test(".dockerignore keeps files out of COPY, and a Dockerfile's own ignore file wins", async () => {
    const dir = await context("FROM busybox\nCOPY . /ctx/\n", { "keep.txt": "k", "drop.log": "d", "sub/also.log": "d", ".dockerignore": "*.log\n**/*.log\n" });
    const out = join(work, "ignore");
    ok(["build", "-q", "-o", `type=local,dest=${out}`, dir]);
    const names = (await readdir(join(out, "ctx"))).sort();
    assert.deepEqual(names, [".dockerignore", "Dockerfile", "keep.txt", "sub"]);
    assert.deepEqual(await readdir(join(out, "ctx", "sub")), []);
    await writeFile(join(dir, "Custom.Dockerfile"), "FROM busybox\nCOPY . /ctx/\n");
    await writeFile(join(dir, "Custom.Dockerfile.dockerignore"), "keep.txt\n");
    const out2 = join(work, "ignore-2");
    ok(["build", "-q", "-f", join(dir, "Custom.Dockerfile"), "-o", `type=local,dest=${out2}`, dir]);
    const names2 = (await readdir(join(out2, "ctx"))).sort();
    assert.ok(names2.includes("drop.log") && !names2.includes("keep.txt"), names2.join(","));
  });

  test("--progress=plain says why each step missed the cache", async () => {
    const dir = await context("FROM busybox\nARG LEVEL=1\nRUN echo $LEVEL > /level\nENV MODE=fast\nRUN echo $MODE > /mode\n");
    ok(["build", "--progress=plain", "--build-arg", "LEVEL=1", dir]);
    const again = ok(["build", "--progress=plain", "--build-arg", "LEVEL=2", dir]);
    assert.match(again, /RUN echo \$LEVEL > \/level\n ---> Cache miss: build arg LEVEL changed/);
    assert.match(again, /RUN echo \$MODE > \/mode\n ---> Cache miss: an earlier step was rebuilt/);
    const filtered = ok(["build", "--progress=plain", "--build-arg", "LEVEL=2", "--no-cache-filter", "0", dir]);
    assert.match(filtered, /Cache disabled for this step/);
  });

  test("RUN --network=none sees only the loopback interface", async () => {
    const dir = await context("FROM busybox\nRUN --network=none ls /sys/class/net > /nets\n");
    const out = join(work, "net");
    ok(["build", "-q", "-o", `type=local,dest=${out}`, dir]);
    assert.equal((await readFile(join(out, "nets"), "utf8")).trim(), "lo");
  });

  test("RUN --mount=type=bind from another stage reads its files without copying them", async () => {
    const dir = await context("FROM busybox AS tools\nRUN mkdir /opt && echo tool > /opt/tool\nFROM busybox\nRUN --mount=type=bind,from=tools,source=/opt,target=/mnt/tools cat /mnt/tools/tool > /used\n");
    const out = join(work, "bind-from");
    ok(["build", "-q", "-o", `type=local,dest=${out}`, dir]);
    assert.equal(await readFile(join(out, "used"), "utf8"), "tool\n");
    await assert.rejects(stat(join(out, "opt", "tool")));
    await assert.rejects(stat(join(out, "mnt", "tools")));
  });

  test("ONBUILD triggers of a base image run in the stage built on it", async () => {
    const base = await context("FROM busybox\nONBUILD RUN echo triggered > /trigger\n");
    ok(["build", "-q", "-t", "onbuild-base", base]);
    const child = await context("FROM onbuild-base\nRUN cat /trigger > /seen\n");
    const out = join(work, "onbuild");
    ok(["build", "-q", "-t", "onbuild-child", "-o", `type=local,dest=${out}`, child]);
    assert.equal(await readFile(join(out, "seen"), "utf8"), "triggered\n");
    const inspect = JSON.parse(ok(["image", "inspect", "onbuild-child"])) as { Config: { OnBuild: string[] | null } }[];
    assert.ok(!inspect[0]!.Config.OnBuild || inspect[0]!.Config.OnBuild.length === 0, "triggers do not carry over");
  });

  test("ADD of a URL downloads it (mode 0600, checksum checked)", async () => {
    // The server runs in its own process: this one waits in spawnSync while wharfd downloads.
    const { spawn } = await import("node:child_process");
    const server = spawn(process.execPath, ["-e", 'const s=require("http").createServer((q,r)=>{r.writeHead(200,{"Last-Modified":"Wed, 21 Oct 2015 07:28:00 GMT"});r.end("served "+q.url+"\\n")});s.listen(0,"127.0.0.1",()=>console.log(s.address().port))'], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = Number(await new Promise<string>((r) => server.stdout.once("data", (b: Buffer) => r(b.toString().trim()))));
      const body = "served /file.txt\n";
      const sum = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      const dir = await context(`FROM busybox\nADD --checksum=${sum} http://127.0.0.1:${port}/file.txt /downloads/\n`);
      const out = join(work, "add-url");
      ok(["build", "-q", "-o", `type=local,dest=${out}`, dir]);
      assert.equal(await readFile(join(out, "downloads", "file.txt"), "utf8"), body);
      assert.equal((await stat(join(out, "downloads", "file.txt"))).mode & 0o777, 0o600);
      const bad = await context(`FROM busybox\nADD --checksum=sha256:${"0".repeat(64)} http://127.0.0.1:${port}/file.txt /x\n`);
      assert.match(wharf(["build", bad]).stderr, /Dockerfile:2: ADD: checksum/);
    } finally {
      server.kill();
    }
  });

  test("COPY --chmod, --exclude and --parents", async () => {
    const dir = await context("FROM busybox\nCOPY --chmod=0751 run.sh /bin/run.sh\nCOPY --exclude=*.tmp stuff /stuff/\nCOPY --parents a/b/c.txt /p/\n", { "run.sh": "#!/bin/sh\n", "stuff/keep": "k", "stuff/drop.tmp": "d", "a/b/c.txt": "c" });
    const out = join(work, "copy-flags");
    ok(["build", "-q", "-o", `type=local,dest=${out}`, dir]);
    assert.equal((await stat(join(out, "bin", "run.sh"))).mode & 0o777, 0o751);
    assert.deepEqual(await readdir(join(out, "stuff")), ["keep"]);
    assert.equal(await readFile(join(out, "p", "a", "b", "c.txt"), "utf8"), "c");
  });

  test("--cache-from reuses the steps of an image built elsewhere", async () => {
    const dir = await context("FROM busybox\nRUN echo expensive > /result\n");
    ok(["build", "-q", "-t", "cache-source", dir]);
    // A fresh daemon's cache is empty; the image's history is what --cache-from matches.
    const other = await startWharfd();
    try {
      const save = wharf(["save", "cache-source"]).raw;
      const load = spawnSync(join(projectRoot, "bin", "wharf"), ["-H", other.host, "load"], { input: save });
      assert.equal(load.status, 0, load.stderr.toString());
      const imp = spawnSync(join(projectRoot, "bin", "wharf"), ["-H", other.host, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], { input: busyboxTar() });
      assert.equal(imp.status, 0, imp.stderr.toString());
      const r = spawnSync(join(projectRoot, "bin", "wharf"), ["-H", other.host, "build", "--cache-from", "cache-source", dir]);
      assert.equal(r.status, 0, r.stderr.toString());
      assert.match(r.stdout.toString(), /RUN echo expensive > \/result\n ---> Using cache \(from --cache-from\)/);
    } finally {
      await other.stop();
    }
  });

  test("a context that is not a tar is refused with a clear error and tags nothing", async () => {
    const { request } = await import("node:http");
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath: wharfd.socket, method: "POST", path: "/v1.41/build?t=garbage:1", headers: { "Content-Type": "application/x-tar" } }, (res) => {
        let body = "";
        res.on("data", (b: Buffer) => (body += b.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end(Buffer.alloc(4096, 0x41));
    });
    assert.match(answer.body, /read build context/);
    assert.notEqual(wharf(["image", "inspect", "garbage:1"]).status, 0);
  });

  test("builder prune drops the cache: the next build runs every step again", async () => {
    const dir = await context("FROM busybox\nRUN echo pruned > /p\n");
    ok(["build", "-q", dir]);
    assert.match(ok(["build", dir]), /Using cache/);
    assert.match(ok(["builder", "prune", "-f"]), /Total reclaimed space: /);
    assert.match(ok(["build", dir]), /RUN echo pruned > \/p\n ---> Cache miss: no earlier build of this step/);
  });
});

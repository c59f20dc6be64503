// The builder end to end: the same Dockerfiles and contexts built by the real
// docker CLI (legacy builder) against wharfd and against a reference dockerd;
// the resulting root filesystems (paths, types, modes, owners, link targets,
// contents) and configs must match. Then bad Dockerfiles: an error naming the
// file and line, nothing tagged, and a cache that a failed step did not touch.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { decompress, readTar } from "../src/archive/index.js";
import { projectRoot, startDockerd, startWharfd, type Daemon } from "./support/daemons.js";

const busyboxTar = () => execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });

function run(args: string[], env: NodeJS.ProcessEnv, input?: Buffer): { status: number; stdout: string; stderr: string; raw: Buffer } {
  const r = spawnSync("docker", args, { env: { ...env, DOCKER_BUILDKIT: "0" }, input, maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString(), raw: r.stdout };
}

function ok(args: string[], env: NodeJS.ProcessEnv, input?: Buffer): string {
  const r = run(args, env, input);
  assert.equal(r.status, 0, `docker ${args.join(" ")} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

interface FsEntry {
  type: string;
  mode: string;
  owner: string;
  link: string;
  content: string;
}

/** The root filesystem of an image in a `docker save` archive: layers applied in order, whiteouts honoured. */
async function flatten(archive: Buffer): Promise<Map<string, FsEntry>> {
  const files = new Map<string, Buffer>();
  for await (const e of readTar(Readable.from([archive]))) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    files.set(e.header.name.replace(/^\.\//, ""), Buffer.concat(chunks));
  }
  const manifest = JSON.parse(files.get("manifest.json")!.toString()) as { Layers: string[] }[];
  const fs = new Map<string, FsEntry>();
  for (const layer of manifest[0]!.Layers) {
    const added = new Set<string>();
    const removeBelow = (path: string, self: boolean) => {
      for (const k of [...fs.keys()]) if ((self && k === path) || k.startsWith(path === "" ? "" : `${path}/`)) if (!added.has(k)) fs.delete(k);
    };
    for await (const e of readTar(decompress(Readable.from([files.get(layer)!])))) {
      const name = e.header.name.replace(/^\.?\/+/, "").replace(/\/+$/, "");
      if (name === "" || name === ".") continue;
      const slash = name.lastIndexOf("/");
      const dir = slash === -1 ? "" : name.slice(0, slash);
      const base = name.slice(slash + 1);
      const chunks: Buffer[] = [];
      for await (const c of e.body) chunks.push(c);
      if (base === ".wh..wh..opq") {
        removeBelow(dir, false);
        continue;
      }
      if (base.startsWith(".wh.")) {
        removeBelow(dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`, true);
        continue;
      }
      const h = e.header;
      let type: string = h.type;
      let content = createHash("sha256").update(Buffer.concat(chunks)).digest("hex");
      if (h.type === "hardlink") {
        const target = fs.get(h.linkname.replace(/^\.?\/+/, ""));
        type = "file";
        content = target?.content ?? "?";
      }
      if (type !== "file") content = "";
      fs.set(name, { type, mode: (h.mode & 0o7777).toString(8), owner: `${h.uid}:${h.gid}`, link: h.type === "symlink" ? h.linkname : "", content });
      added.add(name);
    }
  }
  return fs;
}

const CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "Healthcheck", "StopSignal", "OnBuild", "Shell"] as const;

interface Case {
  readonly name: string;
  readonly dockerfile: string;
  readonly files?: Record<string, string>;
  readonly args?: string[];
  readonly setup?: (dir: string) => Promise<void>;
}

const CASES: Case[] = [
  {
    name: "metadata instructions",
    dockerfile: [
      "FROM busybox",
      'LABEL a=b "c d"="e f"',
      "ENV X=1 Y=\"two words\"",
      "ENV Z $X-$Y",
      "EXPOSE 80 443/tcp 53/udp",
      'VOLUME ["/data", "/logs"]',
      "USER nobody",
      "STOPSIGNAL SIGINT",
      "HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q localhost || exit 1",
      "ONBUILD RUN echo triggered",
      'SHELL ["/bin/sh", "-ec"]',
      'ENTRYPOINT ["/bin/sh"]',
      "CMD echo hi",
    ].join("\n"),
  },
  {
    name: "RUN, COPY and WORKDIR change the filesystem",
    dockerfile: [
      "FROM busybox",
      "ARG GREETING=hello",
      "RUN mkdir -p /app/bin && echo $GREETING > /app/greeting && ln -s /app/greeting /app/link && chmod 750 /app/bin && chown 33:33 /app/bin",
      "RUN rm /bin/vi && rm -rf /var/www && touch /etc/motd",
      "WORKDIR app/sub",
      "WORKDIR rel",
      "COPY a.txt b.txt ./",
      "COPY dir /copied/",
      "COPY dir/nested/*.txt /globbed/",
      "COPY --chown=33:33 a.txt /owned/a.txt",
      "COPY --chown=www-data dir /owned-dir",
      "COPY exec.sh /usr/local/bin/",
      "COPY link.txt /followed.txt",
      "ADD archive.tar /unpacked/",
      "ADD a.txt /added",
      "RUN cat /app/greeting /added > /combined",
    ].join("\n"),
    files: { "a.txt": "alpha\n", "b.txt": "beta\n", "dir/one": "1", "dir/nested/x.txt": "x", "dir/nested/y.txt": "y", "dir/nested/z.dat": "z", "exec.sh": "#!/bin/sh\necho run\n", "ignored.log": "no", ".dockerignore": "*.log\n" },
    args: ["--build-arg", "GREETING=bonjour"],
    setup: async (dir) => {
      await chmod(join(dir, "exec.sh"), 0o755);
      await chmod(join(dir, "dir", "nested"), 0o700);
      await symlink("a.txt", join(dir, "link.txt"));
      // Inside a copied directory a symlink stays a symlink, dangling or not.
      await symlink("one", join(dir, "dir", "to-one"));
      await symlink("/nowhere", join(dir, "dir", "dangling"));
      await mkdir(join(dir, "src", "inner"), { recursive: true });
      await writeFile(join(dir, "src", "inner", "f"), "in the archive\n");
      execFileSync("tar", ["--owner=12", "--group=34", "-cf", join(dir, "archive.tar"), "-C", join(dir, "src"), "."]);
    },
  },
  {
    name: "multi-stage builds with COPY --from and a stage as base",
    dockerfile: [
      "ARG BASE=busybox",
      "FROM $BASE AS builder",
      "RUN mkdir /out && echo built > /out/artifact && echo more > /out/other",
      "FROM builder AS second",
      "RUN echo second > /out/second",
      "FROM busybox",
      "COPY --from=builder /out/artifact /artifact",
      "COPY --from=second /out /all/",
      "COPY --from=0 /out/other /other",
      'CMD ["cat", "/artifact"]',
    ].join("\n"),
  },
];

async function makeContext(root: string, c: Case): Promise<string> {
  const dir = await mkdtemp(join(root, "ctx-"));
  await writeFile(join(dir, "Dockerfile"), c.dockerfile + "\n");
  for (const [name, body] of Object.entries(c.files ?? {})) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), body);
  }
  await c.setup?.(dir);
  return dir;
}

describe("docker build against wharfd and dockerd", () => {
  let wharfd: Daemon;
  let dockerd: Daemon;
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "wharf-build-"));
    [wharfd, dockerd] = await Promise.all([startWharfd(), startDockerd()]);
    const base = busyboxTar();
    for (const d of [wharfd, dockerd]) ok(["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], d.env, base);
  });
  after(async () => {
    await Promise.all([wharfd?.stop(), dockerd?.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  for (const c of CASES) {
    test(`${c.name}: same root filesystem and config`, async () => {
      const dir = await makeContext(work, c);
      const tag = `case-${CASES.indexOf(c)}`;
      const results = [];
      for (const d of [dockerd, wharfd]) {
        ok(["build", "-q", "-t", tag, ...(c.args ?? []), dir], d.env);
        const archive = run(["save", tag], d.env).raw;
        const inspect = JSON.parse(ok(["image", "inspect", tag], d.env)) as { Config: Record<string, unknown>; Author?: string }[];
        const config = Object.fromEntries(CONFIG_FIELDS.map((f) => [f, inspect[0]!.Config[f] ?? null]));
        results.push({ fs: await flatten(archive), config });
      }
      const [theirs, ours] = results as [(typeof results)[0], (typeof results)[0]];
      assert.ok(theirs.fs.has("bin/busybox") && theirs.fs.size > 100, "the flattened root has the base image's files");
      assert.deepEqual(ours.config, theirs.config);
      const diff: string[] = [];
      for (const [path, e] of theirs.fs) {
        const o = ours.fs.get(path);
        if (!o) diff.push(`missing ${path}`);
        else if (JSON.stringify(o) !== JSON.stringify(e)) diff.push(`${path}: docker ${JSON.stringify(e)} wharf ${JSON.stringify(o)}`);
      }
      for (const path of ours.fs.keys()) if (!theirs.fs.has(path)) diff.push(`extra ${path}`);
      assert.deepEqual(diff, []);
    });
  }

  test("a bad Dockerfile fails with its file and line, and tags nothing", async () => {
    const dir = await makeContext(work, { name: "bad", dockerfile: "FROM busybox\nRUN true\nFOO bar\n" });
    const r = run(["build", "-t", "bad:1", dir], wharfd.env);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, /Dockerfile:3: FOO: unknown instruction: FOO/);
    assert.notEqual(run(["image", "inspect", "bad:1"], wharfd.env).status, 0);
    const missing = await makeContext(work, { name: "missing", dockerfile: "FROM busybox\nCOPY nope /nope\n" });
    const m = run(["build", "-t", "bad:2", missing], wharfd.env);
    assert.notEqual(m.status, 0);
    assert.match(m.stderr + m.stdout, /Dockerfile:2: COPY: .*nope/);
  });

  test("a failed RUN names its exit code, tags nothing and caches nothing", async () => {
    const dir = await makeContext(work, { name: "fail", dockerfile: "FROM busybox\nRUN echo step > /step\nRUN echo oops && exit 3\n" });
    const r = run(["build", "-t", "fail:1", dir], wharfd.env);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr + r.stdout, /Dockerfile:3: RUN: The command '\/bin\/sh -c echo oops && exit 3' returned a non-zero code: 3/);
    assert.notEqual(run(["image", "inspect", "fail:1"], wharfd.env).status, 0);
    // The step before the failure is cached; the failed one is not (it runs again and fails again).
    const again = run(["build", "-t", "fail:1", dir], wharfd.env);
    assert.match(again.stdout, /Step 2\/3 : RUN echo step > \/step\n ---> Using cache/);
    assert.match(again.stdout, /Step 3\/3 : RUN echo oops && exit 3\n ---> Cache miss/);
    assert.notEqual(again.status, 0);
  });

  test("a rebuild uses the cache, and a changed file rebuilds only from the COPY that reads it, saying why", async () => {
    const dir = await makeContext(work, { name: "cache", dockerfile: "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\n", files: { "a.txt": "v1\n" } });
    const first = ok(["build", "-t", "cache:1", dir], wharfd.env);
    assert.match(first, /Cache miss/);
    const id1 = ok(["inspect", "--format", "{{.Id}}", "cache:1"], wharfd.env).trim();
    const second = ok(["build", "-t", "cache:1", dir], wharfd.env);
    assert.doesNotMatch(second, /Cache miss/);
    assert.equal(ok(["inspect", "--format", "{{.Id}}", "cache:1"], wharfd.env).trim(), id1);
    await writeFile(join(dir, "a.txt"), "v2\n");
    const third = ok(["build", "-t", "cache:1", dir], wharfd.env);
    assert.match(third, /Step 2\/4 : RUN echo one > \/one\n ---> Using cache/);
    assert.match(third, /Step 3\/4 : COPY a.txt \/a.txt\n ---> Cache miss: file a.txt changed/);
    assert.match(third, /Step 4\/4 : RUN cat \/a.txt > \/copy\n ---> Cache miss: an earlier step was rebuilt/);
  });
});

// The real docker CLI (client 28.x) against wharf's API server over the
// in-memory image service: what docker users see must be what dockerd gives.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer, type TestServer } from "./testing.js";

function hasDocker(): boolean {
  try {
    execFileSync("docker", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe("the docker CLI against the API server", { skip: !hasDocker() && "docker CLI not on PATH" }, () => {
  let t: TestServer;
  let config: string;
  // The server runs in this process, so the CLI must run asynchronously.
  const docker = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile("docker", args, { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: config, DOCKER_CONFIG: config, DOCKER_HOST: `unix://${t.socket}` }, timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  const ok = async (...args: string[]): Promise<string> => {
    const r = await docker(...args);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    config = await mkdtemp(join(tmpdir(), "wharf-docker-config-"));
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
    await rm(config, { recursive: true, force: true });
  });

  test("docker version shows the server's engine and API versions", async () => {
    assert.equal((await ok("version", "--format", "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}")).trim(), "0.1.0 1.41 1.22 linux");
    const full = await ok("version");
    assert.match(full, /^Server: wharf$/m);
    assert.match(full, /^ Engine:\n  Version:\s+0\.1\.0\n  API version:\s+1\.41 \(minimum version 1\.22\)$/m);
  });

  test("docker info reads the engine's facts", async () => {
    assert.equal((await ok("info", "--format", "{{.Driver}} {{.NCPU}} {{.ServerVersion}} {{.DockerRootDir}}")).trim(), "overlayfs 4 0.1.0 /var/lib/wharf-test");
  });

  test("docker images lists tagged and dangling images as with dockerd", async () => {
    const bb = t.images.add({ tags: ["busybox:latest"], layers: [4_261_550], created: new Date(Date.now() - 3 * 24 * 3600_000).toISOString() });
    const dangling = t.images.add({ seed: "dangling", layers: [1000], created: new Date(Date.now() - 3600_000).toISOString() });
    const lines = (await ok("images")).trimEnd().split("\n");
    assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.ok(lines.some((l) => new RegExp(`^busybox\\s+latest\\s+${bb.id.slice(7, 19)}\\s+3 days ago\\s+4\\.26MB$`).test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => new RegExp(`^<none>\\s+<none>\\s+${dangling.id.slice(7, 19)}\\s+About an hour ago\\s+1kB$`).test(l)), lines.join("\n"));
    assert.equal((await ok("images", "--filter", "dangling=true", "-q")).trim(), dangling.id.slice(7, 19));
    assert.equal((await ok("images", "busybox", "--format", "{{.Repository}}:{{.Tag}}")).trim(), "busybox:latest");
  });

  test("docker image inspect prints the image, and a missing one fails with docker's message", async () => {
    const img = t.images.add({ tags: ["localhost:5000/tools/app:1.0"], cmd: ["app"], seed: "app" });
    const inspect = JSON.parse(await ok("image", "inspect", "localhost:5000/tools/app:1.0")) as { Id: string; RepoTags: string[]; Config: { Cmd: string[] }; RootFS: { Layers: string[] } }[];
    assert.equal(inspect[0]!.Id, img.id);
    assert.deepEqual(inspect[0]!.RepoTags, ["localhost:5000/tools/app:1.0"]);
    assert.deepEqual(inspect[0]!.Config.Cmd, ["app"]);
    assert.deepEqual(inspect[0]!.RootFS.Layers, img.config.rootfs.diff_ids);
    assert.equal((await ok("inspect", "--format", "{{.Id}}", "localhost:5000/tools/app:1.0")).trim(), img.id);
    const missing = await docker("image", "inspect", "nope");
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such image: nope/);
  });

  test("docker tag and docker rmi untag and delete", async () => {
    const img = t.images.add({ tags: ["rmme:1"], seed: "rmme" });
    await ok("tag", "rmme:1", "localhost:5000/other/rmme:2");
    assert.equal((await ok("rmi", "localhost:5000/other/rmme:2")).trim(), "Untagged: localhost:5000/other/rmme:2");
    assert.equal((await ok("rmi", "rmme:1")).trim(), `Untagged: rmme:1\nDeleted: ${img.id}`);
    const gone = await docker("rmi", "rmme:1");
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /No such image: rmme:1/);
  });

  test("docker history, system df and image prune answer", async () => {
    t.images.add({ tags: ["hist:1"], layers: [10, 20], seed: "hist" });
    const history = (await ok("history", "hist:1")).split("\n");
    assert.match(history[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.match(await ok("system", "df"), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
    const dangling = await t.images.list({ dangling: true });
    const pruned = t.images.add({ seed: "to prune", layers: [2000] });
    const out = await ok("image", "prune", "-f");
    assert.match(out, new RegExp(`^deleted: ${pruned.id}$`, "m"));
    const kB = (2000 + dangling.reduce((n, v) => n + v.size, 0)) / 1000;
    assert.match(out, new RegExp(`Total reclaimed space: ${kB}kB`));
  });
});

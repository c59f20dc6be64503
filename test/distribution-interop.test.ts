// Pull and push end to end with real peers: the docker CLI against wharfd,
// CNCF Distribution (Debian's docker-registry) and wharf's own registry (each
// in turn) on a loopback port, a reference
// dockerd pulling what wharf pushed and pushing what wharf pulls, and skopeo
// copying images that wharf must pull with identical digests.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasCommand, projectRoot, startDockerd, startWharfd, type Daemon } from "./support/daemons.js";
import { startRegistry, startWharfRegistry, type Registry } from "./support/registry.js";

const busyboxTar = () => execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { env, input, maxBuffer: 1 << 27, timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function ok(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): string {
  const r = run(cmd, args, env, input);
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const skip = !hasCommand("docker-registry") || !hasCommand("dockerd") ? "needs docker-registry and dockerd (scripts/setup.sh installs them)" : false;

const registries = [
  { name: "CNCF Distribution", start: () => startRegistry() },
  { name: "wharf registry serve", start: () => startWharfRegistry() },
];

for (const peer of registries) describe(`pull and push with the docker CLI, ${peer.name} and dockerd`, { skip }, () => {
  let registry: Registry;
  let wharfd: Daemon;
  let dockerd: Daemon;
  let work: string;
  before(async () => {
    registry = await peer.start();
    wharfd = await startWharfd();
    dockerd = await startDockerd();
    work = await mkdtemp(join(tmpdir(), "wharf-dist-e2e-"));
  });
  after(async () => {
    await wharfd?.stop();
    await dockerd?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("wharf push → docker pull: the image runs the same in both", () => {
    const name = `${registry.host}/interop/bb:v1`;
    ok("docker", ["import", "-c", 'CMD ["sh"]', "-", name], wharfd.env, busyboxTar());
    const out = ok("docker", ["push", name], wharfd.env);
    assert.match(out, new RegExp(`^The push refers to repository \\[${registry.host}/interop/bb\\]`, "m"));
    assert.match(out, /: Pushed$/m);
    const digest = /^v1: digest: (sha256:[a-f0-9]{64}) size: \d+$/m.exec(out)?.[1];
    assert.ok(digest, out);
    const pulled = ok("docker", ["pull", name], dockerd.env);
    assert.match(pulled, new RegExp(`Digest: ${digest}`));
    const script = "echo hello from $(busybox uname -s); ls /bin | busybox wc -l";
    const inDocker = ok("docker", ["run", "--rm", "--network", "none", name, "sh", "-c", script], dockerd.env);
    const inWharf = ok("docker", ["run", "--rm", name, "sh", "-c", script], wharfd.env);
    assert.equal(inWharf, inDocker);
    assert.match(inDocker, /^hello from Linux$/m);
    // A second push costs nothing: every layer is there.
    const again = ok("docker", ["push", name], wharfd.env);
    assert.match(again, /Layer already exists/);
    assert.doesNotMatch(again, /: Pushed$/m);
  });

  test("docker push → wharf pull: same image id, same repo digest, runs the same", () => {
    const name = `${registry.host}/interop/from-docker:v2`;
    // Two layers: busybox, and what a container added on top of it.
    ok("docker", ["import", "-c", 'CMD ["sh"]', "-", "local/base:1"], dockerd.env, busyboxTar());
    ok("docker", ["run", "--name", "committed", "--network", "none", "local/base:1", "sh", "-c", "echo made by dockerd > /etc/marker"], dockerd.env);
    ok("docker", ["commit", "committed", name], dockerd.env);
    ok("docker", ["rm", "committed"], dockerd.env);
    const pushed = ok("docker", ["push", name], dockerd.env);
    const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed)![1]!;
    const out = ok("docker", ["pull", name], wharfd.env);
    assert.match(out, /^v2: Pulling from interop\/from-docker$/m);
    assert.match(out, /: Pull complete$/m);
    assert.match(out, new RegExp(`^Digest: ${digest}$`, "m"));
    assert.match(out, new RegExp(`^Status: Downloaded newer image for ${registry.host}/interop/from-docker:v2$`, "m"));
    const idDocker = ok("docker", ["image", "inspect", "-f", "{{.Id}}", name], dockerd.env).trim();
    const idWharf = ok("docker", ["image", "inspect", "-f", "{{.Id}}", name], wharfd.env).trim();
    assert.equal(idWharf, idDocker);
    const repoDigests = ok("docker", ["image", "inspect", "-f", "{{json .RepoDigests}}", name], wharfd.env).trim();
    assert.deepEqual(JSON.parse(repoDigests), [`${registry.host}/interop/from-docker@${digest}`]);
    const script = "cat /etc/marker; busybox --help | busybox head -1 | busybox cut -c1-7";
    assert.equal(ok("docker", ["run", "--rm", name, "sh", "-c", script], wharfd.env), ok("docker", ["run", "--rm", "--network", "none", name, "sh", "-c", script], dockerd.env));
    // Pulled again: nothing downloads.
    const again = ok("docker", ["pull", name], wharfd.env);
    assert.match(again, /Already exists/);
    assert.match(again, /Status: Image is up to date for/);
    // By digest.
    const byDigest = ok("docker", ["pull", `${registry.host}/interop/from-docker@${digest}`], wharfd.env);
    assert.match(byDigest, new RegExp(`Digest: ${digest}`));
  });

  test("skopeo-copied images pull into wharf with identical digests", { skip: !hasCommand("skopeo") && "needs skopeo" }, async () => {
    const name = `${registry.host}/interop/skopeo:oci`;
    // An OCI layout archive made by wharf's save, copied by skopeo as OCI to the registry.
    ok("docker", ["import", "-c", 'CMD ["sh"]', "-", "local/skopeo:src"], wharfd.env, busyboxTar());
    const archive = join(work, "skopeo.tar");
    ok("docker", ["save", "-o", archive, "local/skopeo:src"], wharfd.env);
    ok("skopeo", ["copy", "--dest-tls-verify=false", "--format", "oci", `docker-archive:${archive}`, `docker://${name}`], process.env);
    const inspected = JSON.parse(ok("skopeo", ["inspect", "--tls-verify=false", `docker://${name}`], process.env)) as { Digest: string };
    const rawConfig = JSON.parse(ok("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${name}`], process.env)) as { config: { digest: string } };
    ok("docker", ["pull", name], wharfd.env);
    const inspect = JSON.parse(ok("docker", ["image", "inspect", name], wharfd.env)) as { Id: string; RepoDigests: string[] }[];
    assert.equal(inspect[0]!.Id, rawConfig.config.digest);
    assert.deepEqual(inspect[0]!.RepoDigests, [`${registry.host}/interop/skopeo@${inspected.Digest}`]);
  });

  test("docker run of an image wharfd lacks pulls it first, as with dockerd", () => {
    const name = `${registry.host}/interop/bb:v1`;
    ok("docker", ["rmi", "-f", name], wharfd.env);
    const r = run("docker", ["run", "--rm", name, "echo", "ran after pull"], wharfd.env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Unable to find image .* locally/);
    assert.match(r.stderr, /Status: Downloaded newer image for/);
    assert.equal(r.stdout, "ran after pull\n");
  });

  test("pull of a missing tag and push without a local image fail with docker's messages", () => {
    const missing = run("docker", ["pull", `${registry.host}/interop/nope:v1`], wharfd.env);
    assert.notEqual(missing.status, 0);
    // CNCF Distribution answers MANIFEST_UNKNOWN for a repository it lacks, wharf's registry NAME_UNKNOWN (both as the spec allows).
    assert.match(missing.stderr, /manifest for .*interop\/nope:v1 not found: (manifest unknown|name unknown)/);
    const nothing = run("docker", ["push", `${registry.host}/interop/absent:v1`], wharfd.env);
    assert.notEqual(nothing.status, 0);
    assert.match(nothing.stderr, /An image does not exist locally with the tag: .*interop\/absent/);
  });

  test("GET /distribution/{name}/json describes the remote image", async () => {
    const name = `${registry.host}/interop/bb:v1`;
    const body = ok("curl", ["-s", "--unix-socket", wharfd.socket, `http://d/v1.41/distribution/${name}/json`], process.env);
    const doc = JSON.parse(body) as { Descriptor: { digest: string; mediaType: string }; Platforms: { os: string }[] };
    assert.match(doc.Descriptor.digest, /^sha256:/);
    assert.equal(doc.Platforms[0]!.os, "linux");
    await writeFile(join(work, "dist.json"), body);
  });
});

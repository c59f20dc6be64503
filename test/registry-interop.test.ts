// Real clients against `wharf registry serve`: skopeo copies in and out with
// digests unchanged, docker (a private dockerd) pushes and pulls, podman
// pulls; without auth, with htpasswd basic auth, with bearer tokens, and over TLS.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import bcrypt from "bcryptjs";
import { call, startTestRegistry, writeOciLayout, type TestRegistry } from "../src/registry/testing.js";
import { hasCommand, projectRoot, startDockerd, type Daemon } from "./support/daemons.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Runs a client without blocking: the registry serves it from this very process. */
function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: options.env ?? process.env, encoding: "utf8", maxBuffer: 1 << 26, timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed (${err.code ?? err.signal}): ${stderr}${stdout}`));
      else resolve(stdout);
    });
    child.stdin?.end(options.input);
  });
}

/** A runnable busybox image as an OCI layout: its manifest bytes and digest. */
async function busyboxLayout(dir: string, tag: string): Promise<{ manifest: Buffer; digest: string; layerDigest: string }> {
  const tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 27 });
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["sh"], Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] }, rootfs: { type: "layers", diff_ids: [sha(tar)] }, history: [{ created_by: "wharf test" }] }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(layer), size: layer.length }] }));
  await writeOciLayout(dir, tag, [layer, config], manifest);
  return { manifest, digest: sha(manifest), layerDigest: sha(layer) };
}

let work: string;
let layout: string;
let image: { manifest: Buffer; digest: string; layerDigest: string };

before(async () => {
  work = await mkdtemp(join(tmpdir(), "wharf-registry-interop-"));
  layout = join(work, "layout");
  image = await busyboxLayout(layout, "1");
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

function hostOf(reg: TestRegistry): string {
  return new URL(reg.url).host;
}

describe("skopeo", { skip: !hasCommand("skopeo") }, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startTestRegistry();
  });
  after(async () => {
    await reg?.stop();
  });

  test("copies an image in and out with its digests unchanged", async () => {
    const host = hostOf(reg);
    await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", `oci:${layout}:1`, `docker://${host}/skopeo/busybox:1`]);
    const head = await call(reg.url, "/v2/skopeo/busybox/manifests/1", { method: "HEAD" });
    assert.equal(head.headers["docker-content-digest"], image.digest);
    const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${host}/skopeo/busybox:1`]);
    assert.equal(sha(Buffer.from(raw)), image.digest);
    const out = join(work, "skopeo-out");
    await run("skopeo", ["copy", "--insecure-policy", "--src-tls-verify=false", `docker://${host}/skopeo/busybox:1`, `oci:${out}:copied`]);
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
    assert.equal(index.manifests[0].digest, image.digest);
    const layer = await readFile(join(out, "blobs", "sha256", image.layerDigest.slice(7)));
    assert.equal(sha(layer), image.layerDigest);
    // Registry to registry: skopeo mounts or re-uploads, the digest stays.
    await run("skopeo", ["copy", "--insecure-policy", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${host}/skopeo/busybox:1`, `docker://${host}/skopeo/again:2`]);
    assert.equal((await call(reg.url, "/v2/skopeo/again/manifests/2", { method: "HEAD" })).headers["docker-content-digest"], image.digest);
    const tags = JSON.parse(await run("skopeo", ["list-tags", "--tls-verify=false", `docker://${host}/skopeo/busybox`]));
    assert.deepEqual(tags.Tags, ["1"]);
  });
});

describe("docker and podman", { skip: !hasCommand("dockerd") || !hasCommand("skopeo") }, () => {
  let reg: TestRegistry;
  let dockerd: Daemon;
  let dockerConfig: string;
  before(async () => {
    reg = await startTestRegistry();
    dockerd = await startDockerd();
    dockerConfig = await mkdtemp(join(tmpdir(), "docker-config-"));
    await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", `oci:${layout}:1`, `docker://${hostOf(reg)}/lib/busybox:1`]);
  });
  after(async () => {
    await dockerd?.stop();
    await reg?.stop();
    if (dockerConfig) await rm(dockerConfig, { recursive: true, force: true });
  });
  const env = () => ({ ...dockerd.env, DOCKER_CONFIG: dockerConfig });

  test("docker pulls an image pushed by skopeo and sees its digest", async () => {
    const ref = `${hostOf(reg)}/lib/busybox:1`;
    const out = await run("docker", ["pull", ref], { env: env() });
    assert.match(out, new RegExp(`Digest: ${image.digest}`));
    assert.equal((await run("docker", ["image", "inspect", "--format", "{{index .RepoDigests 0}}", ref], { env: env() })).trim(), `${hostOf(reg)}/lib/busybox@${image.digest}`);
  });

  test("docker pushes to it and pulls back the same digest", async () => {
    const src = `${hostOf(reg)}/lib/busybox:1`;
    const dst = `${hostOf(reg)}/pushed/by-docker:2`;
    await run("docker", ["pull", src], { env: env() });
    await run("docker", ["tag", src, dst], { env: env() });
    const out = await run("docker", ["push", dst], { env: env() });
    const m = /digest: (sha256:[0-9a-f]{64})/.exec(out);
    assert.ok(m, out);
    const head = await call(reg.url, "/v2/pushed/by-docker/manifests/2", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers["docker-content-digest"], m[1]);
    await run("docker", ["rmi", dst, src], { env: env() });
    const pulled = await run("docker", ["pull", dst], { env: env() });
    assert.match(pulled, new RegExp(`Digest: ${m[1]}`));
  });

  test("podman pulls from it", { skip: !hasCommand("podman") }, async () => {
    const store = await mkdtemp(join(tmpdir(), "podman-"));
    try {
      const args = ["--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"];
      await run("podman", [...args, "pull", "--tls-verify=false", `${hostOf(reg)}/lib/busybox:1`]);
      const digest = (await run("podman", [...args, "image", "inspect", "--format", "{{.Digest}}", `${hostOf(reg)}/lib/busybox:1`])).trim();
      assert.equal(digest, image.digest);
    } finally {
      spawnSync("umount", ["-R", join(store, "root")], { stdio: "ignore" });
      await rm(store, { recursive: true, force: true });
    }
  });
});

async function makeCert(dir: string): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert], { stdio: "ignore" });
  return { cert, key };
}

describe("authentication and TLS", { skip: !hasCommand("skopeo") || !hasCommand("openssl") }, () => {
  let htpasswd: string;
  before(async () => {
    htpasswd = join(work, "htpasswd");
    await writeFile(htpasswd, `alice:${bcrypt.hashSync("secret", 5)}\n`);
  });

  test("basic auth: skopeo needs the right credentials to push; anonymous pull when allowed", async () => {
    const reg = await startTestRegistry({ auth: { htpasswd, anonymousPull: true } });
    try {
      const host = hostOf(reg);
      const ping = await call(reg.url, "/v2/");
      assert.equal(ping.status, 401);
      assert.match(String(ping.headers["www-authenticate"]), /^Basic realm=/);
      await assert.rejects(run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong", `oci:${layout}:1`, `docker://${host}/auth/bb:1`]), /unauthorized|authentication/i);
      await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", "--dest-creds", "alice:secret", `oci:${layout}:1`, `docker://${host}/auth/bb:1`]);
      const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--no-creds", `docker://${host}/auth/bb:1`]);
      assert.equal(sha(Buffer.from(raw)), image.digest);
    } finally {
      await reg.stop();
    }
  });

  test("bearer tokens over TLS: skopeo verifies the certificate and gets scoped tokens", async () => {
    const certs = await makeCert(join(work, "tls"));
    const reg = await startTestRegistry({ tls: certs, auth: { htpasswd, token: { service: "wharf-test" } } });
    try {
      assert.match(reg.url, /^https:/);
      const host = hostOf(reg);
      const certDir = join(work, "certdir");
      await mkdir(certDir, { recursive: true });
      await writeFile(join(certDir, "ca.crt"), await readFile(certs.cert));
      const ping = await call(reg.url, "/v2/", { ca: await readFile(certs.cert) });
      assert.equal(ping.status, 401);
      assert.match(String(ping.headers["www-authenticate"]), new RegExp(`^Bearer realm="https://${host}/token",service="wharf-test"`));
      await assert.rejects(run("skopeo", ["copy", "--insecure-policy", "--dest-cert-dir", certDir, `oci:${layout}:1`, `docker://${host}/tok/bb:1`]), /unauthorized|authentication|denied/i);
      await run("skopeo", ["copy", "--insecure-policy", "--dest-cert-dir", certDir, "--dest-creds", "alice:secret", `oci:${layout}:1`, `docker://${host}/tok/bb:1`]);
      const raw = await run("skopeo", ["inspect", "--raw", "--cert-dir", certDir, "--creds", "alice:secret", `docker://${host}/tok/bb:1`]);
      assert.equal(sha(Buffer.from(raw)), image.digest);
    } finally {
      await reg.stop();
    }
  });

  test("docker logs in with a bearer token registry and pushes and pulls over TLS", { skip: !hasCommand("dockerd") }, async () => {
    const certs = await makeCert(join(work, "tls-docker"));
    const reg = await startTestRegistry({ tls: certs, auth: { htpasswd, token: {} } });
    const dockerd = await startDockerd();
    const config = await mkdtemp(join(tmpdir(), "docker-config-"));
    try {
      const host = hostOf(reg);
      const env = { ...dockerd.env, DOCKER_CONFIG: config };
      await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", "--dest-creds", "alice:secret", `oci:${layout}:1`, `docker://${host}/tok/busybox:1`]);
      await assert.rejects(run("docker", ["pull", `${host}/tok/busybox:1`], { env }), /unauthorized|authentication required|docker login/i);
      await run("docker", ["login", "-u", "alice", "--password-stdin", host], { env, input: "secret\n" });
      assert.match(await run("docker", ["pull", `${host}/tok/busybox:1`], { env }), new RegExp(image.digest));
      await run("docker", ["tag", `${host}/tok/busybox:1`, `${host}/tok/again:3`], { env });
      await run("docker", ["push", `${host}/tok/again:3`], { env });
      assert.equal((await call(reg.url, "/v2/tok/again/tags/list", { ca: await readFile(certs.cert) })).status, 401);
    } finally {
      await dockerd.stop();
      await reg.stop();
      await rm(config, { recursive: true, force: true });
    }
  });

  test("podman pulls with credentials from a token registry", { skip: !hasCommand("podman") }, async () => {
    const reg = await startTestRegistry({ auth: { htpasswd, token: {} } });
    const store = await mkdtemp(join(tmpdir(), "podman-"));
    try {
      const host = hostOf(reg);
      await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", "--dest-creds", "alice:secret", `oci:${layout}:1`, `docker://${host}/tok/busybox:1`]);
      const args = ["--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"];
      await assert.rejects(run("podman", [...args, "pull", "--tls-verify=false", `${host}/tok/busybox:1`]), /unauthorized|authentication/i);
      await run("podman", [...args, "pull", "--tls-verify=false", "--creds", "alice:secret", `${host}/tok/busybox:1`]);
      assert.equal((await run("podman", [...args, "image", "inspect", "--format", "{{.Digest}}", `${host}/tok/busybox:1`])).trim(), image.digest);
    } finally {
      spawnSync("umount", ["-R", join(store, "root")], { stdio: "ignore" });
      await rm(store, { recursive: true, force: true });
      await reg.stop();
    }
  });
});

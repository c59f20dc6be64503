// `wharfd --registry-addr`: the daemon's own image store over the OCI
// distribution API. A push to it is a local image at once; other engines
// (a private dockerd) pull wharfd's local images from it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import bcrypt from "bcryptjs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { call, writeOciLayout } from "../src/registry/testing.js";
import { hasCommand, projectRoot, startDockerd, startWharfd, type Daemon } from "./support/daemons.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env, encoding: "utf8", maxBuffer: 1 << 26, timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed (${err.code ?? err.signal}): ${stderr}${stdout}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("wharfd --registry-addr", { skip: !hasCommand("skopeo") || !hasCommand("dockerd") }, () => {
  let wharfd: Daemon;
  let dockerd: Daemon;
  let work: string;
  let host: string;
  let tar: Buffer;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "wharf-registry-daemon-"));
    const port = await freePort();
    host = `127.0.0.1:${port}`;
    wharfd = await startWharfd({ args: ["--registry-addr", host] });
    dockerd = await startDockerd();
    tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 27 });
  });
  after(async () => {
    await dockerd?.stop();
    await wharfd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("an image pushed with skopeo is a local image of wharfd at once", async () => {
    const layer = gzipSync(tar);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["sh"] }, rootfs: { type: "layers", diff_ids: [sha(tar)] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(layer), size: layer.length }] }));
    await writeOciLayout(join(work, "layout"), "1", [layer, config], manifest);
    await run("skopeo", ["copy", "--insecure-policy", "--dest-tls-verify=false", `oci:${join(work, "layout")}:1`, `docker://${host}/pushed/app:1`]);
    const inspect = JSON.parse(await run("docker", ["image", "inspect", "pushed/app:1"], wharfd.env));
    assert.equal(inspect[0].Id, sha(config));
    assert.deepEqual(inspect[0].RepoDigests, [`pushed/app@${sha(manifest)}`]);
    const head = await call(`http://${host}`, "/v2/pushed/app/manifests/1", { method: "HEAD" });
    assert.equal(head.headers["docker-content-digest"], sha(manifest));
  });

  test("a local image (docker import into wharfd) is pulled by another engine, and a local tag is a registry tag", async () => {
    await run("docker", ["import", "-c", 'CMD ["sh"]', "-", "local/tool:2"], wharfd.env, tar);
    const tags = await call(`http://${host}`, "/v2/local/tool/tags/list");
    assert.deepEqual(tags.json(), { name: "local/tool", tags: ["2"] });
    const out = await run("docker", ["pull", `${host}/local/tool:2`], dockerd.env);
    const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    const head = await call(`http://${host}`, "/v2/local/tool/manifests/2", { method: "HEAD" });
    assert.equal(digest, head.headers["docker-content-digest"]);
    assert.equal((await run("docker", ["image", "inspect", "--format", "{{.Id}}", `${host}/local/tool:2`], dockerd.env)).trim(), (await run("docker", ["image", "inspect", "--format", "{{.Id}}", "local/tool:2"], wharfd.env)).trim());
    await run("docker", ["tag", "local/tool:2", "local/tool:3"], wharfd.env);
    assert.deepEqual((await call(`http://${host}`, "/v2/local/tool/tags/list")).json().tags, ["2", "3"]);
  });

  test("docker push from another engine makes the image available to wharfd", async () => {
    await run("docker", ["tag", `${host}/local/tool:2`, `${host}/from/docker:4`], dockerd.env);
    const out = await run("docker", ["push", `${host}/from/docker:4`], dockerd.env);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    assert.ok(digest, out);
    const inspect = JSON.parse(await run("docker", ["image", "inspect", "from/docker:4"], wharfd.env));
    assert.equal(inspect[0].Id, (await run("docker", ["image", "inspect", "--format", "{{.Id}}", `${host}/from/docker:4`], dockerd.env)).trim());
    assert.deepEqual(inspect[0].RepoDigests, [`from/docker@${digest}`]);
    await run("docker", ["rmi", "from/docker:4"], wharfd.env);
    assert.equal((await call(`http://${host}`, "/v2/from/docker/manifests/4")).status, 404);
  });
});

describe("wharfd --registry-config: TLS, basic auth and a name prefix", { skip: !hasCommand("skopeo") || !hasCommand("openssl") }, () => {
  let wharfd: Daemon;
  let work: string;
  let host: string;
  let base: string;
  let ca: Buffer;
  let tar: Buffer;
  const auth = { Authorization: `Basic ${Buffer.from("alice:secret").toString("base64")}` };
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "wharf-registry-config-"));
    const cert = join(work, "cert.pem");
    const key = join(work, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    ca = await readFile(cert);
    const htpasswd = join(work, "htpasswd");
    await writeFile(htpasswd, `alice:${bcrypt.hashSync("secret", 5)}\n`);
    const config = join(work, "registry.json");
    await writeFile(config, JSON.stringify({ tls: { cert, key }, auth: { htpasswd }, names: { prefix: "localhost:5000/" } }));
    host = `127.0.0.1:${await freePort()}`;
    base = `https://${host}`;
    wharfd = await startWharfd({ args: ["--registry-addr", host, "--registry-config", config] });
    tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 27 });
  });
  after(async () => {
    await wharfd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("over TLS, a request without credentials is challenged and one with them answered", async () => {
    const anon = await call(base, "/v2/", { ca });
    assert.equal(anon.status, 401);
    assert.match(String(anon.headers["www-authenticate"]), /^Basic realm=/);
    assert.equal((await call(base, "/v2/", { ca, headers: auth })).status, 200);
    assert.equal((await call(base, "/v2/", { ca, headers: { Authorization: `Basic ${Buffer.from("alice:wrong").toString("base64")}` } })).status, 401);
  });

  test("only local images under the prefix are repositories, named without it; a push lands under it", async () => {
    await run("docker", ["import", "-", "localhost:5000/team/tool:1"], wharfd.env, tar);
    await run("docker", ["import", "-", "other:1"], wharfd.env, tar);
    const catalog = await call(base, "/v2/_catalog", { ca, headers: auth });
    assert.deepEqual(catalog.json(), { repositories: ["team/tool"] });
    assert.deepEqual((await call(base, "/v2/team/tool/tags/list", { ca, headers: auth })).json(), { name: "team/tool", tags: ["1"] });
    assert.equal((await call(base, "/v2/other/manifests/1", { ca, headers: auth })).status, 404);
    const certDir = join(work, "certs");
    execFileSync("mkdir", ["-p", certDir]);
    await writeFile(join(certDir, "ca.crt"), ca);
    await run("skopeo", ["copy", "--insecure-policy", "--src-cert-dir", certDir, "--src-creds", "alice:secret", "--dest-cert-dir", certDir, "--dest-creds", "alice:secret", `docker://${host}/team/tool:1`, `docker://${host}/copied:2`]);
    const ids = (await run("docker", ["image", "inspect", "--format", "{{.Id}}", "localhost:5000/copied:2", "localhost:5000/team/tool:1"], wharfd.env)).trim().split("\n");
    assert.equal(ids.length, 2);
    assert.equal(ids[0], ids[1]);
    await assert.rejects(run("skopeo", ["inspect", "--cert-dir", certDir, `docker://${host}/copied:2`]), /unauthorized|authentication required|401/i);
  });
});

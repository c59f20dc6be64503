// login, logout, pull and push from the wharf CLI and the docker CLI against
// wharfd and a registry that wants credentials: the credentials land in
// docker's config.json (or a credential helper), either CLI reads what the
// other wrote, and they go only to the registry that asked for them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestRegistry } from "../src/distribution/testing.js";
import { projectRoot, startWharfd, type Daemon } from "./support/daemons.js";

const busyboxTar = () => execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });

/** Runs a command without blocking the event loop: the test registry answers from this process. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string | Buffer): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe("registry credentials from the CLIs", () => {
  let wharfd: Daemon;
  let registry: TestRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const wharf = (args: string[], input?: string | Buffer) => run(join(projectRoot, "bin", "wharf"), ["-H", wharfd.host, ...args], env, input);
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "wharf-login-"));
    registry = new TestRegistry();
    await registry.start();
    registry.auth = { kind: "bearer", username: "alice", password: "s3cret" };
    wharfd = await startWharfd();
    env = { ...process.env, DOCKER_CONFIG: join(work, "docker"), DOCKER_HOST: wharfd.host };
    const imported = await wharf(["import", "-", `${registry.host}/private/bb:v1`], busyboxTar());
    assert.equal(imported.status, 0, imported.stderr);
  });
  after(async () => {
    await wharfd?.stop();
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  test("push without credentials is refused; after wharf login it works and config.json holds docker's entry", async () => {
    const denied = await wharf(["push", `${registry.host}/private/bb:v1`]);
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /denied|unauthorized/);
    const wrong = await wharf(["login", "-u", "alice", "--password-stdin", registry.host], "nope\n");
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /unauthorized: incorrect username or password/);
    const login = await wharf(["login", "-u", "alice", "--password-stdin", registry.host], "s3cret\n");
    assert.equal(login.status, 0, login.stderr);
    assert.match(login.stdout, /^Login Succeeded$/m);
    const config = JSON.parse(await readFile(join(work, "docker", "config.json"), "utf8")) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(config.auths[registry.host]!.auth, "base64").toString(), "alice:s3cret");
    const pushed = await wharf(["push", `${registry.host}/private/bb:v1`]);
    assert.equal(pushed.status, 0, pushed.stderr);
    assert.match(pushed.stdout, /v1: digest: sha256:/);
    assert.ok(registry.tokenRequests.some((s) => s.includes("repository:private/bb:pull,push")));
  });

  test("the docker CLI pulls through wharfd with the credentials wharf stored; logout removes them", async () => {
    const rmi = await wharf(["rmi", `${registry.host}/private/bb:v1`]);
    assert.equal(rmi.status, 0, rmi.stderr);
    const pulled = await run("docker", ["pull", `${registry.host}/private/bb:v1`], env);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stdout, /Status: Downloaded newer image/);
    const logout = await wharf(["logout", registry.host]);
    assert.match(logout.stdout, new RegExp(`Removing login credentials for ${registry.host}`));
    const denied = await wharf(["pull", `${registry.host}/private/bb:v1`]);
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /pull access denied/);
  });

  test("docker login through wharfd's /auth writes docker's file, which wharf then reads", async () => {
    const login = await run("docker", ["login", "-u", "alice", "--password-stdin", registry.host], env, "s3cret\n");
    assert.equal(login.status, 0, login.stderr);
    const pulled = await wharf(["pull", "-q", `${registry.host}/private/bb:v1`]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.equal(pulled.stdout.trim(), `${registry.host}/private/bb:v1`);
    await run("docker", ["logout", registry.host], env);
  });

  test("a credential helper named in config.json is asked for the credentials", async () => {
    const bin = join(work, "bin");
    execFileSync("mkdir", ["-p", bin]);
    const store = join(work, "helper-store.json");
    await writeFile(store, JSON.stringify({ [registry.host]: { Username: "alice", Secret: "s3cret" } }));
    const helper = join(bin, "docker-credential-wharftest");
    await writeFile(
      helper,
      `#!/bin/sh\nread server\ncase "$1" in\n  get) node -e 'const s=require(process.argv[1]);const e=s[process.argv[2]];if(!e){console.log("credentials not found in native keychain");process.exit(1)}console.log(JSON.stringify({ServerURL:process.argv[2],...e}))' ${store} "$server" ;;\n  erase) ;;\n  *) exit 1 ;;\nesac\n`,
    );
    await chmod(helper, 0o755);
    await writeFile(join(work, "docker", "config.json"), JSON.stringify({ auths: {}, credHelpers: { [registry.host]: "wharftest" } }));
    const helperEnv = { ...env, PATH: `${bin}:${env["PATH"]}` };
    const pulled = await run(join(projectRoot, "bin", "wharf"), ["-H", wharfd.host, "pull", `${registry.host}/private/bb:v1`], helperEnv);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stdout, /Status: (Image is up to date|Downloaded newer image)/);
  });

  test("image inspect --remote shows the registry's image as inspect shows a stored one, without pulling it", async () => {
    const name = `${registry.host}/private/bb:v1`;
    await writeFile(join(work, "docker", "config.json"), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }));
    const local = JSON.parse((await wharf(["image", "inspect", name])).stdout) as [{ Id: string; Config: { Cmd: string[] | null }; Os: string }];
    const manifestsBefore = registry.seen.filter((s) => s.url.includes("/manifests/")).length;
    const remote = await wharf(["image", "inspect", "--remote", name]);
    assert.equal(remote.status, 0, remote.stderr);
    const [doc] = JSON.parse(remote.stdout) as [{ Id: string; RepoTags: string[]; RepoDigests: string[]; Config: { Cmd: string[] | null }; Os: string; Size: number }];
    assert.equal(doc.Id, local[0].Id);
    assert.deepEqual(doc.RepoTags, []);
    const stored = registry.manifests.get("private/bb")!.get("v1")!;
    const digest = `sha256:${createHash("sha256").update(stored.bytes).digest("hex")}`;
    assert.deepEqual(doc.RepoDigests, [`${registry.host}/private/bb@${digest}`]);
    assert.deepEqual(doc.Config.Cmd, local[0].Config.Cmd);
    assert.equal(doc.Os, "linux");
    assert.ok(doc.Size > 0);
    assert.ok(registry.seen.filter((s) => s.url.includes("/manifests/")).length > manifestsBefore, "asked the registry");
    const formatted = await wharf(["image", "inspect", "--remote", "-f", "{{.Os}} {{len .RootFS.Layers}}", name]);
    assert.equal(formatted.stdout, "linux 1\n", formatted.stderr);
    const missing = await wharf(["image", "inspect", "--remote", `${registry.host}/private/bb:nope`]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /manifest for .*private\/bb:nope not found/);
    assert.equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
    const misuse = await wharf(["image", "inspect", "--platform", "linux/arm64", name]);
    assert.notEqual(misuse.status, 0);
    assert.match(misuse.stderr, /--platform is only valid with --remote/);
  });

  test("a build pulls a base image it lacks with the client's credentials (wharf build and docker build); --pull pulls again; without credentials it fails at the FROM line", async () => {
    const base = `${registry.host}/private/bb:v1`;
    const dir = join(work, "ctx");
    execFileSync("mkdir", ["-p", dir]);
    await writeFile(join(dir, "Dockerfile"), `FROM ${base}\nRUN echo built > /marker\n`);
    await writeFile(join(work, "docker", "config.json"), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }));
    assert.equal((await wharf(["rmi", base])).status, 0);
    const built = await wharf(["build", "-t", "local/built:1", dir]);
    assert.equal(built.status, 0, built.stderr + built.stdout);
    assert.match(built.stdout, /^v1: Pulling from private\/bb$/m);
    assert.match(built.stdout, /Status: Downloaded newer image for /);
    const ran = await wharf(["run", "--rm", "local/built:1", "cat", "/marker"]);
    assert.equal(ran.stdout, "built\n", ran.stderr);

    // The docker CLI's legacy builder sends every stored credential in X-Registry-Config.
    assert.equal((await wharf(["rmi", "local/built:1", base])).status, 0);
    const byDocker = await run("docker", ["build", "-t", "local/built:2", dir], { ...env, DOCKER_BUILDKIT: "0" });
    assert.equal(byDocker.status, 0, byDocker.stderr + byDocker.stdout);
    assert.match(byDocker.stdout, /Pulling from private\/bb/);

    // --pull asks the registry even though the image is here.
    const manifestsBefore = registry.seen.filter((x) => x.url.includes("/manifests/")).length;
    const pulled = await wharf(["build", "--pull", "-t", "local/built:3", dir]);
    assert.equal(pulled.status, 0, pulled.stderr + pulled.stdout);
    assert.ok(registry.seen.filter((x) => x.url.includes("/manifests/")).length > manifestsBefore);
    assert.match(pulled.stdout, /Status: Image is up to date for /);

    // No credentials: the pull is refused, and the error names the Dockerfile's line.
    assert.equal((await wharf(["rmi", "local/built:2", "local/built:3", base])).status, 0);
    await writeFile(join(work, "docker", "config.json"), JSON.stringify({ auths: {} }));
    const denied = await wharf(["build", "-t", "local/built:4", dir]);
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /Dockerfile:1: FROM: .*(denied|unauthorized)/);
    const images = await wharf(["images", "-q", "local/built"]);
    assert.equal(images.stdout, "");
  });
});

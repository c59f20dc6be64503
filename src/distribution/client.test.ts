// The registry client against the test registry: auth flows, credentials
// kept to their host, redirects, retries, limits.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { digestOf, MediaType, parseDigest, type Descriptor } from "../oci/index.js";
import { isKind } from "../internal/index.js";
import { parseChallenges } from "./auth.js";
import { RegistryClient } from "./client.js";
import { RegistryHosts, isLoopback, parseInsecureEntry } from "./hosts.js";
import { TestRegistry } from "./testing.js";

const FAST = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

async function registry(t: TestContext): Promise<TestRegistry> {
  const r = new TestRegistry();
  await r.start();
  t.after(() => r.close());
  return r;
}

function client(): RegistryClient {
  return new RegistryClient({ hosts: new RegistryHosts({ certsDir: "/nonexistent" }), retry: FAST });
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

/** A plain server on another port: another host as far as credentials go. */
async function otherHost(t: TestContext, handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; host: string; seen: (string | undefined)[] }> {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    handler!(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test("challenges are parsed with quoted values, commas inside quotes and several schemes", () => {
  const c = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push", Basic realm="x"');
  assert.equal(c.length, 2);
  assert.equal(c[0]!.scheme, "bearer");
  assert.equal(c[0]!.params["scope"], "repository:a/b:pull,push");
  assert.equal(c[0]!.params["service"], "registry.example");
  assert.equal(c[1]!.scheme, "basic");
});

test("loopback registries are insecure by default; others only when configured", () => {
  const hosts = new RegistryHosts({ insecure: ["10.1.0.0/16", "reg.local:5000"] });
  assert.ok(isLoopback("127.0.0.1:5000") && isLoopback("localhost") && isLoopback("[::1]:5000"));
  assert.ok(hosts.isInsecure("127.0.0.1:5000"));
  assert.ok(hosts.isInsecure("10.1.2.3:443"));
  assert.ok(hosts.isInsecure("reg.local:5000"));
  assert.ok(!hosts.isInsecure("reg.local:6000"));
  assert.ok(!hosts.isInsecure("registry.example"));
  assert.deepEqual(hosts.endpoints("registry.example", "pull").map((e) => e.scheme), ["https"]);
  assert.deepEqual(hosts.endpoints("127.0.0.1:5000", "pull").map((e) => e.scheme), ["https", "http"]);
  assert.equal(hosts.endpoints("docker.io", "push")[0]!.host, "registry-1.docker.io");
  assert.throws(() => parseInsecureEntry("a b"), /invalid insecure registry/);
});

test("mirrors are tried first for Docker Hub pulls, never for pushes or other registries", () => {
  const hosts = new RegistryHosts({ mirrors: ["https://mirror.example"] });
  assert.deepEqual(hosts.endpoints("docker.io", "pull").map((e) => e.host), ["mirror.example", "registry-1.docker.io"]);
  assert.deepEqual(hosts.endpoints("docker.io", "push").map((e) => e.host), ["registry-1.docker.io"]);
  assert.deepEqual(hosts.endpoints("quay.io", "pull").map((e) => e.host), ["quay.io"]);
});

test("a plain-HTTP loopback registry is reached after HTTPS fails, and the working endpoint is remembered", async (t) => {
  const r = await registry(t);
  const img = r.addImage("a/b", "v1", [Buffer.from("layer")]);
  const c = client();
  const m = await c.repository(r.host, "a/b", { purpose: "pull" }).getManifest("v1");
  assert.equal(m.digest, img.manifest);
  const again = c.repository(r.host, "a/b", { purpose: "pull" });
  await again.getManifest("v1");
  assert.equal(again.endpoint.scheme, "http");
});

test("bearer tokens are fetched with the operation's scope and reused for the next request", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "bearer", username: "u", password: "p" };
  const img = r.addImage("team/app", "v1", [Buffer.from("layer")]);
  const repo = client().repository(r.host, "team/app", { purpose: "pull", credentials: { username: "u", password: "p" } });
  await repo.getManifest("v1");
  await repo.getManifest(img.manifest);
  assert.ok(await repo.hasBlob(img.config));
  assert.deepEqual(r.tokenRequests, [["repository:team/app:pull"]]);
  const tokenCall = r.seen.find((s) => s.url.startsWith("/token"))!;
  assert.equal(tokenCall.authorization, "Basic " + Buffer.from("u:p").toString("base64"));
});

test("the next operation with the same credentials reuses the token; other credentials get their own", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "bearer", username: "u", password: "p", anonymousPull: true };
  r.addImage("app", "v1", [Buffer.from("layer")]);
  const c = client();
  await c.repository(r.host, "app", { purpose: "pull", credentials: { username: "u", password: "p" } }).getManifest("v1");
  await c.repository(r.host, "app", { purpose: "pull", credentials: { username: "u", password: "p" } }).getManifest("v1");
  assert.equal(r.tokenRequests.length, 1);
  await c.repository(r.host, "app", { purpose: "pull" }).getManifest("v1");
  assert.equal(r.tokenRequests.length, 2);
  assert.equal(r.seen.filter((s) => s.url.startsWith("/token")).at(-1)!.authorization, undefined);
});

test("an expired token is fetched again", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "bearer", username: "u", password: "p", expiresIn: 1 };
  r.addImage("app", "v1", [Buffer.from("layer")]);
  const repo = client().repository(r.host, "app", { purpose: "pull", credentials: { username: "u", password: "p" } });
  await repo.getManifest("v1");
  // The server forgets the token (as after its expiry); the client must take a new one, once.
  r.tokens.clear();
  await repo.getManifest("v1");
  assert.equal(r.tokenRequests.length, 2);
});

test("wrong credentials fail with unauthorized and a message, not a loop", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "bearer", username: "u", password: "p" };
  r.addImage("app", "v1", [Buffer.from("layer")]);
  const repo = client().repository(r.host, "app", { purpose: "pull", credentials: { username: "u", password: "wrong" } });
  await assert.rejects(repo.getManifest("v1"), (e) => isKind(e, "unauthorized") && /incorrect username or password/.test((e as Error).message));
  assert.ok(r.tokenRequests.length <= 2);
});

test("anonymous pulls get a token without credentials; an anonymous push is refused", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "bearer", username: "u", password: "p", anonymousPull: true };
  r.addImage("pub", "v1", [Buffer.from("layer")]);
  const repo = client().repository(r.host, "pub", { purpose: "push" });
  await repo.getManifest("v1");
  assert.equal(r.seen.find((s) => s.url.startsWith("/token"))!.authorization, undefined);
  await assert.rejects(repo.startUpload(), (e) => isKind(e, "unauthorized"));
});

test("basic auth is answered with the credentials after the challenge", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "basic", username: "u", password: "p" };
  r.addImage("app", "v1", [Buffer.from("layer")]);
  const c = client();
  await c.repository(r.host, "app", { purpose: "pull", credentials: { username: "u", password: "p" } }).getManifest("v1");
  await assert.rejects(c.login(r.host, { username: "u", password: "nope" }), (e) => isKind(e, "unauthorized"));
  await c.login(r.host, { username: "u", password: "p" });
});

test("a redirect to another host (blob storage) gets the blob without the credentials", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "basic", username: "u", password: "p" };
  const blob = Buffer.from("stored elsewhere");
  const storage = await otherHost(t, (_req, res) => {
    res.writeHead(200, { "Content-Length": blob.length });
    res.end(blob);
  });
  const digest = digestOf(blob);
  r.intercept = (req, res, url) => {
    if (url.pathname.endsWith(`/blobs/${digest}`) && req.headers.authorization) {
      res.writeHead(307, { Location: `http://${storage.host}/bucket/${digest.slice(7)}?sig=1` });
      res.end();
      return true;
    }
    return false;
  };
  const repo = client().repository(r.host, "app", { purpose: "pull", credentials: { username: "u", password: "p" } });
  const { body } = await repo.openBlob({ mediaType: "x", digest, size: blob.length }, 0);
  assert.deepEqual(await readAll(body as AsyncIterable<Buffer>), blob);
  assert.deepEqual(storage.seen, [undefined]);
});

test("foreign layer URLs are fetched without credentials", async (t) => {
  const r = await registry(t);
  r.auth = { kind: "basic", username: "u", password: "p" };
  const blob = Buffer.from("foreign layer");
  const foreign = await otherHost(t, (_req, res) => {
    res.writeHead(200, { "Content-Length": blob.length });
    res.end(blob);
  });
  const repo = client().repository(r.host, "app", { purpose: "pull", credentials: { username: "u", password: "p" } });
  await repo.ping();
  const desc: Descriptor = { mediaType: MediaType.DockerLayerForeign, digest: digestOf(blob), size: blob.length, urls: [`http://${foreign.host}/layer.tar.gz`] };
  const { body } = await repo.openBlob(desc, 0);
  assert.deepEqual(await readAll(body as AsyncIterable<Buffer>), blob);
  assert.deepEqual(foreign.seen, [undefined]);
});

test("500 and 429 answers are retried with backoff; a 404 is not", async (t) => {
  const r = await registry(t);
  r.addImage("app", "v1", [Buffer.from("layer")]);
  let failures = 0;
  r.intercept = (_req, res, url) => {
    if (url.pathname.includes("/manifests/") && failures < 2) {
      failures++;
      res.writeHead(failures === 1 ? 500 : 429, { "Retry-After": "0", "Content-Length": 0 });
      res.end();
      return true;
    }
    return false;
  };
  await client().repository(r.host, "app", { purpose: "pull" }).getManifest("v1");
  assert.equal(failures, 2);
  const before = r.seen.length;
  await assert.rejects(client().repository(r.host, "app", { purpose: "pull" }).getManifest("nope"), (e) => isKind(e, "not-found") && /manifest unknown/.test((e as Error).message));
  assert.ok(r.seen.length - before <= 3);
});

test("a dropped connection is retried; a registry that always drops gives up with unavailable", async (t) => {
  const r = await registry(t);
  r.addImage("app", "v1", [Buffer.from("layer")]);
  let drops = 0;
  let always = false;
  r.intercept = (req, _res, url) => {
    if (url.pathname.includes("/manifests/") && (always || drops < 1)) {
      drops++;
      req.socket.destroy();
      return true;
    }
    return false;
  };
  const c = client();
  await c.repository(r.host, "app", { purpose: "pull" }).getManifest("v1");
  always = true;
  await assert.rejects(c.repository(r.host, "app", { purpose: "pull" }).getManifest("v1"), (e) => isKind(e, "unavailable"));
  assert.ok(drops >= 1 + FAST.attempts);
});

test("manifests larger than 4 MiB are refused", async (t) => {
  const r = await registry(t);
  const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
  r.addManifest("app", "big", big, MediaType.OciManifest);
  await assert.rejects(client().repository(r.host, "app", { purpose: "pull" }).getManifest("big"), /more than the limit of 4194304/);
});

test("a manifest fetched by digest must hash to that digest", async (t) => {
  const r = await registry(t);
  const img = r.addImage("app", "v1", [Buffer.from("layer")]);
  r.intercept = (_req, res, url) => {
    if (url.pathname.endsWith(img.manifest)) {
      const body = Buffer.from('{"schemaVersion":2}');
      res.writeHead(200, { "Content-Type": MediaType.OciManifest, "Content-Length": body.length });
      res.end(body);
      return true;
    }
    return false;
  };
  await assert.rejects(client().repository(r.host, "app", { purpose: "pull" }).getManifest(img.manifest), (e) => isKind(e, "data-corrupt"));
});

test("malformed digests are refused before any request is made", async (t) => {
  const r = await registry(t);
  await assert.rejects(client().repository(r.host, "app", { purpose: "pull" }).getManifest("sha256:../../etc"), /invalid digest/);
  assert.throws(() => parseDigest("sha256:" + "A".repeat(64)));
  assert.equal(r.seen.length, 0);
});

test("push: upload, HEAD, mount and manifest put", async (t) => {
  const r = await registry(t);
  const c = client();
  const repo = c.repository(r.host, "dst", { purpose: "push" });
  const blob = Buffer.from("some blob");
  const desc = { mediaType: "application/octet-stream", digest: digestOf(blob), size: blob.length };
  assert.equal(await repo.hasBlob(desc.digest), false);
  await repo.uploadBlob(desc, () => Readable.from([blob]));
  assert.equal(await repo.hasBlob(desc.digest), true);
  const other = c.repository(r.host, "other", { purpose: "push" });
  assert.equal(await other.mountBlob(desc.digest, "dst"), true);
  assert.equal(await other.mountBlob(digestOf("absent"), "dst"), false);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: desc, layers: [] }));
  assert.equal(await other.putManifest("v1", manifest, MediaType.OciManifest), digestOf(manifest));
  assert.deepEqual(await other.tags(), ["v1"]);
});

// (The hand-over to the hub when a mirror lacks an image is not tested: tests reach loopback only.)
test("a Docker Hub pull is served by a mirror, which never sees the hub's credentials", async (t) => {
  const mirror = await registry(t);
  const img = mirror.addImage("library/tool", "v1", [Buffer.from("layer")]);
  const hosts = new RegistryHosts({ mirrors: [`http://${mirror.host}`], certsDir: "/nonexistent" });
  const c = new RegistryClient({ hosts, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
  const repo = c.repository("docker.io", "library/tool", { purpose: "pull", credentials: { username: "hub-user", password: "hub-secret" } });
  assert.equal((await repo.getManifest("v1")).digest, img.manifest);
  // Mirrors never see the hub's credentials.
  assert.ok(mirror.seen.every((s) => s.authorization === undefined));
});

test("a registry's CA from certs.d verifies its certificate; without it the connection is refused", async (t) => {
  const { execFileSync } = await import("node:child_process");
  const { mkdtemp, mkdir, readFile, rm, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "wharf-certs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  const r = new TestRegistry();
  await r.start({ tls: { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) } });
  t.after(() => r.close());
  r.addImage("secure", "v1", [Buffer.from("layer")]);
  const certsDir = join(dir, "certs.d");
  const strict = new RegistryClient({ hosts: new RegistryHosts({ certsDir, loopbackInsecure: false }), retry: FAST });
  await assert.rejects(strict.repository(r.host, "secure", { purpose: "pull" }).getManifest("v1"), (e) => isKind(e, "unavailable") && /certificate/i.test((e as Error).message));
  await mkdir(join(certsDir, r.host), { recursive: true });
  await writeFile(join(certsDir, r.host, "ca.crt"), await readFile(join(dir, "cert.pem")));
  const trusting = new RegistryClient({ hosts: new RegistryHosts({ certsDir, loopbackInsecure: false }), retry: FAST });
  const m = await trusting.repository(r.host, "secure", { purpose: "pull" }).getManifest("v1");
  assert.match(m.digest, /^sha256:/);
  assert.equal(trusting.repository(r.host, "secure", { purpose: "pull" }).endpoint.scheme, "https");
});

async function hostsDir(t: TestContext, registryDomain: string, toml: string): Promise<string> {
  const { mkdtemp, mkdir, rm, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "wharf-hosts-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, registryDomain));
  await writeFile(join(dir, registryDomain, "hosts.toml"), toml);
  return dir;
}

test("a registry's hosts.toml names its mirrors (in order, pull only) and its server", async (t) => {
  const dir = await hostsDir(
    t,
    "ghcr.io",
    `server = "https://ghcr.io"

[host."https://mirror-a.example"]
  capabilities = ["pull", "resolve"]

[host."http://mirror-b.example:5000"]
  capabilities = ["pull"]
  skip_verify = true
  ca = "b.crt"

[host."https://push-only.example"]
  capabilities = ["push"]
`,
  );
  const hosts = new RegistryHosts({ certsDir: dir });
  const pull = hosts.endpoints("ghcr.io", "pull");
  assert.deepEqual(
    pull.map((e) => [e.scheme, e.host, e.mirror, e.resolve, e.skipVerify]),
    [
      ["https", "mirror-a.example", true, true, false],
      ["http", "mirror-b.example:5000", true, false, true],
      ["https", "ghcr.io", false, true, false],
    ],
  );
  assert.equal(pull[1]!.namespace, "ghcr.io");
  assert.deepEqual(pull[1]!.ca, [`${dir}/ghcr.io/b.crt`]);
  assert.deepEqual(hosts.endpoints("ghcr.io", "push").map((e) => e.host), ["ghcr.io"]);
  // Other registries are untouched.
  assert.deepEqual(hosts.endpoints("quay.io", "pull").map((e) => e.host), ["quay.io"]);
});

test("a malformed hosts.toml fails the pull with a one-line error naming the file", async (t) => {
  const bad: [string, RegExp][] = [
    ['server = "https://x"\n[host', /invalid registry hosts file .*hosts\.toml: /],
    ['[host."https://m.example"]\n  capabilities = ["pull", "fly"]\n', /capabilities must be a list of "pull", "resolve", "push"/],
    ['[host."https://m.example/some/path"]\n', /expected http\(s\):\/\/host\[:port\] without path/],
    ['[host."https://m.example"]\n  skip_verify = "yes"\n', /skip_verify must be true or false/],
    ['[host."https://m.example"]\n  override_path = true\n', /unknown key "override_path"/],
    ['mirrors = ["https://m.example"]\n', /unknown key "mirrors"/],
  ];
  for (const [toml, error] of bad) {
    const hosts = new RegistryHosts({ certsDir: await hostsDir(t, "reg.example", toml) });
    assert.throws(
      () => hosts.endpoints("reg.example", "pull"),
      (e: unknown) => isKind(e, "invalid-argument") && error.test((e as Error).message) && !(e as Error).message.includes("\n"),
      toml,
    );
  }
});

test("a pull from any registry is served by its hosts.toml mirror, which never sees the registry's credentials", async (t) => {
  const upstream = await registry(t);
  const mirror = await registry(t);
  const img = mirror.addImage("team/tool", "v1", [Buffer.from("mirrored layer")]);
  upstream.addImage("team/tool", "v1", [Buffer.from("upstream layer")]);
  const dir = await hostsDir(t, upstream.host, `[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`);
  const c = new RegistryClient({ hosts: new RegistryHosts({ certsDir: dir }), retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
  const repo = c.repository(upstream.host, "team/tool", { purpose: "pull", credentials: { username: "u", password: "secret" } });
  const m = await repo.getManifest("v1");
  assert.equal(m.digest, img.manifest);
  assert.equal(repo.endpoint.host, mirror.host);
  assert.ok(mirror.seen.length > 0 && mirror.seen.every((s) => s.authorization === undefined));
  // The mirror is told which registry it stands for.
  assert.ok(mirror.seen.some((s) => s.url === `/v2/team/tool/manifests/v1?ns=${encodeURIComponent(upstream.host)}`), JSON.stringify(mirror.seen));
  assert.ok(upstream.seen.every((s) => !s.url.includes("/manifests/")));
});

test("a hosts.toml mirror that lacks the image hands over to the registry; one without resolve serves digests only", async (t) => {
  const upstream = await registry(t);
  const mirror = await registry(t);
  const img = upstream.addImage("team/app", "v2", [Buffer.from("only upstream")]);
  const c1 = new RegistryClient({ hosts: new RegistryHosts({ certsDir: await hostsDir(t, upstream.host, `[host."http://${mirror.host}"]\n`) }), retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
  const repo1 = c1.repository(upstream.host, "team/app", { purpose: "pull" });
  assert.equal((await repo1.getManifest("v2")).digest, img.manifest);
  assert.ok(mirror.seen.some((s) => s.url.startsWith("/v2/team/app/manifests/v2")));

  const mirrored = mirror.addImage("team/app", "v3", [Buffer.from("on the mirror")]);
  mirror.seen.length = 0;
  const dir = await hostsDir(t, upstream.host, `[host."http://${mirror.host}"]\n  capabilities = ["pull"]\n`);
  const c2 = new RegistryClient({ hosts: new RegistryHosts({ certsDir: dir }), retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
  await assert.rejects(c2.repository(upstream.host, "team/app", { purpose: "pull" }).getManifest("v3"), (e: unknown) => isKind(e, "not-found"));
  assert.ok(mirror.seen.every((s) => !s.url.includes("/manifests/v3")), "a tag is never resolved on a mirror without resolve");
  const byDigest = c2.repository(upstream.host, "team/app", { purpose: "pull" });
  assert.equal((await byDigest.getManifest(mirrored.manifest)).digest, mirrored.manifest);
  assert.equal(byDigest.endpoint.host, mirror.host);
});

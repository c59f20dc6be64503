// Pull and push through the engine's real image store (content store,
// overlay snapshotter, layer apply) against the test registry, with faults.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { openLocalStore, type LocalStore } from "../src/content/index.js";
import { openOverlaySnapshotter, type Snapshotter } from "../src/snapshot/index.js";
import { openImageStore, type ImageStore } from "../src/image/index.js";
import { Distribution, type ProgressMessage } from "../src/distribution/index.js";
import { TestRegistry } from "../src/distribution/testing.js";
import { unpackWhileDownloading } from "../src/daemon/pull-unpack.js";
import { isKind } from "../src/internal/index.js";
import { digestOf, MediaType, type Digest } from "../src/oci/index.js";
import { unmountBelow } from "./support/daemons.js";

const FAST = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

interface Engine {
  readonly root: string;
  readonly content: LocalStore;
  readonly snapshotter: Snapshotter;
  readonly images: ImageStore;
  readonly distribution: Distribution;
}

async function engine(t: TestContext, options: { stream?: boolean } = {}): Promise<Engine> {
  const root = await mkdtemp(join(tmpdir(), "wharf-dist-"));
  t.after(async () => {
    await unmountBelow(root);
    // A write the last pull left behind (its memory of layers) may still land while the root goes.
    await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  const content = await openLocalStore(join(root, "content"));
  const snapshotter = await openOverlaySnapshotter(join(root, "snapshots"));
  const images = await openImageStore({ root, content, snapshotter });
  const distribution = await Distribution.open({
    target: images,
    registries: { certsDir: join(root, "certs.d") },
    memoryPath: join(root, "metadata", "distribution.json"),
    ...(options.stream === false ? {} : { startUnpack: unpackWhileDownloading(snapshotter) }),
    retry: FAST,
  });
  return { root, content, snapshotter, images, distribution };
}

async function registry(t: TestContext): Promise<TestRegistry> {
  const r = new TestRegistry();
  await r.start();
  t.after(() => r.close());
  return r;
}

/** A layer tar made by GNU tar from the given files; `pad` adds incompressible bytes so the layer streams in several chunks. */
async function layerTar(files: Record<string, string>, pad = 0): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-layer-"));
  try {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    if (pad > 0) await writeFile(join(dir, "pad.bin"), (await import("node:crypto")).randomBytes(pad));
    return execFileSync("tar", ["--numeric-owner", "--sort=name", "--mtime=@0", "-C", dir, "-cf", "-", "."], { maxBuffer: 1 << 28 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function storeState(e: Engine): Promise<{ blobs: string[]; snapshots: string[]; ingests: string[]; images: number }> {
  const blobs: string[] = [];
  for await (const b of e.content.list()) blobs.push(b.digest);
  return {
    blobs: blobs.sort(),
    snapshots: (await e.snapshotter.list()).map((s) => s.key).sort(),
    ingests: (await e.content.ingests()).map((i) => i.ref).sort(),
    images: (await e.images.list()).length,
  };
}

function blobGets(r: TestRegistry, digest: Digest): number {
  return r.seen.filter((s) => s.method === "GET" && s.url.endsWith(`/blobs/${digest}`)).length;
}

test("pull stores the image with its layers unpacked and its repo digest; a second pull fetches no layer", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const l1 = await layerTar({ "etc/hostname": "one\n", "bin/tool": "#!/bin/sh\n" }, 400_000);
  const l2 = await layerTar({ "etc/hostname": "two\n" });
  const img = r.addImage("team/app", "v1", [l1, l2]);
  const messages: ProgressMessage[] = [];
  const [pulled] = await e.distribution.pull(`${r.host}/team/app:v1`, { progress: (m) => messages.push(m) });
  assert.equal(pulled!.id, img.config);
  assert.equal(pulled!.digest, img.manifest);
  const view = await e.images.get(`${r.host}/team/app:v1`);
  assert.deepEqual(view.digests.map((d) => d.digest), [img.manifest]);
  assert.equal(view.layers.length, 2);
  const top = view.layers[1]!.chainId;
  const mounts = await e.snapshotter.view(`check-${Date.now()}`, top);
  assert.ok(mounts.length > 0);
  const statuses = messages.map((m) => m.status);
  for (const s of ["Pulling from team/app", "Pulling fs layer", "Download complete", "Pull complete", `Digest: ${img.manifest}`, `Status: Downloaded newer image for ${r.host}/team/app:v1`]) assert.ok(statuses.includes(s), `progress has ${JSON.stringify(s)}`);

  const before = r.seen.length;
  const again: ProgressMessage[] = [];
  await e.distribution.pull(`${r.host}/team/app:v1`, { progress: (m) => again.push(m) });
  const blobRequests = r.seen.slice(before).filter((s) => s.url.includes("/blobs/"));
  assert.deepEqual(blobRequests, []);
  assert.ok(again.some((m) => m.status === "Already exists"));
  assert.ok(again.some((m) => m.status === `Status: Image is up to date for ${r.host}/team/app:v1`));
});

test("a registry's hosts.toml mirror serves the whole pull (manifest and layers) while the registry itself is down", async (t) => {
  const e = await engine(t);
  const mirror = await registry(t);
  const img = mirror.addImage("team/app", "v1", [await layerTar({ "etc/hostname": "mirrored\n" }, 200_000)]);
  // A loopback port nothing listens on: the registry the name points at is unreachable.
  const { createServer } = await import("node:net");
  const closed = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as import("node:net").AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const upstream = `127.0.0.1:${closed}`;
  await mkdir(join(e.root, "certs.d", upstream), { recursive: true });
  await writeFile(join(e.root, "certs.d", upstream, "hosts.toml"), `[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`);
  const [pulled] = await e.distribution.pull(`${upstream}/team/app:v1`, { progress: () => {} });
  assert.equal(pulled!.digest, img.manifest);
  const view = await e.images.get(`${upstream}/team/app:v1`);
  assert.deepEqual(view.digests.map((d) => d.digest), [img.manifest]);
  assert.ok(mirror.seen.some((s) => s.url.startsWith(`/v2/team/app/blobs/${img.layers[0]!.digest}`) && s.url.endsWith(`?ns=${encodeURIComponent(upstream)}`)));
});

test("ten concurrent pulls of one image download and unpack each layer once", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const img = r.addImage("app", "v1", [await layerTar({ a: "a" }, 300_000), await layerTar({ b: "b" }, 300_000)]);
  // Slow the blobs a little so the pulls overlap.
  r.intercept = async (_req, _res, url) => {
    if (url.pathname.includes("/blobs/")) await new Promise((res) => setTimeout(res, 30));
    return false;
  };
  const results = await Promise.all(Array.from({ length: 10 }, () => e.distribution.pull(`${r.host}/app:v1`)));
  for (const [p] of results) assert.equal(p!.id, img.config);
  for (const l of img.layers) assert.equal(blobGets(r, l.digest), 1, `layer ${l.digest} fetched once`);
  const committed = (await e.snapshotter.list()).filter((s) => s.kind === "committed");
  assert.equal(committed.length, 2);
});

test("an index is resolved to the host's platform; --platform picks another; a missing platform is a clear error", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const host = r.addImage("multi", "host-only", [await layerTar({ host: "1" })]);
  const arm = r.addImage("multi", "arm-only", [await layerTar({ arm: "1" })], { architecture: "arm64" });
  const hostArch = process.arch === "x64" ? "amd64" : process.arch;
  const sizeOf = (d: Digest) => [...r.manifests.get("multi")!.values()].find((m) => digestOf(m.bytes) === d)!.bytes.length;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: arm.manifest, size: sizeOf(arm.manifest), platform: { os: "linux", architecture: hostArch === "arm64" ? "s390x" : "arm64" } },
        { mediaType: MediaType.OciManifest, digest: host.manifest, size: sizeOf(host.manifest), platform: { os: "linux", architecture: hostArch } },
      ],
    }),
  );
  const indexDigest = r.addManifest("multi", "latest", index, MediaType.OciIndex);
  // Inspected in the registry first: resolved alike, stored nowhere.
  const remote = await e.distribution.remoteImage(`${r.host}/multi`);
  assert.equal(remote.image.manifest.config.digest, host.config);
  assert.deepEqual(remote.image.documents.map((d) => d.digest), [indexDigest, host.manifest]);
  assert.equal((await e.distribution.remoteImage(`${r.host}/multi`, { platform: hostArch === "arm64" ? "linux/s390x" : "linux/arm64" })).image.manifest.config.digest, arm.config);
  await assert.rejects(e.distribution.remoteImage(`${r.host}/multi`, { platform: "linux/ppc64le" }), /no matching manifest for linux\/ppc64le/);
  assert.equal((await e.images.list()).length, 0);
  const [p] = await e.distribution.pull(`${r.host}/multi`);
  assert.equal(p!.id, host.config);
  assert.equal(p!.digest, indexDigest);
  assert.deepEqual((await e.images.get(`${r.host}/multi:latest`)).digests.map((d) => d.digest), [indexDigest]);
  const other = hostArch === "arm64" ? "linux/s390x" : "linux/arm64";
  const [q] = await e.distribution.pull(`${r.host}/multi:latest`, { platform: other });
  assert.equal(q!.id, arm.config);
  await assert.rejects(e.distribution.pull(`${r.host}/multi:latest`, { platform: "linux/ppc64le" }), /no matching manifest for linux\/ppc64le/);
});

test("pull -a pulls every tag", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  r.addImage("tags", "a", [await layerTar({ a: "1" })]);
  r.addImage("tags", "b", [await layerTar({ b: "1" })]);
  const messages: ProgressMessage[] = [];
  const pulled = await e.distribution.pull(`${r.host}/tags`, { allTags: true, progress: (m) => messages.push(m) });
  assert.deepEqual(pulled.map((p) => p.reference.tag), ["a", "b"]);
  assert.deepEqual(messages.filter((m) => m.status.startsWith("Status:")).map((m) => m.status), [`Status: Downloaded newer image for ${r.host}/tags`]);
  await e.images.get(`${r.host}/tags:a`);
  await e.images.get(`${r.host}/tags:b`);
});

test("a connection dropped in the middle of a layer resumes with a Range request", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const img = r.addImage("app", "v1", [await layerTar({ a: "a" }, 600_000)]);
  const layer = img.layers[0]!;
  let dropped = false;
  r.intercept = (req, res, url) => {
    if (!dropped && url.pathname.endsWith(`/blobs/${layer.digest}`) && req.method === "GET") {
      dropped = true;
      res.writeHead(200, { "Content-Length": layer.bytes.length });
      res.write(layer.bytes.subarray(0, 200_000), () => setTimeout(() => res.destroy(), 20));
      return true;
    }
    return false;
  };
  await e.distribution.pull(`${r.host}/app:v1`);
  const ranged = r.seen.filter((s) => s.url.endsWith(`/blobs/${layer.digest}`) && s.range);
  assert.equal(ranged.length, 1);
  assert.match(ranged[0]!.range!, /^bytes=\d+-$/);
  assert.ok(Number(/=(\d+)-/.exec(ranged[0]!.range!)![1]) > 0);
  assert.equal((await e.images.get(`${r.host}/app:v1`)).id, img.config);
});

test("500 and 429 on a layer are retried and the pull completes", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const img = r.addImage("app", "v1", [await layerTar({ a: "a" })]);
  let n = 0;
  r.intercept = (_req, res, url) => {
    if (url.pathname.endsWith(`/blobs/${img.layers[0]!.digest}`) && n < 2) {
      res.writeHead(n++ === 0 ? 500 : 429, { "Content-Length": 0 });
      res.end();
      return true;
    }
    return false;
  };
  await e.distribution.pull(`${r.host}/app:v1`);
  assert.equal(n, 2);
});

for (const fault of ["wrong digest", "too many bytes", "too few bytes"] as const) {
  test(`a layer with ${fault} fails the pull, deletes the partial blob and leaves the store as it was`, async (t) => {
    const e = await engine(t);
    const r = await registry(t);
    const keep = r.addImage("keep", "v1", [await layerTar({ kept: "1" })]);
    await e.distribution.pull(`${r.host}/keep:v1`);
    const img = r.addImage("app", "v1", [await layerTar({ good: "g" }), await layerTar({ bad: "b" }, 300_000)]);
    const bad = img.layers[1]!;
    r.intercept = (req, res, url) => {
      if (!url.pathname.endsWith(`/blobs/${bad.digest}`) || req.method !== "GET") return false;
      let body: Buffer;
      if (fault === "wrong digest") {
        body = Buffer.from(bad.bytes);
        body[body.length - 10] = body[body.length - 10]! ^ 0xff;
      } else if (fault === "too many bytes") {
        body = Buffer.concat([bad.bytes, Buffer.from("extra bytes")]);
      } else {
        body = bad.bytes.subarray(0, bad.bytes.length - 1000);
      }
      res.writeHead(200, { "Content-Length": body.length });
      res.end(body);
      return true;
    };
    const before = await storeState(e);
    await assert.rejects(e.distribution.pull(`${r.host}/app:v1`), (err) => isKind(err, "data-corrupt") && new RegExp(bad.digest).test((err as Error).message));
    assert.deepEqual(await storeState(e), before);
    assert.equal((await e.images.get(`${r.host}/keep:v1`)).id, keep.config);
    await assert.rejects(e.images.get(`${r.host}/app:v1`), (err) => isKind(err, "not-found"));
  });
}

test("a manifest whose config is over 4 MiB is refused before it is fetched", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: digestOf("x"), size: 5 * 1024 * 1024 }, layers: [] }));
  r.addManifest("big", "v1", manifest, MediaType.OciManifest);
  await assert.rejects(e.distribution.pull(`${r.host}/big:v1`), /more than the limit of 4194304/);
  assert.equal(r.seen.filter((s) => s.url.includes("/blobs/")).length, 0);
});

test("an ambiguous manifest (both layers and manifests) is refused", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const img = r.addImage("amb", "v1", [await layerTar({ a: "1" })]);
  const doc = JSON.parse(r.manifests.get("amb")!.get("v1")!.bytes.toString()) as Record<string, unknown>;
  doc["manifests"] = [];
  r.addManifest("amb", "v2", Buffer.from(JSON.stringify(doc)), "");
  assert.ok(img);
  await assert.rejects(e.distribution.pull(`${r.host}/amb:v2`), /ambiguous/);
});

test("pull with bearer auth sends the credentials from X-Registry-Auth only to the registry and its realm", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  r.auth = { kind: "bearer", username: "u", password: "p" };
  r.addImage("private", "v1", [await layerTar({ a: "1" })]);
  await assert.rejects(e.distribution.pull(`${r.host}/private:v1`), (err) => isKind(err, "unauthorized") && /pull access denied/.test((err as Error).message));
  await e.distribution.pull(`${r.host}/private:v1`, { credentials: { username: "u", password: "p" } });
  assert.ok(r.tokenRequests.some((s) => s.includes("repository:private:pull")));
});

async function importLayer(e: Engine, name: string, files: Record<string, string>, pad = 0): Promise<void> {
  await e.images.import(Readable.from([await layerTar(files, pad)]), { reference: name });
}

test("push compresses an uncompressed layer once, streams it, then skips, mounts and reuses the compressed blob", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  await importLayer(e, `${r.host}/pushed:v1`, { "etc/motd": "hello\n" }, 200_000);
  const messages: ProgressMessage[] = [];
  const [first] = await e.distribution.push(`${r.host}/pushed:v1`, { progress: (m) => messages.push(m) });
  const m1 = JSON.parse(r.manifests.get("pushed")!.get("v1")!.bytes.toString()) as { layers: { mediaType: string; digest: Digest }[]; config: { digest: Digest } };
  assert.equal(m1.layers[0]!.mediaType, MediaType.OciLayerGzip);
  assert.equal(first!.digest, digestOf(r.manifests.get("pushed")!.get("v1")!.bytes));
  assert.ok(r.blobs.has(m1.layers[0]!.digest) && r.blobs.has(m1.config.digest));
  assert.ok(messages.some((m) => m.status === "Pushed"));
  assert.ok(messages.some((m) => m.aux?.Digest === first!.digest));
  assert.equal(messages[0]!.status, `The push refers to repository [${r.host}/pushed]`);
  // The pushed digest shows in RepoDigests.
  assert.ok((await e.images.get(`${r.host}/pushed:v1`)).digests.some((d) => d.digest === first!.digest));

  // Again: the registry has everything.
  let before = r.seen.length;
  const again: ProgressMessage[] = [];
  await e.distribution.push(`${r.host}/pushed:v1`, { progress: (m) => again.push(m) });
  assert.ok(again.some((m) => m.status === "Layer already exists"));
  assert.equal(r.seen.slice(before).filter((s) => s.method === "PATCH" || (s.method === "PUT" && s.url.includes("/blobs/"))).length, 0);

  // Another repository of the same registry: mounted.
  await e.images.tag(`${r.host}/pushed:v1`, `${r.host}/elsewhere:v1`);
  const mounted: ProgressMessage[] = [];
  await e.distribution.push(`${r.host}/elsewhere:v1`, { progress: (m) => mounted.push(m) });
  assert.ok(mounted.some((m) => m.status === "Mounted from pushed"));

  // A fresh registry: the compressed blob is uploaded as stored, not compressed again (no streamed PATCH).
  const fresh = await registry(t);
  await e.images.tag(`${r.host}/pushed:v1`, `${fresh.host}/pushed:v1`);
  before = fresh.seen.length;
  await e.distribution.push(`${fresh.host}/pushed:v1`);
  assert.equal(fresh.seen.filter((s) => s.method === "PATCH").length, 0);
  const m2 = JSON.parse(fresh.manifests.get("pushed")!.get("v1")!.bytes.toString()) as { layers: { digest: Digest }[] };
  assert.equal(m2.layers[0]!.digest, m1.layers[0]!.digest);
  // Remembered across restarts.
  const memory = JSON.parse(await readFile(join(e.root, "metadata", "distribution.json"), "utf8")) as { compressed: Record<string, { digest: string }> };
  assert.ok(Object.values(memory.compressed).some((d) => d.digest === m1.layers[0]!.digest));
});

test("a streamed upload cut off mid-way is sent again from the compressed blob, which is kept", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  await importLayer(e, `${r.host}/cut:v1`, { "etc/motd": "cut\n" }, 300_000);
  let cut = false;
  r.intercept = (req, _res, url) => {
    if (!cut && req.method === "PATCH" && url.pathname.includes("/blobs/uploads/")) {
      cut = true;
      req.once("data", () => req.socket.destroy());
      return true;
    }
    return false;
  };
  const [pushed] = await e.distribution.push(`${r.host}/cut:v1`);
  assert.ok(cut);
  const m = JSON.parse(r.manifests.get("cut")!.get("v1")!.bytes.toString()) as { layers: { digest: Digest }[] };
  assert.equal(pushed!.digest, digestOf(r.manifests.get("cut")!.get("v1")!.bytes));
  assert.ok(r.blobs.has(m.layers[0]!.digest));
  assert.ok(await e.content.has(m.layers[0]!.digest));
});

test("a pulled image pushes back with the same manifest digest", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  const img = r.addImage("src", "v1", [await layerTar({ a: "1" }), await layerTar({ b: "2" })], { mediaType: MediaType.DockerManifest });
  await e.distribution.pull(`${r.host}/src:v1`);
  const target = await registry(t);
  await e.images.tag(`${r.host}/src:v1`, `${target.host}/copy:v1`);
  const [pushed] = await e.distribution.push(`${target.host}/copy:v1`);
  assert.equal(pushed!.digest, img.manifest);
});

test("push with every tag (an empty tag in the API) pushes each local tag of the repository", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  await importLayer(e, `${r.host}/many:a`, { a: "1" });
  await importLayer(e, `${r.host}/many:b`, { b: "2" });
  await importLayer(e, `${r.host}/other:c`, { c: "3" });
  const pushed = await e.distribution.push(`${r.host}/many`, { allTags: true });
  assert.deepEqual(pushed.map((p) => p.reference.tag), ["a", "b"]);
  assert.deepEqual([...r.manifests.get("many")!.keys()].filter((k) => !k.includes(":")).sort(), ["a", "b"]);
  assert.equal(r.manifests.get("other"), undefined);
});

test("a push the registry refuses before any byte is sent fails cleanly and can be retried with credentials", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  r.auth = { kind: "bearer", username: "u", password: "p", anonymousPull: true };
  await importLayer(e, `${r.host}/locked:v1`, { a: "1" }, 2_000_000);
  for (let i = 0; i < 3; i++) await assert.rejects(e.distribution.push(`${r.host}/locked:v1`), (err) => isKind(err, "unauthorized"));
  assert.deepEqual((await e.content.ingests()).map((x) => x.ref), []);
  await e.distribution.push(`${r.host}/locked:v1`, { credentials: { username: "u", password: "p" } });
  assert.ok(r.manifests.get("locked")?.has("v1"));
});

test("push of a name with no local image is a clear not-found", async (t) => {
  const e = await engine(t);
  const r = await registry(t);
  await assert.rejects(e.distribution.push(`${r.host}/nothing:v1`), (err) => isKind(err, "not-found") && /An image does not exist locally with the tag/.test((err as Error).message));
  assert.equal(r.seen.length, 0);
});

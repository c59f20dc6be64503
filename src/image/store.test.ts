// The image store over the real content store, overlay snapshotter and layer
// applier, in a temporary data root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile, mkdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { openLocalStore } from "../content/index.js";
import { openOverlaySnapshotter } from "../snapshot/index.js";
import { isKind } from "../internal/index.js";
import { digestOf, familiarString, type Digest } from "../oci/index.js";
import { openImageStore, type ImageStore } from "./index.js";

async function openStore(root: string): Promise<ImageStore> {
  const content = await openLocalStore(join(root, "content"));
  const snapshotter = await openOverlaySnapshotter(join(root, "snapshots"));
  return openImageStore({ root, content, snapshotter });
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "wharf-image-"));
  try {
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A small rootfs tar made by GNU tar from a temp dir. */
async function rootfsTar(files: Record<string, string>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-rootfs-"));
  try {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), content);
    }
    return execFileSync("tar", ["--numeric-owner", "--sort=name", "--mtime=@0", "-C", dir, "-cf", "-", "."], { maxBuffer: 1 << 28 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function streamOf(bytes: Buffer): Readable {
  return Readable.from([bytes]);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function countDir(path: string): Promise<number> {
  try {
    return (await readdir(path)).length;
  } catch {
    return 0;
  }
}

test("import makes a one-layer image whose layer digest is the tar's digest", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const tar = await rootfsTar({ "bin/hello": "hi\n", "etc/os-release": "NAME=test\n" });
    const image = await store.import(streamOf(tar), { reference: "test/app:1", changes: ['CMD ["/bin/hello"]', "ENV A=b"] });
    assert.equal(image.layers.length, 1);
    assert.equal(image.layers[0]!.diffId, digestOf(tar));
    assert.equal(image.layers[0]!.size, tar.length);
    assert.deepEqual(image.config.config?.Cmd, ["/bin/hello"]);
    assert.deepEqual(image.config.config?.Env, ["A=b"]);
    assert.equal(image.config.history?.[0]?.comment, "Imported from -");
    assert.deepEqual(image.tags.map((t) => familiarString(t)), ["test/app:1"]);
    const unpacked = await store.snapshotter.stat(image.layers[0]!.chainId);
    assert.equal(unpacked.kind, "committed");
  });
});

test("a gzip-compressed rootfs is stored uncompressed with the same diffID", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const tar = await rootfsTar({ "a.txt": "a" });
    const gz = await collect(streamOf(tar).pipe(createGzip()));
    const image = await store.import(streamOf(gz), {});
    assert.equal(image.layers[0]!.diffId, digestOf(tar));
    assert.equal(image.layers[0]!.descriptor.digest, digestOf(tar));
  });
});

test("the same layer imported twice is stored and unpacked once", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const tar = await rootfsTar({ "x/y": "z" });
    const a = await store.import(streamOf(tar), { reference: "a" });
    const b = await store.import(streamOf(tar), { reference: "b", changes: ["ENV X=1"] });
    assert.notEqual(a.id, b.id);
    assert.equal(a.layers[0]!.chainId, b.layers[0]!.chainId);
    const snapshots = await store.snapshotter.list();
    assert.deepEqual(snapshots.map((s) => s.kind), ["committed"], "the second copy is removed once the image is recorded");
    const layerBlobs: Digest[] = [];
    for await (const blob of store.content.list()) if (blob.digest === a.layers[0]!.descriptor.digest) layerBlobs.push(blob.digest);
    assert.equal(layerBlobs.length, 1);
  });
});

test("images resolve by name, full id, short id and prefix; unknown names are not-found", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const image = await store.import(streamOf(await rootfsTar({ f: "1" })), { reference: "busybox" });
    assert.equal((await store.get("busybox")).id, image.id);
    assert.equal((await store.get("busybox:latest")).id, image.id);
    assert.equal((await store.get("docker.io/library/busybox:latest")).id, image.id);
    assert.equal((await store.get(image.id)).id, image.id);
    assert.equal((await store.get(image.id.slice(7, 19))).id, image.id);
    await assert.rejects(store.get("nope"), (e) => isKind(e, "not-found") && /No such image: nope/.test((e as Error).message));
  });
});

test("tag adds a name; rmi of a name untags, rmi of the last name deletes and collects", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const image = await store.import(streamOf(await rootfsTar({ f: "1" })), { reference: "one:1" });
    await store.tag("one:1", "two:2");
    assert.deepEqual((await store.get(image.id)).tags.map((t) => familiarString(t)).sort(), ["one:1", "two:2"]);
    await assert.rejects(store.remove(image.id), (e) => isKind(e, "conflict") && /referenced in multiple repositories/.test((e as Error).message));
    assert.deepEqual(await store.remove("one:1"), [{ Untagged: "one:1" }]);
    const items = await store.remove("two:2");
    assert.deepEqual(items.slice(0, 2), [{ Untagged: "two:2" }, { Deleted: image.id }]);
    assert.ok(items.some((i) => "Deleted" in i && i.Deleted === image.layers[0]!.chainId), "the layer is reported deleted");
    await assert.rejects(store.get(image.id), (e) => isKind(e, "not-found"));
    assert.equal((await store.snapshotter.list()).length, 0);
    const blobs = [];
    for await (const b of store.content.list()) blobs.push(b);
    assert.equal(blobs.length, 0, "every blob was collected");
  });
});

test("rmi --force by id untags every name", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const image = await store.import(streamOf(await rootfsTar({ f: "1" })), { reference: "one" });
    await store.tag("one", "two");
    const items = await store.remove(image.id.slice(7, 19), { force: true });
    assert.deepEqual(items.filter((i) => "Untagged" in i).map((i) => ("Untagged" in i ? i.Untagged : "")).sort(), ["one:latest", "two:latest"]);
  });
});

test("an image saved as a docker-archive loads into another store with the same id and names", async () => {
  await withRoot(async (a) => {
    await withRoot(async (b) => {
      const src = await openStore(a);
      const image = await src.import(streamOf(await rootfsTar({ "bin/x": "x", "etc/y": "y" })), { reference: "app:v1", changes: ["WORKDIR /srv"] });
      const archive = await collect(await src.save(["app:v1"]));
      const listing = execFileSync("tar", ["-tf", "-"], { input: archive }).toString().split("\n");
      for (const f of ["manifest.json", "index.json", "oci-layout", "repositories", `blobs/sha256/${image.id.slice(7)}`]) assert.ok(listing.includes(f), `archive has ${f}`);
      const dst = await openStore(b);
      const result = await dst.load(streamOf(archive));
      assert.deepEqual(result.names, ["app:v1"]);
      const loaded = await dst.get("app:v1");
      assert.equal(loaded.id, image.id);
      assert.equal(loaded.config.config?.WorkingDir, "/srv");
    });
  });
});

test("an image saved as an OCI layout loads back with the same id", async () => {
  await withRoot(async (a) => {
    await withRoot(async (b) => {
      const src = await openStore(a);
      const image = await src.import(streamOf(await rootfsTar({ f: "oci" })), { reference: "oci/app:2" });
      const archive = await collect(await src.save([image.id.slice(7, 19)], { format: "oci" }));
      const listing = execFileSync("tar", ["-tf", "-"], { input: archive }).toString();
      assert.ok(!listing.includes("manifest.json"), "an OCI layout has no docker manifest.json");
      const dst = await openStore(b);
      await dst.load(streamOf(archive));
      assert.equal((await dst.get("oci/app:2")).id, image.id);
    });
  });
});

test("a docker-archive whose layer does not match the config's diffID loads nothing", async () => {
  await withRoot(async (a) => {
    await withRoot(async (b) => {
      const src = await openStore(a);
      await src.import(streamOf(await rootfsTar({ f: "1" })), { reference: "good" });
      const archive = await collect(await src.save(["good"]));
      // Rewrite the archive with a different layer under the same path.
      const dir = await mkdtemp(join(tmpdir(), "wharf-tamper-"));
      try {
        execFileSync("tar", ["-xf", "-", "-C", dir], { input: archive });
        const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as { Layers: string[] }[];
        const layerPath = join(dir, manifest[0]!.Layers[0]!);
        await rm(layerPath);
        await writeFile(layerPath, await rootfsTar({ f: "evil" }));
        const tampered = execFileSync("tar", ["-cf", "-", "-C", dir, "manifest.json", "repositories", "blobs"]);
        const dst = await openStore(b);
        await assert.rejects(dst.load(streamOf(tampered)), (e) => isKind(e, "data-corrupt"));
        assert.deepEqual(await dst.list(), []);
        await dst.gc();
        assert.equal(await countDir(join(b, "content", "blobs", "sha256")), 0, "no blob of the failed load survives collection");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

test("a layer that escapes its root is refused and no image is recorded", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const dir = await mkdtemp(join(tmpdir(), "wharf-evil-"));
    try {
      await writeFile(join(dir, "f"), "x");
      const evil = execFileSync("tar", ["-cf", "-", "-C", dir, "--transform", "s,^f$,../escaped,", "f"]);
      await assert.rejects(store.import(streamOf(evil), { reference: "evil" }), (e) => isKind(e, "invalid-argument"));
      assert.deepEqual(await store.list(), []);
      assert.equal((await store.snapshotter.list()).length, 0, "the half-applied snapshot was removed");
      await assert.rejects(stat(join(root, "escaped")));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test("bad --change instructions fail before any byte is read", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const source = new PassThrough();
    await assert.rejects(store.import(source, { changes: ["RUN true"] }), (e) => isKind(e, "invalid-argument"));
    assert.equal(source.readableLength, 0);
  });
});

test("records survive a reopen; a record whose manifest vanished is dropped on open", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const keep = await store.import(streamOf(await rootfsTar({ k: "1" })), { reference: "keep" });
    const lose = await store.import(streamOf(await rootfsTar({ l: "2" })), { reference: "lose" });
    const again = await openStore(root);
    assert.equal((await again.get("keep")).id, keep.id);
    await rm(join(root, "content", "blobs", "sha256", lose.target.digest.slice(7)));
    const repaired = await openStore(root);
    assert.deepEqual((await repaired.list()).map((i) => i.id), [keep.id]);
  });
});

test("prune removes dangling images only, unless all is asked", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const tagged = await store.import(streamOf(await rootfsTar({ t: "1" })), { reference: "tagged" });
    const dangling = await store.import(streamOf(await rootfsTar({ d: "2" })), {});
    const result = await store.prune();
    assert.ok(result.deleted.some((d) => "Deleted" in d && d.Deleted === dangling.id));
    assert.ok(result.spaceReclaimed > 0);
    assert.deepEqual((await store.list()).map((i) => i.id), [tagged.id]);
    await store.prune({ all: true });
    assert.deepEqual(await store.list(), []);
  });
});

test("list filters by reference, dangling and label", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    await store.import(streamOf(await rootfsTar({ a: "1" })), { reference: "web/front:1", changes: ["LABEL tier=web"] });
    await store.import(streamOf(await rootfsTar({ b: "2" })), { reference: "db:5", changes: ["LABEL tier=data"] });
    await store.import(streamOf(await rootfsTar({ c: "3" })), {});
    assert.deepEqual((await store.list({ reference: ["web/*"] })).map((i) => familiarString(i.tags[0]!)), ["web/front:1"]);
    assert.equal((await store.list({ dangling: true })).length, 1);
    assert.deepEqual((await store.list({ label: ["tier=data"] })).map((i) => familiarString(i.tags[0]!)), ["db:5"]);
  });
});

test("history lists layers newest first with the image id on top", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const image = await store.import(streamOf(await rootfsTar({ a: "1" })), { reference: "h", message: "made by hand" });
    const history = await store.history("h");
    assert.equal(history.length, 1);
    assert.equal(history[0]!.id, image.id);
    assert.equal(history[0]!.comment, "made by hand");
    assert.deepEqual(history[0]!.tags, ["h:latest"]);
  });
});

test("a multi-layer docker-archive loads with every layer stacked in its place, gzip and plain alike", async () => {
  await withRoot(async (root) => {
    const store = await openStore(root);
    const big = "x".repeat(200 * 1024); // above the size at which layers are unpacked while they stream
    const layer1 = await rootfsTar({ "etc/base": big, "etc/gone": "old\n" });
    const layer2 = await rootfsTar({ "etc/top": big, "etc/.wh.gone": "" });
    const layer2gz = await collect(Readable.from([layer2]).pipe(createGzip()));
    const diffIds = [digestOf(layer1), digestOf(layer2)];
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["sh"] }, rootfs: { type: "layers", diff_ids: diffIds }, history: [{ created_by: "a" }, { created_by: "b" }] }));
    const configName = `${digestOf(config).slice(7)}.json`;
    // manifest.json first: the layers' places are known only from it, yet the early unpack must not care about order.
    const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ["multi/layer:2"], Layers: ["l2/layer.tar", "l1/layer.tar"].reverse() }]));
    const dir = await mkdtemp(join(tmpdir(), "wharf-archive-"));
    try {
      await mkdir(join(dir, "l1"));
      await mkdir(join(dir, "l2"));
      await writeFile(join(dir, "l1", "layer.tar"), layer1);
      await writeFile(join(dir, "l2", "layer.tar"), layer2gz);
      await writeFile(join(dir, configName), config);
      await writeFile(join(dir, "manifest.json"), manifest);
      const archive = execFileSync("tar", ["-C", dir, "-cf", "-", "manifest.json", "l2", configName, "l1"], { maxBuffer: 1 << 26 });
      const result = await store.load(streamOf(archive));
      assert.deepEqual(result.names, ["multi/layer:2"]);
      const image = await store.get("multi/layer:2");
      assert.deepEqual(image.layers.map((l) => l.diffId), diffIds);
      const top = await store.snapshotter.stat(image.layers[1]!.chainId);
      assert.equal(top.parent, image.layers[0]!.chainId);
      assert.equal(image.layers[1]!.contentSize, big.length);
      const snapshots = await store.snapshotter.list();
      assert.deepEqual(snapshots.filter((s) => s.kind !== "committed"), [], "no early unpack is left behind");
      assert.equal(snapshots.length, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

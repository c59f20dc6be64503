// Pull under faults that only a whole daemon shows: wharfd killed with
// SIGKILL at many points of a pull, and a data root that fills up during one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, mkdir, readFile, readdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeTar, type TarInput } from "../src/archive/index.js";
import { TestRegistry } from "../src/distribution/testing.js";
import { chainIds, type Digest } from "../src/oci/index.js";
import { projectRoot, startWharfd, unmountBelow, type Daemon } from "./support/daemons.js";

/** A layer tar of `files` × 64 KiB random files (incompressible, so the gzip is as big). */
async function randomLayer(files: number, seed: string): Promise<Buffer> {
  async function* entries(): AsyncGenerator<TarInput> {
    yield { header: { name: `${seed}/`, type: "directory" } };
    for (let i = 0; i < files; i++) {
      const body = randomBytes(64 * 1024);
      yield { header: { name: `${seed}/f${i}`, type: "file", size: body.length }, body };
    }
  }
  const parts: Buffer[] = [];
  for await (const b of encodeTar(entries())) parts.push(b);
  return Buffer.concat(parts);
}

/** Serves blobs in slices with a pause between them, honouring Range, so that a pull takes a while. */
function throttle(r: TestRegistry, sliceBytes: number, pauseMs: number): void {
  r.intercept = async (req, res, url) => {
    const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (!m || req.method !== "GET") return false;
    const blob = r.blobs.get(m[1] as Digest);
    if (!blob || blob.length < sliceBytes) return false;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
    const start = range ? Number(range[1]) : 0;
    res.writeHead(range ? 206 : 200, { "Content-Length": blob.length - start, ...(range ? { "Content-Range": `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}) });
    for (let at = start; at < blob.length && !res.destroyed; at += sliceBytes) {
      if (!res.write(blob.subarray(at, Math.min(at + sliceBytes, blob.length)))) await new Promise((go) => res.once("drain", go));
      await sleep(pauseMs);
    }
    res.end();
    return true;
  };
}

interface Answer {
  status: number;
  lines: Record<string, unknown>[];
}

function api(d: Daemon, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, path, method }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(parts).toString();
        const lines = text
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l)
          .map((l) => {
            try {
              return JSON.parse(l) as Record<string, unknown>;
            } catch {
              return { text: l };
            }
          });
        resolve({ status: res.statusCode ?? 0, lines });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

async function pullOk(d: Daemon, name: string): Promise<void> {
  const a = await api(d, "POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=v1`);
  assert.equal(a.status, 200);
  const err = a.lines.find((l) => "error" in l);
  assert.equal(err, undefined, `pull failed: ${JSON.stringify(err)}`);
}

/** Every recorded image's manifest and config are stored and every one of its layers is unpacked. */
async function assertNoDanglingImage(d: Daemon, root: string): Promise<number> {
  const doc = JSON.parse(await readFile(join(root, "data", "metadata", "images.json"), "utf8").catch(() => '{"images":[]}')) as { images: { id: string; target: { digest: string } }[] };
  const blobs = new Set((await readdir(join(root, "data", "content", "blobs", "sha256")).catch(() => [] as string[])).map((h) => `sha256:${h}`));
  for (const image of doc.images) {
    assert.ok(blobs.has(image.target.digest), `manifest of ${image.id} is stored`);
    assert.ok(blobs.has(image.id), `config of ${image.id} is stored`);
    const config = JSON.parse(await readFile(join(root, "data", "content", "blobs", "sha256", image.id.slice(7)), "utf8")) as { rootfs: { diff_ids: Digest[] } };
    const keys = await snapshotKeys(root);
    for (const chainId of chainIds(config.rootfs.diff_ids)) assert.ok(keys.includes(chainId), `layer ${chainId} of ${image.id} is unpacked`);
    const inspect = await api(d, "GET", `/images/${image.id}/json`);
    assert.equal(inspect.status, 200);
  }
  return doc.images.length;
}

async function snapshotKeys(root: string): Promise<string[]> {
  const dir = join(root, "data", "snapshots");
  const keys: string[] = [];
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    const record = await readFile(join(dir, id, "snapshot.json"), "utf8").catch(() => undefined);
    if (record !== undefined) keys.push(String((JSON.parse(record) as { key?: unknown }).key));
  }
  return keys;
}

async function waitDead(pid: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(10);
  }
  throw new Error(`wharfd ${pid} did not die`);
}

describe("wharfd killed in the middle of a pull", () => {
  let root: string;
  let registry: TestRegistry;
  let daemon: Daemon | undefined;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-pull-crash-"));
    registry = new TestRegistry();
    await registry.start();
    // Three layers of ~3 MB each, served at ~10 MB/s: a pull takes about a second.
    registry.addImage("crash/app", "v1", [await randomLayer(48, "a"), await randomLayer(48, "b"), await randomLayer(48, "c")]);
    throttle(registry, 64 * 1024, 5);
    daemon = await startWharfd({ root });
  });
  after(async () => {
    await daemon?.stop();
    await registry?.close();
    await unmountBelow(root);
    await rm(root, { recursive: true, force: true });
  });

  for (const killAfterMs of [5, 40, 120, 250, 400, 600, 800, 1000]) {
    test(`a SIGKILL ${killAfterMs} ms into a pull leaves a store the next start repairs, and the pull then completes`, async () => {
      const name = `${registry.host}/crash/app`;
      const pulling = api(daemon!, "POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=v1`).catch(() => undefined);
      await sleep(killAfterMs);
      process.kill(daemon!.pid, "SIGKILL");
      await waitDead(daemon!.pid);
      await pulling;
      await daemon!.stop();
      daemon = await startWharfd({ root });
      await assertNoDanglingImage(daemon, root);
      for (const key of await snapshotKeys(root)) assert.doesNotMatch(key, /^extract-/, "no half-unpacked snapshot is left");
      await pullOk(daemon, name);
      assert.equal(await assertNoDanglingImage(daemon, root), 1);
      // Start the next round from an empty store again.
      const rmi = await api(daemon, "DELETE", `/images/${encodeURIComponent(name)}:v1`);
      assert.equal(rmi.status, 200);
    });
  }
});

describe("the data root fills up during a pull", { skip: process.getuid?.() !== 0 && "needs root for a loop mount" }, () => {
  let dir: string;
  let mountpoint: string;
  let registry: TestRegistry;
  let daemon: Daemon | undefined;
  let mounted = false;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "wharf-enospc-"));
    mountpoint = join(dir, "mnt");
    await mkdir(mountpoint);
    execFileSync("truncate", ["-s", "48M", join(dir, "fs.img")]);
    execFileSync("mkfs.ext4", ["-q", "-F", join(dir, "fs.img")]);
    execFileSync("mount", ["-o", "loop", join(dir, "fs.img"), mountpoint]);
    mounted = true;
    registry = new TestRegistry();
    await registry.start();
    registry.addImage("small", "v1", [await randomLayer(4, "s")]);
    // About 64 MB of incompressible layer: more than the file system holds.
    registry.addImage("huge", "v1", [await randomLayer(1000, "h")]);
    daemon = await startWharfd({ root: join(mountpoint, "w") });
  });
  after(async () => {
    await daemon?.stop();
    await registry?.close();
    // Everything below the mount point, the loop mount itself included.
    if (mounted) await unmountBelow(mountpoint);
    await rm(dir, { recursive: true, force: true });
  });

  test("the pull fails with a clear no-space error, records nothing, frees its partial data and the daemon keeps serving", async () => {
    await pullOk(daemon!, `${registry.host}/small`);
    const free = () => Number(execFileSync("df", ["--output=avail", "-B1", mountpoint]).toString().trim().split("\n")[1]);
    const before = free();
    const a = await api(daemon!, "POST", `/images/create?fromImage=${encodeURIComponent(`${registry.host}/huge`)}&tag=v1`);
    const failure = a.status === 200 ? String(a.lines.find((l) => "error" in l)?.["error"] ?? "") : String(a.lines[0]?.["message"] ?? "");
    assert.match(failure, /no space left on device/);
    const images = await api(daemon!, "GET", "/images/json");
    assert.equal(images.status, 200);
    const list = images.lines[0] as unknown as { RepoTags: string[] }[];
    assert.deepEqual(list.map((i) => i.RepoTags).flat(), [`${registry.host}/small:v1`]);
    assert.ok(free() >= before - 1024 * 1024, `space is given back: ${before} before, ${free()} after`);
    assert.equal((await api(daemon!, "GET", "/_ping")).status, 200);
    // The store still works: the small image is whole and pulls again.
    await pullOk(daemon!, `${registry.host}/small`);
    await assertNoDanglingImage(daemon!, join(mountpoint, "w"));
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKind } from "../internal/index.js";
import { openOverlaySnapshotter } from "./overlay.js";
import { mountAll, mountsUsing, unmount, withTempMount } from "./mount.js";
import { snapshotterConformance } from "./testsuite.js";
import { writableDir } from "./snapshotter.js";

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "wharf-snap-"));
}

/** Unmounts whatever still uses `root`, then removes it — never while anything is mounted. */
async function removeRoot(root: string): Promise<void> {
  for (const m of await mountsUsing(root)) await unmount(m);
  const left = await mountsUsing(root);
  if (left.length > 0) throw new Error(`not removing ${root}: still mounted at ${left.join(", ")}`);
  await rm(root, { recursive: true, force: true });
}

snapshotterConformance("overlay", async () => {
  const root = await tempRoot();
  return {
    snapshotter: await openOverlaySnapshotter(root),
    reopen: () => openOverlaySnapshotter(root),
    cleanup: () => removeRoot(root),
    checkDeepMounts(mounts) {
      // 200 absolute lowerdirs under /tmp/wharf-snap-XXXXXX exceed one page.
      assert.equal(mounts[0]?.cwd, root);
      const lower = mounts[0]?.options.find((o) => o.startsWith("lowerdir="));
      assert.match(lower ?? "", /^lowerdir=\d+\/fs:\d+\/fs:/);
    },
  };
});

describe("overlay snapshotter", () => {
  it("asks ext4 to spread snapshot directories over the disk (the root's top-directory flag)", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    await openOverlaySnapshotter(root);
    const attrs = spawnSync("lsattr", ["-d", root], { encoding: "utf8" });
    if (attrs.status !== 0) return t.skip(`no file attributes here: ${attrs.stderr.trim()}`);
    const flags = attrs.stdout.trim().split(/\s+/)[0] ?? "";
    assert.ok(flags.includes("T"), `flags of ${root}: ${flags}`);
  });

  it("commits a snapshot prepared without a parent onto a parent given at commit, and survives a reopen", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    const s = await openOverlaySnapshotter(root);
    await s.prepare("base-k");
    await s.commit("base", "base-k");
    await s.prepare("early");
    await s.commit("top", "early", { parent: "base" });
    assert.equal((await s.stat("top")).parent, "base");
    const [mount] = await s.prepare("ctr", "top");
    assert.ok(mount?.options.includes(`lowerdir=${join(root, "2", "fs")}:${join(root, "1", "fs")}`));
    assert.equal((await (await openOverlaySnapshotter(root)).stat("top")).parent, "base");
    await s.prepare("stacked", "base");
    await assert.rejects(s.commit("x", "stacked", { parent: "base" }), (e) => isKind(e, "precondition"));
    await s.prepare("orphan");
    await assert.rejects(s.commit("y", "orphan", { parent: "ctr" }), (e) => isKind(e, "precondition"));
  });

  it("mounts an active snapshot volatile on request, and mounts it again after an unmount", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    const s = await openOverlaySnapshotter(root);
    await s.prepare("base-k");
    await s.commit("base", "base-k");
    await s.prepare("ctr", "base");
    const target = join(root, "mnt");
    await mkdir(target);
    for (let round = 0; round < 2; round++) {
      const mounts = await s.mounts("ctr", { volatile: true });
      assert.ok(mounts[0]?.options.includes("volatile"));
      await mountAll(mounts, target);
      await writeFile(join(target, `file${round}`), "x");
      await unmount(target);
    }
    // The plain mount afterwards sees what the volatile ones wrote.
    await mountAll(await s.mounts("ctr"), target);
    t.after(() => unmount(target));
    assert.deepEqual((await readdir(target)).sort(), ["file0", "file1"]);
    assert.ok(!(await s.mounts("ctr")).some((m) => m.options.includes("volatile")));
  });

  it("a removed snapshot is gone at once; its files go right after, and close waits for them", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    const s = await openOverlaySnapshotter(root);
    await s.prepare("gone");
    for (let i = 0; i < 50; i++) await writeFile(join(root, "1", "fs", `f${i}`), "x");
    await s.remove("gone");
    await assert.rejects(s.stat("gone"), (e) => isKind(e, "not-found"));
    assert.deepEqual(await s.list(), []);
    await s.close();
    assert.deepEqual(await readdir(root), []);
    // A dir whose removal a stop cut short has no record: the next open removes it.
    await mkdir(join(root, "7", "fs"), { recursive: true });
    await openOverlaySnapshotter(root);
    assert.deepEqual(await readdir(root), []);
  });

  it("lays snapshots out as <root>/<id>/{fs,work} and describes mounts with nearest parent first", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    const s = await openOverlaySnapshotter(root);
    const bind = await s.prepare("k1");
    assert.deepEqual(bind, [{ type: "bind", source: join(root, "1", "fs"), options: ["rbind", "rw"] }]);
    await s.commit("l1", "k1");
    await s.prepare("k2", "l1");
    await s.commit("l2", "k2");
    const [overlay] = await s.prepare("ctr", "l2");
    assert.equal(overlay?.type, "overlay");
    assert.equal(overlay?.cwd, undefined);
    assert.ok(overlay?.options.includes(`upperdir=${join(root, "3", "fs")}`));
    assert.ok(overlay?.options.includes(`workdir=${join(root, "3", "work")}`));
    assert.ok(overlay?.options.includes(`lowerdir=${join(root, "2", "fs")}:${join(root, "1", "fs")}`));
    assert.deepEqual(await s.view("v", "l1"), [{ type: "bind", source: join(root, "1", "fs"), options: ["rbind", "ro"] }]);
    const [multi] = await s.view("v2", "l2");
    assert.ok(multi?.options.includes("ro"));
    assert.equal(multi?.options.some((o) => o.startsWith("upperdir=")), false);
    assert.deepEqual((await readdir(root)).sort(), ["1", "2", "3", "4", "5"]);
    assert.deepEqual((await readdir(join(root, "3"))).sort(), ["fs", "snapshot.json", "work"]);
  });

  it("open removes half-created and half-removed snapshots and keeps ids unique", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    const s = await openOverlaySnapshotter(root);
    await s.prepare("kept");
    // A crash after mkdir, before the record was written:
    await mkdir(join(root, "7", "fs"), { recursive: true });
    await writeFile(join(root, "7", "fs", "partial"), "x");
    // A crash while writing the record of a live snapshot leaves a temp file:
    await writeFile(join(root, "1", ".snapshot.json.abc.tmp"), "{");
    const again = await openOverlaySnapshotter(root);
    assert.deepEqual((await again.list()).map((i) => i.key), ["kept"]);
    assert.deepEqual((await readdir(root)).sort(), ["1"]);
    assert.deepEqual((await readdir(join(root, "1"))).sort(), ["fs", "snapshot.json", "work"]);
    const [m] = await again.prepare("next");
    assert.equal(m?.source, join(root, "8", "fs"), "ids are never reused from a leftover dir");
  });

  it("refuses to remove a snapshot while it is mounted", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    const s = await openOverlaySnapshotter(root);
    await s.prepare("k");
    await s.commit("base", "k");
    const mounts = await s.prepare("ctr", "base");
    await withTempMount(mounts, async () => {
      await assert.rejects(s.remove("ctr"), (e) => isKind(e, "conflict") && /mounted/.test(e.message));
    });
    await s.remove("ctr");
  });

  it("refuses a root whose path would break overlay options", async () => {
    await assert.rejects(openOverlaySnapshotter(join(tmpdir(), "a:b")), (e) => isKind(e, "invalid-argument"));
    await assert.rejects(openOverlaySnapshotter(join(tmpdir(), "a,b")), (e) => isKind(e, "invalid-argument"));
  });

  it("writes into an active snapshot's dir without mounting, as unpacking does", async (t) => {
    const root = await tempRoot();
    t.after(() => removeRoot(root));
    const s = await openOverlaySnapshotter(root);
    const target = await mkdtemp(join(tmpdir(), "wharf-target-"));
    t.after(async () => {
      await unmount(target);
      await rm(target, { recursive: true, force: true });
    });
    const mounts = await s.prepare("k");
    await writeFile(join(writableDir(mounts), "f"), "unpacked");
    await s.commit("l", "k");
    await mountAll(await s.view("v", "l"), target);
    assert.deepEqual(await readdir(target), ["f"]);
    await unmount(target);
    assert.deepEqual(await readdir(target), []);
  });
});

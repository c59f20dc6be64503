// snapshot/testsuite: the conformance suite every Snapshotter runs: lifecycle
// and errors, persistence across a restart, and real mounts of what it returns.
// Mounts are made with withTempMount, which unmounts even when a check fails.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { link, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, isKind, type ErrorKind } from "../internal/index.js";
import { writableDir, type Mount, type Snapshotter } from "./snapshotter.js";
import { withTempMount } from "./mount.js";

export interface SnapshotterFixture {
  readonly snapshotter: Snapshotter;
  /** A new snapshotter over the same data, as after a restart. */
  reopen(): Promise<Snapshotter>;
  /** Unmounts anything left and removes the data. */
  cleanup(): Promise<void>;
  /** Implementation-specific checks of the mounts of a 200-layer chain (e.g. how lowerdirs are named). */
  checkDeepMounts?(mounts: readonly Mount[]): void;
}

export type SnapshotterFactory = () => Promise<SnapshotterFixture>;

async function rejectsWith(p: Promise<unknown>, kind: ErrorKind, pattern?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a ${kind} error, got success`);
  assert.ok(isKind(caught, kind), `expected ${kind}, got ${String(caught)}`);
  if (pattern) assert.match(caught.message, pattern);
}

/** Prepares `key` on `parent`, writes files into it without mounting, commits it as `name`. */
async function layer(s: Snapshotter, name: string, parent: string | undefined, files: Record<string, string>): Promise<void> {
  const key = `extract-${name}`;
  const mounts = await s.prepare(key, parent);
  const dir = writableDir(mounts);
  for (const [path, body] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), body);
  }
  await s.commit(name, key);
}

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
}

export function snapshotterConformance(name: string, factory: SnapshotterFactory): void {
  describe(`snapshotter conformance: ${name}`, () => {
    const withFixture = (title: string, fn: (f: SnapshotterFixture) => Promise<void>) =>
      it(title, async () => {
        const f = await factory();
        try {
          await fn(f);
        } finally {
          await f.cleanup();
        }
      });

    withFixture("prepare makes an active snapshot with a writable dir", async ({ snapshotter: s }) => {
      const mounts = await s.prepare("c1", undefined, { labels: { owner: "test" } });
      assert.equal(mounts.length, 1);
      assert.deepEqual(await readdir(writableDir(mounts)), []);
      const info = await s.stat("c1");
      assert.equal(info.kind, "active");
      assert.equal(info.parent, undefined);
      assert.deepEqual(info.labels, { owner: "test" });
      assert.ok(info.createdAt instanceof Date);
      assert.deepEqual(await s.mounts("c1"), mounts);
    });

    withFixture("commit turns an active snapshot into a committed one under its name", async ({ snapshotter: s }) => {
      await layer(s, "base", undefined, { a: "1" });
      const base = await s.stat("base");
      assert.equal(base.kind, "committed");
      await rejectsWith(s.stat("extract-base"), "not-found");
      await s.prepare("child", "base");
      assert.equal((await s.stat("child")).parent, "base");
      await rejectsWith(s.mounts("base"), "precondition");
      assert.deepEqual((await s.list()).map((i) => [i.key, i.kind]), [["base", "committed"], ["child", "active"]]);
    });

    withFixture("commit keeps labels unless new ones are given", async ({ snapshotter: s }) => {
      await s.prepare("k1", undefined, { labels: { a: "1" } });
      await s.commit("n1", "k1");
      assert.deepEqual((await s.stat("n1")).labels, { a: "1" });
      await s.prepare("k2", undefined, { labels: { a: "1" } });
      await s.commit("n2", "k2", { labels: { b: "2" } });
      assert.deepEqual((await s.stat("n2")).labels, { b: "2" });
    });

    withFixture("duplicate keys and names are conflicts; a failed commit keeps the active snapshot", async ({ snapshotter: s }) => {
      await s.prepare("dup");
      await rejectsWith(s.prepare("dup"), "conflict");
      await layer(s, "taken", undefined, {});
      await rejectsWith(s.prepare("taken"), "conflict");
      await s.prepare("pending");
      await rejectsWith(s.commit("taken", "pending"), "conflict", /taken/);
      assert.equal((await s.stat("pending")).kind, "active");
      await s.remove("pending");
      await rejectsWith(s.stat("pending"), "not-found");
    });

    withFixture("unknown keys and parents are not-found; only committed parents and active keys qualify", async ({ snapshotter: s }) => {
      await rejectsWith(s.stat("nope"), "not-found");
      await rejectsWith(s.mounts("nope"), "not-found");
      await rejectsWith(s.remove("nope"), "not-found");
      await rejectsWith(s.usage("nope"), "not-found");
      await rejectsWith(s.commit("x", "nope"), "not-found");
      await rejectsWith(s.prepare("orphan", "missing-parent"), "not-found", /missing-parent/);
      await s.prepare("active");
      await rejectsWith(s.prepare("on-active", "active"), "precondition");
      await layer(s, "base", undefined, { f: "x" });
      await s.view("look", "base");
      await rejectsWith(s.commit("looked", "look"), "precondition");
      await rejectsWith(s.commit("again", "base"), "precondition");
      assert.equal((await s.list()).some((i) => i.key === "orphan" || i.key === "on-active"), false);
    });

    withFixture("a snapshot with children cannot be removed until they are gone", async ({ snapshotter: s }) => {
      await layer(s, "l1", undefined, { a: "1" });
      await layer(s, "l2", "l1", { b: "2" });
      await s.prepare("ctr", "l2");
      await s.view("v", "l1");
      await rejectsWith(s.remove("l1"), "conflict", /l2/);
      await rejectsWith(s.remove("l2"), "conflict", /ctr/);
      await s.remove("ctr");
      await s.remove("l2");
      await rejectsWith(s.remove("l1"), "conflict", /"v"/);
      await s.remove("v");
      await s.remove("l1");
      assert.deepEqual(await s.list(), []);
    });

    withFixture("state survives a restart", async ({ snapshotter: s, reopen }) => {
      await layer(s, "base", undefined, { "etc/os-release": "wharf" });
      await s.prepare("ctr", "base", { labels: { role: "container" } });
      await s.view("peek", "base");
      const before = await s.list();
      const mountsBefore = await s.mounts("ctr");
      const again = await reopen();
      assert.deepEqual(await again.list(), before);
      assert.deepEqual(await again.mounts("ctr"), mountsBefore);
      await rejectsWith(again.prepare("ctr"), "conflict");
      await again.prepare("next", "base");
      assert.equal((await again.list()).length, 4);
    });

    withFixture("usage counts the snapshot's own files, hardlinks once", async ({ snapshotter: s }) => {
      const dir = writableDir(await s.prepare("u"));
      await writeFile(join(dir, "a"), Buffer.alloc(100));
      await mkdir(join(dir, "d"));
      await writeFile(join(dir, "d", "b"), Buffer.alloc(250));
      await link(join(dir, "a"), join(dir, "d", "a-again"));
      assert.deepEqual(await s.usage("u"), { size: 350, inodes: 4 });
    });

    withFixture("a child sees its parents' files; its writes land in its own layer only", async ({ snapshotter: s }) => {
      await layer(s, "l1", undefined, { "bottom.txt": "from l1", "shadowed.txt": "l1" });
      await layer(s, "l2", "l1", { "middle.txt": "from l2", "shadowed.txt": "l2" });
      const mounts = await s.prepare("ctr", "l2");
      await withTempMount(mounts, async (root) => {
        assert.equal(await readFile(join(root, "bottom.txt"), "utf8"), "from l1");
        assert.equal(await readFile(join(root, "middle.txt"), "utf8"), "from l2");
        assert.equal(await readFile(join(root, "shadowed.txt"), "utf8"), "l2");
        await writeFile(join(root, "new.txt"), "written by the container");
        await writeFile(join(root, "bottom.txt"), "changed");
      });
      assert.equal(await readFile(join(writableDir(mounts), "new.txt"), "utf8"), "written by the container");
      assert.equal(await readFile(join(writableDir(mounts), "bottom.txt"), "utf8"), "changed");
      // The committed layers are untouched: a fresh view shows the originals.
      await withTempMount(await s.view("check", "l2"), async (root) => {
        assert.equal(await readFile(join(root, "bottom.txt"), "utf8"), "from l1");
        assert.equal(await readOr(join(root, "new.txt")), undefined);
      });
    });

    withFixture("an active snapshot without a parent mounts its own dir, writable", async ({ snapshotter: s }) => {
      const mounts = await s.prepare("scratch");
      await withTempMount(mounts, async (root) => {
        await writeFile(join(root, "hello"), "world");
      });
      assert.equal(await readFile(join(writableDir(mounts), "hello"), "utf8"), "world");
    });

    withFixture("two actives on one parent are independent", async ({ snapshotter: s }) => {
      await layer(s, "base", undefined, { "shared.txt": "base" });
      const a = await s.prepare("a", "base");
      const b = await s.prepare("b", "base");
      await withTempMount(a, async (ra) => {
        await withTempMount(b, async (rb) => {
          await writeFile(join(ra, "shared.txt"), "changed by a");
          await writeFile(join(ra, "only-a"), "a");
          assert.equal(await readFile(join(rb, "shared.txt"), "utf8"), "base");
          assert.equal(await readOr(join(rb, "only-a")), undefined);
        });
      });
    });

    withFixture("views are read-only, of one layer or many", async ({ snapshotter: s }) => {
      await layer(s, "l1", undefined, { one: "1" });
      await layer(s, "l2", "l1", { two: "2" });
      for (const [key, parent, files] of [["v1", "l1", ["one"]], ["v2", "l2", ["one", "two"]]] as const) {
        const mounts: Mount[] = await s.view(key, parent);
        assert.equal((await s.stat(key)).kind, "view");
        await withTempMount(mounts, async (root) => {
          assert.deepEqual((await readdir(root)).sort(), [...files]);
          await assert.rejects(writeFile(join(root, "new"), "x"), (e) => errnoCode(e) === "EROFS");
        });
      }
    });

    withFixture("a chain of 200 layers mounts and shows every layer's file", async ({ snapshotter: s, checkDeepMounts }) => {
      let parent: string | undefined;
      for (let i = 0; i < 200; i++) {
        const name = `layer-${i}`;
        await layer(s, name, parent, { [`file-${i}`]: String(i) });
        parent = name;
      }
      const mounts = await s.prepare("deep", parent);
      checkDeepMounts?.(mounts);
      await withTempMount(mounts, async (root) => {
        const names = await readdir(root);
        assert.equal(names.length, 200);
        assert.equal(await readFile(join(root, "file-0"), "utf8"), "0");
        assert.equal(await readFile(join(root, "file-199"), "utf8"), "199");
      });
      await withTempMount(await s.view("deep-view", parent!), async (root) => {
        assert.equal((await readdir(root)).length, 200);
      });
    });
  });
}

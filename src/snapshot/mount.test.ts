import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { access, mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MountFlags, errnoCode, isKind } from "../internal/index.js";
import { mountAll, mountsUsing, unmount, withTempMount } from "./mount.js";
import { splitMountOptions } from "./options.js";

async function scratch(t: { after(fn: () => Promise<void>): void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(async () => {
    await unmount(dir);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

describe("splitMountOptions", () => {
  it("turns flag words into flags and keeps the rest as data", () => {
    const { flags, data } = splitMountOptions(["rbind", "ro", "nosuid", "lowerdir=/a:/b", "index=off"]);
    assert.equal(flags, MountFlags.BIND | MountFlags.REC | MountFlags.RDONLY | MountFlags.NOSUID);
    assert.equal(data, "lowerdir=/a:/b,index=off");
    assert.equal(splitMountOptions(["ro", "rw"]).flags, 0);
  });
});

describe("mount", () => {
  it("mounts a read-only bind and unmounts it", async (t) => {
    const src = await scratch(t, "wharf-src-");
    const target = await scratch(t, "wharf-target-");
    await writeFile(join(src, "f"), "source");
    await mountAll([{ type: "bind", source: src, options: ["rbind", "ro"] }], target);
    assert.deepEqual(await mountsUsing(target), [target]);
    assert.equal(await readFile(join(target, "f"), "utf8"), "source");
    await assert.rejects(writeFile(join(target, "g"), "x"), (e) => errnoCode(e) === "EROFS");
    await unmount(target);
    assert.deepEqual(await mountsUsing(target), []);
    assert.deepEqual(await readdir(target), []);
  });

  it("unmounts every mount stacked on a target, and accepts a target that is not mounted", async (t) => {
    const a = await scratch(t, "wharf-a-");
    const b = await scratch(t, "wharf-b-");
    const target = await scratch(t, "wharf-target-");
    await writeFile(join(a, "a"), "");
    await writeFile(join(b, "b"), "");
    await mountAll([{ type: "bind", source: a, options: ["bind"] }, { type: "bind", source: b, options: ["bind"] }], target);
    assert.deepEqual(await readdir(target), ["b"]);
    await unmount(target);
    assert.deepEqual(await mountsUsing(target), []);
    await unmount(target);
  });

  it("detaches a mount that stays busy", async (t) => {
    const src = await scratch(t, "wharf-src-");
    const target = await scratch(t, "wharf-target-");
    await writeFile(join(src, "f"), "held open");
    await mountAll([{ type: "bind", source: src, options: ["bind"] }], target);
    const fh = await open(join(target, "f"), "r");
    try {
      await unmount(target, { retries: 1, delayMs: 1 });
      assert.deepEqual(await mountsUsing(target), []);
      assert.equal(await fh.readFile("utf8"), "held open");
    } finally {
      await fh.close();
    }
  });

  it("undoes earlier mounts when a later one fails", async (t) => {
    const a = await scratch(t, "wharf-a-");
    const target = await scratch(t, "wharf-target-");
    await assert.rejects(
      mountAll([{ type: "bind", source: a, options: ["bind"] }, { type: "bind", source: join(a, "missing"), options: ["bind"] }], target),
      (e) => isKind(e, "not-found") && e.message.includes("missing"),
    );
    assert.deepEqual(await mountsUsing(target), []);
  });

  it("refuses option data longer than a page before calling mount", async (t) => {
    const target = await scratch(t, "wharf-target-");
    await assert.rejects(mountAll([{ type: "tmpfs", source: "tmpfs", options: ["x".repeat(5000)] }], target), (e) => isKind(e, "invalid-argument"));
  });

  it("withTempMount unmounts and removes its dir even when the callback throws", async (t) => {
    const src = await scratch(t, "wharf-src-");
    let seen = "";
    await assert.rejects(
      withTempMount([{ type: "bind", source: src, options: ["rbind", "rw"] }], async (dir) => {
        seen = dir;
        assert.deepEqual(await mountsUsing(dir), [dir]);
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.notEqual(seen, "");
    await assert.rejects(access(seen), (e) => errnoCode(e) === "ENOENT");
    assert.deepEqual(await mountsUsing(seen), []);
  });

  it("mounts an overlay with relative lowerdirs from its cwd", async (t) => {
    const root = await scratch(t, "wharf-ovl-");
    for (const d of ["l1", "l2", "up", "wk"]) await mkdir(join(root, d));
    await writeFile(join(root, "l1", "one"), "1");
    await writeFile(join(root, "l2", "two"), "2");
    const seen = await withTempMount(
      [{ type: "overlay", source: "overlay", options: [`workdir=${root}/wk`, `upperdir=${root}/up`, "lowerdir=l2:l1"], cwd: root }],
      async (dir) => (await readdir(dir)).sort(),
    );
    assert.deepEqual(seen, ["one", "two"]);
  });
});

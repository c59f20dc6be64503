import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { isKind, sys, WharfError } from "../internal/index.js";
import { applyLayer } from "./apply.js";
import { compress } from "./compression.js";
import { encodeTar, type TarInput } from "./tar.js";
import { bytesOf, canaryIntact, describeTree, layerRoot, tarOf, tempDir } from "./testing.js";

const file = (name: string, text = "x", extra: Partial<TarInput["header"]> = {}): TarInput => ({
  header: { name, type: "file", size: Buffer.byteLength(text), ...extra },
  body: Buffer.from(text),
});
const dir = (name: string, extra: Partial<TarInput["header"]> = {}): TarInput => ({ header: { name, type: "directory", ...extra } });
const symlink = (name: string, target: string): TarInput => ({ header: { name, type: "symlink", linkname: target } });
const hardlink = (name: string, target: string): TarInput => ({ header: { name, type: "hardlink", linkname: target } });

/** Applies a hostile layer and checks it is refused as a whole, naming the entry, with nothing outside touched. */
async function assertRejected(t: Parameters<typeof layerRoot>[0], entries: (root: string) => TarInput[], entryName: string, detail: RegExp): Promise<void> {
  const { root, layer } = await layerRoot(t);
  await assert.rejects(applyLayer(layer, tarOf(entries(root))), (e: unknown) => {
    assert.ok(e instanceof WharfError, `expected a WharfError, got ${String(e)}`);
    assert.equal(e.kind, "invalid-argument");
    assert.ok(e.message.startsWith(`apply layer: entry ${JSON.stringify(entryName)}: `), e.message);
    assert.match(e.message, detail);
    return true;
  });
  assert.ok(canaryIntact(root), `something outside the layer changed: ${readdirSync(root).join(", ")}; canary: ${readdirSync(join(root, "canary")).join(", ")}`);
}

describe("applyLayer refuses hostile layers", () => {
  it("refuses a name with a .. component", async (t) => {
    await assertRejected(t, () => [file("../canary/pwned")], "../canary/pwned", /path escapes the layer root/);
  });

  it("refuses a .. hidden after normal components", async (t) => {
    await assertRejected(t, () => [dir("a/"), file("a/../../canary/pwned")], "a/../../canary/pwned", /path escapes the layer root/);
  });

  it("refuses an absolute name", async (t) => {
    const { root, layer } = await layerRoot(t);
    const name = `${root}/canary/pwned`;
    await assert.rejects(applyLayer(layer, tarOf([file(name)])), (e: unknown) => isKind(e, "invalid-argument") && e.message.includes(JSON.stringify(name)) && /is absolute/.test(e.message));
    assert.ok(canaryIntact(root));
  });

  it("refuses a write through a symlink to an absolute path outside", async (t) => {
    await assertRejected(t, (root) => [symlink("a", join(root, "canary")), file("a/pwned")], "a/pwned", /parent "a" is a symlink/);
  });

  it("refuses a write through a relative symlink that climbs out", async (t) => {
    await assertRejected(t, () => [symlink("a", "../canary"), file("a/pwned")], "a/pwned", /parent "a" is a symlink/);
  });

  it("refuses a write through a symlink deeper in the path", async (t) => {
    await assertRejected(t, () => [dir("d/"), symlink("d/s", "../../canary"), dir("d/s/sub/"), file("d/s/sub/pwned")], "d/s/sub/", /parent "d\/s" is a symlink/);
  });

  it("refuses a symlink to /etc followed by a write to its passwd", async (t) => {
    await assertRejected(t, () => [symlink("a", "/etc"), file("a/passwd", "root::0:0::/:/bin/sh\n")], "a/passwd", /parent "a" is a symlink/);
    assert.doesNotMatch(readFileSync("/etc/passwd", "utf8"), /^root::0:0::\/:\/bin\/sh$/m);
  });

  it("refuses a hardlink to a file outside the layer by a .. path", async (t) => {
    await assertRejected(t, () => [hardlink("l", "../canary/file")], "l", /hardlink target "..\/canary\/file" escapes the layer root/);
  });

  it("refuses a hardlink to an absolute path", async (t) => {
    const { root, layer } = await layerRoot(t);
    const target = join(root, "canary", "file");
    await assert.rejects(applyLayer(layer, tarOf([hardlink("l", target)])), (e: unknown) => isKind(e, "invalid-argument") && e.message === `apply layer: entry "l": hardlink target ${JSON.stringify(target)} is absolute`);
    assert.ok(canaryIntact(root));
  });

  it("refuses a hardlink whose target passes through a symlink", async (t) => {
    await assertRejected(t, (root) => [symlink("s", join(root, "canary")), hardlink("l", "s/file")], "l", /hardlink target "s\/file" does not exist earlier in the layer/);
  });

  it("refuses a hardlink to a name the layer does not have", async (t) => {
    await assertRejected(t, () => [file("a"), hardlink("l", "b")], "l", /hardlink target "b" does not exist earlier in the layer/);
  });

  it("refuses a hardlink to a file whose directory was since replaced by a symlink", async (t) => {
    await assertRejected(t, (root) => [dir("a/"), file("a/file"), symlink("a", join(root, "canary")), hardlink("l", "a/file")], "l", /does not exist earlier in the layer/);
  });

  it("refuses a hardlink to a directory", async (t) => {
    await assertRejected(t, () => [dir("d/"), hardlink("l", "d")], "l", /is a directory/);
  });

  it("refuses a whiteout of an empty name", async (t) => {
    await assertRejected(t, () => [dir("d/"), file("d/.wh.", "")], "d/.wh.", /whiteout of an empty name/);
  });

  it("refuses whiteout meta names other than the opaque marker", async (t) => {
    await assertRejected(t, () => [file(".wh..wh.plnk", "")], ".wh..wh.plnk", /unsupported whiteout meta name/);
  });

  it("refuses a whiteout of ..", async (t) => {
    await assertRejected(t, () => [dir("d/"), file("d/.wh...", "")], "d/.wh...", /whiteout of "\.\."/);
  });

  it("refuses a whiteout inside a .. path", async (t) => {
    await assertRejected(t, () => [file("../canary/.wh.file", "")], "../canary/.wh.file", /path escapes the layer root/);
  });

  it("refuses a whiteout below a symlink", async (t) => {
    await assertRejected(t, (root) => [symlink("s", join(root, "canary")), file("s/.wh.file", "")], "s/.wh.file", /parent "s" is a symlink/);
  });

  it("refuses an opaque marker below a symlink", async (t) => {
    await assertRejected(t, (root) => [symlink("s", join(root, "canary")), file("s/.wh..wh..opq", "")], "s/.wh..wh..opq", /parent "s" is a symlink/);
  });

  for (const mountPoint of ["dev", "proc", "sys", "etc", "etc/hosts", "etc/hostname", "etc/resolv.conf"]) {
    it(`refuses a symlink at /${mountPoint}, where the runtime mounts`, async (t) => {
      const parent = mountPoint.startsWith("etc/") ? [dir("etc/")] : [];
      await assertRejected(t, () => [...parent, symlink(`./${mountPoint}`, "/")], `./${mountPoint}`, /would redirect a runtime mount/);
    });
  }

  it("refuses a hardlink to a symlink placed at a mount point", async (t) => {
    await assertRejected(t, () => [symlink("s", "/"), hardlink("proc", "s")], "proc", /would redirect a runtime mount/);
  });

  it("refuses trusted.overlay xattrs from the tar", async (t) => {
    await assertRejected(t, () => [dir("d/", { xattrs: new Map([["trusted.overlay.redirect", Buffer.from("/etc")]]) })], "d/", /reserved for overlayfs/);
  });

  it("refuses a file where a parent directory should be", async (t) => {
    await assertRejected(t, () => [file("a"), file("a/b")], "a/b", /parent "a" is not a directory/);
  });

  it("refuses a directory that is not empty", async (t) => {
    const { root, layer } = await layerRoot(t);
    writeFileSync(join(layer, "old"), "");
    await assert.rejects(applyLayer(layer, tarOf([file("a")])), (e: unknown) => isKind(e, "invalid-argument") && /not empty/.test(e.message));
    assert.ok(canaryIntact(root));
  });
});

describe("applyLayer writes entries", () => {
  it("returns the sha256 and size of the uncompressed tar, whatever the compression", async (t) => {
    const tar = await bytesOf(tarOf([dir("etc/"), file("etc/os-release", "wharf\n"), file("big", "y".repeat(300_000))]));
    const want = `sha256:${createHash("sha256").update(tar).digest("hex")}`;
    for (const compression of ["none", "gzip", "zstd"] as const) {
      const { layer } = await layerRoot(t);
      const bytes = compression === "none" ? tar : await bytesOf(compress(Readable.from([tar]), compression));
      const result = await applyLayer(layer, Readable.from([bytes]));
      assert.equal(result.diffId, want, compression);
      assert.equal(result.size, tar.length, compression);
      assert.equal(readFileSync(join(layer, "etc/os-release"), "utf8"), "wharf\n");
      assert.equal(readFileSync(join(layer, "big"), "utf8").length, 300_000);
    }
  });

  it("with hash: false, writes the same tree and returns the sizes without a diffID", async (t) => {
    const tar = await bytesOf(tarOf([dir("etc/"), file("etc/os-release", "wharf\n"), file("big", "y".repeat(300_000)), symlink("l", "big")]));
    const hashed = await applyLayer((await layerRoot(t)).layer, Readable.from([tar]));
    const { layer } = await layerRoot(t);
    const sizes = await applyLayer(layer, Readable.from([tar]), { hash: false });
    assert.deepEqual(sizes, { size: hashed.size, contentSize: hashed.contentSize });
    assert.equal(readFileSync(join(layer, "big"), "utf8").length, 300_000);
    assert.equal(readlinkSync(join(layer, "l")), "big");
  });

  it("tees the uncompressed tar, batch by batch, each finished before the next starts", async (t) => {
    // Several batches (over a MiB each is one), gzip in: the tee sees the tar itself.
    const tar = await bytesOf(tarOf([file("a", "a".repeat(1_500_000)), file("b", "b".repeat(2_500_000)), symlink("l", "a")]));
    const { layer } = await layerRoot(t);
    const seen: Buffer[] = [];
    let running = 0;
    const tee = async (batch: Buffer): Promise<void> => {
      assert.equal(running, 0, "one tee call at a time");
      running++;
      await new Promise((r) => setTimeout(r, 5));
      seen.push(Buffer.from(batch));
      running--;
    };
    const sizes = await applyLayer(layer, compress(Readable.from([tar]), "gzip"), { hash: false, tee });
    assert.ok(seen.length > 1, `${seen.length} batch(es)`);
    assert.ok(Buffer.concat(seen).equals(tar), "the tee saw the uncompressed tar, in order");
    assert.equal(sizes.size, tar.length);
    assert.equal(readFileSync(join(layer, "b"), "utf8"), "b".repeat(2_500_000));
  });

  it("fails when the tee fails, with no tee call left running", async (t) => {
    const tar = await bytesOf(tarOf([file("a", "a".repeat(3_000_000))]));
    const { layer } = await layerRoot(t);
    let calls = 0;
    let settled = 0;
    const tee = async (): Promise<void> => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      settled++;
      if (calls === 2) throw new Error("disk full");
    };
    await assert.rejects(applyLayer(layer, Readable.from([tar]), { hash: false, tee }), /disk full/);
    assert.equal(settled, calls);
  });

  it("starts each layer afresh, after a success and after a failure", async (t) => {
    // The applies run back to back, as a pull's layers do: nothing of one layer is known to the next.
    const first = await layerRoot(t);
    await applyLayer(first.layer, tarOf([file("only-in-first", "1")]));
    const second = await layerRoot(t);
    await assert.rejects(applyLayer(second.layer, tarOf([hardlink("l", "only-in-first")])), (e: unknown) => isKind(e, "invalid-argument") && /does not exist earlier in the layer/.test(e.message));
    const third = await layerRoot(t);
    const sizes = await applyLayer(third.layer, tarOf([file("a", "abc"), hardlink("l", "a")]));
    assert.equal(sizes.contentSize, 3);
    assert.deepEqual(readdirSync(third.layer).sort(), ["a", "l"]);
    assert.equal(lstatSync(join(third.layer, "l")).ino, lstatSync(join(third.layer, "a")).ino);
  });

  it("sets owners, modes (setuid after chown), mtimes and xattrs", async (t) => {
    const { layer } = await layerRoot(t);
    await applyLayer(
      layer,
      tarOf([
        dir("bin/", { mode: 0o750, uid: 10, gid: 20, mtime: 1_600_000_000 }),
        file("bin/su", "su", { mode: 0o4755, uid: 1000, gid: 1000, mtime: 1_500_000_000, xattrs: new Map([["user.note", Buffer.from([0, 1, 2, 255])]]) }),
        file("bin/g", "g", { mode: 0o2711, uid: 0, gid: 42, mtime: 1_500_000_001 }),
        symlink("bin/link", "su"),
        { header: { name: "tmp/", type: "directory", mode: 0o1777, mtime: 1_400_000_000 } },
      ]),
    );
    const su = lstatSync(join(layer, "bin/su"));
    assert.equal(su.mode & 0o7777, 0o4755);
    assert.equal(su.uid, 1000);
    assert.equal(su.mtimeMs, 1_500_000_000_000);
    assert.deepEqual(sys().lgetxattr(join(layer, "bin/su"), "user.note"), Buffer.from([0, 1, 2, 255]));
    const g = lstatSync(join(layer, "bin/g"));
    assert.equal(g.mode & 0o7777, 0o2711);
    assert.equal(g.gid, 42);
    const bin = lstatSync(join(layer, "bin"));
    assert.equal(bin.mode & 0o7777, 0o750);
    assert.equal([bin.uid, bin.gid].join(":"), "10:20");
    assert.equal(bin.mtimeMs, 1_600_000_000_000, "directory mtimes are set after their contents");
    assert.equal(lstatSync(join(layer, "tmp")).mode & 0o7777, 0o1777);
    assert.equal(readlinkSync(join(layer, "bin/link")), "su");
  });

  it("writes thousands of small files, each with its own bytes, owner, mode and mtime", async (t) => {
    // Far more files than one group or the groups allowed in flight: each file's metadata goes with its own fd.
    const entries: TarInput[] = [dir("d/")];
    for (let i = 0; i < 2000; i++) entries.push(file(`d/${i % 7}/f${i}`, `content ${i}\n`.repeat(1 + (i % 50)), { mode: 0o600 + (i % 64), uid: i % 5, gid: i % 3, mtime: 1_000_000_000 + i }));
    entries.push(file("big", "z".repeat(3 << 20), { mode: 0o640, mtime: 1_234_567_890 }));
    const { layer } = await layerRoot(t);
    await applyLayer(layer, tarOf(entries));
    for (let i = 0; i < 2000; i++) {
      const path = join(layer, `d/${i % 7}/f${i}`);
      const st = lstatSync(path);
      assert.equal(readFileSync(path, "utf8"), `content ${i}\n`.repeat(1 + (i % 50)), path);
      assert.equal(st.mode & 0o7777, 0o600 + (i % 64), path);
      assert.equal(`${st.uid}:${st.gid}`, `${i % 5}:${i % 3}`, path);
      assert.equal(st.mtimeMs, (1_000_000_000 + i) * 1000, path);
    }
    assert.equal(lstatSync(join(layer, "big")).size, 3 << 20);
    assert.equal(lstatSync(join(layer, "big")).mtimeMs, 1_234_567_890_000);
  });

  it("a small file replaced, linked or removed by later entries ends as those entries say", async (t) => {
    const { layer } = await layerRoot(t);
    await applyLayer(
      layer,
      tarOf([
        file("a", "first", { mtime: 1_000_000_000 }),
        hardlink("b", "a"),
        file("a", "second", { mode: 0o600, mtime: 1_100_000_000 }),
        file("c", "gone"),
        dir("c/"),
        file("c/inside", "kept"),
        file("e", "x"),
        file(".wh.e", ""),
      ]),
    );
    assert.equal(readFileSync(join(layer, "b"), "utf8"), "first", "the link keeps the first file");
    assert.equal(lstatSync(join(layer, "b")).mtimeMs, 1_000_000_000_000);
    assert.equal(readFileSync(join(layer, "a"), "utf8"), "second");
    assert.equal(lstatSync(join(layer, "a")).mode & 0o7777, 0o600);
    assert.equal(lstatSync(join(layer, "a")).nlink, 1);
    assert.equal(readFileSync(join(layer, "c/inside"), "utf8"), "kept");
    assert.ok(lstatSync(join(layer, "e")).isCharacterDevice(), "the whiteout replaced the file");
  });

  it("a small file that cannot be written fails the layer, naming the entry", async (t) => {
    const root = await tempDir(t);
    sys().mount("tmpfs", root, "tmpfs", 0, "size=256k");
    try {
      const layer = join(root, "layer");
      mkdirSync(layer);
      const entries: TarInput[] = [];
      for (let i = 0; i < 20; i++) entries.push(file(`f${i}`, "q".repeat(100_000)));
      await assert.rejects(applyLayer(layer, tarOf(entries)), (e: unknown) => {
        assert.ok(e instanceof WharfError, String(e));
        assert.match(e.message, /^apply layer: entry "f\d+": no space left on device/);
        return true;
      });
    } finally {
      sys().umount2(root, 2);
    }
  });

  it("keeps fractional PAX mtimes and sets symlink mtimes without following them", async (t) => {
    const { layer } = await layerRoot(t);
    await applyLayer(layer, tarOf([file("f", "", { mtime: 1_600_000_000.25 }), { header: { name: "l", type: "symlink", linkname: "f", mtime: 1_000_000_000 } }]));
    assert.equal(lstatSync(join(layer, "f")).mtimeMs, 1_600_000_000_250);
    assert.equal(lstatSync(join(layer, "l")).mtimeMs, 1_000_000_000_000);
  });

  it("creates devices, fifos and hardlinks", async (t) => {
    const { layer } = await layerRoot(t);
    await applyLayer(
      layer,
      tarOf([
        { header: { name: "dev/null", type: "char-device", devmajor: 1, devminor: 3, mode: 0o666 } },
        { header: { name: "dev/loop0", type: "block-device", devmajor: 7, devminor: 0, mode: 0o660, gid: 6 } },
        { header: { name: "run/fifo", type: "fifo", mode: 0o600 } },
        file("usr/bin/a", "same"),
        hardlink("usr/bin/b", "./usr/bin/a"),
      ]),
    );
    const nul = lstatSync(join(layer, "dev/null"));
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, (1 << 8) | 3);
    assert.equal(nul.mode & 0o7777, 0o666);
    const loop = lstatSync(join(layer, "dev/loop0"));
    assert.ok(loop.isBlockDevice());
    assert.equal(loop.gid, 6);
    assert.ok(lstatSync(join(layer, "run/fifo")).isFIFO());
    assert.equal(lstatSync(join(layer, "usr/bin/a")).ino, lstatSync(join(layer, "usr/bin/b")).ino);
  });

  it("converts whiteouts to 0:0 character devices and the opaque marker to an xattr", async (t) => {
    const { layer } = await layerRoot(t);
    await applyLayer(layer, tarOf([dir("etc/"), file("etc/.wh.motd", ""), file("var/lib/.wh..wh..opq", ""), file(".wh.opt", "")]));
    for (const p of ["etc/motd", "opt"]) {
      const st = lstatSync(join(layer, p));
      assert.ok(st.isCharacterDevice(), p);
      assert.equal(st.rdev, 0, p);
    }
    assert.deepEqual(readdirSync(join(layer, "etc")), ["motd"]);
    assert.equal(sys().lgetxattr(join(layer, "var/lib"), "trusted.overlay.opaque")?.toString(), "y");
    assert.deepEqual(readdirSync(join(layer, "var/lib")), []);
  });

  it("normalises names: a leading ./ and duplicated slashes", async (t) => {
    const { layer } = await layerRoot(t);
    await applyLayer(layer, tarOf([dir("./"), dir("./a//b/"), file("./a//b///c", "c"), file("a/./d", "d")]));
    assert.deepEqual(
      describeTree(layer, { mtimes: false }).map((n) => n.path),
      ["a", "a/b", "a/b/c", "a/d"],
    );
  });

  it("lets a later entry replace an earlier one, and a dir over a dir update its metadata", async (t) => {
    const { layer } = await layerRoot(t);
    await applyLayer(
      layer,
      tarOf([
        file("x", "first"),
        file("x", "second"),
        dir("d/", { mode: 0o700 }),
        file("d/keep", "k"),
        dir("d/", { mode: 0o755, uid: 5 }),
        dir("gone/"),
        file("gone/child", "c"),
        file("gone", "now a file"),
        symlink("s", "x"),
        dir("s/"),
      ]),
    );
    assert.equal(readFileSync(join(layer, "x"), "utf8"), "second");
    assert.equal(readFileSync(join(layer, "d/keep"), "utf8"), "k");
    assert.equal(lstatSync(join(layer, "d")).mode & 0o7777, 0o755);
    assert.equal(lstatSync(join(layer, "d")).uid, 5);
    assert.equal(readFileSync(join(layer, "gone"), "utf8"), "now a file");
    assert.ok(lstatSync(join(layer, "s")).isDirectory(), "a dir entry replaces a symlink instead of following it");
  });

  it("replaces a symlink with a dir entry without writing through it", async (t) => {
    const { root, layer } = await layerRoot(t);
    await applyLayer(layer, tarOf([symlink("a", join(root, "canary")), dir("a/"), file("a/file", "inside")]));
    assert.equal(readFileSync(join(layer, "a/file"), "utf8"), "inside");
    assert.ok(canaryIntact(root));
  });

  it("reports a corrupt tar as data-corrupt", async (t) => {
    const tar = await bytesOf(tarOf([file("a", "hello")]));
    tar[10] = tar[10]! ^ 0xff; // inside the first header's name
    const { layer } = await layerRoot(t);
    await assert.rejects(applyLayer(layer, Readable.from([tar])), (e: unknown) => isKind(e, "data-corrupt") && /checksum mismatch/.test(e.message));
  });

  it("reports a truncated tar as data-corrupt", async (t) => {
    const tar = await bytesOf(tarOf([file("a", "z".repeat(5000))]));
    const { layer } = await layerRoot(t);
    await assert.rejects(applyLayer(layer, Readable.from([tar.subarray(0, 2000)])), (e: unknown) => isKind(e, "data-corrupt") && /truncated inside entry "a"/.test(e.message));
  });

  it("reports a truncated gzip layer as data-corrupt", async (t) => {
    const gz = await bytesOf(compress(tarOf([file("a", "z".repeat(50_000))]), "gzip"));
    const { layer } = await layerRoot(t);
    await assert.rejects(applyLayer(layer, Readable.from([gz.subarray(0, gz.length - 20)])), (e: unknown) => isKind(e, "data-corrupt"));
  });

  it("stops when the signal aborts", async (t) => {
    const { layer } = await layerRoot(t);
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<Buffer> {
      yield* encodeTar([file("a", "a")]);
      controller.abort();
      await new Promise((r) => setTimeout(r, 10_000).unref());
    }
    await assert.rejects(applyLayer(layer, Readable.from(slow()), { signal: controller.signal }), (e: unknown) => isKind(e, "cancelled"));
  });

  it("propagates an error of the source stream", async (t) => {
    const { layer } = await layerRoot(t);
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(512 * 3);
      throw new Error("network went away");
    }
    await assert.rejects(applyLayer(layer, Readable.from(failing())), /network went away/);
  });

  it("applies a large tree made by GNU tar from this machine", async (t) => {
    const work = await tempDir(t);
    const src = join(work, "src");
    mkdirSync(src);
    for (let i = 0; i < 300; i++) {
      mkdirSync(join(src, `d${i % 17}`), { recursive: true });
      writeFileSync(join(src, `d${i % 17}`, `f${i}`), Buffer.alloc(i * 97, i));
    }
    const { execFileSync } = await import("node:child_process");
    const tar = execFileSync("tar", ["--numeric-owner", "-C", src, "-cf", "-", "."], { maxBuffer: 1 << 28 });
    const layer = join(work, "layer");
    mkdirSync(layer);
    const r = await applyLayer(layer, Readable.from([tar]));
    assert.equal(r.size, tar.length);
    assert.deepEqual(describeTree(layer), describeTree(src));
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, linkSync, lutimesSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, chownSync, chmodSync, lchownSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { S_IFBLK, S_IFCHR, S_IFIFO, sys } from "../internal/index.js";
import { applyLayer } from "./apply.js";
import { diffDirectory } from "./diff.js";
import { readTar, type TarHeader } from "./tar.js";
import { bytesOf, describeTree, tarOf, tempDir } from "./testing.js";

const T0 = 1_650_000_000;

/** Sets every mtime below `root` to a whole second, children before their directories. */
function pinMtimes(root: string, rel = ""): void {
  const full = rel === "" ? root : join(root, rel);
  for (const entry of readdirSync(full, { withFileTypes: true })) {
    const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) pinMtimes(root, child);
    const t = T0 + child.length * 1000;
    lutimesSync(join(root, child), t, t);
  }
}

/** A tree with one of everything a layer holds; `overlay` adds a whiteout and an opaque dir. */
function makeTree(root: string, options: { overlay: boolean; longNames?: boolean }): void {
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  mkdirSync(join(root, "tmp"), { mode: 0o1777 });
  chmodSync(join(root, "tmp"), 0o1777);
  writeFileSync(join(root, "usr/bin/tool"), "#!/bin/sh\necho tool\n");
  chmodSync(join(root, "usr/bin/tool"), 0o4755);
  linkSync(join(root, "usr/bin/tool"), join(root, "usr/bin/tool-alias"));
  writeFileSync(join(root, "usr/bin/owned"), Buffer.alloc(70_000, 3));
  chownSync(join(root, "usr/bin/owned"), 1234, 5678);
  chmodSync(join(root, "usr/bin/owned"), 0o2640);
  sys().lsetxattr(join(root, "usr/bin/owned"), "user.mime", Buffer.from("application/x-wharf"));
  sys().lsetxattr(join(root, "usr/bin/owned"), "security.capability", Buffer.from("0100000200200000000000000000000000000000", "hex"));
  symlinkSync("tool", join(root, "usr/bin/sym"));
  lchownSync(join(root, "usr/bin/sym"), 7, 8);
  symlinkSync("/nonexistent/absolute", join(root, "dangling"));
  mkdirSync(join(root, "dev"));
  sys().mknod(join(root, "dev/null"), S_IFCHR | 0o666, 1, 3);
  sys().mknod(join(root, "dev/sda"), S_IFBLK | 0o660, 8, 0);
  sys().mknod(join(root, "dev/big"), S_IFCHR | 0o600, 300, 70_000);
  sys().mknod(join(root, "fifo"), S_IFIFO | 0o644, 0, 0);
  // mknod's mode passes through the umask.
  for (const [p, mode] of [["dev/null", 0o666], ["dev/sda", 0o660], ["dev/big", 0o600], ["fifo", 0o644]] as const) chmodSync(join(root, p), mode);
  writeFileSync(join(root, "empty"), "");
  if (options.longNames) {
    const deep = join(root, ...Array.from({ length: 12 }, (_, i) => `directory-level-${i}`));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, `${"long-file-name-".repeat(10)}.txt`), "deep");
    linkSync(join(deep, `${"long-file-name-".repeat(10)}.txt`), join(root, "link-to-deep"));
  }
  if (options.overlay) {
    mkdirSync(join(root, "etc"));
    sys().mknod(join(root, "etc/removed"), S_IFCHR, 0, 0);
    mkdirSync(join(root, "var/lib/apt"), { recursive: true });
    sys().lsetxattr(join(root, "var/lib/apt"), "trusted.overlay.opaque", Buffer.from("y"));
    writeFileSync(join(root, "var/lib/apt/fresh"), "new");
  }
  pinMtimes(root);
}

async function headersOf(stream: Readable): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const entry of readTar(stream)) out.push(entry.header);
  return out;
}

function mountOverlay(lower: string, upper: string, work: string, merged: string): void {
  execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
}

describe("diffDirectory", () => {
  it("round-trips apply → diff → apply to identical trees: modes, owners, mtimes, xattrs, hardlinks, symlinks, devices, fifos, whiteouts, opaque dirs", async (t) => {
    const work = await tempDir(t);
    const [src, a, b] = ["src", "a", "b"].map((n) => join(work, n)) as [string, string, string];
    for (const d of [src, a, b]) mkdirSync(d);
    makeTree(src, { overlay: true, longNames: true });
    const first = await bytesOf(diffDirectory(src));
    await applyLayer(a, Readable.from([first]));
    const second = await bytesOf(diffDirectory(a));
    await applyLayer(b, Readable.from([second]));
    const want = describeTree(src);
    assert.deepEqual(describeTree(a), want);
    assert.deepEqual(describeTree(b), want);
    assert.deepEqual(second, first, "the same tree gives the same bytes");
  });

  it("writes entries sorted, parents first, whiteouts and opaque markers in OCI form, hardlinks as links", async (t) => {
    const src = await tempDir(t);
    makeTree(src, { overlay: true });
    const headers = await headersOf(diffDirectory(src));
    const names = headers.map((h) => h.name);
    assert.deepEqual(names, [
      "dangling",
      "dev/",
      "dev/big",
      "dev/null",
      "dev/sda",
      "empty",
      "etc/",
      "etc/.wh.removed",
      "fifo",
      "tmp/",
      "usr/",
      "usr/bin/",
      "usr/bin/owned",
      "usr/bin/sym",
      "usr/bin/tool",
      "usr/bin/tool-alias",
      "var/",
      "var/lib/",
      "var/lib/apt/",
      "var/lib/apt/.wh..wh..opq",
      "var/lib/apt/fresh",
    ]);
    const byName = new Map(headers.map((h) => [h.name, h]));
    assert.equal(byName.get("etc/.wh.removed")?.type, "file");
    assert.equal(byName.get("usr/bin/tool-alias")?.type, "hardlink");
    assert.equal(byName.get("usr/bin/tool-alias")?.linkname, "usr/bin/tool");
    assert.equal(byName.get("usr/bin/tool")?.mode, 0o4755);
    assert.deepEqual([...(byName.get("var/lib/apt/")?.xattrs.keys() ?? [])], [], "overlay's own xattrs stay out of the layer");
    assert.equal(byName.get("dev/big")?.devmajor, 300);
    assert.equal(byName.get("dev/big")?.devminor, 70_000);
    assert.equal(byName.get("usr/bin/owned")?.xattrs.get("user.mime")?.toString(), "application/x-wharf");
  });

  it("writes a layer GNU tar lists and extracts to the same tree", async (t) => {
    const work = await tempDir(t);
    const src = join(work, "src");
    const out = join(work, "out");
    mkdirSync(src);
    mkdirSync(out);
    makeTree(src, { overlay: false, longNames: true });
    const layer = await bytesOf(diffDirectory(src));
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", "-"], { input: layer }).toString();
    assert.match(listing, /^-rwsr-xr-x 0\/0 .* usr\/bin\/tool$/m);
    assert.match(listing, /^hrwsr-xr-x 0\/0 .* usr\/bin\/tool-alias link to usr\/bin\/tool$/m);
    assert.match(listing, /^crw-rw-rw- 0\/0 +1,3 .* dev\/null$/m);
    assert.match(listing, /^brw-rw---- 0\/0 +8,0 .* dev\/sda$/m);
    assert.match(listing, /^lrwxrwxrwx 7\/8 .* usr\/bin\/sym -> tool$/m);
    assert.match(listing, /long-file-name-long-file-name/);
    execFileSync("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-owner", "-p", "-C", out, "-xf", "-"], { input: layer });
    assert.deepEqual(describeTree(out), describeTree(src));
  });

  for (const format of ["posix", "gnu"] as const) {
    it(`applies a layer GNU tar writes in ${format} format (long names, hardlinks, devices${format === "posix" ? ", xattrs" : ""})`, async (t) => {
      const work = await tempDir(t);
      const src = join(work, "src");
      const out = join(work, "out");
      mkdirSync(src);
      mkdirSync(out);
      makeTree(src, { overlay: false, longNames: true });
      if (format === "gnu") for (const f of ["usr/bin/owned"]) for (const x of sys().llistxattr(join(src, f))) sys().lremovexattr(join(src, f), x);
      pinMtimes(src);
      const xattrs = format === "posix" ? ["--xattrs", "--xattrs-include=*"] : [];
      const layer = execFileSync("tar", [`--format=${format}`, ...xattrs, "--numeric-owner", "-C", src, "-cf", "-", "."], { maxBuffer: 1 << 26 });
      await applyLayer(out, Readable.from([layer]));
      assert.deepEqual(describeTree(out), describeTree(src));
    });
  }

  it("whiteouts and opaque dirs applied from a layer act in a real overlay mount, and a diff of overlay's own upper dir gives them back", async (t) => {
    const work = await tempDir(t);
    const d = (n: string) => join(work, n);
    for (const n of ["lower", "upper", "work", "merged", "upper2", "work2", "merged2"]) mkdirSync(d(n));
    mkdirSync(d("lower/etc"));
    writeFileSync(d("lower/etc/motd"), "hello");
    writeFileSync(d("lower/etc/keep"), "keep");
    mkdirSync(d("lower/var/lib/old"), { recursive: true });
    writeFileSync(d("lower/var/lib/old/x"), "x");
    mkdirSync(d("lower/opt"));
    writeFileSync(d("lower/opt/y"), "y");
    writeFileSync(d("lower/opt/z"), "z");

    // Layer → upper dir → overlay: the whiteout hides a lower file, the opaque dir hides lower contents.
    await applyLayer(d("upper"), tarOf([{ header: { name: "etc/.wh.motd", type: "file" } }, { header: { name: "var/lib/.wh..wh..opq", type: "file" } }, { header: { name: "var/lib/new", type: "file", size: 3 }, body: Buffer.from("new") }]));
    mountOverlay(d("lower"), d("upper"), d("work"), d("merged"));
    try {
      assert.deepEqual(readdirSync(d("merged/etc")).sort(), ["keep"]);
      assert.deepEqual(readdirSync(d("merged/var/lib")), ["new"]);
      assert.deepEqual(readdirSync(d("merged/opt")).sort(), ["y", "z"]);
      // Changes made through overlay: a deleted lower file, and a dir removed and made anew (opaque).
      rmSync(d("merged/opt/y"));
      rmSync(d("merged/etc"), { recursive: true });
      mkdirSync(d("merged/etc"));
      writeFileSync(d("merged/etc/fresh"), "fresh");
    } finally {
      execFileSync("umount", [d("merged")]);
    }

    const headers = await headersOf(diffDirectory(d("upper")));
    const names = headers.map((h) => h.name);
    assert.ok(names.includes("opt/.wh.y"), names.join(" "));
    assert.ok(names.includes("etc/.wh..wh..opq"), names.join(" "));
    assert.ok(names.includes("var/lib/.wh..wh..opq"), names.join(" "));
    assert.ok(headers.every((h) => [...h.xattrs.keys()].every((k) => !k.startsWith("trusted.overlay."))));

    // The diff, applied as a layer of its own, gives the same merged view.
    await applyLayer(d("upper2"), diffDirectory(d("upper")));
    mountOverlay(d("lower"), d("upper2"), d("work2"), d("merged2"));
    try {
      assert.deepEqual(readdirSync(d("merged2/etc")), ["fresh"]);
      assert.deepEqual(readdirSync(d("merged2/opt")), ["z"]);
      assert.deepEqual(readdirSync(d("merged2/var/lib")), ["new"]);
      assert.equal(readFileSync(d("merged2/etc/fresh"), "utf8"), "fresh");
      assert.ok(!existsSync(d("merged2/etc/keep")));
    } finally {
      execFileSync("umount", [d("merged2")]);
    }
  });

  it("reports a directory that does not exist as not-found", async () => {
    await assert.rejects(bytesOf(diffDirectory("/nonexistent/wharf-diff")), (e: unknown) => e instanceof Error && "kind" in e && e.kind === "not-found");
  });
});

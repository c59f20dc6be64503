import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync, linkSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { isKind, sys } from "../internal/index.js";
import { encodeTar, readTar, TarParser, writeTar, type TarHeader, type TarInput } from "./tar.js";
import { bytesOf, tempDir } from "./testing.js";

interface ReadEntry {
  header: TarHeader;
  body: Buffer;
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const entry of readTar(source)) out.push({ header: entry.header, body: await bytesOf(entry.body) });
  return out;
}

/** Feeds `bytes` in chunks of the given sizes (cycled), collecting what the parser reports. */
function parseChunked(bytes: Buffer, sizes: number[]): ReadEntry[] {
  const out: ReadEntry[] = [];
  let body: Buffer[] = [];
  const parser = new TarParser({
    entry: (header) => out.push({ header, body: Buffer.alloc(0) }),
    data: (chunk) => body.push(Buffer.from(chunk)),
    entryEnd: () => {
      out[out.length - 1]!.body = Buffer.concat(body);
      body = [];
    },
  });
  let pos = 0;
  for (let i = 0; pos < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    parser.push(bytes.subarray(pos, pos + n));
    pos += n;
  }
  parser.end();
  return out;
}

const longDir = `${"deep/".repeat(30)}dir`; // 153 characters
const longName = `${longDir}/${"n".repeat(120)}`; // beyond ustar's prefix + name
const sample: TarInput[] = [
  { header: { name: "etc/", type: "directory", mode: 0o755, mtime: 1_700_000_000 } },
  { header: { name: "etc/hostname", type: "file", size: 6, mode: 0o644, uid: 1, gid: 2, uname: "daemon", gname: "bin", mtime: 1_700_000_001 }, body: Buffer.from("wharf\n") },
  { header: { name: `${"p".repeat(120)}/${"q".repeat(90)}`, type: "file", size: 0 } }, // fits ustar prefix + name
  { header: { name: longName, type: "file", size: 1000 }, body: Buffer.alloc(1000, 7) },
  { header: { name: "ünïcødé/файл", type: "file", size: 1 }, body: Buffer.from("u") },
  { header: { name: "link", type: "symlink", linkname: `/${"t".repeat(150)}` } },
  { header: { name: "hard", type: "hardlink", linkname: "etc/hostname" } },
  { header: { name: "dev/null", type: "char-device", devmajor: 1, devminor: 3, mode: 0o666 } },
  { header: { name: "dev/big", type: "block-device", devmajor: 1 << 22, devminor: 1 << 25 } },
  { header: { name: "fifo", type: "fifo" } },
  { header: { name: "big-ids", type: "file", size: 0, uid: 5_000_000, gid: 4_294_967_294, mtime: 1_700_000_000.123456 } },
  { header: { name: "old", type: "file", size: 0, mtime: -86_400 } },
  { header: { name: "caps", type: "file", size: 0, xattrs: new Map([["security.capability", Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])], ["user.empty", Buffer.alloc(0)]]) } },
];

function checkSample(entries: ReadEntry[]): void {
  assert.equal(entries.length, sample.length);
  for (const [i, want] of sample.entries()) {
    const got = entries[i]!;
    const h = want.header;
    assert.equal(got.header.name, h.type === "directory" && !h.name.endsWith("/") ? `${h.name}/` : h.name);
    assert.equal(got.header.type, h.type, h.name);
    for (const key of ["mode", "uid", "gid", "uname", "gname", "size", "mtime", "linkname", "devmajor", "devminor"] as const) {
      if (h[key] !== undefined) assert.equal(got.header[key], h[key], `${h.name}: ${key}`);
    }
    if (h.xattrs) assert.deepEqual([...got.header.xattrs], [...h.xattrs]);
    assert.deepEqual(got.body, want.body === undefined ? Buffer.alloc(0) : Buffer.from(want.body as Uint8Array), h.name);
  }
}

describe("tar", () => {
  it("reads back everything the writer writes: long and non-ASCII names, large ids, fractional and negative mtimes, devices, xattrs", async () => {
    checkSample(await readAll(writeTar(sample)));
  });

  it("parses identically across any chunk boundaries", async () => {
    const bytes = await bytesOf(writeTar(sample));
    for (const sizes of [[1], [7], [511], [512], [513], [1024, 1, 3, 100_000], [bytes.length]]) checkSample(parseChunked(bytes, sizes));
  });

  it("ends with two zero blocks and pads bodies to 512 bytes", async () => {
    const bytes = await bytesOf(writeTar([{ header: { name: "a", type: "file", size: 3 }, body: Buffer.from("abc") }]));
    assert.equal(bytes.length, 512 + 512 + 1024);
    assert.ok(bytes.subarray(1024).every((b) => b === 0));
  });

  it("skips a body the reader does not consume", async () => {
    const names: string[] = [];
    for await (const entry of readTar(writeTar(sample))) names.push(entry.header.name);
    assert.equal(names.length, sample.length);
    assert.equal(names[3], longName);
  });

  it("reports a header with a bad checksum as data-corrupt", async () => {
    const bytes = await bytesOf(writeTar(sample));
    bytes[512 + 20] = bytes[512 + 20]! ^ 0x01; // inside the second entry's header
    await assert.rejects(readAll(Readable.from([bytes])), (e: unknown) => isKind(e, "data-corrupt") && /checksum mismatch/.test(e.message) && /after entry "etc\/"/.test(e.message));
  });

  it("reports bytes that are not a tar as data-corrupt", async () => {
    await assert.rejects(readAll(Readable.from([Buffer.from("this is not a tar archive at all".repeat(40))])), (e: unknown) => isKind(e, "data-corrupt"));
  });

  it("reports an archive cut inside a body or a header as truncated", async () => {
    const bytes = await bytesOf(writeTar(sample));
    await assert.rejects(readAll(Readable.from([bytes.subarray(0, 512 * 2 + 3)])), (e: unknown) => isKind(e, "data-corrupt") && /truncated inside entry "etc\/hostname"/.test(e.message));
    await assert.rejects(readAll(Readable.from([bytes.subarray(0, 512 + 100)])), (e: unknown) => isKind(e, "data-corrupt") && /truncated inside a header/.test(e.message));
  });

  it("accepts an archive that stops at an entry boundary without the end marker, as Go's reader does", async () => {
    const bytes = await bytesOf(writeTar([{ header: { name: "a", type: "file", size: 1 }, body: Buffer.from("a") }]));
    const entries = await readAll(Readable.from([bytes.subarray(0, 1024)]));
    assert.deepEqual(entries.map((e) => e.header.name), ["a"]);
  });

  it("refuses a body that does not match the header's size", async () => {
    await assert.rejects(bytesOf(writeTar([{ header: { name: "a", type: "file", size: 5 }, body: Buffer.from("abc") }])), (e: unknown) => isKind(e, "invalid-argument") && /body has 3 bytes, header says 5/.test(e.message));
    await assert.rejects(bytesOf(writeTar([{ header: { name: "a", type: "file", size: 1 }, body: Buffer.from("abc") }])), (e: unknown) => isKind(e, "invalid-argument"));
  });

  it("reads GNU tar's gnu format: long names and links (L/K) and base-256 numbers", async (t) => {
    const dir = await tempDir(t);
    const src = join(dir, "src");
    mkdirSync(join(src, longDir), { recursive: true });
    writeFileSync(join(src, longName), "long");
    symlinkSync(`../${"l".repeat(200)}`, join(src, "sym"));
    linkSync(join(src, longName), join(src, `${"h".repeat(150)}`));
    const bytes = execFileSync("tar", ["--format=gnu", "--owner=x:3000000", "--group=y:5", "--mtime=@-1000", "-C", src, "-cf", "-", "."]);
    const entries = await readAll(Readable.from([bytes]));
    const byName = new Map(entries.map((e) => [e.header.name, e]));
    const long = byName.get(`./${longName}`);
    assert.ok(long, `missing ./${longName} in ${[...byName.keys()].join(", ")}`);
    const hard = byName.get(`./${"h".repeat(150)}`);
    assert.ok(hard);
    // GNU tar stores the inode's first name as the file, the other as a link to it.
    const [stored, link] = long.header.type === "file" ? [long, hard] : [hard, long];
    assert.equal(stored.body.toString(), "long");
    assert.equal(link.header.type, "hardlink");
    assert.equal(link.header.linkname, stored.header.name);
    assert.equal(long.header.uid, 3_000_000);
    assert.equal(long.header.gid, 5);
    assert.equal(long.header.mtime, -1000);
    assert.equal(byName.get("./sym")?.header.linkname, `../${"l".repeat(200)}`);
  });

  it("reads GNU tar's pax format with a global header, xattrs and fractional mtimes", async (t) => {
    const dir = await tempDir(t);
    const src = join(dir, "src");
    mkdirSync(src);
    writeFileSync(join(src, "f"), "pax");
    sys().lsetxattr(join(src, "f"), "user.colour", Buffer.from("blue"));
    execFileSync("touch", ["-d", "@1700000000.5", join(src, "f")]);
    const bytes = execFileSync("tar", ["--format=pax", "--xattrs", "--xattrs-include=*", "--pax-option=comment=hello", "-C", src, "-cf", "-", "f"]);
    assert.equal(String.fromCharCode(bytes[156]!), "g", "the archive starts with a global header");
    const entries = await readAll(Readable.from([bytes]));
    assert.deepEqual(entries.map((e) => e.header.name), ["f"]);
    assert.equal(entries[0]!.header.mtime, 1_700_000_000.5);
    assert.equal(entries[0]!.header.xattrs.get("user.colour")?.toString(), "blue");
    assert.equal(entries[0]!.body.toString(), "pax");
  });

  it("writes archives GNU tar lists: PAX long names, links, devices", async () => {
    const bytes = await bytesOf(writeTar(sample));
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", "-"], { input: bytes }).toString();
    assert.match(listing, new RegExp(longName.replace(/\//g, "\\/")));
    assert.match(listing, /hard link to etc\/hostname/);
    assert.match(listing, /^crw-rw-rw- 0\/0 +1,3 .* dev\/null$/m);
    assert.match(listing, /^prw-r--r-- .* fifo$/m);
    assert.match(listing, /ünïcødé\/файл/);
    assert.match(listing, / 5000000\/4294967294 /);
  });

  it("encodes headers as a pure function of the entry", async () => {
    const a = await bytesOf(Readable.from(encodeTar(sample)));
    const b = await bytesOf(Readable.from(encodeTar(sample)));
    assert.deepEqual(a, b);
  });
});

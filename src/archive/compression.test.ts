import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { isKind } from "../internal/index.js";
import { compress, decompress, detectCompression } from "./compression.js";
import { bytesOf } from "./testing.js";

/** A stream of `data` in chunks of `size` bytes, to cross the magic bytes and frames at odd places. */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts, { objectMode: false });
}

const data = Buffer.concat([randomBytes(100_000), Buffer.alloc(300_000, "wharf ")]);

describe("compression", () => {
  it("detects gzip and zstd by their magic bytes, anything else as none", () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0])), "gzip");
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
    assert.equal(detectCompression(Buffer.from("ustar")), "none");
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5])), "none");
    assert.equal(detectCompression(Buffer.alloc(0)), "none");
  });

  for (const compression of ["gzip", "zstd"] as const) {
    it(`round-trips ${compression}, even when the magic arrives one byte at a time`, async () => {
      const packed = await bytesOf(compress(Readable.from([data]), compression));
      assert.equal(detectCompression(packed), compression);
      assert.ok(packed.length < data.length);
      assert.deepEqual(await bytesOf(decompress(chunked(packed, 1 + (packed.length >> 12)))), data);
      assert.deepEqual(await bytesOf(decompress(Readable.from([packed.subarray(0, 1), packed.subarray(1, 2), packed.subarray(2)]))), data);
    });
  }

  it("reads what the gzip and zstd commands write", async () => {
    assert.deepEqual(await bytesOf(decompress(Readable.from([execFileSync("gzip", ["-c"], { input: data })]))), data);
    assert.deepEqual(await bytesOf(decompress(Readable.from([execFileSync("zstd", ["-c", "-q"], { input: data })]))), data);
  });

  it("reads concatenated gzip members as one stream", async () => {
    const two = Buffer.concat([gzipSync(Buffer.from("one ")), gzipSync(Buffer.from("two"))]);
    assert.equal((await bytesOf(decompress(Readable.from([two])))).toString(), "one two");
  });

  it("passes uncompressed bytes through, including streams shorter than the magic", async () => {
    assert.deepEqual(await bytesOf(decompress(chunked(data, 3))), data);
    assert.deepEqual(await bytesOf(decompress(Readable.from([Buffer.from("ab")]))), Buffer.from("ab"));
    assert.deepEqual(await bytesOf(decompress(Readable.from([], { objectMode: false }))), Buffer.alloc(0));
  });

  for (const compression of ["gzip", "zstd"] as const) {
    it(`reports corrupt or truncated ${compression} as data-corrupt`, async () => {
      const packed = await bytesOf(compress(Readable.from([data]), compression));
      await assert.rejects(bytesOf(decompress(Readable.from([packed.subarray(0, packed.length >> 1)]))), (e: unknown) => isKind(e, "data-corrupt"));
      const garbled = Buffer.from(packed);
      for (let i = 20; i < 200; i++) garbled[i] = 0x55;
      await assert.rejects(bytesOf(decompress(Readable.from([garbled]))), (e: unknown) => isKind(e, "data-corrupt"));
    });
  }

  for (const compression of ["gzip", "zstd"] as const) {
    it(`passes on an error of the source of a ${compression} stream`, async () => {
      const packed = await bytesOf(compress(Readable.from([data]), compression));
      async function* failing(): AsyncGenerator<Buffer> {
        yield packed.subarray(0, 1000);
        throw new Error("connection reset");
      }
      await assert.rejects(bytesOf(decompress(Readable.from(failing()))), /connection reset/);
    });
  }
});

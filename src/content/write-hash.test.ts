import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WriteHash } from "./write-hash.js";

test("WriteHash: appends every chunk to the file and hashes the same bytes (sha256, sha512)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-writehash-"));
  try {
    for (const algorithm of ["sha256", "sha512"] as const) {
      const path = join(dir, algorithm);
      const fh = await open(path, "a");
      const h = new WriteHash(algorithm);
      const ref = createHash(algorithm);
      for (const size of [0, 1, 4096, 1 << 20, 333_333]) {
        const chunk = randomBytes(size);
        await h.write(fh.fd, chunk);
        ref.update(chunk);
      }
      // Several parts in one write: in order, as one.
      const parts = [randomBytes(7), Buffer.alloc(0), randomBytes(70_000), randomBytes(1)];
      await h.write(fh.fd, parts);
      for (const p of parts) ref.update(p);
      await fh.close();
      const want = `${algorithm}:${ref.digest("hex")}`;
      assert.equal(h.digest(), want);
      assert.equal(h.size, 1 + 4096 + (1 << 20) + 333_333 + 70_008);
      assert.equal(`${algorithm}:${createHash(algorithm).update(await readFile(path)).digest("hex")}`, want);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("WriteHash: one update at a time; a failed write leaves the hash as it was; the digest is taken once", async () => {
  const h = new WriteHash();
  const first = h.update(Buffer.alloc(1 << 20, 1));
  await assert.rejects(h.update(Buffer.from("x")), (e: NodeJS.ErrnoException) => e.code === "EBUSY");
  await first;
  // A descriptor that is not open: the write fails, the hash keeps only what came before.
  await assert.rejects(h.write(1 << 20, Buffer.from("lost")), (e: NodeJS.ErrnoException) => e.code === "EBADF");
  assert.equal(h.size, 1 << 20);
  assert.equal(h.digest(), `sha256:${createHash("sha256").update(Buffer.alloc(1 << 20, 1)).digest("hex")}`);
  assert.throws(() => h.digest(), /the digest was taken/);
  await assert.rejects(h.update(Buffer.from("late")), /the digest was taken/);
});

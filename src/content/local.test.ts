import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readdir, rm, stat, writeFile, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestHex, digestOf } from "../oci/index.js";
import { MountFlags, isKind, sys } from "../internal/index.js";
import { openLocalStore } from "./local.js";
import { ingestDir } from "./layout.js";
import { storeConformance } from "./testsuite.js";

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "wharf-content-"));
}

/** A store over a fresh temp root, removed after the test. */
async function tempStore(t: { after(fn: () => Promise<void>): void }) {
  const root = await tempRoot();
  t.after(() => rm(root, { recursive: true, force: true }));
  return { root, store: await openLocalStore(root) };
}

storeConformance("LocalStore", async () => {
  const root = await tempRoot();
  return {
    store: await openLocalStore(root),
    reopen: () => openLocalStore(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe("LocalStore on disk", () => {
  it("keeps committed blobs read-only under blobs/<alg>/<hex>", async (t) => {
    const { root, store } = await tempStore(t);
    const w = await store.writer("layout");
    await w.write(Buffer.from("layout"));
    const { digest } = await w.commit();
    const st = await stat(join(root, "blobs", "sha256", digestHex(digest)));
    assert.equal(st.mode & 0o777, 0o444);
    assert.deepEqual(await readdir(join(root, "ingest")), []);
    // The same bytes again: the stored blob stays as it was, and the second ingest leaves nothing behind.
    const again = await store.writer("layout-again");
    await again.write(Buffer.from("layout"));
    assert.equal((await again.commit()).digest, digest);
    assert.equal((await stat(join(root, "blobs", "sha256", digestHex(digest)))).ino, st.ino);
    assert.deepEqual(await readdir(join(root, "ingest")), []);
  });

  it("makes a blob directory again when it went missing under a running store", async (t) => {
    const { root, store } = await tempStore(t);
    await rm(join(root, "blobs", "sha256"), { recursive: true });
    const w = await store.writer("again");
    await w.write(Buffer.from("again"));
    const { digest, size } = await w.commit();
    assert.equal(size, 5);
    assert.equal((await stat(join(root, "blobs", "sha256", digestHex(digest)))).mode & 0o777, 0o444);
  });

  it("starts over an ingest whose record a power loss tore, or whose directory lost its record", async (t) => {
    const { root, store } = await tempStore(t);
    for (const damage of ["torn", "missing"] as const) {
      const ref = `ref-${damage}`;
      const w = await store.writer(ref);
      await w.write(Buffer.from("half of it"));
      await w.close();
      const dir = ingestDir(root, ref);
      if (damage === "torn") await writeFile(join(dir, "ingest.json"), "");
      else await rm(join(dir, "ingest.json"));
      const again = await store.writer(ref);
      assert.equal(again.offset, 0, "nothing of the damaged ingest is resumed");
      await again.write(Buffer.from("whole"));
      const { digest } = await again.commit();
      assert.equal(digest, digestOf("whole"));
    }
  });

  it("names ingest dirs by a hash of the ref, so refs cannot escape the store", async (t) => {
    const { root, store } = await tempStore(t);
    const w = await store.writer("../../escape");
    await w.write(Buffer.from("x"));
    await w.close();
    const names = await readdir(join(root, "ingest"));
    assert.equal(names.length, 1);
    assert.match(names[0]!, /^[a-f0-9]{64}$/);
    assert.deepEqual(await readdir(root), ["blobs", "ingest"]);
  });

  it("cleanupIngests removes stale ingests and half-created dirs, keeping fresh and held ones", async (t) => {
    const { root, store } = await tempStore(t);
    for (const ref of ["stale", "fresh"]) {
      const w = await store.writer(ref);
      await w.write(Buffer.from(ref));
      await w.close();
    }
    const held = await store.writer("held");
    await held.write(Buffer.from("held"));
    const old = new Date(Date.now() - 3_600_000);
    for (const ref of ["stale", "held"]) {
      await utimes(join(ingestDir(root, ref), "data"), old, old);
      await utimes(ingestDir(root, ref), old, old);
    }
    const half = join(root, "ingest", ".abc.123.tmp");
    await mkdir(half);
    await writeFile(join(half, "data"), "partial");
    await utimes(half, old, old);
    const recordless = join(root, "ingest", "f".repeat(64));
    await mkdir(recordless);

    assert.equal(await store.cleanupIngests(60_000), 3);
    assert.deepEqual((await store.ingests()).map((i) => i.ref).sort(), ["fresh", "held"]);
    await held.write(Buffer.from("!"));
    assert.equal((await held.commit()).digest, digestOf("held!"));
  });

  it("abortIngest refuses an ingest a writer holds", async (t) => {
    const { root, store } = await tempStore(t);
    const w = await store.writer("busy");
    await assert.rejects(store.abortIngest("busy"), (e) => isKind(e, "conflict"));
    await w.close();
    await store.abortIngest("busy");
    assert.deepEqual(await store.ingests(), []);
  });

  it("a full disk surfaces as no-space and publishes no blob", async (t) => {
    const root = await tempRoot();
    t.after(async () => {
      try {
        sys().umount2(root, 0);
      } catch {
        // not mounted: the test failed before mounting
      }
      await rm(root, { recursive: true, force: true });
    });
    sys().mount("tmpfs", root, "tmpfs", MountFlags.NOSUID | MountFlags.NODEV, "size=256k");
    const store = await openLocalStore(root);
    const body = Buffer.alloc(1024 * 1024, 7);
    const w = await store.writer("huge", { digest: digestOf(body) });
    let caught: unknown;
    try {
      for (let off = 0; off < body.length; off += 64 * 1024) await w.write(body.subarray(off, off + 64 * 1024));
    } catch (e) {
      caught = e;
    }
    assert.ok(isKind(caught, "no-space"), `expected no-space, got ${String(caught)}`);
    assert.equal(await store.has(digestOf(body)), false);
    assert.ok(w.offset < body.length);
    const status = (await store.ingests()).find((i) => i.ref === "huge");
    assert.equal(status?.offset, w.offset, "the data file holds exactly the hashed bytes");
    await w.abort();
    assert.deepEqual(await readdir(join(root, "blobs", "sha256")), []);
  });

  it("keeps a transient write nowhere by name until its commit links it into place", async (t) => {
    const { root, store } = await tempStore(t);
    const body = "one go";
    const w = await store.writer("once", { digest: digestOf(body) }, { resumable: false });
    await w.write(Buffer.from("one "));
    await w.write([Buffer.from("g"), Buffer.from("o")]);
    assert.equal(w.offset, 6);
    assert.deepEqual(await readdir(join(root, "ingest")), [], "no ingest dir, record or data file");
    assert.deepEqual(await store.ingests(), []);
    const { digest, size } = await w.commit();
    assert.equal(digest, digestOf(body));
    assert.equal(size, 6);
    const st = await stat(join(root, "blobs", "sha256", digestHex(digest)));
    assert.equal(st.mode & 0o777, 0o444);
    assert.equal(st.nlink, 1);
    assert.deepEqual(await readdir(join(root, "ingest")), []);
    // The same bytes again: the stored blob stays as it was.
    const again = await store.writer("once-more", undefined, { resumable: false });
    await again.write(Buffer.from(body));
    assert.equal((await again.commit()).digest, digest);
    assert.equal((await stat(join(root, "blobs", "sha256", digestHex(digest)))).ino, st.ino);
  });

  it("leaves nothing of a transient write that fails its digest, is aborted or closed", async (t) => {
    const { root, store } = await tempStore(t);
    const wrong = await store.writer("wrong", { digest: digestOf("expected") }, { resumable: false });
    await wrong.write(Buffer.from("received"));
    await assert.rejects(wrong.commit(), (e: unknown) => isKind(e, "data-corrupt"));
    assert.equal(await store.has(digestOf("received")), false);
    assert.equal(await store.has(digestOf("expected")), false);
    for (const end of ["abort", "close"] as const) {
      const w = await store.writer(end, undefined, { resumable: false });
      await w.write(Buffer.from(`bytes to ${end}`));
      await w[end]();
      // The ref is free again, and nothing of the transient bytes is resumed.
      const next = await store.writer(end);
      assert.equal(next.offset, 0);
      await next.abort();
    }
    assert.deepEqual(await readdir(join(root, "ingest")), []);
    assert.deepEqual(await readdir(join(root, "blobs", "sha256")), []);
  });

  it("checks a transient write against a digest of another algorithm by reading its unnamed file", async (t) => {
    const { root, store } = await tempStore(t);
    const body = "hashed twice";
    const w = await store.writer("sha512", undefined, { resumable: false });
    await w.write(Buffer.from(body));
    const { digest } = await w.commit({ digest: digestOf(body, "sha512") });
    assert.equal(digest, digestOf(body, "sha512"));
    assert.equal((await stat(join(root, "blobs", "sha512", digestHex(digest)))).size, body.length);
  });
});

// content/testsuite: the conformance suite every Store implementation runs.
// A store is handed in by a factory; `reopen` must give a second store over
// the same data, as after a restart or a crash of the first.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import type { Readable } from "node:stream";
import { digestOf, type Digest } from "../oci/index.js";
import { isKind, type ErrorKind } from "../internal/index.js";
import type { BlobInfo, Store } from "./content.js";

export interface StoreFixture {
  readonly store: Store;
  /** A new store over the same data (a restart; the first store is abandoned as is). */
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

export type StoreFactory = () => Promise<StoreFixture>;

async function text(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

async function collect(store: Store): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const b of store.list()) out.push(b);
  return out;
}

async function rejectsWith(p: Promise<unknown>, kind: ErrorKind, pattern?: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a ${kind} error, got success`);
  assert.ok(isKind(caught, kind), `expected ${kind}, got ${String(caught)}`);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

async function put(store: Store, ref: string, body: string): Promise<BlobInfo> {
  const w = await store.writer(ref, { digest: digestOf(body), size: Buffer.byteLength(body) });
  await w.write(Buffer.from(body));
  return w.commit();
}

async function assertNoTrace(store: Store, ref: string, digest: Digest): Promise<void> {
  assert.equal(await store.has(digest), false, "blob must not be visible");
  await rejectsWith(store.info(digest), "not-found");
  assert.equal((await store.ingests()).some((i) => i.ref === ref), false, "ingest must be gone");
}

export function storeConformance(name: string, factory: StoreFactory): void {
  describe(`content store conformance: ${name}`, () => {
    const withStore = (title: string, fn: (f: StoreFixture) => Promise<void>) =>
      it(title, async () => {
        const f = await factory();
        try {
          await fn(f);
        } finally {
          await f.cleanup();
        }
      });

    withStore("a committed blob can be stat'ed, streamed and read whole", async ({ store }) => {
      const info = await put(store, "a", "hello world");
      assert.equal(info.digest, digestOf("hello world"));
      assert.equal(info.size, 11);
      assert.ok(info.createdAt instanceof Date);
      assert.equal(await store.has(info.digest), true);
      assert.equal((await store.info(info.digest)).size, 11);
      assert.equal(await text(await store.reader(info.digest)), "hello world");
      assert.equal((await store.readAll(info.digest, 100)).toString(), "hello world");
    });

    withStore("a blob is invisible until it is committed", async ({ store }) => {
      const digest = digestOf("pending");
      const w = await store.writer("p", { digest });
      await w.write(Buffer.from("pending"));
      assert.equal(await store.has(digest), false);
      assert.deepEqual(await collect(store), []);
      await w.commit();
      assert.equal(await store.has(digest), true);
    });

    withStore("the digest is computed when none is expected", async ({ store }) => {
      const w = await store.writer("free");
      await w.write(Buffer.from("ab"));
      await w.write(Buffer.from("cd"));
      const info = await w.commit();
      assert.equal(info.digest, digestOf("abcd"));
    });

    withStore("expectations may be given at commit instead of at open", async ({ store }) => {
      const w = await store.writer("late");
      await w.write(Buffer.from("late"));
      const info = await w.commit({ digest: digestOf("late"), size: 4 });
      assert.equal(info.digest, digestOf("late"));
    });

    withStore("a sha512 expectation is verified with sha512", async ({ store }) => {
      const digest = digestOf("long hash", "sha512");
      const w = await store.writer("512", { digest });
      await w.write(Buffer.from("long hash"));
      const info = await w.commit();
      assert.equal(info.digest, digest);
      assert.equal((await store.readAll(digest, 100)).toString(), "long hash");
    });

    withStore("a wrong digest fails the commit as data-corrupt, naming both digests, and leaves nothing", async ({ store }) => {
      const claimed = digestOf("something else");
      const w = await store.writer("bad", { digest: claimed });
      await w.write(Buffer.from("actual bytes"));
      const err = await rejectsWith(w.commit(), "data-corrupt");
      assert.ok(err.message.includes(claimed), err.message);
      assert.ok(err.message.includes(digestOf("actual bytes")), err.message);
      await assertNoTrace(store, "bad", claimed);
      await assertNoTrace(store, "bad", digestOf("actual bytes"));
    });

    withStore("too many bytes fail the write at once and discard the ingest", async ({ store }) => {
      const w = await store.writer("big", { size: 4 });
      await w.write(Buffer.from("abc"));
      await rejectsWith(w.write(Buffer.from("de")), "invalid-argument", /exceed the expected size 4/);
      await rejectsWith(w.write(Buffer.from("x")), "precondition");
      await assertNoTrace(store, "big", digestOf("abcde"));
    });

    withStore("too few bytes fail the commit as data-corrupt and discard the ingest", async ({ store }) => {
      const w = await store.writer("short", { digest: digestOf("abcdef"), size: 6 });
      await w.write(Buffer.from("abc"));
      await rejectsWith(w.commit(), "data-corrupt", /size is 3 bytes, expected 6/);
      await assertNoTrace(store, "short", digestOf("abcdef"));
    });

    withStore("a writer is finished by commit: further writes are refused", async ({ store }) => {
      const w = await store.writer("done");
      await w.write(Buffer.from("x"));
      await w.commit();
      await rejectsWith(w.write(Buffer.from("y")), "precondition");
      await rejectsWith(w.commit(), "precondition");
    });

    withStore("a closed ingest resumes at its offset and commits the whole blob", async ({ store }) => {
      const body = "0123456789abcdef";
      const digest = digestOf(body);
      const w1 = await store.writer("resume", { digest, size: body.length });
      await w1.write(Buffer.from(body.slice(0, 10)));
      await w1.close();
      const status = (await store.ingests()).find((i) => i.ref === "resume");
      assert.equal(status?.offset, 10);
      assert.equal(status?.expected?.digest, digest);
      const w2 = await store.writer("resume");
      assert.equal(w2.offset, 10);
      await w2.write(Buffer.from(body.slice(10)));
      const info = await w2.commit();
      assert.equal(info.digest, digest);
      assert.equal(await text(await store.reader(digest)), body);
      assert.equal((await store.ingests()).length, 0);
    });

    withStore("an ingest left behind by a crash resumes in a restarted store", async ({ store, reopen }) => {
      const body = "crash-consistent content";
      const digest = digestOf(body);
      const abandoned = await store.writer("crashed", { digest });
      await abandoned.write(Buffer.from(body.slice(0, 7)));
      // No close: the process "died" holding the writer.
      const restarted = await reopen();
      const w = await restarted.writer("crashed");
      assert.equal(w.offset, 7);
      await w.write(Buffer.from(body.slice(7)));
      assert.equal((await w.commit()).digest, digest);
      assert.equal((await restarted.readAll(digest, 1000)).toString(), body);
      await abandoned.close();
    });

    withStore("a second writer of the same ref waits until the first releases it", async ({ store }) => {
      const w1 = await store.writer("shared");
      let second: Awaited<ReturnType<Store["writer"]>> | undefined;
      const pending = store.writer("shared").then((w) => (second = w));
      for (let i = 0; i < 20; i++) await tick();
      assert.equal(second, undefined, "the second writer must wait");
      await w1.write(Buffer.from("first "));
      await w1.close();
      const w2 = await pending;
      assert.equal(w2.offset, 6);
      await w2.write(Buffer.from("second"));
      assert.equal((await w2.commit()).digest, digestOf("first second"));
    });

    withStore("two refs writing the same digest at once both succeed and store it once", async ({ store }) => {
      const body = "same bytes, two writers";
      const digest = digestOf(body);
      const [a, b] = await Promise.all([store.writer("one", { digest }), store.writer("two", { digest })]);
      await Promise.all([a.write(Buffer.from(body)), b.write(Buffer.from(body))]);
      const [ia, ib] = await Promise.all([a.commit(), b.commit()]);
      assert.equal(ia.digest, digest);
      assert.equal(ib.digest, digest);
      const all = await collect(store);
      assert.deepEqual(all.map((x) => x.digest), [digest]);
      assert.equal((await store.ingests()).length, 0);
    });

    withStore("committing a digest that is already stored succeeds", async ({ store }) => {
      const first = await put(store, "x1", "again");
      const second = await put(store, "x2", "again");
      assert.equal(second.digest, first.digest);
      assert.equal((await collect(store)).length, 1);
    });

    withStore("range reads return the inclusive byte range", async ({ store }) => {
      const { digest } = await put(store, "r", "0123456789");
      assert.equal(await text(await store.reader(digest, { start: 2, end: 5 })), "2345");
      assert.equal(await text(await store.reader(digest, { start: 7 })), "789");
      assert.equal(await text(await store.reader(digest, { end: 0 })), "0");
      assert.equal(await text(await store.reader(digest, { start: 10 })), "");
      await rejectsWith(store.reader(digest, { start: 11 }), "invalid-argument");
      await rejectsWith(store.reader(digest, { start: 5, end: 4 }), "invalid-argument");
      await rejectsWith(store.reader(digest, { start: -1 }), "invalid-argument");
    });

    withStore("readAll refuses a blob larger than the cap", async ({ store }) => {
      const { digest } = await put(store, "cap", "twelve bytes");
      assert.equal((await store.readAll(digest, 12)).length, 12);
      await rejectsWith(store.readAll(digest, 11), "invalid-argument", /12 bytes exceed the limit of 11/);
    });

    withStore("missing blobs are not-found for every reader", async ({ store }) => {
      const digest = digestOf("never stored");
      assert.equal(await store.has(digest), false);
      await rejectsWith(store.info(digest), "not-found", new RegExp(digest));
      await rejectsWith(store.reader(digest), "not-found");
      await rejectsWith(store.readAll(digest, 10), "not-found");
      await rejectsWith(store.delete(digest), "not-found");
    });

    withStore("malformed digests are refused as invalid-argument before any lookup", async ({ store }) => {
      const bad = ["sha256:../../etc", "sha256:../../../etc/passwd", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:ABC", "", "sha256:" + "a".repeat(63)];
      for (const text of bad) {
        const d = text as Digest;
        await rejectsWith(store.info(d), "invalid-argument", /invalid digest/);
        await rejectsWith(store.has(d), "invalid-argument");
        await rejectsWith(store.reader(d), "invalid-argument");
        await rejectsWith(store.readAll(d, 10), "invalid-argument");
        await rejectsWith(store.delete(d), "invalid-argument");
        await rejectsWith(store.writer("w", { digest: d }), "invalid-argument");
      }
      assert.equal((await store.ingests()).length, 0);
    });

    withStore("delete removes a blob", async ({ store }) => {
      const { digest } = await put(store, "d", "to delete");
      const keep = await put(store, "k", "to keep");
      await store.delete(digest);
      assert.equal(await store.has(digest), false);
      await rejectsWith(store.delete(digest), "not-found");
      assert.deepEqual((await collect(store)).map((b) => b.digest), [keep.digest]);
    });

    withStore("list yields every committed blob and no ingest", async ({ store }) => {
      const a = await put(store, "a", "alpha");
      const b = await put(store, "b", "beta");
      const w = await store.writer("c");
      await w.write(Buffer.from("gamma"));
      await w.close();
      const listed = await collect(store);
      assert.deepEqual(listed.map((x) => x.digest).sort(), [a.digest, b.digest].sort());
      assert.deepEqual(listed.map((x) => x.size).sort(), [4, 5]);
    });

    withStore("abort and abortIngest discard in-progress writes", async ({ store }) => {
      const w = await store.writer("gone");
      await w.write(Buffer.from("x"));
      await w.abort();
      assert.equal((await store.ingests()).length, 0);
      const v = await store.writer("later");
      await v.write(Buffer.from("y"));
      await v.close();
      assert.deepEqual((await store.ingests()).map((i) => i.ref), ["later"]);
      await store.abortIngest("later");
      assert.equal((await store.ingests()).length, 0);
      await rejectsWith(store.abortIngest("later"), "not-found");
      const again = await store.writer("later");
      assert.equal(again.offset, 0);
      await again.abort();
    });

    withStore("abort after close still discards the ingest", async ({ store }) => {
      const w = await store.writer("kept");
      await w.write(Buffer.from("z"));
      await w.close();
      await w.abort();
      assert.equal((await store.ingests()).length, 0);
    });

    withStore("refs of any text are safe", async ({ store }) => {
      const refs = ["../../../../tmp/escape", "a/b/c", "with space and ünïcode", ".", "x".repeat(2000)];
      for (const [i, ref] of refs.entries()) await put(store, ref, `body ${i}`);
      assert.equal((await collect(store)).length, refs.length);
      assert.equal((await store.ingests()).length, 0);
      await rejectsWith(store.writer(""), "invalid-argument");
    });
  });
}

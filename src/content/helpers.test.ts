import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { digestOf } from "../oci/index.js";
import { isKind } from "../internal/index.js";
import { openLocalStore, type LocalStore } from "./local.js";
import { readJson, writeBlob } from "./helpers.js";

async function withStore(t: { after(fn: () => Promise<void>): void }): Promise<LocalStore> {
  const root = await mkdtemp(join(tmpdir(), "wharf-helpers-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  return openLocalStore(root);
}

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

describe("writeBlob", () => {
  it("streams a Readable into a verified blob", async (t) => {
    const store = await withStore(t);
    const info = await writeBlob(store, "r", Readable.from([Buffer.from("ab"), Buffer.from("cd")]), { digest: digestOf("abcd"), size: 4 });
    assert.equal(info.digest, digestOf("abcd"));
    assert.equal((await store.readAll(info.digest, 10)).toString(), "abcd");
  });

  it("skips the bytes an earlier attempt already wrote when the digest is known", async (t) => {
    const store = await withStore(t);
    const w = await store.writer("resume", { digest: digestOf("hello world") });
    await w.write(Buffer.from("hello"));
    await w.close();
    const info = await writeBlob(store, "resume", chunks("hel", "lo wor", "ld"), { digest: digestOf("hello world") });
    assert.equal(info.digest, digestOf("hello world"));
    assert.equal((await store.readAll(info.digest, 100)).toString(), "hello world");
  });

  it("starts over when an earlier attempt exists but no digest can check the result", async (t) => {
    const store = await withStore(t);
    const w = await store.writer("blind");
    await w.write(Buffer.from("stale bytes"));
    await w.close();
    const info = await writeBlob(store, "blind", chunks("new"));
    assert.equal(info.digest, digestOf("new"));
  });

  it("fails with data-corrupt when the source does not match and leaves no ingest", async (t) => {
    const store = await withStore(t);
    await assert.rejects(writeBlob(store, "bad", chunks("abc"), { digest: digestOf("xyz") }), (e) => isKind(e, "data-corrupt"));
    assert.equal((await store.ingests()).length, 0);
  });

  it("stops when cancelled and keeps the ingest for a resume", async (t) => {
    const store = await withStore(t);
    const controller = new AbortController();
    async function* source(): AsyncIterable<Uint8Array> {
      yield Buffer.from("part one ");
      controller.abort();
      yield Buffer.from("part two");
    }
    await assert.rejects(writeBlob(store, "cancel", source(), { digest: digestOf("part one part two") }, controller.signal), (e) => isKind(e, "cancelled"));
    const [status] = await store.ingests();
    assert.equal(status?.ref, "cancel");
    assert.equal(status?.offset, 9);
  });
});

describe("readJson", () => {
  it("parses a stored document", async (t) => {
    const store = await withStore(t);
    const { digest } = await writeBlob(store, "doc", chunks('{"a":1}'));
    assert.deepEqual(await readJson(store, digest, 100), { a: 1 });
  });

  it("reports a malformed document as data-corrupt and an oversized one as invalid-argument", async (t) => {
    const store = await withStore(t);
    const { digest } = await writeBlob(store, "doc", chunks("{not json"));
    await assert.rejects(readJson(store, digest, 100), (e) => isKind(e, "data-corrupt") && e.message.includes(digest));
    await assert.rejects(readJson(store, digest, 3), (e) => isKind(e, "invalid-argument"));
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { openLocalStore } from "../content/index.js";
import { digestOf } from "../oci/index.js";
import { nullLogger } from "../internal/index.js";
import { errorCodeOf } from "./errors.js";
import { parseRepositoryName } from "./names.js";
import { DEFAULT_UPLOAD_LIMITS, UploadSessions } from "./uploads.js";

const repo = parseRepositoryName("team/app");

async function fixture(t: { after(fn: () => Promise<void>): void }) {
  const root = await mkdtemp(join(tmpdir(), "wharf-uploads-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = await openLocalStore(root);
  const open = () => UploadSessions.open(store, DEFAULT_UPLOAD_LIMITS, nullLogger);
  const onDisk = () => readdir(join(root, "ingest"));
  return { store, open, onDisk };
}

const body = (text: string) => Readable.from([Buffer.from(text)]);

describe("upload sessions", () => {
  it("write nothing but the blob for a POST and one PUT with all of it", async (t) => {
    const { store, open, onDisk } = await fixture(t);
    const sessions = await open();
    t.after(() => sessions.close());
    const { id } = await sessions.start(repo, "client");
    assert.deepEqual(await onDisk(), [], "a session without bytes is in memory only");
    assert.equal((await sessions.status(repo, id)).offset, 0);
    const info = await sessions.finish(repo, id, digestOf("whole blob"), body("whole blob"), { length: 10 });
    assert.equal(info.digest, digestOf("whole blob"));
    assert.equal(await store.has(info.digest), true);
    assert.deepEqual(await onDisk(), []);
    assert.equal(sessions.size, 0);
  });

  it("refuse a one-go PUT whose bytes are not its digest, and keep nothing of it", async (t) => {
    const { store, open, onDisk } = await fixture(t);
    const sessions = await open();
    t.after(() => sessions.close());
    const { id } = await sessions.start(repo, "client");
    await assert.rejects(sessions.finish(repo, id, digestOf("other"), body("these")), (e: unknown) => errorCodeOf(e) === "DIGEST_INVALID");
    assert.equal(await store.has(digestOf("these")), false);
    assert.deepEqual(await onDisk(), []);
    await assert.rejects(sessions.status(repo, id), (e: unknown) => errorCodeOf(e) === "BLOB_UPLOAD_UNKNOWN");
  });

  it("keep a session in the store from its first chunk, so it resumes after a restart", async (t) => {
    const { store, open, onDisk } = await fixture(t);
    const first = await open();
    const { id } = await first.start(repo, "client");
    // An out-of-order chunk is refused before anything is stored.
    await assert.rejects(first.append(repo, id, body("late"), { range: { start: 4, end: 7 }, length: 4 }), (e: unknown) => errorCodeOf(e) === "RANGE_INVALID");
    assert.deepEqual(await onDisk(), []);
    assert.equal((await first.append(repo, id, body("part "), { range: { start: 0, end: 4 }, length: 5 })).offset, 5);
    assert.equal((await onDisk()).length, 1);
    await first.close();

    const second = await open();
    t.after(() => second.close());
    assert.equal((await second.status(repo, id)).offset, 5);
    const info = await second.finish(repo, id, digestOf("part two"), body("two"), { range: { start: 5, end: 7 }, length: 3 });
    assert.equal(info.digest, digestOf("part two"));
    assert.equal(await store.has(info.digest), true);
    assert.deepEqual(await onDisk(), []);
  });

  it("lose across a restart only a session that had no bytes", async (t) => {
    const { open } = await fixture(t);
    const first = await open();
    const { id } = await first.start(repo, "client");
    await first.close();
    const second = await open();
    t.after(() => second.close());
    await assert.rejects(second.status(repo, id), (e: unknown) => errorCodeOf(e) === "BLOB_UPLOAD_UNKNOWN");
  });

  it("cancel a session with or without bytes, leaving nothing", async (t) => {
    const { open, onDisk } = await fixture(t);
    const sessions = await open();
    t.after(() => sessions.close());
    const empty = await sessions.start(repo, "client");
    const started = await sessions.start(repo, "client");
    await sessions.append(repo, started.id, body("some"));
    assert.equal((await onDisk()).length, 1);
    for (const { id } of [empty, started]) {
      await sessions.cancel(repo, id);
      await assert.rejects(sessions.status(repo, id), (e: unknown) => errorCodeOf(e) === "BLOB_UPLOAD_UNKNOWN");
    }
    assert.deepEqual(await onDisk(), []);
    assert.equal(sessions.size, 0);
  });
});

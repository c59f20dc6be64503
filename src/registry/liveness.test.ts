import { test } from "node:test";
import assert from "node:assert/strict";
import type { Digest } from "../oci/index.js";
import { Liveness } from "./liveness.js";

const A = "sha256:aaaa" as Digest;
const B = "sha256:bbbb" as Digest;

test("a use under way when a collection begins keeps its digests from that collection", async () => {
  const l = new Liveness();
  l.begin();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  // A manifest PUT that took its locks in one collection and writes its record during the next.
  const put = l.use([A, B], () => held);
  await new Promise((r) => setImmediate(r));
  l.end();
  l.begin();
  let deleted = false;
  const sweep = l.unlessUsed(A, async () => void (deleted = true));
  release();
  await put;
  assert.equal(await sweep, false);
  assert.equal(deleted, false);
  l.end();
  // Once it is over, a later collection may take what nothing uses.
  l.begin();
  assert.equal(await l.unlessUsed(B, async () => {}), true);
  l.end();
});

test("a digest used during a collection is kept; one unused is not; outside collections nothing is recorded", async () => {
  const l = new Liveness();
  await l.use([A], async () => {});
  l.begin();
  assert.equal(await l.unlessUsed(A, async () => {}), true, "a use before the collection began does not count");
  await l.use([A], async () => {});
  assert.equal(await l.unlessUsed(A, async () => {}), false);
  l.touch([B]);
  assert.equal(await l.unlessUsed(B, async () => {}), false);
  l.end();
});

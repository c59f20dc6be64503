// Online garbage collection: what it removes by policy, what it keeps, and
// that pushes running during a collection never end up with missing blobs.
import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { collectGarbage } from "./gc.js";
import { call, sampleImage, sha256, startTestRegistry, type TestRegistry } from "./testing.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
let reg: TestRegistry;
const u = () => reg.url;

async function push(repo: string, tag: string | undefined) {
  const img = sampleImage();
  for (const b of [img.layer, img.config]) assert.equal((await call(u(), `/v2/${repo}/blobs/uploads/?digest=${sha256(b)}`, { method: "POST", body: b })).status, 201);
  const r = await call(u(), `/v2/${repo}/manifests/${tag ?? img.manifestDigest}`, { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } });
  return { img, status: r.status, code: r.status === 201 ? undefined : (r.json().errors[0].code as string) };
}

async function has(digest: string): Promise<boolean> {
  return reg.registry.storage.blobs.has(digest as never);
}

beforeEach(async () => {
  reg = await startTestRegistry();
});
afterEach(async () => {
  await reg.stop();
});

describe("collectGarbage", () => {
  test("removes orphan blobs and untagged manifests with their blobs; keeps tagged images whole", async () => {
    const a = (await push("gc/app", "v1")).img;
    const b = (await push("gc/app", "v2")).img;
    assert.equal((await call(u(), "/v2/gc/app/manifests/v2", { method: "DELETE" })).status, 202);
    const orphan = randomBytes(100);
    await call(u(), `/v2/gc/app/blobs/uploads/?digest=${sha256(orphan)}`, { method: "POST", body: orphan });
    const result = await collectGarbage(reg.registry, { gracePeriodMs: 0, deleteUntagged: true });
    assert.equal(result.manifests, 1);
    assert.equal(result.blobs, 4, "b's layer, config and manifest, and the orphan");
    assert.equal(await has(sha256(orphan)), false);
    assert.equal(await has(b.layerDigest), false);
    assert.equal((await call(u(), `/v2/gc/app/manifests/${b.manifestDigest}`)).status, 404);
    assert.equal((await call(u(), `/v2/gc/app/blobs/${sha256(orphan)}`)).status, 404);
    for (const d of [a.layerDigest, a.configDigest, a.manifestDigest]) assert.equal(await has(d), true);
    assert.deepEqual((await call(u(), "/v2/gc/app/manifests/v1")).body, a.manifest);
  });

  test("keeps untagged manifests unless the policy says otherwise, and keeps referrers of kept manifests", async () => {
    const a = (await push("gc/keep", "v1")).img;
    const untagged = (await push("gc/keep", undefined)).img;
    await call(u(), `/v2/gc/keep/blobs/uploads/?digest=${sha256("{}")}`, { method: "POST", body: "{}" });
    const sig = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sig", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256("{}"), size: 2 }, layers: [], subject: { mediaType: OCI_MANIFEST, digest: a.manifestDigest, size: a.manifest.length } }));
    assert.equal((await call(u(), `/v2/gc/keep/manifests/${sha256(sig)}`, { method: "PUT", body: sig, headers: { "Content-Type": OCI_MANIFEST } })).status, 201);
    const first = await collectGarbage(reg.registry, { gracePeriodMs: 0, deleteUntagged: false });
    assert.deepEqual(first, { manifests: 0, blobs: 0, bytes: 0 });
    await collectGarbage(reg.registry, { gracePeriodMs: 0, deleteUntagged: true });
    assert.equal((await call(u(), `/v2/gc/keep/manifests/${untagged.manifestDigest}`)).status, 404);
    assert.equal((await call(u(), `/v2/gc/keep/manifests/${sha256(sig)}`)).status, 200, "a signature of a tagged image stays");
    assert.equal(await has(sha256("{}")), true);
  });

  test("a grace period protects blobs uploaded for a manifest not pushed yet", async () => {
    const blob = randomBytes(50);
    await call(u(), `/v2/gc/grace/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: blob });
    await collectGarbage(reg.registry, { gracePeriodMs: 60_000, deleteUntagged: true });
    assert.equal(await has(sha256(blob)), true);
  });

  test("pushes during collections never leave a manifest pointing at a missing blob", async () => {
    let stop = false;
    let runs = 0;
    const collector = (async () => {
      while (!stop) {
        await collectGarbage(reg.registry, { gracePeriodMs: 0, deleteUntagged: true });
        runs++;
      }
    })();
    const results = [];
    try {
      for (let i = 0; i < 25; i++) results.push(await push("gc/busy", `t${i}`));
    } finally {
      stop = true;
      await collector;
    }
    assert.ok(runs > 0);
    for (const r of results) {
      if (r.status !== 201) {
        assert.equal(r.code, "MANIFEST_BLOB_UNKNOWN", "a push may only fail by being told a blob is gone");
        continue;
      }
      for (const d of [r.img.layerDigest, r.img.configDigest, r.img.manifestDigest]) assert.equal(await has(d), true, `blob ${d} of a stored manifest exists`);
    }
    await collectGarbage(reg.registry, { gracePeriodMs: 0, deleteUntagged: true });
    for (const r of results.filter((x) => x.status === 201)) assert.equal((await call(u(), `/v2/gc/busy/blobs/${r.img.layerDigest}`)).status, 200);
  });
});

// The OCI distribution spec's workflows (pull, push, content discovery,
// content management) against `wharf registry serve`'s server, with the
// statuses, headers and bodies the spec requires.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { call, sampleImage, sha256, sha512, startTestRegistry, type TestRegistry } from "./testing.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

let reg: TestRegistry;
const u = () => reg.url;

async function pushBlob(repo: string, blob: Buffer): Promise<string> {
  const r = await call(u(), `/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: blob, headers: { "Content-Type": "application/octet-stream" } });
  assert.equal(r.status, 201, r.body.toString());
  return sha256(blob);
}

async function pushImage(repo: string, tag: string, extra?: Record<string, unknown>) {
  const img = sampleImage(extra ? { extra } : {});
  await pushBlob(repo, img.layer);
  await pushBlob(repo, img.config);
  const r = await call(u(), `/v2/${repo}/manifests/${tag}`, { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } });
  assert.equal(r.status, 201, r.body.toString());
  return img;
}

function errorCode(r: { json(): any }): string {
  return r.json().errors[0].code;
}

before(async () => {
  reg = await startTestRegistry();
});
after(async () => {
  await reg.stop();
});

describe("pull", () => {
  test("GET /v2/ answers 200 with the API version header", async () => {
    const r = await call(u(), "/v2/");
    assert.equal(r.status, 200);
    assert.equal(r.headers["docker-distribution-api-version"], "registry/2.0");
  });

  test("a manifest is served by tag and by digest byte for byte with its type, length and digest", async () => {
    const img = await pushImage("pull/one", "v1");
    for (const ref of ["v1", img.manifestDigest]) {
      const r = await call(u(), `/v2/pull/one/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, img.manifest);
      assert.equal(r.headers["content-type"], OCI_MANIFEST);
      assert.equal(r.headers["content-length"], String(img.manifest.length));
      assert.equal(r.headers["docker-content-digest"], img.manifestDigest);
      const h = await call(u(), `/v2/pull/one/manifests/${ref}`, { method: "HEAD" });
      assert.equal(h.status, 200);
      assert.equal(h.headers["content-length"], String(img.manifest.length));
      assert.equal(h.headers["docker-content-digest"], img.manifestDigest);
      assert.equal(h.body.length, 0);
    }
  });

  test("blobs are served whole and in ranges; HEAD gives the size", async () => {
    const img = await pushImage("pull/blobs", "v1");
    const r = await call(u(), `/v2/pull/blobs/blobs/${img.layerDigest}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, img.layer);
    assert.equal(r.headers["docker-content-digest"], img.layerDigest);
    const h = await call(u(), `/v2/pull/blobs/blobs/${img.layerDigest}`, { method: "HEAD" });
    assert.equal(h.status, 200);
    assert.equal(h.headers["content-length"], String(img.layer.length));
    const part = await call(u(), `/v2/pull/blobs/blobs/${img.layerDigest}`, { headers: { Range: "bytes=10-19" } });
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, img.layer.subarray(10, 20));
    assert.equal(part.headers["content-range"], `bytes 10-19/${img.layer.length}`);
    const tail = await call(u(), `/v2/pull/blobs/blobs/${img.layerDigest}`, { headers: { Range: "bytes=-5" } });
    assert.equal(tail.status, 206);
    assert.deepEqual(tail.body, img.layer.subarray(img.layer.length - 5));
    const open = await call(u(), `/v2/pull/blobs/blobs/${img.layerDigest}`, { headers: { Range: "bytes=100-" } });
    assert.deepEqual(open.body, img.layer.subarray(100));
    const bad = await call(u(), `/v2/pull/blobs/blobs/${img.layerDigest}`, { headers: { Range: `bytes=${img.layer.length}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers["content-range"], `bytes */${img.layer.length}`);
  });

  test("missing manifests, blobs and repositories are 404 with the spec's codes", async () => {
    await pushImage("pull/missing", "v1");
    const m = await call(u(), "/v2/pull/missing/manifests/nope");
    assert.equal(m.status, 404);
    assert.equal(errorCode(m), "MANIFEST_UNKNOWN");
    const b = await call(u(), `/v2/pull/missing/blobs/${sha256("nothing")}`);
    assert.equal(b.status, 404);
    assert.equal(errorCode(b), "BLOB_UNKNOWN");
    const hb = await call(u(), `/v2/pull/missing/blobs/${sha256("nothing")}`, { method: "HEAD" });
    assert.equal(hb.status, 404);
    const n = await call(u(), "/v2/no/such/repo/manifests/v1");
    assert.equal(n.status, 404);
    assert.equal(errorCode(n), "NAME_UNKNOWN");
  });

  test("a blob pushed to one repository is not served from another", async () => {
    const blob = randomBytes(100);
    await pushBlob("pull/a", blob);
    assert.equal((await call(u(), `/v2/pull/a/blobs/${sha256(blob)}`)).status, 200);
    assert.equal((await call(u(), `/v2/pull/b/blobs/${sha256(blob)}`)).status, 404);
  });
});

describe("push", () => {
  test("POST then PUT: 202 with Location, then 201 with the blob's Location and digest", async () => {
    const blob = randomBytes(5000);
    const post = await call(u(), "/v2/push/pp/blobs/uploads/", { method: "POST" });
    assert.equal(post.status, 202);
    const loc = post.headers.location!;
    assert.match(loc, /^\/v2\/push\/pp\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.ok(post.headers["docker-upload-uuid"]);
    const put = await call(u(), `${loc}?digest=${sha256(blob)}`, { method: "PUT", body: blob, headers: { "Content-Type": "application/octet-stream" } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.location, `/v2/push/pp/blobs/${sha256(blob)}`);
    assert.equal(put.headers["docker-content-digest"], sha256(blob));
    assert.deepEqual((await call(u(), put.headers.location!)).body, blob);
  });

  test("a single POST with the digest stores the blob (201)", async () => {
    const blob = randomBytes(300);
    const r = await call(u(), `/v2/push/single/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: blob });
    assert.equal(r.status, 201);
    assert.equal(r.headers.location, `/v2/push/single/blobs/${sha256(blob)}`);
  });

  test("chunks: PATCH with Content-Range answers 202 with Range; GET gives the status; out of order is 416; PUT closes", async () => {
    const blob = randomBytes(30000);
    const post = await call(u(), "/v2/push/chunked/blobs/uploads/", { method: "POST", headers: { "Content-Length": 0 } });
    assert.equal(post.status, 202);
    let loc = post.headers.location!;
    const c1 = await call(u(), loc, { method: "PATCH", body: blob.subarray(0, 10000), headers: { "Content-Range": "0-9999", "Content-Type": "application/octet-stream" } });
    assert.equal(c1.status, 202);
    assert.equal(c1.headers.range, "0-9999");
    loc = c1.headers.location!;
    const skip = await call(u(), loc, { method: "PATCH", body: blob.subarray(20000), headers: { "Content-Range": "20000-29999" } });
    assert.equal(skip.status, 416);
    const status = await call(u(), loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.range, "0-9999");
    assert.equal(status.headers.location, loc);
    const c2 = await call(u(), loc, { method: "PATCH", body: blob.subarray(10000, 20000), headers: { "Content-Range": "10000-19999" } });
    assert.equal(c2.status, 202);
    assert.equal(c2.headers.range, "0-19999");
    const put = await call(u(), `${c2.headers.location}?digest=${sha256(blob)}`, { method: "PUT", body: blob.subarray(20000), headers: { "Content-Range": "20000-29999" } });
    assert.equal(put.status, 201, put.body.toString());
    assert.deepEqual((await call(u(), `/v2/push/chunked/blobs/${sha256(blob)}`)).body, blob);
    const gone = await call(u(), loc);
    assert.equal(gone.status, 404);
    assert.equal(errorCode(gone), "BLOB_UPLOAD_UNKNOWN");
  });

  test("PATCH without Content-Range appends (docker's streamed upload); PUT without a body closes", async () => {
    const blob = randomBytes(20000);
    const post = await call(u(), "/v2/push/stream/blobs/uploads/", { method: "POST" });
    const p = await call(u(), post.headers.location!, { method: "PATCH", body: blob });
    assert.equal(p.status, 202);
    assert.equal(p.headers.range, `0-${blob.length - 1}`);
    const put = await call(u(), `${p.headers.location}?digest=${sha256(blob)}`, { method: "PUT" });
    assert.equal(put.status, 201);
  });

  test("DELETE cancels an upload (204), after which it is unknown", async () => {
    const post = await call(u(), "/v2/push/cancel/blobs/uploads/", { method: "POST" });
    await call(u(), post.headers.location!, { method: "PATCH", body: randomBytes(100) });
    assert.equal((await call(u(), post.headers.location!, { method: "DELETE" })).status, 204);
    assert.equal((await call(u(), post.headers.location!)).status, 404);
    assert.equal((await call(u(), `${post.headers.location}?digest=${sha256("x")}`, { method: "PUT" })).status, 404);
  });

  test("a blob is mounted from another repository (201), or anonymously, or an upload starts (202)", async () => {
    const blob = randomBytes(700);
    const d = await pushBlob("push/source", blob);
    const m = await call(u(), `/v2/push/target/blobs/uploads/?mount=${d}&from=push/source`, { method: "POST" });
    assert.equal(m.status, 201);
    assert.equal(m.headers.location, `/v2/push/target/blobs/${d}`);
    assert.equal(m.headers["docker-content-digest"], d);
    assert.deepEqual((await call(u(), `/v2/push/target/blobs/${d}`)).body, blob);
    const anon = await call(u(), `/v2/push/anon/blobs/uploads/?mount=${d}`, { method: "POST" });
    assert.equal(anon.status, 201);
    const wrongFrom = await call(u(), `/v2/push/third/blobs/uploads/?mount=${d}&from=push/elsewhere`, { method: "POST" });
    assert.equal(wrongFrom.status, 202);
    assert.match(wrongFrom.headers.location!, /\/blobs\/uploads\//);
    const unknown = await call(u(), `/v2/push/third/blobs/uploads/?mount=${sha256("absent")}&from=push/source`, { method: "POST" });
    assert.equal(unknown.status, 202);
  });

  test("a manifest PUT answers 201 with Location and digest; one with missing blobs is MANIFEST_BLOB_UNKNOWN", async () => {
    const img = sampleImage();
    const missing = await call(u(), "/v2/push/man/manifests/v1", { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(missing.status, 400);
    assert.equal(errorCode(missing), "MANIFEST_BLOB_UNKNOWN");
    await pushBlob("push/man", img.layer);
    await pushBlob("push/man", img.config);
    const put = await call(u(), "/v2/push/man/manifests/v1", { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.location, `/v2/push/man/manifests/${img.manifestDigest}`);
    assert.equal(put.headers["docker-content-digest"], img.manifestDigest);
    const byDigest = await call(u(), `/v2/push/man/manifests/${img.manifestDigest}`, { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(byDigest.status, 201);
    const wrong = await call(u(), `/v2/push/man/manifests/${sha256("other")}`, { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(wrong.status, 400);
    assert.equal(errorCode(wrong), "DIGEST_INVALID");
  });

  test("Docker schema 2 manifests and manifest lists keep their media types", async () => {
    const img = sampleImage();
    await pushBlob("push/docker", img.layer);
    await pushBlob("push/docker", img.config);
    const m = JSON.parse(img.manifest.toString());
    m.mediaType = "application/vnd.docker.distribution.manifest.v2+json";
    m.config.mediaType = "application/vnd.docker.container.image.v1+json";
    m.layers[0].mediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    const bytes = Buffer.from(JSON.stringify(m, null, 3));
    const put = await call(u(), "/v2/push/docker/manifests/v1", { method: "PUT", body: bytes, headers: { "Content-Type": m.mediaType } });
    assert.equal(put.status, 201, put.body.toString());
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", manifests: [{ mediaType: m.mediaType, digest: sha256(bytes), size: bytes.length, platform: { architecture: "amd64", os: "linux" } }] }));
    assert.equal((await call(u(), "/v2/push/docker/manifests/list", { method: "PUT", body: list, headers: { "Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json" } })).status, 201);
    const got = await call(u(), "/v2/push/docker/manifests/list");
    assert.equal(got.headers["content-type"], "application/vnd.docker.distribution.manifest.list.v2+json");
    assert.deepEqual(got.body, list);
    const got1 = await call(u(), "/v2/push/docker/manifests/v1");
    assert.equal(got1.headers["content-type"], m.mediaType);
    assert.deepEqual(got1.body, bytes);
  });

  test("indexes and nested indexes are accepted when their manifests are present, refused when not", async () => {
    const a = await pushImage("push/index", "a");
    const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: a.manifestDigest, size: a.manifest.length, platform: { architecture: "amd64", os: "linux" } }] }));
    assert.equal((await call(u(), `/v2/push/index/manifests/${sha256(inner)}`, { method: "PUT", body: inner, headers: { "Content-Type": OCI_INDEX } })).status, 201);
    const outer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: sha256(inner), size: inner.length }] }));
    assert.equal((await call(u(), "/v2/push/index/manifests/nested", { method: "PUT", body: outer, headers: { "Content-Type": OCI_INDEX } })).status, 201);
    const orphan = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256("none"), size: 4 }] }));
    const r = await call(u(), "/v2/push/index/manifests/orphan", { method: "PUT", body: orphan, headers: { "Content-Type": OCI_INDEX } });
    assert.equal(r.status, 400);
    assert.equal(errorCode(r), "MANIFEST_BLOB_UNKNOWN");
  });

  test("artifacts: empty layers, an empty config carried in data, unknown fields, non-distributable layers unpushed", async () => {
    const empty = Buffer.from("{}");
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: "application/vnd.example.thing",
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: 2, data: empty.toString("base64") },
        layers: [{ mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: sha256("foreign"), size: 7, urls: ["https://example.com/layer"] }],
        "x-unknown": { anything: true },
      }),
    );
    const r = await call(u(), "/v2/push/artifact/manifests/v1", { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(r.status, 201, r.body.toString());
    assert.deepEqual((await call(u(), `/v2/push/artifact/blobs/${sha256(empty)}`)).body, empty);
    const noLayers = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: 2 }, layers: [] }));
    assert.equal((await call(u(), "/v2/push/artifact/manifests/v2", { method: "PUT", body: noLayers, headers: { "Content-Type": OCI_MANIFEST } })).status, 201);
  });

  test("sha512 blobs and manifests", async () => {
    const blob = randomBytes(4000);
    const post = await call(u(), "/v2/push/sha512/blobs/uploads/", { method: "POST" });
    const put = await call(u(), `${post.headers.location}?digest=${sha512(blob)}`, { method: "PUT", body: blob });
    assert.equal(put.status, 201, put.body.toString());
    assert.equal(put.headers["docker-content-digest"], sha512(blob));
    const mono = randomBytes(100);
    assert.equal((await call(u(), `/v2/push/sha512/blobs/uploads/?digest=${sha512(mono)}`, { method: "POST", body: mono })).status, 201);
    const config = Buffer.from("{}");
    await pushBlob("push/sha512", config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: 2 }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha512(blob), size: blob.length }] }));
    const m = await call(u(), `/v2/push/sha512/manifests/${sha512(manifest)}`, { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(m.status, 201, m.body.toString());
    assert.equal(m.headers["docker-content-digest"], sha512(manifest));
    const got = await call(u(), `/v2/push/sha512/manifests/${sha512(manifest)}`);
    assert.deepEqual(got.body, manifest);
    assert.deepEqual((await call(u(), `/v2/push/sha512/blobs/${sha512(blob)}`)).body, blob);
  });

  test("a manifest with a subject is accepted before its subject exists and answers OCI-Subject", async () => {
    const subjectDigest = sha256("not pushed yet");
    await pushBlob("push/subject", Buffer.from("{}"));
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sig", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256("{}"), size: 2 }, layers: [], subject: { mediaType: OCI_MANIFEST, digest: subjectDigest, size: 10 } }));
    const r = await call(u(), `/v2/push/subject/manifests/${sha256(m)}`, { method: "PUT", body: m, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(r.status, 201);
    assert.equal(r.headers["oci-subject"], subjectDigest);
  });
});

describe("content discovery", () => {
  test("tags are listed in lexical order, paginated with n and last, with a Link header", async () => {
    const img = await pushImage("disc/tags", "c");
    for (const t of ["a", "b", "d", "e"]) assert.equal((await call(u(), `/v2/disc/tags/manifests/${t}`, { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } })).status, 201);
    const all = await call(u(), "/v2/disc/tags/tags/list");
    assert.equal(all.status, 200);
    assert.deepEqual(all.json(), { name: "disc/tags", tags: ["a", "b", "c", "d", "e"] });
    const p1 = await call(u(), "/v2/disc/tags/tags/list?n=2");
    assert.deepEqual(p1.json().tags, ["a", "b"]);
    assert.equal(p1.headers.link, '</v2/disc/tags/tags/list?n=2&last=b>; rel="next"');
    const p2 = await call(u(), "/v2/disc/tags/tags/list?n=2&last=b");
    assert.deepEqual(p2.json().tags, ["c", "d"]);
    const p3 = await call(u(), "/v2/disc/tags/tags/list?n=2&last=d");
    assert.deepEqual(p3.json().tags, ["e"]);
    assert.equal(p3.headers.link, undefined);
    const zero = await call(u(), "/v2/disc/tags/tags/list?n=0");
    assert.deepEqual(zero.json().tags, []);
    assert.equal(zero.headers.link, undefined);
    assert.deepEqual((await call(u(), "/v2/disc/tags/tags/list?last=c")).json().tags, ["d", "e"]);
    assert.equal((await call(u(), "/v2/disc/none/tags/list")).status, 404);
  });

  test("referrers list manifests whose subject is the digest, with artifactType and annotations, and filter", async () => {
    const subject = await pushImage("disc/ref", "v1");
    await pushBlob("disc/ref", Buffer.from("{}"));
    const mk = (artifactType: string, note: string) =>
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType, config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256("{}"), size: 2 }, layers: [], subject: { mediaType: OCI_MANIFEST, digest: subject.manifestDigest, size: subject.manifest.length }, annotations: { note } }));
    const sig = mk("application/vnd.example.sig", "s");
    const sbom = mk("application/vnd.example.sbom", "b");
    for (const m of [sig, sbom]) assert.equal((await call(u(), `/v2/disc/ref/manifests/${sha256(m)}`, { method: "PUT", body: m, headers: { "Content-Type": OCI_MANIFEST } })).status, 201);
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], subject: { mediaType: OCI_MANIFEST, digest: subject.manifestDigest, size: subject.manifest.length } }));
    assert.equal((await call(u(), `/v2/disc/ref/manifests/${sha256(idx)}`, { method: "PUT", body: idx, headers: { "Content-Type": OCI_INDEX } })).status, 201);
    const r = await call(u(), `/v2/disc/ref/referrers/${subject.manifestDigest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], OCI_INDEX);
    const body = r.json();
    assert.equal(body.schemaVersion, 2);
    assert.equal(body.mediaType, OCI_INDEX);
    assert.equal(body.manifests.length, 3);
    const bySig = body.manifests.find((d: any) => d.digest === sha256(sig));
    assert.deepEqual(bySig, { mediaType: OCI_MANIFEST, digest: sha256(sig), size: sig.length, artifactType: "application/vnd.example.sig", annotations: { note: "s" } });
    assert.equal(body.manifests.find((d: any) => d.digest === sha256(idx)).artifactType, undefined);
    const f = await call(u(), `/v2/disc/ref/referrers/${subject.manifestDigest}?artifactType=application/vnd.example.sbom`);
    assert.equal(f.headers["oci-filters-applied"], "artifactType");
    assert.deepEqual(f.json().manifests.map((d: any) => d.digest), [sha256(sbom)]);
    const none = await call(u(), `/v2/disc/ref/referrers/${sha256("nothing refers")}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.json().manifests, []);
    assert.equal((await call(u(), "/v2/disc/ref/referrers/sha256:short")).status, 400);
  });

  test("the catalog lists repositories in order, paginated", async () => {
    await pushImage("cat/a", "1");
    await pushImage("cat/b", "1");
    const all = (await call(u(), "/v2/_catalog")).json().repositories as string[];
    assert.ok(all.includes("cat/a") && all.includes("cat/b"));
    assert.deepEqual([...all].sort(), all);
    const p = await call(u(), "/v2/_catalog?n=1&last=cat/a");
    assert.deepEqual(p.json().repositories, ["cat/b"]);
    assert.match(String(p.headers.link), /^<\/v2\/_catalog\?n=1&last=cat%2Fb>; rel="next"$/);
  });
});

describe("content management", () => {
  test("deleting a tag untags (202) and leaves the manifest", async () => {
    const img = await pushImage("mgmt/tag", "v1");
    assert.equal((await call(u(), "/v2/mgmt/tag/manifests/v1", { method: "DELETE" })).status, 202);
    assert.equal((await call(u(), "/v2/mgmt/tag/manifests/v1")).status, 404);
    assert.equal((await call(u(), `/v2/mgmt/tag/manifests/${img.manifestDigest}`)).status, 200);
    assert.deepEqual((await call(u(), "/v2/mgmt/tag/tags/list")).json().tags, []);
    assert.equal((await call(u(), "/v2/mgmt/tag/manifests/v1", { method: "DELETE" })).status, 404);
  });

  test("deleting a manifest (202) removes it and every tag naming it", async () => {
    const img = await pushImage("mgmt/man", "v1");
    assert.equal((await call(u(), "/v2/mgmt/man/manifests/v2", { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } })).status, 201);
    assert.equal((await call(u(), `/v2/mgmt/man/manifests/${img.manifestDigest}`, { method: "DELETE" })).status, 202);
    for (const ref of ["v1", "v2", img.manifestDigest]) assert.equal((await call(u(), `/v2/mgmt/man/manifests/${ref}`)).status, 404);
    assert.equal((await call(u(), `/v2/mgmt/man/manifests/${img.manifestDigest}`, { method: "DELETE" })).status, 404);
  });

  test("deleting a blob (202) makes it unknown in that repository; again is 404", async () => {
    const blob = randomBytes(64);
    const d = await pushBlob("mgmt/blob", blob);
    assert.equal((await call(u(), `/v2/mgmt/blob/blobs/${d}`, { method: "DELETE" })).status, 202);
    assert.equal((await call(u(), `/v2/mgmt/blob/blobs/${d}`)).status, 404);
    assert.equal((await call(u(), `/v2/mgmt/blob/blobs/${d}`, { method: "DELETE" })).status, 404);
  });
});

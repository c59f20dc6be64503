// Bad input against the registry: each case gets the spec's error, stores
// nothing, and leaves the server answering.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { call, sampleImage, sha256, startTestRegistry, type TestRegistry } from "./testing.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
let reg: TestRegistry;
const u = () => reg.url;
const code = (r: { json(): any }) => r.json().errors[0].code as string;

before(async () => {
  reg = await startTestRegistry({ limits: { uploadsPerClient: 3, maxListEntries: 50 } });
});
after(async () => {
  await reg.stop();
});
afterEach(async () => {
  assert.equal((await call(u(), "/v2/")).status, 200, "the server still answers");
});

async function blobCount(): Promise<number> {
  let n = 0;
  for await (const _ of reg.registry.storage.blobs.list()) n++;
  return n;
}

/** Sends raw bytes on a fresh connection and returns what came back before it closed. */
function raw(bytes: string | Buffer, endAfter = true): Promise<string> {
  const url = new URL(reg.url);
  return new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname, () => {
      s.write(bytes);
      if (endAfter) s.end();
    });
    let out = "";
    s.on("data", (d) => (out += d.toString()));
    s.on("close", () => resolve(out));
    s.on("error", () => resolve(out));
  });
}

describe("digests", () => {
  test("a monolithic upload with the wrong digest is DIGEST_INVALID and stores nothing", async () => {
    const before = await blobCount();
    const blob = randomBytes(1000);
    const wrong = sha256("something else");
    const r = await call(u(), `/v2/bad/digest/blobs/uploads/?digest=${wrong}`, { method: "POST", body: blob });
    assert.equal(r.status, 400);
    assert.equal(code(r), "DIGEST_INVALID");
    assert.equal((await call(u(), `/v2/bad/digest/blobs/${wrong}`, { method: "HEAD" })).status, 404);
    assert.equal((await call(u(), `/v2/bad/digest/blobs/${sha256(blob)}`, { method: "HEAD" })).status, 404);
    assert.equal(await blobCount(), before);
  });

  test("closing an upload with the wrong digest is DIGEST_INVALID and ends the session", async () => {
    const post = await call(u(), "/v2/bad/digest/blobs/uploads/", { method: "POST" });
    await call(u(), post.headers.location!, { method: "PATCH", body: randomBytes(500) });
    const r = await call(u(), `${post.headers.location}?digest=${sha256("nope")}`, { method: "PUT" });
    assert.equal(r.status, 400);
    assert.equal(code(r), "DIGEST_INVALID");
    assert.equal((await call(u(), post.headers.location!)).status, 404);
  });

  test("malformed digests are DIGEST_INVALID", async () => {
    for (const d of ["sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + "Z".repeat(64), "sha512:" + "a".repeat(64)]) {
      const r = await call(u(), `/v2/bad/digest/blobs/${d}`);
      assert.equal(r.status, 400, d);
      assert.equal(code(r), "DIGEST_INVALID");
    }
    const post = await call(u(), "/v2/bad/digest/blobs/uploads/", { method: "POST" });
    assert.equal((await call(u(), `${post.headers.location}?digest=sha256:xyz`, { method: "PUT" })).status, 400);
    assert.equal((await call(u(), `${post.headers.location}`, { method: "PUT" })).status, 400);
  });
});

describe("sizes and ranges", () => {
  test("a Content-Range that disagrees with Content-Length is SIZE_INVALID", async () => {
    const post = await call(u(), "/v2/bad/size/blobs/uploads/", { method: "POST" });
    const r = await call(u(), post.headers.location!, { method: "PATCH", body: randomBytes(100), headers: { "Content-Range": "0-49" } });
    assert.equal(r.status, 400);
    assert.equal(code(r), "SIZE_INVALID");
  });

  test("malformed Content-Range is 416; a chunk not starting at the offset is 416 and keeps the upload", async () => {
    const post = await call(u(), "/v2/bad/size/blobs/uploads/", { method: "POST" });
    const loc = post.headers.location!;
    assert.equal((await call(u(), loc, { method: "PATCH", body: "abc", headers: { "Content-Range": "zero-two" } })).status, 416);
    assert.equal((await call(u(), loc, { method: "PATCH", body: "abc", headers: { "Content-Range": "5-2" } })).status, 416);
    assert.equal((await call(u(), loc, { method: "PATCH", body: "abc", headers: { "Content-Range": "1-3" } })).status, 416);
    const ok = await call(u(), loc, { method: "PATCH", body: "abc", headers: { "Content-Range": "0-2" } });
    assert.equal(ok.status, 202);
    const put = await call(u(), `${loc}?digest=${sha256("abc")}`, { method: "PUT" });
    assert.equal(put.status, 201);
  });

  test("a monolithic upload shorter than its digest's blob, or with a wrong Content-Length, stores nothing", async () => {
    const blob = randomBytes(2000);
    const r = await call(u(), `/v2/bad/size/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: blob.subarray(0, 1000) });
    assert.equal(r.status, 400);
    assert.equal((await call(u(), `/v2/bad/size/blobs/${sha256(blob)}`, { method: "HEAD" })).status, 404);
  });

  test("a truncated upload (connection cut mid-body) stores nothing", async () => {
    const blob = randomBytes(4000);
    const url = new URL(reg.url);
    await raw(`POST /v2/bad/trunc/blobs/uploads/?digest=${sha256(blob)} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 4000\r\n\r\n${blob.subarray(0, 1500).toString("latin1")}`);
    const post = await call(u(), "/v2/bad/trunc/blobs/uploads/", { method: "POST" });
    const path = post.headers.location!;
    await raw(Buffer.concat([Buffer.from(`PATCH ${path} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 4000\r\n\r\n`), blob.subarray(0, 1000)]));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await call(u(), `/v2/bad/trunc/blobs/${sha256(blob)}`, { method: "HEAD" })).status, 404);
    const status = await call(u(), path);
    assert.equal(status.status, 404, "a cut chunk ends its session");
  });

  test("a range past the end of a blob is 416", async () => {
    const blob = randomBytes(10);
    await call(u(), `/v2/bad/range/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: blob });
    const r = await call(u(), `/v2/bad/range/blobs/${sha256(blob)}`, { headers: { Range: "bytes=20-30" } });
    assert.equal(r.status, 416);
  });
});

describe("names and references", () => {
  test("malformed repository names are NAME_INVALID", async () => {
    for (const name of ["UPPER/case", "a//b", "-lead", "trail-", "a/.hidden", "a%2F..%2F..%2Fetc", "x".repeat(256), "a__b___c", "_x"]) {
      const r = await call(u(), `/v2/${name}/tags/list`);
      assert.equal(r.status, 400, name);
      assert.equal(code(r), "NAME_INVALID", name);
    }
  });

  test("no path reaches outside the storage root", async () => {
    const url = new URL(reg.url);
    for (const path of ["/v2/../../etc/passwd/manifests/latest", "/v2/%2e%2e/%2e%2e/etc/manifests/latest", "/v2/a/..%2f..%2f/manifests/x", "/v2/a/manifests/..%2f..%2fpasswd"]) {
      const reply = await raw(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
      assert.match(reply, /^HTTP\/1\.1 (400|404)/, path);
    }
    const top = await readdir(join(reg.root, "data"));
    assert.deepEqual(top.sort(), ["content", "repositories"]);
  });

  test("invalid tags are refused on PUT, and unknown endpoints and methods get errors", async () => {
    const img = sampleImage();
    const r = await call(u(), `/v2/bad/tag/manifests/${"t".repeat(129)}`, { method: "PUT", body: img.manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(r.status, 400);
    assert.equal((await call(u(), "/v2/bad/tag/manifests/-x", { method: "PUT", body: img.manifest })).status, 400);
    assert.equal((await call(u(), "/v2/bad/tag/blobs/uploads/", { method: "GET" })).status, 405);
    assert.equal((await call(u(), "/v2/bad/tag/nothing")).status, 404);
    assert.equal((await call(u(), "/other")).status, 404);
  });
});

describe("manifests", () => {
  test("an oversized manifest is 413 and stores nothing", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const r = await call(u(), "/v2/bad/big/manifests/v1", { method: "PUT", body: big, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(r.status, 413);
    assert.equal((await call(u(), "/v2/bad/big/manifests/v1")).status, 404);
  });

  test("malformed manifests are MANIFEST_INVALID", async () => {
    const img = sampleImage();
    const cases: [string, string][] = [
      ["not json", OCI_MANIFEST],
      ["[]", OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 1 }), OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: "sha256:bad", size: 1 }, layers: [] }), OCI_MANIFEST],
      [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: sha256("x"), size: -1 }, layers: [] }), OCI_MANIFEST],
      [img.manifest.toString(), "application/vnd.oci.image.index.v1+json"],
      [JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "x", digest: sha256("{}"), size: 2, data: Buffer.from("{ }").toString("base64") }, layers: [] }), OCI_MANIFEST],
    ];
    for (const [body, type] of cases) {
      const r = await call(u(), "/v2/bad/man/manifests/v1", { method: "PUT", body, headers: { "Content-Type": type } });
      assert.equal(r.status, 400, body.slice(0, 80));
      assert.equal(code(r), "MANIFEST_INVALID", body.slice(0, 80));
    }
  });

  test("a manifest whose blob size disagrees with the stored blob is refused", async () => {
    const img = sampleImage();
    await call(u(), `/v2/bad/sz/blobs/uploads/?digest=${img.layerDigest}`, { method: "POST", body: img.layer });
    await call(u(), `/v2/bad/sz/blobs/uploads/?digest=${img.configDigest}`, { method: "POST", body: img.config });
    const m = JSON.parse(img.manifest.toString());
    m.layers[0].size += 1;
    const r = await call(u(), "/v2/bad/sz/manifests/v1", { method: "PUT", body: JSON.stringify(m), headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(r.status, 400);
  });
});

describe("limits", () => {
  test("n is bounded: above the limit or not a number is 400", async () => {
    assert.equal((await call(u(), "/v2/_catalog?n=51")).status, 400);
    assert.equal((await call(u(), "/v2/_catalog?n=-1")).status, 400);
    assert.equal((await call(u(), "/v2/_catalog?n=abc")).status, 400);
    assert.equal((await call(u(), "/v2/_catalog?n=50")).status, 200);
  });

  test("upload sessions per client are bounded (429), and idle ones expire", async () => {
    const locs: string[] = [];
    for (;;) {
      const r = await call(u(), "/v2/bad/limit/blobs/uploads/", { method: "POST" });
      if (r.status !== 202) {
        assert.equal(r.status, 429);
        assert.equal(code(r), "TOOMANYREQUESTS");
        break;
      }
      locs.push(r.headers.location!);
      assert.ok(locs.length <= 3);
    }
    const expired = await reg.registry.uploads.expire(Date.now() + 31 * 60 * 1000);
    assert.ok(expired >= locs.length);
    for (const loc of locs) assert.equal((await call(u(), loc)).status, 404);
    assert.equal((await call(u(), "/v2/bad/limit/blobs/uploads/", { method: "POST" })).status, 202);
    await reg.registry.uploads.expire(Date.now() + 31 * 60 * 1000);
  });
});

describe("concurrency", () => {
  test("concurrent pushes of the same blob all succeed and store it once, intact", async () => {
    const blob = randomBytes(256 * 1024);
    const d = sha256(blob);
    const mono = Array.from({ length: 6 }, (_, i) => call(u(), `/v2/conc/r${i % 2}/blobs/uploads/?digest=${d}`, { method: "POST", body: blob }));
    const chunked = Array.from({ length: 3 }, async (_, i) => {
      const post = await call(u(), `/v2/conc/c${i}/blobs/uploads/`, { method: "POST" });
      const p = await call(u(), post.headers.location!, { method: "PATCH", body: blob.subarray(0, 100000), headers: { "Content-Range": "0-99999" } });
      return call(u(), `${p.headers.location}?digest=${d}`, { method: "PUT", body: blob.subarray(100000) });
    });
    for (const r of await Promise.all([...mono, ...chunked])) assert.equal(r.status, 201, r.body.toString());
    const got = await call(u(), `/v2/conc/c2/blobs/${d}`);
    assert.equal(sha256(got.body), d);
    const names = await readdir(join(reg.root, "data", "content", "blobs", "sha256"));
    assert.equal(names.filter((n) => n === d.slice(7)).length, 1);
  });
});

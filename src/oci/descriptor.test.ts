import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDocument, MAX_DOCUMENT_BYTES } from "./descriptor.js";
import { parseImageConfig } from "./config.js";
import { MediaType } from "./mediatype.js";

const d = (c: string) => "sha256:" + c.repeat(64);
const manifest = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: MediaType.OciConfig, digest: d("a"), size: 10 },
  layers: [{ mediaType: MediaType.OciLayerGzip, digest: d("b"), size: 20 }],
};

test("an OCI manifest parses with its layers", () => {
  const p = parseDocument(JSON.stringify(manifest));
  assert.equal(p.kind, "manifest");
  if (p.kind === "manifest") assert.equal(p.manifest.layers[0]!.digest, d("b"));
});

test("a manifest without mediaType takes the one the transport declared", () => {
  const { mediaType: _, ...bare } = manifest;
  const p = parseDocument(JSON.stringify(bare), MediaType.DockerManifest);
  assert.equal(p.mediaType, MediaType.DockerManifest);
});

test("an index selects by its manifests list", () => {
  const p = parseDocument(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: d("c"), size: 1, platform: { os: "linux", architecture: "amd64" } }] }));
  assert.equal(p.kind, "index");
});

test("a document with both manifests and layers is refused as ambiguous", () => {
  assert.throws(() => parseDocument(JSON.stringify({ ...manifest, mediaType: undefined, manifests: [] })), /ambiguous/);
});

test("an invalid digest inside a manifest is refused", () => {
  assert.throws(() => parseDocument(JSON.stringify({ ...manifest, layers: [{ mediaType: MediaType.OciLayer, digest: "sha256:../x", size: 1 }] })), /invalid digest/);
});

test("documents over 4 MiB are refused before parsing", () => {
  assert.throws(() => parseDocument(" ".repeat(MAX_DOCUMENT_BYTES + 1)), /larger than/);
});

test("an image config needs os, architecture and layer rootfs", () => {
  const c = parseImageConfig(JSON.stringify({ os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: [d("e")] }, config: { Cmd: ["sh"] } }));
  assert.deepEqual(c.config?.Cmd, ["sh"]);
  assert.throws(() => parseImageConfig(JSON.stringify({ os: "linux", rootfs: { type: "layers", diff_ids: [] } })), /architecture/);
  assert.throws(() => parseImageConfig(JSON.stringify({ os: "linux", architecture: "amd64", rootfs: { type: "layers", diff_ids: ["x"] } })), /invalid digest/);
});

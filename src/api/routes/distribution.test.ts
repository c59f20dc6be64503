// The registry routes' wire details: X-Registry-Auth decoding, the pull
// reference docker's query makes, and progress messages as dockerd writes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeRegistryAuth, decodeRegistryConfig, humanSize, progressBar, progressJson, pullReference } from "./distribution.js";

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

test("X-Registry-Auth: username and password, the auth field, tokens, and anonymous", () => {
  assert.deepEqual(decodeRegistryAuth(b64url({ username: "u", password: "p", serveraddress: "r" })), { username: "u", password: "p" });
  assert.deepEqual(decodeRegistryAuth(b64url({ auth: Buffer.from("alice:pa:ss").toString("base64") })), { username: "alice", password: "pa:ss" });
  assert.deepEqual(decodeRegistryAuth(b64url({ identitytoken: "refresh" })), { identityToken: "refresh" });
  assert.deepEqual(decodeRegistryAuth(b64url({ registrytoken: "bearer" })), { registryToken: "bearer" });
  assert.equal(decodeRegistryAuth("e30="), undefined);
  assert.equal(decodeRegistryAuth(undefined), undefined);
  assert.equal(decodeRegistryAuth("%%%not base64 json"), undefined);
});

test("fromImage and tag make the reference; a bare name without tag means every tag", () => {
  assert.deepEqual(pullReference("busybox", "latest"), { name: "busybox:latest", allTags: false });
  assert.deepEqual(pullReference("localhost:5000/a/b", "sha256:" + "a".repeat(64)), { name: `localhost:5000/a/b@sha256:${"a".repeat(64)}`, allTags: false });
  assert.deepEqual(pullReference("localhost:5000/a/b", ""), { name: "localhost:5000/a/b", allTags: true });
  assert.deepEqual(pullReference("localhost:5000/a/b:v1", undefined), { name: "localhost:5000/a/b:v1", allTags: false });
});

test("progress messages have dockerd's shape", () => {
  assert.deepEqual(progressJson({ status: "Digest: sha256:x" }), { status: "Digest: sha256:x" });
  assert.deepEqual(progressJson({ id: "abc", status: "Pull complete" }), { status: "Pull complete", progressDetail: {}, id: "abc" });
  const d = progressJson({ id: "abc", status: "Downloading", current: 500_000, total: 2_000_000 });
  assert.deepEqual(d.progressDetail, { current: 500_000, total: 2_000_000 });
  assert.equal(d.progress, "[============>                                      ]    500kB/2MB");
  const aux = progressJson({ status: "", aux: { Tag: "v1", Digest: ("sha256:" + "b".repeat(64)) as never, Size: 527 } });
  assert.deepEqual(aux, { progressDetail: {}, aux: { Tag: "v1", Digest: "sha256:" + "b".repeat(64), Size: 527 } });
});

test("sizes are go-units' decimal HumanSize", () => {
  assert.equal(humanSize(999), "999B");
  assert.equal(humanSize(1_113_000), "1.113MB");
  assert.equal(humanSize(32_768), "32.77kB");
  assert.equal(progressBar(10, 10), "[" + "=".repeat(50) + ">]      10B/10B");
});

test("X-Registry-Config gives the credentials by registry domain; Docker Hub's address is docker.io; junk gives none", () => {
  const header = Buffer.from(
    JSON.stringify({
      "https://index.docker.io/v1/": { username: "hub", password: "h" },
      "127.0.0.1:5000": { auth: Buffer.from("alice:s3cret").toString("base64"), serveraddress: "127.0.0.1:5000" },
      "empty.example": {},
      "odd.example": "not an object",
    }),
  ).toString("base64url");
  const creds = decodeRegistryConfig(header);
  assert.deepEqual([...creds.keys()].sort(), ["127.0.0.1:5000", "docker.io"]);
  assert.deepEqual(creds.get("127.0.0.1:5000"), { username: "alice", password: "s3cret" });
  assert.deepEqual(creds.get("docker.io"), { username: "hub", password: "h" });
  assert.equal(decodeRegistryConfig("!!!").size, 0);
  assert.equal(decodeRegistryConfig(undefined).size, 0);
  assert.equal(decodeRegistryConfig(Buffer.from("[1]").toString("base64url")).size, 0);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { chainIds, Digester, digestOf, parseDigest } from "./digest.js";

test("sha256 and sha512 digests parse", () => {
  assert.equal(parseDigest("sha256:" + "0".repeat(64)), "sha256:" + "0".repeat(64));
  assert.equal(parseDigest("sha512:" + "f".repeat(128)), "sha512:" + "f".repeat(128));
});

for (const bad of ["sha256:../../etc/passwd", "sha256:" + "A".repeat(64), "sha256:" + "0".repeat(63), "md5:" + "0".repeat(32), "sha512:" + "0".repeat(64), "0".repeat(64), "sha256:" + "0".repeat(64) + "\n"]) {
  test(`${JSON.stringify(bad.slice(0, 24))}… is not a digest`, () => {
    assert.throws(() => parseDigest(bad), /invalid digest/);
  });
}

test("a streaming digest equals the one-shot digest", () => {
  const d = new Digester();
  d.update(Buffer.from("hello "));
  d.update(Buffer.from("world"));
  assert.equal(d.digest(), digestOf("hello world"));
  assert.equal(d.size, 11);
});

test("chain ids follow the OCI definition", () => {
  const a = digestOf("a");
  const b = digestOf("b");
  const [c0, c1] = chainIds([a, b]);
  assert.equal(c0, a);
  assert.equal(c1, digestOf(`${a} ${b}`));
});

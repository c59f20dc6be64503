import { test } from "node:test";
import assert from "node:assert/strict";
import { familiarString, formatReference, parseReference, withDefaultTag } from "./reference.js";

const normalised: [string, string][] = [
  ["busybox", "docker.io/library/busybox:latest"],
  ["busybox:1.36", "docker.io/library/busybox:1.36"],
  ["library/busybox", "docker.io/library/busybox:latest"],
  ["user/app", "docker.io/user/app:latest"],
  ["index.docker.io/user/app:v1", "docker.io/user/app:v1"],
  ["localhost/app", "localhost/app:latest"],
  ["localhost:5000/a/b:tag", "localhost:5000/a/b:tag"],
  ["registry.example.com/team/app:1.2.3", "registry.example.com/team/app:1.2.3"],
  ["[::1]:5000/app:x", "[::1]:5000/app:x"],
];

for (const [input, full] of normalised) {
  test(`${input} normalises to ${full}`, () => {
    assert.equal(formatReference(withDefaultTag(parseReference(input))), full);
  });
}

test("a digest reference keeps its digest and gets no default tag", () => {
  const d = "sha256:" + "a".repeat(64);
  const ref = withDefaultTag(parseReference(`busybox@${d}`));
  assert.equal(ref.digest, d);
  assert.equal(ref.tag, undefined);
  assert.equal(familiarString(ref), `busybox@${d}`);
});

test("a tag and a digest can be given together", () => {
  const d = "sha256:" + "b".repeat(64);
  const ref = parseReference(`host:5000/app:1@${d}`);
  assert.equal(ref.domain, "host:5000");
  assert.equal(ref.tag, "1");
  assert.equal(ref.digest, d);
});

test("familiar names drop docker.io and library/", () => {
  assert.equal(familiarString(withDefaultTag(parseReference("docker.io/library/busybox"))), "busybox:latest");
  assert.equal(familiarString(parseReference("docker.io/user/app:1")), "user/app:1");
  assert.equal(familiarString(parseReference("quay.io/x/y:2")), "quay.io/x/y:2");
});

for (const bad of ["", "Busybox", "busybox:", "busybox:-x", "a//b", "-a/b", "busybox@sha256:abc", "user/Repo", "a".repeat(64), "app:" + "t".repeat(129)]) {
  test(`${JSON.stringify(bad.length > 40 ? bad.slice(0, 20) + "…" : bad)} is refused with a clear message`, () => {
    assert.throws(() => parseReference(bad), /invalid reference format/);
  });
}

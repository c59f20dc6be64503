import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePlatformSpec, selectPlatform } from "./platform.js";

test("platform specs normalise architecture aliases", () => {
  assert.deepEqual(parsePlatformSpec("linux/x86_64"), { os: "linux", architecture: "amd64" });
  assert.deepEqual(parsePlatformSpec("linux/aarch64"), { os: "linux", architecture: "arm64" });
  assert.deepEqual(parsePlatformSpec("linux/arm"), { os: "linux", architecture: "arm", variant: "v7" });
  assert.throws(() => parsePlatformSpec("linux//"), /invalid platform/);
});

test("the exact variant wins over a compatible one", () => {
  const candidates = [
    { name: "v6", platform: { os: "linux", architecture: "arm", variant: "v6" } },
    { name: "v7", platform: { os: "linux", architecture: "arm", variant: "v7" } },
    { name: "amd", platform: { os: "linux", architecture: "amd64" } },
  ];
  assert.equal(selectPlatform({ os: "linux", architecture: "arm", variant: "v7" }, candidates)?.name, "v7");
  assert.equal(selectPlatform({ os: "linux", architecture: "arm", variant: "v6" }, candidates)?.name, "v6");
  assert.equal(selectPlatform({ os: "linux", architecture: "amd64" }, candidates)?.name, "amd");
  assert.equal(selectPlatform({ os: "windows", architecture: "amd64" }, candidates), undefined);
});

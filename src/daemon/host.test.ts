import { test } from "node:test";
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { filesystemName, goArch, parseOsRelease, probeHost } from "./host.js";

test("os-release variables are read without their quotes", () => {
  const vars = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n# comment\n');
  assert.deepEqual(vars, { PRETTY_NAME: "Debian GNU/Linux 12 (bookworm)", NAME: "Debian GNU/Linux", VERSION_ID: "12", ID: "debian" });
});

test("architectures and file systems get the names docker uses", () => {
  assert.equal(goArch("x64"), "amd64");
  assert.equal(goArch("arm64"), "arm64");
  assert.equal(goArch("ia32"), "386");
  assert.equal(filesystemName(0xef53), "extfs");
  assert.equal(filesystemName(0x58465342), "xfs");
  assert.match(filesystemName(0x1234), /^unknown \(0x1234\)$/);
});

test("the probe reports this host", async () => {
  const h = await probeHost(tmpdir());
  assert.ok(h.ncpu >= 1);
  assert.ok(h.memTotal > 0);
  assert.ok(h.kernelVersion.length > 0);
  assert.ok(h.openFiles > 0);
  assert.ok(["1", "2"].includes(h.cgroupVersion));
  assert.notEqual(h.operatingSystem, "");
});

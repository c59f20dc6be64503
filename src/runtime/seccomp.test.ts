import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultSeccompProfile, needsCompatAbi } from "./seccomp.js";
import { DEFAULT_CAPABILITIES } from "./caps.js";

test("the default profile filters the native ABI only, unless the image needs a compat one", () => {
  assert.deepEqual(defaultSeccompProfile(DEFAULT_CAPABILITIES, "x64").architectures, ["SCMP_ARCH_X86_64"]);
  assert.deepEqual(defaultSeccompProfile(DEFAULT_CAPABILITIES, "x64", { compat: true }).architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  assert.deepEqual(defaultSeccompProfile(DEFAULT_CAPABILITIES, "arm64", { compat: true }).architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
});

test("images for 386 on x86_64 and arm on arm64 run through a compat ABI; native images do not", () => {
  assert.equal(needsCompatAbi("386", "x64"), true);
  assert.equal(needsCompatAbi("amd64", "x64"), false);
  assert.equal(needsCompatAbi(undefined, "x64"), false);
  assert.equal(needsCompatAbi("arm", "arm64"), true);
  assert.equal(needsCompatAbi("arm64", "arm64"), false);
});

test("the default profile refuses namespace flags to clone without CAP_SYS_ADMIN and allows them with it", () => {
  const without = defaultSeccompProfile(DEFAULT_CAPABILITIES, "x64");
  assert.ok((without.syscalls ?? []).some((s) => s.names.includes("clone") && s.args?.[0]?.op === "SCMP_CMP_MASKED_EQ"));
  assert.ok(!(without.syscalls ?? []).some((s) => s.names.includes("mount")));
  const withAdmin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"], "x64");
  assert.ok((withAdmin.syscalls ?? []).some((s) => s.names.includes("mount") && s.action === "SCMP_ACT_ALLOW"));
  assert.ok(!(withAdmin.syscalls ?? []).some((s) => s.names.includes("clone") && s.args !== undefined));
});

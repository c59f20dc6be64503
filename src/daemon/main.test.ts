// wharfd's command line as an operator meets it: the real entry point, run as a process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const wharfd = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "bin", "wharfd");
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [wharfd, ...args], { encoding: "utf8", timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

test("an unknown flag exits 1 with one line on stderr", () => {
  const r = run("--bogus");
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "wharfd: unknown flag: --bogus (see 'wharfd --help')\n");
  assert.equal(r.stdout, "");
});

test("a TCP host exits 1 explaining that TLS is needed", () => {
  const r = run("-H", "tcp://0.0.0.0:2375");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^wharfd: invalid host "tcp:\/\/0\.0\.0\.0:2375": TCP is served only with TLS/);
  assert.equal(r.stderr.split("\n").length, 2);
});

test("--help and --version print and exit 0", () => {
  const help = run("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--data-root string/);
  const version = run("--version");
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^wharfd version \d+\.\d+\.\d+, build \S+\n$/);
});

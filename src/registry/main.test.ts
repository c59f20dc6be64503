// `wharf registry …` as users run it: through bin/wharf, in its own process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { call } from "./testing.js";
import { runRegistryCommand } from "./main.js";

const wharf = fileURLToPath(new URL("../../../bin/wharf", import.meta.url));

function capture() {
  let out = "";
  return { stream: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream, text: () => out };
}

test("help, unknown subcommands and bad flags answer without serving", async () => {
  const out = capture();
  const err = capture();
  assert.equal(await runRegistryCommand([], { stdout: out.stream, stderr: err.stream }), 0);
  assert.match(out.text(), /serve +Serve an OCI distribution registry/);
  assert.equal(await runRegistryCommand(["serve", "--help"], { stdout: out.stream, stderr: err.stream }), 0);
  assert.match(out.text(), /--registry|--addr string/);
  assert.equal(await runRegistryCommand(["nope"], { stdout: out.stream, stderr: err.stream }), 1);
  assert.equal(await runRegistryCommand(["serve", "--root"], { stdout: out.stream, stderr: err.stream }), 125);
  assert.match(err.text(), /flag needs an argument: --root/);
  assert.equal(await runRegistryCommand(["serve", "--addr", "192.0.2.1:5000"], { stdout: out.stream, stderr: err.stream }), 125);
  assert.match(err.text(), /refusing plain HTTP/);
});

test("bin/wharf registry serve serves until SIGTERM, then exits 0", async () => {
  const root = await mkdtemp(join(tmpdir(), "wharf-registry-cli-"));
  const child = spawn(wharf, ["registry", "serve", "--addr", "127.0.0.1:0", "--root", join(root, "data")], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let log = "";
      child.stderr!.on("data", (b: Buffer) => {
        log += b.toString();
        const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${log}`)));
    });
    assert.equal((await call(url, "/v2/")).status, 200);
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await rm(root, { recursive: true, force: true });
  }
});

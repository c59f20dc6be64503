import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StartGate } from "./gate.js";

/** Runs the gate program as conmon would: the runtime's arguments, the gate's variables. */
function runGate(gate: StartGate, runtime: string, args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(gate.binary, args, { env: { PATH: "/usr/bin:/bin", ...gate.env(runtime), ...extra }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function withGate(fn: (gate: StartGate) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-gate-"));
  const gate = StartGate.create(join(dir, "gate"));
  assert.ok(gate, "the gate program is built");
  try {
    await fn(gate);
  } finally {
    gate.close();
    assert.equal(existsSync(gate.path), false, "close removes the FIFO");
    await rm(dir, { recursive: true, force: true });
  }
}

test("an opened gate runs the runtime with its own arguments, without the gate's variables", () =>
  withGate(async (gate) => {
    const running = runGate(gate, "/bin/sh", ["-c", 'echo "ran with ${WHARF_GATE:-no gate} $1"', "sh", "create"]);
    gate.open();
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "ran with no gate create\n");
  }));

test("a gate opened before its program reads keeps the word", () =>
  withGate(async (gate) => {
    gate.open();
    const r = await runGate(gate, "/bin/echo", ["late", "reader"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "late reader\n");
  }));

test("a cancelled gate ends with status 1 and never runs the runtime", () =>
  withGate(async (gate) => {
    const running = runGate(gate, "/bin/echo", ["must not run"]);
    gate.cancel();
    const r = await running;
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /wharf-gate: the start was called off/);
  }));

test("a gate nobody opens gives up after its timeout", () =>
  withGate(async (gate) => {
    const began = Date.now();
    const r = await runGate(gate, "/bin/echo", ["must not run"], { WHARF_GATE_TIMEOUT: "1" });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /did not open the gate in time/);
    assert.ok(Date.now() - began < 10_000);
  }));

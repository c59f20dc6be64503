import { test } from "node:test";
import assert from "node:assert/strict";
import { healthPlan } from "./health.js";

test("CMD runs as given, CMD-SHELL through /bin/sh -c", () => {
  assert.deepEqual(healthPlan({ Test: ["CMD", "curl", "-f", "http://x/"] })?.cmd, ["curl", "-f", "http://x/"]);
  assert.deepEqual(healthPlan({ Test: ["CMD-SHELL", "test -f /ok"] })?.cmd, ["/bin/sh", "-c", "test -f /ok"]);
});

test("docker's defaults: 30 s interval and timeout, no start period, 3 retries", () => {
  assert.deepEqual(healthPlan({ Test: ["CMD", "true"] }), { cmd: ["true"], intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 });
});

test("durations are nanoseconds", () => {
  const p = healthPlan({ Test: ["CMD", "true"], Interval: 200_000_000, Timeout: 2e9, StartPeriod: 5e9, Retries: 2 });
  assert.deepEqual(p, { cmd: ["true"], intervalMs: 200, timeoutMs: 2000, startPeriodMs: 5000, retries: 2 });
});

test("NONE, an empty test or no config means no check", () => {
  assert.equal(healthPlan({ Test: ["NONE"] }), undefined);
  assert.equal(healthPlan({ Test: [] }), undefined);
  assert.equal(healthPlan({ Test: ["CMD"] }), undefined);
  assert.equal(healthPlan(undefined), undefined);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { ALL_CAPABILITIES, capabilitiesOfMask, DEFAULT_CAPABILITIES, resolveCapabilities } from "./caps.js";

test("privileged and ALL mean every capability of the bounding set, never one the host withholds", () => {
  const bounding = capabilitiesOfMask("000001fffeffffff"); // all of 0..40 but CAP_SYS_RESOURCE (24)
  assert.equal(bounding.has("CAP_SYS_RESOURCE"), false);
  assert.equal(bounding.has("CAP_CHOWN"), true);
  const privileged = resolveCapabilities({ privileged: true, bounding });
  assert.equal(privileged.includes("CAP_SYS_RESOURCE"), false);
  assert.equal(privileged.length, ALL_CAPABILITIES.length - 1);
  assert.deepEqual(resolveCapabilities({ add: ["ALL"], drop: ["NET_RAW"], bounding }).includes("CAP_NET_RAW"), false);
  assert.equal(resolveCapabilities({ privileged: true }).length, ALL_CAPABILITIES.length);
});

test("cap-add and cap-drop apply over docker's default set; add wins over a drop of the same name", () => {
  assert.deepEqual(new Set(resolveCapabilities({})), new Set(DEFAULT_CAPABILITIES));
  assert.deepEqual(resolveCapabilities({ drop: ["ALL"], add: ["net_admin"] }), ["CAP_NET_ADMIN"]);
  assert.ok(resolveCapabilities({ drop: ["CHOWN"], add: ["CAP_CHOWN"] }).includes("CAP_CHOWN"));
  assert.throws(() => resolveCapabilities({ add: ["FLY"] }), /invalid capability "FLY"/);
});

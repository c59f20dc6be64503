import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isKind } from "../internal/index.js";
import { MAX_LOWER_LAYERS, layerMounts } from "./layers.js";
import { MOUNT_DATA_MAX, mountDataBytes } from "./options.js";

const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);

describe("layerMounts", () => {
  it("uses absolute lowerdirs while they fit in one page", () => {
    const [m] = layerMounts({ root: "/r", kind: "active", id: 900, lowers: range(10), indexOff: true }, "test");
    assert.equal(m?.cwd, undefined);
    assert.deepEqual(m?.options, ["index=off", "workdir=/r/900/work", "upperdir=/r/900/fs", `lowerdir=${range(10).map((i) => `/r/${i}/fs`).join(":")}`]);
  });

  it("switches to lowerdirs relative to the root, with cwd set, when absolute ones would not fit", () => {
    const root = "/var/lib/wharf/snapshots/overlay";
    const [m] = layerMounts({ root, kind: "active", id: 1000, lowers: range(200), indexOff: false }, "test");
    assert.equal(m?.cwd, root);
    assert.ok(m?.options.includes(`upperdir=${root}/1000/fs`), "upper stays absolute for writableDir");
    assert.ok(m?.options.some((o) => o.startsWith("lowerdir=1/fs:2/fs:")));
    assert.ok(mountDataBytes(m!.options) <= MOUNT_DATA_MAX);
  });

  it("mounts 500 layers and refuses 501", () => {
    const [m] = layerMounts({ root: "/r", kind: "view", id: 1, lowers: range(MAX_LOWER_LAYERS), indexOff: false }, "test");
    assert.equal(m?.type, "overlay");
    assert.throws(
      () => layerMounts({ root: "/r", kind: "active", id: 1, lowers: range(MAX_LOWER_LAYERS + 1), indexOff: false }, "prepare snapshot"),
      (e) => isKind(e, "invalid-argument") && /501 layers; overlayfs stacks at most 500/.test(e.message),
    );
  });

  it("refuses a chain whose relative lowerdirs still exceed a page", () => {
    assert.throws(
      () => layerMounts({ root: "/r", kind: "active", id: 1, lowers: range(450, 100000), indexOff: false }, "prepare snapshot"),
      (e) => isKind(e, "invalid-argument") && /the kernel reads at most 4095/.test(e.message),
    );
  });

  it("describes a one-layer view as a read-only bind and a deeper one as a lower-only overlay", () => {
    assert.deepEqual(layerMounts({ root: "/r", kind: "view", id: 5, lowers: [3], indexOff: true }, "t"), [{ type: "bind", source: "/r/3/fs", options: ["rbind", "ro"] }]);
    const [m] = layerMounts({ root: "/r", kind: "view", id: 5, lowers: [3, 2], indexOff: true }, "t");
    assert.deepEqual(m?.options, ["ro", "index=off", "lowerdir=/r/3/fs:/r/2/fs"]);
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { digestOf, type Digest } from "../oci/index.js";
import { Leases, planCollection } from "./gc.js";
import type { SnapshotInfo } from "../snapshot/snapshotter.js";

const snap = (key: string, parent?: string): SnapshotInfo => ({ key, kind: "committed", labels: {}, createdAt: new Date(), ...(parent ? { parent } : {}) });

test("a live snapshot keeps its parents; the rest is collected children first", () => {
  const all = [snap("a"), snap("b", "a"), snap("c", "b"), snap("x"), snap("y", "x")];
  const plan = planCollection({ blobs: new Set(), snapshots: new Set(["b"]) }, [], all);
  assert.deepEqual(plan.snapshots, ["c", "y", "x"]);
});

test("unreferenced blobs are collected, referenced and leased ones are kept", () => {
  const [a, b, c] = ["a", "b", "c"].map((s) => digestOf(s)) as [Digest, Digest, Digest];
  const leases = new Leases();
  const blobs = new Set<Digest>([a]);
  const snapshots = new Set<string>();
  {
    using lease = leases.create();
    lease.addBlob(b);
    leases.addRoots(blobs, snapshots);
    assert.deepEqual(planCollection({ blobs, snapshots }, [a, b, c], []).blobs, [c]);
  }
  const after = new Set<Digest>([a]);
  leases.addRoots(after, snapshots);
  assert.deepEqual(planCollection({ blobs: after, snapshots }, [a, b, c], []).blobs, [b, c]);
});

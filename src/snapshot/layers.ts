// snapshot/layers: the mounts of an overlay snapshot, computed from its place
// in the chain. Pure: it decides absolute or relative lowerdirs and refuses
// chains the kernel cannot mount, but touches nothing.
import { join } from "node:path";
import { wharfError } from "../internal/index.js";
import { MOUNT_DATA_MAX, mountDataBytes } from "./options.js";
import type { Mount } from "./snapshotter.js";

/** overlayfs stacks at most this many lower layers (OVL_MAX_STACK). */
export const MAX_LOWER_LAYERS = 500;

export function snapshotDir(root: string, id: number): string {
  return join(root, String(id));
}

export function fsDir(root: string, id: number): string {
  return join(root, String(id), "fs");
}

export function workDir(root: string, id: number): string {
  return join(root, String(id), "work");
}

export interface LayerPlan {
  readonly root: string;
  readonly kind: "active" | "view";
  /** The snapshot's own id (its upper dir when active). */
  readonly id: number;
  /** Ids of the committed parents, nearest first. */
  readonly lowers: readonly number[];
  /** Adds index=off, as the kernel's index feature breaks reusing lowers under new uppers. */
  readonly indexOff: boolean;
}

/** Throws invalid-argument when the chain is too deep for overlayfs. */
export function checkDepth(lowers: number, action: string): void {
  if (lowers > MAX_LOWER_LAYERS) {
    throw wharfError("invalid-argument", `${action}: the parent chain has ${lowers} layers; overlayfs stacks at most ${MAX_LOWER_LAYERS}`);
  }
}

export function layerMounts(plan: LayerPlan, action: string): Mount[] {
  const { root, id, lowers } = plan;
  checkDepth(lowers.length, action);
  const [nearest] = lowers;
  if (nearest === undefined) {
    if (plan.kind === "view") throw wharfError("internal", `${action}: a view needs a parent`);
    return [{ type: "bind", source: fsDir(root, id), options: ["rbind", "rw"] }];
  }
  if (plan.kind === "view" && lowers.length === 1) return [{ type: "bind", source: fsDir(root, nearest), options: ["rbind", "ro"] }];

  const head = [...(plan.kind === "view" ? ["ro"] : []), ...(plan.indexOff ? ["index=off"] : [])];
  const own = plan.kind === "active" ? [`workdir=${workDir(root, id)}`, `upperdir=${fsDir(root, id)}`] : [];
  const absolute = [...head, ...own, `lowerdir=${lowers.map((l) => fsDir(root, l)).join(":")}`];
  if (mountDataBytes(absolute) <= MOUNT_DATA_MAX) return [{ type: "overlay", source: "overlay", options: absolute }];

  // Too long for one page: name lowers relative to the root and mount from there.
  // Upper and work stay absolute so that writableDir() works without the cwd.
  const relative = [...head, ...own, `lowerdir=${lowers.map((l) => `${l}/fs`).join(":")}`];
  const bytes = mountDataBytes(relative);
  if (bytes > MOUNT_DATA_MAX) {
    throw wharfError("invalid-argument", `${action}: the mount options for ${lowers.length} layers need ${bytes} bytes; the kernel reads at most ${MOUNT_DATA_MAX}`);
  }
  return [{ type: "overlay", source: "overlay", options: relative, cwd: root }];
}

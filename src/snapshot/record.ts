// snapshot/record: one snapshot's metadata as stored in <root>/<id>/snapshot.json.
// The file's presence is what makes a snapshot exist: it is written last when
// creating and removed first when deleting, each time atomically.
import { readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, sys, wharfError, writeJsonAtomic } from "../internal/index.js";
import type { SnapshotInfo, SnapshotKind } from "./snapshotter.js";
import { snapshotDir } from "./layers.js";

export const RECORD_FILE = "snapshot.json";

export interface SnapshotRecord {
  readonly id: number;
  readonly key: string;
  readonly kind: SnapshotKind;
  readonly parent?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: Date;
}

const KINDS: readonly SnapshotKind[] = ["active", "committed", "view"];

export function recordInfo(r: SnapshotRecord): SnapshotInfo {
  const info = { key: r.key, kind: r.kind, labels: { ...r.labels }, createdAt: new Date(r.createdAt) };
  return r.parent === undefined ? info : { ...info, parent: r.parent };
}

export async function writeRecord(root: string, r: SnapshotRecord): Promise<void> {
  const json = { id: r.id, key: r.key, kind: r.kind, parent: r.parent, labels: r.labels, createdAt: r.createdAt.toISOString() };
  await writeJsonAtomic(join(snapshotDir(root, r.id), RECORD_FILE), json);
}

export async function deleteRecord(root: string, id: number): Promise<void> {
  await sys().unlinkSynced(join(snapshotDir(root, id), RECORD_FILE));
}

/** Reads the record of snapshot `id`: undefined when it has none (half-created or half-removed). */
export async function readRecord(root: string, id: number): Promise<SnapshotRecord | undefined> {
  const path = join(snapshotDir(root, id), RECORD_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
  const fail = (why: string): never => {
    throw wharfError("data-corrupt", `read snapshot record ${path}: ${why}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  if (typeof json !== "object" || json === null) return fail("not an object");
  const o = json as Record<string, unknown>;
  if (o["id"] !== id) fail(`id ${JSON.stringify(o["id"])} does not match its directory`);
  if (typeof o["key"] !== "string" || o["key"] === "") fail("missing key");
  if (!KINDS.includes(o["kind"] as SnapshotKind)) fail(`unknown kind ${JSON.stringify(o["kind"])}`);
  if (o["parent"] !== undefined && typeof o["parent"] !== "string") fail("parent is not a string");
  const labels = o["labels"] ?? {};
  if (typeof labels !== "object" || labels === null || Object.values(labels).some((v) => typeof v !== "string")) fail("labels are not strings");
  const createdAt = new Date(String(o["createdAt"]));
  if (Number.isNaN(createdAt.getTime())) fail("bad createdAt");
  const record = { id, key: o["key"] as string, kind: o["kind"] as SnapshotKind, labels: labels as Record<string, string>, createdAt };
  return typeof o["parent"] === "string" ? { ...record, parent: o["parent"] } : record;
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errnoCode } from "./errors.js";
import { writeFileAtomic, writeJsonAtomic } from "./atomic.js";

async function scratch(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-atomic-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("an atomic write creates the file with its mode, then replaces it whole, and leaves no temp file", async (t) => {
  const dir = await scratch(t);
  const path = join(dir, "record.json");
  await writeFileAtomic(path, "first", { mode: 0o600 });
  assert.equal(await readFile(path, "utf8"), "first");
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  await writeJsonAtomic(path, { second: true }, { replaces: true });
  assert.deepEqual(JSON.parse(await readFile(path, "utf8")), { second: true });
  await writeFileAtomic(path, new Uint8Array([104, 105]), { durable: false });
  assert.equal(await readFile(path, "utf8"), "hi");
  // A view into a larger buffer writes only its own bytes.
  const big = Buffer.from("xxhello-worldxx");
  await writeFileAtomic(path, big.subarray(2, 13));
  assert.equal(await readFile(path, "utf8"), "hello-world");
  assert.deepEqual(await readdir(dir), ["record.json"]);
});

test("an atomic write makes missing directories only when asked", async (t) => {
  const dir = await scratch(t);
  const path = join(dir, "a", "b", "c.json");
  await assert.rejects(writeFileAtomic(path, "x"), (e: unknown) => errnoCode(e) === "ENOENT");
  await writeFileAtomic(path, "x", { mkdir: true });
  assert.equal(await readFile(path, "utf8"), "x");
});

test("a failed atomic write keeps the old file and removes its temp file", async (t) => {
  const dir = await scratch(t);
  // The target is a non-empty directory: the rename fails after the data was written.
  const target = join(dir, "taken");
  await mkdir(join(target, "inside"), { recursive: true });
  await assert.rejects(writeFileAtomic(target, "data"), (e: unknown) => ["EISDIR", "ENOTEMPTY", "EEXIST"].includes(errnoCode(e) ?? "") && (e as Error).message.includes("rename"));
  assert.deepEqual((await readdir(dir)).sort(), ["taken"]);
  assert.deepEqual(await readdir(target), ["inside"]);
});

test("many atomic writes of one file at once all land, and the file holds one of them whole", async (t) => {
  const dir = await scratch(t);
  const path = join(dir, "f");
  const bodies = Array.from({ length: 32 }, (_, i) => String(i).repeat(1000 + i));
  await Promise.all(bodies.map((b) => writeFileAtomic(path, b, { replaces: true })));
  assert.ok(bodies.includes(await readFile(path, "utf8")));
  assert.deepEqual(await readdir(dir), ["f"]);
});

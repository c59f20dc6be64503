// Crash consistency of the image store: wharfd is killed with SIGKILL in the
// middle of an import and of a load, at several points of the stream, and
// started again on the same data root. Every start must repair the store: no
// image that refers to missing content, no leftover ingests or half-unpacked
// snapshots, the images that were complete before still whole, and the same
// operation succeeding afterwards.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeTar, type TarInput } from "../src/archive/index.js";
import { projectRoot, startWharfd, type Daemon } from "./support/daemons.js";

const busyboxTar = () => execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });

/** A rootfs tar of about 24 MB: many files, so a kill lands mid-layer. */
async function bigRootfs(): Promise<Buffer> {
  const chunk = randomBytes(64 * 1024);
  async function* entries(): AsyncGenerator<TarInput> {
    yield { header: { name: "data/", type: "directory" } };
    for (let i = 0; i < 384; i++) yield { header: { name: `data/f${i}`, type: "file", size: chunk.length }, body: chunk };
  }
  const parts: Buffer[] = [];
  for await (const b of encodeTar(entries())) parts.push(b);
  return Buffer.concat(parts);
}

/** POSTs `body` in slices and kills the daemon once `killAfter` bytes were sent; the request's failure is expected. */
async function postThenKill(d: Daemon, path: string, body: Buffer, killAfter: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = request({ socketPath: d.socket, path, method: "POST", headers: { "Content-Type": "application/x-tar", "Transfer-Encoding": "chunked" } });
    req.on("error", () => resolve());
    req.on("response", (res) => {
      res.resume();
      res.on("close", () => resolve());
    });
    const slice = 256 * 1024;
    let sent = 0;
    const pump = async () => {
      while (sent < body.length) {
        if (sent >= killAfter) break;
        const part = body.subarray(sent, Math.min(sent + slice, body.length));
        sent += part.length;
        if (!req.write(part)) await new Promise((r) => req.once("drain", r));
        await sleep(2);
      }
      // Give the daemon a moment to work on what it received, then kill it mid-operation.
      await sleep(20);
      process.kill(d.pid, "SIGKILL");
    };
    pump().catch(() => resolve());
  });
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(d.pid, 0);
    } catch {
      return;
    }
    await sleep(10);
  }
  throw new Error(`wharfd ${d.pid} did not die`);
}

async function ingestsLeft(root: string): Promise<string[]> {
  return readdir(join(root, "data", "content", "ingest")).catch(() => []);
}

/** The keys of every snapshot on disk, from their records. */
async function snapshotKeys(root: string): Promise<string[]> {
  const dir = join(root, "data", "snapshots");
  const keys: string[] = [];
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    const record = await readFile(join(dir, id, "snapshot.json"), "utf8").catch(() => undefined);
    if (record !== undefined) keys.push(String((JSON.parse(record) as { key?: unknown }).key));
  }
  return keys;
}

/** One Engine API call; the answer's body parsed as JSON (or the last JSON line of a stream). */
function api(d: Daemon, method: string, path: string, body?: Buffer): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, path, method, headers: body ? { "Content-Type": "application/x-tar" } : {} }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString();
        if ((res.statusCode ?? 500) >= 300) return reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        const lines = text.trim().split("\n");
        const last = lines[lines.length - 1] ?? "";
        try {
          const parsed = last ? (JSON.parse(lines.length > 1 ? last : text) as unknown) : undefined;
          if (parsed && typeof parsed === "object" && "error" in parsed) return reject(new Error(`${method} ${path}: ${JSON.stringify(parsed)}`));
          resolve(parsed);
        } catch {
          resolve(text);
        }
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Every image answers inspect and history, and saves completely: nothing it refers to is missing. */
async function assertWhole(d: Daemon, work: string): Promise<string[]> {
  const images = (await api(d, "GET", "/images/json")) as { Id: string; RepoTags: string[] | null }[];
  for (const image of images) {
    await api(d, "GET", `/images/${image.Id}/json`);
    await api(d, "GET", `/images/${image.Id}/history`);
    const out = join(work, `${image.Id.slice(7, 19)}.tar`);
    execFileSync(join(projectRoot, "bin", "wharf"), ["-H", d.host, "save", "-o", out, image.Id]);
    await rm(out);
  }
  return images.flatMap((i) => i.RepoTags ?? []).sort();
}

describe("wharfd killed mid-operation", () => {
  let root: string;
  let work: string;
  let big: Buffer;
  let archive: string;
  let daemon: Daemon | undefined;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-crash-"));
    work = await mkdtemp(join(tmpdir(), "wharf-crash-work-"));
    big = await bigRootfs();
    daemon = await startWharfd({ root });
    await api(daemon, "POST", "/images/create?fromSrc=-&repo=base&tag=1", busyboxTar());
    archive = join(work, "big.tar");
    await api(daemon, "POST", "/images/create?fromSrc=-&repo=big&tag=1", big);
    execFileSync(join(projectRoot, "bin", "wharf"), ["-H", daemon.host, "save", "-o", archive, "big:1"]);
    await api(daemon, "DELETE", "/images/big:1");
  });
  after(async () => {
    await daemon?.stop();
    await rm(root, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  for (const [what, path, fraction] of [
    ["import", "/images/create?fromSrc=-&repo=partial&tag=1", 0.1],
    ["import", "/images/create?fromSrc=-&repo=partial&tag=1", 0.6],
    ["import", "/images/create?fromSrc=-&repo=partial&tag=1", 1],
    ["load", "/images/load?quiet=1", 0.3],
    ["load", "/images/load?quiet=1", 0.9],
    ["load", "/images/load?quiet=1", 1],
  ] as const) {
    test(`a kill during ${what} after ${fraction * 100}% of the stream leaves a store the next start repairs`, async () => {
      const body = what === "import" ? big : execFileSync("cat", [archive], { maxBuffer: 1 << 27 });
      await postThenKill(daemon!, path, body, Math.floor(body.length * fraction));
      await daemon!.stop();
      daemon = await startWharfd({ root });
      const names = await assertWhole(daemon, work);
      assert.ok(names.includes("base:1"), `base:1 survived: ${names.join(", ")}`);
      assert.deepEqual(await ingestsLeft(root), []);
      for (const key of await snapshotKeys(root)) assert.doesNotMatch(key, /^extract-/, "no half-unpacked snapshot is left");
      // The interrupted operation now completes.
      await api(daemon, "POST", path, body);
      const name = what === "import" ? "partial:1" : "big:1";
      assert.ok((await assertWhole(daemon, work)).includes(name));
      await api(daemon, "DELETE", `/images/${name}`);
    });
  }
});

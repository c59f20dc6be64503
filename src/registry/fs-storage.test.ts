import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { link, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestHex, digestOf } from "../oci/index.js";
import { errnoCode, nullLogger } from "../internal/index.js";
import { FsRepositoryIndex } from "./fs-storage.js";
import { parseRepositoryName } from "./names.js";

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "wharf-repos-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}

const app = parseRepositoryName("team/app");
const web = parseRepositoryName("web");
const layerPath = (root: string, repo: string, digest: string) => join(root, ...repo.split("/"), "_layers", "sha256", digestHex(digest as never));

describe("filesystem repository index", () => {
  it("links blobs into repositories as hard links of one empty file", async (t) => {
    const root = await tempRoot(t);
    const index = new FsRepositoryIndex(root, nullLogger);
    const a = digestOf("a");
    const b = digestOf("b");
    await index.linkBlob(app, a);
    await index.linkBlob(app, b);
    await index.linkBlob(web, a);
    await index.linkBlob(web, a);
    const anchor = await stat(join(root, "_link"));
    assert.equal(anchor.size, 0);
    for (const [repo, d] of [[app, a], [app, b], [web, a]] as const) assert.equal((await stat(layerPath(root, repo, d))).ino, anchor.ino);
    assert.equal(anchor.nlink, 4);

    // Another index over the same root (a restart) sees the same links; the anchor is no repository.
    const again = new FsRepositoryIndex(root, nullLogger);
    assert.deepEqual(await again.repositories(), [app, web]);
    assert.equal(await again.hasBlob(app, b), true);
    assert.deepEqual((await again.blobs(app)).sort(), [a, b].sort());
    assert.equal(await again.unlinkBlob(app, a), true);
    assert.equal(await again.hasBlob(app, a), false);
    assert.equal(await again.hasBlob(web, a), true);
    // A lost anchor is made again.
    await rm(join(root, "_link"));
    await again.linkBlob(app, a);
    assert.equal(await again.hasBlob(app, a), true);
  });

  it("makes its root at the first link when it is missing", async (t) => {
    const root = join(await tempRoot(t), "not", "yet");
    const index = new FsRepositoryIndex(root, nullLogger);
    await index.linkBlob(app, digestOf("first"));
    assert.equal(await new FsRepositoryIndex(root, nullLogger).hasBlob(app, digestOf("first")), true);
  });

  it("takes a new anchor when one has as many links as the file system allows", async (t) => {
    const root = await tempRoot(t);
    const anchor = join(root, "_link");
    await writeFile(anchor, "");
    const fill = join(root, "fill");
    await mkdir(fill);
    // ext4 allows 65,000 links to a file; a file system without such a limit has nothing to test here.
    let full = false;
    for (let base = 0; base < 70_000 && !full; base += 1000) {
      const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => link(anchor, join(fill, String(base + i)))));
      for (const r of results) {
        if (r.status === "fulfilled") continue;
        if (errnoCode(r.reason) !== "EMLINK") throw r.reason;
        full = true;
      }
    }
    if (!full) {
      t.skip("this file system does not limit links to a file");
      return;
    }
    const index = new FsRepositoryIndex(root, nullLogger);
    const d = digestOf("one more");
    await index.linkBlob(app, d);
    const next = await stat(join(root, "_link.1"));
    assert.equal((await stat(layerPath(root, app, d))).ino, next.ino);
    await index.linkBlob(web, d);
    assert.equal((await stat(layerPath(root, web, d))).ino, next.ino);
  });
});

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { request } from "node:http";
import { Filters, Query } from "../query.js";
import { call, startTestServer, type TestServer } from "../testing.js";
import { parseListQuery, parsePruneQuery } from "./images.js";

describe("image route queries", () => {
  test("a list query takes the filters dockerd's list takes", () => {
    const q = new Query(`all=1&filters=${encodeURIComponent('{"dangling":{"false":true},"reference":["busybox"],"label":["a=1"],"before":["x:1"]}')}`);
    assert.deepEqual(parseListQuery(q, "1.41"), { all: true, filters: { reference: ["busybox"], dangling: false, label: ["a=1"], before: "x:1" } });
    assert.throws(() => parseListQuery(new Query(`filters=${encodeURIComponent('{"until":["1h"]}')}`), "1.41"), /Invalid filter 'until'/);
  });

  test("a bare filter= parameter is a reference filter before API 1.41 only", () => {
    assert.deepEqual(parseListQuery(new Query("filter=busybox"), "1.40").filters, { reference: ["busybox"] });
    assert.deepEqual(parseListQuery(new Query("filter=busybox"), "1.41").filters, {});
  });

  test("a prune query defaults to dangling images and reads until", () => {
    const now = Date.parse("2024-06-01T00:00:00Z");
    assert.deepEqual(parsePruneQuery(Filters.empty, now), { danglingOnly: true, labels: [], notLabels: [], until: undefined });
    assert.deepEqual(parsePruneQuery(Filters.of({ dangling: ["0"], "label!": ["keep"], until: ["1h"] }), now), { danglingOnly: false, labels: [], notLabels: ["keep"], until: now - 3_600_000 });
    assert.throws(() => parsePruneQuery(Filters.of({ reference: ["x"] }), now), /Invalid filter 'reference'/);
  });
});

describe("the image routes", () => {
  let t: TestServer;
  beforeEach(async () => {
    await t?.close();
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  test("GET /images/json lists images with dockerd's members and nulls", async () => {
    const bb = t.images.add({ tags: ["busybox:latest", "busybox:1.36"], digests: [`busybox@sha256:${"d".repeat(64)}`], labels: { team: "tools" }, layers: [1000, 234] });
    const dangling = t.images.add({ seed: "dangling", created: "2024-04-01T00:00:00Z" });
    const a = await call(t.socket, "GET", "/v1.41/images/json");
    assert.equal(a.status, 200);
    assert.equal(a.headers["content-type"], "application/json");
    const list = a.json<Record<string, unknown>[]>();
    assert.deepEqual(list.find((i) => i["Id"] === bb.id), {
      Containers: -1,
      Created: Math.floor(Date.parse("2024-05-01T10:00:00.123Z") / 1000),
      Id: bb.id,
      Labels: { team: "tools" },
      ParentId: "",
      RepoDigests: [`busybox@sha256:${"d".repeat(64)}`],
      RepoTags: ["busybox:latest", "busybox:1.36"],
      SharedSize: -1,
      Size: 1234,
      VirtualSize: 1234,
    });
    const none = list.find((i) => i["Id"] === dangling.id)!;
    assert.deepEqual([none["RepoTags"], none["RepoDigests"], none["Labels"]], [["<none>:<none>"], ["<none>@<none>"], null]);
  });

  test("GET /images/json applies filters sent in either JSON shape", async () => {
    const bb = t.images.add({ tags: ["busybox:latest"] });
    const dangling = t.images.add({ seed: "d" });
    for (const filters of ['{"dangling":["true"]}', '{"dangling":{"true":true}}']) {
      const ids = (await call(t.socket, "GET", `/images/json?filters=${encodeURIComponent(filters)}`)).json<{ Id: string }[]>().map((i) => i.Id);
      assert.deepEqual(ids, [dangling.id], filters);
    }
    for (const filters of ['{"reference":["busybox"]}', '{"reference":{"busybox":true}}']) {
      const ids = (await call(t.socket, "GET", `/images/json?filters=${encodeURIComponent(filters)}`)).json<{ Id: string }[]>().map((i) => i.Id);
      assert.deepEqual(ids, [bb.id], filters);
    }
  });

  test("GET /images/json refuses unknown and malformed filters with 400", async () => {
    const unknown = await call(t.socket, "GET", `/images/json?filters=${encodeURIComponent('{"foo":["x"]}')}`);
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.json(), { message: "Invalid filter 'foo'" });
    const bad = await call(t.socket, "GET", `/images/json?filters=${encodeURIComponent('{"dangling":["maybe"]}')}`);
    assert.deepEqual([bad.status, bad.json()], [400, { message: "Invalid filter 'dangling=[maybe]'" }]);
    assert.equal((await call(t.socket, "GET", "/images/json?filters=%7Bbad")).status, 400);
  });

  test("GET /images/{name}/json inspects names with registry ports and paths", async () => {
    const img = t.images.add({ tags: ["localhost:5000/tools/app:1.0"], digests: [`localhost:5000/tools/app@sha256:${"e".repeat(64)}`], cmd: ["app", "--serve"], layers: [10, 20] });
    const a = await call(t.socket, "GET", "/v1.41/images/localhost:5000/tools/app:1.0/json");
    assert.equal(a.status, 200);
    const inspect = a.json<Record<string, unknown>>();
    assert.deepEqual(Object.keys(inspect), ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os", "Size", "VirtualSize", "GraphDriver", "RootFS", "Metadata"]);
    assert.equal(inspect["Id"], img.id);
    assert.deepEqual(inspect["RepoTags"], ["localhost:5000/tools/app:1.0"]);
    assert.deepEqual(inspect["RepoDigests"], [`localhost:5000/tools/app@sha256:${"e".repeat(64)}`]);
    assert.equal(inspect["Created"], "2024-05-01T10:00:00.123456789Z");
    assert.deepEqual(inspect["Config"], {
      Hostname: "", Domainname: "", User: "", AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false, OpenStdin: false, StdinOnce: false,
      Env: ["PATH=/bin"], Cmd: ["app", "--serve"], Image: "", Volumes: null, WorkingDir: "", Entrypoint: null, OnBuild: null, Labels: null,
    });
    assert.deepEqual((inspect["ContainerConfig"] as Record<string, unknown>)["Cmd"], null);
    assert.deepEqual(inspect["GraphDriver"], { Data: null, Name: "overlayfs" });
    assert.deepEqual(inspect["RootFS"], { Type: "layers", Layers: img.config.rootfs.diff_ids });
    assert.equal(inspect["Size"], 30);
    // Escaped the way Go clients escape path segments, too.
    assert.equal((await call(t.socket, "GET", "/v1.41/images/localhost%3A5000%2Ftools%2Fapp%3A1.0/json")).status, 200);
    // By short id and by digest reference.
    assert.equal((await call(t.socket, "GET", `/images/${img.id.slice(7, 19)}/json`)).json<{ Id: string }>().Id, img.id);
    assert.equal((await call(t.socket, "GET", `/images/localhost:5000/tools/app@sha256:${"e".repeat(64)}/json`)).status, 200);
  });

  test("an untagged image inspects with empty lists and an image without config with Config null", async () => {
    const img = t.images.add({ seed: "bare", noConfig: true });
    const inspect = (await call(t.socket, "GET", `/images/${img.id}/json`)).json<Record<string, unknown>>();
    assert.deepEqual([inspect["RepoTags"], inspect["RepoDigests"], inspect["Config"]], [[], [], null]);
    assert.deepEqual(inspect["Metadata"], { LastTagTime: "0001-01-01T00:00:00Z" });
  });

  test("a missing image is 404 with docker's message", async () => {
    for (const [method, path] of [["GET", "/images/nope/json"], ["GET", "/images/nope/history"], ["DELETE", "/images/nope"], ["POST", "/images/nope/tag?repo=x"], ["GET", "/images/nope/get"], ["GET", "/images/get?names=nope"]] as const) {
      const a = await call(t.socket, method, `/v1.41${path}`);
      assert.equal(a.status, 404, `${method} ${path}`);
      assert.deepEqual(a.json(), { message: "No such image: nope" });
    }
  });

  test("GET /images/{name}/history lists layers newest first", async () => {
    const img = t.images.add({ tags: ["busybox:latest"], layers: [5, 7] });
    const a = await call(t.socket, "GET", "/images/busybox/history");
    assert.equal(a.status, 200);
    const created = Math.floor(Date.parse("2024-05-01T10:00:00Z") / 1000);
    assert.deepEqual(a.json(), [
      { Comment: "", Created: created, CreatedBy: "/bin/sh -c #(nop) ADD file:x in / ", Id: img.id, Size: 7, Tags: ["busybox:latest"] },
      { Comment: "", Created: created, CreatedBy: "/bin/sh -c #(nop) ADD file:x in / ", Id: "<missing>", Size: 5, Tags: null },
    ]);
  });

  test("POST /images/{name}/tag answers 201 and the new name resolves", async () => {
    const img = t.images.add({ tags: ["busybox:latest"] });
    const a = await call(t.socket, "POST", "/v1.41/images/busybox/tag?repo=localhost:5000/a/b&tag=2");
    assert.equal(a.status, 201);
    assert.equal(a.body.length, 0);
    assert.equal((await call(t.socket, "GET", "/images/localhost:5000/a/b:2/json")).json<{ Id: string }>().Id, img.id);
    const invalid = await call(t.socket, "POST", "/images/busybox/tag?repo=Bad&tag=2");
    assert.equal(invalid.status, 400);
    assert.match(invalid.json<{ message: string }>().message, /must be lowercase/);
    assert.equal((await call(t.socket, "POST", "/images/busybox/tag")).status, 400);
  });

  test("DELETE /images/{name} untags, deletes, and refuses with 409 without force", async () => {
    const img = t.images.add({ tags: ["busybox:latest", "busybox:1.36"] });
    const conflict = await call(t.socket, "DELETE", `/images/${img.id.slice(7, 19)}`);
    assert.equal(conflict.status, 409);
    assert.deepEqual(conflict.json(), { message: `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories` });
    const untag = await call(t.socket, "DELETE", "/v1.41/images/busybox:1.36");
    assert.deepEqual([untag.status, untag.json()], [200, [{ Untagged: "busybox:1.36" }]]);
    const last = await call(t.socket, "DELETE", "/v1.41/images/busybox?force=False&noprune=0");
    assert.deepEqual(last.json(), [{ Untagged: "busybox:latest" }, { Deleted: img.id }]);
    const two = t.images.add({ tags: ["a:1", "b:1"], seed: "two" });
    const forced = await call(t.socket, "DELETE", `/images/${two.id}?force=1`);
    assert.deepEqual(forced.json(), [{ Untagged: "a:1" }, { Untagged: "b:1" }, { Deleted: two.id }]);
  });

  test("GET /images/get and /images/{name}/get stream a tar archive", async () => {
    t.images.add({ tags: ["busybox:latest"] });
    t.images.add({ tags: ["localhost:5000/a/b:1"], seed: "b" });
    t.images.saveBytes = 300_000;
    const many = await call(t.socket, "GET", "/v1.22/images/get?names=busybox&names=localhost:5000/a/b:1");
    assert.equal(many.status, 200);
    assert.equal(many.headers["content-type"], "application/x-tar");
    assert.equal(many.body.length, 300_000);
    t.images.savedBytes = 0;
    const one = await call(t.socket, "GET", "/images/localhost:5000/a/b:1/get");
    assert.equal(one.body.length, 300_000);
    assert.equal((await call(t.socket, "GET", "/images/get?names=busybox&format=zip")).status, 400);
    assert.equal((await call(t.socket, "GET", "/images/get")).status, 400);
  });

  test("POST /images/load answers a JSON stream of loaded names and ids", async () => {
    const a = await call(t.socket, "POST", "/v1.22/images/load?quiet=1", { body: Buffer.from("archive bytes"), headers: { "Content-Type": "application/x-tar" } });
    assert.equal(a.status, 200);
    assert.equal(a.headers["content-type"], "application/json");
    const lines = a.text().split("\r\n").filter(Boolean).map((l) => JSON.parse(l) as { stream: string });
    assert.equal(lines[0]!.stream, "Loaded image: loaded:latest\n");
    assert.match(lines[1]!.stream, /^Loaded image ID: sha256:[a-f0-9]{64}\n$/);
    assert.equal(t.images.loadedBytes, "archive bytes".length);
  });

  test("POST /images/load answers a failure before the stream began with its status", async () => {
    const a = await call(t.socket, "POST", "/images/load", { body: Buffer.from("bad archive") });
    assert.deepEqual([a.status, a.json()], [400, { message: "load: not an image archive" }]);
  });

  test("POST /images/create?fromSrc=- imports the body with repo, tag, changes and message", async () => {
    const body = Buffer.alloc(5000, 1);
    const a = await call(t.socket, "POST", `/v1.41/images/create?fromSrc=-&repo=wharf/hello&tag=1&message=hi&changes=${encodeURIComponent('CMD ["sh"]')}&changes=${encodeURIComponent("ENV A=1")}&platform=linux/amd64`, { body });
    assert.equal(a.status, 200);
    const line = JSON.parse(a.text().trim()) as { status: string };
    assert.match(line.status, /^sha256:[a-f0-9]{64}$/);
    assert.deepEqual(t.images.imports[0], { bytes: 5000, options: { reference: "wharf/hello:1", changes: ['CMD ["sh"]', "ENV A=1"], message: "hi", platform: "linux/amd64", signal: t.images.imports[0]!.options.signal } });
    assert.equal((await call(t.socket, "GET", "/images/wharf/hello:1/json")).json<{ Id: string }>().Id, line.status);
    const bad = await call(t.socket, "POST", "/images/create?fromSrc=-", { body: Buffer.from("bad tar") });
    assert.deepEqual([bad.status, bad.json()], [400, { message: "import: not a tar archive" }]);
  });

  test("POST /images/create refuses pull, push and URL import as not implemented", async () => {
    const pull = await call(t.socket, "POST", "/images/create?fromImage=busybox&tag=latest");
    assert.equal(pull.status, 501);
    assert.match(pull.json<{ message: string }>().message, /^pull is not available yet/);
    const url = await call(t.socket, "POST", "/images/create?fromSrc=http://example.com/rootfs.tar");
    assert.equal(url.status, 501);
    assert.match(url.json<{ message: string }>().message, /^import from a URL is not available yet/);
    assert.equal((await call(t.socket, "POST", "/images/create")).status, 400);
    const push = await call(t.socket, "POST", "/images/localhost:5000/a/b/push?tag=1", { headers: { "X-Registry-Auth": "e30=" } });
    assert.deepEqual([push.status, push.json()], [501, { message: 'push is not available yet: cannot push "localhost:5000/a/b"' }]);
  });

  test("POST /images/prune removes dangling images, takes both filter shapes, and says null when nothing went", async () => {
    const keep = t.images.add({ tags: ["keep:1"] });
    const gone = t.images.add({ seed: "dangling", layers: [40] });
    const a = await call(t.socket, "POST", `/v1.41/images/prune?filters=${encodeURIComponent('{"dangling":{"true":true}}')}`);
    assert.equal(a.status, 200);
    assert.deepEqual(a.json(), { ImagesDeleted: [{ Deleted: gone.id }], SpaceReclaimed: 40 });
    const again = await call(t.socket, "POST", `/images/prune?filters=${encodeURIComponent('{"dangling":["true"]}')}`);
    assert.deepEqual(again.json(), { ImagesDeleted: null, SpaceReclaimed: 0 });
    assert.equal((await call(t.socket, "GET", `/images/${keep.id}/json`)).status, 200);
    assert.equal((await call(t.socket, "POST", `/images/prune?filters=${encodeURIComponent('{"bogus":["1"]}')}`)).status, 400);
  });

  test("POST /images/prune with until and label! keeps newer and excluded images", async () => {
    const old = t.images.add({ tags: ["old:1"], created: "2020-01-01T00:00:00Z", seed: "old" });
    const oldKept = t.images.add({ tags: ["old:2"], created: "2020-01-01T00:00:00Z", seed: "kept", labels: { keep: "yes" } });
    const recent = t.images.add({ tags: ["new:1"], created: new Date().toISOString(), seed: "new" });
    const filters = encodeURIComponent(JSON.stringify({ dangling: ["false"], until: ["24h"], "label!": ["keep"] }));
    const a = await call(t.socket, "POST", `/images/prune?filters=${filters}`);
    assert.deepEqual(a.json(), { ImagesDeleted: [{ Untagged: "old:1" }, { Deleted: old.id }], SpaceReclaimed: 0 });
    for (const img of [oldKept, recent]) assert.equal((await call(t.socket, "GET", `/images/${img.id}/json`)).status, 200);
  });

  test("GET /system/df reports layers and images", async () => {
    const img = t.images.add({ tags: ["busybox:latest"], layers: [300] });
    const df = (await call(t.socket, "GET", "/v1.41/system/df")).json<Record<string, unknown>>();
    assert.equal(df["LayersSize"], 300);
    assert.deepEqual(df["Containers"], []);
    assert.deepEqual(df["Volumes"], []);
    const images = df["Images"] as Record<string, unknown>[];
    assert.equal(images[0]!["Id"], img.id);
    assert.equal(images[0]!["SharedSize"], 0);
    assert.equal(images[0]!["Containers"], 0);
  });
});

describe("streaming through the image routes", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  const MiB = 1024 * 1024;

  test("200 MB pass through load without being buffered", async () => {
    const total = 200 * MiB;
    const chunk = Buffer.alloc(256 * 1024, 7);
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    // The service reads nothing for a while: a server that buffered would let the client send everything meanwhile.
    t.images.loadDelayMs = 300;
    t.images.loadedBytes = 0;
    let producedWhileWaiting = -1;
    setTimeout(() => (producedWhileWaiting = produced), 250);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 10);
    const base = process.memoryUsage().arrayBuffers;
    try {
      const a = await call(t.socket, "POST", "/images/load", { body, headers: { "Content-Type": "application/x-tar" } });
      assert.equal(a.status, 200);
      assert.match(a.text(), /Loaded image: loaded:latest/);
    } finally {
      clearInterval(sampler);
      t.images.loadDelayMs = 0;
    }
    assert.equal(t.images.loadedBytes, total);
    assert.ok(producedWhileWaiting >= 0 && producedWhileWaiting < 32 * MiB, `client ran ${producedWhileWaiting} bytes ahead of a service that was not reading`);
    assert.ok(peak - base < 64 * MiB, `buffers grew by ${peak - base} bytes`);
  });

  test("save is read only as fast as the client takes it", async () => {
    t.images.add({ tags: ["big:1"] });
    t.images.saveBytes = 200 * MiB;
    t.images.savedBytes = 0;
    let received = 0;
    let producedWhilePaused = -1;
    await new Promise<void>((resolve, reject) => {
      const req = request({ socketPath: t.socket, path: "/images/big:1/get" }, (res) => {
        assert.equal(res.statusCode, 200);
        res.pause();
        setTimeout(() => {
          producedWhilePaused = t.images.savedBytes;
          res.on("data", (c: Buffer) => (received += c.length));
          res.on("end", resolve);
          res.resume();
        }, 300);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(received, 200 * MiB);
    assert.ok(producedWhilePaused < 32 * MiB, `the archive ran ${producedWhilePaused} bytes ahead of a paused client`);
  });

  test("a client that goes away mid-save stops the archive", async () => {
    t.images.saveBytes = 500 * MiB;
    t.images.savedBytes = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request({ socketPath: t.socket, path: "/images/big:1/get" }, (res) => {
        let got = 0;
        res.on("data", (c: Buffer) => {
          got += c.length;
          if (got > 4 * MiB) req.destroy();
        });
        res.on("close", resolve);
      });
      req.on("error", () => resolve());
      req.end();
    });
    await new Promise((r) => setTimeout(r, 200));
    const after = t.images.savedBytes;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(t.images.savedBytes, after, "nothing is produced once the client is gone");
    assert.ok(after < 64 * MiB);
    // The server is still fine.
    assert.equal((await call(t.socket, "GET", "/_ping")).status, 200);
  });
});

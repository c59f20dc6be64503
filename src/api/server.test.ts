import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Agent } from "node:http";
import { connect } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jsonLogger, WharfError, type ErrorKind } from "../internal/index.js";
import { respondWithJsonStream } from "./respond.js";
import { ApiServer, checkVersion, compareVersions, parseTarget } from "./server.js";
import { Filters, parseBool, Query } from "./query.js";
import { httpError, statusOfKind } from "./status.js";
import { parseGoDuration, parseTimestamp } from "./timestamp.js";
import { Router } from "./router.js";
import { call, startTestServer, type TestServer } from "./testing.js";

describe("the error → status map", () => {
  test("maps every kind to dockerd's status", () => {
    const expected: Record<ErrorKind, number> = {
      "invalid-argument": 400,
      unauthorized: 401,
      forbidden: 403,
      "not-found": 404,
      conflict: 409,
      precondition: 409,
      "not-implemented": 501,
      unavailable: 503,
      "no-space": 500,
      cancelled: 500,
      "data-corrupt": 500,
      internal: 500,
    };
    for (const [kind, status] of Object.entries(expected)) assert.equal(statusOfKind(kind as ErrorKind), status, kind);
  });

  test("puts the whole cause chain on one line and treats foreign errors as internal", () => {
    const e = new WharfError("not-found", "load busybox", { cause: new Error("open blob: ENOENT") });
    assert.deepEqual(httpError(e), { status: 404, kind: "not-found", body: { message: "load busybox: open blob: ENOENT" } });
    assert.deepEqual(httpError(new TypeError("x is undefined")), { status: 500, kind: "internal", body: { message: "x is undefined" } });
  });
});

describe("query parameters", () => {
  test("read docker's booleans the way dockerd does", () => {
    for (const t of ["1", "true", "True", "yes", "anything"]) assert.equal(parseBool(t), true, t);
    for (const f of ["0", "false", "False", "", "no", "none", undefined]) assert.equal(parseBool(f), false, String(f));
    const q = new Query("force=1&noprune=False&v=false&all=");
    assert.deepEqual([q.bool("force"), q.bool("noprune"), q.bool("v"), q.bool("all"), q.bool("absent")], [true, false, false, false, false]);
  });

  test("keep every value of a repeated parameter", () => {
    assert.deepEqual(new Query("names=a&names=b%3A1&names=c").strings("names"), ["a", "b:1", "c"]);
  });

  test("refuse a malformed integer", () => {
    assert.equal(new Query("t=10").int("t"), 10);
    assert.throws(() => new Query("t=ten").int("t"), /not an integer/);
  });

  test("parse filters in both JSON shapes to the same values", () => {
    const lists = Filters.parse('{"dangling":["true"],"label":["a=1","b"]}');
    const maps = Filters.parse('{"dangling":{"true":true},"label":{"a=1":true,"b":true}}');
    for (const f of [lists, maps]) {
      assert.deepEqual(f.keys(), ["dangling", "label"]);
      assert.equal(f.bool("dangling"), true);
      assert.deepEqual(f.values("label"), ["a=1", "b"]);
    }
    assert.deepEqual(Filters.parse("").keys(), []);
    assert.deepEqual(Filters.parse("null").keys(), []);
  });

  test("refuse malformed filters and unknown keys with dockerd's words", () => {
    assert.throws(() => Filters.parse("{bad"), (e: unknown) => e instanceof WharfError && e.kind === "invalid-argument");
    assert.throws(() => Filters.parse('{"a":[1]}'), /must be strings/);
    assert.throws(() => Filters.parse('{"foo":["x"]}').validate(["dangling"]), /^WharfError: Invalid filter 'foo'$|Invalid filter 'foo'/);
    assert.throws(() => Filters.parse('{"dangling":["maybe"]}').bool("dangling"), /Invalid filter 'dangling=\[maybe\]'/);
  });

  test("read until as a Go duration, a date or epoch seconds", () => {
    const now = Date.parse("2024-06-01T12:00:00Z");
    assert.equal(parseGoDuration("1h30m"), 5_400_000);
    assert.equal(parseGoDuration("250ms"), 250);
    assert.equal(parseGoDuration("10"), undefined);
    assert.equal(parseTimestamp("24h", now), now - 86_400_000);
    assert.equal(parseTimestamp("2024-01-02T03:04:05Z", now), Date.parse("2024-01-02T03:04:05Z"));
    assert.equal(parseTimestamp("1700000000", now), 1_700_000_000_000);
    assert.equal(parseTimestamp("1700000000.5", now), 1_700_000_000_500);
    assert.throws(() => parseTimestamp("soon", now), /failed to parse value as time or duration: "soon"/);
  });
});

describe("paths and versions", () => {
  test("compare versions numerically", () => {
    assert.equal(compareVersions("1.9", "1.10"), -1);
    assert.equal(compareVersions("1.41", "1.41.0"), 0);
    assert.equal(compareVersions("1.41", "1.22"), 1);
  });

  test("split the version prefix from a decoded path", () => {
    assert.deepEqual(parseTarget("/v1.41/images/localhost%3A5000%2Fa/json?all=1")?.path, "/images/localhost:5000/a/json");
    assert.equal(parseTarget("/v1.41/images/json")?.version, "1.41");
    assert.equal(parseTarget("/images/json")?.version, undefined);
    assert.equal(parseTarget("/images/%zz"), undefined);
  });

  test("refuse versions outside 1.22 … 1.41 with dockerd's messages", () => {
    assert.doesNotThrow(() => checkVersion("1.22"));
    assert.doesNotThrow(() => checkVersion("1.41"));
    assert.throws(() => checkVersion("1.99"), { message: "client version 1.99 is too new. Maximum supported API version is 1.41" });
    assert.throws(() => checkVersion("1.12"), { message: "client version 1.12 is too old. Minimum supported API version is 1.22, please upgrade your client to a newer version" });
  });

  test("the router finds routes by their suffix when names carry slashes and colons", async () => {
    const router = new Router();
    const noop = async () => {};
    router.on("GET", "/images/json", noop).on("GET", "/images/{name*}/json", noop).on("DELETE", "/images/{name*}", noop).on("POST", "/containers/{id}/start", noop);
    assert.deepEqual(router.match("GET", "/images/json")?.params, {});
    assert.deepEqual(router.match("GET", "/images/localhost:5000/a/b:1/json")?.params, { name: "localhost:5000/a/b:1" });
    assert.deepEqual(router.match("DELETE", "/images/busybox@sha256:abc")?.params, { name: "busybox@sha256:abc" });
    assert.deepEqual(router.match("POST", "/containers/abc/start")?.params, { id: "abc" });
    assert.equal(router.match("POST", "/containers/a/b/start"), undefined);
    assert.equal(router.match("POST", "/images/json"), undefined);
  });
});

describe("the API server", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
  });

  const pingHeaders = (h: Record<string, unknown>) => {
    assert.equal(h["api-version"], "1.41");
    assert.equal(h["docker-experimental"], "false");
    assert.equal(h["ostype"], "linux");
    assert.equal(h["server"], "Docker/0.1.0 (linux)");
    assert.equal(h["cache-control"], "no-cache, no-store, must-revalidate");
    assert.equal(h["pragma"], "no-cache");
    assert.equal(h["content-type"], "text/plain; charset=utf-8");
    assert.equal(h["builder-version"], undefined);
  };

  test("GET /_ping answers OK with dockerd's headers", async () => {
    const a = await call(t.socket, "GET", "/_ping");
    assert.equal(a.status, 200);
    assert.equal(a.text(), "OK");
    pingHeaders(a.headers);
  });

  test("HEAD /_ping answers the same headers and no body", async () => {
    const a = await call(t.socket, "HEAD", "/_ping");
    assert.equal(a.status, 200);
    assert.equal(a.body.length, 0);
    assert.equal(a.headers["content-length"], "0");
    pingHeaders(a.headers);
  });

  test("serves every version prefix from 1.22 to 1.41 and unversioned paths", async () => {
    for (const prefix of ["", "/v1.22", "/v1.24", "/v1.30", "/v1.40", "/v1.41"]) {
      const a = await call(t.socket, "GET", `${prefix}/version`);
      assert.equal(a.status, 200, prefix);
      assert.equal(a.json<{ ApiVersion: string }>().ApiVersion, "1.41");
    }
  });

  test("refuses a version too new or too old with 400 and dockerd's message", async () => {
    const tooNew = await call(t.socket, "GET", "/v1.99/_ping");
    assert.equal(tooNew.status, 400);
    assert.equal(tooNew.headers["content-type"], "application/json");
    assert.deepEqual(tooNew.json(), { message: "client version 1.99 is too new. Maximum supported API version is 1.41" });
    const tooOld = await call(t.socket, "GET", "/v1.12/version");
    assert.equal(tooOld.status, 400);
    assert.deepEqual(tooOld.json(), { message: "client version 1.12 is too old. Minimum supported API version is 1.22, please upgrade your client to a newer version" });
  });

  test("answers 404 page not found for unknown paths and wrong methods, as dockerd", async () => {
    for (const [method, path] of [["GET", "/nope"], ["GET", "/v1.41/nope"], ["DELETE", "/_ping"], ["POST", "/images/json"], ["PUT", "/images/create"], ["GET", "/v1.41"]] as const) {
      const a = await call(t.socket, method, path);
      assert.equal(a.status, 404, `${method} ${path}`);
      assert.equal(a.text(), '{"message":"page not found"}\n');
    }
  });

  test("keeps one connection alive across many requests", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers = [];
      for (let i = 0; i < 60; i++) answers.push(await call(t.socket, i % 2 ? "GET" : "HEAD", i % 3 ? "/_ping" : "/v1.41/_ping", { agent }));
      assert.ok(answers.every((a) => a.status === 200));
      assert.ok(answers.slice(1).every((a) => a.reusedSocket), "every request after the first reuses the connection");
    } finally {
      agent.destroy();
    }
  });

  test("keeps a connection alive after an error answer", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal((await call(t.socket, "GET", "/images/nope/json", { agent })).status, 404);
      const a = await call(t.socket, "GET", "/_ping", { agent });
      assert.equal(a.status, 200);
      assert.ok(a.reusedSocket);
    } finally {
      agent.destroy();
    }
  });

  test("answers a bug in a service with 500 and logs it once with fields", async () => {
    t.images.failWith = new TypeError("cannot read properties of undefined");
    const before = t.logs.length;
    try {
      const a = await call(t.socket, "GET", "/images/json");
      assert.equal(a.status, 500);
      assert.deepEqual(a.json(), { message: "cannot read properties of undefined" });
    } finally {
      t.images.failWith = undefined;
    }
    const lines = t.logs.slice(before).filter((l) => l["level"] === "error");
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!["method"], "GET");
    assert.equal(lines[0]!["path"], "/images/json");
    assert.equal(lines[0]!["status"], 500);
  });

  test("refuses an upgrade request on a route that cannot be upgraded, on the raw socket", async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect({ path: t.socket }, () => s.write("POST /v1.41/_ping HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"));
      let text = "";
      s.on("data", (d) => (text += d.toString()));
      s.on("end", () => resolve(text));
      s.on("error", reject);
    });
    assert.match(raw, /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.match(raw, /\{"message":"page not found"\}/);
  });

  test("GET /version reports the engine, API 1.41 and minimum 1.22", async () => {
    const v = (await call(t.socket, "GET", "/v1.41/version")).json<Record<string, unknown>>();
    assert.equal(v["Version"], "0.1.0");
    assert.equal(v["ApiVersion"], "1.41");
    assert.equal(v["MinAPIVersion"], "1.22");
    assert.equal(v["Os"], "linux");
    assert.equal(v["Arch"], "amd64");
    assert.equal(v["KernelVersion"], "6.1.0-test");
    const components = v["Components"] as { Name: string; Version: string; Details: Record<string, string> }[];
    assert.equal(components[0]!.Name, "Engine");
    assert.equal(components[0]!.Version, "0.1.0");
    assert.equal(components[0]!.Details["ApiVersion"], "1.41");
  });

  test("GET /info counts images and reports the host and data root", async () => {
    t.images.add({ tags: ["info:1"], seed: "info" });
    const count = (await t.images.list()).length;
    const info = (await call(t.socket, "GET", "/v1.41/info")).json<Record<string, unknown>>();
    assert.equal(info["Images"], count);
    assert.equal(info["Driver"], "overlayfs");
    assert.equal(info["DockerRootDir"], "/var/lib/wharf-test");
    assert.equal(info["NCPU"], 4);
    assert.equal(info["MemTotal"], 8 * 1024 ** 3);
    assert.equal(info["OperatingSystem"], "Debian GNU/Linux 12 (bookworm)");
    assert.equal(info["CgroupVersion"], "2");
    assert.equal(info["ServerVersion"], "0.1.0");
    assert.equal(info["OSType"], "linux");
    assert.equal(info["Architecture"], "x86_64");
  });

  test("closing lets a request in flight finish, then refuses new connections", async () => {
    const own = await startTestServer();
    try {
      own.images.loadDelayMs = 200;
      const pending = call(own.socket, "POST", "/images/load", { body: Buffer.from("archive") });
      await new Promise((r) => setTimeout(r, 50));
      const closing = own.server.close(5000);
      const a = await pending;
      assert.equal(a.status, 200);
      assert.match(a.text(), /Loaded image: loaded:latest/);
      await closing;
      await assert.rejects(call(own.socket, "GET", "/_ping"));
    } finally {
      await own.close();
    }
  });
});

describe("the server's seams for later routes", () => {
  const router = new Router();
  router.on("POST", "/stream", async (ctx) => {
    await respondWithJsonStream(ctx, async (out) => {
      await out.write({ status: "Pulling fs layer", id: "abc" });
      throw new WharfError("unavailable", "registry unreachable");
    });
  });
  router.on("POST", "/early", async (ctx) => {
    await respondWithJsonStream(ctx, async () => {
      throw new WharfError("not-found", "nothing to stream");
    });
  });
  router.add({
    method: "POST",
    pattern: "/echo/{id}/attach",
    handler: async () => {
      throw new WharfError("invalid-argument", "attach needs an upgrade");
    },
    upgrade: async (ctx) => {
      ctx.socket.write("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
      ctx.socket.write(`id=${ctx.params["id"]};`);
      // Bytes that came with the request head belong to the stream.
      if (ctx.head.length > 0) ctx.socket.write(ctx.head);
      ctx.socket.on("data", (d: Buffer) => ctx.socket.write(d));
      // The client half-closes after sending; the server still answers, then closes.
      ctx.socket.on("end", () => ctx.socket.end("bye"));
    },
  });
  let socket: string;
  let server: ApiServer;
  let dir: string;
  const logs: string[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "wharf-seams-"));
    socket = join(dir, "s.sock");
    server = new ApiServer({ router, logger: jsonLogger({ write: (l) => void logs.push(l) }), serverVersion: "0.1.0" });
    await server.listen(socket);
  });
  after(async () => {
    await server?.close(100);
    await rm(dir, { recursive: true, force: true });
  });

  test("an error after a JSON stream began becomes its last line, logged once", async () => {
    const a = await call(socket, "POST", "/stream");
    assert.equal(a.status, 200);
    assert.equal(a.text(), '{"status":"Pulling fs layer","id":"abc"}\r\n{"errorDetail":{"message":"registry unreachable"},"error":"registry unreachable"}\r\n');
    assert.equal(logs.filter((l) => l.includes("registry unreachable")).length, 1);
  });

  test("an error before a JSON stream began gets its own status", async () => {
    const a = await call(socket, "POST", "/early");
    assert.deepEqual([a.status, a.json()], [404, { message: "nothing to stream" }]);
  });

  test("an upgrade request reaches the route's upgrade handler with its socket, half-close included", async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect({ path: socket }, () => {
        s.write("POST /v1.41/echo/c1/attach?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n");
        s.end("ping");
      });
      let got = "";
      s.on("data", (d) => (got += d.toString()));
      s.on("end", () => resolve(got));
      s.on("error", reject);
    });
    assert.match(text, /^HTTP\/1\.1 101 UPGRADED\r\n/);
    assert.match(text, /\r\n\r\nid=c1;pingbye$/);
  });
});

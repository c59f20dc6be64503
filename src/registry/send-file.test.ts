// Blob bodies over plain HTTP go out by sendfile: whole, by range, several
// on one keep-alive connection, and a peer that leaves midway stops the send
// without harming the server; pipelined requests are answered in order.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { call, sha256, startTestRegistry, type TestRegistry } from "./testing.js";

let reg: TestRegistry;
const blob = randomBytes(9 * 1024 * 1024 + 7);
const digest = sha256(blob);

before(async () => {
  reg = await startTestRegistry();
  const put = await call(reg.url, `/v2/big/blobs/uploads/?digest=${digest}`, { method: "POST", body: blob, headers: { "Content-Type": "application/octet-stream" } });
  assert.equal(put.status, 201);
});
after(async () => {
  await reg.stop();
});

function get(agent: Agent, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(`/v2/big/blobs/${digest}`, reg.url), { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

test("a large blob comes whole and by range, three times on one kept-alive connection", async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const sockets = new Set<unknown>();
    agent.on("free", (s) => sockets.add(s));
    const whole = await get(agent);
    assert.equal(whole.status, 200);
    assert.equal(Number(whole.headers["content-length"]), blob.length);
    assert.ok(whole.body.equals(blob));
    const part = await get(agent, { Range: "bytes=1000-5242999" });
    assert.equal(part.status, 206);
    assert.equal(part.headers["content-range"], `bytes 1000-5242999/${blob.length}`);
    assert.ok(part.body.equals(blob.subarray(1000, 5243000)));
    const tail = await get(agent, { Range: `bytes=${blob.length - 3}-` });
    assert.ok(tail.body.equals(blob.subarray(blob.length - 3)));
    assert.equal(sockets.size, 1, "one connection served all three");
  } finally {
    agent.destroy();
  }
});

test("a peer that stops reading and leaves midway ends the send; the server goes on", async () => {
  await new Promise<void>((resolve) => {
    const req = request(new URL(`/v2/big/blobs/${digest}`, reg.url), { agent: false }, (res) => {
      res.once("data", () => {
        // Took one chunk, reads no more, then goes.
        res.pause();
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100);
      });
    });
    req.on("error", () => {});
    req.end();
  });
  const again = await get(new Agent());
  assert.ok(again.body.equals(blob));
});

/** Reads HTTP/1.1 responses with a Content-Length body off `data` as they complete. */
function responses(data: Buffer): { status: number; body: Buffer }[] {
  const out: { status: number; body: Buffer }[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf("\r\n\r\n", at);
    if (end < 0) return out;
    const head = data.subarray(at, end).toString("latin1");
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (data.length < end + 4 + length) return out;
    out.push({ status: Number(head.split(" ")[1]), body: data.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
}

test("requests pipelined on one connection are all answered, in order", async () => {
  const url = new URL(reg.url);
  const socket = connect(Number(url.port), url.hostname);
  try {
    const path = `/v2/big/blobs/${digest}`;
    const ask = (range?: string) => `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\n${range ? `Range: bytes=${range}\r\n` : ""}\r\n`;
    // Written at once: the second and third arrive while the first is still being sent.
    socket.write(ask() + ask("10-19") + ask());
    const chunks: Buffer[] = [];
    const got = await new Promise<{ status: number; body: Buffer }[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${responses(Buffer.concat(chunks)).length} of 3 responses came within 20 s`)), 20_000);
      socket.on("data", (c: Buffer) => {
        chunks.push(c);
        const all = responses(Buffer.concat(chunks));
        if (all.length === 3) {
          clearTimeout(timer);
          resolve(all);
        }
      });
      socket.on("error", reject);
    });
    assert.deepEqual(got.map((r) => r.status), [200, 206, 200]);
    assert.ok(got[0]!.body.equals(blob));
    assert.ok(got[1]!.body.equals(blob.subarray(10, 20)));
    assert.ok(got[2]!.body.equals(blob));
  } finally {
    socket.destroy();
  }
});

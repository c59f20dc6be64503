import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { answer, DnsServer, parseQuestion, TYPE_A, TYPE_AAAA } from "./dns.js";
import { nullLogger } from "../internal/index.js";

function query(name: string, type: number, id = 0x1234): Buffer {
  const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([head, ...labels, Buffer.from([0, type >> 8, type & 255, 0, 1])]);
}

function ask(port: number, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => {
      s.close();
      reject(new Error("no answer"));
    }, 3000);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(msg, port, "127.0.0.1");
  });
}

test("a query's question is read and answered with A records", () => {
  const q = parseQuestion(query("Web.Example", TYPE_A))!;
  assert.equal(q.name, "web.example");
  assert.equal(q.type, TYPE_A);
  const a = answer(query("web", TYPE_A), parseQuestion(query("web", TYPE_A))!, ["10.0.0.2", "10.0.0.3"]);
  assert.equal(a.readUInt16BE(0), 0x1234);
  assert.equal(a.readUInt16BE(2) & 0x8000, 0x8000);
  assert.equal(a.readUInt16BE(6), 2);
  assert.deepEqual([...a.subarray(a.length - 4)], [10, 0, 0, 3]);
  // AAAA of a known name: no records, no error.
  const aaaa = answer(query("web", TYPE_AAAA), parseQuestion(query("web", TYPE_AAAA))!, ["10.0.0.2"]);
  assert.equal(aaaa.readUInt16BE(6), 0);
  assert.equal(aaaa.readUInt16BE(2) & 0x000f, 0);
  assert.equal(parseQuestion(Buffer.from([1, 2, 3])), undefined);
});

test("the server answers container names itself and relays the rest upstream", async () => {
  const upstream = createSocket("udp4");
  await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", () => r()));
  upstream.on("message", (m, rinfo) => {
    const q = parseQuestion(m)!;
    upstream.send(answer(m, q, ["192.0.2.99"]), rinfo.port, rinfo.address);
  });
  const server = await DnsServer.listen({ address: "127.0.0.1", port: 0, upstreamPort: upstream.address().port, logger: nullLogger, upstreams: () => ["127.0.0.1"], resolve: (name) => (name === "web" ? ["10.0.0.2"] : undefined) });
  try {
    const local = await ask(server.port, query("web", TYPE_A, 7));
    assert.equal(local.readUInt16BE(0), 7);
    assert.deepEqual([...local.subarray(local.length - 4)], [10, 0, 0, 2]);
    const relayed = await ask(server.port, query("example.org", TYPE_A, 8));
    assert.equal(relayed.readUInt16BE(0), 8);
    assert.deepEqual([...relayed.subarray(relayed.length - 4)], [192, 0, 2, 99]);
  } finally {
    await server.close();
    upstream.close();
  }
});

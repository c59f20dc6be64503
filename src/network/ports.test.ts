import { test } from "node:test";
import assert from "node:assert/strict";
import { portRequests } from "./ports.js";
import { renderTable, tableName } from "./nft.js";

test("port bindings as the docker CLI sends them become port requests", () => {
  const reqs = portRequests({ "80/tcp": [{ HostIp: "", HostPort: "8080" }, { HostIp: "127.0.0.1", HostPort: "" }], "53/udp": [{ HostIp: "", HostPort: "5300-5310" }] }, { "80/tcp": {}, "443/tcp": {} }, false);
  assert.deepEqual(reqs, [
    { Proto: "tcp", HostIp: "0.0.0.0", HostPorts: [8080, 8080], ContainerPort: 80 },
    { Proto: "tcp", HostIp: "127.0.0.1", HostPorts: [0, 0], ContainerPort: 80 },
    { Proto: "udp", HostIp: "0.0.0.0", HostPorts: [5300, 5310], ContainerPort: 53 },
  ]);
  // -P adds the exposed ports that have no binding.
  const all = portRequests({ "80/tcp": [{ HostIp: "", HostPort: "8080" }] }, { "80/tcp": {}, "443/tcp": {} }, true);
  assert.deepEqual(all.map((r) => `${r.ContainerPort}:${r.HostPorts.join("-")}`), ["80:8080-8080", "443:0-0"]);
  assert.throws(() => portRequests({ "80/sctp": [] }, undefined, false), /only tcp and udp/);
  assert.throws(() => portRequests({ "80/tcp": [{ HostIp: "", HostPort: "70000" }] }, undefined, false), /out of range/);
  assert.throws(() => portRequests({ "80/tcp": [{ HostIp: "localhost", HostPort: "80" }] }, undefined, false), /expected an IPv4 address/);
  assert.throws(() => portRequests({ "80/tcp": [{ HostIp: "", HostPort: "90-80" }] }, undefined, false), /range/);
});

test("the nft table is one script: replace, DNAT for ports, masquerade unless internal, isolation", () => {
  const script = renderTable("wharf0", {
    networks: [
      { bridge: "wharf0", subnet: "10.210.0.0/24", internal: false },
      { bridge: "wh-int", subnet: "10.210.1.0/24", internal: true },
    ],
    ports: [
      { Proto: "tcp", HostIp: "0.0.0.0", HostPort: 8080, ContainerPort: 80, ContainerIp: "10.210.0.2" },
      { Proto: "udp", HostIp: "127.0.0.1", HostPort: 5353, ContainerPort: 53, ContainerIp: "10.210.0.3" },
    ],
  });
  const lines = script.split("\n");
  assert.deepEqual(lines.slice(0, 3), ["table ip wharf0", "delete table ip wharf0", "table ip wharf0 {"]);
  // The binding to one address comes before the one to all.
  const udp = lines.findIndex((l) => l.includes("ip daddr 127.0.0.1 udp dport 5353 dnat to 10.210.0.3:53;"));
  const tcp = lines.findIndex((l) => l.includes("tcp dport 8080 dnat to 10.210.0.2:80;"));
  assert.ok(udp > 0 && tcp > udp, script);
  assert.match(script, /ip saddr 10\.210\.0\.0\/24 oifname != "wharf0" masquerade;/);
  assert.doesNotMatch(script, /ip saddr 10\.210\.1\.0\/24 .*masquerade/);
  assert.match(script, /iifname "wh-int" oifname != "wh-int" drop;/);
  assert.match(script, /oifname "wharf0" ip saddr 127\.0\.0\.0\/8 masquerade;/);
  assert.equal(tableName("br-x.1"), "br_x_1");
  assert.equal(tableName("0abc"), "w0abc");
});

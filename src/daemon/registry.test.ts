import { test } from "node:test";
import assert from "node:assert/strict";
import { parseReference } from "../oci/index.js";
import { buildDaemonRegistryConfig } from "./registry.js";
import { NameMap } from "./registry-index.js";
import type { RepositoryName } from "../registry/index.js";

const repo = (s: string) => s as RepositoryName;

test("docker's spelling maps repository and local names both ways", () => {
  const m = NameMap.familiar;
  assert.equal(m.local(repo("app")), "docker.io/library/app");
  assert.equal(m.local(repo("quay.io/x/y")), "quay.io/x/y");
  assert.equal(m.repository(parseReference("app:1")), "app");
  assert.equal(m.repository(parseReference("team/app:1")), "team/app");
});

test("a prefix maps repository x to the local <prefix>x, and hides images outside it", () => {
  const m = NameMap.prefixed("localhost:5000/");
  assert.equal(m.local(repo("team/app")), "localhost:5000/team/app");
  assert.equal(m.repository(parseReference("localhost:5000/team/app:1")), "team/app");
  assert.equal(m.repository(parseReference("app:1")), undefined);
  assert.equal(m.repository(parseReference("localhost:5001/app:1")), undefined);
  const t = NameMap.prefixed("team/");
  assert.equal(t.local(repo("app")), "docker.io/team/app");
  assert.equal(t.repository(parseReference("team/app")), "app");
  assert.equal(t.repository(parseReference("teamx/app")), undefined);
});

test("a prefix must be the beginning of a name up to a slash", () => {
  for (const bad of ["localhost:5000", "a b/", "a//", "/"]) assert.throws(() => NameMap.prefixed(bad), /invalid registry name prefix/, bad);
});

test("the daemon's registry config: the standalone keys for TLS, auth and limits, names, and no collection of its own", () => {
  const c = buildDaemonRegistryConfig({ auth: { htpasswd: "/etc/wharf/htpasswd", anonymousPull: true }, limits: { maxListEntries: 50 }, names: { prefix: "localhost:5000/" } }, { addr: "127.0.0.1:5000" });
  assert.equal(c.config.auth.htpasswd, "/etc/wharf/htpasswd");
  assert.equal(c.config.auth.anonymousPull, true);
  assert.equal(c.config.limits.maxListEntries, 50);
  assert.equal(c.config.gc.intervalSeconds, 0);
  assert.equal(c.names.local(repo("app")), "localhost:5000/app");
  assert.deepEqual(c.config.addr, { host: "127.0.0.1", port: 5000 });
});

test("the daemon's registry config refuses what it cannot mean, and plain HTTP off loopback", () => {
  assert.throws(() => buildDaemonRegistryConfig({ root: "/x" }, {}), /"root" is for wharf registry serve/);
  assert.throws(() => buildDaemonRegistryConfig({ gc: { intervalSeconds: 60 } }, {}), /"gc" is for wharf registry serve/);
  assert.throws(() => buildDaemonRegistryConfig({ names: { prefix: 5 } }, {}), /names.prefix: expected a string/);
  assert.throws(() => buildDaemonRegistryConfig({ names: { map: {} } }, {}), /names: unknown key "map"/);
  assert.throws(() => buildDaemonRegistryConfig({}, { addr: "0.0.0.0:5000" }), /plain HTTP/);
  assert.equal(buildDaemonRegistryConfig({ insecureHttp: true }, { addr: "0.0.0.0:5000" }).config.addr.host, "0.0.0.0");
  assert.equal(buildDaemonRegistryConfig({ tls: { cert: "/c", key: "/k" } }, { addr: "0.0.0.0:5000" }).config.tls?.cert, "/c");
});

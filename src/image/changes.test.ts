import { test } from "node:test";
import assert from "node:assert/strict";
import { applyChanges } from "./changes.js";

test("CMD and ENTRYPOINT take JSON and shell forms", () => {
  assert.deepEqual(applyChanges({}, ['CMD ["sh", "-c", "echo hi"]']).Cmd, ["sh", "-c", "echo hi"]);
  assert.deepEqual(applyChanges({}, ["ENTRYPOINT top -b"]).Entrypoint, ["/bin/sh", "-c", "top -b"]);
});

test("ENV adds and replaces variables in order, with quotes", () => {
  const c = applyChanges({ Env: ["PATH=/bin", "A=1"] }, ['ENV A=2 B="two words"', "ENV C legacy form"]);
  assert.deepEqual(c.Env, ["PATH=/bin", "A=2", "B=two words", "C=legacy form"]);
});

test("EXPOSE, VOLUME, LABEL, USER, WORKDIR, STOPSIGNAL, ONBUILD set their fields", () => {
  const c = applyChanges({ WorkingDir: "/app" }, ["EXPOSE 80 53/udp 8000-8001", "VOLUME /data /logs", 'LABEL a=b "c d"=e', "USER 1000:1000", "WORKDIR sub", "STOPSIGNAL SIGINT", "ONBUILD RUN true"]);
  assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]);
  assert.deepEqual(Object.keys(c.Volumes ?? {}), ["/data", "/logs"]);
  assert.deepEqual(c.Labels, { a: "b", "c d": "e" });
  assert.equal(c.User, "1000:1000");
  assert.equal(c.WorkingDir, "/app/sub");
  assert.equal(c.StopSignal, "SIGINT");
  assert.deepEqual(c.OnBuild, ["RUN true"]);
});

test("HEALTHCHECK parses its options into nanoseconds", () => {
  const c = applyChanges({}, ["HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/"]);
  assert.deepEqual(c.Healthcheck, { Interval: 5e9, Retries: 3, Test: ["CMD-SHELL", "curl -f http://localhost/"] });
  assert.deepEqual(applyChanges({}, ["HEALTHCHECK NONE"]).Healthcheck, { Test: ["NONE"] });
});

test("instructions that change the filesystem are refused", () => {
  assert.throws(() => applyChanges({}, ["RUN rm -rf /"]), /RUN is not a valid change command/);
  assert.throws(() => applyChanges({}, ["EXPOSE 99999"]), /invalid port/);
  assert.throws(() => applyChanges({}, ['ENV A="unterminated']), /unmatched/);
});

test("the input config is not modified", () => {
  const base = { Env: ["A=1"] };
  applyChanges(base, ["ENV A=2"]);
  assert.deepEqual(base.Env, ["A=1"]);
});

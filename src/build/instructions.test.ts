import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseDuration, readDockerfile } from "./instructions.js";
import { parseDockerfile } from "./parser.js";

const read = (text: string) => readDockerfile(parseDockerfile(text), "Dockerfile");

describe("instructions", () => {
  it("groups instructions into stages after the global ARGs", () => {
    const df = read("ARG V=1\nFROM busybox:$V AS Base\nRUN true\nFROM base\nCMD x\n");
    assert.equal(df.globalArgs.length, 1);
    assert.equal(df.stages.length, 2);
    assert.equal(df.stages[0]!.name, "base");
    assert.equal(df.stages[1]!.instructions[0]!.kind, "cmd");
  });

  it("names the file, line and instruction of every error", () => {
    assert.throws(() => read("FROM a\nCOPY --bogus=1 a b\n"), /^WharfError: Dockerfile:2: COPY: unknown flag: --bogus$|Dockerfile:2: COPY: unknown flag: --bogus/);
    assert.throws(() => read("FROM a\nFOO bar\n"), /Dockerfile:2: FOO: unknown instruction: FOO/);
    assert.throws(() => read("RUN true\n"), /Dockerfile:1: RUN: no build stage/);
    assert.throws(() => read("FROM a AS x\nFROM b AS x\n"), /Dockerfile:2: FROM: duplicate stage name "x"/);
    assert.throws(() => read("FROM a b\n"), /Dockerfile:1: FROM: requires either one or three arguments/);
    assert.throws(() => read("FROM a\nCOPY only\n"), /Dockerfile:2: COPY: requires at least two arguments/);
    assert.throws(() => read("FROM a\nONBUILD ONBUILD RUN x\n"), /chaining ONBUILD/);
    assert.throws(() => read("FROM a\nHEALTHCHECK --interval=fast CMD x\n"), /Dockerfile:2: HEALTHCHECK: invalid --interval/);
    assert.throws(() => read("FROM a\nRUN --mount=type=nfs,target=/x true\n"), /unsupported mount type "nfs"/);
    assert.throws(() => read("FROM a\nRUN --network=bridge true\n"), /unsupported network mode/);
    assert.throws(() => read("FROM a\nSHELL sh -c\n"), /SHELL: requires the arguments to be in JSON form/);
  });

  it("reads HEALTHCHECK into the config's shape", () => {
    const df = read("FROM a\nHEALTHCHECK --interval=1m30s --timeout=3s --retries=2 CMD curl -f localhost\nHEALTHCHECK NONE\n");
    const [check, none] = df.stages[0]!.instructions;
    assert.ok(check?.kind === "healthcheck" && none?.kind === "healthcheck");
    assert.deepEqual(check.check, { test: ["CMD-SHELL", "curl -f localhost"], interval: 90e9, timeout: 3e9, retries: 2 });
    assert.deepEqual(none.check, { test: ["NONE"] });
  });

  it("reads RUN mounts with their defaults", () => {
    const df = read("FROM a\nRUN --mount=type=cache,target=/c,sharing=locked --mount=type=secret,id=tok --mount=type=tmpfs,target=/t,size=1000 true\n");
    const run = df.stages[0]!.instructions[0]!;
    assert.ok(run.kind === "run");
    assert.deepEqual(run.mounts.map((m) => m.type), ["cache", "secret", "tmpfs"]);
    const secret = run.mounts[1]!;
    assert.ok(secret.type === "secret");
    assert.equal(secret.target, "/run/secrets/tok");
    assert.equal(secret.mode, 0o400);
  });

  it("parses Go durations", () => {
    assert.equal(parseDuration("1h2m3s"), 3723e9);
    assert.equal(parseDuration("250ms"), 250e6);
    assert.equal(parseDuration("0"), 0);
    assert.equal(parseDuration("10"), undefined);
  });
});

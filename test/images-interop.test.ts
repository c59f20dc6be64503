// The image half of the engine end to end, with real peers: the docker CLI
// against wharfd, archives moving between wharfd and a reference dockerd in
// both directions, and skopeo and the OCI schemas judging what wharf writes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ajvDraft04 from "ajv-draft-04";
import { hasCommand, projectRoot, startDockerd, startWharfd, type Daemon } from "./support/daemons.js";

const busyboxTar = () => execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { env, input, maxBuffer: 1 << 27 });
  return { status: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function ok(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): string {
  const r = run(cmd, args, env, input);
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

const wharfCli = (d: Daemon, args: string[], input?: Buffer) => ok(join(projectRoot, "bin", "wharf"), ["-H", d.host, ...args], process.env, input);

describe("the docker CLI against wharfd", () => {
  let wharfd: Daemon;
  let work: string;
  before(async () => {
    wharfd = await startWharfd();
    work = await mkdtemp(join(tmpdir(), "wharf-e2e-"));
  });
  after(async () => {
    await wharfd?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("version reports API 1.41 from the server", () => {
    const out = ok("docker", ["version", "--format", "{{.Server.APIVersion}}"], wharfd.env);
    assert.equal(out.trim(), "1.41");
  });

  test("import, images, inspect, history, tag, rmi work with docker's output", () => {
    const id = ok("docker", ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], wharfd.env, busyboxTar()).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const images = ok("docker", ["images"], wharfd.env).split("\n");
    assert.match(images[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.match(images[1]!, new RegExp(`^busybox\\s+latest\\s+${id.slice(7, 19)}\\s+.+ago\\s+[\\d.]+MB$`));
    const inspect = JSON.parse(ok("docker", ["image", "inspect", "busybox"], wharfd.env)) as { Id: string; RepoTags: string[]; Config: { Cmd: string[] }; RootFS: { Layers: string[] } }[];
    assert.equal(inspect[0]!.Id, id);
    assert.deepEqual(inspect[0]!.RepoTags, ["busybox:latest"]);
    assert.deepEqual(inspect[0]!.Config.Cmd, ["sh"]);
    assert.equal(inspect[0]!.RootFS.Layers.length, 1);
    assert.equal(ok("docker", ["inspect", "--format", "{{.Id}}", "busybox"], wharfd.env).trim(), id);
    const history = ok("docker", ["history", "busybox"], wharfd.env).split("\n");
    assert.match(history[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.match(history[1]!, /Imported from -/);
    ok("docker", ["tag", "busybox", "localhost:5000/tools/bb:1"], wharfd.env);
    assert.deepEqual(ok("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}"], wharfd.env).trim().split("\n").sort(), ["busybox:latest", "localhost:5000/tools/bb:1"]);
    // One row per name, as docker prints it: the same id twice.
    assert.deepEqual(ok("docker", ["images", "-q"], wharfd.env).trim().split("\n"), [id.slice(7, 19), id.slice(7, 19)]);
    assert.match(ok("docker", ["rmi", "localhost:5000/tools/bb:1"], wharfd.env), /^Untagged: localhost:5000\/tools\/bb:1$/m);
    const missing = run("docker", ["image", "inspect", "nope"], wharfd.env);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /No such image: nope/);
  });

  test("save and load round trip through the docker CLI", async () => {
    const archive = join(work, "bb.tar");
    ok("docker", ["save", "-o", archive, "busybox"], wharfd.env);
    const id = ok("docker", ["inspect", "--format", "{{.Id}}", "busybox"], wharfd.env).trim();
    assert.match(ok("docker", ["rmi", "busybox"], wharfd.env), /Deleted: sha256:/);
    assert.match(ok("docker", ["load", "-i", archive], wharfd.env), /Loaded image: busybox:latest/);
    assert.equal(ok("docker", ["inspect", "--format", "{{.Id}}", "busybox"], wharfd.env).trim(), id);
  });

  test("system df and image prune answer", () => {
    assert.match(ok("docker", ["system", "df"], wharfd.env), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
    ok("docker", ["import", "-c", "ENV DANGLING=1", "-"], wharfd.env, busyboxTar());
    assert.match(ok("docker", ["image", "prune", "-f"], wharfd.env), /Total reclaimed space/);
  });

  test("skopeo reads wharfd's images through the docker-daemon transport (API pinned at /v1.22)", { skip: !hasCommand("skopeo") }, async () => {
    const dest = join(work, "skopeo-oci");
    ok("skopeo", ["copy", "--insecure-policy", `docker-daemon:busybox:latest`, `oci:${dest}:latest`, "--src-daemon-host", wharfd.host], process.env);
    const index = JSON.parse(await readFile(join(dest, "index.json"), "utf8")) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 1);
  });
});

describe("archives between wharfd and a reference dockerd", { skip: !hasCommand("dockerd") }, () => {
  let wharfd: Daemon;
  let dockerd: Daemon;
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "wharf-interop-"));
    wharfd = await startWharfd();
    dockerd = await startDockerd();
  });
  after(async () => {
    await wharfd?.stop();
    await dockerd?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("an image saved by wharf loads into dockerd and runs there", () => {
    const id = wharfCli(wharfd, ["import", "--change", 'CMD ["echo", "hello from wharf"]', "-", "wharf/hello:1"], busyboxTar()).trim();
    const archive = join(work, "from-wharf.tar");
    wharfCli(wharfd, ["save", "-o", archive, "wharf/hello:1"]);
    assert.match(ok("docker", ["load", "-i", archive], dockerd.env), /Loaded image: wharf\/hello:1/);
    assert.equal(ok("docker", ["inspect", "--format", "{{.Id}}", "wharf/hello:1"], dockerd.env).trim(), id);
    assert.equal(ok("docker", ["run", "--rm", "--network", "none", "wharf/hello:1"], dockerd.env).trim(), "hello from wharf");
  });

  test("an imported image has the size docker reports for the same rootfs", () => {
    const tar = busyboxTar();
    ok("docker", ["import", "-", "size/check:1"], dockerd.env, tar);
    wharfCli(wharfd, ["import", "-", "size/check:1"], tar);
    const size = (env: NodeJS.ProcessEnv) => ok("docker", ["image", "inspect", "--format", "{{.Size}}", "size/check:1"], env).trim();
    assert.equal(size({ ...process.env, DOCKER_HOST: wharfd.host }), size(dockerd.env));
    const column = (env: NodeJS.ProcessEnv) => ok("docker", ["images", "--format", "{{.Size}}", "size/check"], env).trim();
    assert.equal(column({ ...process.env, DOCKER_HOST: wharfd.host }), column(dockerd.env));
  });

  test("an image saved by dockerd loads into wharf with the same id", () => {
    const id = ok("docker", ["import", "-c", "ENV FROM=docker", "-", "docker/made:2"], dockerd.env, busyboxTar()).trim();
    const archive = join(work, "from-docker.tar");
    ok("docker", ["save", "-o", archive, "docker/made:2"], dockerd.env);
    assert.match(wharfCli(wharfd, ["load", "-i", archive]), /Loaded image: docker\/made:2/);
    assert.equal(wharfCli(wharfd, ["inspect", "--format", "{{.Id}}", "docker/made:2"]).trim(), id);
  });
});

describe("the OCI layout wharf writes", { skip: !hasCommand("skopeo") }, () => {
  let wharfd: Daemon;
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "wharf-oci-"));
    wharfd = await startWharfd();
    wharfCli(wharfd, ["import", "--change", "ENV A=1", "-", "oci/test:3"], busyboxTar());
    const archive = join(work, "layout.tar");
    wharfCli(wharfd, ["save", "--format", "oci", "-o", archive, "oci/test:3"]);
    execFileSync("mkdir", ["-p", join(work, "layout")]);
    execFileSync("tar", ["-xf", archive, "-C", join(work, "layout")]);
  });
  after(async () => {
    await wharfd?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("validates against the OCI image schemas", async () => {
    const schemaDir = join(projectRoot, "..", "shared", "specs", "oci-image-schema");
    const ajv = new ajvDraft04.default({ strict: false, allErrors: true });
    // The schemas' `id`s disagree with the relative `$ref`s between the files (image-spec resolves them
    // with its own loader): drop the ids and register every file under the base its refs expect.
    const withoutIds = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(withoutIds);
      if (v === null || typeof v !== "object") return v;
      return Object.fromEntries(Object.entries(v).filter(([k, x]) => !(k === "id" && typeof x === "string")).map(([k, x]) => [k, withoutIds(x)]));
    };
    const base = "https://opencontainers.org/schema/image/";
    ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
    ajv.addFormat("uri", (s: string) => URL.canParse(s));
    for (const f of await readdir(schemaDir)) ajv.addSchema(withoutIds(JSON.parse(await readFile(join(schemaDir, f), "utf8"))) as object, base + f);
    const check = (schema: string, doc: unknown) => {
      const valid = ajv.validate(base + schema, doc);
      assert.ok(valid, `${schema}: ${ajv.errorsText()}`);
    };
    const layout = join(work, "layout");
    check("image-layout-schema.json", JSON.parse(await readFile(join(layout, "oci-layout"), "utf8")));
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    check("image-index-schema.json", index);
    const blob = (d: string) => readFile(join(layout, "blobs", ...d.split(":")), "utf8");
    const manifest = JSON.parse(await blob(index.manifests[0]!.digest)) as { config: { digest: string } };
    check("image-manifest-schema.json", manifest);
    check("config-schema.json", JSON.parse(await blob(manifest.config.digest)));
  });

  test("skopeo copies from it", () => {
    ok("skopeo", ["copy", "--insecure-policy", `oci:${join(work, "layout")}:3`, `dir:${join(work, "copied")}`], process.env);
    ok("skopeo", ["inspect", "--raw", `oci:${join(work, "layout")}:3`], process.env);
  });
});

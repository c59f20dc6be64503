// The CLI end to end against a fake Engine API: wharf's output for canned
// daemon answers, and — where the docker CLI is installed — the same
// commands run by docker against the same server, compared byte for byte.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";
import { execFileSync } from "node:child_process";
import { APP_ID, BUSYBOX_ID, cannedArchive, startFakeEngine, type FakeEngine } from "./fake-engine.js";
import { run } from "./main.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = join(projectRoot, "bin", "wharf");

interface Result {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

function collect(stream: PassThrough): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => stream.on("end", () => resolve(Buffer.concat(chunks))));
}

let engine: FakeEngine;
let work: string;

/** Runs the CLI in this process against the fake engine. */
async function wharf(args: string[], options: { stdin?: Buffer | string; stdoutIsTTY?: boolean; host?: string } = {}): Promise<Result> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  stdin.end(options.stdin ?? "");
  const status = await run(["-H", options.host ?? engine.host, ...args], { stdout, stderr, stdin, stdoutIsTTY: options.stdoutIsTTY ?? false, stdinIsTTY: false }, {});
  stdout.end();
  stderr.end();
  const stdoutBytes = await out;
  return { status, stdout: stdoutBytes.toString(), stderr: (await err).toString(), stdoutBytes };
}

/** Runs a program in a child process (the server keeps answering meanwhile). */
function spawnResult(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ status: code ?? -1, stdout: stdoutBytes.toString(), stderr: Buffer.concat(err).toString(), stdoutBytes });
    });
    child.stdin.end(stdin ?? "");
  });
}

function hasDocker(): boolean {
  try {
    execFileSync("docker", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const lastRequest = (method: string, path: string) => [...engine.requests].reverse().find((r) => r.method === method && r.url.pathname === path);

before(async () => {
  engine = await startFakeEngine();
  work = await mkdtemp(join(tmpdir(), "wharf-cli-test-"));
});

after(async () => {
  await engine.close();
  await rm(work, { recursive: true, force: true });
});

describe("wharf images", () => {
  test("prints docker's table: one row per tag, <none> for untagged, short ids", async () => {
    const r = await wharf(["images"]);
    assert.equal(r.status, 0);
    assert.equal(
      r.stdout,
      [
        "REPOSITORY                 TAG       IMAGE ID       CREATED       SIZE",
        "localhost:5000/tools/app   1.0       cccccccccccc   3 years ago   170MB",
        "busybox                    latest    a416a98b71e2   3 weeks ago   4.26MB",
        "busybox                    1.36      a416a98b71e2   3 weeks ago   4.26MB",
        "<none>                     <none>    bbbbbbbbbbbb   2 hours ago   736B",
        "",
      ].join("\n"),
    );
    assert.equal(lastRequest("GET", "/v1.41/images/json")!.url.search, "");
  });

  test("-q prints an id per row, as docker 28 does", async () => {
    const r = await wharf(["images", "-q"]);
    assert.equal(r.stdout, "cccccccccccc\na416a98b71e2\na416a98b71e2\nbbbbbbbbbbbb\n");
  });

  test("--no-trunc keeps whole ids and --digests adds the digest column", async () => {
    const full = await wharf(["image", "ls", "--no-trunc"]);
    assert.match(full.stdout, new RegExp(`^busybox +latest +${BUSYBOX_ID} +3 weeks ago +4.26MB$`, "m"));
    const digests = await wharf(["images", "--digests"]);
    assert.match(digests.stdout.split("\n")[0]!, /^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE$/);
    assert.match(digests.stdout, /^localhost:5000\/tools\/app +1\.0 +sha256:d{64} +cccccccccccc /m);
  });

  test("--format renders a Go template per row; json and table formats work", async () => {
    const r = await wharf(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert.equal(r.stdout, "localhost:5000/tools/app:1.0 cccccccccccc\nbusybox:latest a416a98b71e2\nbusybox:1.36 a416a98b71e2\n<none>:<none> bbbbbbbbbbbb\n");
    const table = await wharf(["images", "--format", "table {{.ID}}\\t{{.Size}}"]);
    assert.equal(table.stdout.split("\n")[0], "IMAGE ID       SIZE");
    const json = await wharf(["images", "--format", "json"]);
    const first = JSON.parse(json.stdout.split("\n")[0]!) as Record<string, string>;
    assert.equal(first["ID"], "cccccccccccc");
    assert.equal(first["Repository"], "localhost:5000/tools/app");
    assert.match(json.stdout, /"Tag":"\\u003cnone\\u003e"/);
  });

  test("filters and the repository argument reach the API as docker's filters JSON", async () => {
    const r = await wharf(["images", "-f", "dangling=true", "--filter", "label=a=b", "busybox"]);
    assert.equal(r.status, 0);
    const filters = JSON.parse(lastRequest("GET", "/v1.41/images/json")!.url.searchParams.get("filters")!) as unknown;
    assert.deepEqual(filters, { dangling: { true: true }, label: { "a=b": true }, reference: { busybox: true } });
    const all = await wharf(["images", "-a"]);
    assert.equal(all.status, 0);
    assert.equal(lastRequest("GET", "/v1.41/images/json")!.url.searchParams.get("all"), "1");
  });

  test("a bad template is docker's 'template parsing error' with status 1", async () => {
    const r = await wharf(["images", "--format", "{{.Foo}}"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `template parsing error: template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type *formatter.imageContext\n`);
  });
});

describe("wharf inspect and history", () => {
  test("inspect prints a JSON array indented by four spaces", async () => {
    const r = await wharf(["image", "inspect", "busybox"]);
    assert.equal(r.status, 0);
    assert.ok(r.stdout.startsWith('[\n    {\n        "Id": "sha256:a416'));
    const parsed = JSON.parse(r.stdout) as { Id: string }[];
    assert.equal(parsed[0]!.Id, BUSYBOX_ID);
  });

  test("a missing image prints [] and the daemon's error, status 1", async () => {
    const r = await wharf(["image", "inspect", "nope"]);
    assert.deepEqual([r.status, r.stdout, r.stderr], [1, "[]\n", "Error response from daemon: No such image: nope\n"]);
    const top = await wharf(["inspect", "nope"]);
    assert.deepEqual([top.status, top.stdout, top.stderr], [1, "[]\n", "Error: No such object: nope\n"]);
    const some = await wharf(["inspect", "--format", "{{.Id}}", "nope", "busybox"]);
    assert.deepEqual([some.status, some.stdout], [1, `${BUSYBOX_ID}\n`]);
  });

  test("inspect --format reads fields and fails on absent keys", async () => {
    const r = await wharf(["inspect", "-f", "{{.Os}}/{{.Architecture}} {{.Config.Cmd}} {{json .RootFS}}", "busybox"]);
    assert.equal(r.stdout, `linux/amd64 [sh] {"Layers":["sha256:${"e".repeat(64)}"],"Type":"layers"}\n`);
    const bad = await wharf(["inspect", "-f", "{{.Nope}}", "busybox"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /map has no entry for key "Nope"/);
  });

  test("history truncates CREATED BY to 45 cells and shows <missing> ids", async () => {
    const r = await wharf(["history", "busybox"]);
    assert.equal(r.status, 0);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "IMAGE          CREATED      CREATED BY                                      SIZE      COMMENT");
    assert.equal(lines[1], 'a416a98b71e2   2 days ago   /bin/sh -c #(nop)  CMD ["sh"]                   0B        ');
    assert.equal(lines[2], "<missing>      3 days ago   /bin/sh -c #(nop) ADD file:6f0cbe1ab5b3c0fa2…   4.26MB    Imported from -");
    assert.equal(lines[3], "<missing>      N/A                                                          0B        ");
    const full = await wharf(["image", "history", "--no-trunc", "-H=false", "busybox"]);
    assert.match(full.stdout, /ADD file:6f0cbe1ab5b3c0fa2ca3f9c81f8d6f1c5f7ab7d5c5e4f5a3b2e1d0c9b8a7f6e5 in \/ +4261550 +Imported from -/);
    assert.equal((await wharf(["history", "-q", "busybox"])).stdout, "a416a98b71e2\n<missing>\n<missing>\n");
  });
});

describe("wharf tag and rmi", () => {
  test("tag sends the full repository name and the tag", async () => {
    const r = await wharf(["tag", "busybox", "myrepo/x:2"]);
    assert.equal(r.status, 0);
    const req = lastRequest("POST", "/v1.41/images/busybox/tag")!;
    assert.equal(req.url.searchParams.get("repo"), "docker.io/myrepo/x");
    assert.equal(req.url.searchParams.get("tag"), "2");
    const bad = await wharf(["tag", "busybox", "Bad:Name"]);
    assert.deepEqual([bad.status, bad.stderr], [1, 'Error parsing reference: "Bad:Name" is not a valid repository/tag: invalid reference format: repository name (library/Bad) must be lowercase\n']);
  });

  test("rmi prints what was untagged and deleted, reports failures at the end with status 1", async () => {
    const r = await wharf(["rmi", "app", "busybox:1.36", "nope"]);
    assert.equal(r.status, 1);
    assert.equal(
      r.stdout,
      [`Untagged: localhost:5000/tools/app:1.0`, `Untagged: localhost:5000/tools/app@sha256:${"d".repeat(64)}`, `Deleted: ${APP_ID}`, `Deleted: sha256:${"f".repeat(64)}`, "Untagged: busybox:1.36", ""].join("\n"),
    );
    assert.equal(r.stderr, "Error response from daemon: No such image: nope\n");
  });

  test("rmi -f reports missing images but succeeds; a conflict still fails", async () => {
    const forced = await wharf(["image", "rm", "-f", "nope"]);
    assert.deepEqual([forced.status, forced.stderr], [0, "Error response from daemon: No such image: nope\n"]);
    assert.equal(lastRequest("DELETE", "/v1.41/images/nope")!.url.searchParams.get("force"), "1");
    const conflict = await wharf(["rmi", "--no-prune", "busybox"]);
    assert.equal(conflict.status, 1);
    assert.match(conflict.stderr, /^Error response from daemon: conflict: unable to remove repository reference "busybox"/);
    assert.equal(lastRequest("DELETE", "/v1.41/images/busybox")!.url.searchParams.get("noprune"), "1");
  });
});

describe("wharf save, load and import", () => {
  test("save -o streams the archive into the file and leaves no temporary file", async () => {
    const dest = join(work, "bb.tar");
    const r = await wharf(["save", "-o", dest, "busybox", "busybox:1.36"]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok((await readFile(dest)).equals(cannedArchive()));
    assert.deepEqual(lastRequest("GET", "/v1.41/images/get")!.url.searchParams.getAll("names"), ["busybox", "busybox:1.36"]);
    assert.deepEqual((await readdir(work)).filter((f) => f.endsWith(".tmp")), []);
  });

  test("save refuses a terminal, writes to a pipe, and passes --format", async () => {
    const tty = await wharf(["save", "busybox"], { stdoutIsTTY: true });
    assert.deepEqual([tty.status, tty.stderr], [1, "cowardly refusing to save to a terminal. Use the -o flag or redirect\n"]);
    const piped = await wharf(["image", "save", "--format", "oci", "busybox"]);
    assert.ok(piped.stdoutBytes.equals(cannedArchive()));
    assert.equal(lastRequest("GET", "/v1.41/images/get")!.url.searchParams.get("format"), "oci");
  });

  test("save of a missing image creates no file", async () => {
    const dest = join(work, "missing.tar");
    const r = await wharf(["save", "-o", dest, "nope"]);
    assert.deepEqual([r.status, r.stderr], [1, "Error response from daemon: No such image: nope\n"]);
    await assert.rejects(readFile(dest), { code: "ENOENT" });
  });

  test("load -i uploads the file and prints what the daemon loaded", async () => {
    const src = join(work, "in.tar");
    await writeFile(src, cannedArchive());
    const r = await wharf(["load", "-i", src]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `Loaded image: busybox:latest\nLoaded image ID: ${BUSYBOX_ID}\n`);
    const req = lastRequest("POST", "/v1.41/images/load")!;
    assert.ok(req.body.equals(cannedArchive()));
    assert.equal(req.url.searchParams.get("quiet"), "1");
  });

  test("load from stdin reports an error line of the stream with status 1", async () => {
    const r = await wharf(["image", "load"], { stdin: "not a tar" });
    assert.deepEqual([r.status, r.stderr], [1, "archive/tar: invalid tar header\n"]);
    const missing = await wharf(["load", "-i", join(work, "absent.tar")]);
    assert.deepEqual([missing.status, missing.stderr], [1, `open ${join(work, "absent.tar")}: no such file or directory\n`]);
  });

  test("import sends each --change, the message and the repository, and prints the new id", async () => {
    const src = join(work, "rootfs.tar");
    await writeFile(src, "rootfs bytes");
    const r = await wharf(["import", "-c", 'CMD ["sh"]', "--change", "ENV A=1", "-m", "hello", src, "wharf/hello:1"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${APP_ID}\n`);
    const req = lastRequest("POST", "/v1.41/images/create")!;
    assert.deepEqual(req.url.searchParams.getAll("changes"), ['CMD ["sh"]', "ENV A=1"]);
    assert.equal(req.url.searchParams.get("fromSrc"), "-");
    assert.equal(req.url.searchParams.get("repo"), "wharf/hello:1");
    assert.equal(req.url.searchParams.get("message"), "hello");
    assert.equal(req.body.toString(), "rootfs bytes");
    const stdin = await wharf(["image", "import", "-", "x"], { stdin: "from stdin" });
    assert.equal(stdin.status, 0);
    assert.equal(lastRequest("POST", "/v1.41/images/create")!.body.toString(), "from stdin");
  });
});

describe("wharf image prune, system df, version", () => {
  test("prune -f prints what went and the space reclaimed", async () => {
    const r = await wharf(["image", "prune", "-f"]);
    assert.equal(r.stdout, `Deleted Images:\nuntagged: old:1\ndeleted: sha256:${"b".repeat(64)}\n\nTotal reclaimed space: 1.235MB\n`);
    assert.deepEqual(JSON.parse(lastRequest("POST", "/v1.41/images/prune")!.url.searchParams.get("filters")!), { dangling: { true: true } });
  });

  test("prune asks first and does nothing unless the answer is y", async () => {
    const before = engine.requests.filter((r) => r.url.pathname.endsWith("/images/prune")).length;
    const no = await wharf(["image", "prune"], { stdin: "n\n" });
    assert.deepEqual([no.status, no.stdout], [0, "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "]);
    assert.equal(engine.requests.filter((r) => r.url.pathname.endsWith("/images/prune")).length, before);
    const yes = await wharf(["image", "prune", "-a"], { stdin: "y\n" });
    assert.match(yes.stdout, /^WARNING! This will remove all images without at least one container associated to them\.\nAre you sure you want to continue\? \[y\/N\] Deleted Images:/);
    assert.deepEqual(JSON.parse(lastRequest("POST", "/v1.41/images/prune")!.url.searchParams.get("filters")!), { dangling: { false: true } });
  });

  test("system df prints the summary table", async () => {
    const r = await wharf(["system", "df"]);
    assert.equal(
      r.stdout,
      [
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE",
        "Images          3         0         174.3MB   174.3MB (100%)",
        "Containers      0         0         0B        0B",
        "Local Volumes   0         0         0B        0B",
        "Build Cache     0         0         0B        0B",
        "",
      ].join("\n"),
    );
  });

  test("version shows the server's engine section and answers --format", async () => {
    const r = await wharf(["version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\nServer: wharf\n Engine:\n  Version:          0\.1\.0\n  API version:      1\.41 \(minimum version 1\.22\)\n/);
    assert.match(r.stdout, /  Built:            Wed May  1 10:20:30 2024\n/);
    assert.equal((await wharf(["version", "--format", "{{.Server.APIVersion}}"])).stdout, "1.41\n");
  });

  test("info --format reads the daemon's fields", async () => {
    assert.equal((await wharf(["info", "--format", "{{.Driver}} {{.NCPU}}"])).stdout, "overlayfs 4\n");
  });
});

describe("errors", () => {
  test("an unknown flag prints docker's usage hint and exits 125", async () => {
    const r = await spawnResult(BIN, ["-H", engine.host, "images", "--foo"], process.env);
    assert.equal(r.status, 125);
    assert.equal(r.stderr, "unknown flag: --foo\n\nUsage:  wharf images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'wharf images --help' for more information\n");
    const bad = await wharf(["images", "--filter", "dangling"]);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /^invalid argument "dangling" for "-f, --filter" flag: bad format of filter \(expected name=value\)/);
  });

  test("a wrong argument count exits 1 with docker's message", async () => {
    const r = await spawnResult(BIN, ["-H", engine.host, "tag", "a"], process.env);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "wharf: 'wharf tag' requires 2 arguments\n\nUsage:  wharf tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nRun 'wharf tag --help' for more information\n");
  });

  test("an unreachable daemon is named with its socket", async () => {
    const host = `unix://${join(work, "absent.sock")}`;
    const r = await wharf(["images"], { host });
    assert.deepEqual([r.status, r.stderr], [1, `Cannot connect to the wharf daemon at ${host}. Is wharfd running?\n`]);
  });

  test("--help prints the usage page and exits 0", async () => {
    const r = await spawnResult(BIN, ["image", "rm", "--help"], process.env);
    assert.equal(r.status, 0);
    assert.ok(r.stdout.startsWith("Usage:  wharf image rm [OPTIONS] IMAGE [IMAGE...]\n\nRemove one or more images\n\nAliases:\n  wharf image rm, wharf image remove, wharf rmi\n\nOptions:\n  -f, --force      Force removal of the image\n"));
  });

  test("WHARF_HOST chooses the daemon when -H is absent", async () => {
    const r = await spawnResult(BIN, ["images", "-q"], { ...process.env, WHARF_HOST: engine.host });
    assert.deepEqual([r.status, r.stdout], [0, "cccccccccccc\na416a98b71e2\na416a98b71e2\nbbbbbbbbbbbb\n"]);
  });
});

describe("the same answers through the docker CLI", { skip: !hasDocker() }, () => {
  const docker = (args: string[], stdin?: string) => spawnResult("docker", args, { ...process.env, DOCKER_HOST: engine.host, DOCKER_CONFIG: work }, stdin);
  const same: string[][] = [
    ["images"],
    ["images", "-q"],
    ["images", "--digests"],
    ["images", "--no-trunc"],
    ["images", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}} {{.Size}}"],
    ["images", "--format", "table {{.ID}}\t{{.Repository}}\t{{json .Tag}}"],
    ["images", "--format", "json"],
    ["images", "-f", "dangling=true"],
    ["history", "busybox"],
    ["history", "--no-trunc", "busybox"],
    ["image", "inspect", "busybox"],
    ["image", "inspect", "nope"],
    ["image", "inspect", "-f", "{{.Id}} {{json .Config}} {{index .RepoTags 0}}", "busybox"],
    ["rmi", "app", "busybox:1.36", "nope"],
    ["rmi", "-f", "nope"],
    ["image", "prune", "-f"],
    ["system", "df"],
    ["system", "df", "-v"],
    ["images", "--format", "{{.Foo}}"],
    ["images", "--format", "{{.Foo}"],
  ];
  for (const args of same) {
    test(`${args.join(" ")}`, async () => {
      const theirs = await docker(args);
      const ours = await wharf(args);
      assert.equal(ours.stdout, theirs.stdout);
      assert.equal(ours.stderr, theirs.stderr);
      assert.equal(ours.status, theirs.status);
    });
  }

  test("flag errors match once the program's name is swapped", async () => {
    for (const args of [["images", "--foo"], ["images", "-qz"], ["history", "--human=maybe", "x"], ["load", "x"], ["tag", "a"], ["rmi"]]) {
      const theirs = await docker(args);
      const ours = await wharf(args);
      assert.equal(ours.stderr, theirs.stderr.replaceAll("docker", "wharf"), args.join(" "));
      assert.equal(ours.status, theirs.status, args.join(" "));
    }
  });
});

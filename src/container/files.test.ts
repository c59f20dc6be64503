import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFilesInRoot } from "./files.js";

test("readFilesInRoot reads each path as inside the root: symlinks and .. never leave it", async () => {
  const outside = await mkdtemp(join(tmpdir(), "wharf-outside-"));
  const root = await mkdtemp(join(tmpdir(), "wharf-root-"));
  try {
    await writeFile(join(outside, "secret"), "host secret\n");
    await mkdir(join(root, "etc"));
    await mkdir(join(root, "data"));
    await writeFile(join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await writeFile(join(root, "data", "group"), "root:x:0:\n");
    // An absolute link and a climbing one: both resolve inside the root.
    await symlink("/data/group", join(root, "etc", "group"));
    await symlink(`../../../../../../..${outside}/secret`, join(root, "etc", "climb"));
    await symlink(join(outside, "secret"), join(root, "etc", "absolute"));
    const [passwd, group, climb, absolute, missing] = await readFilesInRoot(root, ["/etc/passwd", "/etc/group", "/etc/climb", "/etc/absolute", "/etc/none"]);
    assert.equal(passwd, "root:x:0:0:root:/root:/bin/sh\n");
    assert.equal(group, "root:x:0:\n");
    assert.equal(climb, undefined, "a link climbing out stays in the root, where nothing is");
    assert.equal(absolute, undefined, "an absolute link to a host path resolves in the root");
    assert.equal(missing, undefined);
    assert.deepEqual(await readFilesInRoot(root, ["/../../../../etc/passwd"]), ["root:x:0:0:root:/root:/bin/sh\n"]);
  } finally {
    await rm(outside, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  }
});

test("readFilesInRoot opens nothing but regular files: a FIFO, a directory or a device is absent", async () => {
  const root = await mkdtemp(join(tmpdir(), "wharf-root-"));
  try {
    await mkdir(join(root, "etc", "group"), { recursive: true });
    // A FIFO opened for reading would block until a writer came.
    execFileSync("mkfifo", [join(root, "etc", "passwd")]);
    const device = process.getuid?.() === 0;
    if (device) execFileSync("mknod", [join(root, "etc", "shadow"), "c", "1", "3"]);
    const found = await readFilesInRoot(root, ["/etc/passwd", "/etc/group", ...(device ? ["/etc/shadow"] : [])]);
    assert.ok(found.every((f) => f === undefined));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("readFilesInRoot refuses a file larger than the bound, naming it", async () => {
  const root = await mkdtemp(join(tmpdir(), "wharf-root-"));
  try {
    await mkdir(join(root, "etc"));
    await writeFile(join(root, "etc", "passwd"), "x".repeat(2048));
    await assert.rejects(readFilesInRoot(root, ["/etc/passwd"], 1024), /reading .*etc\/passwd in the container: larger than 1024 bytes/);
    assert.deepEqual(await readFilesInRoot(root, ["/etc/passwd"], 2048), ["x".repeat(2048)]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

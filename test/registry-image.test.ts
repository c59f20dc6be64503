// wharf's registry packaged as an image and run as a wharf container: its
// port published on loopback, pushed to and pulled from by wharfd itself,
// its data in the image's volume.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { projectRoot, startWharfd, unmountBelow, type Daemon } from "./support/daemons.js";
import { docker, haveTools, importBusybox, killContainers, ok } from "./support/docker.js";

const SERVE = ["/usr/local/bin/node", "/app/bin/wharf.cjs", "registry", "serve", "--addr", "0.0.0.0:5000", "--root", "/var/lib/registry", "--insecure-http"];

describe("the registry as a container", { skip: !haveTools && "needs root, docker CLI, runc and conmon", concurrency: false }, () => {
  let root: string;
  let d: Daemon;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-regimg-"));
    d = await startWharfd({ root });
    importBusybox(d);
    const tar = execFileSync("bash", [join(projectRoot, "scripts", "registry-image.sh")], { maxBuffer: 1 << 28 });
    execFileSync("docker", ["import", "-c", `CMD ${JSON.stringify(SERVE)}`, "-c", "EXPOSE 5000/tcp", "-c", "VOLUME /var/lib/registry", "-c", "WORKDIR /app", "-", "wharf/registry:test"], { input: tar, env: d.env, maxBuffer: 1 << 20 });
  });

  after(async () => {
    if (d) await d.stop();
    if (root) {
      killContainers(root);
      await unmountBelow(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  test("run -d -p serves the API; an image pushed to it pulls back the same", async () => {
    await ok(d, ["run", "-d", "--name", "registry", "-p", "127.0.0.1::5000", "wharf/registry:test"]);
    const port = /127\.0\.0\.1:(\d+)/.exec(await ok(d, ["port", "registry", "5000"]))?.[1];
    assert.ok(port, "a published port");
    let ping: Response | undefined;
    for (let i = 0; i < 100 && !ping?.ok; i++) {
      ping = await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined);
      if (!ping?.ok) await sleep(100);
    }
    assert.equal(ping?.status, 200);
    assert.equal(ping?.headers.get("docker-distribution-api-version"), "registry/2.0");
    const ref = `127.0.0.1:${port}/tools/busybox:1`;
    await ok(d, ["tag", "busybox", ref]);
    const pushed = await ok(d, ["push", ref]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
    assert.ok(digest, pushed);
    await ok(d, ["rmi", ref]);
    await ok(d, ["pull", ref]);
    assert.equal((await ok(d, ["inspect", "-f", "{{index .RepoDigests 0}}", ref])).trim(), `127.0.0.1:${port}/tools/busybox@${digest}`);
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/v2/tools/busybox/tags/list`)).json(), { name: "tools/busybox", tags: ["1"] });
    // Its blobs live in the image's volume, which outlives the container.
    const volume = (await ok(d, ["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "registry"])).trim();
    assert.ok(volume.length > 0);
    await ok(d, ["rm", "-f", "registry"]);
    assert.equal((await docker(d, ["volume", "inspect", volume])).code, 0);
  });
});

// Networking end to end with the real docker CLI (and docker-compose)
// against wharfd: published ports reachable on 127.0.0.1, user networks with
// names resolved by the embedded DNS, none/host/container modes, internal
// networks, the container files, the API's errors and filters, cleanup after
// many `run --rm -p`, and published ports across a daemon crash. Everything
// stays on loopback and on the test daemon's own bridges and namespaces.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { get, request } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hasCommand, projectRoot, startWharfd, unmountBelow, type Daemon, type TestNetwork } from "./support/daemons.js";
import { killContainers } from "./support/docker.js";

const haveTools = hasCommand("docker") && hasCommand("runc") && hasCommand("conmon") && hasCommand("nft") && hasCommand("ip") && process.getuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function docker(d: Daemon, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile("docker", args, { env: d.env, maxBuffer: 1 << 24, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end();
  });
}

async function ok(d: Daemon, args: string[]): Promise<string> {
  const r = await docker(d, args);
  assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function api(d: Daemon, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: d.socket, method, path, headers: data ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

/** GET http://host:port/path, retried a little while the server inside starts. */
async function fetchText(host: string, port: number, path = "/index.html", tries = 20): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = get({ host, port, path, timeout: 2000 }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => resolve(text));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
      });
    } catch (e) {
      if (i >= tries) throw e;
      await sleep(100);
    }
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function portIsFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "0.0.0.0", () => s.close(() => resolve(true)));
  });
}


/** What a daemon's networking holds on the host right now. */
async function holdings(root: string, net: TestNetwork): Promise<{ veths: string[]; netns: string[]; sandboxes: string[]; dnat: string[] }> {
  const bridges = new Set<string>([net.bridge]);
  const records = join(root, "data", "network", "networks");
  for (const f of await readdir(records).catch(() => [] as string[])) {
    const rec = JSON.parse(await readFile(join(records, f), "utf8")) as { Bridge?: string };
    if (rec.Bridge) bridges.add(rec.Bridge);
  }
  const veths = execFileSync("ip", ["-o", "link", "show", "type", "veth"], { encoding: "utf8" })
    .split("\n")
    .map((l) => /^[0-9]+:\s+([^@:]+)(?:@\S+)?:.*\smaster\s+(\S+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && bridges.has(m[2]!))
    .map((m) => m[1]!);
  const list = async (dir: string) => readdir(dir).catch(() => [] as string[]);
  let dnat: string[] = [];
  try {
    dnat = execFileSync("nft", ["list", "chain", "ip", net.bridge, "ports"], { encoding: "utf8" }).split("\n").filter((l) => l.includes("dnat"));
  } catch {
    dnat = [];
  }
  return { veths, netns: await list(join(root, "exec", "netns")), sandboxes: await list(join(root, "exec", "network", "sandboxes")), dnat };
}

const NOTHING = { veths: [], netns: [], sandboxes: [], dnat: [] };

/** The pids of conmon processes monitoring container `id`. */
function monitorsOf(id: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (args[0]?.endsWith("conmon") && args.includes(id)) pids.push(Number(entry));
  }
  return pids;
}

/** What is left once the kernel finished tearing down the namespaces that were let go (it does so asynchronously). */
async function settled(root: string, net: TestNetwork): Promise<Awaited<ReturnType<typeof holdings>>> {
  let h = await holdings(root, net);
  for (let i = 0; i < 30 && h.veths.length > 0; i++) {
    await sleep(100);
    h = await holdings(root, net);
  }
  return h;
}

const HTTPD = (text: string) => ["sh", "-c", `echo ${text} > /tmp/index.html; exec httpd -f -p 80 -h /tmp`];

/** The addresses listening on TCP `port` (ss), as "ip:port". */
function listeners(port: number): string[] {
  const out = execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" });
  return out.split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/)[3]!).sort();
}

describe("networking with the docker CLI", { skip: !haveTools && "needs root, docker CLI, runc, conmon, nft and ip", concurrency: false }, () => {
  let root: string;
  let d: Daemon & { network: TestNetwork };
  const gateway = () => d.network.bip.split("/")[0]!;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-network-"));
    d = await startWharfd({ root });
    const tar = execFileSync("bash", [join(projectRoot, "scripts", "busybox-rootfs.sh")], { maxBuffer: 1 << 26 });
    execFileSync("docker", ["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], { input: tar, env: d.env, encoding: "utf8" });
  });

  after(async () => {
    if (d) await d.stop();
    if (root) {
      killContainers(root);
      await unmountBelow(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  test("a published HTTP server is reachable on 127.0.0.1; random ports, -P, port and ps show them", async () => {
    const port = await freePort();
    await ok(d, ["run", "-d", "--name", "web", "-p", `${port}:80`, "busybox", ...HTTPD("hello")]);
    assert.equal(await fetchText("127.0.0.1", port), "hello\n");
    assert.equal((await ok(d, ["port", "web"])).trim(), `80/tcp -> 0.0.0.0:${port}`);
    assert.match(await ok(d, ["ps", "--format", "{{.Ports}}", "--filter", "name=web"]), new RegExp(`0\\.0\\.0\\.0:${port}->80/tcp`));
    const ip = (await ok(d, ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"])).trim();
    assert.ok(ip.startsWith(gateway().split(".").slice(0, 3).join(".") + "."), `${ip} is on the default bridge ${d.network.bip}`);
    // A random host port, on loopback only.
    await ok(d, ["run", "-d", "--name", "web2", "-p", "127.0.0.1::80", "--expose", "81", "-P", "busybox", ...HTTPD("second")]);
    const mapped = (await ok(d, ["port", "web2", "80"])).trim();
    const m = /^127\.0\.0\.1:([0-9]+)$/.exec(mapped);
    assert.ok(m, mapped);
    assert.equal(await fetchText("127.0.0.1", Number(m[1])), "second\n");
    assert.match(await ok(d, ["port", "web2", "81"]), /^0\.0\.0\.0:[0-9]+$/m);
    // A port in use: a clear error and no second container running.
    const before = await settled(root, d.network);
    const taken = await docker(d, ["run", "-d", "--name", "web3", "-p", `${port}:80`, "busybox", ...HTTPD("third")]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`));
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Running}}", "web3"])).trim(), "false");
    assert.deepEqual(await settled(root, d.network), before);
    // Refused before its runtime ran: the monitor that waited at the start's gate is gone, and the gate with it.
    const web3 = (await ok(d, ["inspect", "-f", "{{.Id}}", "web3"])).trim();
    for (let i = 0; i < 40 && monitorsOf(web3).length > 0; i++) await sleep(50);
    assert.deepEqual(monitorsOf(web3), []);
    assert.equal(existsSync(join(root, "exec", "containers", web3, "gate")), false);
    await ok(d, ["rm", "web3"]);
    // Stopping removes the rules and frees the port.
    await ok(d, ["rm", "-f", "web", "web2"]);
    assert.deepEqual(await settled(root, d.network), NOTHING);
    assert.ok(await portIsFree(port));
  });

  test("a network's host_binding_ipv4 is where its ports bind when they name no address; a bad one is refused", async () => {
    await ok(d, ["network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1", "lonet"]);
    const port = await freePort();
    await ok(d, ["run", "-d", "--name", "lo-web", "--network", "lonet", "-p", `${port}:80`, "busybox", ...HTTPD("lonet")]);
    assert.equal((await ok(d, ["port", "lo-web"])).trim(), `80/tcp -> 127.0.0.1:${port}`);
    assert.equal(await fetchText("127.0.0.1", port), "lonet\n");
    assert.deepEqual(listeners(port), [`127.0.0.1:${port}`]);
    const bad = await docker(d, ["network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=nowhere", "badnet"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid com\.docker\.network\.bridge\.host_binding_ipv4 "nowhere"/);
    assert.equal((await docker(d, ["network", "inspect", "badnet"])).code, 1);
    await ok(d, ["rm", "-f", "lo-web"]);
    await ok(d, ["network", "rm", "lonet"]);
    assert.deepEqual(await settled(root, d.network), NOTHING);
  });

  test("containers on a user network reach each other by name, alias and id; inspect, connect, disconnect", async () => {
    await ok(d, ["network", "create", "--subnet", "10.99.77.0/24", "--gateway", "10.99.77.254", "--label", "k=v", "appnet"]);
    assert.match(await ok(d, ["network", "ls", "--filter", "label=k=v", "--format", "{{.Name}}"]), /^appnet$/m);
    const id = (await ok(d, ["run", "-d", "--name", "srv", "--network", "appnet", "--network-alias", "api", "busybox", ...HTTPD("from-srv")])).trim();
    const out = await ok(d, ["run", "--rm", "--network", "appnet", "--ip", "10.99.77.50", "busybox", "sh", "-c", `ip -4 addr show eth0 | grep -o 'inet [0-9./]*'; head -1 /etc/resolv.conf; for n in srv api ${id.slice(0, 12)}; do wget -qO- http://$n/index.html; done`]);
    assert.equal(out, "inet 10.99.77.50/24\nnameserver 10.99.77.254\nfrom-srv\nfrom-srv\nfrom-srv\n");
    const inspect = JSON.parse(await ok(d, ["network", "inspect", "appnet"])) as { Containers: Record<string, { Name: string; IPv4Address: string }>; IPAM: { Config: { Subnet: string; Gateway: string }[] } }[];
    assert.deepEqual(inspect[0]!.IPAM.Config, [{ Subnet: "10.99.77.0/24", Gateway: "10.99.77.254" }]);
    assert.equal(inspect[0]!.Containers[id]!.Name, "srv");
    assert.match(inspect[0]!.Containers[id]!.IPv4Address, /^10\.99\.77\.[0-9]+\/24$/);
    // The default bridge has no names; connect brings a container onto the network, disconnect takes it off.
    await ok(d, ["run", "-d", "--name", "other", "busybox", "sleep", "300"]);
    assert.doesNotMatch(await ok(d, ["exec", "other", "cat", "/etc/resolv.conf", "/etc/hosts"]), /10\.99\.77\.|srv/);
    await ok(d, ["network", "connect", "--alias", "joined", "appnet", "other"]);
    assert.match(await ok(d, ["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "other"]), /appnet bridge|bridge appnet/);
    assert.equal(await ok(d, ["run", "--rm", "--network", "appnet", "busybox", "sh", "-c", "ping -c1 -W2 joined >/dev/null && echo up"]), "up\n");
    await ok(d, ["network", "disconnect", "appnet", "other"]);
    assert.equal((await ok(d, ["exec", "other", "sh", "-c", "ip -o link | grep -c eth"])).trim(), "1");
    const busy = await docker(d, ["network", "rm", "appnet"]);
    assert.match(busy.stderr, /has active endpoints/);
    await ok(d, ["rm", "-f", "srv", "other"]);
    await ok(d, ["network", "rm", "appnet"]);
    assert.equal((await docker(d, ["network", "inspect", "appnet"])).code, 1);
    assert.deepEqual(await settled(root, d.network), NOTHING);
  });

  test("--network none has only loopback; host and container: share namespaces", async () => {
    assert.equal(await ok(d, ["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ip -o link | awk '{print $2}'; ip -o -4 addr | awk '{print $4}'"]), "lo:\n127.0.0.1/8\n");
    const hostLinks = execFileSync("ip", ["-o", "link"], { encoding: "utf8" }).split("\n").filter(Boolean).length;
    const inHost = Number((await ok(d, ["run", "--rm", "--network", "host", "busybox", "sh", "-c", "ip -o link | wc -l"])).trim());
    assert.ok(Math.abs(inHost - hostLinks) <= 2, `host mode sees the host's ${hostLinks} links (saw ${inHost})`);
    await ok(d, ["run", "-d", "--name", "holder", "busybox", "sleep", "300"]);
    const holderIp = (await ok(d, ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "holder"])).trim();
    assert.equal((await ok(d, ["run", "--rm", "--network", "container:holder", "busybox", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"])).trim(), `${holderIp}/24`);
    const conflicting = await docker(d, ["run", "--rm", "--network", "container:holder", "-p", "80", "busybox", "true"]);
    assert.match(conflicting.stderr, /conflicting options: port publishing and the container type network mode/);
    await ok(d, ["rm", "-f", "holder"]);
  });

  test("an --internal network reaches nothing outside itself", async () => {
    // A listener of the test's own on the default bridge's gateway: a host address, reached without forwarding.
    const server = createServer((s) => s.end("reached\n"));
    await new Promise<void>((r) => server.listen(0, gateway(), () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      await ok(d, ["network", "create", "outnet"]);
      await ok(d, ["network", "create", "--internal", "innet"]);
      const probe = `nc -w 2 ${gateway()} ${port} </dev/null || echo unreachable; ip route | grep -c default; true`;
      assert.equal(await ok(d, ["run", "--rm", "--network", "outnet", "busybox", "sh", "-c", probe]), "reached\n1\n");
      assert.equal(await ok(d, ["run", "--rm", "--network", "innet", "busybox", "sh", "-c", probe]), "unreachable\n0\n");
      assert.equal((await ok(d, ["network", "inspect", "-f", "{{.Internal}}", "innet"])).trim(), "true");
      assert.match(await ok(d, ["network", "prune", "-f"]), /innet[\s\S]*outnet|outnet[\s\S]*innet/);
    } finally {
      server.close();
    }
  });

  test("hosts and resolv.conf: --add-host with host-gateway, --dns, --dns-search; a MAC address through the API", async () => {
    const out = await ok(d, ["run", "--rm", "-h", "box", "--add-host", "gw:host-gateway", "--add-host", "db:10.1.2.3", "--dns", "10.0.0.53", "--dns-search", "corp.example", "busybox", "sh", "-c", "cat /etc/hosts /etc/resolv.conf"]);
    assert.match(out, new RegExp(`^${gateway().replace(/\./g, "\\.")}\\tgw$`, "m"));
    assert.match(out, /^10\.1\.2\.3\tdb$/m);
    assert.match(out, /^10\.[0-9.]+\tbox$/m);
    assert.match(out, /^nameserver 10\.0\.0\.53$/m);
    assert.match(out, /^search corp\.example$/m);
    const created = await api(d, "POST", "/v1.41/containers/create?name=mac", { Image: "busybox", Cmd: ["cat", "/sys/class/net/eth0/address"], MacAddress: "02:42:ac:11:00:99" });
    assert.equal(created.status, 201, created.text);
    await ok(d, ["start", "-a", "mac"]).then((o) => assert.equal(o.trim(), "02:42:ac:11:00:99"));
    await ok(d, ["rm", "mac"]);
    assert.match((await docker(d, ["run", "--rm", "--add-host", "bad:not-an-ip", "busybox", "true"])).stderr, /invalid/i);
  });

  test("the network API: duplicate names, overlapping subnets, predefined networks, bad drivers", async () => {
    await ok(d, ["network", "create", "--subnet", "10.99.78.0/24", "dup"]);
    assert.match((await docker(d, ["network", "create", "dup"])).stderr, /already exists/);
    assert.match((await docker(d, ["network", "create", "--subnet", "10.99.78.128/25", "over"])).stderr, /overlaps/);
    assert.match((await docker(d, ["network", "create", "--subnet", "10.99.79.1/24", "hostbits"])).stderr, /host bits/);
    assert.match((await docker(d, ["network", "create", "-d", "overlay", "ov"])).stderr, /plugin "overlay" not found/);
    assert.match((await docker(d, ["network", "rm", "bridge"])).stderr, /pre-defined network/);
    assert.match((await docker(d, ["run", "--rm", "--network", "nosuch", "busybox", "true"])).stderr, /network nosuch not found/);
    assert.match((await docker(d, ["run", "--rm", "--ip", "10.99.78.5", "busybox", "true"])).stderr, /user defined networks only/);
    const list = JSON.parse((await api(d, "GET", "/v1.41/networks?filters=" + encodeURIComponent(JSON.stringify({ type: ["builtin"] })))).text) as { Name: string }[];
    assert.deepEqual(list.map((n) => n.Name).sort(), ["bridge", "host", "none"]);
    await ok(d, ["network", "rm", "dup"]);
  });

  test("100 `run --rm -p` in a row leave no veth, namespace, rule or proxy behind", async () => {
    const port = await freePort();
    for (let i = 0; i < 100; i++) await ok(d, ["run", "--rm", "-p", `${port}:80`, "busybox", "true"]);
    assert.deepEqual(await settled(root, d.network), NOTHING);
    assert.ok(await portIsFree(port));
    assert.equal((await ok(d, ["ps", "-aq"])).trim(), "");
  });

  test("published ports keep working while wharfd is down and are rebuilt after a crash", async () => {
    const port = await freePort();
    await ok(d, ["network", "create", "--subnet", "10.99.80.0/24", "kept"]);
    const defaultSubnet = (await ok(d, ["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge"])).trim();
    const quitPort = await freePort();
    await ok(d, ["run", "-d", "--name", "survivor", "-p", `${port}:80`, "busybox", ...HTTPD("alive")]);
    await ok(d, ["run", "-d", "--name", "quitter", "-p", `${quitPort}:80`, "busybox", "sh", "-c", "sleep 1; exit 3"]);
    await ok(d, ["run", "-d", "--name", "always", "--restart", "always", "-p", "80", "busybox", "sh", "-c", "sleep 1; exit 1"]);
    assert.equal(await fetchText("127.0.0.1", port), "alive\n");
    const crashed = d;
    process.kill(crashed.pid, "SIGKILL");
    // The other two end while the daemon is down.
    await sleep(1500);
    // The kernel rules need no daemon.
    assert.equal(await fetchText("127.0.0.1", port), "alive\n");
    d = await startWharfd({ root, args: ["--ip", "127.0.0.1"] });
    assert.equal(await fetchText("127.0.0.1", port), "alive\n");
    assert.equal((await ok(d, ["port", "survivor"])).trim(), `80/tcp -> 0.0.0.0:${port}`);
    assert.ok(!(await portIsFree(port)), "the restarted daemon holds the port again");
    // Networks and the default bridge's subnet are records: the same after the restart.
    assert.equal((await ok(d, ["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "kept"])).trim(), "10.99.80.0/24");
    assert.equal((await ok(d, ["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge"])).trim(), defaultSubnet);
    await ok(d, ["network", "rm", "kept"]);
    // --ip (this start's): a port that names no address binds there; the default bridge says so.
    const loPort = await freePort();
    await ok(d, ["run", "-d", "--name", "lo-only", "-p", `${loPort}:80`, "busybox", ...HTTPD("lo")]);
    assert.equal((await ok(d, ["port", "lo-only"])).trim(), `80/tcp -> 127.0.0.1:${loPort}`);
    assert.equal(await fetchText("127.0.0.1", loPort), "lo\n");
    assert.deepEqual(listeners(loPort), [`127.0.0.1:${loPort}`]);
    assert.equal((await ok(d, ["network", "inspect", "-f", '{{index .Options "com.docker.network.bridge.host_binding_ipv4"}}', "bridge"])).trim(), "127.0.0.1");
    await ok(d, ["rm", "-f", "lo-only"]);
    // The quitter's port and namespace are gone; the one with a restart policy runs again, networked.
    assert.ok(await portIsFree(quitPort));
    assert.equal((await ok(d, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "quitter"])).trim(), "exited 3");
    let restarted = "";
    for (let i = 0; i < 50 && !/^(running|restarting) [1-9]/.test(restarted); i++) {
      await sleep(100);
      restarted = (await ok(d, ["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "always"])).trim();
    }
    assert.match(restarted, /^(running|restarting) [1-9]/);
    await ok(d, ["rm", "-f", "always", "quitter"]);
    assert.equal((await settled(root, d.network)).dnat.length, 1);
    await ok(d, ["rm", "-f", "survivor"]);
    assert.deepEqual(await settled(root, d.network), NOTHING);
    assert.ok(await portIsFree(port));
  });

  test("docker-compose up -d of two services where one reaches the other by name, then down", { skip: !hasCommand("docker-compose") && "needs docker-compose" }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "wharf-compose-"));
    try {
      await writeFile(
        join(dir, "docker-compose.yml"),
        [
          'version: "3"',
          "services:",
          "  web:",
          "    image: busybox",
          `    command: ["sh", "-c", "echo from-web > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]`,
          "  client:",
          "    image: busybox",
          `    command: ["sh", "-c", "for i in $$(seq 50); do wget -qO- http://web/index.html && break; sleep 0.2; done; exec sleep 300"]`,
          "    depends_on: [web]",
          "",
        ].join("\n"),
      );
      const compose = (args: string[]) =>
        new Promise<Run>((resolve) => {
          execFile("docker-compose", ["-p", "wharfnet", ...args], { cwd: dir, env: d.env, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
        });
      const up = await compose(["up", "-d"]);
      assert.equal(up.code, 0, up.stderr);
      let logs = "";
      for (let i = 0; i < 50 && !logs.includes("from-web"); i++) {
        await sleep(200);
        logs = (await docker(d, ["logs", "wharfnet_client_1"])).stdout;
      }
      assert.match(logs, /from-web/);
      const down = await compose(["down", "-t", "1"]);
      assert.equal(down.code, 0, down.stderr);
      assert.doesNotMatch(await ok(d, ["network", "ls", "--format", "{{.Name}}"]), /wharfnet/);
      assert.equal((await ok(d, ["ps", "-aq"])).trim(), "");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
